//! `stack_vault_pki_ca` end to end: a root + intermediate chain checked with `openssl verify`, a
//! leaf issued through a role, in-place role updates and role drift, rotation of a short-lived
//! intermediate, AIA/CRL/OCSP URLs on both mounts, an out-of-band unmount, import by both ID
//! forms, bad input rejected before anything is mounted, a half-way failure that leaves no mount
//! behind, destroy.

use std::process::Command;

use serde_json::{json, Value};
use stack_acceptance_tests::{random_name, Bao, PlanOutcome, TfWorkdir};

use crate::common::{api, workdir, PROVIDER};

const ADDR: &str = "stack_vault_pki_ca.ca";

struct Ca<'a> {
    root: &'a str,
    int: Option<&'a str>,
    extra: &'a str,
    roles: &'a str,
}

fn config(ca: &Ca<'_>) -> String {
    let int = ca
        .int
        .map(|i| format!("  intermediate_path = \"{i}\"\n"))
        .unwrap_or_default();
    format!(
        "{PROVIDER}\nresource \"stack_vault_pki_ca\" \"ca\" {{\n  root_path   = \"{}\"\n{int}  common_name = \"Acc Test CA\"\n{}\n{}}}\n",
        ca.root, ca.extra, ca.roles
    )
}

const WEB_ROLE: &str = r#"  role {
    name             = "web"
    allowed_domains  = ["example.com"]
    allow_subdomains = true
    max_ttl          = "72h"
  }
"#;

const WEB_ROLE_CHANGED: &str = r#"  role {
    name             = "web"
    allowed_domains  = ["example.com", "example.org"]
    allow_subdomains = true
    max_ttl          = "24h"
  }
"#;

fn mounts(bao: &Bao) -> Value {
    let r = api(bao, "GET", "/v1/sys/mounts", None);
    assert!(r.is_success(), "list mounts: {} {}", r.status, r.body);
    r.json().expect("mounts json")["data"].clone()
}

fn mount_type(bao: &Bao, path: &str) -> Option<String> {
    mounts(bao)[format!("{path}/")]["type"]
        .as_str()
        .map(str::to_string)
}

fn attrs(tf: &TfWorkdir) -> Value {
    tf.state_json()["resources"][0]["instances"][0]["attributes"].clone()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
        .to_string()
}

fn get_data(bao: &Bao, path: &str) -> Value {
    let r = api(bao, "GET", path, None);
    assert!(r.is_success(), "GET {path}: {} {}", r.status, r.body);
    r.json().expect("json")["data"].clone()
}

fn default_issuer(bao: &Bao, mount: &str) -> String {
    s(
        &get_data(bao, &format!("/v1/{mount}/config/issuers")),
        "default",
    )
}

