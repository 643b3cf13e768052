//! What Terraform's go-plugin client does, for tests and benchmarks: a client certificate made the
//! way go-plugin makes it (ECDSA P-521, self-signed CA, SAN `localhost`), handshake-line parsing,
//! and a TLS gRPC channel over the plugin's unix socket.

use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// Any error, for test helpers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client certificate like the one go-plugin generates for AutoMTLS.
pub struct ClientCert {
    /// DER of the certificate.
    pub der: CertificateDer<'static>,
    /// PEM of the certificate (what goes into `PLUGIN_CLIENT_CERT`).
    pub pem: String,
    /// PKCS#8 DER of the private key.
    pub key: Vec<u8>,
}

/// Generates a certificate the way go-plugin's `generateCert` does.
pub fn terraform_like_client_cert() -> Result<ClientCert, BoxError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512)?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "localhost");
    dn.push(rcgen::DnType::OrganizationName, "HashiCorp");
    params.distinguished_name = dn;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyAgreement,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params.self_signed(&key)?;
    Ok(ClientCert {
        der: cert.der().clone(),
        pem: cert.pem(),
        key: key.serialize_der(),
    })
}

/// The fields of a go-plugin handshake line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Core protocol version (1).
    pub core: u32,
    /// Negotiated app protocol version.
    pub app: u32,
    /// `unix` or `tcp`.
    pub network: String,
    /// Socket path or `ip:port`.
    pub address: String,
    /// `grpc`.
    pub protocol: String,
    /// DER of the server certificate, when AutoMTLS is on.
    pub server_cert: Option<Vec<u8>>,
}

/// Parses `CORE|APP|NETWORK|ADDRESS|PROTOCOL|SERVERCERT`.
pub fn parse_handshake(line: &str) -> Result<Handshake, BoxError> {
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    if parts.len() < 6 {
        return Err(format!("handshake line has {} fields: {line:?}", parts.len()).into());
    }
    let server_cert = if parts[5].is_empty() {
        None
    } else {
        Some(base64::engine::general_purpose::STANDARD_NO_PAD.decode(parts[5])?)
    };
    Ok(Handshake {
        core: parts[0].parse()?,
        app: parts[1].parse()?,
        network: parts[2].to_string(),
        address: parts[3].to_string(),
        protocol: parts[4].to_string(),
        server_cert,
    })
}

/// Which TLS versions the client offers.
#[derive(Clone, Copy, Debug)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    Default,
    /// TLS 1.2 only.
    Tls12Only,
}

/// A rustls client config trusting only `server_cert`, offering ALPN h2, with an optional client cert.
pub fn client_config(
    server_cert: &CertificateDer<'static>,
    client: Option<&ClientCert>,
    version: TlsVersion,
) -> Result<Arc<rustls::ClientConfig>, BoxError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_cert.clone())?;
    let builder = rustls::ClientConfig::builder_with_provider(provider);
    let builder = match version {
        TlsVersion::Default => builder.with_safe_default_protocol_versions(),
        TlsVersion::Tls12Only => builder.with_protocol_versions(&[&rustls::version::TLS12]),
    }?
    .with_root_certificates(roots);
    let mut config = match client {
        Some(c) => builder.with_client_auth_cert(
            vec![c.der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key.clone())),
        )?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A gRPC channel over the unix socket with TLS (server name `localhost`, as go-plugin uses).
/// The negotiated ALPN protocol is recorded in `alpn`.
pub async fn tls_channel(
    path: &Path,
    config: Arc<rustls::ClientConfig>,
    alpn: Arc<Mutex<Option<Vec<u8>>>>,
) -> Result<Channel, BoxError> {
    let path = path.to_path_buf();
    let connector = tower::service_fn(move |_: Uri| {
        let path = path.clone();
        let config = Arc::clone(&config);
        let alpn = Arc::clone(&alpn);
        async move {
            let stream = UnixStream::connect(&path).await?;
            let name = ServerName::try_from("localhost")
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await?;
            if let Ok(mut a) = alpn.lock() {
                *a = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            }
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Ok(Endpoint::try_from("http://localhost")?
        .connect_with_connector(connector)
        .await?)
}

/// A plaintext gRPC channel over the unix socket (debug/reattach mode).
pub async fn plain_channel(path: &Path) -> Result<Channel, BoxError> {
    let path = path.to_path_buf();
    let connector = tower::service_fn(move |_: Uri| {
        let path = path.clone();
        async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(&path).await?)) }
    });
    Ok(Endpoint::try_from("http://localhost")?
        .connect_with_connector(connector)
        .await?)
}
