//! The JWT auth method (`auth/<mount>/config`, `auth/<mount>/role/:name`)
//! and the auth method mounts it lives in (`sys/auth`).
//!
//! Mount paths are given without slashes at either end (`jwt-nomad`); the
//! server lists them with a trailing slash (`jwt-nomad/`).
//!
//! Two write semantics differ and matter to callers: writing the config
//! replaces it whole (fields left out are reset), while writing an existing
//! role merges (fields left out keep their value, except `role_type`, which
//! falls back to `oidc`, so always send it).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::VaultClient;
use crate::error::{Error, Product};
use crate::http::Method;

/// An enabled auth method as listed by `GET sys/auth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthMethodInfo {
    /// Method type, e.g. `jwt`, `approle`, `token`.
    #[serde(rename = "type")]
    pub method_type: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// The mount accessor, e.g. `auth_jwt_e225420e`; policies use it in
    /// identity templates (`{{identity.entity.aliases.<accessor>.metadata.x}}`).
    #[serde(default)]
    pub accessor: String,
    /// Whether the mount is local to this cluster (not replicated).
    #[serde(default)]
    pub local: bool,
    /// The mount's UUID.
    #[serde(default)]
    pub uuid: String,
}

/// Body of `POST sys/auth/:path`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnableAuthRequest {
    /// Method type, e.g. `jwt`.
    #[serde(rename = "type")]
    pub method_type: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Local to this cluster (not replicated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
}

/// JWT auth configuration: where the signing keys come from and which
/// algorithms are accepted. Used for writes and reads.
///
/// Exactly one key source must be set: `jwks_url`, `jwt_validation_pubkeys`,
/// `oidc_discovery_url` (or OpenBao's `jwks_pairs`); the server refuses any
/// other combination. `jwks_ca_pem` only adds a CA for `jwks_url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtAuthConfig {
    /// URL of a JWKS document, e.g. Nomad's `http://nomad:4646/.well-known/jwks.json`.
    /// The server fetches it on write (400 `error checking jwks URL` when it cannot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// PEM CA certificate(s) used to verify the TLS connection to `jwks_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_ca_pem: Option<String>,
    /// Static PEM public keys (or certificates) that verify JWT signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_validation_pubkeys: Option<Vec<String>>,
    /// OIDC discovery URL (not used by Nomad workload identities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_discovery_url: Option<String>,
    /// Accepted signing algorithms, e.g. `["RS256", "EdDSA"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_supported_algs: Option<Vec<String>>,
    /// Required `iss` claim; empty for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_issuer: Option<String>,
    /// Role used when a login names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_role: Option<String>,
}

/// Body of `POST auth/<mount>/role/:name`; unset fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtRoleRequest {
    /// `jwt` (the server defaults to `oidc` when this is left out).
    pub role_type: String,
    /// Accepted `aud` values; at least one bound constraint is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_audiences: Option<Vec<String>>,
    /// The claim that names the entity alias (required).
    pub user_claim: String,
    /// Read `user_claim` as a JSON pointer such as `/nomad_job_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_claim_json_pointer: Option<bool>,
    /// Claim name → alias metadata key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_mappings: Option<BTreeMap<String, String>>,
    /// `service`, `batch`, `default`, `default-service` or `default-batch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Period of periodic tokens (duration string or seconds); `"0"` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_period: Option<String>,
    /// Maximum lifetime of tokens (duration string or seconds); `"0"` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_explicit_max_ttl: Option<String>,
    /// Policies attached to the tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_policies: Option<Vec<String>>,
}

/// A JWT role as read back; durations are in seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtRole {
    /// `jwt` or `oidc`.
    #[serde(default)]
    pub role_type: String,
    /// Accepted `aud` values.
    #[serde(default)]
    pub bound_audiences: Option<Vec<String>>,
    /// The claim that names the entity alias.
    #[serde(default)]
    pub user_claim: String,
    /// Whether `user_claim` is a JSON pointer.
    #[serde(default)]
    pub user_claim_json_pointer: bool,
    /// Claim name → alias metadata key.
    #[serde(default)]
    pub claim_mappings: Option<BTreeMap<String, String>>,
    /// Token type.
    #[serde(default)]
    pub token_type: String,
    /// Token period in seconds; 0 for none.
    #[serde(default)]
    pub token_period: u64,
    /// Maximum token lifetime in seconds; 0 for none.
    #[serde(default)]
    pub token_explicit_max_ttl: u64,
    /// Policies attached to the tokens.
    #[serde(default)]
    pub token_policies: Option<Vec<String>>,
}

