//! Provider configuration: `vault {}`, `consul {}` and `nomad {}` blocks, each falling back to the
//! product's standard environment variables. Clients are built when a resource first needs them,
//! so a configuration whose values are unknown at plan time still plans.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use stack_core::vault::{VaultClient, VaultConfig};
use stack_core::{
    ConsulClient, ConsulConfig, EndpointConfig, NomadClient, NomadConfig, RetryPolicy, Secret,
    TlsConfig,
};
use tf_framework::schema::validators::parse_duration;
use tf_framework::{Attribute, Block, Diagnostic, Diags, NestedBlock, Schema, Value};

/// Highest accepted `max_retries`; the 60 s retry budget ends retries long before this.
const MAX_RETRIES_LIMIT: u32 = 100;

/// One setting: from configuration, from the environment, unknown until apply, or absent.
#[derive(Debug, Clone, PartialEq)]
enum Setting {
    Set(String),
    Unknown,
    Absent,
}

impl Setting {
    fn resolve(block: &Value, attr: &str, env: &[&str]) -> Setting {
        match block.get(attr) {
            Value::Unknown => Setting::Unknown,
            Value::String(s) => Setting::Set(s.clone()),
            Value::Bool(b) => Setting::Set(b.to_string()),
            Value::Number(n) => Setting::Set(n.to_string()),
            _ => env
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
                .map_or(Setting::Absent, Setting::Set),
        }
    }
    fn value(&self) -> Option<&str> {
        match self {
            Setting::Set(s) => Some(s),
            _ => None,
        }
    }
    fn flag(&self) -> bool {
        matches!(self.value(), Some("1" | "true" | "TRUE" | "True"))
    }
}

/// Settings of one product, resolved from its block and the environment.
#[derive(Debug, Clone)]
struct Endpoint {
    product: &'static str,
    block: &'static str,
    address: Setting,
    address_env: &'static str,
    token: Setting,
    /// `<kv mount>/<path>` of a KV v2 secret whose `token` key holds the token.
    token_vault_path: Setting,
    ca_cert_file: Setting,
    client_cert_file: Setting,
    client_key_file: Setting,
    skip_verify: Setting,
    namespace: Setting,
    /// Nomad region / Consul datacenter.
    region: Setting,
    /// Retries after the first attempt (Vault: `max_retries` / `VAULT_MAX_RETRIES`).
    max_retries: Setting,
    max_retries_env: &'static str,
    /// Timeout of one HTTP attempt (Vault: `timeout` / `VAULT_CLIENT_TIMEOUT`).
    timeout: Setting,
    timeout_env: &'static str,
}

impl Endpoint {
    fn require_address(&self) -> Result<String, Diags> {
        match &self.address {
            Setting::Set(a) => Ok(a.clone()),
            Setting::Unknown => Err(Diagnostic::error(
                format!("{} address not known yet", self.product),
                format!(
                    "The provider's `{}.address` depends on a value that is only known after apply.",
                    self.block
                ),
            )
            .into()),
            Setting::Absent => Err(Diagnostic::error(
                format!("{} is not configured", self.product),
                format!(
                    "This resource talks to {}, but neither the provider's `{}.address` nor the {} environment variable is set.",
                    self.product, self.block, self.address_env
                ),
            )
            .into()),
        }
    }
    fn tls(&self) -> TlsConfig {
        TlsConfig {
            ca_cert_file: self.ca_cert_file.value().map(Into::into),
            client_cert_file: self.client_cert_file.value().map(Into::into),
            client_key_file: self.client_key_file.value().map(Into::into),
            skip_verify: self.skip_verify.flag(),
            ..TlsConfig::default()
        }
    }
    /// The retry policy: `max_retries` retries after the first attempt, within the default
    /// 60 s budget. Unset keeps the core default (5 retries).
    fn retry(&self) -> Result<RetryPolicy, Diags> {
        let default = RetryPolicy::default();
        let retries = match &self.max_retries {
            Setting::Absent => return Ok(default),
            Setting::Unknown => return Err(self.unknown("max_retries")),
            Setting::Set(s) => parse_max_retries(s).ok_or_else(|| {
                self.invalid(&format!(
                    "`{}.max_retries` / {} must be a whole number from 0 to {MAX_RETRIES_LIMIT}, not {s:?}.",
                    self.block, self.max_retries_env
                ))
            })?,
        };
        Ok(RetryPolicy {
            max_attempts: retries + 1,
            ..default
        })
    }
    /// The timeout of one attempt, if configured.
    fn timeout(&self) -> Result<Option<Duration>, Diags> {
        match &self.timeout {
            Setting::Absent => Ok(None),
            Setting::Unknown => Err(self.unknown("timeout")),
            Setting::Set(s) => match parse_duration(s) {
                Some(secs) if secs > 0 => Ok(Some(Duration::from_secs(secs))),
                _ => Err(self.invalid(&format!(
                    "`{}.timeout` / {} must be a positive duration such as \"30s\", \"2m\" or a number of seconds, not {s:?}.",
                    self.block, self.timeout_env
                ))),
            },
        }
    }
    fn unknown(&self, attr: &str) -> Diags {
        Diagnostic::error(
            format!("{} {attr} not known yet", self.product),
            format!(
                "The provider's `{}.{attr}` depends on a value that is only known after apply.",
                self.block
            ),
        )
        .into()
    }
    fn invalid(&self, detail: &str) -> Diags {
        Diagnostic::error(format!("Invalid {} settings", self.product), detail).into()
    }
}

