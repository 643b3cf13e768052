//! `stack_vault_nomad_workload_identity`: what `nomad setup vault` does, as one resource — a JWT
//! auth method trusting Nomad's workload identities, a role for the workloads, and a templated
//! policy that lets each job read only its own KV v2 secrets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stack_core::vault::auth_jwt::{EnableAuthRequest, JwtAuthConfig, JwtRoleRequest};
use stack_core::vault::VaultClient;
use tf_framework::schema::validators::{clean_path, duration, one_of, parse_duration};
use tf_framework::{Attribute, AttributePath, Block, Diagnostic, Diags, Resource, Schema, Value};

use crate::errors::{diag, fail};
use crate::ProviderData;

/// The resource.
pub struct VaultNomadWorkloadIdentity;

/// State and configuration of `stack_vault_nomad_workload_identity`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct VaultNomadWorkloadIdentityModel {
    /// Same as `auth_path`.
    pub id: Option<String>,
    /// JWT auth mount path.
    pub auth_path: Option<String>,
    /// Mount accessor (computed).
    pub auth_accessor: Option<String>,
    /// Nomad's JWKS URL.
    pub jwks_url: Option<String>,
    /// CA for `jwks_url`.
    pub jwks_ca_pem: Option<String>,
    /// Static public keys.
    pub jwt_validation_pubkeys: Option<Vec<String>>,
    /// Accepted algorithms.
    pub jwt_supported_algs: Option<Vec<String>>,
    /// Required `iss`.
    pub bound_issuer: Option<String>,
    /// Role name.
    pub role_name: Option<String>,
    /// Accepted audiences.
    pub bound_audiences: Option<Vec<String>>,
    /// Alias name claim.
    pub user_claim: Option<String>,
    /// Claim → alias metadata key.
    pub claim_mappings: Option<BTreeMap<String, String>>,
    /// Token type.
    pub token_type: Option<String>,
    /// Token period.
    pub token_period: Option<String>,
    /// Token policies.
    pub token_policies: Option<Vec<String>>,
    /// Templated policy name.
    pub policy_name: Option<String>,
    /// KV v2 mount the policy grants.
    pub kv_mount: Option<String>,
    /// Rendered policy (computed).
    pub policy: Option<String>,
}

const DEFAULT_AUTH_PATH: &str = "jwt-nomad";
const DEFAULT_ROLE: &str = "nomad-workloads";
const DEFAULT_POLICY: &str = "nomad-workloads";
const DEFAULT_KV: &str = "secret";
const ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA",
];
const TOKEN_TYPES: &[&str] = &[
    "service",
    "batch",
    "default",
    "default-service",
    "default-batch",
];
/// Alias metadata keys the policy template needs.
const NS_KEY: &str = "nomad_namespace";
const JOB_KEY: &str = "nomad_job_id";
const MANAGED: &str = "stack_vault_nomad_workload_identity";
/// First line of the policy; marks it as written by this resource.
const HEADER: &str = "# Managed by Terraform (stack_vault_nomad_workload_identity):";

fn strings(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| Value::from(*s)).collect())
}

fn default_claim_mappings() -> Value {
    Value::object(
        [NS_KEY, JOB_KEY, "nomad_task"]
            .iter()
            .map(|k| (*k, Value::from(*k))),
    )
}

/// The policy: each job reads `<kv>/data/<its namespace>/<its job>` and everything below it.
pub fn render_policy(kv_mount: &str, accessor: &str) -> String {
    let meta = |key: &str| format!("{{{{identity.entity.aliases.{accessor}.metadata.{key}}}}}");
    let base = format!("{kv_mount}/data/{}/{}", meta(NS_KEY), meta(JOB_KEY));
    format!(
        "{HEADER} each Nomad job may read only its own secrets.\n\
         path \"{base}/*\" {{\n  capabilities = [\"read\"]\n}}\n\n\
         path \"{base}\" {{\n  capabilities = [\"read\"]\n}}\n"
    )
}

/// The KV mount a policy rendered by [`render_policy`] grants, for import.
fn kv_mount_of(policy: &str, accessor: &str) -> Option<String> {
    let marker = format!("/data/{{{{identity.entity.aliases.{accessor}.metadata.");
    let line = policy
        .lines()
        .find(|l| l.trim_start().starts_with("path \"") && l.contains(&marker))?;
    let start = line.find("path \"")? + "path \"".len();
    let end = line.find(&marker)?;
    (end > start).then(|| line[start..end].to_string())
}

/// `1800` → `30m`, `5400` → `1h30m`; `0` → `0`.
fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0".into();
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

