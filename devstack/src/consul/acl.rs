//! The simulated Consul ACL system (1.4+): bootstrap, policies, roles, tokens, rule parsing
//! (HCL or JSON, as `acl.NewPolicyFromSource`) and the authorizer the endpoints consult.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// ID of the builtin `global-management` policy.
pub const GLOBAL_MANAGEMENT_ID: &str = "00000000-0000-0000-0000-000000000001";
/// Accessor ID of the anonymous token.
pub const ANONYMOUS_ACCESSOR: &str = "00000000-0000-0000-0000-000000000002";
/// Secret of the anonymous token.
pub const ANONYMOUS_SECRET: &str = "anonymous";

const GLOBAL_MANAGEMENT_RULES: &str = "\nacl = \"write\"\nagent_prefix \"\" {\n  policy = \"write\"\n}\nevent_prefix \"\" {\n  policy = \"write\"\n}\nidentity_prefix \"\" {\n  policy = \"write\"\n}\nkey_prefix \"\" {\n  policy = \"write\"\n}\nkeyring = \"write\"\nnode_prefix \"\" {\n  policy = \"write\"\n}\noperator = \"write\"\nmesh = \"write\"\npeering = \"write\"\nquery_prefix \"\" {\n  policy = \"write\"\n}\nservice_prefix \"\" {\n  policy = \"write\"\n  intentions = \"write\"\n}\nsession_prefix \"\" {\n  policy = \"write\"\n}";

/// An access level of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Deny,
    Read,
    List,
    Write,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        match s {
            "deny" => Some(Level::Deny),
            "read" => Some(Level::Read),
            "list" => Some(Level::List),
            "write" => Some(Level::Write),
            _ => None,
        }
    }

    /// Consul's `takesPrecedenceOver`: deny beats write beats list beats read.
    fn merge(a: Level, b: Level) -> Level {
        if a == Level::Deny || b == Level::Deny {
            Level::Deny
        } else {
            a.max(b)
        }
    }

    fn allows(self, want: Level) -> bool {
        match want {
            Level::Deny => true,
            Level::Read => self >= Level::Read,
            Level::List => self >= Level::List,
            Level::Write => self == Level::Write,
        }
    }
}

/// Resources with named (exact and `_prefix`) rules.
const SEGMENTED: &[&str] = &[
    "agent", "event", "identity", "key", "node", "query", "service", "session",
];
/// Resources with a single global level.
const GLOBAL: &[&str] = &["acl", "keyring", "mesh", "operator", "peering"];

/// Parsed and merged rules.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// `(resource, exact name)` → level.
    exact: BTreeMap<(String, String), Level>,
    /// `(resource, prefix)` → level.
    prefix: BTreeMap<(String, String), Level>,
    global: BTreeMap<String, Level>,
}

impl Rules {
    fn merge_from(&mut self, other: &Rules) {
        for (k, l) in &other.exact {
            let e = self.exact.entry(k.clone()).or_insert(*l);
            *e = Level::merge(*e, *l);
        }
        for (k, l) in &other.prefix {
            let e = self.prefix.entry(k.clone()).or_insert(*l);
            *e = Level::merge(*e, *l);
        }
        for (k, l) in &other.global {
            let e = self.global.entry(k.clone()).or_insert(*l);
            *e = Level::merge(*e, *l);
        }
    }

    /// The level of `resource:name`: exact rule, else longest matching prefix.
    fn level(&self, resource: &str, name: &str) -> Option<Level> {
        if let Some(l) = self.exact.get(&(resource.to_string(), name.to_string())) {
            return Some(*l);
        }
        self.prefix
            .iter()
            .filter(|((r, p), _)| r == resource && name.starts_with(p.as_str()))
            .max_by_key(|((_, p), _)| p.len())
            .map(|(_, l)| *l)
    }
}

