//! Routing and handlers of the simulated `/v1` endpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::Method;
use serde_json::{json, Map, Value};

use super::acl::{self, Authorizer, Level};
use super::state::{Check, KvEntry, Service, State};
use super::{json_resp, text, Inner, Resp, KV_MAX_VALUE_SIZE};
use crate::duration::parse_go_duration;

/// Consul's default and maximum blocking wait.
const DEFAULT_QUERY_TIME: Duration = Duration::from_secs(300);
const MAX_QUERY_TIME: Duration = Duration::from_secs(600);

/// The query string, keeping Go's `url.Values` semantics (first value wins for `Get`).
pub(crate) struct Query {
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

    pub(crate) fn has(&self, k: &str) -> bool {
        self.pairs.iter().any(|(key, _)| key == k)
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn get_all(&self, k: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Go's `url.Values.Encode`: sorted by key, values in order.
    fn encode(&self) -> String {
        let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (k, v) in &self.pairs {
            grouped.entry(k).or_default().push(v);
        }
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, vs) in grouped {
            for v in vs {
                ser.append_pair(k, v);
            }
        }
        ser.finish()
    }

    /// Go `getBoolQueryParam`: present with an empty value means true.
    fn bool_param(&self, k: &str) -> Result<bool, ()> {
        match self.get(k) {
            None => Ok(false),
            Some("") => Ok(true),
            Some(v) => parse_go_bool(v).ok_or(()),
        }
    }
}

fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Blocking and consistency options of a read.
pub(crate) struct QueryOpts {
    index: u64,
    wait: Duration,
    consistency: &'static str,
}

/// Consul `parse`: consistency, then `wait`, then `index`.
pub(crate) fn parse_query_opts(q: &Query) -> Result<QueryOpts, Box<Resp>> {
    let stale = q.has("stale");
    let consistent = q.has("consistent");
    if stale && consistent {
        return Err(Box::new(text(
            400,
            "Cannot specify ?stale with ?consistent, conflicting semantics.",
        )));
    }
    let consistency = if stale {
        "stale"
    } else if consistent {
        "consistent"
    } else {
        "leader"
    };
    let mut wait = Duration::ZERO;
    if let Some(w) = q.get("wait").filter(|w| !w.is_empty()) {
        wait = parse_go_duration(w).map_err(|_| Box::new(text(400, "Invalid wait time")))?;
    }
    let mut index = 0;
    if let Some(i) = q.get("index").filter(|i| !i.is_empty()) {
        index = i
            .parse::<u64>()
            .map_err(|_| Box::new(text(400, "Invalid index")))?;
    }
    Ok(QueryOpts {
        index,
        wait,
        consistency,
    })
}

/// Runs `f` as a Consul blocking query: returns once the result's index passes
/// `opts.index`, or after the wait (default 5m, max 10m) plus up to wait/16 of jitter.
pub(crate) async fn blocking<T>(
    inner: &Inner,
    opts: &QueryOpts,
    f: impl Fn(&State) -> (u64, T),
) -> (u64, T) {
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

/// Sets Consul's read headers (`setMeta`).
pub(crate) fn set_meta(resp: &mut Resp, index: u64, opts: &QueryOpts) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&index.max(1).to_string()) {
        h.insert("X-Consul-Index", v);
    }
    h.insert("X-Consul-Knownleader", HeaderValue::from_static("true"));
    h.insert("X-Consul-Lastcontact", HeaderValue::from_static("0"));
    h.insert(
        "X-Consul-Effective-Consistency",
        HeaderValue::from_static(opts.consistency),
    );
}

fn method_not_allowed(method: &Method, allowed: &[&str]) -> Resp {
    let mut r = text(405, &format!("method {method} not allowed"));
    allow_header(&mut r, allowed);
    r
}

fn allow_header(r: &mut Resp, allowed: &[&str]) {
    let mut all = vec!["OPTIONS"];
    all.extend_from_slice(allowed);
    if let Ok(v) = HeaderValue::from_str(&all.join(",")) {
        r.headers_mut().insert("Allow", v);
    }
}

const GET: &[&str] = &["GET"];
const PUT: &[&str] = &["PUT"];
const KV_METHODS: &[&str] = &["GET", "PUT", "DELETE"];
const ACL_ITEM_METHODS: &[&str] = &["GET", "PUT", "DELETE"];

pub(crate) async fn route(inner: &Arc<Inner>, parts: &Parts, body: Bytes) -> Resp {
    let raw_path = parts.uri.path();
    let path = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8_lossy()
        .into_owned();
    let q = Query::parse(parts.uri.query());
    let method = &parts.method;

    let allowed: &[&str] = match path.as_str() {
        "/v1/status/leader"
        | "/v1/status/peers"
        | "/v1/agent/self"
        | "/v1/agent/services"
        | "/v1/catalog/services" => GET,
        "/v1/agent/service/register" => PUT,
        p if p.starts_with("/v1/agent/service/deregister/") => PUT,
        p if p.starts_with("/v1/catalog/service/") || p.starts_with("/v1/health/service/") => GET,
        p if p.starts_with("/v1/kv/") => KV_METHODS,
        "/v1/config" => PUT,
        p if p.starts_with("/v1/config/") => &["GET", "DELETE"],
        "/v1/connect/intentions/exact" => &["GET", "PUT", "DELETE"],
        "/v1/connect/intentions"
        | "/v1/connect/intentions/match"
        | "/v1/connect/intentions/check" => GET,
        "/v1/connect/ca/configuration" => &["GET", "PUT"],
        "/v1/connect/ca/roots" | "/v1/agent/connect/ca/roots" => GET,
        p if p.starts_with("/v1/agent/connect/ca/leaf/") => GET,
        "/v1/acl/bootstrap" | "/v1/acl/policy" | "/v1/acl/role" | "/v1/acl/token" => PUT,
        "/v1/acl/policies" | "/v1/acl/roles" | "/v1/acl/tokens" | "/v1/acl/token/self" => GET,
        p if p.starts_with("/v1/acl/policy/name/") || p.starts_with("/v1/acl/role/name/") => GET,
        p if p.starts_with("/v1/acl/token/") && p.ends_with("/clone") => PUT,
        p if p.starts_with("/v1/acl/policy/")
            || p.starts_with("/v1/acl/role/")
            || p.starts_with("/v1/acl/token/") =>
        {
            ACL_ITEM_METHODS
        }
        // Consul's index handler answers unknown paths with an empty 404.
        _ => return text(404, ""),
    };
    if method == Method::OPTIONS {
        let mut r = text(200, "");
        allow_header(&mut r, allowed);
        return r;
    }
    if !allowed.contains(&method.as_str()) {
        return method_not_allowed(method, allowed);
    }

    let forwards = [
        "/v1/kv/",
        "/v1/catalog/",
        "/v1/health/",
        "/v1/config",
        "/v1/connect/intentions",
    ]
    .iter()
    .any(|p| path.starts_with(p));
    if forwards {
        if let Some(dc) = q.get("dc").filter(|dc| !dc.is_empty()) {
            if dc != inner.opts.datacenter {
                return text(500, "No path to datacenter");
            }
        }
    }
    if path.starts_with("/v1/acl/") && !inner.state().acl.enabled {
        return text(401, "ACL support disabled");
    }
    // Status and bootstrap never resolve the request's token.
    let authz = if path.starts_with("/v1/status/") || path == "/v1/acl/bootstrap" {
        Authorizer::allow_all()
    } else {
        match resolve_token(inner, request_token(parts, &q).as_deref()) {
            Ok(a) => a,
            Err(r) => return *r,
        }
    };
    let resp = dispatch(inner, method, &path, &q, body, &authz).await;
    if q.has("pretty") {
        return prettify(resp);
    }
    resp
}

/// `?pretty`: Consul indents JSON with four spaces and ends it with a newline.
fn prettify(resp: Resp) -> Resp {
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v == "application/json");
    if !is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.into_inner().unwrap_or_default();
    let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
        return hyper::Response::from_parts(parts, http_body_util::Full::new(bytes));
    };
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    if serde::Serialize::serialize(&v, &mut ser).is_err() {
        return hyper::Response::from_parts(parts, http_body_util::Full::new(bytes));
    }
    out.push(b'\n');
    let mut parts = parts;
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    hyper::Response::from_parts(parts, http_body_util::Full::new(Bytes::from(out)))
}

/// The request's token: `?token=`, then `X-Consul-Token`, then `Authorization: Bearer`.
fn request_token(parts: &Parts, q: &Query) -> Option<String> {
    if let Some(t) = q.get("token").filter(|t| !t.is_empty()) {
        return Some(t.to_string());
    }
    let h = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    if let Some(t) = h("X-Consul-Token") {
        return Some(t);
    }
    let auth = h("Authorization")?;
    let (scheme, rest) = auth.split_once(' ')?;
    (scheme == "Bearer" && !rest.trim().is_empty()).then(|| rest.trim().to_string())
}

/// Resolves a secret (the anonymous token when none) to its authorizer.
fn resolve_token(inner: &Inner, secret: Option<&str>) -> Result<Authorizer, Box<Resp>> {
    let st = inner.state();
    if !st.acl.enabled {
        return Ok(Authorizer::allow_all());
    }
    match st
        .acl
        .token_by_secret(secret.unwrap_or(acl::ANONYMOUS_SECRET))
    {
        Some(t) => Ok(st.acl.authorizer(t)),
        None => Err(Box::new(text(403, "ACL not found"))),
    }
}

