//! `stack_vault_kv_secret`: one secret in a KV version 2 mount, with its data either in state
//! (`data`) or write-only (`data_wo` + `data_wo_version`).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use stack_core::vault::kv2::{MetadataRequest, WriteSecretRequest};
use stack_core::VaultClient;
use tf_framework::schema::validators::clean_path;
use tf_framework::{Attribute, AttributePath, Block, Diagnostic, Diags, Resource, Schema, Value};

use crate::errors::{diag, diag_at, fail};
use crate::ProviderData;

/// The resource.
pub struct VaultKvSecret;

/// State and configuration of `stack_vault_kv_secret`. No `Debug`: it holds secret values.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct VaultKvSecretModel {
    /// `<mount>/<path>`.
    pub id: Option<String>,
    /// KV v2 mount path.
    pub mount: Option<String>,
    /// Secret path inside the mount.
    pub path: Option<String>,
    /// Secret data kept in state.
    pub data: Option<BTreeMap<String, String>>,
    /// Write-only secret data (never in state).
    pub data_wo: Option<BTreeMap<String, String>>,
    /// Bumped to write `data_wo` again.
    pub data_wo_version: Option<i64>,
    /// The secret's custom metadata.
    pub custom_metadata: Option<BTreeMap<String, String>>,
    /// Version this resource last wrote.
    pub version: Option<i64>,
}

impl VaultKvSecretModel {
    fn mount(&self) -> &str {
        self.mount.as_deref().unwrap_or_default()
    }
    fn path(&self) -> &str {
        self.path.as_deref().unwrap_or_default()
    }
    fn write_only(&self) -> bool {
        self.data_wo_version.is_some()
    }
}

/// Vault's limits for custom metadata, checked at plan time.
fn check_custom_metadata(v: &Value) -> Result<(), (String, String)> {
    let Value::Map(m) = v else { return Ok(()) };
    let bad = |d: String| Err(("Invalid custom_metadata".to_string(), d));
    if m.len() > 64 {
        return bad(format!(
            "Vault accepts at most 64 keys; this map has {}.",
            m.len()
        ));
    }
    for (k, v) in m {
        if k.is_empty() || k.len() > 128 {
            return bad(format!("Key {k:?} must be 1 to 128 bytes long."));
        }
        if let Some(s) = v.as_str() {
            if s.is_empty() || s.len() > 512 {
                return bad(format!("The value of {k:?} must be 1 to 512 bytes long."));
            }
        }
    }
    Ok(())
}

fn whole_number(v: &Value) -> Result<(), (String, String)> {
    match v {
        Value::Number(n) if n.as_i64().is_some_and(|i| i >= 0) => Ok(()),
        Value::Number(_) => Err((
            "Invalid data_wo_version".into(),
            "data_wo_version must be a whole number, 0 or more.".into(),
        )),
        _ => Ok(()),
    }
}

/// Secret values are masked in provider logs, a second line of defence after never logging them.
pub(crate) fn mask<'a>(values: impl IntoIterator<Item = &'a String>) {
    values
        .into_iter()
        .for_each(|v| tf_framework::log::register_secret(v));
}

