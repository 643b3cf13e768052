//! Routing and handlers of the simulated Nomad `/v1` endpoints.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::http::request::Parts;
use hyper::Method;
use serde_json::{json, Map, Value};

use super::runtime::{self, scheduler};
use super::state::{Namespace, State, Variable};
use super::{json_resp, text, Inner, Resp};
use crate::duration::parse_go_duration;

// The runtime's endpoints (allocations, deployments, plan, submission, client fs), in their
// own file; as a child module they share this module's helpers.
#[path = "runtime/endpoints.rs"]
mod endpoints;

/// Nomad's default and maximum blocking wait.
const DEFAULT_QUERY_TIME: Duration = Duration::from_secs(300);
const MAX_QUERY_TIME: Duration = Duration::from_secs(600);

/// `structs.ErrInvalidMethod`.
const INVALID_METHOD: &str = "Invalid method";

/// Prefix of `EnforceIndex` errors (`RegisterEnforceIndexErrPrefix`).
const ENFORCE_PREFIX: &str = "Enforcing job modify index";

/// Largest total size of a variable's items (64 KiB).
const MAX_VARIABLE_SIZE: usize = 64 * 1024;

/// The RPC address a dev agent reports as leader and peer.
const RPC_ADDR: &str = "127.0.0.1:4647";

/// A handler outcome: a response either way, so `?` can return errors early.
type Res = Result<Resp, Box<Resp>>;

fn err(status: u16, msg: &str) -> Box<Resp> {
    Box::new(text(status, msg))
}

/// The query string, with Go's `url.Values.Get` semantics (first value wins).
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(q: Option<&str>) -> Query {
        let pairs = q
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// `parseNamespace`: `?namespace=`, defaulting to `default`.
    fn namespace(&self) -> String {
        match self.get("namespace") {
            Some(ns) if !ns.is_empty() => ns.to_string(),
            _ => "default".to_string(),
        }
    }

    /// Go `strconv.ParseBool`, false when absent.
    fn bool_param(&self, k: &str) -> Result<bool, Box<Resp>> {
        match self.get(k) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(v) => Err(err(
                400,
                &format!("Failed to parse value of {k:?} ({v:?}) as a bool: strconv.ParseBool: parsing {v:?}: invalid syntax"),
            )),
        }
    }
}

/// Blocking options of a read (`parseWait`, `parseIndex`).
struct QueryOpts {
    index: u64,
    wait: Duration,
}

fn parse_query_opts(q: &Query) -> Result<QueryOpts, Box<Resp>> {
    let mut wait = Duration::ZERO;
    if let Some(w) = q.get("wait").filter(|w| !w.is_empty()) {
        wait = parse_go_duration(w).map_err(|_| err(400, "Invalid wait time"))?;
    }
    let mut index = 0;
    if let Some(i) = q.get("index").filter(|i| !i.is_empty()) {
        index = i.parse::<u64>().map_err(|_| err(400, "Invalid index"))?;
    }
    Ok(QueryOpts { index, wait })
}

/// Runs `f` as a blocking query: returns once the result's index passes `opts.index`, or
/// after the wait (default 5m, max 10m) plus up to wait/16 of jitter.
async fn blocking<T>(inner: &Inner, opts: &QueryOpts, f: impl Fn(&State) -> (u64, T)) -> (u64, T) {
    let mut rx = inner.changes.subscribe();
    let first = f(&inner.state());
    if opts.index == 0 || first.0 > opts.index {
        return first;
    }
    let mut timeout = if opts.wait.is_zero() {
        DEFAULT_QUERY_TIME
    } else {
        opts.wait.min(MAX_QUERY_TIME)
    };
    let jitter_max = (timeout / 16).as_nanos() as u64;
    if jitter_max > 0 {
        timeout += Duration::from_nanos(fastrand::u64(0..jitter_max));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {
                rx.borrow_and_update();
                let out = f(&inner.state());
                if out.0 > opts.index {
                    return out;
                }
            }
            _ => return f(&inner.state()),
        }
    }
}

/// `setIndex`: Nomad never sends index 0.
fn set_index(resp: &mut Resp, index: u64) {
    if let Ok(v) = HeaderValue::from_str(&index.max(1).to_string()) {
        resp.headers_mut().insert("X-Nomad-Index", v);
    }
}

/// `setMeta`: the read headers.
fn set_meta(resp: &mut Resp, index: u64) {
    set_index(resp, index);
    let h = resp.headers_mut();
    h.insert("X-Nomad-KnownLeader", HeaderValue::from_static("true"));
    h.insert("X-Nomad-LastContact", HeaderValue::from_static("0"));
}

fn read_json(status: u16, v: &Value, index: u64) -> Resp {
    let mut r = json_resp(status, v);
    set_meta(&mut r, index);
    r
}

pub(super) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// RFC 3339 with nanoseconds, UTC (Go's `time.Time` JSON).
pub(super) fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let frac = format!("{nanos:09}");
    let frac = frac.trim_end_matches('0');
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

pub(super) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// hashicorp/go-multierror's default format.
fn multierror(errors: &[String]) -> String {
    if errors.len() == 1 {
        return format!("1 error occurred:\n\t* {}\n\n", errors[0]);
    }
    let points: Vec<String> = errors.iter().map(|e| format!("* {e}")).collect();
    format!(
        "{} errors occurred:\n\t{}\n\n",
        errors.len(),
        points.join("\n\t")
    )
}

