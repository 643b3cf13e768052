//! `Stack::up` with real OpenBao (dev mode) and the Consul simulator.

use std::time::Duration;

use stack_devstack::stack::{Provide, Stack, UpOptions};

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

#[tokio::test]
async fn unimplemented_modes_are_rejected() {
    // `--acl bootstrapped|fresh` are implemented (tests/consul_acl.rs covers them).
    for opts in [UpOptions {
        postgres: true,
        ..UpOptions::default()
    }] {
        let err = Stack::up(&opts).await.err().expect("must be rejected");
        assert!(err.contains("not implemented yet"), "{err}");
    }
}
