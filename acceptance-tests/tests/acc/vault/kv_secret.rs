//! `stack_vault_kv_secret` (resource and ephemeral resource) end to end against OpenBao: data in
//! state, write-only data, drift, disappears, import, mount checks, and no secret in state or logs.
//! Every test works in its own fresh mount.

use serde_json::{json, Value};
use stack_acceptance_tests::harness::random_hex;
use stack_acceptance_tests::{random_name, Bao, PlanOutcome, TfWorkdir};

use crate::common::{api, workdir, PROVIDER};

/// A fresh mount of `body` (e.g. KV v2) at a random path under `prefix`.
fn mount(bao: &Bao, prefix: &str, body: Value) -> String {
    let m = random_name(prefix);
    let r = api(bao, "POST", &format!("/v1/sys/mounts/{m}"), Some(body));
    assert!(r.is_success(), "mount {m}: {} {}", r.status, r.body);
    m
}

fn kv2_mount(bao: &Bao, prefix: &str) -> String {
    mount(
        bao,
        prefix,
        json!({"type": "kv", "options": {"version": "2"}}),
    )
}

fn unmount(bao: &Bao, m: &str) {
    let r = api(bao, "DELETE", &format!("/v1/sys/mounts/{m}"), None);
    assert!(r.is_success(), "unmount {m}: {} {}", r.status, r.body);
}

/// `GET <mount>/data/<path>`: `(data, version)` or `None` on 404.
fn remote(bao: &Bao, m: &str, p: &str) -> Option<(Value, u64)> {
    let r = api(bao, "GET", &format!("/v1/{m}/data/{p}"), None);
    if r.status == 404 {
        return None;
    }
    assert!(r.is_success(), "read {m}/{p}: {} {}", r.status, r.body);
    let j = r.json().expect("json");
    let version = j["data"]["metadata"]["version"].as_u64().expect("version");
    Some((j["data"]["data"].clone(), version))
}

/// `GET <mount>/metadata/<path>` or `None` on 404.
fn metadata(bao: &Bao, m: &str, p: &str) -> Option<Value> {
    let r = api(bao, "GET", &format!("/v1/{m}/metadata/{p}"), None);
    if r.status == 404 {
        return None;
    }
    assert!(r.is_success(), "metadata {m}/{p}: {} {}", r.status, r.body);
    Some(r.json().expect("json")["data"].clone())
}

fn write_remote(bao: &Bao, m: &str, p: &str, data: Value) -> u64 {
    let r = api(
        bao,
        "POST",
        &format!("/v1/{m}/data/{p}"),
        Some(json!({ "data": data })),
    );
    assert!(r.is_success(), "write {m}/{p}: {} {}", r.status, r.body);
    r.json().expect("json")["data"]["version"]
        .as_u64()
        .expect("version")
}

/// Destroy removed the metadata and every version.
fn assert_gone(bao: &Bao, m: &str, p: &str, versions: u64) {
    assert!(metadata(bao, m, p).is_none(), "metadata of {m}/{p} left");
    for v in 1..=versions {
        let r = api(bao, "GET", &format!("/v1/{m}/data/{p}?version={v}"), None);
        assert_eq!(r.status, 404, "version {v} of {m}/{p} left: {}", r.body);
    }
}

/// Terraform wraps diagnostic text; compare with runs of whitespace squashed.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn plan_changes(tf: &TfWorkdir, what: &str) -> String {
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => out,
        PlanOutcome::NoChanges => panic!("expected a plan with changes: {what}"),
    }
}

fn attrs(tf: &TfWorkdir) -> Value {
    tf.state_json()["resources"][0]["instances"][0]["attributes"].clone()
}

fn state_text(tf: &TfWorkdir) -> String {
    std::fs::read_to_string(tf.path().join("terraform.tfstate")).expect("state file")
}

fn data_config(m: &str, p: &str, user: &str, password: &str, custom: &str) -> String {
    format!(
        r#"{PROVIDER}
resource "stack_vault_kv_secret" "s" {{
  mount = "{m}"
  path  = "{p}"
  data = {{
    user     = "{user}"
    password = "{password}"
  }}
  {custom}
}}
"#
    )
}

