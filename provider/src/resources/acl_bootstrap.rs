//! `stack_consul_acl_bootstrap` and `stack_nomad_acl_bootstrap`: bootstrap a product's ACL
//! system and keep the management token in Vault KV v2, never in state. The two products
//! differ only in the calls, so one implementation serves both (see [`BootstrapTarget`]).

use std::future::Future;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use tf_framework::schema::validators::clean_path;
use tf_framework::{Attribute, AttributePath, Block, Diagnostic, Diags, Resource, Schema};

use super::token_store::{self, kv_name};
use crate::errors::fail;
use crate::ProviderData;

/// A bootstrap attempt's outcome, product-neutral.
pub enum Outcome {
    /// `(accessor, secret)` of the new management token.
    Done(String, String),
    /// Bootstrapped before: the server's message and reset index.
    AlreadyDone(String, Option<u64>),
}

/// What differs between Consul and Nomad.
pub trait BootstrapTarget: Send + Sync + 'static {
    /// Terraform type name.
    const TYPE_NAME: &'static str;
    /// Product name for messages.
    const PRODUCT: &'static str;
    /// Provider block name (`consul` / `nomad`).
    const BLOCK: &'static str;
    /// Where the `acl-bootstrap-reset` file goes.
    const RESET_DIR: &'static str;
    /// Bootstraps with an anonymous client.
    fn bootstrap(ctx: &ProviderData) -> impl Future<Output = Result<Outcome, Diags>> + Send;
    /// The accessor of `token`, `None` if the server no longer knows it.
    fn accessor_of(
        ctx: &ProviderData,
        token: String,
    ) -> impl Future<Output = Result<Option<String>, Diags>> + Send;
}

/// The resource, for one product.
pub struct AclBootstrap<P>(PhantomData<P>);

impl<P> AclBootstrap<P> {
    /// The resource value to register.
    pub fn new() -> Self {
        AclBootstrap(PhantomData)
    }
}

/// State and configuration.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct AclBootstrapModel {
    /// The bootstrap token's accessor.
    pub id: Option<String>,
    /// KV v2 mount.
    pub vault_kv_mount: Option<String>,
    /// Secret path below the mount.
    pub vault_kv_path: Option<String>,
    /// Accessor of the management token.
    pub accessor_id: Option<String>,
    /// `<mount>/<path>`, ready for the provider's `token_vault_path`.
    pub token_vault_path: Option<String>,
}

impl AclBootstrapModel {
    fn mount(&self) -> String {
        self.vault_kv_mount
            .clone()
            .unwrap_or_else(|| "secret".into())
    }
    fn path(&self) -> String {
        self.vault_kv_path.clone().unwrap_or_default()
    }
}

impl<P: BootstrapTarget> Resource for AclBootstrap<P> {
    type Ctx = ProviderData;
    type Model = AclBootstrapModel;
    const TYPE_NAME: &'static str = P::TYPE_NAME;

