//! Vault / OpenBao API client.
//!
//! [`VaultClient`] holds the configured HTTP client; endpoint groups add
//! methods to it in [`sys_policy`], [`sys_mounts`], [`sys_health`] and
//! [`auth_token`]. Every request goes through [`VaultRequest::send`], which
//! builds `<address>/v1/<path>` with percent-encoded segments, sets the
//! `X-Vault-Token`, `X-Vault-Namespace` and `X-Vault-Request` headers,
//! retries as the [`RetryPolicy`] allows and maps error statuses to
//! [`Error::Api`].

pub mod auth_jwt;
pub mod auth_token;
pub mod database;
pub mod kv2;
pub mod leases;
pub mod pki;
pub mod sys_audit;
pub mod sys_health;
pub mod sys_mounts;
pub mod sys_policy;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Product};
use crate::http::{Call, Method, Response, Transport};
use crate::retry::RetryPolicy;
use crate::secret::Secret;
use crate::tls::{build_http_client, TlsConfig};

pub use auth_token::TokenInfo;
pub use sys_health::Health;
pub use sys_mounts::{MountConfig, MountConfigInput, MountInfo, MountRequest, MountTuneRequest};
pub use sys_policy::AclPolicy;

/// The address used when none is configured.
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

const PRODUCT: Product = Product::Vault;

/// Settings for a [`VaultClient`]. `Debug` never shows the token or key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultConfig {
    /// Server address, e.g. `https://vault.example.com:8200`. A path prefix is kept.
    pub address: String,
    /// Token sent as `X-Vault-Token`; `None` for unauthenticated calls.
    pub token: Option<Secret>,
    /// Namespace sent as `X-Vault-Namespace` (Vault Enterprise, OpenBao).
    pub namespace: Option<String>,
    /// TLS settings; verification is on by default.
    pub tls: TlsConfig,
    /// Timeout of each single HTTP attempt.
    pub timeout: Duration,
    /// Retry policy for connection errors and retryable statuses.
    pub retry: RetryPolicy,
}

impl Default for VaultConfig {
    /// `https://127.0.0.1:8200`, no token, TLS verified, 60 s timeout, default retries.
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            token: None,
            namespace: None,
            tls: TlsConfig::default(),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

impl VaultConfig {
    /// A default configuration for `address`.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            ..Self::default()
        }
    }

    /// Sets the token.
    pub fn with_token(mut self, token: impl Into<Secret>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Reads the standard environment variables.
    ///
    /// `VAULT_ADDR` (default `https://127.0.0.1:8200`), `VAULT_TOKEN`,
    /// `VAULT_NAMESPACE`, `VAULT_CACERT` (file), `VAULT_CLIENT_CERT` (file),
    /// `VAULT_CLIENT_KEY` (file) and `VAULT_SKIP_VERIFY` (a boolean as Go's
    /// `strconv.ParseBool` reads it). Empty variables count as unset. Files are
    /// read by [`VaultClient::new`].
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`VaultConfig::from_env`], with variables taken from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let skip_verify = match var("VAULT_SKIP_VERIFY") {
            None => false,
            Some(v) => parse_bool(&v).ok_or_else(|| {
                Error::Config(format!("VAULT_SKIP_VERIFY is not a boolean: {v:?}"))
            })?,
        };
        Ok(Self {
            address: var("VAULT_ADDR").unwrap_or_else(|| DEFAULT_ADDRESS.to_owned()),
            token: var("VAULT_TOKEN").map(Secret::new),
            namespace: var("VAULT_NAMESPACE"),
            tls: TlsConfig {
                ca_cert_file: var("VAULT_CACERT").map(PathBuf::from),
                client_cert_file: var("VAULT_CLIENT_CERT").map(PathBuf::from),
                client_key_file: var("VAULT_CLIENT_KEY").map(PathBuf::from),
                skip_verify,
                ..TlsConfig::default()
            },
            ..Self::default()
        })
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A Vault / OpenBao API client. Cheap to clone; clones share connections.
///
/// `Debug` shows the address and namespace, never the token.
#[derive(Clone)]
pub struct VaultClient {
    transport: Transport,
    namespace: Option<String>,
    has_token: bool,
    headers: HeaderMap,
}

impl fmt::Debug for VaultClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultClient")
            .field("address", &self.transport.address)
            .field("namespace", &self.namespace)
            .field("token", &if self.has_token { Some("***") } else { None })
            .field("retry", &self.transport.retry)
            .finish()
    }
}

static X_VAULT_TOKEN: HeaderName = HeaderName::from_static("x-vault-token");
static X_VAULT_NAMESPACE: HeaderName = HeaderName::from_static("x-vault-namespace");
static X_VAULT_REQUEST: HeaderName = HeaderName::from_static("x-vault-request");

