//! Connect CA: `/v1/connect/ca/configuration`, `/v1/connect/ca/roots` and
//! `/v1/agent/connect/ca/leaf/:service`, with the built-in `consul` provider (roots and leaves
//! made here) and the `vault` provider (everything done in the Vault it is given, as Consul's
//! `VaultProvider` does it).
//!
//! Known differences from Consul: EC P-224 keys are generated as P-256 by the built-in
//! provider; Vault auth
//! methods (`AuthMethod`) and the `aws-pca` provider are refused; the Vault token is not
//! renewed in the background.

mod certs;
mod config;
mod vault;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Method;
use serde_json::{json, Map, Value};

use self::certs::{CertInfo, ConsulCa};
use self::config::VaultConfig;
use self::vault::Vault;
use super::acl::{Authorizer, Level};
use super::api::{blocking, forbidden, parse_query_opts, set_meta, Query};
use super::state::State;
use super::{json_resp, text, Inner, Resp};

/// The stored `structs.CAConfiguration`.
#[derive(Debug, Clone)]
pub(crate) struct CaConfig {
    pub provider: String,
    /// As the user sent it (Consul stores and returns the raw map, the Vault token included).
    pub config: Map<String, Value>,
    pub force_without_cross_signing: bool,
    pub create_index: u64,
    pub modify_index: u64,
}

/// One `structs.CARoot`.
#[derive(Debug, Clone)]
pub(crate) struct CaRoot {
    pub id: String,
    pub name: String,
    pub serial: u64,
    pub signing_key_id: String,
    pub external_trust_domain: String,
    pub not_before: String,
    pub not_after: String,
    pub root_cert: String,
    pub intermediate_certs: Vec<String>,
    pub active: bool,
    pub key_type: String,
    pub key_bits: u32,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The provider behind the active root.
#[derive(Debug, Clone)]
enum Provider {
    Consul(ConsulCa),
    Vault(VaultConfig),
}

/// A leaf the agent cached for a service.
#[derive(Debug, Clone)]
struct Leaf {
    cert_pem: String,
    key_pem: String,
    uri: String,
    info: CertInfo,
    root_id: String,
    /// When the agent replaces it (Consul's soft expiry: 60-90% of its lifetime).
    renew_at: i64,
    create_index: u64,
    modify_index: u64,
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The CA tables of the state store plus the leader's provider.
#[derive(Debug, Default)]
pub(crate) struct CaState {
    pub cluster_id: String,
    pub config: Option<CaConfig>,
    pub roots: Vec<CaRoot>,
    pub roots_index: u64,
    provider: Option<Provider>,
    leaves: BTreeMap<String, Leaf>,
    /// The built-in provider's serial counter.
    serial: u64,
    /// Consul's `caStateReconfig`: one configuration change at a time.
    reconfiguring: bool,
}

impl CaState {
    /// What the leader does on start-up (`InitializeCA`): the default configuration
    /// (`RuntimeConfig.ConnectCAConfiguration`) and a root from the built-in provider.
    pub(crate) fn bootstrap(&mut self, idx: u64) {
        self.cluster_id = super::uuid_v4();
        let mut cfg = Map::new();
        cfg.insert("LeafCertTTL".into(), json!("72h"));
        cfg.insert("IntermediateCertTTL".into(), json!("8760h"));
        cfg.insert("RootCertTTL".into(), json!("87600h"));
        self.config = Some(CaConfig {
            provider: "consul".into(),
            config: cfg,
            force_without_cross_signing: false,
            create_index: idx,
            modify_index: idx,
        });
        self.serial += 1;
        let ttl = Duration::from_secs(87600 * 3600);
        // A failure leaves the CA uninitialised; the next configuration change retries.
        if let Ok(ca) = certs::consul_root(&self.cluster_id, None, "ec", 256, ttl, self.serial) {
            if let Ok(root) = new_root(&ca.cert_pem, "consul", &self.cluster_id) {
                self.roots = vec![CaRoot {
                    create_index: idx,
                    modify_index: idx,
                    ..root
                }];
                self.roots_index = idx;
                self.provider = Some(Provider::Consul(ca));
            }
        }
    }

