//! Product-neutral HTTP plumbing: methods, path encoding, the retrying
//! transport and the raw response type.

use std::fmt;
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{describe_json_error, Error, Product};
use crate::retry::{is_retryable_status, is_retryable_transport, RetryPolicy};

/// An HTTP method, plus Vault's `LIST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// Vault's `LIST`, sent as `GET` with the query `list=true`.
    List,
}

impl Method {
    /// The method name shown in messages, e.g. `LIST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::List => "LIST",
        }
    }

    fn wire(self) -> reqwest::Method {
        match self {
            Method::Get | Method::List => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Characters kept as they are in a path segment: RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes each `/`-separated segment of an API path.
///
/// Slashes stay path separators (mount paths such as `team/pki` span several
/// segments); everything else outside the unreserved set is encoded, so `?`,
/// `#`, `%` and spaces in names cannot change the request. A leading `/` is
/// dropped, a trailing one kept. `.` and `..` segments are rejected because
/// URL normalisation would resolve them to another path.
pub fn encode_path(path: &str) -> Result<String, String> {
    let path = path.trim_start_matches('/');
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if segment == "." || segment == ".." {
            return Err(format!("path segment {segment:?} is not allowed"));
        }
        if i > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(segment, SEGMENT));
    }
    Ok(out)
}

/// A response with a success status (or one the caller declared acceptable).
///
/// `Debug` shows the status and body length, never the body: it can hold secrets.
pub struct Response {
    product: Product,
    method: &'static str,
    path: String,
    address: String,
    status: u16,
    /// Blocking-query index (`X-Consul-Index` / `X-Nomad-Index`), if the server sent one.
    index: Option<u64>,
    body: Vec<u8>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("product", &self.product)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("status", &self.status)
            .field("index", &self.index)
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[derive(Deserialize)]
struct DataEnvelope<T> {
    data: Option<T>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

impl Response {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The raft index of a Consul or Nomad answer (`X-Consul-Index` / `X-Nomad-Index`).
    pub fn index(&self) -> Option<u64> {
        self.index
    }

    /// `true` for 204 and for a body that is empty or only whitespace.
    pub fn is_empty(&self) -> bool {
        self.status == 204 || self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Decodes the whole body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if self.is_empty() {
            return Err(self.decode_error("the response body is empty".into()));
        }
        serde_json::from_slice(&self.body).map_err(|e| self.decode_error(describe_json_error(&e)))
    }

    /// Decodes the body as JSON, or returns `None` for an empty body (204).
    pub fn json_opt<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        if self.is_empty() {
            Ok(None)
        } else {
            self.json().map(Some)
        }
    }

    /// Decodes Vault's `{"data": …}` envelope and returns `data`.
    ///
    /// The envelope's `warnings` are logged at warn level. A missing or null
    /// `data`, or an empty body, is a decode error.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let envelope: DataEnvelope<T> = self.json()?;
        for warning in envelope.warnings.iter().flatten() {
            log::warn!(
                "{} {} {}: server warning: {warning}",
                self.product,
                self.method,
                self.path
            );
        }
        envelope
            .data
            .ok_or_else(|| self.decode_error("the response has no `data` object".into()))
    }

    fn decode_error(&self, message: String) -> Error {
        Error::Decode {
            product: self.product,
            method: self.method,
            path: self.path.clone(),
            address: self.address.clone(),
            message,
        }
    }
}

/// One request for [`Transport::execute`].
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) path: &'a str,
    pub(crate) query: &'a [(String, String)],
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: Option<&'a [u8]>,
    /// Non-2xx statuses to treat as success (e.g. Vault health codes).
    pub(crate) accept: &'a [u16],
}

/// The retrying HTTP transport one product client is built on.
#[derive(Clone)]
pub(crate) struct Transport {
    pub(crate) product: Product,
    pub(crate) http: reqwest::Client,
    /// The base URL without a trailing slash, e.g. `https://127.0.0.1:8200`.
    pub(crate) base: String,
    /// The address as shown in messages.
    pub(crate) address: String,
    pub(crate) retry: RetryPolicy,
}

