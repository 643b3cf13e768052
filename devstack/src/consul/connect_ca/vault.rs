//! The `vault` CA provider: the calls Consul's `VaultProvider` makes, against the configured
//! Vault (OpenBao) with the configured token, and Vault's errors worded as the Go Vault client
//! words them (`Error making API request.…`), so they surface in Consul's 500 texts.

use std::time::Duration;

use serde_json::{json, Value};

use super::certs;
use super::config::{go_duration, VaultConfig};

const LEAF_ROLE: &str = "leaf-cert";

/// A Vault client bound to one provider configuration.
pub(crate) struct Vault {
    http: reqwest::Client,
    pub conf: VaultConfig,
    /// The SPIFFE ID of the cluster's signing CA (`spiffe://<cluster>.consul`).
    signing_uri: String,
    cluster_id: String,
}

/// A raw answer.
struct Raw {
    status: u16,
    body: String,
}

impl Vault {
    pub fn new(conf: VaultConfig, cluster_id: &str) -> Result<Vault, String> {
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30));
        // Go's ProxyFromEnvironment never proxies loopback addresses; do the same.
        let loopback = url::Url::parse(&conf.address)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]" || h == "::1");
        if loopback {
            b = b.no_proxy();
        }
        let http = b.build().map_err(|e| e.to_string())?;
        Ok(Vault {
            http,
            conf,
            signing_uri: format!("spiffe://{cluster_id}.consul"),
            cluster_id: cluster_id.to_string(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.conf.address.trim_end_matches('/'), path)
    }

    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Raw, String> {
        let url = self.url(path);
        let mut rb = self
            .http
            .request(method.clone(), &url)
            .header("X-Vault-Request", "true");
        if !self.conf.token.is_empty() {
            rb = rb.header("X-Vault-Token", &self.conf.token);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = rb.send().await.map_err(|e| {
            // Go's *url.Error: `Get "http://…": <cause>`.
            let m = method.as_str();
            let verb = format!("{}{}", &m[..1], m[1..].to_ascii_lowercase());
            let mut cause = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                cause = s.to_string();
                src = s.source();
            }
            format!("{verb} {url:?}: {cause}")
        })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| e.to_string())?;
        Ok(Raw { status, body })
    }

    /// The Go client's `ResponseError` text.
    fn api_error(&self, method: &str, path: &str, r: &Raw) -> String {
        let parsed: Option<Vec<String>> = serde_json::from_str::<Value>(&r.body)
            .ok()
            .and_then(|v| v.get("errors").cloned())
            .and_then(|e| serde_json::from_value(e).ok());
        let (label, errs) = match parsed {
            Some(e) => (
                "Errors",
                e.iter().map(|x| format!("* {x}")).collect::<String>(),
            ),
            None => ("Raw Message", r.body.clone()),
        };
        format!(
            "Error making API request.\n\nURL: {method} {}\nCode: {}. {label}:\n\n{errs}",
            self.url(path),
            r.status
        )
    }

    /// `Logical().Write` / `Sys().Mount`...: the response's `data`, `None` for an empty answer.
    async fn write(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Option<Value>, String> {
        let r = self.raw(method.clone(), path, Some(body)).await?;
        if r.status >= 400 {
            return Err(self.api_error(method.as_str(), path, &r));
        }
        if r.body.trim().is_empty() {
            return Ok(None);
        }
        let v: Value = serde_json::from_str(&r.body).map_err(|e| e.to_string())?;
        Ok(v.get("data").cloned())
    }

    async fn put(&self, path: &str, body: &Value) -> Result<Option<Value>, String> {
        self.write(reqwest::Method::PUT, path, body).await
    }

    async fn read(&self, path: &str) -> Result<Option<Value>, String> {
        let r = self.raw(reqwest::Method::GET, path, None).await?;
        if r.status == 404 {
            return Ok(None);
        }
        if r.status >= 400 {
            return Err(self.api_error("GET", path, &r));
        }
        let v: Value = serde_json::from_str(&r.body).map_err(|e| e.to_string())?;
        Ok(v.get("data").cloned())
    }

    /// `getCA`: `Ok(None)` = not mounted (404), `Ok(Some(""))` = not initialised.
    async fn get_ca(&self, mount: &str) -> Result<Option<String>, String> {
        let path = format!("{mount}/ca/pem");
        let r = self.raw(reqwest::Method::GET, &path, None).await?;
        if r.status == 404 {
            return Ok(None);
        }
        if r.status >= 400 {
            return Err(self.api_error("GET", &path, &r));
        }
        Ok(Some(ensure_newline(&r.body)))
    }

    async fn unmount(&self, mount: &str) -> Result<(), String> {
        let path = format!("sys/mounts/{mount}");
        let r = self.raw(reqwest::Method::DELETE, &path, None).await?;
        if r.status >= 400 {
            return Err(self.api_error("DELETE", &path, &r));
        }
        Ok(())
    }

    /// `Configure`: token lookup, then the intermediate mount and the `leaf-cert` role.
    pub async fn configure(&self) -> Result<(), String> {
        let r = self
            .raw(reqwest::Method::GET, "auth/token/lookup-self", None)
            .await?;
        if r.status >= 400 {
            return Err(self.api_error("GET", "auth/token/lookup-self", &r));
        }
        let int = &self.conf.int_path;
        let max_ttl = go_duration(self.conf.common.intermediate_ttl);
        match self.get_ca(int).await {
            Ok(None) => {
                let body = json!({
                    "type": "pki",
                    "description": "intermediate CA backend for Consul Connect",
                    "config": {"max_lease_ttl": max_ttl}
                });
                self.write(reqwest::Method::POST, &format!("sys/mounts/{int}"), &body)
                    .await
                    .map_err(|e| format!("failed to mount intermediate PKI backend: {e}"))?;
            }
            Ok(Some(pem)) if pem.is_empty() => {}
            Ok(Some(_)) => {
                // A 403 here is expected with Vault-managed policies; Consul only logs it.
                let _ = self
                    .write(
                        reqwest::Method::POST,
                        &format!("sys/mounts/{int}/tune"),
                        &json!({"max_lease_ttl": max_ttl}),
                    )
                    .await;
            }
            Err(e) => {
                return Err(format!(
                    "unexpected error while fetching intermediate CA: {e}"
                ))
            }
        }
        let role = self
            .put(
                &format!("{int}/roles/{LEAF_ROLE}"),
                &json!({
                    "allow_any_name": true,
                    "allowed_uri_sans": "spiffe://*",
                    "key_type": "any",
                    "max_ttl": go_duration(self.conf.common.leaf_ttl),
                    "no_store": true,
                    "require_cn": false
                }),
            )
            .await;
        // Auto-tidy of expired issuers; Consul logs and ignores any failure.
        let _ = self
            .put(
                &format!("{int}/config/auto-tidy"),
                &json!({"enabled": true, "tidy_expired_issuers": true}),
            )
            .await;
        role.map(|_| ())
    }

    /// `GenerateCAChain`: the root mount, mounted and generated when missing.
    pub async fn generate_root(&self) -> Result<String, String> {
        let root = &self.conf.root_path;
        let ttl = go_duration(self.conf.common.root_ttl);
        let mut root_pem = match self.get_ca(root).await {
            Ok(Some(pem)) if !pem.is_empty() => pem,
            Ok(found) => {
                if found.is_none() {
                    let body = json!({
                        "type": "pki",
                        "description": "root CA backend for Consul Connect",
                        "config": {"max_lease_ttl": ttl, "default_lease_ttl": ttl}
                    });
                    self.write(reqwest::Method::POST, &format!("sys/mounts/{root}"), &body)
                        .await
                        .map_err(|e| format!("failed to mount root CA backend: {e}"))?;
                }
                let data = self
                    .put(
                        &format!("{root}/root/generate/internal"),
                        &json!({
                            "common_name": certs::ca_common_name("vault", &self.cluster_id),
                            "uri_sans": self.signing_uri,
                            "key_type": self.conf.common.key_type,
                            "key_bits": self.conf.common.key_bits
                        }),
                    )
                    .await
                    .map_err(|e| format!("failed to initialize root CA: {e}"))?;
                match data
                    .as_ref()
                    .and_then(|d| d.get("certificate"))
                    .and_then(Value::as_str)
                {
                    Some(c) => c.to_string(),
                    None => {
                        return Err(format!(
                            "unexpected response from Vault: {}",
                            data.and_then(|d| d.get("certificate").cloned())
                                .map(|v| v.to_string())
                                .unwrap_or_else(|| "<nil>".into())
                        ))
                    }
                }
            }
            Err(e) => {
                return Err(format!(
                    "unexpected error while setting root PKI backend: {e}"
                ))
            }
        };
        let path = format!("{root}/ca_chain");
        let r = self.raw(reqwest::Method::GET, &path, None).await?;
        if r.status >= 400 {
            return Err(self.api_error("GET", &path, &r));
        }
        let chain = ensure_newline(&r.body);
        if !chain.is_empty() {
            root_pem = chain;
        }
        Ok(ensure_newline(&root_pem))
    }

    /// `ActiveLeafSigningCert`: the intermediate, empty when the mount has none yet.
    pub async fn active_intermediate(&self) -> Result<String, String> {
        match self.get_ca(&self.conf.int_path).await? {
            Some(pem) => Ok(pem),
            None => Err("backend not mounted".into()),
        }
    }

    /// `GenerateLeafSigningCert`: CSR on the intermediate, signed by the root, set signed.
    pub async fn generate_intermediate(&self) -> Result<String, String> {
        let int = &self.conf.int_path;
        let root = &self.conf.root_path;
        let data = self
            .put(
                &format!("{int}/intermediate/generate/internal"),
                &json!({
                    "common_name": certs::ca_common_name("vault", &self.cluster_id),
                    "key_type": self.conf.common.key_type,
                    "key_bits": self.conf.common.key_bits,
                    "uri_sans": self.signing_uri
                }),
            )
            .await?;
        let csr = data
            .as_ref()
            .and_then(|d| d.get("csr"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or("got empty value when generating intermediate CSR")?
            .to_string();
        let key_id = data
            .as_ref()
            .and_then(|d| d.get("key_id"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let signed = self
            .put(
                &format!("{root}/root/sign-intermediate"),
                &json!({
                    "csr": csr,
                    "use_csr_values": true,
                    "format": "pem_bundle",
                    "ttl": go_duration(self.conf.common.intermediate_ttl)
                }),
            )
            .await?;
        let cert = signed
            .as_ref()
            .and_then(|d| d.get("certificate"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or("got empty value when generating intermediate certificate")?
            .to_string();
        let imported = self
            .put(
                &format!("{int}/intermediate/set-signed"),
                &json!({"certificate": cert}),
            )
            .await?;
        if let Some(imported) = imported {
            self.set_default_issuer(&imported, &key_id)
                .await
                .map_err(|e| format!("failed to update default intermediate issuer: {e}"))?;
        }
        let pem = self.active_intermediate().await?;
        if pem.is_empty() {
            return Err("backend not initialized".into());
        }
        Ok(pem)
    }

    async fn set_default_issuer(&self, imported: &Value, key_id: &str) -> Result<(), String> {
        let mapping = imported
            .get("mapping")
            .filter(|m| !m.is_null())
            .ok_or("expected Vault response data to have a 'mapping' key")?;
        if key_id.is_empty() {
            return Err("expected non-empty keyId".into());
        }
        let mapping = mapping
            .as_object()
            .ok_or("unexpected type for 'mapping' value in Vault response")?;
        let issuer = mapping
            .iter()
            .find(|(_, k)| k.as_str() == Some(key_id))
            .map(|(i, _)| i.clone())
            .ok_or_else(|| format!("could not find key_id {key_id:?} in response from vault"))?;
        let path = format!("{}/config/issuers", self.conf.int_path);
        let mut conf = self
            .read(&path)
            .await
            .map_err(|e| format!("could not read from /config/issuers: {e}"))?
            .unwrap_or_else(|| json!({}));
        conf["default"] = json!(issuer);
        self.put(&path, &conf)
            .await
            .map_err(|e| format!("could not write default issuer to /config/issuers: {e}"))?;
        Ok(())
    }

    /// `Sign`: the agent's CSR through `<int>/sign/leaf-cert`.
    pub async fn sign_leaf(&self, csr: &str) -> Result<String, String> {
        let data = self
            .put(
                &format!("{}/sign/{LEAF_ROLE}", self.conf.int_path),
                &json!({"csr": csr, "ttl": go_duration(self.conf.common.leaf_ttl)}),
            )
            .await
            .map_err(|e| format!("error issuing cert: {e}"))?;
        let cert = data
            .as_ref()
            .and_then(|d| d.get("certificate"))
            .and_then(Value::as_str);
        let ca = data
            .as_ref()
            .and_then(|d| d.get("issuing_ca"))
            .and_then(Value::as_str);
        match (cert, ca) {
            (Some(c), Some(i)) if !c.is_empty() && !i.is_empty() => Ok(ensure_newline(c)),
            _ => Err("certificate info returned from Vault was blank".into()),
        }
    }

    /// `CrossSignCA`: the root mount signs another self-issued root.
    pub async fn cross_sign(&self, new_root_pem: &str) -> Result<String, String> {
        let data = self
            .put(
                &format!("{}/root/sign-self-issued", self.conf.root_path),
                &json!({"certificate": new_root_pem}),
            )
            .await
            .map_err(|e| format!("error having Vault cross-sign cert: {e}"))?;
        data.as_ref()
            .and_then(|d| d.get("certificate"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(ensure_newline)
            .ok_or_else(|| "certificate info returned from Vault was blank".to_string())
    }

    /// `Cleanup`: unmounts the intermediate; a missing mount is not an error.
    pub async fn cleanup(&self) -> Result<(), String> {
        self.unmount(&self.conf.int_path).await
    }
}

fn ensure_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}
