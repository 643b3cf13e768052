//! The `stack` provider: maps Terraform schemas to `stack-core` calls.

pub mod config;
pub mod ephemeral;
pub mod errors;
pub mod resources;

use tf_framework::{Diags, DynEphemeral, DynResource, Provider, Schema, Value};

pub use config::ProviderData;

/// The registry address users put in `required_providers`.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/stack/stack";

/// The provider.
pub struct StackProvider;

impl Provider for StackProvider {
    type Ctx = ProviderData;

    fn schema(&self) -> Schema {
        config::schema()
    }

    async fn configure(
        &self,
        config: Value,
        _terraform_version: String,
    ) -> Result<ProviderData, Diags> {
        ProviderData::from_config(&config)
    }

    fn resources(&self) -> Vec<Box<dyn DynResource<ProviderData>>> {
        resources::all()
    }

    fn ephemeral_resources(&self) -> Vec<Box<dyn DynEphemeral<ProviderData>>> {
        ephemeral::all()
    }
}
