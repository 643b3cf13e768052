//! PostgreSQL for `stack-devstack up --postgres`: Debian's server binaries
//! (`/usr/lib/postgresql/<version>/bin`, or `$PG_BIN_DIR`) on a free loopback port, with a
//! password-authenticated (scram-sha-256) superuser `postgres`.
//!
//! PostgreSQL refuses to run as root, so when devstack runs as root `initdb`, `postgres`
//! and the set-up `psql` run as the `postgres` OS user through `setpriv` (`runuser` when
//! setpriv is missing); the server's parent-death signal is set after the user switch (the
//! kernel clears it on a credential change), so it stops even if devstack is killed.
//!
//! `initdb` costs about 1.5 s, so the first start initialises a template cluster (one per
//! server version and OS user) and every start copies it; the superuser's random password
//! is then set over the unix socket (local logins are `trust`). Clusters live in `/dev/shm`
//! when it is there (copying 40 MB to a busy disk took as long as `initdb`), else in the
//! temp dir.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// Env var naming the directory with `initdb` and `postgres`.
pub const PG_BIN_DIR_ENV: &str = "PG_BIN_DIR";
/// The OS user the server runs as when devstack runs as root.
const OS_USER: &str = "postgres";
/// The database superuser (and database) exported as `PGUSER`/`PGDATABASE`.
pub const SUPERUSER: &str = "postgres";

/// A running server. Call [`Postgres::stop`]; dropping it kills the server and removes its
/// data dir too.
pub struct Postgres {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    /// Where the server binaries are (`psql` is usually next to them too).
    pub bin_dir: PathBuf,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `postgres` and `initdb`, or
/// `$PG_BIN_DIR`.
pub fn find_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(PG_BIN_DIR_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return if dir.join("postgres").is_file() && dir.join("initdb").is_file() {
            Ok(dir)
        } else {
            Err(format!(
                "{PG_BIN_DIR_ENV}={} holds no `postgres`/`initdb`",
                dir.display()
            ))
        };
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("postgres").is_file() && bin.join("initdb").is_file()).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b).ok_or_else(|| {
        "PostgreSQL not found in /usr/lib/postgresql/*/bin (set PG_BIN_DIR, or install Debian's postgresql)"
            .to_string()
    })
}

/// `psql` on PATH, in /usr/bin, or next to the server binaries.
pub fn find_psql(bin_dir: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), bin_dir.to_path_buf()])
        .map(|d| d.join("psql"))
        .find(|p| p.is_file())
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// `program` as the `postgres` user when root (see the module docs), else as is.
fn command(program: &Path, root: bool, death_signal: bool) -> Result<Command, String> {
    let mut cmd = if !root {
        Command::new(program)
    } else if let Some(setpriv) = ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
    {
        let mut c = Command::new(setpriv);
        c.arg(format!("--reuid={OS_USER}"))
            .arg(format!("--regid={OS_USER}"))
            .arg("--init-groups");
        if death_signal {
            c.arg("--pdeathsig=INT");
        }
        c.arg("--").arg(program);
        c
    } else if let Some(runuser) = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
    {
        let mut c = Command::new(runuser);
        c.args(["-u", OS_USER, "--"]).arg(program);
        c
    } else {
        return Err(format!(
            "running as root needs setpriv or runuser to run PostgreSQL as {OS_USER}"
        ));
    };
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("LC_ALL", "C").stdin(Stdio::null());
    Ok(cmd)
}

async fn chown(path: &Path) -> Result<(), String> {
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{OS_USER}:{OS_USER}"))
        .arg(path)
        .output()
        .await
        .map_err(|e| format!("chown: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "chown {OS_USER} {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Where clusters live: `/dev/shm` (RAM) when usable, else the temp dir.
fn scratch_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(probe) = tempfile::Builder::new()
            .prefix("devstack-probe-")
            .tempdir_in(shm)
        {
            let _ = probe.close();
            return shm.to_path_buf();
        }
    }
    std::env::temp_dir()
}

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:x}", fastrand::u8(..16)))
        .collect()
}

