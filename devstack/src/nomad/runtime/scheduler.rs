//! The scheduler of the single-node dev agent: job versions, evaluations, placements
//! (allocations with real free loopback ports) and deployments. Everything here runs inside a
//! state write; what must happen afterwards (start or stop runners) is returned as a
//! [`Launch`].

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::super::api::{now_ns, rfc3339, ZERO_TIME};
use super::super::state::{JobEntry, State};
use super::super::Inner;
use super::Launch;

/// A task event (`api.TaskEvent`) with every field a client reads.
pub(crate) fn task_event(
    kind: &str,
    time: i64,
    message: &str,
    display: &str,
    details: Value,
) -> Value {
    json!({
        "Type": kind,
        "Time": time,
        "Message": message,
        "DisplayMessage": display,
        "Details": details,
        "FailsTask": false,
        "RestartReason": "",
        "SetupError": "",
        "DriverError": "",
        "ExitCode": 0,
        "Signal": 0,
        "KillTimeout": 0,
        "KillError": "",
        "KillReason": "",
        "StartDelay": 0,
        "DownloadError": "",
        "ValidationError": "",
        "DiskLimit": 0,
        "FailedSibling": "",
        "VaultError": "",
        "TaskSignalReason": "",
        "TaskSignal": "",
        "DriverMessage": "",
        "GenericSource": "",
    })
}

pub(crate) fn new_eval(job: &Value, id: &str, triggered_by: &str, idx: u64, now: i64) -> Value {
    json!({
        "ID": id,
        "Namespace": job["Namespace"],
        "Priority": job["Priority"],
        "Type": job["Type"],
        "TriggeredBy": triggered_by,
        "JobID": job["ID"],
        "JobModifyIndex": job["JobModifyIndex"],
        "NodeID": "",
        "NodeModifyIndex": 0,
        "DeploymentID": "",
        "Status": "pending",
        "StatusDescription": "",
        "Wait": 0,
        "WaitUntil": ZERO_TIME,
        "NextEval": "",
        "PreviousEval": "",
        "BlockedEval": "",
        "RelatedEvals": null,
        "FailedTGAllocs": null,
        "ClassEligibility": null,
        "QuotaLimitReached": "",
        "EscapedComputedClass": false,
        "AnnotatePlan": false,
        "QueuedAllocations": null,
        "LeaderACL": "",
        "SnapshotIndex": 0,
        "CreateIndex": idx,
        "ModifyIndex": idx,
        "CreateTime": now,
        "ModifyTime": now,
    })
}

/// `getJobStatus`: running with a live allocation, pending with a live evaluation, dead
/// once everything is terminal.
pub(crate) fn job_status(st: &State, ns: &str, id: &str) -> &'static str {
    let allocs = st.job_allocs(ns, id);
    if allocs
        .iter()
        .any(|a| a["ClientStatus"] == "running" || a["ClientStatus"] == "pending")
    {
        return "running";
    }
    let evals = st.job_evals(ns, id);
    if evals
        .iter()
        .any(|e| matches!(e["Status"].as_str(), Some("pending" | "blocked")))
    {
        return "pending";
    }
    if !allocs.is_empty() || !evals.is_empty() {
        return "dead";
    }
    "pending"
}

/// Recomputes a job's status (a status change bumps its ModifyIndex).
pub(crate) fn refresh_status(st: &mut State, ns: &str, id: &str) {
    let status = job_status(st, ns, id);
    let key = (ns.to_string(), id.to_string());
    let needs = st
        .jobs
        .get(&key)
        .is_some_and(|j| j.current["Status"] != status);
    if !needs {
        return;
    }
    let idx = st.apply();
    if let Some(j) = st.jobs.get_mut(&key) {
        j.current["Status"] = json!(status);
        j.current["ModifyIndex"] = json!(idx);
        let version = j.current["Version"].clone();
        if let Some(v) = j.versions.iter_mut().find(|v| v["Version"] == version) {
            v["Status"] = json!(status);
            v["ModifyIndex"] = json!(idx);
        }
    }
    st.jobs_index = idx;
}

/// Server-set job fields, ignored when deciding whether a job's spec changed.
pub(crate) const SERVER_FIELDS: &[&str] = &[
    "Status",
    "StatusDescription",
    "Stable",
    "Version",
    "SubmitTime",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
];