pub(crate) fn forbidden(msg: &str) -> Resp {
    text(403, msg)
}

pub(crate) fn mark_filtered(r: &mut Resp, filtered: bool) {
    if filtered {
        r.headers_mut().insert(
            "X-Consul-Results-Filtered-By-Acls",
            HeaderValue::from_static("true"),
        );
    }
}

async fn dispatch(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    q: &Query,
    body: Bytes,
    authz: &Authorizer,
) -> Resp {
    if path.starts_with("/v1/acl/") {
        return acl_dispatch(inner, method, path, q, &body, authz).await;
    }
    match path {
        "/v1/status/leader" => json_resp(200, &json!(leader_addr())),
        "/v1/status/peers" => json_resp(200, &json!([leader_addr()])),
        "/v1/agent/self" => {
            let node = &inner.opts.node_name;
            if !authz.allowed("agent", node, Level::Read) {
                return forbidden(&authz.denied("agent", Level::Read, Some(node)));
            }
            json_resp(200, &agent_self(inner))
        }
        "/v1/agent/services" => agent_services(inner, q, authz),
        "/v1/agent/service/register" => agent_service_register(inner, q, &body, authz),
        "/v1/catalog/services" => catalog_services(inner, q, authz).await,
        p if p == "/v1/config" || p.starts_with("/v1/config/") => {
            super::config_entries::handle(inner, method, p, q, &body, authz).await
        }
        p if p.starts_with("/v1/connect/intentions") => {
            super::intentions::handle(inner, method, p, q, &body, authz).await
        }
        "/v1/connect/ca/configuration" => {
            super::connect_ca::configuration(inner, method, q, &body, authz).await
        }
        "/v1/connect/ca/roots" | "/v1/agent/connect/ca/roots" => {
            super::connect_ca::roots(inner, q).await
        }
        p if p.starts_with("/v1/agent/connect/ca/leaf/") => {
            let service = p.trim_start_matches("/v1/agent/connect/ca/leaf/");
            super::connect_ca::leaf(inner, q, service, authz).await
        }
        p => {
            if let Some(id) = p.strip_prefix("/v1/agent/service/deregister/") {
                agent_service_deregister(inner, id, authz)
            } else if let Some(name) = p.strip_prefix("/v1/catalog/service/") {
                catalog_service(inner, q, name, authz).await
            } else if let Some(name) = p.strip_prefix("/v1/health/service/") {
                health_service(inner, q, name, authz).await
            } else if let Some(key) = p.strip_prefix("/v1/kv/") {
                kv(inner, method, q, key, body, authz).await
            } else {
                text(404, "")
            }
        }
    }
}

fn leader_addr() -> &'static str {
    "127.0.0.1:8300"
}

// ------------------------------------------------------------------ agent

fn agent_self(inner: &Inner) -> Value {
    let o = &inner.opts;
    json!({
        "Config": {
            "Datacenter": o.datacenter,
            "PrimaryDatacenter": o.datacenter,
            "NodeName": o.node_name,
            "NodeID": inner.node_id,
            "Partition": "",
            "Revision": "devstack",
            "Server": true,
            "Version": o.version,
            "BuildDate": "2024-11-20T00:00:00Z"
        },
        "DebugConfig": {
            "ACLsEnabled": false,
            "ConnectEnabled": true,
            "DevMode": true,
            "Datacenter": o.datacenter,
            "NodeName": o.node_name,
            "ServerMode": true
        },
        "Coord": {"Vec": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "Error": 1.5, "Adjustment": 0.0, "Height": 1e-05},
        "Member": {
            "Name": o.node_name,
            "Addr": "127.0.0.1",
            "Port": 8301,
            "Tags": {
                "build": format!("{}:devstack", o.version),
                "dc": o.datacenter,
                "id": inner.node_id,
                "port": "8300",
                "raft_vsn": "3",
                "role": "consul",
                "segment": "",
                "vsn": "2",
                "vsn_max": "3",
                "vsn_min": "2"
            },
            "Status": 1,
            "ProtocolMin": 1,
            "ProtocolMax": 5,
            "ProtocolCur": 2,
            "DelegateMin": 2,
            "DelegateMax": 5,
            "DelegateCur": 4
        },
        "Stats": {},
        "Meta": {"consul-network-segment": "", "consul-version": o.version}
    })
}

fn tags_json(tags: &[String]) -> Value {
    json!(tags)
}

fn weights_json(s: &Service) -> Value {
    json!({"Passing": s.weights.0, "Warning": s.weights.1})
}

fn agent_services(inner: &Inner, q: &Query, authz: &Authorizer) -> Resp {
    if q.has("filter") {
        return filter_unsupported();
    }
    let st = inner.state();
    let mut out = Map::new();
    let mut filtered = false;
    for s in st.services.values().filter(|s| s.id != "consul") {
        if !authz.allowed("service", &s.name, Level::Read) {
            filtered = true;
            continue;
        }
        let mut v = json!({
            "ID": s.id,
            "Service": s.name,
            "Tags": tags_json(&s.tags),
            "Meta": s.meta,
            "Port": s.port,
            "Address": s.address,
            "Weights": weights_json(s),
            "EnableTagOverride": s.enable_tag_override,
            "Datacenter": inner.opts.datacenter,
        });
        if !s.kind.is_empty() {
            v["Kind"] = json!(s.kind);
        }
        if let Some(t) = &s.tagged_addresses {
            v["TaggedAddresses"] = t.clone();
        }
        if let Some(p) = &s.proxy {
            v["Proxy"] = p.clone();
        }
        if let Some(c) = &s.connect {
            v["Connect"] = c.clone();
        }
        out.insert(s.id.clone(), v);
    }
    let mut r = json_resp(200, &Value::Object(out));
    mark_filtered(&mut r, filtered);
    r
}

pub(crate) fn filter_unsupported() -> Resp {
    text(
        400,
        "Failed to create boolean expression evaluator: the devstack Consul simulator does not support ?filter",
    )
}

/// Looks a field up the way Consul decodes bodies: Go's case-insensitive JSON matching
/// plus its snake_case translation.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let want = name.to_ascii_lowercase();
    obj.iter()
        .find(|(k, _)| k.replace('_', "").to_ascii_lowercase() == want)
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn decode_err(strct: &str, field: &str, v: &Value, go_type: &str) -> String {
    format!(
        "Request decode failed: json: cannot unmarshal {} into Go struct field {strct}.{field} of type {go_type}",
        json_kind(v)
    )
}

fn str_field(obj: &Map<String, Value>, strct: &str, name: &str) -> Result<String, String> {
    match field(obj, name) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(decode_err(strct, name, v, "string")),
    }
}

fn int_field(obj: &Map<String, Value>, strct: &str, name: &str) -> Result<i64, String> {
    match field(obj, name) {
        None => Ok(0),
        Some(v) => v.as_i64().ok_or_else(|| decode_err(strct, name, v, "int")),
    }
}

fn bool_field(obj: &Map<String, Value>, strct: &str, name: &str) -> Result<bool, String> {
    match field(obj, name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(decode_err(strct, name, v, "bool")),
    }
}

fn str_list_field(
    obj: &Map<String, Value>,
    strct: &str,
    name: &str,
) -> Result<Vec<String>, String> {
    match field(obj, name) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                other => Err(decode_err(strct, name, other, "string")),
            })
            .collect(),
        Some(v) => Err(decode_err(strct, name, v, "[]string")),
    }
}

fn str_map_field(
    obj: &Map<String, Value>,
    strct: &str,
    name: &str,
) -> Result<BTreeMap<String, String>, String> {
    match field(obj, name) {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, x)| match x {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(decode_err(strct, name, other, "string")),
            })
            .collect(),
        Some(v) => Err(decode_err(strct, name, v, "map[string]string")),
    }
}

/// Reads a duration field: a Go duration string or nanoseconds.
fn duration_field(
    obj: &Map<String, Value>,
    strct: &str,
    name: &str,
) -> Result<(Duration, String), String> {
    match field(obj, name) {
        None => Ok((Duration::ZERO, String::new())),
        Some(Value::String(s)) if s.is_empty() => Ok((Duration::ZERO, String::new())),
        Some(Value::String(s)) => parse_go_duration(s)
            .map(|d| (d, s.clone()))
            .map_err(|e| format!("Request decode failed: {e}")),
        Some(Value::Number(n)) => {
            let ns = n.as_u64().unwrap_or(0);
            let d = Duration::from_nanos(ns);
            Ok((d, format!("{}s", d.as_secs_f64())))
        }
        Some(v) => Err(decode_err(strct, name, v, "time.Duration")),
    }
}

/// A decoded check definition (`structs.CheckType`).
struct CheckDef {
    check_id: String,
    name: String,
    status: String,
    notes: String,
    kind: &'static str,
    interval: String,
    timeout: String,
    alias_service: String,
}

