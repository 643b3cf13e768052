//! Alloc and task runners: the client half of the dev agent. An alloc runner builds the alloc
//! dir, starts a task runner per task, registers the services, tracks deployment health and
//! stops everything when the allocation's desired status becomes `stop`. A task runner runs
//! the workload hooks (identity, Vault, templates), then the task: `raw_exec` as a real local
//! process (restart policy honoured), other drivers simulated as running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use super::super::api::{now_ns, rfc3339};
use super::super::state::State;
use super::super::workload::{self, TaskClaims, TaskEnvironment};
use super::super::Inner;
use super::scheduler::{group_update, refresh_status, task_event};
use super::{deploy, services, Launch};

/// Why a task is being killed.
#[derive(Debug, Clone, PartialEq)]
enum Kill {
    /// The allocation was stopped.
    Stop,
    /// A sibling task failed.
    Sibling(String),
    /// The simulator is shutting down: kill at once, record nothing.
    Shutdown,
}

/// `${NAME}` / `${env["NAME"]}` interpolation from the task environment (unknown
/// references stay as they are, as Nomad leaves unresolved node attributes).
pub(crate) fn interpolate(s: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = after[..end].trim();
        let key = key
            .strip_prefix("env[\"")
            .and_then(|k| k.strip_suffix("\"]"))
            .or_else(|| key.strip_prefix("env."))
            .unwrap_or(key);
        match env.get(key) {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[start..start + 3 + end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `helper.CleanEnvVar`: characters not valid in a variable name become `_`.
fn clean_env(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Applies a change to an allocation and recomputes its client status; the deployment it
/// belongs to is reconciled and the job status refreshed in the same write.
fn update_alloc(inner: &Arc<Inner>, alloc_id: &str, f: impl FnOnce(&mut Value, i64)) {
    let launch = inner.write(|st| -> Launch {
        let idx = st.apply();
        let now = now_ns();
        let Some(a) = st.allocs.get_mut(alloc_id) else {
            return Launch::default();
        };
        f(a, now);
        if a["DeploymentStatus"]["ModifyIndex"] == 0 {
            a["DeploymentStatus"]["ModifyIndex"] = json!(idx);
        }
        let (status, desc) = client_status(a);
        a["ClientStatus"] = json!(status);
        a["ClientDescription"] = json!(desc);
        a["ModifyIndex"] = json!(idx);
        a["ModifyTime"] = json!(now);
        let dep = a["DeploymentID"].as_str().unwrap_or("").to_string();
        let (ns, job) = (
            a["Namespace"].as_str().unwrap_or("").to_string(),
            a["JobID"].as_str().unwrap_or("").to_string(),
        );
        st.allocs_index = idx;
        let mut launch = Launch::default();
        if !dep.is_empty() {
            let spec = deploy::reconcile(st, &dep, idx, now);
            launch = deploy::revert(inner, st, spec);
        }
        refresh_status(st, &ns, &job);
        launch
    });
    super::apply(inner, launch);
}

/// `getClientStatus`: failed, running, pending, complete, by the task states.
fn client_status(a: &Value) -> (&'static str, &'static str) {
    let (mut pending, mut running, mut dead, mut failed) = (false, false, false, false);
    for s in a["TaskStates"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, s)| s)
    {
        match s["State"].as_str() {
            Some("running") => running = true,
            Some("pending") => pending = true,
            Some("dead") if s["Failed"] == true => failed = true,
            Some("dead") => dead = true,
            _ => {}
        }
    }
    if failed {
        ("failed", "Failed tasks")
    } else if running {
        ("running", "Tasks are running")
    } else if pending {
        ("pending", "No tasks have started")
    } else if dead {
        ("complete", "All tasks have completed")
    } else {
        ("pending", "No tasks have started")
    }
}

/// Applies a change to one task's state in the allocation.
fn update_task(inner: &Arc<Inner>, alloc_id: &str, task: &str, f: impl FnOnce(&mut Value, i64)) {
    update_alloc(inner, alloc_id, |a, now| {
        if let Some(ts) = a["TaskStates"].get_mut(task) {
            f(ts, now);
            // Nomad keeps the last 10 events of a task.
            if let Some(ev) = ts["Events"].as_array_mut() {
                if ev.len() > 10 {
                    let cut = ev.len() - 10;
                    ev.drain(..cut);
                }
            }
        }
    });
}

fn push_event(ts: &mut Value, ev: Value) {
    if let Some(list) = ts["Events"].as_array_mut() {
        list.push(ev);
    } else {
        ts["Events"] = json!([ev]);
    }
}

/// What an alloc runner knows about its allocation.
struct AllocInfo {
    alloc: Value,
    job: Value,
    group: Value,
}

fn load(st: &State, alloc_id: &str) -> Option<AllocInfo> {
    let mut alloc = st.allocs.get(alloc_id)?.clone();
    let job = alloc.as_object_mut()?.remove("Job")?;
    let group = job["TaskGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["Name"] == alloc["TaskGroup"])
        .cloned()?;
    Some(AllocInfo { alloc, job, group })
}

/// The NOMAD_* environment of a task.
fn base_env(
    inner: &Inner,
    info: &AllocInfo,
    task: &str,
    alloc_dir: &Path,
) -> BTreeMap<String, String> {
    let a = &info.alloc;
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let alloc_id = s(&a["ID"]);
    let name = s(&a["Name"]);
    let index = name
        .rsplit_once('[')
        .and_then(|(_, r)| r.strip_suffix(']'))
        .unwrap_or("0")
        .to_string();
    let task_dir = alloc_dir.join(task);
    let p = |p: PathBuf| p.to_string_lossy().into_owned();
    let mut env = BTreeMap::new();
    env.insert("NOMAD_ALLOC_DIR".into(), p(alloc_dir.join("alloc")));
    env.insert("NOMAD_TASK_DIR".into(), p(task_dir.join("local")));
    env.insert("NOMAD_SECRETS_DIR".into(), p(task_dir.join("secrets")));
    env.insert("NOMAD_ALLOC_ID".into(), alloc_id.clone());
    env.insert(
        "NOMAD_SHORT_ALLOC_ID".into(),
        alloc_id.chars().take(8).collect(),
    );
    env.insert("NOMAD_ALLOC_NAME".into(), name);
    env.insert("NOMAD_ALLOC_INDEX".into(), index);
    env.insert("NOMAD_JOB_NAME".into(), s(&info.job["Name"]));
    env.insert("NOMAD_JOB_ID".into(), s(&info.job["ID"]));
    env.insert("NOMAD_JOB_PARENT_ID".into(), s(&info.job["ParentID"]));
    env.insert("NOMAD_GROUP_NAME".into(), s(&info.group["Name"]));
    env.insert("NOMAD_TASK_NAME".into(), task.to_string());
    env.insert("NOMAD_NAMESPACE".into(), s(&a["Namespace"]));
    env.insert("NOMAD_REGION".into(), inner.opts.region.clone());
    env.insert("NOMAD_DC".into(), inner.opts.datacenter.clone());
    let res = &a["AllocatedResources"]["Tasks"][task];
    env.insert(
        "NOMAD_CPU_LIMIT".into(),
        res["Cpu"]["CpuShares"].as_i64().unwrap_or(100).to_string(),
    );
    env.insert(
        "NOMAD_MEMORY_LIMIT".into(),
        res["Memory"]["MemoryMB"]
            .as_i64()
            .unwrap_or(300)
            .to_string(),
    );
    for port in a["AllocatedResources"]["Shared"]["Ports"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let label = clean_env(port["Label"].as_str().unwrap_or(""));
        let value = port["Value"].as_u64().unwrap_or(0);
        let to = port["To"].as_i64().unwrap_or(0);
        let ip = port["HostIP"].as_str().unwrap_or("127.0.0.1");
        let mapped = if to > 0 { to as u64 } else { value };
        env.insert(format!("NOMAD_PORT_{label}"), mapped.to_string());
        env.insert(format!("NOMAD_IP_{label}"), ip.to_string());
        env.insert(format!("NOMAD_ADDR_{label}"), format!("{ip}:{value}"));
        env.insert(format!("NOMAD_HOST_PORT_{label}"), value.to_string());
        env.insert(format!("NOMAD_HOST_IP_{label}"), ip.to_string());
        env.insert(format!("NOMAD_HOST_ADDR_{label}"), format!("{ip}:{value}"));
        if to > 0 {
            env.insert(format!("NOMAD_ALLOC_PORT_{label}"), to.to_string());
        }
    }
    env
}

fn make_dirs(alloc_dir: &Path, tasks: &[String]) -> std::io::Result<()> {
    for d in ["alloc/logs", "alloc/data", "alloc/tmp"] {
        std::fs::create_dir_all(alloc_dir.join(d))?;
    }
    for t in tasks {
        for d in ["local", "secrets", "tmp"] {
            std::fs::create_dir_all(alloc_dir.join(t).join(d))?;
        }
    }
    Ok(())
}

struct TaskHandle {
    name: String,
    kill: watch::Sender<Option<Kill>>,
    /// When the task last started, while it runs.
    running: watch::Receiver<Option<Instant>>,
    join: tokio::task::JoinHandle<()>,
}

/// A task's lifecycle role (`lifecycle { hook, sidecar }`).
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// No lifecycle block.
    Main,
    /// `prestart`/`poststart` with `sidecar = true`: runs alongside the main tasks.
    Sidecar,
    /// `prestart` without sidecar: must complete before the main tasks start.
    Init,
    /// `poststart` without sidecar: runs once after the main tasks started.
    PostStart,
    /// `poststop`: runs once the main tasks are dead.
    PostStop,
}

fn role(t: &Value) -> Role {
    let sidecar = t["Lifecycle"]["Sidecar"] == true;
    match t["Lifecycle"]["Hook"].as_str().unwrap_or("") {
        "prestart" | "poststart" if sidecar => Role::Sidecar,
        "prestart" => Role::Init,
        "poststart" => Role::PostStart,
        "poststop" => Role::PostStop,
        _ => Role::Main,
    }
}

/// What every task runner of an allocation shares.
struct AllocCtx<'a> {
    inner: &'a Arc<Inner>,
    info: &'a AllocInfo,
    alloc_id: &'a str,
    alloc_dir: &'a Path,
    dir_err: Option<String>,
}

fn spawn_task(a: &AllocCtx<'_>, t: &Value) -> TaskHandle {
    let name = t["Name"].as_str().unwrap_or("").to_string();
    let (kill_tx, kill_rx) = watch::channel(None);
    let (run_tx, run_rx) = watch::channel(None);
    let ctx = TaskCtx {
        inner: a.inner.clone(),
        alloc_id: a.alloc_id.to_string(),
        task: t.clone(),
        name: name.clone(),
        batch: a.info.job["Type"] == "batch" || a.info.job["Type"] == "sysbatch",
        ephemeral: matches!(role(t), Role::Init | Role::PostStart | Role::PostStop),
        env: base_env(a.inner, a.info, &name, a.alloc_dir),
        alloc_dir: a.alloc_dir.to_path_buf(),
        restart: a.info.group["RestartPolicy"].clone(),
        job: a.info.job.clone(),
        group_name: a.info.group["Name"].as_str().unwrap_or("").to_string(),
        setup_error: a.dir_err.clone(),
        kill: kill_rx,
        running: run_tx,
    };
    TaskHandle {
        name,
        kill: kill_tx,
        running: run_rx,
        join: tokio::spawn(run_task(ctx)),
    }
}

/// Tasks that never ran end `dead` when their allocation terminates.
fn finish_unstarted(inner: &Arc<Inner>, alloc_id: &str, names: &[String]) {
    if names.is_empty() {
        return;
    }
    update_alloc(inner, alloc_id, |a, now| {
        for n in names {
            if let Some(ts) = a["TaskStates"].get_mut(n.as_str()) {
                if ts["State"] == "pending" {
                    ts["State"] = json!("dead");
                    ts["FinishedAt"] = json!(rfc3339(now));
                }
            }
        }
    });
}

async fn kill_and_wait(handles: &mut Vec<TaskHandle>, why: Kill) {
    for h in handles.iter() {
        h.kill.send_replace(Some(why.clone()));
    }
    for h in handles.drain(..) {
        let _ = h.join.await;
    }
}

/// Runs an allocation until it is terminal, or stopped: prestart tasks first (init tasks
/// to completion), then the main and poststart tasks, and the poststop tasks at the end.
pub(crate) async fn run_alloc(
    inner: Arc<Inner>,
    alloc_id: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut shutdown = inner.runtime.shutdown.subscribe();
    let Some(info) = load(&inner.state(), &alloc_id) else {
        inner.runtime.runner_done(&alloc_id);
        return;
    };
    let alloc_dir = inner.runtime.alloc_dir(&alloc_id);
    let tasks: Vec<Value> = info.group["Tasks"].as_array().cloned().unwrap_or_default();
    let name_of = |t: &Value| t["Name"].as_str().unwrap_or("").to_string();
    let names: Vec<String> = tasks.iter().map(name_of).collect();
    let with_role =
        |rs: &[Role]| -> Vec<&Value> { tasks.iter().filter(|t| rs.contains(&role(t))).collect() };
    let names_with =
        |rs: &[Role]| -> Vec<String> { with_role(rs).into_iter().map(name_of).collect() };
    let main_names = names_with(&[Role::Main]);
    let init_names = names_with(&[Role::Init]);
    // What must be running for the allocation to count as up (and healthy).
    let long_lived = names_with(&[Role::Main, Role::Sidecar]);
    let actx = AllocCtx {
        inner: &inner,
        info: &info,
        alloc_id: &alloc_id,
        alloc_dir: &alloc_dir,
        dir_err: make_dirs(&alloc_dir, &names).err().map(|e| e.to_string()),
    };
    let started_at = Instant::now();
    let mut handles: Vec<TaskHandle> = with_role(&[Role::Init, Role::Sidecar])
        .into_iter()
        .map(|t| spawn_task(&actx, t))
        .collect();
    let mut main_started = false;
    let update = group_update(&info.job, &info.group);
    let setting = |k: &str| update.as_ref().map(|u| u[k].clone()).unwrap_or(Value::Null);
    let min_healthy = nanos(&setting("MinHealthyTime"), 10_000_000_000);
    let healthy_deadline = nanos(&setting("HealthyDeadline"), 300_000_000_000);
    let deployment = !info.alloc["DeploymentID"].as_str().unwrap_or("").is_empty();
    let ports: Vec<Value> = info.alloc["AllocatedResources"]["Shared"]["Ports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let svc_env = names
        .first()
        .map(|n| base_env(&inner, &info, n, &alloc_dir))
        .unwrap_or_default();
    let regs: Vec<(String, Value)> = services::alloc_services(&info.group)
        .iter()
        .filter(|s| s.def["Provider"].as_str().unwrap_or("consul") != "nomad")
        .map(|s| services::registration(&alloc_id, s, &ports, &svc_env))
        .collect();
    let mut registered: Vec<String> = Vec::new();
    let mut services_done = false;
    let mut health_done = !deployment;
    let mut sibling_killed = false;
    let mut run_poststop = false;
    let mut check_seen: BTreeMap<String, bool> = BTreeMap::new();
    let mut last_probe: Option<Instant> = None;
    loop {
        if *shutdown.borrow() {
            for h in &handles {
                h.kill.send_replace(Some(Kill::Shutdown));
            }
            break;
        }
        if *stop.borrow() {
            kill_and_wait(&mut handles, Kill::Stop).await;
            run_poststop = main_started;
            break;
        }
        let states = inner
            .state()
            .allocs
            .get(&alloc_id)
            .map(|a| a["TaskStates"].clone())
            .unwrap_or(Value::Null);
        let state_of = |n: &str| states[n]["State"].as_str().unwrap_or("").to_string();
        let failed: Vec<&String> = names
            .iter()
            .filter(|n| states[n.as_str()]["Failed"] == true)
            .collect();
        if let Some(first) = failed.first() {
            if !sibling_killed {
                sibling_killed = true;
                for h in handles.iter().filter(|h| &&h.name != first) {
                    h.kill.send_replace(Some(Kill::Sibling((*first).clone())));
                }
            }
        }
        if !main_started && failed.is_empty() && init_names.iter().all(|n| state_of(n) == "dead") {
            main_started = true;
            handles.extend(
                with_role(&[Role::Main, Role::PostStart])
                    .into_iter()
                    .map(|t| spawn_task(&actx, t)),
            );
            continue;
        }
        let all_running = main_started && long_lived.iter().all(|n| state_of(n) == "running");
        if all_running && !services_done {
            services_done = true;
            if inner.opts.consul_addr.is_some() && !regs.is_empty() {
                let (ok, _errors) = services::register(&inner, &regs).await;
                registered = ok;
            }
        }
        if !registered.is_empty()
            && last_probe.is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            last_probe = Some(Instant::now());
            sync_check_status(&inner, &regs, &registered, &mut check_seen).await;
        }
        if !health_done {
            let healthy = if !failed.is_empty() || started_at.elapsed() > healthy_deadline {
                Some(false)
            } else if all_running {
                let since = handles.iter().filter_map(|h| *h.running.borrow()).max();
                let long_enough = since.is_some_and(|s| s.elapsed() >= min_healthy);
                let use_checks = update
                    .as_ref()
                    .is_none_or(|u| u["HealthCheck"] != "task_states");
                if long_enough && (!use_checks || checks_pass(&inner, &regs).await) {
                    Some(true)
                } else {
                    None
                }
            } else {
                None
            };
            if let Some(h) = healthy {
                health_done = true;
                update_alloc(&inner, &alloc_id, |a, now| {
                    a["DeploymentStatus"] = json!({
                        "Healthy": h,
                        "Timestamp": rfc3339(now),
                        "Canary": false,
                        "ModifyIndex": 0,
                    });
                });
            }
        }
        // The main tasks are done (or an init task failed): the rest is stopped.
        let main_done = main_started && main_names.iter().all(|n| state_of(n) == "dead");
        let init_failed = !main_started && !failed.is_empty();
        if main_done || init_failed || (names.is_empty()) {
            kill_and_wait(&mut handles, Kill::Stop).await;
            run_poststop = main_started;
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.changed() => {}
            _ = shutdown.changed() => {}
        }
    }
    if !registered.is_empty() && !*shutdown.borrow() {
        services::deregister(&inner, &registered).await;
    }
    if run_poststop && !*shutdown.borrow() {
        let mut post: Vec<TaskHandle> = with_role(&[Role::PostStop])
            .into_iter()
            .map(|t| spawn_task(&actx, t))
            .collect();
        for h in post.drain(..) {
            let _ = h.join.await;
        }
    }
    if !*shutdown.borrow() {
        let st = inner.state();
        let pending: Vec<String> = st
            .allocs
            .get(&alloc_id)
            .map(|a| {
                names
                    .iter()
                    .filter(|n| a["TaskStates"][n.as_str()]["State"] == "pending")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        drop(st);
        finish_unstarted(&inner, &alloc_id, &pending);
    }
    inner.runtime.runner_done(&alloc_id);
}

fn nanos(v: &Value, default: u64) -> Duration {
    Duration::from_nanos(v.as_u64().filter(|n| *n > 0).unwrap_or(default))
}

/// With `health_check = "checks"`: every HTTP/TCP check of the services answers (the
/// simulator probes them itself, as the Consul simulator does not run checks).
async fn checks_pass(inner: &Inner, regs: &[(String, Value)]) -> bool {
    for (_, reg) in regs {
        for c in reg["Checks"].as_array().into_iter().flatten() {
            if probe(inner, c).await == Some(false) {
                return false;
            }
        }
    }
    true
}

/// Runs an HTTP or TCP check once (`None` for the kinds the simulator does not run).
async fn probe(inner: &Inner, c: &Value) -> Option<bool> {
    if let Some(url) = c["HTTP"].as_str() {
        return Some(
            inner
                .runtime
                .http
                .get(url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
        );
    }
    let addr = c["TCP"].as_str()?;
    Some(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
            .await
            .is_ok_and(|r| r.is_ok()),
    )
}

/// Consul runs the HTTP/TCP checks of the services Nomad registers; the Consul simulator does
/// not, so the runner probes them and re-registers a service when one of its checks changes
/// status. `seen` keeps the last status of each check.
async fn sync_check_status(
    inner: &Inner,
    regs: &[(String, Value)],
    registered: &[String],
    seen: &mut BTreeMap<String, bool>,
) {
    let mut changed_regs = Vec::new();
    for (id, reg) in regs.iter().filter(|(id, _)| registered.contains(id)) {
        let mut reg = reg.clone();
        let mut changed = false;
        let n = reg["Checks"].as_array().map_or(0, Vec::len);
        for i in 0..n {
            let c = reg["Checks"][i].clone();
            let Some(ok) = probe(inner, &c).await else {
                continue;
            };
            let cid = c["CheckID"].as_str().unwrap_or("").to_string();
            if seen.get(&cid) != Some(&ok) {
                changed = true;
                seen.insert(cid, ok);
            }
            reg["Checks"][i]["Status"] = json!(if ok { "passing" } else { "critical" });
        }
        if changed {
            changed_regs.push((id.clone(), reg));
        }
    }
    if !changed_regs.is_empty() {
        let _ = services::register(inner, &changed_regs).await;
    }
}

struct TaskCtx {
    inner: Arc<Inner>,
    alloc_id: String,
    task: Value,
    name: String,
    batch: bool,
    /// A lifecycle task that runs once: a successful exit ends it.
    ephemeral: bool,
    env: BTreeMap<String, String>,
    alloc_dir: PathBuf,
    restart: Value,
    job: Value,
    group_name: String,
    setup_error: Option<String>,
    kill: watch::Receiver<Option<Kill>>,
    running: watch::Sender<Option<Instant>>,
}

impl TaskCtx {
    fn update(&self, f: impl FnOnce(&mut Value, i64)) {
        update_task(&self.inner, &self.alloc_id, &self.name, f);
    }

    fn event(&self, ev: Value) {
        self.update(|ts, _| push_event(ts, ev));
    }

    /// The task ends dead (failed or not) with a last event.
    fn finish(&self, failed: bool, ev: Option<Value>) {
        self.running.send_replace(None);
        self.update(|ts, now| {
            if let Some(ev) = ev {
                push_event(ts, ev);
            }
            ts["State"] = json!("dead");
            ts["Failed"] = json!(failed);
            ts["FinishedAt"] = json!(rfc3339(now));
        });
    }

    fn kill_reason(&self) -> Option<Kill> {
        self.kill.borrow().clone()
    }
}

/// The restart policy (`RestartPolicy`, with the job type's defaults).
struct Policy {
    attempts: u64,
    interval: i64,
    delay: i64,
    mode: String,
}

fn policy(v: &Value, batch: bool) -> Policy {
    let (a, i, d) = if batch {
        (3, 86_400_000_000_000i64, 15_000_000_000i64)
    } else {
        (2, 1_800_000_000_000, 15_000_000_000)
    };
    Policy {
        attempts: v["Attempts"].as_u64().unwrap_or(a),
        interval: v["Interval"].as_i64().filter(|n| *n > 0).unwrap_or(i),
        delay: v["Delay"].as_i64().unwrap_or(d),
        mode: v["Mode"]
            .as_str()
            .filter(|m| !m.is_empty())
            .unwrap_or("fail")
            .to_string(),
    }
}

async fn run_task(mut ctx: TaskCtx) {
    let now = now_ns();
    let task_dir = ctx.alloc_dir.join(&ctx.name);
    ctx.event(task_event(
        "Task Setup",
        now,
        "Building Task Directory",
        "Building Task Directory",
        json!({"message": "Building Task Directory"}),
    ));
    if let Some(e) = ctx.setup_error.clone() {
        let mut ev = task_event(
            "Setup Failure",
            now_ns(),
            "",
            &format!("failed to setup alloc: {e}"),
            json!({"setup_error": e, "fails_task": "true"}),
        );
        ev["SetupError"] = json!(e);
        ev["FailsTask"] = json!(true);
        ctx.finish(true, Some(ev));
        return;
    }
    // The workload hooks: identities, Vault token, templates.
    let mut env = ctx.env.clone();
    for (k, v) in ctx.task["Env"].as_object().into_iter().flatten() {
        if let Some(v) = v.as_str() {
            let v = interpolate(v, &ctx.env);
            env.insert(k.clone(), v);
        }
    }
    let opts = &ctx.inner.opts;
    let tenv = TaskEnvironment {
        vault_addr: opts.vault_addr.clone(),
        consul_addr: opts.consul_addr.clone(),
        consul_token: opts.consul_token.clone(),
        nomad_addr: Some(format!("http://{}", ctx.inner.runtime.http_addr)),
        http: ctx.inner.runtime.http.clone(),
        node_name: opts.node_name.clone(),
        region: opts.region.clone(),
        datacenter: opts.datacenter.clone(),
        task_env: env.clone(),
        ..TaskEnvironment::default()
    };
    let claims = TaskClaims {
        namespace: ctx.job["Namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string(),
        job_id: ctx.job["ID"].as_str().unwrap_or("").to_string(),
        group: ctx.group_name.clone(),
        task: ctx.name.clone(),
        alloc_id: ctx.alloc_id.clone(),
        region: opts.region.clone(),
        ..TaskClaims::default()
    };
    let prepared = tokio::select! {
        p = workload::prepare_task(&tenv, &ctx.inner.signer, &claims, &ctx.task, &task_dir) => p,
        _ = ctx.kill.changed() => {
            ctx.finish(false, None);
            return;
        }
    };
    match prepared {
        Ok(p) => {
            for (kind, display) in &p.events {
                ctx.event(task_event(kind, now_ns(), display, display, json!({})));
            }
            env.extend(p.env);
        }
        Err(e) => {
            let mut ev = task_event(
                &e.event_type,
                now_ns(),
                &e.display,
                &e.display,
                json!({"fails_task": "true"}),
            );
            ev["FailsTask"] = json!(true);
            if e.event_type == "Killing" {
                ev["KillReason"] = json!(e.display);
                ev["Details"]["kill_reason"] = json!(e.display);
            }
            ctx.finish(true, Some(ev));
            return;
        }
    }
    let pol = policy(&ctx.restart, ctx.batch);
    let mut count: u64 = 0;
    let mut window_start = Instant::now();
    loop {
        if let Some(k) = ctx.kill_reason() {
            killed_before_start(&ctx, k);
            return;
        }
        let outcome = if ctx.task["Driver"] == "raw_exec" {
            run_process(&mut ctx, &env, &task_dir).await
        } else {
            simulate(&mut ctx).await
        };
        let (exit_code, start_err) = match outcome {
            Outcome::Killed => return,
            Outcome::Exited(code) => (code, false),
            Outcome::StartFailed => (-1, true),
        };
        // The restart tracker (`handleWaitResult` / `handleStartError`).
        if !start_err && exit_code == 0 && (ctx.batch || ctx.ephemeral) {
            ctx.finish(false, None);
            return;
        }
        count += 1;
        if window_start.elapsed() > Duration::from_nanos(pol.interval as u64) {
            count = 1;
            window_start = Instant::now();
        }
        let (restart, delay, reason) = if count > pol.attempts {
            if pol.mode == "fail" {
                (
                    false,
                    0,
                    format!(
                        "Exceeded allowed attempts {} in interval {} and mode is \"fail\"",
                        pol.attempts,
                        super::go_duration(pol.interval)
                    ),
                )
            } else {
                let left = Duration::from_nanos(pol.interval as u64)
                    .saturating_sub(window_start.elapsed());
                (
                    true,
                    left.as_nanos() as i64,
                    "Exceeded allowed attempts, applying a delay".to_string(),
                )
            }
        } else {
            // Up to 25% of jitter on the delay, as Nomad adds.
            let jitter = if pol.delay > 4 {
                fastrand::i64(0..pol.delay / 4)
            } else {
                0
            };
            (
                true,
                pol.delay + jitter,
                "Restart within policy".to_string(),
            )
        };
        if !restart {
            let mut ev = task_event(
                "Not Restarting",
                now_ns(),
                "",
                &reason,
                json!({"restart_reason": reason, "fails_task": "true"}),
            );
            ev["RestartReason"] = json!(reason);
            ev["FailsTask"] = json!(true);
            ctx.finish(true, Some(ev));
            return;
        }
        let display = format!("Task restarting in {}", super::go_duration(delay));
        let mut ev = task_event(
            "Restarting",
            now_ns(),
            "",
            &display,
            json!({"restart_reason": reason, "start_delay": delay.to_string()}),
        );
        ev["RestartReason"] = json!(reason);
        ev["StartDelay"] = json!(delay);
        ctx.update(|ts, now| {
            push_event(ts, ev);
            ts["State"] = json!("pending");
            ts["Restarts"] = json!(ts["Restarts"].as_u64().unwrap_or(0) + 1);
            ts["LastRestart"] = json!(rfc3339(now));
        });
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_nanos(delay.max(0) as u64)) => {}
            _ = ctx.kill.changed() => {}
        }
    }
}

enum Outcome {
    Exited(i64),
    StartFailed,
    Killed,
}

fn killed_before_start(ctx: &TaskCtx, k: Kill) {
    match k {
        Kill::Shutdown => {}
        Kill::Sibling(s) => {
            let mut ev = task_event(
                "Sibling Task Failed",
                now_ns(),
                "",
                &format!("Task's sibling {s:?} failed"),
                json!({"failed_sibling": s}),
            );
            ev["FailedSibling"] = json!(s);
            ctx.finish(false, Some(ev));
        }
        Kill::Stop => ctx.finish(false, None),
    }
}

fn mark_started(ctx: &TaskCtx) {
    ctx.running.send_replace(Some(Instant::now()));
    ctx.update(|ts, now| {
        push_event(
            ts,
            task_event("Started", now, "", "Task started by client", json!({})),
        );
        ts["State"] = json!("running");
        ts["StartedAt"] = json!(rfc3339(now));
    });
}

/// The kill timeout of the task (`KillTimeout`, default 5s).
fn kill_timeout(task: &Value) -> i64 {
    task["KillTimeout"]
        .as_i64()
        .filter(|n| *n > 0)
        .unwrap_or(5_000_000_000)
}

/// The signal a stop sends first (`kill_signal`, default SIGINT), as kill(1) names it.
fn kill_signal(task: &Value) -> String {
    task["KillSignal"]
        .as_str()
        .map(|s| s.trim_start_matches("SIG").to_ascii_uppercase())
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "INT".to_string())
}

fn killing_event(ctx: &TaskCtx, k: &Kill) {
    if let Kill::Sibling(s) = k {
        let mut ev = task_event(
            "Sibling Task Failed",
            now_ns(),
            "",
            &format!("Task's sibling {s:?} failed"),
            json!({"failed_sibling": s}),
        );
        ev["FailedSibling"] = json!(s);
        ctx.event(ev);
    }
    let kt = kill_timeout(&ctx.task);
    let display = format!(
        "Sent interrupt. Waiting {} before force killing",
        super::go_duration(kt)
    );
    let mut ev = task_event(
        "Killing",
        now_ns(),
        "",
        &display,
        json!({"kill_timeout": super::go_duration(kt)}),
    );
    ev["KillTimeout"] = json!(kt);
    ctx.event(ev);
}

fn killed_event() -> Value {
    task_event(
        "Killed",
        now_ns(),
        "",
        "Task successfully killed",
        json!({}),
    )
}

/// A simulated driver: running until killed.
async fn simulate(ctx: &mut TaskCtx) -> Outcome {
    mark_started(ctx);
    loop {
        if let Some(k) = ctx.kill_reason() {
            if k != Kill::Shutdown {
                killing_event(ctx, &k);
                ctx.finish(false, Some(killed_event()));
            }
            return Outcome::Killed;
        }
        if ctx.kill.changed().await.is_err() {
            return Outcome::Killed;
        }
    }
}

/// Where raw_exec finds the command: a path relative to the task dir, `local/<cmd>`, the
/// task dir, then `PATH`.
fn resolve_command(cmd: &str, task_dir: &Path) -> PathBuf {
    if cmd.contains('/') {
        let p = Path::new(cmd);
        return if p.is_absolute() {
            p.to_path_buf()
        } else {
            task_dir.join(p)
        };
    }
    for cand in [task_dir.join("local").join(cmd), task_dir.join(cmd)] {
        if cand.is_file() {
            return cand;
        }
    }
    PathBuf::from(cmd)
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Runs the task as a local process until it exits or is killed.
async fn run_process(
    ctx: &mut TaskCtx,
    env: &BTreeMap<String, String>,
    task_dir: &Path,
) -> Outcome {
    let config = &ctx.task["Config"];
    let command = interpolate(config["command"].as_str().unwrap_or(""), env);
    let args: Vec<String> = config["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|a| interpolate(a, env))
        .collect();
    let logs = ctx.alloc_dir.join("alloc").join("logs");
    let spawned = (|| -> std::io::Result<tokio::process::Child> {
        if command.is_empty() {
            return Err(std::io::Error::other("missing command"));
        }
        let stdout = open_log(&logs.join(format!("{}.stdout.0", ctx.name)))?;
        let stderr = open_log(&logs.join(format!("{}.stderr.0", ctx.name)))?;
        let mut cmd = tokio::process::Command::new(resolve_command(&command, task_dir));
        cmd.args(&args)
            .envs(env)
            .current_dir(task_dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        cmd.spawn()
    })();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let msg = format!(
                "failed to launch command with executor: rpc error: code = Unknown desc = {e}"
            );
            let mut ev = task_event(
                "Driver Failure",
                now_ns(),
                "",
                &msg,
                json!({"driver_error": msg}),
            );
            ev["DriverError"] = json!(msg);
            ctx.event(ev);
            return Outcome::StartFailed;
        }
    };
    let pid = child.id().unwrap_or(0);
    ctx.inner
        .runtime
        .register_pid(&ctx.alloc_id, &ctx.name, pid);
    mark_started(ctx);
    let status = tokio::select! {
        s = child.wait() => Some(s),
        _ = wait_kill(&mut ctx.kill) => None,
    };
    let outcome = match status {
        Some(s) => {
            ctx.running.send_replace(None);
            let (code, signal) = exit_of(s.ok());
            ctx.event(terminated_event(code, signal));
            Outcome::Exited(code)
        }
        None => {
            let k = ctx.kill_reason().unwrap_or(Kill::Stop);
            if k == Kill::Shutdown {
                let _ = child.start_kill();
                ctx.inner.runtime.forget_pid(&ctx.alloc_id, &ctx.name);
                return Outcome::Killed;
            }
            killing_event(ctx, &k);
            super::signal_groups(&[pid], &kill_signal(&ctx.task));
            let kt = Duration::from_nanos(kill_timeout(&ctx.task) as u64);
            let s = match tokio::time::timeout(kt, child.wait()).await {
                Ok(s) => s.ok(),
                Err(_) => {
                    super::signal_groups(&[pid], "KILL");
                    child.wait().await.ok()
                }
            };
            let (code, signal) = exit_of(s);
            ctx.event(terminated_event(code, signal));
            ctx.finish(false, Some(killed_event()));
            Outcome::Killed
        }
    };
    ctx.inner.runtime.forget_pid(&ctx.alloc_id, &ctx.name);
    outcome
}

async fn wait_kill(rx: &mut watch::Receiver<Option<Kill>>) {
    loop {
        if rx.borrow_and_update().is_some() {
            return;
        }
        if rx.changed().await.is_err() {
            // The runner is gone: treat as a shutdown kill.
            return;
        }
    }
}

fn exit_of(s: Option<std::process::ExitStatus>) -> (i64, i64) {
    let Some(s) = s else {
        return (-1, 0);
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            return (128 + i64::from(sig), i64::from(sig));
        }
    }
    (i64::from(s.code().unwrap_or(-1)), 0)
}

/// `TaskTerminated` with the exit code, as Nomad displays it.
fn terminated_event(code: i64, signal: i64) -> Value {
    let mut display = format!("Exit Code: {code}");
    if signal != 0 {
        display.push_str(&format!(", Signal: {signal}"));
    }
    let mut ev = task_event(
        "Terminated",
        now_ns(),
        "",
        &display,
        json!({"exit_code": code.to_string(), "signal": signal.to_string(), "oom_killed": "false"}),
    );
    ev["ExitCode"] = json!(code);
    ev["Signal"] = json!(signal);
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_env_references() {
        let mut env = BTreeMap::new();
        env.insert("NOMAD_PORT_http".to_string(), "8080".to_string());
        assert_eq!(interpolate("p=${NOMAD_PORT_http}", &env), "p=8080");
        assert_eq!(interpolate("${env[\"NOMAD_PORT_http\"]}", &env), "8080");
        assert_eq!(interpolate("${node.unique.id}", &env), "${node.unique.id}");
        assert_eq!(clean_env("connect-proxy-web"), "connect_proxy_web");
    }
}