/// `max_retries` as a number of retries: a whole number in `0..=MAX_RETRIES_LIMIT`.
fn parse_max_retries(s: &str) -> Option<u32> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_RETRIES_LIMIT)
}

fn check_max_retries(v: &Value) -> Result<(), (String, String)> {
    match v {
        Value::Number(n) if parse_max_retries(&n.to_string()).is_some() => Ok(()),
        Value::Number(n) => Err((
            "Invalid max_retries".into(),
            format!("{n} is not a whole number from 0 to {MAX_RETRIES_LIMIT}."),
        )),
        _ => Ok(()),
    }
}

fn check_timeout(v: &Value) -> Result<(), (String, String)> {
    match v.as_str() {
        Some(s) if parse_duration(s).is_some_and(|secs| secs > 0) => Ok(()),
        Some(s) => Err((
            "Invalid timeout".into(),
            format!("{s:?} is not a positive duration. Use a number of seconds or a duration such as \"30s\", \"2m\" or \"1m30s\"."),
        )),
        None => Ok(()),
    }
}

/// A client built for one token, reused while the token stays the same.
type Cached<C> = Mutex<Option<(Option<String>, C)>>;

/// What every resource call receives: resolved settings and lazily built clients.
pub struct ProviderData {
    vault: Endpoint,
    consul: Endpoint,
    nomad: Endpoint,
    vault_client: OnceLock<VaultClient>,
    consul_client: Cached<ConsulClient>,
    nomad_client: Cached<NomadClient>,
    /// `token_vault_path` -> its KV v2 mount, found once: the mount does not move during a run,
    /// the token in it may (so that is read on every call).
    token_mounts: Mutex<Vec<(String, String)>>,
}

