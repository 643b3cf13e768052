//! `stack_vault_policy` end to end: create, empty plan, whitespace, update, drift, disappears,
//! import (CLI, `import {}` by ID and by identity), bad HCL at plan time, destroy.

use serde_json::json;
use stack_acceptance_tests::{random_name, tools, Bao, PlanOutcome, TfWorkdir};

use crate::common::{api, workdir, PROVIDER};

fn config(name: &str, policy: &str) -> String {
    format!(
        "{PROVIDER}\nresource \"stack_vault_policy\" \"p\" {{\n  name   = \"{name}\"\n  policy = <<-EOT\n{policy}\nEOT\n}}\n"
    )
}

const READ: &str = "path \"secret/data/app/*\" {\n  capabilities = [\"read\"]\n}";
const READ_SPACED: &str =
    "path   \"secret/data/app/*\"   {\n\n    capabilities = [\"read\"]\n\n}\n";
const READ_LIST: &str = "path \"secret/data/app/*\" {\n  capabilities = [\"read\", \"list\"]\n}";

fn remote_policy(bao: &Bao, name: &str) -> Option<String> {
    let r = api(bao, "GET", &format!("/v1/sys/policies/acl/{name}"), None);
    if r.status == 404 {
        return None;
    }
    assert!(r.is_success(), "read policy: {} {}", r.status, r.body);
    let j = r.json().expect("policy json");
    j["data"]["policy"].as_str().map(str::to_string)
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn vault_policy_lifecycle() {
    let bao = Bao::shared();
    let name = random_name("acc-policy");
    let tf = workdir(bao);
    tf.write_config(&config(&name, READ));
    tf.init();
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        squash(&remote_policy(bao, &name).expect("created")),
        squash(READ)
    );
    let state = tf.state_json();
    let attrs = &state["resources"][0]["instances"][0]["attributes"];
    assert_eq!(attrs["id"], json!(name));

    // Whitespace-only edits are not a change.
    tf.write_config(&config(&name, READ_SPACED));
    tf.assert_plan_empty();

    // A real edit is an in-place update.
    tf.write_config(&config(&name, READ_LIST));
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to change"), "{out}"),
        PlanOutcome::NoChanges => panic!("an edited policy must plan an update"),
    }
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        squash(&remote_policy(bao, &name).expect("updated")),
        squash(READ_LIST)
    );

    // Drift: an out-of-band edit shows as an update, and apply puts it back.
    let r = api(
        bao,
        "PUT",
        &format!("/v1/sys/policies/acl/{name}"),
        Some(json!({"policy": READ})),
    );
    assert!(r.is_success(), "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to change"), "{out}"),
        PlanOutcome::NoChanges => panic!("out-of-band edit must be drift"),
    }
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        squash(&remote_policy(bao, &name).expect("restored")),
        squash(READ_LIST)
    );

    // Disappears: an out-of-band delete plans a create.
    let r = api(bao, "DELETE", &format!("/v1/sys/policies/acl/{name}"), None);
    assert!(r.is_success(), "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to add"), "{out}"),
        PlanOutcome::NoChanges => panic!("deleted policy must be re-created"),
    }
    tf.apply();
    tf.assert_plan_empty();

    // Renaming replaces.
    let renamed = format!("{name}-b");
    tf.write_config(&config(&renamed, READ_LIST));
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("must be replaced"), "{out}"),
        PlanOutcome::NoChanges => panic!("rename must replace"),
    }
    tf.apply();
    assert!(
        remote_policy(bao, &name).is_none(),
        "old policy removed on replace"
    );
    assert!(remote_policy(bao, &renamed).is_some());

    tf.destroy();
    assert!(
        remote_policy(bao, &renamed).is_none(),
        "destroy removes the policy"
    );
}

#[test]
fn vault_policy_import() {
    let bao = Bao::shared();
    let name = random_name("acc-import");
    let r = api(
        bao,
        "PUT",
        &format!("/v1/sys/policies/acl/{name}"),
        Some(json!({"policy": READ})),
    );
    assert!(r.is_success(), "{}", r.body);

    // terraform import <addr> <id>
    let tf = workdir(bao);
    tf.write_config(&config(&name, READ_SPACED));
    tf.init();
    tf.import("stack_vault_policy.p", &name);
    tf.assert_plan_empty();
    let state = tf.state_json();
    assert_eq!(
        state["resources"][0]["instances"][0]["attributes"]["name"],
        json!(name)
    );

    // import {} block by ID
    let tf2 = workdir(bao);
    tf2.write_config(&format!(
        "{}\nimport {{\n  to = stack_vault_policy.p\n  id = \"{name}\"\n}}\n",
        config(&name, READ)
    ));
    tf2.init();
    match tf2.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to import"), "{out}"),
        PlanOutcome::NoChanges => panic!("import block must plan an import"),
    }
    tf2.apply();
    tf2.assert_plan_empty();

    // import {} block by resource identity
    let tf3 = workdir(bao);
    tf3.write_config(&format!(
        "{}\nimport {{\n  to       = stack_vault_policy.p\n  identity = {{ name = \"{name}\" }}\n}}\n",
        config(&name, READ)
    ));
    tf3.init();
    tf3.apply();
    tf3.assert_plan_empty();
    let state = tf3.state_json();
    assert_eq!(
        state["resources"][0]["instances"][0]["identity"]["name"],
        json!(name)
    );

    tf.destroy();
    assert!(remote_policy(bao, &name).is_none());
}

