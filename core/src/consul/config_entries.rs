//! Consul config entries (`/v1/config`), with check-and-set.
//!
//! Entries are kept as JSON objects: each kind has many optional fields and new Consul
//! versions add more, so callers read and write the fields they own and keep the rest.

use serde_json::{Map, Value};

use super::ConsulClient;
use crate::error::Error;
use crate::http::Method;

/// A config entry as Consul returns it (with `CreateIndex`/`ModifyIndex`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    /// The whole entry.
    pub body: Map<String, Value>,
}

impl ConfigEntry {
    /// `ModifyIndex`, the value for a CAS write.
    pub fn modify_index(&self) -> u64 {
        self.body
            .get("ModifyIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }
}

impl ConsulClient {
    /// `GET /v1/config/:kind/:name`; `None` when it does not exist.
    pub async fn config_entry(&self, kind: &str, name: &str) -> Result<Option<ConfigEntry>, Error> {
        let found: Option<Map<String, Value>> = self
            .api
            .request(Method::Get, format!("config/{kind}/{name}"))
            .send_json_opt()
            .await?;
        Ok(found.map(|body| ConfigEntry { body }))
    }

    /// `PUT /v1/config[?cas=N]`. Returns `false` when the CAS index did not match
    /// (`cas = Some(0)` means "create only").
    pub async fn config_entry_set(&self, entry: &Value, cas: Option<u64>) -> Result<bool, Error> {
        self.api
            .request(Method::Put, "config")
            .query_opt("cas", cas.map(|c| c.to_string()))
            .json(entry)
            .send_json()
            .await
    }

    /// `DELETE /v1/config/:kind/:name?cas=N`. Returns `false` when the index did not match.
    pub async fn config_entry_delete_cas(
        &self,
        kind: &str,
        name: &str,
        cas: u64,
    ) -> Result<bool, Error> {
        self.api
            .request(Method::Delete, format!("config/{kind}/{name}"))
            .query("cas", cas.to_string())
            .send_json()
            .await
    }

    /// `DELETE /v1/config/:kind/:name` without CAS; a missing entry is not an error.
    pub async fn config_entry_delete(&self, kind: &str, name: &str) -> Result<(), Error> {
        self.api
            .request(Method::Delete, format!("config/{kind}/{name}"))
            .send_gone_ok()
            .await
    }
}
