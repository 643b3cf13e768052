//! The simulated Nomad ACL system: bootstrap, policies (rules parsed and validated as
//! `acl.Parse` does), tokens, and the one central authorization check every API request
//! passes through ([`authorize`], called from `api::route`).
//!
//! The check is a table ([`RULES`]) mapping method + path to what Nomad's endpoint requires
//! (a namespace capability, a variables capability on the path, `agent`/`node`/`operator`
//! read or write, a management token...). Routes without a row under `/v1/` need a
//! management token, so a new endpoint is never silently open; add a row for it.

use std::collections::{BTreeMap, BTreeSet};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Response};
use serde_json::{json, Map, Value};

use super::{json_resp, text, Inner, Resp};

// ------------------------------------------------------------------ texts

const PERMISSION_DENIED: &str = "Permission denied";
const TOKEN_NOT_FOUND: &str = "ACL token not found";
const ACL_DISABLED: &str = "ACL support disabled";
const INVALID_METHOD: &str = "Invalid method";
/// What go-jose says when a non-UUID token is not a JWT either.
const NOT_A_JWT: &str =
    "failed to parse signed token: go-jose/go-jose: compact JWS format must have three parts";

/// `ACLTokenMinExpirationTTL` / `ACLTokenMaxExpirationTTL` defaults.
const MIN_TTL_NS: i64 = 60 * 1_000_000_000;
const MAX_TTL_NS: i64 = 24 * 3600 * 1_000_000_000;

// ------------------------------------------------------------------ rules

/// A `namespace "<name>"` block after parsing (capabilities expanded).
#[derive(Debug, Clone)]
struct NsPolicy {
    name: String,
    policy: String,
    capabilities: Vec<String>,
    /// `variables { path "<spec>" { capabilities = [...] } }`, `None` without the block.
    variables: Option<Vec<(String, Vec<String>)>>,
}

/// A labelled block with a policy and capabilities (`node_pool`, `host_volume`).
#[derive(Debug, Clone)]
struct NamedPolicy {
    name: String,
    policy: String,
    capabilities: Vec<String>,
}

/// A parsed policy (`acl.Policy`).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    namespaces: Vec<NsPolicy>,
    node_pools: Vec<NamedPolicy>,
    host_volumes: Vec<NamedPolicy>,
    agent: Option<String>,
    node: Option<String>,
    operator: Option<(String, Vec<String>)>,
    sentinel: Option<(String, Vec<String>)>,
    quota: Option<String>,
    plugin: Option<String>,
    raw: String,
}

/// A syntax-neutral tree of the rules (HCL or JSON).
#[derive(Debug, Default)]
struct Tree {
    attrs: Vec<(String, Scalar)>,
    blocks: Vec<(String, Vec<String>, Tree)>,
}

#[derive(Debug)]
enum Scalar {
    Str(String),
    List(Vec<String>),
    Other,
}

fn hcl_tree(body: &hcl::Body) -> Tree {
    let mut t = Tree::default();
    for a in body.attributes() {
        t.attrs
            .push((a.key.as_str().to_string(), hcl_scalar(&a.expr)));
    }
    for b in body.blocks() {
        let labels = b.labels.iter().map(|l| l.as_str().to_string()).collect();
        t.blocks
            .push((b.identifier.as_str().to_string(), labels, hcl_tree(&b.body)));
    }
    t
}

fn hcl_scalar(e: &hcl::Expression) -> Scalar {
    match e {
        hcl::Expression::String(s) => Scalar::Str(s.clone()),
        hcl::Expression::Number(n) => Scalar::Str(n.to_string()),
        hcl::Expression::Bool(b) => Scalar::Str(b.to_string()),
        hcl::Expression::Array(items) => {
            let mut out = Vec::new();
            for i in items {
                match hcl_scalar(i) {
                    Scalar::Str(s) => out.push(s),
                    _ => return Scalar::Other,
                }
            }
            Scalar::List(out)
        }
        _ => Scalar::Other,
    }
}

/// Keys whose JSON objects are maps of label → body (HCL1's JSON form of labelled blocks).
const LABELLED: &[&str] = &["namespace", "node_pool", "host_volume", "path"];

fn json_tree(obj: &Map<String, Value>) -> Tree {
    let mut t = Tree::default();
    for (k, v) in obj {
        json_member(&mut t, k, v);
    }
    t
}

fn json_member(t: &mut Tree, k: &str, v: &Value) {
    match v {
        Value::String(s) => t.attrs.push((k.to_string(), Scalar::Str(s.clone()))),
        Value::Number(n) => t.attrs.push((k.to_string(), Scalar::Str(n.to_string()))),
        Value::Bool(b) => t.attrs.push((k.to_string(), Scalar::Str(b.to_string()))),
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            let list = items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>();
            let s = list.map(Scalar::List).unwrap_or(Scalar::Other);
            t.attrs.push((k.to_string(), s));
        }
        Value::Array(items) => {
            for i in items {
                json_member(t, k, i);
            }
        }
        Value::Object(o) if LABELLED.contains(&k) => {
            for (label, body) in o {
                let sub = body.as_object().map(json_tree).unwrap_or_default();
                t.blocks.push((k.to_string(), vec![label.clone()], sub));
            }
        }
        Value::Object(o) => t.blocks.push((k.to_string(), Vec::new(), json_tree(o))),
        Value::Null => t.attrs.push((k.to_string(), Scalar::Other)),
    }
}

impl Tree {
    fn string(&self, key: &str) -> Result<String, String> {
        match self.attrs.iter().rev().find(|(k, _)| k == key) {
            None => Ok(String::new()),
            Some((_, Scalar::Str(s))) => Ok(s.clone()),
            Some(_) => Err(format!(
                "Failed to parse ACL Policy: {key}: expected a string"
            )),
        }
    }

