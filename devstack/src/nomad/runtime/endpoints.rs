//! The runtime's HTTP endpoints: allocations, deployments, job plan / submission /
//! deployments, the client filesystem (`/v1/client/fs/{cat,ls}`) and Nomad-native services.
//! A child of `api`, so it shares its query parsing, blocking and response helpers.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use hyper::Method;
use serde_json::{json, Map, Value};

use super::super::runtime::scheduler::spec_changed;
use super::super::Inner;
use super::{
    blocking, canonicalize_job, decode_body, err, get_only, is_write, parse_query_opts, read_json,
    set_meta, text, Query, Res, ZERO_TIME,
};

/// `api.JobSubmission` of a register request, when it carries one.
pub(super) fn submission_of(req: &Map<String, Value>) -> Option<Value> {
    let s = req.get("Submission")?.as_object()?;
    let source = s.get("Source").and_then(Value::as_str).unwrap_or("");
    if source.is_empty() {
        return None;
    }
    Some(json!({
        "Source": source,
        "Format": s.get("Format").and_then(Value::as_str).unwrap_or("hcl2"),
        "VariableFlags": s.get("VariableFlags").cloned().unwrap_or(Value::Null),
        "Variables": s.get("Variables").and_then(Value::as_str).unwrap_or(""),
    }))
}

/// `AllocListStub`: the allocation without its resources and job.
pub(super) fn alloc_stub(a: &Value) -> Value {
    let mut s = a.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("AllocatedResources");
        o.remove("Job");
        o.remove("AllocModifyIndex");
    }
    s
}

fn not_found(msg: &str, idx: u64) -> Res {
    let mut r = text(404, msg);
    set_meta(&mut r, idx);
    Err(Box::new(r))
}

/// `/v1/job/:id/<sub>` routes of the runtime; `None` when `rest` is not one of them.
pub(super) async fn job_sub(
    inner: &Arc<Inner>,
    m: &Method,
    q: &Query,
    rest: &str,
    body: &[u8],
) -> Option<Res> {
    if let Some(id) = rest.strip_suffix("/deployments") {
        return Some(match get_only(m) {
            Ok(()) => job_deployments(inner, q, id).await,
            Err(e) => Err(e),
        });
    }
    if let Some(id) = rest.strip_suffix("/deployment") {
        return Some(match get_only(m) {
            Ok(()) => job_latest_deployment(inner, q, id).await,
            Err(e) => Err(e),
        });
    }
    if let Some(id) = rest.strip_suffix("/submission") {
        return Some(match get_only(m) {
            Ok(()) => job_submission(inner, q, id),
            Err(e) => Err(e),
        });
    }
    if let Some(id) = rest.strip_suffix("/plan") {
        if !is_write(m) {
            return Some(Err(err(405, super::INVALID_METHOD)));
        }
        return Some(job_plan(inner, q, id, body));
    }
    None
}

/// Top-level runtime routes; `None` when `p` is not one of them.
pub(super) async fn route(
    inner: &Arc<Inner>,
    m: &Method,
    p: &str,
    q: &Query,
    _body: &[u8],
) -> Option<Res> {
    const EXACT: &[&str] = &["/v1/allocations", "/v1/deployments", "/v1/services"];
    const PREFIXES: &[&str] = &[
        "/v1/deployment/",
        "/v1/allocation/",
        "/v1/client/fs/cat/",
        "/v1/client/fs/ls/",
        "/v1/service/",
    ];
    if !EXACT.contains(&p) && !PREFIXES.iter().any(|x| p.starts_with(x)) {
        return None;
    }
    if let Err(e) = get_only(m) {
        return Some(Err(e));
    }
    Some(match p {
        "/v1/allocations" => allocs_list(inner, q).await,
        "/v1/deployments" => deployments_list(inner, q).await,
        "/v1/services" => services_list(inner, q),
        _ => {
            if let Some(id) = p.strip_prefix("/v1/deployment/allocations/") {
                deployment_allocs(inner, q, id).await
            } else if let Some(id) = p.strip_prefix("/v1/deployment/") {
                deployment_get(inner, q, id).await
            } else if let Some(id) = p.strip_prefix("/v1/allocation/") {
                alloc_get(inner, q, id).await
            } else if let Some(id) = p.strip_prefix("/v1/client/fs/cat/") {
                fs_cat(inner, q, id)
            } else if let Some(id) = p.strip_prefix("/v1/client/fs/ls/") {
                fs_ls(inner, q, id)
            } else if let Some(name) = p.strip_prefix("/v1/service/") {
                service_get(inner, q, name)
            } else {
                return None;
            }
        }
    })
}