/// Whether `next` differs from `prev` once the server-set fields are left out
/// (`Job.SpecChanged`).
pub(crate) fn spec_changed(prev: &Value, next: &Map<String, Value>) -> bool {
    let mut a = prev.as_object().cloned().unwrap_or_default();
    let mut b = next.clone();
    for k in SERVER_FIELDS {
        a.remove(*k);
        b.remove(*k);
    }
    a != b
}

/// What a registration did.
pub(crate) struct Registered {
    pub job: Value,
    pub eval_id: String,
    pub eval_index: u64,
    pub index: u64,
    pub launch: Launch,
}

/// Stores a job (a new version when its spec changed), creates its evaluation and schedules
/// it. The caller has validated the job and checked `EnforceIndex` and the namespace.
pub(crate) fn register(
    inner: &Inner,
    st: &mut State,
    mut job: Map<String, Value>,
    triggered_by: &str,
) -> Registered {
    let ns = job["Namespace"].as_str().unwrap_or("default").to_string();
    let id = job["ID"].as_str().unwrap_or("").to_string();
    let key = (ns.clone(), id.clone());
    let existing = st.jobs.get(&key).map(|e| e.current.clone());
    let now = now_ns();
    let changed = existing.as_ref().is_none_or(|e| spec_changed(e, &job));
    let idx = st.apply();
    let job_value = if changed {
        let (version, create_index) = match &existing {
            Some(e) => (
                e["Version"].as_u64().unwrap_or(0) + 1,
                e["CreateIndex"].as_u64().unwrap_or(idx),
            ),
            None => (0, idx),
        };
        job.insert("Version".into(), json!(version));
        job.insert("CreateIndex".into(), json!(create_index));
        job.insert("ModifyIndex".into(), json!(idx));
        job.insert("JobModifyIndex".into(), json!(idx));
        job.insert("SubmitTime".into(), json!(now));
        job.insert("Status".into(), json!("pending"));
        job.insert("StatusDescription".into(), json!(""));
        job.insert("Stable".into(), json!(false));
        let v = Value::Object(job);
        let entry = st.jobs.entry(key).or_insert_with(|| JobEntry {
            current: v.clone(),
            versions: Vec::new(),
        });
        entry.current = v.clone();
        entry.versions.push(v.clone());
        st.jobs_index = idx;
        v
    } else {
        existing.unwrap_or(Value::Null)
    };
    let periodic = !job_value["Periodic"].is_null() || !job_value["ParameterizedJob"].is_null();
    let mut launch = Launch::default();
    let (eval_id, eval_index) = if periodic {
        (String::new(), 0)
    } else {
        let eval_id = crate::consul::uuid_v4();
        st.evals.insert(
            eval_id.clone(),
            new_eval(&job_value, &eval_id, triggered_by, idx, now),
        );
        st.evals_index = idx;
        launch = schedule(inner, st, &job_value, &eval_id);
        (eval_id, idx)
    };
    refresh_status(st, &ns, &id);
    Registered {
        job: job_value,
        eval_id,
        eval_index,
        index: idx,
        launch,
    }
}

/// The update strategy of a group: the job's `Update` overlaid with the group's.
pub(crate) fn group_update(job: &Value, group: &Value) -> Option<Value> {
    let mut u = match &job["Update"] {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    if let Value::Object(g) = &group["Update"] {
        for (k, v) in g {
            if !v.is_null() {
                u.insert(k.clone(), v.clone());
            }
        }
    }
    if u.is_empty() {
        return None;
    }
    let defaults = [
        ("MaxParallel", json!(1)),
        ("HealthCheck", json!("checks")),
        ("MinHealthyTime", json!(10_000_000_000i64)),
        ("HealthyDeadline", json!(300_000_000_000i64)),
        ("ProgressDeadline", json!(600_000_000_000i64)),
        ("AutoRevert", json!(false)),
        ("AutoPromote", json!(false)),
        ("Canary", json!(0)),
    ];
    for (k, v) in defaults {
        if u.get(k).is_none_or(Value::is_null) {
            u.insert(k.to_string(), v);
        }
    }
    Some(Value::Object(u))
}

/// Whether a job version gets a deployment: a service job whose groups have an update
/// strategy with `max_parallel > 0`.
fn wants_deployment(job: &Value) -> bool {
    job["Type"] == "service"
        && job["TaskGroups"].as_array().is_some_and(|gs| {
            gs.iter().any(|g| {
                group_update(job, g).is_some_and(|u| u["MaxParallel"].as_i64().unwrap_or(0) > 0)
            })
        })
}

/// A free loopback TCP port, chosen by the OS.
fn free_port() -> u64 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| u64::from(a.port()))
        .unwrap_or(0)
}