    fn list(&self, key: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for (k, v) in &self.attrs {
            if k != key {
                continue;
            }
            match v {
                Scalar::List(l) => out.extend(l.iter().cloned()),
                Scalar::Str(s) => out.push(s.clone()),
                Scalar::Other => {
                    return Err(format!(
                        "Failed to parse ACL Policy: {key}: expected a list of strings"
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// Go's `%#v` of a `[]string`.
fn go_strings(v: &[String]) -> String {
    if v.is_empty() {
        return "[]string(nil)".to_string();
    }
    let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", items.join(", "))
}

fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn valid_ns_name(n: &str) -> bool {
    (1..=128).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
}

fn valid_pool_name(n: &str) -> bool {
    (1..=128).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
}

/// `isPolicyValid`: the short-hand levels of namespace, agent, node, operator, quota...
fn policy_level_valid(p: &str) -> bool {
    matches!(p, "deny" | "read" | "write" | "scale")
}

const NS_CAPS: &[&str] = &[
    "deny",
    "list-jobs",
    "parse-job",
    "read-job",
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-node-exec",
    "alloc-lifecycle",
    "csi-register-plugin",
    "csi-write-volume",
    "csi-read-volume",
    "csi-list-volume",
    "csi-mount-volume",
    "host-volume-create",
    "host-volume-register",
    "host-volume-read",
    "host-volume-write",
    "host-volume-delete",
    "list-scaling-policies",
    "read-scaling-policy",
    "read-job-scaling",
    "scale-job",
    "register-job",
    "revert-job",
    "deregister-job",
    "purge-job",
    "evaluate-job",
    "plan-job",
    "tag-job-version",
    "stable-job",
    "fail-deployment",
    "pause-deployment",
    "promote-deployment",
    "unblock-deployment",
    "cancel-deployment",
    "set-alloc-health-deployment",
    "gc-allocation",
    "pause-allocation",
    "force-periodic-job",
    "delete-service-registration",
    "sentinel-override",
    "submit-recommendation",
];

const NS_READ: &[&str] = &[
    "list-jobs",
    "parse-job",
    "read-job",
    "csi-list-volume",
    "csi-read-volume",
    "read-job-scaling",
    "list-scaling-policies",
    "read-scaling-policy",
    "host-volume-read",
];

const NS_WRITE_EXTRA: &[&str] = &[
    "scale-job",
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-lifecycle",
    "csi-mount-volume",
    "csi-write-volume",
    "submit-recommendation",
    "host-volume-create",
];

/// `expandNamespacePolicy`.
fn expand_ns_policy(p: &str) -> Vec<String> {
    let v: Vec<&str> = match p {
        "deny" => vec!["deny"],
        "read" => NS_READ.to_vec(),
        "write" => NS_READ.iter().chain(NS_WRITE_EXTRA).copied().collect(),
        "scale" => vec![
            "list-scaling-policies",
            "read-scaling-policy",
            "read-job-scaling",
            "scale-job",
            "read-job",
            "submit-recommendation",
        ],
        _ => Vec::new(),
    };
    v.into_iter().map(str::to_string).collect()
}

/// `expandNamespaceCapabilities`: host-volume capabilities imply others.
fn expand_ns_caps(caps: &mut Vec<String>) {
    let mut extra = Vec::new();
    for c in caps.iter() {
        match c.as_str() {
            "host-volume-write" => extra.extend([
                "host-volume-register",
                "host-volume-create",
                "host-volume-delete",
                "host-volume-read",
            ]),
            "host-volume-register" => extra.extend(["host-volume-create", "host-volume-read"]),
            "host-volume-create" => extra.push("host-volume-read"),
            _ => {}
        }
    }
    caps.extend(extra.into_iter().map(str::to_string));
}

/// `expandVariablesCapabilities`: deny wins; read implies list.
fn expand_var_caps(caps: &[String]) -> Vec<String> {
    if caps.iter().any(|c| c == "deny") {
        return vec!["deny".to_string()];
    }
    let mut out = caps.to_vec();
    if caps.iter().any(|c| c == "read") && !caps.iter().any(|c| c == "list") {
        out.push("list".to_string());
    }
    out
}

fn ns_go(ns: &NsPolicy) -> String {
    let vars = if ns.variables.is_some() {
        "(*acl.VariablesPolicy)(0xc000a1c018)"
    } else {
        "(*acl.VariablesPolicy)(nil)"
    };
    format!(
        "&acl.NamespacePolicy{{Name:{}, Policy:{}, Capabilities:{}, Variables:{vars}}}",
        go_quote(&ns.name),
        go_quote(&ns.policy),
        go_strings(&ns.capabilities)
    )
}

fn hv_go(hv: &NamedPolicy) -> String {
    format!(
        "&acl.HostVolumePolicy{{Name:{}, Policy:{}, Capabilities:{}}}",
        go_quote(&hv.name),
        go_quote(&hv.policy),
        go_strings(&hv.capabilities)
    )
}

/// Top-level keys `acl.Policy` knows.
const KNOWN_TOP: &[&str] = &[
    "namespace",
    "node_pool",
    "host_volume",
    "agent",
    "node",
    "operator",
    "sentinel",
    "quota",
    "plugin",
];

/// `acl.Parse(rules, strict)`: the error is Nomad's text.
pub fn parse_rules(src: &str, strict: bool) -> Result<Rules, String> {
    let mut p = Rules {
        raw: src.to_string(),
        ..Rules::default()
    };
    if src.is_empty() {
        return Ok(p);
    }
    let tree = if src.trim_start().starts_with('{') {
        let v: Value =
            serde_json::from_str(src).map_err(|e| format!("Failed to parse ACL Policy: {e}"))?;
        match v {
            Value::Object(o) => json_tree(&o),
            _ => {
                return Err(
                    "Failed to parse ACL Policy: error parsing: root should be an object"
                        .to_string(),
                )
            }
        }
    } else {
        let body = hcl::parse(src).map_err(|e| format!("Failed to parse ACL Policy: {e}"))?;
        hcl_tree(&body)
    };

    let mut extra: Vec<String> = Vec::new();
    for (k, _) in &tree.attrs {
        extra.push(k.clone());
    }
    for (kind, labels, body) in &tree.blocks {
        let label = labels.first().cloned().unwrap_or_default();
        match kind.as_str() {
            "namespace" => {
                let variables = match body.blocks.iter().find(|(k, _, _)| k == "variables") {
                    None => None,
                    Some((_, _, vb)) => {
                        let mut paths = Vec::new();
                        for (pk, pl, pb) in &vb.blocks {
                            if pk == "path" {
                                paths.push((
                                    pl.first().cloned().unwrap_or_default(),
                                    pb.list("capabilities")?,
                                ));
                            }
                        }
                        Some(paths)
                    }
                };
                p.namespaces.push(NsPolicy {
                    name: label,
                    policy: body.string("policy")?,
                    capabilities: body.list("capabilities")?,
                    variables,
                });
            }
            "node_pool" | "host_volume" => {
                let np = NamedPolicy {
                    name: label,
                    policy: body.string("policy")?,
                    capabilities: body.list("capabilities")?,
                };
                if kind == "node_pool" {
                    p.node_pools.push(np);
                } else {
                    p.host_volumes.push(np);
                }
            }
            "agent" => p.agent = Some(body.string("policy")?),
            "node" => p.node = Some(body.string("policy")?),
            "quota" => p.quota = Some(body.string("policy")?),
            "plugin" => p.plugin = Some(body.string("policy")?),
            "operator" => {
                p.operator = Some((body.string("policy")?, body.list("capabilities")?));
            }
            "sentinel" => {
                p.sentinel = Some((body.string("policy")?, body.list("capabilities")?));
            }
            other => extra.push(other.to_string()),
        }
    }
    // Only unknown top-level keys count (HCL1's `unusedKeys` on `acl.Policy`).
    extra.retain(|k| !KNOWN_TOP.contains(&k.as_str()) || tree.attrs.iter().any(|(a, _)| a == k));

    let empty = p.namespaces.is_empty()
        && p.node_pools.is_empty()
        && p.host_volumes.is_empty()
        && p.agent.is_none()
        && p.node.is_none()
        && p.operator.is_none()
        && p.sentinel.is_none()
        && p.quota.is_none()
        && p.plugin.is_none();
    if empty {
        return Err(format!("Invalid policy: {}", p.raw));
    }

    for ns in &mut p.namespaces {
        if !valid_ns_name(&ns.name) {
            return Err(format!("Invalid namespace name: {}", ns_go(ns)));
        }
        if !ns.policy.is_empty() && !policy_level_valid(&ns.policy) {
            return Err(format!("Invalid namespace policy: {}", ns_go(ns)));
        }
        for c in &ns.capabilities {
            if !NS_CAPS.contains(&c.as_str()) {
                return Err(format!("Invalid namespace capability '{c}': {}", ns_go(ns)));
            }
        }
        if !ns.policy.is_empty() {
            let extra_caps = expand_ns_policy(&ns.policy);
            ns.capabilities.extend(extra_caps);
        }
        expand_ns_caps(&mut ns.capabilities);
        if let Some(paths) = &mut ns.variables {
            if paths.is_empty() {
                return Err(format!(
                    "Invalid variable policy: no variable paths in namespace {}",
                    ns.name
                ));
            }
            for (spec, caps) in paths.iter_mut() {
                if spec.is_empty() {
                    return Err(format!(
                        "Invalid missing variable path in namespace {}",
                        ns.name
                    ));
                }
                if spec.starts_with('/') {
                    return Err(format!(
                        "Invalid variable path {} in namespace {}: cannot start with a leading '/'`",
                        go_quote(spec),
                        ns.name
                    ));
                }
                for c in caps.iter() {
                    if !matches!(c.as_str(), "write" | "read" | "list" | "destroy" | "deny") {
                        return Err(format!(
                            "Invalid variable capability '{c}' in namespace {}",
                            ns.name
                        ));
                    }
                }
                *caps = expand_var_caps(caps);
            }
        }
    }
    for np in &mut p.node_pools {
        if !valid_pool_name(&np.name) {
            return Err(format!("Invalid node pool name '{}'", np.name));
        }
        if !np.policy.is_empty() && !policy_level_valid(&np.policy) {
            return Err(format!(
                "Invalid node pool policy '{}' for '{}'",
                np.policy, np.name
            ));
        }
        for c in &np.capabilities {
            if !matches!(c.as_str(), "delete" | "read" | "write" | "deny") {
                return Err(format!(
                    "Invalid node pool capability '{c}' for '{}'",
                    np.name
                ));
            }
        }
        let extra_caps: &[&str] = match np.policy.as_str() {
            "deny" => &["deny"],
            "read" => &["read"],
            "write" => &["delete", "read", "write"],
            _ => &[],
        };
        np.capabilities
            .extend(extra_caps.iter().map(|s| s.to_string()));
    }
    for hv in &mut p.host_volumes {
        let name_ok = (1..=128).contains(&hv.name.len())
            && hv
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*');
        if !name_ok {
            return Err(format!("Invalid host volume name: {}", hv_go(hv)));
        }
        if !hv.policy.is_empty() && !policy_level_valid(&hv.policy) {
            return Err(format!("Invalid host volume policy: {}", hv_go(hv)));
        }
        for c in &hv.capabilities {
            if !matches!(c.as_str(), "deny" | "mount-readonly" | "mount-readwrite") {
                return Err(format!(
                    "Invalid host volume capability '{c}': {}",
                    hv_go(hv)
                ));
            }
        }
        let extra_caps: &[&str] = match hv.policy.as_str() {
            "deny" => &["deny"],
            "read" => &["mount-readonly"],
            "write" => &["mount-readonly", "mount-readwrite"],
            _ => &[],
        };
        hv.capabilities
            .extend(extra_caps.iter().map(|s| s.to_string()));
    }
    if !extra.is_empty() && strict {
        return Err(format!(
            "Invalid or duplicate policy keys: {}",
            extra.join(", ")
        ));
    }
    if let Some(a) = &p.agent {
        if !policy_level_valid(a) {
            return Err(format!(
                "Invalid agent policy: &acl.AgentPolicy{{Policy:{}}}",
                go_quote(a)
            ));
        }
    }
    if let Some(n) = &p.node {
        if !policy_level_valid(n) {
            return Err(format!(
                "Invalid node policy: &acl.NodePolicy{{Policy:{}}}",
                go_quote(n)
            ));
        }
    }
    if let Some((pol, caps)) = &mut p.operator {
        if !pol.is_empty() && !policy_level_valid(pol) {
            return Err(format!(
                "Invalid operator policy: &acl.OperatorPolicy{{Policy:{}, Capabilities:{}}}",
                go_quote(pol),
                go_strings(caps)
            ));
        }
        for c in caps.iter() {
            if !matches!(
                c.as_str(),
                "deny"
                    | "snapshot-save"
                    | "license-read"
                    | "keyring-rotate"
                    | "keyring-read"
                    | "keyring-delete"
            ) {
                return Err(format!("Invalid operator capability '{c}'"));
            }
        }
        let extra_caps: &[&str] = match pol.as_str() {
            "deny" => &["deny"],
            "read" => &["license-read", "keyring-read"],
            "write" => &[
                "snapshot-save",
                "license-read",
                "keyring-rotate",
                "keyring-read",
                "keyring-delete",
            ],
            _ => &[],
        };
        caps.extend(extra_caps.iter().map(|s| s.to_string()));
    }
    if let Some((pol, caps)) = &mut p.sentinel {
        if !pol.is_empty() && !policy_level_valid(pol) {
            return Err(format!(
                "Invalid sentinel policy: &acl.SentinelPolicy{{Policy:{}, Capabilities:{}}}",
                go_quote(pol),
                go_strings(caps)
            ));
        }
        for c in caps.iter() {
            if !matches!(
                c.as_str(),
                "deny" | "sentinel-read" | "sentinel-submit" | "sentinel-delete"
            ) {
                return Err(format!("Invalid sentinel capability '{c}'"));
            }
        }
        let extra_caps: &[&str] = match pol.as_str() {
            "deny" => &["deny"],
            "read" => &["sentinel-read"],
            "write" => &["sentinel-read", "sentinel-submit", "sentinel-delete"],
            _ => &[],
        };
        caps.extend(extra_caps.iter().map(|s| s.to_string()));
    }
    if let Some(q) = &p.quota {
        if !policy_level_valid(q) {
            return Err(format!(
                "Invalid quota policy: &acl.QuotaPolicy{{Policy:{}}}",
                go_quote(q)
            ));
        }
    }
    if let Some(pl) = &p.plugin {
        if !matches!(pl.as_str(), "deny" | "read" | "list" | "write") {
            return Err(format!(
                "Invalid plugin policy: &acl.PluginPolicy{{Policy:{}}}",
                go_quote(pl)
            ));
        }
    }
    Ok(p)
}

fn caps_json(c: &[String]) -> Value {
    if c.is_empty() {
        Value::Null
    } else {
        json!(c)
    }
}

impl Rules {
    /// The `RulesJSON` of a policy read (`acl.Policy` as JSON).
    pub fn to_json(&self) -> Value {
        let list = |v: Vec<Value>| {
            if v.is_empty() {
                Value::Null
            } else {
                Value::Array(v)
            }
        };
        let named = |v: &[NamedPolicy]| {
            list(
                v.iter()
                    .map(|n| json!({"Name": n.name, "Policy": n.policy, "Capabilities": caps_json(&n.capabilities)}))
                    .collect(),
            )
        };
        let level = |l: &Option<String>| match l {
            Some(p) => json!({"Policy": p}),
            None => Value::Null,
        };
        let with_caps = |l: &Option<(String, Vec<String>)>| match l {
            Some((p, c)) => json!({"Policy": p, "Capabilities": caps_json(c)}),
            None => Value::Null,
        };
        json!({
            "Namespaces": list(self.namespaces.iter().map(|ns| json!({
                "Name": ns.name,
                "Policy": ns.policy,
                "Capabilities": caps_json(&ns.capabilities),
                "Variables": match &ns.variables {
                    None => Value::Null,
                    Some(paths) => json!({"Paths": paths.iter().map(|(s, c)| json!({"PathSpec": s, "Capabilities": caps_json(c)})).collect::<Vec<_>>()}),
                },
            })).collect()),
            "NodePools": named(&self.node_pools),
            "HostVolumes": named(&self.host_volumes),
            "Agent": level(&self.agent),
            "Node": level(&self.node),
            "Operator": with_caps(&self.operator),
            "Sentinel": with_caps(&self.sentinel),
            "Quota": level(&self.quota),
            "Plugin": level(&self.plugin),
            "Raw": self.raw,
            "ExtraKeysHCL": null,
        })
    }
}

// ------------------------------------------------------------------ compiled ACL

type Caps = BTreeSet<String>;

/// A compiled ACL object (`acl.ACL`): what an identity may do.
#[derive(Debug, Clone, Default)]
pub struct Authz {
    /// ACLs disabled: everything is allowed.
    disabled: bool,
    management: bool,
    namespaces: BTreeMap<String, Caps>,
    wildcard_namespaces: BTreeMap<String, Caps>,
    /// Keyed by `namespace \0 path`.
    variables: BTreeMap<String, Caps>,
    wildcard_variables: BTreeMap<String, Caps>,
    agent: String,
    node: String,
    operator: String,
    operator_caps: Caps,
    quota: String,
    plugin: String,
}

/// `maxPrivilege`: deny wins, then write, read, list.
fn max_privilege(a: &str, b: &str) -> String {
    for l in ["deny", "write", "read", "list"] {
        if a == l || b == l {
            return l.to_string();
        }
    }
    String::new()
}

/// `ryanuber/go-glob`: `*` matches any run of characters.
pub fn glob(pattern: &str, subj: &str) -> bool {
    if pattern.is_empty() {
        return subj.is_empty();
    }
    if pattern == "*" {
        return true;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return subj == pattern;
    }
    let leading = pattern.starts_with('*');
    let trailing = pattern.ends_with('*');
    let end = parts.len() - 1;
    let mut rest = subj;
    for (i, part) in parts.iter().enumerate().take(end) {
        match rest.find(part) {
            Some(idx) => {
                if i == 0 && !leading && idx != 0 {
                    return false;
                }
                rest = &rest[idx + part.len()..];
            }
            None => return false,
        }
    }
    trailing || rest.ends_with(parts[end])
}

/// `findClosestMatchingGlob`: the matching glob with the smallest character difference.
fn closest_glob<'a>(globs: &'a BTreeMap<String, Caps>, name: &str) -> Option<&'a Caps> {
    let mut best: Option<(i64, &Caps)> = None;
    for (k, caps) in globs {
        if glob(k, name) {
            let diff = name.len() as i64 - k.len() as i64 + k.matches('*').count() as i64;
            // Stable sort by difference, first in key order wins ties.
            if best.is_none_or(|(d, _)| diff < d) {
                best = Some((diff, caps));
            }
        }
    }
    best.map(|(_, c)| c)
}

impl Authz {
    /// ACLs disabled.
    pub fn disabled() -> Authz {
        Authz {
            disabled: true,
            ..Authz::default()
        }
    }

    fn management() -> Authz {
        Authz {
            management: true,
            ..Authz::default()
        }
    }

    /// `NewACL` from parsed policies.
    fn compile(policies: &[Rules]) -> Authz {
        let mut a = Authz::default();
        for p in policies {
            for ns in &p.namespaces {
                let is_glob = ns.name.contains('*');
                if let Some(paths) = &ns.variables {
                    for (spec, caps) in paths {
                        let key = format!("{}\0{spec}", ns.name);
                        let map = if is_glob || spec.contains('*') {
                            &mut a.wildcard_variables
                        } else {
                            &mut a.variables
                        };
                        map.entry(key).or_default().extend(caps.iter().cloned());
                    }
                }
                let map = if is_glob {
                    &mut a.wildcard_namespaces
                } else {
                    &mut a.namespaces
                };
                let caps = map.entry(ns.name.clone()).or_default();
                if caps.contains("deny") {
                    continue;
                }
                for c in &ns.capabilities {
                    if c == "deny" {
                        caps.clear();
                        caps.insert("deny".to_string());
                        break;
                    }
                    caps.insert(c.clone());
                }
            }
            if let Some(l) = &p.agent {
                a.agent = max_privilege(&a.agent, l);
            }
            if let Some(l) = &p.node {
                a.node = max_privilege(&a.node, l);
            }
            if let Some((l, caps)) = &p.operator {
                a.operator = max_privilege(&a.operator, l);
                if !a.operator_caps.contains("deny") {
                    for c in caps {
                        if c == "deny" {
                            a.operator_caps.clear();
                            a.operator_caps.insert("deny".to_string());
                            break;
                        }
                        a.operator_caps.insert(c.clone());
                    }
                }
            }
            if let Some(l) = &p.quota {
                a.quota = max_privilege(&a.quota, l);
            }
            if let Some(l) = &p.plugin {
                a.plugin = max_privilege(&a.plugin, l);
            }
        }
        a
    }

    /// Management token, or ACLs disabled (`IsManagement`).
    pub fn is_management(&self) -> bool {
        self.management || self.disabled
    }

    fn ns_caps(&self, ns: &str) -> Option<&Caps> {
        self.namespaces
            .get(ns)
            .or_else(|| closest_glob(&self.wildcard_namespaces, ns))
    }

    fn any_ns(&self, f: impl Fn(&Caps) -> bool) -> bool {
        self.namespaces.values().any(&f) || self.wildcard_namespaces.values().any(&f)
    }

    /// `AllowNamespaceOperation` (`*` means: any namespace allows it).
    pub fn allow_ns_op(&self, ns: &str, op: &str) -> bool {
        if self.is_management() {
            return true;
        }
        if ns == "*" && self.any_ns(|c| c.contains(op)) {
            return true;
        }
        self.ns_caps(ns).is_some_and(|c| c.contains(op))
    }

    /// `AllowNamespace`: any capability in the namespace.
    pub fn allow_namespace(&self, ns: &str) -> bool {
        if self.is_management() {
            return true;
        }
        let usable = |c: &Caps| !c.is_empty() && !c.contains("deny");
        if ns == "*" && self.any_ns(usable) {
            return true;
        }
        self.ns_caps(ns).is_some_and(usable)
    }

    /// `AllowVariableOperation` (ACL tokens carry no workload claim).
    pub fn allow_var(&self, ns: &str, path: &str, op: &str) -> bool {
        if self.is_management() {
            return true;
        }
        let key = format!("{ns}\0{path}");
        self.variables
            .get(&key)
            .or_else(|| closest_glob(&self.wildcard_variables, &key))
            .is_some_and(|c| c.contains(op))
    }

    fn level_allows(&self, level: &str, write: bool) -> bool {
        if self.is_management() {
            return true;
        }
        level == "write" || (!write && level == "read")
    }

    fn allow_operator(&self, write: bool) -> bool {
        self.level_allows(&self.operator, write)
    }
}

// ------------------------------------------------------------------ state

/// A stored policy (`structs.ACLPolicy`).
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub description: String,
    pub rules: String,
    pub job_acl: Value,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A stored token (`structs.ACLToken`).
#[derive(Debug, Clone)]
pub struct Token {
    pub accessor_id: String,
    pub secret_id: String,
    pub name: String,
    pub kind: String,
    pub policies: Vec<String>,
    pub global: bool,
    pub hash: String,
    pub create_time_ns: i64,
    pub expiration_time_ns: Option<i64>,
    pub expiration_ttl_ns: i64,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Token {
    fn builtin(accessor: &str, name: &str, kind: &str, policies: &[&str]) -> Token {
        Token {
            accessor_id: accessor.to_string(),
            secret_id: String::new(),
            name: name.to_string(),
            kind: kind.to_string(),
            policies: policies.iter().map(|s| s.to_string()).collect(),
            global: false,
            hash: String::new(),
            create_time_ns: i64::MIN,
            expiration_time_ns: None,
            expiration_ttl_ns: 0,
            create_index: 0,
            modify_index: 0,
        }
    }

    fn expired(&self, now: i64) -> bool {
        self.expiration_time_ns.is_some_and(|e| e <= now)
    }

    fn set_hash(&mut self) {
        let mut parts: Vec<&str> = vec![&self.name, &self.kind];
        parts.extend(self.policies.iter().map(String::as_str));
        parts.push(if self.global { "global" } else { "local" });
        self.hash = crate::consul::acl::content_hash(&parts);
    }

    fn json(&self) -> Value {
        json!({
            "AccessorID": self.accessor_id,
            "SecretID": self.secret_id,
            "Name": self.name,
            "Type": self.kind,
            "Policies": if self.policies.is_empty() { Value::Null } else { json!(self.policies) },
            "Roles": null,
            "Global": self.global,
            "Hash": if self.hash.is_empty() { Value::Null } else { json!(self.hash) },
            "CreateTime": time_json(self.create_time_ns),
            "ExpirationTime": self.expiration_time_ns.map(rfc3339),
            "ExpirationTTL": go_duration(self.expiration_ttl_ns),
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        })
    }

    fn stub(&self) -> Value {
        let mut v = self.json();
        if let Some(o) = v.as_object_mut() {
            o.remove("SecretID");
            o.remove("ExpirationTTL");
        }
        v
    }
}

impl Policy {
    fn stub(&self) -> Value {
        json!({
            "Name": self.name,
            "Description": self.description,
            "JobACL": self.job_acl,
            "Hash": self.hash,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        })
    }

    fn json(&self) -> Value {
        let rules = parse_rules(&self.rules, false)
            .map(|r| r.to_json())
            .unwrap_or(Value::Null);
        let mut v = self.stub();
        if let Some(o) = v.as_object_mut() {
            o.insert("Rules".into(), json!(self.rules));
            o.insert("RulesJSON".into(), rules);
        }
        v
    }
}

/// The ACL tables of the simulated server.
#[derive(Debug, Default)]
pub struct AclState {
    pub enabled: bool,
    /// Raft index of the bootstrap (the "reset index"), 0 before.
    pub bootstrap_index: u64,
    /// Keyed by AccessorID.
    pub tokens: BTreeMap<String, Token>,
    pub tokens_index: u64,
    /// Keyed by name.
    pub policies: BTreeMap<String, Policy>,
    pub policies_index: u64,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `None` only when ACLs are disabled.
    pub token: Token,
    pub authz: Authz,
}

/// Why a token did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenErr {
    /// Not a UUID (Nomad then tries it as a workload identity JWT).
    Invalid,
    NotFound,
    Expired,
}

impl AclState {
    /// The ACL object of a set of policy names (missing policies grant nothing).
    fn authz_for(&self, token: &Token) -> Authz {
        if token.kind == "management" {
            return Authz::management();
        }
        let rules: Vec<Rules> = token
            .policies
            .iter()
            .filter_map(|n| self.policies.get(n))
            .filter_map(|p| parse_rules(&p.rules, false).ok())
            .collect();
        Authz::compile(&rules)
    }

    /// Resolves a secret (`resolveSecretToken`).
    fn resolve(&self, secret: &str) -> Result<Identity, TokenErr> {
        if !self.enabled {
            return Ok(Identity {
                token: Token::builtin("acls-disabled", "ACLs disabled token", "client", &[]),
                authz: Authz::disabled(),
            });
        }
        let token = if secret.is_empty() {
            Token::builtin("anonymous", "Anonymous Token", "client", &["anonymous"])
        } else {
            if !is_uuid(secret) {
                return Err(TokenErr::Invalid);
            }
            let t = self
                .tokens
                .values()
                .find(|t| t.secret_id == secret)
                .ok_or(TokenErr::NotFound)?;
            if t.expired(now_ns()) {
                return Err(TokenErr::Expired);
            }
            t.clone()
        };
        let authz = self.authz_for(&token);
        Ok(Identity { token, authz })
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn now_ns() -> i64 {
    super::api::now_ns()
}

/// RFC 3339 with nanoseconds, UTC (Go's `time.Time` JSON).
fn rfc3339(ns: i64) -> String {
    super::api::rfc3339(ns)
}

/// A `time.Time` field: the zero time for built-in tokens.
fn time_json(ns: i64) -> Value {
    if ns == i64::MIN {
        json!("0001-01-01T00:00:00Z")
    } else {
        json!(rfc3339(ns))
    }
}

/// `time.Duration.String()`, or `""` for zero (the token's `ExpirationTTL`).
fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return String::new();
    }
    let d = std::time::Duration::from_nanos(ns.unsigned_abs());
    let sign = if ns < 0 { "-" } else { "" };
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let frac = d.subsec_nanos();
    if secs == 0 {
        return if frac.is_multiple_of(1_000_000) {
            format!("{sign}{}ms", frac / 1_000_000)
        } else if frac.is_multiple_of(1000) {
            format!("{sign}{}µs", frac / 1000)
        } else {
            format!("{sign}{frac}ns")
        };
    }
    let sec = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:09}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => format!("{sign}{sec}"),
        (0, m) => format!("{sign}{m}m{sec}"),
        (h, m) => format!("{sign}{h}h{m}m{sec}"),
    }
}

// ------------------------------------------------------------------ the central check

/// Which path ACL failures take (their texts differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// Server RPCs: every token failure is `Permission denied`.
    Rpc,
    /// Client-local endpoints (`/v1/client/...`): an unknown token is `ACL token not found`.
    Client,
}

/// The kind of object a path's ID names, for its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Obj {
    Alloc,
    Eval,
    Deployment,
}

/// How a list response is filtered for a non-management caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Items with a `Namespace` the caller has this capability in.
    ByNamespace(&'static str),
    /// Namespace objects (`Name`) the caller has any capability in.
    Namespaces,
    /// Variable metadata the caller may `list`.
    Variables,
}

/// What an endpoint requires.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// No token check at all.
    Public,
    /// The ACL endpoints: their handlers check.
    AclApi,
    /// A token that resolves (anonymous included).
    AnyToken,
    /// Any of these capabilities in `?namespace=`.
    Ns(&'static [&'static str]),
    /// Any of these in the request namespace: `?namespace=` > body `Namespace` >
    /// body `Job.Namespace` (job registration and plan).
    NsBody(&'static [&'static str]),
    /// Any of these in the namespace of the object named by the first `:` segment.
    NsObj(Obj, &'static [&'static str]),
    /// `AllowNamespace` on the namespace named by the first `:` segment.
    NamespaceNamed,
    /// Job deregistration: submit-job or purge-job, or deregister-job without purge.
    Deregister,
    /// This variables capability on the path after `/v1/var/`.
    Var(&'static str),
    /// `list-jobs`/`read-job`-style list: the capability in `?namespace=` (or any namespace
    /// for `*`), and items filtered.
    NsList(&'static str),
    /// Any resolving token; items filtered.
    List(Filter),
    Agent(bool),
    Node(bool),
    Operator(bool),
    Management,
}

/// Methods a row applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    Any,
    Get,
    /// PUT or POST (Nomad treats them alike).
    Write,
    Delete,
}