/// The template cluster for this server version and user, initialised on first use.
async fn template(bin: &Path, root: bool) -> Result<PathBuf, String> {
    let version = bin
        .parent()
        .and_then(|p| p.file_name())
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pg".into());
    let uid = if root { "root" } else { "user" };
    let base = scratch_dir().join(format!("devstack-pg-template-{version}-{uid}"));
    if base.join("data").join("PG_VERSION").is_file() {
        return Ok(base);
    }
    // Initialise beside it and rename: concurrent first starts do not see a half cluster.
    let staging = scratch_dir().join(format!(
        "devstack-pg-template-{version}-{uid}.{}-{}",
        std::process::id(),
        random_hex(6)
    ));
    std::fs::create_dir(&staging).map_err(|e| format!("creating {}: {e}", staging.display()))?;
    if root {
        chown(&staging).await?;
    }
    let out = command(&bin.join("initdb"), root, false)?
        .arg("-D")
        .arg(staging.join("data"))
        .args([
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .output()
        .await
        .map_err(|e| format!("running initdb: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(format!(
            "initdb failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if std::fs::rename(&staging, &base).is_err() {
        // Another start won the race; use its template.
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(base)
}

async fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let out = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .await
        .map_err(|e| format!("cp: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "copying {}: {}",
            from.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Postgres {
    /// Starts a server on a free loopback port and waits until the superuser can log in
    /// over TCP with its password.
    pub async fn start() -> Result<Postgres, String> {
        let bin = find_bin_dir()?;
        let psql = find_psql(&bin).ok_or("psql not found (install postgresql-client)")?;
        let root = running_as_root();
        let tpl = template(&bin, root).await?;
        let dir = tempfile::Builder::new()
            .prefix("devstack-pg-")
            .tempdir_in(scratch_dir())
            .map_err(|e| format!("creating the postgres data dir: {e}"))?;
        let data = dir.path().join("data");
        copy_dir(&tpl.join("data"), &data).await?;
        if root {
            chown(dir.path()).await?;
        }
        let password = format!("pg-{}", random_hex(24));
        let mut last = String::new();
        // A port can be taken between choosing and binding it; try a few.
        for _ in 0..3 {
            let port = crate::stack::free_port_run(0)?;
            let log_path = dir.path().join(format!("postgres-{port}.log"));
            let log = std::fs::File::create(&log_path)
                .map_err(|e| format!("creating the postgres log: {e}"))?;
            let log2 = log.try_clone().map_err(|e| e.to_string())?;
            let mut child = command(&bin.join("postgres"), root, true)?
                .arg("-D")
                .arg(&data)
                .arg("-p")
                .arg(port.to_string())
                .args(["-c", "listen_addresses=127.0.0.1"])
                .arg("-c")
                .arg(format!("unix_socket_directories={}", dir.path().display()))
                .args(["-c", "fsync=off", "-c", "max_connections=300"])
                .stdout(log)
                .stderr(log2)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("starting postgres: {e}"))?;
            match wait_ready(&mut child, &psql, root, dir.path(), port, &password).await {
                Ok(()) => {
                    return Ok(Postgres {
                        host: "127.0.0.1".into(),
                        port,
                        user: SUPERUSER.into(),
                        password,
                        database: SUPERUSER.into(),
                        bin_dir: bin,
                        child: Some(child),
                        dir: Some(dir),
                    })
                }
                Err(e) => {
                    stop_child(&mut child).await;
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    last = format!("{e}\n--- postgres log ---\n{log}");
                    if !log.contains("already in use") {
                        break;
                    }
                }
            }
        }
        Err(format!("postgres did not start: {last}"))
    }

    /// Stops the server (SIGINT: fast shutdown, releasing shared memory) and removes its
    /// data dir.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child).await;
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-INT", &pid.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = child.start_kill();
        }
    }
}

async fn stop_child(child: &mut Child) {
    // setpriv execs postgres, so the child pid is the postmaster's.
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

/// Waits for the socket, sets the superuser password over it, then checks a TCP login.
async fn wait_ready(
    child: &mut Child,
    psql: &Path,
    root: bool,
    socket_dir: &Path,
    port: u16,
    password: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let socket = socket_dir.join(format!(".s.PGSQL.{port}"));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("postgres exited early: {status}"));
        }
        if socket.exists() {
            let sql = format!("ALTER ROLE {SUPERUSER} WITH PASSWORD '{password}'");
            let out = command(psql, root, false)?
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql])
                .env("PGHOST", socket_dir)
                .env("PGPORT", port.to_string())
                .env("PGUSER", SUPERUSER)
                .env("PGDATABASE", SUPERUSER)
                .env("PGCONNECT_TIMEOUT", "5")
                .output()
                .await
                .map_err(|e| format!("running psql: {e}"))?;
            if out.status.success() {
                break;
            }
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            // Still starting up: retry; anything else is fatal.
            if !err.contains("starting up")
                && !err.contains("No such file")
                && !err.contains("Connection refused")
            {
                return Err(format!("setting the superuser password: {err}"));
            }
        }
        if Instant::now() > deadline {
            return Err("postgres did not accept connections within 30s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The exported credentials must work over TCP.
    let out = Command::new(psql)
        .args(["-X", "-q", "-t", "-A", "-c", "select 1"])
        .env_remove("PGSERVICE")
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", port.to_string())
        .env("PGUSER", SUPERUSER)
        .env("PGPASSWORD", password)
        .env("PGDATABASE", SUPERUSER)
        .env("PGSSLMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("running psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "TCP login with the superuser password failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
