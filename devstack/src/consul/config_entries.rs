//! Config entries (`/v1/config`): decoding the way Consul's `DecodeConfigEntry` does
//! (mapstructure, weakly typed, snake_case aliases, unused keys rejected), the per-kind
//! normalisation and validation, ACLs, CAS, and blocking reads. `service-intentions`
//! entries are also the storage of the legacy intentions API (see `intentions.rs`).

use std::collections::BTreeMap;

use hyper::body::Bytes;
use hyper::Method;
use serde_json::{json, Map, Value};

use super::acl::{Authorizer, Level};
use super::api::{
    blocking, forbidden, mark_filtered, parse_query_opts, parse_uint, set_meta, Query,
};
use super::state::State;
use super::{json_resp, text, Inner, Resp};

pub(crate) const SERVICE_INTENTIONS: &str = "service-intentions";
const SERVICE_DEFAULTS: &str = "service-defaults";
const PROXY_DEFAULTS: &str = "proxy-defaults";
const MESH: &str = "mesh";

/// Kinds Consul CE knows (`MakeConfigEntry`); only the first four are modelled in depth,
/// the others are accepted with their top-level fields kept opaque.
const KNOWN_KINDS: &[&str] = &[
    SERVICE_DEFAULTS,
    PROXY_DEFAULTS,
    SERVICE_INTENTIONS,
    MESH,
    "service-router",
    "service-splitter",
    "service-resolver",
    "ingress-gateway",
    "terminating-gateway",
    "exported-services",
    "sameness-group",
    "api-gateway",
    "bound-api-gateway",
    "file-system-certificate",
    "inline-certificate",
    "http-route",
    "tcp-route",
    "jwt-provider",
];

/// One stored config entry: its normalised body with canonical (Go field) keys.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    pub kind: String,
    pub name: String,
    pub body: Map<String, Value>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The `config-entries` table.
#[derive(Debug, Clone, Default)]
pub struct ConfigStore {
    pub entries: BTreeMap<(String, String), StoredEntry>,
    /// Max index of the table (writes and deletes).
    pub index: u64,
}

impl ConfigStore {
    pub fn get(&self, kind: &str, name: &str) -> Option<&StoredEntry> {
        self.entries.get(&(kind.to_string(), name.to_string()))
    }

    pub fn table_index(&self) -> u64 {
        self.index.max(1)
    }

    /// Consul's `ensureConfigEntryTxn` with the CAS rule of `upsert-cas`.
    pub fn upsert(
        &mut self,
        idx: u64,
        kind: &str,
        name: &str,
        body: Map<String, Value>,
        cas: Option<u64>,
    ) -> bool {
        let key = (kind.to_string(), name.to_string());
        let existing = self.entries.get(&key);
        if let Some(cas) = cas {
            match existing {
                None if cas != 0 => return false,
                Some(e) if e.modify_index != cas => return false,
                _ => {}
            }
        }
        let create_index = existing.map(|e| e.create_index).unwrap_or(idx);
        self.entries.insert(
            key,
            StoredEntry {
                kind: kind.to_string(),
                name: name.to_string(),
                body,
                create_index,
                modify_index: idx,
            },
        );
        self.index = idx;
        true
    }

    /// Deletes an entry; `cas` as Consul's `delete-cas`.
    pub fn delete(&mut self, idx: u64, kind: &str, name: &str, cas: Option<u64>) -> bool {
        let key = (kind.to_string(), name.to_string());
        match self.entries.get(&key) {
            None => return true,
            Some(e) => {
                if let Some(cas) = cas {
                    if e.modify_index != cas {
                        return false;
                    }
                }
            }
        }
        self.entries.remove(&key);
        self.index = idx;
        true
    }
}

// ------------------------------------------------------------------ decoding schema