/// `acl.NewPolicyFromSource`: HCL (or JSON) rules to [`Rules`]; the error is Consul's text.
pub fn parse_rules(src: &str) -> Result<Rules, String> {
    let doc: Value = if src.trim().is_empty() {
        Value::Object(Map::new())
    } else if src.trim_start().starts_with('{') {
        serde_json::from_str(src).map_err(|e| format!("Failed to parse ACL rules: {e}"))?
    } else {
        hcl::from_str::<Value>(src).map_err(|e| format!("Failed to parse ACL rules: {e}"))?
    };
    let Value::Object(top) = doc else {
        return Err("Failed to parse ACL rules: rules must be an object".to_string());
    };
    let mut rules = Rules::default();
    for (k, v) in &top {
        if GLOBAL.contains(&k.as_str()) {
            let l = v
                .as_str()
                .and_then(Level::parse)
                .ok_or_else(|| format!("Invalid {k} policy: {}", go_quote(v)))?;
            rules.global.insert(k.clone(), l);
            continue;
        }
        let (resource, is_prefix) = match k.strip_suffix("_prefix") {
            Some(r) => (r, true),
            None => (k.as_str(), false),
        };
        if !SEGMENTED.contains(&resource) {
            return Err(format!(
                "Failed to parse ACL rules: invalid key {k:?}: unsupported ACL rule"
            ));
        }
        for block in blocks(v) {
            let Value::Object(named) = block else {
                return Err(format!(
                    "Failed to parse ACL rules: {k} must be a block with a label"
                ));
            };
            for (name, body) in named {
                for b in blocks(body) {
                    let policy = b.get("policy").cloned().unwrap_or(Value::Null);
                    let l = policy
                        .as_str()
                        .and_then(Level::parse)
                        .filter(|l| *l != Level::List || resource == "key")
                        .ok_or_else(|| {
                            format!(
                                "Invalid {} policy: {}",
                                k.replace('_', " "),
                                go_quote(&policy)
                            )
                        })?;
                    let mut intention = None;
                    if let Some(i) = b.get("intentions") {
                        match i.as_str().and_then(Level::parse) {
                            Some(il) if resource == "service" && il != Level::List => {
                                intention = Some(il)
                            }
                            _ => {
                                return Err(format!(
                                    "Invalid {} intentions policy: {}",
                                    k.replace('_', " "),
                                    go_quote(i)
                                ))
                            }
                        }
                    }
                    let map = if is_prefix {
                        &mut rules.prefix
                    } else {
                        &mut rules.exact
                    };
                    let e = map.entry((resource.to_string(), name.clone())).or_insert(l);
                    *e = Level::merge(*e, l);
                    if resource == "service" {
                        // Consul: without `intentions`, service read/write grants intentions read.
                        let il = intention.unwrap_or(if l == Level::Deny {
                            Level::Deny
                        } else {
                            Level::Read
                        });
                        let e = map
                            .entry(("intention".to_string(), name.clone()))
                            .or_insert(il);
                        *e = Level::merge(*e, il);
                    }
                }
            }
        }
    }
    Ok(rules)
}

fn blocks(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

fn go_quote(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "\"\"".to_string(),
        other => other.to_string(),
    }
}

/// An ACL policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub description: String,
    pub rules: String,
    pub datacenters: Vec<String>,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// An ACL role.
#[derive(Debug, Clone)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    pub policies: Vec<String>,
    pub service_identities: Vec<Value>,
    pub node_identities: Vec<Value>,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// An ACL token.
