//! `stack_consul_connect`: Consul Connect's CA (built-in, or Vault PKI with a least-privilege
//! token the resource creates) and the mesh's default intention.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};
use stack_core::consul::connect_ca::CaConfiguration;
use stack_core::vault::auth_token::OrphanTokenRequest;
use stack_core::{ConsulClient, VaultClient};
use tf_framework::schema::validators::{clean_path, one_of, parse_duration};
use tf_framework::{
    Attribute, AttributePath, Block, Diagnostic, Diags, NestedBlock, Resource, Schema, Value,
};

use super::consul_intention::{remove_source, set_source, source_action};
use super::vault_pki_ca::{positive_duration, same_duration};
use crate::errors::fail;
use crate::ProviderData;

/// The resource.
pub struct ConsulConnect;

/// The `vault` block.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct VaultCaModel {
    /// Vault address as Consul's servers reach it.
    pub address: Option<String>,
    /// Root PKI mount.
    pub root_pki_path: Option<String>,
    /// Intermediate PKI mount.
    pub intermediate_pki_path: Option<String>,
    /// Leaf TTL.
    pub leaf_cert_ttl: Option<String>,
    /// Intermediate TTL.
    pub intermediate_cert_ttl: Option<String>,
    /// Root TTL (when Consul generates the root).
    pub root_cert_ttl: Option<String>,
    /// `ec` or `rsa`.
    pub private_key_type: Option<String>,
    /// Key size.
    pub private_key_bits: Option<i64>,
    /// Token for Consul (write-only).
    pub token_wo: Option<String>,
    /// Bump to send `token_wo` again.
    pub token_wo_version: Option<i64>,
}

/// State and configuration of `stack_consul_connect`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ConsulConnectModel {
    /// Always `connect`.
    pub id: Option<String>,
    /// `consul` or `vault`.
    pub ca_provider: Option<String>,
    /// Vault provider settings.
    pub vault: Option<VaultCaModel>,
    /// `allow` or `deny`.
    pub default_intention: Option<String>,
    /// Active root ID.
    pub active_root_id: Option<String>,
    /// SPIFFE trust domain.
    pub trust_domain: Option<String>,
    /// PEM of every trusted root.
    pub root_certificates: Option<Vec<String>>,
    /// Vault policy created for Consul.
    pub vault_policy_name: Option<String>,
    /// Accessor of the Vault token created for Consul.
    pub vault_token_accessor: Option<String>,
}

const DEFAULT_LEAF_TTL: &str = "72h";
const DEFAULT_INTERMEDIATE_TTL: &str = "8760h";
const DEFAULT_ROOT_TTL: &str = "87600h";

/// The Vault policy Consul's CA provider needs on these two mounts, and no more: mount
/// management for the two paths (Consul mounts and tunes them), the engines themselves,
/// `sign-self-issued` with `sudo` (cross-signing a new root on rotation), and
/// renewing/looking up its own token.
pub fn ca_policy(root: &str, int: &str) -> String {
    let crud = r#"["create", "read", "update", "delete", "list"]"#;
    format!(
        r#"path "sys/mounts" {{
  capabilities = ["read"]
}}
path "sys/mounts/{root}" {{
  capabilities = {crud}
}}
path "sys/mounts/{int}" {{
  capabilities = {crud}
}}
path "sys/mounts/{int}/tune" {{
  capabilities = ["update"]
}}
path "{root}/*" {{
  capabilities = {crud}
}}
path "{root}/root/sign-self-issued" {{
  capabilities = ["sudo", "update"]
}}
path "{int}/*" {{
  capabilities = {crud}
}}
path "auth/token/renew-self" {{
  capabilities = ["update"]
}}
path "auth/token/lookup-self" {{
  capabilities = ["read"]
}}
"#
    )
}

fn policy_name(root: &str, int: &str) -> String {
    let clean = |s: &str| s.replace('/', "-");
    format!("consul-connect-ca-{}-{}", clean(root), clean(int))
}

