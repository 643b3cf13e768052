//! `stack_nomad_acl_policy`: a Nomad ACL policy whose rules are checked at plan time.

use serde::{Deserialize, Serialize};
use stack_core::nomad::acl::{AclPolicy, JobAcl};
use tf_framework::{Attribute, Block, Diagnostic, Diags, NestedBlock, Resource, Schema, Value};

use crate::errors::fail;
use crate::ProviderData;

/// The resource.
pub struct NomadAclPolicy;

/// `job_acl` block.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct JobAclModel {
    /// Namespace of the job.
    pub namespace: Option<String>,
    /// Job ID.
    pub job_id: Option<String>,
    /// Task group.
    pub group: Option<String>,
    /// Task.
    pub task: Option<String>,
}

/// State and configuration of `stack_nomad_acl_policy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct NomadAclPolicyModel {
    /// Same as `name`.
    pub id: Option<String>,
    /// Unique name.
    pub name: Option<String>,
    /// Human description.
    pub description: Option<String>,
    /// HCL rules.
    pub rules_hcl: Option<String>,
    /// Workload binding.
    pub job_acl: Option<JobAclModel>,
}

const POLICIES: &[&str] = &["read", "write", "deny", "list", "scale"];
const NAMESPACE_CAPS: &[&str] = &[
    "deny",
    "list-jobs",
    "parse-job",
    "read-job",
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-node-exec",
    "alloc-lifecycle",
    "csi-register-plugin",
    "csi-write-volume",
    "csi-read-volume",
    "csi-list-volume",
    "csi-mount-volume",
    "list-scaling-policies",
    "read-scaling-policy",
    "read-job-scaling",
    "scale-job",
    "submit-recommendation",
    "sentinel-override",
    "host-volume-create",
    "host-volume-register",
    "host-volume-read",
    "host-volume-write",
    "host-volume-delete",
    // The fine-grained job, deployment and allocation capabilities split out of submit-job.
    "register-job",
    "revert-job",
    "deregister-job",
    "purge-job",
    "evaluate-job",
    "plan-job",
    "tag-job-version",
    "stable-job",
    "fail-deployment",
    "pause-deployment",
    "promote-deployment",
    "unblock-deployment",
    "cancel-deployment",
    "set-alloc-health-deployment",
    "gc-allocation",
    "pause-allocation",
    "force-periodic-job",
    "delete-service-registration",
];
const NODE_POOL_CAPS: &[&str] = &["delete", "deny", "read", "write"];
const OPERATOR_CAPS: &[&str] = &["deny", "snapshot-save", "license-read"];
const VARIABLE_CAPS: &[&str] = &["write", "read", "list", "destroy", "deny"];
const HOST_VOLUME_CAPS: &[&str] = &["deny", "mount-readonly", "mount-readwrite"];

fn err(text: &str, needle: &str, msg: String) -> (String, String) {
    let at = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(needle))
        .map(|(i, l)| format!(" (line {}: {})", i + 1, l.trim()))
        .unwrap_or_default();
    ("Invalid ACL rules".into(), format!("{msg}{at}"))
}