#[test]
fn vault_policy_bad_hcl_fails_at_plan_and_writes_nothing() {
    let bao = Bao::shared();
    let name = random_name("acc-bad");
    let tf = workdir(bao);
    tf.write_config(&config(
        &name,
        "path \"secret/*\" {\n  capabilities = [\"read\"\n",
    ));
    tf.init();
    let err = tf.plan_expect_error();
    assert!(err.contains("Invalid policy HCL"), "{err}");
    // Terraform shows the attribute at fault when the diagnostic has a path.
    assert!(
        err.contains("policy = <<-EOT"),
        "diagnostic must point at `policy`: {err}"
    );

    tf.write_config(&config(
        &name,
        "path \"secret/*\" {\n  capabilities = [\"reed\"]\n}",
    ));
    let err = tf.apply_expect_error();
    assert!(
        err.contains("invalid capability") && err.contains("\"reed\""),
        "{err}"
    );
    assert!(
        remote_policy(bao, &name).is_none(),
        "nothing may be written"
    );
}

#[test]
fn vault_policy_missing_vault_config_names_the_setting() {
    let tf = TfWorkdir::new()
        .env("VAULT_ADDR", "")
        .env("BAO_ADDR", "")
        .env("VAULT_TOKEN", "x");
    tf.write_config(&config("nowhere", READ));
    tf.init();
    let err = tf.apply_expect_error();
    assert!(err.contains("VAULT_ADDR"), "{err}");
}

#[test]
fn vault_policy_no_token_in_logs() {
    let bao = Bao::shared();
    let name = random_name("acc-log");
    let tf = workdir(bao).env("TF_LOG", "trace");
    tf.write_config(&config(&name, READ));
    tf.init();
    let out = tf.apply();
    let logs = out.combined();
    assert!(
        logs.contains("provider.terraform-provider-stack") || logs.contains("ApplyResourceChange"),
        "provider logs must reach Terraform's log"
    );
    assert!(
        !logs.contains(&bao.token),
        "the Vault token leaked into the log"
    );
    let destroy = tf.destroy();
    assert!(!destroy.combined().contains(&bao.token));
}

/// The older Terraform on PATH (1.11 on some machines) must work too.
#[test]
fn vault_policy_smoke_with_system_terraform() {
    let Some(system_tf) = tools::system_terraform() else {
        eprintln!("no other terraform on PATH: smoke with the launcher's Terraform only");
        return;
    };
    let bao = Bao::shared();
    let name = random_name("acc-smoke");
    let tf = TfWorkdir::with_terraform(system_tf).envs(bao.env());
    assert!(tf.version().contains("Terraform v"), "{}", tf.version());
    // dev_overrides need no `init`; Terraform 1.11's init would look the provider up in the registry.
    tf.write_config(&config(&name, READ));
    tf.apply();
    tf.assert_plan_empty();
    let tf2 = TfWorkdir::with_terraform(tf.terraform_path().to_path_buf()).envs(bao.env());
    tf2.write_config(&config(&name, READ));
    tf2.import("stack_vault_policy.p", &name);
    tf2.assert_plan_empty();
    tf.destroy();
    assert!(remote_policy(bao, &name).is_none());
}

/// A provider whose Vault address is unknown at plan time still plans; apply configures it with
/// the known value. The token comes from VAULT_TOKEN, the address from configuration.
#[test]
fn vault_policy_provider_config_unknown_at_plan() {
    let bao = Bao::shared();
    let name = random_name("acc-unknown");
    let tf = TfWorkdir::new().env("VAULT_TOKEN", &bao.token);
    tf.write_config(&format!(
        r#"
terraform {{
  required_providers {{
    stack = {{ source = "stack/stack" }}
  }}
}}
resource "terraform_data" "vault_addr" {{
  input = "{addr}"
}}
provider "stack" {{
  vault {{
    address = terraform_data.vault_addr.output
  }}
}}
resource "stack_vault_policy" "p" {{
  name   = "{name}"
  policy = "path \"a/*\" {{ capabilities = [\"read\"] }}"
}}
"#,
        addr = bao.addr
    ));
    tf.init();
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("2 to add"), "{out}"),
        PlanOutcome::NoChanges => panic!("expected a plan"),
    }
    tf.apply();
    assert!(remote_policy(bao, &name).is_some());
    tf.assert_plan_empty();
    tf.destroy();
    assert!(remote_policy(bao, &name).is_none());
}
