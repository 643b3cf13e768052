//! The agent's workload-identity key and the JWTs Nomad signs with it.
//!
//! Nomad (1.7+) signs identities with the keyring's RSA key (RS256, header `kid` = the root
//! key's UUID, `typ` = `JWT`) and publishes the public half at `/.well-known/jwks.json`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

/// What Nomad puts in a task's identity JWT (`structs.IdentityClaims` for a task workload).
#[derive(Debug, Clone)]
pub struct TaskClaims {
    pub namespace: String,
    pub job_id: String,
    pub group: String,
    pub task: String,
    pub alloc_id: String,
    /// `aud`; a single audience is encoded as a string, as go-jose does.
    pub audience: Vec<String>,
    /// Sets `exp` when present and non-zero; Nomad's identities without a TTL never expire.
    pub ttl: Option<Duration>,
    /// The job's region, first element of `sub`.
    pub region: String,
    /// Identity name, last element of `sub` (`default`, `vault_default`, ...).
    pub identity: String,
    /// `iss`, only when the agent has `oidc_issuer` configured (a dev agent has none).
    pub issuer: Option<String>,
    /// `vault_role` / `vault_namespace` claims of Vault identities (omitted when empty).
    pub vault_role: String,
    pub vault_namespace: String,
}

impl Default for TaskClaims {
    fn default() -> Self {
        TaskClaims {
            namespace: "default".into(),
            job_id: String::new(),
            group: String::new(),
            task: String::new(),
            alloc_id: String::new(),
            // `structs.IdentityDefaultAud`, the audience of the `default` identity.
            audience: vec!["nomadproject.io".into()],
            ttl: None,
            region: "global".into(),
            identity: "default".into(),
            issuer: None,
            vault_role: String::new(),
            vault_namespace: String::new(),
        }
    }
}

impl TaskClaims {
    /// The JWT payload: `setWorkloadSubject` + `setExpiry` + a fresh `jti`.
    pub fn payload(&self, now: SystemTime) -> Value {
        let now_s = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let identity = if self.identity.is_empty() {
            "default"
        } else {
            self.identity.as_str()
        };
        let mut m = Map::new();
        m.insert("nomad_namespace".into(), json!(self.namespace));
        m.insert("nomad_job_id".into(), json!(self.job_id));
        m.insert("nomad_allocation_id".into(), json!(self.alloc_id));
        if !self.task.is_empty() {
            m.insert("nomad_task".into(), json!(self.task));
        }
        if !self.vault_namespace.is_empty() {
            m.insert("vault_namespace".into(), json!(self.vault_namespace));
        }
        if !self.vault_role.is_empty() {
            m.insert("vault_role".into(), json!(self.vault_role));
        }
        if let Some(iss) = self.issuer.as_deref().filter(|s| !s.is_empty()) {
            m.insert("iss".into(), json!(iss));
        }
        let sub = [
            self.region.as_str(),
            &self.namespace,
            &self.job_id,
            &self.group,
            &self.task,
            identity,
        ]
        .join(":");
        m.insert("sub".into(), json!(sub));
        match self.audience.len() {
            0 => {}
            1 => {
                m.insert("aud".into(), json!(self.audience[0]));
            }
            _ => {
                m.insert("aud".into(), json!(self.audience));
            }
        }
        if let Some(ttl) = self.ttl.filter(|t| !t.is_zero()) {
            m.insert("exp".into(), json!(now_s + ttl.as_secs()));
        }
        m.insert("nbf".into(), json!(now_s));
        m.insert("iat".into(), json!(now_s));
        m.insert("jti".into(), json!(crate::consul::uuid_v4()));
        Value::Object(m)
    }
}

/// The agent's workload-identity key (RSA 2048, RS256), created once per simulated agent.
pub struct IdentitySigner {
    key: KeyPair,
    kid: String,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl std::fmt::Debug for IdentitySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("IdentitySigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl IdentitySigner {
    pub fn generate() -> Result<IdentitySigner, String> {
        let key = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| "generating the workload identity RSA key failed".to_string())?;
        let public = key.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        Ok(IdentitySigner {
            key,
            kid: crate::consul::uuid_v4(),
            n,
            e,
        })
    }

    /// The key ID (`kid` header of every JWT, and of the JWKS entry).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// JWKS document served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        json!({
            "keys": [{
                "use": "sig",
                "kty": "RSA",
                "kid": self.kid,
                "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(&self.n),
                "e": URL_SAFE_NO_PAD.encode(&self.e),
            }]
        })
    }

    /// `Encrypter.VerifyClaim`: checks the signature, `exp` and `nbf` (with go-jose's one
    /// minute leeway) and returns the claims. Errors carry Nomad's texts.
    pub fn verify(&self, jwt: &str) -> Result<Value, String> {
        let parse = |e: &str| format!("failed to parse signed token: {e}");
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err(parse(
                "go-jose/go-jose: compact JWS format must have three parts",
            ));
        }
        let dec = |s: &str| {
            URL_SAFE_NO_PAD
                .decode(s)
                .map_err(|e| parse(&format!("illegal base64 data: {e}")))
        };
        let header: Value =
            serde_json::from_slice(&dec(parts[0])?).map_err(|e| parse(&e.to_string()))?;
        let payload = dec(parts[1])?;
        let sig = dec(parts[2])?;
        let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
        if kid.is_empty() {
            return Err("missing key ID header".into());
        }
        if kid != self.kid {
            return Err(format!("no such key {kid:?} in keyring"));
        }
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(
                "invalid signature: go-jose/go-jose: unexpected signature algorithm".into(),
            );
        }
        let pk = aws_lc_rs::rsa::PublicKeyComponents {
            n: self.n.as_slice(),
            e: self.e.as_slice(),
        };
        let input = format!("{}.{}", parts[0], parts[1]);
        pk.verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &sig,
        )
        .map_err(|_| {
            "invalid signature: go-jose/go-jose: error in cryptographic primitive".to_string()
        })?;
        let claims: Value =
            serde_json::from_slice(&payload).map_err(|e| format!("invalid signature: {e}"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let leeway = 60;
        let invalid =
            |why: &str| format!("invalid claims: go-jose/go-jose/jwt: validation failed, {why}");
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
            if now > exp + leeway {
                return Err(invalid("token is expired (exp)"));
            }
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64) {
            if now + leeway < nbf {
                return Err(invalid("token not valid yet (nbf)"));
            }
        }
        if let Some(iat) = claims.get("iat").and_then(Value::as_u64) {
            if now + leeway < iat {
                return Err(invalid("token issued in the future (iat)"));
            }
        }
        Ok(claims)
    }

    /// Signs `claims` as of now.
    pub fn sign(&self, claims: &TaskClaims) -> Result<String, String> {
        self.sign_payload(&claims.payload(SystemTime::now()))
    }

    /// Signs an arbitrary JSON payload as a compact JWS.
    pub fn sign_payload(&self, payload: &Value) -> Result<String, String> {
        let header = json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"});
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default());
        let signing_input = format!("{}.{}", enc(&header), enc(payload));
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "signing the workload identity failed".to_string())?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}
