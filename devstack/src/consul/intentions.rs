//! The intentions API (`/v1/connect/intentions*`), a shim over the `service-intentions`
//! config entries as in Consul 1.9+: `exact` (GET/PUT/DELETE), list, `match`, `check`.

use hyper::body::Bytes;
use hyper::Method;
use serde_json::{json, Map, Value};

use super::acl::{Authorizer, Level};
use super::api::{blocking, forbidden, mark_filtered, parse_query_opts, set_meta, Query};
use super::config_entries::{
    decode_permissions, go_decode_first, precedence, write_intentions, StoredEntry,
    SERVICE_INTENTIONS,
};
use super::state::State;
use super::{json_resp, text, Inner, Resp};

/// One intention as the API shows it (`structs.Intention` from a config entry source).
#[derive(Debug, Clone)]
struct Ixn {
    source: String,
    dest: String,
    precedence: i64,
    json: Value,
}

fn ixn_of(e: &StoredEntry, src: &Map<String, Value>) -> Ixn {
    let sname = src.get("Name").and_then(Value::as_str).unwrap_or("");
    let mut v = Map::new();
    // The documented shape: `Description` and `Meta` always present, no `ID` or
    // `CreatedAt` for intentions that live in config entries.
    v.insert(
        "Description".into(),
        src.get("Description").cloned().unwrap_or(json!("")),
    );
    for (from, to) in [
        ("Peer", "SourcePeer"),
        ("SamenessGroup", "SourceSamenessGroup"),
        ("Action", "Action"),
        ("Permissions", "Permissions"),
    ] {
        match src.get(from) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(x) => {
                v.insert(to.into(), x.clone());
            }
        }
    }
    v.insert("SourceNS".into(), json!("default"));
    v.insert("SourceName".into(), json!(sname));
    v.insert("DestinationNS".into(), json!("default"));
    v.insert("DestinationName".into(), json!(e.name));
    v.insert(
        "SourceType".into(),
        src.get("Type").cloned().unwrap_or(json!("consul")),
    );
    let meta = match e.body.get("Meta") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    v.insert("Meta".into(), Value::Object(meta));
    let p = src.get("Precedence").and_then(Value::as_i64).unwrap_or(0);
    v.insert("Precedence".into(), json!(p));
    v.insert("CreateIndex".into(), json!(e.create_index));
    v.insert("ModifyIndex".into(), json!(e.modify_index));
    Ixn {
        source: sname.to_string(),
        dest: e.name.clone(),
        precedence: p,
        json: Value::Object(v),
    }
}

