//! ACL policies: `sys/policies/acl`.
//!
//! Vault and OpenBao lowercase policy names on write (`MyPolicy` is stored
//! and read back as `mypolicy`); reads are case-insensitive.

use serde::{Deserialize, Serialize};

use super::VaultClient;
use crate::error::Error;
use crate::http::Method;

/// An ACL policy as read back from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclPolicy {
    /// The policy name, lowercased by the server.
    pub name: String,
    /// The policy document (HCL or JSON) exactly as written.
    pub policy: String,
    /// OpenBao: the policy version, incremented on every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// OpenBao: the time of the last write (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

#[derive(Serialize)]
struct WritePolicy<'a> {
    policy: &'a str,
}

fn policy_path(name: &str) -> Result<String, Error> {
    if name.trim().is_empty() {
        return Err(Error::InvalidRequest {
            product: crate::Product::Vault,
            method: "PUT",
            path: "sys/policies/acl/".to_owned(),
            reason: "the policy name is empty".to_owned(),
        });
    }
    Ok(format!("sys/policies/acl/{name}"))
}

impl VaultClient {
    /// Reads an ACL policy; `None` if it does not exist.
    ///
    /// `GET /v1/sys/policies/acl/:name` —
    /// <https://openbao.org/api-docs/system/policies/#read-acl-policy>
    pub async fn read_acl_policy(&self, name: &str) -> Result<Option<AclPolicy>, Error> {
        self.read(&policy_path(name)?).await
    }

    /// Creates or replaces an ACL policy. The server answers 204.
    ///
    /// `PUT /v1/sys/policies/acl/:name` with `{"policy": "<hcl>"}` —
    /// <https://openbao.org/api-docs/system/policies/#create-update-acl-policy>
    pub async fn write_acl_policy(&self, name: &str, policy: &str) -> Result<(), Error> {
        self.request(Method::Put, policy_path(name)?)
            .json(&WritePolicy { policy })
            .send()
            .await
            .map(drop)
    }

    /// Deletes an ACL policy; deleting a missing policy succeeds.
    ///
    /// `DELETE /v1/sys/policies/acl/:name` (204, also when it does not exist) —
    /// <https://openbao.org/api-docs/system/policies/#delete-acl-policy>
    pub async fn delete_acl_policy(&self, name: &str) -> Result<(), Error> {
        match self.delete(&policy_path(name)?).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Lists the names of all ACL policies (including `default` and `root`).
    ///
    /// `LIST /v1/sys/policies/acl` (sent as `GET ?list=true`) —
    /// <https://openbao.org/api-docs/system/policies/#list-acl-policies>
    pub async fn list_acl_policies(&self) -> Result<Vec<String>, Error> {
        self.list("sys/policies/acl").await
    }
}
