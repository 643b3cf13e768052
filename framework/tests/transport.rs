//! In-process tests of the go-plugin transport: handshake pieces, AutoMTLS
//! with a Terraform-like P-521 CA client certificate, health, Shutdown.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tf_framework::transport::{
    bind_unix_socket, handshake_line, negotiate_protocol, reattach_config, serve_on, ServeError,
    ServerTlsSetup, APP_PROTOCOL_VERSION,
};
use tfplugin_proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplugin_proto::tfplugin6::provider_client::ProviderClient;
use tfplugin_proto::tfplugin6::provider_server::Provider;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type BoxError = Box<dyn Error + Send + Sync>;

/// A provider that implements nothing (every RPC answers Unimplemented).
struct NoopProvider;

#[tonic::async_trait]
impl Provider for NoopProvider {}

/// A client certificate like go-plugin's `generateCert`: ECDSA P-521,
/// self-signed, CA:true, SAN/CN localhost.
struct ClientCert {
    der: CertificateDer<'static>,
    pem: String,
    key: Vec<u8>,
}

fn terraform_like_client_cert() -> ClientCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("p521 key");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("cert params");
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
    let cert = params.self_signed(&key).expect("self-signed cert");
    ClientCert {
        der: cert.der().clone(),
        pem: cert.pem(),
        key: key.serialize_der(),
    }
}

struct TestServer {
    dir: tempfile::TempDir,
    path: PathBuf,
    server_cert: Option<CertificateDer<'static>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl TestServer {
    async fn start(pinned_pem: Option<&str>) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let (listener, path) = bind_unix_socket(Some(dir.path())).expect("bind");
        let tls = pinned_pem.map(|pem| {
            ServerTlsSetup::from_client_cert_pem(pem.as_bytes()).expect("server tls setup")
        });
        let server_cert = tls.as_ref().map(|t| t.server_cert_der().clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve_on(NoopProvider, listener, tls, async move {
            let _ = stop_rx.await;
        }));
        TestServer {
            dir,
            path,
            server_cert,
            stop: Some(stop_tx),
            task,
        }
    }

    async fn join(self) -> Result<(), ServeError> {
        let _dir = self.dir;
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("server did not stop within 5 s")
            .expect("server task panicked")
    }
}

#[derive(Clone, Copy)]
enum TlsVersion {
    Default,
    Tls12Only,
}

fn client_config(
    server_cert: &CertificateDer<'static>,
    client: Option<&ClientCert>,
    version: TlsVersion,
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_cert.clone()).expect("add server cert");
    let builder = rustls::ClientConfig::builder_with_provider(provider);
    let builder = match version {
        TlsVersion::Default => builder.with_safe_default_protocol_versions(),
        TlsVersion::Tls12Only => builder.with_protocol_versions(&[&rustls::version::TLS12]),
    }
    .expect("protocol versions")
    .with_root_certificates(roots);
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![c.der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key.clone())),
            )
            .expect("client auth cert"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// A gRPC channel over the unix socket, with TLS done by tokio-rustls.
/// Records the negotiated ALPN protocol in `alpn`.
async fn tls_channel(
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
            let name = ServerName::try_from("localhost").expect("server name");
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await?;
            *alpn.lock().expect("alpn lock") = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Ok(Endpoint::try_from("http://localhost")?
        .connect_with_connector(connector)
        .await?)
}

async fn plain_channel(path: &Path) -> Result<Channel, BoxError> {
    let path = path.to_path_buf();
    let connector = tower::service_fn(move |_: Uri| {
        let path = path.clone();
        async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(&path).await?)) }
    });
    Ok(Endpoint::try_from("http://localhost")?
        .connect_with_connector(connector)
        .await?)
}

async fn health_check(channel: Channel) -> Result<ServingStatus, BoxError> {
    let resp = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "plugin".to_owned(),
        })
        .await?;
    Ok(resp.into_inner().status())
}

/// Connects with `client` and runs a health check; any failure is an Err.
async fn try_health(
    server: &TestServer,
    client: Option<&ClientCert>,
    version: TlsVersion,
) -> Result<ServingStatus, BoxError> {
    let server_cert = server.server_cert.as_ref().expect("tls server");
    let config = client_config(server_cert, client, version);
    let alpn = Arc::new(Mutex::new(None));
    let channel = tls_channel(&server.path, config, alpn).await?;
    tokio::time::timeout(Duration::from_secs(5), health_check(channel)).await?
}

// ---------------------------------------------------------------------------

#[test]
fn handshake_line_with_and_without_cert() {
    let der = vec![0xABu8; 301];
    let line = handshake_line(6, "unix", "/tmp/plugin123", Some(&der));
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 6, "{line}");
    assert_eq!(&fields[..5], &["1", "6", "unix", "/tmp/plugin123", "grpc"]);
    assert!(!fields[5].contains('='), "must be unpadded");
    assert!(!line.ends_with('\n'));
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(fields[5])
        .expect("raw std base64");
    assert_eq!(decoded, der);

    assert_eq!(
        handshake_line(6, "unix", "/tmp/plugin9", None),
        "1|6|unix|/tmp/plugin9|grpc|"
    );
}