/// `decodeBody`: an empty body is an error, and so is invalid JSON.
fn decode_body(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Err("Request body is empty".to_string());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

fn is_write(m: &Method) -> bool {
    m == Method::PUT || m == Method::POST
}

// ------------------------------------------------------------------ routing

pub(crate) async fn route(inner: &Arc<Inner>, parts: &Parts, body: Bytes) -> Resp {
    let path = percent_encoding::percent_decode_str(parts.uri.path())
        .decode_utf8_lossy()
        .into_owned();
    let q = Query::parse(parts.uri.query());
    let m = &parts.method;
    // The one ACL check of every endpoint (its table is `acl::RULES`).
    let access =
        match super::acl::authorize(inner, m, &path, &parts.headers, parts.uri.query(), &body) {
            Ok(a) => a,
            Err(r) => return *r,
        };
    if path.starts_with("/v1/acl/") {
        return super::acl::handle(inner, &access, m, &path, &body);
    }
    let out = dispatch(inner, m, &path, &q, &body).await;
    let resp = match out {
        Ok(r) => r,
        Err(r) => *r,
    };
    super::acl::filter_response(&access, resp).await
}

fn get_only(m: &Method) -> Result<(), Box<Resp>> {
    if m == Method::GET {
        Ok(())
    } else {
        Err(err(405, INVALID_METHOD))
    }
}

async fn dispatch(inner: &Arc<Inner>, m: &Method, path: &str, q: &Query, body: &[u8]) -> Res {
    match path {
        "/.well-known/jwks.json" => {
            get_only(m)?;
            Ok(read_json(200, &inner.signer.jwks(), 1))
        }
        "/v1/status/leader" => {
            get_only(m)?;
            Ok(read_json(200, &json!(RPC_ADDR), 0))
        }
        "/v1/status/peers" => {
            get_only(m)?;
            Ok(read_json(200, &json!([RPC_ADDR]), 0))
        }
        "/v1/regions" => {
            get_only(m)?;
            Ok(json_resp(200, &json!([inner.opts.region])))
        }
        "/v1/agent/self" => {
            get_only(m)?;
            Ok(json_resp(200, &agent_self(inner)))
        }
        "/v1/agent/health" => {
            get_only(m)?;
            agent_health(q)
        }
        "/v1/namespaces" => {
            get_only(m)?;
            namespaces_list(inner, q).await
        }
        "/v1/namespace" => {
            if !is_write(m) {
                return Err(err(405, INVALID_METHOD));
            }
            namespace_upsert(inner, "", body)
        }
        "/v1/vars" => {
            get_only(m)?;
            vars_list(inner, q).await
        }
        "/v1/jobs/parse" => match *m {
            Method::PUT | Method::POST => super::jobspec::parse_request(body)
                .map(|job| json_resp(200, &job))
                .map_err(|(status, msg)| err(status, &msg)),
            _ => Err(err(405, INVALID_METHOD)),
        },
        "/v1/jobs" => match *m {
            Method::GET => jobs_list(inner, q).await,
            Method::PUT | Method::POST => job_register(inner, q, "", body),
            _ => Err(err(405, INVALID_METHOD)),
        },
        "/v1/evaluations" => {
            get_only(m)?;
            evals_list(inner, q).await
        }
        p => {
            if let Some(name) = p.strip_prefix("/v1/namespace/") {
                match *m {
                    Method::GET => namespace_get(inner, q, name).await,
                    Method::PUT | Method::POST => namespace_upsert(inner, name, body),
                    Method::DELETE => namespace_delete(inner, name),
                    _ => Err(err(405, INVALID_METHOD)),
                }
            } else if let Some(vpath) = p.strip_prefix("/v1/var/") {
                var_request(inner, m, q, vpath, body).await
            } else if let Some(rest) = p.strip_prefix("/v1/job/") {
                job_specific(inner, m, q, rest, body).await
            } else if let Some(id) = p.strip_prefix("/v1/evaluation/") {
                get_only(m)?;
                eval_get(inner, q, id).await
            } else if let Some(r) = endpoints::route(inner, m, p, q, body).await {
                r
            } else {
                Ok(text(404, ""))
            }
        }
    }
}

// ------------------------------------------------------------------ agent

fn agent_self(inner: &Inner) -> Value {
    let o = &inner.opts;
    json!({
        "config": {
            "Region": o.region,
            "Datacenter": o.datacenter,
            "NodeName": o.node_name,
            "DataDir": "",
            "LogLevel": "DEBUG",
            "BindAddr": "127.0.0.1",
            "EnableDebug": true,
            "Ports": {"HTTP": 4646, "RPC": 4647, "Serf": 4648},
            "Addresses": {"HTTP": "127.0.0.1", "RPC": "127.0.0.1", "Serf": "127.0.0.1"},
            "Server": {"Enabled": true, "BootstrapExpect": 1},
            "Client": {"Enabled": true, "NodeClass": "", "NodePool": "default"},
            "ACL": {"Enabled": inner.acl().enabled},
            "DevMode": true,
            "Version": {
                "Version": o.version,
                "VersionPrerelease": "",
                "VersionMetadata": "",
                "BuildDate": "2025-07-08T00:00:00Z",
                "Revision": ""
            },
        },
        "member": {
            "Name": format!("{}.{}", o.node_name, o.region),
            "Addr": "127.0.0.1",
            "Port": 4648,
            "Status": "alive",
            "Tags": {
                "region": o.region,
                "dc": o.datacenter,
                "role": "nomad",
                "build": o.version,
                "port": "4647",
                "bootstrap": "1",
                "expect": "1",
                "raft_vsn": "3",
                "id": inner.node_id,
                "vsn": "1",
                "mvn": "1",
                "rpc_addr": "127.0.0.1"
            },
            "ProtocolMin": 1,
            "ProtocolMax": 5,
            "ProtocolCur": 2,
            "DelegateMin": 2,
            "DelegateMax": 5,
            "DelegateCur": 2
        },
        "stats": {
            "nomad": {"server": "true", "leader": "true", "leader_addr": RPC_ADDR, "bootstrap": "true", "known_regions": "1"},
            "client": {"node_id": inner.node_id, "known_servers": RPC_ADDR, "num_allocations": "0", "last_heartbeat": "0", "heartbeat_ttl": "0"},
            "runtime": {"arch": "amd64", "version": "go1.24.4", "max_procs": "2", "goroutines": "100", "cpu_count": "2", "kernel.name": "linux"}
        }
    })
}

fn agent_health(q: &Query) -> Res {
    let ok = json!({"ok": true, "message": "ok"});
    let v = match q.get("type") {
        Some("server") => json!({"server": ok}),
        Some("client") => json!({"client": ok}),
        _ => json!({"client": ok, "server": ok}),
    };
    Ok(json_resp(200, &v))
}

// ------------------------------------------------------------------ namespaces

fn namespace_json(ns: &Namespace) -> Value {
    json!({
        "Name": ns.name,
        "Description": ns.description,
        "Quota": "",
        "Capabilities": null,
        "NodePoolConfiguration": null,
        "VaultConfiguration": null,
        "ConsulConfiguration": null,
        "Meta": ns.meta,
        "CreateIndex": ns.create_index,
        "ModifyIndex": ns.modify_index,
    })
}

async fn namespaces_list(inner: &Inner, q: &Query) -> Res {
    let opts = parse_query_opts(q)?;
    let prefix = q.get("prefix").unwrap_or("").to_string();
    let (idx, out) = blocking(inner, &opts, |st| {
        let list: Vec<Value> = st
            .namespaces
            .values()
            .filter(|n| n.name.starts_with(&prefix))
            .map(namespace_json)
            .collect();
        (st.namespaces_index, list)
    })
    .await;
    Ok(read_json(200, &Value::Array(out), idx))
}

async fn namespace_get(inner: &Inner, q: &Query, name: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let (idx, out) = blocking(inner, &opts, |st| match st.namespaces.get(name) {
        Some(n) => (n.modify_index, Some(namespace_json(n))),
        None => (st.namespaces_index, None),
    })
    .await;
    match out {
        Some(v) => Ok(read_json(200, &v, idx)),
        None => {
            let mut r = text(404, "Namespace not found");
            set_meta(&mut r, idx);
            Err(Box::new(r))
        }
    }
}

fn valid_namespace_name(n: &str) -> bool {
    (1..=128).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn namespace_upsert(inner: &Inner, path_name: &str, body: &[u8]) -> Res {
    let v = decode_body(body).map_err(|e| err(500, &e))?;
    let obj = v.as_object().ok_or_else(|| {
        err(
            500,
            "json: cannot unmarshal into Go value of type structs.Namespace",
        )
    })?;
    let name = obj.get("Name").and_then(Value::as_str).unwrap_or("");
    if !path_name.is_empty() && name != path_name {
        return Err(err(400, "Namespace name does not match request path"));
    }
    let description = obj
        .get("Description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let meta = match obj.get("Meta") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let s = v.as_str().ok_or_else(|| {
                    err(
                        500,
                        "json: cannot unmarshal into Go struct field Namespace.Meta of type string",
                    )
                })?;
                out.insert(k.clone(), s.to_string());
            }
            Some(out)
        }
        Some(_) => return Err(err(
            500,
            "json: cannot unmarshal into Go struct field Namespace.Meta of type map[string]string",
        )),
    };
    let mut errors = Vec::new();
    if !valid_namespace_name(name) {
        errors.push(format!(
            "invalid name {name:?}. Must match regex ^[a-zA-Z0-9-]{{1,128}}$"
        ));
    }
    if description.len() > 256 {
        errors.push("description longer than 256".to_string());
    }
    if !errors.is_empty() {
        return Err(err(
            500,
            &format!("Invalid namespace {name:?}: {}", multierror(&errors)),
        ));
    }
    let name = name.to_string();
    let idx = inner.write(|st| {
        let idx = st.apply();
        let create_index = st
            .namespaces
            .get(&name)
            .map(|n| n.create_index)
            .unwrap_or(idx);
        st.namespaces.insert(
            name.clone(),
            Namespace {
                name: name.clone(),
                description,
                meta,
                create_index,
                modify_index: idx,
            },
        );
        st.namespaces_index = idx;
        idx
    });
    let mut r = text(200, "");
    set_index(&mut r, idx);
    Ok(r)
}

