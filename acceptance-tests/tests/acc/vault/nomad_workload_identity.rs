//! `stack_vault_nomad_workload_identity` end to end, with a stand-in for Nomad: the test serves a
//! JWKS on loopback and signs RS256 workload identities with Nomad's claims, logs in through the
//! role and proves each job reads its own secrets and is denied another job's. Also: empty plan,
//! in-place updates, drift (role, policy, whole mount), import, destroy, static keys, and
//! plan/apply-time refusals that write nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use stack_acceptance_tests::{http_request, random_name, Bao, PlanOutcome};

use crate::common::{api, workdir, PROVIDER};

/// Nomad's signing side: an RSA key with a key id.
struct NomadSigner {
    key: KeyPair,
    kid: String,
}

impl NomadSigner {
    fn new() -> Self {
        NomadSigner {
            key: KeyPair::generate(KeySize::Rsa2048).expect("rsa key"),
            kid: random_name("kid"),
        }
    }

    fn jwks(&self) -> Value {
        let public = self.key.public_key();
        json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        }]})
    }

    /// The public key as PEM (SubjectPublicKeyInfo), for `jwt_validation_pubkeys`.
    fn public_pem(&self) -> String {
        let der = self.key.public_key().as_der().expect("der");
        let b64 = STANDARD.encode(der.as_ref());
        let body: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            body.join("\n")
        )
    }

    /// A workload identity as Nomad signs it for task `task` of job `job` in `namespace`.
    fn identity(&self, namespace: &str, job: &str, task: &str, aud: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let claims = json!({
            "aud": [aud],
            "sub": format!("global:{namespace}:{job}:web:{task}:vault_default"),
            "jti": random_name("jti"),
            "nomad_namespace": namespace,
            "nomad_job_id": job,
            "nomad_task": task,
            "nomad_allocation_id": random_name("alloc"),
            "iat": now, "nbf": now, "exp": now + 600,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .expect("sign");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// Serves `GET /.well-known/jwks.json` on a loopback port from a background thread, as Nomad
/// does on its HTTP port; returns the JWKS URL. Other paths get 404.
fn serve_jwks(jwks: Value) -> String {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind jwks");
    let port = listener.local_addr().expect("addr").port();
    let body = jwks.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(match stream.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            });
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Drain the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let reply = if request_line.starts_with("GET /.well-known/jwks.json ") {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    format!("http://127.0.0.1:{port}/.well-known/jwks.json")
}

/// `POST auth/<path>/login`, unauthenticated; returns (status, body JSON).
fn login(bao: &Bao, auth_path: &str, role: &str, jwt: &str) -> (u16, Value) {
    let body = json!({"role": role, "jwt": jwt}).to_string();
    let r = http_request(
        &bao.addr,
        "POST",
        &format!("/v1/auth/{auth_path}/login"),
        &[],
        Some(&body),
        std::time::Duration::from_secs(10),
    )
    .expect("login request");
    (r.status, r.json().unwrap_or(Value::Null))
}

fn token_of(bao: &Bao, auth_path: &str, role: &str, jwt: &str) -> String {
    let (status, body) = login(bao, auth_path, role, jwt);
    assert_eq!(status, 200, "login failed: {body}");
    body["auth"]["client_token"]
        .as_str()
        .expect("client_token")
        .to_string()
}

fn get_with(bao: &Bao, token: &str, path: &str) -> (u16, Value) {
    let r = http_request(
        &bao.addr,
        "GET",
        path,
        &[("X-Vault-Token", token)],
        None,
        std::time::Duration::from_secs(10),
    )
    .expect("request");
    (r.status, r.json().unwrap_or(Value::Null))
}

fn auth_mount(bao: &Bao, path: &str) -> Option<Value> {
    let r = api(bao, "GET", "/v1/sys/auth", None);
    assert!(r.is_success(), "{}", r.body);
    r.json().expect("json")["data"]
        .get(format!("{path}/"))
        .cloned()
}

fn policy_text(bao: &Bao, name: &str) -> Option<String> {
    let r = api(bao, "GET", &format!("/v1/sys/policies/acl/{name}"), None);
    if r.status == 404 {
        return None;
    }
    assert!(r.is_success(), "{}", r.body);
    r.json().expect("json")["data"]["policy"]
        .as_str()
        .map(str::to_string)
}

fn role(bao: &Bao, auth_path: &str, name: &str) -> Option<Value> {
    let r = api(
        bao,
        "GET",
        &format!("/v1/auth/{auth_path}/role/{name}"),
        None,
    );
    if r.status == 404 {
        return None;
    }
    assert!(r.is_success(), "{}", r.body);
    Some(r.json().expect("json")["data"].clone())
}

fn write_secret(bao: &Bao, path: &str, value: &str) {
    let r = api(
        bao,
        "POST",
        &format!("/v1/secret/data/{path}"),
        Some(json!({"data": {"value": value}})),
    );
    assert!(r.is_success(), "{}", r.body);
}

fn config(auth_path: &str, policy_name: &str, source: &str, extra: &str) -> String {
    format!(
        r#"{PROVIDER}
resource "stack_vault_nomad_workload_identity" "nomad" {{
  auth_path   = "{auth_path}"
  policy_name = "{policy_name}"
  {source}
  {extra}
}}
"#
    )
}

fn attrs(tf: &stack_acceptance_tests::TfWorkdir) -> Value {
    tf.state_json()["resources"][0]["instances"][0]["attributes"].clone()
}

#[test]
fn vault_nomad_workload_identity_lifecycle() {
    let bao = Bao::shared();
    let nomad = NomadSigner::new();
    let jwks_url = serve_jwks(nomad.jwks());
    let auth_path = random_name("acc-jwt-nomad");
    let policy_name = random_name("acc-nomad-workloads");
    let (job, other_job) = (random_name("app"), random_name("other"));
    let source = format!("jwks_url = \"{jwks_url}\"");
    write_secret(bao, &format!("default/{job}/config"), "mine");
    write_secret(bao, &format!("default/{job}"), "mine-top");
    write_secret(bao, &format!("default/{other_job}/config"), "theirs");

    let tf = workdir(bao);
    tf.write_config(&config(&auth_path, &policy_name, &source, ""));
    tf.init();
    tf.apply();
    tf.assert_plan_empty();

    // What `nomad setup vault` would have made.
    let mount = auth_mount(bao, &auth_path).expect("auth method enabled");
    assert_eq!(mount["type"], json!("jwt"));
    let accessor = mount["accessor"].as_str().expect("accessor").to_string();
    let state = attrs(&tf);
    assert_eq!(state["auth_accessor"], json!(accessor));
    assert_eq!(state["id"], json!(auth_path));
    assert_eq!(state["token_policies"], json!([policy_name]));
    let r = api(bao, "GET", &format!("/v1/auth/{auth_path}/config"), None);
    let cfg = r.json().expect("json")["data"].clone();
    assert_eq!(cfg["jwks_url"], json!(jwks_url));
    assert_eq!(cfg["jwt_supported_algs"], json!(["RS256", "EdDSA"]));
    assert_eq!(cfg["default_role"], json!("nomad-workloads"));
    let r0 = role(bao, &auth_path, "nomad-workloads").expect("role");
    assert_eq!(r0["role_type"], json!("jwt"));
    assert_eq!(r0["bound_audiences"], json!(["vault.io"]));
    assert_eq!(r0["user_claim"], json!("/nomad_job_id"));
    assert_eq!(r0["user_claim_json_pointer"], json!(true));
    assert_eq!(
        r0["claim_mappings"],
        json!({"nomad_namespace": "nomad_namespace", "nomad_job_id": "nomad_job_id", "nomad_task": "nomad_task"})
    );
    assert_eq!(r0["token_type"], json!("service"));
    assert_eq!(r0["token_period"], json!(1800));
    assert_eq!(r0["token_policies"], json!([policy_name]));
    let policy = policy_text(bao, &policy_name).expect("policy");
    assert!(
        policy.contains(&format!(
            "secret/data/{{{{identity.entity.aliases.{accessor}.metadata.nomad_namespace}}}}/{{{{identity.entity.aliases.{accessor}.metadata.nomad_job_id}}}}"
        )),
        "{policy}"
    );
    assert_eq!(state["policy"], json!(policy));

    // A task of `job` logs in with its identity and reads only its own secrets.
    let token = token_of(
        bao,
        &auth_path,
        "nomad-workloads",
        &nomad.identity("default", &job, "web", "vault.io"),
    );
    let (status, body) = get_with(
        bao,
        &token,
        &format!("/v1/secret/data/default/{job}/config"),
    );
    assert_eq!(status, 200, "own secret: {body}");
    assert_eq!(body["data"]["data"]["value"], json!("mine"));
    let (status, body) = get_with(bao, &token, &format!("/v1/secret/data/default/{job}"));
    assert_eq!(status, 200, "own top-level secret: {body}");
    let (status, body) = get_with(
        bao,
        &token,
        &format!("/v1/secret/data/default/{other_job}/config"),
    );
    assert_eq!(status, 403, "another job's secret must be denied: {body}");
    let (status, _) = get_with(bao, &token, &format!("/v1/secret/data/prod/{job}/config"));
    assert_eq!(
        status, 403,
        "the same job id in another namespace is not its own"
    );
    let (_, lookup) = get_with(bao, &token, "/v1/auth/token/lookup-self");
    assert_eq!(
        lookup["data"]["period"],
        json!(1800),
        "periodic token: {lookup}"
    );

    // Only identities Nomad signed for Vault's audience are accepted.
    let (status, _) = login(
        bao,
        &auth_path,
        "nomad-workloads",
        &nomad.identity("default", &job, "web", "consul.io"),
    );
    assert_eq!(status, 400, "wrong audience must be refused");
    let (status, _) = login(
        bao,
        &auth_path,
        "nomad-workloads",
        &NomadSigner::new().identity("default", &job, "web", "vault.io"),
    );
    assert_eq!(status, 400, "a key Nomad does not publish must be refused");

    // In-place update: the mount (and the tokens it issued) stay.
    tf.write_config(&config(
        &auth_path,
        &policy_name,
        &source,
        "token_period = \"1h\"",
    ));
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to change"), "{out}"),
        PlanOutcome::NoChanges => panic!("a new token_period must plan an update"),
    }
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(
        role(bao, &auth_path, "nomad-workloads").expect("role")["token_period"],
        json!(3600)
    );
    assert_eq!(
        auth_mount(bao, &auth_path).expect("mount")["accessor"],
        json!(accessor)
    );
    let (status, _) = get_with(
        bao,
        &token,
        &format!("/v1/secret/data/default/{job}/config"),
    );
    assert_eq!(status, 200, "tokens survive an in-place update");

    // Drift in the role shows as an update and apply puts it back.
    let r = api(
        bao,
        "POST",
        &format!("/v1/auth/{auth_path}/role/nomad-workloads"),
        Some(json!({"role_type": "jwt", "bound_audiences": ["evil"], "token_period": "2h"})),
    );
    assert!(r.is_success(), "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => {
            assert!(out.contains("1 to change") && out.contains("evil"), "{out}")
        }
        PlanOutcome::NoChanges => panic!("an edited role must be drift"),
    }
    tf.apply();
    tf.assert_plan_empty();
    let r1 = role(bao, &auth_path, "nomad-workloads").expect("role");
    assert_eq!(
        (&r1["bound_audiences"], &r1["token_period"]),
        (&json!(["vault.io"]), &json!(3600))
    );

    // Drift in the policy (edited, then deleted) shows as an update too.
    let r = api(
        bao,
        "PUT",
        &format!("/v1/sys/policies/acl/{policy_name}"),
        Some(json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"})),
    );
    assert!(r.is_success(), "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to change"), "{out}"),
        PlanOutcome::NoChanges => panic!("an edited policy must be drift"),
    }
    api(
        bao,
        "DELETE",
        &format!("/v1/sys/policies/acl/{policy_name}"),
        None,
    );
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to change"), "{out}"),
        PlanOutcome::NoChanges => panic!("a deleted policy must be drift"),
    }
    tf.apply();
    tf.assert_plan_empty();
    assert_eq!(policy_text(bao, &policy_name), Some(policy.clone()));

    // Import by auth_path: everything else is found from the server.
    let tf2 = workdir(bao);
    tf2.write_config(&config(
        &auth_path,
        &policy_name,
        &source,
        "token_period = \"1h\"",
    ));
    tf2.init();
    tf2.import("stack_vault_nomad_workload_identity.nomad", &auth_path);
    tf2.assert_plan_empty();
    let imported = attrs(&tf2);
    assert_eq!(imported["policy_name"], json!(policy_name));
    assert_eq!(imported["kv_mount"], json!("secret"));
    assert_eq!(imported["role_name"], json!("nomad-workloads"));

    // Disappears: the auth method disabled out of band plans a create; the new mount has a new
    // accessor and the policy follows it.
    let r = api(bao, "DELETE", &format!("/v1/sys/auth/{auth_path}"), None);
    assert!(r.is_success(), "{}", r.body);
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to add"), "{out}"),
        PlanOutcome::NoChanges => panic!("a disabled auth method must be re-created"),
    }
    // The policy left behind is this resource's (its auth method is gone), so it is adopted.
    tf.apply();
    tf.assert_plan_empty();
    let new_accessor = auth_mount(bao, &auth_path).expect("re-created")["accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    assert_ne!(new_accessor, accessor);
    assert!(policy_text(bao, &policy_name)
        .expect("policy")
        .contains(&new_accessor));
    let token = token_of(
        bao,
        &auth_path,
        "nomad-workloads",
        &nomad.identity("default", &job, "web", "vault.io"),
    );
    let (status, _) = get_with(
        bao,
        &token,
        &format!("/v1/secret/data/default/{job}/config"),
    );
    assert_eq!(status, 200);

    // Destroy removes the auth method (revoking its tokens) and the policy.
    tf.destroy();
    assert!(
        auth_mount(bao, &auth_path).is_none(),
        "auth method disabled"
    );
    assert!(policy_text(bao, &policy_name).is_none(), "policy deleted");
    let (status, _) = get_with(bao, &token, "/v1/auth/token/lookup-self");
    assert_eq!(status, 403, "tokens issued through the method are revoked");
    for p in [
        format!("default/{job}/config"),
        format!("default/{job}"),
        format!("default/{other_job}/config"),
    ] {
        api(bao, "DELETE", &format!("/v1/secret/metadata/{p}"), None);
    }
}