/// The outcome of one attempt.
enum Attempt {
    Done(Response),
    Failed {
        error: Error,
        retryable: bool,
        retry_after: Option<Duration>,
    },
}

impl Transport {
    /// Validates `address` and returns the base URL (no trailing slash).
    ///
    /// The address must be `http` or `https`, without credentials, query or
    /// fragment. Error messages never echo the address, which might hold credentials.
    pub(crate) fn parse_address(product: Product, address: &str) -> Result<String, Error> {
        let url = url::Url::parse(address.trim()).map_err(|e| {
            Error::Config(format!("{product}: the address is not a valid URL: {e}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "{product}: the address must use http or https, not {}",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Config(format!(
                "{product}: the address must not contain credentials"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Config(format!(
                "{product}: the address must not contain a query or fragment"
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::Config(format!("{product}: the address has no host")));
        }
        Ok(url.as_str().trim_end_matches('/').to_owned())
    }

    /// Sends `call` to `/v1/<path>`, retrying as the policy allows.
    pub(crate) async fn execute(&self, call: Call<'_>) -> Result<Response, Error> {
        let method = call.method.as_str();
        let invalid = |reason: String| Error::InvalidRequest {
            product: self.product,
            method,
            path: call.path.to_owned(),
            reason,
        };
        let encoded = encode_path(call.path).map_err(invalid)?;
        let mut url = url::Url::parse(&format!("{}/v1/{encoded}", self.base))
            .map_err(|e| invalid(format!("cannot build the URL: {e}")))?;
        if !call.query.is_empty() || call.method == Method::List {
            let mut pairs = url.query_pairs_mut();
            if call.method == Method::List {
                pairs.append_pair("list", "true");
            }
            for (k, v) in call.query {
                pairs.append_pair(k, v);
            }
        }

        let started = Instant::now();
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 1u32;
        loop {
            let (error, retry_after) = match self.attempt(&call, &url).await {
                Attempt::Done(response) => return Ok(response),
                Attempt::Failed {
                    error,
                    retryable: false,
                    ..
                } => return Err(error),
                Attempt::Failed {
                    error, retry_after, ..
                } => (error, retry_after),
            };
            let delay = self
                .retry
                .backoff(attempt - 1)
                .max(retry_after.unwrap_or_default().min(self.retry.max_delay));
            if attempt >= max_attempts || started.elapsed() + delay > self.retry.total_budget {
                return Err(Error::Unavailable {
                    product: self.product,
                    method,
                    path: call.path.to_owned(),
                    address: self.address.clone(),
                    attempts: attempt,
                    last_status: error.status(),
                    last: error.report(),
                });
            }
            log::warn!(
                "{} {method} {} at {}: attempt {attempt}/{max_attempts} failed ({}), retrying in {} ms",
                self.product,
                call.path,
                self.address,
                error
                    .status()
                    .map_or_else(|| "no response".to_owned(), |s| format!("status {s}")),
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, call: &Call<'_>, url: &url::Url) -> Attempt {
        let method = call.method.as_str();
        let transport = |source: reqwest::Error| Attempt::Failed {
            retryable: is_retryable_transport(&source),
            retry_after: None,
            error: Error::Transport {
                product: self.product,
                method,
                path: call.path.to_owned(),
                address: self.address.clone(),
                source,
            },
        };
        let mut request = self
            .http
            .request(call.method.wire(), url.clone())
            .headers(call.headers.clone());
        if let Some(body) = call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return transport(e),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let index = ["x-consul-index", "x-nomad-index"].iter().find_map(|h| {
            response
                .headers()
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => return transport(e),
        };
        if (200..300).contains(&status) || call.accept.contains(&status) {
            return Attempt::Done(Response {
                product: self.product,
                method,
                path: call.path.to_owned(),
                address: self.address.clone(),
                status,
                index,
                body,
            });
        }
        Attempt::Failed {
            retryable: is_retryable_status(self.product, status)
                && !(status == 500 && self.product != Product::Vault && !is_transient_500(&body)),
            retry_after,
            error: Error::Api {
                product: self.product,
                status,
                method,
                path: call.path.to_owned(),
                address: self.address.clone(),
                errors: parse_error_body(&body),
            },
        }
    }
}

/// Consul and Nomad answer every unmapped error with 500, validation failures included; only
/// the texts of leadership and RPC trouble are worth retrying.
fn is_transient_500(body: &[u8]) -> bool {
    const TRANSIENT: &[&str] = &[
        "No cluster leader",
        "No path to datacenter",
        "Not ready to serve consistent reads",
        "rpc error",
        "EOF",
        "connection refused",
        "i/o timeout",
        "leadership lost",
        "rate limit",
    ];
    let text = String::from_utf8_lossy(body);
    TRANSIENT.iter().any(|t| text.contains(t))
}

/// Extracts error messages from an error body.
///
/// Vault sends `{"errors":["…"]}`; Consul and Nomad often send plain text
/// (e.g. an RPC error passed through). Plain text is kept to its first 512
/// characters.
pub(crate) fn parse_error_body(body: &[u8]) -> Vec<String> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Option<Vec<String>>,
    }
    if let Ok(Errors {
        errors: Some(errors),
    }) = serde_json::from_slice::<Errors>(body)
    {
        return errors;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.starts_with('{') {
        return Vec::new();
    }
    let mut short: String = text.chars().take(512).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    vec![short]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_slashes_kept() {
        assert_eq!(
            encode_path("sys/policies/acl/my policy").as_deref(),
            Ok("sys/policies/acl/my%20policy")
        );
        assert_eq!(
            encode_path("/sys/mounts/team/pki").as_deref(),
            Ok("sys/mounts/team/pki")
        );
        assert_eq!(
            encode_path("kv/data/a?b#c%d").as_deref(),
            Ok("kv/data/a%3Fb%23c%25d")
        );
        assert_eq!(
            encode_path("kv/metadata/dir/").as_deref(),
            Ok("kv/metadata/dir/")
        );
        assert_eq!(encode_path("x/é").as_deref(), Ok("x/%C3%A9"));
        assert_eq!(encode_path("a/v1.2_x-y~z").as_deref(), Ok("a/v1.2_x-y~z"));
        assert!(encode_path("sys/../secret").is_err());
        assert!(encode_path("./x").is_err());
    }

    #[test]
    fn only_transient_500s_are_retried_for_consul_and_nomad() {
        assert!(is_transient_500(b"No cluster leader"));
        assert!(is_transient_500(b"rpc error making call: EOF"));
        assert!(!is_transient_500(
            b"1 error occurred:\n\t* Task group web validation failed"
        ));
        assert!(!is_transient_500(
            b"error configuring provider: permission denied"
        ));
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            parse_error_body(br#"{"errors":["permission denied"]}"#),
            vec!["permission denied"]
        );
        assert!(parse_error_body(br#"{"errors":[]}"#).is_empty());
        assert!(parse_error_body(b"").is_empty());
        assert_eq!(
            parse_error_body(b"No cluster leader\n"),
            vec!["No cluster leader"]
        );
    }

    #[test]
    fn addresses() {
        let ok = |a: &str| Transport::parse_address(Product::Vault, a);
        assert_eq!(
            ok("https://127.0.0.1:8200/").unwrap(),
            "https://127.0.0.1:8200"
        );
        assert_eq!(
            ok("http://vault.local/prefix/").unwrap(),
            "http://vault.local/prefix"
        );
        let err = ok("https://user:hunter2@vault:8200")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(ok("ftp://vault").is_err());
        assert!(ok("https://vault?x=1").is_err());
        assert!(ok("vault:8200").is_err());
    }
}
