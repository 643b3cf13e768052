//! Nomad API client.
//!
//! [`NomadClient`] sends every request to `<address>/v1/<path>` with the token in
//! `X-Nomad-Token` and the configured region as `?region=`. The namespace is a per-call
//! argument (`?namespace=`), since one configuration manages jobs in several namespaces.
//! Endpoint groups add methods in [`jobs`], [`acl`] and [`namespaces`].

pub mod acl;
pub mod jobs;
pub mod namespaces;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::{env_var, parse_go_bool, ApiClient, EndpointConfig};
use crate::error::{Error, Product};
use crate::secret::Secret;
use crate::tls::TlsConfig;

/// The address used when none is configured (what the `nomad` CLI uses).
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";

const PRODUCT: Product = Product::Nomad;

/// Settings for a [`NomadClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NomadConfig {
    /// Address, token, TLS, timeout and retries.
    pub endpoint: EndpointConfig,
    /// Region sent as `?region=`.
    pub region: Option<String>,
    /// Namespace used when a call does not name one.
    pub namespace: Option<String>,
}

impl NomadConfig {
    /// A default configuration for `address`.
    pub fn new(address: impl Into<String>) -> Self {
        NomadConfig {
            endpoint: EndpointConfig::new(address),
            region: None,
            namespace: None,
        }
    }

    /// Reads the `nomad` CLI's environment variables: `NOMAD_ADDR`, `NOMAD_TOKEN`,
    /// `NOMAD_REGION`, `NOMAD_NAMESPACE`, `NOMAD_CACERT`, `NOMAD_CLIENT_CERT`,
    /// `NOMAD_CLIENT_KEY` and `NOMAD_SKIP_VERIFY`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let skip_verify = match env_var(&lookup, "NOMAD_SKIP_VERIFY") {
            None => false,
            Some(v) => parse_go_bool(&v).ok_or_else(|| {
                Error::Config(format!("NOMAD_SKIP_VERIFY is not a boolean: {v:?}"))
            })?,
        };
        let mut config = NomadConfig::new(
            env_var(&lookup, "NOMAD_ADDR").unwrap_or_else(|| DEFAULT_ADDRESS.to_owned()),
        );
        config.endpoint.token = env_var(&lookup, "NOMAD_TOKEN").map(Secret::new);
        config.endpoint.tls = TlsConfig {
            ca_cert_file: env_var(&lookup, "NOMAD_CACERT").map(PathBuf::from),
            client_cert_file: env_var(&lookup, "NOMAD_CLIENT_CERT").map(PathBuf::from),
            client_key_file: env_var(&lookup, "NOMAD_CLIENT_KEY").map(PathBuf::from),
            skip_verify,
            ..TlsConfig::default()
        };
        config.region = env_var(&lookup, "NOMAD_REGION");
        config.namespace = env_var(&lookup, "NOMAD_NAMESPACE");
        Ok(config)
    }

    /// [`NomadConfig::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// A Nomad API client. Cheap to clone; `Debug` never shows the token.
#[derive(Clone)]
pub struct NomadClient {
    api: ApiClient,
    namespace: String,
}

impl fmt::Debug for NomadClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NomadClient")
            .field("address", &self.api.address())
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// Longest server-side wait of one blocking query; stays below the HTTP timeout.
pub const MAX_BLOCKING_WAIT: Duration = Duration::from_secs(20);

impl NomadClient {
    /// Builds a client: validates the address and the token, loads TLS material.
    pub fn new(config: NomadConfig) -> Result<Self, Error> {
        let mut api = ApiClient::new(PRODUCT, &config.endpoint, "x-nomad-token")?;
        api.default_query("region", config.region.as_deref());
        Ok(NomadClient {
            api,
            namespace: config
                .namespace
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".to_owned()),
        })
    }

    /// The normalised server address.
    pub fn address(&self) -> &str {
        self.api.address()
    }

    /// The namespace used when a call gets `None`.
    pub fn default_namespace(&self) -> &str {
        &self.namespace
    }

    fn ns<'a>(&'a self, namespace: Option<&'a str>) -> &'a str {
        namespace
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.namespace)
    }
}

/// `?wait=` for a blocking query: whole milliseconds, as Go durations accept.
pub(crate) fn wait_param(wait: Duration) -> String {
    format!("{}ms", wait.min(MAX_BLOCKING_WAIT).as_millis().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_like_the_cli() {
        let c = NomadConfig::from_lookup(|k| match k {
            "NOMAD_ADDR" => Some("https://nomad:4646".into()),
            "NOMAD_NAMESPACE" => Some("apps".into()),
            "NOMAD_REGION" => Some(" ".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.endpoint.address, "https://nomad:4646");
        assert_eq!(c.namespace.as_deref(), Some("apps"));
        assert_eq!(c.region, None);
        assert!(
            NomadConfig::from_lookup(|k| (k == "NOMAD_SKIP_VERIFY").then(|| "maybe".into()))
                .is_err()
        );
        assert_eq!(wait_param(Duration::from_secs(90)), "20000ms");
    }
}
