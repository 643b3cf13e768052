//! Ephemeral `stack_consul_acl_token`: reads a Consul token's secret by accessor while
//! Terraform runs, without it entering plan or state.

use serde::{Deserialize, Serialize};
use tf_framework::{
    Attribute, AttributePath, Block, Diagnostic, Diags, EphemeralResource, Opened, Schema,
};

use crate::errors::fail;
use crate::ProviderData;

/// The ephemeral resource.
pub struct ConsulAclTokenEphemeral;

/// Configuration and result. No `Debug`: it holds the secret.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct ConsulAclTokenEphemeralModel {
    /// Accessor ID to look up.
    pub accessor_id: Option<String>,
    /// The token's secret.
    pub secret_id: Option<String>,
    /// Human description.
    pub description: Option<String>,
}

impl EphemeralResource for ConsulAclTokenEphemeral {
    type Ctx = ProviderData;
    type Model = ConsulAclTokenEphemeralModel;
    const TYPE_NAME: &'static str = "stack_consul_acl_token";

    fn schema() -> Schema {
        Schema::new(
            Block::new("Reads a Consul ACL token's secret by its accessor while Terraform runs. The secret never enters the plan or state; pass it to write-only arguments or provider configuration. The provider's Consul token needs `acl = \"write\"` to see secrets.")
                .attr(Attribute::string("accessor_id").required().doc("Accessor ID of the token, e.g. `stack_consul_acl_token.app.accessor_id`."))
                .attr(Attribute::string("secret_id").computed().sensitive().doc("The token's secret."))
                .attr(Attribute::string("description").computed().doc("The token's description.")),
        )
    }

    async fn open(
        &self,
        ctx: &ProviderData,
        config: ConsulAclTokenEphemeralModel,
    ) -> Result<Opened<ConsulAclTokenEphemeralModel>, Diags> {
        let accessor = config.accessor_id.clone().unwrap_or_default();
        let found = ctx
            .consul()
            .await?
            .acl_token_read(&accessor)
            .await
            .map_err(fail("read stack_consul_acl_token"))?;
        let Some(token) = found else {
            return Err(Diagnostic::error(
                "Consul token not found",
                format!("No Consul ACL token has the accessor ID {accessor:?}."),
            )
            .at(AttributePath::root("accessor_id"))
            .into());
        };
        let secret = token
            .secret_id
            .as_ref()
            .map(|s| s.expose().to_string())
            .filter(|s| !s.is_empty());
        let Some(secret) = secret else {
            return Err(Diagnostic::error("Consul did not return the token's secret", "The provider's Consul token can read the token but not its secret; it needs `acl = \"write\"`.").at(AttributePath::root("accessor_id")).into());
        };
        tf_framework::log::register_secret(&secret);
        Ok(Opened {
            result: ConsulAclTokenEphemeralModel {
                secret_id: Some(secret),
                description: Some(token.description),
                ..config
            },
            renew_at: None,
            private: Vec::new(),
        })
    }
}