fn parse_check(obj: &Map<String, Value>) -> Result<Option<CheckDef>, Box<Resp>> {
    let bad = |e: String| Box::new(text(400, &e));
    const S: &str = "CheckType";
    let args = str_list_field(obj, S, "Args").map_err(bad)?;
    let script_args = str_list_field(obj, S, "ScriptArgs").map_err(bad)?;
    let http = str_field(obj, S, "HTTP").map_err(bad)?;
    let tcp = str_field(obj, S, "TCP").map_err(bad)?;
    let udp = str_field(obj, S, "UDP").map_err(bad)?;
    let grpc = str_field(obj, S, "GRPC").map_err(bad)?;
    let h2ping = str_field(obj, S, "H2PING").map_err(bad)?;
    let os_service = str_field(obj, S, "OSService").map_err(bad)?;
    let alias_service = str_field(obj, S, "AliasService").map_err(bad)?;
    let alias_node = str_field(obj, S, "AliasNode").map_err(bad)?;
    let (ttl, _) = duration_field(obj, S, "TTL").map_err(bad)?;
    let (interval, interval_s) = duration_field(obj, S, "Interval").map_err(bad)?;
    let (_, timeout_s) = duration_field(obj, S, "Timeout").map_err(bad)?;
    let check_id = str_field(obj, S, "CheckID").map_err(bad)?;
    let check_id = if check_id.is_empty() {
        str_field(obj, S, "ID").map_err(bad)?
    } else {
        check_id
    };
    let name = str_field(obj, S, "Name").map_err(bad)?;
    let status = str_field(obj, S, "Status").map_err(bad)?;
    let notes = str_field(obj, S, "Notes").map_err(bad)?;

    let is_script = !args.is_empty() || !script_args.is_empty();
    let is_alias = !alias_service.is_empty() || !alias_node.is_empty();
    let interval_check = is_script
        || !http.is_empty()
        || !tcp.is_empty()
        || !udp.is_empty()
        || !grpc.is_empty()
        || !h2ping.is_empty()
        || !os_service.is_empty();
    let empty = !interval_check && !is_alias && ttl.is_zero() && interval.is_zero();
    if empty {
        // `CheckType.Empty()`: an all-zero check is ignored.
        return Ok(None);
    }
    let invalid = |m: &str| Err(Box::new(text(400, &format!("Invalid check: {m}"))));
    if !interval.is_zero() && !ttl.is_zero() {
        return invalid("Interval and TTL cannot both be specified");
    }
    if interval_check && interval.is_zero() {
        return invalid(
            "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks",
        );
    }
    if interval_check && is_alias {
        return invalid("Interval cannot be set for Alias checks");
    }
    if is_alias && !ttl.is_zero() {
        return invalid("TTL must be not be set for Alias checks");
    }
    if !interval_check && !is_alias && ttl.is_zero() {
        return invalid("TTL must be > 0 for TTL checks");
    }
    if !status.is_empty() && !["passing", "warning", "critical"].contains(&status.as_str()) {
        return Err(Box::new(text(
            400,
            &format!(
                "Invalid check: Status must be one of passing, warning, critical, got {status:?}"
            ),
        )));
    }
    let kind = if is_script {
        "script"
    } else if !http.is_empty() {
        "http"
    } else if !tcp.is_empty() {
        "tcp"
    } else if !udp.is_empty() {
        "udp"
    } else if !grpc.is_empty() {
        "grpc"
    } else if !h2ping.is_empty() {
        "h2ping"
    } else if !os_service.is_empty() {
        "os_service"
    } else if is_alias {
        "alias"
    } else {
        "ttl"
    };
    Ok(Some(CheckDef {
        check_id,
        name,
        status,
        notes,
        kind,
        interval: interval_s,
        timeout: timeout_s,
        alias_service,
    }))
}