/// The Go type of a field, as far as decoding goes.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
    StrMap,
    /// `map[string]interface{}`.
    AnyMap,
    /// A part the simulator keeps opaque.
    Any,
    StrList,
    Time,
    Obj(&'static [F]),
    List(&'static Ty),
}

#[derive(Debug, Clone, Copy)]
struct F {
    name: &'static str,
    alias: &'static str,
    ty: Ty,
}

const fn f(name: &'static str, alias: &'static str, ty: Ty) -> F {
    F { name, alias, ty }
}

const TPROXY: &[F] = &[
    f("OutboundListenerPort", "outbound_listener_port", Ty::Int),
    f("DialedDirectly", "dialed_directly", Ty::Bool),
];
const MESH_GATEWAY: &[F] = &[f("Mode", "", Ty::Str)];
const EXPOSE_PATH: &[F] = &[
    f("ListenerPort", "listener_port", Ty::Int),
    f("Path", "", Ty::Str),
    f("LocalPathPort", "local_path_port", Ty::Int),
    f("Protocol", "", Ty::Str),
    f("ParsedFromCheck", "parsed_from_check", Ty::Bool),
];
const EXPOSE: &[F] = &[
    f("Checks", "", Ty::Bool),
    f("Paths", "", Ty::List(&Ty::Obj(EXPOSE_PATH))),
];
const DESTINATION: &[F] = &[f("Addresses", "", Ty::StrList), f("Port", "", Ty::Int)];

const SERVICE_DEFAULTS_FIELDS: &[F] = &[
    f("Kind", "", Ty::Str),
    f("Name", "", Ty::Str),
    f("Protocol", "", Ty::Str),
    f("Mode", "", Ty::Str),
    f("TransparentProxy", "transparent_proxy", Ty::Obj(TPROXY)),
    f("MutualTLSMode", "mutual_tls_mode", Ty::Str),
    f("MeshGateway", "mesh_gateway", Ty::Obj(MESH_GATEWAY)),
    f("Expose", "", Ty::Obj(EXPOSE)),
    f("ExternalSNI", "external_sni", Ty::Str),
    f("UpstreamConfig", "upstream_config", Ty::Any),
    f("Destination", "", Ty::Obj(DESTINATION)),
    f("MaxInboundConnections", "max_inbound_connections", Ty::Int),
    f("LocalConnectTimeoutMs", "local_connect_timeout_ms", Ty::Int),
    f("LocalRequestTimeoutMs", "local_request_timeout_ms", Ty::Int),
    f(
        "BalanceInboundConnections",
        "balance_inbound_connections",
        Ty::Str,
    ),
    f("RateLimits", "rate_limits", Ty::Any),
    f("EnvoyExtensions", "envoy_extensions", Ty::Any),
    f("Meta", "", Ty::StrMap),
    f("Hash", "", Ty::Int),
];

const ACCESS_LOGS: &[F] = &[
    f("Enabled", "", Ty::Bool),
    f("DisableListenerLogs", "disable_listener_logs", Ty::Bool),
    f("Type", "", Ty::Str),
    f("Path", "", Ty::Str),
    f("JSONFormat", "json_format", Ty::Str),
    f("TextFormat", "text_format", Ty::Str),
];

const PROXY_DEFAULTS_FIELDS: &[F] = &[
    f("Kind", "", Ty::Str),
    f("Name", "", Ty::Str),
    f("Config", "", Ty::AnyMap),
    // `json:"-"`, but mapstructure still decodes it; Normalize recomputes it.
    f("Protocol", "", Ty::Str),
    f("Mode", "", Ty::Str),
    f("TransparentProxy", "transparent_proxy", Ty::Obj(TPROXY)),
    f("MutualTLSMode", "mutual_tls_mode", Ty::Str),
    f("MeshGateway", "mesh_gateway", Ty::Obj(MESH_GATEWAY)),
    f("Expose", "", Ty::Obj(EXPOSE)),
    f("AccessLogs", "access_logs", Ty::Obj(ACCESS_LOGS)),
    f("EnvoyExtensions", "envoy_extensions", Ty::Any),
    f("FailoverPolicy", "failover_policy", Ty::Any),
    f("PrioritizeByLocality", "prioritize_by_locality", Ty::Any),
    f("Meta", "", Ty::StrMap),
    f("Hash", "", Ty::Int),
];

const MESH_TPROXY: &[F] = &[f(
    "MeshDestinationsOnly",
    "mesh_destinations_only",
    Ty::Bool,
)];
/// `structs.MeshConfigEntry` has neither `Kind` nor `Name` fields.
const MESH_FIELDS: &[F] = &[
    f(
        "TransparentProxy",
        "transparent_proxy",
        Ty::Obj(MESH_TPROXY),
    ),
    f(
        "AllowEnablingPermissiveMutualTLS",
        "allow_enabling_permissive_mutual_tls",
        Ty::Bool,
    ),
    f("ValidateClusters", "validate_clusters", Ty::Bool),
    f("TLS", "", Ty::Any),
    f("HTTP", "", Ty::Any),
    f("Peering", "", Ty::Any),
    f("Meta", "", Ty::StrMap),
    f("Hash", "", Ty::Int),
];

const HEADER_PERM: &[F] = &[
    f("Name", "", Ty::Str),
    f("Present", "", Ty::Bool),
    f("Exact", "", Ty::Str),
    f("Prefix", "", Ty::Str),
    f("Suffix", "", Ty::Str),
    f("Regex", "", Ty::Str),
    f("Invert", "", Ty::Bool),
];
const HTTP_PERM: &[F] = &[
    f("PathExact", "path_exact", Ty::Str),
    f("PathPrefix", "path_prefix", Ty::Str),
    f("PathRegex", "path_regex", Ty::Str),
    f("Header", "", Ty::List(&Ty::Obj(HEADER_PERM))),
    f("Methods", "", Ty::StrList),
];
const PERMISSION: &[F] = &[
    f("Action", "", Ty::Str),
    f("HTTP", "", Ty::Obj(HTTP_PERM)),
    f("JWT", "", Ty::Any),
];
const SOURCE_FIELDS: &[F] = &[
    f("Name", "", Ty::Str),
    f("Action", "", Ty::Str),
    f("Permissions", "", Ty::List(&Ty::Obj(PERMISSION))),
    f("Precedence", "", Ty::Int),
    f("LegacyID", "legacy_id", Ty::Str),
    f("Type", "", Ty::Str),
    f("Description", "", Ty::Str),
    f("LegacyMeta", "legacy_meta", Ty::StrMap),
    f("LegacyCreateTime", "legacy_create_time", Ty::Time),
    f("LegacyUpdateTime", "legacy_update_time", Ty::Time),
    f("Peer", "", Ty::Str),
    f("SamenessGroup", "sameness_group", Ty::Str),
];
const INTENTIONS_FIELDS: &[F] = &[
    f("Kind", "", Ty::Str),
    f("Name", "", Ty::Str),
    f("Sources", "", Ty::List(&Ty::Obj(SOURCE_FIELDS))),
    f("JWT", "", Ty::Any),
    f("Meta", "", Ty::StrMap),
    f("Hash", "", Ty::Int),
];

/// Other kinds: the common fields typed, the rest kept as sent.
const GENERIC_FIELDS: &[F] = &[
    f("Kind", "", Ty::Str),
    f("Name", "", Ty::Str),
    f("Meta", "", Ty::StrMap),
];

fn fields_of(kind: &str) -> &'static [F] {
    match kind {
        SERVICE_DEFAULTS => SERVICE_DEFAULTS_FIELDS,
        PROXY_DEFAULTS => PROXY_DEFAULTS_FIELDS,
        MESH => MESH_FIELDS,
        SERVICE_INTENTIONS => INTENTIONS_FIELDS,
        _ => GENERIC_FIELDS,
    }
}

struct Decoder {
    errors: Vec<String>,
    unused: Vec<String>,
    /// Keep unknown keys instead of reporting them (kinds not modelled).
    lenient: bool,
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "invalid",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

/// Go's `%v` of a decoded JSON value.
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// `strconv.FormatFloat(f, 'f', -1, 64)` for the values JSON carries.
fn go_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

impl Decoder {
    fn unconvertible(&mut self, name: &str, want: &str, v: &Value) {
        self.errors.push(format!(
            "'{name}' expected type '{want}', got unconvertible type '{}', value: '{}'",
            go_type(v),
            go_fmt(v)
        ));
    }