fn key_bits_ok(kind: &str, bits: i64) -> bool {
    match kind {
        "ec" => [224, 256, 384, 521].contains(&bits),
        "rsa" => [2048, 4096].contains(&bits),
        _ => false,
    }
}

impl ConsulConnectModel {
    fn is_vault(&self) -> bool {
        self.ca_provider.as_deref() == Some("vault")
    }

    fn deny_all(&self) -> bool {
        self.default_intention.as_deref() == Some("deny")
    }

    /// Consul's CA configuration for this model, with `token` for the vault provider.
    fn ca_config(&self, vault_address: &str, token: Option<&str>) -> CaConfiguration {
        let v = self.vault.clone().unwrap_or_default();
        let mut config = Map::new();
        config.insert(
            "LeafCertTTL".into(),
            json!(v
                .leaf_cert_ttl
                .clone()
                .unwrap_or_else(|| DEFAULT_LEAF_TTL.into())),
        );
        config.insert(
            "IntermediateCertTTL".into(),
            json!(v
                .intermediate_cert_ttl
                .clone()
                .unwrap_or_else(|| DEFAULT_INTERMEDIATE_TTL.into())),
        );
        if self.is_vault() {
            config.insert(
                "RootCertTTL".into(),
                json!(v
                    .root_cert_ttl
                    .clone()
                    .unwrap_or_else(|| DEFAULT_ROOT_TTL.into())),
            );
            config.insert(
                "Address".into(),
                json!(v
                    .address
                    .clone()
                    .unwrap_or_else(|| vault_address.to_string())),
            );
            config.insert(
                "RootPKIPath".into(),
                json!(v.root_pki_path.clone().unwrap_or_default()),
            );
            config.insert(
                "IntermediatePKIPath".into(),
                json!(v.intermediate_pki_path.clone().unwrap_or_default()),
            );
            config.insert(
                "PrivateKeyType".into(),
                json!(v.private_key_type.clone().unwrap_or_else(|| "ec".into())),
            );
            config.insert(
                "PrivateKeyBits".into(),
                json!(v.private_key_bits.unwrap_or(256)),
            );
            if let Some(t) = token {
                config.insert("Token".into(), json!(t));
            }
        }
        CaConfiguration {
            provider: self.ca_provider.clone().unwrap_or_else(|| "consul".into()),
            config,
            force_without_cross_signing: false,
            modify_index: 0,
        }
    }
}

/// The built-in CA with Consul's defaults: what destroy returns Consul to.
fn builtin_ca() -> CaConfiguration {
    let mut config = Map::new();
    config.insert("LeafCertTTL".into(), json!(DEFAULT_LEAF_TTL));
    config.insert(
        "IntermediateCertTTL".into(),
        json!(DEFAULT_INTERMEDIATE_TTL),
    );
    CaConfiguration {
        provider: "consul".into(),
        config,
        force_without_cross_signing: false,
        modify_index: 0,
    }
}

/// Creates the policy and a periodic orphan token for Consul; returns (token, accessor).
async fn provision_token(
    vault: &VaultClient,
    root: &str,
    int: &str,
) -> Result<(String, String, String), Diags> {
    let name = policy_name(root, int);
    vault
        .write_acl_policy(&name, &ca_policy(root, int))
        .await
        .map_err(fail("write the Vault policy for Consul's CA"))?;
    let created = vault
        .token_create_orphan(&OrphanTokenRequest {
            policies: vec![name.clone()],
            period: "24h".into(),
            display_name: "consul-connect-ca".into(),
            no_default_policy: true,
            meta: None,
        })
        .await
        .map_err(fail("create the Vault token for Consul's CA"))?;
    let token = created.client_token.expose().to_string();
    tf_framework::log::register_secret(&token);
    Ok((token, created.accessor, name))
}

