//! Workload identity and task templates of the Nomad simulator against a real OpenBao
//! (`bao server -dev`) and the Consul simulator: OpenBao validates the simulator's JWTs
//! through its JWKS endpoint, the templated policy confines each job to its own secrets,
//! and templates render KV v2 secrets, Consul services and keys.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{client, start_bao, Bao};
use serde_json::{json, Value};
use stack_devstack::consul::{ConsulSim, SimOptions};
use stack_devstack::nomad::workload::{prepare_task, IdentitySigner, TaskClaims, TaskEnvironment};
use stack_devstack::nomad::{NomadSim, NomadSimOptions};

/// What `stack_vault_nomad_workload_identity` (and `nomad setup vault`) configure.
async fn configure_vault(bao: &Bao, jwks_url: &str) -> String {
    use reqwest::Method;
    bao.call(
        Method::POST,
        "sys/auth/jwt-nomad",
        Some(json!({"type": "jwt"})),
    )
    .await;
    let auths = bao.call(Method::GET, "sys/auth", None).await;
    let accessor = auths["data"]["jwt-nomad/"]["accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    bao.call(
        Method::POST,
        "auth/jwt-nomad/config",
        Some(json!({
            "jwks_url": jwks_url,
            "jwt_supported_algs": ["RS256", "EdDSA"],
            "default_role": "nomad-workloads",
        })),
    )
    .await;
    let meta = |k: &str| format!("{{{{identity.entity.aliases.{accessor}.metadata.{k}}}}}");
    let base = format!(
        "secret/data/{}/{}",
        meta("nomad_namespace"),
        meta("nomad_job_id")
    );
    let policy = format!(
        "path \"{base}/*\" {{\n  capabilities = [\"read\"]\n}}\npath \"{base}\" {{\n  capabilities = [\"read\"]\n}}\n"
    );
    bao.call(
        Method::PUT,
        "sys/policies/acl/nomad-workloads",
        Some(json!({"policy": policy})),
    )
    .await;
    bao.call(
        Method::POST,
        "auth/jwt-nomad/role/nomad-workloads",
        Some(json!({
            "role_type": "jwt",
            "bound_audiences": ["vault.io"],
            "user_claim": "/nomad_job_id",
            "user_claim_json_pointer": true,
            "claim_mappings": {
                "nomad_namespace": "nomad_namespace",
                "nomad_job_id": "nomad_job_id",
                "nomad_task": "nomad_task",
            },
            "token_type": "service",
            "token_policies": ["nomad-workloads"],
            "token_period": "30m",
        })),
    )
    .await;
    for (job, pw) in [("web", "web-s3cr3t"), ("other", "other-s3cr3t")] {
        bao.call(
            Method::POST,
            &format!("secret/data/default/{job}/config"),
            Some(json!({"data": {"password": pw, "user": format!("{job}-user")}})),
        )
        .await;
    }
    accessor
}

fn claims(job: &str) -> TaskClaims {
    TaskClaims {
        namespace: "default".into(),
        job_id: job.into(),
        group: "g".into(),
        task: "t".into(),
        alloc_id: "8a4ee3d6-6f4e-4bfa-9c35-9bb2c6a0b6f1".into(),
        ..TaskClaims::default()
    }
}

fn task_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(d.path().join("secrets")).expect("secrets");
    std::fs::create_dir_all(d.path().join("local")).expect("local");
    d
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

fn jwt_parts(jwt: &str) -> (Value, Value, Vec<u8>, String) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS");
    let dec = |s: &str| URL_SAFE_NO_PAD.decode(s).expect("base64url");
    let header: Value = serde_json::from_slice(&dec(parts[0])).expect("header json");
    let payload: Value = serde_json::from_slice(&dec(parts[1])).expect("payload json");
    (
        header,
        payload,
        dec(parts[2]),
        format!("{}.{}", parts[0], parts[1]),
    )
}