impl VaultClient {
    /// Builds a client: validates the address and headers, loads TLS material.
    pub fn new(config: VaultConfig) -> Result<Self, Error> {
        let base = Transport::parse_address(PRODUCT, &config.address)?;
        let http = build_http_client(PRODUCT, &config.tls, config.timeout)?;
        let mut headers = HeaderMap::new();
        headers.insert(X_VAULT_REQUEST.clone(), HeaderValue::from_static("true"));
        let has_token = match &config.token {
            Some(token) if !token.is_empty() => {
                let mut value = HeaderValue::from_str(token.expose()).map_err(|_| {
                    Error::Config(
                        "vault: the token contains characters not allowed in an HTTP header"
                            .to_owned(),
                    )
                })?;
                value.set_sensitive(true);
                headers.insert(X_VAULT_TOKEN.clone(), value);
                true
            }
            _ => false,
        };
        let mut client = Self {
            transport: Transport {
                product: PRODUCT,
                http,
                address: base.clone(),
                base,
                retry: config.retry,
            },
            namespace: None,
            has_token,
            headers,
        };
        client.set_namespace(config.namespace)?;
        Ok(client)
    }

    /// The normalised server address (no trailing slash).
    pub fn address(&self) -> &str {
        &self.transport.address
    }

    /// The namespace sent with every request, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// A clone of this client that uses `namespace` instead (`None` or `""` for the root).
    pub fn with_namespace(&self, namespace: Option<&str>) -> Result<Self, Error> {
        let mut client = self.clone();
        client.set_namespace(namespace.map(str::to_owned))?;
        Ok(client)
    }

    fn set_namespace(&mut self, namespace: Option<String>) -> Result<(), Error> {
        let namespace = namespace
            .map(|ns| ns.trim().trim_matches('/').to_owned())
            .filter(|ns| !ns.is_empty());
        match &namespace {
            Some(ns) => {
                let value = HeaderValue::from_str(ns).map_err(|_| {
                    Error::Config(format!(
                        "vault: namespace {ns:?} contains characters not allowed in an HTTP header"
                    ))
                })?;
                self.headers.insert(X_VAULT_NAMESPACE.clone(), value);
            }
            None => {
                self.headers.remove(&X_VAULT_NAMESPACE);
            }
        }
        self.namespace = namespace;
        Ok(())
    }

    /// Starts a request to `/v1/<path>`; finish it with [`VaultRequest::send`].
    pub fn request(&self, method: Method, path: impl Into<String>) -> VaultRequest<'_> {
        VaultRequest {
            client: self,
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            accept: Vec::new(),
        }
    }

    /// Sends one request with an optional JSON body and returns the raw response.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Response, Error> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await
    }

    /// `GET <path>` and return the `data` object; `None` on 404.
    ///
    /// A 404 that says `namespace not found` stays an error, so a wrong
    /// namespace is not mistaken for a deleted object.
    pub async fn read<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, Error> {
        match self.request(Method::Get, path).send().await {
            Ok(response) => response.data().map(Some),
            Err(e) if is_plain_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `LIST <path>` and return `data.keys`; empty on 404, which is how Vault
    /// answers an empty list.
    pub async fn list(&self, path: &str) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct Keys {
            #[serde(default)]
            keys: Vec<String>,
        }
        match self.request(Method::List, path).send().await {
            Ok(response) => Ok(response.data::<Keys>()?.keys),
            Err(e) if is_plain_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `POST <path>` with a JSON body; returns the raw response (often 204).
    pub async fn write<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Response, Error> {
        self.request(Method::Post, path).json(body).send().await
    }

    /// `DELETE <path>`. A 404 is returned as an error; callers decide.
    pub async fn delete(&self, path: &str) -> Result<(), Error> {
        self.request(Method::Delete, path).send().await.map(drop)
    }
}

/// A 404 that means "no such object", not "no such namespace".
fn is_plain_not_found(e: &Error) -> bool {
    e.is_not_found() && !e.errors().iter().any(|m| m.contains("namespace not found"))
}

/// A request being built; see [`VaultClient::request`].
///
/// `Debug` leaves out the body.
pub struct VaultRequest<'c> {
    client: &'c VaultClient,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Result<Vec<u8>, String>>,
    accept: Vec<u16>,
}

impl fmt::Debug for VaultRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("has_body", &self.body.is_some())
            .finish()
    }
}

impl VaultRequest<'_> {
    /// Adds a query parameter. Never put secrets in the query: URLs show up in
    /// error messages and server logs.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Sets the JSON body. Serialisation errors are reported by `send`.
    pub fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Self {
        self.body = Some(serde_json::to_vec(body).map_err(|e| e.to_string()));
        self
    }

    /// Treats these non-2xx statuses as success instead of errors (and does not retry them).
    pub fn accept_status(mut self, statuses: &[u16]) -> Self {
        self.accept.extend_from_slice(statuses);
        self
    }

    /// Sends the request, retrying as the client's policy allows.
    pub async fn send(self) -> Result<Response, Error> {
        let body = match self.body {
            None => None,
            Some(Ok(body)) => Some(body),
            Some(Err(reason)) => {
                return Err(Error::InvalidRequest {
                    product: PRODUCT,
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
                accept: &self.accept,
            })
            .await
    }
}

#[cfg(test)]
pub(crate) mod tests;