/// The group's networks with dynamic ports given real free loopback ports, and the flat port
/// list (`AllocatedResources.Shared`).
fn allocate_network(group: &Value) -> (Vec<Value>, Vec<Value>) {
    let mut networks = Vec::new();
    let mut ports = Vec::new();
    let nets: Vec<Value> = group["Networks"].as_array().cloned().unwrap_or_default();
    for n in &nets {
        let mut dynamic = Vec::new();
        let mut reserved = Vec::new();
        let mut push =
            |label: &str, value: u64, to: i64, host_network: &Value, list: &mut Vec<Value>| {
                let hn = host_network
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("default");
                list.push(json!({"Label": label, "Value": value, "To": to, "HostNetwork": hn}));
                ports
                    .push(json!({"Label": label, "Value": value, "To": to, "HostIP": "127.0.0.1"}));
            };
        for p in n["ReservedPorts"].as_array().into_iter().flatten() {
            let label = p["Label"].as_str().unwrap_or("");
            let value = p["Value"].as_u64().unwrap_or(0);
            push(
                label,
                value,
                p["To"].as_i64().unwrap_or(0),
                &p["HostNetwork"],
                &mut reserved,
            );
        }
        for p in n["DynamicPorts"].as_array().into_iter().flatten() {
            let label = p["Label"].as_str().unwrap_or("");
            push(
                label,
                free_port(),
                p["To"].as_i64().unwrap_or(0),
                &p["HostNetwork"],
                &mut dynamic,
            );
        }
        networks.push(json!({
            "Mode": n["Mode"].as_str().filter(|m| !m.is_empty()).unwrap_or("host"),
            "Device": "",
            "CIDR": "",
            "IP": "127.0.0.1",
            "Hostname": "",
            "MBits": 0,
            "DNS": n["DNS"],
            "ReservedPorts": if reserved.is_empty() { Value::Null } else { Value::Array(reserved) },
            "DynamicPorts": if dynamic.is_empty() { Value::Null } else { Value::Array(dynamic) },
        }));
    }
    (networks, ports)
}

struct Placement<'a> {
    job: &'a Value,
    eval_id: &'a str,
    node_id: &'a str,
    node_name: &'a str,
    deployment_id: &'a str,
    idx: u64,
    now: i64,
}

fn new_alloc(p: &Placement<'_>, group: &Value, i: u64) -> Value {
    let job = p.job;
    let tg = group["Name"].as_str().unwrap_or("");
    let mut states = Map::new();
    let mut task_res = Map::new();
    let mut lifecycles = Map::new();
    for t in group["Tasks"].as_array().into_iter().flatten() {
        let Some(name) = t["Name"].as_str() else {
            continue;
        };
        states.insert(
            name.to_string(),
            json!({
                "State": "pending",
                "Failed": false,
                "Restarts": 0,
                "LastRestart": ZERO_TIME,
                "StartedAt": ZERO_TIME,
                "FinishedAt": ZERO_TIME,
                "Events": [task_event("Received", p.now, "", "Task received by client", json!({}))],
                "TaskHandle": null,
            }),
        );
        task_res.insert(
            name.to_string(),
            json!({
                "Cpu": {"CpuShares": t["Resources"]["CPU"].as_i64().unwrap_or(100), "ReservedCores": null},
                "Memory": {"MemoryMB": t["Resources"]["MemoryMB"].as_i64().unwrap_or(300), "MemoryMaxMB": t["Resources"]["MemoryMaxMB"].as_i64().unwrap_or(0)},
                "Networks": null,
                "Devices": null,
            }),
        );
        lifecycles.insert(name.to_string(), t["Lifecycle"].clone());
    }
    let (networks, ports) = allocate_network(group);
    json!({
        "ID": crate::consul::uuid_v4(),
        "EvalID": p.eval_id,
        "Name": format!("{}.{tg}[{i}]", job["ID"].as_str().unwrap_or("")),
        "Namespace": job["Namespace"],
        "NodeID": p.node_id,
        "NodeName": p.node_name,
        "JobID": job["ID"],
        "JobType": job["Type"],
        "JobVersion": job["Version"],
        // The allocation carries its job version, as Nomad's does (purging the job
        // leaves its allocations able to run and stop).
        "Job": job,
        "TaskGroup": tg,
        "AllocatedResources": {
            "Tasks": task_res,
            "TaskLifecycles": lifecycles,
            "Shared": {
                "DiskMB": group["EphemeralDisk"]["SizeMB"].as_i64().unwrap_or(300),
                "Networks": if networks.is_empty() { Value::Null } else { Value::Array(networks) },
                "Ports": if ports.is_empty() { Value::Null } else { Value::Array(ports) },
            },
        },
        "DesiredStatus": "run",
        "DesiredDescription": "",
        "ClientStatus": "pending",
        "ClientDescription": "No tasks have started",
        "DesiredTransition": {"Migrate": null, "Reschedule": null, "ForceReschedule": null, "NoShutdownDelay": null},
        "TaskStates": states,
        "DeploymentID": p.deployment_id,
        "DeploymentStatus": null,
        "FollowupEvalID": "",
        "NextAllocation": "",
        "PreviousAllocation": "",
        "RescheduleTracker": null,
        "PreemptedAllocations": null,
        "PreemptedByAllocation": "",
        "CreateIndex": p.idx,
        "ModifyIndex": p.idx,
        "AllocModifyIndex": p.idx,
        "CreateTime": p.now,
        "ModifyTime": p.now,
    })
}