fn wo_config(m: &str, p: &str, password: &str, version: u32) -> String {
    format!(
        r#"{PROVIDER}
resource "stack_vault_kv_secret" "s" {{
  mount           = "{m}"
  path            = "{p}"
  data_wo         = {{ password = "{password}" }}
  data_wo_version = {version}
}}
"#
    )
}

#[test]
fn vault_kv_secret_data_lifecycle() {
    let bao = Bao::shared();
    let m = kv2_mount(bao, "acc-kv");
    let p = "app/db";
    let pw1 = format!("pw1-{}", random_hex(16));
    let mut tf = workdir(bao);
    tf.write_config(&data_config(
        &m,
        p,
        "app",
        &pw1,
        "custom_metadata = { owner = \"team-a\" }",
    ));
    tf.init();
    // `data` is in state by the user's choice, but never in the logs.
    tf.set_env("TF_LOG", "trace");
    let out = tf.apply();
    assert!(!out.combined().contains(&pw1), "secret in the trace log");
    tf.set_env("TF_LOG", "");
    let (data, version) = remote(bao, &m, p).expect("created");
    assert_eq!(data, json!({"user": "app", "password": pw1}));
    assert_eq!(version, 1);
    assert_eq!(
        metadata(bao, &m, p).expect("metadata")["custom_metadata"],
        json!({"owner": "team-a"})
    );
    tf.assert_plan_empty();
    let a = attrs(&tf);
    assert_eq!(a["id"], json!(format!("{m}/{p}")));
    assert_eq!(a["version"], json!(1));
    assert_eq!(a["data_wo"], Value::Null);

    // Changing data is an in-place update that writes version 2.
    let pw2 = format!("pw2-{}", random_hex(16));
    tf.write_config(&data_config(
        &m,
        p,
        "app",
        &pw2,
        "custom_metadata = { owner = \"team-a\" }",
    ));
    let out = plan_changes(&tf, "changed data");
    assert!(out.contains("1 to change"), "{out}");
    tf.apply();
    tf.assert_plan_empty();
    let (data, version) = remote(bao, &m, p).expect("updated");
    assert_eq!(data["password"], json!(pw2));
    assert_eq!(version, 2);
    assert_eq!(attrs(&tf)["version"], json!(2));

    // Changing only custom_metadata writes no new version.
    tf.write_config(&data_config(
        &m,
        p,
        "app",
        &pw2,
        "custom_metadata = { owner = \"team-b\" }",
    ));
    tf.apply();
    tf.assert_plan_empty();
    let meta = metadata(bao, &m, p).expect("metadata");
    assert_eq!(meta["custom_metadata"], json!({"owner": "team-b"}));
    assert_eq!(meta["current_version"], json!(2));

    // Drift: a new version with other data written outside Terraform plans an update.
    assert_eq!(
        write_remote(bao, &m, p, json!({"user": "mallory", "password": "x"})),
        3
    );
    let out = plan_changes(&tf, "out-of-band data");
    assert!(out.contains("1 to change"), "{out}");
    tf.apply();
    tf.assert_plan_empty();
    let (data, version) = remote(bao, &m, p).expect("restored");
    assert_eq!(data, json!({"user": "app", "password": pw2}));
    assert_eq!(version, 4);

    // Drift in custom metadata set outside Terraform.
    let r = api(
        bao,
        "POST",
        &format!("/v1/{m}/metadata/{p}"),
        Some(json!({"custom_metadata": {"owner": "someone", "extra": "1"}})),
    );
    assert!(r.is_success(), "{}", r.body);
    let out = plan_changes(&tf, "out-of-band custom_metadata");
    assert!(out.contains("custom_metadata"), "{out}");
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        metadata(bao, &m, p).expect("metadata")["custom_metadata"],
        json!({"owner": "team-b"})
    );

    // A soft-deleted latest version is drift too: its data can no longer be read.
    let r = api(bao, "DELETE", &format!("/v1/{m}/data/{p}"), None);
    assert!(r.is_success(), "{}", r.body);
    let out = plan_changes(&tf, "deleted latest version");
    assert!(out.contains("1 to change"), "{out}");
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(remote(bao, &m, p).expect("rewritten").1, 5);

    // Disappears: deleting the metadata (all versions) outside Terraform plans a create.
    let r = api(bao, "DELETE", &format!("/v1/{m}/metadata/{p}"), None);
    assert!(r.is_success(), "{}", r.body);
    let out = plan_changes(&tf, "deleted metadata");
    assert!(out.contains("1 to add"), "{out}");
    tf.apply();
    tf.assert_plan_empty();
    let (data, version) = remote(bao, &m, p).expect("re-created");
    assert_eq!(data["password"], json!(pw2));
    assert_eq!(version, 1);

    // Moving the secret replaces it: the old path is deleted with all its versions.
    tf.write_config(&data_config(&m, "app/db2", "app", &pw2, ""));
    let out = plan_changes(&tf, "path change");
    assert!(out.contains("must be replaced"), "{out}");
    tf.apply();
    tf.assert_plan_empty();
    assert_gone(bao, &m, p, 1);
    assert!(metadata(bao, &m, "app/db2").is_some());
    assert_eq!(
        metadata(bao, &m, "app/db2").expect("metadata")["custom_metadata"],
        Value::Null
    );

    // Write three more versions, then destroy removes the metadata and every version.
    let r = api(
        bao,
        "POST",
        &format!("/v1/{m}/data/app/db2"),
        Some(json!({"data": {"v": "2"}})),
    );
    assert!(r.is_success(), "{}", r.body);
    tf.apply();
    tf.destroy();
    assert_gone(bao, &m, "app/db2", 3);
    unmount(bao, &m);
}

