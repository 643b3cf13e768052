//! `stack_vault_database_secrets` and `stack_vault_database_credentials` end to end, against a
//! real PostgreSQL: connection and roles in Vault, users that really log in, in-place role
//! changes, drift, password rotation, rotate_root, import, plan-time errors, mounts that exist
//! or not, destroy; ephemeral credentials used by Terraform, renewed while it runs and revoked
//! (login refused) when it is done. No database password or issued credential reaches state or
//! TRACE logs.

use serde_json::{json, Value};
use stack_acceptance_tests::{random_name, Bao, PlanOutcome, Postgres, TfWorkdir};

use crate::common::{api, workdir, PROVIDER};

const CREATE: &str =
    r#"CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"#;
const DROP: &str = r#"DROP ROLE IF EXISTS \"{{name}}\";"#;

/// A PostgreSQL admin (CREATEROLE) for one test, so tests never share database credentials.
struct Db {
    pg: &'static Postgres,
    admin: String,
    password: String,
}

impl Db {
    fn new() -> Db {
        let pg = Postgres::shared();
        let (admin, password) = pg.create_admin("acc_vault");
        Db {
            pg,
            admin,
            password,
        }
    }
}

fn connection(db: &Db, password: &str, version: i64, extra: &str) -> String {
    format!(
        r#"
  db_connection {{
    name                = "pg"
    plugin              = "postgresql"
    connection_url      = "{url}"
    username            = "{admin}"
    password_wo         = "{password}"
    password_wo_version = {version}
{extra}  }}
"#,
        url = db.pg.vault_connection_url(),
        admin = db.admin,
    )
}

fn role(name: &str, default_ttl: &str, max_ttl: &str) -> String {
    format!(
        r#"
  role {{
    name                  = "{name}"
    creation_statements   = ["{CREATE}"]
    revocation_statements = ["{DROP}"]
    default_ttl           = "{default_ttl}"
    max_ttl               = "{max_ttl}"
  }}
"#
    )
}

fn resource(mount: &str, body: &str) -> String {
    format!(
        "{PROVIDER}\nresource \"stack_vault_database_secrets\" \"db\" {{\n  mount = \"{mount}\"\n{body}}}\n"
    )
}

fn data(bao: &Bao, path: &str) -> Option<Value> {
    let r = api(bao, "GET", path, None);
    if r.status == 404 {
        return None;
    }
    assert!(r.is_success(), "GET {path}: {} {}", r.status, r.body);
    Some(r.json().expect("json")["data"].clone())
}

fn mount_type(bao: &Bao, mount: &str) -> Option<String> {
    let mounts = data(bao, "/v1/sys/mounts").expect("mount table");
    mounts[format!("{mount}/")]["type"]
        .as_str()
        .map(str::to_string)
}

/// Issues credentials through the API: `(username, password, lease_id)`.
fn issue(bao: &Bao, mount: &str, role: &str) -> (String, String, String) {
    let r = api(bao, "GET", &format!("/v1/{mount}/creds/{role}"), None);
    assert!(r.is_success(), "creds: {} {}", r.status, r.body);
    let j = r.json().expect("json");
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        s(&j["data"]["username"]),
        s(&j["data"]["password"]),
        s(&j["lease_id"]),
    )
}

fn revoke(bao: &Bao, lease_id: &str) {
    let r = api(
        bao,
        "POST",
        "/v1/sys/leases/revoke",
        Some(json!({ "lease_id": lease_id })),
    );
    assert!(r.is_success(), "revoke: {} {}", r.status, r.body);
}

fn lease_known(bao: &Bao, lease_id: &str) -> bool {
    let r = api(
        bao,
        "POST",
        "/v1/sys/leases/lookup",
        Some(json!({ "lease_id": lease_id })),
    );
    match r.status {
        200 => true,
        400 if r.body.contains("invalid lease") => false,
        _ => panic!("lease lookup: {} {}", r.status, r.body),
    }
}

fn expect_change(tf: &TfWorkdir, what: &str, want: &str) -> String {
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => {
            assert!(out.contains(want), "{what}: want {want:?} in\n{out}");
            out
        }
        PlanOutcome::NoChanges => panic!("{what}: expected a plan with {want:?}"),
    }
}