async fn allocs_list(inner: &Inner, q: &Query) -> Res {
    let opts = parse_query_opts(q)?;
    let ns = q.namespace();
    let prefix = q.get("prefix").unwrap_or("").to_string();
    let resources = q.bool_param("resources")?;
    let (idx, out) = blocking(inner, &opts, |st| {
        let mut list: Vec<&Value> = st
            .allocs
            .values()
            .filter(|a| ns == "*" || a["Namespace"] == ns.as_str())
            .filter(|a| a["ID"].as_str().unwrap_or("").starts_with(&prefix))
            .collect();
        list.sort_by_key(|a| a["CreateIndex"].as_u64().unwrap_or(0));
        let list: Vec<Value> = list
            .into_iter()
            .map(|a| {
                let mut s = alloc_stub(a);
                if resources {
                    s["AllocatedResources"] = a["AllocatedResources"].clone();
                }
                s
            })
            .collect();
        (st.allocs_index, list)
    })
    .await;
    Ok(read_json(200, &Value::Array(out), idx))
}

async fn alloc_get(inner: &Inner, q: &Query, id: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let (idx, out) = blocking(inner, &opts, |st| match st.allocs.get(id) {
        Some(a) => (a["ModifyIndex"].as_u64().unwrap_or(0), Some(a.clone())),
        None => (st.allocs_index, None),
    })
    .await;
    match out {
        Some(v) => Ok(read_json(200, &v, idx)),
        None => not_found("alloc not found", idx),
    }
}

async fn deployments_list(inner: &Inner, q: &Query) -> Res {
    let opts = parse_query_opts(q)?;
    let ns = q.namespace();
    let prefix = q.get("prefix").unwrap_or("").to_string();
    let (idx, out) = blocking(inner, &opts, |st| {
        let mut list: Vec<Value> = st
            .deployments
            .values()
            .filter(|d| ns == "*" || d["Namespace"] == ns.as_str())
            .filter(|d| d["ID"].as_str().unwrap_or("").starts_with(&prefix))
            .cloned()
            .collect();
        list.sort_by_key(|d| std::cmp::Reverse(d["CreateIndex"].as_u64().unwrap_or(0)));
        (st.deployments_index, list)
    })
    .await;
    Ok(read_json(200, &Value::Array(out), idx))
}

async fn deployment_get(inner: &Inner, q: &Query, id: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let (idx, out) = blocking(inner, &opts, |st| match st.deployments.get(id) {
        Some(d) => (d["ModifyIndex"].as_u64().unwrap_or(0), Some(d.clone())),
        None => (st.deployments_index, None),
    })
    .await;
    match out {
        Some(v) => Ok(read_json(200, &v, idx)),
        None => not_found("deployment not found", idx),
    }
}

async fn deployment_allocs(inner: &Inner, q: &Query, id: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let (idx, out) = blocking(inner, &opts, |st| {
        let mut list: Vec<&Value> = st
            .allocs
            .values()
            .filter(|a| a["DeploymentID"] == id)
            .collect();
        list.sort_by_key(|a| a["CreateIndex"].as_u64().unwrap_or(0));
        let list: Vec<Value> = list.into_iter().map(alloc_stub).collect();
        (st.allocs_index.max(st.deployments_index), list)
    })
    .await;
    Ok(read_json(200, &Value::Array(out), idx))
}

async fn job_deployments(inner: &Inner, q: &Query, id: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let ns = q.namespace();
    let all = q.bool_param("all")?;
    let (idx, out) = blocking(inner, &opts, |st| {
        let create = st
            .jobs
            .get(&(ns.clone(), id.to_string()))
            .and_then(|j| j.current["CreateIndex"].as_u64());
        let list: Vec<Value> = st
            .job_deployments(&ns, id)
            .into_iter()
            .filter(|d| all || create.is_none_or(|c| d["JobCreateIndex"].as_u64() == Some(c)))
            .cloned()
            .collect();
        (st.deployments_index, list)
    })
    .await;
    Ok(read_json(200, &Value::Array(out), idx))
}

async fn job_latest_deployment(inner: &Inner, q: &Query, id: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let ns = q.namespace();
    let (idx, out) = blocking(inner, &opts, |st| {
        let latest = st.job_deployments(&ns, id).first().map(|d| (*d).clone());
        let idx = latest
            .as_ref()
            .and_then(|d| d["ModifyIndex"].as_u64())
            .unwrap_or(st.deployments_index);
        (idx, latest.unwrap_or(Value::Null))
    })
    .await;
    Ok(read_json(200, &out, idx))
}