fn issuers(bao: &Bao, mount: &str) -> Vec<String> {
    let data = get_data(bao, &format!("/v1/{mount}/issuers?list=true"));
    data["keys"]
        .as_array()
        .map(|k| {
            k.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `openssl verify -CAfile root [-untrusted chain] cert`, panicking with its output unless OK.
fn openssl_verify(root_pem: &str, untrusted: Option<&str>, cert_pem: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |n: &str| dir.path().join(n);
    std::fs::write(path("root.pem"), root_pem).expect("write root");
    std::fs::write(path("cert.pem"), cert_pem).expect("write cert");
    let mut cmd = Command::new("openssl");
    cmd.arg("verify").arg("-CAfile").arg(path("root.pem"));
    if let Some(chain) = untrusted {
        std::fs::write(path("chain.pem"), chain).expect("write chain");
        cmd.arg("-untrusted").arg(path("chain.pem"));
    }
    cmd.arg(path("cert.pem"));
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("openssl is required for this test: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains(": OK"),
        "openssl verify failed: {text}"
    );
}

fn openssl_subject_issuer(pem: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("c.pem");
    std::fs::write(&p, pem).expect("write");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-issuer", "-in"])
        .arg(&p)
        .output()
        .unwrap_or_else(|e| panic!("openssl is required for this test: {e}"));
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn expect_update_not_replace(tf: &TfWorkdir) -> String {
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => {
            assert!(out.contains("1 to change"), "{out}");
            assert!(!out.contains("must be replaced"), "{out}");
            out
        }
        PlanOutcome::NoChanges => panic!("expected an in-place update"),
    }
}

#[test]
fn vault_pki_ca_lifecycle() {
    let bao = Bao::shared();
    let root = random_name("acc-pki-root");
    let int = random_name("acc-pki-int");
    let tf = workdir(bao);
    let mut ca = Ca {
        root: &root,
        int: Some(&int),
        extra: "  organization = \"Acme\"\n",
        roles: WEB_ROLE,
    };
    tf.write_config(&config(&ca));
    tf.init();
    tf.apply();
    tf.assert_plan_empty();

    assert_eq!(mount_type(bao, &root).as_deref(), Some("pki"));
    assert_eq!(mount_type(bao, &int).as_deref(), Some("pki"));
    let a = attrs(&tf);
    let (root_pem, int_pem) = (s(&a, "root_certificate"), s(&a, "intermediate_certificate"));
    assert_eq!(a["key_type"], json!("ec"));
    assert_eq!(a["key_bits"], json!(256));
    assert_eq!(a["id"], json!(root));
    // The intermediate is signed by the root: openssl agrees, and subject/issuer line up.
    openssl_verify(&root_pem, None, &int_pem);
    let int_names = openssl_subject_issuer(&int_pem);
    assert!(
        int_names.contains("CN = Acc Test CA Intermediate")
            && int_names.contains("issuer=O = Acme, CN = Acc Test CA"),
        "{int_names}"
    );
    // State matches the server: defaults, certificates, chain.
    assert_eq!(default_issuer(bao, &root), s(&a, "root_issuer_id"));
    assert_eq!(default_issuer(bao, &int), s(&a, "intermediate_issuer_id"));
    let issuer = get_data(
        bao,
        &format!("/v1/{int}/issuer/{}", s(&a, "intermediate_issuer_id")),
    );
    assert_eq!(issuer["certificate"].as_str(), Some(int_pem.as_str()));
    let chain: Vec<String> = a["ca_chain"]
        .as_array()
        .expect("ca_chain")
        .iter()
        .filter_map(|c| c.as_str().map(|x| x.trim().to_string()))
        .collect();
    assert_eq!(
        chain,
        vec![int_pem.trim().to_string(), root_pem.trim().to_string()]
    );
    assert!(s(&a, "root_expiry") > s(&a, "intermediate_expiry"), "{a}");
    // No private key anywhere in state.
    assert!(!tf.state_json().to_string().contains("PRIVATE KEY"));

    // A leaf issued through the role chains to the root.
    let r = api(
        bao,
        "POST",
        &format!("/v1/{int}/issue/web"),
        Some(json!({"common_name": "app.example.com", "ttl": "1h"})),
    );
    assert!(r.is_success(), "issue: {} {}", r.status, r.body);
    let leaf = r.json().expect("json")["data"].clone();
    openssl_verify(&root_pem, Some(&int_pem), &s(&leaf, "certificate"));
    assert_eq!(s(&leaf, "private_key_type"), "ec");
    let r = api(
        bao,
        "POST",
        &format!("/v1/{int}/issue/web"),
        Some(json!({"common_name": "app.example.net"})),
    );
    assert_eq!(
        r.status, 400,
        "a name outside allowed_domains is refused: {}",
        r.body
    );

    // A role change is an in-place update.
    ca.roles = WEB_ROLE_CHANGED;
    tf.write_config(&config(&ca));
    expect_update_not_replace(&tf);
    tf.apply();
    tf.assert_plan_empty();
    let role = get_data(bao, &format!("/v1/{int}/roles/web"));
    assert_eq!(role["max_ttl"], json!(86400));
    assert_eq!(
        role["allowed_domains"],
        json!(["example.com", "example.org"])
    );
    assert_eq!(
        s(&attrs(&tf), "root_issuer_id"),
        s(&a, "root_issuer_id"),
        "the root survives a role change"
    );

    // Role drift: an out-of-band edit shows in the plan and apply restores it.
    let r = api(
        bao,
        "POST",
        &format!("/v1/{int}/roles/web"),
        Some(json!({"allowed_domains": ["evil.test"], "max_ttl": "1h"})),
    );
    assert!(r.is_success(), "{}", r.body);
    expect_update_not_replace(&tf);
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        get_data(bao, &format!("/v1/{int}/roles/web"))["max_ttl"],
        json!(86400)
    );

    // A TTL change is in place too.
    ca.extra = "  organization = \"Acme\"\n  max_lease_ttl = \"1000h\"\n";
    tf.write_config(&config(&ca));
    expect_update_not_replace(&tf);
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        mounts(bao)[format!("{int}/")]["config"]["max_lease_ttl"],
        json!(3_600_000)
    );

    // Out-of-band unmount of the intermediate: an in-place update rebuilds it and its roles.
    let r = api(bao, "DELETE", &format!("/v1/sys/mounts/{int}"), None);
    assert!(r.is_success(), "{}", r.body);
    expect_update_not_replace(&tf);
    tf.apply();
    tf.assert_plan_empty();
    let c = attrs(&tf);
    assert_eq!(s(&c, "root_issuer_id"), s(&a, "root_issuer_id"));
    assert_eq!(default_issuer(bao, &int), s(&c, "intermediate_issuer_id"));
    assert_eq!(
        get_data(bao, &format!("/v1/{int}/roles/web"))["max_ttl"],
        json!(86400)
    );
    openssl_verify(&root_pem, None, &s(&c, "intermediate_certificate"));

    // Out-of-band unmount of the root: the next plan creates the CA again.
    let r = api(bao, "DELETE", &format!("/v1/sys/mounts/{root}"), None);
    assert!(r.is_success(), "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to add"), "{out}"),
        PlanOutcome::NoChanges => panic!("an unmounted root must plan a create"),
    }
    tf.apply();
    tf.assert_plan_empty();
    let b = attrs(&tf);
    assert_ne!(s(&b, "root_issuer_id"), s(&a, "root_issuer_id"));
    openssl_verify(
        &s(&b, "root_certificate"),
        None,
        &s(&b, "intermediate_certificate"),
    );
    assert_eq!(default_issuer(bao, &int), s(&b, "intermediate_issuer_id"));

    tf.destroy();
    assert_eq!(mount_type(bao, &root), None, "destroy unmounts the root");
    assert_eq!(
        mount_type(bao, &int),
        None,
        "destroy unmounts the intermediate"
    );
}

