//! Managed resources: one file each, registered here with one line.

use tf_framework::DynResource;

use crate::ProviderData;

mod acl_bootstrap;
pub mod consul_acl_bootstrap;
pub mod consul_acl_policy;
pub mod consul_acl_token;
pub mod consul_connect;
pub mod consul_intention;
mod mounts;
pub mod nomad_acl_bootstrap;
pub mod nomad_acl_policy;
pub mod nomad_job_with_secrets;
pub mod nomad_namespace;
mod token_store;
pub mod vault_audit;
pub mod vault_database_secrets;
pub mod vault_kv_secret;
pub mod vault_nomad_workload_identity;
pub mod vault_pki_ca;
pub mod vault_policy;

/// Every managed resource type of the provider.
pub fn all() -> Vec<Box<dyn DynResource<ProviderData>>> {
    vec![
        Box::new(vault_policy::VaultPolicy),
        Box::new(vault_pki_ca::VaultPkiCa),
        Box::new(vault_audit::VaultAudit),
        Box::new(vault_nomad_workload_identity::VaultNomadWorkloadIdentity),
        Box::new(vault_kv_secret::VaultKvSecret),
        Box::new(vault_database_secrets::VaultDatabaseSecrets),
        Box::new(consul_acl_bootstrap::ConsulAclBootstrap::new()),
        Box::new(consul_acl_policy::ConsulAclPolicy),
        Box::new(consul_acl_token::ConsulAclToken),
        Box::new(consul_intention::ConsulIntention),
        Box::new(consul_connect::ConsulConnect),
        Box::new(nomad_acl_bootstrap::NomadAclBootstrap::new()),
        Box::new(nomad_acl_policy::NomadAclPolicy),
        Box::new(nomad_namespace::NomadNamespace),
        Box::new(nomad_job_with_secrets::NomadJobWithSecrets),
    ]
}