impl ProviderData {
    /// Resolves settings from the provider configuration and the environment.
    pub fn from_config(config: &Value) -> Result<Self, Diags> {
        let v = config.get("vault");
        let c = config.get("consul");
        let n = config.get("nomad");
        let consul_ssl = Setting::resolve(c, "ssl", &["CONSUL_HTTP_SSL"]).flag();
        let mut consul = Endpoint {
            product: "Consul",
            block: "consul",
            address: Setting::resolve(c, "address", &["CONSUL_HTTP_ADDR"]),
            address_env: "CONSUL_HTTP_ADDR",
            token: Setting::resolve(c, "token", &["CONSUL_HTTP_TOKEN"]),
            token_vault_path: Setting::resolve(c, "token_vault_path", &[]),
            ca_cert_file: Setting::resolve(c, "ca_cert_file", &["CONSUL_CACERT"]),
            client_cert_file: Setting::resolve(c, "client_cert_file", &["CONSUL_CLIENT_CERT"]),
            client_key_file: Setting::resolve(c, "client_key_file", &["CONSUL_CLIENT_KEY"]),
            skip_verify: Setting::resolve(c, "skip_tls_verify", &[]),
            namespace: Setting::Absent,
            region: Setting::resolve(c, "datacenter", &[]),
            max_retries: Setting::Absent,
            max_retries_env: "",
            timeout: Setting::Absent,
            timeout_env: "",
        };
        // CONSUL_HTTP_ADDR may be host:port; CONSUL_HTTP_SSL picks the scheme.
        if let Setting::Set(a) = &consul.address {
            if !a.contains("://") {
                let scheme = if consul_ssl { "https" } else { "http" };
                consul.address = Setting::Set(format!("{scheme}://{a}"));
            }
        }
        for (block, b) in [("consul", c), ("nomad", n)] {
            if !b.get("token").is_null() && !b.get("token_vault_path").is_null() {
                return Err(Diagnostic::error(
                    "Conflicting token settings",
                    format!("Set either `{block}.token` or `{block}.token_vault_path`, not both."),
                )
                .at(tf_framework::AttributePath::root(block).attr("token_vault_path"))
                .into());
            }
        }
        Ok(ProviderData {
            vault: Endpoint {
                product: "Vault",
                block: "vault",
                address: Setting::resolve(v, "address", &["VAULT_ADDR", "BAO_ADDR"]),
                address_env: "VAULT_ADDR",
                token: Setting::resolve(v, "token", &["VAULT_TOKEN", "BAO_TOKEN"]),
                token_vault_path: Setting::Absent,
                ca_cert_file: Setting::resolve(v, "ca_cert_file", &["VAULT_CACERT"]),
                client_cert_file: Setting::resolve(v, "client_cert_file", &["VAULT_CLIENT_CERT"]),
                client_key_file: Setting::resolve(v, "client_key_file", &["VAULT_CLIENT_KEY"]),
                skip_verify: Setting::resolve(v, "skip_tls_verify", &["VAULT_SKIP_VERIFY"]),
                namespace: Setting::resolve(v, "namespace", &["VAULT_NAMESPACE"]),
                region: Setting::Absent,
                max_retries: Setting::resolve(v, "max_retries", &["VAULT_MAX_RETRIES"]),
                max_retries_env: "VAULT_MAX_RETRIES",
                timeout: Setting::resolve(v, "timeout", &["VAULT_CLIENT_TIMEOUT"]),
                timeout_env: "VAULT_CLIENT_TIMEOUT",
            },
            consul,
            nomad: Endpoint {
                product: "Nomad",
                block: "nomad",
                address: Setting::resolve(n, "address", &["NOMAD_ADDR"]),
                address_env: "NOMAD_ADDR",
                token: Setting::resolve(n, "token", &["NOMAD_TOKEN"]),
                token_vault_path: Setting::resolve(n, "token_vault_path", &[]),
                ca_cert_file: Setting::resolve(n, "ca_cert_file", &["NOMAD_CACERT"]),
                client_cert_file: Setting::resolve(n, "client_cert_file", &["NOMAD_CLIENT_CERT"]),
                client_key_file: Setting::resolve(n, "client_key_file", &["NOMAD_CLIENT_KEY"]),
                skip_verify: Setting::resolve(n, "skip_tls_verify", &["NOMAD_SKIP_VERIFY"]),
                namespace: Setting::resolve(n, "namespace", &["NOMAD_NAMESPACE"]),
                region: Setting::resolve(n, "region", &["NOMAD_REGION"]),
                max_retries: Setting::Absent,
                max_retries_env: "",
                timeout: Setting::Absent,
                timeout_env: "",
            },
            vault_client: OnceLock::new(),
            consul_client: Mutex::new(None),
            nomad_client: Mutex::new(None),
            token_mounts: Mutex::new(Vec::new()),
        })
    }

    /// The Vault client, built on first use.
    pub fn vault(&self) -> Result<&VaultClient, Diags> {
        if let Some(c) = self.vault_client.get() {
            return Ok(c);
        }
        let e = &self.vault;
        let address = e.require_address()?;
        let token = match &e.token {
            Setting::Set(t) => {
                tf_framework::log::register_secret(t);
                Some(Secret::new(t.clone()))
            }
            Setting::Unknown => return Err(Diagnostic::error(
                "Vault token not known yet",
                "The provider's `vault.token` depends on a value that is only known after apply.",
            )
            .into()),
            Setting::Absent => None,
        };
        let mut cfg = VaultConfig {
            token,
            namespace: e.namespace.value().map(str::to_string),
            tls: e.tls(),
            retry: e.retry()?,
            ..VaultConfig::new(address)
        };
        if let Some(timeout) = e.timeout()? {
            cfg.timeout = timeout;
        }
        let client = VaultClient::new(cfg).map_err(|err| {
            Diags::from(Diagnostic::error("Invalid Vault settings", err.to_string()))
        })?;
        Ok(self.vault_client.get_or_init(|| client))
    }
}

