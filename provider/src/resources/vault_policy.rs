//! `stack_vault_policy`: a Vault/OpenBao ACL policy.

use serde::{Deserialize, Serialize};
use tf_framework::{Attribute, Block, Diagnostic, Diags, Resource, Schema, Value};

use crate::errors::fail;
use crate::ProviderData;

/// The resource.
pub struct VaultPolicy;

/// State and configuration of `stack_vault_policy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct VaultPolicyModel {
    /// Same as `name`.
    pub id: Option<String>,
    /// Policy name.
    pub name: Option<String>,
    /// Policy text (HCL).
    pub policy: Option<String>,
}

/// Capabilities Vault and OpenBao accept in a `path` block.
const CAPABILITIES: &[&str] = &[
    "create",
    "read",
    "update",
    "patch",
    "delete",
    "list",
    "scan",
    "sudo",
    "deny",
    "subscribe",
    "recover",
];

/// Policy texts that differ only in whitespace are the same policy.
fn same_policy(a: &Value, b: &Value) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(a), Some(b)) => a.split_whitespace().eq(b.split_whitespace()),
        _ => false,
    }
}

fn line_of(text: &str, needle: &str) -> String {
    text.lines()
        .enumerate()
        .find(|(_, l)| l.contains(needle))
        .map(|(i, l)| format!("line {}: {}", i + 1, l.trim()))
        .unwrap_or_default()
}

/// Parses the policy the way Vault will, so mistakes surface at plan time.
pub fn check_policy(text: &str) -> Result<(), (String, String)> {
    let body: hcl::Body = hcl::from_str(text).map_err(|e| {
        (
            "Invalid policy HCL".to_string(),
            format!("The policy is not valid HCL:\n{e}"),
        )
    })?;
    for structure in body.into_iter() {
        let hcl::Structure::Block(block) = structure else {
            continue;
        };
        if block.identifier() != "path" {
            continue;
        }
        let label = block
            .labels()
            .first()
            .map(|l| l.as_str().to_string())
            .unwrap_or_default();
        let at = line_of(text, &format!("\"{label}\""));
        let caps = block
            .body()
            .attributes()
            .find(|a| a.key() == "capabilities");
        let legacy = block.body().attributes().any(|a| a.key() == "policy");
        let Some(caps) = caps else {
            if legacy {
                continue;
            }
            return Err((
                "Invalid policy".into(),
                format!("path {label:?} has no `capabilities` list ({at})."),
            ));
        };
        let hcl::Expression::Array(items) = caps.expr() else {
            return Err((
                "Invalid policy".into(),
                format!("`capabilities` of path {label:?} must be a list of strings ({at})."),
            ));
        };
        for item in items {
            match item {
                hcl::Expression::String(c) if CAPABILITIES.contains(&c.as_str()) => {}
                other => {
                    return Err((
                        "Invalid policy".into(),
                        format!(
                            "path {label:?} has an invalid capability {other} ({at}). Valid capabilities: {}.",
                            CAPABILITIES.join(", ")
                        ),
                    ))
                }
            }
        }
    }
    Ok(())
}

impl Resource for VaultPolicy {
    type Ctx = ProviderData;
    type Model = VaultPolicyModel;
    const TYPE_NAME: &'static str = "stack_vault_policy";
    const IDENTITY: &'static [(&'static str, &'static str)] = &[("name", "Policy name.")];

    fn schema() -> Schema {
        Schema::new(
            Block::new("An ACL policy in Vault or OpenBao. The policy text is checked at plan time; edits that only change whitespace cause no diff.")
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("The policy name."))
                .attr(Attribute::string("name").required().requires_replace().doc("Policy name. Vault stores names in lower case, so it must be lower case. Changing this forces a new resource.").validate(|v| match v.as_str() {
                    Some(s) if s.is_empty() || s.contains('/') => Err(("Invalid policy name".into(), format!("{s:?} must be non-empty and contain no \"/\"."))),
                    Some(s) if s != s.to_lowercase() => Err(("Invalid policy name".into(), format!("Vault stores policy names in lower case; write {:?}.", s.to_lowercase()))),
                    Some("root") => Err(("Invalid policy name".into(), "The root policy cannot be managed.".into())),
                    _ => Ok(()),
                }))
                .attr(Attribute::string("policy").required().equivalent(same_policy).doc("The policy document in HCL, e.g. `path \"secret/data/*\" { capabilities = [\"read\"] }`.").validate(|v| v.as_str().map_or(Ok(()), check_policy))),
        )
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: VaultPolicyModel,
    ) -> Result<VaultPolicyModel, Diags> {
        let (name, policy) = (
            plan.name.clone().unwrap_or_default(),
            plan.policy.clone().unwrap_or_default(),
        );
        ctx.vault()?
            .write_acl_policy(&name, &policy)
            .await
            .map_err(fail("create stack_vault_policy"))?;
        Ok(VaultPolicyModel {
            id: Some(name),
            ..plan
        })
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: VaultPolicyModel,
    ) -> Result<Option<VaultPolicyModel>, Diags> {
        let name = state.name.clone().or(state.id.clone()).unwrap_or_default();
        let found = ctx
            .vault()?
            .read_acl_policy(&name)
            .await
            .map_err(fail("read stack_vault_policy"))?;
        Ok(found.map(|p| VaultPolicyModel {
            id: Some(name.clone()),
            name: Some(name),
            policy: Some(p.policy),
        }))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        _prior: VaultPolicyModel,
        plan: VaultPolicyModel,
    ) -> Result<VaultPolicyModel, Diags> {
        self.create(ctx, plan).await
    }

    async fn delete(&self, ctx: &ProviderData, state: VaultPolicyModel) -> Result<(), Diags> {
        let name = state.name.unwrap_or_default();
        ctx.vault()?
            .delete_acl_policy(&name)
            .await
            .map_err(fail("delete stack_vault_policy"))
    }

    fn import(id: &str) -> Result<VaultPolicyModel, Diags> {
        if id.is_empty() {
            return Err(Diagnostic::error(
                "Invalid import ID",
                "The import ID is the policy name.",
            )
            .into());
        }
        Ok(VaultPolicyModel {
            id: Some(id.into()),
            name: Some(id.into()),
            policy: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_valid_policy() {
        assert!(check_policy(
            "path \"secret/data/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n"
        )
        .is_ok());
    }

    #[test]
    fn syntax_error_quotes_position() {
        let (_, detail) =
            check_policy("path \"a\" {\n  capabilities = [\"read\"\n").expect_err("broken");
        assert!(detail.contains("not valid HCL"), "{detail}");
    }

    #[test]
    fn bad_capability_names_line() {
        let (_, detail) = check_policy("# x\npath \"kv/*\" {\n  capabilities = [\"reed\"]\n}\n")
            .expect_err("bad cap");
        assert!(
            detail.contains("\"reed\"") && detail.contains("line 2"),
            "{detail}"
        );
    }

    #[test]
    fn missing_capabilities() {
        assert!(check_policy("path \"kv/*\" {\n}\n").is_err());
    }

    #[test]
    fn whitespace_is_not_a_difference() {
        assert!(same_policy(
            &Value::from("path \"a\" {\n capabilities = [\"read\"]\n}"),
            &Value::from("path \"a\" { capabilities = [\"read\"] }\n")
        ));
    }
}
