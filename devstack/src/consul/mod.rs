//! In-process simulator of the Consul HTTP API (v1), held to the real server's contract:
//! plain-text error bodies, PascalCase JSON, CAS semantics, blocking queries and the
//! `X-Consul-*` headers.
//!
//! Fault injection lives outside `/v1`, at `/_sim/faults` (see [`crate::faults`]): e.g.
//! `{"status":500,"body":"No cluster leader","count":N,"delay_ms":M}` makes the next `N`
//! API requests wait `M` ms and/or fail with that status and body.

pub mod acl;
mod api;
pub mod config_entries;
mod connect_ca;
mod intentions;
pub mod state;

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

/// Options of a simulated agent (a single dev-mode server).
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub datacenter: String,
    pub node_name: String,
    pub version: String,
    /// Address to bind; `127.0.0.1:0` lets the OS choose the port.
    pub bind: SocketAddr,
    /// ACLs enabled (default policy `deny`), not bootstrapped; see
    /// [`ConsulSimHandle::acl_bootstrap`].
    pub acl_enabled: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            datacenter: "dc1".into(),
            node_name: "devstack".into(),
            version: "1.20.1".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            acl_enabled: false,
        }
    }
}

pub use crate::faults::Fault;

pub(crate) struct Inner {
    pub(crate) opts: SimOptions,
    pub(crate) node_id: String,
    pub(crate) state: Mutex<State>,
    /// Carries the raft index; blocking queries wait on it.
    pub(crate) changes: watch::Sender<u64>,
    faults: crate::faults::Faults,
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
pub struct ConsulSim;

impl ConsulSim {
    /// Binds `opts.bind` and serves the API until the handle is dropped or shut down.
    pub async fn start(opts: SimOptions) -> std::io::Result<ConsulSimHandle> {
        let listener = TcpListener::bind(opts.bind).await?;
        let addr = listener.local_addr()?;
        let mut st = State::new(&opts.node_name);
        if opts.acl_enabled {
            let idx = st.apply();
            st.acl.enable(idx);
        }
        let (changes, _) = watch::channel(st.raft_index);
        let inner = Arc::new(Inner {
            node_id: uuid_v4(),
            opts,
            state: Mutex::new(st),
            changes,
            faults: crate::faults::Faults::default(),
        });
        let (stop_tx, task) = crate::http::serve(listener, inner.clone(), handle);
        Ok(ConsulSimHandle {
            addr,
            stop: Some(stop_tx),
            task: Some(task),
            inner,
        })
    }
}

/// A running simulator. Dropping it stops the server.
pub struct ConsulSimHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    inner: Arc<Inner>,
}

impl ConsulSimHandle {
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

    /// Bootstraps the ACL system as `PUT /v1/acl/bootstrap` does and returns the
    /// management token's SecretID.
    pub fn acl_bootstrap(&self) -> Result<String, String> {
        let (status, body) = api::acl_bootstrap_secret(&self.inner);
        match status {
            200 => Ok(body),
            _ => Err(body),
        }
    }

    /// Creates a policy with `rules` and a token carrying it, without bootstrapping the ACL
    /// system: what an operator does when giving an agent (here, the simulated Nomad's
    /// Consul client) its token before anyone manages ACLs. Returns the token's SecretID.
    pub fn provision_token(&self, name: &str, rules: &str) -> Result<String, String> {
        acl::parse_rules(rules)?;
        let secret = uuid_v4();
        let (policy_id, accessor) = (uuid_v4(), uuid_v4());
        self.inner.write(|st| {
            let idx = st.apply();
            st.acl.policies.insert(
                policy_id.clone(),
                acl::Policy {
                    id: policy_id.clone(),
                    name: name.to_string(),
                    description: format!("{name} (provisioned by stack-devstack)"),
                    rules: rules.to_string(),
                    datacenters: Vec::new(),
                    hash: acl::content_hash(&[name, rules]),
                    create_index: idx,
                    modify_index: idx,
                },
            );
            st.acl.tokens.insert(
                accessor.clone(),
                acl::Token {
                    accessor: accessor.clone(),
                    secret: secret.clone(),
                    description: format!("{name} (provisioned by stack-devstack)"),
                    policies: vec![policy_id.clone()],
                    roles: Vec::new(),
                    service_identities: Vec::new(),
                    node_identities: Vec::new(),
                    local: false,
                    create_time: acl::now_rfc3339(),
                    hash: acl::content_hash(&[name]),
                    create_index: idx,
                    modify_index: idx,
                },
            );
            st.acl.policies_index = idx;
            st.acl.tokens_index = idx;
        });
        Ok(secret)
    }

    /// Installs a fault, as `POST /_sim/faults` does.
    pub fn inject_fault(&self, fault: Fault) {
        self.inner.faults.set(fault);
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ConsulSimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub(crate) type Resp = Response<Full<Bytes>>;

/// Largest KV value Consul accepts (`kv_max_value_size`, 512 KiB).
pub(crate) const KV_MAX_VALUE_SIZE: usize = 512 * 1024;

/// Hard cap on any request body the simulator reads.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    if path == crate::faults::PATH {
        return inner.faults.admin(req).await;
    }
    if path.starts_with("/v1/") {
        if let crate::faults::Outcome::Fail(status, body) =
            inner.faults.apply(default_fault_body).await
        {
            let mut resp = text(status, &body);
            add_acl_policy_header(&inner, &mut resp);
            return resp;
        }
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let mut resp = text(413, "http: request body too large");
            add_acl_policy_header(&inner, &mut resp);
            return resp;
        }
    };
    let mut resp = api::route(&inner, &parts, body).await;
    if path.starts_with("/v1/") {
        add_acl_policy_header(&inner, &mut resp);
    }
    resp
}

fn add_acl_policy_header(inner: &Inner, resp: &mut Resp) {
    let deny = {
        let st = inner.state();
        st.acl.enabled && st.acl.default_deny
    };
    resp.headers_mut().insert(
        "X-Consul-Default-Acl-Policy",
        HeaderValue::from_static(if deny { "deny" } else { "allow" }),
    );
}

/// Consul's texts for injected faults without a body.
fn default_fault_body(status: u16) -> String {
    match status {
        429 => "rate limit exceeded, try again later or against a different server".into(),
        500 => "No cluster leader".into(),
        _ => crate::faults::reason(status),
    }
}

/// A plain-text response, as Consul writes errors.
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

/// A JSON response (minimised, as Consul without `?pretty`).
pub(crate) fn json_resp(status: u16, v: &Value) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A random UUID (v4 layout).
pub(crate) fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    for x in b.iter_mut() {
        *x = fastrand::u8(..);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
