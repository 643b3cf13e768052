//! Consul and Nomad for the acceptance tests: the `stack-devstack` simulators, started
//! in-process on one background runtime. They are cheap, so a test that needs a fresh cluster
//! (an ACL bootstrap, say) starts its own.

use std::sync::OnceLock;

use stack_devstack::consul::{ConsulSim, ConsulSimHandle, SimOptions};
use stack_devstack::nomad::{NomadSim, NomadSimHandle, NomadSimOptions};

/// ACL state of a simulated cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acl {
    /// ACLs disabled.
    Off,
    /// ACLs on (default deny), not bootstrapped.
    Fresh,
    /// ACLs on and bootstrapped; the management token is exported.
    Bootstrapped,
}

/// The background runtime the simulators (and in-process stacks) run on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sims")
            .enable_all()
            .build()
            .expect("start the simulators' runtime")
    })
}

/// A simulated Consul agent; stops when dropped.
pub struct Consul {
    handle: ConsulSimHandle,
    /// `http://127.0.0.1:<port>`.
    pub addr: String,
    /// Management token (with [`Acl::Bootstrapped`]).
    pub token: Option<String>,
}

impl Consul {
    /// Starts a Consul simulator.
    pub fn start(acl: Acl) -> Consul {
        let opts = SimOptions {
            acl_enabled: acl != Acl::Off,
            ..SimOptions::default()
        };
        let handle = runtime()
            .block_on(ConsulSim::start(opts))
            .expect("start the Consul simulator");
        let token = (acl == Acl::Bootstrapped)
            .then(|| handle.acl_bootstrap().expect("bootstrap Consul ACLs"));
        Consul {
            addr: handle.url(),
            handle,
            token,
        }
    }

    /// `CONSUL_HTTP_ADDR` (and `CONSUL_HTTP_TOKEN` when bootstrapped) for Terraform.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("CONSUL_HTTP_ADDR".to_string(), self.addr.clone())];
        if let Some(t) = &self.token {
            env.push(("CONSUL_HTTP_TOKEN".into(), t.clone()));
        }
        env
    }

    /// The simulator handle (fault injection and such).
    pub fn handle(&self) -> &ConsulSimHandle {
        &self.handle
    }

    /// A request to the Consul API with `token` (or none).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> super::HttpResponse {
        request(&self.addr, "X-Consul-Token", method, path, token, body)
    }
}

/// A simulated Nomad agent (server + client); stops when dropped.
pub struct Nomad {
    handle: NomadSimHandle,
    /// `http://127.0.0.1:<port>`.
    pub addr: String,
    /// Management token (with [`Acl::Bootstrapped`]).
    pub token: Option<String>,
}

impl Nomad {
    /// Starts a Nomad simulator wired to `vault_addr` and `consul` (for services).
    pub fn start(acl: Acl, vault_addr: Option<&str>, consul: Option<&Consul>) -> Nomad {
        let opts = NomadSimOptions {
            acl_enabled: acl != Acl::Off,
            vault_addr: vault_addr.map(str::to_string),
            consul_addr: consul.map(|c| c.addr.clone()),
            consul_token: consul.and_then(|c| c.token.clone()),
            ..NomadSimOptions::default()
        };
        let handle = runtime()
            .block_on(NomadSim::start(opts))
            .expect("start the Nomad simulator");
        let token = (acl == Acl::Bootstrapped)
            .then(|| handle.acl_bootstrap().expect("bootstrap Nomad ACLs"));
        Nomad {
            addr: handle.url(),
            handle,
            token,
        }
    }

    /// `NOMAD_ADDR` (and `NOMAD_TOKEN` when bootstrapped) for Terraform.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("NOMAD_ADDR".to_string(), self.addr.clone())];
        if let Some(t) = &self.token {
            env.push(("NOMAD_TOKEN".into(), t.clone()));
        }
        env
    }

    /// The simulator handle.
    pub fn handle(&self) -> &NomadSimHandle {
        &self.handle
    }

    /// A request to the Nomad API with `token` (or none).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> super::HttpResponse {
        request(&self.addr, "X-Nomad-Token", method, path, token, body)
    }
}

fn request(
    addr: &str,
    header: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> super::HttpResponse {
    let headers: Vec<(&str, &str)> = token.map(|t| (header, t)).into_iter().collect();
    let body = body.map(|b| b.to_string());
    super::http_request(
        addr,
        method,
        path,
        &headers,
        body.as_deref(),
        std::time::Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}
