//! Tokens: `auth/token/lookup-self`, orphan tokens for services, revocation by accessor.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::VaultClient;
use crate::error::Error;
use crate::http::Method;
use crate::secret::Secret;

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

/// A periodic orphan token request (`auth/token/create-orphan`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct OrphanTokenRequest {
    /// Policies of the token.
    pub policies: Vec<String>,
    /// Renewal period, e.g. `"24h"`: the token lives as long as it is renewed.
    pub period: String,
    /// Shown in audit logs.
    pub display_name: String,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
    /// Metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<HashMap<String, String>>,
}

/// A created token. `Debug` never shows it.
#[derive(Clone, Deserialize)]
pub struct CreatedToken {
    /// The token.
    pub client_token: Secret,
    /// Its accessor.
    pub accessor: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("accessor", &self.accessor)
            .finish()
    }
}

impl VaultClient {
    /// Creates a token without a parent, so it outlives the caller's token.
    ///
    /// `POST /v1/auth/token/create-orphan` —
    /// <https://openbao.org/api-docs/auth/token/#create-token>
    pub async fn token_create_orphan(
        &self,
        req: &OrphanTokenRequest,
    ) -> Result<CreatedToken, Error> {
        #[derive(Deserialize)]
        struct Auth {
            auth: CreatedToken,
        }
        let r: Auth = self
            .request(Method::Post, "auth/token/create-orphan")
            .json(req)
            .send()
            .await?
            .json()?;
        Ok(r.auth)
    }

    /// Looks up a token by accessor; `None` when it no longer exists.
    ///
    /// `POST /v1/auth/token/lookup-accessor`
    pub async fn token_lookup_accessor(&self, accessor: &str) -> Result<Option<TokenInfo>, Error> {
        let r = self
            .request(Method::Post, "auth/token/lookup-accessor")
            .json(&serde_json::json!({ "accessor": accessor }))
            .send()
            .await;
        match r {
            Ok(r) => r.data().map(Some),
            // OpenBao answers 400 "invalid accessor" for an unknown one.
            Err(e)
                if matches!(e.status(), Some(400 | 403 | 404))
                    && e.errors()
                        .iter()
                        .any(|m| m.contains("invalid accessor") || m.contains("bad token")) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Revokes a token (and its children) by accessor; an unknown accessor is not an error.
    ///
    /// `POST /v1/auth/token/revoke-accessor`
    pub async fn token_revoke_accessor(&self, accessor: &str) -> Result<(), Error> {
        match self
            .request(Method::Post, "auth/token/revoke-accessor")
            .json(&serde_json::json!({ "accessor": accessor }))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(e.status(), Some(400))
                    && e.errors().iter().any(|m| m.contains("invalid accessor")) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
