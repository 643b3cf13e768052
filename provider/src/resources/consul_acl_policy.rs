//! `stack_consul_acl_policy`: a Consul ACL policy whose rules are checked at plan time.

use serde::{Deserialize, Serialize};
use stack_core::consul::acl::AclPolicy;
use tf_framework::{Attribute, Block, Diagnostic, Diags, Resource, Schema, Value};

use crate::errors::fail;
use crate::ProviderData;

/// The resource.
pub struct ConsulAclPolicy;

/// State and configuration of `stack_consul_acl_policy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ConsulAclPolicyModel {
    /// Policy ID (set by Consul).
    pub id: Option<String>,
    /// Unique name.
    pub name: Option<String>,
    /// Human description.
    pub description: Option<String>,
    /// HCL rules.
    pub rules: Option<String>,
}

/// Resources with a name label (`service "web" {}`) and their `_prefix` forms.
const LABELLED: &[&str] = &[
    "agent", "event", "key", "node", "query", "service", "session", "identity",
];
/// Resources without a label (`operator = "read"`).
const UNLABELLED: &[&str] = &["acl", "keyring", "mesh", "operator", "peering"];
/// Enterprise scopes whose bodies hold more rules.
const SCOPES: &[&str] = &[
    "namespace",
    "namespace_prefix",
    "partition",
    "partition_prefix",
];
const LEVELS: &[&str] = &["read", "write", "deny", "list"];

fn line_of(text: &str, needle: &str) -> String {
    text.lines()
        .enumerate()
        .find(|(_, l)| l.contains(needle))
        .map(|(i, l)| format!(" (line {}: {})", i + 1, l.trim()))
        .unwrap_or_default()
}

fn check_level(text: &str, what: &str, expr: &hcl::Expression) -> Result<(), (String, String)> {
    match expr {
        hcl::Expression::String(s) if LEVELS.contains(&s.as_str()) => Ok(()),
        other => Err((
            "Invalid ACL rules".into(),
            format!(
                "{what} has the access level {other}{}; use one of {}.",
                line_of(text, what.split(' ').next().unwrap_or(what)),
                LEVELS.join(", ")
            ),
        )),
    }
}

fn check_body(text: &str, body: &hcl::Body, scoped: bool) -> Result<(), (String, String)> {
    for attr in body.attributes() {
        let key = attr.key();
        if UNLABELLED.contains(&key) {
            check_level(text, key, attr.expr())?;
        } else {
            return Err((
                "Invalid ACL rules".into(),
                format!(
                    "unknown rule {key:?}{}. Consul accepts {} as `name = \"level\"`.",
                    line_of(text, key),
                    UNLABELLED.join(", ")
                ),
            ));
        }
    }
    for block in body.blocks() {
        let id = block.identifier();
        let base = id.strip_suffix("_prefix").unwrap_or(id);
        if SCOPES.contains(&id) && !scoped {
            check_body(text, block.body(), true)?;
            continue;
        }
        if !LABELLED.contains(&base) {
            return Err((
                "Invalid ACL rules".into(),
                format!(
                    "unknown rule block {id:?}{}. Consul accepts {} (and their `_prefix` forms).",
                    line_of(text, id),
                    LABELLED.join(", ")
                ),
            ));
        }
        if block.labels().len() != 1 {
            return Err(("Invalid ACL rules".into(), format!("`{id}` needs exactly one label, e.g. `{id} \"web\" {{ policy = \"read\" }}`{}.", line_of(text, id))));
        }
        let label = block.labels()[0].as_str().to_string();
        let mut has_policy = false;
        for attr in block.body().attributes() {
            match attr.key() {
                "policy" => {
                    has_policy = true;
                    check_level(text, &format!("{id} {label:?}"), attr.expr())?;
                }
                "intentions" if base == "service" => {
                    check_level(text, &format!("{id} {label:?} intentions"), attr.expr())?
                }
                other => {
                    return Err((
                        "Invalid ACL rules".into(),
                        format!(
                            "`{id} {label:?}` has an unknown key {other:?}{}.",
                            line_of(text, other)
                        ),
                    ))
                }
            }
        }
        if !has_policy && base != "service" {
            return Err((
                "Invalid ACL rules".into(),
                format!("`{id} {label:?}` has no `policy`{}.", line_of(text, id)),
            ));
        }
    }
    Ok(())
}

/// Parses rules the way Consul will, so mistakes surface at plan time.
pub fn check_rules(text: &str) -> Result<(), (String, String)> {
    let body: hcl::Body = hcl::from_str(text).map_err(|e| {
        (
            "Invalid ACL rules".to_string(),
            format!("The rules are not valid HCL:\n{e}"),
        )
    })?;
    check_body(text, &body, false)
}