    /// Decodes `v` into `ty`; `None` when it decodes to nothing (null) or failed.
    fn value(&mut self, name: &str, ty: Ty, v: &Value) -> Option<Value> {
        if v.is_null() {
            return None;
        }
        // lib/decode.HookWeakDecodeFromSlice: a one-element list decodes into a non-list.
        if let Value::Array(a) = v {
            if !matches!(ty, Ty::List(_) | Ty::StrList | Ty::Any) && a.len() == 1 {
                return self.value(name, ty, &a[0]);
            }
        }
        match ty {
            Ty::Any => Some(v.clone()),
            Ty::Str => match v {
                Value::String(s) => Some(json!(s)),
                Value::Bool(b) => Some(json!(if *b { "1" } else { "0" })),
                Value::Number(n) => Some(json!(go_float(n.as_f64().unwrap_or(0.0)))),
                _ => {
                    self.unconvertible(name, "string", v);
                    None
                }
            },
            Ty::Int => match v {
                Value::Number(n) => Some(json!(n
                    .as_i64()
                    .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64))),
                Value::Bool(b) => Some(json!(i64::from(*b))),
                Value::String(s) => {
                    let s2 = if s.is_empty() { "0" } else { s.as_str() };
                    match s2.parse::<i64>() {
                        Ok(i) => Some(json!(i)),
                        Err(_) => {
                            self.errors.push(format!(
                                "cannot parse '{name}' as int: strconv.ParseInt: parsing {s:?}: invalid syntax"
                            ));
                            None
                        }
                    }
                }
                _ => {
                    self.unconvertible(name, "int", v);
                    None
                }
            },
            Ty::Bool => match v {
                Value::Bool(b) => Some(json!(b)),
                Value::Number(n) => Some(json!(n.as_f64().unwrap_or(0.0) != 0.0)),
                Value::String(s) => match s.as_str() {
                    "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(json!(true)),
                    "0" | "f" | "F" | "FALSE" | "false" | "False" | "" => Some(json!(false)),
                    _ => {
                        self.errors.push(format!(
                            "cannot parse '{name}' as bool: strconv.ParseBool: parsing {s:?}: invalid syntax"
                        ));
                        None
                    }
                },
                _ => {
                    self.unconvertible(name, "bool", v);
                    None
                }
            },
            Ty::Time => match v {
                Value::String(s) if s.len() >= 20 && s.as_bytes().get(10) == Some(&b'T') => {
                    Some(json!(s))
                }
                Value::String(s) => {
                    self.errors.push(format!(
                        "error decoding '{name}': parsing time {s:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {s:?} as \"2006\""
                    ));
                    None
                }
                _ => {
                    self.errors
                        .push(format!("'{name}' expected a map, got '{}'", go_kind(v)));
                    None
                }
            },
            Ty::StrMap | Ty::AnyMap => match v {
                Value::Object(m) => {
                    let mut out = Map::new();
                    for (k, x) in m {
                        if let Ty::StrMap = ty {
                            if let Some(s) = self.value(&format!("{name}[{k}]"), Ty::Str, x) {
                                out.insert(k.clone(), s);
                            }
                        } else {
                            out.insert(k.clone(), x.clone());
                        }
                    }
                    Some(Value::Object(out))
                }
                Value::Array(a) if a.is_empty() => Some(Value::Object(Map::new())),
                _ => {
                    self.errors
                        .push(format!("'{name}' expected a map, got '{}'", go_kind(v)));
                    None
                }
            },
            Ty::StrList => self.value(name, Ty::List(&Ty::Str), v),
            Ty::List(elem) => {
                let items: Vec<Value> = match v {
                    Value::Array(a) => a.clone(),
                    Value::Object(m) if m.is_empty() => Vec::new(),
                    // WeaklyTypedInput: a single value becomes a one-element list.
                    other => vec![other.clone()],
                };
                let mut out = Vec::new();
                for (i, x) in items.iter().enumerate() {
                    match self.value(&format!("{name}[{i}]"), *elem, x) {
                        Some(d) => out.push(d),
                        None if x.is_null() => out.push(Value::Null),
                        None => {}
                    }
                }
                Some(Value::Array(out))
            }
            Ty::Obj(fields) => match v {
                Value::Object(m) => Some(Value::Object(self.object(name, fields, m))),
                _ => {
                    self.errors
                        .push(format!("'{name}' expected a map, got '{}'", go_kind(v)));
                    None
                }
            },
        }
    }

