//! `Stack::up` with real OpenBao (dev mode), the Consul and Nomad simulators and, with
//! `--postgres`, Debian's PostgreSQL.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::client;
use stack_devstack::stack::{AclMode, Provide, Stack, UpOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_up_exports_env_and_stops_cleanly() {
    let opts = UpOptions {
        consul: Provide::Sim,
        ..UpOptions::default()
    };
    let stack = Stack::up(&opts)
        .await
        .expect("stack up (needs .tools/bin/bao or BAO_BIN)");
    let env: std::collections::HashMap<_, _> = stack.env().iter().cloned().collect();
    let vault = env.get("VAULT_ADDR").expect("VAULT_ADDR").clone();
    let token = env.get("VAULT_TOKEN").expect("VAULT_TOKEN").clone();
    let consul = env
        .get("CONSUL_HTTP_ADDR")
        .expect("CONSUL_HTTP_ADDR")
        .clone();
    assert!(!env.contains_key("CONSUL_HTTP_TOKEN"), "ACLs are off");
    let exports = stack.export_lines();
    assert!(
        exports.contains(&format!("export VAULT_ADDR='{vault}'\n")),
        "{exports}"
    );

    let c = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let r = c
        .get(format!("{consul}/v1/status/leader"))
        .send()
        .await
        .expect("leader");
    assert_eq!(r.status().as_u16(), 200);
    // API audit device creation is allowed (unsafe_allow_api_audit_creation).
    let r = c
        .put(format!("{vault}/v1/sys/audit/devstack-test"))
        .header("X-Vault-Token", &token)
        .body(r#"{"type":"file","options":{"file_path":"discard"}}"#)
        .send()
        .await
        .expect("audit");
    assert_eq!(
        r.status().as_u16(),
        204,
        "{}",
        r.text().await.expect("body")
    );

    stack.down().await;
    assert!(
        c.get(format!("{vault}/v1/sys/health"))
            .send()
            .await
            .is_err(),
        "bao still answers after down()"
    );
}

/// Nomad starts by default (the simulator when no `nomad` is on PATH), wired to the stack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nomad_starts_by_default() {
    let stack = Stack::up(&UpOptions {
        consul: Provide::Sim,
        ..UpOptions::default()
    })
    .await
    .expect("stack up");
    let env: HashMap<_, _> = stack.env().iter().cloned().collect();
    let nomad = env.get("NOMAD_ADDR").expect("NOMAD_ADDR exported").clone();
    assert!(!env.contains_key("NOMAD_TOKEN"), "ACLs are off");
    let c = client();
    let r = c
        .get(format!("{nomad}/v1/status/leader"))
        .send()
        .await
        .expect("leader");
    assert_eq!(r.status().as_u16(), 200);
    let summary = stack.summary().join("\n");
    let real_nomad = stack_devstack::stack::which("nomad").is_some();
    if !real_nomad {
        assert!(summary.contains("nomad    simulated"), "{summary}");
    }
    assert!(summary.contains("consul   simulated"), "{summary}");
    assert!(summary.contains("vault    real"), "{summary}");
    let names: Vec<&str> = stack.timings().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["vault", "consul", "nomad", "total"]);
    stack.down().await;
    assert!(c
        .get(format!("{nomad}/v1/status/leader"))
        .send()
        .await
        .is_err());
}