fn agent_service_register(inner: &Inner, q: &Query, body: &[u8], authz: &Authorizer) -> Resp {
    const S: &str = "ServiceDefinition";
    let bad = |e: String| text(400, &e);
    if body.iter().all(u8::is_ascii_whitespace) {
        return text(400, "Request decode failed: EOF");
    }
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return text(400, &format!("Request decode failed: {e}")),
    };
    let Value::Object(obj) = v else {
        return text(
            400,
            &format!(
                "Request decode failed: json: cannot unmarshal {} into Go value of type structs.ServiceDefinition",
                json_kind(&v)
            ),
        );
    };
    let parsed = (|| -> Result<_, String> {
        Ok((
            str_field(&obj, S, "Name")?,
            str_field(&obj, S, "ID")?,
            str_field(&obj, S, "Kind")?,
            str_list_field(&obj, S, "Tags")?,
            str_field(&obj, S, "Address")?,
            int_field(&obj, S, "Port")?,
            str_map_field(&obj, S, "Meta")?,
            bool_field(&obj, S, "EnableTagOverride")?,
        ))
    })();
    let (name, id, kind, tags, address, port, meta, enable_tag_override) = match parsed {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    for key in ["TaggedAddresses", "Proxy", "Connect", "Weights", "Check"] {
        if let Some(v) = field(&obj, key) {
            if !v.is_object() {
                return bad(decode_err(S, key, v, "struct"));
            }
        }
    }
    if let Some(v) = field(&obj, "Checks") {
        if !v.is_array() {
            return bad(decode_err(S, "Checks", v, "structs.CheckTypes"));
        }
    }
    if name.is_empty() {
        return text(400, "Missing service name");
    }
    if !(0..=65535).contains(&port) {
        return bad(decode_err(S, "Port", &json!(port), "int"));
    }
    if let Err(e) = validate_service_meta(&meta) {
        return text(400, &format!("Invalid Service Meta: {e}"));
    }
    if !kind.is_empty()
        && ![
            "connect-proxy",
            "mesh-gateway",
            "terminating-gateway",
            "ingress-gateway",
            "api-gateway",
        ]
        .contains(&kind.as_str())
    {
        return text(400, &format!("Invalid Service Kind: {kind:?}"));
    }
    let weights = match field(&obj, "Weights").and_then(Value::as_object) {
        None => (1, 1),
        Some(w) => {
            let p = match int_field(w, "Weights", "Passing") {
                Ok(p) => p,
                Err(e) => return bad(e),
            };
            let wa = match int_field(w, "Weights", "Warning") {
                Ok(p) => p,
                Err(e) => return bad(e),
            };
            if p < 1 {
                return text(400, "Passing must be greater than 0");
            }
            (p, wa)
        }
    };
    if kind == "connect-proxy" {
        let dest = field(&obj, "Proxy")
            .and_then(Value::as_object)
            .and_then(|p| field(p, "DestinationServiceName"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if dest.is_empty() {
            return text(
                400,
                "Invalid service: Proxy.DestinationServiceName must be set for Connect proxy",
            );
        }
        if port == 0 {
            return text(400, "Invalid service: Port must be set for a Connect proxy");
        }
    }
    let mut check_objs: Vec<&Map<String, Value>> = Vec::new();
    if let Some(c) = field(&obj, "Check").and_then(Value::as_object) {
        check_objs.push(c);
    }
    if let Some(cs) = field(&obj, "Checks").and_then(Value::as_array) {
        for c in cs {
            match c {
                Value::Object(m) => check_objs.push(m),
                other => return bad(decode_err(S, "Checks", other, "structs.CheckType")),
            }
        }
    }
    let mut checks = Vec::new();
    for c in check_objs {
        match parse_check(c) {
            Ok(Some(def)) => checks.push(def),
            Ok(None) => {}
            Err(r) => return *r,
        }
    }
    let id = if id.is_empty() { name.clone() } else { id };
    let replace_checks = q.has("replace-existing-checks");
    let tagged_addresses = field(&obj, "TaggedAddresses").cloned();
    let proxy = field(&obj, "Proxy").cloned();
    let mut connect = field(&obj, "Connect").cloned();

    // `Connect.SidecarService`: the agent registers `<id>-sidecar-proxy` and clears the
    // field on the parent (agent `sidecarServiceFromNodeService`).
    let sidecar_def = match connect
        .as_mut()
        .and_then(Value::as_object_mut)
        .and_then(|c| {
            let key = c
                .keys()
                .find(|k| k.replace('_', "").eq_ignore_ascii_case("SidecarService"))
                .cloned()?;
            c.remove(&key)
        }) {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(v) => return bad(decode_err(S, "Connect.SidecarService", &v, "struct")),
    };
    let sidecar = match sidecar_def {
        None => None,
        Some(def) => match build_sidecar(inner, &def, &id, &name, &tags, &meta, port) {
            Ok(sc) => Some(sc),
            Err(r) => return *r,
        },
    };

    for svc_name in std::iter::once(&name).chain(sidecar.as_ref().map(|(sc, _)| &sc.name)) {
        if !authz.allowed("service", svc_name, Level::Write) {
            return forbidden(&authz.denied("service", Level::Write, Some(svc_name)));
        }
    }
    let svc = Service {
        id: id.clone(),
        name: name.clone(),
        kind: kind.clone(),
        tags: tags.clone(),
        address: address.clone(),
        port: port as u64,
        meta: meta.clone(),
        tagged_addresses,
        weights,
        enable_tag_override,
        proxy,
        connect,
        sidecar_of: None,
        create_index: 0,
        modify_index: 0,
    };
    inner.write(|st| {
        let idx = st.apply();
        store_service(st, idx, svc, checks, replace_checks);
        if let Some((sc, sc_checks)) = sidecar {
            store_service(st, idx, sc, sc_checks, replace_checks);
        }
    });
    text(200, "")
}

/// Consul `structs.ValidateServiceMetadata` for a typical service.
fn validate_service_meta(meta: &BTreeMap<String, String>) -> Result<(), String> {
    if meta.len() > 64 {
        return Err("Node metadata cannot contain more than 64 key/value pairs".into());
    }
    for (k, v) in meta {
        let err = if k.is_empty() {
            Some("Key cannot be blank".to_string())
        } else if !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Some("Key contains invalid characters".to_string())
        } else if k.len() > 128 {
            Some("Key is too long (limit: 128 characters)".to_string())
        } else if k.starts_with("consul-") {
            Some("Key prefix 'consul-' is reserved for internal use".to_string())
        } else if v.len() > 512 {
            Some("Value is too long (limit: 512 characters)".to_string())
        } else {
            None
        };
        if let Some(e) = err {
            return Err(format!("Couldn't load metadata pair ('{k}', '{v}'): {e}"));
        }
    }
    Ok(())
}

/// Builds the sidecar proxy service of `Connect.SidecarService` with its default checks.
fn build_sidecar(
    inner: &Inner,
    def: &Map<String, Value>,
    parent_id: &str,
    parent_name: &str,
    parent_tags: &[String],
    parent_meta: &BTreeMap<String, String>,
    parent_port: i64,
) -> Result<(Service, Vec<CheckDef>), Box<Resp>> {
    const S: &str = "ServiceDefinition";
    let bad = |e: String| Box::new(text(400, &e));
    let id = str_field(def, S, "ID").map_err(bad)?;
    let id = if id.is_empty() {
        format!("{parent_id}-sidecar-proxy")
    } else {
        id
    };
    let name = str_field(def, S, "Name").map_err(bad)?;
    let name = if name.is_empty() {
        format!("{parent_name}-sidecar-proxy")
    } else {
        name
    };
    let mut tags = str_list_field(def, S, "Tags").map_err(bad)?;
    if tags.is_empty() {
        tags = parent_tags.to_vec();
    }
    let mut meta = str_map_field(def, S, "Meta").map_err(bad)?;
    if meta.is_empty() {
        meta = parent_meta.clone();
    }
    let address = str_field(def, S, "Address").map_err(bad)?;
    let mut port = int_field(def, S, "Port").map_err(bad)?;
    if port == 0 {
        // The agent's sidecar port range (21000-21255): first one not already taken.
        let st = inner.state();
        let taken: BTreeSet<u64> = st
            .services
            .values()
            .filter(|s| s.kind == "connect-proxy" && s.id != id)
            .map(|s| s.port)
            .collect();
        port = match (21000..=21255u64).find(|p| !taken.contains(p)) {
            Some(p) => p as i64,
            None => {
                return Err(Box::new(text(
                    500,
                    "No available port in sidecar_min_port-sidecar_max_port range",
                )))
            }
        };
    }
    let mut proxy = match field(def, "Proxy") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    proxy.insert("DestinationServiceName".into(), json!(parent_name));
    proxy.insert("DestinationServiceID".into(), json!(parent_id));
    proxy
        .entry("LocalServiceAddress")
        .or_insert_with(|| json!("127.0.0.1"));
    proxy
        .entry("LocalServicePort")
        .or_insert_with(|| json!(parent_port));
    proxy.entry("Mode").or_insert_with(|| json!(""));
    proxy.entry("MeshGateway").or_insert_with(|| json!({}));
    proxy.entry("Expose").or_insert_with(|| json!({}));
    let mut checks = Vec::new();
    for key in ["Check", "Checks"] {
        match field(def, key) {
            Some(Value::Object(c)) => checks.extend(parse_check(c)?),
            Some(Value::Array(cs)) => {
                for c in cs.iter().filter_map(Value::as_object) {
                    checks.extend(parse_check(c)?);
                }
            }
            _ => {}
        }
    }
    if checks.is_empty() {
        checks.push(CheckDef {
            check_id: format!("service:{id}:1"),
            name: "Connect Sidecar Listening".into(),
            status: String::new(),
            notes: String::new(),
            kind: "tcp",
            interval: "10s".into(),
            timeout: String::new(),
            alias_service: String::new(),
        });
        checks.push(CheckDef {
            check_id: format!("service:{id}:2"),
            name: format!("Connect Sidecar Aliasing {parent_id}"),
            status: String::new(),
            notes: String::new(),
            kind: "alias",
            interval: String::new(),
            timeout: String::new(),
            alias_service: parent_id.to_string(),
        });
    }
    let svc = Service {
        id,
        name,
        kind: "connect-proxy".into(),
        tags,
        address,
        port: port as u64,
        meta,
        tagged_addresses: None,
        weights: (1, 1),
        enable_tag_override: false,
        proxy: Some(Value::Object(proxy)),
        connect: None,
        sidecar_of: Some(parent_id.to_string()),
        create_index: 0,
        modify_index: 0,
    };
    Ok((svc, checks))
}

/// Writes a service and its checks at raft index `idx`, keeping create indexes.
fn store_service(st: &mut State, idx: u64, mut svc: Service, checks: Vec<CheckDef>, replace: bool) {
    let id = svc.id.clone();
    let name = svc.name.clone();
    let tags = svc.tags.clone();
    svc.create_index = st.services.get(&id).map(|s| s.create_index).unwrap_or(idx);
    svc.modify_index = idx;
    st.services.insert(id.clone(), svc);
    st.services_index = idx;
    let n_checks = checks.len();
    let mut new_ids = BTreeSet::new();
    for (i, def) in checks.into_iter().enumerate() {
        let check_id = if def.check_id.is_empty() {
            if n_checks > 1 {
                format!("service:{id}:{}", i + 1)
            } else {
                format!("service:{id}")
            }
        } else {
            def.check_id.clone()
        };
        let existing = st.checks.get(&check_id);
        let status = if !def.status.is_empty() {
            def.status.clone()
        } else if let Some(e) = existing {
            e.status.clone()
        } else {
            "critical".to_string()
        };
        let (create, output) = existing
            .map(|e| (e.create_index, e.output.clone()))
            .unwrap_or((idx, String::new()));
        let check_name = if def.name.is_empty() {
            format!("Service '{name}' check")
        } else {
            def.name.clone()
        };
        new_ids.insert(check_id.clone());
        st.checks.insert(
            check_id.clone(),
            Check {
                check_id,
                name: check_name,
                status,
                notes: def.notes,
                output,
                service_id: id.clone(),
                service_name: name.clone(),
                service_tags: tags.clone(),
                check_type: def.kind.to_string(),
                interval: def.interval,
                timeout: def.timeout,
                alias_service: def.alias_service,
                create_index: create,
                modify_index: idx,
            },
        );
    }
    if replace {
        st.checks
            .retain(|k, c| c.service_id != id || new_ids.contains(k));
    }
    // Checks of the service carry its current name and tags.
    for c in st.checks.values_mut().filter(|c| c.service_id == id) {
        c.service_name = name.clone();
        c.service_tags = tags.clone();
    }
    st.checks_index = idx;
}

fn agent_service_deregister(inner: &Inner, id: &str, authz: &Authorizer) -> Resp {
    let name = inner.state().services.get(id).map(|s| s.name.clone());
    if let Some(name) = name.filter(|_| id != "consul") {
        if !authz.allowed("service", &name, Level::Write) {
            return forbidden(&authz.denied("service", Level::Write, Some(&name)));
        }
    }
    let found = inner.write(|st| {
        if id == "consul" || !st.services.contains_key(id) {
            return false;
        }
        let idx = st.apply();
        let mut gone: BTreeSet<String> = st
            .services
            .values()
            .filter(|s| s.sidecar_of.as_deref() == Some(id))
            .map(|s| s.id.clone())
            .collect();
        gone.insert(id.to_string());
        st.services.retain(|k, _| !gone.contains(k));
        st.services_index = idx;
        let before = st.checks.len();
        st.checks.retain(|_, c| !gone.contains(&c.service_id));
        if st.checks.len() != before {
            st.checks_index = idx;
        }
        true
    });
    if found {
        text(200, "")
    } else {
        text(404, &format!("Unknown service ID {id:?}"))
    }
}

// ---------------------------------------------------------------- catalog

async fn catalog_services(inner: &Inner, q: &Query, authz: &Authorizer) -> Resp {
    let opts = match parse_query_opts(q) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    if q.has("filter") {
        return filter_unsupported();
    }
    let (idx, out) = blocking(inner, &opts, |st| {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut filtered = false;
        for s in st.services.values() {
            if !authz.allowed("service", &s.name, Level::Read) {
                filtered = true;
                continue;
            }
            m.entry(s.name.clone())
                .or_default()
                .extend(s.tags.iter().cloned());
        }
        (st.catalog_index(), (m, filtered))
    })
    .await;
    let mut r = json_resp(200, &json!(out.0));
    mark_filtered(&mut r, out.1);
    set_meta(&mut r, idx, &opts);
    r
}

fn node_tagged_addresses() -> Value {
    json!({"lan": "127.0.0.1", "lan_ipv4": "127.0.0.1", "wan": "127.0.0.1", "wan_ipv4": "127.0.0.1"})
}

fn has_tags(s: &Service, wanted: &[&str]) -> bool {
    wanted.iter().all(|t| s.tags.iter().any(|x| x == t))
}

fn proxy_json(s: &Service) -> Value {
    s.proxy
        .clone()
        .unwrap_or_else(|| json!({"Mode": "", "MeshGateway": {}, "Expose": {}}))
}

/// Catalog and health reads of a service need `service:read` on it and `node:read` on the node.
fn may_read_service(inner: &Inner, authz: &Authorizer, name: &str) -> bool {
    authz.allowed("service", name, Level::Read)
        && authz.allowed("node", &inner.opts.node_name, Level::Read)
}

async fn catalog_service(inner: &Inner, q: &Query, name: &str, authz: &Authorizer) -> Resp {
    let opts = match parse_query_opts(q) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    if q.has("filter") {
        return filter_unsupported();
    }
    let tags = q.get_all("tag");
    let (idx, out) = blocking(inner, &opts, |st| {
        let list: Vec<Value> = st
            .services
            .values()
            .filter(|s| s.name == name && has_tags(s, &tags))
            .map(|s| {
                json!({
                    "ID": inner.node_id,
                    "Node": inner.opts.node_name,
                    "Address": "127.0.0.1",
                    "Datacenter": inner.opts.datacenter,
                    "TaggedAddresses": node_tagged_addresses(),
                    "NodeMeta": {"consul-network-segment": "", "consul-version": inner.opts.version},
                    "ServiceKind": s.kind,
                    "ServiceID": s.id,
                    "ServiceName": s.name,
                    "ServiceTags": tags_json(&s.tags),
                    "ServiceAddress": s.address,
                    "ServiceTaggedAddresses": s.tagged_addresses,
                    "ServiceWeights": weights_json(s),
                    "ServiceMeta": s.meta,
                    "ServicePort": s.port,
                    "ServiceSocketPath": "",
                    "ServiceEnableTagOverride": s.enable_tag_override,
                    "ServiceProxy": proxy_json(s),
                    "ServiceConnect": s.connect.clone().unwrap_or_else(|| json!({})),
                    "ServiceLocality": null,
                    "CreateIndex": s.create_index,
                    "ModifyIndex": s.modify_index,
                })
            })
            .collect();
        (st.catalog_index(), list)
    })
    .await;
    let filtered = !out.is_empty() && !may_read_service(inner, authz, name);
    let out = if filtered { Vec::new() } else { out };
    let mut r = json_resp(200, &Value::Array(out));
    mark_filtered(&mut r, filtered);
    set_meta(&mut r, idx, &opts);
    r
}

// ----------------------------------------------------------------- health

fn check_json(c: &Check, status: &str, node: &str) -> Value {
    json!({
        "Node": node,
        "CheckID": c.check_id,
        "Name": c.name,
        "Status": status,
        "Notes": c.notes,
        "Output": c.output,
        "ServiceID": c.service_id,
        "ServiceName": c.service_name,
        "ServiceTags": tags_json(&c.service_tags),
        "Type": c.check_type,
        "Interval": c.interval,
        "Timeout": c.timeout,
        "ExposedPort": 0,
        "Definition": {},
        "CreateIndex": c.create_index,
        "ModifyIndex": c.modify_index,
    })
}

async fn health_service(inner: &Inner, q: &Query, name: &str, authz: &Authorizer) -> Resp {
    let opts = match parse_query_opts(q) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    if q.has("filter") {
        return filter_unsupported();
    }
    let Ok(passing) = q.bool_param("passing") else {
        return text(400, "Invalid value for ?passing");
    };
    let tags = q.get_all("tag");
    let node = inner.opts.node_name.clone();
    let (idx, out) = blocking(inner, &opts, |st| {
        let node_checks: Vec<&Check> = st
            .checks
            .values()
            .filter(|c| c.service_id.is_empty())
            .collect();
        let list: Vec<Value> = st
            .services
            .values()
            .filter(|s| s.name == name && has_tags(s, &tags))
            .filter_map(|s| {
                let checks: Vec<&Check> = node_checks
                    .iter()
                    .copied()
                    .chain(st.checks.values().filter(|c| c.service_id == s.id))
                    .collect();
                if passing && checks.iter().any(|c| st.check_status(c) != "passing") {
                    return None;
                }
                Some(json!({
                    "Node": {
                        "ID": inner.node_id,
                        "Node": node,
                        "Address": "127.0.0.1",
                        "Datacenter": inner.opts.datacenter,
                        "TaggedAddresses": node_tagged_addresses(),
                        "Meta": {"consul-network-segment": "", "consul-version": inner.opts.version},
                        "CreateIndex": st.node_create_index,
                        "ModifyIndex": st.node_create_index,
                    },
                    "Service": {
                        "ID": s.id,
                        "Service": s.name,
                        "Tags": tags_json(&s.tags),
                        "Address": s.address,
                        "TaggedAddresses": s.tagged_addresses,
                        "Meta": s.meta,
                        "Port": s.port,
                        "Weights": weights_json(s),
                        "EnableTagOverride": s.enable_tag_override,
                        "Proxy": proxy_json(s),
                        "Connect": s.connect.clone().unwrap_or_else(|| json!({})),
                        "PeerName": "",
                        "CreateIndex": s.create_index,
                        "ModifyIndex": s.modify_index,
                    },
                    "Checks": checks.iter().map(|c| check_json(c, &st.check_status(c), &node)).collect::<Vec<_>>(),
                }))
            })
            .collect();
        (st.health_index(), list)
    })
    .await;
    let filtered = !out.is_empty() && !may_read_service(inner, authz, name);
    let out = if filtered { Vec::new() } else { out };
    let mut r = json_resp(200, &Value::Array(out));
    mark_filtered(&mut r, filtered);
    set_meta(&mut r, idx, &opts);
    r
}

// --------------------------------------------------------------------- kv

fn kv_entry_json(e: &KvEntry) -> Value {
    let value = e
        .value
        .as_ref()
        .map(|v| Value::String(base64::engine::general_purpose::STANDARD.encode(v)));
    json!({
        "LockIndex": e.lock_index,
        "Key": e.key,
        "Flags": e.flags,
        "Value": value,
        "CreateIndex": e.create_index,
        "ModifyIndex": e.modify_index,
    })
}

fn conflicting_flags(q: &Query, flags: &[&str]) -> Option<Resp> {
    if flags.iter().filter(|f| q.has(f)).count() > 1 {
        return Some(text(400, &format!("Conflicting flags: {}\n", q.encode())));
    }
    None
}

/// Go's `strconv.ParseUint(s, 10, 64)` error, passed through as a 500 by Consul.
pub(crate) fn parse_uint(s: &str) -> Result<u64, Box<Resp>> {
    s.parse::<u64>().map_err(|_| {
        let reason = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            "value out of range"
        } else {
            "invalid syntax"
        };
        Box::new(text(
            500,
            &format!("strconv.ParseUint: parsing {s:?}: {reason}"),
        ))
    })
}