fn same_duration(a: &Value, b: &Value) -> bool {
    match (
        a.as_str().and_then(parse_duration),
        b.as_str().and_then(parse_duration),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn same_pem(a: &str, b: &str) -> bool {
    a.trim() == b.trim()
}

/// PEM texts (or lists of them) that differ only in surrounding whitespace: the server trims them.
fn same_pems(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => same_pem(a, b),
        (Value::List(a), Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_pems(a, b))
        }
        _ => false,
    }
}

/// A remote string where the server reports "" for unset: keep null (or "") as state had it,
/// and keep the state's spelling when only surrounding whitespace differs.
fn remote_str(remote: Option<String>, state: &Option<String>) -> Option<String> {
    let remote = remote.unwrap_or_default();
    match state {
        Some(s) if same_pem(s, &remote) => Some(s.clone()),
        _ if remote.is_empty() => None,
        _ => Some(remote),
    }
}

fn name_check(what: &'static str, lower: bool) -> impl Fn(&Value) -> Result<(), (String, String)> {
    move |v| match v.as_str() {
        Some(s) if s.is_empty() || s.contains('/') => Err((
            format!("Invalid {what}"),
            format!("{s:?} must be non-empty and contain no \"/\"."),
        )),
        Some(s) if lower && s != s.to_lowercase() => Err((
            format!("Invalid {what}"),
            format!(
                "Vault stores policy names in lower case; write {:?}.",
                s.to_lowercase()
            ),
        )),
        Some(s @ ("root" | "default")) if lower => Err((
            format!("Invalid {what}"),
            format!("{s:?} is a built-in policy; choose another name, e.g. \"nomad-workloads\"."),
        )),
        _ => Ok(()),
    }
}

fn list_items(v: &Value) -> &[Value] {
    match v {
        Value::List(items) => items,
        _ => &[],
    }
}

/// Whether a configured value will be non-null (unknown counts as set).
fn is_set(v: &Value) -> bool {
    !v.is_null()
}

fn check_config(config: &Value) -> Diags {
    let mut d = Diags::new();
    let (url, keys, ca) = (
        config.get("jwks_url"),
        config.get("jwt_validation_pubkeys"),
        config.get("jwks_ca_pem"),
    );
    match (is_set(url), is_set(keys)) {
        (false, false) => d.push(Diagnostic::error(
            "Missing key source",
            "Set exactly one of `jwks_url` (Nomad's JWKS, e.g. \"https://nomad.example.com:4646/.well-known/jwks.json\") or `jwt_validation_pubkeys` (static PEM public keys).",
        ).at(AttributePath::root("jwks_url"))),
        (true, true) => d.push(Diagnostic::error(
            "Conflicting key sources",
            "Set only one of `jwks_url` and `jwt_validation_pubkeys`; Vault accepts exactly one source of signing keys.",
        ).at(AttributePath::root("jwt_validation_pubkeys"))),
        _ => {}
    }
    if is_set(ca) && !is_set(url) {
        d.push(
            Diagnostic::error(
                "`jwks_ca_pem` needs `jwks_url`",
                "`jwks_ca_pem` is the CA that verifies the TLS connection to `jwks_url`; it is not a key source by itself.",
            )
            .at(AttributePath::root("jwks_ca_pem")),
        );
    }
    for (i, k) in list_items(keys).iter().enumerate() {
        if let Some(k) = k.as_str() {
            if !k.contains("-----BEGIN ") {
                d.push(Diagnostic::error(
                    "Invalid public key",
                    "Each entry must be a PEM public key (`-----BEGIN PUBLIC KEY-----`) or certificate.",
                ).at(AttributePath::root("jwt_validation_pubkeys").index(i)));
            }
        }
    }
    if matches!(keys, Value::List(items) if items.is_empty()) {
        d.push(
            Diagnostic::error("Invalid public keys", "Give at least one PEM public key.")
                .at(AttributePath::root("jwt_validation_pubkeys")),
        );
    }
    for (i, a) in list_items(config.get("jwt_supported_algs"))
        .iter()
        .enumerate()
    {
        if let Some(a) = a.as_str() {
            if !ALGS.contains(&a) {
                d.push(
                    Diagnostic::error(
                        "Invalid signing algorithm",
                        format!("{a:?} is not one of: {}.", ALGS.join(", ")),
                    )
                    .at(AttributePath::root("jwt_supported_algs").index(i)),
                );
            }
        }
    }
    if matches!(config.get("bound_audiences"), Value::List(items) if items.is_empty()) {
        d.push(
            Diagnostic::error(
                "Invalid bound_audiences",
                "Give at least one audience (Nomad's default identity uses \"vault.io\"); Vault requires a bound constraint on JWT roles.",
            )
            .at(AttributePath::root("bound_audiences")),
        );
    }
    if let Value::Map(m) = config.get("claim_mappings") {
        if m.values().all(Value::is_wholly_known) {
            for key in [NS_KEY, JOB_KEY] {
                if !m.values().any(|v| v.as_str() == Some(key)) {
                    d.push(Diagnostic::error(
                        "Invalid claim_mappings",
                        format!("The policy template reads the alias metadata key {key:?}; map a claim to it (Nomad's claim is {key:?}: `{key} = \"{key}\"`)."),
                    ).at(AttributePath::root("claim_mappings")));
                }
            }
        }
    }
    let batch = matches!(
        config.get("token_type").as_str(),
        Some("batch" | "default-batch")
    );
    let periodic = config
        .get("token_period")
        .as_str()
        .and_then(parse_duration)
        .map_or(config.get("token_period").is_null(), |s| s > 0);
    if batch && periodic {
        d.push(
            Diagnostic::error(
                "Batch tokens cannot be periodic",
                "Vault refuses periodic batch tokens: set `token_period = \"0\"` or use `token_type = \"service\"`.",
            )
            .at(AttributePath::root(if config.get("token_period").is_null() {
                "token_type"
            } else {
                "token_period"
            })),
        );
    }
    d
}

