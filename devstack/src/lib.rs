//! `stack-devstack`: a local Consul + Vault (OpenBao) stack for tests and module development.
//!
//! The Consul HTTP API simulator lives in [`consul`]; [`stack`] starts the processes behind
//! `stack-devstack up`.

pub mod consul;
pub mod duration;
pub mod faults;
mod http;
pub mod nomad;
pub mod postgres;
pub mod stack;
