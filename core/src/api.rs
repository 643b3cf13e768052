//! The request builder shared by the Consul and Nomad clients: a [`Transport`] plus default
//! headers (the token) and default query parameters (datacenter, region, namespace).

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Product};
use crate::http::{Call, Method, Response, Transport};
use crate::retry::RetryPolicy;
use crate::secret::Secret;
use crate::tls::{build_http_client, TlsConfig};

/// Settings common to the Consul and Nomad clients. `Debug` never shows the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Server address, e.g. `http://127.0.0.1:8500`.
    pub address: String,
    /// ACL token; `None` for anonymous calls.
    pub token: Option<Secret>,
    /// TLS settings; verification is on by default.
    pub tls: TlsConfig,
    /// Timeout of each single HTTP attempt (blocking queries add their wait time).
    pub timeout: Duration,
    /// Retry policy for connection errors and retryable statuses.
    pub retry: RetryPolicy,
}

impl EndpointConfig {
    /// A default configuration for `address`: no token, TLS verified, 60 s timeout.
    pub fn new(address: impl Into<String>) -> Self {
        EndpointConfig {
            address: address.into(),
            token: None,
            tls: TlsConfig::default(),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

/// A product client: transport, default headers and default query parameters.
#[derive(Clone)]
pub(crate) struct ApiClient {
    pub(crate) transport: Transport,
    headers: HeaderMap,
    default_query: Vec<(String, String)>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("product", &self.transport.product)
            .field("address", &self.transport.address)
            .field("query", &self.default_query)
            .finish()
    }
}

impl ApiClient {
    /// Builds the client; the token goes into `token_header` (marked sensitive).
    pub(crate) fn new(
        product: Product,
        config: &EndpointConfig,
        token_header: &'static str,
    ) -> Result<Self, Error> {
        let base = Transport::parse_address(product, &config.address)?;
        let http = build_http_client(product, &config.tls, config.timeout)?;
        let mut headers = HeaderMap::new();
        if let Some(token) = config.token.as_ref().filter(|t| !t.is_empty()) {
            let mut value = HeaderValue::from_str(token.expose()).map_err(|_| {
                Error::Config(format!(
                    "{product}: the token contains characters not allowed in an HTTP header"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static(token_header), value);
        }
        Ok(ApiClient {
            transport: Transport {
                product,
                http,
                address: base.clone(),
                base,
                retry: config.retry.clone(),
            },
            headers,
            default_query: Vec::new(),
        })
    }

    /// Adds a query parameter sent with every request (e.g. `dc`, `region`).
    pub(crate) fn default_query(&mut self, key: &str, value: Option<&str>) {
        self.default_query.retain(|(k, _)| k != key);
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            self.default_query.push((key.to_owned(), v.to_owned()));
        }
    }

    pub(crate) fn address(&self) -> &str {
        &self.transport.address
    }

    pub(crate) fn request(&self, method: Method, path: impl Into<String>) -> ApiRequest<'_> {
        ApiRequest {
            client: self,
            method,
            path: path.into(),
            query: self.default_query.clone(),
            body: None,
        }
    }
}

/// A request being built. `Debug` leaves out the body.
pub(crate) struct ApiRequest<'c> {
    client: &'c ApiClient,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Result<Vec<u8>, String>>,
}

impl ApiRequest<'_> {
    /// Adds (or replaces) a query parameter. Never put secrets in the query.
    pub(crate) fn query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.retain(|(k, _)| k != key);
        self.query.push((key.to_owned(), value.into()));
        self
    }

    /// Adds a query parameter when `value` is `Some`.
    pub(crate) fn query_opt(self, key: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }

    /// Sets the JSON body; encoding errors surface in `send`.
    pub(crate) fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Self {
        self.body = Some(serde_json::to_vec(body).map_err(|e| e.to_string()));
        self
    }

    pub(crate) async fn send(self) -> Result<Response, Error> {
        let body = match self.body {
            None => None,
            Some(Ok(body)) => Some(body),
            Some(Err(reason)) => {
                return Err(Error::InvalidRequest {
                    product: self.client.transport.product,
                    method: self.method.as_str(),
                    path: self.path,
                    reason: format!("cannot encode the JSON body: {reason}"),
                })
            }
        };
        self.client
            .transport
            .execute(Call {
                method: self.method,
                path: &self.path,
                query: &self.query,
                headers: &self.client.headers,
                body: body.as_deref(),
                accept: &[],
            })
            .await
    }

    /// Sends and decodes the JSON answer.
    pub(crate) async fn send_json<T: DeserializeOwned>(self) -> Result<T, Error> {
        self.send().await?.json()
    }

    /// Sends a request (a delete) for which 404 means "already gone": success either way.
    pub(crate) async fn send_gone_ok(self) -> Result<(), Error> {
        match self.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends and decodes the JSON answer; `None` on 404.
    pub(crate) async fn send_json_opt<T: DeserializeOwned>(self) -> Result<Option<T>, Error> {
        match self.send().await {
            Ok(r) => r.json().map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Reads a setting the way the products' CLIs do: trimmed, empty means unset.
pub(crate) fn env_var(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}