    /// Decodes a struct: keys are translated from their snake_case alias, then matched
    /// case-insensitively against the field names; the others are unused.
    fn object(&mut self, path: &str, fields: &[F], m: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in m {
            let field = fields
                .iter()
                .find(|fd| !fd.alias.is_empty() && fd.alias.eq_ignore_ascii_case(k))
                .or_else(|| fields.iter().find(|fd| fd.name == k))
                .or_else(|| fields.iter().find(|fd| fd.name.eq_ignore_ascii_case(k)));
            match field {
                Some(fd) => {
                    if out.contains_key(fd.name) {
                        continue;
                    }
                    if let Some(d) = self.value(&join(path, fd.name), fd.ty, v) {
                        // Go cannot tell a zero value from an absent one: keep neither, so
                        // equal entries compare equal (render adds the always-present ones).
                        let opaque = matches!(fd.ty, Ty::Any | Ty::AnyMap | Ty::Time);
                        if opaque || !is_zero(&d) {
                            out.insert(fd.name.to_string(), d);
                        }
                    }
                }
                None if self.lenient && path.is_empty() => {
                    out.insert(k.clone(), v.clone());
                }
                None => self.unused.push(join(path, k)),
            }
        }
        out
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// `multierror`'s format.
pub(crate) fn multierror(errs: &[String]) -> String {
    if errs.len() == 1 {
        return format!("1 error occurred:\n\t* {}\n\n", errs[0]);
    }
    let points: Vec<String> = errs.iter().map(|e| format!("* {e}")).collect();
    format!(
        "{} errors occurred:\n\t{}\n\n",
        errs.len(),
        points.join("\n\t")
    )
}

/// Consul CE `validateUnusedKeys`.
fn unused_keys_error(unused: &[String]) -> Option<String> {
    let mut errs = Vec::new();
    for k in unused {
        let lower = k.to_ascii_lowercase();
        if k == "CreateIndex" || k == "ModifyIndex" || k == "kind" || k == "Kind" {
            continue;
        }
        if lower.ends_with("namespace") {
            errs.push(format!(
                "invalid config key {k:?}, namespaces are a consul enterprise feature"
            ));
        } else if lower.contains("jwt") {
            errs.push(format!(
                "invalid config key {k:?}, api-gateway jwt validation is a consul enterprise feature"
            ));
        } else {
            errs.push(format!("invalid config key {k:?}"));
        }
    }
    (!errs.is_empty()).then(|| multierror(&errs))
}

/// `structs.DecodeConfigEntry`: the kind and the decoded body (canonical keys).
fn decode_entry(raw: &Map<String, Value>) -> Result<(String, Map<String, Value>), String> {
    let kind = match raw.get("Kind").or_else(|| raw.get("kind")) {
        None => return Err("Payload does not contain a kind/Kind key at the top level".into()),
        Some(Value::String(k)) => k.clone(),
        Some(_) => return Err("Kind value in payload is not a string".into()),
    };
    if !KNOWN_KINDS.contains(&kind.as_str()) {
        return Err(format!("invalid config entry kind: {kind}"));
    }
    let modelled =
        [SERVICE_DEFAULTS, PROXY_DEFAULTS, MESH, SERVICE_INTENTIONS].contains(&kind.as_str());
    let mut d = Decoder {
        errors: Vec::new(),
        unused: Vec::new(),
        lenient: !modelled,
    };
    let body = d.object("", fields_of(&kind), raw);
    if !d.errors.is_empty() {
        let mut points: Vec<String> = d.errors.iter().map(|e| format!("* {e}")).collect();
        points.sort();
        return Err(format!(
            "{} error(s) decoding:\n\n{}",
            d.errors.len(),
            points.join("\n")
        ));
    }
    d.unused.sort();
    if let Some(e) = unused_keys_error(&d.unused) {
        return Err(e);
    }
    Ok((kind, body))
}

fn s<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

// ------------------------------------------------------------------ normalise/validate

/// Consul's intention precedence for CE (namespaces are always exact).
pub(crate) fn precedence(dest: &str, src: &str) -> i64 {
    let max = if dest == "*" { 6 } else { 9 };
    let count_src = if src == "*" { 1 } else { 2 };
    max - (2 - count_src)
}

fn mtls_mode_error(m: &Map<String, Value>) -> Option<String> {
    let mode = s(m, "MutualTLSMode");
    (!["", "strict", "permissive"].contains(&mode)).then(|| {
        format!(
            "Invalid MutualTLSMode {mode:?}. Must be one of \"\", \"strict\", or \"permissive\"."
        )
    })
}

/// `Normalize` then `Validate`; returns the entry's name. Errors are RPC errors (500).
fn normalize_validate(kind: &str, body: &mut Map<String, Value>) -> Result<String, String> {
    match kind {
        SERVICE_DEFAULTS => {
            body.insert("Kind".into(), json!(kind));
            let p = s(body, "Protocol").to_lowercase();
            if !p.is_empty() {
                body.insert("Protocol".into(), json!(p));
            }
            let name = s(body, "Name").to_string();
            if name.is_empty() {
                return Err("Name is required".into());
            }
            if name == "*" {
                return Err(
                    "service-defaults name must be the name of a service, and not a wildcard"
                        .into(),
                );
            }
            let mut errs = Vec::new();
            let bal = s(body, "BalanceInboundConnections");
            if !bal.is_empty() && bal != "exact_balance" {
                errs.push(format!(
                    "invalid value for balance_inbound_connections: {bal}"
                ));
            }
            if body.contains_key("UpstreamConfig") && body.contains_key("Destination") {
                errs.push(
                    "UpstreamConfig and Destination are mutually exclusive for service defaults"
                        .into(),
                );
                return Err(multierror(&errs));
            }
            if let Some(Value::Object(dst)) = body.get("Destination") {
                let addrs: Vec<String> = dst
                    .get("Addresses")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if addrs.is_empty() {
                    errs.push("Destination must contain at least one valid address".into());
                }
                let mut seen = std::collections::BTreeSet::new();
                for a in &addrs {
                    if !seen.insert(a.clone()) {
                        errs.push(format!("Duplicate address '{a}' is not allowed"));
                    }
                }
                let port = dst.get("Port").and_then(Value::as_i64).unwrap_or(0);
                if !(1..=65535).contains(&port) {
                    errs.push(format!("Invalid Port number {port}"));
                }
            }
            if let Some(e) = mtls_mode_error(body) {
                return Err(e);
            }
            if !errs.is_empty() {
                return Err(multierror(&errs));
            }
            Ok(name)
        }
        PROXY_DEFAULTS => {
            body.insert("Kind".into(), json!(kind));
            let name = s(body, "Name").to_string();
            if !name.is_empty() && name != "global" {
                return Err(format!(
                    "invalid name ({name:?}), only \"global\" is supported"
                ));
            }
            body.insert("Name".into(), json!("global"));
            // `Protocol` is derived from Config["protocol"] and never serialised.
            body.remove("Protocol");
            if let Some(e) = mtls_mode_error(body) {
                return Err(e);
            }
            Ok("global".into())
        }
        MESH => Ok("mesh".into()),
        SERVICE_INTENTIONS => {
            body.insert("Kind".into(), json!(kind));
            let name = s(body, "Name").to_string();
            let mut sources: Vec<Value> = match body.remove("Sources") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            for src in sources.iter_mut() {
                if let Value::Object(m) = src {
                    if s(m, "Type").is_empty() {
                        m.insert("Type".into(), json!("consul"));
                    }
                    let p = precedence(&name, s(m, "Name"));
                    m.insert("Precedence".into(), json!(p));
                    // Legacy fields are cleared on non-legacy writes (LegacyMeta is
                    // kept so that Validate can reject it).
                    m.remove("LegacyID");
                    m.remove("LegacyCreateTime");
                    m.remove("LegacyUpdateTime");
                    if let Some(Value::Array(perms)) = m.get_mut("Permissions") {
                        for perm in perms.iter_mut() {
                            if let Some(Value::Array(ms)) =
                                perm.get_mut("HTTP").and_then(|h| h.get_mut("Methods"))
                            {
                                for x in ms.iter_mut() {
                                    if let Value::String(st) = x {
                                        *st = st.to_uppercase();
                                    }
                                }
                            }
                        }
                    }
                }
            }
            // Stable sort, highest precedence first.
            sources.sort_by_key(|x| -x.get("Precedence").and_then(Value::as_i64).unwrap_or(0));
            body.insert("Sources".into(), Value::Array(sources));
            validate_intentions(&name, body)?;
            Ok(name)
        }
        _ => {
            body.insert("Kind".into(), json!(kind));
            let name = s(body, "Name").to_string();
            if name.is_empty() {
                return Err("Name is required".into());
            }
            Ok(name)
        }
    }
}

fn wildcard_error(name: &str) -> Option<&'static str> {
    (name != "*" && name.contains('*'))
        .then_some("Name: wildcard character '*' cannot be used with partial values")
}

const VALID_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE",
];

