//! Managed resources: one file each, registered here with one line.

use tf_framework::DynResource;

use crate::ProviderData;

pub mod vault_policy;

/// Every managed resource type of the provider.
pub fn all() -> Vec<Box<dyn DynResource<ProviderData>>> {
    vec![Box::new(vault_policy::VaultPolicy)]
}
