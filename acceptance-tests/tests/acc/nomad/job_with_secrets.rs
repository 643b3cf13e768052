//! `stack_nomad_job_with_secrets`: a raw_exec task really receives its static secret and a
//! dynamic database credential that logs in to PostgreSQL; a job whose Vault role cannot read
//! its path fails the apply with the template error; drift, destroy.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stack_acceptance_tests::harness::postgres::psql_bin;
use stack_acceptance_tests::{random_name, Acl, Bao, Consul, Nomad, PlanOutcome, Postgres};

use crate::common::{api, workdir, PROVIDER};

const CREATE: &str =
    r#"CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"#;
const DROP: &str = r#"DROP ROLE IF EXISTS \"{{name}}\";"#;

/// The job: writes what it received into the alloc dir, then stays up.
fn jobspec(job: &str, pg: &Postgres) -> String {
    let psql = psql_bin();
    format!(
        r#"job "{job}" {{
  type = "service"
  group "app" {{
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    scaling {{
      enabled = true
      min     = 1
      max     = 3
    }}
    update {{
      min_healthy_time = "1s"
      healthy_deadline = "1m"
    }}
    task "server" {{
      driver = "raw_exec"
      env {{
        PGHOST     = "{host}"
        PGPORT     = "{port}"
        PGDATABASE = "postgres"
        PGCONNECT_TIMEOUT = "5"
      }}
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo API_KEY=$API_KEY > $NOMAD_ALLOC_DIR/out.txt; if {psql} -w -tAc 'select 40 + 2' > $NOMAD_ALLOC_DIR/psql.txt 2>&1; then echo LOGIN_OK >> $NOMAD_ALLOC_DIR/out.txt; fi; exec sleep 3600"]
      }}
    }}
  }}
}}
"#,
        host = pg.host,
        port = pg.port,
        psql = psql.display()
    )
}

struct Env {
    bao: &'static Bao,
    pg: &'static Postgres,
    _consul: Consul,
    nomad: Nomad,
    admin: (String, String),
}

fn env() -> Env {
    let bao = Bao::shared();
    let pg = Postgres::shared();
    let consul = Consul::start(Acl::Off);
    let nomad = Nomad::start(Acl::Off, Some(&bao.addr), Some(&consul));
    let admin = pg.create_admin("acc_nomad");
    Env {
        bao,
        pg,
        _consul: consul,
        nomad,
        admin,
    }
}

fn platform(e: &Env, auth: &str, db_mount: &str) -> String {
    format!(
        r#"{PROVIDER}
resource "stack_vault_policy" "db" {{
  name   = "{auth}-db"
  policy = "path \"{db_mount}/creds/app\" {{ capabilities = [\"read\"] }}"
}}
resource "stack_vault_nomad_workload_identity" "wi" {{
  jwks_url       = "{nomad}/.well-known/jwks.json"
  auth_path      = "{auth}"
  policy_name    = "{auth}-kv"
  token_policies = ["{auth}-kv", stack_vault_policy.db.name]
}}
resource "stack_vault_database_secrets" "pg" {{
  mount = "{db_mount}"
  db_connection {{
    name                = "pg"
    plugin              = "postgresql"
    connection_url      = "{url}"
    username            = "{admin}"
    password_wo         = "{password}"
    password_wo_version = 1
  }}
  role {{
    name                  = "app"
    creation_statements   = ["{CREATE}"]
    revocation_statements = ["{DROP}"]
    default_ttl           = "1h"
    max_ttl               = "2h"
  }}
}}
"#,
        nomad = e.nomad.addr,
        url = e.pg.vault_connection_url(),
        admin = e.admin.0,
        password = e.admin.1,
    )
}

fn job_resource(name: &str, job: &str, db_mount: &str, extra: &str) -> String {
    format!(
        r#"
resource "stack_nomad_job_with_secrets" "{name}" {{
  depends_on = [stack_vault_nomad_workload_identity.wi, stack_vault_database_secrets.pg]
  jobspec    = file("${{path.module}}/{job}.nomad.hcl")
  secrets    = {{ API_KEY = "key-of-{job}" }}
  database_credentials {{
    mount        = "{db_mount}"
    role         = "app"
    username_env = "PGUSER"
    password_env = "PGPASSWORD"
  }}
  timeout = "90s"
{extra}}}
"#
    )
}

