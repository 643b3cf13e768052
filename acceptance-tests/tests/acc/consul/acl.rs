//! ACL bootstrap, policies and tokens in one apply from a fresh ACL system, with the
//! management token read from Vault (`token_vault_path`) and never in state.

use serde_json::json;
use stack_acceptance_tests::{random_name, Acl, Bao, Consul, PlanOutcome, TfWorkdir};

use crate::common::{api, workdir};

fn provider(kv_path: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    stack = {{ source = "stack/stack" }}
  }}
}}
provider "stack" {{
  consul {{
    token_vault_path = "secret/{kv_path}"
  }}
}}
"#
    )
}

fn kv_token(bao: &Bao, kv_path: &str) -> Option<(String, String)> {
    let r = api(bao, "GET", &format!("/v1/secret/data/{kv_path}"), None);
    if r.status == 404 {
        return None;
    }
    let j = r.json().expect("kv json");
    let d = &j["data"]["data"];
    Some((
        d["token"].as_str().expect("token").to_string(),
        d["accessor_id"].as_str().expect("accessor").to_string(),
    ))
}

fn consul_workdir(bao: &Bao, consul: &Consul) -> TfWorkdir {
    workdir(bao).envs(consul.env())
}

#[test]
fn consul_acl_bootstrap_policy_token_in_one_apply() {
    let bao = Bao::shared();
    let consul = Consul::start(Acl::Fresh);
    let kv = random_name("bootstrap/consul");
    let token_kv = random_name("tokens/app");
    let policy = random_name("ops");
    let tf = consul_workdir(bao, &consul);
    let config = |rules: &str| {
        format!(
            r#"{}
resource "stack_consul_acl_bootstrap" "this" {{
  vault_kv_path = "{kv}"
}}
resource "stack_consul_acl_policy" "ops" {{
  depends_on  = [stack_consul_acl_bootstrap.this]
  name        = "{policy}"
  description = "operators"
  rules       = <<-EOT
{rules}
EOT
}}
resource "stack_consul_acl_token" "app" {{
  description   = "app token"
  policies      = [stack_consul_acl_policy.ops.name]
  vault_kv_path = "{token_kv}"
}}
output "kv" {{ value = stack_consul_acl_bootstrap.this.token_vault_path }}
"#,
            provider(&kv)
        )
    };
    tf.write_config(&config("service_prefix \"\" {\n  policy = \"read\"\n}"));
    tf.init();
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());

    // The management token is in Vault; state holds only its accessor.
    let (mgmt, accessor) = kv_token(bao, &kv).expect("bootstrap token stored in Vault");
    let state = tf.state_json();
    let raw = state.to_string();
    assert!(
        !raw.contains(&mgmt),
        "the management token leaked into state"
    );
    assert!(raw.contains(&accessor), "state keeps the accessor");
    let me = consul.request("GET", "/v1/acl/token/self", Some(&mgmt), None);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json().expect("json")["AccessorID"], json!(accessor));

    // The policy and token exist in Consul, created with the token read from Vault.
    let p = consul.request(
        "GET",
        &format!("/v1/acl/policy/name/{policy}"),
        Some(&mgmt),
        None,
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.json().expect("json")["Rules"]
        .as_str()
        .expect("rules")
        .contains("service_prefix"));
    let (app_secret, app_accessor) = kv_token(bao, &token_kv).expect("app token stored in Vault");
    assert!(
        !raw.contains(&app_secret),
        "the app token leaked into state"
    );
    let t = consul.request("GET", "/v1/acl/token/self", Some(&app_secret), None);
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.json().expect("json")["AccessorID"], json!(app_accessor));
    // The app token carries the policy: it may read services but not write KV.
    let denied = consul.request("PUT", "/v1/kv/x", Some(&app_secret), Some(&json!("v")));
    assert_eq!(denied.status, 403, "{}", denied.body);

    tf.assert_plan_empty();

    // Drift: the policy edited out of band comes back.
    let pid = p.json().expect("json")["ID"]
        .as_str()
        .expect("id")
        .to_string();
    let r = consul.request(
        "PUT",
        &format!("/v1/acl/policy/{pid}"),
        Some(&mgmt),
        Some(
            &json!({"ID": pid, "Name": policy, "Rules": "node_prefix \"\" { policy = \"write\" }"}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to change"), "{out}"),
        PlanOutcome::NoChanges => panic!("an edited policy must be drift"),
    }
    tf.apply();
    tf.assert_plan_empty();

    // Bad rules are refused at plan time, on the attribute, naming the line.
    tf.write_config(&config("service_prefix \"\" {\n  policy = \"reed\"\n}"));
    let err = tf.plan_expect_error();
    assert!(
        err.contains("Invalid ACL rules") && err.contains("reed"),
        "{err}"
    );

    // A second bootstrap of the same cluster fails and says why, with the reset index.
    let tf2 = consul_workdir(bao, &consul);
    tf2.write_config(&format!(
        "{}\nresource \"stack_consul_acl_bootstrap\" \"again\" {{\n  vault_kv_path = \"{}\"\n}}\n",
        provider(&kv),
        random_name("bootstrap/again")
    ));
    tf2.init();
    let err = tf2
        .apply_expect_error()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        err.contains("already bootstrapped") && err.contains("(reset index:"),
        "{err}"
    );

    // Destroy removes the token (from Consul and Vault), the policy and the bootstrap secret.
    tf.write_config(&config("service_prefix \"\" {\n  policy = \"read\"\n}"));
    let out = tf.destroy();
    assert!(out.success(), "{}", out.combined());
    assert!(kv_token(bao, &token_kv).is_none(), "token secret deleted");
    assert!(kv_token(bao, &kv).is_none(), "bootstrap secret deleted");
    let gone = consul.request(
        "GET",
        &format!("/v1/acl/policy/name/{policy}"),
        Some(&mgmt),
        None,
    );
    assert_eq!(gone.status, 404, "{}", gone.body);
    let gone = consul.request(
        "GET",
        &format!("/v1/acl/token/{app_accessor}"),
        Some(&mgmt),
        None,
    );
    assert_eq!(gone.status, 404, "{}", gone.body);
}

