//! A Go text/template subset with consul-template's data functions, enough for Nomad
//! jobspec templates: actions, `if`/`else if`/`else`, `range` (with `$k, $v :=`), `with`,
//! variables, pipelines, parentheses, `{{-`/`-}}` trimming and comments.
//!
//! Rendering works like consul-template's runner: a pass records the dependencies
//! (`secret`, `service`, `key`) it has no data for, they are fetched, and the template is
//! rendered again until nothing is missing.

use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::TaskEnvironment;

pub(crate) struct Ctx {
    pub(crate) env: TaskEnvironment,
    pub(crate) lookup_env: BTreeMap<String, String>,
    pub(crate) vault_token: Option<String>,
    /// The task's default identity JWT, the token of `nomadVar` reads.
    pub(crate) nomad_token: Option<String>,
    /// The job's namespace (where `nomadVar` looks).
    pub(crate) namespace: String,
}

/// Dependencies fetched so far, by consul-template's dependency string.
type Cache = HashMap<String, Result<Value, String>>;

#[derive(Debug, Clone, PartialEq)]
enum Dep {
    VaultRead(String),
    VaultWrite(String, Map<String, Value>),
    Health {
        name: String,
        tag: String,
        dc: String,
        passing: bool,
    },
    Kv(String),
    NomadVar(String),
    NomadVarList(String),
}

impl Dep {
    /// consul-template's `String()` of the dependency (the prefix of its errors).
    fn key(&self) -> String {
        match self {
            Dep::VaultRead(p) => format!("vault.read({p})"),
            Dep::VaultWrite(p, data) => {
                let body = serde_json::to_string(data).unwrap_or_default();
                // Errors show only the path; the key also distinguishes payloads.
                format!("vault.write({p} -> {:x})", fnv(body.as_bytes()))
            }
            Dep::Health {
                name,
                tag,
                dc,
                passing,
            } => {
                let mut s = String::new();
                if !tag.is_empty() {
                    s.push_str(tag);
                    s.push('.');
                }
                s.push_str(name);
                if !dc.is_empty() {
                    s.push('@');
                    s.push_str(dc);
                }
                s.push('|');
                s.push_str(if *passing { "passing" } else { "any" });
                format!("health.service({s})")
            }
            Dep::Kv(p) => format!("kv.get({p})"),
            Dep::NomadVar(p) => format!("nomad.var.get({p})"),
            Dep::NomadVarList(p) => format!("nomad.var.list({p})"),
        }
    }

    /// The prefix errors carry (without payload digests).
    fn label(&self) -> String {
        match self {
            Dep::VaultWrite(p, _) => format!("vault.write({p})"),
            d => d.key(),
        }
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, c| {
        (h ^ u64::from(*c)).wrapping_mul(0x100000001b3)
    })
}

impl Ctx {
    pub(crate) async fn render(
        &self,
        src: &str,
        left: &str,
        right: &str,
        err_missing_key: bool,
    ) -> Result<String, String> {
        let nodes = parse(src, left, right)?;
        let mut cache = Cache::new();
        // Each pass can only reveal dependencies nested inside data fetched by the previous
        // one, so a handful of passes covers any real template.
        for _ in 0..16 {
            let mut ex = Exec {
                ctx: self,
                cache: &cache,
                missing: Vec::new(),
                vars: vec![("$".to_string(), Value::Null)],
                err_missing_key,
                out: String::new(),
            };
            ex.walk(&nodes, &Value::Null)?;
            let missing = std::mem::take(&mut ex.missing);
            let out = ex.out;
            if missing.is_empty() {
                return Ok(out);
            }
            for dep in missing {
                let k = dep.key();
                if cache.contains_key(&k) {
                    continue;
                }
                let label = dep.label();
                let v = self
                    .fetch(&dep)
                    .await
                    // The watcher's view prefixes the dependency's own wrapped error.
                    .map_err(|e| format!("{label}: {label}: {e}"));
                cache.insert(k, v);
            }
        }
        Err("template dependencies did not settle".into())
    }

    async fn fetch(&self, dep: &Dep) -> Result<Value, String> {
        match dep {
            Dep::VaultRead(p) => self.vault_read(p).await,
            Dep::VaultWrite(p, data) => self.vault_write(p, data).await,
            Dep::Health {
                name,
                tag,
                dc,
                passing,
            } => self.health(name, tag, dc, *passing).await,
            Dep::Kv(p) => self.kv(p).await,
            Dep::NomadVar(p) => self.nomad_var(p).await,
            Dep::NomadVarList(p) => self.nomad_var_list(p).await,
        }
    }

