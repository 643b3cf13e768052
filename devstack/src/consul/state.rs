//! The simulated Consul state store: a raft-like index, per-table indexes, KV with a
//! graveyard (tombstones), and the local agent's services and checks.

use std::collections::BTreeMap;

use serde_json::Value;

/// One KV entry (`structs.DirEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    pub value: Option<Vec<u8>>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
}

/// A health check attached to a service instance (or to the node when `service_id` is empty).
#[derive(Debug, Clone)]
pub struct Check {
    pub check_id: String,
    pub name: String,
    pub status: String,
    pub notes: String,
    pub output: String,
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    pub check_type: String,
    pub interval: String,
    pub timeout: String,
    /// Service ID an `alias` check mirrors.
    pub alias_service: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A service instance registered on the (single) simulated node.
#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub tags: Vec<String>,
    pub address: String,
    pub port: u64,
    pub meta: BTreeMap<String, String>,
    pub tagged_addresses: Option<Value>,
    pub weights: (i64, i64),
    pub enable_tag_override: bool,
    pub proxy: Option<Value>,
    pub connect: Option<Value>,
    /// Parent service ID when the agent registered this as its sidecar proxy.
    pub sidecar_of: Option<String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Whole simulator state. Every write goes through [`State::apply`], which bumps the raft index.
#[derive(Debug)]
pub struct State {
    /// Raft log index: bumped by every write, whether or not it changes anything.
    pub raft_index: u64,
    pub kv: BTreeMap<String, KvEntry>,
    /// Deleted keys and the index of their deletion (Consul's KV graveyard).
    pub tombstones: BTreeMap<String, u64>,
    /// Max index of the `kvs`/`tombstones` tables.
    pub kv_table_index: u64,
    pub services: BTreeMap<String, Service>,
    pub checks: BTreeMap<String, Check>,
    /// Max index of the `services` table.
    pub services_index: u64,
    /// Max index of the `checks` table.
    pub checks_index: u64,
    /// Max index of the `nodes` table.
    pub nodes_index: u64,
    pub node_create_index: u64,
    /// The ACL tables.
    pub acl: super::acl::AclState,
    /// The config entries table (also the storage of intentions).
    pub config: super::config_entries::ConfigStore,
    /// The Connect CA tables (configuration, roots) and the leader's provider.
    pub(crate) connect_ca: super::connect_ca::CaState,
}

impl State {
    /// A state as a fresh `consul agent -dev` has it: the node, its `serfHealth` check and
    /// the `consul` service registered at small indexes.
    pub fn new(node_name: &str) -> State {
        let mut st = State {
            raft_index: 0,
            kv: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            kv_table_index: 0,
            services: BTreeMap::new(),
            checks: BTreeMap::new(),
            services_index: 0,
            checks_index: 0,
            nodes_index: 0,
            node_create_index: 0,
            acl: super::acl::AclState::default(),
            config: Default::default(),
            connect_ca: Default::default(),
        };
        // Raft bootstrap entries (configuration, barrier, leader election...).
        st.raft_index = 10;
        // The leader initialises the CA among those entries (a dev agent shows index 5).
        st.connect_ca.bootstrap(5);
        let idx = st.apply();
        st.node_create_index = idx;
        st.nodes_index = idx;
        st.checks.insert(
            "serfHealth".to_string(),
            Check {
                check_id: "serfHealth".into(),
                name: "Serf Health Status".into(),
                status: "passing".into(),
                notes: String::new(),
                output: "Agent alive and reachable".into(),
                service_id: String::new(),
                service_name: String::new(),
                service_tags: Vec::new(),
                check_type: String::new(),
                interval: String::new(),
                timeout: String::new(),
                alias_service: String::new(),
                create_index: idx,
                modify_index: idx,
            },
        );
        st.checks_index = idx;
        let idx = st.apply();
        st.services.insert(
            "consul".into(),
            Service {
                id: "consul".into(),
                name: "consul".into(),
                kind: String::new(),
                tags: Vec::new(),
                address: String::new(),
                port: 8300,
                meta: BTreeMap::from([
                    ("grpc_port".to_string(), "8502".to_string()),
                    ("non_voter".to_string(), "false".to_string()),
                    ("raft_version".to_string(), "3".to_string()),
                    ("read_replica".to_string(), "false".to_string()),
                    ("serf_protocol_current".to_string(), "2".to_string()),
                    ("serf_protocol_max".to_string(), "5".to_string()),
                    ("serf_protocol_min".to_string(), "1".to_string()),
                    ("version".to_string(), "1.20.1".to_string()),
                ]),
                tagged_addresses: None,
                weights: (1, 1),
                enable_tag_override: false,
                proxy: None,
                connect: None,
                sidecar_of: None,
                create_index: idx,
                modify_index: idx,
            },
        );
        st.services_index = idx;
        let _ = node_name;
        st
    }

