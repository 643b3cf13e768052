//! `stack_vault_audit`: a Vault/OpenBao audit device.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stack_core::vault::sys_audit::{is_api_audit_creation_disabled, EnableAuditRequest};
use tf_framework::schema::validators::{clean_path, one_of};
use tf_framework::{Attribute, AttributePath, Block, Diagnostic, Diags, Resource, Schema, Value};

use crate::errors::{diag, fail};
use crate::ProviderData;

/// The resource.
pub struct VaultAudit;

/// State and configuration of `stack_vault_audit`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct VaultAuditModel {
    /// Same as `path`.
    pub id: Option<String>,
    /// Device path.
    pub path: Option<String>,
    /// `file`, `socket` or `syslog`.
    pub r#type: Option<String>,
    /// Device options.
    pub options: Option<BTreeMap<String, String>>,
    /// Description.
    pub description: Option<String>,
    /// Local to this cluster.
    pub local: Option<bool>,
}

const TYPES: &[&str] = &["file", "socket", "syslog"];
/// Options the audit devices read as Go booleans.
const BOOL_OPTIONS: &[&str] = &["elide_list_responses", "hmac_accessor", "log_raw"];

/// Go's `strconv.ParseBool`, which the server uses for boolean options.
fn is_go_bool(v: &str) -> bool {
    matches!(
        v,
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False"
    )
}

/// Plan-time checks of `options` that the server would otherwise reject after the fact.
fn check_options(device_type: Option<&str>, options: &Value, diags: &mut Diags) {
    let Value::Map(options) = options else {
        if options.is_null() && device_type == Some("file") {
            diags.push(
                Diagnostic::error(
                    "Missing audit option",
                    "A `file` audit device needs `options = { file_path = \"...\" }`: a file path, `stdout`, or `discard`.",
                )
                .at(AttributePath::root("options")),
            );
        }
        return;
    };
    let at = |k: &str| AttributePath::root("options").key(k);
    for (k, v) in options {
        let Some(v) = v.as_str() else { continue };
        if k == "prefix" {
            diags.push(Diagnostic::error(
                "Audit option not allowed",
                "OpenBao refuses the `prefix` option for audit devices created through the API (\"audit log prefixing is not allowed\"). Remove it.",
            ).at(at(k)));
        } else if k == "format" && v != "json" {
            diags.push(
                Diagnostic::error(
                    "Invalid audit option",
                    format!("`format` must be \"json\" (got {v:?}); OpenBao removed the `jsonx` format."),
                )
                .at(at(k)),
            );
        } else if BOOL_OPTIONS.contains(&k.as_str()) && !is_go_bool(v) {
            diags.push(
                Diagnostic::error(
                    "Invalid audit option",
                    format!("`{k}` must be \"true\" or \"false\" (got {v:?})."),
                )
                .at(at(k)),
            );
        } else if k == "mode" && u32::from_str_radix(v, 8).is_err() {
            diags.push(
                Diagnostic::error(
                    "Invalid audit option",
                    format!("`mode` is an octal file mode such as \"0600\" (got {v:?})."),
                )
                .at(at(k)),
            );
        } else if k == "socket_type" && !["tcp", "udp", "unix"].contains(&v) {
            diags.push(
                Diagnostic::error(
                    "Invalid audit option",
                    format!("`socket_type` must be \"tcp\", \"udp\" or \"unix\" (got {v:?})."),
                )
                .at(at(k)),
            );
        }
    }
    let known = options.values().all(Value::is_wholly_known);
    if device_type == Some("file")
        && known
        && !options.contains_key("file_path")
        && !options.contains_key("path")
    {
        diags.push(
            Diagnostic::error(
                "Missing audit option",
                "A `file` audit device needs `file_path`: a file path, `stdout`, or `discard`.",
            )
            .at(AttributePath::root("options")),
        );
    }
}