/// `ServiceIntentionsConfigEntry.validate(false)`.
fn validate_intentions(name: &str, body: &Map<String, Value>) -> Result<(), String> {
    if name.is_empty() {
        return Err("Name is required".into());
    }
    if let Some(e) = wildcard_error(name) {
        return Err(e.into());
    }
    let dest_wild = name == "*";
    let empty = Vec::new();
    let sources = body
        .get("Sources")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if sources.is_empty() {
        return Err("At least one source is required".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    let empty_map = Map::new();
    for (i, src) in sources.iter().enumerate() {
        let m = src.as_object().unwrap_or(&empty_map);
        let sname = s(m, "Name");
        if sname.is_empty() {
            return Err(format!("Sources[{i}].Name is required"));
        }
        if let Some(e) = wildcard_error(sname) {
            return Err(format!("Sources[{i}].{e}"));
        }
        let peer = s(m, "Peer");
        let group = s(m, "SamenessGroup");
        if peer.contains('*') {
            return Err(format!(
                "Sources[{i}].Peer: cannot use wildcard '*' in peer"
            ));
        }
        if group.contains('*') {
            return Err(format!(
                "Sources[{i}].SamenessGroup: cannot use wildcard '*' in sameness group"
            ));
        }
        if !group.is_empty() && !peer.is_empty() {
            return Err(format!(
                "Sources[{i}].SamenessGroup: cannot set SamenessGroup and Peer at the same time"
            ));
        }
        if s(m, "Description").len() > 512 {
            return Err(format!(
                "Sources[{i}].Description exceeds maximum length 512"
            ));
        }
        if m.get("LegacyMeta")
            .and_then(Value::as_object)
            .is_some_and(|x| !x.is_empty())
        {
            return Err(format!("Sources[{i}].LegacyMeta must be omitted"));
        }
        let perms = m
            .get("Permissions")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let action = s(m, "Action");
        if perms.is_empty() && action != "allow" && action != "deny" {
            return Err(format!(
                "Sources[{i}].Action must be set to 'allow' or 'deny'"
            ));
        }
        if !perms.is_empty() && !action.is_empty() {
            return Err(format!(
                "Sources[{i}].Action must be omitted if Permissions are specified"
            ));
        }
        if dest_wild && !perms.is_empty() {
            return Err(format!(
                "Sources[{i}].Permissions cannot be specified on intentions with wildcarded destinations"
            ));
        }
        if s(m, "Type") != "consul" {
            return Err(format!("Sources[{i}].Type must be set to 'consul'"));
        }
        for (j, perm) in perms.iter().enumerate() {
            let pm = perm.as_object().unwrap_or(&empty_map);
            let pa = s(pm, "Action");
            if pa != "allow" && pa != "deny" {
                return Err(format!(
                    "Sources[{i}].Permissions[{j}].Action must be set to 'allow' or 'deny'"
                ));
            }
            let prefix = format!("Sources[{i}].Permissions[{j}].HTTP");
            let Some(http) = pm.get("HTTP").and_then(Value::as_object) else {
                return Err(format!("{prefix} is required"));
            };
            let mut path_parts = 0;
            for key in ["PathExact", "PathPrefix"] {
                let p = s(http, key);
                if !p.is_empty() {
                    path_parts += 1;
                    if !p.starts_with('/') {
                        return Err(format!("{prefix}.{key} doesn't start with '/': {p:?}"));
                    }
                }
            }
            if !s(http, "PathRegex").is_empty() {
                path_parts += 1;
            }
            if path_parts > 1 {
                return Err(format!(
                    "{prefix} should only contain at most one of PathExact, PathPrefix, or PathRegex"
                ));
            }
            let mut parts = path_parts;
            let headers = http
                .get("Header")
                .and_then(Value::as_array)
                .unwrap_or(&empty);
            for (k, h) in headers.iter().enumerate() {
                let hm = h.as_object().unwrap_or(&empty_map);
                if s(hm, "Name").is_empty() {
                    return Err(format!("{prefix}.Header[{k}] missing required Name field"));
                }
                let mut n = 0;
                if hm.get("Present").and_then(Value::as_bool) == Some(true) {
                    n += 1;
                }
                for key in ["Exact", "Regex", "Prefix", "Suffix"] {
                    if !s(hm, key).is_empty() {
                        n += 1;
                    }
                }
                if n != 1 {
                    return Err(format!(
                        "{prefix}.Header[{k}] should only contain one of Present, Exact, Prefix, Suffix, or Regex"
                    ));
                }
                parts += 1;
            }
            let methods = http
                .get("Methods")
                .and_then(Value::as_array)
                .unwrap_or(&empty);
            if !methods.is_empty() {
                let mut found = std::collections::BTreeSet::new();
                for x in methods {
                    let meth = x.as_str().unwrap_or("");
                    if !VALID_METHODS.contains(&meth) {
                        return Err(format!(
                            "{prefix}.Methods contains an invalid method {meth:?}"
                        ));
                    }
                    if !found.insert(meth) {
                        return Err(format!("{prefix}.Methods contains {meth:?} more than once"));
                    }
                }
                parts += 1;
            }
            if parts == 0 {
                return Err(format!("{prefix} should not be empty"));
            }
        }
        let key = (peer.to_string(), group.to_string(), sname.to_string());
        if !seen.insert(key) {
            return Err(if !peer.is_empty() {
                format!("Sources[{i}] defines peer({peer:?}) {sname:?} more than once")
            } else if !group.is_empty() {
                format!("Sources[{i}] defines sameness-group({group:?}) {sname:?} more than once")
            } else {
                format!("Sources[{i}] defines {sname:?} more than once")
            });
        }
    }
    Ok(())
}

/// Decodes legacy-API `Permissions` into canonical form (Go's JSON decoder ignores
/// unknown fields, so unused keys are dropped rather than reported).
pub(crate) fn decode_permissions(v: &Value) -> Result<Value, String> {
    let mut d = Decoder {
        errors: Vec::new(),
        unused: Vec::new(),
        lenient: false,
    };
    let out = d.value("Permissions", Ty::List(&Ty::Obj(PERMISSION)), v);
    match d.errors.first() {
        Some(e) => Err(e.clone()),
        None => Ok(out.unwrap_or(Value::Null)),
    }
}

/// Stores a `service-intentions` entry changed through the legacy API: normalised and
/// validated as a config entry write is, then written (the raft index moves either way).
pub(crate) fn write_intentions(
    st: &mut State,
    dest: &str,
    mut body: Map<String, Value>,
) -> Result<(), String> {
    let idx = st.apply();
    normalize_validate(SERVICE_INTENTIONS, &mut body)?;
    st.config.upsert(idx, SERVICE_INTENTIONS, dest, body, None);
    Ok(())
}

// ------------------------------------------------------------------ ACL

/// `CanRead` of a kind; `Err` is the 403 body.
pub(crate) fn can_read(authz: &Authorizer, kind: &str, name: &str) -> Result<(), String> {
    match kind {
        PROXY_DEFAULTS | MESH => Ok(()),
        SERVICE_INTENTIONS => {
            if authz.allowed("intention", name, Level::Read) {
                Ok(())
            } else {
                Err(authz.denied("intention", Level::Read, Some(name)))
            }
        }
        "exported-services"
        | "sameness-group"
        | "jwt-provider"
        | "ingress-gateway"
        | "terminating-gateway"
        | "api-gateway"
        | "bound-api-gateway"
        | "file-system-certificate"
        | "inline-certificate" => {
            if authz.mesh_allowed(Level::Read) {
                Ok(())
            } else {
                Err(authz.denied("mesh", Level::Read, None))
            }
        }
        _ => {
            if authz.allowed("service", name, Level::Read) {
                Ok(())
            } else {
                Err(authz.denied("service", Level::Read, Some(name)))
            }
        }
    }
}

/// `CanWrite` of a kind; `Err` is the 403 body.
pub(crate) fn can_write(authz: &Authorizer, kind: &str, name: &str) -> Result<(), String> {
    match kind {
        SERVICE_INTENTIONS => {
            if authz.allowed("intention", name, Level::Write) {
                Ok(())
            } else {
                Err(authz.denied("intention", Level::Write, Some(name)))
            }
        }
        SERVICE_DEFAULTS | "service-router" | "service-splitter" | "service-resolver" => {
            if authz.allowed("service", name, Level::Write) {
                Ok(())
            } else {
                Err(authz.denied("service", Level::Write, Some(name)))
            }
        }
        _ => {
            if authz.mesh_allowed(Level::Write) {
                Ok(())
            } else {
                Err(authz.denied("mesh", Level::Write, None))
            }
        }
    }
}

// ------------------------------------------------------------------ rendering

/// A content hash standing in for Consul's `hashstructure` value (non-zero).
fn entry_hash(body: &Map<String, Value>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(body).unwrap_or_default().hash(&mut h);
    h.finish().max(1)
}

/// The JSON Consul serves for an entry (struct fields without `omitempty` always appear).
pub(crate) fn render(e: &StoredEntry) -> Value {
    let mut out = e.body.clone();
    let empty_obj = || Value::Object(Map::new());
    match e.kind.as_str() {
        SERVICE_DEFAULTS => {
            out.entry("Protocol").or_insert(json!(""));
            for k in ["TransparentProxy", "MeshGateway", "Expose"] {
                out.entry(k).or_insert_with(empty_obj);
            }
        }
        PROXY_DEFAULTS => {
            out.entry("Config").or_insert(Value::Null);
            for k in ["TransparentProxy", "MeshGateway", "Expose", "AccessLogs"] {
                out.entry(k).or_insert_with(empty_obj);
            }
        }
        MESH => {
            out.insert("Kind".into(), json!(MESH));
            let tp = out.entry("TransparentProxy").or_insert_with(empty_obj);
            if let Value::Object(m) = tp {
                m.entry("MeshDestinationsOnly").or_insert(json!(false));
            }
        }
        SERVICE_INTENTIONS => {
            out.entry("Sources").or_insert(Value::Null);
        }
        _ => {}
    }
    out.insert("Hash".into(), json!(entry_hash(&e.body)));
    out.insert("CreateIndex".into(), json!(e.create_index));
    out.insert("ModifyIndex".into(), json!(e.modify_index));
    Value::Object(out)
}

// ------------------------------------------------------------------ handlers

pub(crate) async fn handle(
    inner: &Inner,
    method: &Method,
    path: &str,
    q: &Query,
    body: &Bytes,
    authz: &Authorizer,
) -> Resp {
    if path == "/v1/config" {
        return apply(inner, q, body, authz);
    }
    let rest = path.strip_prefix("/v1/config/").unwrap_or("");
    let (kind, name) = match rest.split_once('/') {
        Some((k, n)) => (k, Some(n)),
        None => (rest, None),
    };
    if *method == Method::DELETE {
        return match name {
            Some(n) => delete(inner, q, kind, n, authz),
            None => text(404, "Must provide both a kind and name to delete"),
        };
    }
    let opts = match parse_query_opts(q) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    match name {
        Some(name) => {
            if !KNOWN_KINDS.contains(&kind) {
                return text(500, &format!("invalid config entry kind: {kind}"));
            }
            if let Err(msg) = can_read(authz, kind, name) {
                return forbidden(&msg);
            }
            let (idx, entry) = blocking(inner, &opts, |st: &State| {
                (st.config.table_index(), st.config.get(kind, name).cloned())
            })
            .await;
            let mut r = match entry {
                Some(e) => json_resp(200, &render(&e)),
                None => text(
                    404,
                    &format!("Config entry not found for {kind:?} / {name:?}"),
                ),
            };
            set_meta(&mut r, idx, &opts);
            r
        }
        None => {
            if !kind.is_empty() && !KNOWN_KINDS.contains(&kind) {
                return text(500, &format!("invalid config entry kind: {kind}"));
            }
            if q.get("filter").is_some_and(|f| !f.is_empty()) {
                return super::api::filter_unsupported();
            }
            let (idx, (list, filtered)) = blocking(inner, &opts, |st: &State| {
                let mut filtered = false;
                let list: Vec<Value> = st
                    .config
                    .entries
                    .values()
                    .filter(|e| kind.is_empty() || e.kind == kind)
                    .filter(|e| {
                        let ok = can_read(authz, &e.kind, &e.name).is_ok();
                        filtered |= !ok;
                        ok
                    })
                    .map(render)
                    .collect();
                (st.config.table_index(), (list, filtered))
            })
            .await;
            let mut r = json_resp(200, &Value::Array(list));
            mark_filtered(&mut r, filtered);
            set_meta(&mut r, idx, &opts);
            r
        }
    }
}

/// Parses `?cas=` as Consul does (`ParseUint` errors are 500s; empty means none).
fn cas_param(q: &Query) -> Result<Option<u64>, Box<Resp>> {
    match q.get("cas").filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => parse_uint(c).map(Some),
    }
}

/// Go's `quoteChar` for syntax errors.
fn go_quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        b'\n' => "'\\n'".to_string(),
        b'\t' => "'\\t'".to_string(),
        b'\r' => "'\\r'".to_string(),
        c if c.is_ascii_graphic() || c == b' ' => format!("'{}'", c as char),
        c => format!("'\\x{c:02x}'"),
    }
}

