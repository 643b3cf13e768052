//! Start-up benchmark: from exec to the handshake line (with `PLUGIN_CLIENT_CERT` set, so the
//! provider generates its TLS certificate as it does under Terraform), then the resident memory
//! after a `GetProviderSchema` over the real mTLS connection, then `GRPCController.Shutdown`.
//!
//! It measures `$STACK_PROVIDER_BIN`: `scripts/test.sh` passes the release artifact
//! (`cargo xtask artifact`, statically linked on Linux), the binary users install. Without it,
//! `target/release/terraform-provider-stack` (the dynamic `cargo build --release`).
//! Run with `cargo bench -p terraform-provider-stack --bench startup`.
//! Targets: start-up ≤ 3 ms median, RSS ≤ 8 MiB.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use tf_framework::testing::{
    client_config, parse_handshake, terraform_like_client_cert, tls_channel, BoxError, TlsVersion,
};
use tfplugin_proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplugin_proto::tfplugin6::provider_client::ProviderClient;

const RUNS: usize = 40;

fn provider_bin() -> PathBuf {
    std::env::var_os("STACK_PROVIDER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/release/terraform-provider-stack")
        })
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn one_run(
    cert_pem: &str,
    client: &tf_framework::testing::ClientCert,
) -> Result<(Duration, u64), BoxError> {
    let start = Instant::now();
    let mut child = Command::new(provider_bin())
        .env(
            "TF_PLUGIN_MAGIC_COOKIE",
            tf_framework::transport::MAGIC_COOKIE_VALUE,
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_CLIENT_CERT", cert_pem)
        .env_remove("TF_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let startup = start.elapsed();
    let hs = parse_handshake(&line)?;
    let server_cert = CertificateDer::from(hs.server_cert.ok_or("no server cert in handshake")?);
    let config = client_config(&server_cert, Some(client), TlsVersion::Default)?;
    let channel = tls_channel(
        std::path::Path::new(&hs.address),
        config,
        Arc::new(Mutex::new(None)),
    )
    .await?;
    let schema = ProviderClient::new(channel.clone())
        .get_provider_schema(tfplugin_proto::tfplugin6::get_provider_schema::Request {})
        .await?
        .into_inner();
    if schema.resource_schemas.is_empty() {
        return Err("schema has no resources".into());
    }
    let rss = rss_kib(child.id()).ok_or("no VmRSS")?;
    GrpcControllerClient::new(channel)
        .shutdown(tfplugin_proto::plugin::Empty {})
        .await?;
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("provider exited with {status}").into());
    }
    Ok((startup, rss))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() -> Result<(), BoxError> {
    if std::env::args().any(|a| a == "--list") {
        println!("startup: benchmark");
        return Ok(());
    }
    let bin = provider_bin();
    if !bin.exists() {
        return Err(format!(
            "{} not found: run `cargo build --release --locked` first",
            bin.display()
        )
        .into());
    }
    println!("measuring {}", bin.display());
    let client = terraform_like_client_cert()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // One warm-up run so the binary is in the page cache.
    rt.block_on(one_run(&client.pem, &client))?;
    let mut times = Vec::with_capacity(RUNS);
    let mut rss = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let (t, r) = rt.block_on(one_run(&client.pem, &client))?;
        times.push(t.as_secs_f64() * 1000.0);
        rss.push(r as f64 / 1024.0);
    }
    times.sort_by(f64::total_cmp);
    rss.sort_by(f64::total_cmp);
    let (t50, t90, tmin) = (percentile(&times, 0.5), percentile(&times, 0.9), times[0]);
    let (r50, rmax) = (percentile(&rss, 0.5), rss[rss.len() - 1]);
    println!("startup (exec -> handshake line, AutoMTLS), {RUNS} runs: median {t50:.2} ms, p90 {t90:.2} ms, min {tmin:.2} ms (target <= 3 ms: {})", if t50 <= 3.0 { "met" } else { "MISSED" });
    println!("resident memory after GetProviderSchema: median {r50:.2} MiB, max {rmax:.2} MiB (target <= 8 MiB: {})", if r50 <= 8.0 { "met" } else { "MISSED" });
    Ok(())
}