    /// A Nomad API read with the task's identity; `Ok(None)` on 404, the Nomad API
    /// client's error otherwise.
    async fn nomad_get(&self, path: &str, query: &[(&str, &str)]) -> Result<Option<Value>, String> {
        let addr = self
            .env
            .nomad_addr
            .as_deref()
            .ok_or_else(|| "nomad address is not configured".to_string())?;
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        let mut r = self
            .env
            .http
            .get(format!("{}{path}?{qs}", addr.trim_end_matches('/')));
        if let Some(t) = &self.nomad_token {
            r = r.header("X-Nomad-Token", t);
        }
        let resp = r.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        match status {
            200 => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| e.to_string()),
            404 => Ok(None),
            _ => Err(format!("Unexpected response code: {status} ({text})")),
        }
    }

    /// `nomadVar "path[@namespace]"`: the variable's items.
    async fn nomad_var(&self, spec: &str) -> Result<Value, String> {
        let (path, ns) = match spec.split_once('@') {
            Some((p, n)) => (p, n.split('.').next().unwrap_or(n)),
            None => (spec, self.namespace.as_str()),
        };
        let v = self
            .nomad_get(
                &format!("/v1/var/{}", path.trim_matches('/')),
                &[("namespace", ns)],
            )
            .await?;
        Ok(v.map(|v| v["Items"].clone()).unwrap_or(Value::Null))
    }

    /// `nomadVarList "prefix"`: metadata of the variables under it.
    async fn nomad_var_list(&self, spec: &str) -> Result<Value, String> {
        let (prefix, ns) = match spec.split_once('@') {
            Some((p, n)) => (p, n.split('.').next().unwrap_or(n)),
            None => (spec, self.namespace.as_str()),
        };
        let v = self
            .nomad_get("/v1/vars", &[("prefix", prefix), ("namespace", ns)])
            .await?;
        Ok(v.unwrap_or_else(|| json!([])))
    }

    fn vault_addr(&self) -> Result<&str, String> {
        self.env
            .vault_addr
            .as_deref()
            .map(|a| a.trim_end_matches('/'))
            .ok_or_else(|| "vault is not configured on this client".to_string())
    }

    fn vault_req(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut r = self.env.http.request(method, url);
        if let Some(t) = &self.vault_token {
            r = r.header("X-Vault-Token", t);
        }
        r
    }

    /// consul-template's KV v2 shim: `secret "kv/x"` on a v2 mount reads `kv/data/x`.
    async fn kv2_path(&self, addr: &str, raw: &str) -> String {
        let (path, query) = match raw.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (raw, None),
        };
        let url = format!("{addr}/v1/sys/internal/ui/mounts/{path}");
        let Ok(Some(v)) =
            super::vault_call(self.vault_req(reqwest::Method::GET, &url), "GET", &url).await
        else {
            return raw.to_string();
        };
        let mount = v
            .pointer("/data/path")
            .and_then(Value::as_str)
            .unwrap_or("");
        let version = v
            .pointer("/data/options/version")
            .and_then(Value::as_str)
            .unwrap_or("");
        if mount.is_empty() || version != "2" {
            return raw.to_string();
        }
        let shimmed = if path == mount || path == mount.trim_end_matches('/') {
            format!("{}/data", mount.trim_end_matches('/'))
        } else {
            let rest = path.strip_prefix(mount).unwrap_or(path);
            if rest.starts_with("data/") || rest.starts_with("metadata/") {
                path.to_string()
            } else {
                format!("{}/data/{rest}", mount.trim_end_matches('/'))
            }
        };
        match query {
            Some(q) => format!("{shimmed}?{q}"),
            None => shimmed,
        }
    }

    async fn vault_read(&self, raw: &str) -> Result<Value, String> {
        let addr = self.vault_addr()?;
        let path = self.kv2_path(addr, raw.trim_start_matches('/')).await;
        let url = format!("{addr}/v1/{path}");
        let body =
            super::vault_call(self.vault_req(reqwest::Method::GET, &url), "GET", &url).await?;
        Ok(body.map(secret_value).unwrap_or(Value::Null))
    }

    async fn vault_write(&self, raw: &str, data: &Map<String, Value>) -> Result<Value, String> {
        let addr = self.vault_addr()?;
        let url = format!("{addr}/v1/{}", raw.trim_start_matches('/'));
        let body = super::vault_call(
            self.vault_req(reqwest::Method::PUT, &url).json(data),
            "PUT",
            &url,
        )
        .await?;
        Ok(body.map(secret_value).unwrap_or(Value::Null))
    }

    fn consul(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        let addr = self
            .env
            .consul_addr
            .as_deref()
            .ok_or_else(|| "consul is not configured on this client".to_string())?;
        let mut r = self
            .env
            .http
            .get(format!("{}{url}", addr.trim_end_matches('/')));
        if let Some(t) = self.env.consul_token.as_deref().filter(|t| !t.is_empty()) {
            r = r.header("X-Consul-Token", t);
        }
        Ok(r)
    }

    /// Sends a Consul read; `Ok(None)` on 404, the Consul API client's error otherwise.
    async fn consul_get(&self, url: &str) -> Result<Option<Value>, String> {
        let resp = self.consul(url)?.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        match status {
            200 => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| e.to_string()),
            404 => Ok(None),
            _ => Err(format!("Unexpected response code: {status} ({text})")),
        }
    }

    async fn health(
        &self,
        name: &str,
        tag: &str,
        dc: &str,
        passing: bool,
    ) -> Result<Value, String> {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut url = format!("/v1/health/service/{}?stale=", enc(name));
        if passing {
            url.push_str("&passing=1");
        }
        if !tag.is_empty() {
            url.push_str(&format!("&tag={}", enc(tag)));
        }
        if !dc.is_empty() {
            url.push_str(&format!("&dc={}", enc(dc)));
        }
        let entries = self.consul_get(&url).await?.unwrap_or(Value::Null);
        let mut list: Vec<Value> = entries
            .as_array()
            .map(|a| a.iter().map(health_service).collect())
            .unwrap_or_default();
        // consul-template sorts by node, then service ID.
        list.sort_by(|a, b| {
            let k = |v: &Value| {
                (
                    v["Node"].as_str().unwrap_or("").to_string(),
                    v["ID"].as_str().unwrap_or("").to_string(),
                )
            };
            k(a).cmp(&k(b))
        });
        Ok(Value::Array(list))
    }

    async fn kv(&self, path: &str) -> Result<Value, String> {
        let (key, dc) = match path.split_once('@') {
            Some((k, d)) => (k, d),
            None => (path, ""),
        };
        let mut url = format!("/v1/kv/{}", key.trim_start_matches('/'));
        if !dc.is_empty() {
            url.push_str(&format!("?dc={dc}"));
        }
        let Some(v) = self.consul_get(&url).await? else {
            return Ok(Value::Null);
        };
        let raw = v
            .pointer("/0/Value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bytes = STANDARD.decode(raw).map_err(|e| e.to_string())?;
        Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// consul-template's `Secret` (PascalCase top level, Vault's `data` as is).
fn secret_value(body: Value) -> Value {
    json!({
        "RequestID": body.get("request_id").cloned().unwrap_or(json!("")),
        "LeaseID": body.get("lease_id").cloned().unwrap_or(json!("")),
        "LeaseDuration": body.get("lease_duration").cloned().unwrap_or(json!(0)),
        "Renewable": body.get("renewable").cloned().unwrap_or(json!(false)),
        "Data": body.get("data").cloned().filter(|d| !d.is_null()).unwrap_or(json!({})),
        "Warnings": body.get("warnings").cloned().filter(|d| !d.is_null()).unwrap_or(json!([])),
        "Auth": body.get("auth").cloned().unwrap_or(Value::Null),
        "WrapInfo": body.get("wrap_info").cloned().unwrap_or(Value::Null),
    })
}

/// consul-template's `HealthService` from a `/v1/health/service` entry.
fn health_service(e: &Value) -> Value {
    let node = &e["Node"];
    let svc = &e["Service"];
    let checks = e["Checks"].as_array().cloned().unwrap_or_default();
    let status = if checks.iter().any(|c| c["Status"] == "critical") {
        "critical"
    } else if checks.iter().any(|c| c["Status"] == "warning") {
        "warning"
    } else {
        "passing"
    };
    let address = match svc["Address"].as_str() {
        Some(a) if !a.is_empty() => a.to_string(),
        _ => node["Address"].as_str().unwrap_or("").to_string(),
    };
    let mut tags: Vec<Value> = Vec::new();
    for t in svc["Tags"].as_array().cloned().unwrap_or_default() {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    json!({
        "Node": node["Node"],
        "NodeID": node["ID"],
        "Kind": svc["Kind"].as_str().unwrap_or(""),
        "NodeAddress": node["Address"],
        "NodeDatacenter": node["Datacenter"],
        "NodeTaggedAddresses": node["TaggedAddresses"],
        "NodeMeta": node["Meta"],
        "ServiceMeta": svc["Meta"],
        "Address": address,
        "ServiceTaggedAddresses": svc["TaggedAddresses"],
        "ID": svc["ID"],
        "Name": svc["Service"],
        "Tags": tags,
        "Checks": checks,
        "Status": status,
        "Port": svc["Port"],
        "Weights": svc["Weights"],
        "Namespace": svc["Namespace"].as_str().unwrap_or(""),
    })
}

// ---------------------------------------------------------------------------------------
// Parsing

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    With(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    /// `=` (assign to an existing variable) rather than `:=`.
    assign: bool,
    cmds: Vec<Vec<Arg>>,
    /// Source text, for error messages.
    text: String,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (empty: `.`).
    Field(Vec<String>),
    /// `$x.A.B`.
    Var(String, Vec<String>),
    Ident(String),
    Lit(Value),
    /// `(pipeline).A.B`.
    Sub(Box<Pipe>, Vec<String>),
}

/// A lexed action or text run.
enum Item {
    Text(String),
    Action(String, usize),
}

fn line_of(src: &str, pos: usize) -> usize {
    src[..pos.min(src.len())].matches('\n').count() + 1
}

fn lex(src: &str, left: &str, right: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    while pos < src.len() {
        let Some(off) = src[pos..].find(left) else {
            let mut t = &src[pos..];
            if trim_next {
                t = t.trim_start();
            }
            items.push(Item::Text(t.to_string()));
            break;
        };
        let start = pos + off;
        let mut text = &src[pos..start];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner_start = start + left.len();
        let after = &src[inner_start..];
        let trim_left = after.starts_with("- ")
            || after.starts_with("-\t")
            || after.starts_with("-\n")
            || after.starts_with("-\r");
        if trim_left {
            text = text.trim_end();
            inner_start += 1;
        }
        items.push(Item::Text(text.to_string()));
        // Find the closing delimiter outside quotes.
        let bytes = src.as_bytes();
        let mut i = inner_start;
        let mut quote: Option<u8> = None;
        let end = loop {
            if i >= src.len() {
                return Err(format!(
                    "template: :{}: unclosed action",
                    line_of(src, start)
                ));
            }
            let c = bytes[i];
            match quote {
                Some(q) => {
                    if c == b'\\' && q != b'`' {
                        i += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None => {
                    if c == b'"' || c == b'`' || c == b'\'' {
                        quote = Some(c);
                    } else if src[i..].starts_with(right) {
                        break i;
                    }
                }
            }
            i += 1;
        };
        let mut inner = &src[inner_start..end];
        trim_next = false;
        if inner.ends_with(" -")
            || inner.ends_with("\t-")
            || inner.ends_with("\n-")
            || inner.ends_with("\r-")
        {
            inner = &inner[..inner.len() - 1];
            trim_next = true;
        }
        let trimmed = inner.trim();
        if !(trimmed.starts_with("/*") && trimmed.ends_with("*/")) {
            items.push(Item::Action(trimmed.to_string(), line_of(src, start)));
        }
        pos = end + right.len();
    }
    Ok(items)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Lit(Value),
    Pipe,
    LParen,
    RParen(Vec<String>),
    Declare,
    Assign,
    Comma,
}

fn field_chain(s: &[char], i: &mut usize) -> Vec<String> {
    let mut chain = Vec::new();
    while *i < s.len() && s[*i] == '.' {
        *i += 1;
        let st = *i;
        while *i < s.len() && (s[*i].is_alphanumeric() || s[*i] == '_') {
            *i += 1;
        }
        if *i == st {
            break;
        }
        chain.push(s[st..*i].iter().collect());
    }
    chain
}

fn tokenize(action: &str) -> Result<Vec<Tok>, String> {
    let s: Vec<char> = action.chars().collect();
    let mut i = 0;
    let mut toks = Vec::new();
    while i < s.len() {
        let c = s[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                i += 1;
                toks.push(Tok::RParen(field_chain(&s, &mut i)));
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            ':' if s.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            '.' => {
                let chain = field_chain(&s, &mut i);
                if chain.is_empty() {
                    // A lone `.`.
                    if i < s.len() && s[i] == '.' {
                        i += 1;
                    }
                }
                toks.push(Tok::Field(chain));
            }
            '$' => {
                let st = i;
                i += 1;
                while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                    i += 1;
                }
                let name: String = s[st..i].iter().collect();
                toks.push(Tok::Var(name, field_chain(&s, &mut i)));
            }
            '"' => {
                i += 1;
                let mut out = String::new();
                loop {
                    let Some(&ch) = s.get(i) else {
                        return Err("unterminated quoted string".into());
                    };
                    i += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let e = s.get(i).copied().unwrap_or('\\');
                            i += 1;
                            out.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                        }
                        other => out.push(other),
                    }
                }
                toks.push(Tok::Lit(Value::String(out)));
            }
            '`' => {
                i += 1;
                let st = i;
                while i < s.len() && s[i] != '`' {
                    i += 1;
                }
                if i >= s.len() {
                    return Err("unterminated raw quoted string".into());
                }
                toks.push(Tok::Lit(Value::String(s[st..i].iter().collect())));
                i += 1;
            }
            '\'' => {
                let ch = s.get(i + 1).copied().unwrap_or('\0');
                if s.get(i + 2) != Some(&'\'') {
                    return Err("malformed character constant".into());
                }
                toks.push(Tok::Lit(json!(ch as u32)));
                i += 3;
            }
            c if c.is_ascii_digit()
                || (c == '-' && s.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let st = i;
                i += 1;
                while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == '.' || s[i] == '_') {
                    i += 1;
                }
                let lit: String = s[st..i].iter().collect();
                let v = if let Ok(n) = lit.parse::<i64>() {
                    json!(n)
                } else if let Ok(f) = lit.parse::<f64>() {
                    json!(f)
                } else {
                    return Err(format!("bad number syntax: {lit:?}"));
                };
                toks.push(Tok::Lit(v));
            }
            c if c.is_alphabetic() || c == '_' => {
                let st = i;
                while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                    i += 1;
                }
                let word: String = s[st..i].iter().collect();
                toks.push(match word.as_str() {
                    "true" => Tok::Lit(json!(true)),
                    "false" => Tok::Lit(json!(false)),
                    "nil" => Tok::Lit(Value::Null),
                    _ => Tok::Ident(word),
                });
            }
            other => return Err(format!("unexpected {other:?} in command")),
        }
    }
    Ok(toks)
}

