//! The processes behind `stack-devstack up`: OpenBao in dev mode and Consul (the in-process
//! simulator, or `consul agent -dev` when the binary is available and wanted).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::consul::{ConsulSim, ConsulSimHandle, SimOptions};
use crate::nomad::{NomadSim, NomadSimHandle, NomadSimOptions};

/// How a service is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provide {
    /// The real binary when it is on `PATH`, otherwise the simulator.
    Auto,
    /// Always the simulator.
    Sim,
    /// Always the real binary; an error when it is missing.
    Real,
}

impl std::str::FromStr for Provide {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Provide::Auto),
            "sim" => Ok(Provide::Sim),
            "real" => Ok(Provide::Real),
            other => Err(format!(
                "invalid value {other:?}: expected auto, sim or real"
            )),
        }
    }
}

/// ACL mode of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclMode {
    Bootstrapped,
    Fresh,
    Off,
}

impl std::str::FromStr for AclMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bootstrapped" => Ok(AclMode::Bootstrapped),
            "fresh" => Ok(AclMode::Fresh),
            "off" => Ok(AclMode::Off),
            other => Err(format!(
                "invalid value {other:?}: expected bootstrapped, fresh or off"
            )),
        }
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub consul: Provide,
    /// `None` when `--nomad` was not given.
    pub nomad: Option<Provide>,
    pub acl: AclMode,
    pub postgres: bool,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            consul: Provide::Auto,
            nomad: None,
            acl: AclMode::Off,
            postgres: false,
        }
    }
}

enum ConsulRunning {
    Sim(ConsulSimHandle),
    Real {
        child: Child,
        _dir: tempfile::TempDir,
        addr: SocketAddr,
    },
}

enum NomadRunning {
    Sim(NomadSimHandle),
    Real {
        child: Child,
        _dir: tempfile::TempDir,
        addr: SocketAddr,
    },
}

/// A running stack. Call [`Stack::down`] to stop it; dropping it kills the children.
pub struct Stack {
    bao: Child,
    _bao_dir: tempfile::TempDir,
    consul: ConsulRunning,
    nomad: Option<NomadRunning>,
    env: Vec<(String, String)>,
    summary: Vec<String>,
}

impl Stack {
    /// Starts every component and waits until each is healthy.
    pub async fn up(opts: &UpOptions) -> Result<Stack, String> {
        if opts.nomad == Some(Provide::Real) && which("nomad").is_none() {
            return Err("--nomad real: no `nomad` on PATH".to_string());
        }
        if opts.postgres {
            return Err("--postgres: not implemented yet".to_string());
        }
        if opts.consul == Provide::Real && which("consul").is_none() {
            return Err("--consul real: no `consul` on PATH".to_string());
        }
        let started = Instant::now();
        let (bao, bao_dir, vault_addr, vault_token) = start_bao().await?;
        let mut summary = vec![format!("vault  (openbao dev)        {vault_addr}")];
        let consul = match start_consul(opts.consul, opts.acl).await {
            Ok(c) => c,
            Err(e) => {
                let mut bao = bao;
                stop_child(&mut bao).await;
                return Err(e);
            }
        };
        let consul_addr = match &consul {
            ConsulRunning::Sim(h) => {
                summary.push(format!("consul (simulator)         {}", h.url()));
                h.addr()
            }
            ConsulRunning::Real { addr, .. } => {
                summary.push(format!("consul (consul agent -dev) http://{addr}"));
                *addr
            }
        };
        let consul_token = match opts.acl {
            AclMode::Bootstrapped => match consul_acl_bootstrap(&consul).await {
                Ok(t) => Some(t),
                Err(e) => {
                    let mut bao = bao;
                    stop_child(&mut bao).await;
                    if let ConsulRunning::Real { mut child, .. } = consul {
                        stop_child(&mut child).await;
                    }
                    return Err(e);
                }
            },
            AclMode::Fresh | AclMode::Off => None,
        };
        let nomad = match opts.nomad {
            None => None,
            Some(mode) => match start_nomad(mode).await {
                Ok(n) => Some(n),
                Err(e) => {
                    let mut bao = bao;
                    stop_child(&mut bao).await;
                    if let ConsulRunning::Real { mut child, .. } = consul {
                        stop_child(&mut child).await;
                    }
                    return Err(e);
                }
            },
        };
        let nomad_addr = match &nomad {
            None => {
                summary.push("nomad  not started (no --nomad)".to_string());
                None
            }
            Some(NomadRunning::Sim(h)) => {
                summary.push(format!("nomad  (simulator)         {}", h.url()));
                Some(h.addr())
            }
            Some(NomadRunning::Real { addr, .. }) => {
                summary.push(format!("nomad  (nomad agent -dev)  http://{addr}"));
                Some(*addr)
            }
        };
        let acl_text = match opts.acl {
            AclMode::Bootstrapped => "bootstrapped (management token in CONSUL_HTTP_TOKEN)",
            AclMode::Fresh => "on, not bootstrapped",
            AclMode::Off => "off",
        };
        summary.push(format!(
            "acl    {acl_text}; healthy in {:.2}s",
            started.elapsed().as_secs_f64()
        ));
        let mut env = vec![
            ("VAULT_ADDR".to_string(), vault_addr),
            ("VAULT_TOKEN".to_string(), vault_token),
            (
                "CONSUL_HTTP_ADDR".to_string(),
                format!("http://{consul_addr}"),
            ),
        ];
        if let Some(t) = consul_token {
            env.push(("CONSUL_HTTP_TOKEN".to_string(), t));
        }
        if let Some(addr) = nomad_addr {
            env.push(("NOMAD_ADDR".to_string(), format!("http://{addr}")));
        }
        Ok(Stack {
            bao,
            _bao_dir: bao_dir,
            consul,
            nomad,
            env,
            summary,
        })
    }