/// A new deployment of a job version (`structs.NewDeployment` + the scheduler's group states).
fn new_deployment(job: &Value, idx: u64, now: i64) -> Value {
    let mut groups = Map::new();
    for g in job["TaskGroups"].as_array().into_iter().flatten() {
        let Some(u) = group_update(job, g) else {
            continue;
        };
        if u["MaxParallel"].as_i64().unwrap_or(0) <= 0 {
            continue;
        }
        let Some(name) = g["Name"].as_str() else {
            continue;
        };
        let progress = u["ProgressDeadline"].as_i64().unwrap_or(0);
        let require_by = if progress > 0 {
            rfc3339(now + progress)
        } else {
            ZERO_TIME.to_string()
        };
        groups.insert(
            name.to_string(),
            json!({
                "AutoRevert": u["AutoRevert"],
                "AutoPromote": u["AutoPromote"],
                "ProgressDeadline": progress,
                "RequireProgressBy": require_by,
                "Promoted": false,
                "PlacedCanaries": null,
                "DesiredCanaries": 0,
                "DesiredTotal": g["Count"].as_u64().unwrap_or(1),
                "PlacedAllocs": 0,
                "HealthyAllocs": 0,
                "UnhealthyAllocs": 0,
            }),
        );
    }
    json!({
        "ID": crate::consul::uuid_v4(),
        "Namespace": job["Namespace"],
        "JobID": job["ID"],
        "JobVersion": job["Version"],
        "JobModifyIndex": job["JobModifyIndex"],
        "JobSpecModifyIndex": job["JobModifyIndex"],
        "JobCreateIndex": job["CreateIndex"],
        "IsMultiregion": false,
        "TaskGroups": groups,
        "Status": "running",
        "StatusDescription": "Deployment is running",
        "EvalPriority": job["Priority"],
        "CreateIndex": idx,
        "ModifyIndex": idx,
        "CreateTime": now,
        "ModifyTime": now,
    })
}

/// Ends the job's active deployments older than `keep` with `cancelled`.
fn cancel_deployments(
    st: &mut State,
    ns: &str,
    id: &str,
    keep: &str,
    why: &str,
    idx: u64,
    now: i64,
) {
    for d in st.deployments.values_mut() {
        if d["Namespace"] == ns && d["JobID"] == id && d["ID"] != keep && d["Status"] == "running" {
            d["Status"] = json!("cancelled");
            d["StatusDescription"] = json!(why);
            d["ModifyIndex"] = json!(idx);
            d["ModifyTime"] = json!(now);
            st.deployments_index = idx;
        }
    }
}