fn parse_pipe(text: &str, toks: &[Tok]) -> Result<Pipe, String> {
    let mut rest = toks;
    let mut decl = Vec::new();
    let mut assign = false;
    // `$x :=`, `$k, $v :=` or `$x =`.
    let decl_at = toks
        .iter()
        .position(|t| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(p) = decl_at {
        let head = &toks[..p];
        let names: Vec<String> = head
            .iter()
            .filter_map(|t| match t {
                Tok::Var(n, chain) if chain.is_empty() => Some(n.clone()),
                _ => None,
            })
            .collect();
        let commas = head.iter().filter(|t| **t == Tok::Comma).count();
        if !names.is_empty() && names.len() == commas + 1 && head.len() == names.len() + commas {
            decl = names;
            assign = toks[p] == Tok::Assign;
            rest = &toks[p + 1..];
        }
    }
    let mut pos = 0;
    let cmds = parse_cmds(rest, &mut pos, false)?;
    if pos != rest.len() {
        return Err(format!("unexpected {:?} in operand", rest[pos]));
    }
    if cmds.is_empty() {
        return Err(format!("missing value for command in {text:?}"));
    }
    Ok(Pipe {
        decl,
        assign,
        cmds,
        text: text.to_string(),
    })
}

fn parse_cmds(toks: &[Tok], pos: &mut usize, nested: bool) -> Result<Vec<Vec<Arg>>, String> {
    let mut cmds = Vec::new();
    let mut cur: Vec<Arg> = Vec::new();
    while *pos < toks.len() {
        match &toks[*pos] {
            Tok::Pipe => {
                if cur.is_empty() {
                    return Err("missing command before |".into());
                }
                cmds.push(std::mem::take(&mut cur));
                *pos += 1;
            }
            Tok::RParen(_) if nested => break,
            Tok::RParen(_) => return Err("unexpected right paren".into()),
            Tok::LParen => {
                *pos += 1;
                let inner = parse_cmds(toks, pos, true)?;
                let Some(Tok::RParen(chain)) = toks.get(*pos) else {
                    return Err("unclosed left paren".into());
                };
                *pos += 1;
                if inner.is_empty() {
                    return Err("missing value in parentheses".into());
                }
                cur.push(Arg::Sub(
                    Box::new(Pipe {
                        decl: Vec::new(),
                        assign: false,
                        cmds: inner,
                        text: String::new(),
                    }),
                    chain.clone(),
                ));
            }
            Tok::Field(c) => {
                cur.push(Arg::Field(c.clone()));
                *pos += 1;
            }
            Tok::Var(n, c) => {
                cur.push(Arg::Var(n.clone(), c.clone()));
                *pos += 1;
            }
            Tok::Ident(n) => {
                cur.push(Arg::Ident(n.clone()));
                *pos += 1;
            }
            Tok::Lit(v) => {
                cur.push(Arg::Lit(v.clone()));
                *pos += 1;
            }
            t => return Err(format!("unexpected {t:?} in command")),
        }
    }
    if !cur.is_empty() {
        cmds.push(cur);
    }
    Ok(cmds)
}

fn parse(src: &str, left: &str, right: &str) -> Result<Vec<Node>, String> {
    let items = lex(src, left, right)?;
    let mut it = items.into_iter().peekable();
    let (nodes, term) = parse_list(&mut it)?;
    match term {
        None => Ok(nodes),
        Some((t, line)) => Err(format!("template: :{line}: unexpected {{{{{t}}}}}")),
    }
}

type Items = std::iter::Peekable<std::vec::IntoIter<Item>>;

/// An `end` / `else...` action that closed a list, with its line.
type Terminator = Option<(String, usize)>;

/// Parses nodes until `end` / `else...` (returned as the terminator with its line).
fn parse_list(it: &mut Items) -> Result<(Vec<Node>, Terminator), String> {
    let mut nodes = Vec::new();
    while let Some(item) = it.next() {
        let (action, line) = match item {
            Item::Text(t) => {
                if !t.is_empty() {
                    nodes.push(Node::Text(t));
                }
                continue;
            }
            Item::Action(a, l) => (a, l),
        };
        let err = |e: String| format!("template: :{line}: {e}");
        let (word, rest) = match action.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (action.as_str(), ""),
        };
        match word {
            "end" | "else" => return Ok((nodes, Some((action.clone(), line)))),
            "if" | "with" => {
                let mut branches = Vec::new();
                let mut cond = rest.to_string();
                let else_body;
                loop {
                    let pipe = parse_pipe(&cond, &tokenize(&cond).map_err(err)?).map_err(err)?;
                    let (body, term) = parse_list(it)?;
                    branches.push((pipe, body));
                    let Some((t, tline)) = term else {
                        return Err(format!("template: :{line}: unexpected EOF"));
                    };
                    if t == "end" {
                        else_body = Vec::new();
                        break;
                    }
                    let after = t.strip_prefix("else").unwrap_or("").trim();
                    if let Some(c) = after
                        .strip_prefix(word)
                        .filter(|c| c.starts_with(char::is_whitespace))
                    {
                        // `else if` / `else with` chains into the same node.
                        cond = c.trim().to_string();
                        continue;
                    }
                    if !after.is_empty() {
                        return Err(format!("template: :{tline}: unexpected {{{{{t}}}}}"));
                    }
                    let (body, term) = parse_list(it)?;
                    match term {
                        Some((t, _)) if t == "end" => {}
                        _ => return Err(format!("template: :{tline}: expected end")),
                    }
                    else_body = body;
                    break;
                }
                nodes.push(if word == "if" {
                    Node::If(branches, else_body)
                } else {
                    Node::With(branches, else_body)
                });
            }
            "range" => {
                let pipe = parse_pipe(rest, &tokenize(rest).map_err(err)?).map_err(err)?;
                let (body, term) = parse_list(it)?;
                let else_body = match term {
                    Some((t, _)) if t == "end" => Vec::new(),
                    Some((t, tline)) if t == "else" => {
                        let (b, term2) = parse_list(it)?;
                        match term2 {
                            Some((t, _)) if t == "end" => b,
                            _ => return Err(format!("template: :{tline}: expected end")),
                        }
                    }
                    _ => return Err(format!("template: :{line}: unexpected EOF in range")),
                };
                nodes.push(Node::Range(pipe, body, else_body));
            }
            "template" | "define" | "block" | "break" | "continue" => {
                return Err(format!(
                    "template: :{line}: {word:?} is not supported by the simulator"
                ));
            }
            _ => {
                let pipe = parse_pipe(&action, &tokenize(&action).map_err(err)?).map_err(err)?;
                nodes.push(Node::Action(pipe));
            }
        }
    }
    Ok((nodes, None))
}

