//! Nomad ACL system: bootstrap, policies and tokens (`/v1/acl/*`).

use serde::{Deserialize, Serialize};

use super::NomadClient;
use crate::consul::acl::reset_index;
use crate::error::Error;
use crate::http::Method;
use crate::secret::Secret;

/// Grants a policy to one job (or group/task) through its workload identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct JobAcl {
    /// Namespace of the job.
    #[serde(default)]
    pub namespace: String,
    /// Job ID.
    #[serde(rename = "JobID", default)]
    pub job_id: String,
    /// Task group (optional).
    #[serde(default)]
    pub group: String,
    /// Task (optional; needs `group`).
    #[serde(default)]
    pub task: String,
}

/// An ACL policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AclPolicy {
    /// Unique name.
    pub name: String,
    /// Human description.
    #[serde(default)]
    pub description: String,
    /// HCL rules.
    #[serde(default)]
    pub rules: String,
    /// Workload binding.
    #[serde(rename = "JobACL", default, skip_serializing_if = "Option::is_none")]
    pub job_acl: Option<JobAcl>,
}

/// An ACL token. `Debug` never shows the secret.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclToken {
    /// Public identifier.
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    /// The secret.
    #[serde(rename = "SecretID", default)]
    pub secret_id: Option<Secret>,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// `client` or `management`.
    #[serde(rename = "Type", default)]
    pub token_type: String,
}

impl std::fmt::Debug for AclToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclToken")
            .field("accessor_id", &self.accessor_id)
            .field("name", &self.name)
            .field("type", &self.token_type)
            .finish()
    }
}

/// The outcome of `POST /v1/acl/bootstrap`.
#[derive(Debug)]
pub enum Bootstrap {
    /// The management token that was created.
    Done(AclToken),
    /// ACLs were bootstrapped before.
    AlreadyDone {
        /// The index to write to the reset file to allow another bootstrap.
        reset_index: Option<u64>,
        /// Nomad's message.
        message: String,
    },
}

impl NomadClient {
    /// `POST /v1/acl/bootstrap` (Nomad answers 400 when it was done before).
    pub async fn acl_bootstrap(&self) -> Result<Bootstrap, Error> {
        match self.api.request(Method::Post, "acl/bootstrap").send().await {
            Ok(r) => Ok(Bootstrap::Done(r.json()?)),
            Err(e)
                if e.status() == Some(400)
                    && e.errors()
                        .iter()
                        .any(|m| m.contains("bootstrap already done")) =>
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

    /// `POST /v1/acl/policy/:name`.
    pub async fn acl_policy_write(&self, policy: &AclPolicy) -> Result<(), Error> {
        self.api
            .request(Method::Post, format!("acl/policy/{}", policy.name))
            .json(policy)
            .send()
            .await
            .map(drop)
    }

    /// `GET /v1/acl/policy/:name`; `None` when it does not exist.
    pub async fn acl_policy(&self, name: &str) -> Result<Option<AclPolicy>, Error> {
        self.api
            .request(Method::Get, format!("acl/policy/{name}"))
            .send_json_opt()
            .await
    }

    /// `DELETE /v1/acl/policy/:name`; a missing policy is not an error.
    pub async fn acl_policy_delete(&self, name: &str) -> Result<(), Error> {
        self.api
            .request(Method::Delete, format!("acl/policy/{name}"))
            .send_gone_ok()
            .await
    }

    /// `GET /v1/acl/token/:accessor`; `None` when it does not exist.
    pub async fn acl_token(&self, accessor: &str) -> Result<Option<AclToken>, Error> {
        self.api
            .request(Method::Get, format!("acl/token/{accessor}"))
            .send_json_opt()
            .await
    }

    /// `GET /v1/acl/token/self`.
    pub async fn acl_token_self(&self) -> Result<AclToken, Error> {
        self.api
            .request(Method::Get, "acl/token/self")
            .send_json()
            .await
    }
}