async fn roots_into(consul: &ConsulClient, m: &mut ConsulConnectModel) -> Result<(), Diags> {
    let roots = consul
        .ca_roots()
        .await
        .map_err(fail("read Consul's CA roots"))?;
    m.active_root_id = Some(roots.active_root_id.clone());
    m.trust_domain = Some(roots.trust_domain.clone());
    m.root_certificates = Some(
        roots
            .roots
            .iter()
            .flatten()
            .map(|r| r.root_cert.trim().to_string() + "\n")
            .collect(),
    );
    Ok(())
}

/// Points Consul at the CA of `plan`, creating (or reusing) Vault's side first. On failure,
/// whatever this call created in Vault is removed again.
async fn configure(
    ctx: &ProviderData,
    prior: Option<&ConsulConnectModel>,
    mut plan: ConsulConnectModel,
) -> Result<ConsulConnectModel, Diags> {
    let consul = ctx.consul().await?;
    let mut created: Option<(String, String)> = None; // (accessor, policy) made by this call
    let mut token: Option<String> = None;
    let vault_address;
    if plan.is_vault() {
        let vault = ctx.vault()?;
        vault_address = vault.address().to_string();
        let v = plan.vault.clone().unwrap_or_default();
        let (root, int) = (
            v.root_pki_path.clone().unwrap_or_default(),
            v.intermediate_pki_path.clone().unwrap_or_default(),
        );
        if let Some(t) = v.token_wo.clone() {
            tf_framework::log::register_secret(&t);
            token = Some(t);
            plan.vault_policy_name = None;
            plan.vault_token_accessor = None;
        } else {
            let reuse = prior.filter(|p| {
                p.is_vault()
                    && p.vault_token_accessor.is_some()
                    && p.vault_policy_name.as_deref() == Some(policy_name(&root, &int).as_str())
            });
            if reuse.is_some() && !needs_new_token(prior, &plan) {
                // Same paths: Consul keeps the token it has; only send settings.
                plan.vault_policy_name = reuse.and_then(|p| p.vault_policy_name.clone());
                plan.vault_token_accessor = reuse.and_then(|p| p.vault_token_accessor.clone());
                token = current_token(&consul).await?;
            } else {
                let (t, accessor, name) = provision_token(vault, &root, &int).await?;
                created = Some((accessor.clone(), name.clone()));
                token = Some(t);
                plan.vault_policy_name = Some(name);
                plan.vault_token_accessor = Some(accessor);
            }
        }
        plan.vault = Some(VaultCaModel {
            address: Some(v.address.clone().unwrap_or_else(|| vault_address.clone())),
            ..v
        });
    } else {
        vault_address = String::new();
        plan.vault_policy_name = None;
        plan.vault_token_accessor = None;
    }
    let config = plan.ca_config(&vault_address, token.as_deref());
    if let Err(e) = consul.ca_configure(&config).await {
        if let Some((accessor, name)) = created {
            cleanup_vault(ctx, &accessor, &name).await;
        }
        let at = if plan.is_vault() {
            AttributePath::root("vault")
        } else {
            AttributePath::root("ca_provider")
        };
        return Err(crate::errors::diag_at("configure Consul's Connect CA", &e, at).into());
    }
    // The old token (if replaced) is no longer used by Consul.
    if let Some(p) = prior {
        if p.vault_token_accessor.is_some() && p.vault_token_accessor != plan.vault_token_accessor {
            cleanup_vault(
                ctx,
                p.vault_token_accessor.as_deref().unwrap_or_default(),
                p.vault_policy_name
                    .as_deref()
                    .filter(|n| Some(*n) != plan.vault_policy_name.as_deref())
                    .unwrap_or_default(),
            )
            .await;
        }
    }
    if plan.deny_all() {
        set_source(
            &consul,
            "*",
            "*",
            "deny",
            Some("zero trust: managed by stack_consul_connect"),
        )
        .await
        .map_err(fail("write the default deny intention"))?;
    } else if prior.is_some_and(ConsulConnectModel::deny_all) {
        remove_source(&consul, "*", "*")
            .await
            .map_err(fail("remove the default deny intention"))?;
    }
    plan.id = Some("connect".into());
    roots_into(&consul, &mut plan).await?;
    Ok(plan)
}