// ---------------------------------------------------------------------------------------
// Execution

struct Exec<'a> {
    ctx: &'a Ctx,
    cache: &'a Cache,
    missing: Vec<Dep>,
    vars: Vec<(String, Value)>,
    err_missing_key: bool,
    out: String,
}

fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Go's `fmt.Sprint` of a decoded JSON value.
fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_inner).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", go_inner(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn go_inner(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        other => go_print(other),
    }
}

impl Exec<'_> {
    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<(), String> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        self.out.push_str(&go_print(&v));
                    }
                }
                Node::If(branches, else_body) | Node::With(branches, else_body) => {
                    let is_with = matches!(n, Node::With(..));
                    let depth = self.vars.len();
                    let mut done = false;
                    for (p, body) in branches {
                        let v = self.pipe(p, dot)?;
                        if truth(&v) {
                            let d = if is_with { v } else { dot.clone() };
                            self.walk(body, &d)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.walk(else_body, dot)?;
                    }
                    self.vars.truncate(depth);
                }
                Node::Range(p, body, else_body) => {
                    let depth = self.vars.len();
                    let mut bare = p.clone();
                    let names = std::mem::take(&mut bare.decl);
                    let v = self.pipe(&bare, dot)?;
                    let pairs: Vec<(Value, Value)> = match &v {
                        Value::Array(a) => a
                            .iter()
                            .enumerate()
                            .map(|(i, e)| (json!(i), e.clone()))
                            .collect(),
                        Value::Object(o) => {
                            // Go ranges over maps in sorted key order.
                            let mut keys: Vec<&String> = o.keys().collect();
                            keys.sort();
                            keys.into_iter().map(|k| (json!(k), o[k].clone())).collect()
                        }
                        Value::Null => Vec::new(),
                        Value::Number(n) if n.as_u64().is_some() => (0..n.as_u64().unwrap_or(0))
                            .map(|i| (json!(i), json!(i)))
                            .collect(),
                        other => {
                            // Go prints the value here; it may be a secret, so name
                            // only its type.
                            return Err(format!(
                                "template: range can't iterate over value of type {}",
                                match other {
                                    Value::String(_) => "string",
                                    Value::Bool(_) => "bool",
                                    _ => "float64",
                                }
                            ));
                        }
                    };
                    if pairs.is_empty() {
                        self.walk(else_body, dot)?;
                    }
                    for (k, e) in pairs {
                        match names.len() {
                            0 => {}
                            1 => self.vars.push((names[0].clone(), e.clone())),
                            _ => {
                                self.vars.push((names[0].clone(), k));
                                self.vars.push((names[1].clone(), e.clone()));
                            }
                        }
                        self.walk(body, &e)?;
                        self.vars.truncate(depth);
                    }
                }
            }
        }
        Ok(())
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Result<Value, String> {
        let mut prev: Option<Value> = None;
        for cmd in &p.cmds {
            prev = Some(self.cmd(cmd, dot, prev, &p.text)?);
        }
        let v = prev.unwrap_or(Value::Null);
        if let Some(name) = p.decl.first() {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(format!("template: undefined variable: {name}")),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn field(&self, mut v: Value, chain: &[String], text: &str) -> Result<Value, String> {
        for f in chain {
            v = match v {
                Value::Object(mut o) => match o.remove(f) {
                    Some(x) => x,
                    None if self.err_missing_key => {
                        return Err(format!(
                            "template: executing at <{text}>: map has no entry for key {f:?}"
                        ))
                    }
                    None => Value::Null,
                },
                // consul-template hands unfetched data to the template as empty values.
                Value::Null => Value::Null,
                other => {
                    return Err(format!(
                        "template: executing at <{text}>: can't evaluate field {f} in type {}",
                        match other {
                            Value::String(_) => "string",
                            Value::Array(_) => "[]interface {}",
                            Value::Bool(_) => "bool",
                            _ => "float64",
                        }
                    ))
                }
            };
        }
        Ok(v)
    }

    fn arg(&mut self, a: &Arg, dot: &Value, text: &str) -> Result<Value, String> {
        match a {
            Arg::Field(chain) => self.field(dot.clone(), chain, text),
            Arg::Var(name, chain) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("template: undefined variable: {name}"))?;
                self.field(v, chain, text)
            }
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Ident(name) => self.call(name, Vec::new(), text),
            Arg::Sub(p, chain) => {
                let v = self.pipe(p, dot)?;
                self.field(v, chain, text)
            }
        }
    }

    fn cmd(
        &mut self,
        cmd: &[Arg],
        dot: &Value,
        prev: Option<Value>,
        text: &str,
    ) -> Result<Value, String> {
        let Some(first) = cmd.first() else {
            return Ok(Value::Null);
        };
        if let Arg::Ident(name) = first {
            let mut args = Vec::new();
            for a in &cmd[1..] {
                args.push(self.arg(a, dot, text)?);
            }
            args.extend(prev);
            return self.call(name, args, text);
        }
        if cmd.len() > 1 || prev.is_some() {
            return Err(format!(
                "template: executing at <{text}>: can't give argument to non-function"
            ));
        }
        self.arg(first, dot, text)
    }

    /// A dependency's value: fetched data, or `Null` after recording it as missing.
    fn dep(&mut self, d: Dep) -> Result<Value, String> {
        match self.cache.get(&d.key()) {
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(e)) => Err(e.clone()),
            None => {
                if !self.missing.contains(&d) {
                    self.missing.push(d);
                }
                Ok(Value::Null)
            }
        }
    }

    fn call(&mut self, name: &str, args: Vec<Value>, text: &str) -> Result<Value, String> {
        let s = |i: usize| -> String {
            match args.get(i) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => go_inner(v),
                None => String::new(),
            }
        };
        let need = |n: usize| -> Result<(), String> {
            if args.len() < n {
                Err(format!(
                    "template: executing at <{text}>: wrong number of args for {name}: want {n} got {}",
                    args.len()
                ))
            } else {
                Ok(())
            }
        };
        match name {
            "secret" => {
                need(1)?;
                let path = s(0);
                if args.len() > 1 {
                    let mut data = Map::new();
                    for a in &args[1..] {
                        let a = match a {
                            Value::String(s) => s.clone(),
                            v => go_inner(v),
                        };
                        let (k, v) = a.split_once('=').unwrap_or((a.as_str(), ""));
                        data.insert(k.to_string(), json!(v));
                    }
                    self.dep(Dep::VaultWrite(path, data))
                } else {
                    self.dep(Dep::VaultRead(path))
                }
            }
            "service" => {
                need(1)?;
                let spec = s(0);
                let (spec, dc) = match spec.split_once('@') {
                    Some((a, b)) => (a.to_string(), b.to_string()),
                    None => (spec, String::new()),
                };
                let (tag, name) = match spec.rsplit_once('.') {
                    Some((t, n)) => (t.to_string(), n.to_string()),
                    None => (String::new(), spec),
                };
                let passing = !args[1..].iter().any(|a| {
                    a.as_str()
                        .is_some_and(|f| f.split(',').any(|x| x.trim() == "any"))
                });
                let v = self.dep(Dep::Health {
                    name,
                    tag,
                    dc,
                    passing,
                })?;
                Ok(if v.is_null() { json!([]) } else { v })
            }
            "key" => {
                need(1)?;
                let v = self.dep(Dep::Kv(s(0)))?;
                Ok(if v.is_null() { json!("") } else { v })
            }
            "keyOrDefault" => {
                need(2)?;
                let v = self.dep(Dep::Kv(s(0)))?;
                Ok(if v.is_null() { json!(s(1)) } else { v })
            }
            "nomadVar" => {
                need(1)?;
                self.dep(Dep::NomadVar(s(0)))
            }
            "nomadVarList" => {
                let v = self.dep(Dep::NomadVarList(s(0)))?;
                Ok(if v.is_null() { json!([]) } else { v })
            }
            "nomadVarExists" => {
                need(1)?;
                let v = self.dep(Dep::NomadVar(s(0)))?;
                Ok(json!(!v.is_null()))
            }
            "env" => {
                need(1)?;
                Ok(json!(self
                    .ctx
                    .lookup_env
                    .get(&s(0))
                    .cloned()
                    .unwrap_or_default()))
            }
            "toJSON" => {
                need(1)?;
                serde_json::to_string(&args[0])
                    .map(Value::String)
                    .map_err(|e| e.to_string())
            }
            "toJSONPretty" => {
                need(1)?;
                serde_json::to_string_pretty(&args[0])
                    .map(Value::String)
                    .map_err(|e| e.to_string())
            }
            "toUpper" => Ok(json!(s(0).to_uppercase())),
            "toLower" => Ok(json!(s(0).to_lowercase())),
            "trimSpace" => Ok(json!(s(0).trim())),
            "base64Encode" => Ok(json!(STANDARD.encode(s(0)))),
            "base64Decode" => STANDARD
                .decode(s(0))
                .map(|b| json!(String::from_utf8_lossy(&b)))
                .map_err(|e| format!("base64Decode: {e}")),
            "split" => {
                need(2)?;
                Ok(json!(s(1).split(s(0).as_str()).collect::<Vec<_>>()))
            }
            "join" => {
                need(2)?;
                let items = args[1].as_array().cloned().unwrap_or_default();
                Ok(json!(items
                    .iter()
                    .map(go_inner)
                    .collect::<Vec<_>>()
                    .join(&s(0))))
            }
            "replaceAll" => {
                need(3)?;
                Ok(json!(s(2).replace(&s(0), &s(1))))
            }
            "print" => Ok(json!(args.iter().map(go_inner).collect::<String>())),
            "println" => Ok(json!(format!(
                "{}\n",
                args.iter().map(go_inner).collect::<Vec<_>>().join(" ")
            ))),
            "printf" => {
                need(1)?;
                Ok(json!(sprintf(&s(0), &args[1..])))
            }
            "len" => {
                need(1)?;
                Ok(json!(match &args[0] {
                    Value::String(s) => s.len(),
                    Value::Array(a) => a.len(),
                    Value::Object(o) => o.len(),
                    _ => 0,
                }))
            }
            "index" => {
                need(2)?;
                let mut v = args[0].clone();
                for k in &args[1..] {
                    v = match (&v, k) {
                        (Value::Object(o), Value::String(k)) => {
                            o.get(k).cloned().unwrap_or(Value::Null)
                        }
                        (Value::Array(a), Value::Number(n)) => n
                            .as_u64()
                            .and_then(|i| a.get(i as usize).cloned())
                            .ok_or_else(|| {
                                format!("error calling index: index out of range: {n}")
                            })?,
                        (Value::Null, _) => Value::Null,
                        _ => return Err("error calling index: cannot index".into()),
                    };
                }
                Ok(v)
            }
            "not" => Ok(json!(!args.first().is_some_and(truth))),
            "and" => Ok(args
                .iter()
                .find(|a| !truth(a))
                .or(args.last())
                .cloned()
                .unwrap_or(Value::Null)),
            "or" => Ok(args
                .iter()
                .find(|a| truth(a))
                .or(args.last())
                .cloned()
                .unwrap_or(Value::Null)),
            "eq" => {
                need(2)?;
                Ok(json!(args[1..].iter().any(|a| loose_eq(&args[0], a))))
            }
            "ne" => {
                need(2)?;
                Ok(json!(!loose_eq(&args[0], &args[1])))
            }
            "lt" | "le" | "gt" | "ge" => {
                need(2)?;
                let ord = match (&args[0], &args[1]) {
                    (Value::String(a), Value::String(b)) => a.cmp(b),
                    (a, b) => {
                        let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                        x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
                    }
                };
                use std::cmp::Ordering::*;
                Ok(json!(match name {
                    "lt" => ord == Less,
                    "le" => ord != Greater,
                    "gt" => ord == Greater,
                    _ => ord != Less,
                }))
            }
            _ => Err(format!("template: :1: function {name:?} not defined")),
        }
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `fmt.Sprintf` for the common verbs (%s %d %v %q %%).
fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb) => match it.next() {
                Some(a) => match verb {
                    'q' => out.push_str(&format!("{:?}", go_inner(a))),
                    _ => out.push_str(&go_inner(a)),
                },
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(env: &[(&str, &str)]) -> Ctx {
        Ctx {
            env: TaskEnvironment::default(),
            lookup_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            vault_token: None,
            nomad_token: None,
            namespace: "default".into(),
        }
    }

    fn run(src: &str) -> Result<String, String> {
        let c = ctx(&[("A", "1"), ("NAME", "web")]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(c.render(src, "{{", "}}", false))
    }

    #[test]
    fn text_env_and_trimming() {
        assert_eq!(run("a={{ env \"A\" }}\n").expect("ok"), "a=1\n");
        assert_eq!(run("x  {{- env \"A\" -}}  \n y").expect("ok"), "x1y");
        assert_eq!(run("{{/* c */}}z").expect("ok"), "z");
        assert_eq!(run("{{ env \"NAME\" | toUpper }}").expect("ok"), "WEB");
    }

    #[test]
    fn control_flow_and_variables() {
        let src = r#"{{ $n := env "NAME" }}{{ if eq $n "db" }}D{{ else if eq $n "web" }}W{{ else }}X{{ end }}"#;
        assert_eq!(run(src).expect("ok"), "W");
        let src = r#"{{ range $i, $s := split "," "a,b" }}{{ $i }}={{ $s }};{{ end }}"#;
        assert_eq!(run(src).expect("ok"), "0=a;1=b;");
        let src = r#"{{ range split "," "" }}{{ . }}{{ else }}none{{ end }}"#;
        assert_eq!(run(src).expect("ok"), "");
        let src = r#"{{ with env "NOPE" }}yes{{ else }}no{{ end }}"#;
        assert_eq!(run(src).expect("ok"), "no");
        assert_eq!(run(r#"{{ printf "%s-%d" "a" 3 }}"#).expect("ok"), "a-3");
        assert!(run("{{ if true }}x").is_err());
        assert!(run("{{ nosuch 1 }}").is_err());
    }

    #[test]
    fn custom_delimiters() {
        let c = ctx(&[("A", "1")]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let out = rt
            .block_on(c.render("{{x}} [[ env \"A\" ]]", "[[", "]]", false))
            .expect("ok");
        assert_eq!(out, "{{x}} 1");
    }
}