/// Verifies an RS256 JWT against a JWKS document, as a relying party would.
fn verify_with_jwks(jwt: &str, jwks: &Value) -> Value {
    let (header, payload, sig, input) = jwt_parts(jwt);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let kid = header["kid"].as_str().expect("kid");
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("the JWT's kid is in the JWKS");
    let b = |k: &str| {
        URL_SAFE_NO_PAD
            .decode(key[k].as_str().expect("component"))
            .expect("base64url")
    };
    let pk = aws_lc_rs::rsa::PublicKeyComponents {
        n: b("n"),
        e: b("e"),
    };
    pk.verify(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        input.as_bytes(),
        &sig,
    )
    .expect("signature verifies with the JWKS key");
    payload
}

#[test]
fn signer_jwks_and_claims_shape() {
    let signer = IdentitySigner::generate().expect("key");
    let jwks = signer.jwks();
    let k = &jwks["keys"][0];
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["alg"], "RS256");
    assert_eq!(k["use"], "sig");
    assert_eq!(k["kid"], signer.kid());
    assert_eq!(k["e"], "AQAB");
    let mut c = claims("web");
    c.ttl = Some(Duration::from_secs(600));
    let jwt = signer.sign(&c).expect("sign");
    let p = verify_with_jwks(&jwt, &jwks);
    assert_eq!(p["nomad_namespace"], "default");
    assert_eq!(p["nomad_job_id"], "web");
    assert_eq!(p["nomad_task"], "t");
    assert_eq!(p["nomad_allocation_id"], c.alloc_id.as_str());
    assert_eq!(p["sub"], "global:default:web:g:t:default");
    // A single audience is a string, as go-jose encodes it.
    assert_eq!(p["aud"], "nomadproject.io");
    let iat = p["iat"].as_u64().expect("iat");
    assert_eq!(p["nbf"].as_u64(), Some(iat));
    assert_eq!(p["exp"].as_u64(), Some(iat + 600));
    assert!(p["jti"].as_str().is_some_and(|j| j.len() == 36));
    assert!(p.get("iss").is_none(), "a dev agent has no oidc_issuer");
    assert_eq!(signer.verify(&jwt).expect("verifies"), p);

    // Nomad's verification errors.
    assert_eq!(
        signer.verify("not-a-jwt").expect_err("not a JWT"),
        "failed to parse signed token: go-jose/go-jose: compact JWS format must have three parts"
    );
    let mut expired = c.payload(std::time::SystemTime::now() - Duration::from_secs(7200));
    expired["exp"] = json!(expired["iat"].as_u64().expect("iat") + 60);
    let old = signer.sign_payload(&expired).expect("sign");
    assert_eq!(
        signer.verify(&old).expect_err("expired"),
        "invalid claims: go-jose/go-jose/jwt: validation failed, token is expired (exp)"
    );

    // A tampered payload no longer verifies.
    let other = IdentitySigner::generate().expect("key");
    let forged = other.sign(&c).expect("sign");
    assert!(signer
        .verify(&forged)
        .expect_err("foreign kid")
        .starts_with("no such key"));
    let (fh, _, _, _) = jwt_parts(&forged);
    let mut parts: Vec<String> = forged.split('.').map(str::to_string).collect();
    parts[0] = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&json!({"alg": "RS256", "kid": signer.kid(), "typ": fh["typ"]}))
            .expect("json"),
    );
    assert_eq!(
        signer.verify(&parts.join(".")).expect_err("bad signature"),
        "invalid signature: go-jose/go-jose: error in cryptographic primitive"
    );
    let (_, _, sig, input) = jwt_parts(&forged);
    let b = |s: &Value| URL_SAFE_NO_PAD.decode(s.as_str().expect("s")).expect("b64");
    let pk = aws_lc_rs::rsa::PublicKeyComponents {
        n: b(&k["n"]),
        e: b(&k["e"]),
    };
    assert!(pk
        .verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &sig
        )
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_identity_templates_and_consul() {
    let nomad = NomadSim::start(NomadSimOptions::default())
        .await
        .expect("nomad sim");
    let jwks_url = format!("{}/.well-known/jwks.json", nomad.url());

    // The JWKS endpoint, as Nomad serves it.
    let r = client().get(&jwks_url).send().await.expect("jwks");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("application/json"));
    let jwks: Value = r.json().await.expect("jwks json");
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    let r = client().post(&jwks_url).send().await.expect("post jwks");
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.text().await.expect("body"), "Invalid method");

    let bao = start_bao("workload-test-root").await;
    let accessor = configure_vault(&bao, &jwks_url).await;

    let consul = ConsulSim::start(SimOptions::default())
        .await
        .expect("consul sim");
    for (id, addr, port) in [("db-2", "10.0.0.6", 5433), ("db-1", "10.0.0.5", 5432)] {
        let r = client()
            .put(format!("{}/v1/agent/service/register", consul.url()))
            .json(&json!({"ID": id, "Name": "db", "Address": addr, "Port": port}))
            .send()
            .await
            .expect("register");
        assert_eq!(
            r.status().as_u16(),
            200,
            "{}",
            r.text().await.unwrap_or_default()
        );
    }
    let r = client()
        .put(format!("{}/v1/kv/config/web/mode", consul.url()))
        .body("prod")
        .send()
        .await
        .expect("kv put");
    assert_eq!(r.status().as_u16(), 200);

    // A Nomad variable for the job, read by `nomadVar` with the task's identity.
    let r = client()
        .put(format!("{}/v1/var/nomad/jobs/web", nomad.url()))
        .json(&json!({"Items": {"api_key": "k-123"}}))
        .send()
        .await
        .expect("var put");
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.text().await.unwrap_or_default()
    );

    // The simulator's key and the test's signer must be the same for OpenBao to accept
    // the JWT: use the key the simulator publishes.
    let signer = nomad.signer();
    let env = TaskEnvironment {
        vault_addr: Some(bao.addr.clone()),
        consul_addr: Some(consul.url()),
        nomad_addr: Some(nomad.url()),
        http: client(),
        task_env: BTreeMap::from([("NOMAD_ALLOC_ID".to_string(), "a1".to_string())]),
        ..TaskEnvironment::default()
    };
    let task = json!({
        "Name": "t",
        "Driver": "raw_exec",
        "Env": {"GREETING": "hi"},
        "Vault": {"Env": true, "ChangeMode": "restart"},
        "Identity": {"Name": "default", "Env": true},
        "Identities": [{"Name": "vault_default", "Audience": ["vault.io"], "TTL": 3_600_000_000_000u64, "Env": true}],
        "Templates": [
            {
                "EmbeddedTmpl": "{{ with secret \"secret/data/default/web/config\" }}DB_PASSWORD={{ .Data.data.password }}\nDB_USER={{ .Data.data.user }}\n{{ end }}",
                "DestPath": "secrets/db.env",
                "Envvars": true,
                "Perms": "0600",
            },
            {
                "EmbeddedTmpl": "upstream db {\n{{- range service \"db\" }}\n  server {{ .Address }}:{{ .Port }};\n{{- end }}\n}\nmode={{ key \"config/web/mode\" }} greeting={{ env \"GREETING\" }} alloc={{ env \"NOMAD_ALLOC_ID\" }}\n{{ range $k, $v := (secret \"secret/default/web/config\").Data.data }}{{ $k }}={{ $v }};{{ end }}\nnone=[{{ range service \"missing\" }}x{{ end }}]\n",
                "DestPath": "${NOMAD_TASK_DIR}/app.conf",
            },
            {
                "EmbeddedTmpl": "[[ with nomadVar \"nomad/jobs/web\" ]]key=[[ .api_key ]][[ end ]] {{x}} [[ range nomadVarList \"nomad/jobs\" ]][[ .Path ]][[ end ]] [[ nomadVarExists \"nomad/jobs/none\" ]]",
                "DestPath": "local/vars.txt",
                "LeftDelim": "[[",
                "RightDelim": "]]",
            }
        ]
    });
    let dir = task_dir();
    let prepared = prepare_task(&env, &signer, &claims("web"), &task, dir.path())
        .await
        .unwrap_or_else(|e| panic!("prepare_task: {}", e.display));

    // Vault token: from OpenBao's JWT login, in env and secrets/vault_token.
    let token = prepared.vault_token.clone().expect("vault token");
    assert_eq!(prepared.env.get("VAULT_TOKEN"), Some(&token));
    assert_eq!(read(dir.path(), "secrets/vault_token"), token);
    let r = client()
        .get(format!("{}/v1/auth/token/lookup-self", bao.addr))
        .header("X-Vault-Token", &token)
        .send()
        .await
        .expect("lookup-self");
    let me: Value = r.json().await.expect("lookup json");
    assert!(me["data"]["policies"]
        .as_array()
        .expect("policies")
        .contains(&json!("nomad-workloads")));
    assert_eq!(me["data"]["meta"]["role"], "nomad-workloads");
    // The entity alias carries the mapped claims the policy template reads.
    let entity_id = me["data"]["entity_id"]
        .as_str()
        .expect("entity")
        .to_string();
    let ent = bao
        .call(
            reqwest::Method::GET,
            &format!("identity/entity/id/{entity_id}"),
            None,
        )
        .await;
    let alias = ent["data"]["aliases"]
        .as_array()
        .expect("aliases")
        .iter()
        .find(|a| a["mount_accessor"] == accessor.as_str())
        .expect("jwt alias")
        .clone();
    assert_eq!(alias["name"], "web");
    assert_eq!(alias["metadata"]["nomad_job_id"], "web");
    assert_eq!(alias["metadata"]["nomad_namespace"], "default");
    assert_eq!(alias["metadata"]["nomad_task"], "t");

    // Identity tokens: NOMAD_TOKEN (default identity) and NOMAD_TOKEN_vault_default.
    let p = verify_with_jwks(&prepared.env["NOMAD_TOKEN_vault_default"], &jwks);
    assert_eq!(p["aud"], "vault.io");
    assert_eq!(p["sub"], "global:default:web:g:t:vault_default");
    assert_eq!(
        p["exp"].as_u64(),
        p["iat"].as_u64().map(|i| i + 3600),
        "TTL from the identity block"
    );
    let p = verify_with_jwks(&prepared.env["NOMAD_TOKEN"], &jwks);
    assert_eq!(p["aud"], "nomadproject.io");
    assert_eq!(p["sub"], "global:default:web:g:t:default");

    // The env template: on disk (0600) and in the task's environment.
    assert_eq!(
        read(dir.path(), "secrets/db.env"),
        "DB_PASSWORD=web-s3cr3t\nDB_USER=web-user\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secrets/db.env"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        prepared.env.get("DB_PASSWORD").map(String::as_str),
        Some("web-s3cr3t")
    );
    assert_eq!(
        prepared.env.get("DB_USER").map(String::as_str),
        Some("web-user")
    );

    // Services from Consul (sorted by node, then ID), a KV key, env, KV v2 shim, and an
    // unknown service rendering empty.
    assert_eq!(
        read(dir.path(), "local/app.conf"),
        "upstream db {\n  server 10.0.0.5:5432;\n  server 10.0.0.6:5433;\n}\n\
         mode=prod greeting=hi alloc=a1\n\
         password=web-s3cr3t;user=web-user;\n\
         none=[]\n"
    );

    assert_eq!(
        read(dir.path(), "local/vars.txt"),
        "key=k-123 {{x}} nomad/jobs/web false"
    );

    // Another job's secret: the templated policy denies it, and the task fails the way
    // Nomad reports it.
    let denied = json!({
        "Name": "t",
        "Vault": {},
        "Templates": [{
            "EmbeddedTmpl": "{{ with secret \"secret/data/default/other/config\" }}{{ .Data.data.password }}{{ end }}",
            "DestPath": "local/x",
        }]
    });
    let dir2 = task_dir();
    let err = prepare_task(&env, &signer, &claims("web"), &denied, dir2.path())
        .await
        .expect_err("another job's secret is denied");
    eprintln!("denied read event: {}", err.display);
    assert_eq!(err.event_type, "Killing");
    let expected_prefix = format!(
        "Template failed: vault.read(secret/data/default/other/config): vault.read(secret/data/default/other/config): Error making API request.\n\nURL: GET {}/v1/secret/data/default/other/config\nCode: 403. Errors:\n\n* ",
        bao.addr
    );
    assert!(
        err.display.starts_with(&expected_prefix),
        "{:?}",
        err.display
    );
    assert!(
        err.display.contains("permission denied"),
        "{:?}",
        err.display
    );
    assert!(!err.display.contains("other-s3cr3t"));
    assert!(!dir2.path().join("local/x").exists());

    // ... while job "other" reads it with its own identity.
    let ok = prepare_task(&env, &signer, &claims("other"), &denied, dir2.path())
        .await
        .unwrap_or_else(|e| panic!("other job: {}", e.display));
    assert_eq!(read(dir2.path(), "local/x"), "other-s3cr3t");
    assert!(ok.vault_token.is_some());

    // A Vault identity with the wrong audience: OpenBao refuses the login.
    let wrong_aud = json!({
        "Name": "t",
        "Vault": {"Env": false, "DisableFile": true},
        "Identities": [{"Name": "vault_default", "Audience": ["not-vault"]}],
    });
    let dir3 = task_dir();
    let err = prepare_task(&env, &signer, &claims("web"), &wrong_aud, dir3.path())
        .await
        .expect_err("login with a wrong audience fails");
    eprintln!("failed login event: {}", err.display);
    assert_eq!(err.event_type, "Killing");
    let expected_prefix = format!(
        "Vault: failed to derive vault token: failed to derive Vault token for identity vault_default: failed to login with JWT: Error making API request.\n\nURL: PUT {}/v1/auth/jwt-nomad/login\nCode: 400. Errors:\n\n* ",
        bao.addr
    );
    assert!(
        err.display.starts_with(&expected_prefix),
        "{:?}",
        err.display
    );
    assert!(err.display.contains("aud"), "{:?}", err.display);
    assert!(!dir3.path().join("secrets/vault_token").exists());

    // A JWT signed by a key the JWKS does not publish is refused too.
    let stranger = IdentitySigner::generate().expect("key");
    let err = prepare_task(&env, &stranger, &claims("web"), &denied, dir3.path())
        .await
        .expect_err("unknown signing key");
    assert!(err.display.contains("Code: 400."), "{:?}", err.display);

    // Vault.Env = false: a token, on disk, but no VAULT_TOKEN.
    let no_env = json!({"Name": "t", "Vault": {"Env": false}});
    let dir4 = task_dir();
    let p = prepare_task(&env, &signer, &claims("web"), &no_env, dir4.path())
        .await
        .unwrap_or_else(|e| panic!("no env: {}", e.display));
    assert!(p.vault_token.is_some());
    assert!(!p.env.contains_key("VAULT_TOKEN"));
    assert!(dir4.path().join("secrets/vault_token").exists());

    let mut child = bao.child;
    let _ = child.kill().await;
    consul.shutdown().await;
    nomad.shutdown().await;
}

