//! An OpenBao server for the tests: `bao server -dev` on a free loopback port.
//!
//! Dev mode: in-memory storage, already initialised and unsealed, root token
//! chosen by us. The cluster listener takes `port + 1`, so both are checked free.
//! [`Bao::stop`] / [`Bao::start`] restart on the same port and token, but dev
//! storage is in memory, so a restart starts from an empty server. (A later
//! `BaoMode` with file storage + init/unseal can keep data across restarts;
//! `BaoOptions` and `start` are shaped for that.)

use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::{http_request, random_hex, tools, HttpResponse};

/// Server config that [`Bao::shared`] passes with `-config`: allows enabling
/// audit devices through the API (blocked by default since OpenBao 2.3.2).
pub const ALLOW_API_AUDIT_CONFIG: &str = "unsafe_allow_api_audit_creation = true\n";

const LOG_TAIL_BYTES: usize = 512 * 1024;
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a [`Bao`].
#[derive(Debug, Clone)]
pub struct BaoOptions {
    /// Extra server config (HCL), written to a temp file and passed as
    /// `-config=<file>` next to `-dev`, e.g. [`ALLOW_API_AUDIT_CONFIG`].
    pub extra_config: Option<String>,
    /// Dev root token; random (`root-<hex>`) when `None`.
    pub root_token: Option<String>,
    /// How long to wait for `GET /v1/sys/health` to answer 200.
    pub startup_timeout: Duration,
}

impl Default for BaoOptions {
    fn default() -> Self {
        Self {
            extra_config: None,
            root_token: None,
            startup_timeout: Duration::from_secs(30),
        }
    }
}

/// A running (or stopped) OpenBao server owned by the test process.
pub struct Bao {
    /// `http://127.0.0.1:<port>`.
    pub addr: String,
    /// Root token.
    pub token: String,
    pub port: u16,
    opts: BaoOptions,
    child: Mutex<Option<Child>>,
    log: Arc<Mutex<String>>,
}

impl std::fmt::Debug for Bao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bao")
            .field("addr", &self.addr)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A loopback port `p` such that `p` and `p + 1` were both free a moment ago.
