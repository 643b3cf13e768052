//! Secrets engine mounts: `sys/mounts`.
//!
//! Mount paths are given without slashes at either end (`team/pki`); the
//! server reports them with a trailing slash (`team/pki/`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::VaultClient;
use crate::error::{Error, Product};
use crate::http::Method;

/// A mounted secrets engine as listed by `GET sys/mounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountInfo {
    /// Engine type, e.g. `kv`, `pki`, `database`.
    #[serde(rename = "type")]
    pub mount_type: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// Engine options, e.g. `{"version": "2"}` for KV v2; the server sends `null` for none.
    #[serde(default)]
    pub options: Option<HashMap<String, String>>,
    /// The mount accessor, e.g. `kv_ab6b5ddd`.
    #[serde(default)]
    pub accessor: String,
    /// Lease and other settings.
    #[serde(default)]
    pub config: MountConfig,
    /// Whether the mount is local to this cluster (not replicated).
    #[serde(default)]
    pub local: bool,
    /// Whether seal wrapping is enabled.
    #[serde(default)]
    pub seal_wrap: bool,
    /// Whether the engine may use the external entropy source.
    #[serde(default)]
    pub external_entropy_access: bool,
    /// The mount's UUID.
    #[serde(default)]
    pub uuid: String,
    /// Pinned plugin version, empty for the built-in one.
    #[serde(default)]
    pub plugin_version: String,
    /// Running plugin version, e.g. `v2.7.2+builtin.bao`.
    #[serde(default)]
    pub running_plugin_version: String,
}

/// Settings of a mount as reported by the server; TTLs are in seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfig {
    /// Default lease TTL in seconds; 0 means the system default.
    #[serde(default)]
    pub default_lease_ttl: u64,
    /// Maximum lease TTL in seconds; 0 means the system default.
    #[serde(default)]
    pub max_lease_ttl: u64,
    /// Whether response caching is disabled.
    #[serde(default)]
    pub force_no_cache: bool,
    /// Request keys not HMAC'd by audit devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_non_hmac_request_keys: Option<Vec<String>>,
    /// Response keys not HMAC'd by audit devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_non_hmac_response_keys: Option<Vec<String>>,
    /// `unauth` or `hidden`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing_visibility: Option<String>,
    /// Request headers passed to the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_request_headers: Option<Vec<String>>,
    /// Response headers the engine may set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_response_headers: Option<Vec<String>>,
}

/// Mount settings to send; unset fields are left out. TTLs are duration
/// strings (`"1h"`) or seconds (`"3600"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfigInput {
    /// Default lease TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_lease_ttl: Option<String>,
    /// Maximum lease TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lease_ttl: Option<String>,
    /// Disable response caching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_no_cache: Option<bool>,
    /// Request keys not HMAC'd by audit devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_non_hmac_request_keys: Option<Vec<String>>,
    /// Response keys not HMAC'd by audit devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_non_hmac_response_keys: Option<Vec<String>>,
    /// `unauth` or `hidden`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing_visibility: Option<String>,
    /// Request headers passed to the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_request_headers: Option<Vec<String>>,
    /// Response headers the engine may set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_response_headers: Option<Vec<String>>,
}

/// Body of `POST sys/mounts/:path`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRequest {
    /// Engine type, e.g. `kv`, `kv-v2`, `pki`.
    #[serde(rename = "type")]
    pub mount_type: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Lease and other settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<MountConfigInput>,
    /// Engine options, e.g. `{"version": "2"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<HashMap<String, String>>,
    /// Mount local to this cluster (not replicated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
    /// Enable seal wrapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_wrap: Option<bool>,
    /// Allow the engine to use the external entropy source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_entropy_access: Option<bool>,
    /// Pin a plugin version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_version: Option<String>,
}

impl MountRequest {
    /// A request for an engine of `mount_type` with everything else unset.
    pub fn new(mount_type: impl Into<String>) -> Self {
        Self {
            mount_type: mount_type.into(),
            ..Self::default()
        }
    }
}

/// Body of `POST sys/mounts/:path/tune`; unset fields are left unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountTuneRequest {
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New engine options (e.g. to upgrade KV to version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<HashMap<String, String>>,
    /// New settings; sent as top-level fields, as the tune endpoint expects.
    #[serde(flatten)]
    pub config: MountConfigInput,
}

/// Validates a mount path and returns it without slashes at either end.
fn mount_path(method: &'static str, path: &str) -> Result<String, Error> {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Err(Error::InvalidRequest {
            product: Product::Vault,
            method,
            path: format!("sys/mounts/{path}"),
            reason: "the mount path is empty".to_owned(),
        });
    }
    Ok(trimmed.to_owned())
}

impl VaultClient {
    /// Lists all mounts, keyed by path with a trailing slash (`secret/`).
    ///
    /// `GET /v1/sys/mounts` —
    /// <https://openbao.org/api-docs/system/mounts/#list-mounted-secrets-engines>
    pub async fn list_mounts(&self) -> Result<HashMap<String, MountInfo>, Error> {
        self.request(Method::Get, "sys/mounts").send().await?.data()
    }

