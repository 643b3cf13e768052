//! Start-up benchmark of `stack-devstack up`: `Stack::up` until every component is healthy,
//! for the default stack (OpenBao + Consul simulator + Nomad simulator, ACLs bootstrapped)
//! and with `--postgres`. Prints median, p90 and min per configuration, and when each
//! component became healthy (median), so it shows where the time goes.
//!
//! `DEVSTACK_BENCH_RUNS` sets the runs per configuration (default 7). The first
//! `--postgres` start may initialise PostgreSQL's template cluster; it is a warm-up run
//! and not counted. Needs `.tools/bin/bao` (or `BAO_BIN`) and Debian's PostgreSQL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use stack_devstack::consul::{ConsulSim, SimOptions};
use stack_devstack::nomad::{NomadSim, NomadSimOptions};
use stack_devstack::stack::{AclMode, Provide, Stack, UpOptions};

/// The target for a healthy stack.
const TARGET: Duration = Duration::from_secs(3);

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

async fn measure(name: &str, opts: &UpOptions, runs: usize) -> Result<Duration, String> {
    // Warm-up (also creates PostgreSQL's template cluster on a fresh machine).
    let warm = Instant::now();
    Stack::up(opts).await?.down().await;
    println!("{name}: warm-up run {}", ms(warm.elapsed()));

    let mut totals = Vec::with_capacity(runs);
    let mut parts: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for _ in 0..runs {
        let t = Instant::now();
        let stack = Stack::up(opts).await?;
        totals.push(t.elapsed());
        for (k, d) in stack.timings() {
            parts.entry(k.clone()).or_default().push(*d);
        }
        stack.down().await;
    }
    totals.sort();
    let median = quantile(&totals, 0.5);
    println!(
        "{name}: {runs} runs to a healthy stack: median {}, p90 {}, min {}, max {}",
        ms(median),
        ms(quantile(&totals, 0.9)),
        ms(totals[0]),
        ms(totals[totals.len() - 1])
    );
    for (k, mut v) in parts {
        v.sort();
        println!("  {k:<13} healthy after (median) {}", ms(quantile(&v, 0.5)));
    }
    let verdict = if median < TARGET { "under" } else { "OVER" };
    println!("  median is {verdict} the {} target", ms(TARGET));
    Ok(median)
}

/// How long the in-process simulators take to start (they run beside OpenBao's start-up).
async fn simulators(runs: usize) -> Result<(), String> {
    let mut consul = Vec::new();
    let mut nomad = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let h = ConsulSim::start(SimOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        consul.push(t.elapsed());
        h.shutdown().await;
        let t = Instant::now();
        let h = NomadSim::start(NomadSimOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        nomad.push(t.elapsed());
        h.shutdown().await;
    }
    consul.sort();
    nomad.sort();
    println!(
        "simulators: ConsulSim::start median {}, NomadSim::start median {} ({runs} runs)",
        ms(quantile(&consul, 0.5)),
        ms(quantile(&nomad, 0.5))
    );
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters configurations by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let runs = std::env::var("DEVSTACK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(7);
    let default = UpOptions {
        consul: Provide::Sim,
        nomad: Some(Provide::Sim),
        acl: AclMode::Bootstrapped,
        postgres: false,
    };
    let configs = [
        ("default", default.clone()),
        (
            "postgres",
            UpOptions {
                postgres: true,
                ..default
            },
        ),
    ];
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: runtime: {e}");
            std::process::exit(1);
        }
    };
    let mut failed = false;
    if filter.as_deref().is_none_or(|f| "simulators".contains(f)) {
        if let Err(e) = rt.block_on(simulators(runs)) {
            eprintln!("bench simulators: {e}");
            failed = true;
        }
    }
    for (name, opts) in &configs {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        if let Err(e) = rt.block_on(measure(name, opts, runs)) {
            eprintln!("bench {name}: {e}");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