#[test]
fn vault_pki_ca_rotation() {
    let bao = Bao::shared();
    let root = random_name("acc-pki-rot");
    let int = random_name("acc-pki-rot-int");
    let tf = workdir(bao);
    let mut ca = Ca {
        root: &root,
        int: Some(&int),
        extra: "  intermediate_ttl = \"2h\"\n  rotate_intermediate_before = \"3h\"\n",
        roles: "",
    };
    tf.write_config(&config(&ca));
    tf.init();
    tf.apply();
    let first = s(&attrs(&tf), "intermediate_issuer_id");

    // The intermediate expires within the window: the plan shows an in-place rotation.
    let out = expect_update_not_replace(&tf);
    assert!(
        out.lines()
            .any(|l| l.contains("intermediate_issuer_id") && l.contains("-> (known after apply)")),
        "{out}"
    );
    tf.apply();
    let a = attrs(&tf);
    let second = s(&a, "intermediate_issuer_id");
    assert_ne!(second, first, "rotation makes a new intermediate issuer");
    assert_eq!(
        default_issuer(bao, &int),
        second,
        "the new one is the default"
    );
    let listed = issuers(bao, &int);
    assert!(
        listed.contains(&first) && listed.contains(&second),
        "the old issuer is kept: {listed:?}"
    );
    openssl_verify(
        &s(&a, "root_certificate"),
        None,
        &s(&a, "intermediate_certificate"),
    );

    // Outside the window nothing rotates: only the setting changes, then the plan is empty.
    ca.extra = "  intermediate_ttl = \"2h\"\n  rotate_intermediate_before = \"1h\"\n";
    tf.write_config(&config(&ca));
    expect_update_not_replace(&tf);
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(s(&attrs(&tf), "intermediate_issuer_id"), second);

    // Drift: the old issuer made the default out of band; the plan rebuilds the intermediate.
    let r = api(
        bao,
        "POST",
        &format!("/v1/{int}/config/issuers"),
        Some(json!({ "default": first })),
    );
    assert!(r.is_success(), "{}", r.body);
    expect_update_not_replace(&tf);
    tf.apply();
    tf.assert_plan_empty();
    let third = s(&attrs(&tf), "intermediate_issuer_id");
    assert!(third != first && third != second, "{third}");
    assert_eq!(default_issuer(bao, &int), third);

    tf.destroy();
    assert_eq!(mount_type(bao, &root), None);
    assert_eq!(mount_type(bao, &int), None);
}