/// `--acl bootstrapped|fresh|off` apply to Nomad as to Consul.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_modes_apply_to_nomad() {
    let c = client();
    for mode in [AclMode::Bootstrapped, AclMode::Fresh, AclMode::Off] {
        let stack = Stack::up(&UpOptions {
            consul: Provide::Sim,
            nomad: Some(Provide::Sim),
            acl: mode,
            ..UpOptions::default()
        })
        .await
        .expect("stack up");
        let env: HashMap<_, _> = stack.env().iter().cloned().collect();
        let nomad = env["NOMAD_ADDR"].clone();
        let token = env.get("NOMAD_TOKEN").cloned();
        let get = |path: &str, token: Option<&str>| {
            let mut rb = c.get(format!("{nomad}{path}"));
            if let Some(t) = token {
                rb = rb.header("X-Nomad-Token", t);
            }
            async move {
                let r = rb.send().await.expect("request");
                (r.status().as_u16(), r.text().await.expect("body"))
            }
        };
        let bootstrap = c
            .post(format!("{nomad}/v1/acl/bootstrap"))
            .send()
            .await
            .expect("bootstrap");
        let (bs, bb) = (
            bootstrap.status().as_u16(),
            bootstrap.text().await.expect("body"),
        );
        match mode {
            AclMode::Bootstrapped => {
                let token = token.expect("NOMAD_TOKEN exported");
                assert!(env.contains_key("CONSUL_HTTP_TOKEN"));
                let (s, b) = get("/v1/acl/token/self", Some(&token)).await;
                assert_eq!(s, 200, "{b}");
                let me: serde_json::Value = serde_json::from_str(&b).expect("json");
                assert_eq!(me["Type"], "management");
                assert_eq!(get("/v1/jobs", Some(&token)).await.0, 200);
                assert_eq!(
                    get("/v1/jobs", None).await,
                    (403, "Permission denied".into())
                );
                assert_eq!(bs, 400);
                assert!(
                    bb.starts_with("ACL bootstrap already done (reset index: "),
                    "{bb}"
                );
            }
            AclMode::Fresh => {
                assert!(token.is_none(), "fresh: no NOMAD_TOKEN");
                assert!(!env.contains_key("CONSUL_HTTP_TOKEN"));
                assert_eq!(
                    get("/v1/jobs", None).await,
                    (403, "Permission denied".into())
                );
                // Not bootstrapped yet: the caller can do it.
                assert_eq!(bs, 200, "{bb}");
                let v: serde_json::Value = serde_json::from_str(&bb).expect("json");
                let t = v["SecretID"].as_str().expect("SecretID");
                assert_eq!(get("/v1/jobs", Some(t)).await.0, 200);
            }
            AclMode::Off => {
                assert!(token.is_none());
                assert_eq!(get("/v1/jobs", None).await.0, 200);
                assert_eq!((bs, bb.as_str()), (400, "ACL support disabled"));
            }
        }
        stack.down().await;
    }
}

/// `--postgres`: a password-authenticated superuser on a loopback port, in PG* variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_is_reachable_with_exported_credentials() {
    let stack = Stack::up(&UpOptions {
        consul: Provide::Sim,
        nomad: Some(Provide::Sim),
        postgres: true,
        ..UpOptions::default()
    })
    .await
    .expect("stack up (needs Debian's postgresql)");
    let env: HashMap<_, _> = stack.env().iter().cloned().collect();
    for k in ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"] {
        assert!(env.contains_key(k), "{k} not exported");
    }
    assert_eq!(env["PGHOST"], "127.0.0.1");
    let summary = stack.summary().join("\n");
    assert!(summary.contains("postgres real"), "{summary}");
    let bin = stack_devstack::postgres::find_bin_dir().expect("bin dir");
    let psql = stack_devstack::postgres::find_psql(&bin).expect("psql");
    let run = |password: &str| {
        let mut cmd = std::process::Command::new(&psql);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PG") {
                cmd.env_remove(&k);
            }
        }
        for k in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE"] {
            cmd.env(k, &env[k]);
        }
        cmd.env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5")
            .args(["-X", "-q", "-t", "-A", "-c", "select 1"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run psql")
    };
    let out = run(&env["PGPASSWORD"]);
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    // The password is really checked.
    let out = run("wrong");
    assert!(!out.status.success(), "a wrong password was accepted");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password authentication failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stack.down().await;
    // Stopped: the port refuses connections.
    let port: u16 = env["PGPORT"].parse().expect("port");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test]
async fn missing_real_binaries_are_rejected() {
    if stack_devstack::stack::which("nomad").is_none() {
        let err = Stack::up(&UpOptions {
            nomad: Some(Provide::Real),
            ..UpOptions::default()
        })
        .await
        .err()
        .expect("must be rejected");
        assert_eq!(err, "--nomad real: no `nomad` on PATH");
    }
}