/// Terraform wraps diagnostics at 80 columns: compare with single spaces.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn state_text(tf: &TfWorkdir) -> String {
    std::fs::read_to_string(tf.path().join("terraform.tfstate")).unwrap_or_default()
}

#[test]
fn vault_database_secrets_lifecycle() {
    let bao = Bao::shared();
    let db = Db::new();
    let mount = random_name("acc-db");
    let tf = workdir(bao).env("TF_LOG", "trace");
    let body = |pw: &str, v: i64, roles: &str| format!("{}{roles}", connection(&db, pw, v, ""));
    tf.write_config(&resource(
        &mount,
        &body(&db.password, 1, &role("ro", "1h", "2h")),
    ));
    tf.init();
    let applied = tf.apply();
    assert!(
        !applied.combined().contains(&db.password),
        "the database password leaked into the TRACE log"
    );
    tf.assert_plan_empty();

    // What Vault holds: a database mount, the connection (never its password), the role.
    assert_eq!(mount_type(bao, &mount).as_deref(), Some("database"));
    let conn_raw = api(bao, "GET", &format!("/v1/{mount}/config/pg"), None);
    assert!(conn_raw.is_success(), "{}", conn_raw.body);
    assert!(
        !conn_raw.body.contains(&db.password),
        "password returned by the API"
    );
    let conn = &conn_raw.json().expect("json")["data"];
    assert_eq!(conn["plugin_name"], json!("postgresql-database-plugin"));
    assert_eq!(conn["connection_details"]["username"], json!(db.admin));
    assert_eq!(
        conn["connection_details"]["connection_url"],
        json!(db.pg.vault_connection_url())
    );
    assert_eq!(conn["allowed_roles"], json!(["ro"]));
    let ro = data(bao, &format!("/v1/{mount}/roles/ro")).expect("role ro");
    assert_eq!(ro["db_name"], json!("pg"));
    assert_eq!(
        (ro["default_ttl"].clone(), ro["max_ttl"].clone()),
        (json!(3600), json!(7200))
    );

    // State: our mount, no secret.
    let state = tf.state_json();
    let attrs = &state["resources"][0]["instances"][0]["attributes"];
    assert_eq!(attrs["id"], json!(format!("{mount}/pg")));
    assert_eq!(attrs["mount_created"], json!(true));
    assert_eq!(attrs["db_connection"]["password_wo"], Value::Null);
    assert!(!state_text(&tf).contains(&db.password), "password in state");

    // Issued credentials log in to PostgreSQL; after revocation they no longer do.
    let (user, pw, lease) = issue(bao, &mount, "ro");
    assert!(
        db.pg.can_login(&user, &pw),
        "issued credentials must log in"
    );
    revoke(bao, &lease);
    assert!(
        !db.pg.can_login(&user, &pw),
        "revoked credentials must not log in"
    );
    assert!(!db.pg.role_exists(&user), "revocation drops the user");

    // The same TTL spelled differently is no change.
    tf.write_config(&resource(
        &mount,
        &body(&db.password, 1, &role("ro", "60m", "7200")),
    ));
    tf.assert_plan_empty();

    // Role edits and a new role are in-place updates.
    let two = format!("{}{}", role("ro", "1h", "3h"), role("rw", "30m", "1h"));
    tf.write_config(&resource(&mount, &body(&db.password, 1, &two)));
    let plan = expect_change(&tf, "role edit", "1 to change");
    assert!(!plan.contains("must be replaced"), "{plan}");
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        data(bao, &format!("/v1/{mount}/roles/ro")).expect("ro")["max_ttl"],
        json!(10800)
    );
    assert_eq!(
        data(bao, &format!("/v1/{mount}/roles/rw")).expect("rw")["default_ttl"],
        json!(1800)
    );
    let conn = data(bao, &format!("/v1/{mount}/config/pg")).expect("conn");
    assert_eq!(conn["allowed_roles"], json!(["ro", "rw"]));
    let (user, pw, lease) = issue(bao, &mount, "rw");
    assert!(db.pg.can_login(&user, &pw));
    revoke(bao, &lease);

    // Drift: a role deleted out of band comes back; an edited one is put back.
    assert!(api(bao, "DELETE", &format!("/v1/{mount}/roles/rw"), None).is_success());
    expect_change(&tf, "deleted role", "1 to change");
    tf.apply();
    tf.assert_plan_empty();
    assert!(data(bao, &format!("/v1/{mount}/roles/rw")).is_some());
    let r = api(
        bao,
        "POST",
        &format!("/v1/{mount}/roles/ro"),
        Some(json!({"db_name": "pg", "creation_statements": ["SELECT 1"], "default_ttl": 60})),
    );
    assert!(r.is_success(), "{}", r.body);
    expect_change(&tf, "edited role", "1 to change");
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        data(bao, &format!("/v1/{mount}/roles/ro")).expect("ro")["default_ttl"],
        json!(3600)
    );

    // Drift on the connection: URL and allowed_roles changed out of band.
    let r = api(
        bao,
        "POST",
        &format!("/v1/{mount}/config/pg"),
        Some(json!({"allowed_roles": ["ro"], "verify_connection": false,
                    "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:1/x"})),
    );
    assert!(r.is_success(), "{}", r.body);
    expect_change(&tf, "edited connection", "1 to change");
    tf.apply();
    tf.assert_plan_empty();
    let conn = data(bao, &format!("/v1/{mount}/config/pg")).expect("conn");
    assert_eq!(conn["allowed_roles"], json!(["ro", "rw"]));
    assert_eq!(
        conn["connection_details"]["connection_url"],
        json!(db.pg.vault_connection_url())
    );

    // A new password is sent only when password_wo_version changes: a wrong one fails
    // verification (proof it was sent), the right one works.
    tf.write_config(&resource(&mount, &body("not-the-password", 1, &two)));
    tf.assert_plan_empty();
    tf.write_config(&resource(&mount, &body("not-the-password", 2, &two)));
    let err = tf.apply_expect_error();
    assert!(
        flat(&err).contains("password authentication failed"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "password echoed: {err}");
    let new_password = format!("{}-v3", db.password);
    db.pg.exec(&format!(
        "ALTER ROLE \"{}\" PASSWORD '{new_password}'",
        db.admin
    ));
    tf.write_config(&resource(&mount, &body(&new_password, 3, &two)));
    tf.apply();
    tf.assert_plan_empty();
    let (user, pw, lease) = issue(bao, &mount, "ro");
    assert!(db.pg.can_login(&user, &pw));
    revoke(bao, &lease);
    assert!(!state_text(&tf).contains(&new_password));

    // Removing a role deletes it and takes it out of allowed_roles.
    tf.write_config(&resource(
        &mount,
        &body(&new_password, 3, &role("ro", "1h", "3h")),
    ));
    expect_change(&tf, "role removed", "1 to change");
    tf.apply();
    tf.assert_plan_empty();
    assert!(data(bao, &format!("/v1/{mount}/roles/rw")).is_none());
    assert_eq!(
        data(bao, &format!("/v1/{mount}/config/pg")).expect("conn")["allowed_roles"],
        json!(["ro"])
    );

    // The connection deleted out of band: the resource owns the mount, so it stays and the
    // plan re-creates the connection in place.
    assert!(api(bao, "DELETE", &format!("/v1/{mount}/config/pg"), None).is_success());
    expect_change(&tf, "connection deleted", "1 to change");
    tf.apply();
    tf.assert_plan_empty();
    let (user, pw, lease) = issue(bao, &mount, "ro");
    assert!(db.pg.can_login(&user, &pw));
    revoke(bao, &lease);

    // Disappears: the whole mount deleted out of band plans a create.
    assert!(api(bao, "DELETE", &format!("/v1/sys/mounts/{mount}"), None).is_success());
    expect_change(&tf, "mount deleted", "1 to add");
    tf.apply();
    tf.assert_plan_empty();

    // Destroy: leases revoked, mount (which this resource created) gone.
    let (user, pw, _) = issue(bao, &mount, "ro");
    assert!(db.pg.can_login(&user, &pw));
    let destroyed = tf.destroy();
    assert!(!destroyed.combined().contains(&new_password));
    assert_eq!(
        mount_type(bao, &mount),
        None,
        "destroy disables the mount it created"
    );
    assert!(
        !db.pg.can_login(&user, &pw),
        "destroy revokes issued credentials"
    );
}

