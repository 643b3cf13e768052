//! The Consul simulator's Connect CA: the built-in `consul` provider, the `vault` provider
//! against a real OpenBao (`bao server -dev`), configuration validation with Consul's texts,
//! leaf certificates checked with `openssl verify`, and ACL enforcement. The third-party
//! `py-consul` client drives the same endpoints (tests/py/consul_connect_ca.py).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{client, consul_call as call, consul_sim as sim, json, run_python, start_bao};
use serde_json::{json, Value};
use stack_devstack::consul::ConsulSimHandle;

async fn get_json(c: &reqwest::Client, url: String, token: Option<&str>) -> Value {
    let (st, body, _) = call(c, reqwest::Method::GET, url.clone(), token, None).await;
    assert_eq!(st, 200, "GET {url}: {body}");
    json(&body)
}

async fn put_config(
    c: &reqwest::Client,
    h: &ConsulSimHandle,
    token: Option<&str>,
    body: Value,
) -> (u16, String) {
    let (st, b, _) = call(
        c,
        reqwest::Method::PUT,
        format!("{}/v1/connect/ca/configuration", h.url()),
        token,
        Some(body.to_string()),
    )
    .await;
    (st, b)
}

/// `openssl verify` of a leaf (plus its intermediates) against a root PEM.
fn openssl_verify(dir: &Path, root_pem: &str, cert_pem: &str) -> Result<(), String> {
    let certs: Vec<String> = cert_pem
        .split_inclusive("-----END CERTIFICATE-----")
        .map(|s| s.trim().to_string())
        .filter(|s| s.starts_with("-----BEGIN"))
        .collect();
    assert!(!certs.is_empty(), "no certificate in {cert_pem}");
    let root = dir.join("root.pem");
    let leaf = dir.join("leaf.pem");
    let chain = dir.join("chain.pem");
    std::fs::write(&root, root_pem).expect("write root");
    std::fs::write(&leaf, format!("{}\n", certs[0])).expect("write leaf");
    std::fs::write(&chain, certs[1..].join("\n") + "\n").expect("write chain");
    let mut cmd = std::process::Command::new("openssl");
    cmd.arg("verify").arg("-CAfile").arg(&root);
    if certs.len() > 1 {
        cmd.arg("-untrusted").arg(&chain);
    }
    let out = cmd.arg(&leaf).output().expect("run openssl");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The SPIFFE URI SAN of a certificate, read by `openssl x509`.
fn openssl_text(dir: &Path, pem: &str) -> String {
    let f = dir.join("x.pem");
    std::fs::write(&f, pem).expect("write pem");
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&f)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The public key of a private key (`openssl ec`) or of a certificate (`openssl x509`).
fn openssl_pubkey(dir: &Path, kind: &str, pem: &str) -> String {
    let f = dir.join("k.pem");
    std::fs::write(&f, pem).expect("write pem");
    // `openssl ec -noout` would print nothing at all.
    let args: &[&str] = if kind == "x509" {
        &["x509", "-noout", "-pubkey", "-in"]
    } else {
        &["ec", "-pubout", "-in"]
    };
    let out = std::process::Command::new("openssl")
        .args(args)
        .arg(&f)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn active_root(roots: &Value) -> Value {
    let id = roots["ActiveRootID"].as_str().expect("ActiveRootID");
    roots["Roots"]
        .as_array()
        .expect("Roots")
        .iter()
        .find(|r| r["ID"] == id)
        .cloned()
        .expect("active root listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_provider_roots_and_leaf() {
    let h = sim(false).await;
    let c = client();
    let dir = tempfile::tempdir().expect("tempdir");

    let (st, body, headers) = call(
        &c,
        reqwest::Method::GET,
        format!("{}/v1/connect/ca/roots", h.url()),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let idx: u64 = headers["X-Consul-Index"]
        .to_str()
        .expect("index")
        .parse()
        .expect("index");
    let roots = json(&body);
    let td = roots["TrustDomain"]
        .as_str()
        .expect("TrustDomain")
        .to_string();
    assert!(td.ends_with(".consul") && td.len() == 36 + 7, "{td}");
    let r = active_root(&roots);
    assert_eq!(r["Name"], "Consul CA Primary Cert");
    assert_eq!(r["Active"], true);
    assert_eq!(r["PrivateKeyType"], "ec");
    assert_eq!(r["PrivateKeyBits"], 256);
    assert!(r["SerialNumber"].is_u64());
    assert_eq!(r["IntermediateCerts"], Value::Null);
    assert_eq!(r["ID"].as_str().expect("ID").split(':').count(), 20);
    assert_eq!(r["ModifyIndex"].as_u64(), Some(idx));
    let root_pem = r["RootCert"].as_str().expect("RootCert").to_string();
    let text = openssl_text(dir.path(), &root_pem);
    assert!(text.contains(&format!("URI:spiffe://{td}")), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");

    // The configuration a dev agent starts with.
    let cfg = get_json(&c, format!("{}/v1/connect/ca/configuration", h.url()), None).await;
    assert_eq!(cfg["Provider"], "consul");
    assert_eq!(cfg["Config"]["LeafCertTTL"], "72h");
    assert_eq!(cfg["Config"]["IntermediateCertTTL"], "8760h");
    assert_eq!(cfg["ForceWithoutCrossSigning"], false);
    assert!(
        cfg.get("ClusterID").is_none(),
        "ClusterID is json:\"-\": {cfg}"
    );

    // A leaf: SPIFFE URI, LeafCertTTL, verifies against the root, cached by the agent.
    let (st, body, headers) = call(
        &c,
        reqwest::Method::GET,
        format!("{}/v1/agent/connect/ca/leaf/web", h.url()),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(headers["X-Cache"], "MISS");
    let leaf = json(&body);
    let uri = format!("spiffe://{td}/ns/default/dc/dc1/svc/web");
    assert_eq!(leaf["Service"], "web");
    assert_eq!(leaf["ServiceURI"], uri);
    let key_pem = leaf["PrivateKeyPEM"].as_str().expect("key");
    assert!(
        key_pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"),
        "{key_pem}"
    );
    let cert = leaf["CertPEM"].as_str().expect("CertPEM");
    openssl_verify(dir.path(), &root_pem, cert).expect("leaf verifies against the root");
    assert_eq!(
        openssl_pubkey(dir.path(), "ec", key_pem),
        openssl_pubkey(dir.path(), "x509", cert),
        "the private key belongs to the certificate"
    );
    let text = openssl_text(dir.path(), cert);
    assert!(text.contains(&format!("URI:{uri}")), "{text}");
    assert!(text.contains("TLS Web Server Authentication, TLS Web Client Authentication"));
    let after = leaf["ValidAfter"].as_str().expect("ValidAfter");
    let before = leaf["ValidBefore"].as_str().expect("ValidBefore");
    assert!(
        after.ends_with('Z') && before.ends_with('Z'),
        "{after} {before}"
    );
    assert_ne!(leaf["SerialNumber"], "");
    let again = get_json(
        &c,
        format!("{}/v1/agent/connect/ca/leaf/web", h.url()),
        None,
    )
    .await;
    assert_eq!(
        again["CertPEM"], leaf["CertPEM"],
        "the agent serves its cached leaf"
    );

    // A blocking leaf query returns when the root rotates (new key type).
    let leaf_idx = leaf["ModifyIndex"].as_u64().expect("ModifyIndex");
    let url = format!(
        "{}/v1/agent/connect/ca/leaf/web?index={leaf_idx}&wait=20s",
        h.url()
    );
    let c2 = c.clone();
    let waiter = tokio::spawn(async move { get_json(&c2, url, None).await });
    let roots_url = format!("{}/v1/connect/ca/roots?index={idx}&wait=20s", h.url());
    let c3 = c.clone();
    let roots_waiter = tokio::spawn(async move {
        let (st, body, headers) = call(&c3, reqwest::Method::GET, roots_url, None, None).await;
        assert_eq!(st, 200, "{body}");
        let i: u64 = headers["X-Consul-Index"]
            .to_str()
            .expect("index")
            .parse()
            .expect("index");
        (i, json(&body))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the leaf query must block");
    assert!(!roots_waiter.is_finished(), "the roots query must block");
    let (st, body) = put_config(
        &c,
        &h,
        None,
        json!({"Provider": "consul", "Config": {"LeafCertTTL": "24h", "PrivateKeyType": "ec", "PrivateKeyBits": 384}}),
    )
    .await;
    assert_eq!((st, body.as_str()), (200, ""));
    let rotated = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("leaf query woke up")
        .expect("join");
    assert!(rotated["ModifyIndex"].as_u64().expect("idx") > leaf_idx);
    let (new_idx, woke) = tokio::time::timeout(Duration::from_secs(10), roots_waiter)
        .await
        .expect("roots query woke up")
        .expect("join");
    assert!(new_idx > idx, "{new_idx} > {idx}");
    assert_ne!(woke["ActiveRootID"], roots["ActiveRootID"]);

    let roots2 = get_json(&c, format!("{}/v1/connect/ca/roots", h.url()), None).await;
    let list = roots2["Roots"].as_array().expect("Roots");
    assert_eq!(list.len(), 2, "the old root stays, inactive: {roots2}");
    assert_eq!(list.iter().filter(|r| r["Active"] == true).count(), 1);
    let r2 = active_root(&roots2);
    assert_ne!(r2["ID"], r["ID"]);
    assert_eq!(r2["PrivateKeyBits"], 384);
    assert_eq!(roots2["TrustDomain"], roots["TrustDomain"]);
    let xc = r2["IntermediateCerts"]
        .as_array()
        .expect("cross-signed cert");
    assert_eq!(xc.len(), 1);
    // The cross-signed new root chains to the old root.
    openssl_verify(dir.path(), &root_pem, xc[0].as_str().expect("pem"))
        .expect("cross-signed root verifies against the old root");
    let root2_pem = r2["RootCert"].as_str().expect("RootCert");
    openssl_verify(
        dir.path(),
        root2_pem,
        rotated["CertPEM"].as_str().expect("pem"),
    )
    .expect("new leaf verifies against the new root");
    // 24h leaf TTL.
    let cfg = get_json(&c, format!("{}/v1/connect/ca/configuration", h.url()), None).await;
    assert_eq!(cfg["Config"]["LeafCertTTL"], "24h");
    assert!(cfg["ModifyIndex"].as_u64() > cfg["CreateIndex"].as_u64());

    // Only the TTL changes: same root, same roots list.
    let (st, _) = put_config(
        &c,
        &h,
        None,
        json!({"Provider": "consul", "Config": {"LeafCertTTL": "48h", "PrivateKeyType": "ec", "PrivateKeyBits": 384}}),
    )
    .await;
    assert_eq!(st, 200);
    let roots3 = get_json(&c, format!("{}/v1/connect/ca/roots", h.url()), None).await;
    assert_eq!(roots3["ActiveRootID"], roots2["ActiveRootID"]);
    assert_eq!(roots3["Roots"].as_array().map(Vec::len), Some(2));

    // ?pem=true: the chain as application/pem-certificate-chain.
    let (st, body, headers) = call(
        &c,
        reqwest::Method::GET,
        format!("{}/v1/connect/ca/roots?pem=true", h.url()),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(headers["content-type"], "application/pem-certificate-chain");
    assert_eq!(body.matches("BEGIN CERTIFICATE").count(), 3, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_validation_texts() {
    let h = sim(false).await;
    let c = client();
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"Provider": "consul", "Config": {"LeafCertTTL": "30m"}}),
            500,
            "error configuring provider: leaf cert TTL must be greater or equal than 1h0m0s",
        ),
        (
            json!({"Provider": "consul", "Config": {"LeafCertTTL": "9000h", "IntermediateCertTTL": "87600h"}}),
            500,
            "error configuring provider: leaf cert TTL must be less than 8760h0m0s",
        ),
        (
            json!({"Provider": "consul", "Config": {"LeafCertTTL": "72h", "IntermediateCertTTL": "100h"}}),
            500,
            "error configuring provider: Intermediate Cert TTL must be greater or equal than 3 * LeafCertTTL (>=216h0m0s).",
        ),
        (
            json!({"Provider": "consul", "Config": {"IntermediateCertTTL": "2h", "LeafCertTTL": "1h"}}),
            500,
            "error configuring provider: Intermediate Cert TTL must be greater or equal than 3h",
        ),
        (
            json!({"Provider": "consul", "Config": {"RootCertTTL": "100h"}}),
            500,
            "error configuring provider: root cert TTL is set and is not greater than intermediate cert ttl. root cert ttl: 100h0m0s, intermediate cert ttl: 8760h0m0s",
        ),
        (
            json!({"Provider": "consul", "Config": {"PrivateKeyType": "dsa"}}),
            500,
            "error configuring provider: private key type must be either 'ec' or 'rsa'",
        ),
        (
            json!({"Provider": "consul", "Config": {"PrivateKeyType": "rsa", "PrivateKeyBits": 256}}),
            500,
            "error configuring provider: RSA key length must be 2048 or 4096 bits",
        ),
        (
            json!({"Provider": "consul", "Config": {"PrivateKeyType": "ec", "PrivateKeyBits": 2048}}),
            500,
            "error configuring provider: EC key length must be one of (224, 256, 384, 521) bits",
        ),
        (
            json!({"Provider": "consul", "Config": {"LeafCertTTL": "soon"}}),
            500,
            "error configuring provider: error decoding config: 1 error(s) decoding:\n\n* error decoding 'LeafCertTTL': time: invalid duration \"soon\"",
        ),
        (
            json!({"Provider": "vault", "Config": {"Address": "http://127.0.0.1:1"}}),
            500,
            "error configuring provider: must provide a Vault token or configure a Vault auth method",
        ),
        (
            json!({"Provider": "vault", "Config": {"Address": "http://127.0.0.1:1", "Token": "t"}}),
            500,
            "error configuring provider: must provide a valid path to a root PKI backend",
        ),
        (
            json!({"Provider": "vault", "Config": {"Address": "http://127.0.0.1:1", "Token": "t", "RootPKIPath": "pki"}}),
            500,
            "error configuring provider: must provide a valid path for the intermediate PKI backend",
        ),
        (
            json!({"Provider": "vault", "Config": {"Token": "t", "AuthMethod": {"Type": "approle"}, "RootPKIPath": "p", "IntermediatePKIPath": "i"}}),
            500,
            "error configuring provider: only one of Vault token or Vault auth method can be provided, but not both",
        ),
        (
            json!({"Provider": "foo", "Config": {}}),
            500,
            "could not initialize provider: unknown CA provider \"foo\"",
        ),
        (
            json!({"Provider": "consul", "Config": {}, "State": {"x": "y"}}),
            400,
            "Provider State is read-only. It must be omitted or identical to the current value",
        ),
    ];
    for (body, status, want) in cases {
        let (st, got) = put_config(&c, &h, None, body.clone()).await;
        assert_eq!((st, got.as_str()), (status, want), "PUT {body}");
    }
    let (st, got) = put_config(&c, &h, None, json!(["x"])).await;
    assert_eq!(st, 400);
    assert!(got.starts_with("Request decode failed: "), "{got}");
    // An unreachable Vault fails at the token lookup, like the Go client.
    let (st, got) = put_config(
        &c,
        &h,
        None,
        json!({"Provider": "vault", "Config": {"Address": "http://127.0.0.1:1", "Token": "t", "RootPKIPath": "pki", "IntermediatePKIPath": "pki-int"}}),
    )
    .await;
    assert_eq!(st, 500);
    assert!(
        got.starts_with(
            "error configuring provider: Get \"http://127.0.0.1:1/v1/auth/token/lookup-self\": "
        ),
        "{got}"
    );
    // Nothing changed.
    let cfg = get_json(&c, format!("{}/v1/connect/ca/configuration", h.url()), None).await;
    assert_eq!(cfg["Provider"], "consul");
    assert_eq!(cfg["ModifyIndex"], cfg["CreateIndex"]);
    let roots = get_json(&c, format!("{}/v1/connect/ca/roots", h.url()), None).await;
    assert_eq!(roots["Roots"].as_array().map(Vec::len), Some(1));
    // Methods.
    let (st, _, headers) = call(
        &c,
        reqwest::Method::POST,
        format!("{}/v1/connect/ca/roots", h.url()),
        None,
        None,
    )
    .await;
    assert_eq!(st, 405);
    assert_eq!(headers["allow"], "OPTIONS,GET");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_enforcement() {
    let h = sim(true).await;
    let mgmt = h.acl_bootstrap().expect("bootstrap");
    let c = client();
    let base = h.url();
    // Roots need no token.
    let (st, body, _) = call(
        &c,
        reqwest::Method::GET,
        format!("{base}/v1/connect/ca/roots"),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    // Configuration needs operator:write, even to read.
    let (st, body, _) = call(
        &c,
        reqwest::Method::GET,
        format!("{base}/v1/connect/ca/configuration"),
        None,
        None,
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(body, "Permission denied: anonymous token lacks permission 'operator:write'. The anonymous token is used implicitly when a request does not specify a token.");
    // A token with operator:read and service web:write.
    let (st, body, _) = call(
        &c,
        reqwest::Method::PUT,
        format!("{base}/v1/acl/policy"),
        Some(&mgmt),
        Some(json!({"Name": "ro", "Rules": "operator = \"read\"\nservice \"web\" { policy = \"write\" }"}).to_string()),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body, _) = call(
        &c,
        reqwest::Method::PUT,
        format!("{base}/v1/acl/token"),
        Some(&mgmt),
        Some(json!({"Policies": [{"Name": "ro"}]}).to_string()),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let tok = json(&body);
    let secret = tok["SecretID"].as_str().expect("secret");
    let accessor = tok["AccessorID"].as_str().expect("accessor");
    let (st, body, _) = call(
        &c,
        reqwest::Method::GET,
        format!("{base}/v1/connect/ca/configuration"),
        Some(secret),
        None,
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(body, format!("Permission denied: token with AccessorID '{accessor}' lacks permission 'operator:write'"));
    let (st, _) = put_config(
        &c,
        &h,
        Some(secret),
        json!({"Provider": "consul", "Config": {"LeafCertTTL": "24h"}}),
    )
    .await;
    assert_eq!(st, 403);
    let (st, body) = put_config(
        &c,
        &h,
        Some(&mgmt),
        json!({"Provider": "consul", "Config": {"LeafCertTTL": "24h"}}),
    )
    .await;
    assert_eq!((st, body.as_str()), (200, ""));
    // Leaf: service:write on that service.
    let (st, body, _) = call(
        &c,
        reqwest::Method::GET,
        format!("{base}/v1/agent/connect/ca/leaf/web"),
        Some(secret),
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body, _) = call(
        &c,
        reqwest::Method::GET,
        format!("{base}/v1/agent/connect/ca/leaf/db"),
        Some(secret),
        None,
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(body, format!("Permission denied: token with AccessorID '{accessor}' lacks permission 'service:write' on \"db\""));
}

// ------------------------------------------------------------------ OpenBao

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_provider_against_openbao() {
    let bao = start_bao("root-ca-test").await;
    let h = sim(false).await;
    let c = client();
    let dir = tempfile::tempdir().expect("tempdir");
    let consul_roots = get_json(&c, format!("{}/v1/connect/ca/roots", h.url()), None).await;
    let consul_root = active_root(&consul_roots);
    let td = consul_roots["TrustDomain"]
        .as_str()
        .expect("td")
        .to_string();

    // Switch to Vault: Consul mounts both paths, generates the root, signs its intermediate.
    let vault_cfg = json!({
        "Address": bao.addr,
        "Token": bao.token,
        "RootPKIPath": "connect-root",
        "IntermediatePKIPath": "connect-int",
        "LeafCertTTL": "24h"
    });
    let (st, body) = put_config(
        &c,
        &h,
        None,
        json!({"Provider": "vault", "Config": vault_cfg}),
    )
    .await;
    assert_eq!((st, body.as_str()), (200, ""));
    let (st, vault_root_pem) = bao
        .req(
            reqwest::Method::GET,
            "connect-root/ca/pem",
            &bao.token,
            None,
        )
        .await;
    assert_eq!(st, 200);
    let roots = get_json(&c, format!("{}/v1/connect/ca/roots", h.url()), None).await;
    let r = active_root(&roots);
    assert_eq!(r["Name"], "Vault CA Primary Cert");
    assert_eq!(
        r["RootCert"].as_str().map(str::trim),
        Some(vault_root_pem.trim()),
        "the root Consul serves is Vault's"
    );
    assert_eq!(roots["TrustDomain"], td.as_str());
    assert_eq!(roots["Roots"].as_array().map(Vec::len), Some(2));
    let ints = r["IntermediateCerts"].as_array().expect("intermediates");
    // The old built-in root cross-signed the Vault root, then Vault's intermediate.
    assert_eq!(ints.len(), 2, "{r}");
    let (_, int_pem) = bao
        .req(reqwest::Method::GET, "connect-int/ca/pem", &bao.token, None)
        .await;
    assert_eq!(ints[1].as_str().map(str::trim), Some(int_pem.trim()));
    let text = openssl_text(dir.path(), &vault_root_pem);
    assert!(text.contains(&format!("URI:spiffe://{td}")), "{text}");
    // The leaf-cert role exists as Consul writes it.
    let (st, role) = bao
        .req(
            reqwest::Method::GET,
            "connect-int/roles/leaf-cert",
            &bao.token,
            None,
        )
        .await;
    assert_eq!(st, 200, "{role}");
    let role = json(&role);
    assert_eq!(role["data"]["allowed_uri_sans"], json!(["spiffe://*"]));
    assert_eq!(role["data"]["no_store"], true);
    // GET returns the stored config, Vault token included (the real server does not redact).
    let cfg = get_json(&c, format!("{}/v1/connect/ca/configuration", h.url()), None).await;
    assert_eq!(cfg["Provider"], "vault");
    assert_eq!(cfg["Config"]["Token"], bao.token.as_str());

    // A leaf signed through Vault verifies against Vault's root.
    let leaf = get_json(
        &c,
        format!("{}/v1/agent/connect/ca/leaf/api", h.url()),
        None,
    )
    .await;
    let cert = leaf["CertPEM"].as_str().expect("CertPEM");
    assert_eq!(
        cert.matches("BEGIN CERTIFICATE").count(),
        3,
        "leaf + cross-signed + intermediate"
    );
    assert_eq!(
        openssl_pubkey(
            dir.path(),
            "ec",
            leaf["PrivateKeyPEM"].as_str().expect("key")
        ),
        openssl_pubkey(dir.path(), "x509", cert),
    );
    openssl_verify(dir.path(), &vault_root_pem, cert)
        .expect("Vault leaf verifies against the Vault root");
    let text = openssl_text(dir.path(), cert);
    assert!(
        text.contains(&format!("URI:spiffe://{td}/ns/default/dc/dc1/svc/api")),
        "{text}"
    );

    // A token whose policy misses the intermediate path: the PUT fails, nothing changes.
    let policy = "path \"connect-root/*\" { capabilities = [\"create\",\"read\",\"update\",\"delete\",\"list\"] }\npath \"sys/mounts/*\" { capabilities = [\"create\",\"read\",\"update\",\"delete\",\"list\"] }\npath \"auth/token/lookup-self\" { capabilities = [\"read\"] }\n";
    let (st, b) = bao
        .req(
            reqwest::Method::PUT,
            "sys/policies/acl/consul-ca",
            &bao.token,
            Some(json!({"policy": policy})),
        )
        .await;
    assert!(st == 204 || st == 200, "{b}");
    let (st, b) = bao
        .req(
            reqwest::Method::POST,
            "auth/token/create",
            &bao.token,
            Some(json!({"policies": ["consul-ca"], "no_default_policy": true})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let weak = json(&b)["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    let mut weak_cfg = vault_cfg.clone();
    weak_cfg["Token"] = json!(weak);
    weak_cfg["IntermediatePKIPath"] = json!("connect-int2");
    let (st, body) = put_config(
        &c,
        &h,
        None,
        json!({"Provider": "vault", "Config": weak_cfg}),
    )
    .await;
    assert_eq!(st, 500, "{body}");
    let want = format!(
        "error configuring provider: unexpected error while fetching intermediate CA: Error making API request.\n\nURL: GET {}/v1/connect-int2/ca/pem\nCode: 403. Errors:\n\n* ",
        bao.addr
    );
    assert!(body.starts_with(&want), "{body}");
    assert!(body.contains("permission denied"), "{body}");
    let after = get_json(&c, format!("{}/v1/connect/ca/roots", h.url()), None).await;
    assert_eq!(after["ActiveRootID"], roots["ActiveRootID"]);
    let cfg = get_json(&c, format!("{}/v1/connect/ca/configuration", h.url()), None).await;
    assert_eq!(cfg["Config"]["IntermediatePKIPath"], "connect-int");
    // Changing the key type under the same root path is refused.
    let mut rsa = vault_cfg.clone();
    rsa["PrivateKeyType"] = json!("rsa");
    rsa["PrivateKeyBits"] = json!(2048);
    let (st, _) = put_config(
        &c,
        &h,
        None,
        json!({"Provider": "vault", "Config": rsa.clone()}),
    )
    .await;
    assert_eq!(st, 200, "from the default ec the change is allowed");
    let mut back = vault_cfg.clone();
    back["PrivateKeyType"] = json!("ec");
    back["PrivateKeyBits"] = json!(256);
    let (st, body) = put_config(&c, &h, None, json!({"Provider": "vault", "Config": back})).await;
    assert_eq!(
        (st, body.as_str()),
        (500, "new configuration is incompatible with previous configuration: cannot update the PrivateKeyType field without changing RootPKIPath")
    );

    // Back to the built-in provider: a new root, cross-signed by Vault; the intermediate mount goes.
    let (st, body) = put_config(
        &c,
        &h,
        None,
        json!({"Provider": "consul", "Config": {"LeafCertTTL": "72h"}}),
    )
    .await;
    assert_eq!((st, body.as_str()), (200, ""));
    let roots = get_json(&c, format!("{}/v1/connect/ca/roots", h.url()), None).await;
    let r = active_root(&roots);
    assert_eq!(r["Name"], "Consul CA Primary Cert");
    assert_ne!(r["ID"], consul_root["ID"]);
    assert_eq!(roots["Roots"].as_array().map(Vec::len), Some(3));
    let (st, _) = bao
        .req(reqwest::Method::GET, "connect-int/ca/pem", &bao.token, None)
        .await;
    assert_eq!(
        st, 404,
        "the intermediate mount is removed when Vault is replaced"
    );
    let (st, _) = bao
        .req(
            reqwest::Method::GET,
            "connect-root/ca/pem",
            &bao.token,
            None,
        )
        .await;
    assert_eq!(st, 200, "the root mount is never removed");
    let leaf = get_json(
        &c,
        format!("{}/v1/agent/connect/ca/leaf/api", h.url()),
        None,
    )
    .await;
    openssl_verify(
        dir.path(),
        r["RootCert"].as_str().expect("pem"),
        leaf["CertPEM"].as_str().expect("pem"),
    )
    .expect("built-in leaf verifies");
    bao.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_connect_ca() {
    let h = sim(false).await;
    run_python(
        "py-consul",
        "consul_connect_ca.py",
        h.addr().to_string(),
        30,
        &["CONSUL_HTTP_TOKEN"],
        "Connect CA conformance",
    )
    .await;
}

/// Runs openssl with arguments, panicking with its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_provider_with_configured_key_and_root() {
    let h = sim(false).await;
    let c = client();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A SEC 1 EC key and a CA certificate made outside Consul.
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/C=US/O=Example Org/CN=Example Root",
            "-days",
            "30",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        ],
    );
    let key = std::fs::read_to_string(d.join("ca.key")).expect("key");
    let ca = std::fs::read_to_string(d.join("ca.pem")).expect("ca");
    assert!(key.contains("BEGIN EC PRIVATE KEY"));

    // PrivateKey alone: Consul makes its root with that key.
    let (st, body) = put_config(
        &c,
        &h,
        None,
        json!({"Provider": "consul", "Config": {"PrivateKey": key}}),
    )
    .await;
    assert_eq!((st, body.as_str()), (200, ""));
    let roots = get_json(&c, format!("{}/v1/connect/ca/roots", h.url()), None).await;
    let r = active_root(&roots);
    assert_eq!(
        openssl_pubkey(d, "x509", r["RootCert"].as_str().expect("pem")),
        openssl_pubkey(d, "ec", &key),
        "the root carries the configured key"
    );
    let text = openssl_text(d, r["RootCert"].as_str().expect("pem"));
    assert!(
        text.contains("CN = pri-") || text.contains("CN=pri-"),
        "{text}"
    );

    // PrivateKey and RootCert: that certificate is the root, leaves chain to it.
    let (st, body) = put_config(
        &c,
        &h,
        None,
        json!({"Provider": "consul", "Config": {"PrivateKey": key, "RootCert": ca}}),
    )
    .await;
    assert_eq!((st, body.as_str()), (200, ""));
    let roots = get_json(&c, format!("{}/v1/connect/ca/roots", h.url()), None).await;
    let r = active_root(&roots);
    assert_eq!(r["RootCert"].as_str().map(str::trim), Some(ca.trim()));
    let fp = openssl(
        d,
        &["x509", "-noout", "-fingerprint", "-sha1", "-in", "ca.pem"],
    );
    let fp = fp
        .trim()
        .rsplit('=')
        .next()
        .expect("fingerprint")
        .to_ascii_lowercase();
    assert_eq!(r["ID"], fp.as_str(), "the root ID is the SHA-1 fingerprint");
    let leaf = get_json(
        &c,
        format!("{}/v1/agent/connect/ca/leaf/web", h.url()),
        None,
    )
    .await;
    let cert = leaf["CertPEM"].as_str().expect("pem");
    openssl_verify(d, &ca, cert).expect("leaf verifies against the configured root");
    let text = openssl_text(d, cert);
    assert!(
        text.contains("Issuer: C = US, O = Example Org, CN = Example Root"),
        "{text}"
    );
    // Go matches issuer to subject byte for byte: the string types must be kept.
    std::fs::write(d.join("leaf-only.pem"), cert).expect("write");
    let issuer = openssl(
        d,
        &[
            "x509",
            "-noout",
            "-issuer",
            "-nameopt",
            "RFC2253,show_type",
            "-in",
            "leaf-only.pem",
        ],
    );
    let subject = openssl(
        d,
        &[
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253,show_type",
            "-in",
            "ca.pem",
        ],
    );
    assert_eq!(
        issuer.trim_start_matches("issuer="),
        subject.trim_start_matches("subject=")
    );
    assert!(
        subject.contains("PRINTABLESTRING") && subject.contains("UTF8STRING"),
        "{subject}"
    );

    // A key that does not parse.
    let (st, body) = put_config(
        &c,
        &h,
        None,
        json!({"Provider": "consul", "Config": {"PrivateKey": "not a key"}}),
    )
    .await;
    assert_eq!(st, 500);
    assert!(
        body.starts_with("error generating CA root certificate: error generating CA: error parsing private key \"not a key\": "),
        "{body}"
    );
}