#[test]
fn protocol_negotiation() {
    assert_eq!(negotiate_protocol(Some("5,6")).expect("5,6"), 6);
    assert_eq!(negotiate_protocol(Some(" 6 ")).expect("6"), 6);
    assert_eq!(negotiate_protocol(Some("6,7")).expect("6,7"), 6);
    assert_eq!(negotiate_protocol(None).expect("none"), APP_PROTOCOL_VERSION);
    assert_eq!(negotiate_protocol(Some("")).expect("empty"), 6);
    let err = negotiate_protocol(Some("4,5")).expect_err("no 6");
    assert!(matches!(err, ServeError::UnsupportedProtocol { .. }));
    assert!(err.to_string().contains("4,5"), "{err}");
}

#[test]
fn reattach_json_shape() {
    let json = reattach_config(
        "registry.terraform.io/stack/stack",
        4242,
        Path::new("/tmp/plugin1"),
    );
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let p = &v["registry.terraform.io/stack/stack"];
    assert_eq!(p["Protocol"], "grpc");
    assert_eq!(p["ProtocolVersion"], 6);
    assert_eq!(p["Pid"], 4242);
    assert_eq!(p["Test"], true);
    assert_eq!(p["Addr"]["Network"], "unix");
    assert_eq!(p["Addr"]["String"], "/tmp/plugin1");
    assert!(!json.contains('\n'));
}

#[test]
fn bad_client_cert_pem_is_rejected() {
    let err = ServerTlsSetup::from_client_cert_pem(b"not a pem").expect_err("no cert");
    assert!(matches!(err, ServeError::InvalidClientCert(_)), "{err}");
}

#[tokio::test]
async fn socket_is_named_plugin_in_given_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_listener, path) = bind_unix_socket(Some(dir.path())).expect("bind");
    assert_eq!(path.parent(), Some(dir.path()));
    let name = path.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(name.starts_with("plugin"), "{name}");
    assert!(name["plugin".len()..].chars().all(|c| c.is_ascii_digit()));
    assert!(path.exists());
}

#[tokio::test]
async fn pinned_client_cert_connects_health_and_shutdown() {
    let client = terraform_like_client_cert();
    let server = TestServer::start(Some(&client.pem)).await;
    let server_cert = server.server_cert.clone().expect("server cert");

    // The handshake line would carry this cert; it must be usable as a root
    // for "localhost" (that is what the Go client checks).
    let alpn = Arc::new(Mutex::new(None));
    let channel = tls_channel(
        &server.path,
        client_config(&server_cert, Some(&client), TlsVersion::Default),
        Arc::clone(&alpn),
    )
    .await
    .expect("TLS channel with the pinned client cert");
    assert_eq!(
        alpn.lock().expect("alpn").as_deref(),
        Some(&b"h2"[..]),
        "ALPN h2 must be negotiated"
    );

    assert_eq!(
        health_check(channel.clone()).await.expect("health check"),
        ServingStatus::Serving
    );

    // The provider service is registered; unimplemented RPCs say so.
    let status = ProviderClient::new(channel.clone())
        .get_metadata(tfplugin_proto::tfplugin6::get_metadata::Request {})
        .await
        .expect_err("noop provider");
    assert_eq!(status.code(), tonic::Code::Unimplemented);

    GrpcControllerClient::new(channel)
        .shutdown(tfplugin_proto::plugin::Empty {})
        .await
        .expect("Shutdown");
    server.join().await.expect("server result");
}

#[tokio::test]
async fn pinned_client_cert_over_tls12() {
    let client = terraform_like_client_cert();
    let mut server = TestServer::start(Some(&client.pem)).await;
    let status = try_health(&server, Some(&client), TlsVersion::Tls12Only)
        .await
        .expect("TLS 1.2 with P-521 client cert");
    assert_eq!(status, ServingStatus::Serving);
    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    server.join().await.expect("server result");
}

#[tokio::test]
async fn other_client_cert_is_refused() {
    let pinned = terraform_like_client_cert();
    let other = terraform_like_client_cert();
    let mut server = TestServer::start(Some(&pinned.pem)).await;

    for version in [TlsVersion::Default, TlsVersion::Tls12Only] {
        let res = try_health(&server, Some(&other), version).await;
        assert!(res.is_err(), "a different client cert must be refused");
    }

    // A failed handshake does not take the server down.
    let status = try_health(&server, Some(&pinned), TlsVersion::Default)
        .await
        .expect("pinned cert still works");
    assert_eq!(status, ServingStatus::Serving);

    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    server.join().await.expect("server result");
}

#[tokio::test]
async fn missing_client_cert_is_refused() {
    let pinned = terraform_like_client_cert();
    let mut server = TestServer::start(Some(&pinned.pem)).await;

    for version in [TlsVersion::Default, TlsVersion::Tls12Only] {
        let res = try_health(&server, None, version).await;
        assert!(res.is_err(), "a client without a certificate must be refused");
    }

    // Plaintext is refused too.
    let res = async {
        let channel = plain_channel(&server.path).await?;
        tokio::time::timeout(Duration::from_secs(5), health_check(channel)).await?
    }
    .await;
    assert!(res.is_err(), "plaintext must be refused by a TLS server");

    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    server.join().await.expect("server result");
}

#[tokio::test]
async fn plaintext_server_health_and_shutdown() {
    let server = TestServer::start(None).await;
    assert!(server.server_cert.is_none());
    let channel = plain_channel(&server.path).await.expect("plain channel");
    assert_eq!(
        health_check(channel.clone()).await.expect("health"),
        ServingStatus::Serving
    );
    GrpcControllerClient::new(channel)
        .shutdown(tfplugin_proto::plugin::Empty {})
        .await
        .expect("Shutdown");
    server.join().await.expect("server result");
}