#[test]
fn vault_database_secrets_existing_mount_import_and_rotate_root() {
    let bao = Bao::shared();
    let db = Db::new();
    let mount = random_name("acc-dbx");
    let r = api(
        bao,
        "POST",
        &format!("/v1/sys/mounts/{mount}"),
        Some(json!({"type": "database"})),
    );
    assert!(r.is_success(), "{}", r.body);

    // Into an existing mount: not ours, so destroy leaves it.
    let tf = workdir(bao);
    let cfg = resource(
        &mount,
        &format!(
            "{}{}",
            connection(&db, &db.password, 1, ""),
            role("ro", "1h", "2h")
        ),
    );
    tf.write_config(&cfg);
    tf.init();
    tf.apply();
    tf.assert_plan_empty();
    let state = tf.state_json();
    assert_eq!(
        state["resources"][0]["instances"][0]["attributes"]["mount_created"],
        json!(false)
    );

    // Import into a second workdir: connection and roles come back, nothing else to do but
    // send the password once (state cannot know which password version Vault has).
    let tf2 = workdir(bao);
    tf2.write_config(&cfg);
    tf2.init();
    tf2.import("stack_vault_database_secrets.db", &format!("{mount}/pg"));
    let state = tf2.state_json();
    let attrs = &state["resources"][0]["instances"][0]["attributes"];
    assert_eq!(attrs["role"][0]["name"], json!("ro"));
    assert_eq!(
        attrs["db_connection"]["connection_url"],
        json!(db.pg.vault_connection_url())
    );
    let plan = expect_change(&tf2, "after import", "1 to change");
    assert!(plan.contains("password_wo_version"), "{plan}");
    tf2.apply();
    tf2.assert_plan_empty();
    // The same import without password_wo_version plans nothing.
    let tf3 = workdir(bao);
    tf3.write_config(&cfg.replace("    password_wo_version = 1\n", ""));
    tf3.init();
    tf3.import("stack_vault_database_secrets.db", &format!("{mount}/pg"));
    tf3.assert_plan_empty();
    let bad = workdir(bao);
    bad.write_config(&cfg);
    bad.init();
    let err = bad
        .run(&[
            "import",
            "-no-color",
            "-input=false",
            "stack_vault_database_secrets.db",
            "pg",
        ])
        .combined();
    assert!(err.contains("Invalid import ID"), "{err}");

    tf.destroy();
    assert_eq!(
        mount_type(bao, &mount).as_deref(),
        Some("database"),
        "an adopted mount stays"
    );
    assert!(
        data(bao, &format!("/v1/{mount}/config/pg")).is_none(),
        "connection removed"
    );
    assert!(
        data(bao, &format!("/v1/{mount}/roles/ro")).is_none(),
        "role removed"
    );

    // rotate_root: Vault changes the admin password, so the one we gave stops working while
    // Vault still issues users.
    let rot = Db::new();
    let tf4 = workdir(bao);
    tf4.write_config(&resource(
        &mount,
        &format!(
            "{}{}",
            connection(&rot, &rot.password, 1, "    rotate_root         = true\n"),
            role("ro", "1h", "2h")
        ),
    ));
    tf4.init();
    tf4.apply();
    tf4.assert_plan_empty();
    assert!(
        !rot.pg.can_login(&rot.admin, &rot.password),
        "root password rotated"
    );
    let (user, pw, lease) = issue(bao, &mount, "ro");
    assert!(rot.pg.can_login(&user, &pw));
    revoke(bao, &lease);
    tf4.destroy();
    assert!(data(bao, &format!("/v1/{mount}/config/pg")).is_none());
    assert!(api(bao, "DELETE", &format!("/v1/sys/mounts/{mount}"), None).is_success());
}