#[test]
fn vault_nomad_workload_identity_static_keys_and_custom_names() {
    let bao = Bao::shared();
    let nomad = NomadSigner::new();
    let auth_path = format!("{}/nomad", random_name("acc-team"));
    let policy_name = random_name("acc-nomad-static");
    let kv = random_name("acc-kv");
    let job = random_name("batch");
    let r = api(
        bao,
        "POST",
        &format!("/v1/sys/mounts/{kv}"),
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    assert!(r.is_success(), "{}", r.body);
    let r = api(
        bao,
        "POST",
        &format!("/v1/{kv}/data/ops/{job}/db"),
        Some(json!({"data": {"password": "x"}})),
    );
    assert!(r.is_success(), "{}", r.body);

    let pem = nomad.public_pem();
    let tf = workdir(bao);
    tf.write_config(&config(
        &auth_path,
        &policy_name,
        &format!("jwt_validation_pubkeys = [<<-EOT\n{pem}EOT\n  ]"),
        &format!(
            "role_name = \"batch-jobs\"\n  kv_mount = \"{kv}\"\n  token_type = \"batch\"\n  token_period = \"0\"\n  token_policies = [\"{policy_name}\", \"default\"]"
        ),
    ));
    tf.init();
    tf.apply();
    tf.assert_plan_empty();
    let r = role(bao, &auth_path, "batch-jobs").expect("role");
    assert_eq!(r["token_type"], json!("batch"));
    assert_eq!(r["token_policies"], json!([policy_name, "default"]));

    let (status, body) = login(
        bao,
        &auth_path,
        "batch-jobs",
        &nomad.identity("ops", &job, "main", "vault.io"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["token_type"], json!("batch"), "{body}");
    let token = body["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    let (status, body) = get_with(bao, &token, &format!("/v1/{kv}/data/ops/{job}/db"));
    assert_eq!(status, 200, "{body}");
    let (status, _) = get_with(bao, &token, &format!("/v1/{kv}/data/default/{job}/db"));
    assert_eq!(status, 403, "another namespace is denied");

    tf2_import_matches(bao, &tf, &auth_path);

    tf.destroy();
    assert!(auth_mount(bao, &auth_path).is_none());
    assert!(policy_text(bao, &policy_name).is_none());
    api(bao, "DELETE", &format!("/v1/sys/mounts/{kv}"), None);
}

/// Terraform wraps long diagnostic lines: compare with whitespace squashed.
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Importing the resource into a fresh workdir with the same configuration plans nothing.
fn tf2_import_matches(bao: &Bao, tf: &stack_acceptance_tests::TfWorkdir, auth_path: &str) {
    let tf2 = workdir(bao);
    let main = std::fs::read_to_string(tf.path().join("main.tf")).expect("main.tf");
    tf2.write_config(&main);
    tf2.init();
    tf2.import("stack_vault_nomad_workload_identity.nomad", auth_path);
    tf2.assert_plan_empty();
}

#[test]
fn vault_nomad_workload_identity_bad_input_writes_nothing() {
    let bao = Bao::shared();
    let auth_path = random_name("acc-jwt-bad");
    let policy_name = random_name("acc-nomad-bad");
    let url = "jwks_url = \"http://127.0.0.1:9/.well-known/jwks.json\"";
    let tf = workdir(bao);
    tf.write_config(PROVIDER);
    tf.init();
    let cases = [
        ("", "", "Missing key source"),
        (
            url,
            "jwt_validation_pubkeys = [\"-----BEGIN PUBLIC KEY-----\"]",
            "Conflicting key sources",
        ),
        (url, "kv_mount = \"/secret\"", "must not start or end with"),
        (url, "token_period = \"soon\"", "is not a duration"),
        (
            url,
            "jwt_supported_algs = [\"HS256\"]",
            "Invalid signing algorithm",
        ),
        (
            url,
            "token_type = \"batch\"",
            "Batch tokens cannot be periodic",
        ),
        (
            url,
            "claim_mappings = { nomad_task = \"nomad_task\" }",
            "nomad_namespace",
        ),
        (
            "jwks_url = \"nomad:4646\"",
            "",
            "must be an http:// or https:// URL",
        ),
    ];
    for (source, extra, expected) in cases {
        tf.write_config(&config(&auth_path, &policy_name, source, extra));
        let err = tf.plan_expect_error();
        assert!(flat(&err).contains(expected), "{expected:?} not in:\n{err}");
    }
    tf.write_config(&config(&auth_path, "default", url, ""));
    let err = tf.plan_expect_error();
    assert!(flat(&err).contains("built-in policy"), "{err}");

    // A KV version 1 mount is refused at apply, before anything is written.
    let kv1 = random_name("acc-kv1");
    let r = api(
        bao,
        "POST",
        &format!("/v1/sys/mounts/{kv1}"),
        Some(json!({"type": "kv"})),
    );
    assert!(r.is_success(), "{}", r.body);
    tf.write_config(&config(
        &auth_path,
        &policy_name,
        url,
        &format!("kv_mount = \"{kv1}\""),
    ));
    let err = tf.apply_expect_error();
    assert!(flat(&err).contains("KV version 1"), "{err}");
    assert!(flat(&err).contains("kv_mount"), "points at kv_mount: {err}");

    // A policy of the same name that this resource did not write is not overwritten.
    let foreign = random_name("acc-foreign");
    let r = api(
        bao,
        "PUT",
        &format!("/v1/sys/policies/acl/{foreign}"),
        Some(json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"})),
    );
    assert!(r.is_success(), "{}", r.body);
    tf.write_config(&config(&auth_path, &foreign, url, ""));
    let err = tf.apply_expect_error();
    assert!(flat(&err).contains("was not written by"), "{err}");
    assert!(auth_mount(bao, &auth_path).is_none());
    assert!(policy_text(bao, &foreign).is_some_and(|p| p.starts_with("path")));
    api(
        bao,
        "DELETE",
        &format!("/v1/sys/policies/acl/{foreign}"),
        None,
    );

    // An unreachable JWKS fails at apply and the half-made auth method is rolled back.
    tf.write_config(&config(&auth_path, &policy_name, url, ""));
    let err = tf.apply_expect_error();
    assert!(flat(&err).contains("error checking jwks URL"), "{err}");
    assert!(auth_mount(bao, &auth_path).is_none(), "rolled back");
    assert!(policy_text(bao, &policy_name).is_none(), "no policy left");
    assert!(tf.state_json()["resources"]
        .as_array()
        .is_none_or(|r| r.is_empty()));
    api(bao, "DELETE", &format!("/v1/sys/mounts/{kv1}"), None);
}