impl ProviderData {
    /// The Consul client. With `consul.token_vault_path` the token is read from Vault now, at
    /// call time, so a token that an earlier resource of the same apply wrote is found.
    pub async fn consul(&self) -> Result<ConsulClient, Diags> {
        let e = &self.consul;
        let token = self.token(e).await?;
        if let Some(c) = cached(&self.consul_client, &token) {
            return Ok(c);
        }
        let client = self.consul_with_token(token.clone())?;
        store(&self.consul_client, token, client.clone());
        Ok(client)
    }

    /// The Nomad client; see [`ProviderData::consul`] for `token_vault_path`.
    pub async fn nomad(&self) -> Result<NomadClient, Diags> {
        let e = &self.nomad;
        let token = self.token(e).await?;
        if let Some(c) = cached(&self.nomad_client, &token) {
            return Ok(c);
        }
        let client = self.nomad_with_token(token.clone())?;
        store(&self.nomad_client, token, client.clone());
        Ok(client)
    }

    /// A Consul client with the given token instead of the configured one (`None`: anonymous),
    /// e.g. for the ACL bootstrap, which must not wait for a token that does not exist yet.
    pub fn consul_with_token(&self, token: Option<String>) -> Result<ConsulClient, Diags> {
        let e = &self.consul;
        let mut config = ConsulConfig::new(e.require_address()?);
        config.endpoint = self.endpoint_config(e, token)?;
        config.datacenter = e.region.value().map(str::to_string);
        ConsulClient::new(config).map_err(|err| {
            Diags::from(Diagnostic::error(
                "Invalid Consul settings",
                err.to_string(),
            ))
        })
    }

    /// A Nomad client with the given token instead of the configured one (`None`: anonymous).
    pub fn nomad_with_token(&self, token: Option<String>) -> Result<NomadClient, Diags> {
        let e = &self.nomad;
        let mut config = NomadConfig::new(e.require_address()?);
        config.endpoint = self.endpoint_config(e, token)?;
        config.region = e.region.value().map(str::to_string);
        config.namespace = e.namespace.value().map(str::to_string);
        NomadClient::new(config).map_err(|err| {
            Diags::from(Diagnostic::error("Invalid Nomad settings", err.to_string()))
        })
    }

    /// The address Vault is reached at (for products that must reach it too).
    pub fn vault_address(&self) -> Result<String, Diags> {
        Ok(self.vault()?.address().to_string())
    }

    fn endpoint_config(
        &self,
        e: &Endpoint,
        token: Option<String>,
    ) -> Result<EndpointConfig, Diags> {
        let mut config = EndpointConfig::new(e.require_address()?);
        config.token = token.map(Secret::new);
        config.tls = e.tls();
        Ok(config)
    }