/// The syntax error `encoding/json`'s `Decoder.Decode` reports for the first JSON value
/// of `b` (what follows that value is never read), or `None` when it is well formed.
pub(crate) fn go_json_syntax_error(b: &[u8]) -> Option<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Ctx {
        ObjKey,
        ObjValue,
        ArrElem,
    }
    let err = |c: u8, ctx: &str| Some(format!("invalid character {} {ctx}", go_quote_char(c)));
    let mut stack: Vec<Ctx> = Vec::new();
    let mut i = 0;
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    // Parses one value starting at `i` (after whitespace), then unwinds containers.
    'value: loop {
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            return Some(
                if stack.is_empty() && i == b.len() && b.iter().all(|x| ws(*x)) {
                    "EOF".into()
                } else {
                    "unexpected EOF".into()
                },
            );
        };
        match c {
            b'{' => {
                i += 1;
                while i < b.len() && ws(b[i]) {
                    i += 1;
                }
                match b.get(i) {
                    None => return Some("unexpected EOF".into()),
                    Some(b'}') => i += 1,
                    Some(b'"') => {
                        stack.push(Ctx::ObjKey);
                        continue 'value;
                    }
                    Some(&x) => return err(x, "looking for beginning of object key string"),
                }
            }
            b'[' => {
                i += 1;
                while i < b.len() && ws(b[i]) {
                    i += 1;
                }
                match b.get(i) {
                    None => return Some("unexpected EOF".into()),
                    Some(b']') => i += 1,
                    Some(_) => {
                        stack.push(Ctx::ArrElem);
                        continue 'value;
                    }
                }
            }
            b'"' => {
                i += 1;
                loop {
                    let Some(&x) = b.get(i) else {
                        return Some("unexpected EOF".into());
                    };
                    i += 1;
                    match x {
                        b'"' => break,
                        b'\\' => {
                            let Some(&e) = b.get(i) else {
                                return Some("unexpected EOF".into());
                            };
                            i += 1;
                            match e {
                                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {}
                                b'u' => {
                                    for _ in 0..4 {
                                        let Some(&h) = b.get(i) else {
                                            return Some("unexpected EOF".into());
                                        };
                                        if !h.is_ascii_hexdigit() {
                                            return err(h, "in \\u hexadecimal character escape");
                                        }
                                        i += 1;
                                    }
                                }
                                e => return err(e, "in string escape code"),
                            }
                        }
                        x if x < 0x20 => return err(x, "in string literal"),
                        _ => {}
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                if c == b'-' {
                    i += 1;
                    match b.get(i) {
                        None => return Some("unexpected EOF".into()),
                        Some(d) if d.is_ascii_digit() => {}
                        Some(&x) => return err(x, "in numeric literal"),
                    }
                }
                if b.get(i) == Some(&b'0') {
                    i += 1;
                } else {
                    while b.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                }
                if b.get(i) == Some(&b'.') {
                    i += 1;
                    match b.get(i) {
                        None => return Some("unexpected EOF".into()),
                        Some(d) if d.is_ascii_digit() => {}
                        Some(&x) => return err(x, "after decimal point in numeric literal"),
                    }
                    while b.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                }
                if matches!(b.get(i), Some(b'e' | b'E')) {
                    i += 1;
                    if matches!(b.get(i), Some(b'+' | b'-')) {
                        i += 1;
                    }
                    match b.get(i) {
                        None => return Some("unexpected EOF".into()),
                        Some(d) if d.is_ascii_digit() => {}
                        Some(&x) => return err(x, "in exponent of numeric literal"),
                    }
                    while b.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                }
            }
            b't' | b'f' | b'n' => {
                let word: &[u8] = match c {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                let name = std::str::from_utf8(word).unwrap_or("");
                for (k, want) in word.iter().enumerate().skip(1) {
                    match b.get(i + k) {
                        None => return Some("unexpected EOF".into()),
                        Some(x) if x == want => {}
                        Some(&x) => {
                            return err(
                                x,
                                &format!("in literal {name} (expecting {})", go_quote_char(*want)),
                            )
                        }
                    }
                }
                i += word.len();
            }
            x => return err(x, "looking for beginning of value"),
        }
        // A value ended: continue the enclosing container.
        loop {
            // The first value is complete: `Decoder.Decode` reads no further.
            let top = stack.last().copied()?;
            while i < b.len() && ws(b[i]) {
                i += 1;
            }
            let Some(&x) = b.get(i) else {
                return Some("unexpected EOF".into());
            };
            i += 1;
            match (top, x) {
                (Ctx::ObjKey, b':') => {
                    stack.pop();
                    stack.push(Ctx::ObjValue);
                    continue 'value;
                }
                (Ctx::ObjKey, x) => return err(x, "after object key"),
                (Ctx::ObjValue, b',') => {
                    stack.pop();
                    while i < b.len() && ws(b[i]) {
                        i += 1;
                    }
                    match b.get(i) {
                        None => return Some("unexpected EOF".into()),
                        Some(b'"') => {
                            stack.push(Ctx::ObjKey);
                            continue 'value;
                        }
                        Some(&y) => return err(y, "looking for beginning of object key string"),
                    }
                }
                (Ctx::ObjValue, b'}') => {
                    stack.pop();
                }
                (Ctx::ObjValue, x) => return err(x, "after object key:value pair"),
                (Ctx::ArrElem, b',') => continue 'value,
                (Ctx::ArrElem, b']') => {
                    stack.pop();
                }
                (Ctx::ArrElem, x) => return err(x, "after array element"),
            }
        }
    }
}

/// Decodes the first JSON value of a body as Go's `json.Decoder` does.
pub(crate) fn go_decode_first(body: &[u8]) -> Result<Value, String> {
    if let Some(e) = go_json_syntax_error(body) {
        return Err(e);
    }
    serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next()
        .unwrap_or(Ok(Value::Null))
        .map_err(|e| format!("invalid JSON: {e}"))
}

/// Decodes a body into a map as `decodeBodyDeprecated` into `map[string]interface{}` does.
fn go_decode_map(body: &[u8]) -> Result<Map<String, Value>, String> {
    match go_decode_first(body)? {
        Value::Object(m) => Ok(m),
        // `null` leaves the map nil without an error.
        Value::Null => Ok(Map::new()),
        v => Err(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            match v {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            }
        )),
    }
}

