//! Nomad namespaces (`/v1/namespace*`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::NomadClient;
use crate::error::Error;
use crate::http::Method;

/// A namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Namespace {
    /// Unique name.
    pub name: String,
    /// Human description.
    #[serde(default)]
    pub description: String,
    /// Free-form metadata.
    #[serde(default)]
    pub meta: Option<BTreeMap<String, String>>,
}

impl NomadClient {
    /// `POST /v1/namespace/:name` (create or update).
    pub async fn namespace_upsert(&self, ns: &Namespace) -> Result<(), Error> {
        self.api
            .request(Method::Post, format!("namespace/{}", ns.name))
            .json(ns)
            .send()
            .await
            .map(drop)
    }

    /// `GET /v1/namespace/:name`; `None` when it does not exist.
    pub async fn namespace(&self, name: &str) -> Result<Option<Namespace>, Error> {
        self.api
            .request(Method::Get, format!("namespace/{name}"))
            .send_json_opt()
            .await
    }

    /// `DELETE /v1/namespace/:name`; a missing namespace is not an error.
    pub async fn namespace_delete(&self, name: &str) -> Result<(), Error> {
        self.api
            .request(Method::Delete, format!("namespace/{name}"))
            .send_gone_ok()
            .await
    }
}