fn job_submission(inner: &Inner, q: &Query, id: &str) -> Res {
    let ns = q.namespace();
    let version = q
        .get("version")
        .unwrap_or("")
        .parse::<u64>()
        .map_err(|_| err(400, "Unable to parse job submission version parameter"))?;
    let st = inner.state();
    let idx = st.jobs_index;
    let Some(sub) = st.submissions.get(&(ns.clone(), id.to_string(), version)) else {
        return not_found("job source not found", idx);
    };
    let jmi = st
        .jobs
        .get(&(ns.clone(), id.to_string()))
        .and_then(|j| j.versions.iter().find(|v| v["Version"] == version))
        .map(|v| v["JobModifyIndex"].clone())
        .unwrap_or(json!(0));
    let mut out = sub.clone();
    out["Namespace"] = json!(ns);
    out["JobID"] = json!(id);
    out["Version"] = json!(version);
    out["JobModifyIndex"] = jmi;
    Ok(read_json(200, &out, idx))
}

/// A field diff (`FieldDiff`).
fn field_diff(name: &str, old: &Value, new: &Value) -> Option<Value> {
    let show = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (o, n) = (show(old), show(new));
    let kind = match (o.is_empty(), n.is_empty()) {
        _ if o == n => return None,
        (true, false) => "Added",
        (false, true) => "Deleted",
        _ => "Edited",
    };
    Some(json!({"Type": kind, "Name": name, "Old": o, "New": n, "Annotations": null}))
}

/// Diffs of the scalar fields of two objects.
fn scalar_diffs(old: &Value, new: &Value, skip: &[&str]) -> Vec<Value> {
    let mut keys: Vec<&String> = old
        .as_object()
        .into_iter()
        .flatten()
        .chain(new.as_object().into_iter().flatten())
        .filter(|(_, v)| !v.is_object() && !v.is_array())
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !skip.contains(&k.as_str()))
        .filter_map(|k| field_diff(k, &old[k.as_str()], &new[k.as_str()]))
        .collect()
}

fn by_name(list: &Value) -> Vec<(String, Value)> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["Name"].as_str().map(|n| (n.to_string(), v.clone())))
        .collect()
}