#[test]
fn vault_pki_ca_import() {
    let bao = Bao::shared();
    let root = random_name("acc-pki-imp");
    let int = random_name("acc-pki-imp-int");
    let solo = random_name("acc-pki-solo");
    let pair = Ca {
        root: &root,
        int: Some(&int),
        extra: "  organization = \"Acme\"\n",
        roles: WEB_ROLE,
    };
    let single = Ca {
        root: &solo,
        int: None,
        extra: "  key_type = \"rsa\"\n  root_ttl = \"1000h\"\n",
        roles: "",
    };
    let made = workdir(bao);
    made.write_config(&format!(
        "{}\n{}",
        config(&pair),
        config(&single)
            .replace(PROVIDER, "")
            .replace("\"ca\"", "\"solo\"")
    ));
    made.init();
    made.apply();
    made.assert_plan_empty();

    // `root_path,intermediate_path`
    let tf = workdir(bao);
    tf.write_config(&config(&pair));
    tf.init();
    tf.import(ADDR, &format!("{root},{int}"));
    tf.assert_plan_empty();
    let a = attrs(&tf);
    assert_eq!(a["intermediate_path"], json!(int));
    assert_eq!(a["role"][0]["name"], json!("web"));

    // `root_path`
    let tf2 = workdir(bao);
    tf2.write_config(&config(&single));
    tf2.init();
    tf2.import(ADDR, &solo);
    tf2.assert_plan_empty();
    let b = attrs(&tf2);
    assert_eq!(b["key_type"], json!("rsa"));
    assert_eq!(b["key_bits"], json!(2048));
    assert_eq!(b["intermediate_certificate"], Value::Null);

    made.destroy();
    for m in [&root, &int, &solo] {
        assert_eq!(mount_type(bao, m), None, "{m} unmounted");
    }
}

#[test]
fn vault_pki_ca_bad_input_fails_before_anything_is_mounted() {
    let bao = Bao::shared();
    let root = random_name("acc-pki-bad");
    let int = random_name("acc-pki-bad-int");
    let tf = workdir(bao);
    // (extra config, error summary, the source line Terraform quotes for the attribute at fault)
    let cases: &[(&str, &str, &str)] = &[
        ("  key_bits = 2048\n", "Invalid key size", "key_bits = 2048"),
        (
            "  key_type = \"ed25519\"\n",
            "is not one of",
            "key_type = \"ed25519\"",
        ),
        (
            "  root_ttl = \"10 years\"\n",
            "Invalid duration",
            "root_ttl = \"10 years\"",
        ),
        (
            "  intermediate_ttl = \"100000h\"\n",
            "Intermediate outlives the root",
            "intermediate_ttl = \"100000h\"",
        ),
    ];
    tf.write_config(&config(&Ca {
        root: &root,
        int: Some(&int),
        extra: cases[0].0,
        roles: "",
    }));
    tf.init();
    for (extra, want, line) in cases {
        tf.write_config(&config(&Ca {
            root: &root,
            int: Some(&int),
            extra,
            roles: "",
        }));
        let err = tf.plan_expect_error();
        assert!(err.contains(want) && err.contains(line), "{extra}: {err}");
    }
    assert_eq!(mount_type(bao, &root), None, "nothing mounted at plan");
    for (r, i, want) in [
        (root.clone(), Some(root.clone()), "Same path for both CAs"),
        (format!("{root}/"), None, "must not start or end"),
    ] {
        tf.write_config(&config(&Ca {
            root: &r,
            int: i.as_deref(),
            extra: "",
            roles: "",
        }));
        let err = tf.plan_expect_error();
        assert!(err.contains(want), "{err}");
    }
    tf.write_config(&config(&Ca {
        root: &root,
        int: Some(&int),
        extra: "",
        roles: "  role {\n    name = \"a b\"\n  }\n",
    }));
    assert!(tf.plan_expect_error().contains("Invalid role name"));

    // A kv engine where the root should go: refused, naming the engine type, nothing written.
    let r = api(
        bao,
        "POST",
        &format!("/v1/sys/mounts/{root}"),
        Some(json!({"type": "kv"})),
    );
    assert!(r.is_success(), "{}", r.body);
    tf.write_config(&config(&Ca {
        root: &root,
        int: Some(&int),
        extra: "",
        roles: "",
    }));
    let err = tf.plan_expect_error();
    assert!(
        err.contains("Mount is not a PKI engine") && err.contains("\"kv\""),
        "{err}"
    );
    assert_eq!(mount_type(bao, &root).as_deref(), Some("kv"));
    assert_eq!(mount_type(bao, &int), None, "nothing mounted");
    let r = api(bao, "DELETE", &format!("/v1/sys/mounts/{root}"), None);
    assert!(r.is_success(), "{}", r.body);
    assert_eq!(mount_type(bao, &root), None);
}

