//! `stack_vault_audit` end to end: a file device that really logs, replacement on change, drift,
//! import, destroy; bad options refused at plan; and on an OpenBao that forbids API-created audit
//! devices, a diagnostic whose declarative `audit` block is proven to work by starting a server
//! with it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use stack_acceptance_tests::{random_name, Bao, BaoOptions, PlanOutcome};

use crate::common::{api, workdir, PROVIDER};

fn config(path: &str, file: &Path, description: &str) -> String {
    format!(
        r#"{PROVIDER}
resource "stack_vault_audit" "a" {{
  path        = "{path}"
  type        = "file"
  description = "{description}"
  options = {{
    file_path = "{file}"
    mode      = "0600"
  }}
}}
"#,
        file = file.display()
    )
}

/// The audit file lives in a temp dir; the device is disabled before the dir goes away, even when
/// the test panics, because a device that cannot write blocks every request on the shared server.
struct AuditDir {
    bao: &'static Bao,
    path: String,
    dir: tempfile::TempDir,
}

impl AuditDir {
    fn new(bao: &'static Bao, path: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("acc-audit-")
            .tempdir()
            .expect("temp dir");
        AuditDir {
            bao,
            path: path.to_string(),
            dir,
        }
    }
    fn file(&self) -> PathBuf {
        self.dir.path().join("audit.log")
    }
}

impl Drop for AuditDir {
    fn drop(&mut self) {
        let _ = self
            .bao
            .request("DELETE", &format!("/v1/sys/audit/{}", self.path), None);
    }
}

fn remote_device(bao: &Bao, path: &str) -> Option<serde_json::Value> {
    let r = api(bao, "GET", "/v1/sys/audit", None);
    assert!(
        r.is_success(),
        "list audit devices: {} {}",
        r.status,
        r.body
    );
    let data = r.json().expect("json")["data"].clone();
    data.get(format!("{path}/")).cloned()
}

/// Waits until the audit file has a line that contains every needle.
fn wait_for_audit_line(file: &Path, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no audit line with {needles:?} in {}:\n{}",
            file.display(),
            text.chars().rev().take(2000).collect::<String>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Terraform wraps long diagnostic lines: compare with whitespace squashed.
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn vault_audit_lifecycle() {
    let bao = Bao::shared();
    let path = random_name("acc-audit");
    let dir = AuditDir::new(bao, &path);
    let file = dir.file();
    let tf = workdir(bao);
    tf.write_config(&config(&path, &file, "first"));
    tf.init();
    tf.apply();
    tf.assert_plan_empty();

    let device = remote_device(bao, &path).expect("device enabled");
    assert_eq!(device["type"], json!("file"));
    assert_eq!(device["description"], json!("first"));
    assert_eq!(
        device["options"],
        json!({"file_path": file.display().to_string(), "mode": "0600"})
    );
    let state = tf.state_json();
    let attrs = &state["resources"][0]["instances"][0]["attributes"];
    assert_eq!(attrs["id"], json!(path));
    assert_eq!(attrs["local"], json!(false));

    // The device logs: a request made now shows up with its path and operation, its secret HMAC'd.
    let marker = random_name("acc-audit-marker");
    let secret_value = random_name("audit-secret-value");
    let r = api(
        bao,
        "POST",
        &format!("/v1/secret/data/{marker}"),
        Some(json!({"data": {"v": secret_value}})),
    );
    assert!(r.is_success(), "{}", r.body);
    let line = wait_for_audit_line(
        &file,
        &[
            &format!("\"path\":\"secret/data/{marker}\""),
            "\"operation\":\"create\"",
            "\"type\":\"request\"",
        ],
    );
    assert!(line.contains("hmac-sha256:"), "{line}");
    let all = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        !all.contains(&secret_value),
        "secret values are HMAC'd in the audit log"
    );
    assert!(
        !all.contains(&bao.token),
        "tokens are HMAC'd in the audit log"
    );
    api(
        bao,
        "DELETE",
        &format!("/v1/secret/metadata/{marker}"),
        None,
    );

    // Vault cannot change a device: any change replaces it.
    tf.write_config(&config(&path, &file, "second"));
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(
            out.contains("must be replaced") && out.contains("1 to add, 0 to change, 1 to destroy"),
            "{out}"
        ),
        PlanOutcome::NoChanges => panic!("a new description must replace the device"),
    }
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        remote_device(bao, &path).expect("re-enabled")["description"],
        json!("second")
    );

    // Disappears: an out-of-band disable plans a create.
    let r = api(bao, "DELETE", &format!("/v1/sys/audit/{path}"), None);
    assert!(r.is_success(), "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to add"), "{out}"),
        PlanOutcome::NoChanges => panic!("a disabled device must be re-created"),
    }
    tf.apply();
    tf.assert_plan_empty();
    assert!(remote_device(bao, &path).is_some());

    // Import by path into a fresh workdir: nothing to change.
    let tf2 = workdir(bao);
    tf2.write_config(&config(&path, &file, "second"));
    tf2.init();
    tf2.import("stack_vault_audit.a", &path);
    tf2.assert_plan_empty();
    let state = tf2.state_json();
    let attrs = &state["resources"][0]["instances"][0]["attributes"];
    assert_eq!(attrs["path"], json!(path));
    assert_eq!(attrs["type"], json!("file"));

    // A second device at the same path is refused with a pointer to import.
    let tf3 = workdir(bao);
    tf3.write_config(&config(&path, &file, "second"));
    tf3.init();
    let err = tf3.apply_expect_error();
    assert!(
        flat(&err).contains("already enabled") && flat(&err).contains("terraform import"),
        "{err}"
    );

    tf.destroy();
    assert!(
        remote_device(bao, &path).is_none(),
        "destroy disables the device"
    );
}

