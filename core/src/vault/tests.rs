//! Unit tests for the Vault client against a tiny in-process HTTP server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const TOKEN: &str = "s.SECRET123";

/// One request as the test server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A one-request-per-connection HTTP/1.1 server answering from a script;
/// the last scripted answer repeats.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestServer {
    pub(crate) async fn start(script: Vec<(u16, &'static str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let seen2 = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, hits, script) = (seen2.clone(), hits.clone(), script.clone());
                tokio::spawn(async move {
                    if let Some(request) = read_request(stream).await {
                        let (request, mut stream) = request;
                        seen.lock().unwrap().push(request);
                        let n = hits.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = script[n.min(script.len() - 1)];
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(body.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                });
            }
        });
        Self { addr, seen }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn read_request(mut stream: TcpStream) -> Option<(Seen, TcpStream)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((
        Seen {
            method,
            target,
            headers,
            body,
        },
        stream,
    ))
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        total_budget: Duration::from_secs(10),
    }
}

fn client(address: &str, retry: RetryPolicy) -> VaultClient {
    let mut config = VaultConfig::new(address).with_token(TOKEN);
    config.namespace = Some("team-a".into());
    config.timeout = Duration::from_secs(5);
    config.retry = retry;
    VaultClient::new(config).unwrap()
}

fn assert_no_token(text: &str) {
    assert!(!text.contains(TOKEN), "token leaked: {text}");
    assert!(!text.contains("SECRET123"), "token leaked: {text}");
}

