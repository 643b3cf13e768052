//! Consul API client.
//!
//! [`ConsulClient`] sends every request to `<address>/v1/<path>` with the token in
//! `X-Consul-Token` and the configured datacenter as `?dc=`. Consul answers errors in plain
//! text; they become [`Error::Api`] with that text. Endpoint groups add methods in
//! [`acl`], [`config_entries`] and [`connect_ca`].

pub mod acl;
pub mod config_entries;
pub mod connect_ca;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::{env_var, parse_go_bool, ApiClient, EndpointConfig};
use crate::error::{Error, Product};
use crate::http::Method;
use crate::secret::Secret;
use crate::tls::TlsConfig;

/// The address used when none is configured (what the `consul` CLI uses).
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:8500";

const PRODUCT: Product = Product::Consul;

/// Settings for a [`ConsulClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsulConfig {
    /// Address, token, TLS, timeout and retries.
    pub endpoint: EndpointConfig,
    /// Datacenter sent as `?dc=`; `None` for the agent's own.
    pub datacenter: Option<String>,
}

impl ConsulConfig {
    /// A default configuration for `address`.
    pub fn new(address: impl Into<String>) -> Self {
        ConsulConfig {
            endpoint: EndpointConfig::new(address),
            datacenter: None,
        }
    }

    /// Reads the `consul` CLI's environment variables: `CONSUL_HTTP_ADDR` (`host:port` or a URL;
    /// without a scheme `CONSUL_HTTP_SSL` picks https), `CONSUL_HTTP_TOKEN`, `CONSUL_CACERT`,
    /// `CONSUL_CLIENT_CERT`, `CONSUL_CLIENT_KEY` and `CONSUL_HTTP_SSL_VERIFY`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let flag = |name: &str| -> Result<Option<bool>, Error> {
            env_var(&lookup, name)
                .map(|v| {
                    parse_go_bool(&v)
                        .ok_or_else(|| Error::Config(format!("{name} is not a boolean: {v:?}")))
                })
                .transpose()
        };
        let ssl = flag("CONSUL_HTTP_SSL")?.unwrap_or(false);
        let verify = flag("CONSUL_HTTP_SSL_VERIFY")?.unwrap_or(true);
        let address = env_var(&lookup, "CONSUL_HTTP_ADDR")
            .map(|a| with_scheme(&a, ssl))
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_owned());
        let mut config = ConsulConfig::new(address);
        config.endpoint.token = env_var(&lookup, "CONSUL_HTTP_TOKEN").map(Secret::new);
        config.endpoint.tls = TlsConfig {
            ca_cert_file: env_var(&lookup, "CONSUL_CACERT").map(PathBuf::from),
            client_cert_file: env_var(&lookup, "CONSUL_CLIENT_CERT").map(PathBuf::from),
            client_key_file: env_var(&lookup, "CONSUL_CLIENT_KEY").map(PathBuf::from),
            skip_verify: !verify,
            ..TlsConfig::default()
        };
        Ok(config)
    }

    /// [`ConsulConfig::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// `host:port` → `http(s)://host:port`; addresses with a scheme are kept.
pub fn with_scheme(address: &str, ssl: bool) -> String {
    if address.contains("://") {
        address.to_owned()
    } else if ssl {
        format!("https://{address}")
    } else {
        format!("http://{address}")
    }
}

/// A Consul API client. Cheap to clone; `Debug` never shows the token.
#[derive(Clone)]
pub struct ConsulClient {
    api: ApiClient,
}

impl fmt::Debug for ConsulClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsulClient")
            .field("address", &self.api.address())
            .finish()
    }
}

/// How long a blocking query may wait on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocking {
    /// The index of the previous answer (`X-Consul-Index`).
    pub index: u64,
    /// How long the server may hold the request.
    pub wait: Duration,
}

impl ConsulClient {
    /// Builds a client: validates the address and the token, loads TLS material.
    pub fn new(config: ConsulConfig) -> Result<Self, Error> {
        let mut api = ApiClient::new(PRODUCT, &config.endpoint, "x-consul-token")?;
        api.default_query("dc", config.datacenter.as_deref());
        Ok(ConsulClient { api })
    }

    /// The normalised server address.
    pub fn address(&self) -> &str {
        self.api.address()
    }

    /// `GET /v1/status/leader`: the leader's RPC address, `""` without a leader.
    pub async fn leader(&self) -> Result<String, Error> {
        self.api
            .request(Method::Get, "status/leader")
            .send_json()
            .await
    }

    /// `GET /v1/connect/intentions/check`: whether `source` may connect to `destination`.
    pub async fn intention_check(&self, source: &str, destination: &str) -> Result<bool, Error> {
        #[derive(serde::Deserialize)]
        struct Check {
            #[serde(rename = "Allowed")]
            allowed: bool,
        }
        let c: Check = self
            .api
            .request(Method::Get, "connect/intentions/check")
            .query("source", source)
            .query("destination", destination)
            .send_json()
            .await?;
        Ok(c.allowed)
    }

    /// `GET /v1/health/service/:name?passing`: addresses (`address`, `port`) of passing instances.
    pub async fn passing_instances(&self, service: &str) -> Result<Vec<(String, u16)>, Error> {
        let entries: Vec<serde_json::Value> = self
            .api
            .request(Method::Get, format!("health/service/{service}"))
            .query("passing", "")
            .send_json()
            .await?;
        Ok(entries
            .iter()
            .filter_map(|e| {
                let svc = &e["Service"];
                let addr = svc["Address"]
                    .as_str()
                    .filter(|a| !a.is_empty())
                    .or_else(|| e["Node"]["Address"].as_str())?;
                let port = u16::try_from(svc["Port"].as_u64()?).ok()?;
                Some((addr.to_owned(), port))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_like_the_cli() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = ConsulConfig::from_lookup(env(&[])).unwrap();
        assert_eq!(c.endpoint.address, DEFAULT_ADDRESS);
        let c = ConsulConfig::from_lookup(env(&[
            ("CONSUL_HTTP_ADDR", "10.0.0.1:8501"),
            ("CONSUL_HTTP_SSL", "true"),
            ("CONSUL_HTTP_TOKEN", "t0k"),
        ]))
        .unwrap();
        assert_eq!(c.endpoint.address, "https://10.0.0.1:8501");
        assert_eq!(c.endpoint.token.as_ref().map(Secret::expose), Some("t0k"));
        assert!(!c.endpoint.tls.skip_verify);
        let c = ConsulConfig::from_lookup(env(&[("CONSUL_HTTP_SSL_VERIFY", "false")])).unwrap();
        assert!(c.endpoint.tls.skip_verify);
        assert!(ConsulConfig::from_lookup(env(&[("CONSUL_HTTP_SSL", "yes")])).is_err());
    }
}