/// Every intention, in Consul's precedence order (`IntentionPrecedenceSorter`).
fn all_intentions(st: &State) -> Vec<Ixn> {
    let mut out: Vec<Ixn> = st
        .config
        .entries
        .values()
        .filter(|e| e.kind == SERVICE_INTENTIONS)
        .flat_map(|e| {
            e.body
                .get("Sources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .map(move |src| ixn_of(e, src))
        })
        .collect();
    out.sort_by(|a, b| {
        b.precedence
            .cmp(&a.precedence)
            .then_with(|| a.source.cmp(&b.source))
            .then_with(|| a.dest.cmp(&b.dest))
    });
    out
}

/// `Intention.CanRead`: intentions read on the source or on the destination.
fn can_read(authz: &Authorizer, i: &Ixn) -> bool {
    authz.allowed("intention", &i.source, Level::Read)
        || authz.allowed("intention", &i.dest, Level::Read)
}

fn err500(msg: &str) -> Resp {
    text(500, msg)
}

/// A parsed `name`, `ns/name` or `peer:p/name` query value.
struct Component {
    peer: String,
    ns: String,
    name: String,
}

/// `parseIntentionStringComponent`.
fn parse_component(input: &str, allow_peer: bool) -> Result<Component, String> {
    if input.starts_with("peer:") && !allow_peer {
        return Err("cannot specify a peer here".into());
    }
    let parts: Vec<&str> = input.split('/').collect();
    let c = |peer: &str, ns: &str, name: &str| Component {
        peer: peer.to_string(),
        ns: ns.to_string(),
        name: name.to_string(),
    };
    match parts.as_slice() {
        [name] => {
            if name.starts_with("peer:") {
                return Err("need to specify the service name as well".into());
            }
            Ok(c("", "", name))
        }
        [first, name] => match first.strip_prefix("peer:") {
            Some(peer) => Ok(c(peer, "", name)),
            None => Ok(c("", first, name)),
        },
        [first, ns, name] => match first.strip_prefix("peer:") {
            Some(peer) => Ok(c(peer, ns, name)),
            None => Ok(c("", ns, name)),
        },
        _ => Err("input can contain at most one '/'".into()),
    }
}

/// CE's `validateEnterpriseIntentionNamespace`: only the default namespace (no wildcard).
fn check_ns(what: &str, ns: &str) -> Result<(), String> {
    if ns.is_empty() || ns.eq_ignore_ascii_case("default") {
        Ok(())
    } else {
        Err(format!(
            "Invalid {what} {ns:?}: Namespaces is a Consul Enterprise feature"
        ))
    }
}

/// The single value of a required query parameter, as Consul's handlers demand it.
fn one<'a>(q: &'a Query, k: &str, non_empty: bool) -> Result<&'a str, Box<Resp>> {
    let all = q.get_all(k);
    if all.len() != 1 || (non_empty && all[0].is_empty()) {
        return Err(Box::new(err500(&format!(
            "required query parameter '{k}' not set"
        ))));
    }
    Ok(all[0])
}

pub(crate) async fn handle(
    inner: &Inner,
    method: &Method,
    path: &str,
    q: &Query,
    body: &Bytes,
    authz: &Authorizer,
) -> Resp {
    let out = match path {
        "/v1/connect/intentions" => list(inner, q, authz).await,
        "/v1/connect/intentions/match" => matches(inner, q, authz).await,
        "/v1/connect/intentions/check" => check(inner, q, authz),
        "/v1/connect/intentions/exact" => match *method {
            Method::GET => get_exact(inner, q, authz).await,
            Method::PUT => put_exact(inner, q, body, authz),
            _ => delete_exact(inner, q, authz),
        },
        _ => Ok(text(404, "")),
    };
    out.unwrap_or_else(|r| *r)
}

async fn list(inner: &Inner, q: &Query, authz: &Authorizer) -> Result<Resp, Box<Resp>> {
    let opts = parse_query_opts(q)?;
    if q.get("filter").is_some_and(|f| !f.is_empty()) {
        return Ok(super::api::filter_unsupported());
    }
    let (idx, (list, filtered)) = blocking(inner, &opts, |st: &State| {
        let all = all_intentions(st);
        let n = all.len();
        let list: Vec<Value> = all
            .into_iter()
            .filter(|i| can_read(authz, i))
            .map(|i| i.json)
            .collect();
        let filtered = list.len() != n;
        (st.config.table_index(), (list, filtered))
    })
    .await;
    let mut r = json_resp(200, &Value::Array(list));
    mark_filtered(&mut r, filtered);
    set_meta(&mut r, idx, &opts);
    Ok(r)
}