#[tokio::test]
async fn write_sends_headers_encoded_path_and_json() {
    let server = TestServer::start(vec![(204, "")]).await;
    let vault = client(&server.url(), fast_retry(1));
    vault
        .write_acl_policy("my policy?x", r#"path "a/*" { capabilities = ["read"] }"#)
        .await
        .unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, "PUT");
    assert_eq!(req.target, "/v1/sys/policies/acl/my%20policy%3Fx");
    assert_eq!(req.header("x-vault-token"), Some(TOKEN));
    assert_eq!(req.header("x-vault-namespace"), Some("team-a"));
    assert_eq!(req.header("x-vault-request"), Some("true"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        json!({"policy": r#"path "a/*" { capabilities = ["read"] }"#})
    );
}

#[tokio::test]
async fn list_uses_get_with_list_query() {
    let server = TestServer::start(vec![(
        200,
        r#"{"request_id":"x","data":{"keys":["default","root","web"]},"warnings":null}"#,
    )])
    .await;
    let vault = client(&server.url(), fast_retry(1));
    let keys = vault.list_acl_policies().await.unwrap();
    assert_eq!(keys, ["default", "root", "web"]);
    let req = &server.seen()[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.target, "/v1/sys/policies/acl?list=true");
    assert!(req.body.is_empty());
}

#[tokio::test]
async fn list_404_is_empty() {
    let server = TestServer::start(vec![(404, r#"{"errors":[]}"#)]).await;
    let vault = client(&server.url(), fast_retry(1));
    assert!(vault.list("secret/metadata/none").await.unwrap().is_empty());
}

#[tokio::test]
async fn read_strips_envelope_and_maps_404_to_none() {
    let server = TestServer::start(vec![
        (
            200,
            r#"{"data":{"name":"web","policy":"path \"x\" {}","version":2,"cas_required":false},"warnings":["w1"]}"#,
        ),
        (404, r#"{"errors":[]}"#),
    ])
    .await;
    let vault = client(&server.url(), fast_retry(1));
    let policy = vault.read_acl_policy("web").await.unwrap().unwrap();
    assert_eq!(policy.name, "web");
    assert_eq!(policy.policy, "path \"x\" {}");
    assert_eq!(policy.version, Some(2));
    assert_eq!(vault.read_acl_policy("gone").await.unwrap(), None);
}

#[tokio::test]
async fn namespace_not_found_is_an_error_not_none() {
    let server = TestServer::start(vec![(404, r#"{"errors":["namespace not found"]}"#)]).await;
    let vault = client(&server.url(), fast_retry(1));
    let err = vault.read_acl_policy("web").await.unwrap_err();
    assert!(err.is_not_found());
    assert!(err.to_string().contains("namespace not found"), "{err}");
}

#[tokio::test]
async fn delete_accepts_204_and_404() {
    let server = TestServer::start(vec![(204, ""), (404, r#"{"errors":[]}"#)]).await;
    let vault = client(&server.url(), fast_retry(1));
    vault.delete_acl_policy("a").await.unwrap();
    vault.delete_acl_policy("b").await.unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].method, "DELETE");
    assert_eq!(seen[0].target, "/v1/sys/policies/acl/a");
}

#[tokio::test]
async fn mount_paths_keep_slashes() {
    let server = TestServer::start(vec![(204, "")]).await;
    let vault = client(&server.url(), fast_retry(1));
    vault
        .enable_mount("/team a/pki/", &MountRequest::new("pki"))
        .await
        .unwrap();
    vault
        .tune_mount("team a/pki", &MountTuneRequest::default())
        .await
        .unwrap();
    vault.disable_mount("team a/pki").await.unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, "/v1/sys/mounts/team%20a/pki");
    assert_eq!(
        serde_json::from_slice::<Value>(&seen[0].body).unwrap(),
        json!({"type": "pki"})
    );
    assert_eq!(seen[1].target, "/v1/sys/mounts/team%20a/pki/tune");
    assert_eq!(seen[2].method, "DELETE");
}

#[tokio::test]
async fn dot_segments_are_rejected_before_sending() {
    let server = TestServer::start(vec![(204, "")]).await;
    let vault = client(&server.url(), fast_retry(1));
    let err = vault.read_acl_policy("../../sys/seal").await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn api_error_names_method_path_address_and_hides_token() {
    let server = TestServer::start(vec![(403, r#"{"errors":["permission denied"]}"#)]).await;
    let vault = client(&server.url(), fast_retry(1));
    let err = vault
        .write_acl_policy("web", "secret body")
        .await
        .unwrap_err();
    assert!(err.is_forbidden());
    assert_eq!(err.status(), Some(403));
    let text = err.to_string();
    assert_eq!(
        text,
        format!(
            "vault returned 403 for PUT sys/policies/acl/web at {}: permission denied",
            server.url()
        )
    );
    assert!(!text.contains("secret body"));
    assert_no_token(&text);
    assert_no_token(&format!("{err:?}"));
    assert_no_token(&err.report());
    assert_no_token(&format!("{vault:?}"));
}

#[tokio::test]
async fn transport_error_hides_token() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let vault = client(&format!("http://{closed}"), fast_retry(2));
    let err = vault.read_acl_policy("web").await.unwrap_err();
    match &err {
        Error::Unavailable {
            attempts,
            address,
            last_status,
            ..
        } => {
            assert_eq!(*attempts, 2);
            assert_eq!(address, &format!("http://{closed}"));
            assert_eq!(*last_status, None);
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(err.to_string().contains(&closed.to_string()), "{err}");
    assert!(err.to_string().contains("could not connect"), "{err}");
    assert_no_token(&err.to_string());
    assert_no_token(&format!("{err:?}"));
    assert_no_token(&err.report());
}

#[test]
fn config_and_client_debug_hide_token_and_key() {
    let mut config = VaultConfig::new("https://vault.example:8200").with_token(TOKEN);
    config.tls.client_key_pem = Some(Secret::new("KEYSECRET123"));
    let text = format!("{config:?}");
    assert_no_token(&text);
    assert!(text.contains("***"));
    config.tls.client_key_pem = None;
    let vault = VaultClient::new(config).unwrap();
    assert_no_token(&format!("{vault:?}"));
    assert!(format!("{vault:?}").contains("vault.example"));
}

#[test]
fn bad_token_header_error_hides_token() {
    let config = VaultConfig::new("http://127.0.0.1:1").with_token("s.SECRET123\nx");
    let err = VaultClient::new(config).unwrap_err();
    assert_no_token(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn retries_transient_statuses_then_succeeds() {
    let server = TestServer::start(vec![
        (500, r#"{"errors":["internal error"]}"#),
        (429, ""),
        (503, r#"{"errors":["Vault is sealed"]}"#),
        (200, r#"{"data":{"keys":["a"]}}"#),
    ])
    .await;
    let vault = client(&server.url(), fast_retry(6));
    assert_eq!(vault.list("sys/policies/acl").await.unwrap(), ["a"]);
    assert_eq!(server.seen().len(), 4);
}

#[tokio::test]
async fn gives_up_with_unavailable_naming_the_address() {
    let server = TestServer::start(vec![(503, r#"{"errors":["Vault is sealed"]}"#)]).await;
    let vault = client(&server.url(), fast_retry(3));
    let err = vault.read_acl_policy("web").await.unwrap_err();
    assert_eq!(server.seen().len(), 3);
    match &err {
        Error::Unavailable {
            attempts,
            address,
            last_status,
            last,
            ..
        } => {
            assert_eq!(*attempts, 3);
            assert_eq!(address, &server.url());
            assert_eq!(*last_status, Some(503));
            assert!(last.contains("Vault is sealed"), "{last}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(err.status(), Some(503));
    assert!(err.to_string().contains(&server.url()), "{err}");
    assert!(err.to_string().contains("3 attempt(s)"), "{err}");
}

#[tokio::test]
async fn retry_budget_stops_early() {
    let server = TestServer::start(vec![(502, "")]).await;
    let retry = RetryPolicy {
        max_attempts: 100,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(50),
        total_budget: Duration::from_millis(1),
    };
    let vault = client(&server.url(), retry);
    let err = vault.read_acl_policy("web").await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(server.seen().len() < 100);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = TestServer::start(vec![(400, r#"{"errors":["bad policy"]}"#)]).await;
    let vault = client(&server.url(), fast_retry(6));
    let err = vault.write_acl_policy("web", "x").await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.errors(), ["bad policy"]);
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn health_accepts_sealed_body_without_retrying() {
    let server = TestServer::start(vec![(
        503,
        r#"{"initialized":true,"sealed":true,"standby":true,"replication_performance_mode":"unknown","replication_dr_mode":"unknown","server_time_utc":1795816512,"version":"2.7.2"}"#,
    )])
    .await;
    let vault = client(&server.url(), fast_retry(6));
    let health = vault.health().await.unwrap();
    assert!(health.sealed);
    assert!(!health.is_active());
    assert_eq!(health.cluster_name, None);
    assert_eq!(server.seen().len(), 1);
    assert_eq!(server.seen()[0].target, "/v1/sys/health");
}

#[tokio::test]
async fn token_lookup_never_keeps_the_id() {
    let server = TestServer::start(vec![(
        200,
        r#"{"data":{"accessor":"acc","id":"s.SECRET123","policies":["root"],"ttl":0,"type":"service","meta":null,"expire_time":null}}"#,
    )])
    .await;
    let vault = client(&server.url(), fast_retry(1));
    let info = vault.token_lookup_self().await.unwrap();
    assert_eq!(info.policies, ["root"]);
    assert_eq!(info.token_type, "service");
    assert_no_token(&format!("{info:?}"));
    assert_no_token(&serde_json::to_string(&info).unwrap());
}

#[tokio::test]
async fn decode_errors_do_not_quote_the_body() {
    let server = TestServer::start(vec![(200, r#"{"data":{"ttl":"s.SECRET123"}}"#)]).await;
    let vault = client(&server.url(), fast_retry(1));
    let err = vault.token_lookup_self().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    assert_no_token(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn empty_namespace_sends_no_header() {
    let server = TestServer::start(vec![(204, "")]).await;
    let vault = client(&server.url(), fast_retry(1))
        .with_namespace(Some(""))
        .unwrap();
    assert_eq!(vault.namespace(), None);
    vault.delete_acl_policy("a").await.unwrap();
    assert_eq!(server.seen()[0].header("x-vault-namespace"), None);
}

#[test]
fn from_lookup_reads_vault_variables() {
    let env = |name: &str| {
        match name {
            "VAULT_ADDR" => Some("https://vault.example:8200"),
            "VAULT_TOKEN" => Some(" s.SECRET123\n"),
            "VAULT_NAMESPACE" => Some("team-a"),
            "VAULT_CACERT" => Some("/etc/vault/ca.pem"),
            "VAULT_CLIENT_CERT" => Some("/etc/vault/client.pem"),
            "VAULT_CLIENT_KEY" => Some("/etc/vault/client-key.pem"),
            "VAULT_SKIP_VERIFY" => Some("true"),
            _ => None,
        }
        .map(str::to_owned)
    };
    let config = VaultConfig::from_lookup(env).unwrap();
    assert_eq!(config.address, "https://vault.example:8200");
    assert_eq!(config.token.as_ref().map(Secret::expose), Some(TOKEN));
    assert_eq!(config.namespace.as_deref(), Some("team-a"));
    assert_eq!(
        config.tls.ca_cert_file.as_deref(),
        Some(std::path::Path::new("/etc/vault/ca.pem"))
    );
    assert!(config.tls.client_cert_file.is_some() && config.tls.client_key_file.is_some());
    assert!(config.tls.skip_verify);

    let config = VaultConfig::from_lookup(|_| None).unwrap();
    assert_eq!(config.address, DEFAULT_ADDRESS);
    assert_eq!(config.token, None);
    assert!(!config.tls.skip_verify);

    let err = VaultConfig::from_lookup(|n| (n == "VAULT_SKIP_VERIFY").then(|| "yes".to_owned()))
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
}
