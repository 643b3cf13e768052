//! Vault reliability: the provider retries with backoff and jitter while OpenBao is down or
//! sealed, gives up within its bound with a diagnostic naming the address, and a re-run
//! converges without duplicates. Each test owns its OpenBao (`Bao::start_with`), because it
//! stops or seals it; the shared server is never touched.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use stack_acceptance_tests::{random_name, Bao, BaoOptions, TfOutput, TfWorkdir};

use crate::common::{api, workdir};

const POLICY: &str = "path \"secret/data/app/*\" {\n  capabilities = [\"read\"]\n}";

/// A `stack_vault_policy`, with `vault_settings` inside the provider's `vault {}` block
/// (address and token come from the environment).
fn config(name: &str, vault_settings: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    stack = {{ source = "stack/stack" }}
  }}
}}
provider "stack" {{
  vault {{
{vault_settings}
  }}
}}
resource "stack_vault_policy" "p" {{
  name   = "{name}"
  policy = <<-EOT
{POLICY}
EOT
}}
"#
    )
}

/// `LIST /v1/sys/policies/acl`.
fn policies(bao: &Bao) -> Vec<String> {
    let r = api(bao, "LIST", "/v1/sys/policies/acl", None);
    assert!(r.is_success(), "list policies: {} {}", r.status, r.body);
    let j = r.json().expect("policy list json");
    j["data"]["keys"]
        .as_array()
        .expect("data.keys")
        .iter()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect()
}

fn policy_exists(bao: &Bao, name: &str) -> bool {
    let r = api(bao, "GET", &format!("/v1/sys/policies/acl/{name}"), None);
    match r.status {
        200 => true,
        404 => false,
        s => panic!("read policy {name}: {s} {}", r.body),
    }
}

/// Whitespace runs (including Terraform's line wrapping of diagnostics) become one space.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn apply_args() -> [&'static str; 4] {
    ["apply", "-no-color", "-input=false", "-auto-approve"]
}

/// Terraform writes its and the provider's logs to this file (`TF_LOG=debug`, `TF_LOG_PATH`),
/// so the test can watch the retries while the apply is still running.
fn debug_log(tf: &mut TfWorkdir) -> PathBuf {
    let path = tf.root().join("terraform-debug.log");
    tf.set_env("TF_LOG", "debug");
    tf.set_env("TF_LOG_PATH", &path);
    path
}

/// Waits until `path` contains `needle`; panics after `limit`.
fn wait_for_log(path: &Path, needle: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} did not appear in {} within {limit:?}",
            path.display()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The provider's retry warnings from a Terraform debug log.
fn retry_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("[WARN]") && l.contains("retrying in"))
        .collect()
}

/// Dev mode prints its single unseal key in the start-up banner, which can reach the log a
/// moment after the server already answers health checks.
fn unseal_key(bao: &Bao) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let key = bao.log_tail().lines().find_map(|l| {
            l.trim()
                .strip_prefix("Unseal Key:")
                .map(|k| k.trim().to_string())
        });
        if let Some(key) = key {
            return key;
        }
        assert!(
            Instant::now() < deadline,
            "no `Unseal Key:` line in the dev server log:\n{}",
            bao.log_tail()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn assert_ok(out: &TfOutput) {
    assert!(
        out.success(),
        "{} failed ({:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.command,
        out.code,
        out.stdout,
        out.stderr
    );
}

/// OpenBao is down when the apply starts and comes back ~3 s after the first failed attempt:
/// the retries bridge the gap and the apply succeeds.
#[test]
fn vault_outage_within_retry_bound_apply_succeeds() {
    let bao = Bao::start_with(BaoOptions::default());
    let name = random_name("acc-rel-outage");
    let mut tf = workdir(&bao);
    let log_path = debug_log(&mut tf);
    tf.write_config(&config(&name, "    max_retries = 10"));
    tf.init();

    bao.stop();
    assert!(!bao.is_running());
    let first_failure = format!(
        "vault PUT sys/policies/acl/{name} at {}: attempt 1/11 failed (no response)",
        bao.addr
    );
    let apply = thread::scope(|s| {
        let apply = s.spawn(|| tf.run(&apply_args()));
        wait_for_log(&log_path, &first_failure, Duration::from_secs(120));
        thread::sleep(Duration::from_secs(3));
        bao.start();
        apply.join().expect("apply thread")
    });
    assert_ok(&apply);
    assert!(
        apply.duration >= Duration::from_secs(3),
        "the apply waited out the outage"
    );

    let log = std::fs::read_to_string(&log_path).expect("debug log");
    let retries = retry_lines(&log);
    assert!(retries.len() >= 2, "retries while OpenBao was down:\n{log}");
    eprintln!("provider retry log line: {}", retries[0]);
    assert!(
        retries[0].contains("provider.terraform-provider-stack")
            && retries[0].contains(&first_failure),
        "{}",
        retries[0]
    );
    for out in [log.as_str(), &apply.stdout, &apply.stderr] {
        assert!(
            !out.contains(&bao.token),
            "the token leaked into the output"
        );
    }

    assert!(
        policy_exists(&bao, &name),
        "policy created after the outage"
    );
    tf.assert_plan_empty();
    assert_eq!(policies(&bao).iter().filter(|p| **p == name).count(), 1);

    tf.destroy();
    assert!(!policy_exists(&bao, &name), "destroy removes the policy");
}

/// OpenBao stays down: the apply gives up after `VAULT_MAX_RETRIES` + 1 attempts with a
/// diagnostic naming the address; once OpenBao is back, the same apply converges.
#[test]
fn vault_outage_beyond_retry_bound_fails_then_converges() {
    let bao = Bao::start_with(BaoOptions::default());
    let name = random_name("acc-rel-down");
    let mut tf = workdir(&bao);
    tf.write_config(&config(&name, ""));
    tf.init();
    bao.stop();

    let host = format!("127.0.0.1:{}", bao.port);
    for (retries, attempts) in [("0", 1), ("2", 3)] {
        tf.set_env("VAULT_MAX_RETRIES", retries);
        let started = Instant::now();
        let out = tf.apply_expect_error();
        let elapsed = started.elapsed();
        eprintln!("diagnostic with VAULT_MAX_RETRIES={retries}:\n{out}");
        let text = squash(&out);
        assert!(
            text.contains("Unable to create stack_vault_policy"),
            "{out}"
        );
        assert!(
            text.contains(&format!(
                "vault at http://{host} unavailable after {attempts} attempt(s) of PUT sys/policies/acl/{name}"
            )),
            "VAULT_MAX_RETRIES={retries}: {out}"
        );
        assert!(text.contains("could not connect"), "{out}");
        assert!(!out.contains(&bao.token), "the token leaked: {out}");
        // 2 retries wait at most 0.2 s + 0.4 s; the rest is Terraform's own start-up.
        assert!(
            elapsed < Duration::from_secs(60),
            "gave up only after {elapsed:?}"
        );
    }

    // An unusable VAULT_MAX_RETRIES is reported, naming the variable, before any request.
    tf.set_env("VAULT_MAX_RETRIES", "many");
    let out = squash(&tf.apply_expect_error());
    assert!(
        out.contains("Invalid Vault settings") && out.contains("VAULT_MAX_RETRIES"),
        "{out}"
    );
    assert!(!out.contains("attempt(s)"), "no request was sent: {out}");

    // Nothing reached the state: the failed creates recorded nothing.
    let state = tf.state_json();
    let resources = state["resources"].as_array().cloned().unwrap_or_default();
    assert!(resources.is_empty(), "state after failures: {state}");

    tf.set_env("VAULT_MAX_RETRIES", "2");
    bao.start();
    assert!(!policy_exists(&bao, &name));
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        policies(&bao).iter().filter(|p| **p == name).count(),
        1,
        "exactly one policy after the re-run"
    );
    let state = tf.state_json();
    let resources = state["resources"].as_array().cloned().unwrap_or_default();
    assert_eq!(resources.len(), 1, "{state}");
    assert_eq!(resources[0]["instances"].as_array().map(Vec::len), Some(1));

    tf.destroy();
    assert!(!policy_exists(&bao, &name), "destroy removes the policy");
}

