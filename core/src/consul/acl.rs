//! Consul ACL system: bootstrap, policies and tokens (`/v1/acl/*`).

use serde::{Deserialize, Serialize};

use super::ConsulClient;
use crate::error::Error;
use crate::http::Method;
use crate::secret::Secret;

/// A policy link on a token: Consul accepts either field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyLink {
    /// Policy ID.
    #[serde(default, rename = "ID", skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Policy name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// An ACL token. `Debug` never shows the secret.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclToken {
    /// Public identifier.
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    /// The secret; absent from some reads.
    #[serde(rename = "SecretID", default)]
    pub secret_id: Option<Secret>,
    /// Human description.
    #[serde(default)]
    pub description: String,
    /// Linked policies.
    #[serde(default)]
    pub policies: Option<Vec<PolicyLink>>,
    /// Local to the datacenter.
    #[serde(default)]
    pub local: bool,
    /// Raft index of the last change.
    #[serde(default)]
    pub modify_index: u64,
}

impl std::fmt::Debug for AclToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclToken")
            .field("accessor_id", &self.accessor_id)
            .field("description", &self.description)
            .field("policies", &self.policies)
            .field("local", &self.local)
            .finish()
    }
}

/// What a token is created or updated with.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AclTokenRequest {
    /// Human description.
    pub description: String,
    /// Policies by name or ID.
    pub policies: Vec<PolicyLink>,
    /// Local to the datacenter.
    pub local: bool,
}

/// An ACL policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AclPolicy {
    /// Set by Consul on create.
    #[serde(rename = "ID", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Human description.
    #[serde(default)]
    pub description: String,
    /// HCL rules.
    #[serde(default)]
    pub rules: String,
}

/// The outcome of `PUT /v1/acl/bootstrap`.
#[derive(Debug)]
pub enum Bootstrap {
    /// The management token that was created.
    Done(AclToken),
    /// ACLs were bootstrapped before; Consul reports the reset index to use.
    AlreadyDone {
        /// The index to write to `acl-bootstrap-reset` to allow another bootstrap.
        reset_index: Option<u64>,
        /// Consul's message.
        message: String,
    },
}

/// Reads `(reset index: N)` from Consul's or Nomad's "bootstrap no longer allowed" text.
pub fn reset_index(message: &str) -> Option<u64> {
    let rest = &message[message.find("reset index:")? + "reset index:".len()..];
    rest.trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

impl ConsulClient {
    /// `PUT /v1/acl/bootstrap`.
    pub async fn acl_bootstrap(&self) -> Result<Bootstrap, Error> {
        match self.api.request(Method::Put, "acl/bootstrap").send().await {
            Ok(r) => Ok(Bootstrap::Done(r.json()?)),
            Err(e)
                if e.status() == Some(403)
                    && e.errors()
                        .iter()
                        .any(|m| m.contains("bootstrap no longer allowed")) =>
            {
                let message = e.errors().join("; ");
                Ok(Bootstrap::AlreadyDone {
                    reset_index: reset_index(&message),
                    message,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/acl/token/self` with this client's token.
    pub async fn acl_token_self(&self) -> Result<AclToken, Error> {
        self.api
            .request(Method::Get, "acl/token/self")
            .send_json()
            .await
    }

    /// `PUT /v1/acl/token`.
    pub async fn acl_token_create(&self, req: &AclTokenRequest) -> Result<AclToken, Error> {
        self.api
            .request(Method::Put, "acl/token")
            .json(req)
            .send_json()
            .await
    }

    /// `PUT /v1/acl/token/:accessor`.
    pub async fn acl_token_update(
        &self,
        accessor: &str,
        req: &AclTokenRequest,
    ) -> Result<AclToken, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "AccessorID")]
            accessor_id: &'a str,
            #[serde(flatten)]
            req: &'a AclTokenRequest,
        }
        self.api
            .request(Method::Put, format!("acl/token/{accessor}"))
            .json(&Body {
                accessor_id: accessor,
                req,
            })
            .send_json()
            .await
    }

    /// `GET /v1/acl/token/:accessor`; `None` when it does not exist.
    pub async fn acl_token_read(&self, accessor: &str) -> Result<Option<AclToken>, Error> {
        self.api
            .request(Method::Get, format!("acl/token/{accessor}"))
            .send_json_opt()
            .await
    }

    /// `DELETE /v1/acl/token/:accessor`; a missing token is not an error.
    pub async fn acl_token_delete(&self, accessor: &str) -> Result<(), Error> {
        self.api
            .request(Method::Delete, format!("acl/token/{accessor}"))
            .send_gone_ok()
            .await
    }

    /// `PUT /v1/acl/policy` (create) or `PUT /v1/acl/policy/:id` (update when `policy.id` is set).
    pub async fn acl_policy_write(&self, policy: &AclPolicy) -> Result<AclPolicy, Error> {
        let path = if policy.id.is_empty() {
            "acl/policy".to_owned()
        } else {
            format!("acl/policy/{}", policy.id)
        };
        self.api
            .request(Method::Put, path)
            .json(policy)
            .send_json()
            .await
    }

    /// `GET /v1/acl/policy/:id`; `None` when it does not exist.
    pub async fn acl_policy_read(&self, id: &str) -> Result<Option<AclPolicy>, Error> {
        self.api
            .request(Method::Get, format!("acl/policy/{id}"))
            .send_json_opt()
            .await
    }

    /// `GET /v1/acl/policy/name/:name`; `None` when it does not exist.
    pub async fn acl_policy_read_by_name(&self, name: &str) -> Result<Option<AclPolicy>, Error> {
        self.api
            .request(Method::Get, format!("acl/policy/name/{name}"))
            .send_json_opt()
            .await
    }

    /// `DELETE /v1/acl/policy/:id`; a missing policy is not an error.
    pub async fn acl_policy_delete(&self, id: &str) -> Result<(), Error> {
        self.api
            .request(Method::Delete, format!("acl/policy/{id}"))
            .send_gone_ok()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_index_from_both_products() {
        assert_eq!(
            reset_index("Permission denied: ACL bootstrap no longer allowed (reset index: 13)"),
            Some(13)
        );
        assert_eq!(
            reset_index("ACL bootstrap already done (reset index: 7)"),
            Some(7)
        );
        assert_eq!(reset_index("nothing here"), None);
    }
}