async fn kv(
    inner: &Inner,
    method: &Method,
    q: &Query,
    key: &str,
    body: Bytes,
    authz: &Authorizer,
) -> Resp {
    let opts = match parse_query_opts(q) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    match *method {
        Method::GET if q.has("keys") => kv_keys(inner, q, &opts, key, authz).await,
        Method::GET => kv_get(inner, q, &opts, key, authz).await,
        Method::PUT => kv_put(inner, q, key, body, authz),
        _ => kv_delete(inner, q, key, authz),
    }
}

async fn kv_get(inner: &Inner, q: &Query, opts: &QueryOpts, key: &str, authz: &Authorizer) -> Resp {
    let recurse = q.has("recurse");
    if !recurse && key.is_empty() {
        return text(400, "Missing key name");
    }
    if !recurse && !authz.allowed("key", key, Level::Read) {
        return forbidden(&authz.denied("key", Level::Read, Some(key)));
    }
    let (idx, entries) = blocking(inner, opts, |st| {
        if recurse {
            st.kv_list(key)
        } else {
            let (i, e) = st.kv_get(key);
            (i, e.into_iter().collect())
        }
    })
    .await;
    let before = entries.len();
    let entries: Vec<KvEntry> = entries
        .into_iter()
        .filter(|e| authz.allowed("key", &e.key, Level::Read))
        .collect();
    let filtered = entries.len() != before;
    if entries.is_empty() {
        let mut r = text(404, "");
        mark_filtered(&mut r, filtered);
        set_meta(&mut r, idx, opts);
        return r;
    }
    if q.has("raw") && !recurse {
        let body = entries[0].value.clone().unwrap_or_default();
        let mut r = hyper::Response::new(http_body_util::Full::new(Bytes::from(body)));
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        h.insert(
            "X-Content-Type-Options",
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            "Content-Security-Policy",
            HeaderValue::from_static("sandbox"),
        );
        set_meta(&mut r, idx, opts);
        return r;
    }
    let list: Vec<Value> = entries.iter().map(kv_entry_json).collect();
    let mut r = json_resp(200, &Value::Array(list));
    mark_filtered(&mut r, filtered);
    set_meta(&mut r, idx, opts);
    r
}

async fn kv_keys(
    inner: &Inner,
    q: &Query,
    opts: &QueryOpts,
    prefix: &str,
    authz: &Authorizer,
) -> Resp {
    let sep = if q.has("separator") {
        q.get("separator").unwrap_or("")
    } else {
        q.get("seperator").unwrap_or("")
    };
    let (idx, keys) = blocking(inner, opts, |st| {
        let (idx, entries) = st.kv_list(prefix);
        let mut keys: Vec<String> = Vec::new();
        let mut filtered = false;
        for e in entries {
            if !authz.allowed("key", &e.key, Level::Read) {
                filtered = true;
                continue;
            }
            let rest = &e.key[prefix.len()..];
            let k = match (sep.is_empty(), rest.find(sep)) {
                (false, Some(pos)) => format!("{prefix}{}", &rest[..pos + sep.len()]),
                _ => e.key.clone(),
            };
            if keys.last() != Some(&k) {
                keys.push(k);
            }
        }
        (idx, (keys, filtered))
    })
    .await;
    let (keys, filtered) = keys;
    if keys.is_empty() && !prefix.is_empty() {
        let mut r = text(404, "");
        mark_filtered(&mut r, filtered);
        set_meta(&mut r, idx, opts);
        return r;
    }
    let mut r = json_resp(200, &json!(keys));
    mark_filtered(&mut r, filtered);
    set_meta(&mut r, idx, opts);
    r
}

