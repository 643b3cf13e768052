//! In-process tests of the go-plugin transport: handshake pieces, AutoMTLS
//! with a Terraform-like P-521 CA client certificate, health, Shutdown.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use tf_framework::testing::{
    client_config, plain_channel, terraform_like_client_cert, tls_channel, BoxError, ClientCert,
    TlsVersion,
};
use tf_framework::transport::{
    bind_unix_socket, handshake_line, negotiate_protocol, reattach_config, serve, serve_on,
    ServeError, ServeOptions, ServerTlsSetup, APP_PROTOCOL_VERSION, MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
};
use tfplugin_proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplugin_proto::tfplugin6::provider_client::ProviderClient;
use tfplugin_proto::tfplugin6::provider_server::Provider;
use tokio::io::AsyncBufReadExt as _;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// A provider that implements nothing (every RPC answers Unimplemented).
struct NoopProvider;

#[tonic::async_trait]
impl Provider for NoopProvider {}

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
    let config = client_config(server_cert, client, version)?;
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
    assert_eq!(
        negotiate_protocol(None).expect("none"),
        APP_PROTOCOL_VERSION
    );
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
    let client = terraform_like_client_cert().expect("client cert");
    let server = TestServer::start(Some(&client.pem)).await;
    let server_cert = server.server_cert.clone().expect("server cert");

    // The handshake line would carry this cert; it must be usable as a root
    // for "localhost" (that is what the Go client checks).
    let alpn = Arc::new(Mutex::new(None));
    let channel = tls_channel(
        &server.path,
        client_config(&server_cert, Some(&client), TlsVersion::Default).expect("client config"),
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
    let client = terraform_like_client_cert().expect("client cert");
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
    let pinned = terraform_like_client_cert().expect("client cert");
    let other = terraform_like_client_cert().expect("client cert");
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
    let pinned = terraform_like_client_cert().expect("client cert");
    let mut server = TestServer::start(Some(&pinned.pem)).await;

    for version in [TlsVersion::Default, TlsVersion::Tls12Only] {
        let res = try_health(&server, None, version).await;
        assert!(
            res.is_err(),
            "a client without a certificate must be refused"
        );
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

// ---------------------------------------------------------------------------
// End to end through `serve` (env, stdout, signals), in a child process: the
// test binary re-runs itself with CHILD_ENV set and only `child_process_entry`
// selected.
// ---------------------------------------------------------------------------

const CHILD_ENV: &str = "TF_FRAMEWORK_TRANSPORT_TEST_CHILD";
const ADDRESS: &str = "registry.terraform.io/stack/stack";

/// Not a real test: the body of the child process (does nothing otherwise).
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let opts = ServeOptions {
        provider_address: ADDRESS.to_owned(),
        debug: mode == "debug",
    };
    match rt.block_on(serve(|| NoopProvider, opts)) {
        Ok(()) => std::process::exit(0),
        Err(ServeError::NotLaunchedByTerraform) => std::process::exit(1),
        Err(e) => {
            eprintln!("serve failed: {e}");
            std::process::exit(2)
        }
    }
}

struct Child {
    child: tokio::process::Child,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

fn spawn_child(mode: &str, env: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args([
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, mode)
    .env_remove(MAGIC_COOKIE_KEY)
    .env_remove("PLUGIN_PROTOCOL_VERSIONS")
    .env_remove("PLUGIN_CLIENT_CERT")
    .env_remove("PLUGIN_UNIX_SOCKET_DIR")
    .env_remove("PLUGIN_UNIX_SOCKET_GROUP")
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    Child {
        child,
        stdout: tokio::io::BufReader::new(stdout).lines(),
    }
}

impl Child {
    /// The first stdout line satisfying `pred` (the test harness prints its
    /// own lines around ours).
    async fn line_matching(&mut self, pred: impl Fn(&str) -> bool) -> String {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let line = self
                    .stdout
                    .next_line()
                    .await
                    .expect("read stdout")
                    .expect("child stdout closed before the expected line");
                // With one test thread, libtest prints "test NAME ... " and
                // no newline before running it, so our first line follows it.
                let line = line
                    .strip_prefix("test child_process_entry ... ")
                    .map(str::to_owned)
                    .unwrap_or(line);
                if pred(&line) {
                    return line;
                }
            }
        })
        .await
        .expect("no expected line on stdout within 30 s")
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("child pid");
        let status = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    async fn wait(mut self) -> (std::process::ExitStatus, String) {
        let mut stderr = self.child.stderr.take().expect("stderr");
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("child did not exit within 10 s")
            .expect("wait child");
        let mut err = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err)
            .await
            .expect("read stderr");
        (status, err)
    }
}