fn role_request(m: &VaultNomadWorkloadIdentityModel, policies: &[String]) -> JwtRoleRequest {
    let user_claim = m.user_claim.clone().unwrap_or_default();
    JwtRoleRequest {
        role_type: "jwt".into(),
        bound_audiences: Some(m.bound_audiences.clone().unwrap_or_default()),
        user_claim_json_pointer: Some(user_claim.starts_with('/')),
        user_claim,
        claim_mappings: Some(m.claim_mappings.clone().unwrap_or_default()),
        token_type: m.token_type.clone(),
        token_period: m.token_period.clone(),
        token_explicit_max_ttl: Some("0".into()),
        token_policies: Some(policies.to_vec()),
    }
}

fn jwt_config(m: &VaultNomadWorkloadIdentityModel) -> JwtAuthConfig {
    JwtAuthConfig {
        jwks_url: m.jwks_url.clone(),
        jwks_ca_pem: m.jwks_ca_pem.clone(),
        jwt_validation_pubkeys: m.jwt_validation_pubkeys.clone(),
        oidc_discovery_url: None,
        jwt_supported_algs: m.jwt_supported_algs.clone(),
        bound_issuer: m.bound_issuer.clone(),
        default_role: m.role_name.clone(),
    }
}

/// Refuses a KV mount of another kind before anything is written (a missing mount is allowed:
/// the policy applies once it exists).
async fn check_kv_mount(
    vault: &VaultClient,
    kv_mount: &str,
    action: &'static str,
) -> Result<(), Diags> {
    let Some(mount) = vault.read_mount(kv_mount).await.map_err(fail(action))? else {
        return Ok(());
    };
    let version = mount
        .options
        .as_ref()
        .and_then(|o| o.get("version"))
        .map(String::as_str);
    let is_v2 = mount.mount_type == "kv-v2" || (mount.mount_type == "kv" && version == Some("2"));
    if is_v2 {
        return Ok(());
    }
    let kind = match (mount.mount_type.as_str(), version) {
        ("kv", _) => "a KV version 1 engine".to_string(),
        (t, _) => format!("a {t:?} engine"),
    };
    Err(Diagnostic::error(
        "kv_mount is not a KV version 2 engine",
        format!("{kv_mount:?} is {kind}; the policy grants `{kv_mount}/data/...` paths, which only KV version 2 has. Choose a KV v2 mount."),
    )
    .at(AttributePath::root("kv_mount"))
    .into())
}

/// Refuses to overwrite a policy this resource did not write, or one that still serves another
/// auth method. One carrying our header whose auth method is gone (e.g. disabled out of band) is
/// left over from an earlier incarnation and is adopted.
async fn refuse_foreign_policy(
    vault: &VaultClient,
    name: &str,
    action: &'static str,
) -> Result<(), Diags> {
    let Some(existing) = vault.read_acl_policy(name).await.map_err(fail(action))? else {
        return Ok(());
    };
    let refuse = |why: String| -> Result<(), Diags> {
        Err(Diagnostic::error(
            "Policy already exists",
            format!("A policy named {name:?} already exists {why}; it would be overwritten. Choose another `policy_name`, or delete that policy first."),
        )
        .at(AttributePath::root("policy_name"))
        .into())
    };
    if !existing.policy.starts_with(HEADER) {
        return refuse(format!("and was not written by {MANAGED}"));
    }
    let methods = vault.list_auth_methods().await.map_err(fail(action))?;
    if let Some((path, _)) = methods
        .iter()
        .find(|(_, m)| kv_mount_of(&existing.policy, &m.accessor).is_some())
    {
        return refuse(format!(
            "and serves the auth method at {:?}",
            path.trim_end_matches('/')
        ));
    }
    Ok(())
}

