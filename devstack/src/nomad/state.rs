//! The simulated Nomad state store: a raft index, per-table indexes, namespaces, variables,
//! jobs (with their versions and submitted sources), evaluations, allocations and
//! deployments.
//!
//! Jobs, evaluations and allocations are kept as the JSON objects the API returns (the Go
//! field names of Nomad's `api` package), so what a client registered comes back verbatim
//! plus the server-set fields.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A namespace (`structs.Namespace`).
#[derive(Debug, Clone)]
pub struct Namespace {
    pub name: String,
    pub description: String,
    pub meta: Option<BTreeMap<String, String>>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A variable (`structs.VariableDecrypted`).
#[derive(Debug, Clone)]
pub struct Variable {
    pub namespace: String,
    pub path: String,
    pub items: Map<String, Value>,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

/// A registered job: its current version and every version (oldest first).
#[derive(Debug, Clone)]
pub struct JobEntry {
    pub current: Value,
    pub versions: Vec<Value>,
}

/// Whole simulator state. Every write goes through [`State::apply`], which bumps the raft index.
#[derive(Debug)]
pub struct State {
    pub raft_index: u64,
    pub namespaces: BTreeMap<String, Namespace>,
    pub namespaces_index: u64,
    /// Keyed by (namespace, path).
    pub vars: BTreeMap<(String, String), Variable>,
    pub vars_index: u64,
    /// Keyed by (namespace, job ID).
    pub jobs: BTreeMap<(String, String), JobEntry>,
    pub jobs_index: u64,
    pub evals: BTreeMap<String, Value>,
    pub evals_index: u64,
    pub allocs: BTreeMap<String, Value>,
    pub allocs_index: u64,
    pub deployments: BTreeMap<String, Value>,
    pub deployments_index: u64,
    /// Submitted job sources, keyed by (namespace, job ID, version).
    pub submissions: BTreeMap<(String, String, u64), Value>,
}

impl State {
    /// A state as a fresh `nomad agent -dev` has it: the `default` namespace at a small index.
    pub fn new() -> State {
        let mut st = State {
            raft_index: 0,
            namespaces: BTreeMap::new(),
            namespaces_index: 0,
            vars: BTreeMap::new(),
            vars_index: 0,
            jobs: BTreeMap::new(),
            jobs_index: 0,
            evals: BTreeMap::new(),
            evals_index: 0,
            allocs: BTreeMap::new(),
            allocs_index: 0,
            deployments: BTreeMap::new(),
            deployments_index: 0,
            submissions: BTreeMap::new(),
        };
        let idx = st.apply();
        st.namespaces.insert(
            "default".into(),
            Namespace {
                name: "default".into(),
                description: "Default shared namespace".into(),
                meta: None,
                create_index: idx,
                modify_index: idx,
            },
        );
        st.namespaces_index = idx;
        // Leader election, scheduler configuration, node registration...
        st.raft_index = 10;
        st
    }

    /// Appends a raft log entry and returns its index.
    pub fn apply(&mut self) -> u64 {
        self.raft_index += 1;
        self.raft_index
    }

    /// Whether the namespace exists.
    pub fn namespace_exists(&self, ns: &str) -> bool {
        self.namespaces.contains_key(ns)
    }

    /// Variables of a namespace (`*` means all) under a path prefix.
    pub fn vars_under(&self, ns: &str, prefix: &str) -> Vec<&Variable> {
        self.vars
            .values()
            .filter(|v| (ns == "*" || v.namespace == ns) && v.path.starts_with(prefix))
            .collect()
    }

    /// Allocations of a job.
    pub fn job_allocs(&self, ns: &str, job_id: &str) -> Vec<&Value> {
        let mut out: Vec<&Value> = self
            .allocs
            .values()
            .filter(|a| a["Namespace"] == ns && a["JobID"] == job_id)
            .collect();
        out.sort_by_key(|a| a["CreateIndex"].as_u64().unwrap_or(0));
        out
    }

    /// Deployments of a job, newest first.
    pub fn job_deployments(&self, ns: &str, job_id: &str) -> Vec<&Value> {
        let mut out: Vec<&Value> = self
            .deployments
            .values()
            .filter(|d| d["Namespace"] == ns && d["JobID"] == job_id)
            .collect();
        out.sort_by_key(|d| std::cmp::Reverse(d["CreateIndex"].as_u64().unwrap_or(0)));
        out
    }

    /// Evaluations of a job.
    pub fn job_evals(&self, ns: &str, job_id: &str) -> Vec<&Value> {
        let mut out: Vec<&Value> = self
            .evals
            .values()
            .filter(|e| e["Namespace"] == ns && e["JobID"] == job_id)
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(e["CreateIndex"].as_u64().unwrap_or(0)));
        out
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}