/// The table: first match wins. `:` matches one path segment, a trailing `*` the rest.
const RULES: &[(M, &str, Need, Via)] = &[
    // Unauthenticated.
    (M::Any, "/v1/status/leader", Need::Public, Via::Rpc),
    (M::Any, "/v1/status/peers", Need::Public, Via::Rpc),
    (M::Any, "/v1/regions", Need::Public, Via::Rpc),
    (M::Any, "/v1/agent/health", Need::Public, Via::Rpc),
    (M::Any, "/.well-known/*", Need::Public, Via::Rpc),
    (M::Any, "/v1/acl/*", Need::AclApi, Via::Rpc),
    // Agent.
    (M::Get, "/v1/agent/members", Need::Node(false), Via::Rpc),
    (M::Get, "/v1/agent/*", Need::Agent(false), Via::Rpc),
    (M::Any, "/v1/agent/*", Need::Agent(true), Via::Rpc),
    // Namespaces.
    (
        M::Get,
        "/v1/namespaces",
        Need::List(Filter::Namespaces),
        Via::Rpc,
    ),
    (M::Get, "/v1/namespace/:", Need::NamespaceNamed, Via::Rpc),
    (M::Any, "/v1/namespace", Need::Management, Via::Rpc),
    (M::Any, "/v1/namespace/:", Need::Management, Via::Rpc),
    // Variables.
    (M::Get, "/v1/vars", Need::List(Filter::Variables), Via::Rpc),
    (M::Get, "/v1/var/*", Need::Var("read"), Via::Rpc),
    (M::Write, "/v1/var/*", Need::Var("write"), Via::Rpc),
    (M::Delete, "/v1/var/*", Need::Var("destroy"), Via::Rpc),
    // Jobs.
    (M::Get, "/v1/jobs", Need::NsList("list-jobs"), Via::Rpc),
    (
        M::Write,
        "/v1/jobs",
        Need::NsBody(&["submit-job", "register-job"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/jobs/parse",
        Need::Ns(&["parse-job", "submit-job"]),
        Via::Rpc,
    ),
    (
        M::Any,
        "/v1/jobs/statuses",
        Need::NsList("read-job"),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/validate/job",
        Need::NsBody(&["read-job"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/job/:/plan",
        Need::NsBody(&["submit-job", "plan-job"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/job/:/evaluate",
        Need::Ns(&["submit-job", "evaluate-job"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/job/:/revert",
        Need::Ns(&["submit-job", "revert-job"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/job/:/stable",
        Need::Ns(&["submit-job", "stable-job"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/job/:/dispatch",
        Need::Ns(&["dispatch-job"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/job/:/scale",
        Need::Ns(&["scale-job", "submit-job"]),
        Via::Rpc,
    ),
    (
        M::Get,
        "/v1/job/:/scale",
        Need::Ns(&["read-job", "read-job-scaling"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/job/:/periodic/force",
        Need::Ns(&["submit-job", "force-periodic-job"]),
        Via::Rpc,
    ),
    (M::Get, "/v1/job/*", Need::Ns(&["read-job"]), Via::Rpc),
    (
        M::Write,
        "/v1/job/:",
        Need::NsBody(&["submit-job", "register-job"]),
        Via::Rpc,
    ),
    (M::Delete, "/v1/job/:", Need::Deregister, Via::Rpc),
    (M::Any, "/v1/job/*", Need::Ns(&["submit-job"]), Via::Rpc),
    // Evaluations.
    (
        M::Get,
        "/v1/evaluations",
        Need::NsList("read-job"),
        Via::Rpc,
    ),
    (
        M::Get,
        "/v1/evaluations/count",
        Need::Ns(&["read-job"]),
        Via::Rpc,
    ),
    (
        M::Get,
        "/v1/evaluation/:",
        Need::NsObj(Obj::Eval, &["read-job"]),
        Via::Rpc,
    ),
    (
        M::Get,
        "/v1/evaluation/:/*",
        Need::NsObj(Obj::Eval, &["read-job"]),
        Via::Rpc,
    ),
    (M::Any, "/v1/evaluations", Need::Management, Via::Rpc),
    // Deployments.
    (
        M::Get,
        "/v1/deployments",
        Need::NsList("read-job"),
        Via::Rpc,
    ),
    (
        M::Get,
        "/v1/deployment/allocations/:",
        Need::NsObj(Obj::Deployment, &["read-job"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/deployment/fail/:",
        Need::NsObj(Obj::Deployment, &["submit-job", "fail-deployment"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/deployment/pause/:",
        Need::NsObj(Obj::Deployment, &["submit-job", "pause-deployment"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/deployment/promote/:",
        Need::NsObj(Obj::Deployment, &["submit-job", "promote-deployment"]),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/deployment/allocation-health/:",
        Need::NsObj(
            Obj::Deployment,
            &["submit-job", "set-alloc-health-deployment"],
        ),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/deployment/unblock/:",
        Need::NsObj(Obj::Deployment, &["submit-job", "unblock-deployment"]),
        Via::Rpc,
    ),
    (
        M::Get,
        "/v1/deployment/:",
        Need::NsObj(Obj::Deployment, &["read-job"]),
        Via::Rpc,
    ),
    (
        M::Any,
        "/v1/deployment/*",
        Need::Ns(&["submit-job"]),
        Via::Rpc,
    ),
    // Allocations.
    (
        M::Get,
        "/v1/allocations",
        Need::NsList("read-job"),
        Via::Rpc,
    ),
    (
        M::Write,
        "/v1/allocation/:/stop",
        Need::NsObj(Obj::Alloc, &["alloc-lifecycle"]),
        Via::Rpc,
    ),
    (
        M::Get,
        "/v1/allocation/:",
        Need::NsObj(Obj::Alloc, &["read-job"]),
        Via::Rpc,
    ),
    (
        M::Get,
        "/v1/allocation/:/*",
        Need::NsObj(Obj::Alloc, &["read-job"]),
        Via::Rpc,
    ),
    (
        M::Any,
        "/v1/allocation/:/*",
        Need::NsObj(Obj::Alloc, &["alloc-lifecycle"]),
        Via::Rpc,
    ),
    // Client-local endpoints.
    (
        M::Any,
        "/v1/client/fs/logs/:",
        Need::NsObj(Obj::Alloc, &["read-logs"]),
        Via::Client,
    ),
    (
        M::Any,
        "/v1/client/fs/:/:",
        Need::NsObj(Obj::Alloc, &["read-fs"]),
        Via::Client,
    ),
    (
        M::Any,
        "/v1/client/allocation/:/stats",
        Need::NsObj(Obj::Alloc, &["read-job"]),
        Via::Client,
    ),
    (
        M::Any,
        "/v1/client/allocation/:/exec",
        Need::NsObj(Obj::Alloc, &["alloc-exec"]),
        Via::Client,
    ),
    (
        M::Any,
        "/v1/client/allocation/:/*",
        Need::NsObj(Obj::Alloc, &["alloc-lifecycle"]),
        Via::Client,
    ),
    (M::Get, "/v1/client/*", Need::Node(false), Via::Client),
    (M::Any, "/v1/client/*", Need::Node(true), Via::Client),
    // Nodes, operator, system.
    (M::Get, "/v1/nodes", Need::Node(false), Via::Rpc),
    (M::Get, "/v1/node/*", Need::Node(false), Via::Rpc),
    (M::Any, "/v1/node/*", Need::Node(true), Via::Rpc),
    (M::Get, "/v1/operator/*", Need::Operator(false), Via::Rpc),
    (M::Any, "/v1/operator/*", Need::Operator(true), Via::Rpc),
    (M::Any, "/v1/system/*", Need::Management, Via::Rpc),
    // Services, search, events, metrics.
    (M::Get, "/v1/services", Need::NsList("read-job"), Via::Rpc),
    (M::Get, "/v1/service/*", Need::Ns(&["read-job"]), Via::Rpc),
    (
        M::Delete,
        "/v1/service/*",
        Need::Ns(&["submit-job", "delete-service-registration"]),
        Via::Rpc,
    ),
    (M::Any, "/v1/search", Need::AnyToken, Via::Rpc),
    (M::Any, "/v1/search/*", Need::AnyToken, Via::Rpc),
    (M::Any, "/v1/event/stream", Need::AnyToken, Via::Rpc),
    (M::Any, "/v1/metrics", Need::AnyToken, Via::Rpc),
];

fn method_matches(want: M, m: &Method) -> bool {
    match want {
        M::Any => true,
        M::Get => m == Method::GET || m == Method::HEAD,
        M::Write => m == Method::PUT || m == Method::POST,
        M::Delete => m == Method::DELETE,
    }
}

/// Matches `path` against a row pattern; returns the segments `:` matched.
fn path_matches<'p>(pattern: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let mut caps = Vec::new();
    let mut rest = path;
    let mut pat = pattern;
    loop {
        if pat == "*" {
            return Some(caps);
        }
        if let Some(after) = pat.strip_prefix(':') {
            let seg_end = rest.find('/').unwrap_or(rest.len());
            let seg = &rest[..seg_end];
            if seg.is_empty() {
                return None;
            }
            caps.push(seg);
            rest = &rest[seg_end..];
            pat = after;
            continue;
        }
        if pat.is_empty() {
            return rest.is_empty().then_some(caps);
        }
        // Literal up to the next wildcard.
        let lit_end = pat.find([':', '*']).unwrap_or(pat.len());
        let lit = &pat[..lit_end];
        rest = rest.strip_prefix(lit)?;
        pat = &pat[lit_end..];
        if pat == "*" && rest.is_empty() && !lit.ends_with('/') {
            return None;
        }
    }
}

/// The result of the central check: who calls, and how to filter a list answer.
pub(crate) struct Access {
    pub(crate) identity: Result<Identity, TokenErrPub>,
    filter: Option<Filter>,
}

/// A token failure, kept for the ACL handlers that report it themselves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenErrPub(TokenErr);

/// The request's token: `X-Nomad-Token`, else `Authorization: Bearer` (`parseToken`).
fn request_token(headers: &HeaderMap) -> String {
    if let Some(v) = headers.get("X-Nomad-Token").and_then(|v| v.to_str().ok()) {
        if !v.is_empty() {
            return v.trim().to_string();
        }
    }
    if let Some(v) = headers.get("Authorization").and_then(|v| v.to_str().ok()) {
        let parts: Vec<&str> = v.split(' ').collect();
        if parts.len() > 1 && parts[0].eq_ignore_ascii_case("bearer") {
            let value = parts[1..].join(" ");
            return value
                .trim()
                .split(' ')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
        }
    }
    String::new()
}

fn query_get(query: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn query_namespace(query: Option<&str>) -> String {
    match query_get(query, "namespace") {
        Some(ns) if !ns.is_empty() => ns,
        _ => "default".to_string(),
    }
}

/// The namespace a write names: `?namespace=` > body `Namespace` > body `Job.Namespace`.
fn body_namespace(query: Option<&str>, body: &[u8]) -> String {
    if let Some(ns) = query_get(query, "namespace").filter(|n| !n.is_empty()) {
        return ns;
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    for ns in [&v["Namespace"], &v["Job"]["Namespace"]] {
        if let Some(ns) = ns.as_str().filter(|n| !n.is_empty()) {
            return ns.to_string();
        }
    }
    "default".to_string()
}

/// The namespace of the object a path names (Nomad checks the object's namespace, not the
/// query's); unknown IDs fall back to `?namespace=` and the handler answers 404.
fn object_namespace(inner: &Inner, obj: Obj, id: &str) -> Option<String> {
    let st = inner.state();
    let v = match obj {
        Obj::Alloc => st.allocs.get(id),
        Obj::Eval => st.evals.get(id),
        Obj::Deployment => st.deployments.get(id),
    };
    v.and_then(|v| v["Namespace"].as_str()).map(str::to_string)
}

fn deny(via: Via, e: Option<TokenErr>) -> Box<Resp> {
    match (via, e) {
        // Server RPCs turn every authentication failure into `Permission denied`.
        (Via::Rpc, _) | (Via::Client, None) => Box::new(text(403, PERMISSION_DENIED)),
        (Via::Client, Some(TokenErr::Expired)) => Box::new(text(500, "ACL token expired")),
        (Via::Client, Some(TokenErr::NotFound | TokenErr::Invalid)) => {
            Box::new(text(403, TOKEN_NOT_FOUND))
        }
    }
}

/// The central ACL check of every request (see the module docs). `Err` is the response to
/// send instead of serving the request.
pub(crate) fn authorize(
    inner: &Inner,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Access, Box<Resp>> {
    let secret = request_token(headers);
    let identity = inner.acl().resolve(&secret).map_err(TokenErrPub);
    let row = RULES.iter().find_map(|(m, pat, need, via)| {
        if !method_matches(*m, method) {
            return None;
        }
        path_matches(pat, path).map(|caps| (*need, *via, caps))
    });
    let (need, via, caps) = match row {
        Some(r) => r,
        None if path.starts_with("/v1/") => (Need::Management, Via::Rpc, Vec::new()),
        None => (Need::Public, Via::Rpc, Vec::new()),
    };
    let mut access = Access {
        identity,
        filter: None,
    };
    match need {
        Need::Public | Need::AclApi => return Ok(access),
        _ => {}
    }
    let id = match &access.identity {
        Ok(id) => id,
        Err(e) => return Err(deny(via, Some(e.0))),
    };
    let a = &id.authz;
    if a.is_management() {
        return Ok(access);
    }
    let any_of = |ns: &str, caps: &[&str]| caps.iter().any(|c| a.allow_ns_op(ns, c));
    let ok = match need {
        Need::Public | Need::AclApi | Need::AnyToken => true,
        Need::Ns(c) => any_of(&query_namespace(query), c),
        Need::NsBody(c) => any_of(&body_namespace(query, body), c),
        Need::NsObj(obj, c) => {
            let ns = caps
                .first()
                .and_then(|id| object_namespace(inner, obj, id))
                .unwrap_or_else(|| query_namespace(query));
            any_of(&ns, c)
        }
        Need::NamespaceNamed => caps.first().is_some_and(|n| a.allow_namespace(n)),
        Need::Deregister => {
            let purge = matches!(
                query_get(query, "purge").as_deref(),
                Some("1" | "t" | "T" | "TRUE" | "true" | "True")
            );
            let ns = query_namespace(query);
            any_of(&ns, &["submit-job", "purge-job"])
                || (!purge && a.allow_ns_op(&ns, "deregister-job"))
        }
        Need::Var(op) => {
            let vpath = path.strip_prefix("/v1/var/").unwrap_or("");
            let ns = if op == "write" {
                body_namespace(query, body)
            } else {
                query_namespace(query)
            };
            a.allow_var(&ns, vpath, op)
        }
        Need::NsList(cap) => {
            access.filter = Some(Filter::ByNamespace(cap));
            a.allow_ns_op(&query_namespace(query), cap)
        }
        Need::List(f) => {
            access.filter = Some(f);
            true
        }
        Need::Agent(w) => a.level_allows(&a.agent, w),
        Need::Node(w) => a.level_allows(&a.node, w),
        Need::Operator(w) => a.allow_operator(w),
        Need::Management => false,
    };
    if ok {
        Ok(access)
    } else {
        Err(deny(via, None))
    }
}

/// Drops the items of a list answer the caller may not see (Nomad filters these lists
/// server-side instead of refusing them).
pub(crate) async fn filter_response(access: &Access, resp: Resp) -> Resp {
    let (Some(filter), Ok(id)) = (access.filter, &access.identity) else {
        return resp;
    };
    if id.authz.is_management() || resp.status() != 200 {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(never) => match never {},
    };
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Full::new(bytes));
    };
    let a = &id.authz;
    let kept: Vec<Value> = items
        .into_iter()
        .filter(|item| {
            let ns = item["Namespace"].as_str().unwrap_or("default");
            match filter {
                Filter::ByNamespace(cap) => a.allow_ns_op(ns, cap),
                Filter::Namespaces => a.allow_namespace(item["Name"].as_str().unwrap_or("")),
                Filter::Variables => a.allow_var(ns, item["Path"].as_str().unwrap_or(""), "list"),
            }
        })
        .collect();
    let out = serde_json::to_vec(&kept).unwrap_or_default();
    Response::from_parts(parts, Full::new(Bytes::from(out)))
}

// ------------------------------------------------------------------ the ACL endpoints

fn with_index(mut r: Resp, index: u64) -> Resp {
    if let Ok(v) = HeaderValue::from_str(&index.max(1).to_string()) {
        r.headers_mut().insert("X-Nomad-Index", v);
    }
    r
}

fn read(v: &Value, index: u64) -> Resp {
    let mut r = with_index(json_resp(200, v), index);
    let h = r.headers_mut();
    h.insert("X-Nomad-KnownLeader", HeaderValue::from_static("true"));
    h.insert("X-Nomad-LastContact", HeaderValue::from_static("0"));
    r
}

/// go-multierror's text for a list of errors.
fn multierror(errors: &[String]) -> String {
    let points: Vec<String> = errors.iter().map(|e| format!("* {e}")).collect();
    let head = if errors.len() == 1 {
        "1 error occurred:".to_string()
    } else {
        format!("{} errors occurred:", errors.len())
    };
    format!("{head}\n\t{}\n\n", points.join("\n\t"))
}

fn decode(body: &[u8]) -> Result<Map<String, Value>, Box<Resp>> {
    if body.is_empty() {
        return Err(Box::new(text(400, "Request body is empty")));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(Box::new(text(
            400,
            "json: cannot unmarshal non-object into Go value",
        ))),
        Err(e) => Err(Box::new(text(400, &e.to_string()))),
    }
}

type Res = Result<Resp, Box<Resp>>;

fn fail(status: u16, msg: &str) -> Box<Resp> {
    Box::new(text(status, msg))
}

/// The identity of an RPC that masks authentication errors as `Permission denied`.
fn caller(access: &Access) -> Result<&Identity, Box<Resp>> {
    access
        .identity
        .as_ref()
        .map_err(|_| fail(403, PERMISSION_DENIED))
}

/// The identity of an RPC that returns the authentication error itself (`GetToken`,
/// `WhoAmI`).
fn caller_unmasked(access: &Access) -> Result<&Identity, Box<Resp>> {
    access.identity.as_ref().map_err(|e| match e.0 {
        TokenErr::Invalid => fail(500, NOT_A_JWT),
        TokenErr::Expired => fail(500, "ACL token expired"),
        TokenErr::NotFound => fail(403, PERMISSION_DENIED),
    })
}

fn management(access: &Access) -> Result<(), Box<Resp>> {
    if caller(access)?.authz.is_management() {
        Ok(())
    } else {
        Err(fail(403, PERMISSION_DENIED))
    }
}

impl Inner {
    pub(crate) fn acl(&self) -> std::sync::MutexGuard<'_, AclState> {
        self.acl.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a raft entry for an ACL write (and wakes blocking queries).
    fn acl_apply(&self) -> u64 {
        self.write(|st| st.apply())
    }
}

/// Serves `/v1/acl/...`.
pub(crate) fn handle(inner: &Inner, access: &Access, m: &Method, path: &str, body: &[u8]) -> Resp {
    let out = match path {
        "/v1/acl/bootstrap" => bootstrap(inner, m, body),
        "/v1/acl/policies" => policies_list(inner, access, m),
        "/v1/acl/tokens" => tokens_list(inner, access, m),
        "/v1/acl/token" => {
            if m == Method::PUT || m == Method::POST {
                token_upsert(inner, access, "", body)
            } else {
                Err(fail(405, INVALID_METHOD))
            }
        }
        "/v1/acl/token/self" => token_self(inner, access, m),
        "/v1/acl/roles" => roles_list(inner, access, m),
        p => {
            if let Some(name) = p.strip_prefix("/v1/acl/policy/") {
                policy_specific(inner, access, m, name, body)
            } else if let Some(acc) = p.strip_prefix("/v1/acl/token/") {
                match *m {
                    Method::GET => token_get(inner, access, acc),
                    Method::PUT | Method::POST => token_upsert(inner, access, acc, body),
                    Method::DELETE => token_delete(inner, access, acc),
                    _ => Err(fail(405, INVALID_METHOD)),
                }
            } else {
                Ok(text(404, ""))
            }
        }
    };
    out.unwrap_or_else(|r| *r)
}

fn enabled(inner: &Inner) -> Result<(), Box<Resp>> {
    if inner.acl().enabled {
        Ok(())
    } else {
        Err(fail(400, ACL_DISABLED))
    }
}

/// `ACL.Bootstrap`; `Ok` is the management token, `Err` the text of Nomad's 400.
pub(crate) fn bootstrap_token(inner: &Inner, secret: Option<&str>) -> Result<Token, String> {
    if !inner.acl().enabled {
        return Err(ACL_DISABLED.to_string());
    }
    let secret_id = match secret {
        Some(s) if !s.is_empty() => {
            if !is_uuid(s) {
                return Err("invalid acl token".to_string());
            }
            s.to_string()
        }
        _ => crate::consul::uuid_v4(),
    };
    // The raft entry is appended before taking the ACL lock (lock order: state, then acl).
    let done = inner.acl().bootstrap_index;
    if done != 0 {
        return Err(format!("ACL bootstrap already done (reset index: {done})"));
    }
    let idx = inner.acl_apply();
    let mut acl = inner.acl();
    if acl.bootstrap_index != 0 {
        return Err(format!(
            "ACL bootstrap already done (reset index: {})",
            acl.bootstrap_index
        ));
    }
    let mut token = Token {
        accessor_id: crate::consul::uuid_v4(),
        secret_id,
        name: "Bootstrap Token".into(),
        kind: "management".into(),
        policies: Vec::new(),
        global: true,
        hash: String::new(),
        create_time_ns: now_ns(),
        expiration_time_ns: None,
        expiration_ttl_ns: 0,
        create_index: idx,
        modify_index: idx,
    };
    token.set_hash();
    acl.bootstrap_index = idx;
    acl.tokens_index = idx;
    acl.tokens.insert(token.accessor_id.clone(), token.clone());
    Ok(token)
}

fn bootstrap(inner: &Inner, m: &Method, body: &[u8]) -> Res {
    if !(m == Method::PUT || m == Method::POST) {
        return Err(fail(405, INVALID_METHOD));
    }
    let mut secret = None;
    if !body.is_empty() {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| fail(400, &format!("failed to decode request body: {e}")))?;
        secret = v["BootstrapSecret"].as_str().map(str::to_string);
    }
    let t = bootstrap_token(inner, secret.as_deref()).map_err(|e| fail(400, &e))?;
    Ok(with_index(json_resp(200, &t.json()), t.create_index))
}

/// Policy names a non-management caller may read (`getPolicyAuthorizationFunc`).
fn may_read_policy(id: &Identity, name: &str) -> bool {
    id.authz.is_management() || id.token.policies.iter().any(|p| p == name)
}

fn policies_list(inner: &Inner, access: &Access, m: &Method) -> Res {
    if m != Method::GET {
        return Err(fail(405, INVALID_METHOD));
    }
    enabled(inner)?;
    let id = caller(access)?;
    let acl = inner.acl();
    let items: Vec<Value> = acl
        .policies
        .values()
        .filter(|p| may_read_policy(id, &p.name))
        .map(Policy::stub)
        .collect();
    Ok(read(&Value::Array(items), acl.policies_index))
}

fn policy_specific(inner: &Inner, access: &Access, m: &Method, name: &str, body: &[u8]) -> Res {
    if name == "self" {
        if m != Method::GET {
            return Err(fail(405, INVALID_METHOD));
        }
        enabled(inner)?;
        let id = caller(access)?;
        let acl = inner.acl();
        let items: Vec<Value> = acl
            .policies
            .values()
            .filter(|p| may_read_policy(id, &p.name))
            .map(Policy::stub)
            .collect();
        return Ok(read(&Value::Array(items), acl.policies_index));
    }
    if name.is_empty() {
        return Err(fail(400, "Missing Policy Name"));
    }
    match *m {
        Method::GET => {
            enabled(inner)?;
            let id = caller(access)?;
            if name != "anonymous" && !may_read_policy(id, name) {
                return Err(fail(403, PERMISSION_DENIED));
            }
            let acl = inner.acl();
            match acl.policies.get(name) {
                Some(p) => Ok(read(&p.json(), p.modify_index)),
                None => {
                    let mut r = read(&Value::Null, acl.policies_index);
                    *r.body_mut() = Full::new(Bytes::from_static(b"ACL policy not found"));
                    *r.status_mut() = hyper::StatusCode::NOT_FOUND;
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                    Ok(r)
                }
            }
        }
        Method::PUT | Method::POST => policy_upsert(inner, access, name, body),
        Method::DELETE => {
            enabled(inner)?;
            management(access)?;
            let idx = inner.acl_apply();
            let mut acl = inner.acl();
            acl.policies.remove(name);
            acl.policies_index = idx;
            Ok(with_index(text(200, ""), idx))
        }
        _ => Err(fail(405, INVALID_METHOD)),
    }
}

fn policy_upsert(inner: &Inner, access: &Access, name: &str, body: &[u8]) -> Res {
    let obj = decode(body)?;
    let field = |k: &str| -> Result<String, Box<Resp>> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(fail(
                400,
                &format!(
                    "json: cannot unmarshal into Go struct field ACLPolicy.{k} of type string"
                ),
            )),
        }
    };
    let pname = field("Name")?;
    let description = field("Description")?;
    let rules = field("Rules")?;
    if pname != name {
        return Err(fail(400, "ACL policy name does not match request path"));
    }
    enabled(inner)?;
    management(access)?;
    let job_acl = obj.get("JobACL").cloned().unwrap_or(Value::Null);
    let mut errors = Vec::new();
    let name_ok = (1..=128).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !name_ok {
        errors.push(format!("invalid name '{name}'"));
    }
    if let Err(e) = parse_rules(&rules, true) {
        errors.push(format!("failed to parse rules: {e}"));
    }
    if description.len() > 256 {
        errors.push("description longer than 256".to_string());
    }
    if let Value::Object(j) = &job_acl {
        let s = |k: &str| j.get(k).and_then(Value::as_str).unwrap_or("");
        if !s("JobID").is_empty() && s("Namespace").is_empty() {
            errors.push("namespace must be set to set job ID".into());
        }
        if !s("Group").is_empty() && s("JobID").is_empty() {
            errors.push("job ID must be set to set group".into());
        }
        if !s("Task").is_empty() && s("Group").is_empty() {
            errors.push("group must be set to set task".into());
        }
    }
    if !errors.is_empty() {
        return Err(fail(
            400,
            &format!("policy 0 invalid: {}", multierror(&errors)),
        ));
    }
    let idx = inner.acl_apply();
    let mut acl = inner.acl();
    let create_index = acl.policies.get(name).map_or(idx, |p| p.create_index);
    let hash = crate::consul::acl::content_hash(&[name, &description, &rules]);
    acl.policies.insert(
        name.to_string(),
        Policy {
            name: name.to_string(),
            description,
            rules,
            job_acl,
            hash,
            create_index,
            modify_index: idx,
        },
    );
    acl.policies_index = idx;
    Ok(with_index(text(200, ""), idx))
}

fn tokens_list(inner: &Inner, access: &Access, m: &Method) -> Res {
    if m != Method::GET {
        return Err(fail(405, INVALID_METHOD));
    }
    enabled(inner)?;
    management(access)?;
    let acl = inner.acl();
    let mut tokens: Vec<&Token> = acl.tokens.values().collect();
    tokens.sort_by(|a, b| (a.create_index, &a.accessor_id).cmp(&(b.create_index, &b.accessor_id)));
    let items: Vec<Value> = tokens.iter().map(|t| t.stub()).collect();
    Ok(read(&Value::Array(items), acl.tokens_index))
}

fn token_self(inner: &Inner, access: &Access, m: &Method) -> Res {
    if m != Method::GET {
        return Err(fail(405, INVALID_METHOD));
    }
    let id = caller_unmasked(access)?;
    let idx = if inner.acl().enabled {
        id.token.modify_index
    } else {
        inner.state().raft_index
    };
    Ok(read(&id.token.json(), idx))
}

fn token_get(inner: &Inner, access: &Access, accessor: &str) -> Res {
    if accessor.is_empty() {
        return Err(fail(400, "Missing Token Accessor"));
    }
    enabled(inner)?;
    let id = caller_unmasked(access)?;
    let acl = inner.acl();
    match acl.tokens.get(accessor) {
        None if !id.authz.is_management() => Err(fail(403, PERMISSION_DENIED)),
        None => {
            let mut r = read(&Value::Null, acl.tokens_index);
            *r.body_mut() = Full::new(Bytes::from_static(TOKEN_NOT_FOUND.as_bytes()));
            *r.status_mut() = hyper::StatusCode::NOT_FOUND;
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(r)
        }
        Some(t) if !id.authz.is_management() && t.secret_id != id.token.secret_id => {
            Err(fail(403, PERMISSION_DENIED))
        }
        Some(t) => Ok(read(&t.json(), t.modify_index)),
    }
}

fn token_delete(inner: &Inner, access: &Access, accessor: &str) -> Res {
    if accessor.is_empty() {
        return Err(fail(400, "Missing Token Accessor"));
    }
    enabled(inner)?;
    management(access)?;
    if !inner.acl().tokens.contains_key(accessor) {
        return Err(fail(
            400,
            &format!("Cannot delete nonexistent tokens: {accessor}"),
        ));
    }
    let idx = inner.acl_apply();
    let mut acl = inner.acl();
    acl.tokens.remove(accessor);
    acl.tokens_index = idx;
    Ok(with_index(text(200, ""), idx))
}

fn roles_list(inner: &Inner, access: &Access, m: &Method) -> Res {
    if m != Method::GET {
        return Err(fail(405, INVALID_METHOD));
    }
    enabled(inner)?;
    caller(access)?;
    // Roles are not simulated: the list is always empty.
    Ok(read(&json!([]), inner.acl().tokens_index))
}

/// Parses an RFC 3339 time to unix nanoseconds (UTC `Z` or `±hh:mm` offsets).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut nanos = 0i64;
    if let Some(f) = rest.strip_prefix('.') {
        let digits: String = f.chars().take_while(|c| c.is_ascii_digit()).collect();
        rest = &f[digits.len()..];
        let padded = format!("{digits:0<9}");
        nanos = padded.get(..9)?.parse().ok()?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o.get(1..3)?.parse::<i64>().ok()? * 3600
                + o.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (H. Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(secs * 1_000_000_000 + nanos)
}

fn token_upsert(inner: &Inner, access: &Access, path_accessor: &str, body: &[u8]) -> Res {
    let obj = decode(body)?;
    let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let accessor = s("AccessorID");
    if !path_accessor.is_empty() && accessor != path_accessor {
        return Err(fail(400, "ACL token accessor does not match request path"));
    }
    let ttl_ns = match obj.get("ExpirationTTL") {
        None | Some(Value::Null) => 0,
        Some(Value::String(t)) if t.is_empty() => 0,
        Some(Value::String(t)) => crate::duration::parse_go_duration(t)
            .map(|d| d.as_nanos() as i64)
            .map_err(|_| fail(400, &format!("time: invalid duration {}", go_quote(t))))?,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0) as i64,
        Some(_) => 0,
    };
    let expiration = match obj.get("ExpirationTime") {
        Some(Value::String(t)) if !t.is_empty() => Some(parse_rfc3339(t).ok_or_else(|| {
            fail(
                400,
                &format!(
                    "parsing time {} as \"2006-01-02T15:04:05Z07:00\": cannot parse",
                    go_quote(t)
                ),
            )
        })?),
        _ => None,
    };
    let policies: Vec<String> = obj
        .get("Policies")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let roles = obj
        .get("Roles")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut token = Token {
        accessor_id: accessor.clone(),
        secret_id: s("SecretID"),
        name: s("Name"),
        kind: s("Type"),
        policies,
        global: obj.get("Global").and_then(Value::as_bool).unwrap_or(false),
        hash: String::new(),
        create_time_ns: obj
            .get("CreateTime")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
            .filter(|t| *t > 0)
            .unwrap_or(0),
        expiration_time_ns: expiration,
        expiration_ttl_ns: ttl_ns,
        create_index: 0,
        modify_index: 0,
    };
    enabled(inner)?;
    management(access)?;

    let existing = if accessor.is_empty() {
        None
    } else {
        let found = inner.acl().tokens.get(&accessor).cloned();
        if found.is_none()
            && (!is_uuid(&token.accessor_id)
                || !is_uuid(&token.secret_id)
                || token.kind == "management")
        {
            return Err(fail(400, &format!("cannot find token {accessor}")));
        }
        found
    };
    // Canonicalize.
    let now = now_ns();
    if token.accessor_id.is_empty() {
        token.accessor_id = crate::consul::uuid_v4();
        token.secret_id = crate::consul::uuid_v4();
        token.create_time_ns = now;
        if token.expiration_time_ns.is_none() && token.expiration_ttl_ns != 0 {
            token.expiration_time_ns = Some(now + token.expiration_ttl_ns);
        }
    } else if token.create_time_ns == 0 {
        token.create_time_ns = now;
        if token.expiration_time_ns.is_none() && token.expiration_ttl_ns != 0 {
            token.expiration_time_ns = Some(now + token.expiration_ttl_ns);
        }
    }
    // Validate.
    let mut errors = Vec::new();
    if token.name.len() > 256 {
        errors.push("token name too long".to_string());
    }
    match token.kind.as_str() {
        "client" if token.policies.is_empty() && roles.is_empty() => {
            errors.push("client token missing policies or roles".into())
        }
        "management" if !token.policies.is_empty() || !roles.is_empty() => {
            errors.push("management token cannot be associated with policies or roles".into())
        }
        "client" | "management" => {}
        _ => errors.push("token type must be client or management".into()),
    }
    match &existing {
        None => {
            if token.expiration_ttl_ns < 0 {
                errors.push(format!(
                    "token expiration TTL '{}' should not be negative",
                    go_duration(token.expiration_ttl_ns)
                ));
            }
            if let Some(exp) = token.expiration_time_ns {
                if token.create_time_ns > exp {
                    errors.push("expiration time cannot be before create time".into());
                }
                let expires_in = exp - token.create_time_ns;
                if expires_in > MAX_TTL_NS {
                    errors.push(format!(
                        "expiration time cannot be more than {} in the future (was {})",
                        go_duration(MAX_TTL_NS),
                        go_duration(expires_in)
                    ));
                } else if expires_in < MIN_TTL_NS {
                    errors.push(format!(
                        "expiration time cannot be less than {} in the future (was {})",
                        go_duration(MIN_TTL_NS),
                        go_duration(expires_in)
                    ));
                }
            }
        }
        Some(old) => {
            if old.global != token.global {
                errors.push("cannot toggle global mode".into());
            }
            if old.expiration_ttl_ns != token.expiration_ttl_ns {
                errors.push("cannot update expiration TTL".into());
            }
            if let Some(exp) = token.expiration_time_ns {
                if old.expiration_time_ns != Some(exp) {
                    errors.push("cannot update expiration time".into());
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(fail(
            400,
            &format!("token 0 invalid: {}", multierror(&errors)),
        ));
    }
    // Roles are not simulated, so any role link names a missing role.
    if let Some(r) = roles.first() {
        let ident = r["ID"]
            .as_str()
            .filter(|s| !s.is_empty())
            .or_else(|| r["Name"].as_str())
            .unwrap_or("");
        return Err(fail(400, &format!("cannot find role {ident}")));
    }
    token.set_hash();
    let idx = inner.acl_apply();
    let mut acl = inner.acl();
    match existing {
        Some(old) => {
            token.create_index = old.create_index;
            token.secret_id = old.secret_id;
            token.create_time_ns = old.create_time_ns;
            if token.expiration_time_ns.is_none() {
                token.expiration_time_ns = old.expiration_time_ns;
            }
        }
        None => token.create_index = idx,
    }
    token.modify_index = idx;
    acl.tokens.insert(token.accessor_id.clone(), token.clone());
    acl.tokens_index = idx;
    Ok(with_index(json_resp(200, &token.json()), idx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates_rules() {
        let r = parse_rules(
            "namespace \"default\" {\n  policy = \"read\"\n  capabilities = [\"submit-job\"]\n}\nagent {\n  policy = \"read\"\n}\n",
            true,
        )
        .expect("valid");
        let a = Authz::compile(&[r]);
        assert!(a.allow_ns_op("default", "read-job"));
        assert!(a.allow_ns_op("default", "submit-job"));
        assert!(!a.allow_ns_op("other", "read-job"));
        assert!(a.level_allows(&a.agent, false));
        assert!(!a.level_allows(&a.agent, true));

        let e = parse_rules("namespace \"default\" {\n  policy = \"bogus\"\n}\n", true)
            .expect_err("bad policy");
        assert_eq!(e, "Invalid namespace policy: &acl.NamespacePolicy{Name:\"default\", Policy:\"bogus\", Capabilities:[]string(nil), Variables:(*acl.VariablesPolicy)(nil)}");
        let e = parse_rules(
            "namespace \"default\" {\n  capabilities = [\"fly\"]\n}\n",
            true,
        )
        .expect_err("bad cap");
        assert!(e.starts_with("Invalid namespace capability 'fly': "), "{e}");
        let e = parse_rules("foo = \"bar\"\n", true).expect_err("empty");
        assert_eq!(e, "Invalid policy: foo = \"bar\"\n");
        let e = parse_rules("foo = \"bar\"\nnode {\n policy = \"read\"\n}\n", true)
            .expect_err("unknown key");
        assert_eq!(e, "Invalid or duplicate policy keys: foo");
        assert!(parse_rules("foo = \"bar\"\nnode {\n policy = \"read\"\n}\n", false).is_ok());
        let e = parse_rules("agent {\n policy = \"list\"\n}\n", true).expect_err("agent");
        assert_eq!(e, "Invalid agent policy: &acl.AgentPolicy{Policy:\"list\"}");
        assert!(parse_rules("plugin {\n policy = \"list\"\n}\n", true).is_ok());
        let e = parse_rules(
            "namespace \"default\" {\n variables {\n path \"/x\" {\n capabilities = [\"read\"]\n }\n }\n}\n",
            true,
        )
        .expect_err("leading slash");
        assert_eq!(
            e,
            "Invalid variable path \"/x\" in namespace default: cannot start with a leading '/'`"
        );
        assert!(parse_rules(r#"{"namespace":{"default":{"policy":"write"}}}"#, true).is_ok());
    }

    #[test]
    fn globs_and_variables() {
        assert!(glob("*", "x"));
        assert!(glob("prod-*", "prod-a"));
        assert!(!glob("prod-*", "dev-a"));
        assert!(glob("*-a", "prod-a"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("a*c*e", "abcdf"));
        let r = parse_rules(
            "namespace \"*\" {\n policy = \"read\"\n}\nnamespace \"default\" {\n variables {\n path \"app/*\" {\n capabilities = [\"read\"]\n }\n path \"app/secret\" {\n capabilities = [\"deny\"]\n }\n }\n}\n",
            true,
        )
        .expect("valid");
        let a = Authz::compile(&[r]);
        assert!(a.allow_var("default", "app/x", "read"));
        assert!(a.allow_var("default", "app/x", "list"));
        assert!(!a.allow_var("default", "app/x", "write"));
        assert!(!a.allow_var("default", "app/secret", "read"));
        assert!(!a.allow_var("default", "other", "read"));
        assert!(a.allow_ns_op("anything", "read-job"));
        assert!(
            !a.allow_ns_op("default", "read-job"),
            "the exact block wins"
        );
    }

    #[test]
    fn paths_and_tokens() {
        assert_eq!(
            path_matches("/v1/job/:/plan", "/v1/job/x/plan"),
            Some(vec!["x"])
        );
        assert_eq!(path_matches("/v1/job/:", "/v1/job/x/plan"), None);
        assert_eq!(path_matches("/v1/job/*", "/v1/job/x/plan"), Some(vec![]));
        assert_eq!(path_matches("/v1/var/*", "/v1/var/a/b"), Some(vec![]));
        assert_eq!(path_matches("/v1/jobs", "/v1/jobs"), Some(vec![]));
        assert_eq!(path_matches("/v1/jobs", "/v1/jobs/parse"), None);
        let mut h = HeaderMap::new();
        h.insert("Authorization", HeaderValue::from_static("bearer  abc def"));
        assert_eq!(request_token(&h), "abc");
        h.insert("X-Nomad-Token", HeaderValue::from_static(" xyz "));
        assert_eq!(request_token(&h), "xyz");
        assert_eq!(go_duration(90 * 1_000_000_000), "1m30s");
        assert_eq!(go_duration(24 * 3600 * 1_000_000_000), "24h0m0s");
        assert_eq!(
            parse_rfc3339("1970-01-02T00:00:01.5Z"),
            Some(86_401_500_000_000)
        );
    }
}