fn namespace_delete(inner: &Inner, name: &str) -> Res {
    if name == "default" {
        return Err(err(500, "can not delete default namespace"));
    }
    let out = inner.write(|st| -> Result<u64, String> {
        if st.namespace_exists(name) {
            let mut errors = Vec::new();
            let non_terminal_job = st
                .jobs
                .iter()
                .any(|((ns, _), j)| ns == name && j.current["Status"] != "dead");
            if non_terminal_job {
                errors.push(format!(
                    "namespace {name:?} has non-terminal jobs in regions: [global]"
                ));
            }
            let live_alloc = st.allocs.values().any(|a| {
                a["Namespace"] == name
                    && !matches!(
                        a["ClientStatus"].as_str(),
                        Some("complete" | "failed" | "lost")
                    )
            });
            if live_alloc {
                errors.push(format!(
                    "namespace {name:?} has non-terminal allocations in regions: [global]"
                ));
            }
            if !st.vars_under(name, "").is_empty() {
                errors.push(format!(
                    "namespace {name:?} has variables associated with it in regions: [global]"
                ));
            }
            if !errors.is_empty() {
                return Err(multierror(&errors));
            }
        }
        let idx = st.apply();
        if st.namespaces.remove(name).is_none() {
            return Err("namespace not found".to_string());
        }
        st.namespaces_index = idx;
        Ok(idx)
    });
    match out {
        Ok(idx) => {
            let mut r = text(200, "");
            set_index(&mut r, idx);
            Ok(r)
        }
        Err(e) => Err(err(500, &e)),
    }
}