#[test]
fn vault_kv_secret_create_never_takes_over_an_existing_secret() {
    let bao = Bao::shared();
    let m = kv2_mount(bao, "acc-kv-exists");
    write_remote(bao, &m, "taken", json!({"owner": "someone else"}));
    let tf = workdir(bao);
    tf.write_config(&data_config(&m, "taken", "app", "pw-abcdef", ""));
    tf.init();
    let err = squash(&tf.apply_expect_error());
    assert!(
        err.contains("already exists") && err.contains("terraform import"),
        "{err}"
    );
    let (data, version) = remote(bao, &m, "taken").expect("untouched");
    assert_eq!(data, json!({"owner": "someone else"}));
    assert_eq!(version, 1);
    unmount(bao, &m);
}

#[test]
fn vault_kv_secret_import() {
    let bao = Bao::shared();
    // A mount path with a slash: the import ID splits after the longest mount.
    let m = format!("{}/kv", random_name("acc-kv-imp"));
    let r = api(
        bao,
        "POST",
        &format!("/v1/sys/mounts/{m}"),
        Some(json!({"type": "kv-v2"})),
    );
    assert!(r.is_success(), "{}", r.body);
    let p = "team/app/db";
    let pw = format!("pw-{}", random_hex(16));
    write_remote(bao, &m, p, json!({"user": "u0", "password": "old"}));
    write_remote(bao, &m, p, json!({"user": "app", "password": pw}));
    let r = api(
        bao,
        "POST",
        &format!("/v1/{m}/metadata/{p}"),
        Some(json!({"custom_metadata": {"owner": "team-a"}})),
    );
    assert!(r.is_success(), "{}", r.body);
    let config = data_config(
        &m,
        p,
        "app",
        &pw,
        "custom_metadata = { owner = \"team-a\" }",
    );

    // terraform import <addr> <mount>/<path>
    let tf = workdir(bao);
    tf.write_config(&config);
    tf.init();
    tf.import("stack_vault_kv_secret.s", &format!("{m}/{p}"));
    tf.assert_plan_empty();
    let a = attrs(&tf);
    assert_eq!(a["mount"], json!(m));
    assert_eq!(a["path"], json!(p));
    assert_eq!(a["version"], json!(2));
    assert_eq!(a["data"]["password"], json!(pw));

    // import {} by identity.
    let tf2 = workdir(bao);
    tf2.write_config(&format!(
        "{config}\nimport {{\n  to       = stack_vault_kv_secret.s\n  identity = {{\n    mount = \"{m}\"\n    path  = \"{p}\"\n  }}\n}}\n"
    ));
    tf2.init();
    let out = plan_changes(&tf2, "import by identity");
    assert!(
        out.contains("1 to import") && out.contains("0 to change"),
        "{out}"
    );
    tf2.apply();
    tf2.assert_plan_empty();

    // An ID under no mount, or naming only a mount, is refused with the expected format.
    let tf3 = workdir(bao);
    tf3.write_config(&config);
    tf3.init();
    let out = tf3.run(&[
        "import",
        "-no-color",
        "-input=false",
        "stack_vault_kv_secret.s",
        &format!("{}/x", random_name("acc-nomount")),
    ]);
    assert!(!out.success(), "{}", out.combined());
    assert!(
        out.combined().contains("<mount>/<path>"),
        "{}",
        out.combined()
    );
    assert_eq!(remote(bao, &m, p).expect("still there").1, 2);

    tf.destroy();
    assert_gone(bao, &m, p, 2);
    unmount(bao, &m);
}

