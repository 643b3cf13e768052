//! Helpers shared by the integration tests: simulator starters, the HTTP client and request
//! helpers with Consul/Nomad/Vault tokens, the runner of the tests/py/*.py client scripts and
//! a dev-mode OpenBao.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stack_devstack::consul::{ConsulSim, ConsulSimHandle, SimOptions};
use stack_devstack::nomad::{NomadSim, NomadSimHandle, NomadSimOptions};
use stack_devstack::stack::{find_bao, free_port_run};

/// The environment python-nomad would read instead of the address given to the script.
pub const NOMAD_ENV: &[&str] = &[
    "NOMAD_ADDR",
    "NOMAD_TOKEN",
    "NOMAD_NAMESPACE",
    "NOMAD_REGION",
];

pub async fn consul_sim(acl: bool) -> ConsulSimHandle {
    ConsulSim::start(SimOptions {
        acl_enabled: acl,
        ..SimOptions::default()
    })
    .await
    .expect("start the Consul simulator")
}

pub async fn nomad_sim(acl: bool) -> NomadSimHandle {
    NomadSim::start(NomadSimOptions {
        acl_enabled: acl,
        ..NomadSimOptions::default()
    })
    .await
    .expect("start the Nomad simulator")
}

/// A client that bypasses proxies; the timeout only bounds a hung request, so it is the
/// largest any test needs (Connect CA requests against OpenBao).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

pub fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_string())
}

pub fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// A Consul request with an optional `X-Consul-Token` and raw body; returns status, body
/// and the response headers.
pub async fn consul_call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<String>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut rb = c.request(method, url);
    if let Some(t) = token {
        rb = rb.header("X-Consul-Token", t);
    }
    if let Some(b) = body {
        rb = rb.body(b);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.expect("body"), headers)
}

/// Sends `method url` with an optional `X-Nomad-Token` and JSON body; returns
/// (status, X-Nomad-Index, body).
pub async fn nomad_call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, String) {
    let mut rb = c.request(method, url);
    if let Some(t) = token {
        rb = rb.header("X-Nomad-Token", t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    nomad_send(rb).await
}

/// Sends a prepared request; returns (status, X-Nomad-Index, body).
pub async fn nomad_send(rb: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
    let r = rb.send().await.expect("request");
    let s = r.status().as_u16();
    let idx = header(&r, "X-Nomad-Index");
    (s, idx, r.text().await.expect("body"))
}

/// A service job with one docker task (the `api.Job` JSON, not wrapped in `{"Job": ...}`).
pub fn docker_job(id: &str, image: &str) -> Value {
    json!({
        "ID": id,
        "Name": id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "g",
            "Count": 1,
            "Tasks": [{"Name": "t", "Driver": "docker", "Config": {"image": image}}]
        }]
    })
}

/// Runs tests/py/`script` with the venv's Python against `addr` and asserts it succeeds.
/// `lib` is the client library the script uses, `what` names the check in the failure
/// message, and `env_remove` keeps the developer's environment from redirecting the client.
pub async fn run_python(
    lib: &str,
    script: &str,
    addr: String,
    timeout_secs: u64,
    env_remove: &[&str],
    what: &str,
) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("../.tools/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup-tools.sh (it installs {lib} into .tools/venv)",
        python.display()
    );
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(root.join("tests/py").join(script))
        .arg(addr)
        .env("NO_PROXY", "127.0.0.1");
    for name in env_remove {
        cmd.env_remove(name);
    }
    let out = tokio::time::timeout(Duration::from_secs(timeout_secs), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{lib} script timed out"))
        .expect("run python");
    assert!(
        out.status.success(),
        "{lib} {what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A dev-mode OpenBao (`bao server -dev`); killed when dropped.
pub struct Bao {
    pub child: tokio::process::Child,
    pub addr: String,
    pub token: String,
    _dir: tempfile::TempDir,
}

/// Starts OpenBao in dev mode with `token` as its root token and waits until it is healthy.
pub async fn start_bao(token: &str) -> Bao {
    let bin = find_bao().expect("OpenBao binary (.tools/bin/bao)");
    let dir = tempfile::tempdir().expect("tempdir");
    // Dev mode also opens the cluster listener on port + 1.
    let port = free_port_run(1).expect("free port");
    let log = std::fs::File::create(dir.path().join("bao.log")).expect("log");
    let child = tokio::process::Command::new(bin)
        .arg("server")
        .arg("-dev")
        .arg(format!("-dev-root-token-id={token}"))
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .env("HOME", dir.path())
        .env_remove("VAULT_TOKEN")
        .env_remove("BAO_TOKEN")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start bao");
    let addr = format!("http://127.0.0.1:{port}");
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = c.get(format!("{addr}/v1/sys/health")).send().await {
            if r.status().as_u16() == 200 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "bao did not become healthy: {}",
            std::fs::read_to_string(dir.path().join("bao.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Bao {
        child,
        addr,
        token: token.to_string(),
        _dir: dir,
    }
}

impl Bao {
    /// A Vault API request with `token`; returns status and body.
    pub async fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut rb = client()
            .request(method, format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("vault request");
        let st = r.status().as_u16();
        (st, r.text().await.expect("body"))
    }

    /// A request with the root token that must succeed; returns the JSON body (`null` when
    /// there is none).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, text) = self.req(method.clone(), path, &self.token, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
