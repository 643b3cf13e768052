//! Nomad ACL bootstrap, policy and namespace in one apply from a fresh ACL system, with the
//! management token read from Vault (`token_vault_path`) and never in state.

use serde_json::json;
use stack_acceptance_tests::{random_name, Acl, Bao, Nomad, PlanOutcome};

use crate::common::{api, workdir};

fn config(kv: &str, policy: &str, ns: &str, rules: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    stack = {{ source = "stack/stack" }}
  }}
}}
provider "stack" {{
  nomad {{
    token_vault_path = "secret/{kv}"
  }}
}}
resource "stack_nomad_acl_bootstrap" "this" {{
  vault_kv_path = "{kv}"
}}
resource "stack_nomad_namespace" "apps" {{
  depends_on  = [stack_nomad_acl_bootstrap.this]
  name        = "{ns}"
  description = "apps"
  meta        = {{ owner = "platform" }}
}}
resource "stack_nomad_acl_policy" "deployers" {{
  depends_on  = [stack_nomad_acl_bootstrap.this]
  name        = "{policy}"
  description = "deployers"
  rules_hcl   = <<-EOT
{rules}
EOT
}}
"#
    )
}

#[test]
fn nomad_acl_bootstrap_policy_namespace_in_one_apply() {
    let bao = Bao::shared();
    let nomad = Nomad::start(Acl::Fresh, None, None);
    let kv = random_name("bootstrap/nomad");
    let policy = random_name("deployers");
    let ns = random_name("apps");
    let rules = |caps: &str| {
        format!("namespace \"{ns}\" {{\n  policy       = \"read\"\n  capabilities = [{caps}]\n}}")
    };
    let tf = workdir(bao).envs(nomad.env());
    tf.write_config(&config(&kv, &policy, &ns, &rules("\"submit-job\"")));
    tf.init();
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());

    let kvj = api(bao, "GET", &format!("/v1/secret/data/{kv}"), None)
        .json()
        .expect("kv");
    let mgmt = kvj["data"]["data"]["token"]
        .as_str()
        .expect("token stored")
        .to_string();
    assert!(
        !tf.state_json().to_string().contains(&mgmt),
        "management token leaked into state"
    );
    let me = nomad.request("GET", "/v1/acl/token/self", Some(&mgmt), None);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(
        me.json().expect("json")["AccessorID"],
        kvj["data"]["data"]["accessor_id"]
    );
    let p = nomad.request(
        "GET",
        &format!("/v1/acl/policy/{policy}"),
        Some(&mgmt),
        None,
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.json().expect("json")["Rules"]
        .as_str()
        .expect("rules")
        .contains("submit-job"));
    let n = nomad.request("GET", &format!("/v1/namespace/{ns}"), Some(&mgmt), None);
    assert_eq!(n.status, 200, "{}", n.body);
    assert_eq!(n.json().expect("json")["Meta"]["owner"], json!("platform"));
    tf.assert_plan_empty();

    // Bad rules are refused at plan time.
    tf.write_config(&config(&kv, &policy, &ns, &rules("\"sumbit-job\"")));
    let err = tf.plan_expect_error();
    assert!(
        err.contains("Invalid ACL rules") && err.contains("sumbit-job"),
        "{err}"
    );

    // Drift on the namespace description.
    tf.write_config(&config(&kv, &policy, &ns, &rules("\"submit-job\"")));
    let r = nomad.request(
        "POST",
        &format!("/v1/namespace/{ns}"),
        Some(&mgmt),
        Some(&json!({"Name": ns, "Description": "changed"})),
    );
    assert!(r.is_success(), "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to change"), "{out}"),
        PlanOutcome::NoChanges => panic!("an edited namespace must be drift"),
    }
    assert!(tf.apply().success());
    tf.assert_plan_empty();

    // A second bootstrap fails and reports the reset index.
    let tf2 = workdir(bao).envs(nomad.env());
    tf2.write_config(&format!(
        "{}\nresource \"stack_nomad_acl_bootstrap\" \"again\" {{\n  vault_kv_path = \"{}\"\n}}\n",
        crate::common::PROVIDER,
        random_name("bootstrap/again")
    ));
    tf2.init();
    let err = tf2
        .apply_expect_error()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        err.contains("already bootstrapped") && err.contains("reset index"),
        "{err}"
    );

    // Destroy removes the policy, the namespace and the stored token.
    assert!(tf.destroy().success());
    assert_eq!(
        nomad
            .request(
                "GET",
                &format!("/v1/acl/policy/{policy}"),
                Some(&mgmt),
                None
            )
            .status,
        404
    );
    assert_eq!(
        nomad
            .request("GET", &format!("/v1/namespace/{ns}"), Some(&mgmt), None)
            .status,
        404
    );
    assert_eq!(
        api(bao, "GET", &format!("/v1/secret/data/{kv}"), None).status,
        404
    );
}
