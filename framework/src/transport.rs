//! The go-plugin server side of a Terraform provider.
//!
//! Terraform starts the provider binary with a few environment variables, reads
//! one handshake line from its stdout and then talks gRPC to it over a unix
//! socket, normally with mutual TLS ("AutoMTLS"). [`serve`] does all of that;
//! the lower-level pieces ([`handshake_line`], [`negotiate_protocol`],
//! [`ServerTlsSetup`], [`bind_unix_socket`], [`serve_on`]) are public so they
//! can be tested without a real Terraform.
//!
//! Everything here works on a `current_thread` tokio runtime.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use tfplugin_proto::plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use tfplugin_proto::tfplugin6::provider_server::{Provider, ProviderServer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, UdsConnectInfo};

/// Environment variable holding go-plugin's magic cookie.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// The value Terraform puts in [`MAGIC_COOKIE_KEY`] (it never changes).
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// go-plugin core protocol version (first handshake field).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The only Terraform plugin protocol major version we speak.
pub const APP_PROTOCOL_VERSION: u32 = 6;
/// gRPC message size limit for the provider service (as terraform-plugin-go).
pub const MAX_MESSAGE_SIZE: usize = 256 << 20;

const ENV_PROTOCOL_VERSIONS: &str = "PLUGIN_PROTOCOL_VERSIONS";
const ENV_CLIENT_CERT: &str = "PLUGIN_CLIENT_CERT";
const ENV_SOCKET_DIR: &str = "PLUGIN_UNIX_SOCKET_DIR";
const ENV_SOCKET_GROUP: &str = "PLUGIN_UNIX_SOCKET_GROUP";

/// How long a graceful shutdown may take before we return anyway (Terraform
/// force-kills the process 2 s after `Shutdown`).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// Upper bound for one TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Options for [`serve`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Provider source address, e.g. `registry.terraform.io/stack/stack`
    /// (used for the `TF_REATTACH_PROVIDERS` JSON in debug mode).
    pub provider_address: String,
    /// Debug mode: run stand-alone, print a `TF_REATTACH_PROVIDERS` value and
    /// serve plaintext gRPC until SIGINT/SIGTERM.
    pub debug: bool,
}

/// Why [`serve`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The magic cookie is missing or wrong: the binary was run by hand. A
    /// human-readable explanation has already been printed to stderr; the
    /// caller should just exit with status 1.
    NotLaunchedByTerraform,
    /// `PLUGIN_PROTOCOL_VERSIONS` does not offer protocol 6.
    UnsupportedProtocol {
        /// What Terraform offered.
        offered: String,
    },
    /// `PLUGIN_CLIENT_CERT` could not be used.
    InvalidClientCert(String),
    /// Generating the server certificate failed.
    CertGen(rcgen::Error),
    /// Building the TLS configuration failed.
    Tls(rustls::Error),
    /// An I/O operation failed.
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The gRPC server failed.
    Transport(tonic::transport::Error),
}