async fn matches(inner: &Inner, q: &Query, authz: &Authorizer) -> Result<Resp, Box<Resp>> {
    let opts = parse_query_opts(q)?;
    let by = q.get_all("by");
    if by.len() != 1 {
        return Err(Box::new(err500("required query parameter 'by' not set")));
    }
    let by_source = match by[0] {
        "source" => true,
        "destination" => false,
        _ => {
            return Err(Box::new(err500(
                "'by' parameter must be one of 'source' or 'destination'",
            )))
        }
    };
    let names: Vec<String> = q.get_all("name").iter().map(|s| s.to_string()).collect();
    if names.is_empty() {
        return Err(Box::new(err500("required query parameter 'name' not set")));
    }
    let mut wanted = Vec::new();
    for n in &names {
        let c = parse_component(n, false)
            .map_err(|e| Box::new(err500(&format!("name {n:?} is invalid: {e}"))))?;
        check_ns("match entry namespace", &c.ns).map_err(|e| Box::new(err500(&e)))?;
        wanted.push(c.name);
    }
    for name in &wanted {
        if !name.is_empty() && !authz.allowed("intention", name, Level::Read) {
            return Err(Box::new(forbidden(&authz.denied(
                "intention",
                Level::Read,
                Some(name),
            ))));
        }
    }
    let (idx, found) = blocking(inner, &opts, |st: &State| {
        let all = all_intentions(st);
        let found: Vec<Vec<Value>> = wanted
            .iter()
            .map(|w| {
                all.iter()
                    .filter(|i| {
                        let side = if by_source { &i.source } else { &i.dest };
                        side == w || side == "*"
                    })
                    .map(|i| i.json.clone())
                    .collect()
            })
            .collect();
        (st.config.table_index(), found)
    })
    .await;
    let mut out = Map::new();
    for (n, list) in names.iter().zip(found) {
        out.insert(n.clone(), Value::Array(list));
    }
    let mut r = json_resp(200, &Value::Object(out));
    set_meta(&mut r, idx, &opts);
    Ok(r)
}

fn check(inner: &Inner, q: &Query, authz: &Authorizer) -> Result<Resp, Box<Resp>> {
    parse_query_opts(q)?;
    let source_type = q
        .get_all("source-type")
        .first()
        .map(|s| s.to_string())
        .unwrap_or_else(|| "consul".to_string());
    let source = one(q, "source", false)?;
    let destination = one(q, "destination", false)?;
    let mut src_name = source.to_string();
    if source_type == "consul" {
        let c = parse_component(source, false)
            .map_err(|e| Box::new(err500(&format!("source {source:?} is invalid: {e}"))))?;
        check_ns("source namespace", &c.ns).map_err(|e| Box::new(err500(&e)))?;
        src_name = c.name;
    }
    let d = parse_component(destination, false).map_err(|e| {
        Box::new(err500(&format!(
            "destination {destination:?} is invalid: {e}"
        )))
    })?;
    check_ns("destination namespace", &d.ns).map_err(|e| Box::new(err500(&e)))?;
    if source_type != "consul" {
        return Err(Box::new(err500(&format!(
            "unsupported SourceType: {source_type:?}"
        ))));
    }
    if !d.name.is_empty() && !authz.allowed("service", &d.name, Level::Read) {
        return Err(Box::new(forbidden(&authz.denied(
            "service",
            Level::Read,
            Some(&d.name),
        ))));
    }
    // With no matching intention the decision is the ACL default policy (allow when
    // ACLs are off); an intention with L7 permissions counts as deny here.
    let all = all_intentions(&inner.state());
    let decision = all
        .iter()
        .filter(|i| i.source == src_name || i.source == "*")
        .find(|i| i.dest == d.name || i.dest == "*")
        .map(|i| {
            i.json.get("Action").and_then(Value::as_str) == Some("allow")
                && i.json.get("Permissions").is_none()
        });
    let allowed = decision.unwrap_or(authz.default_allow);
    Ok(json_resp(200, &json!({ "Allowed": allowed })))
}

/// The entry and source index of an exact source → destination pair.
fn find_exact(st: &State, peer: &str, src: &str, dest: &str) -> Option<(StoredEntry, usize)> {
    let e = st.config.get(SERVICE_INTENTIONS, dest)?;
    let pos = e
        .body
        .get("Sources")
        .and_then(Value::as_array)?
        .iter()
        .position(|s| {
            s.get("Name").and_then(Value::as_str) == Some(src)
                && s.get("Peer").and_then(Value::as_str).unwrap_or("") == peer
        })?;
    Some((e.clone(), pos))
}

