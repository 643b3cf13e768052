//! Server health: `sys/health`.

use serde::{Deserialize, Serialize};

use super::VaultClient;
use crate::error::Error;
use crate::http::Method;

/// The body of `sys/health`. Sealed servers leave out the cluster fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Whether the server has been initialised.
    pub initialized: bool,
    /// Whether the server is sealed.
    pub sealed: bool,
    /// Whether the server is a standby (sealed servers report `true` too).
    pub standby: bool,
    /// Vault Enterprise: whether the server is a performance standby.
    #[serde(default)]
    pub performance_standby: Option<bool>,
    /// Replication state for performance replication, e.g. `disabled`.
    #[serde(default)]
    pub replication_performance_mode: Option<String>,
    /// Replication state for DR replication, e.g. `disabled`.
    #[serde(default)]
    pub replication_dr_mode: Option<String>,
    /// Server time in Unix seconds.
    #[serde(default)]
    pub server_time_utc: Option<u64>,
    /// Server version, e.g. `2.7.2`.
    #[serde(default)]
    pub version: String,
    /// Cluster name; absent while sealed.
    #[serde(default)]
    pub cluster_name: Option<String>,
    /// Cluster id; absent while sealed.
    #[serde(default)]
    pub cluster_id: Option<String>,
}

impl Health {
    /// `true` for an initialised, unsealed, active node.
    pub fn is_active(&self) -> bool {
        self.initialized && !self.sealed && !self.standby
    }
}

/// Health statuses that carry a health body: 429 standby, 472 DR secondary,
/// 473 performance standby, 501 not initialised, 503 sealed.
const HEALTH_STATUSES: &[u16] = &[429, 472, 473, 501, 503];

impl VaultClient {
    /// Reads the server's health. Unauthenticated; not retried for the
    /// standby, sealed or uninitialised answers, which are returned as bodies.
    ///
    /// `GET /v1/sys/health` (200 active, 429 standby, 472/473 Vault Enterprise
    /// standbys, 501 uninitialised, 503 sealed) —
    /// <https://openbao.org/api-docs/system/health/>
    pub async fn health(&self) -> Result<Health, Error> {
        self.request(Method::Get, "sys/health")
            .accept_status(HEALTH_STATUSES)
            .send()
            .await?
            .json()
    }
}