impl ServeError {
    fn io(context: impl Into<String>, source: io::Error) -> Self {
        ServeError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::NotLaunchedByTerraform => {
                f.write_str("this plugin must be launched by Terraform (magic cookie missing)")
            }
            ServeError::UnsupportedProtocol { offered } => write!(
                f,
                "Terraform offered plugin protocol version(s) {offered:?}, but this provider \
                 only speaks protocol {APP_PROTOCOL_VERSION} (Terraform 1.0 or later)"
            ),
            ServeError::InvalidClientCert(msg) => {
                write!(f, "invalid {ENV_CLIENT_CERT}: {msg}")
            }
            ServeError::CertGen(e) => write!(f, "generating the server certificate: {e}"),
            ServeError::Tls(e) => write!(f, "TLS configuration: {e}"),
            ServeError::Io { context, source } => write!(f, "{context}: {source}"),
            ServeError::Transport(e) => write!(f, "gRPC server: {e}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::CertGen(e) => Some(e),
            ServeError::Tls(e) => Some(e),
            ServeError::Io { source, .. } => Some(source),
            ServeError::Transport(e) => Some(e),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Handshake pieces
// ---------------------------------------------------------------------------

/// Picks the application protocol from `PLUGIN_PROTOCOL_VERSIONS` (a comma
/// list). We speak only [`APP_PROTOCOL_VERSION`]; a missing or empty list
/// means "the default", which is also 6.
pub fn negotiate_protocol(offered: Option<&str>) -> Result<u32, ServeError> {
    let Some(list) = offered.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(APP_PROTOCOL_VERSION);
    };
    let speaks_6 = list
        .split(',')
        .any(|v| v.trim().parse::<u32>().ok() == Some(APP_PROTOCOL_VERSION));
    if speaks_6 {
        Ok(APP_PROTOCOL_VERSION)
    } else {
        Err(ServeError::UnsupportedProtocol {
            offered: list.to_owned(),
        })
    }
}

/// The go-plugin handshake line (without the trailing newline):
/// `1|<app>|<network>|<address>|grpc|<cert>`, where `<cert>` is the server
/// certificate DER in unpadded standard base64, or empty without TLS.
pub fn handshake_line(
    app_version: u32,
    network: &str,
    address: &str,
    server_cert_der: Option<&[u8]>,
) -> String {
    let cert = server_cert_der
        .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{app_version}|{network}|{address}|grpc|{cert}")
}

/// The `TF_REATTACH_PROVIDERS` JSON for a provider served in debug mode on
/// the unix socket `socket`. `Test` is always true: protocol 6 needs it.
pub fn reattach_config(provider_address: &str, pid: u32, socket: &Path) -> String {
    let addr = socket.to_string_lossy();
    let mut map = serde_json::Map::new();
    map.insert(
        provider_address.to_owned(),
        serde_json::json!({
            "Protocol": "grpc",
            "ProtocolVersion": APP_PROTOCOL_VERSION,
            "Pid": pid,
            "Test": true,
            "Addr": { "Network": "unix", "String": addr },
        }),
    );
    serde_json::Value::Object(map).to_string()
}

/// A random `plugin<digits>` file name.
fn random_socket_name(attempt: u32) -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u32(attempt);
    if let Ok(d) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    format!("plugin{}", h.finish() % 10_000_000_000)
}

/// Binds a unix socket named `plugin<random>` in `dir` (or the temp dir).
/// Must be called inside a tokio runtime. The caller removes the file.
pub fn bind_unix_socket(dir: Option<&Path>) -> io::Result<(UnixListener, PathBuf)> {
    let dir = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let mut attempt = 0;
    loop {
        let path = dir.join(random_socket_name(attempt));
        match UnixListener::bind(&path) {
            Ok(listener) => return Ok((listener, path)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < 16 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Gives the socket to `group` (a gid or a name from /etc/group) and makes it
/// group read/writable, like go-plugin does for `PLUGIN_UNIX_SOCKET_GROUP`.
fn set_socket_group(path: &Path, group: &str) -> io::Result<()> {
    let gid = match group.parse::<u32>() {
        Ok(gid) => gid,
        Err(_) => lookup_group(group)?,
    };
    std::os::unix::fs::chown(path, None, Some(gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
}

fn lookup_group(name: &str) -> io::Result<u32> {
    let groups = std::fs::read_to_string("/etc/group")?;
    groups
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let n = fields.next()?;
            let gid = fields.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(gid)
        })
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no group {name:?}")))
}

/// Removes the socket file when dropped.
struct SocketGuard(PathBuf);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => ::log::debug!("removed plugin socket {}", self.0.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => ::log::warn!("could not remove socket {}: {e}", self.0.display()),
        }
    }
}

// ---------------------------------------------------------------------------
// AutoMTLS
// ---------------------------------------------------------------------------

/// Server side of go-plugin AutoMTLS: a freshly generated server certificate
/// (Ed25519, SAN/CN `localhost`) and a rustls config (aws-lc-rs, ALPN `h2`)
/// that accepts only the client certificate(s) Terraform passed in
/// `PLUGIN_CLIENT_CERT`, compared byte for byte.
///
/// Ed25519 because the key is made at every start, before the handshake line: generating and
/// self-signing a P-256 key cost about 0.4 ms there (aws-lc's large base-point tables are cold
/// in a fresh process); Go's TLS client accepts any key type it supports, Ed25519 included.
/// The rustls config is built by [`Self::server_config`], after the handshake line is out.
pub struct ServerTlsSetup {
    server_cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    pinned: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for ServerTlsSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("ServerTlsSetup")
            .field("server_cert_len", &self.server_cert.len())
            .field("pinned", &self.pinned.len())
            .finish_non_exhaustive()
    }
}

impl ServerTlsSetup {
    /// From the PEM text of `PLUGIN_CLIENT_CERT` (one or more certificates).
    pub fn from_client_cert_pem(pem: &[u8]) -> Result<Self, ServeError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServeError::InvalidClientCert(e.to_string()))?;
        Self::from_client_certs(certs)
    }