#[test]
fn vault_database_secrets_bad_input_fails_at_plan() {
    let bao = Bao::shared();
    let db = Db::new();
    let mount = random_name("acc-dbbad");
    let tf = workdir(bao);
    let good_conn = connection(&db, &db.password, 1, "");
    tf.write_config(&resource(
        &mount,
        &format!("{good_conn}{}", role("ro", "1x", "2h")),
    ));
    tf.init();
    let cases: Vec<(String, &str, &str)> = vec![
        (
            resource(&mount, &format!("{good_conn}{}", role("ro", "1x", "2h"))),
            "Invalid duration",
            "default_ttl",
        ),
        (
            resource(&mount, &format!("{good_conn}{}", role("ro", "3h", "1h"))),
            "default_ttl exceeds max_ttl",
            "default_ttl",
        ),
        (
            resource(
                &mount,
                &format!(
                    "{}{}",
                    good_conn.replace("\"postgresql\"", "\"mysql\""),
                    role("ro", "1h", "2h")
                ),
            ),
            "Invalid value",
            "plugin",
        ),
        (
            resource(
                &format!("/{mount}/"),
                &format!("{good_conn}{}", role("ro", "1h", "2h")),
            ),
            "Invalid path",
            "mount",
        ),
        (
            resource(&mount, &format!("{good_conn}{}", role("r/o", "1h", "2h"))),
            "Invalid name",
            "name",
        ),
        (
            resource(
                &mount,
                &format!(
                    "{good_conn}{}{}",
                    role("ro", "1h", "2h"),
                    role("ro", "1h", "2h")
                ),
            ),
            "Duplicate role",
            "name",
        ),
        (
            resource(
                &mount,
                &format!(
                    "{}{}",
                    good_conn.replace("{{password}}@", "hunter2@"),
                    role("ro", "1h", "2h")
                ),
            ),
            "Password in connection URL",
            "connection_url",
        ),
    ];
    for (hcl, summary, attr) in cases {
        tf.write_config(&hcl);
        let err = tf.plan_expect_error();
        assert!(err.contains(summary), "want {summary:?}:\n{err}");
        assert!(
            err.contains(&format!("{attr} ")),
            "diagnostic must point at {attr}:\n{err}"
        );
    }
    assert_eq!(mount_type(bao, &mount), None, "nothing may be written");

    // A mount of another engine is refused at plan time and left alone.
    let kv = random_name("acc-dbkv");
    let r = api(
        bao,
        "POST",
        &format!("/v1/sys/mounts/{kv}"),
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    assert!(r.is_success(), "{}", r.body);
    tf.write_config(&resource(
        &kv,
        &format!("{good_conn}{}", role("ro", "1h", "2h")),
    ));
    let err = tf.plan_expect_error();
    assert!(
        flat(&err).contains("not a database engine") && err.contains("\"kv\""),
        "{err}"
    );
    assert!(
        err.contains("mount = "),
        "diagnostic must point at mount: {err}"
    );
    let err = tf.apply_expect_error();
    assert!(flat(&err).contains("not a database engine"), "{err}");
    assert_eq!(mount_type(bao, &kv).as_deref(), Some("kv"));
    assert!(api(bao, "DELETE", &format!("/v1/sys/mounts/{kv}"), None).is_success());

    // A failed create leaves nothing: a wrong password fails verification, the mount it
    // enabled is disabled again and nothing lands in state.
    tf.write_config(&resource(
        &mount,
        &format!(
            "{}{}",
            connection(&db, "wrong-password", 1, ""),
            role("ro", "1h", "2h")
        ),
    ));
    let err = tf.apply_expect_error();
    assert!(
        flat(&err).contains("password authentication failed"),
        "{err}"
    );
    assert_eq!(
        mount_type(bao, &mount),
        None,
        "the mount of a failed create is rolled back"
    );
    let state = state_text(&tf);
    assert!(!state.contains("stack_vault_database_secrets"), "{state}");
}

#[test]
fn vault_database_credentials_ephemeral() {
    let bao = Bao::shared();
    let db = Db::new();
    let mount = random_name("acc-dbeph");
    let tf = workdir(bao).env("TF_LOG", "trace");
    // Leases of 6 s, renewable up to 2 min: the provisioner below outlives the first lease,
    // so its second login only works if Terraform renewed the lease.
    let secrets = resource(
        &mount,
        &format!(
            "{}{}",
            connection(&db, &db.password, 1, ""),
            role("ro", "6s", "2m")
        ),
    );
    tf.write_config(&secrets);
    tf.init();
    tf.apply();

    let psql = stack_acceptance_tests::harness::postgres::psql_bin();
    let out = tf.path().join("creds");
    let check = format!(
        "PGHOST=127.0.0.1 PGPORT={port} PGDATABASE=postgres PGSSLMODE=disable PGCONNECT_TIMEOUT=5 {psql} -X -tAc 'select current_user'",
        port = db.pg.port,
        psql = psql.display()
    );
    tf.write_config(&format!(
        r#"{secrets}
ephemeral "stack_vault_database_credentials" "c" {{
  mount = stack_vault_database_secrets.db.mount
  role  = "ro"
}}

resource "terraform_data" "login" {{
  input = "once"
  provisioner "local-exec" {{
    command = <<-EOT
      set -e
      printf '%s\n%s\n%s\n%s\n' "$DB_USER" "$PGPASSWORD" "$LEASE" "$DURATION" > {out}
      PGUSER="$DB_USER" {check} > {out}.first
      sleep 14
      PGUSER="$DB_USER" {check} > {out}.second
    EOT
    environment = {{
      DB_USER    = ephemeral.stack_vault_database_credentials.c.username
      PGPASSWORD = ephemeral.stack_vault_database_credentials.c.password
      LEASE      = ephemeral.stack_vault_database_credentials.c.lease_id
      DURATION   = ephemeral.stack_vault_database_credentials.c.lease_duration
    }}
  }}
}}
"#,
        out = out.display(),
    ));
    // Control: credentials nobody renews are gone after the same 14 s.
    let (cuser, cpw, _) = issue(bao, &mount, "ro");
    let control = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(14));
        Postgres::shared().can_login(&cuser, &cpw)
    });
    let applied = tf.apply();
    assert!(
        !control.join().expect("control thread"),
        "an unrenewed 6 s lease must have expired: the renewal check proves nothing otherwise"
    );
    assert!(
        applied.combined().contains("RenewEphemeralResource"),
        "Terraform never called RenewEphemeralResource"
    );
    let creds = std::fs::read_to_string(&out).expect("the provisioner wrote the credentials");
    let lines: Vec<&str> = creds.lines().collect();
    let (user, pw, lease, duration) = (lines[0], lines[1], lines[2], lines[3]);
    assert!(user.starts_with("v-"), "{creds}");
    assert!(lease.starts_with(&format!("{mount}/creds/ro/")), "{lease}");
    assert_eq!(duration, "6");
    let first = std::fs::read_to_string(format!("{}.first", out.display())).unwrap_or_default();
    let second = std::fs::read_to_string(format!("{}.second", out.display())).unwrap_or_default();
    assert_eq!(first.trim(), user, "Terraform's credentials logged in");
    assert_eq!(
        second.trim(),
        user,
        "still valid after 14 s of 6 s leases: renewed"
    );

    // Closed: lease revoked, user dropped, login refused.
    assert!(
        !lease_known(bao, lease),
        "lease revoked when Terraform closed the resource"
    );
    let lease_key = lease.rsplit('/').next().unwrap_or_default();
    let listed = api(
        bao,
        "LIST",
        &format!("/v1/sys/leases/lookup/{mount}/creds/ro/"),
        None,
    );
    assert!(!listed.body.contains(lease_key), "{}", listed.body);
    assert!(
        !db.pg.can_login(user, pw),
        "revoked credentials must not log in"
    );
    assert!(!db.pg.role_exists(user));

    // Nothing secret in state or logs.
    let state = state_text(&tf);
    for secret in [pw, &db.password] {
        assert!(!state.contains(secret), "secret in state");
        assert!(
            !applied.combined().contains(secret),
            "secret in the TRACE log"
        );
    }
    assert!(!state.contains(user), "ephemeral username in state");

    // A role that does not exist fails with a diagnostic on `role`.
    tf.write_config(&format!(
        "{secrets}\nephemeral \"stack_vault_database_credentials\" \"c\" {{\n  mount = \"{mount}\"\n  role  = \"nope\"\n}}\nresource \"terraform_data\" \"x\" {{\n  provisioner \"local-exec\" {{\n    command = \"true\"\n    environment = {{ U = ephemeral.stack_vault_database_credentials.c.username }}\n  }}\n}}\n"
    ));
    let err = tf.apply_expect_error();
    assert!(flat(&err).contains("unknown role"), "{err}");
    tf.write_config(&secrets);
    tf.destroy();
    assert_eq!(mount_type(bao, &mount), None);
}