    /// The token of `e`: its `token` setting, or the `token` key of the KV v2 secret at
    /// `token_vault_path`, read from Vault on every call.
    async fn token(&self, e: &Endpoint) -> Result<Option<String>, Diags> {
        let unknown = |attr: &str| -> Diags {
            Diagnostic::error(
                format!("{} {attr} not known yet", e.product),
                format!(
                    "The provider's `{}.{attr}` depends on a value that is only known after apply.",
                    e.block
                ),
            )
            .into()
        };
        let path = match (&e.token_vault_path, &e.token) {
            (Setting::Unknown, _) => return Err(unknown("token_vault_path")),
            (Setting::Set(p), _) => p.clone(),
            (Setting::Absent, Setting::Set(t)) => {
                tf_framework::log::register_secret(t);
                return Ok(Some(t.clone()));
            }
            (Setting::Absent, Setting::Unknown) => return Err(unknown("token")),
            (Setting::Absent, Setting::Absent) => return Ok(None),
        };
        let at = |detail: String| -> Diags {
            Diagnostic::error(
                format!("Cannot read the {} token from Vault", e.product),
                detail,
            )
            .into()
        };
        let vault = self.vault()?;
        let known = self
            .token_mounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, mount)| mount.clone());
        let mount = match known {
            Some(mount) => mount,
            None => {
                let mount = vault
                    .kv2_find_mount(&path)
                    .await
                    .map_err(|err| at(format!("`{}.token_vault_path` = {path:?}: {}", e.block, err.report())))?
                    .filter(|m| m.is_kv_v2())
                    .ok_or_else(|| at(format!("`{}.token_vault_path` = {path:?} is not under a KV version 2 mount. Name it the way `vault kv get` does: `<mount>/<path>`, e.g. `secret/bootstrap/{}`.", e.block, e.block)))?
                    .path;
                self.token_mounts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((path.clone(), mount.clone()));
                mount
            }
        };
        let rel = path
            .trim_matches('/')
            .strip_prefix(mount.as_str())
            .unwrap_or("")
            .trim_matches('/')
            .to_string();
        let secret = vault
            .kv2_read(&mount, &rel, None)
            .await
            .map_err(|err| at(format!("`{}.token_vault_path` = {path:?}: {}", e.block, err.report())))?
            .ok_or_else(|| at(format!("The secret {path:?} does not exist (yet). If a resource of this configuration writes it (stack_{}_acl_bootstrap), make the resources that use the token depend on that resource with `depends_on`.", e.block)))?;
        let token = secret
            .data
            .as_ref()
            .and_then(|d| d.get("token"))
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| at(format!("The secret {path:?} has no non-empty `token` key.")))?
            .to_string();
        tf_framework::log::register_secret(&token);
        Ok(Some(token))
    }
}

fn cached<C: Clone>(slot: &Cached<C>, token: &Option<String>) -> Option<C> {
    let guard = slot.lock().unwrap_or_else(|p| p.into_inner());
    guard
        .as_ref()
        .filter(|(t, _)| t == token)
        .map(|(_, c)| c.clone())
}

fn store<C>(slot: &Cached<C>, token: Option<String>, client: C) {
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((token, client));
}

fn endpoint_block(product: &str, env: &str, example: &str, extra: Vec<Attribute>) -> Block {
    let mut b = Block::new(&format!("How to reach {product}. Every setting falls back to {product}'s standard environment variable."))
        .attr(Attribute::string("address").optional().doc(&format!("{product} API address, e.g. `{example}`. Defaults to `{env}`.")))
        .attr(Attribute::string("token").optional().sensitive().doc(&format!("{product} token. Defaults to the product's token environment variable. Never stored in state.")))
        .attr(Attribute::string("ca_cert_file").optional().doc("PEM file with the CA certificate(s) to trust for the server's TLS certificate."))
        .attr(Attribute::string("client_cert_file").optional().doc("PEM client certificate for mutual TLS."))
        .attr(Attribute::string("client_key_file").optional().doc("PEM private key of the client certificate."))
        .attr(Attribute::bool("skip_tls_verify").optional().doc("Accept any server certificate. Insecure: for development only. TLS verification is on by default."));
    for a in extra {
        b = b.attr(a);
    }
    b
}

fn token_vault_path(product: &str) -> Attribute {
    Attribute::string("token_vault_path").optional().doc(&format!("Instead of `token`: a KV version 2 secret in Vault, named the way `vault kv get` names it (`<mount>/<path>`, e.g. `secret/bootstrap/{product}`), whose key `token` holds the token. It is read when a call is made, not when the provider is configured, so `stack_{product}_acl_bootstrap` can write it earlier in the same apply; the token never enters state."))
}

