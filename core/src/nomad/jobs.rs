//! Nomad jobs, evaluations, deployments and allocations.
//!
//! Jobs are kept as the JSON job model (`api.Job`): the provider parses HCL on the server
//! (`/v1/jobs/parse`), so new jobspec features need no client change.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{wait_param, NomadClient};
use crate::error::Error;
use crate::http::Method;

/// The answer to a job registration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterResponse {
    /// The evaluation created (empty for periodic and parameterized jobs).
    #[serde(rename = "EvalID", default)]
    pub eval_id: String,
    /// `JobModifyIndex` after the write.
    #[serde(default)]
    pub job_modify_index: u64,
    /// Server warnings, one string.
    #[serde(default)]
    pub warnings: String,
}

/// The HCL source kept with a job version (`/v1/job/:id/submission`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Submission {
    /// The jobspec text.
    pub source: String,
    /// `hcl2` or `json`.
    pub format: String,
    /// Variable-file text used to parse it.
    pub variables: String,
}

/// A blocking read: the object (if any) and the index to wait on next.
#[derive(Debug, Clone)]
pub struct Indexed<T> {
    /// The answer.
    pub value: T,
    /// `X-Nomad-Index` of the answer.
    pub index: u64,
}

impl NomadClient {
    /// `POST /v1/jobs/parse` with `Canonicalize: true`: HCL2 (plus variable-file text) to the
    /// JSON job model.
    pub async fn parse_job(&self, hcl: &str, variables: &str) -> Result<Value, Error> {
        self.api
            .request(Method::Post, "jobs/parse")
            .json(&json!({"JobHCL": hcl, "Variables": variables, "Canonicalize": true}))
            .send_json()
            .await
    }

    /// `POST /v1/jobs` with the `{"Job": …}` wrapper. With `enforce_index`, the write fails
    /// unless the job's `JobModifyIndex` still has that value (0: the job must not exist).
    pub async fn register_job(
        &self,
        job: &Value,
        enforce_index: Option<u64>,
        submission: Option<&Submission>,
    ) -> Result<RegisterResponse, Error> {
        let mut body = json!({ "Job": job });
        if let Some(index) = enforce_index {
            body["EnforceIndex"] = json!(true);
            body["JobModifyIndex"] = json!(index);
        }
        if let Some(s) = submission {
            body["Submission"] = serde_json::to_value(s).unwrap_or(Value::Null);
        }
        let ns = job["Namespace"].as_str().filter(|n| !n.is_empty());
        self.api
            .request(Method::Post, "jobs")
            .query("namespace", self.ns(ns))
            .json(&body)
            .send_json()
            .await
    }

    /// `GET /v1/job/:id`; `None` when the job does not exist.
    pub async fn job(&self, id: &str, namespace: Option<&str>) -> Result<Option<Value>, Error> {
        self.api
            .request(Method::Get, format!("job/{id}"))
            .query("namespace", self.ns(namespace))
            .send_json_opt()
            .await
    }

    /// `DELETE /v1/job/:id[?purge=true]`. Nomad answers 200 for an unknown job too.
    pub async fn deregister_job(
        &self,
        id: &str,
        namespace: Option<&str>,
        purge: bool,
    ) -> Result<(), Error> {
        self.api
            .request(Method::Delete, format!("job/{id}"))
            .query("namespace", self.ns(namespace))
            .query("purge", purge.to_string())
            .send()
            .await
            .map(drop)
    }

    /// `GET /v1/job/:id/allocations`: allocation stubs of every version.
    pub async fn job_allocations(
        &self,
        id: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        self.api
            .request(Method::Get, format!("job/{id}/allocations"))
            .query("namespace", self.ns(namespace))
            .send_json()
            .await
    }

    /// `GET /v1/job/:id/deployment` (the latest one, or `None`), optionally blocking until
    /// the index passes `after` or `wait` has elapsed.
    pub async fn latest_deployment(
        &self,
        id: &str,
        namespace: Option<&str>,
        after: Option<(u64, Duration)>,
    ) -> Result<Indexed<Option<Value>>, Error> {
        let mut req = self
            .api
            .request(Method::Get, format!("job/{id}/deployment"))
            .query("namespace", self.ns(namespace));
        if let Some((index, wait)) = after {
            req = req
                .query("index", index.to_string())
                .query("wait", wait_param(wait));
        }
        let r = req.send().await?;
        let value: Value = r.json_opt()?.unwrap_or(Value::Null);
        Ok(Indexed {
            value: (!value.is_null()).then_some(value),
            index: r.index().unwrap_or(0),
        })
    }

    /// `GET /v1/evaluation/:id`; `None` when it does not exist.
    pub async fn evaluation(&self, id: &str) -> Result<Option<Value>, Error> {
        self.api
            .request(Method::Get, format!("evaluation/{id}"))
            .send_json_opt()
            .await
    }

    /// `GET /v1/allocation/:id`; `None` when it does not exist.
    pub async fn allocation(
        &self,
        id: &str,
        namespace: Option<&str>,
    ) -> Result<Option<Value>, Error> {
        self.api
            .request(Method::Get, format!("allocation/{id}"))
            .query("namespace", self.ns(namespace))
            .send_json_opt()
            .await
    }
}