fn strings(expr: &hcl::Expression) -> Option<Vec<String>> {
    match expr {
        hcl::Expression::Array(items) => items
            .iter()
            .map(|i| match i {
                hcl::Expression::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn check_block(
    text: &str,
    id: &str,
    body: &hcl::Body,
    caps: &[&str],
) -> Result<(), (String, String)> {
    for attr in body.attributes() {
        match attr.key() {
            "policy" => match attr.expr() {
                hcl::Expression::String(p) if POLICIES.contains(&p.as_str()) => {}
                other => {
                    return Err(err(
                        text,
                        "policy",
                        format!(
                            "`{id}` has an invalid policy {other}; use one of {}",
                            POLICIES.join(", ")
                        ),
                    ))
                }
            },
            "capabilities" if !caps.is_empty() => {
                let list = strings(attr.expr()).ok_or_else(|| {
                    err(
                        text,
                        "capabilities",
                        format!("`capabilities` of `{id}` must be a list of strings"),
                    )
                })?;
                if let Some(bad) = list.iter().find(|c| !caps.contains(&c.as_str())) {
                    return Err(err(
                        text,
                        bad,
                        format!(
                            "`{id}` has an invalid capability {bad:?}; valid: {}",
                            caps.join(", ")
                        ),
                    ));
                }
            }
            other => {
                return Err(err(
                    text,
                    other,
                    format!("`{id}` has an unknown key {other:?}"),
                ))
            }
        }
    }
    for block in body.blocks() {
        if id.starts_with("namespace") && block.identifier() == "variables" {
            for path in block.body().blocks() {
                let label = path
                    .labels()
                    .first()
                    .map(|l| l.as_str().to_string())
                    .unwrap_or_default();
                if path.identifier() != "path" || label.is_empty() {
                    return Err(err(
                        text,
                        path.identifier(),
                        "`variables` holds only `path \"<glob>\" { capabilities = [...] }` blocks"
                            .into(),
                    ));
                }
                for a in path.body().attributes() {
                    let list = (a.key() == "capabilities").then(|| strings(a.expr())).flatten().ok_or_else(|| err(text, a.key(), format!("variables path {label:?} accepts only `capabilities`, a list of strings")))?;
                    if let Some(bad) = list.iter().find(|c| !VARIABLE_CAPS.contains(&c.as_str())) {
                        return Err(err(text, bad, format!("variables path {label:?} has an invalid capability {bad:?}; valid: {}", VARIABLE_CAPS.join(", "))));
                    }
                }
            }
        } else {
            return Err(err(
                text,
                block.identifier(),
                format!("`{id}` has an unknown block {:?}", block.identifier()),
            ));
        }
    }
    Ok(())
}

/// Parses rules the way Nomad will, so mistakes surface at plan time.
pub fn check_rules(text: &str) -> Result<(), (String, String)> {
    let body: hcl::Body = hcl::from_str(text).map_err(|e| {
        (
            "Invalid ACL rules".to_string(),
            format!("The rules are not valid HCL:\n{e}"),
        )
    })?;
    if let Some(a) = body.attributes().next() {
        return Err(err(text, a.key(), format!("unknown top-level key {:?}; rules are blocks such as `namespace \"default\" {{ policy = \"read\" }}`", a.key())));
    }
    for block in body.blocks() {
        let id = block.identifier();
        match (id, block.labels().len()) {
            ("namespace", 1) => check_block(text, &format!("namespace {:?}", block.labels()[0].as_str()), block.body(), NAMESPACE_CAPS)?,
            ("host_volume", 1) => check_block(text, "host_volume", block.body(), HOST_VOLUME_CAPS)?,
            ("node_pool", 1) => check_block(text, &format!("node_pool {:?}", block.labels()[0].as_str()), block.body(), NODE_POOL_CAPS)?,
            ("operator", 0) => check_block(text, id, block.body(), OPERATOR_CAPS)?,
            ("node" | "agent" | "quota" | "plugin", 0) => check_block(text, id, block.body(), &[])?,
            ("namespace" | "host_volume" | "node_pool", _) => return Err(err(text, id, format!("`{id}` needs one label, e.g. `{id} \"default\" {{ ... }}`"))),
            _ => return Err(err(text, id, format!("unknown rule block {id:?}; Nomad accepts namespace, node, agent, operator, quota, host_volume, plugin and node_pool"))),
        }
    }
    Ok(())
}

fn same_rules(a: &Value, b: &Value) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(a), Some(b)) => a.split_whitespace().eq(b.split_whitespace()),
        _ => false,
    }
}

fn to_policy(m: &NomadAclPolicyModel) -> AclPolicy {
    AclPolicy {
        name: m.name.clone().unwrap_or_default(),
        description: m.description.clone().unwrap_or_default(),
        rules: m.rules_hcl.clone().unwrap_or_default(),
        job_acl: m.job_acl.as_ref().map(|j| JobAcl {
            namespace: j.namespace.clone().unwrap_or_else(|| "default".into()),
            job_id: j.job_id.clone().unwrap_or_default(),
            group: j.group.clone().unwrap_or_default(),
            task: j.task.clone().unwrap_or_default(),
        }),
    }
}

impl Resource for NomadAclPolicy {
    type Ctx = ProviderData;
    type Model = NomadAclPolicyModel;
    const TYPE_NAME: &'static str = "stack_nomad_acl_policy";

    fn schema() -> Schema {
        Schema::new(
            Block::new("A Nomad ACL policy. The rules are checked at plan time; whitespace-only edits cause no diff. With `job_acl` the policy applies to that job's workload identity. Import ID: the policy name.")
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("The policy name."))
                .attr(Attribute::string("name").required().requires_replace().doc("Unique policy name (letters, digits and `-`, up to 128). Changing this forces a new resource.").validate(|v| match v.as_str() {
                    Some(s) if s.is_empty() || s.len() > 128 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => Err(("Invalid policy name".into(), format!("{s:?}: Nomad accepts 1 to 128 letters, digits and `-`."))),
                    _ => Ok(()),
                }))
                .attr(Attribute::string("description").optional().doc("Human-readable description."))
                .attr(Attribute::string("rules_hcl").required().equivalent(same_rules).validate(|v| v.as_str().map_or(Ok(()), check_rules)).doc("Rules in Nomad's HCL ACL language, e.g. `namespace \"default\" { policy = \"read\" }`."))
                .block(NestedBlock::single("job_acl", Block::new("Binds the policy to a job's workload identity.")
                    .attr(Attribute::string("namespace").default("default").doc("Namespace of the job. Defaults to `default`."))
                    .attr(Attribute::string("job_id").required().doc("The job ID."))
                    .attr(Attribute::string("group").optional().doc("Limit to this task group."))
                    .attr(Attribute::string("task").optional().doc("Limit to this task (needs `group`).")))),
        )
    }

    fn validate(config: &Value) -> Diags {
        let j = config.get("job_acl");
        if !j.is_null() && !j.get("task").is_null() && j.get("group").is_null() {
            return Diagnostic::error(
                "Invalid job_acl",
                "`task` needs `group`: Nomad binds a task through its group.",
            )
            .at(tf_framework::AttributePath::root("job_acl").attr("task"))
            .into();
        }
        Diags::new()
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: NomadAclPolicyModel,
    ) -> Result<NomadAclPolicyModel, Diags> {
        ctx.nomad()
            .await?
            .acl_policy_write(&to_policy(&plan))
            .await
            .map_err(fail("write stack_nomad_acl_policy"))?;
        Ok(NomadAclPolicyModel {
            id: plan.name.clone(),
            ..plan
        })
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: NomadAclPolicyModel,
    ) -> Result<Option<NomadAclPolicyModel>, Diags> {
        let name = state.name.clone().or(state.id.clone()).unwrap_or_default();
        let found = ctx
            .nomad()
            .await?
            .acl_policy(&name)
            .await
            .map_err(fail("read stack_nomad_acl_policy"))?;
        Ok(found.map(|p| NomadAclPolicyModel {
            id: Some(p.name.clone()),
            name: Some(p.name),
            description: (!p.description.is_empty() || state.description.is_some())
                .then_some(p.description),
            rules_hcl: Some(p.rules),
            job_acl: p
                .job_acl
                .filter(|j| !j.job_id.is_empty())
                .map(|j| JobAclModel {
                    namespace: Some(j.namespace),
                    job_id: Some(j.job_id),
                    group: (!j.group.is_empty()).then_some(j.group),
                    task: (!j.task.is_empty()).then_some(j.task),
                }),
        }))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        _prior: NomadAclPolicyModel,
        plan: NomadAclPolicyModel,
    ) -> Result<NomadAclPolicyModel, Diags> {
        self.create(ctx, plan).await
    }

    async fn delete(&self, ctx: &ProviderData, state: NomadAclPolicyModel) -> Result<(), Diags> {
        ctx.nomad()
            .await?
            .acl_policy_delete(&state.name.unwrap_or_default())
            .await
            .map_err(fail("delete stack_nomad_acl_policy"))
    }

    fn import(id: &str) -> Result<NomadAclPolicyModel, Diags> {
        if id.is_empty() {
            return Err(Diagnostic::error(
                "Invalid import ID",
                "The import ID is the policy name.",
            )
            .into());
        }
        Ok(NomadAclPolicyModel {
            id: Some(id.into()),
            name: Some(id.into()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(check_rules("namespace \"default\" {\n  policy = \"read\"\n  capabilities = [\"submit-job\"]\n  variables {\n    path \"app/*\" { capabilities = [\"read\"] }\n  }\n}\nnode { policy = \"read\" }\n").is_ok());
        let (_, d) = check_rules("namespace \"default\" {\n  capabilities = [\"sumbit-job\"]\n}\n")
            .expect_err("cap");
        assert!(d.contains("sumbit-job") && d.contains("line 2"), "{d}");
        assert!(check_rules("namespace { policy = \"read\" }").is_err());
        assert!(check_rules("nodes { policy = \"read\" }").is_err());
        assert!(check_rules("agent { policy = \"admin\" }").is_err());
        assert!(check_rules("policy = \"read\"").is_err());
        // What Nomad accepts beyond the basics: fine-grained namespace capabilities, labelled
        // node pools and operator capabilities.
        assert!(check_rules("namespace \"default\" {\n  capabilities = [\"revert-job\", \"promote-deployment\", \"delete-service-registration\"]\n}\nnode_pool \"gpu\" {\n  policy = \"read\"\n  capabilities = [\"delete\"]\n}\noperator {\n  capabilities = [\"snapshot-save\"]\n}\n").is_ok());
        assert!(check_rules("node_pool { policy = \"read\" }").is_err());
        assert!(check_rules("node_pool \"gpu\" { capabilities = [\"submit-job\"] }").is_err());
        assert!(check_rules("operator { capabilities = [\"read\"] }").is_err());
    }
}
