//! `stack_consul_acl_token`: a Consul ACL token whose secret goes to Vault KV (or nowhere),
//! never into state.

use serde::{Deserialize, Serialize};
use stack_core::consul::acl::{AclTokenRequest, PolicyLink};
use tf_framework::schema::validators::clean_path;
use tf_framework::value::Type;
use tf_framework::{Attribute, AttributePath, Block, Diagnostic, Diags, Resource, Schema};

use super::token_store;
use crate::errors::fail;
use crate::ProviderData;

/// The resource.
pub struct ConsulAclToken;

/// State and configuration of `stack_consul_acl_token`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ConsulAclTokenModel {
    /// Accessor ID.
    pub id: Option<String>,
    /// Accessor ID.
    pub accessor_id: Option<String>,
    /// Human description.
    pub description: Option<String>,
    /// Policy names.
    pub policies: Option<Vec<String>>,
    /// Local to the datacenter.
    pub local: Option<bool>,
    /// KV v2 mount for the secret.
    pub vault_kv_mount: Option<String>,
    /// Secret path below the mount (optional).
    pub vault_kv_path: Option<String>,
}

impl ConsulAclTokenModel {
    fn request(&self) -> AclTokenRequest {
        let mut policies: Vec<PolicyLink> = self
            .policies
            .iter()
            .flatten()
            .map(|n| PolicyLink {
                id: String::new(),
                name: n.clone(),
            })
            .collect();
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        AclTokenRequest {
            description: self.description.clone().unwrap_or_default(),
            policies,
            local: self.local.unwrap_or(false),
        }
    }
}

impl Resource for ConsulAclToken {
    type Ctx = ProviderData;
    type Model = ConsulAclTokenModel;
    const TYPE_NAME: &'static str = "stack_consul_acl_token";

    fn schema() -> Schema {
        Schema::new(
            Block::new("A Consul ACL token. Its secret never enters state: with `vault_kv_path` it is written to Vault KV version 2 (keys `token` and `accessor_id`, the layout the provider's `token_vault_path` reads), otherwise it is not kept at all; the ephemeral resource `stack_consul_acl_token` reads it by accessor. Import ID: the accessor ID.")
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("The accessor ID."))
                .attr(Attribute::string("accessor_id").computed().use_state_for_unknown().doc("The accessor ID (not secret)."))
                .attr(Attribute::string("description").optional().doc("Human-readable description."))
                .attr(Attribute::typed("policies", Type::Set(Box::new(Type::String))).optional().doc("Names of the ACL policies the token carries."))
                .attr(Attribute::bool("local").default(false).requires_replace().doc("Valid only in this datacenter. Consul cannot change this on an existing token, so changing it forces a new token."))
                .attr(Attribute::string("vault_kv_mount").default("secret").requires_replace().validate(clean_path()).doc("KV version 2 mount for the secret. Defaults to `secret`."))
                .attr(Attribute::string("vault_kv_path").optional().requires_replace().validate(clean_path()).doc("Secret path below `vault_kv_mount` that receives the token. Without it the secret is not kept anywhere.")),
        )
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: ConsulAclTokenModel,
    ) -> Result<ConsulAclTokenModel, Diags> {
        let vault_path = plan.vault_kv_path.clone();
        let mount = plan
            .vault_kv_mount
            .clone()
            .unwrap_or_else(|| "secret".into());
        if let Some(path) = &vault_path {
            super::vault_kv_secret::ensure_kv2(ctx.vault()?, &mount, path, "vault_kv_mount")
                .await?;
        }
        let consul = ctx.consul().await?;
        let token = consul
            .acl_token_create(&plan.request())
            .await
            .map_err(fail("create stack_consul_acl_token"))?;
        let accessor = token.accessor_id.clone();
        let done = ConsulAclTokenModel {
            id: Some(accessor.clone()),
            accessor_id: Some(accessor.clone()),
            ..plan
        };
        if let Some(path) = vault_path {
            let secret = token
                .secret_id
                .as_ref()
                .map(|s| s.expose().to_string())
                .unwrap_or_default();
            tf_framework::log::register_secret(&secret);
            if let Err(e) =
                token_store::store(ctx.vault()?, &mount, &path, &secret, &accessor).await
            {
                // Keep the token in state so the next apply or destroy handles it.
                let d = Diagnostic::error(
                    "Consul token created, but its secret could not be stored in Vault",
                    e.report(),
                )
                .at(AttributePath::root("vault_kv_path"));
                let mut diags = Diags::from(d);
                diags = diags.with_partial_state(&done);
                return Err(diags);
            }
        }
        Ok(done)
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: ConsulAclTokenModel,
    ) -> Result<Option<ConsulAclTokenModel>, Diags> {
        let accessor = state.id.clone().unwrap_or_default();
        let found = ctx
            .consul()
            .await?
            .acl_token_read(&accessor)
            .await
            .map_err(fail("read stack_consul_acl_token"))?;
        Ok(found.map(|t| {
            let mut names: Vec<String> = t
                .policies
                .iter()
                .flatten()
                .map(|p| p.name.clone())
                .collect();
            names.sort();
            ConsulAclTokenModel {
                id: Some(t.accessor_id.clone()),
                accessor_id: Some(t.accessor_id),
                description: (!t.description.is_empty() || state.description.is_some())
                    .then_some(t.description),
                policies: (!names.is_empty() || state.policies.is_some()).then_some(names),
                local: Some(t.local),
                vault_kv_mount: state.vault_kv_mount.or(Some("secret".into())),
                vault_kv_path: state.vault_kv_path,
            }
        }))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        prior: ConsulAclTokenModel,
        plan: ConsulAclTokenModel,
    ) -> Result<ConsulAclTokenModel, Diags> {
        let accessor = prior.id.clone().unwrap_or_default();
        ctx.consul()
            .await?
            .acl_token_update(&accessor, &plan.request())
            .await
            .map_err(fail("update stack_consul_acl_token"))?;
        Ok(ConsulAclTokenModel {
            id: Some(accessor.clone()),
            accessor_id: Some(accessor),
            ..plan
        })
    }

    async fn delete(&self, ctx: &ProviderData, state: ConsulAclTokenModel) -> Result<(), Diags> {
        ctx.consul()
            .await?
            .acl_token_delete(&state.id.clone().unwrap_or_default())
            .await
            .map_err(fail("delete stack_consul_acl_token"))?;
        if let Some(path) = &state.vault_kv_path {
            let mount = state
                .vault_kv_mount
                .clone()
                .unwrap_or_else(|| "secret".into());
            ctx.vault()?
                .kv2_delete_metadata(&mount, path)
                .await
                .map_err(fail("delete the token secret of stack_consul_acl_token"))?;
        }
        Ok(())
    }

    fn import(id: &str) -> Result<ConsulAclTokenModel, Diags> {
        if id.len() != 36 {
            return Err(Diagnostic::error(
                "Invalid import ID",
                "The import ID is the token's accessor ID (a UUID).",
            )
            .into());
        }
        Ok(ConsulAclTokenModel {
            id: Some(id.into()),
            ..Default::default()
        })
    }
}