#[test]
fn vault_audit_bad_input_fails_at_plan() {
    let bao = Bao::shared();
    let path = random_name("acc-audit-bad");
    let tf = workdir(bao);
    let cases = [
        (
            format!("type = \"file\"\n  options = {{ file_path = \"/tmp/x.log\", log_raw = \"yes\" }}\n  path = \"{path}\""),
            "`log_raw` must be",
        ),
        (
            format!("type = \"file\"\n  options = {{ mode = \"0600\" }}\n  path = \"{path}\""),
            "needs `file_path`",
        ),
        (
            format!("type = \"kafka\"\n  path = \"{path}\""),
            "is not one of: file, socket, syslog",
        ),
        (
            format!("type = \"file\"\n  options = {{ file_path = \"/tmp/x.log\" }}\n  path = \"{path}/\""),
            "must not start or end with",
        ),
        (
            format!("type = \"socket\"\n  options = {{ prefix = \"x\" }}\n  path = \"{path}\""),
            "`prefix` option",
        ),
    ];
    tf.write_config(PROVIDER);
    tf.init();
    for (body, expected) in cases {
        tf.write_config(&format!(
            "{PROVIDER}\nresource \"stack_vault_audit\" \"a\" {{\n  {body}\n}}\n"
        ));
        let err = tf.plan_expect_error();
        assert!(flat(&err).contains(expected), "{expected:?} not in:\n{err}");
    }
    assert!(remote_device(bao, &path).is_none(), "nothing was enabled");
}

/// The `audit "<type>" "<path>" { ... }` block quoted in a Terraform diagnostic, without the
/// `│ ` frame Terraform draws around it.
fn quoted_block(output: &str, header: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(|l| {
            l.trim_start_matches('│')
                .strip_prefix(' ')
                .unwrap_or(l.trim_start_matches('│'))
        })
        .collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(header))
        .unwrap_or_else(|| panic!("no {header:?} in:\n{output}"));
    let end = lines[start..]
        .iter()
        .position(|l| *l == "}")
        .unwrap_or_else(|| panic!("unterminated block in:\n{output}"));
    lines[start..=start + end].join("\n") + "\n"
}

#[test]
fn vault_audit_api_creation_disabled_explains_declarative_config() {
    // Default options: no `unsafe_allow_api_audit_creation`, as in production.
    let bao = Bao::start_with(BaoOptions::default());
    let path = "team/audit";
    let dir = tempfile::Builder::new()
        .prefix("acc-audit-decl-")
        .tempdir()
        .expect("temp dir");
    let file = dir.path().join("declared.log");
    let tf = stack_acceptance_tests::TfWorkdir::new().envs(bao.env());
    tf.write_config(&format!(
        r#"{PROVIDER}
resource "stack_vault_audit" "a" {{
  path        = "{path}"
  type        = "file"
  description = "declared \"by\" config"
  local       = true
  options = {{
    file_path = "{file}"
    log_raw   = "false"
  }}
}}
"#,
        file = file.display()
    ));
    tf.init();
    let err = tf.apply_expect_error();
    // Terraform wraps long diagnostic lines.
    let flat = flat(&err);
    assert!(
        flat.contains("cannot be enabled through the API")
            && flat.contains("cannot enable audit device via API")
            && flat.contains("unsafe_allow_api_audit_creation = true")
            && flat.contains("remove this resource from the Terraform configuration"),
        "{err}"
    );
    let r = api(&bao, "GET", "/v1/sys/audit", None);
    assert_eq!(
        r.json().expect("json")["data"],
        json!({}),
        "nothing was enabled"
    );
    assert!(tf.state_json()["resources"]
        .as_array()
        .is_none_or(|r| r.is_empty()));

    // The block in the diagnostic is what the server accepts: start one with it as its config.
    let block = quoted_block(&err, "audit \"file\" \"team/audit\" {");
    assert!(
        block.contains(&format!("file_path = \"{}\"", file.display())),
        "{block}"
    );
    let declared = Bao::start_with(BaoOptions {
        extra_config: Some(block.clone()),
        ..BaoOptions::default()
    });
    let r = api(&declared, "GET", "/v1/sys/audit", None);
    let device = r.json().expect("json")["data"]["team/audit/"].clone();
    assert_eq!(
        device,
        json!({
            "type": "file",
            "path": "team/audit/",
            "description": "declared \"by\" config",
            "local": true,
            "options": {"file_path": file.display().to_string(), "log_raw": "false"}
        }),
        "declared from:\n{block}"
    );
    // The declared device logs requests.
    api(&declared, "GET", "/v1/sys/mounts", None);
    wait_for_audit_line(&file, &["\"path\":\"sys/mounts\""]);
    drop(declared);
}