#[test]
fn consul_acl_policy_import_and_disappearance() {
    let bao = Bao::shared();
    let consul = Consul::start(Acl::Bootstrapped);
    let mgmt = consul.token.clone().expect("token");
    let name = random_name("imported");
    let r = consul.request(
        "PUT",
        "/v1/acl/policy",
        Some(&mgmt),
        Some(&json!({"Name": name, "Rules": "key_prefix \"app/\" { policy = \"read\" }"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json().expect("json")["ID"]
        .as_str()
        .expect("id")
        .to_string();
    let tf = consul_workdir(bao, &consul);
    tf.write_config(&format!(
        "{}\nresource \"stack_consul_acl_policy\" \"p\" {{\n  name  = \"{name}\"\n  rules = \"key_prefix \\\"app/\\\" {{ policy = \\\"read\\\" }}\"\n}}\n",
        crate::common::PROVIDER
    ));
    tf.init();
    let out = tf.import("stack_consul_acl_policy.p", &name);
    assert!(out.success(), "{}", out.combined());
    tf.assert_plan_empty();
    let state = tf.state_json();
    assert_eq!(
        state["resources"][0]["instances"][0]["attributes"]["id"],
        json!(id)
    );

    // Deleted out of band: the next plan creates it again.
    let r = consul.request("DELETE", &format!("/v1/acl/policy/{id}"), Some(&mgmt), None);
    assert_eq!(r.status, 200, "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to add"), "{out}"),
        PlanOutcome::NoChanges => panic!("a deleted policy must be recreated"),
    }
    tf.apply();
    tf.assert_plan_empty();
    assert!(tf.destroy().success());
}

#[test]
fn consul_acl_token_ephemeral_reads_secret_by_accessor() {
    let bao = Bao::shared();
    let consul = Consul::start(Acl::Bootstrapped);
    let kv = random_name("eph/token");
    let tf = consul_workdir(bao, &consul);
    // The ephemeral secret goes to a write-only KV attribute: it reaches Vault, not state.
    tf.write_config(&format!(
        r#"{}
resource "stack_consul_acl_token" "t" {{
  description = "no copy kept"
}}
ephemeral "stack_consul_acl_token" "t" {{
  accessor_id = stack_consul_acl_token.t.accessor_id
}}
resource "stack_vault_kv_secret" "copy" {{
  mount              = "secret"
  path               = "{kv}"
  data_wo            = {{ token = ephemeral.stack_consul_acl_token.t.secret_id }}
  data_wo_version    = 1
}}
"#,
        crate::common::PROVIDER
    ));
    tf.init();
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());
    let r = api(bao, "GET", &format!("/v1/secret/data/{kv}"), None);
    let secret = r.json().expect("json")["data"]["data"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let me = consul.request("GET", "/v1/acl/token/self", Some(&secret), None);
    assert_eq!(me.status, 200, "{}", me.body);
    assert!(
        !tf.state_json().to_string().contains(&secret),
        "secret leaked into state"
    );

    // Import by accessor: the imported state matches the configuration.
    let accessor = me.json().expect("json")["AccessorID"]
        .as_str()
        .expect("accessor")
        .to_string();
    let imp = consul_workdir(bao, &consul);
    imp.write_config(&format!(
        "{}\nresource \"stack_consul_acl_token\" \"t\" {{\n  description = \"no copy kept\"\n}}\n",
        crate::common::PROVIDER
    ));
    imp.init();
    assert!(imp.import("stack_consul_acl_token.t", &accessor).success());
    imp.assert_plan_empty();
    assert!(
        !imp.state_json().to_string().contains(&secret),
        "secret leaked into state"
    );
    assert!(tf.destroy().success());
}