    fn schema() -> Schema {
        let (product, block) = (P::PRODUCT, P::BLOCK);
        Schema::new(
            Block::new(&format!("Bootstraps {product}'s ACL system and writes the management token into Vault KV version 2 (keys `token` and `accessor_id`), the layout the provider's `{block}.token_vault_path` reads. State keeps only the accessor. {product} allows one bootstrap per cluster: against a bootstrapped cluster this fails and reports {product}'s reset index. Destroy deletes the secret from Vault; {product} stays bootstrapped and the token stays valid. Import ID: `<mount>/<path>` of the secret."))
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("The accessor of the bootstrap token."))
                .attr(Attribute::string("vault_kv_mount").default("secret").requires_replace().validate(clean_path()).doc("KV version 2 mount that receives the token. Defaults to `secret`. Changing this forces a new resource."))
                .attr(Attribute::string("vault_kv_path").required().requires_replace().validate(clean_path()).doc(&format!("Secret path below `vault_kv_mount`, e.g. `bootstrap/{block}`. Changing this forces a new resource.")))
                .attr(Attribute::string("accessor_id").computed().use_state_for_unknown().doc("Accessor ID of the management token (not secret)."))
                .attr(Attribute::string("token_vault_path").computed().use_state_for_unknown().doc(&format!("`<vault_kv_mount>/<vault_kv_path>`: the value for the provider's `{block}.token_vault_path`."))),
        )
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: AclBootstrapModel,
    ) -> Result<AclBootstrapModel, Diags> {
        let (mount, path) = (plan.mount(), plan.path());
        let vault = ctx.vault()?;
        // Check the KV mount before bootstrapping: a token that cannot be stored is lost.
        super::vault_kv_secret::ensure_kv2(vault, &mount, &path, "vault_kv_mount").await?;
        let (accessor, secret) = match P::bootstrap(ctx).await? {
            Outcome::Done(a, s) => (a, s),
            Outcome::AlreadyDone(message, reset) => {
                let reset = reset.map_or_else(String::new, |i| format!(" To bootstrap again, write {i} to a file named `acl-bootstrap-reset` in {}, then apply again.", P::RESET_DIR));
                return Err(Diagnostic::error(
                    format!("{} ACLs are already bootstrapped", P::PRODUCT),
                    format!("{} answered: {message}.{reset} If the management token is already in Vault, point the provider's `{}.token_vault_path` at it instead of using this resource.", P::PRODUCT, P::BLOCK),
                )
                .into());
            }
        };
        tf_framework::log::register_secret(&secret);
        token_store::store(vault, &mount, &path, &secret, &accessor)
            .await
            .map_err(|e| {
                Diags::from(Diagnostic::error(
                    format!("{} ACLs bootstrapped, but the token could not be stored in Vault", P::PRODUCT),
                    format!("{}\n\nThe management token (accessor {accessor}) exists in {} but is saved nowhere. Reset the bootstrap (`acl-bootstrap-reset` in {}) and apply again.", e.report(), P::PRODUCT, P::RESET_DIR),
                )
                .at(AttributePath::root("vault_kv_path")))
            })?;
        Ok(AclBootstrapModel {
            id: Some(accessor.clone()),
            accessor_id: Some(accessor),
            token_vault_path: Some(kv_name(&mount, &path)),
            ..plan
        })
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: AclBootstrapModel,
    ) -> Result<Option<AclBootstrapModel>, Diags> {
        let (mount, path) = (state.mount(), state.path());
        let Some(token) = token_store::stored_token(ctx.vault()?, &mount, &path)
            .await
            .map_err(fail("read the ACL bootstrap token from Vault"))?
        else {
            return Ok(None);
        };
        tf_framework::log::register_secret(&token);
        // The stored token must still be valid; its own accessor is the truth.
        Ok(P::accessor_of(ctx, token)
            .await?
            .map(|accessor| AclBootstrapModel {
                id: Some(accessor.clone()),
                accessor_id: Some(accessor),
                token_vault_path: Some(kv_name(&mount, &path)),
                vault_kv_mount: Some(mount),
                vault_kv_path: Some(path),
            }))
    }

    async fn update(
        &self,
        _ctx: &ProviderData,
        _prior: AclBootstrapModel,
        plan: AclBootstrapModel,
    ) -> Result<AclBootstrapModel, Diags> {
        Ok(plan)
    }

    async fn delete(&self, ctx: &ProviderData, state: AclBootstrapModel) -> Result<(), Diags> {
        ctx.vault()?
            .kv2_delete_metadata(&state.mount(), &state.path())
            .await
            .map_err(fail("delete the ACL bootstrap token from Vault"))
    }

    fn import(id: &str) -> Result<AclBootstrapModel, Diags> {
        let (mount, path) = id
            .split_once('/')
            .filter(|(m, p)| !m.is_empty() && !p.is_empty())
            .ok_or_else(|| {
                Diags::from(Diagnostic::error(
                    "Invalid import ID",
                    "The import ID is the KV secret holding the token, `<mount>/<path>`, e.g. `secret/bootstrap/consul`.",
                ))
            })?;
        Ok(AclBootstrapModel {
            vault_kv_mount: Some(mount.into()),
            vault_kv_path: Some(path.into()),
            ..Default::default()
        })
    }
}
