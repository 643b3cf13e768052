//! The provider binary itself: run by hand, and served in `--debug` reattach mode.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stack_acceptance_tests::{random_name, tools, Bao, TfWorkdir};

use crate::common::{api, PROVIDER};

#[test]
fn run_by_hand_explains_and_exits_1() {
    let out = Command::new(tools::require_provider_bin())
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()
        .expect("run provider");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Terraform") && err.contains("--debug"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout when not launched by Terraform"
    );
}

/// `--debug` prints a TF_REATTACH_PROVIDERS value; Terraform then uses the running provider.
#[test]
fn debug_mode_reattach_applies() {
    let bao = Bao::shared();
    let mut cmd = tools::command_with_pdeathsig(tools::require_provider_bin(), "KILL");
    cmd.arg("--debug")
        .envs(bao.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // Bound to the test process, so a failed assertion does not leave it running.
    let mut child = tools::spawn_bound_to_process(cmd).expect("start provider --debug");
    let stdout = child.stdout.take().expect("stdout");
    let mut reattach = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read line");
        if let Some(rest) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            reattach = Some(rest.trim_end_matches('\'').to_string());
            break;
        }
        assert!(Instant::now() < deadline, "no reattach line");
    }
    let reattach = reattach.expect("TF_REATTACH_PROVIDERS line");
    let parsed: serde_json::Value = serde_json::from_str(&reattach).expect("reattach JSON");
    let cfg = &parsed["registry.terraform.io/stack/stack"];
    assert_eq!(cfg["ProtocolVersion"], 6);
    assert_eq!(cfg["Test"], true);

    let name = random_name("acc-debug");
    // The provider process has its own VAULT_* settings; Terraform needs none.
    let tf = TfWorkdir::new().env("TF_REATTACH_PROVIDERS", &reattach);
    tf.write_config(&format!(
        "{PROVIDER}\nresource \"stack_vault_policy\" \"p\" {{\n  name   = \"{name}\"\n  policy = \"path \\\"a/*\\\" {{ capabilities = [\\\"read\\\"] }}\"\n}}\n"
    ));
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        api(bao, "GET", &format!("/v1/sys/policies/acl/{name}"), None).status,
        200
    );
    tf.destroy();
    assert_eq!(
        api(bao, "GET", &format!("/v1/sys/policies/acl/{name}"), None).status,
        404
    );
    let _ = child.kill();
    let _ = child.wait();
}