/// The `provider "stack" {}` schema.
pub fn schema() -> Schema {
    Schema::new(
        Block::new("The `stack` provider wires Vault, Consul and Nomad together. Each product block is optional; a resource that needs a product that is not configured fails with a diagnostic naming the missing setting.")
            .block(NestedBlock::single(
                "vault",
                endpoint_block("Vault", "VAULT_ADDR", "https://127.0.0.1:8200", vec![
                    Attribute::string("namespace").optional().doc("Vault/OpenBao namespace. Defaults to `VAULT_NAMESPACE`."),
                    Attribute::number("max_retries").optional().validate(check_max_retries).doc("How many times a request is retried when Vault cannot be reached or answers 429, 500, 502, 503 (also while sealed), 504, 472 or 473, with exponential backoff and jitter (0.2 s doubling up to 5 s between attempts). Retries also stop once 60 seconds have passed since the first attempt. `0` disables retries. A whole number from 0 to 100. Defaults to `VAULT_MAX_RETRIES`, else 5."),
                    Attribute::string("timeout").optional().validate(check_timeout).doc("Timeout of each single HTTP request to Vault, as a number of seconds or a duration such as `30s` or `2m`. Defaults to `VAULT_CLIENT_TIMEOUT`, else `60s`."),
                ]),
            ))
            .block(NestedBlock::single(
                "consul",
                endpoint_block("Consul", "CONSUL_HTTP_ADDR", "http://127.0.0.1:8500", vec![
                    Attribute::bool("ssl").optional().doc("Use HTTPS when `address` has no scheme. Defaults to `CONSUL_HTTP_SSL`."),
                    token_vault_path("consul"),
                    Attribute::string("datacenter").optional().doc("Consul datacenter."),
                ]),
            ))
            .block(NestedBlock::single(
                "nomad",
                endpoint_block("Nomad", "NOMAD_ADDR", "http://127.0.0.1:4646", vec![
                    Attribute::string("region").optional().doc("Nomad region. Defaults to `NOMAD_REGION`."),
                    Attribute::string("namespace").optional().doc("Nomad namespace. Defaults to `NOMAD_NAMESPACE`."),
                    token_vault_path("nomad"),
                ]),
            )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault_endpoint(max_retries: Setting, timeout: Setting) -> Endpoint {
        Endpoint {
            product: "Vault",
            block: "vault",
            address: Setting::Absent,
            address_env: "VAULT_ADDR",
            token: Setting::Absent,
            token_vault_path: Setting::Absent,
            ca_cert_file: Setting::Absent,
            client_cert_file: Setting::Absent,
            client_key_file: Setting::Absent,
            skip_verify: Setting::Absent,
            namespace: Setting::Absent,
            region: Setting::Absent,
            max_retries,
            max_retries_env: "VAULT_MAX_RETRIES",
            timeout,
            timeout_env: "VAULT_CLIENT_TIMEOUT",
        }
    }

    #[test]
    fn max_retries_maps_to_attempts() {
        let e = vault_endpoint(Setting::Set("2".into()), Setting::Absent);
        let p = e.retry().expect("valid");
        assert_eq!(p.max_attempts, 3);
        assert_eq!(p.total_budget, RetryPolicy::default().total_budget);
        let e = vault_endpoint(Setting::Set("0".into()), Setting::Absent);
        assert_eq!(e.retry().expect("valid").max_attempts, 1);
        let e = vault_endpoint(Setting::Absent, Setting::Absent);
        assert_eq!(e.retry().expect("valid"), RetryPolicy::default());
        for bad in ["-1", "1.5", "abc", "101"] {
            let e = vault_endpoint(Setting::Set(bad.into()), Setting::Absent);
            let d = e.retry().expect_err(bad);
            assert!(format!("{d:?}").contains("VAULT_MAX_RETRIES"), "{d:?}");
        }
        assert!(vault_endpoint(Setting::Unknown, Setting::Absent)
            .retry()
            .is_err());
    }

    #[test]
    fn timeout_parses_durations() {
        let t = |s: &str| vault_endpoint(Setting::Absent, Setting::Set(s.into())).timeout();
        assert_eq!(t("30").expect("ok"), Some(Duration::from_secs(30)));
        assert_eq!(t("2m").expect("ok"), Some(Duration::from_secs(120)));
        assert!(t("0s").is_err());
        assert!(t("soon").is_err());
        assert_eq!(
            vault_endpoint(Setting::Absent, Setting::Absent)
                .timeout()
                .expect("ok"),
            None
        );
    }

    #[test]
    fn schema_validators() {
        assert!(check_max_retries(&Value::Number(tf_framework::Number::Int(3))).is_ok());
        assert!(check_max_retries(&Value::Number(tf_framework::Number::Int(-1))).is_err());
        assert!(check_max_retries(&Value::Number(tf_framework::Number::Float(1.5))).is_err());
        assert!(check_timeout(&Value::from("45s")).is_ok());
        assert!(check_timeout(&Value::from("0")).is_err());
        assert!(check_timeout(&Value::from("1 minute")).is_err());
    }
}