/// `POST /v1/job/:id/plan`: a dry run of the scheduler against the current state.
fn job_plan(inner: &Inner, q: &Query, path_id: &str, body: &[u8]) -> Res {
    let v = decode_body(body).map_err(|e| err(400, &e))?;
    let Some(req) = v.as_object() else {
        return Err(err(
            400,
            "json: cannot unmarshal into Go value of type api.JobPlanRequest",
        ));
    };
    let Some(job) = req.get("Job").and_then(Value::as_object) else {
        return Err(err(400, "Job must be specified"));
    };
    let Some(id) = job.get("ID").and_then(Value::as_str) else {
        return Err(err(400, "Job ID hasn't been provided"));
    };
    if id != path_id {
        return Err(err(400, "Job ID does not match"));
    }
    let want_diff = req.get("Diff").and_then(Value::as_bool).unwrap_or(false);
    let ns = match (
        q.get("namespace"),
        req.get("Namespace").and_then(Value::as_str),
        job.get("Namespace").and_then(Value::as_str),
    ) {
        (Some(n), _, _) if !n.is_empty() => n.to_string(),
        (_, Some(n), _) if !n.is_empty() => n.to_string(),
        (_, _, Some(n)) if !n.is_empty() => n.to_string(),
        _ => "default".to_string(),
    };
    let mut job = canonicalize_job(job, &ns);
    super::scheduler::connect_hook(&mut job).map_err(|e| err(500, &e))?;
    let errors = super::validate_job(&job);
    if !errors.is_empty() {
        return Err(err(500, &super::multierror(&errors)));
    }
    let st = inner.state();
    let existing = st
        .jobs
        .get(&(ns.clone(), id.to_string()))
        .map(|j| j.current.clone());
    let new = Value::Object(job.clone());
    let changed = existing
        .as_ref()
        .is_none_or(|e| e["Stop"] == true || spec_changed(e, &job));
    let mut updates = Map::new();
    let mut tg_diffs = Vec::new();
    let old_groups = existing
        .as_ref()
        .map(|e| by_name(&e["TaskGroups"]))
        .unwrap_or_default();
    for (name, g) in by_name(&new["TaskGroups"]) {
        let count = g["Count"].as_u64().unwrap_or(1);
        let live = existing
            .as_ref()
            .map(|_| {
                st.job_allocs(&ns, id)
                    .iter()
                    .filter(|a| a["TaskGroup"] == name.as_str() && a["DesiredStatus"] == "run")
                    .count() as u64
            })
            .unwrap_or(0);
        let old_g = old_groups
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, g)| g.clone());
        let g_changed = match &old_g {
            Some(og) => og != &g || changed && existing.as_ref().is_some_and(|e| e["Stop"] == true),
            None => true,
        };
        let place = count.saturating_sub(live);
        let stop = live.saturating_sub(count);
        let (ignore, destructive) = if !changed || !g_changed {
            (live.min(count), 0)
        } else {
            (0, live.min(count))
        };
        updates.insert(
            name.clone(),
            json!({"Ignore": ignore, "Place": place, "Migrate": 0, "Stop": stop, "InPlaceUpdate": 0, "DestructiveUpdate": destructive, "Canary": 0, "Preemptions": 0}),
        );
        let mut up = Map::new();
        for (k, n) in [
            ("create", place),
            ("destroy", stop),
            ("create/destroy update", destructive),
            ("ignore", ignore),
        ] {
            if n > 0 {
                up.insert(k.to_string(), json!(n));
            }
        }
        let old_tasks = old_g
            .as_ref()
            .map(|og| by_name(&og["Tasks"]))
            .unwrap_or_default();
        let mut tasks = Vec::new();
        for (tname, t) in by_name(&g["Tasks"]) {
            let ot = old_tasks
                .iter()
                .find(|(n, _)| *n == tname)
                .map(|(_, t)| t.clone());
            let (kind, fields, ann) = match &ot {
                None => (
                    "Added",
                    scalar_diffs(&Value::Null, &t, &[]),
                    json!(["forces create"]),
                ),
                Some(o) if o != &t => (
                    "Edited",
                    scalar_diffs(o, &t, &[]),
                    json!(["forces create/destroy update"]),
                ),
                Some(_) => ("None", Vec::new(), Value::Null),
            };
            tasks.push(json!({"Type": kind, "Name": tname, "Fields": fields, "Objects": null, "Annotations": ann}));
        }
        let kind = match &old_g {
            None => "Added",
            Some(og) if og != &g => "Edited",
            Some(_) => "None",
        };
        let fields = scalar_diffs(&old_g.clone().unwrap_or(Value::Null), &g, &[]);
        tg_diffs.push(json!({"Type": kind, "Name": name, "Fields": fields, "Objects": null, "Tasks": tasks, "Updates": up}));
    }
    let diff = if want_diff {
        let kind = match &existing {
            None => "Added",
            Some(_) if changed => "Edited",
            Some(_) => "None",
        };
        let skip: &[&str] = &[
            "Status",
            "StatusDescription",
            "Stable",
            "Version",
            "SubmitTime",
            "CreateIndex",
            "ModifyIndex",
            "JobModifyIndex",
        ];
        let fields = scalar_diffs(&existing.clone().unwrap_or(Value::Null), &new, skip);
        json!({"Type": kind, "ID": id, "Fields": fields, "Objects": null, "TaskGroups": tg_diffs})
    } else {
        Value::Null
    };
    let out = json!({
        "Annotations": {"DesiredTGUpdates": updates, "PreemptedAllocs": null},
        "FailedTGAllocs": null,
        "JobModifyIndex": existing.as_ref().map(|e| e["JobModifyIndex"].clone()).unwrap_or(json!(0)),
        "CreatedEvals": null,
        "Diff": diff,
        "NextPeriodicLaunch": ZERO_TIME,
        "Warnings": "",
        "Index": st.raft_index,
    });
    let idx = st.raft_index;
    drop(st);
    let mut r = super::json_resp(200, &out);
    super::set_index(&mut r, idx);
    Ok(r)
}

/// Resolves `?path=` inside an allocation's directory; the path may not escape it.
fn alloc_path(
    inner: &Inner,
    q: &Query,
    alloc_id: &str,
    required: bool,
) -> Result<PathBuf, Box<super::Resp>> {
    if alloc_id.is_empty() {
        return Err(err(400, "must provide a valid alloc id"));
    }
    if !inner.state().allocs.contains_key(alloc_id) {
        return Err(err(404, &format!("Unknown allocation \"{alloc_id}\"")));
    }
    let rel = q.get("path").unwrap_or("");
    if rel.is_empty() && required {
        return Err(err(400, "must provide a file name"));
    }
    let rel = if rel.is_empty() { "/" } else { rel };
    let mut out = inner.runtime.alloc_dir(alloc_id);
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            _ => return Err(err(400, "Path escapes the alloc directory")),
        }
    }
    Ok(out)
}