#[tokio::test]
async fn serve_end_to_end_with_automtls() {
    let client = terraform_like_client_cert().expect("client cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_str = dir.path().to_str().expect("utf-8 tempdir");
    let mut child = spawn_child(
        "serve",
        &[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
            ("PLUGIN_CLIENT_CERT", &client.pem),
            ("PLUGIN_UNIX_SOCKET_DIR", dir_str),
        ],
    );
    let line = child.line_matching(|l| l.starts_with("1|")).await;
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 6, "{line}");
    assert_eq!(&fields[..3], &["1", "6", "unix"]);
    assert_eq!(fields[4], "grpc");
    let path = PathBuf::from(fields[3]);
    assert_eq!(path.parent(), Some(dir.path()));
    assert!(path.exists());
    assert!(fields[5].len() > 50, "server cert expected: {line}");
    let cert = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(fields[5])
        .expect("cert field");
    let server_cert = CertificateDer::from(cert);

    let channel = tls_channel(
        &path,
        client_config(&server_cert, Some(&client), TlsVersion::Default).expect("client config"),
        Arc::new(Mutex::new(None)),
    )
    .await
    .expect("connect");
    assert_eq!(
        health_check(channel.clone()).await.expect("health"),
        ServingStatus::Serving
    );

    // SIGINT is ignored (Terraform sends StopProvider itself).
    child.signal("-INT");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        health_check(channel.clone())
            .await
            .expect("health after SIGINT"),
        ServingStatus::Serving
    );

    GrpcControllerClient::new(channel)
        .shutdown(tfplugin_proto::plugin::Empty {})
        .await
        .expect("Shutdown");
    let (status, stderr) = child.wait().await;
    assert!(status.success(), "{status}: {stderr}");
    assert!(!path.exists(), "socket file must be removed");
}

#[tokio::test]
async fn serve_plaintext_without_client_cert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_str = dir.path().to_str().expect("utf-8 tempdir");
    let mut child = spawn_child(
        "serve",
        &[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "6"),
            ("PLUGIN_UNIX_SOCKET_DIR", dir_str),
        ],
    );
    let line = child.line_matching(|l| l.starts_with("1|")).await;
    assert!(line.ends_with("|grpc|"), "{line}");
    let path = PathBuf::from(line.split('|').nth(3).expect("address"));
    let channel = plain_channel(&path).await.expect("connect");
    GrpcControllerClient::new(channel)
        .shutdown(tfplugin_proto::plugin::Empty {})
        .await
        .expect("Shutdown");
    let (status, stderr) = child.wait().await;
    assert!(status.success(), "{status}: {stderr}");
    assert!(!path.exists());
}

#[tokio::test]
async fn serve_without_cookie_explains_and_exits_1() {
    let child = spawn_child("serve", &[("PLUGIN_PROTOCOL_VERSIONS", "5,6")]);
    let (status, stderr) = child.wait().await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("plugin for Terraform"), "{stderr}");
    assert!(stderr.contains("--debug"), "{stderr}");
}

#[tokio::test]
async fn serve_refuses_when_6_is_not_offered() {
    let child = spawn_child(
        "serve",
        &[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "5"),
        ],
    );
    let (status, stderr) = child.wait().await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("protocol"), "{stderr}");
}

#[tokio::test]
async fn serve_debug_prints_reattach_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_str = dir.path().to_str().expect("utf-8 tempdir");
    let mut child = spawn_child("debug", &[("PLUGIN_UNIX_SOCKET_DIR", dir_str)]);
    let line = child
        .line_matching(|l| l.contains("TF_REATTACH_PROVIDERS='"))
        .await;
    let json = line
        .split_once("TF_REATTACH_PROVIDERS='")
        .and_then(|(_, rest)| rest.strip_suffix('\''))
        .expect("quoted JSON");
    let v: serde_json::Value = serde_json::from_str(json).expect("reattach JSON");
    let p = &v[ADDRESS];
    assert_eq!(p["Test"], true);
    assert_eq!(p["ProtocolVersion"], 6);
    assert_eq!(p["Pid"], child.child.id().expect("pid"));
    let path = PathBuf::from(p["Addr"]["String"].as_str().expect("addr"));
    assert!(path.exists());

    let channel = plain_channel(&path).await.expect("connect");
    assert_eq!(
        health_check(channel).await.expect("health"),
        ServingStatus::Serving
    );

    child.signal("-TERM");
    let (status, stderr) = child.wait().await;
    assert!(status.success(), "{status}: {stderr}");
    assert!(!path.exists(), "socket file must be removed");
}
