//! Consul Connect CA: configuration, roots and leaf certificates.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ConsulClient;
use crate::error::Error;
use crate::http::Method;

/// `GET/PUT /v1/connect/ca/configuration`. `Config` keeps Consul's keys as they are; it may
/// hold the Vault token, so `Debug` leaves it out.
#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CaConfiguration {
    /// `consul`, `vault` or `aws-pca`.
    pub provider: String,
    /// Provider settings (`LeafCertTTL`, `RootPKIPath`, `Token`...).
    #[serde(default)]
    pub config: Map<String, Value>,
    /// Skip cross-signing on rotation.
    #[serde(default)]
    pub force_without_cross_signing: bool,
    /// Raft index of the last change (read only).
    #[serde(default, skip_serializing)]
    pub modify_index: u64,
}

impl std::fmt::Debug for CaConfiguration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaConfiguration")
            .field("provider", &self.provider)
            .field("config_keys", &self.config.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// One CA root (`GET /v1/connect/ca/roots`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaRoot {
    /// Colon-hex ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Human name.
    #[serde(default)]
    pub name: String,
    /// PEM of the root certificate.
    pub root_cert: String,
    /// Intermediates, PEM.
    #[serde(default)]
    pub intermediate_certs: Option<Vec<String>>,
    /// Whether this root signs new leaves.
    #[serde(default)]
    pub active: bool,
}

/// The CA roots.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaRoots {
    /// ID of the active root.
    #[serde(rename = "ActiveRootID", default)]
    pub active_root_id: String,
    /// `<cluster id>.consul`.
    #[serde(default)]
    pub trust_domain: String,
    /// Every root Consul trusts.
    #[serde(default)]
    pub roots: Option<Vec<CaRoot>>,
}

impl CaRoots {
    /// The active root, if any.
    pub fn active(&self) -> Option<&CaRoot> {
        self.roots
            .iter()
            .flatten()
            .find(|r| r.active || r.id == self.active_root_id)
    }
}

/// A leaf certificate. `Debug` never shows the private key.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LeafCert {
    /// PEM certificate.
    #[serde(rename = "CertPEM")]
    pub cert_pem: String,
    /// PEM private key.
    #[serde(rename = "PrivateKeyPEM")]
    pub private_key_pem: crate::Secret,
    /// SPIFFE ID.
    #[serde(rename = "ServiceURI", default)]
    pub service_uri: String,
}

impl std::fmt::Debug for LeafCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCert")
            .field("service_uri", &self.service_uri)
            .finish()
    }
}

impl ConsulClient {
    /// `GET /v1/connect/ca/configuration`.
    pub async fn ca_configuration(&self) -> Result<CaConfiguration, Error> {
        self.api
            .request(Method::Get, "connect/ca/configuration")
            .send_json()
            .await
    }

    /// `PUT /v1/connect/ca/configuration` (Consul answers 200 with an empty body).
    pub async fn ca_configure(&self, config: &CaConfiguration) -> Result<(), Error> {
        self.api
            .request(Method::Put, "connect/ca/configuration")
            .json(config)
            .send()
            .await
            .map(drop)
    }

    /// `GET /v1/connect/ca/roots`.
    pub async fn ca_roots(&self) -> Result<CaRoots, Error> {
        self.api
            .request(Method::Get, "connect/ca/roots")
            .send_json()
            .await
    }

    /// `GET /v1/agent/connect/ca/leaf/:service`.
    pub async fn ca_leaf(&self, service: &str) -> Result<LeafCert, Error> {
        self.api
            .request(Method::Get, format!("agent/connect/ca/leaf/{service}"))
            .send_json()
            .await
    }
}