/// A new token is needed when the provider switches to vault or the mounts change.
fn needs_new_token(prior: Option<&ConsulConnectModel>, plan: &ConsulConnectModel) -> bool {
    let paths = |m: &ConsulConnectModel| {
        m.vault
            .as_ref()
            .map(|v| (v.root_pki_path.clone(), v.intermediate_pki_path.clone()))
    };
    prior.is_none_or(|p| !p.is_vault() || paths(p) != paths(plan))
}

/// The token Consul currently holds (Consul returns its stored config unredacted).
async fn current_token(consul: &ConsulClient) -> Result<Option<String>, Diags> {
    let config = consul
        .ca_configuration()
        .await
        .map_err(fail("read Consul's CA configuration"))?;
    let t = config
        .config
        .get("Token")
        .and_then(Json::as_str)
        .map(str::to_string);
    if let Some(t) = &t {
        tf_framework::log::register_secret(t);
    }
    Ok(t)
}

async fn cleanup_vault(ctx: &ProviderData, accessor: &str, policy: &str) {
    let Ok(vault) = ctx.vault() else { return };
    if !accessor.is_empty() {
        if let Err(e) = vault.token_revoke_accessor(accessor).await {
            log::warn!("revoking the Consul CA token failed: {}", e.report());
        }
    }
    if !policy.is_empty() {
        if let Err(e) = vault.delete_acl_policy(policy).await {
            log::warn!("deleting the Consul CA policy failed: {}", e.report());
        }
    }
}

fn rotates_root(prior: &Value, planned: &Value) -> Option<String> {
    if prior.is_null() {
        return None;
    }
    let s = |v: &Value, path: &[&str]| -> Option<String> {
        let mut cur = v.clone();
        for p in path {
            cur = cur.get(p).clone();
        }
        match cur {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Unknown => Some("(known after apply)".into()),
            _ => None,
        }
    };
    for (path, what) in [
        (&["ca_provider"][..], "the CA provider"),
        (&["vault", "root_pki_path"][..], "vault.root_pki_path"),
        (&["vault", "private_key_type"][..], "vault.private_key_type"),
        (&["vault", "private_key_bits"][..], "vault.private_key_bits"),
    ] {
        if s(prior, path) != s(planned, path) {
            return Some(what.into());
        }
    }
    None
}

fn ttl_rules(v: &Value) -> Diags {
    let mut diags = Diags::new();
    let vault = v.get("vault");
    let get = |name: &str, default: &str| -> Option<u64> {
        match vault.get(name) {
            Value::String(s) => parse_duration(s),
            Value::Null => parse_duration(default),
            _ => None,
        }
    };
    if let (Some(leaf), Some(int)) = (
        get("leaf_cert_ttl", DEFAULT_LEAF_TTL),
        get("intermediate_cert_ttl", DEFAULT_INTERMEDIATE_TTL),
    ) {
        if !(3600..8760 * 3600).contains(&leaf) {
            diags.push(Diagnostic::error("Invalid leaf_cert_ttl", "Consul requires a leaf certificate TTL of at least 1h and less than 8760h (1 year).").at(AttributePath::root("vault").attr("leaf_cert_ttl")));
        } else if int < 3 * 3600 || int < 3 * leaf {
            diags.push(Diagnostic::error("Invalid intermediate_cert_ttl", format!("Consul requires the intermediate TTL to be at least 3h and at least 3 × leaf_cert_ttl (≥ {}h).", 3 * leaf / 3600)).at(AttributePath::root("vault").attr("intermediate_cert_ttl")));
        }
        if let Some(root) = get("root_cert_ttl", DEFAULT_ROOT_TTL) {
            if root < int {
                diags.push(
                    Diagnostic::error(
                        "Invalid root_cert_ttl",
                        "Consul requires root_cert_ttl ≥ intermediate_cert_ttl.",
                    )
                    .at(AttributePath::root("vault").attr("root_cert_ttl")),
                );
            }
        }
    }
    if let (Value::String(kind), Value::Number(bits)) =
        (vault.get("private_key_type"), vault.get("private_key_bits"))
    {
        if let Some(b) = bits.as_i64() {
            if !key_bits_ok(kind, b) {
                diags.push(Diagnostic::error("Invalid private_key_bits", format!("{b} bits is not valid for {kind:?} keys: ec takes 224, 256, 384 or 521; rsa takes 2048 or 4096.")).at(AttributePath::root("vault").attr("private_key_bits")));
            }
        }
    }
    diags
}

