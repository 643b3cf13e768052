//! `stack_consul_connect` on the Vault CA: Consul serves the Vault root, leaves verify
//! against it, the least-privilege token works (and goes away on destroy), default deny.

use std::process::Command;

use serde_json::json;
use stack_acceptance_tests::{random_name, Acl, Bao, Consul, PlanOutcome, TfWorkdir};

use crate::common::{api, workdir, PROVIDER};

fn tf(bao: &Bao, consul: &Consul) -> TfWorkdir {
    workdir(bao).envs(consul.env())
}

fn config(root: &str, int: &str, default_intention: &str, leaf_ttl: &str) -> String {
    format!(
        r#"{PROVIDER}
resource "stack_vault_pki_ca" "mesh" {{
  root_path   = "{root}"
  common_name = "mesh root {root}"
}}
resource "stack_consul_connect" "this" {{
  ca_provider = "vault"
  vault {{
    root_pki_path         = stack_vault_pki_ca.mesh.root_path
    intermediate_pki_path = "{int}"
    leaf_cert_ttl         = "{leaf_ttl}"
  }}
  default_intention = "{default_intention}"
}}
output "roots" {{ value = stack_consul_connect.this.root_certificates }}
"#
    )
}

fn verify_leaf(consul: &Consul, root_pem: &str, dir: &std::path::Path) {
    let leaf = consul.request(
        "GET",
        "/v1/agent/connect/ca/leaf/web",
        consul.token.as_deref(),
        None,
    );
    assert_eq!(leaf.status, 200, "{}", leaf.body);
    let leaf = leaf.json().expect("json");
    let roots = consul
        .request("GET", "/v1/connect/ca/roots", None, None)
        .json()
        .expect("roots");
    let active = roots["Roots"]
        .as_array()
        .expect("roots")
        .iter()
        .find(|r| r["Active"] == json!(true))
        .expect("active root")
        .clone();
    let chain: Vec<String> = active["IntermediateCerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    std::fs::write(dir.join("root.pem"), root_pem).expect("write");
    std::fs::write(dir.join("chain.pem"), chain.join("\n")).expect("write");
    std::fs::write(
        dir.join("leaf.pem"),
        leaf["CertPEM"].as_str().expect("cert"),
    )
    .expect("write");
    let mut cmd = Command::new("openssl");
    cmd.arg("verify").arg("-CAfile").arg(dir.join("root.pem"));
    if !chain.is_empty() {
        cmd.arg("-untrusted").arg(dir.join("chain.pem"));
    }
    let out = cmd.arg(dir.join("leaf.pem")).output().expect("openssl");
    assert!(
        out.status.success(),
        "the leaf does not verify against the Vault root: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        leaf["ServiceURI"]
            .as_str()
            .expect("uri")
            .ends_with("/svc/web"),
        "{leaf}"
    );
}

#[test]
fn consul_connect_on_vault_ca() {
    let bao = Bao::shared();
    let consul = Consul::start(Acl::Bootstrapped);
    let root = random_name("mesh-root");
    let int = random_name("connect-int");
    let t = tf(bao, &consul);
    t.write_config(&config(&root, &int, "deny", "72h"));
    t.init();
    let out = t.apply();
    assert!(out.success(), "{}", out.combined());

    // Consul's active root is the Vault root at root_pki_path.
    let vault_root = api(bao, "GET", &format!("/v1/{root}/ca/pem"), None).body;
    let roots = consul
        .request("GET", "/v1/connect/ca/roots", None, None)
        .json()
        .expect("roots");
    let active = roots["Roots"]
        .as_array()
        .expect("roots")
        .iter()
        .find(|r| r["Active"] == json!(true))
        .expect("active")
        .clone();
    assert_eq!(
        active["RootCert"].as_str().expect("pem").trim(),
        vault_root.trim()
    );
    verify_leaf(&consul, &vault_root, t.path());

    // State: the computed values, and no Vault token anywhere.
    let state = t.state_json();
    let attrs = state["resources"]
        .as_array()
        .expect("res")
        .iter()
        .find(|r| r["type"] == json!("stack_consul_connect"))
        .expect("connect")["instances"][0]["attributes"]
        .clone();
    assert_eq!(attrs["trust_domain"], roots["TrustDomain"]);
    assert_eq!(attrs["active_root_id"], roots["ActiveRootID"]);
    let policy = attrs["vault_policy_name"]
        .as_str()
        .expect("policy")
        .to_string();
    let accessor = attrs["vault_token_accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    let ca = consul
        .request(
            "GET",
            "/v1/connect/ca/configuration",
            consul.token.as_deref(),
            None,
        )
        .json()
        .expect("ca config");
    let token = ca["Config"]["Token"]
        .as_str()
        .expect("Consul holds a token")
        .to_string();
    assert!(
        !state.to_string().contains(&token),
        "the CA token leaked into state"
    );
    // The token is least-privilege: it reads the two mounts but not other secrets.
    let p = api(bao, "GET", &format!("/v1/sys/policies/acl/{policy}"), None)
        .json()
        .expect("policy");
    let text = p["data"]["policy"].as_str().expect("text");
    assert!(
        text.contains(&format!("{root}/*")) && text.contains(&format!("{int}/*")),
        "{text}"
    );
    let denied = stack_acceptance_tests::http_request(
        &bao.addr,
        "GET",
        "/v1/secret/data/anything",
        &[("X-Vault-Token", &token)],
        None,
        std::time::Duration::from_secs(10),
    )
    .expect("req");
    assert_eq!(denied.status, 403, "{}", denied.body);

    // Default deny: a `*` → `*` deny intention; undeclared edges are refused.
    let chk = consul.request(
        "GET",
        "/v1/connect/intentions/check?source=web&destination=db",
        consul.token.as_deref(),
        None,
    );
    assert_eq!(chk.json().expect("json")["Allowed"], json!(false));
    let star = consul.request(
        "GET",
        "/v1/config/service-intentions/*",
        consul.token.as_deref(),
        None,
    );
    assert_eq!(star.status, 200, "{}", star.body);

    t.assert_plan_empty();

    // In-place change of the leaf TTL: no rotation warning, same root.
    t.write_config(&config(&root, &int, "deny", "96h"));
    match t.plan_detailed() {
        PlanOutcome::Changes(out) => {
            assert!(
                out.contains("1 to change") && !out.contains("rotates"),
                "{out}"
            );
        }
        PlanOutcome::NoChanges => panic!("leaf TTL change must plan"),
    }
    assert!(t.apply().success());
    t.assert_plan_empty();
    let cfg = consul
        .request(
            "GET",
            "/v1/connect/ca/configuration",
            consul.token.as_deref(),
            None,
        )
        .json()
        .expect("cfg");
    assert_eq!(cfg["Config"]["LeafCertTTL"], json!("96h"));

    // Switching the provider rotates the root: the plan says so.
    t.write_config(&format!(
        "{PROVIDER}\nresource \"stack_vault_pki_ca\" \"mesh\" {{\n  root_path   = \"{root}\"\n  common_name = \"mesh root {root}\"\n}}\nresource \"stack_consul_connect\" \"this\" {{\n  ca_provider       = \"consul\"\n  default_intention = \"deny\"\n}}\n"
    ));
    match t.plan_detailed() {
        PlanOutcome::Changes(out) => {
            let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                flat.contains("This change rotates the Connect root CA")
                    && flat.contains("the CA provider"),
                "{out}"
            );
        }
        PlanOutcome::NoChanges => panic!("a provider switch must plan"),
    }
    t.write_config(&config(&root, &int, "deny", "96h"));
    t.assert_plan_empty();

    // Import by `connect` reads the same thing back.
    let t2 = tf(bao, &consul);
    t2.write_config(&format!(
        "{PROVIDER}\nresource \"stack_consul_connect\" \"this\" {{\n  ca_provider = \"vault\"\n  vault {{\n    root_pki_path         = \"{root}\"\n    intermediate_pki_path = \"{int}\"\n    leaf_cert_ttl         = \"96h\"\n  }}\n  default_intention = \"deny\"\n}}\n"
    ));
    t2.init();
    assert!(t2.import("stack_consul_connect.this", "connect").success());

    // Destroy: back to Consul's own CA; token revoked, policy and intention removed.
    assert!(t.destroy().success());
    let cfg = consul
        .request(
            "GET",
            "/v1/connect/ca/configuration",
            consul.token.as_deref(),
            None,
        )
        .json()
        .expect("cfg");
    assert_eq!(cfg["Provider"], json!("consul"));
    let lookup = api(
        bao,
        "POST",
        "/v1/auth/token/lookup-accessor",
        Some(json!({"accessor": accessor})),
    );
    assert!(!lookup.is_success(), "token still valid: {}", lookup.body);
    assert_eq!(
        api(bao, "GET", &format!("/v1/sys/policies/acl/{policy}"), None).status,
        404
    );
    let star = consul.request(
        "GET",
        "/v1/config/service-intentions/*",
        consul.token.as_deref(),
        None,
    );
    assert_eq!(star.status, 404, "{}", star.body);
}

#[test]
fn consul_connect_bad_input_is_refused_at_plan() {
    let bao = Bao::shared();
    let consul = Consul::start(Acl::Off);
    let t = tf(bao, &consul);
    t.write_config(&format!(
        "{PROVIDER}\nresource \"stack_consul_connect\" \"this\" {{\n  ca_provider = \"vault\"\n  vault {{\n    root_pki_path         = \"r\"\n    intermediate_pki_path = \"i\"\n    leaf_cert_ttl         = \"72h\"\n    intermediate_cert_ttl = \"100h\"\n  }}\n}}\n"
    ));
    t.init();
    let err = t
        .plan_expect_error()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        err.contains("intermediate_cert_ttl") && err.contains("3 × leaf_cert_ttl"),
        "{err}"
    );
    let cfg = consul
        .request("GET", "/v1/connect/ca/configuration", None, None)
        .json()
        .expect("cfg");
    assert_eq!(cfg["Provider"], json!("consul"), "nothing changed");
}