fn kv_put(inner: &Inner, q: &Query, key: &str, body: Bytes, authz: &Authorizer) -> Resp {
    if key.is_empty() {
        return text(400, "Missing key name");
    }
    if !authz.allowed("key", key, Level::Write) {
        return forbidden(&authz.denied("key", Level::Write, Some(key)));
    }
    if let Some(r) = conflicting_flags(q, &["cas", "acquire", "release"]) {
        return r;
    }
    let mut flags = 0;
    if q.has("flags") {
        flags = match parse_uint(q.get("flags").unwrap_or("")) {
            Ok(f) => f,
            Err(r) => return *r,
        };
    }
    let mut cas = None;
    if q.has("cas") {
        cas = match parse_uint(q.get("cas").unwrap_or("")) {
            Ok(c) => Some(c),
            Err(r) => return *r,
        };
    }
    if body.len() > KV_MAX_VALUE_SIZE {
        return text(
            413,
            &format!(
                "Request body({} bytes) too large, max size: {KV_MAX_VALUE_SIZE} bytes. See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.",
                body.len()
            ),
        );
    }
    if q.has("acquire") {
        // No sessions exist in the simulator, so every session is unknown.
        let session = q.get("acquire").unwrap_or("");
        inner.write(|st| st.apply());
        return text(500, &format!("Invalid session {session:?}"));
    }
    if q.has("release") {
        // Unlocking a key not held by the session is a no-op that returns false.
        inner.write(|st| st.apply());
        return json_resp(200, &json!(false));
    }
    let value = if body.is_empty() {
        None
    } else {
        Some(body.to_vec())
    };
    let ok = inner.write(|st| st.kv_set(key, value, flags, cas));
    json_resp(200, &json!(if cas.is_some() { ok } else { true }))
}

fn kv_delete(inner: &Inner, q: &Query, key: &str, authz: &Authorizer) -> Resp {
    if let Some(r) = conflicting_flags(q, &["recurse", "cas"]) {
        return r;
    }
    let recurse = q.has("recurse");
    if !recurse && key.is_empty() {
        return text(400, "Missing key name");
    }
    let mut cas = None;
    if q.has("cas") {
        cas = match parse_uint(q.get("cas").unwrap_or("")) {
            Ok(c) => Some(c),
            Err(r) => return *r,
        };
    }
    let allowed = if recurse {
        authz.key_write_prefix(key)
    } else {
        authz.allowed("key", key, Level::Write)
    };
    if !allowed {
        return forbidden(&authz.denied("key", Level::Write, Some(key)));
    }
    let ok = inner.write(|st| st.kv_delete(key, recurse, cas));
    json_resp(200, &json!(if cas.is_some() { ok } else { true }))
}

// -------------------------------------------------------------------- acl

fn acl_body(body: &[u8], what: &str) -> Result<Map<String, Value>, Box<Resp>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(v) => Err(Box::new(text(
            400,
            &format!(
                "{what} decoding failed: json: cannot unmarshal {} into Go value of type structs.ACL{what}",
                json_kind(&v)
            ),
        ))),
        Err(e) => Err(Box::new(text(400, &format!("{what} decoding failed: {e}")))),
    }
}

fn acl_need(authz: &Authorizer, want: Level) -> Result<(), Box<Resp>> {
    if authz.allowed_global("acl", want) {
        Ok(())
    } else {
        Err(Box::new(forbidden(&authz.denied("acl", want, None))))
    }
}

fn valid_acl_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn acl_read_resp(v: Value, idx: u64) -> Resp {
    let mut r = json_resp(200, &v);
    if let Ok(h) = HeaderValue::from_str(&idx.max(1).to_string()) {
        r.headers_mut().insert("X-Consul-Index", h);
    }
    r.headers_mut()
        .insert("X-Consul-Knownleader", HeaderValue::from_static("true"));
    r.headers_mut()
        .insert("X-Consul-Lastcontact", HeaderValue::from_static("0"));
    r
}

async fn acl_dispatch(
    inner: &Inner,
    method: &Method,
    path: &str,
    q: &Query,
    body: &[u8],
    authz: &Authorizer,
) -> Resp {
    let out = match path {
        "/v1/acl/bootstrap" => acl_bootstrap(inner, body).map(|v| json_resp(200, &v)),
        "/v1/acl/policy" => acl_policy_write(inner, authz, None, body),
        "/v1/acl/policies" => acl_policy_list(inner, authz),
        "/v1/acl/role" => acl_role_write(inner, authz, None, body),
        "/v1/acl/roles" => acl_role_list(inner, authz, q),
        "/v1/acl/token" => acl_token_write(inner, authz, None, body),
        "/v1/acl/tokens" => acl_token_list(inner, authz, q),
        "/v1/acl/token/self" => {
            let st = inner.state();
            match st.acl.tokens.get(&authz.accessor) {
                Some(t) => Ok(acl_read_resp(st.acl.token_json(t), st.acl.tokens_index)),
                None => Err(Box::new(text(403, "ACL not found"))),
            }
        }
        p => {
            if let Some(name) = p.strip_prefix("/v1/acl/policy/name/") {
                acl_policy_read(inner, authz, None, Some(name))
            } else if let Some(id) = p.strip_prefix("/v1/acl/policy/") {
                match *method {
                    Method::GET => acl_policy_read(inner, authz, Some(id), None),
                    Method::PUT => acl_policy_write(inner, authz, Some(id), body),
                    _ => acl_policy_delete(inner, authz, id),
                }
            } else if let Some(name) = p.strip_prefix("/v1/acl/role/name/") {
                acl_role_read(inner, authz, None, Some(name))
            } else if let Some(id) = p.strip_prefix("/v1/acl/role/") {
                match *method {
                    Method::GET => acl_role_read(inner, authz, Some(id), None),
                    Method::PUT => acl_role_write(inner, authz, Some(id), body),
                    _ => acl_role_delete(inner, authz, id),
                }
            } else if let Some(id) = p
                .strip_prefix("/v1/acl/token/")
                .and_then(|r| r.strip_suffix("/clone"))
            {
                acl_token_clone(inner, authz, id, body)
            } else if let Some(id) = p.strip_prefix("/v1/acl/token/") {
                match *method {
                    Method::GET => acl_token_read(inner, authz, id),
                    Method::PUT => acl_token_write(inner, authz, Some(id), body),
                    _ => acl_token_delete(inner, authz, id),
                }
            } else {
                Ok(text(404, ""))
            }
        }
    };
    out.unwrap_or_else(|r| *r)
}

/// `PUT /v1/acl/bootstrap`: once; afterwards 403 with the reset index.
fn acl_bootstrap(inner: &Inner, body: &[u8]) -> Result<Value, Box<Resp>> {
    let obj = acl_body(body, "Bootstrap")?;
    let secret = match field(&obj, "BootstrapSecret") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            return Err(Box::new(text(
                400,
                &decode_err("ACLBootstrap", "BootstrapSecret", v, "string"),
            )))
        }
    };
    inner.write(|st| {
        if !st.acl.enabled {
            return Err(Box::new(text(401, "ACL support disabled")));
        }
        if let Some(i) = st.acl.bootstrap_index {
            return Err(Box::new(text(
                403,
                &format!("Permission denied: ACL bootstrap no longer allowed (reset index: {i})"),
            )));
        }
        let idx = st.apply();
        let accessor = super::uuid_v4();
        let secret = secret.unwrap_or_else(super::uuid_v4);
        let desc = "Bootstrap Token (Global Management)";
        let token = acl::Token {
            accessor: accessor.clone(),
            secret: secret.clone(),
            description: desc.to_string(),
            policies: vec![acl::GLOBAL_MANAGEMENT_ID.to_string()],
            roles: Vec::new(),
            service_identities: Vec::new(),
            node_identities: Vec::new(),
            local: false,
            create_time: acl::now_rfc3339(),
            hash: acl::content_hash(&[desc, acl::GLOBAL_MANAGEMENT_ID]),
            create_index: idx,
            modify_index: idx,
        };
        let mut v = st.acl.token_json(&token);
        v["ID"] = json!(secret);
        st.acl.tokens.insert(accessor, token);
        st.acl.tokens_index = idx;
        st.acl.bootstrap_index = Some(idx);
        Ok(v)
    })
}