impl Resource for ConsulConnect {
    type Ctx = ProviderData;
    type Model = ConsulConnectModel;
    const TYPE_NAME: &'static str = "stack_consul_connect";

    fn schema() -> Schema {
        Schema::new(
            Block::new("Consul Connect's certificate authority and the mesh's default intention, as one resource. With `ca_provider = \"vault\"` and no `token_wo`, the resource writes a least-privilege Vault policy for Consul's CA provider (exactly the paths it needs on the two mounts, plus renewing and looking up its own token) and a periodic orphan token with it, and hands that token to Consul; the token never enters state. `default_intention = \"deny\"` manages a `*` → `*` deny intention (zero trust). Changes apply in place; the plan warns when a change rotates the root. Destroy returns Consul to its built-in CA and removes the policy, token and intention it created. Import ID: `connect`.")
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("Always `connect`."))
                .attr(Attribute::string("ca_provider").required().validate(one_of(&["consul", "vault"])).doc("`consul` (Consul's built-in CA) or `vault` (Vault PKI, settings in the `vault` block)."))
                .attr(Attribute::string("default_intention").default("allow").validate(one_of(&["allow", "deny"])).doc("`allow` (default: no intention managed) or `deny`: a `*` → `*` deny intention, so only explicit `stack_consul_intention` edges may talk."))
                .attr(Attribute::string("active_root_id").computed().doc("ID of the active root (colon-hex)."))
                .attr(Attribute::string("trust_domain").computed().use_state_for_unknown().doc("SPIFFE trust domain, `<cluster id>.consul`."))
                .attr(Attribute::string_list("root_certificates").computed().doc("PEM of every root Consul trusts, the active one included."))
                .attr(Attribute::string("vault_policy_name").computed().doc("Name of the Vault policy created for Consul (vault provider without `token_wo`)."))
                .attr(Attribute::string("vault_token_accessor").computed().doc("Accessor of the Vault token created for Consul (not secret)."))
                .block(NestedBlock::single("vault", Block::new("Vault PKI settings for `ca_provider = \"vault\"`.")
                    .attr(Attribute::string("address").optional().computed().doc("Vault address as Consul's servers reach it. Defaults to the provider's Vault address."))
                    .attr(Attribute::string("root_pki_path").required().validate(clean_path()).doc("PKI mount of the root CA (e.g. one managed by `stack_vault_pki_ca`). Consul adopts an existing root, or mounts and generates one."))
                    .attr(Attribute::string("intermediate_pki_path").required().validate(clean_path()).doc("PKI mount Consul manages for its intermediate CA and leaf signing."))
                    .attr(Attribute::string("leaf_cert_ttl").default(DEFAULT_LEAF_TTL).validate(positive_duration).equivalent(same_duration).doc("TTL of leaf certificates: at least 1h, under 8760h. Defaults to `72h`."))
                    .attr(Attribute::string("intermediate_cert_ttl").default(DEFAULT_INTERMEDIATE_TTL).validate(positive_duration).equivalent(same_duration).doc("TTL of the intermediate: at least 3 × `leaf_cert_ttl`. Defaults to `8760h`."))
                    .attr(Attribute::string("root_cert_ttl").default(DEFAULT_ROOT_TTL).validate(positive_duration).equivalent(same_duration).doc("TTL of a root Consul generates itself. Defaults to `87600h`."))
                    .attr(Attribute::string("private_key_type").default("ec").validate(one_of(&["ec", "rsa"])).doc("`ec` (default) or `rsa`."))
                    .attr(Attribute::number("private_key_bits").default(256).doc("Key size: 224, 256 (default), 384 or 521 for ec; 2048 or 4096 for rsa."))
                    .attr(Attribute::string("token_wo").optional().write_only().sensitive().doc("A Vault token for Consul to use instead of the one this resource would create. Write-only: never stored."))
                    .attr(Attribute::number("token_wo_version").optional().doc("Bump to send `token_wo` again.")))),
        )
    }

    fn validate(config: &Value) -> Diags {
        let mut diags = ttl_rules(config);
        let vault = config.get("vault");
        match config.get("ca_provider").as_str() {
            Some("vault") if vault.is_null() => diags.push(Diagnostic::error("Missing vault block", "`ca_provider = \"vault\"` needs a `vault` block with `root_pki_path` and `intermediate_pki_path`.").at(AttributePath::root("ca_provider"))),
            Some("consul") if !vault.is_null() => diags.push(Diagnostic::error("Unexpected vault block", "The `vault` block only applies to `ca_provider = \"vault\"`.").at(AttributePath::root("vault"))),
            _ => {}
        }
        if let (Value::String(r), Value::String(i)) = (
            vault.get("root_pki_path"),
            vault.get("intermediate_pki_path"),
        ) {
            if r == i {
                diags.push(
                    Diagnostic::error(
                        "Invalid intermediate_pki_path",
                        "The intermediate must be a different mount than the root.",
                    )
                    .at(AttributePath::root("vault").attr("intermediate_pki_path")),
                );
            }
        }
        if !vault.get("token_wo").is_null() && vault.get("token_wo_version").is_null() {
            diags.push(
                Diagnostic::error(
                    "Missing token_wo_version",
                    "Set `token_wo_version` with `token_wo`, and bump it to send a new token.",
                )
                .at(AttributePath::root("vault").attr("token_wo_version")),
            );
        }
        diags
    }

    async fn modify_plan<'a>(
        &'a self,
        _ctx: Option<&'a ProviderData>,
        prior: &'a Value,
        planned: &'a mut Value,
        diags: &'a mut Diags,
    ) {
        if planned.is_null() {
            return;
        }
        if let Some(what) = rotates_root(prior, planned) {
            diags.warning(
                "This change rotates the Connect root CA",
                format!("Changing {what} makes Consul generate or adopt a new root and re-issue every leaf certificate (with cross-signing where the provider supports it). Services reconnect as their certificates rotate."),
            );
            if let Some(m) = planned.as_map_mut() {
                for k in ["active_root_id", "root_certificates"] {
                    m.insert(k.into(), Value::Unknown);
                }
            }
        }
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: ConsulConnectModel,
    ) -> Result<ConsulConnectModel, Diags> {
        configure(ctx, None, plan).await
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: ConsulConnectModel,
    ) -> Result<Option<ConsulConnectModel>, Diags> {
        let consul = ctx.consul().await?;
        let config = consul
            .ca_configuration()
            .await
            .map_err(fail("read Consul's CA configuration"))?;
        let c = &config.config;
        let text = |k: &str| c.get(k).and_then(Json::as_str).map(str::to_string);
        let mut m = ConsulConnectModel {
            id: Some("connect".into()),
            ca_provider: Some(config.provider.clone()),
            ..state.clone()
        };
        if config.provider == "vault" {
            let prior = state.vault.clone().unwrap_or_default();
            m.vault = Some(VaultCaModel {
                address: text("Address"),
                root_pki_path: text("RootPKIPath").map(|p| p.trim_matches('/').to_string()),
                intermediate_pki_path: text("IntermediatePKIPath")
                    .map(|p| p.trim_matches('/').to_string()),
                leaf_cert_ttl: text("LeafCertTTL").or(prior.leaf_cert_ttl.clone()),
                intermediate_cert_ttl: text("IntermediateCertTTL")
                    .or(prior.intermediate_cert_ttl.clone()),
                root_cert_ttl: text("RootCertTTL").or(prior.root_cert_ttl.clone()),
                private_key_type: text("PrivateKeyType").or(Some("ec".into())),
                private_key_bits: c.get("PrivateKeyBits").and_then(Json::as_i64).or(Some(256)),
                token_wo: None,
                token_wo_version: prior.token_wo_version,
            });
            // The token we made for Consul must still exist.
            if let Some(acc) = &state.vault_token_accessor {
                if ctx
                    .vault()?
                    .token_lookup_accessor(acc)
                    .await
                    .map_err(fail("look up Consul's CA token"))?
                    .is_none()
                {
                    m.vault_token_accessor = Some(String::new());
                }
            }
        } else {
            m.vault = None;
            m.vault_policy_name = None;
            m.vault_token_accessor = None;
        }
        let deny = matches!(source_action(&consul, "*", "*").await.map_err(fail("read the default intention"))?, Some((a, _)) if a == "deny");
        m.default_intention = Some(if deny { "deny" } else { "allow" }.into());
        roots_into(&consul, &mut m).await?;
        Ok(Some(m))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        prior: ConsulConnectModel,
        plan: ConsulConnectModel,
    ) -> Result<ConsulConnectModel, Diags> {
        configure(ctx, Some(&prior), plan).await
    }

    async fn delete(&self, ctx: &ProviderData, state: ConsulConnectModel) -> Result<(), Diags> {
        let consul = ctx.consul().await?;
        if state.deny_all() {
            remove_source(&consul, "*", "*")
                .await
                .map_err(fail("remove the default deny intention"))?;
        }
        if state.is_vault() {
            consul
                .ca_configure(&builtin_ca())
                .await
                .map_err(fail("return Consul to its built-in CA"))?;
        }
        if let Some(acc) = &state.vault_token_accessor {
            let vault = ctx.vault()?;
            vault
                .token_revoke_accessor(acc)
                .await
                .map_err(fail("revoke Consul's CA token"))?;
        }
        if let Some(name) = &state.vault_policy_name {
            ctx.vault()?
                .delete_acl_policy(name)
                .await
                .map_err(fail("delete Consul's CA policy"))?;
        }
        Ok(())
    }

    fn import(id: &str) -> Result<ConsulConnectModel, Diags> {
        if id != "connect" {
            return Err(Diagnostic::error(
                "Invalid import ID",
                "The import ID is `connect`: a Consul cluster has one Connect CA.",
            )
            .into());
        }
        Ok(ConsulConnectModel {
            id: Some("connect".into()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_only_the_two_mounts() {
        let p = ca_policy("pki-root", "connect-int");
        assert!(p.contains("path \"pki-root/*\"") && p.contains("path \"connect-int/*\""));
        assert!(p.contains("auth/token/renew-self") && p.contains("auth/token/lookup-self"));
        assert!(!p.contains("\"*\"") && !p.contains("sys/mounts/*"));
        assert!(super::super::vault_policy::check_policy(&p).is_ok());
    }

    #[test]
    fn ttl_rules_follow_consul() {
        let cfg = |leaf: &str, int: &str| {
            Value::Map(
                [(
                    "vault".to_string(),
                    Value::Map(
                        [
                            ("leaf_cert_ttl".to_string(), Value::from(leaf)),
                            ("intermediate_cert_ttl".to_string(), Value::from(int)),
                        ]
                        .into(),
                    ),
                )]
                .into(),
            )
        };
        assert!(!ttl_rules(&cfg("72h", "8760h")).has_errors());
        assert!(ttl_rules(&cfg("30m", "8760h")).has_errors());
        assert!(ttl_rules(&cfg("72h", "100h")).has_errors());
        assert!(key_bits_ok("ec", 384) && !key_bits_ok("ec", 2048) && key_bits_ok("rsa", 4096));
    }
}
