//! Workload identity and task templates: what the simulated Nomad client does for a task
//! before starting it (the `identity`, `vault` and `template` task-runner hooks).
//!
//! - Every identity is an RS256 JWT signed by the agent's [`IdentitySigner`] with Nomad's
//!   claims (`nomad_namespace`, `nomad_job_id`, `nomad_allocation_id`, `nomad_task`, `sub` =
//!   `<region>:<ns>:<job>:<group>:<task>:<identity>`, `aud`, `iat`, `nbf`, `exp`, `jti`).
//! - A task with a `Vault` block logs in to `auth/<jwt path>/login` with its `vault_<cluster>`
//!   identity and gets `VAULT_TOKEN` / `secrets/vault_token`.
//! - `Templates` are rendered with a Go text/template subset and consul-template's `secret`,
//!   `service`, `key`, `keyOrDefault` and `env` functions.
//!
//! Deviations from real Nomad: templates render once (no watching / re-rendering, no
//! change_mode), a missing Consul service or key renders empty instead of blocking, a
//! failing read fails at once instead of after consul-template's retries, and tokens are
//! not renewed.

mod signer;
mod tmpl;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

pub use self::signer::{IdentitySigner, TaskClaims};

impl super::NomadSimHandle {
    /// The agent's workload-identity signer (the key behind `/.well-known/jwks.json`).
    pub fn signer(&self) -> std::sync::Arc<IdentitySigner> {
        self.inner.signer.clone()
    }
}

/// Where a task's templates look things up (per agent; clone and set `task_env` per task).
#[derive(Clone)]
pub struct TaskEnvironment {
    /// `vault.address` of the client; `None` when Vault is not configured.
    pub vault_addr: Option<String>,
    /// `vault.jwt_auth_backend_path` (default `jwt-nomad`).
    pub vault_jwt_auth_path: String,
    /// `vault.create_from_role`: the role used when the task's `vault` block has none
    /// (empty: the auth method's `default_role`).
    pub vault_role: String,
    pub consul_addr: Option<String>,
    pub consul_token: Option<String>,
    /// The agent's own HTTP address (`http://127.0.0.1:4646`), for `nomadVar`; the task's
    /// default identity is the token.
    pub nomad_addr: Option<String>,
    pub http: reqwest::Client,
    pub node_name: String,
    pub region: String,
    pub datacenter: String,
    /// The task's environment as the runner builds it (`NOMAD_*`, the jobspec `env`): what
    /// `{{ env "X" }}` sees. The task's own `Env` block is added to it.
    pub task_env: BTreeMap<String, String>,
}

impl Default for TaskEnvironment {
    fn default() -> Self {
        TaskEnvironment {
            vault_addr: None,
            vault_jwt_auth_path: "jwt-nomad".into(),
            vault_role: String::new(),
            consul_addr: None,
            consul_token: None,
            nomad_addr: None,
            http: reqwest::Client::new(),
            node_name: "devstack".into(),
            region: "global".into(),
            datacenter: "dc1".into(),
            task_env: BTreeMap::new(),
        }
    }
}

/// What the hooks produced for a task.
#[derive(Debug, Default)]
pub struct PreparedTask {
    /// Variables to add to the task's environment (`VAULT_TOKEN`, `NOMAD_TOKEN*`, and the
    /// `env = true` templates' variables).
    pub env: BTreeMap<String, String>,
    pub vault_token: Option<String>,
    /// (Type, DisplayMessage) task events to record.
    pub events: Vec<(String, String)>,
}

/// A failed setup, as Nomad reports it: a task event (`Killing` with `FailsTask`, or
/// `Task hook failed`) whose DisplayMessage is `display`.
#[derive(Debug, Clone)]
pub struct TaskSetupError {
    pub event_type: String,
    /// The error alone (for logs; never contains a token or secret).
    pub message: String,
    pub display: String,
}

impl std::fmt::Display for TaskSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

/// `structs.TaskKilling`.
const TASK_KILLING: &str = "Killing";
/// `structs.TaskHookFailed`.
const TASK_HOOK_FAILED: &str = "Task hook failed";

fn killing(message: String, display: String) -> TaskSetupError {
    TaskSetupError {
        event_type: TASK_KILLING.into(),
        message,
        display,
    }
}

fn hook_failed(hook: &str, message: String) -> TaskSetupError {
    TaskSetupError {
        event_type: TASK_HOOK_FAILED.into(),
        display: format!("{hook}: {message}"),
        message,
    }
}