    fn active_root(&self) -> Option<&CaRoot> {
        self.roots.iter().find(|r| r.active)
    }

    fn trust_domain(&self) -> String {
        format!("{}.consul", self.cluster_id)
    }
}

/// `newCARoot`.
fn new_root(pem: &str, provider: &str, cluster_id: &str) -> Result<CaRoot, String> {
    let info = certs::parse_cert_pem(pem)?;
    let pretty = match provider {
        "consul" => "Consul",
        "vault" => "Vault",
        "aws-pca" => "AWS",
        p => p,
    };
    Ok(CaRoot {
        id: info.fingerprint,
        name: format!("{pretty} CA Primary Cert"),
        serial: info.serial_u64,
        signing_key_id: info.ski_hex,
        external_trust_domain: cluster_id.to_string(),
        not_before: info.not_before,
        not_after: info.not_after,
        root_cert: if pem.ends_with('\n') {
            pem.to_string()
        } else {
            format!("{pem}\n")
        },
        intermediate_certs: Vec::new(),
        active: true,
        key_type: info.key_type,
        key_bits: info.key_bits,
        create_index: 0,
        modify_index: 0,
    })
}

fn root_json(r: &CaRoot) -> Value {
    json!({
        "ID": r.id,
        "Name": r.name,
        "SerialNumber": r.serial,
        "SigningKeyID": r.signing_key_id,
        "ExternalTrustDomain": r.external_trust_domain,
        "NotBefore": r.not_before,
        "NotAfter": r.not_after,
        "RootCert": r.root_cert,
        "IntermediateCerts": if r.intermediate_certs.is_empty() { Value::Null } else { json!(r.intermediate_certs) },
        "Active": r.active,
        "PrivateKeyType": r.key_type,
        "PrivateKeyBits": r.key_bits,
        "CreateIndex": r.create_index,
        "ModifyIndex": r.modify_index,
    })
}

fn config_json(c: &CaConfig) -> Value {
    json!({
        "Provider": c.provider,
        "Config": c.config,
        "State": Value::Null,
        "ForceWithoutCrossSigning": c.force_without_cross_signing,
        "CreateIndex": c.create_index,
        "ModifyIndex": c.modify_index,
    })
}

/// An error as Consul's HTTP layer maps it: permission errors are 403, the rest 500.
fn rpc_error(msg: &str) -> Resp {
    if msg.contains("Permission denied") || msg.contains("ACL not found") {
        text(403, msg)
    } else {
        text(500, msg)
    }
}

// ------------------------------------------------------------------ roots

/// `GET /v1/connect/ca/roots` (and the agent's cached copy): blocking, no ACL.
pub(crate) async fn roots(inner: &Arc<Inner>, q: &Query) -> Resp {
    let opts = match parse_query_opts(q) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    // strconv.ParseBool on a non-empty value.
    let pem = match q.get("pem") {
        None | Some("") => false,
        Some(v) => match v {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return text(400, "The 'pem' query parameter must be a boolean value"),
        },
    };
    let (idx, (v, chain)) = blocking(inner, &opts, |st: &State| {
        let ca = &st.connect_ca;
        let roots: Vec<Value> = ca.roots.iter().map(root_json).collect();
        let active = ca.active_root().map(|r| r.id.clone()).unwrap_or_default();
        let mut chain = String::new();
        for r in &ca.roots {
            chain.push_str(&r.root_cert);
            for i in &r.intermediate_certs {
                chain.push_str(i);
            }
        }
        (
            ca.roots_index,
            (
                json!({"ActiveRootID": active, "TrustDomain": ca.trust_domain(), "Roots": roots}),
                chain,
            ),
        )
    })
    .await;
    let mut resp = if pem {
        let mut r = text(200, &chain);
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/pem-certificate-chain"),
        );
        r
    } else {
        json_resp(200, &v)
    };
    set_meta(&mut resp, idx, &opts);
    resp
}

// ------------------------------------------------------------------ configuration

/// `GET|PUT /v1/connect/ca/configuration`.
pub(crate) async fn configuration(
    inner: &Arc<Inner>,
    method: &Method,
    q: &Query,
    body: &[u8],
    authz: &Authorizer,
) -> Resp {
    // Reading needs operator:write too since 1.8.6: the stored config holds the Vault token.
    if !authz.allowed_global("operator", Level::Write) {
        return forbidden(&authz.denied("operator", Level::Write, None));
    }
    if method == Method::GET {
        // Parsed like every read, but answered without blocking or X-Consul-* headers:
        // the handler never calls setMeta.
        if let Err(r) = parse_query_opts(q) {
            return *r;
        }
        let st = inner.state();
        return match &st.connect_ca.config {
            Some(c) => json_resp(200, &config_json(c)),
            None => text(500, "CA is not yet initialized"),
        };
    }
    match set_configuration(inner, body).await {
        Ok(()) => text(200, ""),
        Err(r) => *r,
    }
}

/// The request body (`structs.CAConfiguration` as JSON).
struct NewConfig {
    provider: String,
    config: Map<String, Value>,
    state: Option<Value>,
    force: bool,
}

fn decode_body(body: &[u8]) -> Result<NewConfig, String> {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())?
    };
    let Value::Object(obj) = v else {
        return Err(format!(
            "json: cannot unmarshal {} into Go value of type structs.CAConfiguration",
            json_kind(&v)
        ));
    };
    let mut out = NewConfig {
        provider: String::new(),
        config: Map::new(),
        state: None,
        force: false,
    };
    for (k, val) in &obj {
        match k.to_ascii_lowercase().replace('_', "").as_str() {
            "provider" => match val {
                Value::String(s) => out.provider = s.clone(),
                Value::Null => {}
                v => return Err(field_type_err("Provider", v, "string")),
            },
            "config" => match val {
                Value::Object(m) => out.config = m.clone(),
                Value::Null => {}
                v => return Err(field_type_err("Config", v, "map[string]interface {}")),
            },
            "state" => match val {
                Value::Object(m) if !m.is_empty() => out.state = Some(val.clone()),
                Value::Object(_) | Value::Null => {}
                v => return Err(field_type_err("State", v, "map[string]string")),
            },
            "forcewithoutcrosssigning" => match val {
                Value::Bool(b) => out.force |= *b,
                Value::Null => {}
                v => return Err(field_type_err("ForceWithoutCrossSigning", v, "bool")),
            },
            _ => {}
        }
    }
    Ok(out)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn field_type_err(field: &str, v: &Value, go: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field CAConfiguration.{field} of type {go}",
        json_kind(v)
    )
}