    /// From the DER client certificate(s) to pin.
    pub fn from_client_certs(pinned: Vec<CertificateDer<'static>>) -> Result<Self, ServeError> {
        if pinned.is_empty() {
            return Err(ServeError::InvalidClientCert(
                "no certificate found".to_owned(),
            ));
        }
        let key =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(ServeError::CertGen)?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .map_err(ServeError::CertGen)?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "localhost");
        dn.push(rcgen::DnType::OrganizationName, "HashiCorp");
        params.distinguished_name = dn;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.self_signed(&key).map_err(ServeError::CertGen)?;
        Ok(ServerTlsSetup {
            server_cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            pinned,
        })
    }

    /// DER of our server certificate (goes into the handshake line).
    pub fn server_cert_der(&self) -> &CertificateDer<'static> {
        &self.server_cert
    }

    /// The rustls server configuration: our certificate, the pinned client certificate(s)
    /// required, ALPN `h2`.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, ServeError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = PinnedClientCert {
            pinned: self.pinned.clone(),
            algorithms: provider.signature_verification_algorithms,
        };
        let key_der = PrivateKeyDer::Pkcs8(self.key.clone_key());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(ServeError::Tls)?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(vec![self.server_cert.clone()], key_der)
            .map_err(ServeError::Tls)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Accepts exactly the pinned client certificate(s). webpki's verifier cannot
