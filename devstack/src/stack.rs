//! The processes behind `stack-devstack up`: OpenBao in dev mode, Consul and Nomad (the
//! in-process simulators, or `consul agent -dev` / `nomad agent -dev` when the binaries are
//! available and wanted), and optionally PostgreSQL.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::consul::{ConsulSim, ConsulSimHandle, SimOptions};
use crate::nomad::{NomadSim, NomadSimHandle, NomadSimOptions};
use crate::postgres::Postgres;

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
    /// `--nomad`; `None` means the default, `auto`. Nomad always starts.
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

impl NomadRunning {
    fn addr(&self) -> SocketAddr {
        match self {
            NomadRunning::Sim(h) => h.addr(),
            NomadRunning::Real { addr, .. } => *addr,
        }
    }

    async fn stop(self) {
        match self {
            NomadRunning::Sim(h) => h.shutdown().await,
            NomadRunning::Real { mut child, .. } => stop_child(&mut child).await,
        }
    }
}

impl ConsulRunning {
    async fn stop(self) {
        match self {
            ConsulRunning::Sim(h) => h.shutdown().await,
            ConsulRunning::Real { mut child, .. } => stop_child(&mut child).await,
        }
    }
}

/// OpenBao started but not necessarily healthy yet.
struct Bao {
    child: Child,
    dir: tempfile::TempDir,
    addr: String,
    token: String,
}

/// Consul and Nomad, started and (with `--acl bootstrapped`) bootstrapped.
struct Orchestrators {
    consul: ConsulRunning,
    consul_token: Option<String>,
    nomad: NomadRunning,
    nomad_token: Option<String>,
    /// Since the start of `Stack::up`: Consul healthy (and bootstrapped), then Nomad.
    consul_ready: Duration,
    nomad_ready: Duration,
}

/// A running stack. Call [`Stack::down`] to stop it; dropping it kills the children.
pub struct Stack {
    bao: Child,
    _bao_dir: tempfile::TempDir,
    consul: Option<ConsulRunning>,
    nomad: Option<NomadRunning>,
    postgres: Option<Postgres>,
    env: Vec<(String, String)>,
    summary: Vec<String>,
    timings: Vec<(String, Duration)>,
}

