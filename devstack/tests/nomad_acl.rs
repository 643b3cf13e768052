//! Nomad simulator ACLs (bootstrap, policies, tokens, enforcement on every endpoint) and
//! fault injection. `python-nomad` drives the ACL API (tests/py/nomad_acl.py); direct HTTP
//! checks pin Nomad's texts and codes.

mod common;

use std::time::{Duration, Instant};

use common::{client, nomad_call as call, nomad_sim as sim, run_python, NOMAD_ENV};
use serde_json::{json, Value};
use stack_devstack::faults::Fault;

/// A register request (`{"Job": ...}`) for a one-task docker job.
fn job(id: &str) -> Value {
    json!({"Job": common::docker_job(id, "redis:7")})
}

use reqwest::Method as M;

/// Creates a policy and a client token holding it; returns the token's SecretID.
async fn client_token(
    c: &reqwest::Client,
    base: &str,
    mgmt: &str,
    name: &str,
    rules: &str,
) -> String {
    let (s, _, b) = call(
        c,
        M::POST,
        format!("{base}/v1/acl/policy/{name}"),
        Some(mgmt),
        Some(json!({"Name": name, "Rules": rules})),
    )
    .await;
    assert_eq!((s, b.as_str()), (200, ""), "policy {name}");
    let (s, _, b) = call(
        c,
        M::POST,
        format!("{base}/v1/acl/token"),
        Some(mgmt),
        Some(json!({"Name": name, "Type": "client", "Policies": [name]})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).expect("token json");
    v["SecretID"].as_str().expect("SecretID").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nomad_acl_api() {
    let h = sim(true).await;
    run_python(
        "python-nomad",
        "nomad_acl.py",
        h.addr().to_string(),
        30,
        NOMAD_ENV,
        "ACL script",
    )
    .await;
}

#[tokio::test]
async fn acl_disabled_answers() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    for (m, p) in [
        (M::POST, "/v1/acl/bootstrap"),
        (M::GET, "/v1/acl/policies"),
        (M::GET, "/v1/acl/tokens"),
        (M::GET, "/v1/acl/token/00000000-0000-0000-0000-000000000000"),
    ] {
        let (s, _, b) = call(&c, m, format!("{base}{p}"), None, None).await;
        assert_eq!((s, b.as_str()), (400, "ACL support disabled"), "{p}");
    }
    // WhoAmI still answers, with the built-in token of a server without ACLs.
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/acl/token/self"), None, None).await;
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(v["AccessorID"], "acls-disabled");
    assert_eq!(v["Name"], "ACLs disabled token");
    // No enforcement: anonymous requests (and bogus tokens) work.
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/v1/jobs"),
        Some("nonsense"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        h.acl_bootstrap().expect_err("disabled"),
        "ACL support disabled"
    );
    let (_, _, b) = call(&c, M::GET, format!("{base}/v1/agent/self"), None, None).await;
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(v["config"]["ACL"]["Enabled"], false);
}

#[tokio::test]
async fn bootstrap_only_once() {
    let h = sim(true).await;
    let c = client();
    let base = h.url();
    // A BootstrapSecret must be a UUID.
    let (s, _, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/bootstrap"),
        None,
        Some(json!({"BootstrapSecret": "not-a-uuid"})),
    )
    .await;
    assert_eq!((s, b.as_str()), (400, "invalid acl token"));
    let secret = "7c9d8d2e-6a55-4c1c-9a0e-3f1d2b4c5d6e";
    let (s, idx, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/bootstrap"),
        None,
        Some(json!({"BootstrapSecret": secret})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(v["SecretID"], secret);
    assert_eq!(v["Type"], "management");
    assert_eq!(v["Policies"], Value::Null);
    assert_eq!(v["ExpirationTTL"], "");
    assert!(v["CreateTime"].as_str().expect("RFC 3339").ends_with('Z'));
    let reset = v["CreateIndex"].as_u64().expect("index");
    assert_eq!(idx.as_deref(), Some(reset.to_string().as_str()));
    let (s, _, b) = call(&c, M::PUT, format!("{base}/v1/acl/bootstrap"), None, None).await;
    assert_eq!(
        (s, b),
        (
            400,
            format!("ACL bootstrap already done (reset index: {reset})")
        )
    );
    assert_eq!(
        h.acl_bootstrap().expect_err("second bootstrap"),
        format!("ACL bootstrap already done (reset index: {reset})")
    );
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/acl/bootstrap"), None, None).await;
    assert_eq!((s, b.as_str()), (405, "Invalid method"));
    // The agent reports ACLs on.
    let (_, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/agent/self"),
        Some(secret),
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(v["config"]["ACL"]["Enabled"], true);
}

#[tokio::test]
async fn policy_validation_errors() {
    let h = sim(true).await;
    let mgmt = h.acl_bootstrap().expect("bootstrap");
    let c = client();
    let base = h.url();
    let put = |name: &str, body: Value| {
        let c = c.clone();
        let url = format!("{base}/v1/acl/policy/{name}");
        let mgmt = mgmt.clone();
        async move { call(&c, M::POST, url, Some(&mgmt), Some(body)).await }
    };
    let cases: &[(&str, &str)] = &[
        (
            "namespace \"default\" {\n  policy = \"superuser\"\n}\n",
            "failed to parse rules: Invalid namespace policy: &acl.NamespacePolicy{Name:\"default\", Policy:\"superuser\", Capabilities:[]string(nil), Variables:(*acl.VariablesPolicy)(nil)}",
        ),
        (
            "namespace \"default\" {\n  capabilities = [\"read-job\", \"fly\"]\n}\n",
            "failed to parse rules: Invalid namespace capability 'fly': &acl.NamespacePolicy{Name:\"default\", Policy:\"\", Capabilities:[]string{\"read-job\", \"fly\"}, Variables:(*acl.VariablesPolicy)(nil)}",
        ),
        (
            "namespace \"bad name\" {\n  policy = \"read\"\n}\n",
            "failed to parse rules: Invalid namespace name: &acl.NamespacePolicy{Name:\"bad name\", Policy:\"read\", Capabilities:[]string(nil), Variables:(*acl.VariablesPolicy)(nil)}",
        ),
        (
            "node {\n  policy = \"list\"\n}\n",
            "failed to parse rules: Invalid node policy: &acl.NodePolicy{Policy:\"list\"}",
        ),
        (
            "agent {\n  policy = \"admin\"\n}\n",
            "failed to parse rules: Invalid agent policy: &acl.AgentPolicy{Policy:\"admin\"}",
        ),
        (
            "operator {\n  capabilities = [\"reboot\"]\n}\n",
            "failed to parse rules: Invalid operator capability 'reboot'",
        ),
        (
            "quota {\n  policy = \"all\"\n}\n",
            "failed to parse rules: Invalid quota policy: &acl.QuotaPolicy{Policy:\"all\"}",
        ),
        (
            "plugin {\n  policy = \"scale\"\n}\n",
            "failed to parse rules: Invalid plugin policy: &acl.PluginPolicy{Policy:\"scale\"}",
        ),
        (
            "host_volume \"data\" {\n  capabilities = [\"mount-all\"]\n}\n",
            "failed to parse rules: Invalid host volume capability 'mount-all': &acl.HostVolumePolicy{Name:\"data\", Policy:\"\", Capabilities:[]string{\"mount-all\"}}",
        ),
        (
            "namespace \"default\" {\n  variables {\n    path \"secrets/*\" {\n      capabilities = [\"peek\"]\n    }\n  }\n}\n",
            "failed to parse rules: Invalid variable capability 'peek' in namespace default",
        ),
        (
            "namespace \"default\" {\n  variables {\n  }\n}\n",
            "failed to parse rules: Invalid variable policy: no variable paths in namespace default",
        ),
        (
            "bogus = \"x\"\n",
            "failed to parse rules: Invalid policy: bogus = \"x\"\n",
        ),
        (
            "namespace \"default\" {\n  policy = \"read\"\n}\nbogus = \"x\"\n",
            "failed to parse rules: Invalid or duplicate policy keys: bogus",
        ),
    ];
    for (rules, want) in cases {
        let (s, _, b) = put("p", json!({"Name": "p", "Rules": rules})).await;
        assert_eq!(s, 400, "{rules}: {b}");
        assert_eq!(
            b,
            format!("policy 0 invalid: 1 error occurred:\n\t* {want}\n\n"),
            "{rules}"
        );
    }
    // Several errors at once, in Nomad's order.
    let (s, _, b) = put(
        "bad_name",
        json!({"Name": "bad_name", "Rules": "node { policy = \"x\" }", "Description": "d".repeat(257)}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b,
        "policy 0 invalid: 3 errors occurred:\n\t* invalid name 'bad_name'\n\t* failed to parse rules: Invalid node policy: &acl.NodePolicy{Policy:\"x\"}\n\t* description longer than 256\n\n"
    );
    let (s, _, b) = put("p", json!({"Name": "q", "Rules": ""})).await;
    assert_eq!(
        (s, b.as_str()),
        (400, "ACL policy name does not match request path")
    );
    // Empty rules are valid; so are JSON rules and every block kind.
    let (s, idx, b) = put("empty", json!({"Name": "empty", "Rules": ""})).await;
    assert_eq!((s, b.as_str()), (200, ""));
    assert!(idx.is_some());
    let (s, _, b) = put(
        "json",
        json!({"Name": "json", "Rules": "{\"namespace\": {\"default\": {\"policy\": \"write\"}}, \"node\": {\"policy\": \"read\"}}"}),
    )
    .await;
    assert_eq!((s, b.as_str()), (200, ""));
    let all = "namespace \"*\" {\n  policy = \"read\"\n  capabilities = [\"host-volume-create\"]\n}\nnode_pool \"default\" {\n  policy = \"read\"\n}\nhost_volume \"data\" {\n  policy = \"write\"\n}\nagent {\n  policy = \"read\"\n}\nnode {\n  policy = \"write\"\n}\noperator {\n  policy = \"read\"\n}\nquota {\n  policy = \"read\"\n}\nplugin {\n  policy = \"list\"\n}\n";
    let (s, _, b) = put(
        "all",
        json!({"Name": "all", "Description": "everything", "Rules": all}),
    )
    .await;
    assert_eq!((s, b.as_str()), (200, ""));
    let (s, idx, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/policy/all"),
        Some(&mgmt),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(v["Rules"], all);
    assert_eq!(idx.expect("index"), v["ModifyIndex"].to_string());
    let caps = &v["RulesJSON"]["Namespaces"][0]["Capabilities"];
    // Explicit capabilities first, then the policy's expansion, then implied ones.
    assert_eq!(caps[0], "host-volume-create");
    assert!(caps.as_array().expect("caps").contains(&json!("list-jobs")));
    assert_eq!(
        v["RulesJSON"]["HostVolumes"][0]["Capabilities"],
        json!(["mount-readonly", "mount-readwrite"])
    );
    assert_eq!(
        v["RulesJSON"]["Operator"]["Capabilities"],
        json!(["license-read", "keyring-read"])
    );
    assert_eq!(v["RulesJSON"]["Plugin"]["Policy"], "list");
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/policies"),
        Some(&mgmt),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let names: Vec<String> = serde_json::from_str::<Vec<Value>>(&b)
        .expect("json")
        .iter()
        .map(|p| p["Name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, ["all", "empty", "json"]);
    // Deleting is idempotent.
    for _ in 0..2 {
        let (s, _, b) = call(
            &c,
            M::DELETE,
            format!("{base}/v1/acl/policy/json"),
            Some(&mgmt),
            None,
        )
        .await;
        assert_eq!((s, b.as_str()), (200, ""));
    }
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/policy/json"),
        Some(&mgmt),
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (404, "ACL policy not found"));
}

#[tokio::test]
async fn token_lifecycle() {
    let h = sim(true).await;
    let mgmt = h.acl_bootstrap().expect("bootstrap");
    let c = client();
    let base = h.url();
    let secret = client_token(
        &c,
        &base,
        &mgmt,
        "reader",
        "namespace \"default\" { policy = \"read\" }",
    )
    .await;

    // Self, with either header; the value is trimmed; `Bearer` is case-insensitive.
    let r = c
        .get(format!("{base}/v1/acl/token/self"))
        .header("Authorization", format!("bearer  {secret} trailing"))
        .send()
        .await
        .expect("self");
    assert_eq!(r.status().as_u16(), 200);
    let me: Value = r.json().await.expect("json");
    assert_eq!(me["SecretID"], secret.as_str());
    assert_eq!(me["Policies"], json!(["reader"]));
    assert_eq!(me["Global"], false);
    let acc = me["AccessorID"].as_str().expect("accessor").to_string();
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/token/self"),
        Some(&format!(" {secret} ")),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // Anonymous self is the anonymous token; an unknown token is denied.
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/acl/token/self"), None, None).await;
    assert_eq!(s, 200, "{b}");
    let anon: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(anon["AccessorID"], "anonymous");
    assert_eq!(anon["Policies"], json!(["anonymous"]));
    let unknown = "11111111-2222-3333-4444-555555555555";
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/token/self"),
        Some(unknown),
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (403, "Permission denied"));

    // A client token reads itself but nothing else, and cannot list or create tokens.
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/token/{acc}"),
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/tokens"),
        Some(&secret),
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (403, "Permission denied"));
    let (s, _, _) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/token"),
        Some(&secret),
        Some(json!({"Name": "x", "Type": "management"})),
    )
    .await;
    assert_eq!(s, 403);
    // Its policies, but not others.
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/policy/reader"),
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/policies"),
        Some(&secret),
        None,
    )
    .await;
    assert_eq!((s, b.contains("\"reader\"")), (200, true));

    // Validation texts.
    let (s, _, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/token"),
        Some(&mgmt),
        Some(json!({"Name": "m", "Type": "management", "Policies": ["reader"]})),
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (400, "token 0 invalid: 1 error occurred:\n\t* management token cannot be associated with policies or roles\n\n")
    );
    let (s, _, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/token"),
        Some(&mgmt),
        Some(json!({"Name": "t", "Type": "root"})),
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (
            400,
            "token 0 invalid: 1 error occurred:\n\t* token type must be client or management\n\n"
        )
    );
    let (s, _, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/token"),
        Some(&mgmt),
        Some(json!({"Name": "t", "Type": "management", "ExpirationTTL": "10s"})),
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (400, "token 0 invalid: 1 error occurred:\n\t* expiration time cannot be less than 1m0s in the future (was 10s)\n\n")
    );
    // A TTL token gets an expiration time.
    let (s, _, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/token"),
        Some(&mgmt),
        Some(json!({"Name": "ttl", "Type": "management", "ExpirationTTL": "1h"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let ttl: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(ttl["ExpirationTTL"], "1h0m0s");
    assert!(ttl["ExpirationTime"].is_string());

    // Update keeps the secret and the create index; the accessor must match the path.
    let (s, _, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/token/{acc}"),
        Some(&mgmt),
        Some(json!({"AccessorID": "other", "Name": "x", "Type": "client", "Policies": ["reader"]})),
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (400, "ACL token accessor does not match request path")
    );
    let (s, idx, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/token/{acc}"),
        Some(&mgmt),
        Some(
            json!({"AccessorID": acc, "Name": "renamed", "Type": "client", "Policies": ["reader"]}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let upd: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(upd["SecretID"], secret.as_str());
    assert_eq!(upd["Name"], "renamed");
    assert_eq!(upd["CreateIndex"], me["CreateIndex"]);
    assert_eq!(idx.expect("index"), upd["ModifyIndex"].to_string());
    let (s, _, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/token/{acc}"),
        Some(&mgmt),
        Some(json!({"AccessorID": acc, "Name": "renamed", "Type": "client", "Policies": ["reader"], "Global": true})),
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (
            400,
            "token 0 invalid: 1 error occurred:\n\t* cannot toggle global mode\n\n"
        )
    );

    // List (stubs without secrets), delete, then the token is gone.
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/tokens"),
        Some(&mgmt),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let list: Vec<Value> = serde_json::from_str(&b).expect("json");
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|t| t.get("SecretID").is_none()));
    let (s, _, b) = call(
        &c,
        M::DELETE,
        format!("{base}/v1/acl/token/{acc}"),
        Some(&mgmt),
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (200, ""));
    let (s, _, b) = call(
        &c,
        M::DELETE,
        format!("{base}/v1/acl/token/{acc}"),
        Some(&mgmt),
        None,
    )
    .await;
    assert_eq!(
        (s, b),
        (400, format!("Cannot delete nonexistent tokens: {acc}"))
    );
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/acl/token/{acc}"),
        Some(&mgmt),
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (404, "ACL token not found"));
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/jobs"), Some(&secret), None).await;
    assert_eq!((s, b.as_str()), (403, "Permission denied"));
}

#[tokio::test]
async fn enforcement_on_every_endpoint() {
    let h = sim(true).await;
    let c = client();
    let base = h.url();
    // Before bootstrap everything but the public endpoints is denied.
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/jobs"), None, None).await;
    assert_eq!((s, b.as_str()), (403, "Permission denied"));
    let mgmt = h.acl_bootstrap().expect("bootstrap");

    // Public: status, regions, health, JWKS.
    for p in [
        "/v1/status/leader",
        "/v1/status/peers",
        "/v1/regions",
        "/v1/agent/health",
    ] {
        let (s, _, b) = call(&c, M::GET, format!("{base}{p}"), None, None).await;
        assert_eq!(s, 200, "{p}: {b}");
    }
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/.well-known/jwks.json"),
        None,
        None,
    )
    .await;
    assert_ne!(s, 403, "JWKS is public");

    // Anonymous: 403 with Nomad's text on reads and writes alike.
    for (m, p, body) in [
        (M::GET, "/v1/jobs", None),
        (M::POST, "/v1/jobs", Some(job("web"))),
        (M::GET, "/v1/job/web", None),
        (M::DELETE, "/v1/job/web", None),
        (M::POST, "/v1/job/web/plan", Some(job("web"))),
        (
            M::POST,
            "/v1/jobs/parse",
            Some(json!({"JobHCL": "job \"x\" {}"})),
        ),
        (M::GET, "/v1/job/web/allocations", None),
        (M::GET, "/v1/evaluations", None),
        (M::GET, "/v1/allocations", None),
        (M::GET, "/v1/deployments", None),
        (M::GET, "/v1/var/app/x", None),
        (M::GET, "/v1/agent/self", None),
        (M::GET, "/v1/nodes", None),
        (M::GET, "/v1/operator/raft/configuration", None),
        (M::POST, "/v1/namespace/team", Some(json!({"Name": "team"}))),
        (M::GET, "/v1/namespace/default", None),
        (M::GET, "/v1/no/such/endpoint", None),
    ] {
        let (s, _, b) = call(&c, m.clone(), format!("{base}{p}"), None, body).await;
        assert_eq!((s, b.as_str()), (403, "Permission denied"), "{m} {p}");
    }
    // A token that does not exist: RPC endpoints say Permission denied, client ones
    // ACL token not found.
    let unknown = "11111111-2222-3333-4444-555555555555";
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/jobs"), Some(unknown), None).await;
    assert_eq!((s, b.as_str()), (403, "Permission denied"));
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/client/fs/cat/{unknown}?path=alloc/logs"),
        Some(unknown),
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (403, "ACL token not found"));
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/jobs"),
        Some("not-a-uuid"),
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (403, "Permission denied"));

    // Management can do everything.
    let (s, _, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/jobs"),
        Some(&mgmt),
        Some(job("web")),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/namespace/team"),
        Some(&mgmt),
        Some(json!({"Name": "team"})),
    )
    .await;
    assert_eq!((s, b.as_str()), (200, ""));
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/v1/agent/self"),
        Some(&mgmt),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // A read-only token reads (jobs, job, versions, evaluations) but cannot submit.
    let ro = client_token(
        &c,
        &base,
        &mgmt,
        "ro",
        "namespace \"default\" {\n  policy = \"read\"\n}\n",
    )
    .await;
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/jobs"), Some(&ro), None).await;
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("\"web\""), "{b}");
    for p in [
        "/v1/job/web",
        "/v1/job/web/versions",
        "/v1/job/web/allocations",
        "/v1/evaluations",
    ] {
        let (s, _, b) = call(&c, M::GET, format!("{base}{p}"), Some(&ro), None).await;
        assert_eq!(s, 200, "{p}: {b}");
    }
    for (m, p, body) in [
        (M::POST, "/v1/jobs", Some(job("web2"))),
        (M::POST, "/v1/job/web", Some(job("web"))),
        (M::POST, "/v1/job/web/plan", Some(job("web"))),
        (M::DELETE, "/v1/job/web", None),
        (M::GET, "/v1/jobs?namespace=team", None),
        (M::GET, "/v1/agent/self", None),
        (M::GET, "/v1/var/app/x", None),
    ] {
        let (s, _, b) = call(&c, m.clone(), format!("{base}{p}"), Some(&ro), body).await;
        assert_eq!((s, b.as_str()), (403, "Permission denied"), "{m} {p}");
    }
    // The job's namespace in the body counts for registration.
    let mut in_team = job("t1");
    in_team["Job"]["Namespace"] = json!("team");
    let teamw = client_token(
        &c,
        &base,
        &mgmt,
        "teamw",
        "namespace \"team\" {\n  policy = \"write\"\n}\n",
    )
    .await;
    let (s, _, b) = call(
        &c,
        M::POST,
        format!("{base}/v1/jobs"),
        Some(&teamw),
        Some(in_team),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, _, _) = call(
        &c,
        M::POST,
        format!("{base}/v1/jobs"),
        Some(&teamw),
        Some(job("t2")),
    )
    .await;
    assert_eq!(s, 403, "default namespace is not granted");
    // By-ID reads check the object's namespace, whatever `?namespace=` says.
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/job/t1/evaluations?namespace=team"),
        Some(&mgmt),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let evals: Vec<Value> = serde_json::from_str(&b).expect("json");
    let eval_id = evals[0]["ID"].as_str().expect("eval ID").to_string();
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/evaluation/{eval_id}?namespace=default"),
        Some(&ro),
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (403, "Permission denied"));
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/evaluation/{eval_id}"),
        Some(&teamw),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // deregister-job allows a stop but not a purge.
    let dereg = client_token(
        &c,
        &base,
        &mgmt,
        "dereg",
        "namespace \"default\" {\n  capabilities = [\"deregister-job\"]\n}\n",
    )
    .await;
    let (s, _, _) = call(
        &c,
        M::DELETE,
        format!("{base}/v1/job/web?purge=true"),
        Some(&dereg),
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _, b) = call(
        &c,
        M::DELETE,
        format!("{base}/v1/job/web"),
        Some(&dereg),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");

    // Lists are filtered, not refused: namespaces and `*` job lists.
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/namespaces"), Some(&ro), None).await;
    assert_eq!(s, 200);
    let names: Vec<Value> = serde_json::from_str(&b).expect("json");
    assert_eq!(
        names.iter().map(|n| n["Name"].clone()).collect::<Vec<_>>(),
        [json!("default")]
    );
    let (s, _, b) = call(
        &c,
        M::GET,
        format!("{base}/v1/jobs?namespace=*"),
        Some(&teamw),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let jobs: Vec<Value> = serde_json::from_str(&b).expect("json");
    assert_eq!(
        jobs.iter().map(|j| j["ID"].clone()).collect::<Vec<_>>(),
        [json!("t1")]
    );
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/v1/namespace/team"),
        Some(&ro),
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/v1/namespace/team"),
        Some(&teamw),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // Namespace globs: the closest glob wins.
    let glob = client_token(
        &c,
        &base,
        &mgmt,
        "glob",
        "namespace \"*\" {\n  policy = \"read\"\n}\nnamespace \"te*\" {\n  policy = \"deny\"\n}\n",
    )
    .await;
    let (s, _, _) = call(&c, M::GET, format!("{base}/v1/jobs"), Some(&glob), None).await;
    assert_eq!(s, 200);
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/v1/jobs?namespace=team"),
        Some(&glob),
        None,
    )
    .await;
    assert_eq!(s, 403);

    // Agent, node and operator policies.
    let ops = client_token(
        &c,
        &base,
        &mgmt,
        "ops",
        "agent {\n  policy = \"read\"\n}\nnode {\n  policy = \"read\"\n}\n",
    )
    .await;
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/v1/agent/self"),
        Some(&ops),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = call(&c, M::GET, format!("{base}/v1/jobs"), Some(&ops), None).await;
    assert_eq!(s, 403);

    // The anonymous policy grants anonymous requests.
    let (s, _, _) = call(
        &c,
        M::POST,
        format!("{base}/v1/acl/policy/anonymous"),
        Some(&mgmt),
        Some(json!({"Name": "anonymous", "Rules": "namespace \"default\" {\n  policy = \"read\"\n}\n"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = call(&c, M::GET, format!("{base}/v1/jobs"), None, None).await;
    assert_eq!(s, 200);
    let (s, _, _) = call(
        &c,
        M::POST,
        format!("{base}/v1/jobs"),
        None,
        Some(job("anon")),
    )
    .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn variables_path_globs() {
    let h = sim(true).await;
    let mgmt = h.acl_bootstrap().expect("bootstrap");
    let c = client();
    let base = h.url();
    for p in ["app/db", "app/secret", "other/x"] {
        let (s, _, b) = call(
            &c,
            M::PUT,
            format!("{base}/v1/var/{p}"),
            Some(&mgmt),
            Some(json!({"Items": {"k": "v"}})),
        )
        .await;
        assert_eq!(s, 200, "{p}: {b}");
    }
    let rules = "namespace \"default\" {\n  variables {\n    path \"app/*\" {\n      capabilities = [\"read\", \"write\"]\n    }\n    path \"app/secret\" {\n      capabilities = [\"deny\"]\n    }\n  }\n}\n";
    let t = client_token(&c, &base, &mgmt, "vars", rules).await;
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/var/app/db"), Some(&t), None).await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = call(
        &c,
        M::PUT,
        format!("{base}/v1/var/app/new"),
        Some(&t),
        Some(json!({"Items": {"a": "b"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    for (m, p) in [
        (M::GET, "app/secret"),
        (M::PUT, "app/secret"),
        (M::GET, "other/x"),
        (M::PUT, "other/y"),
        (M::DELETE, "app/db"),
    ] {
        let body = (m == M::PUT).then(|| json!({"Items": {"a": "b"}}));
        let (s, _, b) = call(&c, m.clone(), format!("{base}/v1/var/{p}"), Some(&t), body).await;
        assert_eq!((s, b.as_str()), (403, "Permission denied"), "{m} {p}");
    }
    // Another namespace's variables are not covered.
    let (s, _, _) = call(
        &c,
        M::GET,
        format!("{base}/v1/var/app/db?namespace=team"),
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, 403);
    // The list shows only what the token may list (read implies list).
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/vars"), Some(&t), None).await;
    assert_eq!(s, 200, "{b}");
    let mut paths: Vec<String> = serde_json::from_str::<Vec<Value>>(&b)
        .expect("json")
        .iter()
        .map(|v| v["Path"].as_str().expect("path").to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, ["app/db", "app/new"]);
    let (_, _, b) = call(&c, M::GET, format!("{base}/v1/vars"), Some(&mgmt), None).await;
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&b).expect("json").len(),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let post = |body: &'static str| {
        let c = c.clone();
        let url = format!("{base}/_sim/faults");
        async move {
            let r = c.post(url).body(body).send().await.expect("POST fault");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    assert_eq!(
        post(r#"{"status":500,"count":2}"#).await,
        (200, String::new())
    );
    let r = c
        .get(format!("{base}/_sim/faults"))
        .send()
        .await
        .expect("GET");
    let pending: Value = r.json().await.expect("json");
    assert_eq!(pending["status"], 500);
    assert_eq!(pending["count"], 2);
    for _ in 0..2 {
        let (s, _, b) = call(&c, M::GET, format!("{base}/v1/jobs"), None, None).await;
        assert_eq!((s, b.as_str()), (500, "No cluster leader"));
    }
    let (s, _, _) = call(&c, M::GET, format!("{base}/v1/jobs"), None, None).await;
    assert_eq!(s, 200);
    let r = c
        .get(format!("{base}/_sim/faults"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.text().await.expect("body"), "null");

    // 429 with Nomad's text; a custom body; the admin endpoint itself is never faulted.
    assert_eq!(post(r#"{"status":429}"#).await.0, 200);
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/status/leader"), None, None).await;
    assert_eq!(
        (s, b.as_str()),
        (
            429,
            "Your IP is issuing too many concurrent connections, please rate limit your calls\n"
        )
    );
    assert_eq!(
        post(r#"{"status":503,"body":"maintenance","count":3}"#)
            .await
            .0,
        200
    );
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/agent/self"), None, None).await;
    assert_eq!((s, b.as_str()), (503, "maintenance"));
    let r = c
        .delete(format!("{base}/_sim/faults"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status().as_u16(), 200);
    let (s, _, _) = call(&c, M::GET, format!("{base}/v1/agent/self"), None, None).await;
    assert_eq!(s, 200);

    // A delay without a status delays and then serves.
    assert_eq!(post(r#"{"delay_ms":300}"#).await.0, 200);
    let t = Instant::now();
    let (s, _, _) = call(&c, M::GET, format!("{base}/v1/status/leader"), None, None).await;
    assert_eq!(s, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    // Bad specs are refused.
    for bad in [
        r#"{"status":"x"}"#,
        r#"{"count":2}"#,
        r#"{"status":500,"count":0}"#,
        r#"{"status":500,"x":1}"#,
        "nope",
    ] {
        assert_eq!(post(bad).await.0, 400, "{bad}");
    }

    // From Rust, through the handle.
    h.inject_fault(Fault {
        status: Some(500),
        body: None,
        delay_ms: 0,
        remaining: 1,
    });
    let (s, _, b) = call(&c, M::GET, format!("{base}/v1/jobs"), None, None).await;
    assert_eq!((s, b.as_str()), (500, "No cluster leader"));
    let (s, _, _) = call(&c, M::GET, format!("{base}/v1/jobs"), None, None).await;
    assert_eq!(s, 200);
}