#[derive(Debug, Clone)]
pub struct Token {
    pub accessor: String,
    pub secret: String,
    pub description: String,
    pub policies: Vec<String>,
    pub roles: Vec<String>,
    pub service_identities: Vec<Value>,
    pub node_identities: Vec<Value>,
    pub local: bool,
    pub create_time: String,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The ACL tables of the state store.
#[derive(Debug, Clone, Default)]
pub struct AclState {
    pub enabled: bool,
    pub default_deny: bool,
    /// Raft index of the bootstrap, once done (Consul's reset index).
    pub bootstrap_index: Option<u64>,
    pub policies: BTreeMap<String, Policy>,
    pub roles: BTreeMap<String, Role>,
    pub tokens: BTreeMap<String, Token>,
    pub policies_index: u64,
    pub roles_index: u64,
    pub tokens_index: u64,
}

impl AclState {
    /// Enables ACLs (default deny) with the builtin policy and the anonymous token at `idx`.
    pub fn enable(&mut self, idx: u64) {
        self.enabled = true;
        self.default_deny = true;
        self.policies.insert(
            GLOBAL_MANAGEMENT_ID.to_string(),
            Policy {
                id: GLOBAL_MANAGEMENT_ID.to_string(),
                name: "global-management".to_string(),
                description: "Builtin Policy that grants unlimited access".to_string(),
                rules: GLOBAL_MANAGEMENT_RULES.to_string(),
                datacenters: Vec::new(),
                hash: content_hash(&["global-management", GLOBAL_MANAGEMENT_RULES]),
                create_index: idx,
                modify_index: idx,
            },
        );
        self.policies_index = idx;
        self.tokens.insert(
            ANONYMOUS_ACCESSOR.to_string(),
            Token {
                accessor: ANONYMOUS_ACCESSOR.to_string(),
                secret: ANONYMOUS_SECRET.to_string(),
                description: "Anonymous Token".to_string(),
                policies: Vec::new(),
                roles: Vec::new(),
                service_identities: Vec::new(),
                node_identities: Vec::new(),
                local: false,
                create_time: now_rfc3339(),
                hash: content_hash(&["Anonymous Token"]),
                create_index: idx,
                modify_index: idx,
            },
        );
        self.tokens_index = idx;
    }

    pub fn token_by_secret(&self, secret: &str) -> Option<&Token> {
        self.tokens.values().find(|t| t.secret == secret)
    }

    pub fn policy_by_name(&self, name: &str) -> Option<&Policy> {
        self.policies.values().find(|p| p.name == name)
    }

    pub fn role_by_name(&self, name: &str) -> Option<&Role> {
        self.roles.values().find(|r| r.name == name)
    }

    /// The authorizer of a token.
    pub fn authorizer(&self, token: &Token) -> Authorizer {
        let mut policy_ids: Vec<&String> = token.policies.iter().collect();
        let mut identities: Vec<&Value> = token.service_identities.iter().collect();
        let mut nodes: Vec<&Value> = token.node_identities.iter().collect();
        for rid in &token.roles {
            if let Some(r) = self.roles.get(rid) {
                policy_ids.extend(r.policies.iter());
                identities.extend(r.service_identities.iter());
                nodes.extend(r.node_identities.iter());
            }
        }
        let management = policy_ids.iter().any(|p| *p == GLOBAL_MANAGEMENT_ID);
        let mut rules = Rules::default();
        for pid in policy_ids {
            if let Some(p) = self.policies.get(pid) {
                if let Ok(r) = parse_rules(&p.rules) {
                    rules.merge_from(&r);
                }
            }
        }
        for si in identities {
            if let Some(name) = si.get("ServiceName").and_then(Value::as_str) {
                let mut r = Rules::default();
                r.exact
                    .insert(("service".into(), name.to_string()), Level::Write);
                r.exact.insert(
                    ("service".into(), format!("{name}-sidecar-proxy")),
                    Level::Write,
                );
                r.prefix
                    .insert(("service".into(), String::new()), Level::Read);
                r.prefix.insert(("node".into(), String::new()), Level::Read);
                // The identity's service rules grant intentions read (Consul's default).
                r.exact
                    .insert(("intention".into(), name.to_string()), Level::Read);
                r.exact.insert(
                    ("intention".into(), format!("{name}-sidecar-proxy")),
                    Level::Read,
                );
                r.prefix
                    .insert(("intention".into(), String::new()), Level::Read);
                rules.merge_from(&r);
            }
        }
        for ni in nodes {
            if let Some(name) = ni.get("NodeName").and_then(Value::as_str) {
                let mut r = Rules::default();
                r.exact
                    .insert(("node".into(), name.to_string()), Level::Write);
                r.prefix
                    .insert(("service".into(), String::new()), Level::Read);
                r.prefix
                    .insert(("intention".into(), String::new()), Level::Read);
                rules.merge_from(&r);
            }
        }
        Authorizer {
            accessor: token.accessor.clone(),
            management,
            default_allow: !self.default_deny,
            rules,
            enabled: self.enabled,
        }
    }