fn apply(inner: &Inner, q: &Query, body: &Bytes, authz: &Authorizer) -> Resp {
    let raw = match go_decode_map(body) {
        Ok(m) => m,
        Err(e) => return text(400, &format!("Request decoding failed: {e}")),
    };
    let (kind, mut entry) = match decode_entry(&raw) {
        Ok(x) => x,
        Err(e) => return text(400, &format!("Request decoding failed: {e}")),
    };
    // Server-set fields a client may echo back from a read: Normalize recomputes the
    // hash and the raft indexes are never taken from the body.
    for k in ["Hash", "CreateIndex", "ModifyIndex"] {
        entry.remove(k);
    }
    let cas = match cas_param(q) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let name = match normalize_validate(&kind, &mut entry) {
        Ok(n) => n,
        Err(e) => return text(500, &e),
    };
    if let Err(msg) = can_write(authz, &kind, &name) {
        return forbidden(&msg);
    }
    let ok = inner.write(|st| {
        // `shouldSkipUpsertOperation`: an identical entry is not written at all.
        if st.config.get(&kind, &name).is_some_and(|e| e.body == entry) {
            return true;
        }
        let idx = st.apply();
        st.config.upsert(idx, &kind, &name, entry, cas)
    });
    json_resp(200, &json!(ok))
}