    /// Reads the mount at exactly `path`; `None` if there is none.
    ///
    /// Implemented with `GET /v1/sys/mounts`, because `GET /v1/sys/mounts/:path`
    /// answers for the longest mount *containing* the path (reading `team/kv`
    /// returns the `team/` mount) and 400 when there is none —
    /// <https://openbao.org/api-docs/system/mounts/>
    pub async fn read_mount(&self, path: &str) -> Result<Option<MountInfo>, Error> {
        let key = format!("{}/", mount_path("GET", path)?);
        Ok(self.list_mounts().await?.remove(&key))
    }

    /// Enables a secrets engine at `path`. The server answers 204.
    ///
    /// An occupied path gives 400 `path is already in use at <path>/` (also
    /// for paths below an existing mount), for which
    /// [`Error::is_conflict`] is `true`.
    ///
    /// `POST /v1/sys/mounts/:path` —
    /// <https://openbao.org/api-docs/system/mounts/#enable-secrets-engine>
    pub async fn enable_mount(&self, path: &str, request: &MountRequest) -> Result<(), Error> {
        let path = mount_path("POST", path)?;
        self.write(&format!("sys/mounts/{path}"), request)
            .await
            .map(drop)
    }

    /// Disables the secrets engine at `path`, revoking its leases and deleting
    /// its data. Succeeds if nothing is mounted there.
    ///
    /// `DELETE /v1/sys/mounts/:path` (204, also when nothing is mounted) —
    /// <https://openbao.org/api-docs/system/mounts/#disable-secrets-engine>
    pub async fn disable_mount(&self, path: &str) -> Result<(), Error> {
        let path = mount_path("DELETE", path)?;
        match self.delete(&format!("sys/mounts/{path}")).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Changes the settings of the mount at `path`. The server answers 204.
    ///
    /// `POST /v1/sys/mounts/:path/tune` —
    /// <https://openbao.org/api-docs/system/mounts/#tune-mount-configuration>
    pub async fn tune_mount(&self, path: &str, request: &MountTuneRequest) -> Result<(), Error> {
        let path = mount_path("POST", path)?;
        self.write(&format!("sys/mounts/{path}/tune"), request)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mount_request_json() {
        let mut req = MountRequest::new("kv");
        req.description = Some("team secrets".into());
        req.options = Some(HashMap::from([("version".into(), "2".into())]));
        req.config = Some(MountConfigInput {
            default_lease_ttl: Some("1h".into()),
            max_lease_ttl: Some("24h".into()),
            ..Default::default()
        });
        assert_eq!(
            serde_json::to_value(&req).unwrap_or_default(),
            json!({
                "type": "kv",
                "description": "team secrets",
                "config": {"default_lease_ttl": "1h", "max_lease_ttl": "24h"},
                "options": {"version": "2"}
            })
        );
        assert_eq!(
            serde_json::to_value(MountRequest::new("pki")).unwrap_or_default(),
            json!({"type": "pki"})
        );
    }

    #[test]
    fn tune_request_is_flat() {
        let req = MountTuneRequest {
            description: Some("new".into()),
            config: MountConfigInput {
                max_lease_ttl: Some("3h".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap_or_default(),
            json!({"description": "new", "max_lease_ttl": "3h"})
        );
    }

    #[test]
    fn mount_list_parses_openbao_output() {
        let body = json!({
            "data": {
                "secret/": {"accessor":"kv_ab6b5ddd","config":{"default_lease_ttl":0,"force_no_cache":false,"max_lease_ttl":0},
                    "deprecation_status":"supported","description":"key/value secret storage","external_entropy_access":false,
                    "local":false,"options":{"version":"2"},"plugin_version":"","running_plugin_version":"v2.7.2+builtin.bao",
                    "running_sha256":"","seal_wrap":false,"type":"kv","uuid":"c34ec850"},
                "sys/": {"accessor":"system_47eaacfd","config":{"default_lease_ttl":0,"force_no_cache":false,"max_lease_ttl":0,
                    "passthrough_request_headers":["Accept"]},"description":"system endpoints","external_entropy_access":false,
                    "local":false,"options":null,"plugin_version":"","running_plugin_version":"v2.7.2+builtin.bao",
                    "running_sha256":"","seal_wrap":true,"type":"system","uuid":"a4dd5dee"}
            }
        });
        #[derive(Deserialize)]
        struct Env {
            data: HashMap<String, MountInfo>,
        }
        let env: Env = serde_json::from_value(body).expect("parses");
        let secret = &env.data["secret/"];
        assert_eq!(secret.mount_type, "kv");
        assert_eq!(
            secret
                .options
                .as_ref()
                .and_then(|o| o.get("version"))
                .map(String::as_str),
            Some("2")
        );
        assert_eq!(env.data["sys/"].options, None);
        assert_eq!(
            env.data["sys/"]
                .config
                .passthrough_request_headers
                .as_deref(),
            Some(&["Accept".to_owned()][..])
        );
    }
}
