//! Proves the harness itself works, without our provider: the shared OpenBao
//! dev server, and Terraform (launcher, and a system `terraform` if present)
//! on a builtin `terraform_data` resource.

use std::path::PathBuf;

use stack_acceptance_tests::{random_name, tools, Bao, PlanOutcome, TfWorkdir};

const CONFIG: &str = r#"
resource "terraform_data" "smoke" {
  input = "hello"
}

output "echo" {
  value = terraform_data.smoke.output
}
"#;

fn terraform_data_lifecycle(wd: &TfWorkdir) {
    wd.write_config(CONFIG);
    wd.init();
    match wd.plan_detailed() {
        PlanOutcome::Changes(plan) => assert!(
            plan.contains("terraform_data.smoke will be created"),
            "unexpected plan:\n{plan}"
        ),
        PlanOutcome::NoChanges => panic!("plan before apply should have changes"),
    }
    wd.apply_with(&["-parallelism=20"]);
    assert_eq!(wd.plan_detailed(), PlanOutcome::NoChanges);
    wd.assert_plan_empty();

    let show = wd.show_json();
    assert_eq!(
        show["values"]["outputs"]["echo"]["value"], "hello",
        "{show:#}"
    );
    let resources = show["values"]["root_module"]["resources"]
        .as_array()
        .expect("resources array");
    assert_eq!(resources[0]["address"], "terraform_data.smoke");
    let id = resources[0]["values"]["id"]
        .as_str()
        .expect("id string")
        .to_string();

    let state = wd.state_json();
    assert_eq!(state["resources"][0]["type"], "terraform_data", "{state:#}");

    // Import round trip: forget the resource, import it again by id.
    wd.run_ok(&["state", "rm", "-no-color", "terraform_data.smoke"]);
    wd.import("terraform_data.smoke", &id);
    let state = wd.state_json();
    assert_eq!(
        state["resources"][0]["instances"][0]["attributes"]["id"],
        id.as_str()
    );
    // terraform_data import leaves `input` null, so the plan shows an update.
    assert!(matches!(wd.plan_detailed(), PlanOutcome::Changes(_)));
    wd.apply();

    wd.destroy();
    let state = wd.state_json();
    assert_eq!(
        state["resources"].as_array().map(Vec::len),
        Some(0),
        "{state:#}"
    );
}

#[test]
fn launcher_terraform_runs_terraform_data_lifecycle() {
    let wd = TfWorkdir::new();
    let version = wd.version();
    assert!(version.starts_with("Terraform v1.15."), "{version}");
    terraform_data_lifecycle(&wd);
}

#[test]
fn launcher_terraform_reports_errors() {
    let wd = TfWorkdir::new();
    wd.write_config("resource \"terraform_data\" \"bad\" {\n  nope = 1\n}\n");
    let err = wd.plan_expect_error();
    assert!(err.contains("Unsupported argument"), "{err}");
    let err = wd.apply_expect_error();
    assert!(err.contains("Unsupported argument"), "{err}");
}

#[test]
fn system_terraform_runs_terraform_data_lifecycle() {
    let Some(tf) = tools::system_terraform() else {
        eprintln!("no system terraform on PATH besides the launcher; nothing to check");
        return;
    };
    let wd = TfWorkdir::with_terraform(tf);
    eprintln!("system terraform: {}", wd.version());
    terraform_data_lifecycle(&wd);
}

#[test]
fn provider_dir_is_next_to_the_test_profile() {
    let dir: PathBuf = tools::provider_dir();
    assert!(dir.is_absolute(), "{}", dir.display());
    if std::env::var_os(tools::PROVIDER_BIN_ENV).is_none() {
        let profile = std::env::current_exe()
            .expect("current_exe")
            .parent()
            .and_then(|d| d.parent())
            .map(|d| std::fs::canonicalize(d).expect("canonicalize"))
            .expect("profile dir");
        assert_eq!(dir, profile);
    }
}

#[test]
fn shared_bao_is_initialized_and_unsealed() {
    let bao = Bao::shared();
    let health = bao.health().expect("health");
    assert_eq!(health["initialized"], true, "{health}");
    assert_eq!(health["sealed"], false, "{health}");
    assert!(std::ptr::eq(bao, Bao::shared()));

    let me = bao
        .request("GET", "/v1/auth/token/lookup-self", None)
        .expect("lookup-self");
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json().expect("json");
    assert_eq!(me["data"]["policies"][0], "root", "{me}");
}

#[test]
fn shared_bao_allows_api_audit_devices() {
    let bao = Bao::shared();
    let path = random_name("smoke-audit");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("audit.log");
    let body = serde_json::json!({
        "type": "file",
        "options": { "file_path": file.to_string_lossy() }
    });
    let r = bao
        .request("POST", &format!("/v1/sys/audit/{path}"), Some(&body))
        .expect("enable audit");
    assert_eq!(r.status, 204, "{}", r.body);
    let r = bao
        .request("DELETE", &format!("/v1/sys/audit/{path}"), None)
        .expect("disable audit");
    assert_eq!(r.status, 204, "{}", r.body);
}

#[test]
fn own_bao_stops_restarts_and_dies_on_drop() {
    let bao = Bao::start_dev();
    let port = bao.port;
    let pid = bao.pid().expect("pid");
    assert!(bao.is_running());

    bao.stop();
    assert!(!bao.is_running());
    assert!(bao.health().is_err(), "server still answers after stop");

    bao.start();
    assert_eq!(bao.port, port);
    assert_ne!(bao.pid(), Some(pid));
    assert_eq!(bao.health().expect("health")["sealed"], false);

    // Default options: API audit creation stays blocked.
    let r = bao
        .request(
            "POST",
            "/v1/sys/audit/x",
            Some(&serde_json::json!({"type": "file", "options": {"file_path": "/dev/null"}})),
        )
        .expect("audit request");
    assert_eq!(r.status, 400, "{}", r.body);

    let addr = bao.addr.clone();
    drop(bao);
    let r = stack_acceptance_tests::http_request(
        &addr,
        "GET",
        "/v1/sys/health",
        &[],
        None,
        std::time::Duration::from_secs(1),
    );
    assert!(r.is_err(), "server still answers after drop");
}