#[test]
fn vault_kv_secret_write_only() {
    let bao = Bao::shared();
    let m = kv2_mount(bao, "acc-kv-wo");
    let p = "wo/secret";
    let pw1 = format!("wo1-{}", random_hex(20));
    let tf = workdir(bao).env("TF_LOG", "trace");
    tf.write_config(&wo_config(&m, p, &pw1, 1));
    tf.init();
    let out = tf.apply();
    assert!(
        !out.combined().contains(&pw1),
        "the write-only value leaked into the log"
    );
    let (data, version) = remote(bao, &m, p).expect("created");
    assert_eq!(data, json!({"password": pw1}));
    assert_eq!(version, 1);
    let check_no_secret = |tf: &TfWorkdir, secret: &str| {
        let state = state_text(tf);
        assert!(!state.contains(secret), "secret in state:\n{state}");
        let show = tf.show_json().to_string();
        assert!(!show.contains(secret), "secret in show -json:\n{show}");
        let a = attrs(tf);
        assert_eq!(a["data"], Value::Null);
        assert_eq!(a["data_wo"], Value::Null);
    };
    check_no_secret(&tf, &pw1);
    assert_eq!(attrs(&tf)["version"], json!(1));
    tf.assert_plan_empty();

    // A new value without a version bump is invisible to Terraform (by design) ...
    let pw2 = format!("wo2-{}", random_hex(20));
    tf.write_config(&wo_config(&m, p, &pw2, 1));
    tf.assert_plan_empty();
    // ... and bumping data_wo_version writes it.
    tf.write_config(&wo_config(&m, p, &pw2, 2));
    let out = plan_changes(&tf, "data_wo_version bump");
    assert!(out.contains("1 to change"), "{out}");
    let out = tf.apply();
    assert!(!out.combined().contains(&pw2), "secret in the log");
    tf.assert_plan_empty();
    let (data, version) = remote(bao, &m, p).expect("rewritten");
    assert_eq!(data, json!({"password": pw2}));
    assert_eq!(version, 2);
    check_no_secret(&tf, &pw2);
    assert_eq!(attrs(&tf)["version"], json!(2));

    // Drift through the version: a write outside Terraform plans writing data_wo again.
    write_remote(bao, &m, p, json!({"password": "tampered"}));
    let out = plan_changes(&tf, "out-of-band version");
    assert!(out.contains("1 to change"), "{out}");
    assert!(out.contains("Secret changed outside Terraform"), "{out}");
    tf.apply();
    tf.assert_plan_empty();
    let (data, version) = remote(bao, &m, p).expect("restored");
    assert_eq!(data, json!({"password": pw2}));
    assert_eq!(version, 4);
    assert_eq!(attrs(&tf)["version"], json!(4));

    // A soft-deleted latest version is drift too.
    let r = api(bao, "DELETE", &format!("/v1/{m}/data/{p}"), None);
    assert!(r.is_success(), "{}", r.body);
    let out = plan_changes(&tf, "deleted latest version");
    assert!(out.contains("1 to change"), "{out}");
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(remote(bao, &m, p).expect("rewritten").1, 5);

    // Disappears: deleted metadata plans a create.
    let r = api(bao, "DELETE", &format!("/v1/{m}/metadata/{p}"), None);
    assert!(r.is_success(), "{}", r.body);
    let out = plan_changes(&tf, "deleted metadata");
    assert!(out.contains("1 to add"), "{out}");
    tf.apply();
    tf.assert_plan_empty();
    check_no_secret(&tf, &pw2);

    let out = tf.destroy();
    assert!(!out.combined().contains(&pw2), "secret in the log");
    assert_gone(bao, &m, p, 1);
    unmount(bao, &m);
}