async fn get_exact(inner: &Inner, q: &Query, authz: &Authorizer) -> Result<Resp, Box<Resp>> {
    let opts = parse_query_opts(q)?;
    let source = one(q, "source", false)?;
    let destination = one(q, "destination", false)?;
    let s = parse_component(source, true)
        .map_err(|e| Box::new(err500(&format!("source {source:?} is invalid: {e}"))))?;
    let d = parse_component(destination, false).map_err(|e| {
        Box::new(err500(&format!(
            "destination {destination:?} is invalid: {e}"
        )))
    })?;
    check_ns("SourceNS", &s.ns).map_err(|e| Box::new(err500(&e)))?;
    check_ns("DestinationNS", &d.ns).map_err(|e| Box::new(err500(&e)))?;
    let (_, found) = blocking(inner, &opts, |st: &State| {
        let found = find_exact(st, &s.peer, &s.name, &d.name).and_then(|(e, pos)| {
            let src = e
                .body
                .get("Sources")?
                .as_array()?
                .get(pos)?
                .as_object()?
                .clone();
            Some(ixn_of(&e, &src))
        });
        (st.config.table_index(), found)
    })
    .await;
    // Consul's exact GET sets no X-Consul-Index; a missing pair is 404 before ACLs apply.
    let Some(ixn) = found else {
        return Ok(text(404, "Intention not found"));
    };
    if !can_read(authz, &ixn) {
        return Ok(forbidden("Permission denied"));
    }
    Ok(json_resp(200, &ixn.json))
}

/// `parseIntentionQueryExact`: both parameters required and non-empty, no peers.
fn exact_params(q: &Query) -> Result<(String, String), Box<Resp>> {
    let source = one(q, "source", true)?;
    let destination = one(q, "destination", true)?;
    let s = parse_component(source, false)
        .map_err(|e| Box::new(err500(&format!("source {source:?} is invalid: {e}"))))?;
    let d = parse_component(destination, false).map_err(|e| {
        Box::new(err500(&format!(
            "destination {destination:?} is invalid: {e}"
        )))
    })?;
    // CE's enterprise meta has no namespace field: a namespace here is dropped.
    Ok((s.name, d.name))
}

/// Go `encoding/json` decoding of a `structs.Intention` body (case-insensitive keys,
/// unknown ones ignored); returns the fields the upsert uses.
fn decode_intention(body: &[u8]) -> Result<Map<String, Value>, String> {
    let v = go_decode_first(body)?;
    if v.is_null() {
        return Ok(Map::new());
    }
    let Value::Object(m) = v else {
        return Err(format!(
            "json: cannot unmarshal {} into Go value of type structs.Intention",
            match v {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            }
        ));
    };
    let mut out = Map::new();
    let strings = [
        ("ID", "string"),
        ("Description", "string"),
        ("SourcePeer", "string"),
        ("SourceType", "structs.IntentionSourceType"),
        ("Action", "structs.IntentionAction"),
    ];
    for (k, v) in &m {
        if v.is_null() {
            continue;
        }
        if let Some((name, ty)) = strings.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)) {
            match v {
                Value::String(_) => {
                    out.insert(name.to_string(), v.clone());
                }
                other => {
                    return Err(format!(
                    "json: cannot unmarshal {} into Go struct field Intention.{name} of type {ty}",
                    json_kind(other)
                ))
                }
            }
        } else if k.eq_ignore_ascii_case("Meta") {
            match v {
                Value::Object(mm) if mm.values().all(Value::is_string) => {
                    out.insert("Meta".into(), v.clone());
                }
                other => {
                    return Err(format!(
                        "json: cannot unmarshal {} into Go struct field Intention.Meta of type map[string]string",
                        json_kind(other)
                    ))
                }
            }
        } else if k.eq_ignore_ascii_case("Permissions") {
            if !v.is_array() {
                return Err(format!(
                    "json: cannot unmarshal {} into Go struct field Intention.Permissions of type []*structs.IntentionPermission",
                    json_kind(v)
                ));
            }
            out.insert("Permissions".into(), decode_permissions(v)?);
        }
    }
    Ok(out)
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

