//! A PostgreSQL server for the tests: Debian's `postgresql` packages
//! (`/usr/lib/postgresql/<version>/bin`, installed by `scripts/setup-tools.sh`,
//! or `$PG_BIN_DIR`), on a free loopback port.
//!
//! PostgreSQL refuses to run as root, so `initdb` and `postgres` run as the
//! `postgres` OS user through `setpriv`. Everything lives in a temp dir owned
//! by that user: the data dir, the unix socket and the password file. TCP
//! logins use scram-sha-256 with a random superuser password. The server gets
//! SIGINT (fast shutdown, which also releases its shared memory) when the test
//! process exits; data dirs of earlier, dead test processes are removed at start.
//! Logging in is done with the `psql` client (`PGCONNECT_TIMEOUT` bounded).

use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::{random_hex, tools};

/// Env var naming the directory with `initdb` and `postgres`.
pub const PG_BIN_DIR_ENV: &str = "PG_BIN_DIR";
/// The OS user the server runs as.
pub const OS_USER: &str = "postgres";
/// The database superuser.
pub const SUPERUSER: &str = "postgres";

const DIR_PREFIX: &str = "stack-acc-pg-";
const LOG_TAIL_BYTES: usize = 256 * 1024;
const SETUP_HINT: &str = "run `scripts/setup-tools.sh` (it installs Debian's postgresql)";

/// A running PostgreSQL server owned by the test process.
pub struct Postgres {
    /// Always `127.0.0.1`.
    pub host: String,
    pub port: u16,
    /// Superuser password (scram-sha-256 over TCP).
    pub password: String,
    dir: PathBuf,
    /// Remove `dir` on drop (off while a start attempt may be retried on another port).
    owns_dir: bool,
    child: Mutex<Option<Child>>,
    log: Arc<Mutex<String>>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The result of one `psql` run.
#[derive(Debug, Clone)]
pub struct Psql {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The newest `/usr/lib/postgresql/<version>/bin`, or `$PG_BIN_DIR`. Panics when missing.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(PG_BIN_DIR_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("postgres").is_file(),
            "{PG_BIN_DIR_ENV}={} holds no `postgres` binary",
            dir.display()
        );
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!("PostgreSQL not found in /usr/lib/postgresql/*/bin; {SETUP_HINT}"),
    }
}

/// The `psql` client on PATH (or next to the server binaries). Panics when missing.
pub fn psql_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), bin_dir()])
        .map(|d| d.join("psql"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("psql not found; {SETUP_HINT}"))
}

fn setpriv() -> PathBuf {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("setpriv (util-linux) not found: needed to run PostgreSQL as {OS_USER}")
        })
}

