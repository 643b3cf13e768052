//! Integration tests against a real OpenBao dev server.
//!
//! The server binary comes from `BAO_BIN` or `<repo>/.tools/bin/bao` (installed
//! by `scripts/setup-tools.sh`). If neither exists the tests fail; they never
//! skip. Servers run on free loopback ports with a random root token, under
//! `setpriv --pdeathsig KILL` so they die with the test process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stack_core::vault::{MountConfigInput, MountRequest, MountTuneRequest};
use stack_core::{Error, RetryPolicy, Secret, TlsConfig, VaultClient, VaultConfig};
use tokio::sync::OnceCell;

/// A running `bao server -dev`.
struct BaoServer {
    address: String,
    token: String,
    dir: PathBuf,
    child: Mutex<Child>,
}

impl Drop for BaoServer {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bao_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("BAO_BIN").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "BAO_BIN={} does not exist; install OpenBao or unset BAO_BIN",
            bin.display()
        );
        return bin;
    }
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/bao");
    assert!(
        bin.exists(),
        "OpenBao binary not found: set BAO_BIN or run scripts/setup-tools.sh to install {}",
        bin.display()
    );
    bin
}

/// `target/tmp/stack-core-bao`, pruned of directories older than an hour: the
/// shared server is never dropped (it dies with the process), so its log stays.
fn servers_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stack-core-bao");
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > Duration::from_secs(3600)));
            if old {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    root
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn random_id(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(len)
        .collect::<String>()
        .to_lowercase()
}

/// Spawns `command` from a thread that lives until the process exits, so
/// the parent-death signal fires when the test process ends, not when the
/// spawning test thread does.
fn spawn_detached(mut command: Command) -> Child {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(command.spawn());
        loop {
            std::thread::park();
        }
    });
    rx.recv()
        .expect("spawner thread")
        .unwrap_or_else(|e| panic!("cannot start `setpriv ... bao server -dev`: {e}"))
}

async fn start_bao(tls: bool) -> BaoServer {
    let bin = bao_bin();
    let port = free_port();
    // Custom root token ids must not use the reserved `s.` prefix.
    let token = format!("root-{}", random_id(24));
    let dir = servers_dir().join(format!("{port}-{}", random_id(6)));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let log = std::fs::File::create(dir.join("bao.log")).expect("create log");
    let mut command = Command::new("setpriv");
    command
        .args(["--pdeathsig", "KILL", "--"])
        .arg(&bin)
        .args(["server", "-dev", "-dev-no-store-token"])
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .arg(format!("-dev-root-token-id={token}"))
        .env("HOME", &dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log);
    if tls {
        command
            .arg("-dev-tls")
            .arg(format!("-dev-tls-cert-dir={}", dir.display()));
    }
    let child = spawn_detached(command);
    let scheme = if tls { "https" } else { "http" };
    let server = BaoServer {
        address: format!("{scheme}://127.0.0.1:{port}"),
        token,
        dir,
        child: Mutex::new(child),
    };
    server.wait_ready(tls).await;
    server
}