/// The `audit` block for the server configuration that declares the same device.
pub fn declarative_hcl(m: &VaultAuditModel) -> String {
    let path = m.path.clone().unwrap_or_default();
    let mut block = hcl::Block::builder("audit")
        .add_label(m.r#type.clone().unwrap_or_default())
        .add_label(path);
    if let Some(d) = m.description.as_deref().filter(|d| !d.is_empty()) {
        block = block.add_attribute(("description", d));
    }
    if m.local == Some(true) {
        block = block.add_attribute(("local", true));
    }
    let mut options = hcl::Object::new();
    for (k, v) in m.options.iter().flatten() {
        let key = match hcl::Identifier::new(k.as_str()) {
            Ok(id) => hcl::ObjectKey::Identifier(id),
            Err(_) => hcl::ObjectKey::Expression(k.as_str().into()),
        };
        options.insert(key, hcl::Expression::String(v.clone()));
    }
    block = block.add_attribute(("options", hcl::Expression::Object(options)));
    let body = hcl::Body::builder().add_block(block.build()).build();
    hcl::format::to_string(&body).unwrap_or_default()
}

fn api_refused(m: &VaultAuditModel, server_said: &str) -> Diagnostic {
    Diagnostic::error(
        "Audit devices cannot be enabled through the API on this server",
        format!(
            "The server refused to enable the audit device at {path:?}: {server_said}\n\n\
             OpenBao 2.3.2 and later only enable audit devices through the API when the server \
             configuration sets `unsafe_allow_api_audit_creation = true`. The supported way is to \
             declare the device in the server's configuration file, then restart the server or send \
             it SIGHUP (on every server of the cluster):\n\n{hcl}\n\
             Then remove this resource from the Terraform configuration: a declared device is \
             managed by the server configuration and cannot be disabled through the API.",
            path = m.path.as_deref().unwrap_or_default(),
            hcl = declarative_hcl(m),
        ),
    )
}

impl Resource for VaultAudit {
    type Ctx = ProviderData;
    type Model = VaultAuditModel;
    const TYPE_NAME: &'static str = "stack_vault_audit";
    const IDENTITY: &'static [(&'static str, &'static str)] = &[("path", "Audit device path.")];

    fn schema() -> Schema {
        Schema::new(
            Block::new("An audit device in Vault or OpenBao: every request and response is logged to it, with secrets HMAC'd. Vault cannot change an audit device, so every change replaces it (and a replaced device starts a new HMAC salt).\n\nOpenBao 2.3.2 and later refuse audit devices created through the API unless the server configuration sets `unsafe_allow_api_audit_creation = true`; without it, apply fails with the equivalent `audit` block to put in the server configuration instead.")
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("The device path."))
                .attr(Attribute::string("path").required().requires_replace().validate(clean_path()).doc("Where the device is enabled, e.g. `file` or `team/file`, without slashes at either end. Changing this forces a new resource."))
                .attr(Attribute::string("type").required().requires_replace().validate(one_of(TYPES)).doc("Device type: `file`, `socket` or `syslog`. Changing this forces a new resource."))
                .attr(Attribute::string_map("options").optional().requires_replace().doc("Device options; all values are strings, booleans included. `file`: `file_path` (required: a path, `stdout` or `discard`), `mode` (octal, e.g. `\"0600\"`). `socket`: `address`, `socket_type` (`tcp`, `udp`, `unix`), `write_timeout`. `syslog`: `facility`, `tag`. All types: `log_raw`, `hmac_accessor`, `elide_list_responses`, `format` (`json`). The server opens the device once when it is enabled (a socket nobody listens on fails the apply). Changing this forces a new resource."))
                .attr(Attribute::string("description").optional().requires_replace().doc("Human-friendly description. Changing this forces a new resource."))
                .attr(Attribute::bool("local").default(false).requires_replace().doc("Whether the device is local to this cluster and not replicated (Vault Enterprise replication). Defaults to `false`. Changing this forces a new resource.")),
        )
    }

    fn validate(config: &Value) -> Diags {
        let mut diags = Diags::new();
        check_options(
            config.get("type").as_str(),
            config.get("options"),
            &mut diags,
        );
        diags
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: VaultAuditModel,
    ) -> Result<VaultAuditModel, Diags> {
        let vault = ctx.vault()?;
        let path = plan.path.clone().unwrap_or_default();
        if let Some(existing) = vault
            .read_audit_device(&path)
            .await
            .map_err(fail("create stack_vault_audit"))?
        {
            return Err(Diagnostic::error(
                "Audit device already exists",
                format!(
                    "An audit device of type {:?} is already enabled at {path:?}. Import it with `terraform import <address> {path}`, or choose another path.",
                    existing.device_type
                ),
            )
            .at(AttributePath::root("path"))
            .into());
        }
        let request = EnableAuditRequest {
            device_type: plan.r#type.clone().unwrap_or_default(),
            description: plan.description.clone(),
            options: plan.options.clone(),
            local: plan.local,
        };
        if let Err(e) = vault.enable_audit_device(&path, &request).await {
            if is_api_audit_creation_disabled(&e) {
                return Err(api_refused(&plan, &e.errors().join("; ")).into());
            }
            return Err(diag("create stack_vault_audit", &e).into());
        }
        Ok(VaultAuditModel {
            id: Some(path),
            ..plan
        })
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: VaultAuditModel,
    ) -> Result<Option<VaultAuditModel>, Diags> {
        let path = state.path.clone().or(state.id.clone()).unwrap_or_default();
        let Some(found) = ctx
            .vault()?
            .read_audit_device(&path)
            .await
            .map_err(fail("read stack_vault_audit"))?
        else {
            return Ok(None);
        };
        // The server reports "" and {} for what was never set; keep null when state has null.
        let options = found
            .options
            .filter(|o| !o.is_empty() || state.options.is_some());
        let description =
            Some(found.description).filter(|d| !d.is_empty() || state.description.is_some());
        Ok(Some(VaultAuditModel {
            id: Some(path.clone()),
            path: Some(path),
            r#type: Some(found.device_type),
            options,
            description,
            local: Some(found.local),
        }))
    }

    async fn update(
        &self,
        _ctx: &ProviderData,
        _prior: VaultAuditModel,
        _plan: VaultAuditModel,
    ) -> Result<VaultAuditModel, Diags> {
        // Every attribute forces replacement, so Terraform never asks for an in-place update.
        Err(Diagnostic::error(
            "Audit devices cannot be updated",
            "Vault and OpenBao cannot change an audit device in place; every change must replace it. This is a provider bug.",
        )
        .into())
    }

    async fn delete(&self, ctx: &ProviderData, state: VaultAuditModel) -> Result<(), Diags> {
        let path = state.path.unwrap_or_default();
        ctx.vault()?
            .disable_audit_device(&path)
            .await
            .map_err(fail("delete stack_vault_audit"))
    }

    fn import(id: &str) -> Result<VaultAuditModel, Diags> {
        let path = id.trim_matches('/');
        if path.is_empty() {
            return Err(Diagnostic::error(
                "Invalid import ID",
                "The import ID is the audit device path, e.g. `file`.",
            )
            .into());
        }
        Ok(VaultAuditModel {
            id: Some(path.into()),
            path: Some(path.into()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(options: &[(&str, &str)]) -> VaultAuditModel {
        VaultAuditModel {
            path: Some("team/file".into()),
            r#type: Some("file".into()),
            options: Some(
                options
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            description: Some("main \"audit\"".into()),
            local: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn declarative_block_round_trips_through_hcl() {
        let text = declarative_hcl(&model(&[
            ("file_path", "/var/log/bao/${x}.log"),
            ("log-raw", "true"),
        ]));
        assert!(text.starts_with("audit \"file\" \"team/file\" {"), "{text}");
        let body: hcl::Body = hcl::from_str(&text).expect("valid HCL");
        let block = body.blocks().next().expect("one block");
        let opts = block
            .body()
            .attributes()
            .find(|a| a.key() == "options")
            .expect("options");
        let hcl::Expression::Object(o) = opts.expr() else {
            panic!("object expected: {text}")
        };
        let values: Vec<String> = o.values().map(|v| v.to_string()).collect();
        assert!(values.iter().any(|v| v.contains("$${x}")), "{text}");
        assert!(
            text.contains("description = \"main \\\"audit\\\"\""),
            "{text}"
        );
        assert!(
            !text.contains("local"),
            "local=false is the default: {text}"
        );
    }

    fn check(ty: &str, options: Value) -> Vec<String> {
        let mut d = Diags::new();
        check_options(Some(ty), &options, &mut d);
        d.items.iter().map(|x| x.detail.clone()).collect()
    }

    fn opts(pairs: &[(&str, &str)]) -> Value {
        Value::object(pairs.iter().map(|(k, v)| (k.to_string(), Value::from(*v))))
    }

    #[test]
    fn options_are_checked_at_plan() {
        assert!(check("file", opts(&[("file_path", "/tmp/a.log")])).is_empty());
        assert!(check("file", Value::Null)[0].contains("file_path"));
        assert!(check("file", opts(&[("mode", "0600")]))[0].contains("file_path"));
        assert!(
            check("file", opts(&[("file_path", "x"), ("log_raw", "yes")]))[0].contains("log_raw")
        );
        assert!(
            check("file", opts(&[("file_path", "x"), ("format", "jsonx")]))[0].contains("jsonx")
        );
        assert!(check("file", opts(&[("file_path", "x"), ("mode", "rw")]))[0].contains("octal"));
        assert!(check("socket", opts(&[("prefix", "x")]))[0].contains("prefix"));
        assert!(check("socket", opts(&[("socket_type", "sctp")]))[0].contains("socket_type"));
        assert!(check("syslog", Value::Null).is_empty());
    }
}
