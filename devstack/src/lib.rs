//! `stack-devstack`: a local Consul + Vault (OpenBao) stack for tests and module development.
//!
//! The Consul HTTP API simulator lives in [`consul`]; [`stack`] starts the processes behind
//! `stack-devstack up`.

pub mod consul;
pub mod duration;
mod http;
pub mod nomad;
pub mod stack;