    pub fn policy_links(&self, ids: &[String]) -> Vec<Value> {
        ids.iter()
            .map(|id| {
                let name = self.policies.get(id).map(|p| p.name.clone());
                json!({"ID": id, "Name": name.unwrap_or_default()})
            })
            .collect()
    }

    pub fn role_links(&self, ids: &[String]) -> Vec<Value> {
        ids.iter()
            .map(|id| {
                let name = self.roles.get(id).map(|r| r.name.clone());
                json!({"ID": id, "Name": name.unwrap_or_default()})
            })
            .collect()
    }

    pub fn token_json(&self, t: &Token) -> Value {
        let mut v = json!({
            "AccessorID": t.accessor,
            "SecretID": t.secret,
            "Description": t.description,
            "Local": t.local,
            "CreateTime": t.create_time,
            "Hash": t.hash,
            "CreateIndex": t.create_index,
            "ModifyIndex": t.modify_index,
        });
        if !t.policies.is_empty() {
            v["Policies"] = json!(self.policy_links(&t.policies));
        }
        if !t.roles.is_empty() {
            v["Roles"] = json!(self.role_links(&t.roles));
        }
        if !t.service_identities.is_empty() {
            v["ServiceIdentities"] = json!(t.service_identities);
        }
        if !t.node_identities.is_empty() {
            v["NodeIdentities"] = json!(t.node_identities);
        }
        v
    }

    pub fn token_stub_json(&self, t: &Token) -> Value {
        let mut v = self.token_json(t);
        v["Legacy"] = json!(false);
        v
    }

    pub fn role_json(&self, r: &Role) -> Value {
        let mut v = json!({
            "ID": r.id,
            "Name": r.name,
            "Description": r.description,
            "Hash": r.hash,
            "CreateIndex": r.create_index,
            "ModifyIndex": r.modify_index,
        });
        if !r.policies.is_empty() {
            v["Policies"] = json!(self.policy_links(&r.policies));
        }
        if !r.service_identities.is_empty() {
            v["ServiceIdentities"] = json!(r.service_identities);
        }
        if !r.node_identities.is_empty() {
            v["NodeIdentities"] = json!(r.node_identities);
        }
        v
    }
}

pub fn policy_json(p: &Policy) -> Value {
    let mut v = json!({
        "ID": p.id,
        "Name": p.name,
        "Description": p.description,
        "Rules": p.rules,
        "Hash": p.hash,
        "CreateIndex": p.create_index,
        "ModifyIndex": p.modify_index,
    });
    if !p.datacenters.is_empty() {
        v["Datacenters"] = json!(p.datacenters);
    }
    v
}

pub fn policy_stub_json(p: &Policy) -> Value {
    let mut v = policy_json(p);
    if let Value::Object(m) = &mut v {
        m.remove("Rules");
    }
    v
}

/// What a token may do.
#[derive(Debug, Clone)]
pub struct Authorizer {
    pub accessor: String,
    pub management: bool,
    pub default_allow: bool,
    pub enabled: bool,
    rules: Rules,
}

impl Authorizer {
    /// An authorizer that allows everything (ACLs disabled).
    pub fn allow_all() -> Authorizer {
        Authorizer {
            accessor: String::new(),
            management: true,
            default_allow: true,
            enabled: false,
            rules: Rules::default(),
        }
    }

    fn default_level(&self) -> Level {
        if self.default_allow {
            Level::Write
        } else {
            Level::Deny
        }
    }