/// Clears the reconfiguring flag however the change ends.
struct ReconfigGuard<'a>(&'a Inner);

impl Drop for ReconfigGuard<'_> {
    fn drop(&mut self) {
        self.0.state().connect_ca.reconfiguring = false;
    }
}

/// What the new provider produced, ready to commit.
struct Prepared {
    root: CaRoot,
    provider: Provider,
}

/// `CAManager.UpdateConfiguration` on the primary datacenter.
async fn set_configuration(inner: &Arc<Inner>, body: &[u8]) -> Result<(), Box<Resp>> {
    let new = decode_body(body)
        .map_err(|e| Box::new(text(400, &format!("Request decode failed: {e}"))))?;
    let (prev, old_provider, active_root, cluster_id, serial) = {
        let mut st = inner.state();
        let ca = &mut st.connect_ca;
        if ca.reconfiguring {
            return Err(Box::new(text(
                500,
                "CA is already in state \"RECONFIGURING\"",
            )));
        }
        let Some(prev) = ca.config.clone() else {
            return Err(Box::new(text(500, "CA is not yet initialized")));
        };
        ca.reconfiguring = true;
        (
            prev,
            ca.provider.clone(),
            ca.active_root().cloned(),
            ca.cluster_id.clone(),
            ca.serial,
        )
    };
    let _guard = ReconfigGuard(inner);
    let err500 = |m: String| Box::new(rpc_error(&m));

    // The provider keeps no State here; any non-empty State differs from the stored one.
    if new.state.is_some() {
        return Err(Box::new(text(
            400,
            "Provider State is read-only. It must be omitted or identical to the current value",
        )));
    }
    if new.provider == prev.provider && new.config == prev.config {
        return Ok(());
    }
    let same_provider = new.provider == prev.provider;

    let prepared = match new.provider.as_str() {
        "consul" => {
            let cc = config::parse_consul(&new.config)
                .map_err(|e| err500(format!("error configuring provider: {e}")))?;
            let common = &cc.common;
            // The built-in provider's identity is (PrivateKey, RootCert, key type, key bits):
            // while it stays the same, the root stays.
            let keep = match (&old_provider, same_provider) {
                (Some(Provider::Consul(ca)), true) => config::parse_consul(&prev.config)
                    .map(|p| {
                        p.common.key_type == common.key_type
                            && p.common.key_bits == common.key_bits
                            && p.private_key == cc.private_key
                            && p.root_cert == cc.root_cert
                    })
                    .unwrap_or(false)
                    .then(|| ca.clone()),
                _ => None,
            };
            let key = (!cc.private_key.is_empty()).then_some(cc.private_key.as_str());
            let ca = match keep {
                Some(ca) => ca,
                None if !cc.root_cert.is_empty() => {
                    let key_pem = match key {
                        Some(k) => k.to_string(),
                        None => certs::generate_key(&common.key_type, common.key_bits)
                            .map(|k| k.serialize_pem())
                            .map_err(|e| err500(format!("error generating CA root certificate: {e}")))?,
                    };
                    certs::consul_given_root(&cc.root_cert, &key_pem)
                        .map_err(|e| err500(format!("error generating CA root certificate: {e}")))?
                }
                None => certs::consul_root(
                    &cluster_id,
                    key,
                    &common.key_type,
                    common.key_bits,
                    common.root_ttl,
                    serial + 1,
                )
                .map_err(|e| err500(format!("error generating CA root certificate: {e}")))?,
            };
            let root = new_root(&ca.cert_pem, "consul", &cluster_id).map_err(err500)?;
            Prepared {
                root,
                provider: Provider::Consul(ca),
            }
        }
        "vault" => {
            if same_provider {
                config::vault_validate_update(&prev.config, &new.config).map_err(|e| {
                    err500(format!(
                        "new configuration is incompatible with previous configuration: {e}"
                    ))
                })?;
            }
            let vc = config::parse_vault(&new.config)
                .map_err(|e| err500(format!("error configuring provider: {e}")))?;
            let v = Vault::new(vc.clone(), &cluster_id)
                .map_err(|e| err500(format!("error configuring provider: {e}")))?;
            v.configure()
                .await
                .map_err(|e| err500(format!("error configuring provider: {e}")))?;
            match vault_prepare(&v, &cluster_id).await {
                Ok(root) => Prepared {
                    root,
                    provider: Provider::Vault(vc),
                },
                Err(e) => {
                    // cleanupNewProvider: a new provider type gives its intermediate back.
                    if !same_provider {
                        let _ = v.cleanup().await;
                    }
                    return Err(err500(e));
                }
            }
        }
        "aws-pca" => {
            return Err(err500(
                "error configuring provider: the devstack simulator does not support the aws-pca provider"
                    .into(),
            ))
        }
        other => {
            return Err(err500(format!(
                "could not initialize provider: unknown CA provider {other:?}"
            )))
        }
    };

    let Prepared { mut root, provider } = prepared;
    let rotating = active_root.as_ref().map(|r| r.id.as_str()) != Some(root.id.as_str());
    let mut next_serial = serial;
    if let Provider::Consul(_) = &provider {
        if rotating {
            next_serial = serial + 1;
        }
    }
    if rotating && active_root.is_some() && !new.force {
        // The old provider cross-signs the new root; both providers here can.
        let xc = match &old_provider {
            Some(Provider::Consul(old)) => {
                next_serial += 1;
                certs::consul_cross_sign(old, &root.root_cert, next_serial)
            }
            Some(Provider::Vault(old)) => match Vault::new(old.clone(), &cluster_id) {
                Ok(v) => v.cross_sign(&root.root_cert).await,
                Err(e) => Err(e),
            },
            None => Err("internal error: CA provider is nil".to_string()),
        };
        match xc {
            Ok(xc) => root.intermediate_certs.insert(0, xc),
            Err(e) => {
                if let Provider::Vault(vc) = &provider {
                    if !same_provider {
                        if let Ok(v) = Vault::new(vc.clone(), &cluster_id) {
                            let _ = v.cleanup().await;
                        }
                    }
                }
                return Err(err500(e));
            }
        }
    }

    inner.write(|st| {
        let idx = st.apply();
        let ca = &mut st.connect_ca;
        if rotating {
            for r in ca.roots.iter_mut() {
                r.active = false;
                r.modify_index = idx;
            }
            root.create_index = idx;
            root.modify_index = idx;
            root.active = true;
            ca.roots.push(root);
            ca.roots_index = idx;
            ca.leaves.clear();
        }
        ca.serial = next_serial.max(ca.serial);
        ca.provider = Some(provider.clone());
        ca.config = Some(CaConfig {
            provider: new.provider.clone(),
            config: new.config.clone(),
            force_without_cross_signing: new.force,
            create_index: prev.create_index,
            modify_index: idx,
        });
    });

    // The old provider's cleanup: Vault unmounts its intermediate when it is replaced.
    if let Some(Provider::Vault(old)) = &old_provider {
        let moved = match &provider {
            Provider::Vault(n) => n.int_path != old.int_path,
            Provider::Consul(_) => true,
        };
        if moved {
            if let Ok(v) = Vault::new(old.clone(), &cluster_id) {
                let _ = v.cleanup().await;
            }
        }
    }
    Ok(())
}