/// Runs the scheduler for an evaluation: stops allocations of older versions (all, for a
/// stopped job), places the missing allocations of each group, creates the deployment of a
/// new version, and completes the evaluation.
pub(crate) fn schedule(inner: &Inner, st: &mut State, job: &Value, eval_id: &str) -> Launch {
    let mut launch = Launch::default();
    let ns = job["Namespace"].as_str().unwrap_or("").to_string();
    let id = job["ID"].as_str().unwrap_or("").to_string();
    let stopped = job["Stop"] == true;
    let version = job["Version"].as_u64().unwrap_or(0);
    let idx = st.apply();
    let now = now_ns();
    let live: Vec<String> = st
        .job_allocs(&ns, &id)
        .into_iter()
        .filter(|a| a["DesiredStatus"] == "run")
        .map(|a| a["ID"].as_str().unwrap_or("").to_string())
        .collect();
    let mut kept: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for aid in live {
        let Some(a) = st.allocs.get_mut(&aid) else {
            continue;
        };
        let same_version = a["JobVersion"].as_u64() == Some(version);
        if stopped || !same_version {
            a["DesiredStatus"] = json!("stop");
            a["DesiredDescription"] = json!("alloc not needed due to job update");
            a["ModifyIndex"] = json!(idx);
            a["AllocModifyIndex"] = json!(idx);
            a["ModifyTime"] = json!(now);
            launch.stop.push(aid);
        } else if let Some(tg) = a["TaskGroup"].as_str() {
            let i = alloc_index(a["Name"].as_str().unwrap_or(""));
            kept.entry(tg.to_string()).or_default().push(i);
        }
    }
    // A new version of a service job with an update strategy gets a deployment.
    let mut deployment_id = String::new();
    if stopped {
        cancel_deployments(
            st,
            &ns,
            &id,
            "",
            "Cancelled because job is stopped",
            idx,
            now,
        );
    } else if wants_deployment(job) {
        let existing = st
            .job_deployments(&ns, &id)
            .into_iter()
            .find(|d| {
                d["JobVersion"].as_u64() == Some(version)
                    && d["JobCreateIndex"] == job["CreateIndex"]
            })
            .map(|d| d["ID"].as_str().unwrap_or("").to_string());
        deployment_id = match existing {
            Some(d) => d,
            None => {
                let d = new_deployment(job, idx, now);
                let did = d["ID"].as_str().unwrap_or("").to_string();
                st.deployments.insert(did.clone(), d);
                st.deployments_index = idx;
                launch.deployments.push(did.clone());
                did
            }
        };
        cancel_deployments(
            st,
            &ns,
            &id,
            &deployment_id,
            "Cancelled due to newer version of job",
            idx,
            now,
        );
    }
    let mut queued = Map::new();
    if !stopped {
        let node_name = inner.opts.node_name.clone();
        let placement = Placement {
            job,
            eval_id,
            node_id: &inner.node_id,
            node_name: &node_name,
            deployment_id: &deployment_id,
            idx,
            now,
        };
        for g in job["TaskGroups"].as_array().into_iter().flatten() {
            let tg = g["Name"].as_str().unwrap_or("").to_string();
            let count = g["Count"].as_u64().unwrap_or(1);
            let have = kept.get(&tg).cloned().unwrap_or_default();
            queued.insert(tg.clone(), json!(0));
            let mut i = 0;
            let mut placed = have.len() as u64;
            while placed < count {
                if !have.contains(&i) {
                    let a = new_alloc(&placement, g, i);
                    let aid = a["ID"].as_str().unwrap_or("").to_string();
                    st.allocs.insert(aid.clone(), a);
                    launch.start.push(aid);
                    placed += 1;
                }
                i += 1;
            }
        }
    }
    st.allocs_index = idx;
    if !deployment_id.is_empty() {
        super::deploy::reconcile(st, &deployment_id, idx, now);
    }
    let eidx = st.apply();
    if let Some(e) = st.evals.get_mut(eval_id) {
        e["Status"] = json!("complete");
        e["QueuedAllocations"] = Value::Object(queued);
        e["SnapshotIndex"] = json!(idx);
        e["DeploymentID"] = json!(deployment_id);
        e["ModifyIndex"] = json!(eidx);
        e["ModifyTime"] = json!(now);
    }
    st.evals_index = eidx;
    launch
}

