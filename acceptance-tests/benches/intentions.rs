//! Benchmark (#5): apply 50 `stack_consul_intention` edges on one destination with
//! `-parallelism=20`. All 50 must end up in the config entry, and the apply may take no more
//! than 1.5 × the apply of 50 `terraform_data` resources plus the API round trips (each edge
//! reads and writes the entry: two round trips, measured against the same server).
//!
//! `cargo bench -p stack-acceptance-tests --bench intentions`.

use std::time::{Duration, Instant};

use stack_acceptance_tests::{http_request, random_name, Acl, Bao, Consul, TfWorkdir};

const PROVIDER: &str = "terraform {\n  required_providers {\n    stack = { source = \"stack/stack\" }\n  }\n}\nprovider \"stack\" {}\n";
const EDGES: usize = 50;

fn timed(tf: &TfWorkdir) -> Duration {
    tf.init();
    let started = Instant::now();
    let out = tf.apply_with(&["-parallelism=20"]);
    let took = started.elapsed();
    assert!(out.success(), "{}", out.combined());
    took
}

fn main() {
    let bao = Bao::shared();
    let consul = Consul::start(Acl::Off);

    let data = TfWorkdir::new().envs(bao.env());
    data.write_config(&format!("{PROVIDER}\nresource \"terraform_data\" \"e\" {{\n  count = {EDGES}\n  input = \"svc-${{count.index}}\"\n}}\n"));
    let baseline = timed(&data);

    let dest = random_name("dest");
    let edges = TfWorkdir::new().envs(bao.env()).envs(consul.env());
    edges.write_config(&format!(
        "{PROVIDER}\nresource \"stack_consul_intention\" \"e\" {{\n  count       = {EDGES}\n  source      = \"svc-${{count.index}}\"\n  destination = \"{dest}\"\n  action      = \"allow\"\n}}\n"
    ));
    let took = timed(&edges);

    let r = consul.request(
        "GET",
        &format!("/v1/config/service-intentions/{dest}"),
        None,
        None,
    );
    let sources = r.json().expect("entry")["Sources"]
        .as_array()
        .map_or(0, Vec::len);

    // One API round trip against the same server (a GET of the entry), median of 50.
    let mut rtts: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            let _ = http_request(
                &consul.addr,
                "GET",
                &format!("/v1/config/service-intentions/{dest}"),
                &[],
                None,
                Duration::from_secs(5),
            );
            t.elapsed()
        })
        .collect();
    rtts.sort();
    let rtt = rtts[rtts.len() / 2];
    let budget = baseline.mul_f64(1.5) + rtt * (2 * EDGES as u32);
    // A benchmark reports; like the start-up benchmark it does not fail the run on a miss.
    // Losing an edge is a correctness failure, though.
    assert_eq!(sources, EDGES, "every edge must end up in the config entry");
    println!(
        "intentions: {EDGES} edges in {:.3} s; {EDGES} terraform_data in {:.3} s; round trip {:.2} ms; budget {:.3} s (target: {}); {sources} sources in the entry",
        took.as_secs_f64(),
        baseline.as_secs_f64(),
        rtt.as_secs_f64() * 1000.0,
        budget.as_secs_f64(),
        if took <= budget { "met" } else { "MISSED" }
    );
    assert!(edges.destroy().success());
}