/// `primaryUpdateRootCA` for Vault: the root, then the intermediate (reused if present).
async fn vault_prepare(v: &Vault, cluster_id: &str) -> Result<CaRoot, String> {
    let root_pem = v
        .generate_root()
        .await
        .map_err(|e| format!("error generating CA root certificate: {e}"))?;
    let mut root = new_root(&root_pem, "vault", cluster_id)?;
    let mut intermediate = v
        .active_intermediate()
        .await
        .map_err(|e| format!("error fetching active intermediate: {e}"))?;
    if intermediate.is_empty() {
        intermediate = v
            .generate_intermediate()
            .await
            .map_err(|e| format!("error generating intermediate: {e}"))?;
    }
    if intermediate != root_pem {
        let info = certs::parse_cert_pem(&intermediate)
            .map_err(|e| format!("error parsing leaf signing cert: {e}"))?;
        root.intermediate_certs.push(intermediate);
        root.signing_key_id = info.ski_hex;
    }
    Ok(root)
}

// ------------------------------------------------------------------ leaf

/// `GET /v1/agent/connect/ca/leaf/:service`: ACL `service:write`, cached per service,
/// blocking until the cached leaf is replaced (root rotation) or the wait ends.
pub(crate) async fn leaf(inner: &Arc<Inner>, q: &Query, service: &str, authz: &Authorizer) -> Resp {
    if !authz.allowed("service", service, Level::Write) {
        return forbidden(&authz.denied("service", Level::Write, Some(service)));
    }
    let opts = match parse_query_opts(q) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let (mut leaf, mut hit) = match get_or_issue(inner, service).await {
        Ok(x) => x,
        Err(e) => return rpc_error(&e),
    };
    let want = q
        .get("index")
        .and_then(|i| i.parse::<u64>().ok())
        .unwrap_or(0);
    if want > 0 && leaf.modify_index <= want {
        // Wait until this leaf is no longer the one the agent would serve.
        let current = leaf.modify_index;
        let svc = service.to_string();
        let (changed, _) = blocking(inner, &opts, move |st: &State| {
            let ca = &st.connect_ca;
            let valid = ca
                .leaves
                .get(&svc)
                .zip(ca.active_root())
                .is_some_and(|(l, r)| l.root_id == r.id && l.modify_index == current);
            (if valid { current } else { u64::MAX }, ())
        })
        .await;
        if changed == u64::MAX {
            match get_or_issue(inner, service).await {
                Ok((l, h)) => {
                    leaf = l;
                    hit = h;
                }
                Err(e) => return rpc_error(&e),
            }
        }
    }
    let v = json!({
        "SerialNumber": leaf.info.serial_hex,
        "CertPEM": leaf.cert_pem,
        "PrivateKeyPEM": leaf.key_pem,
        "Service": service,
        "ServiceURI": leaf.uri,
        "ValidAfter": leaf.info.not_before,
        "ValidBefore": leaf.info.not_after,
        "CreateIndex": leaf.create_index,
        "ModifyIndex": leaf.modify_index,
    });
    let mut resp = json_resp(200, &v);
    set_meta(&mut resp, leaf.modify_index, &opts);
    resp.headers_mut().insert(
        "X-Cache",
        HeaderValue::from_static(if hit { "HIT" } else { "MISS" }),
    );
    resp
}