impl Stack {
    /// Starts every component and waits until each is healthy. OpenBao, PostgreSQL and the
    /// Consul → Nomad chain start concurrently (OpenBao's start-up dominates).
    pub async fn up(opts: &UpOptions) -> Result<Stack, String> {
        let nomad_mode = opts.nomad.unwrap_or(Provide::Auto);
        if nomad_mode == Provide::Real && which("nomad").is_none() {
            return Err("--nomad real: no `nomad` on PATH".to_string());
        }
        if opts.consul == Provide::Real && which("consul").is_none() {
            return Err("--consul real: no `consul` on PATH".to_string());
        }
        if opts.postgres {
            crate::postgres::find_bin_dir().map_err(|e| format!("--postgres: {e}"))?;
        }
        let started = Instant::now();
        let mut bao = spawn_bao()?;
        let vault_addr = bao.addr.clone();
        let bao_ready = async {
            let r = wait_bao(&mut bao).await;
            (r, started.elapsed())
        };
        let orchestrators = start_orchestrators(opts, nomad_mode, &vault_addr, started);
        let postgres = async {
            if !opts.postgres {
                return (Ok(None), Duration::ZERO);
            }
            let r = Postgres::start().await.map(Some);
            (r, started.elapsed())
        };
        let ((bao_r, bao_t), orch_r, (pg_r, pg_t)) =
            tokio::join!(bao_ready, orchestrators, postgres);
        let failed: Vec<String> = [
            bao_r.as_ref().err(),
            orch_r.as_ref().err(),
            pg_r.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        if !failed.is_empty() {
            if let Ok(o) = orch_r {
                o.nomad.stop().await;
                o.consul.stop().await;
            }
            if let Ok(Some(pg)) = pg_r {
                pg.stop().await;
            }
            stop_child(&mut bao.child).await;
            return Err(failed.join("\n"));
        }
        let (Ok(orch), Ok(postgres)) = (orch_r, pg_r) else {
            return Err("start-up failed".to_string());
        };
        let healthy = started.elapsed();

        let mut summary = vec![format!("vault    real (openbao server -dev)  {vault_addr}")];
        let consul_addr = match &orch.consul {
            ConsulRunning::Sim(h) => {
                summary.push(format!("consul   simulated                   {}", h.url()));
                h.addr()
            }
            ConsulRunning::Real { addr, .. } => {
                summary.push(format!(
                    "consul   real (consul agent -dev)    http://{addr}"
                ));
                *addr
            }
        };
        let nomad_addr = orch.nomad.addr();
        summary.push(match &orch.nomad {
            NomadRunning::Sim(_) => {
                format!("nomad    simulated                   http://{nomad_addr}")
            }
            NomadRunning::Real { .. } => {
                format!("nomad    real (nomad agent -dev)     http://{nomad_addr}")
            }
        });
        if let Some(pg) = &postgres {
            summary.push(format!(
                "postgres real (postgres {})          postgresql://{}@{}:{}/{}",
                pg.bin_dir
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|v| v.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                pg.user,
                pg.host,
                pg.port,
                pg.database
            ));
        }
        let acl_text = match opts.acl {
            AclMode::Bootstrapped => {
                "bootstrapped (management tokens in CONSUL_HTTP_TOKEN, NOMAD_TOKEN)"
            }
            AclMode::Fresh => "on, not bootstrapped",
            AclMode::Off => "off",
        };
        summary.push(format!("acl      {acl_text}"));
        summary.push(format!("healthy in {:.2}s", healthy.as_secs_f64()));

        let mut env = vec![
            ("VAULT_ADDR".to_string(), vault_addr),
            ("VAULT_TOKEN".to_string(), bao.token.clone()),
            (
                "CONSUL_HTTP_ADDR".to_string(),
                format!("http://{consul_addr}"),
            ),
        ];
        if let Some(t) = orch.consul_token {
            env.push(("CONSUL_HTTP_TOKEN".to_string(), t));
        }
        env.push(("NOMAD_ADDR".to_string(), format!("http://{nomad_addr}")));
        if let Some(t) = orch.nomad_token {
            env.push(("NOMAD_TOKEN".to_string(), t));
        }
        if let Some(pg) = &postgres {
            env.push(("PGHOST".to_string(), pg.host.clone()));
            env.push(("PGPORT".to_string(), pg.port.to_string()));
            env.push(("PGUSER".to_string(), pg.user.clone()));
            env.push(("PGPASSWORD".to_string(), pg.password.clone()));
            env.push(("PGDATABASE".to_string(), pg.database.clone()));
        }
        let mut timings = vec![
            ("vault".to_string(), bao_t),
            ("consul".to_string(), orch.consul_ready),
            ("nomad".to_string(), orch.nomad_ready),
        ];
        if postgres.is_some() {
            timings.push(("postgres".to_string(), pg_t));
        }
        timings.push(("total".to_string(), healthy));
        Ok(Stack {
            bao: bao.child,
            _bao_dir: bao.dir,
            consul: Some(orch.consul),
            nomad: Some(orch.nomad),
            postgres,
            env,
            summary,
            timings,
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

    /// When each component was healthy, measured from the start of [`Stack::up`].
    pub fn timings(&self) -> &[(String, Duration)] {
        &self.timings
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
        // Nomad first: its tasks may talk to the others.
        if let Some(n) = self.nomad.take() {
            n.stop().await;
        }
        if let Some(c) = self.consul.take() {
            c.stop().await;
        }
        if let Some(pg) = self.postgres.take() {
            pg.stop().await;
        }
        stop_child(&mut self.bao).await;
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

/// Spawns OpenBao in dev mode (API audit creation allowed) on a free port.
fn spawn_bao() -> Result<Bao, String> {
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
    let child = Command::new(&bin)
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
    Ok(Bao {
        child,
        dir,
        addr,
        token,
    })
}

/// Health polls are this far apart: a dev server comes up in a few hundred ms, and a
/// refused connection costs well under a millisecond, so a short interval adds little load
/// and at most this much latency.
const HEALTH_POLL: Duration = Duration::from_millis(10);

/// Waits until OpenBao answers `GET /v1/sys/health` with 200 (unsealed, active).
async fn wait_bao(bao: &mut Bao) -> Result<(), String> {
    let client = http_client()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = format!("{}/v1/sys/health", bao.addr);
    loop {
        if let Ok(Some(status)) = bao.child.try_wait() {
            let log = std::fs::read_to_string(bao.dir.path().join("bao.log")).unwrap_or_default();
            return Err(format!("bao exited with {status} during start-up:\n{log}"));
        }
        if let Ok(r) = client.get(&url).send().await {
            if r.status().as_u16() == 200 {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err("bao did not become healthy within 30s".to_string());
        }
        tokio::time::sleep(HEALTH_POLL).await;
    }
}

/// Starts Consul, bootstraps its ACLs if asked, then Nomad wired to Vault and Consul.
async fn start_orchestrators(
    opts: &UpOptions,
    nomad_mode: Provide,
    vault_addr: &str,
    started: Instant,
) -> Result<Orchestrators, String> {
    let consul = start_consul(opts.consul, opts.acl).await?;
    let consul_token = match opts.acl {
        AclMode::Bootstrapped => match consul_acl_bootstrap(&consul).await {
            Ok(t) => Some(t),
            Err(e) => {
                consul.stop().await;
                return Err(e);
            }
        },
        AclMode::Fresh | AclMode::Off => None,
    };
    let consul_ready = started.elapsed();
    let consul_addr = match &consul {
        ConsulRunning::Sim(h) => h.addr(),
        ConsulRunning::Real { addr, .. } => *addr,
    };
    // Nomad registers services in Consul with its own token. With `--acl fresh` nobody has
    // bootstrapped yet, so the simulated Consul gets an agent token for Nomad provisioned
    // (what an operator does when configuring Nomad's `consul.token`); bootstrap stays open.
    let nomad_consul_token = match (&consul, opts.acl) {
        (ConsulRunning::Sim(h), AclMode::Fresh) => Some(h.provision_token(
            "nomad-agent",
            "service_prefix \"\" {\n  policy = \"write\"\n}\nnode_prefix \"\" {\n  policy = \"read\"\n}\nagent_prefix \"\" {\n  policy = \"read\"\n}\n",
        )?),
        _ => consul_token.clone(),
    };
    let wiring = NomadWiring {
        acl: opts.acl,
        vault_addr: vault_addr.to_string(),
        consul_addr: consul_addr.to_string(),
        consul_token: nomad_consul_token,
    };
    let nomad = match start_nomad(nomad_mode, &wiring).await {
        Ok(n) => n,
        Err(e) => {
            consul.stop().await;
            return Err(e);
        }
    };
    let nomad_token = match opts.acl {
        AclMode::Bootstrapped => match nomad_acl_bootstrap(&nomad).await {
            Ok(t) => Some(t),
            Err(e) => {
                nomad.stop().await;
                consul.stop().await;
                return Err(e);
            }
        },
        AclMode::Fresh | AclMode::Off => None,
    };
    Ok(Orchestrators {
        consul,
        consul_token,
        nomad,
        nomad_token,
        consul_ready,
        nomad_ready: started.elapsed(),
    })
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
    match consul {
        ConsulRunning::Sim(h) => h
            .acl_bootstrap()
            .map_err(|e| format!("consul ACL bootstrap: {e}")),
        // Consul answers a second bootstrap with 403.
        ConsulRunning::Real { addr, .. } => {
            real_acl_bootstrap("consul", reqwest::Method::PUT, *addr, |status, _| {
                status == 403
            })
            .await
        }
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
    wait_for_leader(&mut child, "consul", &dir.path().join("consul.log"), addr).await?;
    Ok(ConsulRunning::Real {
        child,
        _dir: dir,
        addr,
    })
}

/// Waits until a real `consul`/`nomad` agent (both answer `/v1/status/leader` with the quoted
/// leader address, `""` before an election) has a leader; kills it after 30 s, and reports its
/// log when it exits during start-up.
async fn wait_for_leader(
    child: &mut Child,
    name: &str,
    log_path: &Path,
    addr: SocketAddr,
) -> Result<(), String> {
    let client = http_client()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            return Err(format!(
                "{name} exited with {status} during start-up:\n{log}"
            ));
        }
        if let Ok(r) = client
            .get(format!("http://{addr}/v1/status/leader"))
            .send()
            .await
        {
            if let Ok(text) = r.text().await {
                if text.trim() != "\"\"" && text.starts_with('"') {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            return Err(format!("{name} did not elect a leader within 30s"));
        }
        tokio::time::sleep(HEALTH_POLL).await;
    }
}

/// What Nomad is connected to.
struct NomadWiring {
    acl: AclMode,
    /// `http://127.0.0.1:<port>` of OpenBao.
    vault_addr: String,
    /// `127.0.0.1:<port>` of Consul's HTTP API.
    consul_addr: String,
    consul_token: Option<String>,
}

async fn start_nomad(mode: Provide, wiring: &NomadWiring) -> Result<NomadRunning, String> {
    let real = match mode {
        Provide::Sim => None,
        Provide::Auto => which("nomad"),
        Provide::Real => Some(which("nomad").ok_or("--nomad real: no `nomad` on PATH")?),
    };
    let Some(bin) = real else {
        let opts = NomadSimOptions {
            acl_enabled: wiring.acl != AclMode::Off,
            vault_addr: Some(wiring.vault_addr.clone()),
            // A URL: the task templates and the service client both use it as a base.
            consul_addr: Some(format!("http://{}", wiring.consul_addr)),
            consul_token: wiring.consul_token.clone(),
            ..NomadSimOptions::default()
        };
        let h = NomadSim::start(opts)
            .await
            .map_err(|e| format!("starting the Nomad simulator: {e}"))?;
        return Ok(NomadRunning::Sim(h));
    };
    start_real_nomad(&bin, wiring).await
}

/// Bootstraps Nomad's ACLs and returns the management token's SecretID.
async fn nomad_acl_bootstrap(nomad: &NomadRunning) -> Result<String, String> {
    match nomad {
        NomadRunning::Sim(h) => h
            .acl_bootstrap()
            .map_err(|e| format!("nomad ACL bootstrap: {e}")),
        // Nomad answers a second bootstrap with 400 "... already done".
        NomadRunning::Real { addr, .. } => {
            real_acl_bootstrap("nomad", reqwest::Method::POST, *addr, |status, body| {
                status == 400 && body.contains("already done")
            })
            .await
        }
    }
}

/// `<method> /v1/acl/bootstrap` on a real agent until it answers (its ACL system becomes ready
/// shortly after leadership), for 30 s at most; `done_before` recognises the answer to a
/// second bootstrap, which is final.
async fn real_acl_bootstrap(
    name: &str,
    method: reqwest::Method,
    addr: SocketAddr,
    done_before: impl Fn(u16, &str) -> bool,
) -> Result<String, String> {
    let client = http_client()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client
            .request(method.clone(), format!("http://{addr}/v1/acl/bootstrap"))
            .send()
            .await
        {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            if status == 200 {
                let v: serde_json::Value = serde_json::from_str(&body)
                    .map_err(|e| format!("{name} ACL bootstrap: {e}: {body}"))?;
                return v["SecretID"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{name} ACL bootstrap: no SecretID in {body}"));
            }
            if done_before(status, &body) {
                return Err(format!("{name} ACL bootstrap: {body}"));
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{name} ACL bootstrap did not succeed within 30s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_real_nomad(bin: &Path, wiring: &NomadWiring) -> Result<NomadRunning, String> {
    let dir = tempfile::Builder::new()
        .prefix("devstack-nomad-")
        .tempdir()
        .map_err(|e| format!("creating nomad data dir: {e}"))?;
    let http = free_port_run(0)?;
    let rpc = free_port_run(1)?;
    let mut config = format!(
        "bind_addr = \"127.0.0.1\"\nports {{\n  http = {http}\n  rpc = {rpc}\n  serf = {}\n}}\n",
        rpc + 1
    );
    if wiring.acl != AclMode::Off {
        config.push_str("acl {\n  enabled = true\n}\n");
    }
    config.push_str(&format!(
        "consul {{\n  address = \"{}\"\n{}}}\n",
        wiring.consul_addr,
        wiring
            .consul_token
            .as_ref()
            .map(|t| format!("  token = \"{t}\"\n"))
            .unwrap_or_default()
    ));
    config.push_str(&format!(
        "vault {{\n  enabled = true\n  address = \"{}\"\n}}\n",
        wiring.vault_addr
    ));
    let cfg = dir.path().join("devstack.hcl");
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
    wait_for_leader(&mut child, "nomad", &dir.path().join("nomad.log"), addr).await?;
    Ok(NomadRunning::Real {
        child,
        _dir: dir,
        addr,
    })
}