#[test]
fn vault_kv_secret_ephemeral_feeds_write_only() {
    let bao = Bao::shared();
    let m = kv2_mount(bao, "acc-kv-eph");
    let v1 = format!("eph1-{}", random_hex(20));
    let v2 = format!("eph2-{}", random_hex(20));
    write_remote(bao, &m, "src", json!({"token": v1, "n": 7}));
    write_remote(bao, &m, "src", json!({"token": v2, "n": 8}));
    let config = |version: &str, wo_version: u32| {
        format!(
            r#"{PROVIDER}
ephemeral "stack_vault_kv_secret" "src" {{
  mount = "{m}"
  path  = "src"
  {version}
}}
resource "stack_vault_kv_secret" "copy" {{
  mount           = "{m}"
  path            = "copy"
  data_wo         = ephemeral.stack_vault_kv_secret.src.data
  data_wo_version = {wo_version}
}}
"#
        )
    };
    let tf = workdir(bao).env("TF_LOG", "trace");
    tf.write_config(&config("", 1));
    tf.init();
    let out = tf.apply();
    let logs = out.combined();
    assert!(!logs.contains(&v2), "ephemeral value in the log");
    // Numbers stored in KV come through as their JSON text.
    let (data, version) = remote(bao, &m, "copy").expect("copied");
    assert_eq!(data, json!({"token": v2, "n": "8"}));
    assert_eq!(version, 1);
    let state = state_text(&tf);
    assert!(
        !state.contains(&v2) && !state.contains(&v1),
        "secret in state:\n{state}"
    );
    assert!(!tf.show_json().to_string().contains(&v2));
    tf.assert_plan_empty();

    // An explicit older version, written by bumping data_wo_version.
    tf.write_config(&config("version = 1", 2));
    tf.apply();
    tf.assert_plan_empty();
    let (data, version) = remote(bao, &m, "copy").expect("copied v1");
    assert_eq!(data["token"], json!(v1));
    assert_eq!(version, 2);
    assert!(!state_text(&tf).contains(&v1));

    // A missing version or secret is a diagnostic on the attribute at fault.
    tf.write_config(&config("version = 9", 3));
    let err = squash(&tf.apply_expect_error());
    assert!(
        err.contains("Version 9") && err.contains("does not exist"),
        "{err}"
    );
    tf.write_config(&config("version = 1", 2).replace("path  = \"src\"", "path  = \"nothing\""));
    let err = squash(&tf.apply_expect_error());
    assert!(err.contains("There is no secret"), "{err}");
    assert_eq!(remote(bao, &m, "copy").expect("unchanged").1, 2);

    tf.write_config(&config("version = 1", 2));
    tf.destroy();
    assert_gone(bao, &m, "copy", 2);
    assert!(remote(bao, &m, "src").is_some(), "the source is only read");
    unmount(bao, &m);
}

#[test]
fn vault_kv_secret_rejects_wrong_mounts_before_writing() {
    let bao = Bao::shared();
    let kv1 = mount(bao, "acc-kv1", json!({"type": "kv"}));
    let kv2 = kv2_mount(bao, "acc-kv2-in");
    let tf = workdir(bao);
    tf.write_config(&data_config(&kv1, "app", "u", "pw-abcdef", ""));
    tf.init();
    let err = squash(&tf.apply_expect_error());
    assert!(
        err.contains("Not a KV version 2 mount") && err.contains("kv version 1"),
        "{err}"
    );
    assert!(
        err.contains(&format!("mount = \"{kv1}\"")),
        "diagnostic must point at `mount`: {err}"
    );
    let r = api(bao, "GET", &format!("/v1/{kv1}/app"), None);
    assert_eq!(r.status, 404, "nothing may be written: {}", r.body);

    let nowhere = random_name("acc-nomount");
    tf.write_config(&data_config(&nowhere, "app", "u", "pw-abcdef", ""));
    let err = squash(&tf.apply_expect_error());
    assert!(err.contains("No secrets engine is mounted"), "{err}");

    // A path inside a KV v2 mount given as the mount names the real mount.
    tf.write_config(&data_config(
        &format!("{kv2}/team"),
        "app",
        "u",
        "pw-abcdef",
        "",
    ));
    let err = squash(&tf.apply_expect_error());
    assert!(
        err.contains("is not a mount") && err.contains("lies inside"),
        "{err}"
    );
    assert!(metadata(bao, &kv2, "team/app").is_none());
    let listed = tf.run(&["state", "list"]);
    assert!(
        listed.stdout.trim().is_empty(),
        "nothing in state: {}",
        listed.stdout
    );
    unmount(bao, &kv1);
    unmount(bao, &kv2);
}