/// Bootstraps for [`super::ConsulSimHandle::acl_bootstrap`]: `(200, secret)` or `(status, body)`.
pub(crate) fn acl_bootstrap_secret(inner: &Inner) -> (u16, String) {
    match acl_bootstrap(inner, b"") {
        Ok(v) => (200, v["SecretID"].as_str().unwrap_or_default().to_string()),
        Err(r) => {
            let status = r.status().as_u16();
            let body = r.into_body().into_inner().unwrap_or_default();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    }
}

fn acl_policy_list(inner: &Inner, authz: &Authorizer) -> Result<Resp, Box<Resp>> {
    acl_need(authz, Level::Read)?;
    let st = inner.state();
    let list: Vec<Value> = st
        .acl
        .policies
        .values()
        .map(acl::policy_stub_json)
        .collect();
    Ok(acl_read_resp(json!(list), st.acl.policies_index))
}

fn acl_policy_read(
    inner: &Inner,
    authz: &Authorizer,
    id: Option<&str>,
    name: Option<&str>,
) -> Result<Resp, Box<Resp>> {
    acl_need(authz, Level::Read)?;
    let st = inner.state();
    let p = match (id, name) {
        (Some(id), _) => st.acl.policies.get(id),
        (_, Some(name)) => st.acl.policy_by_name(name),
        _ => None,
    };
    match p {
        Some(p) => Ok(acl_read_resp(acl::policy_json(p), p.modify_index)),
        None => Err(Box::new(text(
            404,
            "Requested policy does not exist: ACL not found",
        ))),
    }
}

/// The ID (from the URL on update, never on create), Name and Description of a policy or role
/// write (`kind` is `Policy` or `Role`), checked with Consul's texts and status codes: the ID
/// rules are the HTTP handler's (400), the name rules the leader's validation (500).
fn acl_write_identity(
    obj: &Map<String, Value>,
    s: &str,
    kind: &str,
    url_id: Option<&str>,
) -> Result<(Option<String>, String, String), Box<Resp>> {
    let bad = |e: String| Box::new(text(400, &e));
    let body_id = str_field(obj, s, "ID").map_err(bad)?;
    let name = str_field(obj, s, "Name").map_err(bad)?;
    let description = str_field(obj, s, "Description").map_err(bad)?;
    let id = match url_id {
        None if !body_id.is_empty() => {
            return Err(bad(format!(
                "Cannot specify the ID when creating a new {}",
                kind.to_lowercase()
            )))
        }
        None => None,
        Some(u) if !body_id.is_empty() && body_id != u => {
            return Err(bad(format!("{kind} ID in URL and payload do not match")))
        }
        Some(u) => Some(u.to_string()),
    };
    if name.is_empty() {
        return Err(Box::new(text(
            500,
            &format!("Invalid {kind}: no Name is set"),
        )));
    }
    if !valid_acl_name(&name) {
        return Err(Box::new(text(
            500,
            &format!(
                "Invalid {kind}: invalid Name. Only alphanumeric characters, '-' and '_' are allowed"
            ),
        )));
    }
    Ok((id, name, description))
}

fn acl_policy_write(
    inner: &Inner,
    authz: &Authorizer,
    url_id: Option<&str>,
    body: &[u8],
) -> Result<Resp, Box<Resp>> {
    const S: &str = "ACLPolicy";
    acl_need(authz, Level::Write)?;
    let obj = acl_body(body, "Policy")?;
    let bad = |e: String| Box::new(text(400, &e));
    let (id, name, description) = acl_write_identity(&obj, S, "Policy", url_id)?;
    let rules = str_field(&obj, S, "Rules").map_err(bad)?;
    let datacenters = str_list_field(&obj, S, "Datacenters").map_err(bad)?;
    let err500 = |m: String| Box::new(text(500, &m));
    // The rules are validated by the leader's RPC, so a parse error is a 500.
    acl::parse_rules(&rules).map_err(err500)?;
    let v = inner.write(|st| {
        if let Some(other) = st.acl.policy_by_name(&name) {
            if Some(&other.id) != id.as_ref() {
                return Err(err500(format!(
                    "Invalid Policy: A Policy with Name {name:?} already exists"
                )));
            }
        }
        let existing = match &id {
            Some(id) => match st.acl.policies.get(id) {
                Some(p) => Some(p.clone()),
                None => {
                    return Err(err500(format!(
                        "Invalid Policy: A policy with the ID {id:?} does not exist"
                    )))
                }
            },
            None => None,
        };
        if let Some(p) = &existing {
            if p.id == acl::GLOBAL_MANAGEMENT_ID {
                if p.rules != rules {
                    return Err(err500(
                        "Changing the Rules for the builtin global-management policy is not permitted"
                            .to_string(),
                    ));
                }
                if !datacenters.is_empty() {
                    return Err(err500(
                        "Changing the Datacenters of the builtin global-management policy is not permitted"
                            .to_string(),
                    ));
                }
            }
        }
        let idx = st.apply();
        let policy = acl::Policy {
            id: existing
                .as_ref()
                .map(|p| p.id.clone())
                .unwrap_or_else(super::uuid_v4),
            hash: acl::content_hash(&[&name, &description, &rules, &datacenters.join(",")]),
            name: name.clone(),
            description: description.clone(),
            rules: rules.clone(),
            datacenters: datacenters.clone(),
            create_index: existing.as_ref().map(|p| p.create_index).unwrap_or(idx),
            modify_index: idx,
        };
        let v = acl::policy_json(&policy);
        st.acl.policies.insert(policy.id.clone(), policy);
        st.acl.policies_index = idx;
        Ok(v)
    })?;
    Ok(json_resp(200, &v))
}

fn acl_policy_delete(inner: &Inner, authz: &Authorizer, id: &str) -> Result<Resp, Box<Resp>> {
    acl_need(authz, Level::Write)?;
    inner.write(|st| {
        if !st.acl.policies.contains_key(id) {
            return Err(Box::new(text(404, "Cannot find policy to delete")));
        }
        if id == acl::GLOBAL_MANAGEMENT_ID {
            return Err(Box::new(text(
                500,
                "Delete operation not permitted on the builtin global-management policy",
            )));
        }
        let idx = st.apply();
        st.acl.policies.remove(id);
        st.acl.policies_index = idx;
        for t in st.acl.tokens.values_mut() {
            t.policies.retain(|p| p != id);
        }
        for r in st.acl.roles.values_mut() {
            r.policies.retain(|p| p != id);
        }
        Ok(())
    })?;
    Ok(json_resp(200, &json!(true)))
}

/// Resolves `[{ID}|{Name}]` policy or role links to IDs.
fn resolve_links(
    st: &State,
    obj: &Map<String, Value>,
    key: &str,
    policies: bool,
) -> Result<Vec<String>, Box<Resp>> {
    let kind = if policies { "policy" } else { "role" };
    let mut out: Vec<String> = Vec::new();
    let Some(v) = field(obj, key) else {
        return Ok(out);
    };
    let Value::Array(links) = v else {
        return Err(Box::new(text(
            400,
            &decode_err("ACLToken", key, v, "[]structs.ACLLink"),
        )));
    };
    for l in links {
        let Value::Object(l) = l else {
            return Err(Box::new(text(
                400,
                &decode_err("ACLToken", key, l, "structs.ACLLink"),
            )));
        };
        let id = l.get("ID").and_then(Value::as_str).unwrap_or("");
        let name = l.get("Name").and_then(Value::as_str).unwrap_or("");
        let found = if !id.is_empty() {
            let ok = if policies {
                st.acl.policies.contains_key(id)
            } else {
                st.acl.roles.contains_key(id)
            };
            if !ok {
                return Err(Box::new(text(
                    500,
                    &format!("No such ACL {kind} with ID {id:?}"),
                )));
            }
            id.to_string()
        } else {
            let found = if policies {
                st.acl.policy_by_name(name).map(|p| p.id.clone())
            } else {
                st.acl.role_by_name(name).map(|r| r.id.clone())
            };
            found.ok_or_else(|| {
                Box::new(text(500, &format!("No such ACL {kind} with name {name:?}")))
            })?
        };
        if !out.contains(&found) {
            out.push(found);
        }
    }
    Ok(out)
}

fn identities(
    obj: &Map<String, Value>,
    key: &str,
    name_key: &str,
) -> Result<Vec<Value>, Box<Resp>> {
    let Some(v) = field(obj, key) else {
        return Ok(Vec::new());
    };
    let Value::Array(a) = v else {
        return Err(Box::new(text(
            400,
            &decode_err("ACLToken", key, v, "[]*structs.ACLIdentity"),
        )));
    };
    for i in a {
        let n = i.get(name_key).and_then(Value::as_str).unwrap_or("");
        if n.is_empty() {
            return Err(Box::new(text(
                500,
                &format!("{key} entries must have a non-empty {name_key}"),
            )));
        }
    }
    Ok(a.clone())
}

fn acl_role_list(inner: &Inner, authz: &Authorizer, q: &Query) -> Result<Resp, Box<Resp>> {
    acl_need(authz, Level::Read)?;
    let st = inner.state();
    let policy = q.get("policy").unwrap_or("");
    let list: Vec<Value> = st
        .acl
        .roles
        .values()
        .filter(|r| policy.is_empty() || r.policies.iter().any(|p| p == policy))
        .map(|r| st.acl.role_json(r))
        .collect();
    Ok(acl_read_resp(json!(list), st.acl.roles_index))
}

fn acl_role_read(
    inner: &Inner,
    authz: &Authorizer,
    id: Option<&str>,
    name: Option<&str>,
) -> Result<Resp, Box<Resp>> {
    acl_need(authz, Level::Read)?;
    let st = inner.state();
    let r = match (id, name) {
        (Some(id), _) => st.acl.roles.get(id),
        (_, Some(name)) => st.acl.role_by_name(name),
        _ => None,
    };
    match r {
        Some(r) => Ok(acl_read_resp(st.acl.role_json(r), r.modify_index)),
        None => Err(Box::new(text(
            404,
            "Requested role does not exist: ACL not found",
        ))),
    }
}

fn acl_role_write(
    inner: &Inner,
    authz: &Authorizer,
    url_id: Option<&str>,
    body: &[u8],
) -> Result<Resp, Box<Resp>> {
    const S: &str = "ACLRole";
    acl_need(authz, Level::Write)?;
    let obj = acl_body(body, "Role")?;
    let (id, name, description) = acl_write_identity(&obj, S, "Role", url_id)?;
    let err500 = |m: String| Box::new(text(500, &m));
    let services = identities(&obj, "ServiceIdentities", "ServiceName")?;
    let nodes = identities(&obj, "NodeIdentities", "NodeName")?;
    let v = inner.write(|st| {
        let policies = resolve_links(st, &obj, "Policies", true)?;
        if let Some(other) = st.acl.role_by_name(&name) {
            if Some(&other.id) != id.as_ref() {
                return Err(err500(format!(
                    "Invalid Role: A Role with Name {name:?} already exists"
                )));
            }
        }
        let existing = match &id {
            Some(id) => match st.acl.roles.get(id) {
                Some(r) => Some(r.clone()),
                None => return Err(err500(format!("Cannot find role {id}"))),
            },
            None => None,
        };
        let idx = st.apply();
        let role = acl::Role {
            id: existing
                .as_ref()
                .map(|r| r.id.clone())
                .unwrap_or_else(super::uuid_v4),
            hash: acl::content_hash(&[&name, &description, &policies.join(",")]),
            name: name.clone(),
            description: description.clone(),
            policies,
            service_identities: services.clone(),
            node_identities: nodes.clone(),
            create_index: existing.as_ref().map(|r| r.create_index).unwrap_or(idx),
            modify_index: idx,
        };
        let v = st.acl.role_json(&role);
        st.acl.roles.insert(role.id.clone(), role);
        st.acl.roles_index = idx;
        Ok(v)
    })?;
    Ok(json_resp(200, &v))
}

fn acl_role_delete(inner: &Inner, authz: &Authorizer, id: &str) -> Result<Resp, Box<Resp>> {
    acl_need(authz, Level::Write)?;
    inner.write(|st| {
        if !st.acl.roles.contains_key(id) {
            return Err(Box::new(text(404, "Cannot find role to delete")));
        }
        let idx = st.apply();
        st.acl.roles.remove(id);
        st.acl.roles_index = idx;
        for t in st.acl.tokens.values_mut() {
            t.roles.retain(|r| r != id);
        }
        Ok(())
    })?;
    Ok(json_resp(200, &json!(true)))
}

fn acl_token_list(inner: &Inner, authz: &Authorizer, q: &Query) -> Result<Resp, Box<Resp>> {
    acl_need(authz, Level::Read)?;
    let st = inner.state();
    let policy = q.get("policy").unwrap_or("");
    let role = q.get("role").unwrap_or("");
    let write = authz.allowed_global("acl", Level::Write);
    let list: Vec<Value> = st
        .acl
        .tokens
        .values()
        .filter(|t| policy.is_empty() || t.policies.iter().any(|p| p == policy))
        .filter(|t| role.is_empty() || t.roles.iter().any(|r| r == role))
        .map(|t| {
            let mut v = st.acl.token_stub_json(t);
            if !write {
                v["SecretID"] = json!("<hidden>");
            }
            v
        })
        .collect();
    Ok(acl_read_resp(json!(list), st.acl.tokens_index))
}

fn acl_token_read(inner: &Inner, authz: &Authorizer, id: &str) -> Result<Resp, Box<Resp>> {
    if id != authz.accessor {
        acl_need(authz, Level::Read)?;
    }
    let st = inner.state();
    let Some(t) = st.acl.tokens.get(id) else {
        return Err(Box::new(text(
            404,
            "Requested token does not exist: ACL not found",
        )));
    };
    let mut v = st.acl.token_json(t);
    if id != authz.accessor && !authz.allowed_global("acl", Level::Write) {
        v["SecretID"] = json!("<hidden>");
    }
    Ok(acl_read_resp(v, t.modify_index))
}

fn acl_token_write(
    inner: &Inner,
    authz: &Authorizer,
    url_id: Option<&str>,
    body: &[u8],
) -> Result<Resp, Box<Resp>> {
    const S: &str = "ACLToken";
    acl_need(authz, Level::Write)?;
    let obj = acl_body(body, "Token")?;
    let bad = |e: String| Box::new(text(400, &e));
    let body_accessor = str_field(&obj, S, "AccessorID").map_err(bad)?;
    let body_secret = str_field(&obj, S, "SecretID").map_err(bad)?;
    let description = str_field(&obj, S, "Description").map_err(bad)?;
    let local = bool_field(&obj, S, "Local").map_err(bad)?;
    if let Some(u) = url_id {
        if !body_accessor.is_empty() && body_accessor != u {
            return Err(bad(
                "Token Accessor ID in URL and payload do not match".to_string()
            ));
        }
    }
    let err500 = |m: String| Box::new(text(500, &m));
    for (what, v) in [("AccessorID", &body_accessor), ("SecretID", &body_secret)] {
        if !v.is_empty() && !is_uuid(v) && v != acl::ANONYMOUS_SECRET {
            return Err(err500(format!(
                "Invalid Token: {what} must be a valid UUID"
            )));
        }
    }
    let services = identities(&obj, "ServiceIdentities", "ServiceName")?;
    let nodes = identities(&obj, "NodeIdentities", "NodeName")?;
    let accessor = url_id.map(str::to_string).unwrap_or(body_accessor);
    let v = inner.write(|st| {
        let policies = resolve_links(st, &obj, "Policies", true)?;
        let roles = resolve_links(st, &obj, "Roles", false)?;
        let existing = match url_id {
            Some(id) => match st.acl.tokens.get(id) {
                Some(t) => Some(t.clone()),
                None => return Err(err500(format!("Cannot find token {id:?}"))),
            },
            None => None,
        };
        if let Some(t) = &existing {
            if !body_secret.is_empty() && body_secret != t.secret {
                return Err(err500(
                    "Changing a token's SecretID is not permitted".to_string(),
                ));
            }
            if local != t.local && obj.keys().any(|k| k.eq_ignore_ascii_case("local")) {
                return Err(err500(
                    "Cannot toggle local mode of 00000000-0000-0000-0000-000000000000"
                        .replace("00000000-0000-0000-0000-000000000000", &t.accessor),
                ));
            }
        } else {
            if !accessor.is_empty() && st.acl.tokens.contains_key(&accessor) {
                return Err(err500(
                    "Invalid Token: AccessorID is already in use".to_string(),
                ));
            }
            if !body_secret.is_empty() && st.acl.token_by_secret(&body_secret).is_some() {
                return Err(err500(
                    "Invalid Token: SecretID is already in use".to_string(),
                ));
            }
        }
        let idx = st.apply();
        let token = acl::Token {
            accessor: if accessor.is_empty() {
                super::uuid_v4()
            } else {
                accessor.clone()
            },
            secret: existing
                .as_ref()
                .map(|t| t.secret.clone())
                .unwrap_or_else(|| {
                    if body_secret.is_empty() {
                        super::uuid_v4()
                    } else {
                        body_secret.clone()
                    }
                }),
            hash: acl::content_hash(&[&description, &policies.join(","), &roles.join(",")]),
            description: description.clone(),
            policies,
            roles,
            service_identities: services.clone(),
            node_identities: nodes.clone(),
            local: existing.as_ref().map(|t| t.local).unwrap_or(local),
            create_time: existing
                .as_ref()
                .map(|t| t.create_time.clone())
                .unwrap_or_else(acl::now_rfc3339),
            create_index: existing.as_ref().map(|t| t.create_index).unwrap_or(idx),
            modify_index: idx,
        };
        let v = st.acl.token_json(&token);
        st.acl.tokens.insert(token.accessor.clone(), token);
        st.acl.tokens_index = idx;
        Ok(v)
    })?;
    Ok(json_resp(200, &v))
}

fn acl_token_clone(
    inner: &Inner,
    authz: &Authorizer,
    id: &str,
    body: &[u8],
) -> Result<Resp, Box<Resp>> {
    acl_need(authz, Level::Write)?;
    let obj = acl_body(body, "Token")?;
    let description =
        str_field(&obj, "ACLToken", "Description").map_err(|e| Box::new(text(400, &e)))?;
    let v = inner.write(|st| {
        let Some(src) = st.acl.tokens.get(id).cloned() else {
            return Err(Box::new(text(403, "ACL not found")));
        };
        if src.accessor == acl::ANONYMOUS_ACCESSOR {
            return Err(Box::new(text(
                500,
                "Cannot clone a token that does not exist or is the anonymous token",
            )));
        }
        let idx = st.apply();
        let mut t = src;
        t.accessor = super::uuid_v4();
        t.secret = super::uuid_v4();
        if !description.is_empty() {
            t.description = description.clone();
        }
        t.create_time = acl::now_rfc3339();
        t.create_index = idx;
        t.modify_index = idx;
        let v = st.acl.token_json(&t);
        st.acl.tokens.insert(t.accessor.clone(), t);
        st.acl.tokens_index = idx;
        Ok(v)
    })?;
    Ok(json_resp(200, &v))
}

fn acl_token_delete(inner: &Inner, authz: &Authorizer, id: &str) -> Result<Resp, Box<Resp>> {
    acl_need(authz, Level::Write)?;
    inner.write(|st| {
        if id == acl::ANONYMOUS_ACCESSOR {
            return Err(Box::new(text(
                500,
                "Delete operation not permitted on the anonymous token",
            )));
        }
        if id == authz.accessor {
            return Err(Box::new(text(
                500,
                "Deletion of the request's authorization token is not permitted",
            )));
        }
        if st.acl.tokens.contains_key(id) {
            let idx = st.apply();
            st.acl.tokens.remove(id);
            st.acl.tokens_index = idx;
        }
        Ok(())
    })?;
    Ok(json_resp(200, &json!(true)))
}

/// A 36-character UUID-like string (Consul's check is not RFC-strict).
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}
