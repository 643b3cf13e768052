//! The client side of the simulated dev agent: what turns a registered job into running
//! allocations. The scheduler ([`scheduler`]) places allocations and creates deployments
//! inside the state write that registers a job; the alloc runners ([`runner`]) then run the
//! tasks (`raw_exec` as real local processes, other drivers simulated), track deployment
//! health, and register the services in Consul ([`services`]); [`deploy`] moves deployments
//! to `successful` or `failed` (with auto-revert).

pub(crate) mod deploy;
pub(crate) mod runner;
pub(crate) mod scheduler;
pub(crate) mod services;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use super::Inner;

/// What a state write asks the runtime to do once the state lock is released.
#[derive(Debug, Default)]
pub(crate) struct Launch {
    /// Allocations placed: start their runners.
    pub start: Vec<String>,
    /// Allocations whose desired status became `stop`: kill their tasks.
    pub stop: Vec<String>,
    /// Deployments created: watch their progress deadline.
    pub deployments: Vec<String>,
}

/// Runtime resources of one simulator: the data dir, the alloc runners' stop switches and the
/// process groups of running `raw_exec` tasks (killed on shutdown).
pub(crate) struct Runtime {
    /// The agent's own HTTP address (for templates' `nomadVar`).
    pub(crate) http_addr: std::net::SocketAddr,
    root: PathBuf,
    dir: Mutex<Option<tempfile::TempDir>>,
    stops: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// (alloc ID, task) → process group ID of the running process.
    pids: Mutex<HashMap<(String, String), u32>>,
    /// Flips to true on shutdown: every runner and watcher ends.
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) http: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Runtime {
    /// A runtime whose data dir is a fresh directory under `parent` (or the system temp dir).
    pub(crate) fn new(
        parent: Option<&Path>,
        http_addr: std::net::SocketAddr,
    ) -> std::io::Result<Runtime> {
        let builder = {
            let mut b = tempfile::Builder::new();
            b.prefix("nomad-sim-");
            b
        };
        let dir = match parent {
            Some(p) => {
                std::fs::create_dir_all(p)?;
                builder.tempdir_in(p)?
            }
            None => builder.tempdir()?,
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let (shutdown, _) = watch::channel(false);
        Ok(Runtime {
            http_addr,
            root: dir.path().to_path_buf(),
            dir: Mutex::new(Some(dir)),
            stops: Mutex::new(HashMap::new()),
            pids: Mutex::new(HashMap::new()),
            shutdown,
            http,
        })
    }

    /// The directory of an allocation (`<data dir>/alloc/<id>`).
    pub(crate) fn alloc_dir(&self, alloc_id: &str) -> PathBuf {
        self.root.join("alloc").join(alloc_id)
    }

    pub(crate) fn register_pid(&self, alloc_id: &str, task: &str, pid: u32) {
        lock(&self.pids).insert((alloc_id.to_string(), task.to_string()), pid);
    }

    pub(crate) fn forget_pid(&self, alloc_id: &str, task: &str) {
        lock(&self.pids).remove(&(alloc_id.to_string(), task.to_string()));
    }

    fn stop_receiver(&self, alloc_id: &str) -> watch::Receiver<bool> {
        let mut stops = lock(&self.stops);
        stops
            .entry(alloc_id.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .subscribe()
    }

    fn signal_stop(&self, alloc_id: &str) {
        if let Some(tx) = lock(&self.stops).get(alloc_id) {
            tx.send_replace(true);
        }
    }

    pub(crate) fn runner_done(&self, alloc_id: &str) {
        lock(&self.stops).remove(alloc_id);
    }

    /// Kills every process still running and removes the data dir. Synchronous, so it also
    /// works from `Drop`.
    pub(crate) fn kill_all(&self) {
        self.shutdown.send_replace(true);
        let pids: Vec<u32> = lock(&self.pids).drain().map(|(_, p)| p).collect();
        if !pids.is_empty() {
            signal_groups(&pids, "KILL");
        }
        if let Some(dir) = lock(&self.dir).take() {
            let _ = dir.close();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Sends a signal to process groups through kill(1): std has no `kill(2)` and the crate does
/// not link libc directly.
pub(crate) fn signal_groups(pgids: &[u32], sig: &str) {
    let mut cmd = std::process::Command::new("kill");
    cmd.arg(format!("-{sig}")).arg("--");
    for p in pgids {
        cmd.arg(format!("-{p}"));
    }
    let _ = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Carries out what a write asked for: starts alloc runners, stops allocations, watches
/// deployments.
pub(crate) fn apply(inner: &Arc<Inner>, launch: Launch) {
    if *inner.runtime.shutdown.borrow() {
        return;
    }
    for id in launch.stop {
        inner.runtime.signal_stop(&id);
    }
    for id in launch.start {
        let stop = inner.runtime.stop_receiver(&id);
        tokio::spawn(runner::run_alloc(inner.clone(), id, stop));
    }
    for id in launch.deployments {
        tokio::spawn(deploy::watch(inner.clone(), id));
    }
}

/// Go's `time.Duration.String()` (`30m0s`, `1.5s`, `250ms`).
pub(crate) fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", trim_frac(u, 1_000));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", trim_frac(u, 1_000_000));
    }
    let h = u / 3_600_000_000_000;
    let rem = u % 3_600_000_000_000;
    let m = rem / 60_000_000_000;
    let s_ns = rem % 60_000_000_000;
    let secs = trim_frac(s_ns, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

fn trim_frac(v: u64, unit: u64) -> String {
    let whole = v / unit;
    let frac = v % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::go_duration;

    #[test]
    fn formats_go_durations() {
        assert_eq!(go_duration(1_800_000_000_000), "30m0s");
        assert_eq!(go_duration(15_000_000_000), "15s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(250_000_000), "250ms");
        assert_eq!(go_duration(3_900_000_000_000), "1h5m0s");
        assert_eq!(go_duration(0), "0s");
    }
}
