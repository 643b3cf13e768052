mod audit;
mod database;
mod kv_secret;
mod nomad_workload_identity;
mod pki_ca;
mod policy;
mod reliability;