/// Validates a mount path and returns it without slashes at either end.
fn auth_mount(method: &'static str, api: &str, path: &str) -> Result<String, Error> {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Err(Error::InvalidRequest {
            product: Product::Vault,
            method,
            path: format!("{api}{path}"),
            reason: "the auth method path is empty".to_owned(),
        });
    }
    Ok(trimmed.to_owned())
}

fn role_path(method: &'static str, mount: &str, name: &str) -> Result<String, Error> {
    let mount = auth_mount(method, "auth/", mount)?;
    if name.trim().is_empty() || name.contains('/') {
        return Err(Error::InvalidRequest {
            product: Product::Vault,
            method,
            path: format!("auth/{mount}/role/{name}"),
            reason: "the role name is empty or contains \"/\"".to_owned(),
        });
    }
    Ok(format!("auth/{mount}/role/{name}"))
}

impl VaultClient {
    /// Lists the enabled auth methods, keyed by path with a trailing slash.
    ///
    /// `GET /v1/sys/auth` —
    /// <https://openbao.org/api-docs/system/auth/#list-auth-methods>
    pub async fn list_auth_methods(&self) -> Result<HashMap<String, AuthMethodInfo>, Error> {
        self.request(Method::Get, "sys/auth").send().await?.data()
    }

    /// Reads the auth method mounted at exactly `path`; `None` if there is none.
    ///
    /// Implemented with `GET /v1/sys/auth`, because `GET /v1/sys/auth/:path`
    /// answers 400 `No auth engine at <path>/` for a missing mount.
    pub async fn read_auth_method(&self, path: &str) -> Result<Option<AuthMethodInfo>, Error> {
        let key = format!("{}/", auth_mount("GET", "sys/auth/", path)?);
        Ok(self.list_auth_methods().await?.remove(&key))
    }

    /// Enables an auth method at `path`. The server answers 204; an occupied
    /// path gives 400 `path is already in use at <path>/`
    /// ([`Error::is_conflict`] is `true`).
    ///
    /// `POST /v1/sys/auth/:path` —
    /// <https://openbao.org/api-docs/system/auth/#enable-auth-method>
    pub async fn enable_auth_method(
        &self,
        path: &str,
        request: &EnableAuthRequest,
    ) -> Result<(), Error> {
        let path = auth_mount("POST", "sys/auth/", path)?;
        self.write(&format!("sys/auth/{path}"), request)
            .await
            .map(drop)
    }