fn cat(nomad: &Nomad, job: &str, path: &str) -> Option<String> {
    let allocs = nomad
        .request(
            "GET",
            &format!("/v1/job/{job}/allocations"),
            nomad.token.as_deref(),
            None,
        )
        .json()
        .ok()?;
    let alloc = allocs
        .as_array()?
        .iter()
        .find(|a| a["ClientStatus"] == json!("running"))?["ID"]
        .as_str()?
        .to_string();
    let r = nomad.request(
        "GET",
        &format!("/v1/client/fs/cat/{alloc}?path={path}"),
        nomad.token.as_deref(),
        None,
    );
    (r.status == 200).then_some(r.body)
}

fn wait_for(what: &str, mut f: impl FnMut() -> Option<String>) -> String {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn job_status(nomad: &Nomad, job: &str) -> Option<Value> {
    let r = nomad.request(
        "GET",
        &format!("/v1/job/{job}"),
        nomad.token.as_deref(),
        None,
    );
    (r.status == 200).then(|| r.json().expect("job json"))
}

#[test]
fn nomad_job_receives_secrets_and_db_credentials() {
    let e = env();
    // The simulated Nomad agent logs in at `jwt-nomad` (Nomad's default jwt_auth_backend_path).
    let auth = "jwt-nomad";
    let db_mount = random_name("db-nomad");
    let job = random_name("app");
    let tf = workdir(e.bao).envs(e.nomad.env());
    tf.write_file(&format!("{job}.nomad.hcl"), &jobspec(&job, e.pg));
    tf.write_config(&format!(
        "{}{}",
        platform(&e, auth, &db_mount),
        job_resource("app", &job, &db_mount, "")
    ));
    tf.init();
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());

    // The secret and a working database login reached the process.
    let got = wait_for("the task's output", || {
        cat(&e.nomad, &job, "alloc/out.txt").filter(|s| s.contains("LOGIN_OK"))
    });
    assert!(got.contains(&format!("API_KEY=key-of-{job}")), "{got}");
    let psql = cat(&e.nomad, &job, "alloc/psql.txt").unwrap_or_default();
    assert_eq!(psql.trim(), "42", "{psql}");

    let state = tf.state_json();
    let attrs = state["resources"]
        .as_array()
        .expect("res")
        .iter()
        .find(|r| r["type"] == json!("stack_nomad_job_with_secrets"))
        .expect("job")["instances"][0]["attributes"]
        .clone();
    assert_eq!(attrs["job_id"], json!(job));
    assert_eq!(attrs["namespace"], json!("default"));
    assert_eq!(attrs["deployment_status"], json!("successful"));
    assert_eq!(
        attrs["secrets_path"],
        json!(format!("secret/data/default/{job}"))
    );
    let kv = api(
        e.bao,
        "GET",
        &format!("/v1/secret/data/default/{job}"),
        None,
    )
    .json()
    .expect("kv");
    assert_eq!(
        kv["data"]["data"]["API_KEY"],
        json!(format!("key-of-{job}"))
    );
    tf.assert_plan_empty();

    // Stopped out of band: drift, and apply starts it again.
    let r = e
        .nomad
        .request("DELETE", &format!("/v1/job/{job}"), None, None);
    assert_eq!(r.status, 200, "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("stopped"), "{out}"),
        PlanOutcome::NoChanges => panic!("a stopped job must be drift"),
    }
    assert!(tf.apply().success());
    assert_eq!(
        job_status(&e.nomad, &job).expect("job")["Stop"],
        json!(false)
    );
    tf.assert_plan_empty();

    // Registered again out of band with another count: drift. The job has an enabled
    // `scaling` block, so apply restores the job but keeps the live count.
    let mut live = job_status(&e.nomad, &job).expect("job");
    live["TaskGroups"][0]["Count"] = json!(2);
    let r = e
        .nomad
        .request("POST", "/v1/jobs", None, Some(&json!({"Job": live})));
    assert_eq!(r.status, 200, "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("registered again"), "{out}"),
        PlanOutcome::NoChanges => panic!("an out-of-band registration must be drift"),
    }
    assert!(tf.apply().success());
    assert_eq!(
        job_status(&e.nomad, &job).expect("job")["TaskGroups"][0]["Count"],
        json!(2),
        "live count kept"
    );
    tf.assert_plan_empty();

    // Import by `<job id>@<namespace>`.
    let imp = workdir(e.bao).envs(e.nomad.env());
    imp.write_file(&format!("{job}.nomad.hcl"), &jobspec(&job, e.pg));
    imp.write_config(&format!("{PROVIDER}\nresource \"stack_nomad_job_with_secrets\" \"app\" {{\n  jobspec = file(\"${{path.module}}/{job}.nomad.hcl\")\n}}\n"));
    imp.init();
    assert!(imp
        .import(
            "stack_nomad_job_with_secrets.app",
            &format!("{job}@default")
        )
        .success());
    let st = imp.state_json();
    let a = &st["resources"][0]["instances"][0]["attributes"];
    assert_eq!(a["job_id"], json!(job));
    assert!(a["job_version"].as_i64().is_some(), "{a}");

    // A job whose role cannot read its secrets fails the apply with the template error.
    let denied = random_name("denied");
    let other_kv = random_name("kv-other");
    let r = api(
        e.bao,
        "POST",
        &format!("/v1/sys/mounts/{other_kv}"),
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    assert!(r.is_success(), "{}", r.body);
    tf.write_file(&format!("{denied}.nomad.hcl"), &jobspec(&denied, e.pg));
    tf.write_config(&format!(
        "{}{}{}",
        platform(&e, auth, &db_mount),
        job_resource("app", &job, &db_mount, ""),
        job_resource(
            "denied",
            &denied,
            &db_mount,
            &format!("  kv_mount = \"{other_kv}\"\n")
        )
    ));
    let err = tf.apply_expect_error();
    assert!(err.contains("Nomad deployment failed"), "{err}");
    assert!(
        err.contains("permission denied")
            && err.contains(&format!("{other_kv}/data/default/{denied}")),
        "{err}"
    );

    // Destroy: jobs purged, secrets deleted.
    let out = tf.destroy();
    assert!(out.success(), "{}", out.combined());
    assert!(job_status(&e.nomad, &job).is_none(), "job purged");
    assert_eq!(
        api(
            e.bao,
            "GET",
            &format!("/v1/secret/metadata/default/{job}"),
            None
        )
        .status,
        404
    );
}

#[test]
fn nomad_job_bad_jobspec_is_reported_at_plan() {
    let e = env();
    let tf = workdir(e.bao).envs(e.nomad.env());
    tf.write_config(&format!(
        "{PROVIDER}\nresource \"stack_nomad_job_with_secrets\" \"bad\" {{\n  jobspec = <<-EOT\n    job \"bad\" {{\n      group \"g\" {{\n        bogus = 1\n      }}\n    }}\n  EOT\n}}\n"
    ));
    tf.init();
    let err = tf.plan_expect_error();
    assert!(err.contains("bogus") && err.contains("jobspec"), "{err}");
    assert!(job_status(&e.nomad, "bad").is_none());
}

#[test]
fn nomad_job_vars_unknown_at_plan_make_derived_values_unknown() {
    let e = env();
    let job = random_name("later");
    let tf = workdir(e.bao).envs(e.nomad.env());
    tf.write_config(&format!(
        r#"{PROVIDER}
resource "terraform_data" "name" {{
  input = "{job}"
}}
resource "stack_nomad_job_with_secrets" "j" {{
  jobspec = <<-EOT
    variable "name" {{
      type = string
    }}
    job "{job}" {{
      meta {{
        owner = var.name
      }}
      group "g" {{
        update {{
          min_healthy_time = "1s"
        }}
        task "t" {{
          driver = "raw_exec"
          config {{
            command = "/bin/sleep"
            args    = ["3600"]
          }}
        }}
      }}
    }}
  EOT
  vars = {{ name = terraform_data.name.output }}
}}
"#
    ));
    tf.init();
    // At plan time a variable is unknown: the derived values are "known after apply" instead of
    // the plan failing (Nomad cannot parse the jobspec yet).
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => {
            let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(flat.contains("+ job_id = (known after apply)"), "{out}");
        }
        PlanOutcome::NoChanges => panic!("must plan a create"),
    }
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(
        job_status(&e.nomad, &job).expect("job registered")["ID"],
        json!(job)
    );
    tf.assert_plan_empty();
    assert!(tf.destroy().success());
}