/// A token that may mount and build CAs but not write roles: the create fails after both
/// engines exist, and must not leave them behind.
#[test]
fn vault_pki_ca_half_way_failure_leaves_nothing() {
    let bao = Bao::shared();
    let root = random_name("acc-pki-half");
    let int = random_name("acc-pki-half-int");
    let policy = random_name("acc-pki-half");
    let hcl = format!(
        "path \"sys/mounts\" {{ capabilities = [\"read\"] }}\n\
         path \"sys/mounts/*\" {{ capabilities = [\"create\", \"read\", \"update\", \"delete\", \"sudo\"] }}\n\
         path \"{root}/*\" {{ capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }}\n\
         path \"{int}/*\" {{ capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }}\n\
         path \"{int}/roles/*\" {{ capabilities = [\"deny\"] }}\n"
    );
    let r = api(
        bao,
        "PUT",
        &format!("/v1/sys/policies/acl/{policy}"),
        Some(json!({ "policy": hcl })),
    );
    assert!(r.is_success(), "{}", r.body);
    let r = api(
        bao,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": [policy], "ttl": "1h", "no_default_policy": true})),
    );
    assert!(r.is_success(), "{}", r.body);
    let token = s(&r.json().expect("json")["auth"], "client_token");

    let tf = TfWorkdir::new()
        .env("VAULT_ADDR", &bao.addr)
        .env("VAULT_TOKEN", &token);
    tf.write_config(&config(&Ca {
        root: &root,
        int: Some(&int),
        extra: "",
        roles: WEB_ROLE,
    }));
    tf.init();
    let err = tf.apply_expect_error();
    // It failed at the role, i.e. after both engines and both CAs were made.
    assert!(
        err.contains("permission denied") && err.contains(&format!("{int}/roles/web")),
        "{err}"
    );
    assert_eq!(mount_type(bao, &root), None, "root mount cleaned up");
    assert_eq!(mount_type(bao, &int), None, "intermediate mount cleaned up");
    if tf.path().join("terraform.tfstate").exists() {
        assert!(
            tf.state_json()["resources"]
                .as_array()
                .is_none_or(|r| r.is_empty()),
            "nothing recorded in state"
        );
    }
    let r = api(
        bao,
        "DELETE",
        &format!("/v1/sys/policies/acl/{policy}"),
        None,
    );
    assert!(r.is_success(), "{}", r.body);
}

