//! `stack_nomad_namespace`: a Nomad namespace.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stack_core::nomad::namespaces::Namespace;
use tf_framework::{Attribute, Block, Diagnostic, Diags, Resource, Schema};

use crate::errors::fail;
use crate::ProviderData;

/// The resource.
pub struct NomadNamespace;

/// State and configuration of `stack_nomad_namespace`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct NomadNamespaceModel {
    /// Same as `name`.
    pub id: Option<String>,
    /// Namespace name.
    pub name: Option<String>,
    /// Human description.
    pub description: Option<String>,
    /// Free-form metadata.
    pub meta: Option<BTreeMap<String, String>>,
}

fn to_namespace(m: &NomadNamespaceModel) -> Namespace {
    Namespace {
        name: m.name.clone().unwrap_or_default(),
        description: m.description.clone().unwrap_or_default(),
        meta: m.meta.clone(),
    }
}

impl Resource for NomadNamespace {
    type Ctx = ProviderData;
    type Model = NomadNamespaceModel;
    const TYPE_NAME: &'static str = "stack_nomad_namespace";

    fn schema() -> Schema {
        Schema::new(
            Block::new("A Nomad namespace. Nomad refuses to delete a namespace that still holds jobs or variables; destroy them first (Terraform does when they are in the same configuration and depend on it). Import ID: the name.")
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("The namespace name."))
                .attr(Attribute::string("name").required().requires_replace().doc("Namespace name: letters, digits and `-`, up to 128. `default` cannot be managed. Changing this forces a new resource.").validate(|v| match v.as_str() {
                    Some("default") => Err(("Invalid namespace name".into(), "The `default` namespace always exists and cannot be managed.".into())),
                    Some(s) if s.is_empty() || s.len() > 128 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => Err(("Invalid namespace name".into(), format!("{s:?}: Nomad accepts 1 to 128 letters, digits and `-`."))),
                    _ => Ok(()),
                }))
                .attr(Attribute::string("description").optional().doc("Human-readable description."))
                .attr(Attribute::string_map("meta").optional().doc("Free-form metadata.")),
        )
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: NomadNamespaceModel,
    ) -> Result<NomadNamespaceModel, Diags> {
        ctx.nomad()
            .await?
            .namespace_upsert(&to_namespace(&plan))
            .await
            .map_err(fail("write stack_nomad_namespace"))?;
        Ok(NomadNamespaceModel {
            id: plan.name.clone(),
            ..plan
        })
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: NomadNamespaceModel,
    ) -> Result<Option<NomadNamespaceModel>, Diags> {
        let name = state.name.clone().or(state.id.clone()).unwrap_or_default();
        let found = ctx
            .nomad()
            .await?
            .namespace(&name)
            .await
            .map_err(fail("read stack_nomad_namespace"))?;
        Ok(found.map(|n| NomadNamespaceModel {
            id: Some(n.name.clone()),
            name: Some(n.name),
            description: (!n.description.is_empty() || state.description.is_some())
                .then_some(n.description),
            meta: n.meta.filter(|m| !m.is_empty() || state.meta.is_some()),
        }))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        _prior: NomadNamespaceModel,
        plan: NomadNamespaceModel,
    ) -> Result<NomadNamespaceModel, Diags> {
        self.create(ctx, plan).await
    }

    async fn delete(&self, ctx: &ProviderData, state: NomadNamespaceModel) -> Result<(), Diags> {
        ctx.nomad()
            .await?
            .namespace_delete(&state.name.unwrap_or_default())
            .await
            .map_err(fail("delete stack_nomad_namespace"))
    }

    fn import(id: &str) -> Result<NomadNamespaceModel, Diags> {
        if id.is_empty() {
            return Err(Diagnostic::error(
                "Invalid import ID",
                "The import ID is the namespace name.",
            )
            .into());
        }
        Ok(NomadNamespaceModel {
            id: Some(id.into()),
            name: Some(id.into()),
            ..Default::default()
        })
    }
}
