//! Provider configuration: `vault {}`, `consul {}` and `nomad {}` blocks, each falling back to the
//! product's standard environment variables. Clients are built when a resource first needs them,
//! so a configuration whose values are unknown at plan time still plans.

use std::sync::OnceLock;

use stack_core::vault::{VaultClient, VaultConfig};
use stack_core::{Secret, TlsConfig};
use tf_framework::{Attribute, Block, Diagnostic, Diags, NestedBlock, Schema, Value};

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
    ca_cert_file: Setting,
    client_cert_file: Setting,
    client_key_file: Setting,
    skip_verify: Setting,
    namespace: Setting,
    #[allow(dead_code)] // Nomad region / Consul datacenter: read by their clients
    region: Setting,
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
}

/// What every resource call receives: resolved settings and lazily built clients.
pub struct ProviderData {
    vault: Endpoint,
    #[allow(dead_code)] // consumed by the Consul resources
    consul: Endpoint,
    #[allow(dead_code)] // consumed by the Nomad resources
    nomad: Endpoint,
    vault_client: OnceLock<VaultClient>,
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
            ca_cert_file: Setting::resolve(c, "ca_cert_file", &["CONSUL_CACERT"]),
            client_cert_file: Setting::resolve(c, "client_cert_file", &["CONSUL_CLIENT_CERT"]),
            client_key_file: Setting::resolve(c, "client_key_file", &["CONSUL_CLIENT_KEY"]),
            skip_verify: Setting::resolve(c, "skip_tls_verify", &[]),
            namespace: Setting::Absent,
            region: Setting::resolve(c, "datacenter", &[]),
        };
        // CONSUL_HTTP_ADDR may be host:port; CONSUL_HTTP_SSL picks the scheme.
        if let Setting::Set(a) = &consul.address {
            if !a.contains("://") {
                let scheme = if consul_ssl { "https" } else { "http" };
                consul.address = Setting::Set(format!("{scheme}://{a}"));
            }
        }
        Ok(ProviderData {
            vault: Endpoint {
                product: "Vault",
                block: "vault",
                address: Setting::resolve(v, "address", &["VAULT_ADDR", "BAO_ADDR"]),
                address_env: "VAULT_ADDR",
                token: Setting::resolve(v, "token", &["VAULT_TOKEN", "BAO_TOKEN"]),
                ca_cert_file: Setting::resolve(v, "ca_cert_file", &["VAULT_CACERT"]),
                client_cert_file: Setting::resolve(v, "client_cert_file", &["VAULT_CLIENT_CERT"]),
                client_key_file: Setting::resolve(v, "client_key_file", &["VAULT_CLIENT_KEY"]),
                skip_verify: Setting::resolve(v, "skip_tls_verify", &["VAULT_SKIP_VERIFY"]),
                namespace: Setting::resolve(v, "namespace", &["VAULT_NAMESPACE"]),
                region: Setting::Absent,
            },
            consul,
            nomad: Endpoint {
                product: "Nomad",
                block: "nomad",
                address: Setting::resolve(n, "address", &["NOMAD_ADDR"]),
                address_env: "NOMAD_ADDR",
                token: Setting::resolve(n, "token", &["NOMAD_TOKEN"]),
                ca_cert_file: Setting::resolve(n, "ca_cert_file", &["NOMAD_CACERT"]),
                client_cert_file: Setting::resolve(n, "client_cert_file", &["NOMAD_CLIENT_CERT"]),
                client_key_file: Setting::resolve(n, "client_key_file", &["NOMAD_CLIENT_KEY"]),
                skip_verify: Setting::resolve(n, "skip_tls_verify", &["NOMAD_SKIP_VERIFY"]),
                namespace: Setting::resolve(n, "namespace", &["NOMAD_NAMESPACE"]),
                region: Setting::resolve(n, "region", &["NOMAD_REGION"]),
            },
            vault_client: OnceLock::new(),
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
        let cfg = VaultConfig {
            token,
            namespace: e.namespace.value().map(str::to_string),
            tls: e.tls(),
            ..VaultConfig::new(address)
        };
        let client = VaultClient::new(cfg).map_err(|err| {
            Diags::from(Diagnostic::error("Invalid Vault settings", err.to_string()))
        })?;
        Ok(self.vault_client.get_or_init(|| client))
    }
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

/// The `provider "stack" {}` schema.
pub fn schema() -> Schema {
    Schema::new(
        Block::new("The `stack` provider wires Vault, Consul and Nomad together. Each product block is optional; a resource that needs a product that is not configured fails with a diagnostic naming the missing setting.")
            .block(NestedBlock::single(
                "vault",
                endpoint_block("Vault", "VAULT_ADDR", "https://127.0.0.1:8200", vec![
                    Attribute::string("namespace").optional().doc("Vault/OpenBao namespace. Defaults to `VAULT_NAMESPACE`."),
                ]),
            ))
            .block(NestedBlock::single(
                "consul",
                endpoint_block("Consul", "CONSUL_HTTP_ADDR", "http://127.0.0.1:8500", vec![
                    Attribute::bool("ssl").optional().doc("Use HTTPS when `address` has no scheme. Defaults to `CONSUL_HTTP_SSL`."),
                    Attribute::string("datacenter").optional().doc("Consul datacenter."),
                ]),
            ))
            .block(NestedBlock::single(
                "nomad",
                endpoint_block("Nomad", "NOMAD_ADDR", "http://127.0.0.1:4646", vec![
                    Attribute::string("region").optional().doc("Nomad region. Defaults to `NOMAD_REGION`."),
                    Attribute::string("namespace").optional().doc("Nomad namespace. Defaults to `NOMAD_NAMESPACE`."),
                ]),
            )),
    )
}
