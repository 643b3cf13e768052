//! The one error type of this crate, shared by every product client.
//!
//! Messages are lowercase, carry the HTTP method, the API path and the server
//! address, and never contain tokens, request bodies or response bodies: both
//! kinds of body can hold secrets. JSON decoding errors are reduced to their
//! kind and position for the same reason.

use std::error::Error as StdError;
use std::fmt;

/// The server product an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Product {
    /// HashiCorp Vault or OpenBao.
    Vault,
    /// HashiCorp Consul.
    Consul,
    /// HashiCorp Nomad.
    Nomad,
}

impl Product {
    /// The lowercase product name used in messages, e.g. `vault`.
    pub fn as_str(self) -> &'static str {
        match self {
            Product::Vault => "vault",
            Product::Consul => "consul",
            Product::Nomad => "nomad",
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors returned by the API clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status.
    #[error("{product} returned {status} for {method} {path} at {address}{}", join_errors(.errors))]
    Api {
        /// The server product.
        product: Product,
        /// The HTTP status code.
        status: u16,
        /// The request method, e.g. `GET` or `LIST`.
        method: &'static str,
        /// The API path below `/v1/`, not percent-encoded.
        path: String,
        /// The server address the client was configured with.
        address: String,
        /// The server's error messages (Vault's `errors` array, or a plain-text body).
        errors: Vec<String>,
    },

    /// The request could not be sent or the response could not be read.
    #[error("{product} request {method} {path} at {address} failed: {}", transport_kind(.source))]
    Transport {
        /// The server product.
        product: Product,
        /// The request method.
        method: &'static str,
        /// The API path below `/v1/`, not percent-encoded.
        path: String,
        /// The server address the client was configured with.
        address: String,
        /// The underlying HTTP error (it may name the request URL, which never holds secrets).
        #[source]
        source: reqwest::Error,
    },

    /// The response body was not the JSON the client expected.
    #[error("{product} response to {method} {path} at {address} could not be decoded: {message}")]
    Decode {
        /// The server product.
        product: Product,
        /// The request method.
        method: &'static str,
        /// The API path below `/v1/`, not percent-encoded.
        path: String,
        /// The server address the client was configured with.
        address: String,
        /// What went wrong, without any value taken from the body.
        message: String,
    },

    /// The request was rejected before it was sent, e.g. a `..` path segment.
    #[error("invalid {product} request {method} {path}: {reason}")]
    InvalidRequest {
        /// The server product.
        product: Product,
        /// The request method.
        method: &'static str,
        /// The API path as given by the caller.
        path: String,
        /// Why the request was rejected.
        reason: String,
    },

    /// The client configuration is invalid (address, TLS files, headers, ...).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The server kept failing with retryable errors (connection errors, 429,
    /// 5xx, ...) until the retry policy gave up; also after a single attempt
    /// with [`crate::RetryPolicy::none`]. Non-retryable errors are returned as they are.
    #[error(
        "{product} at {address} unavailable after {attempts} attempt(s) of {method} {path}: {last}"
    )]
    Unavailable {
        /// The server product.
        product: Product,
        /// The request method.
        method: &'static str,
        /// The API path below `/v1/`, not percent-encoded.
        path: String,
        /// The server address the client was configured with.
        address: String,
        /// How many attempts were made.
        attempts: u32,
        /// The HTTP status of the last attempt, if the server answered.
        last_status: Option<u16>,
        /// The message of the last attempt's error, including its causes.
        last: String,
    },
}

impl Error {
    /// The product the error comes from, if it concerns a request.
    pub fn product(&self) -> Option<Product> {
        match self {
            Error::Api { product, .. }
            | Error::Transport { product, .. }
            | Error::Decode { product, .. }
            | Error::InvalidRequest { product, .. }
            | Error::Unavailable { product, .. } => Some(*product),
            Error::Config(_) => None,
        }
    }