// ------------------------------------------------------------------ variables

fn var_meta_json(v: &Variable) -> Value {
    json!({
        "Namespace": v.namespace,
        "Path": v.path,
        "CreateIndex": v.create_index,
        "ModifyIndex": v.modify_index,
        "CreateTime": v.create_time,
        "ModifyTime": v.modify_time,
    })
}

fn var_json(v: &Variable) -> Value {
    let mut out = var_meta_json(v);
    out["Items"] = if v.items.is_empty() {
        Value::Null
    } else {
        Value::Object(v.items.clone())
    };
    out
}

/// The zero variable Nomad returns as the conflict of a CAS against a missing path.
fn zero_var(ns: &str, path: &str) -> Variable {
    Variable {
        namespace: ns.to_string(),
        path: path.to_string(),
        items: Map::new(),
        create_index: 0,
        modify_index: 0,
        create_time: 0,
        modify_time: 0,
    }
}

async fn vars_list(inner: &Inner, q: &Query) -> Res {
    let opts = parse_query_opts(q)?;
    let ns = q.namespace();
    let prefix = q.get("prefix").unwrap_or("").to_string();
    let (idx, out) = blocking(inner, &opts, |st| {
        let list: Vec<Value> = st
            .vars_under(&ns, &prefix)
            .into_iter()
            .map(var_meta_json)
            .collect();
        (st.vars_index, list)
    })
    .await;
    Ok(read_json(200, &Value::Array(out), idx))
}

fn parse_cas(q: &Query) -> Result<Option<u64>, Box<Resp>> {
    match q.get("cas") {
        None => Ok(None),
        Some(c) => c.parse::<u64>().map(Some).map_err(|_| {
            let why = if c.is_empty() {
                "invalid syntax"
            } else if c.chars().all(|ch| ch.is_ascii_digit()) {
                "value out of range"
            } else {
                "invalid syntax"
            };
            err(
                400,
                &format!("can not parse cas: strconv.ParseUint: parsing {c:?}: {why}"),
            )
        }),
    }
}

fn valid_var_path(p: &str) -> bool {
    (1..=128).contains(&p.len())
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '~' | '/'))
}

async fn var_request(inner: &Inner, m: &Method, q: &Query, path: &str, body: &[u8]) -> Res {
    if path.is_empty() {
        return Err(err(400, "missing variable path"));
    }
    match *m {
        Method::GET => var_get(inner, q, path).await,
        Method::PUT | Method::POST => var_put(inner, q, path, body),
        Method::DELETE => var_delete(inner, q, path),
        _ => Err(err(405, INVALID_METHOD)),
    }
}

async fn var_get(inner: &Inner, q: &Query, path: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let key = (q.namespace(), path.to_string());
    let (idx, out) = blocking(inner, &opts, |st| match st.vars.get(&key) {
        Some(v) => (v.modify_index, Some(var_json(v))),
        None => (st.vars_index, None),
    })
    .await;
    match out {
        Some(v) => Ok(read_json(200, &v, idx)),
        None => {
            let mut r = text(404, "variable not found");
            set_meta(&mut r, idx);
            Err(Box::new(r))
        }
    }
}

fn conflict(v: &Variable) -> Resp {
    let mut r = json_resp(409, &var_json(v));
    set_index(&mut r, v.modify_index);
    r
}

fn var_put(inner: &Inner, q: &Query, path: &str, body: &[u8]) -> Res {
    let cas = parse_cas(q)?;
    let v = decode_body(body).map_err(|e| err(400, &e))?;
    let obj = v.as_object().ok_or_else(|| {
        err(
            400,
            "json: cannot unmarshal into Go value of type structs.VariableDecrypted",
        )
    })?;
    let mut items = Map::new();
    match obj.get("Items") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::String(_) => {
                        items.insert(k.clone(), v.clone());
                    }
                    Value::Null => {
                        items.insert(k.clone(), json!(""));
                    }
                    _ => return Err(err(400, "json: cannot unmarshal into Go struct field VariableDecrypted.Items of type string")),
                }
            }
        }
        Some(_) => return Err(err(400, "json: cannot unmarshal into Go struct field VariableDecrypted.Items of type structs.VariableItems")),
    }
    if items.is_empty() {
        return Err(err(400, "variable missing required Items object"));
    }
    let ns = match (
        q.get("namespace"),
        obj.get("Namespace").and_then(Value::as_str),
    ) {
        (Some(n), _) if !n.is_empty() => n.to_string(),
        (_, Some(n)) if !n.is_empty() => n.to_string(),
        _ => "default".to_string(),
    };
    let size: usize = items
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if ns == "*" {
        return Err(err(500, "can not target wildcard (\"*\")namespace"));
    }
    if size > MAX_VARIABLE_SIZE {
        return Err(err(500, "variables are limited to 64KiB in total size"));
    }
    if !valid_var_path(path) {
        return Err(err(500, &format!("invalid path {path:?}")));
    }
    let path = path.to_string();
    let out = inner.write(|st| -> Result<Variable, Result<Variable, String>> {
        if !st.namespace_exists(&ns) {
            return Err(Err(format!(
                "variable {path:?} is in nonexistent namespace {ns:?}"
            )));
        }
        let key = (ns.clone(), path.clone());
        let existing = st.vars.get(&key).cloned();
        if let Some(cas) = cas {
            match &existing {
                None if cas != 0 => return Err(Ok(zero_var(&ns, &path))),
                Some(e) if e.modify_index != cas => return Err(Ok(e.clone())),
                _ => {}
            }
        }
        let idx = st.apply();
        let now = now_ns();
        let (create_index, create_time) = existing
            .map(|e| (e.create_index, e.create_time))
            .unwrap_or((idx, now));
        let var = Variable {
            namespace: ns.clone(),
            path: path.clone(),
            items,
            create_index,
            modify_index: idx,
            create_time,
            modify_time: now,
        };
        st.vars.insert(key, var.clone());
        st.vars_index = idx;
        Ok(var)
    });
    match out {
        Ok(var) => {
            let mut r = json_resp(200, &var_json(&var));
            set_index(&mut r, var.modify_index);
            Ok(r)
        }
        Err(Ok(current)) => Err(Box::new(conflict(&current))),
        Err(Err(e)) => Err(err(500, &e)),
    }
}