/// Runs the identity, vault and template hooks for `task` (an api.Task JSON object, as
/// registered) whose directory is `task_dir` (`secrets/` and `local/` exist there).
pub async fn prepare_task(
    env: &TaskEnvironment,
    signer: &IdentitySigner,
    claims: &TaskClaims,
    task: &Value,
    task_dir: &Path,
) -> Result<PreparedTask, TaskSetupError> {
    let mut out = PreparedTask::default();
    identities(signer, claims, task, task_dir, &mut out)?;
    if let Some(vault) = task.get("Vault").filter(|v| v.is_object()) {
        vault_hook(env, signer, claims, task, vault, task_dir, &mut out).await?;
    }
    templates(env, signer, claims, task, task_dir, &mut out).await?;
    Ok(out)
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn bool_of(v: &Value, k: &str, default: bool) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(default)
}

/// A workload identity's TTL (`TTL`, nanoseconds).
fn ttl_of(ident: &Value) -> Option<Duration> {
    ident
        .get("TTL")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .map(Duration::from_nanos)
}

fn audience_of(ident: &Value) -> Option<Vec<String>> {
    let aud = ident.get("Audience")?.as_array()?;
    Some(
        aud.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
    )
}

fn claims_for(base: &TaskClaims, name: &str, ident: &Value) -> TaskClaims {
    let mut c = base.clone();
    c.identity = name.to_string();
    if let Some(aud) = audience_of(ident) {
        c.audience = aud;
    }
    if let Some(ttl) = ttl_of(ident) {
        c.ttl = Some(ttl);
    }
    c
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, data).map_err(|e| e.to_string())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| e.to_string())?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}

/// The identity hook: `NOMAD_TOKEN` / `secrets/nomad_token` for the default identity when
/// `env`/`file` are set, `NOMAD_TOKEN_<name>` / `secrets/nomad_<name>.jwt` for the others.
fn identities(
    signer: &IdentitySigner,
    claims: &TaskClaims,
    task: &Value,
    task_dir: &Path,
    out: &mut PreparedTask,
) -> Result<(), TaskSetupError> {
    let mut all: Vec<(String, &Value)> = Vec::new();
    if let Some(ident) = task.get("Identity").filter(|v| v.is_object()) {
        all.push(("default".into(), ident));
    }
    if let Some(list) = task.get("Identities").and_then(Value::as_array) {
        for ident in list {
            all.push((str_of(ident, "Name").to_string(), ident));
        }
    }
    for (name, ident) in all {
        let env = bool_of(ident, "Env", false);
        let file = bool_of(ident, "File", false);
        if !env && !file {
            continue;
        }
        let jwt = signer
            .sign(&claims_for(claims, &name, ident))
            .map_err(|e| hook_failed("identity", e))?;
        let (var, default_file) = if name == "default" {
            ("NOMAD_TOKEN".to_string(), "secrets/nomad_token".to_string())
        } else {
            (
                format!("NOMAD_TOKEN_{name}"),
                format!("secrets/nomad_{name}.jwt"),
            )
        };
        if env {
            out.env.insert(var, jwt.clone());
        }
        if file {
            let rel = match str_of(ident, "Filepath") {
                "" => default_file,
                p => p.to_string(),
            };
            let path = dest_path(task_dir, &rel).map_err(|e| hook_failed("identity", e))?;
            write_file(&path, jwt.as_bytes(), 0o600).map_err(|e| {
                hook_failed("identity", format!("failed to write token to {rel}: {e}"))
            })?;
        }
    }
    Ok(())
}

