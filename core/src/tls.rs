//! TLS settings and construction of the HTTP client, shared by all products.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Product};
use crate::secret::Secret;

/// TLS settings of a client. Verification is on unless `skip_verify` is set.
///
/// A CA given here (PEM contents and/or file) replaces the system roots, like
/// `VAULT_CACERT`/`CONSUL_CACERT` do for the Go clients. A client certificate
/// and key, given as PEM contents or files, enable mutual TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM-encoded CA certificate(s) to trust.
    pub ca_cert_pem: Option<String>,
    /// File with PEM-encoded CA certificate(s) to trust.
    pub ca_cert_file: Option<PathBuf>,
    /// PEM-encoded client certificate (chain) for mutual TLS.
    pub client_cert_pem: Option<String>,
    /// File with the PEM-encoded client certificate (chain).
    pub client_cert_file: Option<PathBuf>,
    /// PEM-encoded private key of the client certificate.
    pub client_key_pem: Option<Secret>,
    /// File with the PEM-encoded private key of the client certificate.
    pub client_key_file: Option<PathBuf>,
    /// Accept any server certificate. Insecure; for development only.
    pub skip_verify: bool,
}

impl TlsConfig {
    /// The CA certificates to trust, or `None` to use the system roots.
    fn root_certs(&self, product: Product) -> Result<Option<Vec<reqwest::Certificate>>, Error> {
        let mut pems: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(pem) = &self.ca_cert_pem {
            pems.push(("ca certificate".to_owned(), pem.as_bytes().to_vec()));
        }
        if let Some(path) = &self.ca_cert_file {
            let bytes = read_file(product, "ca certificate", path)?;
            pems.push((format!("ca certificate file {}", path.display()), bytes));
        }
        if pems.is_empty() {
            return Ok(None);
        }
        let mut certs = Vec::new();
        for (what, pem) in pems {
            let parsed = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|_| Error::Config(format!("{product}: {what} is not valid PEM")))?;
            if parsed.is_empty() {
                return Err(Error::Config(format!(
                    "{product}: {what} contains no PEM certificate"
                )));
            }
            certs.extend(parsed);
        }
        Ok(Some(certs))
    }

    /// The client identity for mutual TLS, if a certificate and key are configured.
    fn identity(&self, product: Product) -> Result<Option<reqwest::Identity>, Error> {
        let cert = match (&self.client_cert_pem, &self.client_cert_file) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(format!(
                    "{product}: set either the client certificate PEM or its file, not both"
                )))
            }
            (Some(pem), None) => Some(pem.as_bytes().to_vec()),
            (None, Some(path)) => Some(read_file(product, "client certificate", path)?),
            (None, None) => None,
        };
        let key = match (&self.client_key_pem, &self.client_key_file) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(format!(
                    "{product}: set either the client key PEM or its file, not both"
                )))
            }
            (Some(pem), None) => Some(pem.expose().as_bytes().to_vec()),
            (None, Some(path)) => Some(read_file(product, "client key", path)?),
            (None, None) => None,
        };
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(mut cert), Some(key)) => {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                reqwest::Identity::from_pem(&cert).map(Some).map_err(|_| {
                    Error::Config(format!(
                        "{product}: client certificate and key could not be parsed \
                         (expected PEM certificate(s) and a PKCS#8, PKCS#1 or SEC1 key)"
                    ))
                })
            }
            _ => Err(Error::Config(format!(
                "{product}: a client certificate needs a client key and vice versa"
            ))),
        }
    }
}

fn read_file(product: Product, what: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        Error::Config(format!(
            "{product}: cannot read {what} file {}: {e}",
            path.display()
        ))
    })
}

/// Builds the reqwest client for one product from its TLS settings and timeout.
///
/// Redirects are followed (at most 5) only to the same origin or to an
/// `https` URL, because the product's token header goes along.
pub fn build_http_client(
    product: Product,
    tls: &TlsConfig,
    timeout: Duration,
) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("stack-core/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(redirect_policy());
    if let Some(certs) = tls.root_certs(product)? {
        builder = builder.tls_certs_only(certs);
    }
    if let Some(identity) = tls.identity(product)? {
        builder = builder.identity(identity);
    }
    if tls.skip_verify {
        log::warn!("{product}: TLS certificate verification is disabled (skip_verify)");
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("{product}: cannot build the HTTP client: {e}")))
}

fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin || attempt.url().scheme() == "https" {
            attempt.follow()
        } else {
            attempt.error("refusing to follow a redirect to another origin over plain http")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_builds() {
        build_http_client(
            Product::Vault,
            &TlsConfig::default(),
            Duration::from_secs(5),
        )
        .expect("client");
    }

    #[test]
    fn bad_pem_is_a_config_error() {
        let tls = TlsConfig {
            ca_cert_pem: Some("not a pem".into()),
            ..TlsConfig::default()
        };
        let err = build_http_client(Product::Vault, &tls, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn missing_file_is_a_config_error() {
        let tls = TlsConfig {
            ca_cert_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let err = build_http_client(Product::Nomad, &tls, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn key_without_cert_is_rejected_and_not_echoed() {
        let tls = TlsConfig {
            client_key_pem: Some(Secret::new("-----BEGIN PRIVATE KEY-----\nSECRETKEY\n")),
            ..TlsConfig::default()
        };
        let err = build_http_client(Product::Vault, &tls, Duration::from_secs(5)).unwrap_err();
        assert!(!format!("{err} {err:?} {tls:?}").contains("SECRETKEY"));
    }
}