fn var_delete(inner: &Inner, q: &Query, path: &str) -> Res {
    let cas = parse_cas(q)?;
    let ns = q.namespace();
    let path = path.to_string();
    let out = inner.write(|st| -> Result<u64, Variable> {
        let key = (ns.clone(), path.clone());
        if let Some(cas) = cas {
            match st.vars.get(&key) {
                None if cas != 0 => return Err(zero_var(&ns, &path)),
                Some(e) if e.modify_index != cas => return Err(e.clone()),
                _ => {}
            }
        }
        let idx = st.apply();
        if st.vars.remove(&key).is_some() {
            st.vars_index = idx;
        }
        Ok(idx)
    });
    match out {
        Ok(idx) => {
            let mut r = text(204, "");
            set_index(&mut r, idx);
            Ok(r)
        }
        Err(current) => Err(Box::new(conflict(&current))),
    }
}

// ------------------------------------------------------------------ jobs

/// The default update strategy of a service job (`api.DefaultUpdateStrategy`).
fn default_update() -> Value {
    json!({
        "Stagger": 30_000_000_000i64,
        "MaxParallel": 1,
        "HealthCheck": "checks",
        "MinHealthyTime": 10_000_000_000i64,
        "HealthyDeadline": 300_000_000_000i64,
        "ProgressDeadline": 600_000_000_000i64,
        "Canary": 0,
        "AutoRevert": false,
        "AutoPromote": false,
    })
}

/// Top-level job keys a client may send (`api.Job`), with the server's defaults.
const JOB_KEYS: &[&str] = &[
    "Region",
    "Namespace",
    "ID",
    "Name",
    "Type",
    "Priority",
    "AllAtOnce",
    "Datacenters",
    "NodePool",
    "Constraints",
    "Affinities",
    "TaskGroups",
    "Update",
    "Multiregion",
    "Spreads",
    "Periodic",
    "ParameterizedJob",
    "Reschedule",
    "Migrate",
    "Meta",
    "UI",
    "ConsulToken",
    "VaultToken",
    "ConsulNamespace",
    "VaultNamespace",
    "Stop",
    "ParentID",
    "Dispatched",
    "DispatchIdempotencyToken",
    "Payload",
    "NomadTokenID",
    "VersionTag",
];