fn free_port_pair() -> io::Result<u16> {
    for _ in 0..50 {
        let first = TcpListener::bind(("127.0.0.1", 0))?;
        let port = first.local_addr()?.port();
        if port == u16::MAX {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no free loopback port pair found"))
}

impl Bao {
    /// One dev server per test binary, started on first use, with
    /// [`ALLOW_API_AUDIT_CONFIG`]. It is killed when the test process exits
    /// (the child carries `PR_SET_PDEATHSIG=SIGKILL`). Do not `stop` it.
    pub fn shared() -> &'static Bao {
        static SHARED: OnceLock<Bao> = OnceLock::new();
        SHARED.get_or_init(|| {
            Bao::start_with(BaoOptions {
                extra_config: Some(ALLOW_API_AUDIT_CONFIG.to_string()),
                ..BaoOptions::default()
            })
        })
    }

    /// A new dev server with default options (killed on drop).
    pub fn start_dev() -> Bao {
        Bao::start_with(BaoOptions::default())
    }

    /// A new dev server (killed on drop). Panics with the server log if it does
    /// not become healthy; retries on another port if the port was taken.
    pub fn start_with(opts: BaoOptions) -> Bao {
        let token = opts
            .root_token
            .clone()
            .unwrap_or_else(|| format!("root-{}", random_hex(24)));
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let port = match free_port_pair() {
                Ok(p) => p,
                Err(e) => panic!("cannot find a free port for bao: {e}"),
            };
            let bao = Bao {
                addr: format!("http://127.0.0.1:{port}"),
                token: token.clone(),
                port,
                opts: opts.clone(),
                child: Mutex::new(None),
                log: Arc::new(Mutex::new(String::new())),
            };
            match bao.try_start() {
                Ok(()) => return bao,
                Err(e) => {
                    let log = bao.log_tail();
                    if log.contains("address already in use") {
                        last_err = format!("{e}\n{log}");
                        continue;
                    }
                    panic!("bao server did not start: {e}\n--- bao log ---\n{log}");
                }
            }
        }
        panic!("bao server did not start after 5 port attempts: {last_err}");
    }

    /// (Re)starts the server on the same port and token if it is not running.
    /// In dev mode the storage is new and empty. Panics if it does not start.
    pub fn start(&self) {
        if self.is_running() {
            return;
        }
        if let Err(e) = self.try_start() {
            panic!(
                "bao server did not restart on port {}: {e}\n--- bao log ---\n{}",
                self.port,
                self.log_tail()
            );
        }
    }

    /// Kills the server (SIGKILL) and waits for it. No-op if not running.
    pub fn stop(&self) {
        if let Some(mut child) = lock(&self.child).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the server process is alive.
    pub fn is_running(&self) -> bool {
        match lock(&self.child).as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The server's pid, if running.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.child).as_ref().map(Child::id)
    }

    /// The last ~512 KiB of the server's stdout+stderr.
    pub fn log_tail(&self) -> String {
        lock(&self.log).clone()
    }

    /// `VAULT_ADDR` / `VAULT_TOKEN` (and the `BAO_*` twins) for a provider or CLI.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("VAULT_ADDR".into(), self.addr.clone()),
            ("VAULT_TOKEN".into(), self.token.clone()),
            ("BAO_ADDR".into(), self.addr.clone()),
            ("BAO_TOKEN".into(), self.token.clone()),
        ]
    }

    /// `GET /v1/sys/health` as JSON (any status; 200 = active and unsealed).
    pub fn health(&self) -> io::Result<serde_json::Value> {
        http_request(&self.addr, "GET", "/v1/sys/health", &[], None, HTTP_TIMEOUT)?.json()
    }

    /// An API request with the root token, e.g.
    /// `bao.request("POST", "/v1/sys/mounts/kv", Some(&json!({"type": "kv"})))`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> io::Result<HttpResponse> {
        let body = body.map(serde_json::Value::to_string);
        http_request(
            &self.addr,
            method,
            path,
            &[("X-Vault-Token", &self.token)],
            body.as_deref(),
            HTTP_TIMEOUT,
        )
    }

    fn command(&self, config_path: Option<&std::path::Path>) -> Command {
        let mut cmd = tools::command_with_pdeathsig(tools::bao(), "KILL");
        cmd.arg("server")
            .arg("-dev")
            .arg("-dev-no-store-token")
            .arg(format!("-dev-listen-address=127.0.0.1:{}", self.port))
            .arg(format!("-dev-root-token-id={}", self.token));
        if let Some(p) = config_path {
            cmd.arg(format!("-config={}", p.display()));
        }
        // Keep the developer's VAULT_*/BAO_* settings away from the server.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("VAULT_") || k.starts_with("BAO_") {
                cmd.env_remove(&*k);
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn try_start(&self) -> io::Result<()> {
        // The config file is only read at startup: remove it once healthy.
        let config_dir = match &self.opts.extra_config {
            Some(hcl) => {
                let dir = tempfile::Builder::new().prefix("bao-config-").tempdir()?;
                let path = dir.path().join("extra.hcl");
                std::fs::write(&path, hcl)?;
                Some((dir, path))
            }
            None => None,
        };
        let cmd = self.command(config_dir.as_ref().map(|(_, p)| p.as_path()));
        let mut child = tools::spawn_bound_to_process(cmd)?;
        if let Some(out) = child.stdout.take() {
            pump(out, Arc::clone(&self.log));
        }
        if let Some(err) = child.stderr.take() {
            pump(err, Arc::clone(&self.log));
        }
        *lock(&self.child) = Some(child);
        let res = self.wait_healthy();
        drop(config_dir);
        if res.is_err() {
            self.stop();
        }
        res
    }

    fn wait_healthy(&self) -> io::Result<()> {
        let deadline = Instant::now() + self.opts.startup_timeout;
        loop {
            if let Some(child) = lock(&self.child).as_mut() {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!("bao exited early: {status}")));
                }
            }
            let last = match http_request(
                &self.addr,
                "GET",
                "/v1/sys/health",
                &[],
                None,
                Duration::from_secs(2),
            ) {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => format!("health {}: {}", r.status, r.body),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("not healthy after {:?} ({last})", self.opts.startup_timeout),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Drains a child pipe into the shared log tail (so the child never blocks).
fn pump(pipe: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    let _ = std::thread::Builder::new()
        .name("bao-log".into())
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                let mut log = lock(&log);
                log.push_str(&String::from_utf8_lossy(&line));
                if log.len() > LOG_TAIL_BYTES {
                    let mut cut = log.len() - LOG_TAIL_BYTES / 2;
                    while !log.is_char_boundary(cut) {
                        cut += 1;
                    }
                    log.drain(..cut);
                }
                line.clear();
            }
        });
}
