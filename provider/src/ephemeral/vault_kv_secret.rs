//! Ephemeral `stack_vault_kv_secret`: reads a KV version 2 secret without it entering plan or state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stack_core::VaultClient;
use tf_framework::schema::validators::clean_path;
use tf_framework::{
    Attribute, AttributePath, Block, Diagnostic, Diags, EphemeralResource, Opened, Schema, Value,
};

use crate::errors::fail;
use crate::resources::vault_kv_secret::{ensure_kv2, mask, to_strings};
use crate::ProviderData;

/// The ephemeral resource.
pub struct VaultKvSecretEphemeral;

/// Configuration and result. No `Debug`: it holds secret values.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct VaultKvSecretEphemeralModel {
    /// KV v2 mount path.
    pub mount: Option<String>,
    /// Secret path inside the mount.
    pub path: Option<String>,
    /// Version to read; the latest when unset.
    pub version: Option<i64>,
    /// The secret's key/value pairs.
    pub data: Option<BTreeMap<String, String>>,
}

fn positive(v: &Value) -> Result<(), (String, String)> {
    match v {
        Value::Number(n) if n.as_i64().is_some_and(|i| i >= 1) => Ok(()),
        Value::Number(_) => Err((
            "Invalid version".into(),
            "version must be a whole number, 1 or more; leave it unset for the latest version."
                .into(),
        )),
        _ => Ok(()),
    }
}

/// Says why nothing could be read: wrong mount, no secret, or a missing/deleted version.
async fn explain(vault: &VaultClient, mount: &str, path: &str, version: Option<u64>) -> Diags {
    if let Err(d) = ensure_kv2(vault, mount, path, "mount").await {
        return d;
    }
    let meta = match vault.kv2_read_metadata(mount, path).await {
        Ok(m) => m,
        Err(e) => return fail("read stack_vault_kv_secret")(e),
    };
    let (detail, at) = match (meta, version) {
        (None, _) => (format!("There is no secret at {mount}/{path}."), "path"),
        (Some(m), None) if m.current_version == 0 => {
            (format!("The secret {mount}/{path} has no versions."), "path")
        }
        (Some(m), None) => (
            format!(
                "The latest version ({}) of {mount}/{path} is deleted or destroyed; set `version` to read an older one.",
                m.current_version
            ),
            "path",
        ),
        (Some(m), Some(v)) => match m.version(v) {
            None => (
                format!(
                    "Version {v} of {mount}/{path} does not exist or is no longer kept (current version: {}).",
                    m.current_version
                ),
                "version",
            ),
            Some(s) if s.destroyed => (format!("Version {v} of {mount}/{path} was destroyed."), "version"),
            Some(_) => (format!("Version {v} of {mount}/{path} is deleted (it can be undeleted)."), "version"),
        },
    };
    Diagnostic::error("Unable to read stack_vault_kv_secret", detail)
        .at(AttributePath::root(at))
        .into()
}

impl EphemeralResource for VaultKvSecretEphemeral {
    type Ctx = ProviderData;
    type Model = VaultKvSecretEphemeralModel;
    const TYPE_NAME: &'static str = "stack_vault_kv_secret";

    fn schema() -> Schema {
        Schema::new(
            Block::new(
                "Reads a secret from a KV version 2 secrets engine while Terraform runs. The data never enters \
                 the plan or state; pass it to write-only arguments (such as `data_wo` of the `stack_vault_kv_secret` \
                 resource), provider configuration or other ephemeral contexts.",
            )
            .attr(Attribute::string("mount").required().validate(clean_path()).doc(
                "Path of the KV version 2 mount, without slashes at either end, e.g. `secret` or `team/kv`.",
            ))
            .attr(Attribute::string("path").required().validate(clean_path()).doc(
                "Path of the secret inside the mount, e.g. `app/db`.",
            ))
            .attr(Attribute::number("version").optional().computed().validate(positive).doc(
                "Version to read. Leave it unset to read the latest version; it is then set to the version that was read.",
            ))
            .attr(Attribute::string_map("data").computed().sensitive().doc(
                "The secret's key/value pairs. Values stored as something other than strings are given as their JSON text.",
            )),
        )
    }

    async fn open(
        &self,
        ctx: &ProviderData,
        config: VaultKvSecretEphemeralModel,
    ) -> Result<Opened<VaultKvSecretEphemeralModel>, Diags> {
        let vault = ctx.vault()?;
        let mount = config.mount.clone().unwrap_or_default();
        let path = config.path.clone().unwrap_or_default();
        let version = config.version.and_then(|v| u64::try_from(v).ok());
        let Some(secret) = vault
            .kv2_read(&mount, &path, version)
            .await
            .map_err(fail("read stack_vault_kv_secret"))?
        else {
            return Err(explain(vault, &mount, &path, version).await);
        };
        let data = to_strings(secret.data.unwrap_or_default());
        mask(data.values());
        Ok(Opened {
            result: VaultKvSecretEphemeralModel {
                version: Some(secret.metadata.version as i64),
                data: Some(data),
                ..config
            },
            renew_at: None,
            private: Vec::new(),
        })
    }
}