/// `api.Job.Canonicalize` + the server's defaults, keeping what the client sent.
fn canonicalize_job(job: &Map<String, Value>, ns: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for k in JOB_KEYS {
        out.insert(
            (*k).to_string(),
            job.get(*k).cloned().unwrap_or(Value::Null),
        );
    }
    let id = out["ID"].as_str().unwrap_or("").to_string();
    let set_default = |out: &mut Map<String, Value>, k: &str, v: Value| {
        if out.get(k).is_none_or(Value::is_null) {
            out.insert(k.to_string(), v);
        }
    };
    set_default(&mut out, "Name", json!(id));
    out.insert("Namespace".into(), json!(ns));
    set_default(&mut out, "Region", json!("global"));
    set_default(&mut out, "Type", json!("service"));
    if out["Priority"].is_null() || out["Priority"] == 0 {
        out.insert("Priority".into(), json!(50));
    }
    for k in ["AllAtOnce", "Stop", "Dispatched"] {
        set_default(&mut out, k, json!(false));
    }
    for k in [
        "ParentID",
        "ConsulToken",
        "VaultToken",
        "ConsulNamespace",
        "VaultNamespace",
        "NomadTokenID",
        "DispatchIdempotencyToken",
    ] {
        set_default(&mut out, k, json!(""));
    }
    if out["Datacenters"].as_array().is_none_or(Vec::is_empty) {
        out.insert("Datacenters".into(), json!(["*"]));
    }
    set_default(&mut out, "NodePool", json!("default"));
    if out["Type"] == "service" {
        set_default(&mut out, "Update", default_update());
    }
    if let Some(Value::Array(groups)) = out.get_mut("TaskGroups") {
        for g in groups.iter_mut() {
            if let Value::Object(g) = g {
                if g.get("Count").is_none_or(Value::is_null) {
                    g.insert("Count".into(), json!(1));
                }
                // `NetworkResource.Canonicalize`: host mode, ports on the default network.
                if let Some(Value::Array(nets)) = g.get_mut("Networks") {
                    for n in nets.iter_mut().filter(|n| n.is_object()) {
                        if n["Mode"].as_str().is_none_or(str::is_empty) {
                            n["Mode"] = json!("host");
                        }
                        for key in ["DynamicPorts", "ReservedPorts"] {
                            if let Some(ps) = n[key].as_array_mut() {
                                for p in ps.iter_mut().filter(|p| p.is_object()) {
                                    if p["HostNetwork"].as_str().is_none_or(str::is_empty) {
                                        p["HostNetwork"] = json!("default");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// `structs.Job.Validate` (the top-level checks and the groups' names and tasks).
fn validate_job(job: &Map<String, Value>) -> Vec<String> {
    let mut errors = Vec::new();
    let id = job["ID"].as_str().unwrap_or("");
    if id.is_empty() {
        errors.push("Missing job ID".to_string());
    } else if id.contains(' ') {
        errors.push("Job ID contains a space".to_string());
    } else if id.contains('\0') {
        errors.push("Job ID contains a null character".to_string());
    }
    match job["Name"].as_str() {
        None | Some("") => errors.push("Missing job name".to_string()),
        Some(n) if n.contains('\0') => {
            errors.push("Job Name contains a null character".to_string())
        }
        _ => {}
    }
    match job["Type"].as_str().unwrap_or("") {
        "service" | "batch" | "system" | "sysbatch" => {}
        "" => errors.push("Missing job type".to_string()),
        other => errors.push(format!("Invalid job type: {other:?}")),
    }
    let groups = job["TaskGroups"].as_array().cloned().unwrap_or_default();
    if groups.is_empty() {
        errors.push("Missing job task groups".to_string());
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        let name = g["Name"].as_str().unwrap_or("");
        if name.is_empty() {
            errors.push(format!("Job task group {} missing name", i + 1));
        } else if let Some(first) = seen.get(name) {
            errors.push(format!(
                "Job task group {} redefines '{name}' from group {}",
                i + 1,
                first + 1
            ));
        } else {
            seen.insert(name.to_string(), i);
        }
        let tasks = g["Tasks"].as_array().cloned().unwrap_or_default();
        let mut tg_errors = Vec::new();
        if g["Count"].as_i64().is_some_and(|c| c < 0) {
            tg_errors.push("Task group count can't be negative".to_string());
        }
        if tasks.is_empty() {
            tg_errors.push("Missing tasks for task group".to_string());
        }
        for (ti, t) in tasks.iter().enumerate() {
            let tname = t["Name"].as_str().unwrap_or("");
            let mut t_errors = Vec::new();
            if tname.is_empty() {
                t_errors.push("Missing task name".to_string());
            }
            if t["Driver"].as_str().unwrap_or("").is_empty() {
                t_errors.push("Missing task driver".to_string());
            }
            if !t_errors.is_empty() {
                let label = if tname.is_empty() {
                    format!("{}", ti + 1)
                } else {
                    tname.to_string()
                };
                tg_errors.push(format!(
                    "Task {label} validation failed: {}",
                    multierror(&t_errors)
                ));
            }
        }
        if !tg_errors.is_empty() {
            errors.push(format!(
                "Task group {name} validation failed: {}",
                multierror(&tg_errors)
            ));
        }
    }
    errors
}

/// What the server adds to a stored job.
fn job_stub(job: &Value) -> Value {
    let mut summary = Map::new();
    if let Some(groups) = job["TaskGroups"].as_array() {
        for g in groups {
            if let Some(n) = g["Name"].as_str() {
                summary.insert(
                    n.to_string(),
                    json!({"Queued":0,"Complete":0,"Failed":0,"Running":0,"Starting":0,"Lost":0,"Unknown":0}),
                );
            }
        }
    }
    json!({
        "ID": job["ID"],
        "ParentID": job["ParentID"],
        "Name": job["Name"],
        "Namespace": job["Namespace"],
        "Datacenters": job["Datacenters"],
        "NodePool": job["NodePool"],
        "Multiregion": job["Multiregion"],
        "Type": job["Type"],
        "Priority": job["Priority"],
        "Periodic": !job["Periodic"].is_null(),
        "ParameterizedJob": !job["ParameterizedJob"].is_null(),
        "Stop": job["Stop"],
        "Status": job["Status"],
        "StatusDescription": job["StatusDescription"],
        "JobSummary": {
            "JobID": job["ID"],
            "Namespace": job["Namespace"],
            "Summary": summary,
            "Children": {"Pending": 0, "Running": 0, "Dead": 0},
            "CreateIndex": job["CreateIndex"],
            "ModifyIndex": job["ModifyIndex"],
        },
        "CreateIndex": job["CreateIndex"],
        "ModifyIndex": job["ModifyIndex"],
        "JobModifyIndex": job["JobModifyIndex"],
        "SubmitTime": job["SubmitTime"],
        "Meta": job["Meta"],
    })
}

/// A job's running counts, filled into its summary from its allocations.
fn fill_summary(stub: &mut Value, allocs: &[&Value]) {
    for a in allocs {
        let Some(tg) = a["TaskGroup"].as_str() else {
            continue;
        };
        let key = match a["ClientStatus"].as_str() {
            Some("running") => "Running",
            Some("pending") => "Starting",
            Some("complete") => "Complete",
            Some("failed") => "Failed",
            Some("lost") => "Lost",
            _ => "Unknown",
        };
        if let Some(n) = stub["JobSummary"]["Summary"][tg][key].as_u64() {
            stub["JobSummary"]["Summary"][tg][key] = json!(n + 1);
        }
    }
}

async fn jobs_list(inner: &Inner, q: &Query) -> Res {
    let opts = parse_query_opts(q)?;
    let ns = q.namespace();
    let prefix = q.get("prefix").unwrap_or("").to_string();
    let (idx, out) = blocking(inner, &opts, |st| {
        let list: Vec<Value> = st
            .jobs
            .iter()
            .filter(|((jns, id), _)| (ns == "*" || *jns == ns) && id.starts_with(&prefix))
            .map(|((jns, id), j)| {
                let mut stub = job_stub(&j.current);
                fill_summary(&mut stub, &st.job_allocs(jns, id));
                stub
            })
            .collect();
        (st.jobs_index, list)
    })
    .await;
    Ok(read_json(200, &Value::Array(out), idx))
}

fn job_register(inner: &Arc<Inner>, q: &Query, path_id: &str, body: &[u8]) -> Res {
    let v = decode_body(body).map_err(|e| err(400, &e))?;
    let Some(req) = v.as_object() else {
        return Err(err(
            400,
            "json: cannot unmarshal into Go value of type api.JobRegisterRequest",
        ));
    };
    let job = match req.get("Job") {
        None | Some(Value::Null) => return Err(err(400, "Job must be specified")),
        Some(Value::Object(j)) => j,
        Some(_) => return Err(err(
            400,
            "json: cannot unmarshal into Go struct field JobRegisterRequest.Job of type api.Job",
        )),
    };
    let id = match job.get("ID") {
        None | Some(Value::Null) => return Err(err(400, "Job ID hasn't been provided")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(err(
                400,
                "json: cannot unmarshal into Go struct field Job.Job.ID of type string",
            ))
        }
    };
    if !path_id.is_empty() && id != path_id {
        return Err(err(400, "Job ID does not match name"));
    }
    let enforce = req
        .get("EnforceIndex")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let jmi = req
        .get("JobModifyIndex")
        .and_then(Value::as_u64)
        .unwrap_or(0);
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
    scheduler::connect_hook(&mut job).map_err(|e| err(500, &e))?;
    let submission = endpoints::submission_of(req);
    let errors = validate_job(&job);
    if !errors.is_empty() {
        return Err(err(500, &multierror(&errors)));
    }
    let mut launch = runtime::Launch::default();
    let out = inner.write(|st| -> Result<Value, String> {
        let key = (ns.clone(), id.clone());
        let existing = st.jobs.get(&key).map(|e| e.current.clone());
        if enforce {
            match &existing {
                Some(e) => {
                    let cur = e["JobModifyIndex"].as_u64().unwrap_or(0);
                    if jmi == 0 {
                        return Err(format!("{ENFORCE_PREFIX} 0: job already exists"));
                    }
                    if jmi != cur {
                        return Err(format!(
                            "{ENFORCE_PREFIX} {jmi}: job exists with conflicting job modify index: {cur}"
                        ));
                    }
                }
                None if jmi != 0 => {
                    return Err(format!("{ENFORCE_PREFIX} {jmi}: job does not exist"));
                }
                None => {}
            }
        }
        if !st.namespace_exists(&ns) {
            return Err(format!("job {id:?} is in nonexistent namespace {ns:?}"));
        }
        let reg = scheduler::register(inner, st, job, "job-register");
        if let Some(src) = &submission {
            let version = reg.job["Version"].as_u64().unwrap_or(0);
            st.submissions.insert((ns.clone(), id.clone(), version), src.clone());
        }
        let (eval_id, eval_index, idx, job_value) = (reg.eval_id, reg.eval_index, reg.index, reg.job);
        launch = reg.launch;
        Ok(json!({
            "EvalID": eval_id,
            "EvalCreateIndex": eval_index,
            "JobModifyIndex": job_value["JobModifyIndex"],
            "Warnings": "",
            "Index": idx,
            "LastContact": 0,
            "KnownLeader": false,
            "NextToken": "",
        }))
    });
    runtime::apply(inner, launch);
    match out {
        Ok(v) => {
            let mut r = json_resp(200, &v);
            set_index(&mut r, v["Index"].as_u64().unwrap_or(0));
            Ok(r)
        }
        Err(e) => Err(err(500, &e)),
    }
}

fn job_deregister(inner: &Arc<Inner>, q: &Query, id: &str) -> Res {
    let purge = q.bool_param("purge")?;
    let ns = q.namespace();
    let out = inner.write(|st| {
        let key = (ns.clone(), id.to_string());
        let Some(existing) = st.jobs.get(&key).map(|j| j.current.clone()) else {
            return (
                runtime::Launch::default(),
                json!({
                    "EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": 0,
                    "VolumeEvalID": "", "VolumeEvalIndex": 0,
                    "Index": 0, "LastContact": 0, "KnownLeader": false, "NextToken": "",
                }),
            );
        };
        let idx = st.apply();
        let now = now_ns();
        let mut stopped = existing.clone();
        if purge {
            st.jobs.remove(&key);
            st.submissions.retain(|(n, j, _), _| !(n == &ns && j == id));
        } else if existing["Stop"] != true {
            stopped["Stop"] = json!(true);
            stopped["Version"] = json!(existing["Version"].as_u64().unwrap_or(0) + 1);
            stopped["ModifyIndex"] = json!(idx);
            stopped["JobModifyIndex"] = json!(idx);
            stopped["SubmitTime"] = json!(now);
            stopped["Stable"] = json!(false);
            if let Some(j) = st.jobs.get_mut(&key) {
                j.current = stopped.clone();
                j.versions.push(stopped.clone());
            }
        }
        st.jobs_index = idx;
        stopped["Stop"] = json!(true);
        let eval_id = crate::consul::uuid_v4();
        st.evals.insert(
            eval_id.clone(),
            scheduler::new_eval(&stopped, &eval_id, "job-deregister", idx, now),
        );
        st.evals_index = idx;
        let launch = scheduler::schedule(inner, st, &stopped, &eval_id);
        scheduler::refresh_status(st, &ns, id);
        (
            launch,
            json!({
                "EvalID": eval_id, "EvalCreateIndex": idx, "JobModifyIndex": idx,
                "VolumeEvalID": "", "VolumeEvalIndex": 0,
                "Index": idx, "LastContact": 0, "KnownLeader": false, "NextToken": "",
            }),
        )
    });
    let (launch, out) = out;
    runtime::apply(inner, launch);
    let mut r = json_resp(200, &out);
    set_index(&mut r, out["Index"].as_u64().unwrap_or(0));
    Ok(r)
}

async fn job_specific(inner: &Arc<Inner>, m: &Method, q: &Query, rest: &str, body: &[u8]) -> Res {
    if let Some(r) = endpoints::job_sub(inner, m, q, rest, body).await {
        return r;
    }
    if let Some(id) = rest.strip_suffix("/allocations") {
        get_only(m)?;
        return job_allocations(inner, q, id).await;
    }
    if let Some(id) = rest.strip_suffix("/evaluations") {
        get_only(m)?;
        return job_evaluations(inner, q, id).await;
    }
    if let Some(id) = rest.strip_suffix("/versions") {
        get_only(m)?;
        return job_versions(inner, q, id).await;
    }
    match *m {
        Method::GET => job_get(inner, q, rest).await,
        Method::PUT | Method::POST => job_register(inner, q, rest, body),
        Method::DELETE => job_deregister(inner, q, rest),
        _ => Err(err(405, INVALID_METHOD)),
    }
}

async fn job_get(inner: &Inner, q: &Query, id: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let key = (q.namespace(), id.to_string());
    let (idx, out) = blocking(inner, &opts, |st| match st.jobs.get(&key) {
        Some(j) => (
            j.current["ModifyIndex"].as_u64().unwrap_or(0),
            Some(j.current.clone()),
        ),
        None => (st.jobs_index, None),
    })
    .await;
    match out {
        Some(v) => Ok(read_json(200, &v, idx)),
        None => {
            let mut r = text(404, "job not found");
            set_meta(&mut r, idx);
            Err(Box::new(r))
        }
    }
}

async fn job_versions(inner: &Inner, q: &Query, id: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let key = (q.namespace(), id.to_string());
    let (idx, out) = blocking(inner, &opts, |st| match st.jobs.get(&key) {
        Some(j) => {
            let mut versions = j.versions.clone();
            versions.reverse();
            (j.current["ModifyIndex"].as_u64().unwrap_or(0), versions)
        }
        None => (st.jobs_index, Vec::new()),
    })
    .await;
    if out.is_empty() {
        let mut r = text(404, "job versions not found");
        set_meta(&mut r, idx);
        return Err(Box::new(r));
    }
    let body = json!({
        "Versions": out,
        "Diffs": null,
        "Index": idx,
        "LastContact": 0,
        "KnownLeader": true,
        "NextToken": "",
    });
    Ok(read_json(200, &body, idx))
}

async fn job_allocations(inner: &Inner, q: &Query, id: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let all = q.bool_param("all")?;
    let ns = q.namespace();
    let (idx, out) = blocking(inner, &opts, |st| {
        // Without `all`, only the allocations of the current instance of the job (one
        // purged and registered again is a new instance).
        let job_create = if all {
            None
        } else {
            st.jobs
                .get(&(ns.clone(), id.to_string()))
                .and_then(|j| j.current["CreateIndex"].as_u64())
        };
        let list: Vec<Value> = st
            .job_allocs(&ns, id)
            .into_iter()
            .filter(|a| job_create.is_none_or(|c| a["CreateIndex"].as_u64().unwrap_or(0) >= c))
            .map(endpoints::alloc_stub)
            .collect();
        (st.allocs_index, list)
    })
    .await;
    Ok(read_json(200, &Value::Array(out), idx))
}

async fn job_evaluations(inner: &Inner, q: &Query, id: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let ns = q.namespace();
    let (idx, out) = blocking(inner, &opts, |st| {
        let list: Vec<Value> = st.job_evals(&ns, id).into_iter().cloned().collect();
        (st.evals_index, list)
    })
    .await;
    Ok(read_json(200, &Value::Array(out), idx))
}

async fn evals_list(inner: &Inner, q: &Query) -> Res {
    let opts = parse_query_opts(q)?;
    let ns = q.namespace();
    let (idx, out) = blocking(inner, &opts, |st| {
        let mut list: Vec<Value> = st
            .evals
            .values()
            .filter(|e| ns == "*" || e["Namespace"] == ns.as_str())
            .cloned()
            .collect();
        list.sort_by_key(|e| std::cmp::Reverse(e["CreateIndex"].as_u64().unwrap_or(0)));
        (st.evals_index, list)
    })
    .await;
    Ok(read_json(200, &Value::Array(out), idx))
}

async fn eval_get(inner: &Inner, q: &Query, id: &str) -> Res {
    let opts = parse_query_opts(q)?;
    let (idx, out) = blocking(inner, &opts, |st| match st.evals.get(id) {
        Some(e) => (e["ModifyIndex"].as_u64().unwrap_or(0), Some(e.clone())),
        None => (st.evals_index, None),
    })
    .await;
    match out {
        Some(v) => Ok(read_json(200, &v, idx)),
        None => {
            let mut r = text(404, "eval not found");
            set_meta(&mut r, idx);
            Err(Box::new(r))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_multierrors() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_700_000_000_123_000_000),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(multierror(&["a".into()]), "1 error occurred:\n\t* a\n\n");
        assert_eq!(
            multierror(&["a".into(), "b".into()]),
            "2 errors occurred:\n\t* a\n\t* b\n\n"
        );
    }
}