/// `setpriv` switching to the `postgres` user, then running `program`. The
/// death signal is set by the same setpriv *after* the user switch: the kernel
/// clears it on a credential change, so an outer setpriv's would be lost.
fn as_postgres(program: &Path, death_signal: Option<&str>) -> Command {
    let mut cmd = Command::new(setpriv());
    cmd.arg(format!("--reuid={OS_USER}"))
        .arg(format!("--regid={OS_USER}"))
        .arg("--init-groups");
    if let Some(sig) = death_signal {
        cmd.arg(format!("--pdeathsig={sig}"));
    }
    cmd.arg("--").arg(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("LC_ALL", "C").stdin(Stdio::null());
    cmd
}

fn chown_to_postgres(path: &Path) -> io::Result<()> {
    let status = Command::new("chown")
        .arg(format!("{OS_USER}:{OS_USER}"))
        .arg(path)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "chown {OS_USER} {} failed: {status}",
            path.display()
        )))
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Removes data dirs left by test processes that no longer run.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(DIR_PREFIX) else {
            continue;
        };
        let owner_alive = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !owner_alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Postgres {
    /// One server per test binary, started on first use and stopped when the
    /// test process exits. Panics with the server log if it does not start.
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<Postgres> = OnceLock::new();
        SHARED.get_or_init(|| Postgres::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// A new server (stopped on drop; `shared` ones live until the process exits).
    pub fn start() -> Result<Postgres, String> {
        remove_stale_dirs();
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            random_hex(8)
        ));
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        chown_to_postgres(&dir).map_err(|e| e.to_string())?;
        let password = format!("pg-{}", random_hex(24));
        let pwfile = dir.join("superuser.pw");
        std::fs::write(&pwfile, format!("{password}\n"))
            .and_then(|()| chown_to_postgres(&pwfile))
            .map_err(|e| format!("cannot write {}: {e}", pwfile.display()))?;

        let out = as_postgres(&bin.join("initdb"), None)
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["--no-sync", "-E", "UTF8", "--locale=C"])
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        let _ = std::fs::remove_file(&pwfile);
        if !out.status.success() {
            return Err(format!(
                "initdb failed ({}):\n{}",
                out.status,
                output_text(&out)
            ));
        }

        let mut last = String::new();
        for _attempt in 0..5 {
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            let mut pg = Postgres {
                host: "127.0.0.1".into(),
                port,
                password: password.clone(),
                dir: dir.clone(),
                owns_dir: false,
                child: Mutex::new(None),
                log: Arc::new(Mutex::new(String::new())),
            };
            match pg.run(&bin) {
                Ok(()) => {
                    pg.owns_dir = true;
                    return Ok(pg);
                }
                Err(e) => {
                    let log = pg.log_tail();
                    pg.stop();
                    last = format!("{e}\n--- log ---\n{log}");
                    if !log.contains("already in use") {
                        break;
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(format!("postgres did not start: {last}"))
    }

    fn run(&self, bin: &Path) -> Result<(), String> {
        let mut cmd = as_postgres(&bin.join("postgres"), Some("INT"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .args(["-c", "fsync=off", "-c", "max_connections=300"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = tools::spawn_bound_to_process(cmd).map_err(|e| e.to_string())?;
        if let Some(out) = child.stdout.take() {
            pump(out, Arc::clone(&self.log));
        }
        if let Some(err) = child.stderr.take() {
            pump(err, Arc::clone(&self.log));
        }
        *lock(&self.child) = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = lock(&self.child).as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("postgres exited early: {status}"));
                }
            }
            let probe = self.psql(SUPERUSER, &self.password, "select 1");
            if probe.success {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready after 30s: {}", probe.stderr));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (SIGINT, fast shutdown) and waits for it.
    pub fn stop(&self) {
        if let Some(mut child) = lock(&self.child).take() {
            // setpriv execs postgres, so the child pid is the postmaster's.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last ~256 KiB of the server log.
    pub fn log_tail(&self) -> String {
        lock(&self.log).clone()
    }

    /// A libpq URL, e.g. for `psql "<url>"`.
    pub fn url(&self, user: &str, password: &str) -> String {
        format!(
            "postgresql://{user}:{password}@{}:{}/postgres?sslmode=disable",
            self.host, self.port
        )
    }

    /// The `connection_url` for a Vault database connection (templated credentials).
    pub fn vault_connection_url(&self) -> String {
        format!(
            "postgresql://{{{{username}}}}:{{{{password}}}}@{}:{}/postgres?sslmode=disable",
            self.host, self.port
        )
    }

    /// Runs one SQL command with `psql` over TCP as `user` (password from the environment,
    /// 5 s connect timeout, no psqlrc, unaligned tuples-only output).
    pub fn psql(&self, user: &str, password: &str, sql: &str) -> Psql {
        let mut cmd = Command::new(psql_bin());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PG") {
                cmd.env_remove(&k);
            }
        }
        let out = cmd
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGHOST", &self.host)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", user)
            .env("PGPASSWORD", password)
            .env("PGDATABASE", "postgres")
            .env("PGSSLMODE", "disable")
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) => Psql {
                success: out.status.success(),
                stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            },
            Err(e) => Psql {
                success: false,
                stdout: String::new(),
                stderr: format!("cannot run psql: {e}"),
            },
        }
    }

    /// Runs SQL as the superuser; panics (with the error) when it fails.
    pub fn exec(&self, sql: &str) -> String {
        let out = self.psql(SUPERUSER, &self.password, sql);
        assert!(
            out.success,
            "psql as {SUPERUSER} failed: {sql}\n{}",
            out.stderr
        );
        out.stdout
    }

    /// `true` if `user`/`password` can log in over TCP and run `select 1`.
    pub fn can_login(&self, user: &str, password: &str) -> bool {
        self.psql(user, password, "select 1").success
    }

    /// Creates a login role with CREATEROLE (what Vault needs to create and drop users),
    /// named `<prefix>_<hex>`, with a random password. Returns `(name, password)`.
    pub fn create_admin(&self, prefix: &str) -> (String, String) {
        let name = format!("{prefix}_{}", random_hex(8));
        let password = format!("adm-{}", random_hex(20));
        self.exec(&format!(
            "CREATE ROLE \"{name}\" WITH LOGIN CREATEROLE PASSWORD '{password}'"
        ));
        (name, password)
    }

    /// `true` if a role of that name exists.
    pub fn role_exists(&self, name: &str) -> bool {
        let sql = format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{}'",
            name.replace('\'', "''")
        );
        self.exec(&sql) == "1"
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Drains a child pipe into the shared log tail (so the child never blocks).
fn pump(pipe: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    let _ = std::thread::Builder::new()
        .name("postgres-log".into())
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
