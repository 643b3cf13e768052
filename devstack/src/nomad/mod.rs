//! In-process simulator of the Nomad HTTP API (v1), held to the real server's contract:
//! plain-text error bodies with Nomad's status codes, PascalCase JSON, nanosecond
//! durations, CAS on variables, `EnforceIndex` on job registration, and blocking queries
//! with the `X-Nomad-*` headers.
//!
//! The simulated agent is a single dev-mode server + client (`nomad agent -dev`): it has one
//! node. The runtime (`runtime`) schedules registered jobs into allocations and deployments,
//! runs `raw_exec` tasks as real local processes (other drivers are simulated as running),
//! and registers `service` blocks in Consul when `consul_addr` is set.
//!
//! ACLs ([`acl`]) are off unless [`NomadSimOptions::acl_enabled`]. Fault injection lives
//! outside `/v1`, at `/_sim/faults` (see [`crate::faults`]).

pub mod acl;
mod api;
pub mod jobspec;
mod runtime;
pub mod state;
pub mod workload;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use self::state::State;

/// Options of a simulated agent (a single dev-mode server and client).
#[derive(Debug, Clone)]
pub struct NomadSimOptions {
    pub region: String,
    pub datacenter: String,
    pub node_name: String,
    pub version: String,
    /// Address to bind; `127.0.0.1:0` lets the OS choose the port.
    pub bind: SocketAddr,
    /// Vault the tasks' `vault` blocks log in to (`vault.address`).
    pub vault_addr: Option<String>,
    /// Consul the `service` blocks are registered in (`consul.address`); none: not registered.
    pub consul_addr: Option<String>,
    pub consul_token: Option<String>,
    /// Parent of the per-simulator data dir (alloc dirs); the system temp dir by default.
    pub data_dir: Option<std::path::PathBuf>,
    /// ACLs enabled, not bootstrapped; see [`NomadSimHandle::acl_bootstrap`].
    pub acl_enabled: bool,
}

impl Default for NomadSimOptions {
    fn default() -> Self {
        NomadSimOptions {
            region: "global".into(),
            datacenter: "dc1".into(),
            node_name: "devstack".into(),
            version: "1.10.3".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            vault_addr: None,
            consul_addr: None,
            consul_token: None,
            data_dir: None,
            acl_enabled: false,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) opts: NomadSimOptions,
    pub(crate) node_id: String,
    pub(crate) state: Mutex<State>,
    /// Carries the raft index; blocking queries wait on it.
    pub(crate) changes: watch::Sender<u64>,
    /// Alloc runners, processes and the data dir.
    pub(crate) runtime: runtime::Runtime,
    /// The agent's workload-identity signing key (JWKS at `/.well-known/jwks.json`).
    pub(crate) signer: Arc<workload::IdentitySigner>,
    /// ACL tables. Lock order: `state` before `acl`; never take `state` while holding this.
    pub(crate) acl: Mutex<acl::AclState>,
    /// Injected faults (`/_sim/faults`).
    pub(crate) faults: crate::faults::Faults,
}

impl Inner {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a write against the state and wakes blocking queries.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut st = self.state();
        let out = f(&mut st);
        let idx = st.raft_index;
        drop(st);
        self.changes.send_replace(idx);
        out
    }
}

/// The simulator entry point.
pub struct NomadSim;

impl NomadSim {
    /// Binds `opts.bind` and serves the API until the handle is dropped or shut down.
    pub async fn start(opts: NomadSimOptions) -> std::io::Result<NomadSimHandle> {
        let listener = TcpListener::bind(opts.bind).await?;
        let addr = listener.local_addr()?;
        let st = State::new();
        let (changes, _) = watch::channel(st.raft_index);
        let signer = workload::IdentitySigner::generate().map_err(std::io::Error::other)?;
        let runtime = runtime::Runtime::new(opts.data_dir.as_deref(), addr)?;
        let acl_state = acl::AclState {
            enabled: opts.acl_enabled,
            ..acl::AclState::default()
        };
        let inner = Arc::new(Inner {
            acl: Mutex::new(acl_state),
            faults: crate::faults::Faults::default(),
            runtime,
            signer: Arc::new(signer),
            node_id: crate::consul::uuid_v4(),
            opts,
            state: Mutex::new(st),
            changes,
        });
        let (stop_tx, task) = crate::http::serve(listener, inner.clone(), handle);
        Ok(NomadSimHandle {
            addr,
            stop: Some(stop_tx),
            task: Some(task),
            inner,
        })
    }
}

/// A running simulator. Dropping it stops the server.
pub struct NomadSimHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    inner: Arc<Inner>,
}

impl NomadSimHandle {
    /// The bound address (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The current raft index.
    pub fn raft_index(&self) -> u64 {
        self.inner.state().raft_index
    }

    /// Bootstraps the ACL system as `POST /v1/acl/bootstrap` does and returns the
    /// management token's SecretID; the error is Nomad's text.
    pub fn acl_bootstrap(&self) -> Result<String, String> {
        acl::bootstrap_token(&self.inner, None).map(|t| t.secret_id)
    }

    /// Installs a fault, as `POST /_sim/faults` does.
    pub fn inject_fault(&self, fault: crate::faults::Fault) {
        self.inner.faults.set(fault);
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.inner.runtime.kill_all();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for NomadSimHandle {
    fn drop(&mut self) {
        self.inner.runtime.kill_all();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub(crate) type Resp = Response<Full<Bytes>>;

/// Hard cap on any request body the simulator reads.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path();
    if path == crate::faults::PATH {
        return inner.faults.admin(req).await;
    }
    if path.starts_with("/v1/") {
        if let crate::faults::Outcome::Fail(status, body) =
            inner.faults.apply(default_fault_body).await
        {
            return text(status, &body);
        }
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(413, "http: request body too large"),
    };
    api::route(&inner, &parts, body).await
}

/// Nomad's texts for injected faults without a body.
fn default_fault_body(status: u16) -> String {
    match status {
        // The HTTP connection limiter's answer.
        429 => "Your IP is issuing too many concurrent connections, please rate limit your calls\n"
            .into(),
        500 => "No cluster leader".into(),
        _ => crate::faults::reason(status),
    }
}

/// A plain-text response, as Nomad writes errors.
pub(crate) fn text(status: u16, body: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !body.is_empty() {
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    r
}

/// A JSON response (minimised, as Nomad without `?pretty`).
pub(crate) fn json_resp(status: u16, v: &Value) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