impl VaultNomadWorkloadIdentity {
    /// Writes config, policy and role for an enabled mount; returns the new state.
    async fn configure(
        vault: &VaultClient,
        plan: &VaultNomadWorkloadIdentityModel,
        accessor: &str,
        action: &'static str,
    ) -> Result<VaultNomadWorkloadIdentityModel, Diags> {
        let auth_path = plan.auth_path.clone().unwrap_or_default();
        let role_name = plan.role_name.clone().unwrap_or_default();
        let policy_name = plan.policy_name.clone().unwrap_or_default();
        let kv_mount = plan.kv_mount.clone().unwrap_or_default();
        let policy = render_policy(&kv_mount, accessor);
        let policies = plan
            .token_policies
            .clone()
            .unwrap_or_else(|| vec![policy_name.clone()]);
        vault
            .write_jwt_config(&auth_path, &jwt_config(plan))
            .await
            .map_err(|e| {
                let mut d = diag(action, &e);
                if plan.jwks_url.is_some() {
                    d.detail.push_str("\n\nVault fetches `jwks_url` when it is configured: check that the Vault server itself can reach it (and verify its TLS certificate, see `jwks_ca_pem`).");
                    d.at(AttributePath::root("jwks_url"))
                } else {
                    d.at(AttributePath::root("jwt_validation_pubkeys"))
                }
            })?;
        vault
            .write_acl_policy(&policy_name, &policy)
            .await
            .map_err(fail(action))?;
        vault
            .write_jwt_role(&auth_path, &role_name, &role_request(plan, &policies))
            .await
            .map_err(fail(action))?;
        Ok(VaultNomadWorkloadIdentityModel {
            id: Some(auth_path),
            auth_accessor: Some(accessor.to_string()),
            token_policies: Some(policies),
            policy: Some(policy),
            ..plan.clone()
        })
    }
}

impl Resource for VaultNomadWorkloadIdentity {
    type Ctx = ProviderData;
    type Model = VaultNomadWorkloadIdentityModel;
    const TYPE_NAME: &'static str = "stack_vault_nomad_workload_identity";
    const IDENTITY: &'static [(&'static str, &'static str)] =
        &[("auth_path", "Path of the JWT auth method.")];