#[test]
fn vault_kv_secret_bad_input_fails_at_plan() {
    let bao = Bao::shared();
    let m = kv2_mount(bao, "acc-kv-bad");
    let tf = workdir(bao);
    tf.write_config(&wo_config(&m, "a", "pw-abcdef", 1));
    tf.init();
    let cases = [
        (
            data_config(&m, "/app/db", "u", "p", ""),
            "must not start or end with",
        ),
        (
            data_config(&format!("{m}/"), "app", "u", "p", ""),
            "must not start or end with",
        ),
        (
            wo_config(&m, "a", "p", 1).replace("data_wo_version = 1", "data = { a = \"b\" }\n  data_wo_version = 1"),
            "Conflicting attributes",
        ),
        (
            wo_config(&m, "a", "p", 1).replace("data_wo_version = 1", ""),
            "Missing data_wo_version",
        ),
        (
            data_config(&m, "a", "u", "p", "data_wo_version = 1"),
            "data_wo_version without data_wo",
        ),
        (
            wo_config(&m, "a", "p", 1).replace("data_wo_version = 1", "data_wo_version = 1.5"),
            "whole number",
        ),
        (
            data_config(&m, "a", "u", "p", "custom_metadata = { owner = \"\" }"),
            "1 to 512 bytes",
        ),
        (
            format!("{PROVIDER}\nresource \"stack_vault_kv_secret\" \"s\" {{\n  mount = \"{m}\"\n  path  = \"a\"\n}}\n"),
            "Missing secret data",
        ),
    ];
    for (config, want) in cases {
        tf.write_config(&config);
        let err = squash(&tf.plan_expect_error());
        assert!(
            err.contains(want),
            "want {want:?}:\n{err}\n--- config ---\n{config}"
        );
    }
    let r = api(bao, "GET", &format!("/v1/{m}/metadata/?list=true"), None);
    assert_eq!(r.status, 404, "nothing may be written: {}", r.body);
    unmount(bao, &m);
}

/// A token that may only touch its secret's paths (no `sys/mounts`) still passes the mount check.
#[test]
fn vault_kv_secret_least_privilege_token() {
    let bao = Bao::shared();
    let m = kv2_mount(bao, "acc-kv-lp");
    let policy = random_name("acc-kv-lp");
    let hcl = format!(
        "path \"{m}/data/app/*\" {{ capabilities = [\"create\", \"read\", \"update\"] }}\n\
         path \"{m}/metadata/app/*\" {{ capabilities = [\"create\", \"read\", \"update\", \"delete\"] }}\n"
    );
    let r = api(
        bao,
        "PUT",
        &format!("/v1/sys/policies/acl/{policy}"),
        Some(json!({"policy": hcl})),
    );
    assert!(r.is_success(), "{}", r.body);
    let r = api(
        bao,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": [policy], "ttl": "20m"})),
    );
    assert!(r.is_success(), "{}", r.body);
    let token = r.json().expect("json")["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    let r = stack_acceptance_tests::http_request(
        &bao.addr,
        "GET",
        "/v1/sys/mounts",
        &[("X-Vault-Token", &token)],
        None,
        std::time::Duration::from_secs(10),
    )
    .expect("request");
    assert_eq!(r.status, 403, "the token must not read sys/mounts");

    let tf = TfWorkdir::new()
        .envs(bao.env())
        .env("VAULT_TOKEN", &token)
        .env("BAO_TOKEN", &token);
    tf.write_config(&data_config(&m, "app/x", "u", "pw-abcdef", ""));
    tf.init();
    tf.apply();
    tf.assert_plan_empty();
    assert!(remote(bao, &m, "app/x").is_some());
    tf.destroy();
    assert_gone(bao, &m, "app/x", 1);
    let r = api(
        bao,
        "DELETE",
        &format!("/v1/sys/policies/acl/{policy}"),
        None,
    );
    assert!(r.is_success(), "{}", r.body);
    unmount(bao, &m);
}