    /// The HTTP status: of an API error, or of the last attempt before giving up.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Unavailable { last_status, .. } => *last_status,
            _ => None,
        }
    }

    /// The server's error messages of an API error; empty for other variants.
    pub fn errors(&self) -> &[String] {
        match self {
            Error::Api { errors, .. } => errors,
            _ => &[],
        }
    }

    /// `true` for an API error with status 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { status: 404, .. })
    }

    /// `true` for an API error with status 403 (missing permission or bad token).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Error::Api { status: 403, .. })
    }

    /// `true` if the request conflicts with existing state.
    ///
    /// That is status 409, and also Vault's 400 answers that mean a conflict:
    /// OpenBao and Vault answer 400 `path is already in use at <path>/` when a
    /// mount exists, and 400 `check-and-set parameter did not match the current
    /// version` on a KV v2 CAS mismatch.
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::Api { status: 409, .. } => true,
            Error::Api {
                product: Product::Vault,
                status: 400,
                errors,
                ..
            } => errors.iter().any(|e| {
                e.contains("path is already in use") || e.contains("check-and-set parameter")
            }),
            _ => false,
        }
    }

    /// The message followed by the messages of all its causes, joined by `: `.
    ///
    /// Use this for user-facing details; `Display` alone leaves out the causes
    /// of transport errors.
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut source = StdError::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            source = cause.source();
        }
        out
    }
}

fn join_errors(errors: &[String]) -> String {
    let errors: Vec<&str> = errors
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .collect();
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    }
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if crate::retry::is_tls_failure(e) {
        "tls handshake failed"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "could not read the response"
    } else if e.is_redirect() {
        "redirect refused"
    } else if e.is_builder() {
        "could not build the request"
    } else {
        "could not send the request"
    }
}

/// Describes a JSON decoding error without quoting any value from the input.
///
/// serde messages quote offending values (`invalid type: string "s.abc",
/// expected u64`); the body may be a secret, so only the kind of error, what
/// was expected and the position are kept.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let core = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg.as_str(),
    };
    let expected = core.find(", expected").map(|i| &core[i..]).unwrap_or("");
    let safe = if let Some((head, _)) = core.split_once(": ") {
        format!("{head}{expected}")
    } else if core.starts_with("unknown variant") || core.starts_with("unknown field") {
        let head = core.split(' ').take(2).collect::<Vec<_>>().join(" ");
        format!("{head}{expected}")
    } else {
        core.to_owned()
    };
    if e.line() == 0 {
        safe
    } else {
        format!("{safe} at line {} column {}", e.line(), e.column())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, errors: &[&str]) -> Error {
        Error::Api {
            product: Product::Vault,
            status,
            method: "PUT",
            path: "sys/policies/acl/web".into(),
            address: "https://127.0.0.1:8200".into(),
            errors: errors.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn api_error_message() {
        let e = api(403, &["permission denied"]);
        assert_eq!(
            e.to_string(),
            "vault returned 403 for PUT sys/policies/acl/web at https://127.0.0.1:8200: permission denied"
        );
        assert!(e.is_forbidden());
        assert!(!e.is_not_found());
        assert_eq!(e.status(), Some(403));
        assert_eq!(
            api(404, &[]).to_string(),
            "vault returned 404 for PUT sys/policies/acl/web at https://127.0.0.1:8200"
        );
    }

    #[test]
    fn conflict_predicate() {
        assert!(api(409, &[]).is_conflict());
        assert!(api(400, &["path is already in use at pki/"]).is_conflict());
        assert!(!api(400, &["invalid"]).is_conflict());
    }

    #[test]
    fn json_errors_do_not_quote_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            ttl: u64,
        }
        let err = serde_json::from_str::<T>(r#"{"ttl":"s.SECRET123"}"#).unwrap_err();
        let text = describe_json_error(&err);
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.starts_with("invalid type, expected u64"), "{text}");

        let err = serde_json::from_str::<T>("{}").unwrap_err();
        assert!(describe_json_error(&err).starts_with("missing field `ttl`"));

        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        enum E {
            A,
        }
        let err = serde_json::from_str::<E>(r#""s.SECRET123""#).unwrap_err();
        let text = describe_json_error(&err);
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.starts_with("unknown variant, expected"), "{text}");
    }
}
