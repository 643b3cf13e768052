//! Audit devices: `sys/audit`.
//!
//! Paths are given without slashes at either end (`team/file`); the server
//! lists them with a trailing slash (`team/file/`). An audit device cannot be
//! changed once enabled: disable it and enable a new one.
//!
//! OpenBao 2.3.2 and later refuse `POST sys/audit/:path` unless the server
//! configuration sets `unsafe_allow_api_audit_creation = true`; devices are
//! meant to be declared with `audit "<type>" "<path>" { … }` blocks in the
//! server configuration instead. [`is_api_audit_creation_disabled`] tells that
//! refusal apart from other errors.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::VaultClient;
use crate::error::{Error, Product};
use crate::http::Method;

/// An enabled audit device as listed by `GET sys/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDevice {
    /// Device type: `file`, `socket` or `syslog`.
    #[serde(rename = "type")]
    pub device_type: String,
    /// The path with a trailing slash, e.g. `file/`.
    #[serde(default)]
    pub path: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// Device options exactly as they were given, e.g. `{"file_path": "/var/log/bao.log"}`.
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    /// Whether the device is local to this cluster (not replicated).
    #[serde(default)]
    pub local: bool,
}

/// Body of `POST sys/audit/:path`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnableAuditRequest {
    /// Device type: `file`, `socket` or `syslog`.
    #[serde(rename = "type")]
    pub device_type: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Device options (all values are strings, also booleans such as `log_raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    /// Local to this cluster (not replicated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
}

/// `true` when the server refused to enable an audit device because API
/// creation of audit devices is disabled (OpenBao ≥ 2.3.2 without
/// `unsafe_allow_api_audit_creation = true`). The server answers 400
/// `cannot enable audit device via API; use declarative, config-based audit
/// device management instead`.
pub fn is_api_audit_creation_disabled(e: &Error) -> bool {
    e.status() == Some(400)
        && e.errors()
            .iter()
            .any(|m| m.contains("cannot enable audit device via API"))
}

/// Validates an audit device path and returns it without slashes at either end.
fn audit_path(method: &'static str, path: &str) -> Result<String, Error> {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Err(Error::InvalidRequest {
            product: Product::Vault,
            method,
            path: format!("sys/audit/{path}"),
            reason: "the audit device path is empty".to_owned(),
        });
    }
    Ok(trimmed.to_owned())
}

impl VaultClient {
    /// Lists the enabled audit devices, keyed by path with a trailing slash.
    ///
    /// `GET /v1/sys/audit` (needs `sudo`) —
    /// <https://openbao.org/api-docs/system/audit/#list-enabled-audit-devices>
    pub async fn list_audit_devices(&self) -> Result<HashMap<String, AuditDevice>, Error> {
        self.request(Method::Get, "sys/audit").send().await?.data()
    }

    /// Reads the audit device at exactly `path`; `None` if there is none.
    ///
    /// Implemented with `GET /v1/sys/audit`: there is no read endpoint for one
    /// device (`GET /v1/sys/audit/:path` answers 405).
    pub async fn read_audit_device(&self, path: &str) -> Result<Option<AuditDevice>, Error> {
        let key = format!("{}/", audit_path("GET", path)?);
        Ok(self.list_audit_devices().await?.remove(&key))
    }

    /// Enables an audit device at `path`. The server answers 204.
    ///
    /// The server writes a test message through the device first, so a socket
    /// nobody listens on fails here (400 `audit backend failed test message`).
    /// An occupied path gives 400 `path already in use`. See
    /// [`is_api_audit_creation_disabled`] for OpenBao's refusal.
    ///
    /// `POST /v1/sys/audit/:path` (needs `sudo`) —
    /// <https://openbao.org/api-docs/system/audit/#enable-audit-device>
    pub async fn enable_audit_device(
        &self,
        path: &str,
        request: &EnableAuditRequest,
    ) -> Result<(), Error> {
        let path = audit_path("POST", path)?;
        self.write(&format!("sys/audit/{path}"), request)
            .await
            .map(drop)
    }

    /// Disables the audit device at `path`. Succeeds if there is none.
    ///
    /// Devices declared in the server configuration cannot be disabled here
    /// (400 `cannot disable configuration-managed audit device`).
    ///
    /// `DELETE /v1/sys/audit/:path` (204, also when nothing is there) —
    /// <https://openbao.org/api-docs/system/audit/#disable-audit-device>
    pub async fn disable_audit_device(&self, path: &str) -> Result<(), Error> {
        let path = audit_path("DELETE", path)?;
        match self.delete(&format!("sys/audit/{path}")).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enable_request_json() {
        let req = EnableAuditRequest {
            device_type: "file".into(),
            description: Some("main".into()),
            options: Some(BTreeMap::from([(
                "file_path".to_owned(),
                "/var/log/bao.log".to_owned(),
            )])),
            local: Some(false),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"type": "file", "description": "main", "options": {"file_path": "/var/log/bao.log"}, "local": false})
        );
        let bare = EnableAuditRequest {
            device_type: "syslog".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            json!({"type": "syslog"})
        );
    }

    #[test]
    fn list_parses_openbao_output() {
        // Captured from OpenBao 2.7.2.
        let body = json!({"data": {
            "a/b/c/": {"description": "", "local": false, "options": {"file_path": "/tmp/a2.log"}, "path": "a/b/c/", "type": "file"},
            "f1/": {"description": "d", "local": true, "options": {"file_path": "/tmp/a1.log"}, "path": "f1/", "type": "file"}
        }});
        #[derive(Deserialize)]
        struct Env {
            data: HashMap<String, AuditDevice>,
        }
        let env: Env = serde_json::from_value(body).unwrap();
        let f1 = &env.data["f1/"];
        assert_eq!(
            (f1.device_type.as_str(), f1.description.as_str(), f1.local),
            ("file", "d", true)
        );
        assert_eq!(
            f1.options
                .as_ref()
                .and_then(|o| o.get("file_path"))
                .map(String::as_str),
            Some("/tmp/a1.log")
        );
        assert_eq!(env.data["a/b/c/"].path, "a/b/c/");
    }

    #[test]
    fn recognises_the_api_refusal() {
        let refused = Error::Api {
            product: Product::Vault,
            status: 400,
            method: "POST",
            path: "sys/audit/file".into(),
            address: "http://127.0.0.1:8200".into(),
            errors: vec!["cannot enable audit device via API; use declarative, config-based audit device management instead".into()],
        };
        assert!(is_api_audit_creation_disabled(&refused));
        let other = Error::Api {
            product: Product::Vault,
            status: 400,
            method: "POST",
            path: "sys/audit/file".into(),
            address: "http://127.0.0.1:8200".into(),
            errors: vec!["path already in use".into()],
        };
        assert!(!is_api_audit_creation_disabled(&other));
    }

    #[test]
    fn empty_path_is_rejected() {
        assert!(audit_path("POST", "/").is_err());
        assert_eq!(audit_path("POST", "/team/file/").unwrap(), "team/file");
    }
}
