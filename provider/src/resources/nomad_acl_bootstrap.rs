//! `stack_nomad_acl_bootstrap`: Nomad's side of [`super::acl_bootstrap`].

use stack_core::nomad::acl::Bootstrap;
use tf_framework::Diags;

use super::acl_bootstrap::{AclBootstrap, BootstrapTarget, Outcome};
use crate::errors::fail;
use crate::ProviderData;

/// Nomad.
pub struct Nomad;

/// The resource.
pub type NomadAclBootstrap = AclBootstrap<Nomad>;

impl BootstrapTarget for Nomad {
    const TYPE_NAME: &'static str = "stack_nomad_acl_bootstrap";
    const PRODUCT: &'static str = "Nomad";
    const BLOCK: &'static str = "nomad";
    const RESET_DIR: &'static str = "the Nomad leader's server data directory";

    async fn bootstrap(ctx: &ProviderData) -> Result<Outcome, Diags> {
        let client = ctx.nomad_with_token(None)?;
        Ok(
            match client
                .acl_bootstrap()
                .await
                .map_err(fail("bootstrap Nomad ACLs"))?
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
        match ctx.nomad_with_token(Some(token))?.acl_token_self().await {
            Ok(me) => Ok(Some(me.accessor_id)),
            // Nomad answers 403 "ACL token not found" for a deleted token.
            Err(e) if e.is_forbidden() => Ok(None),
            Err(e) => Err(fail("read the Nomad bootstrap token")(e)),
        }
    }
}
