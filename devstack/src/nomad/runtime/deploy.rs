//! The deployment watcher: counts placed, healthy and unhealthy allocations of a deployment,
//! moves it to `successful` (marking the job version stable) or `failed` (unhealthy
//! allocations, progress deadline), and auto-reverts to the last stable version.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::super::api::{now_ns, rfc3339};
use super::super::state::State;
use super::super::Inner;
use super::scheduler::{self, SERVER_FIELDS};
use super::Launch;

pub(crate) const DESC_SUCCESSFUL: &str = "Deployment completed successfully";
pub(crate) const DESC_FAILED_ALLOCS: &str = "Failed due to unhealthy allocations";
pub(crate) const DESC_PROGRESS: &str = "Failed due to progress deadline";

/// Recounts a running deployment from its allocations and completes it when every group has
/// its healthy allocations; fails it on an unhealthy one. Returns the job spec to revert to
/// when the failure triggers an auto-revert.
pub(crate) fn reconcile(
    st: &mut State,
    dep_id: &str,
    idx: u64,
    now: i64,
) -> Option<Map<String, Value>> {
    let mut counts: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for a in st.allocs.values().filter(|a| a["DeploymentID"] == dep_id) {
        let tg = a["TaskGroup"].as_str().unwrap_or("").to_string();
        let c = counts.entry(tg).or_default();
        c.0 += 1;
        match a["DeploymentStatus"]["Healthy"].as_bool() {
            Some(true) => c.1 += 1,
            Some(false) => c.2 += 1,
            None => {}
        }
    }
    let d = st.deployments.get_mut(dep_id)?;
    let mut changed = false;
    let mut all_done = true;
    let mut unhealthy = false;
    if let Some(groups) = d["TaskGroups"].as_object_mut() {
        for (tg, g) in groups.iter_mut() {
            let (placed, healthy, bad) = counts.get(tg).copied().unwrap_or_default();
            let before = g["HealthyAllocs"].as_u64().unwrap_or(0);
            if healthy > before {
                // Progress: the deadline restarts from this healthy allocation.
                let progress = g["ProgressDeadline"].as_i64().unwrap_or(0);
                if progress > 0 {
                    g["RequireProgressBy"] = json!(rfc3339(now + progress));
                }
            }
            for (k, v) in [
                ("PlacedAllocs", placed),
                ("HealthyAllocs", healthy),
                ("UnhealthyAllocs", bad),
            ] {
                if g[k].as_u64() != Some(v) {
                    g[k] = json!(v);
                    changed = true;
                }
            }
            if healthy < g["DesiredTotal"].as_u64().unwrap_or(0) {
                all_done = false;
            }
            unhealthy |= bad > 0;
        }
    }
    if changed {
        d["ModifyIndex"] = json!(idx);
        d["ModifyTime"] = json!(now);
        st.deployments_index = idx;
    }
    if d["Status"] != "running" {
        return None;
    }
    if unhealthy {
        return fail(st, dep_id, DESC_FAILED_ALLOCS, idx, now);
    }
    if all_done {
        d["Status"] = json!("successful");
        d["StatusDescription"] = json!(DESC_SUCCESSFUL);
        d["ModifyIndex"] = json!(idx);
        d["ModifyTime"] = json!(now);
        st.deployments_index = idx;
        let key = (
            d["Namespace"].as_str().unwrap_or("").to_string(),
            d["JobID"].as_str().unwrap_or("").to_string(),
        );
        let version = d["JobVersion"].clone();
        mark_stable(st, &key, &version, idx);
        watcher_eval(st, dep_id, idx, now);
    }
    None
}

/// The evaluation the deployment watcher creates when a deployment ends.
fn watcher_eval(st: &mut State, dep_id: &str, idx: u64, now: i64) {
    let Some(d) = st.deployments.get(dep_id) else {
        return;
    };
    let key = (
        d["Namespace"].as_str().unwrap_or("").to_string(),
        d["JobID"].as_str().unwrap_or("").to_string(),
    );
    let Some(job) = st.jobs.get(&key).map(|j| j.current.clone()) else {
        return;
    };
    let id = crate::consul::uuid_v4();
    let mut ev = scheduler::new_eval(&job, &id, "deployment-watcher", idx, now);
    ev["DeploymentID"] = json!(dep_id);
    ev["Status"] = json!("complete");
    st.evals.insert(id, ev);
    st.evals_index = idx;
}