/// KV values are JSON; strings stay as they are, anything else becomes its JSON text.
pub(crate) fn to_strings(
    data: serde_json::Map<String, serde_json::Value>,
) -> BTreeMap<String, String> {
    data.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

/// Checks that `mount` is a KV version 2 mount before anything is written; errors name the mount
/// type that was found.
pub(crate) async fn ensure_kv2(
    vault: &VaultClient,
    mount: &str,
    path: &str,
    attr: &str,
) -> Result<(), Diags> {
    let at = AttributePath::root(attr);
    let found = vault
        .kv2_find_mount(&format!("{mount}/{path}"))
        .await
        .map_err(|e| Diags::from(diag_at("check the KV mount", &e, at.clone())))?;
    let msg = match found {
        Some(m) if m.path == mount && m.is_kv_v2() => return Ok(()),
        Some(m) if m.path == mount => format!(
            "The secrets engine at {mount:?} is {}, not KV version 2. Mount a KV v2 engine (type \"kv\" with options.version = \"2\", or \"kv-v2\") and use its path.",
            m.describe()
        ),
        Some(m) if m.is_kv_v2() && m.path.len() < mount.len() => {
            let rest = format!("{mount}/{path}");
            let rest = rest.strip_prefix(&format!("{}/", m.path)).unwrap_or(&rest);
            format!(
                "{mount:?} is not a mount: it lies inside the KV version 2 mount {:?}. Use the mount {:?} and the path {rest:?} below it.",
                m.path, m.path
            )
        }
        Some(m) => format!(
            "No secrets engine is mounted at {mount:?}; the path belongs to the mount {:?} ({}). Use a KV version 2 mount.",
            m.path,
            m.describe()
        ),
        None => format!("No secrets engine is mounted at {mount:?}. Enable a KV version 2 engine there first."),
    };
    Err(Diagnostic::error("Not a KV version 2 mount", msg)
        .at(at)
        .into())
}

/// Resolves an import ID `<mount>/<path>`: the longest mount that contains it is the mount.
async fn resolve_id(vault: &VaultClient, id: &str) -> Result<(String, String), Diags> {
    let found = vault
        .kv2_find_mount(id)
        .await
        .map_err(fail("import stack_vault_kv_secret"))?;
    match found {
        Some(m) if m.is_kv_v2() => match id.strip_prefix(&format!("{}/", m.path)) {
            Some(rest) if !rest.is_empty() => Ok((m.path, rest.to_string())),
            _ => Err(Diagnostic::error(
                "Invalid import ID",
                format!(
                    "{id:?} names the mount {:?} but no secret in it. The ID is <mount>/<path>.",
                    m.path
                ),
            )
            .into()),
        },
        Some(m) => Err(Diagnostic::error(
            "Not a KV version 2 mount",
            format!(
                "{id:?} lies in the mount {:?}, which is {}, not KV version 2.",
                m.path,
                m.describe()
            ),
        )
        .into()),
        None => Err(Diagnostic::error(
            "Invalid import ID",
            format!(
                "No secrets engine is mounted at any prefix of {id:?}. The ID is <mount>/<path>."
            ),
        )
        .into()),
    }
}

impl VaultKvSecret {
    /// Writes the configured data (`data` or `data_wo`) as a new version.
    async fn write_data(
        vault: &VaultClient,
        plan: &VaultKvSecretModel,
        cas: u64,
        action: &'static str,
    ) -> Result<i64, Diags> {
        let data = plan.data.as_ref().or(plan.data_wo.as_ref());
        let empty = BTreeMap::new();
        let data = data.unwrap_or(&empty);
        mask(data.values());
        let written = vault
            .kv2_write(plan.mount(), plan.path(), &WriteSecretRequest::strings(data, Some(cas)))
            .await
            .map_err(|e| {
                let mut d = diag(action, &e);
                if e.is_conflict() && cas == 0 {
                    d = Diagnostic::error(
                        format!("Unable to {action}"),
                        format!(
                            "A secret already exists at {}/{}. Import it with `terraform import <address> {}/{}`, or choose another path.",
                            plan.mount(), plan.path(), plan.mount(), plan.path()
                        ),
                    )
                    .at(AttributePath::root("path"));
                }
                Diags::from(d)
            })?;
        Ok(written.version as i64)
    }

    async fn write_custom_metadata(
        vault: &VaultClient,
        plan: &VaultKvSecretModel,
        action: &'static str,
    ) -> Result<(), Diags> {
        let custom: HashMap<String, String> = plan
            .custom_metadata
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let request = MetadataRequest {
            custom_metadata: Some(custom),
            ..Default::default()
        };
        vault
            .kv2_write_metadata(plan.mount(), plan.path(), &request)
            .await
            .map_err(|e| diag_at(action, &e, AttributePath::root("custom_metadata")).into())
    }

    fn done(plan: VaultKvSecretModel, version: Option<i64>) -> VaultKvSecretModel {
        VaultKvSecretModel {
            id: Some(format!("{}/{}", plan.mount(), plan.path())),
            data_wo: None,
            version,
            ..plan
        }
    }
}

/// Documentation of the resource (the registry page's first paragraph).
const DOC: &str = "A secret in a KV version 2 secrets engine. Set the data either with `data`, which Terraform \
keeps in state (marked sensitive), or with the write-only `data_wo`, which never reaches the plan or state; \
then bump `data_wo_version` to write it again. Every write creates a new version of the secret; destroying \
the resource deletes the secret's metadata and all of its versions.\n\n\
Drift: with `data`, Terraform compares the latest version's data with the configuration, so an out-of-band \
write with other data shows as an update. With `data_wo` the contents cannot be compared; instead, a new \
version written outside Terraform, or a deleted latest version, shows as an update of `version` (with a \
warning) and the apply writes `data_wo` again. Deleting the secret's metadata outside Terraform plans a create.\n\n\
Import: the ID is `<mount>/<path>`; the longest existing mount that is a prefix of the ID is the mount. \
An import cannot see the configuration, so it reads the data into `data`; with `data_wo`, the next apply \
removes it from state and writes `data_wo` as a new version.";

impl Resource for VaultKvSecret {
    type Ctx = ProviderData;
    type Model = VaultKvSecretModel;
    const TYPE_NAME: &'static str = "stack_vault_kv_secret";
    const IDENTITY: &'static [(&'static str, &'static str)] = &[
        ("mount", "Path of the KV version 2 mount."),
        ("path", "Path of the secret inside the mount."),
    ];

    fn schema() -> Schema {
        Schema::new(
            Block::new(DOC)
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("`<mount>/<path>`."))
                .attr(Attribute::string("mount").required().requires_replace().validate(clean_path()).doc(
                    "Path of the KV version 2 mount, without slashes at either end, e.g. `secret` or `team/kv`. \
                     The apply checks that a KV version 2 engine is mounted there before writing. Changing this forces a new resource.",
                ))
                .attr(Attribute::string("path").required().requires_replace().validate(clean_path()).doc(
                    "Path of the secret inside the mount, without slashes at either end, e.g. `app/db`. Changing this forces a new resource.",
                ))
                .attr(Attribute::string_map("data").optional().sensitive().doc(
                    "The secret's key/value pairs, stored in state (marked sensitive). Conflicts with `data_wo`. \
                     Values written outside Terraform that are not strings read back as their JSON text.",
                ))
                .attr(Attribute::string_map("data_wo").optional().write_only().sensitive().doc(
                    "Write-only key/value pairs (Terraform 1.11 or later): sent to Vault but never stored in the plan or state. \
                     Requires `data_wo_version`; conflicts with `data`. Accepts ephemeral values.",
                ))
                .attr(Attribute::number("data_wo_version").optional().validate(whole_number).doc(
                    "Required with `data_wo`. Terraform cannot see changes to a write-only value, so change this number to write `data_wo` again.",
                ))
                .attr(Attribute::string_map("custom_metadata").optional().validate(check_custom_metadata).doc(
                    "Custom metadata of the secret (not secret): at most 64 keys, keys of 1 to 128 bytes, values of 1 to 512 bytes. \
                     Leaving it unset clears metadata set outside Terraform.",
                ))
                .attr(Attribute::number("version").computed().doc(
                    "The version of the secret this resource last wrote (after an import, the version that was current then).",
                )),
        )
    }

    fn validate(config: &Value) -> Diags {
        let mut diags = Diags::new();
        let (data, wo, wo_version) = (
            config.get("data"),
            config.get("data_wo"),
            config.get("data_wo_version"),
        );
        if !data.is_null() && !wo.is_null() {
            diags.push(
                Diagnostic::error(
                    "Conflicting attributes",
                    "Set either `data` (kept in state) or `data_wo` (write-only), not both.",
                )
                .at(AttributePath::root("data_wo")),
            );
        } else if data.is_null() && wo.is_null() {
            diags.push(Diagnostic::error(
                "Missing secret data",
                "Set `data`, or `data_wo` together with `data_wo_version`.",
            ));
        }
        if !wo.is_null() && wo_version.is_null() {
            diags.push(
                Diagnostic::error(
                    "Missing data_wo_version",
                    "`data_wo` needs `data_wo_version`: Terraform never stores write-only values, so changing this number is how a new value gets written.",
                )
                .at(AttributePath::root("data_wo_version")),
            );
        }
        if wo.is_null() && !wo_version.is_null() {
            diags.push(
                Diagnostic::error(
                    "data_wo_version without data_wo",
                    "`data_wo_version` only applies to `data_wo`; remove it or set `data_wo`.",
                )
                .at(AttributePath::root("data_wo_version")),
            );
        }
        diags
    }

    /// With `data_wo`, Terraform cannot compare contents; a version written (or a latest version
    /// deleted) outside Terraform is the drift signal, and planning `version` unknown makes the apply
    /// write `data_wo` again.
    async fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a ProviderData>,
        prior: &'a Value,
        planned: &'a mut Value,
        diags: &'a mut Diags,
    ) {
        let (Some(ctx), false) = (ctx, prior.is_null()) else {
            return;
        };
        if planned.get("data_wo_version").is_null()
            || planned.get("version").is_unknown()
            || planned.get("mount") != prior.get("mount")
            || planned.get("path") != prior.get("path")
        {
            return;
        }
        let (Some(mount), Some(path)) = (prior.get("mount").as_str(), prior.get("path").as_str())
        else {
            return;
        };
        let Some(written) = (match prior.get("version") {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }) else {
            return;
        };
        let vault = match ctx.vault() {
            Ok(v) => v,
            Err(d) => return diags.extend(d),
        };
        let meta = match vault.kv2_read_metadata(mount, path).await {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => return diags.push(diag("plan stack_vault_kv_secret", &e)),
        };
        let current = meta.current_version as i64;
        let reason = if current != written {
            format!("is at version {current}, but this resource last wrote version {written}")
        } else if !meta.current_is_readable() {
            format!("version {current}, which this resource wrote, was deleted or destroyed")
        } else {
            return;
        };
        if let Some(m) = planned.as_map_mut() {
            m.insert("version".into(), Value::Unknown);
        }
        diags.push(Diagnostic::warning(
            "Secret changed outside Terraform",
            format!(
                "{mount}/{path} {reason}. Terraform cannot compare write-only data, so this apply writes `data_wo` again as a new version."
            ),
        ));
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: VaultKvSecretModel,
    ) -> Result<VaultKvSecretModel, Diags> {
        let vault = ctx.vault()?;
        ensure_kv2(vault, plan.mount(), plan.path(), "mount").await?;
        // cas = 0: never take over a secret that already exists.
        let version = Self::write_data(vault, &plan, 0, "create stack_vault_kv_secret").await?;
        if plan.custom_metadata.as_ref().is_some_and(|m| !m.is_empty()) {
            if let Err(d) =
                Self::write_custom_metadata(vault, &plan, "create stack_vault_kv_secret").await
            {
                let partial = Self::done(
                    VaultKvSecretModel {
                        custom_metadata: None,
                        ..plan
                    },
                    Some(version),
                );
                return Err(d.with_partial_state(&partial));
            }
        }
        Ok(Self::done(plan, Some(version)))
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: VaultKvSecretModel,
    ) -> Result<Option<VaultKvSecretModel>, Diags> {
        let vault = ctx.vault()?;
        let (mount, path) = match (&state.mount, &state.path) {
            (Some(m), Some(p)) => (m.clone(), p.clone()),
            _ => resolve_id(vault, state.id.as_deref().unwrap_or_default()).await?,
        };
        let Some(meta) = vault
            .kv2_read_metadata(&mount, &path)
            .await
            .map_err(fail("read stack_vault_kv_secret"))?
        else {
            return Ok(None);
        };
        // Write-only data never enters state; after an import (nothing known yet) `data` is read.
        let data = if state.write_only() || meta.current_version == 0 {
            None
        } else {
            vault
                .kv2_read(&mount, &path, None)
                .await
                .map_err(fail("read stack_vault_kv_secret"))?
                .and_then(|s| s.data)
                .map(to_strings)
        };
        if let Some(d) = &data {
            mask(d.values());
        }
        let custom: BTreeMap<String, String> = meta
            .custom_metadata
            .unwrap_or_default()
            .into_iter()
            .collect();
        // An empty map and an unset one are the same on the server; keep the configured spelling.
        let custom_metadata = match (custom.is_empty(), &state.custom_metadata) {
            (true, Some(prior)) if prior.is_empty() => Some(BTreeMap::new()),
            (true, _) => None,
            (false, _) => Some(custom),
        };
        Ok(Some(VaultKvSecretModel {
            id: Some(format!("{mount}/{path}")),
            mount: Some(mount),
            path: Some(path),
            data,
            data_wo: None,
            data_wo_version: state.data_wo_version,
            custom_metadata,
            version: state.version.or(Some(meta.current_version as i64)),
        }))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        prior: VaultKvSecretModel,
        plan: VaultKvSecretModel,
    ) -> Result<VaultKvSecretModel, Diags> {
        let vault = ctx.vault()?;
        let meta = vault
            .kv2_read_metadata(plan.mount(), plan.path())
            .await
            .map_err(fail("update stack_vault_kv_secret"))?
            .unwrap_or_default();
        let drifted =
            prior.version != Some(meta.current_version as i64) || !meta.current_is_readable();
        let rewrite = plan.data != prior.data
            || plan.data_wo_version != prior.data_wo_version
            || (plan.write_only() && drifted);
        let mut version = prior.version;
        if rewrite {
            // cas = the version seen now, so mounts with cas_required work and a concurrent write fails.
            let v = Self::write_data(
                vault,
                &plan,
                meta.current_version,
                "update stack_vault_kv_secret",
            )
            .await?;
            version = Some(v);
        }
        if plan.custom_metadata != prior.custom_metadata {
            if let Err(d) =
                Self::write_custom_metadata(vault, &plan, "update stack_vault_kv_secret").await
            {
                let partial = Self::done(
                    VaultKvSecretModel {
                        custom_metadata: prior.custom_metadata,
                        ..plan
                    },
                    version,
                );
                return Err(d.with_partial_state(&partial));
            }
        }
        Ok(Self::done(plan, version))
    }

    async fn delete(&self, ctx: &ProviderData, state: VaultKvSecretModel) -> Result<(), Diags> {
        ctx.vault()?
            .kv2_delete_metadata(state.mount(), state.path())
            .await
            .map_err(fail("delete stack_vault_kv_secret"))
    }

    fn import(id: &str) -> Result<VaultKvSecretModel, Diags> {
        let id = id.trim();
        if id.starts_with('/') || id.ends_with('/') || !id.contains('/') || id.contains("//") {
            return Err(Diagnostic::error(
                "Invalid import ID",
                format!("{id:?} is not <mount>/<path>, e.g. `secret/app/db` or `team/kv/app/db` (the longest mount that is a prefix of the ID is the mount)."),
            )
            .into());
        }
        Ok(VaultKvSecretModel {
            id: Some(id.into()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf_framework::Number;

    fn config(pairs: &[(&str, Value)]) -> Value {
        Value::object(pairs.iter().cloned())
    }

    fn map(k: &str, v: &str) -> Value {
        Value::Map(BTreeMap::from([(k.to_string(), Value::from(v))]))
    }

    #[test]
    fn data_and_data_wo_conflict() {
        let d = VaultKvSecret::validate(&config(&[
            ("data", map("a", "b")),
            ("data_wo", map("a", "b")),
            ("data_wo_version", Value::from(1)),
        ]));
        assert!(d.has_errors());
    }

    #[test]
    fn data_wo_needs_version() {
        let d = VaultKvSecret::validate(&config(&[("data_wo", map("a", "b"))]));
        assert!(d.has_errors());
        let ok = VaultKvSecret::validate(&config(&[
            ("data_wo", Value::Unknown),
            ("data_wo_version", Value::from(1)),
        ]));
        assert!(!ok.has_errors());
        let ok = VaultKvSecret::validate(&config(&[("data", map("a", "b"))]));
        assert!(!ok.has_errors());
        let none = VaultKvSecret::validate(&config(&[]));
        assert!(none.has_errors());
    }

    #[test]
    fn custom_metadata_limits() {
        assert!(check_custom_metadata(&map("owner", "me")).is_ok());
        assert!(check_custom_metadata(&map("owner", "")).is_err());
        assert!(check_custom_metadata(&map(&"k".repeat(129), "v")).is_err());
        let many = Value::Map(
            (0..65)
                .map(|i| (format!("k{i}"), Value::from("v")))
                .collect(),
        );
        assert!(check_custom_metadata(&many).is_err());
    }

    #[test]
    fn version_must_be_whole() {
        assert!(whole_number(&Value::Number(Number::Float(1.5))).is_err());
        assert!(whole_number(&Value::from(-1)).is_err());
        assert!(whole_number(&Value::from(3)).is_ok());
    }

    #[test]
    fn non_string_values_read_as_json_text() {
        let m = serde_json::json!({"s": "x", "n": 5, "o": {"a": true}});
        let serde_json::Value::Object(m) = m else {
            unreachable!()
        };
        let s = to_strings(m);
        assert_eq!(s["s"], "x");
        assert_eq!(s["n"], "5");
        assert_eq!(s["o"], r#"{"a":true}"#);
    }

    #[test]
    fn import_id_shape() {
        assert!(VaultKvSecret::import("secret/app/db").is_ok());
        assert!(VaultKvSecret::import("secret").is_err());
        assert!(VaultKvSecret::import("/secret/a").is_err());
        assert!(VaultKvSecret::import("secret/a/").is_err());
    }
}