/// A sealed OpenBao answers 503 `Vault is sealed`; the apply retries until it is unsealed.
#[test]
fn vault_sealed_then_unsealed_apply_succeeds() {
    let bao = Bao::start_with(BaoOptions::default());
    let unseal_key = unseal_key(&bao);
    let name = random_name("acc-rel-sealed");
    let mut tf = workdir(&bao);
    let log_path = debug_log(&mut tf);
    tf.write_config(&config(&name, "    max_retries = 10"));
    tf.init();

    let r = api(&bao, "PUT", "/v1/sys/seal", None);
    assert_eq!(r.status, 204, "seal: {}", r.body);
    let health = bao.health().expect("health");
    assert_eq!(health["sealed"], serde_json::json!(true), "{health}");

    let first_failure = format!(
        "vault PUT sys/policies/acl/{name} at {}: attempt 1/11 failed (status 503)",
        bao.addr
    );
    let apply = thread::scope(|s| {
        let apply = s.spawn(|| tf.run(&apply_args()));
        wait_for_log(&log_path, &first_failure, Duration::from_secs(120));
        thread::sleep(Duration::from_secs(2));
        let r = api(
            &bao,
            "PUT",
            "/v1/sys/unseal",
            Some(serde_json::json!({ "key": unseal_key })),
        );
        assert_eq!(r.status, 200, "unseal: {}", r.body);
        let j = r.json().expect("unseal json");
        assert_eq!(j["sealed"], serde_json::json!(false), "{j}");
        apply.join().expect("apply thread")
    });
    assert_ok(&apply);

    let log = std::fs::read_to_string(&log_path).expect("debug log");
    let retries = retry_lines(&log);
    assert!(!retries.is_empty(), "retries while sealed:\n{log}");
    eprintln!("provider retry log line: {}", retries[0]);
    for out in [log.as_str(), &apply.stdout, &apply.stderr] {
        assert!(
            !out.contains(&bao.token),
            "the token leaked into the output"
        );
        assert!(
            !out.contains(&unseal_key),
            "the unseal key leaked into the output"
        );
    }

    assert!(policy_exists(&bao, &name), "policy created after unsealing");
    tf.assert_plan_empty();
    tf.destroy();
    assert!(!policy_exists(&bao, &name), "destroy removes the policy");
}

/// Bad retry settings in the `vault {}` block are reported on their attribute at plan time.
#[test]
fn vault_retry_settings_are_validated() {
    let tf = TfWorkdir::new()
        .env("VAULT_ADDR", "http://127.0.0.1:1")
        .env("VAULT_TOKEN", "unused");
    tf.write_config(&config(
        &random_name("acc-rel-bad"),
        "    max_retries = -1\n    timeout     = \"soon\"",
    ));
    tf.init();
    let out = squash(&tf.plan_expect_error());
    assert!(
        out.contains("Invalid max_retries")
            && out.contains("-1 is not a whole number from 0 to 100"),
        "{out}"
    );
    assert!(
        out.contains("Invalid timeout") && out.contains("\"soon\" is not a positive duration"),
        "{out}"
    );
    assert!(
        out.contains("max_retries = -1"),
        "diagnostic points at the attribute: {out}"
    );
}
