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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every registered type: no reserved names, every attribute documented, model == schema.
    #[test]
    fn schemas_and_models_agree() {
        let p = StackProvider;
        let mut problems = Vec::new();
        assert!(p.schema().lint().is_empty(), "{:?}", p.schema().lint());
        for r in p.resources() {
            problems.extend(
                r.schema()
                    .lint()
                    .into_iter()
                    .map(|e| format!("{}: {e}", r.type_name())),
            );
            if let Err(d) = r.check_model() {
                problems.push(format!("{}: {d}", r.type_name()));
            }
        }
        for e in p.ephemeral_resources() {
            problems.extend(
                e.schema()
                    .lint()
                    .into_iter()
                    .map(|m| format!("{}: {m}", e.type_name())),
            );
            if let Err(d) = e.check_model() {
                problems.push(format!("{}: {d}", e.type_name()));
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