    /// Whether `resource:want` is allowed on `name` (segmented resources).
    pub fn allowed(&self, resource: &str, name: &str, want: Level) -> bool {
        if self.management {
            return true;
        }
        self.rules
            .level(resource, name)
            .unwrap_or_else(|| self.default_level())
            .allows(want)
    }

    /// Whether the global `resource:want` is allowed (`acl`, `operator`, ...).
    pub fn allowed_global(&self, resource: &str, want: Level) -> bool {
        if self.management {
            return true;
        }
        self.rules
            .global
            .get(resource)
            .copied()
            .unwrap_or_else(|| self.default_level())
            .allows(want)
    }

    /// Consul `MeshRead`/`MeshWrite`: the `mesh` rule, else the `operator` rule, else the default.
    pub fn mesh_allowed(&self, want: Level) -> bool {
        if self.management {
            return true;
        }
        self.rules
            .global
            .get("mesh")
            .or_else(|| self.rules.global.get("operator"))
            .copied()
            .unwrap_or_else(|| self.default_level())
            .allows(want)
    }

    /// Consul `KeyWritePrefix`: write on the prefix, and no rule under it that denies write.
    pub fn key_write_prefix(&self, prefix: &str) -> bool {
        if self.management {
            return true;
        }
        if !self.allowed("key", prefix, Level::Write) {
            return false;
        }
        let under = |((r, p), l): (&(String, String), &Level)| {
            r == "key" && p.starts_with(prefix) && p.len() > prefix.len() && *l != Level::Write
        };
        !self.rules.prefix.iter().any(under) && !self.rules.exact.iter().any(under)
    }

    /// Consul's 403 text for a missing permission.
    pub fn denied(&self, resource: &str, want: Level, name: Option<&str>) -> String {
        let lvl = match want {
            Level::Deny => "deny",
            Level::Read => "read",
            Level::List => "list",
            Level::Write => "write",
        };
        let on = name.map(|n| format!(" on {n:?}")).unwrap_or_default();
        if self.accessor == ANONYMOUS_ACCESSOR {
            format!("Permission denied: anonymous token lacks permission '{resource}:{lvl}'{on}. The anonymous token is used implicitly when a request does not specify a token.")
        } else {
            format!(
                "Permission denied: token with AccessorID '{}' lacks permission '{resource}:{lvl}'{on}",
                self.accessor
            )
        }
    }
}

/// A stable content hash, base64 like Consul's `Hash` fields.
pub fn content_hash(parts: &[&str]) -> String {
    use base64::Engine as _;
    use std::hash::{Hash, Hasher};
    let mut out = Vec::new();
    for seed in 0u64..4 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        parts.hash(&mut h);
        out.extend_from_slice(&h.finish().to_be_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// The current time in RFC 3339 (UTC, nanoseconds).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hcl_and_json_rules() {
        let r = parse_rules(
            "key_prefix \"app/\" { policy = \"write\" }\nkey_prefix \"app/secret/\" { policy = \"deny\" }\nkey \"x\" { policy = \"read\" }\nservice \"web\" { policy = \"write\" }\noperator = \"read\"",
        )
        .expect("parse");
        assert_eq!(r.level("key", "app/a"), Some(Level::Write));
        assert_eq!(r.level("key", "app/secret/a"), Some(Level::Deny));
        assert_eq!(r.level("key", "x"), Some(Level::Read));
        assert_eq!(r.level("key", "other"), None);
        assert_eq!(r.level("service", "web"), Some(Level::Write));
        assert_eq!(r.global.get("operator"), Some(&Level::Read));
        let j = parse_rules(r#"{"key_prefix":{"app/":{"policy":"write"}}}"#).expect("json");
        assert_eq!(j.level("key", "app/x"), Some(Level::Write));
        assert!(parse_rules("key_prefix \"a\" { policy = \"bogus\" }").is_err());
        assert!(parse_rules("key_prefix \"a\" {").is_err());
        assert!(parse_rules("foo \"a\" { policy = \"read\" }").is_err());
        assert!(parse_rules(GLOBAL_MANAGEMENT_RULES).is_ok());
    }
}