fn delete(inner: &Inner, q: &Query, kind: &str, name: &str, authz: &Authorizer) -> Resp {
    if !KNOWN_KINDS.contains(&kind) {
        return text(400, &format!("invalid config entry kind: {kind}"));
    }
    let cas = match cas_param(q) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    // `Normalize` of the lookup entry.
    let name = match kind {
        PROXY_DEFAULTS if !name.is_empty() && name != "global" => {
            return text(
                500,
                &format!("invalid name ({name:?}), only \"global\" is supported"),
            )
        }
        PROXY_DEFAULTS => "global",
        MESH => "mesh",
        _ => name,
    };
    if let Err(msg) = can_write(authz, kind, name) {
        return forbidden(&msg);
    }
    let deleted = inner.write(|st| {
        // `shouldSkipOperation`: deleting a missing entry succeeds without a write.
        if st.config.get(kind, name).is_none() {
            return true;
        }
        let idx = st.apply();
        st.config.delete(idx, kind, name, cas)
    });
    if cas.is_some() {
        json_resp(200, &json!(deleted))
    } else {
        json_resp(200, &json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(v: Value) -> Result<(String, Map<String, Value>), String> {
        decode_entry(v.as_object().expect("object"))
    }

    #[test]
    fn decodes_like_mapstructure() {
        let (k, b) = dec(json!({"kind":"service-defaults","name":"web","protocol":"HTTP","transparent_proxy":{"dialed_directly":"true"}})).expect("ok");
        assert_eq!(k, "service-defaults");
        assert_eq!(b["Protocol"], "HTTP");
        assert_eq!(b["TransparentProxy"]["DialedDirectly"], true);
        let e = dec(json!({"Kind":"service-defaults","Name":"web","Foo":1,"Bar":2}))
            .expect_err("an error");
        assert_eq!(e, "2 errors occurred:\n\t* invalid config key \"Bar\"\n\t* invalid config key \"Foo\"\n\n");
        let e = dec(json!({"Kind":"service-defaults","Name":"web","Protocol":{"a":1}}))
            .expect_err("an error");
        assert_eq!(e, "1 error(s) decoding:\n\n* 'Protocol' expected type 'string', got unconvertible type 'map[string]interface {}', value: 'map[a:1]'");
        let e = dec(json!({"Kind":"mesh","Name":"mesh"})).expect_err("an error");
        assert!(e.contains("invalid config key \"Name\""), "{e}");
        let e = dec(json!({"Kind":"service-intentions","Name":"db","Sources":[{"Name":"web","Action":"allow","Bogus":1}]})).expect_err("an error");
        assert!(e.contains("invalid config key \"Sources[0].Bogus\""), "{e}");
        assert_eq!(
            dec(json!({"Kind":"nope"})).expect_err("an error"),
            "invalid config entry kind: nope"
        );
        assert_eq!(
            dec(json!({"Name":"x"})).expect_err("an error"),
            "Payload does not contain a kind/Kind key at the top level"
        );
        assert_eq!(
            dec(json!({"Kind":1})).expect_err("an error"),
            "Kind value in payload is not a string"
        );
    }

    #[test]
    fn go_json_syntax_errors() {
        let e = |s: &str| go_json_syntax_error(s.as_bytes());
        assert_eq!(e(""), Some("EOF".into()));
        assert_eq!(e("  "), Some("EOF".into()));
        assert_eq!(e("{"), Some("unexpected EOF".into()));
        assert_eq!(e("{\"a\":1"), Some("unexpected EOF".into()));
        assert_eq!(
            e("x"),
            Some("invalid character 'x' looking for beginning of value".into())
        );
        assert_eq!(
            e("{a}"),
            Some("invalid character 'a' looking for beginning of object key string".into())
        );
        assert_eq!(
            e("{\"a\" 1}"),
            Some("invalid character '1' after object key".into())
        );
        assert_eq!(
            e("{\"a\":1 \"b\":2}"),
            Some("invalid character '\"' after object key:value pair".into())
        );
        assert_eq!(
            e("{\"a\":1,}"),
            Some("invalid character '}' looking for beginning of object key string".into())
        );
        assert_eq!(
            e("[1 2]"),
            Some("invalid character '2' after array element".into())
        );
        assert_eq!(
            e("[1,]"),
            Some("invalid character ']' looking for beginning of value".into())
        );
        assert_eq!(e("tru"), Some("unexpected EOF".into()));
        assert_eq!(
            e("trux"),
            Some("invalid character 'x' in literal true (expecting 'e')".into())
        );
        assert_eq!(
            e("-a"),
            Some("invalid character 'a' in numeric literal".into())
        );
        assert_eq!(
            e("\"a\\q\""),
            Some("invalid character 'q' in string escape code".into())
        );
        assert_eq!(
            e("{\"a\":[1,{\"b\":null}],\"c\":\"\\u00e9\"} trailing"),
            None
        );
        assert_eq!(e("1.5e+3"), None);
    }

    #[test]
    fn intention_precedence_and_validation() {
        let (_, mut b) = dec(json!({"Kind":"service-intentions","Name":"db","Sources":[{"Name":"*","Action":"deny"},{"Name":"web","Action":"allow"}]})).expect("ok");
        assert_eq!(
            normalize_validate(SERVICE_INTENTIONS, &mut b).expect("valid"),
            "db"
        );
        assert_eq!(b["Sources"][0]["Name"], "web");
        assert_eq!(b["Sources"][0]["Precedence"], 9);
        assert_eq!(b["Sources"][1]["Precedence"], 8);
        assert_eq!(b["Sources"][1]["Type"], "consul");
        let (_, mut b) = dec(json!({"Kind":"service-intentions","Name":"db","Sources":[{"Name":"web","Action":"allow"},{"Name":"web","Action":"deny"}]})).expect("ok");
        assert_eq!(
            normalize_validate(SERVICE_INTENTIONS, &mut b).expect_err("an error"),
            "Sources[1] defines \"web\" more than once"
        );
        let (_, mut b) = dec(json!({"Kind":"service-intentions","Name":"db","Sources":[{"Name":"web","Action":"maybe"}]})).expect("ok");
        assert_eq!(
            normalize_validate(SERVICE_INTENTIONS, &mut b).expect_err("an error"),
            "Sources[0].Action must be set to 'allow' or 'deny'"
        );
        assert_eq!(precedence("*", "*"), 5);
        assert_eq!(precedence("*", "web"), 6);
    }
}