    /// The exported variables, in order.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Lines of the short summary.
    pub fn summary(&self) -> &[String] {
        &self.summary
    }

    /// `export VAR='value'` lines, one per variable.
    pub fn export_lines(&self) -> String {
        self.env
            .iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
            .collect()
    }

    /// Stops every child and removes its data.
    pub async fn down(mut self) {
        match self.nomad.take() {
            Some(NomadRunning::Real { mut child, .. }) => stop_child(&mut child).await,
            Some(NomadRunning::Sim(h)) => h.shutdown().await,
            None => {}
        }
        match &mut self.consul {
            ConsulRunning::Sim(_) => {}
            ConsulRunning::Real { child, .. } => stop_child(child).await,
        }
        stop_child(&mut self.bao).await;
        if let ConsulRunning::Sim(h) = self.consul {
            h.shutdown().await;
        }
    }
}

/// Single-quotes a value for POSIX shells.
pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

async fn stop_child(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

/// A free loopback port `p` such that `p + extra` ports after it are free too.
pub fn free_port_run(extra: u16) -> Result<u16, String> {
    for _ in 0..50 {
        let first = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
        let port = first.local_addr().map_err(|e| e.to_string())?.port();
        if port as u32 + extra as u32 > 65535 {
            continue;
        }
        let others: Result<Vec<_>, _> = (1..=extra)
            .map(|i| TcpListener::bind(("127.0.0.1", port + i)))
            .collect();
        if others.is_ok() {
            return Ok(port);
        }
    }
    Err("no free run of loopback ports found".to_string())
}

/// Finds the OpenBao binary: `BAO_BIN`, then `.tools/bin/bao` in this or a parent
/// directory (or the repository this crate was built from), then `bao` on `PATH`.
pub fn find_bao() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BAO_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("BAO_BIN={} is not a file", p.display()))
        };
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    roots.extend(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(Path::to_path_buf),
    );
    for r in roots {
        let p = r.join(".tools/bin/bao");
        if p.is_file() {
            return Ok(p);
        }
    }
    which("bao").ok_or_else(|| {
        "OpenBao not found: set BAO_BIN or run scripts/setup-tools.sh (installs .tools/bin/bao)"
            .to_string()
    })
}

/// Looks a program up on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

async fn start_bao() -> Result<(Child, tempfile::TempDir, String, String), String> {
    let bin = find_bao()?;
    let dir = tempfile::Builder::new()
        .prefix("devstack-bao-")
        .tempdir()
        .map_err(|e| format!("creating bao data dir: {e}"))?;
    let config = dir.path().join("config.hcl");
    std::fs::write(&config, "unsafe_allow_api_audit_creation = true\n")
        .map_err(|e| format!("writing {}: {e}", config.display()))?;
    // Dev mode listens on the port and opens the cluster listener on port + 1.
    let port = free_port_run(1)?;
    let token = format!("devstack-{}", crate::consul::uuid_v4());
    let addr = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.path().join("bao.log"))
        .map_err(|e| format!("creating bao log: {e}"))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(&bin)
        .arg("server")
        .arg("-dev")
        .arg(format!("-dev-root-token-id={token}"))
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .arg(format!("-config={}", config.display()))
        .env("HOME", dir.path())
        .env_remove("VAULT_TOKEN")
        .env_remove("BAO_TOKEN")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let client = http_client()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("bao.log")).unwrap_or_default();
            return Err(format!("bao exited with {status} during start-up:\n{log}"));
        }
        if let Ok(r) = client.get(format!("{addr}/v1/sys/health")).send().await {
            if r.status().as_u16() == 200 {
                break;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            return Err("bao did not become healthy within 30s".to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((child, dir, addr, token))
}

fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())
}