fn fs_cat(inner: &Inner, q: &Query, alloc_id: &str) -> Res {
    let path = alloc_path(inner, q, alloc_id, true)?;
    let rel = q.get("path").unwrap_or("");
    if path.is_dir() {
        return Err(err(500, &format!("file {rel:?} is a directory")));
    }
    match std::fs::read(&path) {
        Ok(data) => {
            let mut r =
                hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from(data)));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(r)
        }
        Err(_) => Err(err(500, &format!("stat {rel}: no such file or directory"))),
    }
}

fn fs_ls(inner: &Inner, q: &Query, alloc_id: &str) -> Res {
    let path = alloc_path(inner, q, alloc_id, false)?;
    let rel = q.get("path").unwrap_or("/");
    let rd = std::fs::read_dir(&path)
        .map_err(|_| err(500, &format!("open {rel}: no such file or directory")))?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Ok(md) = e.metadata() else { continue };
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let mode = if md.is_dir() {
            "drwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        out.push(json!({
            "Name": e.file_name().to_string_lossy(),
            "IsDir": md.is_dir(),
            "Size": md.len(),
            "FileMode": mode,
            "ModTime": super::rfc3339(mtime),
            "ContentType": "",
        }));
    }
    out.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    Ok(super::json_resp(200, &Value::Array(out)))
}

/// Nomad-native services (`provider = "nomad"`) of running allocations.
fn native_registrations(st: &super::State, ns: &str, dc: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for a in st.allocs.values() {
        if (ns != "*" && a["Namespace"] != ns)
            || a["ClientStatus"] != "running"
            || a["DesiredStatus"] != "run"
        {
            continue;
        }
        let key = (
            a["Namespace"].as_str().unwrap_or("").to_string(),
            a["JobID"].as_str().unwrap_or("").to_string(),
        );
        let Some(job) = st
            .jobs
            .get(&key)
            .and_then(|j| j.versions.iter().find(|v| v["Version"] == a["JobVersion"]))
        else {
            continue;
        };
        let Some(group) = job["TaskGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["TaskGroup"] == a["TaskGroup"] || g["Name"] == a["TaskGroup"])
        else {
            continue;
        };
        let ports = a["AllocatedResources"]["Shared"]["Ports"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let aid = a["ID"].as_str().unwrap_or("");
        for s in super::super::runtime::services::alloc_services(group) {
            if s.def["Provider"] != "nomad" {
                continue;
            }
            let name = s.def["Name"].as_str().unwrap_or("");
            let label = s.def["PortLabel"].as_str().unwrap_or("");
            let port = ports
                .iter()
                .find(|p| p["Label"] == label)
                .and_then(|p| p["Value"].as_u64())
                .unwrap_or(0);
            out.push(json!({
                "ID": format!("_nomad-task-{aid}-{}-{name}-{label}", s.owner),
                "ServiceName": name,
                "Namespace": a["Namespace"],
                "NodeID": a["NodeID"],
                "Datacenter": dc,
                "JobID": a["JobID"],
                "AllocID": aid,
                "Tags": s.def["Tags"].clone(),
                "Address": "127.0.0.1",
                "Port": port,
                "CreateIndex": a["CreateIndex"],
                "ModifyIndex": a["ModifyIndex"],
            }));
        }
    }
    out
}

fn services_list(inner: &Inner, q: &Query) -> Res {
    let ns = q.namespace();
    let st = inner.state();
    let regs = native_registrations(&st, &ns, &inner.opts.datacenter);
    let mut by_ns: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, Vec<String>>,
    > = Default::default();
    for r in &regs {
        let e = by_ns
            .entry(r["Namespace"].as_str().unwrap_or("").to_string())
            .or_default()
            .entry(r["ServiceName"].as_str().unwrap_or("").to_string())
            .or_default();
        for t in r["Tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !e.iter().any(|x| x == t) {
                e.push(t.to_string());
            }
        }
    }
    let out: Vec<Value> = by_ns
        .into_iter()
        .map(|(ns, svcs)| {
            json!({
                "Namespace": ns,
                "Services": svcs.into_iter().map(|(n, tags)| json!({"ServiceName": n, "Tags": tags})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(read_json(200, &Value::Array(out), st.allocs_index))
}

fn service_get(inner: &Inner, q: &Query, name: &str) -> Res {
    let ns = q.namespace();
    let st = inner.state();
    let regs: Vec<Value> = native_registrations(&st, &ns, &inner.opts.datacenter)
        .into_iter()
        .filter(|r| r["ServiceName"] == name)
        .collect();
    Ok(read_json(200, &Value::Array(regs), st.allocs_index))
}