/// `range service` sends the client's Consul token: with ACLs on (default deny), the token
/// sees the service and the anonymous token sees nothing (Consul filters, it does not 403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_lookup_uses_the_consul_token() {
    let consul = ConsulSim::start(SimOptions {
        acl_enabled: true,
        ..SimOptions::default()
    })
    .await
    .expect("consul sim");
    let root = consul.acl_bootstrap().expect("bootstrap");
    let r = client()
        .put(format!("{}/v1/agent/service/register", consul.url()))
        .header("X-Consul-Token", &root)
        .json(&json!({"ID": "api-1", "Name": "api", "Address": "10.1.0.1", "Port": 8080}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status().as_u16(), 200);
    let signer = IdentitySigner::generate().expect("key");
    let task = json!({
        "Name": "t",
        "Templates": [{
            "EmbeddedTmpl": "{{ range service \"api\" }}{{ .Name }}={{ .Address }}:{{ .Port }} {{ .Status }}{{ end }}",
            "DestPath": "local/api.txt",
        }]
    });
    let mut env = TaskEnvironment {
        consul_addr: Some(consul.url()),
        consul_token: Some(root.clone()),
        http: client(),
        ..TaskEnvironment::default()
    };
    let dir = task_dir();
    prepare_task(&env, &signer, &claims("web"), &task, dir.path())
        .await
        .unwrap_or_else(|e| panic!("with token: {}", e.display));
    assert_eq!(
        read(dir.path(), "local/api.txt"),
        "api=10.1.0.1:8080 passing"
    );

    env.consul_token = None;
    let dir = task_dir();
    prepare_task(&env, &signer, &claims("web"), &task, dir.path())
        .await
        .unwrap_or_else(|e| panic!("anonymous: {}", e.display));
    assert_eq!(read(dir.path(), "local/api.txt"), "");
    consul.shutdown().await;
}
