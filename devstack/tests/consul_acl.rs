//! The Consul simulator's ACL system: the third-party `py-consul` client drives it
//! (tests/py/consul_acl.py), and direct HTTP checks pin Consul's status codes and texts.

mod common;

use common::{client, consul_call as call, consul_sim as sim, json, run_python};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_acl_conformance() {
    let h = sim(true).await;
    run_python(
        "py-consul",
        "consul_acl.py",
        h.addr().to_string(),
        20,
        &["CONSUL_HTTP_TOKEN"],
        "ACL conformance",
    )
    .await;
}

#[tokio::test]
async fn acl_disabled_answers_401() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    for (m, p) in [
        (reqwest::Method::GET, "/v1/acl/policies"),
        (reqwest::Method::PUT, "/v1/acl/bootstrap"),
        (reqwest::Method::GET, "/v1/acl/token/self"),
    ] {
        let (s, b, hd) = call(&c, m, format!("{base}{p}"), None, None).await;
        assert_eq!((s, b.as_str()), (401, "ACL support disabled"), "{p}");
        assert_eq!(hd["X-Consul-Default-ACL-Policy"], "allow");
    }
    // Other endpoints ignore tokens entirely.
    let (s, _, _) = call(
        &c,
        reqwest::Method::PUT,
        format!("{base}/v1/kv/a"),
        Some("whatever"),
        Some("x".into()),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn bootstrap_once_with_reset_index() {
    let h = sim(true).await;
    let c = client();
    let base = h.url();
    let (s, b, hd) = call(
        &c,
        reqwest::Method::PUT,
        format!("{base}/v1/acl/bootstrap"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(hd["X-Consul-Default-ACL-Policy"], "deny");
    let tok = json(&b);
    assert_eq!(tok["ID"], tok["SecretID"]);
    assert_eq!(tok["Description"], "Bootstrap Token (Global Management)");
    assert_eq!(
        tok["Policies"],
        json!([{"ID": "00000000-0000-0000-0000-000000000001", "Name": "global-management"}])
    );
    let idx = tok["CreateIndex"].as_u64().expect("CreateIndex");
    let (s, b, _) = call(
        &c,
        reqwest::Method::PUT,
        format!("{base}/v1/acl/bootstrap"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(
        b,
        format!("Permission denied: ACL bootstrap no longer allowed (reset index: {idx})")
    );
    // The handle's bootstrap is the same operation.
    let err = h.acl_bootstrap().expect_err("already bootstrapped");
    assert!(err.contains(&format!("(reset index: {idx})")), "{err}");
}

#[tokio::test]
async fn rules_are_enforced_with_consuls_texts() {
    let h = sim(true).await;
    let c = client();
    let base = h.url();
    let mgmt = h.acl_bootstrap().expect("bootstrap");
    let m = Some(mgmt.as_str());
    let put = reqwest::Method::PUT;
    let get = reqwest::Method::GET;

    // Status is open; the anonymous token is denied everything else.
    let (s, _, _) = call(
        &c,
        get.clone(),
        format!("{base}/v1/status/leader"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, b, _) = call(&c, get.clone(), format!("{base}/v1/kv/app/x"), None, None).await;
    assert_eq!(s, 403);
    assert_eq!(
        b,
        "Permission denied: anonymous token lacks permission 'key:read' on \"app/x\". The anonymous token is used implicitly when a request does not specify a token."
    );
    let (s, b, _) = call(
        &c,
        get.clone(),
        format!("{base}/v1/kv/app/x"),
        Some("nope"),
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (403, "ACL not found"));

    // Invalid rules: the leader's validation error, passed through as a 500.
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/acl/policy"),
        m,
        Some(
            json!({"Name": "bad", "Rules": "key_prefix \"a/\" { policy = \"maybe\" }"}).to_string(),
        ),
    )
    .await;
    assert_eq!(s, 500, "{b}");
    assert!(b.contains("Invalid key prefix policy"), "{b}");
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/acl/policy"),
        m,
        Some(json!({"Name": "bad", "Rules": "key_prefix \"a/\" {"}).to_string()),
    )
    .await;
    assert_eq!(s, 500, "{b}");
    assert!(b.starts_with("Failed to parse ACL rules"), "{b}");

    let rules = "key_prefix \"app/\" { policy = \"write\" }\nkey_prefix \"app/secret/\" { policy = \"deny\" }\nservice \"web\" { policy = \"write\" }\nnode_prefix \"\" { policy = \"read\" }";
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/acl/policy"),
        m,
        Some(json!({"Name": "app", "Rules": rules}).to_string()),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let pol = json(&b);
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/acl/policy"),
        m,
        Some(json!({"Name": "app", "Rules": ""}).to_string()),
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (
            500,
            "Invalid Policy: A Policy with Name \"app\" already exists"
        )
    );
    let (s, b, _) = call(
        &c,
        get.clone(),
        format!("{base}/v1/acl/policy/name/app"),
        m,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(json(&b)["ID"], pol["ID"]);
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/acl/token"),
        m,
        Some(json!({"Description": "t", "Policies": [{"Name": "app"}]}).to_string()),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let tok = json(&b);
    let accessor = tok["AccessorID"].as_str().expect("accessor").to_string();
    let secret = tok["SecretID"].as_str().expect("secret").to_string();
    let t = Some(secret.as_str());

    // KV: longest prefix wins; writes outside app/ are denied with Consul's text.
    let (s, _, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/kv/app/x"),
        t,
        Some("1".into()),
    )
    .await;
    assert_eq!(s, 200);
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/kv/other/x"),
        t,
        Some("1".into()),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(
        b,
        format!("Permission denied: token with AccessorID '{accessor}' lacks permission 'key:write' on \"other/x\"")
    );
    let (s, _, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/kv/app/secret/k"),
        t,
        Some("1".into()),
    )
    .await;
    assert_eq!(s, 403);
    // `?token=` and `Authorization: Bearer` carry the token too.
    let (s, _, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/kv/app/y?token={secret}"),
        None,
        Some("2".into()),
    )
    .await;
    assert_eq!(s, 200);
    let r = c
        .get(format!("{base}/v1/kv/app/y"))
        .header("Authorization", format!("Bearer {secret}"))
        .send()
        .await
        .expect("bearer");
    assert_eq!(r.status().as_u16(), 200);
    // A recursive read filters what the token cannot see.
    call(
        &c,
        put.clone(),
        format!("{base}/v1/kv/app/secret/k"),
        m,
        Some("s".into()),
    )
    .await;
    let (s, b, hd) = call(
        &c,
        get.clone(),
        format!("{base}/v1/kv/app/?recurse"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let keys: Vec<String> = json(&b)
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["Key"].as_str().expect("key").to_string())
        .collect();
    assert_eq!(keys, ["app/x", "app/y"]);
    assert_eq!(hd["X-Consul-Results-Filtered-By-ACLs"], "true");

    // Services: `web` may be registered, `db` not; agent self needs agent:read.
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/agent/service/register"),
        t,
        Some(json!({"Name": "web", "Port": 80}).to_string()),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/agent/service/register"),
        t,
        Some(json!({"Name": "db", "Port": 5432}).to_string()),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(
        b,
        format!("Permission denied: token with AccessorID '{accessor}' lacks permission 'service:write' on \"db\"")
    );
    let (s, b, _) = call(&c, get.clone(), format!("{base}/v1/agent/self"), t, None).await;
    assert_eq!(s, 403);
    assert_eq!(
        b,
        format!("Permission denied: token with AccessorID '{accessor}' lacks permission 'agent:read' on \"devstack\"")
    );
    let (s, b, _) = call(
        &c,
        get.clone(),
        format!("{base}/v1/catalog/services"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(json(&b), json!({"web": []}));
    let (s, b, _) = call(
        &c,
        get.clone(),
        format!("{base}/v1/health/service/consul"),
        t,
        None,
    )
    .await;
    assert_eq!((s, json(&b)), (200, json!([])));

    // ACL endpoints need acl:read / acl:write.
    let (s, b, _) = call(&c, get.clone(), format!("{base}/v1/acl/tokens"), t, None).await;
    assert_eq!(s, 403);
    assert_eq!(
        b,
        format!(
            "Permission denied: token with AccessorID '{accessor}' lacks permission 'acl:read'"
        )
    );
    // ... but a token reads itself.
    let (s, b, _) = call(
        &c,
        get.clone(),
        format!("{base}/v1/acl/token/self"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(json(&b)["AccessorID"], accessor.as_str());
    let (s, b, _) = call(
        &c,
        get.clone(),
        format!("{base}/v1/acl/token/00000000-0000-0000-0000-00000000dead"),
        m,
        None,
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (404, "Requested token does not exist: ACL not found")
    );
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/acl/token/{accessor}"),
        m,
        Some(json!({"AccessorID": "00000000-0000-0000-0000-000000000009"}).to_string()),
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (400, "Token Accessor ID in URL and payload do not match")
    );
    let (s, b, _) = call(
        &c,
        reqwest::Method::DELETE,
        format!("{base}/v1/acl/token/{accessor}"),
        m,
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (s, b, _) = call(&c, get.clone(), format!("{base}/v1/kv/app/x"), t, None).await;
    assert_eq!((s, b.as_str()), (403, "ACL not found"));
}

/// `stack-devstack up --acl bootstrapped|fresh` with the simulator: the management token is
/// exported as `CONSUL_HTTP_TOKEN` only when bootstrapped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_up_acl_modes() {
    use stack_devstack::stack::{AclMode, Provide, Stack, UpOptions};
    let c = client();
    for mode in [AclMode::Bootstrapped, AclMode::Fresh] {
        let stack = Stack::up(&UpOptions {
            consul: Provide::Sim,
            acl: mode,
            ..UpOptions::default()
        })
        .await
        .expect("stack up (needs .tools/bin/bao or BAO_BIN)");
        let env: std::collections::HashMap<_, _> = stack.env().iter().cloned().collect();
        let addr = env["CONSUL_HTTP_ADDR"].clone();
        let token = env.get("CONSUL_HTTP_TOKEN").cloned();
        let (s, b, hd) = call(
            &c,
            reqwest::Method::PUT,
            format!("{addr}/v1/kv/devstack/probe"),
            token.as_deref(),
            Some("1".into()),
        )
        .await;
        assert_eq!(hd["X-Consul-Default-ACL-Policy"], "deny");
        match mode {
            AclMode::Bootstrapped => {
                assert!(token.is_some(), "no CONSUL_HTTP_TOKEN");
                assert_eq!((s, b.as_str()), (200, "true"));
                let (s, b, _) = call(
                    &c,
                    reqwest::Method::PUT,
                    format!("{addr}/v1/acl/bootstrap"),
                    None,
                    None,
                )
                .await;
                assert_eq!(s, 403, "{b}");
            }
            _ => {
                assert!(token.is_none(), "fresh exports no token");
                assert_eq!(s, 403, "{b}");
                let (s, b, _) = call(
                    &c,
                    reqwest::Method::PUT,
                    format!("{addr}/v1/acl/bootstrap"),
                    None,
                    None,
                )
                .await;
                assert_eq!(s, 200, "{b}");
            }
        }
        stack.down().await;
    }
}

#[tokio::test]
async fn roles_grant_their_policies() {
    let h = sim(true).await;
    let c = client();
    let base = h.url();
    let mgmt = h.acl_bootstrap().expect("bootstrap");
    let m = Some(mgmt.as_str());
    let put = reqwest::Method::PUT;
    let get = reqwest::Method::GET;
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/acl/policy"),
        m,
        Some(
            json!({"Name": "kv-read", "Rules": "key_prefix \"\" { policy = \"read\" }"})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/acl/role"),
        m,
        Some(json!({"Name": "reader", "Policies": [{"Name": "kv-read"}]}).to_string()),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let role = json(&b);
    assert_eq!(role["Policies"][0]["Name"], "kv-read");
    let rid = role["ID"].as_str().expect("role id").to_string();
    let (s, b, _) = call(
        &c,
        get.clone(),
        format!("{base}/v1/acl/role/name/reader"),
        m,
        None,
    )
    .await;
    assert_eq!((s, json(&b)["ID"].clone()), (200, json!(rid)));
    let (s, b, _) = call(&c, get.clone(), format!("{base}/v1/acl/roles"), m, None).await;
    assert_eq!(s, 200);
    assert_eq!(json(&b).as_array().map(Vec::len), Some(1));
    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/acl/role/{rid}"),
        m,
        Some(json!({"ID": "00000000-0000-0000-0000-000000000009", "Name": "reader"}).to_string()),
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (400, "Role ID in URL and payload do not match")
    );
    // The ID and Name rules that policy and role writes share: the HTTP handler's 400s, the
    // leader's validation 500s.
    let id = "00000000-0000-0000-0000-000000000009";
    for (kind, body, want) in [
        (
            "policy",
            json!({"ID": id, "Name": "p"}),
            (400, "Cannot specify the ID when creating a new policy"),
        ),
        (
            "role",
            json!({"ID": id, "Name": "r"}),
            (400, "Cannot specify the ID when creating a new role"),
        ),
        (
            "policy",
            json!({"Rules": ""}),
            (500, "Invalid Policy: no Name is set"),
        ),
        (
            "role",
            json!({"Name": "bad name"}),
            (
                500,
                "Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are allowed",
            ),
        ),
    ] {
        let (s, b, _) = call(
            &c,
            put.clone(),
            format!("{base}/v1/acl/{kind}"),
            m,
            Some(body.to_string()),
        )
        .await;
        assert_eq!((s, b.as_str()), want, "{kind} {body}");
    }

    let (s, b, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/acl/token"),
        m,
        Some(json!({"Roles": [{"ID": rid}]}).to_string()),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let tok = json(&b);
    assert_eq!(tok["Roles"][0]["Name"], "reader");
    let secret = tok["SecretID"].as_str().expect("secret").to_string();
    call(
        &c,
        put.clone(),
        format!("{base}/v1/kv/a"),
        m,
        Some("1".into()),
    )
    .await;
    let (s, _, _) = call(
        &c,
        get.clone(),
        format!("{base}/v1/kv/a"),
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = call(
        &c,
        put.clone(),
        format!("{base}/v1/kv/a"),
        Some(&secret),
        Some("2".into()),
    )
    .await;
    assert_eq!(s, 403);
    let (s, b, _) = call(
        &c,
        reqwest::Method::DELETE,
        format!("{base}/v1/acl/role/{rid}"),
        m,
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (s, b, _) = call(
        &c,
        get.clone(),
        format!("{base}/v1/acl/role/{rid}"),
        m,
        None,
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (404, "Requested role does not exist: ACL not found")
    );
}
