//! The reference architecture (examples/reference-architecture) on a fresh stack-devstack:
//! one apply, the web → api → PostgreSQL chain answers, an undeclared edge is denied, the plan
//! is empty, destroy leaves nothing behind, and the same code rebuilds the platform on a new
//! stack (a disaster-recovery drill).

use std::path::Path;

use serde_json::{json, Value};
use stack_acceptance_tests::harness::postgres::psql_bin;
use stack_acceptance_tests::harness::sims::runtime;
use stack_acceptance_tests::{http_request, TfWorkdir};
use stack_devstack::stack::{AclMode, Stack, UpOptions};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn get(base: &str, path: &str, header: Option<(&str, &str)>) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = header.into_iter().collect();
    let r = http_request(
        base,
        "GET",
        path,
        &headers,
        None,
        std::time::Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"));
    (r.status, r.json().unwrap_or(Value::Null))
}

/// One round: apply on a fresh stack, check, destroy, check nothing is left.
fn round(n: u32) {
    let stack = runtime()
        .block_on(Stack::up(&UpOptions {
            acl: AclMode::Fresh,
            postgres: true,
            ..UpOptions::default()
        }))
        .unwrap_or_else(|e| panic!("stack-devstack up: {e}"));
    let env: Vec<(String, String)> = stack.env().to_vec();
    let var = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} not exported"))
    };
    let (vault, vault_token, consul, nomad) = (
        var("VAULT_ADDR"),
        var("VAULT_TOKEN"),
        var("CONSUL_HTTP_ADDR"),
        var("NOMAD_ADDR"),
    );
    assert!(
        !env.iter()
            .any(|(k, _)| k == "CONSUL_HTTP_TOKEN" || k == "NOMAD_TOKEN"),
        "fresh ACLs export no token"
    );
    let web_port = free_port();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-architecture");
    let tf = TfWorkdir::new().envs(env.clone()).envs([
        (
            "TF_VAR_nomad_jwks_url".to_string(),
            format!("{nomad}/.well-known/jwks.json"),
        ),
        ("TF_VAR_postgres_host".into(), var("PGHOST")),
        ("TF_VAR_postgres_port".into(), var("PGPORT")),
        ("TF_VAR_postgres_admin_user".into(), var("PGUSER")),
        ("TF_VAR_postgres_admin_password".into(), var("PGPASSWORD")),
        ("TF_VAR_psql".into(), psql_bin().display().to_string()),
        ("TF_VAR_web_port".into(), web_port.to_string()),
        (
            "TF_VAR_audit_log_path".into(),
            std::env::temp_dir()
                .join(format!("stack-ref-audit-{}-{n}.log", std::process::id()))
                .display()
                .to_string(),
        ),
    ]);
    copy_dir(&root, tf.path());
    tf.init();
    let out = tf.apply();
    assert!(out.success(), "round {n}: {}", out.combined());

    // web -> api -> PostgreSQL, with a dynamic credential from Vault.
    let (status, body) = get(&format!("http://127.0.0.1:{web_port}"), "/", None);
    assert_eq!(status, 200, "round {n}: {body}");
    assert_eq!(body["service"], json!("web"));
    assert_eq!(body["api"]["service"], json!("api"));
    let result = body["api"]["query_result"].as_str().unwrap_or_default();
    assert!(
        result.contains(" on postgres, PostgreSQL"),
        "round {n}: {body}"
    );
    let db_user = body["api"]["db_user"].as_str().unwrap_or_default();
    assert!(db_user.starts_with("v-"), "a Vault-generated user: {body}");
    assert!(body["api"]["api_secret_sha256"].is_string(), "{body}");

    // Consul: the declared edges are allowed, an undeclared one (web -> db) is denied.
    let mgmt_consul = {
        let (_, kv) = get(
            &vault,
            "/v1/secret/data/bootstrap/consul",
            Some(("X-Vault-Token", &vault_token)),
        );
        kv["data"]["data"]["token"]
            .as_str()
            .expect("Consul token in Vault")
            .to_string()
    };
    let check = |s: &str, d: &str| {
        get(
            &consul,
            &format!("/v1/connect/intentions/check?source={s}&destination={d}"),
            Some(("X-Consul-Token", &mgmt_consul)),
        )
        .1["Allowed"]
            .clone()
    };
    assert_eq!(check("web", "api"), json!(true));
    assert_eq!(check("api", "db"), json!(true));
    assert_eq!(
        check("web", "db"),
        json!(false),
        "undeclared edge must be denied"
    );
    // The mesh root is the Vault root.
    let (_, roots) = get(&consul, "/v1/connect/ca/roots", None);
    let outputs = tf.run_ok(&["output", "-json"]).stdout;
    let outputs: Value = serde_json::from_str(&outputs).expect("outputs json");
    assert_eq!(
        outputs["mesh_root_fingerprint"]["value"],
        roots["ActiveRootID"]
    );
    assert_eq!(
        outputs["web_url"]["value"],
        json!(format!("http://127.0.0.1:{web_port}/"))
    );

    tf.assert_plan_empty();

    let mgmt_nomad = {
        let (_, kv) = get(
            &vault,
            "/v1/secret/data/bootstrap/nomad",
            Some(("X-Vault-Token", &vault_token)),
        );
        kv["data"]["data"]["token"]
            .as_str()
            .expect("Nomad token in Vault")
            .to_string()
    };
    let out = tf.destroy();
    assert!(out.success(), "round {n} destroy: {}", out.combined());
    // Nothing left behind: mounts, auth methods, policies, jobs, config entries, Connect CA.
    let vt = Some(("X-Vault-Token", vault_token.as_str()));
    let (_, mounts) = get(&vault, "/v1/sys/mounts", vt);
    for m in ["pki-mesh-root/", "pki-connect-int/", "database/"] {
        assert!(
            mounts["data"].get(m).is_none(),
            "round {n}: mount {m} left behind"
        );
    }
    let (_, auths) = get(&vault, "/v1/sys/auth", vt);
    assert!(
        auths["data"].get("jwt-nomad/").is_none(),
        "round {n}: jwt auth left behind"
    );
    for p in ["nomad-workloads", "nomad-workloads-db"] {
        assert_eq!(
            get(&vault, &format!("/v1/sys/policies/acl/{p}"), vt).0,
            404,
            "round {n}: policy {p} left behind"
        );
    }
    for s in [
        "default/api",
        "bootstrap/consul",
        "bootstrap/nomad",
        "operators/consul",
    ] {
        assert_eq!(
            get(&vault, &format!("/v1/secret/metadata/{s}"), vt).0,
            404,
            "round {n}: secret {s} left behind"
        );
    }
    let (_, jobs) = get(&nomad, "/v1/jobs", Some(("X-Nomad-Token", &mgmt_nomad)));
    assert_eq!(jobs, json!([]), "round {n}: jobs left behind");
    let (_, entries) = get(
        &consul,
        "/v1/config/service-intentions",
        Some(("X-Consul-Token", &mgmt_consul)),
    );
    assert_eq!(entries, json!([]), "round {n}: intentions left behind");
    let (_, ca) = get(
        &consul,
        "/v1/connect/ca/configuration",
        Some(("X-Consul-Token", &mgmt_consul)),
    );
    assert_eq!(
        ca["Provider"],
        json!("consul"),
        "round {n}: Consul is back on its own CA"
    );
    runtime().block_on(stack.down());
}

#[test]
fn reference_architecture_and_disaster_recovery_drill() {
    let _ = psql_bin();
    round(1);
    // Disaster recovery: the same code rebuilds the platform on a brand-new stack.
    round(2);
}