/// The vault hook: derive a token with the task's Vault identity.
async fn vault_hook(
    env: &TaskEnvironment,
    signer: &IdentitySigner,
    claims: &TaskClaims,
    task: &Value,
    vault: &Value,
    task_dir: &Path,
    out: &mut PreparedTask,
) -> Result<(), TaskSetupError> {
    let cluster = match str_of(vault, "Cluster") {
        "" => "default",
        c => c,
    };
    let Some(addr) = env.vault_addr.as_deref() else {
        return Err(hook_failed(
            "vault",
            format!("No client configuration found for Vault cluster {cluster}"),
        ));
    };
    let wid_name = format!("vault_{cluster}");
    let ident = task
        .get("Identities")
        .and_then(Value::as_array)
        .and_then(|l| l.iter().find(|i| str_of(i, "Name") == wid_name));
    let mut c = claims.clone();
    c.identity = wid_name.clone();
    // Without a jobspec identity, the server's `default_identity` as `nomad setup vault`
    // writes it: aud = ["vault.io"], ttl = 1h.
    c.audience = vec!["vault.io".into()];
    c.ttl = Some(Duration::from_secs(3600));
    if let Some(ident) = ident {
        c = claims_for(&c, &wid_name, ident);
    }
    c.vault_role = str_of(vault, "Role").to_string();
    c.vault_namespace = str_of(vault, "Namespace").to_string();
    let fail = |err: String| {
        let msg = format!("failed to derive Vault token for identity {wid_name}: {err}");
        killing(
            msg.clone(),
            format!("Vault: failed to derive vault token: {msg}"),
        )
    };
    let jwt = signer.sign(&c).map_err(&fail)?;
    let role = match str_of(vault, "Role") {
        "" => env.vault_role.clone(),
        r => r.to_string(),
    };
    let url = format!(
        "{}/v1/auth/{}/login",
        addr.trim_end_matches('/'),
        env.vault_jwt_auth_path.trim_matches('/')
    );
    let mut req = env.http.put(&url).json(&json!({"role": role, "jwt": jwt}));
    if !c.vault_namespace.is_empty() {
        req = req.header("X-Vault-Namespace", &c.vault_namespace);
    }
    let body = match vault_call(req, "PUT", &url).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(fail("JWT login returned an empty secret".into())),
        Err(e) => return Err(fail(format!("failed to login with JWT: {e}"))),
    };
    let token = match body.pointer("/auth/client_token").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => return Err(fail("JWT login did not return a token".into())),
    };
    if !bool_of(vault, "DisableFile", false) {
        let path = task_dir.join("secrets").join("vault_token");
        write_file(&path, token.as_bytes(), 0o666).map_err(|e| {
            killing(
                format!("failed to write Vault token to disk: {e}"),
                "Vault failed to write Vault token to disk".into(),
            )
        })?;
    }
    if bool_of(vault, "Env", true) {
        out.env.insert("VAULT_TOKEN".into(), token.clone());
        if !c.vault_namespace.is_empty() {
            out.env
                .insert("VAULT_NAMESPACE".into(), c.vault_namespace.clone());
        }
    }
    out.vault_token = Some(token);
    Ok(())
}

/// Sends a Vault request; `Ok(None)` for a 404 without errors or an empty body, and the
/// Vault API client's `ResponseError` text otherwise.
pub(crate) async fn vault_call(
    req: reqwest::RequestBuilder,
    method: &str,
    url: &str,
) -> Result<Option<Value>, String> {
    let resp = req.send().await.map_err(|e| {
        // Go's `*url.Error` shape (`Put "http://...": <cause>`); no body or headers.
        let mut cause = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            cause = s.to_string();
            src = s.source();
        }
        let mut m = method.to_ascii_lowercase();
        if let Some(f) = m.get_mut(..1) {
            f.make_ascii_uppercase();
        }
        format!("{m} {url:?}: {cause}")
    })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    let parsed: Option<Value> = serde_json::from_str(&text).ok();
    if (200..300).contains(&status) {
        return Ok(parsed.filter(|v| !v.is_null()));
    }
    let errors: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if status == 404 && errors.is_empty() {
        return Ok(None);
    }
    // `api.ResponseError.Error()`: a raw body when it was not Vault's JSON error shape.
    let (label, detail) = if parsed.is_some() {
        (
            "Errors",
            errors.iter().map(|e| format!("* {e}")).collect::<String>(),
        )
    } else {
        ("Raw Message", text)
    };
    Err(format!(
        "Error making API request.\n\nURL: {method} {url}\nCode: {status}. {label}:\n\n{detail}"
    ))
}

