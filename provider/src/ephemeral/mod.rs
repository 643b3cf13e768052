//! Ephemeral resources: values that exist only while Terraform runs, never in state.
//! One file each, registered here with one line.

use tf_framework::DynEphemeral;

use crate::ProviderData;

pub mod consul_acl_token;
pub mod vault_database_credentials;
pub mod vault_kv_secret;

/// Every ephemeral resource type of the provider.
pub fn all() -> Vec<Box<dyn DynEphemeral<ProviderData>>> {
    vec![
        Box::new(vault_kv_secret::VaultKvSecretEphemeral),
        Box::new(vault_database_credentials::VaultDatabaseCredentials),
        Box::new(consul_acl_token::ConsulAclTokenEphemeral),
    ]
}