    /// Disables the auth method at `path`, revoking every token it issued and
    /// deleting its roles and config. Succeeds if nothing is mounted there.
    ///
    /// `DELETE /v1/sys/auth/:path` (204, also when nothing is mounted) —
    /// <https://openbao.org/api-docs/system/auth/#disable-auth-method>
    pub async fn disable_auth_method(&self, path: &str) -> Result<(), Error> {
        let path = auth_mount("DELETE", "sys/auth/", path)?;
        match self.delete(&format!("sys/auth/{path}")).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Reads the JWT auth config; `None` if it was never written (404) or
    /// nothing is mounted at `mount`.
    ///
    /// `GET /v1/auth/:mount/config` —
    /// <https://openbao.org/api-docs/auth/jwt/#read-config>
    pub async fn read_jwt_config(&self, mount: &str) -> Result<Option<JwtAuthConfig>, Error> {
        let mount = auth_mount("GET", "auth/", mount)?;
        self.read(&format!("auth/{mount}/config")).await
    }

    /// Replaces the JWT auth config (fields left out are reset). The server
    /// checks the key source before it answers 204: it fetches `jwks_url` and
    /// parses `jwt_validation_pubkeys`.
    ///
    /// `POST /v1/auth/:mount/config` —
    /// <https://openbao.org/api-docs/auth/jwt/#configure>
    pub async fn write_jwt_config(&self, mount: &str, config: &JwtAuthConfig) -> Result<(), Error> {
        let mount = auth_mount("POST", "auth/", mount)?;
        self.write(&format!("auth/{mount}/config"), config)
            .await
            .map(drop)
    }

    /// Reads a JWT role; `None` if it does not exist.
    ///
    /// `GET /v1/auth/:mount/role/:name` —
    /// <https://openbao.org/api-docs/auth/jwt/#read-role>
    pub async fn read_jwt_role(&self, mount: &str, name: &str) -> Result<Option<JwtRole>, Error> {
        self.read(&role_path("GET", mount, name)?).await
    }

    /// Creates a JWT role or merges into an existing one. The server answers 204.
    ///
    /// `POST /v1/auth/:mount/role/:name` —
    /// <https://openbao.org/api-docs/auth/jwt/#create-update-role>
    pub async fn write_jwt_role(
        &self,
        mount: &str,
        name: &str,
        role: &JwtRoleRequest,
    ) -> Result<(), Error> {
        self.write(&role_path("POST", mount, name)?, role)
            .await
            .map(drop)
    }

    /// Deletes a JWT role; deleting a missing role succeeds.
    ///
    /// `DELETE /v1/auth/:mount/role/:name` (204) —
    /// <https://openbao.org/api-docs/auth/jwt/#delete-role>
    pub async fn delete_jwt_role(&self, mount: &str, name: &str) -> Result<(), Error> {
        match self.delete(&role_path("DELETE", mount, name)?).await {
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
    fn config_json_leaves_out_unset_fields() {
        let cfg = JwtAuthConfig {
            jwks_url: Some("http://nomad:4646/.well-known/jwks.json".into()),
            jwt_supported_algs: Some(vec!["RS256".into(), "EdDSA".into()]),
            default_role: Some("nomad-workloads".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&cfg).unwrap(),
            json!({"jwks_url": "http://nomad:4646/.well-known/jwks.json", "jwt_supported_algs": ["RS256", "EdDSA"], "default_role": "nomad-workloads"})
        );
    }

    #[test]
    fn role_request_json() {
        let role = JwtRoleRequest {
            role_type: "jwt".into(),
            bound_audiences: Some(vec!["vault.io".into()]),
            user_claim: "/nomad_job_id".into(),
            user_claim_json_pointer: Some(true),
            claim_mappings: Some(BTreeMap::from([(
                "nomad_job_id".to_owned(),
                "nomad_job_id".to_owned(),
            )])),
            token_type: Some("service".into()),
            token_period: Some("30m".into()),
            token_explicit_max_ttl: None,
            token_policies: Some(vec!["nomad-workloads".into()]),
        };
        assert_eq!(
            serde_json::to_value(&role).unwrap(),
            json!({"role_type": "jwt", "bound_audiences": ["vault.io"], "user_claim": "/nomad_job_id",
                   "user_claim_json_pointer": true, "claim_mappings": {"nomad_job_id": "nomad_job_id"},
                   "token_type": "service", "token_period": "30m", "token_policies": ["nomad-workloads"]})
        );
    }

    #[test]
    fn role_and_config_parse_openbao_output() {
        // Captured from OpenBao 2.7.2 (abridged).
        let role: JwtRole = serde_json::from_value(json!({
            "allowed_redirect_uris": null, "bound_audiences": ["vault.io"], "bound_claims": null,
            "claim_mappings": {"nomad_job_id": "nomad_job_id", "nomad_namespace": "nomad_namespace", "nomad_task": "nomad_task"},
            "role_type": "jwt", "token_explicit_max_ttl": 0, "token_period": 1800,
            "token_policies": ["nomad-workloads"], "token_type": "service",
            "user_claim": "/nomad_job_id", "user_claim_json_pointer": true
        }))
        .unwrap();
        assert_eq!(role.token_period, 1800);
        assert!(role.user_claim_json_pointer);
        let cfg: JwtAuthConfig = serde_json::from_value(json!({
            "bound_issuer": "", "default_role": "nomad-workloads", "jwks_ca_pem": "", "jwks_url": "",
            "jwt_supported_algs": ["RS256", "EdDSA"], "jwt_validation_pubkeys": ["-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"],
            "namespace_in_state": true, "oidc_discovery_url": "", "provider_config": {}, "status": "valid"
        }))
        .unwrap();
        assert_eq!(cfg.jwks_url.as_deref(), Some(""));
        assert_eq!(cfg.jwt_validation_pubkeys.map(|k| k.len()), Some(1));
    }

    #[test]
    fn auth_list_parses_openbao_output() {
        let info: AuthMethodInfo = serde_json::from_value(json!({
            "accessor": "auth_jwt_e225420e", "config": {"default_lease_ttl": 0, "token_type": "default-service"},
            "description": "Nomad workload identities", "local": false, "options": {}, "type": "jwt", "uuid": "c1012075"
        }))
        .unwrap();
        assert_eq!(info.accessor, "auth_jwt_e225420e");
        assert_eq!(info.method_type, "jwt");
    }

    #[test]
    fn bad_names_are_rejected_before_sending() {
        assert!(role_path("GET", "jwt", "a/b").is_err());
        assert!(role_path("GET", "/", "r").is_err());
        assert_eq!(
            role_path("GET", "/jwt-nomad/", "r").unwrap(),
            "auth/jwt-nomad/role/r"
        );
    }
}