/// Resolves a template/identity destination inside the task directory (Nomad refuses
/// destinations outside the allocation directory).
fn dest_path(task_dir: &Path, dest: &str) -> Result<PathBuf, String> {
    let rel = dest
        .replace("${NOMAD_SECRETS_DIR}", "secrets")
        .replace("${NOMAD_TASK_DIR}", "local")
        .replace("${NOMAD_ALLOC_DIR}", "../alloc");
    let rel = rel.trim_start_matches('/');
    let mut depth: i32 = 0;
    for comp in Path::new(rel).components() {
        match comp {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        // One level up is the allocation directory (shared `alloc/`); above it escapes.
        if depth < -1 {
            return Err(format!(
                "template destination path {dest:?} escapes the alloc directory"
            ));
        }
    }
    Ok(task_dir.join(rel))
}

/// The template hook.
async fn templates(
    env: &TaskEnvironment,
    signer: &IdentitySigner,
    claims: &TaskClaims,
    task: &Value,
    task_dir: &Path,
    out: &mut PreparedTask,
) -> Result<(), TaskSetupError> {
    let Some(list) = task.get("Templates").and_then(Value::as_array) else {
        return Ok(());
    };
    if list.is_empty() {
        return Ok(());
    }
    // What `{{ env }}` sees: the runner's environment, the task's `env` block, then what
    // the earlier hooks added (VAULT_TOKEN).
    let mut lookup_env = env.task_env.clone();
    if let Some(m) = task.get("Env").and_then(Value::as_object) {
        for (k, v) in m {
            if let Some(s) = v.as_str() {
                // The runner's (interpolated) value wins over the raw jobspec one.
                lookup_env.entry(k.clone()).or_insert_with(|| s.to_string());
            }
        }
    }
    lookup_env.extend(out.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let template_failed = |e: String| killing(e.clone(), format!("Template failed: {e}"));
    // Nomad's template runner talks to Nomad with the task's default identity.
    let nomad_token = match env.nomad_addr {
        Some(_) => {
            let ident = task.get("Identity").cloned().unwrap_or(Value::Null);
            Some(
                signer
                    .sign(&claims_for(claims, "default", &ident))
                    .map_err(&template_failed)?,
            )
        }
        None => None,
    };
    let ctx = tmpl::Ctx {
        env: env.clone(),
        lookup_env,
        vault_token: out.vault_token.clone(),
        nomad_token,
        namespace: claims.namespace.clone(),
    };
    let mut rendered: Vec<(PathBuf, String, u32, bool)> = Vec::new();
    for t in list {
        let src = match str_of(t, "EmbeddedTmpl") {
            "" => match str_of(t, "SourcePath") {
                "" => String::new(),
                p => {
                    let path = dest_path(task_dir, p).map_err(&template_failed)?;
                    std::fs::read_to_string(&path)
                        .map_err(|e| template_failed(format!("failed to read {p}: {e}")))?
                }
            },
            s => s.to_string(),
        };
        let dest = str_of(t, "DestPath");
        let path = dest_path(task_dir, dest).map_err(&template_failed)?;
        let (l, r) = (
            match str_of(t, "LeftDelim") {
                "" => "{{",
                d => d,
            },
            match str_of(t, "RightDelim") {
                "" => "}}",
                d => d,
            },
        );
        let text = ctx
            .render(&src, l, r, bool_of(t, "ErrMissingKey", false))
            .await
            .map_err(&template_failed)?;
        let perms = match str_of(t, "Perms") {
            "" => 0o644,
            p => u32::from_str_radix(p, 8).unwrap_or(0o644),
        };
        rendered.push((path, text, perms, bool_of(t, "Envvars", false)));
    }
    for (path, text, perms, envvars) in rendered {
        write_file(&path, text.as_bytes(), perms)
            .map_err(|e| template_failed(format!("failed writing file {}: {e}", path.display())))?;
        if envvars {
            let vars = parse_env_file(&text).map_err(|e| {
                killing(
                    e.clone(),
                    format!("Template failed to read environment variables: {e}"),
                )
            })?;
            out.env.extend(vars);
        }
    }
    Ok(())
}

/// `envparse`: `KEY=value` lines, `#` comments, optional `export `, single/double quotes.
fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("error on line {}: missing =", i + 1));
        };
        let k = k.trim();
        if k.is_empty() || k.chars().any(char::is_whitespace) {
            return Err(format!("error on line {}: invalid key", i + 1));
        }
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            let inner = &v[1..v.len() - 1];
            if v.starts_with('"') {
                inner
                    .replace("\\n", "\n")
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\")
            } else {
                inner.to_string()
            }
        } else {
            v.to_string()
        };
        vars.push((k.to_string(), v));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_parsing() {
        let v = parse_env_file("# c\nA=1\nexport B=\"x y\"\n\nC='z'\n").expect("parses");
        assert_eq!(
            v,
            vec![
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "x y".to_string()),
                ("C".to_string(), "z".to_string())
            ]
        );
        assert!(parse_env_file("NOPE\n").is_err());
    }

    #[test]
    fn dest_path_stays_in_alloc_dir() {
        let d = Path::new("/a/task");
        assert_eq!(
            dest_path(d, "${NOMAD_SECRETS_DIR}/x").expect("ok"),
            d.join("secrets/x")
        );
        assert!(dest_path(d, "../../etc/passwd").is_err());
    }
}