    fn schema() -> Schema {
        Schema::new(
            Block::new("Vault's side of Nomad workload identities, as `nomad setup vault` sets it up: a JWT auth method that trusts the keys Nomad signs workload identities with, a role that turns a Nomad task's identity into a Vault token, and a templated ACL policy that lets each job read only its own KV v2 secrets at `<kv_mount>/data/<namespace>/<job>` and below.\n\nPoint Nomad's clients at it with `vault { jwt_auth_backend_path = \"<auth_path>\"  create_from_role = \"<role_name>\" }`. Destroying the resource disables the auth method (revoking every token it issued) and deletes the policy.")
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("Same as `auth_path`."))
                .attr(Attribute::string("auth_path").default(DEFAULT_AUTH_PATH).requires_replace().validate(clean_path()).doc("Path of the JWT auth method, without slashes at either end. Defaults to `jwt-nomad` (what Nomad's `vault.jwt_auth_backend_path` expects by default). Changing this forces a new resource."))
                .attr(Attribute::string("auth_accessor").computed().use_state_for_unknown().doc("Accessor of the auth method, as used in the policy's identity templates."))
                .attr(Attribute::string("jwks_url").optional().validate(|v| match v.as_str() {
                    Some(s) if !(s.starts_with("http://") || s.starts_with("https://")) => Err(("Invalid jwks_url".into(), format!("{s:?} must be an http:// or https:// URL, e.g. \"https://nomad.example.com:4646/.well-known/jwks.json\"."))),
                    _ => Ok(()),
                }).doc("URL of Nomad's JWKS, e.g. `https://nomad.example.com:4646/.well-known/jwks.json`. Vault fetches it when the resource is applied and whenever it sees a new key id. Exactly one of `jwks_url` and `jwt_validation_pubkeys` must be set."))
                .attr(Attribute::string("jwks_ca_pem").optional().validate(|v| match v.as_str() {
                    Some(s) if !s.contains("-----BEGIN CERTIFICATE-----") => Err(("Invalid jwks_ca_pem".into(), "Must be one or more PEM certificates (`-----BEGIN CERTIFICATE-----`).".into())),
                    _ => Ok(()),
                }).equivalent(same_pems).doc("PEM CA certificate(s) that verify the TLS connection to `jwks_url`. Only with `jwks_url`."))
                .attr(Attribute::string_list("jwt_validation_pubkeys").optional().equivalent(same_pems).doc("Static PEM public keys that verify workload identity signatures, instead of `jwks_url`. Nomad rotates its keys, so prefer `jwks_url`."))
                .attr(Attribute::string_list("jwt_supported_algs").default(strings(&["RS256", "EdDSA"])).doc("Signing algorithms accepted. Defaults to `[\"RS256\", \"EdDSA\"]`, the ones Nomad uses."))
                .attr(Attribute::string("bound_issuer").optional().doc("If set, the `iss` claim every identity must carry."))
                .attr(Attribute::string("role_name").default(DEFAULT_ROLE).validate(name_check("role_name", false)).doc("Name of the role, also set as the auth method's default role. Defaults to `nomad-workloads` (Nomad's `vault.create_from_role`). Renaming is an in-place update."))
                .attr(Attribute::string_list("bound_audiences").default(strings(&["vault.io"])).doc("`aud` values accepted. Defaults to `[\"vault.io\"]`, the audience of Nomad's default Vault identity."))
                .attr(Attribute::string("user_claim").default("/nomad_job_id").validate(|v| match v.as_str() {
                    Some("") => Err(("Invalid user_claim".into(), "The claim that names the entity alias must not be empty.".into())),
                    _ => Ok(()),
                }).doc("Claim that names the entity alias; a value starting with `/` is read as a JSON pointer. Defaults to `/nomad_job_id`, so each job is one entity."))
                .attr(Attribute::string_map("claim_mappings").default(default_claim_mappings()).doc("Claims copied into the entity alias metadata (claim → metadata key). Defaults to `nomad_namespace`, `nomad_job_id` and `nomad_task`; the policy reads the `nomad_namespace` and `nomad_job_id` metadata keys, so both must stay mapped."))
                .attr(Attribute::string("token_type").default("service").validate(one_of(TOKEN_TYPES)).doc("Type of the tokens issued: `service` (default), `batch`, `default`, `default-service` or `default-batch`. Batch tokens cannot be periodic."))
                .attr(Attribute::string("token_period").default("30m").validate(duration()).equivalent(same_duration).doc("Tokens are periodic with this period and can be renewed indefinitely while the task runs; `0` for non-periodic tokens. Defaults to `30m`."))
                .attr(Attribute::string_list("token_policies").optional().computed().doc("Policies attached to the tokens. Defaults to `[policy_name]`; when you set it, include `policy_name` yourself if the jobs should keep reading their secrets."))
                .attr(Attribute::string("policy_name").default(DEFAULT_POLICY).validate(name_check("policy_name", true)).doc("Name of the templated ACL policy this resource writes. Defaults to `nomad-workloads`. An existing policy of that name is never overwritten, unless this resource wrote it and its auth method is gone. Renaming is an in-place update."))
                .attr(Attribute::string("kv_mount").default(DEFAULT_KV).validate(clean_path()).doc("KV version 2 mount whose secrets the policy grants, without slashes at either end. Defaults to `secret`. Each job may read `<kv_mount>/data/<namespace>/<job id>` and everything below it. A mount of another type is refused at apply; a missing mount is allowed (the policy applies once it exists)."))
                .attr(Attribute::string("policy").computed().doc("The policy text written, with the identity templates that resolve to each job's namespace and job id.")),
        )
    }

    fn validate(config: &Value) -> Diags {
        check_config(config)
    }

    async fn modify_plan<'a>(
        &'a self,
        _ctx: Option<&'a ProviderData>,
        _prior: &'a Value,
        planned: &'a mut Value,
        _diags: &'a mut Diags,
    ) {
        // The policy follows from kv_mount and the accessor: render it so that an out-of-band edit
        // or deletion of the policy shows as a change.
        let rendered = match (
            planned.get("kv_mount").as_str(),
            planned.get("auth_accessor").as_str(),
        ) {
            (Some(kv), Some(acc)) => render_policy(kv, acc),
            _ => return,
        };
        if let Some(m) = planned.as_map_mut() {
            m.insert("policy".into(), Value::from(rendered));
        }
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: VaultNomadWorkloadIdentityModel,
    ) -> Result<VaultNomadWorkloadIdentityModel, Diags> {
        const ACTION: &str = "create stack_vault_nomad_workload_identity";
        let vault = ctx.vault()?;
        let auth_path = plan.auth_path.clone().unwrap_or_default();
        let policy_name = plan.policy_name.clone().unwrap_or_default();
        check_kv_mount(vault, plan.kv_mount.as_deref().unwrap_or_default(), ACTION).await?;
        if let Some(existing) = vault
            .read_auth_method(&auth_path)
            .await
            .map_err(fail(ACTION))?
        {
            return Err(Diagnostic::error(
                "Auth method already enabled",
                format!(
                    "An auth method of type {:?} is already enabled at {auth_path:?}. Import it with `terraform import <address> {auth_path}`, or choose another `auth_path`.",
                    existing.method_type
                ),
            )
            .at(AttributePath::root("auth_path"))
            .into());
        }
        refuse_foreign_policy(vault, &policy_name, ACTION).await?;

        let enable = EnableAuthRequest {
            method_type: "jwt".into(),
            description: Some("Nomad workload identities (managed by Terraform)".into()),
            local: None,
        };
        vault
            .enable_auth_method(&auth_path, &enable)
            .await
            .map_err(|e| diag(ACTION, &e).at(AttributePath::root("auth_path")))?;
        let result = async {
            let accessor = vault
                .read_auth_method(&auth_path)
                .await
                .map_err(fail(ACTION))?
                .map(|m| m.accessor)
                .ok_or_else(|| {
                    Diags::from(Diagnostic::error(
                        format!("Unable to {ACTION}"),
                        format!("The auth method at {auth_path:?} disappeared right after it was enabled."),
                    ))
                })?;
            Self::configure(vault, &plan, &accessor, ACTION).await
        }
        .await;
        match result {
            Ok(state) => Ok(state),
            Err(mut diags) => {
                // Roll back so a failed create leaves nothing behind; if that fails too, record
                // what exists so the next apply replaces it.
                let undo_auth = vault.disable_auth_method(&auth_path).await;
                let undo_policy = vault.delete_acl_policy(&policy_name).await;
                if let Err(e) = undo_auth.and(undo_policy) {
                    diags.push(diag("roll back the partial create", &e));
                    return Err(diags.with_partial_state(&VaultNomadWorkloadIdentityModel {
                        id: Some(auth_path),
                        ..plan
                    }));
                }
                Err(diags)
            }
        }
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: VaultNomadWorkloadIdentityModel,
    ) -> Result<Option<VaultNomadWorkloadIdentityModel>, Diags> {
        const ACTION: &str = "read stack_vault_nomad_workload_identity";
        let vault = ctx.vault()?;
        let auth_path = state
            .auth_path
            .clone()
            .or(state.id.clone())
            .unwrap_or_default();
        let Some(mount) = vault
            .read_auth_method(&auth_path)
            .await
            .map_err(fail(ACTION))?
        else {
            return Ok(None);
        };
        if mount.method_type != "jwt" {
            return Ok(None);
        }
        let accessor = mount.accessor;
        let config = vault
            .read_jwt_config(&auth_path)
            .await
            .map_err(fail(ACTION))?
            .unwrap_or_default();
        let role_name = state
            .role_name
            .clone()
            .or(config.default_role.clone().filter(|r| !r.is_empty()))
            .unwrap_or_else(|| DEFAULT_ROLE.to_string());
        let role = vault
            .read_jwt_role(&auth_path, &role_name)
            .await
            .map_err(fail(ACTION))?;

        // On import only auth_path is known: find the policy among the role's policies by its
        // identity template.
        let mut policy_name = state.policy_name.clone();
        let mut policy = None;
        if policy_name.is_none() {
            let candidates = role
                .as_ref()
                .and_then(|r| r.token_policies.clone())
                .unwrap_or_default();
            for name in candidates {
                if let Some(p) = vault.read_acl_policy(&name).await.map_err(fail(ACTION))? {
                    if kv_mount_of(&p.policy, &accessor).is_some() {
                        policy_name = Some(name);
                        policy = Some(p.policy);
                        break;
                    }
                }
            }
        }
        let policy_name = policy_name.unwrap_or_else(|| DEFAULT_POLICY.to_string());
        if policy.is_none() {
            policy = vault
                .read_acl_policy(&policy_name)
                .await
                .map_err(fail(ACTION))?
                .map(|p| p.policy);
        }
        let kv_mount = state
            .kv_mount
            .clone()
            .or_else(|| policy.as_deref().and_then(|p| kv_mount_of(p, &accessor)))
            .unwrap_or_else(|| DEFAULT_KV.to_string());

        let pubkeys = config
            .jwt_validation_pubkeys
            .filter(|k| !k.is_empty())
            .map(|remote| match &state.jwt_validation_pubkeys {
                Some(mine)
                    if mine.len() == remote.len()
                        && mine.iter().zip(&remote).all(|(a, b)| same_pem(a, b)) =>
                {
                    mine.clone()
                }
                _ => remote,
            });
        let mut model = VaultNomadWorkloadIdentityModel {
            id: Some(auth_path.clone()),
            auth_path: Some(auth_path),
            auth_accessor: Some(accessor),
            jwks_url: remote_str(config.jwks_url, &state.jwks_url),
            jwks_ca_pem: remote_str(config.jwks_ca_pem, &state.jwks_ca_pem),
            jwt_validation_pubkeys: pubkeys,
            jwt_supported_algs: Some(config.jwt_supported_algs.unwrap_or_default()),
            bound_issuer: remote_str(config.bound_issuer, &state.bound_issuer),
            role_name: Some(role_name),
            policy_name: Some(policy_name),
            kv_mount: Some(kv_mount),
            policy,
            ..Default::default()
        };
        // A missing role leaves its attributes null, so the plan shows them and apply rewrites it.
        if let Some(role) = role {
            let pointer_ok = role.user_claim_json_pointer == role.user_claim.starts_with('/');
            // Settings the schema does not show (role type, JSON pointer flag) changed out of band
            // surface as a changed user_claim, so the next apply rewrites the role.
            model.user_claim = (role.role_type == "jwt" && pointer_ok).then_some(role.user_claim);
            model.bound_audiences = Some(role.bound_audiences.unwrap_or_default());
            model.claim_mappings = Some(role.claim_mappings.unwrap_or_default());
            model.token_type = Some(role.token_type);
            model.token_period = Some(match &state.token_period {
                Some(mine) if parse_duration(mine) == Some(role.token_period) => mine.clone(),
                _ => format_duration(role.token_period),
            });
            model.token_policies = Some(role.token_policies.unwrap_or_default());
        }
        Ok(Some(model))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        prior: VaultNomadWorkloadIdentityModel,
        plan: VaultNomadWorkloadIdentityModel,
    ) -> Result<VaultNomadWorkloadIdentityModel, Diags> {
        const ACTION: &str = "update stack_vault_nomad_workload_identity";
        let vault = ctx.vault()?;
        let auth_path = plan.auth_path.clone().unwrap_or_default();
        if plan.kv_mount != prior.kv_mount {
            check_kv_mount(vault, plan.kv_mount.as_deref().unwrap_or_default(), ACTION).await?;
        }
        if plan.policy_name != prior.policy_name {
            refuse_foreign_policy(
                vault,
                plan.policy_name.as_deref().unwrap_or_default(),
                ACTION,
            )
            .await?;
        }
        let accessor = match vault.read_auth_method(&auth_path).await.map_err(fail(ACTION))? {
            Some(m) => m.accessor,
            None => {
                return Err(Diagnostic::error(
                    format!("Unable to {ACTION}"),
                    format!("The auth method at {auth_path:?} no longer exists; run `terraform apply` again to re-create it."),
                )
                .into())
            }
        };
        let state = Self::configure(vault, &plan, &accessor, ACTION).await?;
        // Renamed role or policy: remove the old one once the new one is in place.
        if let (Some(old), true) = (&prior.role_name, prior.role_name != plan.role_name) {
            vault
                .delete_jwt_role(&auth_path, old)
                .await
                .map_err(fail(ACTION))?;
        }
        if let (Some(old), true) = (&prior.policy_name, prior.policy_name != plan.policy_name) {
            vault.delete_acl_policy(old).await.map_err(fail(ACTION))?;
        }
        Ok(state)
    }

    async fn delete(
        &self,
        ctx: &ProviderData,
        state: VaultNomadWorkloadIdentityModel,
    ) -> Result<(), Diags> {
        const ACTION: &str = "delete stack_vault_nomad_workload_identity";
        let vault = ctx.vault()?;
        // Disabling the mount removes its config and roles and revokes the tokens it issued.
        vault
            .disable_auth_method(state.auth_path.as_deref().unwrap_or_default())
            .await
            .map_err(fail(ACTION))?;
        if let Some(policy) = state.policy_name.as_deref() {
            vault
                .delete_acl_policy(policy)
                .await
                .map_err(fail(ACTION))?;
        }
        Ok(())
    }

    fn import(id: &str) -> Result<VaultNomadWorkloadIdentityModel, Diags> {
        let path = id.trim_matches('/');
        if path.is_empty() {
            return Err(Diagnostic::error(
                "Invalid import ID",
                "The import ID is the path of the JWT auth method, e.g. `jwt-nomad`.",
            )
            .into());
        }
        Ok(VaultNomadWorkloadIdentityModel {
            id: Some(path.into()),
            auth_path: Some(path.into()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_template_and_its_mount() {
        let p = render_policy("team/kv", "auth_jwt_1234");
        assert!(p.contains(
            "path \"team/kv/data/{{identity.entity.aliases.auth_jwt_1234.metadata.nomad_namespace}}/{{identity.entity.aliases.auth_jwt_1234.metadata.nomad_job_id}}/*\""
        ), "{p}");
        assert!(crate::resources::vault_policy::check_policy(&p).is_ok());
        assert_eq!(kv_mount_of(&p, "auth_jwt_1234").as_deref(), Some("team/kv"));
        assert_eq!(kv_mount_of(&p, "auth_jwt_other"), None);
    }

    #[test]
    fn durations_print_as_vault_counts_them() {
        assert_eq!(format_duration(1800), "30m");
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(format_duration(3605), "1h5s");
        assert_eq!(format_duration(0), "0");
        assert_eq!(parse_duration(&format_duration(93784)), Some(93784));
        assert!(same_duration(&Value::from("30m"), &Value::from("1800")));
    }

    fn config(pairs: Vec<(&str, Value)>) -> Value {
        Value::object(pairs)
    }

    fn errors(v: &Value) -> Vec<String> {
        check_config(v)
            .items
            .iter()
            .map(|d| d.summary.clone())
            .collect()
    }

    #[test]
    fn exactly_one_key_source() {
        assert_eq!(errors(&config(vec![])), ["Missing key source"]);
        assert!(errors(&config(vec![(
            "jwks_url",
            "http://n:4646/.well-known/jwks.json".into()
        )]))
        .is_empty());
        assert!(errors(&config(vec![("jwks_url", Value::Unknown)])).is_empty());
        assert_eq!(
            errors(&config(vec![
                ("jwks_url", "http://n".into()),
                (
                    "jwt_validation_pubkeys",
                    strings(&["-----BEGIN PUBLIC KEY-----"])
                )
            ])),
            ["Conflicting key sources"]
        );
        assert_eq!(
            errors(&config(vec![
                ("jwks_ca_pem", "-----BEGIN CERTIFICATE-----".into()),
                (
                    "jwt_validation_pubkeys",
                    strings(&["-----BEGIN PUBLIC KEY-----"])
                )
            ])),
            ["`jwks_ca_pem` needs `jwks_url`"]
        );
        assert_eq!(
            errors(&config(vec![(
                "jwt_validation_pubkeys",
                strings(&["MIIB"])
            )])),
            ["Invalid public key"]
        );
    }

    #[test]
    fn other_plan_time_checks() {
        let url = ("jwks_url", Value::from("http://n"));
        assert_eq!(
            errors(&config(vec![
                url.clone(),
                ("jwt_supported_algs", strings(&["HS256"]))
            ])),
            ["Invalid signing algorithm"]
        );
        assert_eq!(
            errors(&config(vec![url.clone(), ("token_type", "batch".into())])),
            ["Batch tokens cannot be periodic"]
        );
        assert!(errors(&config(vec![
            url.clone(),
            ("token_type", "batch".into()),
            ("token_period", "0".into())
        ]))
        .is_empty());
        let mut m = default_claim_mappings();
        if let Some(map) = m.as_map_mut() {
            map.remove(JOB_KEY);
        }
        assert_eq!(
            errors(&config(vec![url.clone(), ("claim_mappings", m)])),
            ["Invalid claim_mappings"]
        );
        assert_eq!(
            errors(&config(vec![url, ("bound_audiences", Value::List(vec![]))])),
            ["Invalid bound_audiences"]
        );
        assert!(name_check("policy_name", true)(&Value::from("default")).is_err());
        assert!(name_check("policy_name", true)(&Value::from("Nomad")).is_err());
        assert!(name_check("role_name", false)(&Value::from("a/b")).is_err());
    }

    #[test]
    fn remote_strings_keep_null_and_spelling() {
        assert_eq!(remote_str(Some(String::new()), &None), None);
        assert_eq!(
            remote_str(Some(String::new()), &Some(String::new())),
            Some(String::new())
        );
        assert_eq!(
            remote_str(Some("-----X-----".into()), &Some("-----X-----\n".into())),
            Some("-----X-----\n".into())
        );
        assert_eq!(
            remote_str(Some("b".into()), &Some("a".into())),
            Some("b".into())
        );
    }
}