/// `intermediate_path` added, moved and removed in place: the root stays, roles follow the
/// issuing mount, and old mounts and roles are cleaned up.
#[test]
fn vault_pki_ca_intermediate_added_moved_removed() {
    let bao = Bao::shared();
    let root = random_name("acc-pki-mv");
    let int1 = random_name("acc-pki-mv-a");
    let int2 = random_name("acc-pki-mv-b");
    let role = |m: &str| api(bao, "GET", &format!("/v1/{m}/roles/web"), None).status;
    let tf = workdir(bao);
    let mut ca = Ca {
        root: &root,
        int: None,
        extra: "",
        roles: WEB_ROLE,
    };
    tf.write_config(&config(&ca));
    tf.init();
    tf.apply();
    tf.assert_plan_empty();
    let root_id = s(&attrs(&tf), "root_issuer_id");
    assert_eq!(role(&root), 200);
    assert_eq!(attrs(&tf)["ca_chain"].as_array().map(Vec::len), Some(1));

    for (int, old) in [(&int1, None), (&int2, Some(&int1))] {
        ca.int = Some(int);
        tf.write_config(&config(&ca));
        expect_update_not_replace(&tf);
        tf.apply();
        tf.assert_plan_empty();
        let a = attrs(&tf);
        assert_eq!(s(&a, "root_issuer_id"), root_id);
        assert_eq!(default_issuer(bao, int), s(&a, "intermediate_issuer_id"));
        openssl_verify(
            &s(&a, "root_certificate"),
            None,
            &s(&a, "intermediate_certificate"),
        );
        assert_eq!(role(int), 200, "role moved to {int}");
        assert_eq!(role(&root), 404, "role removed from the root");
        if let Some(old) = old {
            assert_eq!(mount_type(bao, old), None, "{old} unmounted");
        }
    }

    ca.int = None;
    tf.write_config(&config(&ca));
    expect_update_not_replace(&tf);
    tf.apply();
    tf.assert_plan_empty();
    let a = attrs(&tf);
    assert_eq!(s(&a, "root_issuer_id"), root_id);
    assert_eq!(a["intermediate_issuer_id"], Value::Null);
    assert_eq!(mount_type(bao, &int2), None);
    assert_eq!(role(&root), 200, "role back on the root");

    tf.destroy();
    assert_eq!(mount_type(bao, &root), None);
}

/// `<mount>/config/urls` as the server has it, one list per attribute.
fn urls(bao: &Bao, mount: &str) -> Value {
    let d = get_data(bao, &format!("/v1/{mount}/config/urls"));
    json!({
        "issuing_certificates": d["issuing_certificates"],
        "crl_distribution_points": d["crl_distribution_points"],
        "ocsp_servers": d["ocsp_servers"],
    })
}

fn url_config(issuing: &str, crl: &str, ocsp: &str) -> String {
    let mut out = String::new();
    for (name, list) in [
        ("issuing_certificates", issuing),
        ("crl_distribution_points", crl),
        ("ocsp_servers", ocsp),
    ] {
        if !list.is_empty() {
            out.push_str(&format!("  {name} = [{list}]\n"));
        }
    }
    out
}