impl BaoServer {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bao.log")).unwrap_or_default()
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join("vault-ca.pem")
    }

    async fn wait_ready(&self, tls: bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.lock().expect("child lock").try_wait() {
                panic!(
                    "bao server exited early with {status}; log:\n{}",
                    self.log()
                );
            }
            if !tls || self.ca_file().exists() {
                let mut config = VaultConfig::new(&self.address);
                config.retry = RetryPolicy::none();
                config.timeout = Duration::from_secs(2);
                if tls {
                    config.tls.ca_cert_file = Some(self.ca_file());
                }
                if let Ok(client) = VaultClient::new(config) {
                    if client.health().await.is_ok_and(|h| h.is_active()) {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "bao server at {} not ready after 60 s; log:\n{}",
                self.address,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn config(&self) -> VaultConfig {
        let mut config = VaultConfig::new(&self.address).with_token(self.token.as_str());
        config.timeout = Duration::from_secs(10);
        config
    }

    fn client(&self) -> VaultClient {
        VaultClient::new(self.config()).expect("client")
    }
}

static SHARED: OnceCell<BaoServer> = OnceCell::const_new();

async fn shared() -> &'static BaoServer {
    SHARED.get_or_init(|| start_bao(false)).await
}

fn prefix() -> String {
    format!("stack-{}", random_id(8))
}

const POLICY_V1: &str = r#"path "secret/data/web/*" { capabilities = ["read"] }"#;
const POLICY_V2: &str = "path \"secret/data/web/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n";

#[tokio::test]
async fn acl_policy_lifecycle() {
    let bao = shared().await;
    let vault = bao.client();
    let name = format!("{}-web", prefix());

    assert_eq!(vault.read_acl_policy(&name).await.expect("read"), None);
    vault
        .write_acl_policy(&name, POLICY_V1)
        .await
        .expect("write");
    let policy = vault
        .read_acl_policy(&name)
        .await
        .expect("read")
        .expect("policy exists");
    assert_eq!(policy.name, name);
    assert_eq!(policy.policy, POLICY_V1);
    assert!(vault
        .list_acl_policies()
        .await
        .expect("list")
        .contains(&name));

    vault
        .write_acl_policy(&name, POLICY_V2)
        .await
        .expect("update");
    let policy = vault
        .read_acl_policy(&name)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(policy.policy, POLICY_V2, "policy text is returned verbatim");

    vault.delete_acl_policy(&name).await.expect("delete");
    assert_eq!(vault.read_acl_policy(&name).await.expect("read"), None);
    assert!(!vault
        .list_acl_policies()
        .await
        .expect("list")
        .contains(&name));
    vault.delete_acl_policy(&name).await.expect("delete twice");
}

#[tokio::test]
async fn acl_policy_names_are_lowercased_and_encoded() {
    let bao = shared().await;
    let vault = bao.client();
    let p = prefix();

    // The server lowercases names; reads are case-insensitive.
    let upper = format!("{p}-MixedCase");
    vault
        .write_acl_policy(&upper, POLICY_V1)
        .await
        .expect("write");
    let policy = vault
        .read_acl_policy(&upper)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(policy.name, upper.to_lowercase());
    vault.delete_acl_policy(&upper).await.expect("delete");

    // Spaces, `?` and `#` are percent-encoded, `/` stays a separator.
    let odd = format!("{p} a?b#c/d");
    vault
        .write_acl_policy(&odd, POLICY_V1)
        .await
        .expect("write odd");
    let policy = vault
        .read_acl_policy(&odd)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(policy.name, odd);
    assert!(vault
        .list_acl_policies()
        .await
        .expect("list")
        .contains(&odd));
    vault.delete_acl_policy(&odd).await.expect("delete odd");
    assert_eq!(vault.read_acl_policy(&odd).await.expect("read"), None);
}

#[tokio::test]
async fn acl_policy_errors() {
    let bao = shared().await;
    let vault = bao.client();

    let err = vault
        .write_acl_policy(&format!("{}-bad", prefix()), "path {")
        .await
        .expect_err("invalid HCL");
    assert_eq!(err.status(), Some(400));
    assert!(err.errors()[0].contains("failed to parse policy"), "{err}");

    let err = vault
        .write_acl_policy("root", POLICY_V1)
        .await
        .expect_err("root is read-only");
    assert_eq!(err.status(), Some(400));

    // A wrong token: 403, and the token never shows in the error.
    let mut config = bao.config();
    config.token = Some(Secret::new("s.SECRET123"));
    let bad = VaultClient::new(config).expect("client");
    let err = bad.read_acl_policy("default").await.expect_err("forbidden");
    assert!(err.is_forbidden(), "{err}");
    let text = format!("{err} | {err:?} | {} | {bad:?}", err.report());
    assert!(!text.contains("SECRET123"), "{text}");
    assert!(!text.contains(&bao.token), "{text}");
    assert!(text.contains(&bao.address), "{text}");
}

#[tokio::test]
async fn namespaces_scope_policies() {
    let bao = shared().await;
    let root = bao.client();
    let ns = prefix();
    root.write(&format!("sys/namespaces/{ns}"), &serde_json::json!({}))
        .await
        .expect("create namespace");

    let in_ns = root.with_namespace(Some(&ns)).expect("namespace client");
    let name = format!("{ns}-pol");
    in_ns
        .write_acl_policy(&name, POLICY_V1)
        .await
        .expect("write in namespace");
    assert!(in_ns.read_acl_policy(&name).await.expect("read").is_some());
    assert_eq!(
        root.read_acl_policy(&name).await.expect("read in root"),
        None
    );

    // A namespace that does not exist is an error, not a missing policy.
    let missing = root
        .with_namespace(Some(&format!("{ns}-missing")))
        .expect("client");
    let err = missing
        .read_acl_policy(&name)
        .await
        .expect_err("no namespace");
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("namespace not found"), "{err}");

    in_ns.delete_acl_policy(&name).await.expect("delete");
}

#[tokio::test]
async fn mount_lifecycle() {
    let bao = shared().await;
    let vault = bao.client();
    let path = format!("{}/kv", prefix());

    assert_eq!(vault.read_mount(&path).await.expect("read"), None);
    let mut request = MountRequest::new("kv");
    request.description = Some("team secrets".into());
    request.options = Some([("version".to_owned(), "2".to_owned())].into());
    request.config = Some(MountConfigInput {
        default_lease_ttl: Some("1h".into()),
        max_lease_ttl: Some("2h".into()),
        ..Default::default()
    });
    vault.enable_mount(&path, &request).await.expect("enable");

    let mount = vault
        .read_mount(&path)
        .await
        .expect("read")
        .expect("mounted");
    assert_eq!(mount.mount_type, "kv");
    assert_eq!(mount.description, "team secrets");
    assert_eq!(
        mount
            .options
            .as_ref()
            .and_then(|o| o.get("version"))
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(mount.config.default_lease_ttl, 3600);
    assert_eq!(mount.config.max_lease_ttl, 7200);
    assert!(!mount.accessor.is_empty());
    let mounts = vault.list_mounts().await.expect("list");
    assert!(
        mounts.contains_key(&format!("{path}/")),
        "keys end with a slash"
    );
    assert!(mounts.contains_key("sys/"));

    // Mounting twice: OpenBao 2.7 answers 400 "path is already in use", not 409.
    let err = vault
        .enable_mount(&path, &MountRequest::new("kv"))
        .await
        .expect_err("double mount");
    assert!(err.is_conflict(), "{err}");
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("path is already in use"), "{err}");
    // Below an existing mount too.
    let err = vault
        .enable_mount(&format!("{path}/sub"), &MountRequest::new("kv"))
        .await
        .expect_err("nested mount");
    assert!(err.is_conflict(), "{err}");
    // GET sys/mounts/<path>/sub would answer with the parent mount; read_mount does not.
    assert_eq!(
        vault
            .read_mount(&format!("{path}/sub"))
            .await
            .expect("read"),
        None
    );

    let tune = MountTuneRequest {
        description: Some("tuned".into()),
        config: MountConfigInput {
            max_lease_ttl: Some("3h".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    vault.tune_mount(&path, &tune).await.expect("tune");
    let mount = vault
        .read_mount(&path)
        .await
        .expect("read")
        .expect("mounted");
    assert_eq!(mount.description, "tuned");
    assert_eq!(mount.config.max_lease_ttl, 3 * 3600);
    assert_eq!(mount.config.default_lease_ttl, 3600);

    vault.disable_mount(&path).await.expect("disable");
    assert_eq!(vault.read_mount(&path).await.expect("read"), None);
    vault.disable_mount(&path).await.expect("disable twice");

    let err = vault
        .enable_mount(
            &format!("{}-x", prefix()),
            &MountRequest::new("no-such-engine"),
        )
        .await
        .expect_err("unknown type");
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_conflict());
}

#[tokio::test]
async fn health_and_token_lookup() {
    let bao = shared().await;
    let vault = bao.client();
    let health = vault.health().await.expect("health");
    assert!(health.initialized && !health.sealed && !health.standby);
    assert!(health.is_active());
    assert!(!health.version.is_empty());
    assert!(health.cluster_name.is_some());

    let info = vault.token_lookup_self().await.expect("lookup-self");
    assert_eq!(info.policies, ["root"]);
    assert_eq!(info.ttl, 0);
    assert!(!info.accessor.is_empty());
    assert!(!format!("{info:?}").contains(&bao.token));
}

#[tokio::test]
async fn tls_is_verified() {
    let bao = start_bao(true).await;
    let ca_file = bao.ca_file();

    // No CA configured: the dev CA is not trusted. TLS errors are not retried.
    let started = Instant::now();
    let err = bao
        .client()
        .health()
        .await
        .expect_err("untrusted certificate");
    assert!(matches!(err, Error::Transport { .. }), "{}", err.report());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(err.to_string().contains("tls handshake failed"), "{err}");
    assert!(err.report().contains("UnknownIssuer"), "{}", err.report());
    assert!(!err.report().contains(&bao.token));

    let mut config = bao.config();
    config.tls.ca_cert_file = Some(ca_file.clone());
    let vault = VaultClient::new(config).expect("client");
    assert!(vault.health().await.expect("health").is_active());
    assert_eq!(
        vault.token_lookup_self().await.expect("lookup").policies,
        ["root"]
    );

    let mut config = bao.config();
    config.tls.ca_cert_pem = Some(std::fs::read_to_string(&ca_file).expect("read ca"));
    // The server does not ask for a client certificate; this checks that a
    // certificate and key load from files and the handshake still works.
    config.tls.client_cert_file = Some(bao.dir.join("vault-cert.pem"));
    config.tls.client_key_file = Some(bao.dir.join("vault-key.pem"));
    VaultClient::new(config)
        .expect("client with identity")
        .health()
        .await
        .expect("health");

    let mut config = bao.config();
    config.tls = TlsConfig {
        skip_verify: true,
        ..TlsConfig::default()
    };
    VaultClient::new(config)
        .expect("client")
        .health()
        .await
        .expect("skip_verify accepts the dev certificate");
}