/// be used: Terraform's client certificate is a CA certificate, which webpki
/// refuses as an end-entity certificate.
#[derive(Debug)]
struct PinnedClientCert {
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            Ok(ClientCertVerified::assertion())
        } else {
            ::log::warn!("refused a TLS client certificate that is not PLUGIN_CLIENT_CERT");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

/// An accepted connection, plaintext or TLS.
enum Conn {
    Plain(UnixStream),
    Tls(Box<tokio_rustls::server::TlsStream<UnixStream>>),
}

impl Connected for Conn {
    type ConnectInfo = UdsConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        match self {
            Conn::Plain(s) => s.connect_info(),
            Conn::Tls(s) => s.get_ref().0.connect_info(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Accepts connections forever; TLS handshakes each run in their own task so
/// a bad client cannot stall or end the stream of connections.
async fn accept_loop(
    listener: UnixListener,
    acceptor: Option<TlsAcceptor>,
    tx: mpsc::Sender<io::Result<Conn>>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                ::log::warn!("accepting a connection failed: {e}");
                // e.g. EMFILE: don't spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        match &acceptor {
            None => {
                if tx.send(Ok(Conn::Plain(stream))).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => {
                            let _ = tx.send(Ok(Conn::Tls(Box::new(tls)))).await;
                        }
                        Ok(Err(e)) => ::log::warn!("TLS handshake failed: {e}"),
                        Err(_) => ::log::warn!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------
// gRPC services
// ---------------------------------------------------------------------------

/// `plugin.GRPCController`: `Shutdown` stops the server.
struct Controller {
    stop: Arc<watch::Sender<bool>>,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(
        &self,
        _request: tonic::Request<tfplugin_proto::plugin::Empty>,
    ) -> Result<tonic::Response<tfplugin_proto::plugin::Empty>, tonic::Status> {
        ::log::debug!("GRPCController.Shutdown called");
        self.stop.send_replace(true);
        Ok(tonic::Response::new(tfplugin_proto::plugin::Empty {}))
    }
}

/// Serves `provider` on an already bound `listener` (TLS if `tls` is set)
/// until `GRPCController.Shutdown` is called or `shutdown` completes. The
/// services are `tfplugin6.Provider` (256 MiB message limits),
/// `plugin.GRPCController` and `grpc.health.v1.Health` (`"plugin"` =
/// SERVING). Does not print anything and does not remove the socket file.
pub async fn serve_on<P, F>(
    provider: P,
    listener: UnixListener,
    tls: Option<ServerTlsSetup>,
    shutdown: F,
) -> Result<(), ServeError>
where
    P: Provider,
    F: Future<Output = ()>,
{
    let acceptor = match tls {
        Some(tls) => Some(TlsAcceptor::from(tls.server_config()?)),
        None => None,
    };
    let stop = Arc::new(watch::channel(false).0);

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;

    let provider = ProviderServer::new(provider)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let controller = GrpcControllerServer::new(Controller {
        stop: Arc::clone(&stop),
    });

    let (tx, rx) = mpsc::channel(16);
    let accept_task = tokio::spawn(accept_loop(listener, acceptor, tx));

    let mut stop_rx = stop.subscribe();
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(controller)
        .add_service(provider)
        .serve_with_incoming_shutdown(ReceiverStream::new(rx), async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
        });
    tokio::pin!(server);
    tokio::pin!(shutdown);

    let mut external_done = false;
    let result = loop {
        let mut grace_rx = stop.subscribe();
        tokio::select! {
            res = &mut server => break res.map_err(ServeError::Transport),
            () = &mut shutdown, if !external_done => {
                external_done = true;
                ::log::debug!("shutdown requested");
                stop.send_replace(true);
            }
            _ = async move {
                let _ = grace_rx.wait_for(|stopped| *stopped).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                ::log::debug!("graceful shutdown took too long; stopping anyway");
                break Ok(());
            }
        }
    };
    accept_task.abort();
    drop(health_reporter);
    result
}

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

fn not_launched_message(opts: &ServeOptions) -> String {
    let exe = std::env::args()
        .next()
        .unwrap_or_else(|| "terraform-provider".to_owned());
    format!(
        "This binary is a plugin for Terraform (provider {addr}).\n\
         It is not meant to be run directly: Terraform starts it itself when you run\n\
         commands such as `terraform plan` or `terraform apply`.\n\
         \n\
         To debug the provider, run `{exe} --debug`: it will print a\n\
         TF_REATTACH_PROVIDERS=... value; set it in the shell where you run Terraform.\n",
        addr = opts.provider_address,
    )
}

fn print_stdout(text: &str) -> Result<(), ServeError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| ServeError::io("writing to stdout", e))
}

fn socket_dir_from_env() -> Option<PathBuf> {
    std::env::var_os(ENV_SOCKET_DIR)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// Serves `provider` the way go-plugin does. Returns when Terraform calls
/// `GRPCController.Shutdown` (or on SIGTERM; in debug mode on SIGINT or
/// SIGTERM). On [`ServeError::NotLaunchedByTerraform`] a message for humans
/// has already been printed; exit with status 1.
///
/// `make_provider` runs after the handshake line is printed: building every schema takes
/// time that Terraform would otherwise wait for (its connection waits in the listen backlog).
pub async fn serve<P, M>(make_provider: M, opts: ServeOptions) -> Result<(), ServeError>
where
    P: Provider,
    M: FnOnce() -> P,
{
    use tokio::signal::unix::{signal, SignalKind};

    if opts.debug {
        return serve_debug(make_provider(), &opts).await;
    }

    if std::env::var(MAGIC_COOKIE_KEY).ok().as_deref() != Some(MAGIC_COOKIE_VALUE) {
        eprint!("{}", not_launched_message(&opts));
        return Err(ServeError::NotLaunchedByTerraform);
    }
    let version = negotiate_protocol(std::env::var(ENV_PROTOCOL_VERSIONS).ok().as_deref())?;

    // Like go-plugin: ignore SIGINT (Ctrl-C reaches the whole process group;
    // Terraform calls StopProvider itself). Installing a handler replaces the
    // default "terminate" action; we just log and drop the signals.
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| ServeError::io("installing SIGINT handler", e))?;
    let sigint_task = tokio::spawn(async move {
        while sigint.recv().await.is_some() {
            ::log::debug!("ignoring SIGINT");
        }
    });
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| ServeError::io("installing SIGTERM handler", e))?;

    let tls = match std::env::var(ENV_CLIENT_CERT) {
        Ok(pem) if !pem.trim().is_empty() => {
            Some(ServerTlsSetup::from_client_cert_pem(pem.as_bytes())?)
        }
        Ok(_) | Err(std::env::VarError::NotPresent) => {
            ::log::warn!("{ENV_CLIENT_CERT} not set: serving plaintext gRPC");
            None
        }
        Err(e) => return Err(ServeError::InvalidClientCert(e.to_string())),
    };

    let (listener, path) = bind_unix_socket(socket_dir_from_env().as_deref())
        .map_err(|e| ServeError::io("creating the plugin unix socket", e))?;
    let _guard = SocketGuard(path.clone());
    if let Some(group) = std::env::var(ENV_SOCKET_GROUP)
        .ok()
        .filter(|g| !g.is_empty())
    {
        set_socket_group(&path, &group)
            .map_err(|e| ServeError::io(format!("setting socket group {group:?}"), e))?;
    }

    let line = handshake_line(
        version,
        "unix",
        &path.to_string_lossy(),
        tls.as_ref().map(|t| t.server_cert_der().as_ref()),
    );
    print_stdout(&format!("{line}\n"))?;
    ::log::debug!("plugin server listening on {}", path.display());

    let result = serve_on(make_provider(), listener, tls, async move {
        sigterm.recv().await;
        ::log::info!("SIGTERM received, shutting down");
    })
    .await;
    sigint_task.abort();
    result
}

async fn serve_debug<P>(provider: P, opts: &ServeOptions) -> Result<(), ServeError>
where
    P: Provider,
{
    use tokio::signal::unix::{signal, SignalKind};

    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| ServeError::io("installing SIGINT handler", e))?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| ServeError::io("installing SIGTERM handler", e))?;

    let (listener, path) = bind_unix_socket(socket_dir_from_env().as_deref())
        .map_err(|e| ServeError::io("creating the plugin unix socket", e))?;
    let _guard = SocketGuard(path.clone());

    let json = reattach_config(&opts.provider_address, std::process::id(), &path);
    print_stdout(&format!(
        "Provider started in debug mode (plaintext gRPC on {path}).\n\
         To attach Terraform, set this in the shell where you run it:\n\
         \n\
         \tTF_REATTACH_PROVIDERS='{json}'\n\
         \n\
         Stop the provider with Ctrl-C.\n",
        path = path.display(),
    ))?;

    serve_on(provider, listener, None, async move {
        tokio::select! {
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
        }
        ::log::info!("signal received, shutting down");
    })
    .await
}
