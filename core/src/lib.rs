//! Typed API clients for Vault/OpenBao, Consul and Nomad.
//!
//! No Terraform types live here. Every client shares the same pieces:
//! [`Error`] (one error type with [`Product`] and status predicates),
//! [`RetryPolicy`] (exponential backoff with full jitter), [`TlsConfig`]
//! (verification on by default) and [`Secret`] (never printed).
//!
//! ```no_run
//! # async fn demo() -> Result<(), stack_core::Error> {
//! use stack_core::vault::{VaultClient, VaultConfig};
//!
//! let vault = VaultClient::new(VaultConfig::from_env()?)?;
//! vault.write_acl_policy("web", r#"path "secret/data/web/*" { capabilities = ["read"] }"#).await?;
//! let policy = vault.read_acl_policy("web").await?;
//! # let _ = policy;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod consul;
pub mod error;
pub mod http;
pub mod nomad;
pub mod retry;
pub mod secret;
pub mod tls;
pub mod vault;

pub use api::EndpointConfig;
pub use consul::{ConsulClient, ConsulConfig};
pub use error::{Error, Product};
pub use http::{Method, Response};
pub use nomad::{NomadClient, NomadConfig};
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use tls::TlsConfig;
pub use vault::{VaultClient, VaultConfig};