fn openssl_text(pem: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("c.pem");
    std::fs::write(&p, pem).expect("write");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&p)
        .output()
        .unwrap_or_else(|e| panic!("openssl is required for this test: {e}"));
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// URLs land on both mounts and in issued leaves, change in place (no new CA), drift on either
/// mount shows in the plan, removal clears them, and a bad entry fails at plan naming it.
#[test]
fn vault_pki_ca_urls() {
    let bao = Bao::shared();
    let root = random_name("acc-pki-url");
    let int = random_name("acc-pki-url-int");
    let tf = workdir(bao);
    let issuing = "\"https://pki.example.com/v1/ca\", \"http://backup.example.com/ca\"";
    let extra = url_config(
        issuing,
        "\"https://pki.example.com/v1/crl\"",
        "\"https://ocsp.example.com\"",
    );
    let ca = |extra: &str| {
        config(&Ca {
            root: &root,
            int: Some(&int),
            extra,
            roles: WEB_ROLE,
        })
    };
    tf.write_config(&ca(&extra));
    tf.init();
    tf.apply();
    tf.assert_plan_empty();
    let want = json!({
        "issuing_certificates": ["https://pki.example.com/v1/ca", "http://backup.example.com/ca"],
        "crl_distribution_points": ["https://pki.example.com/v1/crl"],
        "ocsp_servers": ["https://ocsp.example.com"],
    });
    assert_eq!(urls(bao, &root), want);
    assert_eq!(urls(bao, &int), want);
    let a = attrs(&tf);
    assert_eq!(a["issuing_certificates"], want["issuing_certificates"]);
    let (root_id, int_id) = (s(&a, "root_issuer_id"), s(&a, "intermediate_issuer_id"));
    // They take effect: a leaf issued through the role carries them.
    let r = api(
        bao,
        "POST",
        &format!("/v1/{int}/issue/web"),
        Some(json!({"common_name": "a.example.com", "ttl": "1h"})),
    );
    assert!(r.is_success(), "{}", r.body);
    let leaf = r.json().expect("json")["data"]["certificate"]
        .as_str()
        .expect("certificate")
        .to_string();
    let text = openssl_text(&leaf);
    for url in [
        "CA Issuers - URI:https://pki.example.com/v1/ca",
        "OCSP - URI:https://ocsp.example.com",
        "URI:https://pki.example.com/v1/crl",
    ] {
        assert!(text.contains(url), "{url} missing in leaf:\n{text}");
    }

    // A change is an in-place update that keeps both CAs.
    let extra = url_config(
        issuing,
        "\"https://pki.example.com/v1/crl2\"",
        "\"https://ocsp.example.com\"",
    );
    tf.write_config(&ca(&extra));
    let out = expect_update_not_replace(&tf);
    assert!(out.contains("crl2"), "{out}");
    tf.apply();
    tf.assert_plan_empty();
    for m in [&root, &int] {
        assert_eq!(
            urls(bao, m)["crl_distribution_points"],
            json!(["https://pki.example.com/v1/crl2"]),
            "{m}"
        );
    }
    let a = attrs(&tf);
    assert_eq!(s(&a, "root_issuer_id"), root_id);
    assert_eq!(s(&a, "intermediate_issuer_id"), int_id);

    // Out-of-band changes on either mount show in the next plan and are put back.
    for (m, body) in [
        (&int, json!({"ocsp_servers": ["http://evil.example.com"]})),
        (&root, json!({"issuing_certificates": []})),
    ] {
        let r = api(bao, "POST", &format!("/v1/{m}/config/urls"), Some(body));
        assert!(r.is_success(), "{}", r.body);
        expect_update_not_replace(&tf);
        tf.apply();
        tf.assert_plan_empty();
        assert_eq!(urls(bao, &root), urls(bao, &int));
        assert_eq!(
            urls(bao, m)["ocsp_servers"],
            json!(["https://ocsp.example.com"])
        );
        assert_eq!(
            urls(bao, m)["issuing_certificates"],
            want["issuing_certificates"]
        );
    }

    // A bad entry fails at plan, naming it, and nothing is written.
    let before = urls(bao, &int);
    tf.write_config(&ca(&url_config(
        "\"https://pki.example.com/v1/ca\", \"pki.example.com/ca\"",
        "",
        "",
    )));
    let err = tf.plan_expect_error();
    assert!(
        err.contains("Invalid URL") && err.contains("\"pki.example.com/ca\" is not an absolute"),
        "{err}"
    );
    assert!(err.contains("issuing_certificates"), "{err}");
    assert_eq!(urls(bao, &int), before);

    // Removing them clears both mounts in place; server drift with none configured shows too.
    tf.write_config(&ca(""));
    expect_update_not_replace(&tf);
    tf.apply();
    tf.assert_plan_empty();
    let empty =
        json!({"issuing_certificates": [], "crl_distribution_points": [], "ocsp_servers": []});
    assert_eq!(urls(bao, &root), empty);
    assert_eq!(urls(bao, &int), empty);
    let r = api(
        bao,
        "POST",
        &format!("/v1/{int}/config/urls"),
        Some(json!({"crl_distribution_points": ["http://x.example.com/crl"]})),
    );
    assert!(r.is_success(), "{}", r.body);
    expect_update_not_replace(&tf);
    tf.apply();
    assert_eq!(urls(bao, &int), empty);

    tf.destroy();
    assert_eq!(mount_type(bao, &root), None);
    assert_eq!(mount_type(bao, &int), None);
}