fn same_rules(a: &Value, b: &Value) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(a), Some(b)) => a.split_whitespace().eq(b.split_whitespace()),
        _ => false,
    }
}

impl Resource for ConsulAclPolicy {
    type Ctx = ProviderData;
    type Model = ConsulAclPolicyModel;
    const TYPE_NAME: &'static str = "stack_consul_acl_policy";

    fn schema() -> Schema {
        Schema::new(
            Block::new("A Consul ACL policy. The rules are checked at plan time; whitespace-only edits cause no diff. Import ID: the policy name or ID.")
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("The policy ID Consul assigned."))
                .attr(Attribute::string("name").required().doc("Unique policy name. Renaming updates the policy in place.").validate(|v| match v.as_str() {
                    Some(s) if s.is_empty() || s.len() > 128 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => Err(("Invalid policy name".into(), format!("{s:?}: Consul accepts 1 to 128 letters, digits, `-` and `_`."))),
                    _ => Ok(()),
                }))
                .attr(Attribute::string("description").optional().doc("Human-readable description."))
                .attr(Attribute::string("rules").required().equivalent(same_rules).validate(|v| v.as_str().map_or(Ok(()), check_rules)).doc("Rules in Consul's HCL ACL language, e.g. `service_prefix \"\" { policy = \"read\" }`.")),
        )
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: ConsulAclPolicyModel,
    ) -> Result<ConsulAclPolicyModel, Diags> {
        let written = ctx
            .consul()
            .await?
            .acl_policy_write(&to_policy(&plan, String::new()))
            .await
            .map_err(fail("create stack_consul_acl_policy"))?;
        Ok(ConsulAclPolicyModel {
            id: Some(written.id),
            ..plan
        })
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: ConsulAclPolicyModel,
    ) -> Result<Option<ConsulAclPolicyModel>, Diags> {
        let consul = ctx.consul().await?;
        let id = state.id.clone().unwrap_or_default();
        // An import by name has no ID yet.
        let found = if id.len() == 36 {
            consul.acl_policy_read(&id).await
        } else {
            consul.acl_policy_read_by_name(&id).await
        }
        .map_err(fail("read stack_consul_acl_policy"))?;
        Ok(found.map(|p| ConsulAclPolicyModel {
            id: Some(p.id),
            name: Some(p.name),
            description: (!p.description.is_empty() || state.description.is_some())
                .then_some(p.description),
            rules: Some(p.rules),
        }))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        prior: ConsulAclPolicyModel,
        plan: ConsulAclPolicyModel,
    ) -> Result<ConsulAclPolicyModel, Diags> {
        let id = prior.id.clone().unwrap_or_default();
        ctx.consul()
            .await?
            .acl_policy_write(&to_policy(&plan, id.clone()))
            .await
            .map_err(fail("update stack_consul_acl_policy"))?;
        Ok(ConsulAclPolicyModel {
            id: Some(id),
            ..plan
        })
    }

    async fn delete(&self, ctx: &ProviderData, state: ConsulAclPolicyModel) -> Result<(), Diags> {
        ctx.consul()
            .await?
            .acl_policy_delete(&state.id.unwrap_or_default())
            .await
            .map_err(fail("delete stack_consul_acl_policy"))
    }

    fn import(id: &str) -> Result<ConsulAclPolicyModel, Diags> {
        if id.is_empty() {
            return Err(Diagnostic::error(
                "Invalid import ID",
                "The import ID is the policy name or ID.",
            )
            .into());
        }
        Ok(ConsulAclPolicyModel {
            id: Some(id.into()),
            ..Default::default()
        })
    }
}

fn to_policy(m: &ConsulAclPolicyModel, id: String) -> AclPolicy {
    AclPolicy {
        id,
        name: m.name.clone().unwrap_or_default(),
        description: m.description.clone().unwrap_or_default(),
        rules: m.rules.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(check_rules("service_prefix \"\" {\n  policy = \"read\"\n}\nnode_prefix \"\" { policy = \"read\" }\noperator = \"read\"\n").is_ok());
        assert!(check_rules(
            "service \"web\" {\n  policy     = \"write\"\n  intentions = \"read\"\n}\n"
        )
        .is_ok());
        let (_, d) =
            check_rules("# c\nservice \"web\" {\n  policy = \"writ\"\n}\n").expect_err("level");
        assert!(d.contains("line 2") || d.contains("line 3"), "{d}");
        assert!(check_rules("servise \"web\" { policy = \"read\" }").is_err());
        assert!(check_rules("operator = \"admin\"").is_err());
        assert!(check_rules("key_prefix \"a/\" { policy = \"list\" }").is_ok());
        assert!(check_rules("service {").is_err());
    }
}