/// The index of an allocation name (`job.group[3]` → 3).
fn alloc_index(name: &str) -> u64 {
    name.rsplit_once('[')
        .and_then(|(_, r)| r.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `jobConnectHook` (Mutate, then Validate): a group service with a Connect sidecar gets a
/// `connect-proxy-<service>` task (unless one of that kind exists) and a dynamic port for
/// the proxy in the group's network, which must be a single `bridge` network.
pub(crate) fn connect_hook(job: &mut Map<String, Value>) -> Result<(), String> {
    let Some(Value::Array(groups)) = job.get_mut("TaskGroups") else {
        return Ok(());
    };
    for g in groups.iter_mut().filter(|g| g.is_object()) {
        let has_network = g["Networks"].as_array().is_some_and(|n| !n.is_empty());
        let sidecars: Vec<(String, Value, String)> = g["Services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["Connect"]["SidecarService"].is_object())
            .map(|s| {
                let name = s["Name"].as_str().unwrap_or("").to_string();
                let port = s["Connect"]["SidecarService"]["Port"]
                    .as_str()
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("connect-proxy-{name}"));
                (name, s["Connect"]["SidecarTask"].clone(), port)
            })
            .collect();
        if sidecars.is_empty() {
            continue;
        }
        let gname = g["Name"].as_str().unwrap_or("").to_string();
        if has_network {
            for (name, custom, port) in &sidecars {
                let kind = format!("connect-proxy:{name}");
                let tasks = g["Tasks"].as_array().cloned().unwrap_or_default();
                if !tasks.iter().any(|t| t["Kind"] == kind.as_str()) {
                    let docker = tasks.iter().any(|t| t["Driver"] == "docker");
                    let podman = tasks.iter().any(|t| t["Driver"] == "podman");
                    let mut task = sidecar_task(
                        name,
                        if podman && !docker {
                            "podman"
                        } else {
                            "docker"
                        },
                    );
                    if tasks.iter().any(|t| t["Name"] == task["Name"]) {
                        let suffix: String = crate::consul::uuid_v4().chars().take(6).collect();
                        task["Name"] = json!(format!("connect-proxy-{name}-{suffix}"));
                    }
                    if let (Value::Object(t), Value::Object(c)) = (&mut task, custom) {
                        for (k, v) in c {
                            if !v.is_null() {
                                t.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    if let Some(list) = g["Tasks"].as_array_mut() {
                        list.push(task);
                    }
                }
                if let Some(net) = g["Networks"].get_mut(0).filter(|n| n.is_object()) {
                    let exists = net["DynamicPorts"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|p| p["Label"] == port.as_str()));
                    if !exists {
                        let p =
                            json!({"Label": port, "Value": 0, "To": -1, "HostNetwork": "default"});
                        match net["DynamicPorts"].as_array_mut() {
                            Some(ps) => ps.push(p),
                            None => net["DynamicPorts"] = json!([p]),
                        }
                    }
                }
            }
        }
        // Validate.
        let n = g["Networks"].as_array().map_or(0, Vec::len);
        if n != 1 {
            return Err(format!(
                "Consul Connect sidecars require exactly 1 network, found {n} in group {gname:?}"
            ));
        }
        let mode = g["Networks"][0]["Mode"].as_str().unwrap_or("");
        if mode != "bridge" {
            return Err(format!(
                "Consul Connect sidecar requires bridge network, found {mode:?} in group {gname:?}"
            ));
        }
        for (name, _, _) in &sidecars {
            if *name != name.to_lowercase() {
                return Err(format!("Consul Connect service name {name:?} in group {gname:?} must not contain uppercase characters"));
            }
        }
        if gname != gname.to_lowercase() {
            let svc = &sidecars[0].0;
            return Err(format!(
                "Consul Connect group {gname:?} with service {svc:?} must not contain uppercase characters"
            ));
        }
    }
    Ok(())
}

/// `newConnectSidecarTask`: the Envoy proxy task Nomad injects.
fn sidecar_task(service: &str, driver: &str) -> Value {
    json!({
        "Name": format!("connect-proxy-{service}"),
        "Kind": format!("connect-proxy:{service}"),
        "Driver": driver,
        "Config": {
            "image": "${meta.connect.sidecar_image}",
            "args": [
                "-c", "${NOMAD_SECRETS_DIR}/envoy_bootstrap.json",
                "-l", "${meta.connect.log_level}",
                "--concurrency", "${meta.connect.proxy_concurrency}",
                "--disable-hot-restart",
            ],
        },
        "ShutdownDelay": 5_000_000_000i64,
        "KillTimeout": 5_000_000_000i64,
        "LogConfig": {"MaxFiles": 2, "MaxFileSizeMB": 2, "Disabled": false},
        "Resources": {"CPU": 250, "MemoryMB": 128},
        "Lifecycle": {"Hook": "prestart", "Sidecar": true},
        "Constraints": [
            {"LTarget": "${attr.consul.version}", "RTarget": ">= 1.8.0", "Operand": "semver"},
            {"LTarget": "${attr.consul.grpc}", "RTarget": "0", "Operand": ">"},
        ],
    })
}