/// The cached leaf when it still belongs to the active root, else a new one.
async fn get_or_issue(inner: &Arc<Inner>, service: &str) -> Result<(Leaf, bool), String> {
    enum Plan {
        Consul(Box<ConsulCa>, u64),
        Vault(VaultConfig),
    }
    let (plan, root, cluster_id, leaf_ttl, uri) = {
        let mut st = inner.state();
        let dc = inner.opts.datacenter.clone();
        let ca = &mut st.connect_ca;
        let root = ca
            .active_root()
            .cloned()
            .ok_or("internal error: CA provider is nil")?;
        if let Some(l) = ca.leaves.get(service) {
            if l.root_id == root.id && now_unix() < l.renew_at {
                return Ok((l.clone(), true));
            }
        }
        let uri = format!(
            "spiffe://{}/ns/default/dc/{dc}/svc/{service}",
            ca.trust_domain()
        );
        let cfg = ca.config.clone().ok_or("CA is not yet initialized")?;
        let leaf_ttl = match &ca.provider {
            Some(Provider::Vault(v)) => v.common.leaf_ttl,
            _ => config::parse_consul(&cfg.config)
                .map(|c| c.common.leaf_ttl)
                .unwrap_or(Duration::from_secs(72 * 3600)),
        };
        let plan = match &ca.provider {
            Some(Provider::Consul(c)) => {
                ca.serial += 1;
                Plan::Consul(Box::new(c.clone()), ca.serial)
            }
            Some(Provider::Vault(v)) => Plan::Vault(v.clone()),
            None => return Err("internal error: CA provider is nil".into()),
        };
        (plan, root, ca.cluster_id.clone(), leaf_ttl, uri)
    };
    let (cert, key_pem) = match plan {
        Plan::Consul(ca, serial) => certs::consul_sign_leaf(&ca, &uri, leaf_ttl, serial)?,
        Plan::Vault(vc) => {
            let (csr, key) = certs::leaf_csr(&uri)?;
            let v = Vault::new(vc, &cluster_id)?;
            (v.sign_leaf(&csr).await?, certs::ec_key_sec1_pem(&key))
        }
    };
    // The issued certificate followed by the root's intermediates (ConnectCA.Sign).
    let mut cert_pem = cert.trim().to_string();
    cert_pem.push('\n');
    for i in &root.intermediate_certs {
        cert_pem.push_str(i);
    }
    let info = certs::parse_cert_pem(&cert_pem)?;
    let life = (info.not_after_unix - info.not_before_unix).max(0);
    let renew_at = info.not_before_unix + life * fastrand::i64(60..=90) / 100;
    let leaf = inner.write(|st| {
        let idx = st.apply();
        let l = Leaf {
            cert_pem,
            key_pem,
            uri,
            info,
            root_id: root.id.clone(),
            renew_at,
            create_index: idx,
            modify_index: idx,
        };
        st.connect_ca.leaves.insert(service.to_string(), l.clone());
        l
    });
    Ok((leaf, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_makes_a_consul_root() {
        let mut ca = CaState::default();
        ca.bootstrap(5);
        let r = ca.active_root().expect("root");
        assert_eq!(r.name, "Consul CA Primary Cert");
        assert_eq!(r.key_type, "ec");
        assert_eq!(r.key_bits, 256);
        assert_eq!(r.id.len(), 59);
        assert!(r.root_cert.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn sha1_known_answer() {
        assert_eq!(
            certs::colon_hex(&certs::sha1(b"abc")),
            "a9:99:3e:36:47:06:81:6a:ba:3e:25:71:78:50:c2:6c:9c:d0:d8:9d"
        );
    }
}