/// Bootstraps Consul's ACLs and returns the management token's SecretID.
async fn consul_acl_bootstrap(consul: &ConsulRunning) -> Result<String, String> {
    let addr = match consul {
        ConsulRunning::Sim(h) => {
            return h
                .acl_bootstrap()
                .map_err(|e| format!("consul ACL bootstrap: {e}"))
        }
        ConsulRunning::Real { addr, .. } => *addr,
    };
    let client = http_client()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // The ACL system becomes ready shortly after leadership.
        if let Ok(r) = client
            .put(format!("http://{addr}/v1/acl/bootstrap"))
            .send()
            .await
        {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            if status == 200 {
                let v: serde_json::Value = serde_json::from_str(&body)
                    .map_err(|e| format!("consul ACL bootstrap: {e}: {body}"))?;
                return v["SecretID"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("consul ACL bootstrap: no SecretID in {body}"));
            }
            if status == 403 {
                return Err(format!("consul ACL bootstrap: {body}"));
            }
        }
        if Instant::now() > deadline {
            return Err("consul ACL bootstrap did not succeed within 30s".to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_consul(mode: Provide, acl: AclMode) -> Result<ConsulRunning, String> {
    let real = match mode {
        Provide::Sim => None,
        Provide::Auto => which("consul"),
        Provide::Real => Some(which("consul").ok_or("--consul real: no `consul` on PATH")?),
    };
    let Some(bin) = real else {
        let opts = SimOptions {
            acl_enabled: acl != AclMode::Off,
            ..SimOptions::default()
        };
        let h = ConsulSim::start(opts)
            .await
            .map_err(|e| format!("starting the Consul simulator: {e}"))?;
        return Ok(ConsulRunning::Sim(h));
    };
    start_real_consul(&bin, acl).await
}

async fn start_real_consul(bin: &Path, acl: AclMode) -> Result<ConsulRunning, String> {
    let dir = tempfile::Builder::new()
        .prefix("devstack-consul-")
        .tempdir()
        .map_err(|e| format!("creating consul data dir: {e}"))?;
    let http = free_port_run(0)?;
    let server = free_port_run(2)?;
    let config = format!(
        "ports {{\n  http = {http}\n  dns = -1\n  grpc = -1\n  server = {server}\n  serf_lan = {}\n  serf_wan = {}\n}}\n",
        server + 1,
        server + 2
    );
    let config = if acl == AclMode::Off {
        config
    } else {
        format!("{config}acl {{\n  enabled = true\n  default_policy = \"deny\"\n}}\n")
    };
    let cfg = dir.path().join("ports.hcl");
    std::fs::write(&cfg, config).map_err(|e| format!("writing {}: {e}", cfg.display()))?;
    let log = std::fs::File::create(dir.path().join("consul.log"))
        .map_err(|e| format!("creating consul log: {e}"))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(bin)
        .arg("agent")
        .arg("-dev")
        .arg("-bind=127.0.0.1")
        .arg("-client=127.0.0.1")
        .arg(format!("-config-file={}", cfg.display()))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], http));
    let client = http_client()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("consul.log")).unwrap_or_default();
            return Err(format!(
                "consul exited with {status} during start-up:\n{log}"
            ));
        }
        if let Ok(r) = client
            .get(format!("http://{addr}/v1/status/leader"))
            .send()
            .await
        {
            if let Ok(text) = r.text().await {
                if text.trim() != "\"\"" && text.starts_with('"') {
                    break;
                }
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            return Err("consul did not elect a leader within 30s".to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(ConsulRunning::Real {
        child,
        _dir: dir,
        addr,
    })
}

async fn start_nomad(mode: Provide) -> Result<NomadRunning, String> {
    let real = match mode {
        Provide::Sim => None,
        Provide::Auto => which("nomad"),
        Provide::Real => Some(which("nomad").ok_or("--nomad real: no `nomad` on PATH")?),
    };
    let Some(bin) = real else {
        let h = NomadSim::start(NomadSimOptions::default())
            .await
            .map_err(|e| format!("starting the Nomad simulator: {e}"))?;
        return Ok(NomadRunning::Sim(h));
    };
    start_real_nomad(&bin).await
}

async fn start_real_nomad(bin: &Path) -> Result<NomadRunning, String> {
    let dir = tempfile::Builder::new()
        .prefix("devstack-nomad-")
        .tempdir()
        .map_err(|e| format!("creating nomad data dir: {e}"))?;
    let http = free_port_run(0)?;
    let rpc = free_port_run(1)?;
    let config = format!(
        "bind_addr = \"127.0.0.1\"\nports {{\n  http = {http}\n  rpc = {rpc}\n  serf = {}\n}}\n",
        rpc + 1
    );
    let cfg = dir.path().join("ports.hcl");
    std::fs::write(&cfg, config).map_err(|e| format!("writing {}: {e}", cfg.display()))?;
    let log = std::fs::File::create(dir.path().join("nomad.log"))
        .map_err(|e| format!("creating nomad log: {e}"))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(bin)
        .arg("agent")
        .arg("-dev")
        .arg(format!("-config={}", cfg.display()))
        .env_remove("NOMAD_ADDR")
        .env_remove("NOMAD_TOKEN")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], http));
    let client = http_client()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("nomad.log")).unwrap_or_default();
            return Err(format!(
                "nomad exited with {status} during start-up:\n{log}"
            ));
        }
        if let Ok(r) = client
            .get(format!("http://{addr}/v1/status/leader"))
            .send()
            .await
        {
            if let Ok(text) = r.text().await {
                if text.trim() != "\"\"" && text.starts_with('"') {
                    break;
                }
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            return Err("nomad did not elect a leader within 30s".to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(NomadRunning::Real {
        child,
        _dir: dir,
        addr,
    })
}
