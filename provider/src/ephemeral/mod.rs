//! Ephemeral resources: values that exist only while Terraform runs, never in state.
//! One file each, registered here with one line.

use tf_framework::DynEphemeral;

use crate::ProviderData;

/// Every ephemeral resource type of the provider.
pub fn all() -> Vec<Box<dyn DynEphemeral<ProviderData>>> {
    vec![]
}
