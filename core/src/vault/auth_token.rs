//! The calling token: `auth/token/lookup-self`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::VaultClient;
use crate::error::Error;
use crate::http::Method;

/// What the server knows about the calling token.
///
/// The token itself (`id`) is deliberately not decoded, so it cannot leak
/// through `Debug` or serialisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The token accessor.
    #[serde(default)]
    pub accessor: String,
    /// Display name, e.g. `token` or `userpass-alice`.
    #[serde(default)]
    pub display_name: String,
    /// Policies attached to the token.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Policies inherited from the token's identity.
    #[serde(default)]
    pub identity_policies: Option<Vec<String>>,
    /// Remaining time to live in seconds; 0 means it does not expire.
    #[serde(default)]
    pub ttl: u64,
    /// Time to live at creation in seconds.
    #[serde(default)]
    pub creation_ttl: u64,
    /// Expiry time (RFC 3339), `None` for tokens that do not expire.
    #[serde(default)]
    pub expire_time: Option<String>,
    /// Whether the token can be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// Whether the token has no parent.
    #[serde(default)]
    pub orphan: bool,
    /// Remaining uses; 0 means unlimited.
    #[serde(default)]
    pub num_uses: u64,
    /// The login path that created the token, e.g. `auth/token/create`.
    #[serde(default)]
    pub path: String,
    /// Identity entity id, empty if none.
    #[serde(default)]
    pub entity_id: String,
    /// Token type: `service` or `batch`.
    #[serde(default, rename = "type")]
    pub token_type: String,
    /// Metadata attached at creation.
    #[serde(default)]
    pub meta: Option<HashMap<String, String>>,
}

impl VaultClient {
    /// Looks up the calling token; useful to validate a configuration.
    ///
    /// `GET /v1/auth/token/lookup-self` —
    /// <https://openbao.org/api-docs/auth/token/#lookup-a-token-self>
    pub async fn token_lookup_self(&self) -> Result<TokenInfo, Error> {
        self.request(Method::Get, "auth/token/lookup-self")
            .send()
            .await?
            .data()
    }
}
