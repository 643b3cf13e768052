//! `stack-devstack up [--env-file PATH] [--consul auto|sim|real] [--nomad auto|sim|real]
//! [--acl bootstrapped|fresh|off] [--postgres]`
//!
//! Starts OpenBao, Consul and Nomad (real binaries when on PATH with `auto`, else the
//! simulators) and, with `--postgres`, PostgreSQL; writes the `export` lines; runs until
//! SIGINT/SIGTERM, then stops every child and removes its data.

use std::path::PathBuf;
use std::process::ExitCode;

use stack_devstack::stack::{AclMode, Stack, UpOptions};

const USAGE: &str = "usage: stack-devstack up [--env-file PATH] [--consul auto|sim|real] [--nomad auto|sim|real] [--acl bootstrapped|fresh|off] [--postgres]";

struct Cli {
    env_file: Option<PathBuf>,
    up: UpOptions,
}

fn parse_args(args: &[String]) -> Result<Cli, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("up") => {}
        Some("-h" | "--help" | "help") => return Err(String::new()),
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("missing command".to_string()),
    }
    // The command line's default is `--acl bootstrapped` (the interface);
    // `UpOptions::default()` keeps ACLs off for in-process callers.
    let mut cli = Cli {
        env_file: None,
        up: UpOptions {
            acl: AclMode::Bootstrapped,
            ..UpOptions::default()
        },
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match flag {
            "--env-file" => cli.env_file = Some(PathBuf::from(value(flag)?)),
            "--consul" => {
                cli.up.consul = value(flag)?.parse().map_err(|e| format!("--consul: {e}"))?
            }
            "--nomad" => {
                cli.up.nomad = Some(value(flag)?.parse().map_err(|e| format!("--nomad: {e}"))?)
            }
            "--acl" => {
                cli.up.acl = value(flag)?
                    .parse::<AclMode>()
                    .map_err(|e| format!("--acl: {e}"))?
            }
            "--postgres" if inline.is_none() => cli.up.postgres = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    Ok(cli)
}

async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    // A signal during start-up drops the half-started stack (children are killed on drop,
    // data dirs removed).
    let stack = tokio::select! {
        r = Stack::up(&cli.up) => r?,
        _ = wait_for_signal() => {
            eprintln!("stack-devstack: interrupted during start-up");
            return Ok(());
        }
    };
    let exports = stack.export_lines();
    match &cli.env_file {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &exports) {
                stack.down().await;
                return Err(format!("writing {}: {e}", path.display()));
            }
        }
        None => print!("{exports}"),
    }
    eprintln!("stack-devstack: stack is up");
    for line in stack.summary() {
        eprintln!("  {line}");
    }
    if let Some(path) = &cli.env_file {
        eprintln!("  env    {} (source it)", path.display());
    }
    eprintln!("stack-devstack: press Ctrl-C (or send SIGTERM) to stop");
    wait_for_signal().await;
    eprintln!("stack-devstack: stopping");
    stack.down().await;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cli = match parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("stack-devstack: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stack-devstack: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stack-devstack: {e}");
            ExitCode::FAILURE
        }
    }
}