    /// Appends a raft log entry and returns its index.
    pub fn apply(&mut self) -> u64 {
        self.raft_index += 1;
        self.raft_index
    }

    /// Index of a single-key read, and the entry (Consul `KVS.Get`).
    pub fn kv_get(&self, key: &str) -> (u64, Option<KvEntry>) {
        match self.kv.get(key) {
            Some(e) => (e.modify_index, Some(e.clone())),
            None => (self.kv_table_index.max(1), None),
        }
    }

    /// Index of a prefix read (Consul `kvsListTxn`): the max index under the prefix,
    /// including the graveyard, or the table index when nothing is under it.
    pub fn kv_list(&self, prefix: &str) -> (u64, Vec<KvEntry>) {
        let entries: Vec<KvEntry> = self
            .kv
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, e)| e.clone())
            .collect();
        let mut lindex = entries.iter().map(|e| e.modify_index).max().unwrap_or(0);
        if prefix.is_empty() {
            lindex = self.kv_table_index;
        } else {
            let gindex = self
                .tombstones
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, i)| *i)
                .max()
                .unwrap_or(0);
            lindex = lindex.max(gindex);
        }
        let idx = if lindex != 0 {
            lindex
        } else {
            self.kv_table_index
        };
        (idx.max(1), entries)
    }

    /// Sets a key; `cas` as Consul's `kvsSetCASTxn`. Returns whether the write happened.
    pub fn kv_set(
        &mut self,
        key: &str,
        value: Option<Vec<u8>>,
        flags: u64,
        cas: Option<u64>,
    ) -> bool {
        let idx = self.apply();
        let existing = self.kv.get(key);
        if let Some(cas) = cas {
            match existing {
                None if cas != 0 => return false,
                Some(e) if e.modify_index != cas => return false,
                _ => {}
            }
        }
        let (create_index, lock_index) = existing
            .map(|e| (e.create_index, e.lock_index))
            .unwrap_or((idx, 0));
        self.kv.insert(
            key.to_string(),
            KvEntry {
                key: key.to_string(),
                value,
                flags,
                create_index,
                modify_index: idx,
                lock_index,
            },
        );
        self.tombstones.remove(key);
        self.kv_table_index = idx;
        true
    }

    /// Deletes a key or a prefix; `cas` as Consul's `kvsDeleteCASTxn`.
    pub fn kv_delete(&mut self, key: &str, recurse: bool, cas: Option<u64>) -> bool {
        let idx = self.apply();
        if recurse {
            let keys: Vec<String> = self
                .kv
                .range(key.to_string()..)
                .take_while(|(k, _)| k.starts_with(key))
                .map(|(k, _)| k.clone())
                .collect();
            if !keys.is_empty() {
                for k in keys {
                    self.kv.remove(&k);
                    self.tombstones.insert(k, idx);
                }
                self.kv_table_index = idx;
            }
            return true;
        }
        if let Some(cas) = cas {
            match self.kv.get(key) {
                None => return true,
                Some(e) if e.modify_index != cas => return false,
                Some(_) => {}
            }
        }
        if self.kv.remove(key).is_some() {
            self.tombstones.insert(key.to_string(), idx);
            self.kv_table_index = idx;
        }
        true
    }

    /// The status a check reports: an `alias` check mirrors the worst status of the
    /// aliased service's checks (and the node's), passing when it has none.
    pub fn check_status(&self, c: &Check) -> String {
        if c.check_type != "alias" {
            return c.status.clone();
        }
        let mut worst = "passing";
        for other in self.checks.values() {
            if other.check_type == "alias" {
                continue;
            }
            if other.service_id == c.alias_service || other.service_id.is_empty() {
                worst = match (worst, other.status.as_str()) {
                    (_, "critical") | ("critical", _) => "critical",
                    (_, "warning") | ("warning", _) => "warning",
                    _ => worst,
                };
            }
        }
        worst.to_string()
    }

    /// Index of catalog reads (`services` table).
    pub fn catalog_index(&self) -> u64 {
        self.services_index.max(1)
    }

    /// Index of health reads (max of `nodes`, `services`, `checks`).
    pub fn health_index(&self) -> u64 {
        self.nodes_index
            .max(self.services_index)
            .max(self.checks_index)
            .max(1)
    }
}
