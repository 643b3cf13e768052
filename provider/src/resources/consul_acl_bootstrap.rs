//! `stack_consul_acl_bootstrap`: Consul's side of [`super::acl_bootstrap`].

use stack_core::consul::acl::Bootstrap;
use tf_framework::Diags;

use super::acl_bootstrap::{AclBootstrap, BootstrapTarget, Outcome};
use crate::errors::fail;
use crate::ProviderData;

/// Consul.
pub struct Consul;

/// The resource.
pub type ConsulAclBootstrap = AclBootstrap<Consul>;

impl BootstrapTarget for Consul {
    const TYPE_NAME: &'static str = "stack_consul_acl_bootstrap";
    const PRODUCT: &'static str = "Consul";
    const BLOCK: &'static str = "consul";
    const RESET_DIR: &'static str = "the Consul leader's data directory";

    async fn bootstrap(ctx: &ProviderData) -> Result<Outcome, Diags> {
        let client = ctx.consul_with_token(None)?;
        Ok(
            match client
                .acl_bootstrap()
                .await
                .map_err(fail("bootstrap Consul ACLs"))?
            {
                Bootstrap::Done(t) => Outcome::Done(
                    t.accessor_id.clone(),
                    t.secret_id
                        .map(|s| s.expose().to_string())
                        .unwrap_or_default(),
                ),
                Bootstrap::AlreadyDone {
                    reset_index,
                    message,
                } => Outcome::AlreadyDone(message, reset_index),
            },
        )
    }

    async fn accessor_of(ctx: &ProviderData, token: String) -> Result<Option<String>, Diags> {
        match ctx.consul_with_token(Some(token))?.acl_token_self().await {
            Ok(me) => Ok(Some(me.accessor_id)),
            // Consul answers 403 "ACL not found" for a deleted token.
            Err(e) if e.is_forbidden() => Ok(None),
            Err(e) => Err(fail("read the Consul bootstrap token")(e)),
        }
    }
}