/// `UpdateJobStability`: the deployed version becomes stable.
fn mark_stable(st: &mut State, key: &(String, String), version: &Value, idx: u64) {
    let Some(j) = st.jobs.get_mut(key) else {
        return;
    };
    if let Some(v) = j.versions.iter_mut().find(|v| &v["Version"] == version) {
        v["Stable"] = json!(true);
        v["ModifyIndex"] = json!(idx);
    }
    if &j.current["Version"] == version {
        j.current["Stable"] = json!(true);
        j.current["ModifyIndex"] = json!(idx);
    }
    st.jobs_index = idx;
}

/// Fails a running deployment; with auto-revert, returns the last stable version's spec.
pub(crate) fn fail(
    st: &mut State,
    dep_id: &str,
    base: &str,
    idx: u64,
    now: i64,
) -> Option<Map<String, Value>> {
    let d = st.deployments.get(dep_id)?.clone();
    if d["Status"] != "running" {
        return None;
    }
    let auto_revert = d["TaskGroups"]
        .as_object()
        .is_some_and(|gs| gs.values().any(|g| g["AutoRevert"] == true));
    let key = (
        d["Namespace"].as_str().unwrap_or("").to_string(),
        d["JobID"].as_str().unwrap_or("").to_string(),
    );
    let dep_version = d["JobVersion"].as_u64().unwrap_or(0);
    let mut revert = None;
    let desc = if auto_revert {
        let target = st.jobs.get(&key).and_then(|j| {
            j.versions
                .iter()
                .rev()
                .find(|v| v["Stable"] == true && v["Version"].as_u64().unwrap_or(0) < dep_version)
                .cloned()
        });
        match target {
            Some(t) => {
                let n = t["Version"].as_u64().unwrap_or(0);
                let mut spec = t.as_object().cloned().unwrap_or_default();
                for k in SERVER_FIELDS {
                    spec.remove(*k);
                }
                revert = Some(spec);
                format!("{base} - rolling back to job version {n}")
            }
            None => format!("{base} - no stable job version to auto revert to"),
        }
    } else {
        base.to_string()
    };
    if let Some(d) = st.deployments.get_mut(dep_id) {
        d["Status"] = json!("failed");
        d["StatusDescription"] = json!(desc);
        d["ModifyIndex"] = json!(idx);
        d["ModifyTime"] = json!(now);
        st.deployments_index = idx;
    }
    watcher_eval(st, dep_id, idx, now);
    revert
}

/// Re-registers a reverted spec (`Job.Revert`: a new version equal to the stable one).
pub(crate) fn revert(inner: &Inner, st: &mut State, spec: Option<Map<String, Value>>) -> Launch {
    match spec {
        Some(spec) => scheduler::register(inner, st, spec, "job-register").launch,
        None => Launch::default(),
    }
}

/// Watches a deployment's progress deadline until it is no longer running.
pub(crate) async fn watch(inner: Arc<Inner>, dep_id: String) {
    let mut shutdown = inner.runtime.shutdown.subscribe();
    let mut last_healthy: BTreeMap<String, (u64, tokio::time::Instant)> = BTreeMap::new();
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        let d = match inner.state().deployments.get(&dep_id) {
            Some(d) => d.clone(),
            None => return,
        };
        if d["Status"] != "running" {
            return;
        }
        let now = tokio::time::Instant::now();
        let mut expired = false;
        for (tg, g) in d["TaskGroups"].as_object().into_iter().flatten() {
            let healthy = g["HealthyAllocs"].as_u64().unwrap_or(0);
            let entry = last_healthy.entry(tg.clone()).or_insert((healthy, now));
            if healthy > entry.0 {
                *entry = (healthy, now);
            }
            let deadline = g["ProgressDeadline"].as_i64().unwrap_or(0);
            let done = healthy >= g["DesiredTotal"].as_u64().unwrap_or(0);
            if deadline > 0
                && !done
                && now.duration_since(entry.1) > Duration::from_nanos(deadline as u64)
            {
                expired = true;
            }
        }
        if expired {
            let launch = inner.write(|st| {
                let idx = st.apply();
                let spec = fail(st, &dep_id, DESC_PROGRESS, idx, now_ns());
                revert(&inner, st, spec)
            });
            super::apply(&inner, launch);
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