fn put_exact(
    inner: &Inner,
    q: &Query,
    body: &Bytes,
    authz: &Authorizer,
) -> Result<Resp, Box<Resp>> {
    let (src, dest) = exact_params(q)?;
    let ixn = decode_intention(body)
        .map_err(|e| Box::new(text(400, &format!("Request decode failed: {e}"))))?;
    let get = |k: &str| ixn.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if !get("SourcePeer").is_empty() {
        return Err(Box::new(err500(
            "SourcePeer field is not supported on this endpoint. Use config entries instead",
        )));
    }
    // The legacy write needs intentions:write on the destination; its denial is bare.
    if !authz.allowed("intention", &dest, Level::Write) {
        return Err(Box::new(forbidden("Permission denied")));
    }
    let meta = ixn
        .get("Meta")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    let mut source = Map::new();
    source.insert("Name".into(), json!(src));
    for k in ["Action", "Description"] {
        let v = get(k);
        if !v.is_empty() {
            source.insert(k.into(), json!(v));
        }
    }
    if let Some(Value::Array(p)) = ixn.get("Permissions") {
        if !p.is_empty() {
            source.insert("Permissions".into(), Value::Array(p.clone()));
        }
    }
    let st_type = get("SourceType");
    if !st_type.is_empty() {
        source.insert("Type".into(), json!(st_type));
    }
    source.insert("Precedence".into(), json!(precedence(&dest, &src)));
    let res = inner.write(|st| {
        let prev = st.config.get(SERVICE_INTENTIONS, &dest).cloned();
        let mut body = match &prev {
            None => {
                if meta.is_some() {
                    return Err("Meta must not be specified".to_string());
                }
                let mut b = Map::new();
                b.insert("Kind".into(), json!(SERVICE_INTENTIONS));
                b.insert("Name".into(), json!(dest));
                b
            }
            Some(e) => {
                if let Some(m) = meta {
                    let cur = e.body.get("Meta").and_then(Value::as_object);
                    if cur != Some(m) {
                        return Err(
                            "Meta must not be specified, or should be unchanged during an update."
                                .to_string(),
                        );
                    }
                }
                e.body.clone()
            }
        };
        let mut sources: Vec<Value> = match body.remove("Sources") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let same = |s: &Value| {
            s.get("Name").and_then(Value::as_str) == Some(src.as_str())
                && s.get("Peer")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
        };
        match sources.iter().position(same) {
            Some(i) => sources[i] = Value::Object(source.clone()),
            None => sources.push(Value::Object(source.clone())),
        }
        body.insert("Sources".into(), Value::Array(sources));
        write_intentions(st, &dest, body)
    });
    match res {
        Ok(()) => Ok(json_resp(200, &json!(true))),
        Err(e) => Err(Box::new(err500(&e))),
    }
}

fn delete_exact(inner: &Inner, q: &Query, authz: &Authorizer) -> Result<Resp, Box<Resp>> {
    let (src, dest) = exact_params(q)?;
    if !authz.allowed("intention", &dest, Level::Write) {
        return Err(Box::new(forbidden("Permission denied")));
    }
    let res = inner.write(|st| {
        // By-name deletions are idempotent: nothing is written when the pair is absent.
        let Some((e, pos)) = find_exact(st, "", &src, &dest) else {
            return Ok(());
        };
        let mut body = e.body.clone();
        let mut sources: Vec<Value> = match body.remove("Sources") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        sources.remove(pos);
        if sources.is_empty() {
            let idx = st.apply();
            st.config.delete(idx, SERVICE_INTENTIONS, &dest, None);
            return Ok(());
        }
        body.insert("Sources".into(), Value::Array(sources));
        write_intentions(st, &dest, body)
    });
    match res {
        Ok(()) => Ok(json_resp(200, &json!(true))),
        Err(e) => Err(Box::new(err500(&e))),
    }
}
