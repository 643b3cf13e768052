//! Decoding and validation of a CA provider's `Config` map, as Consul's mapstructure decoding
//! (`WeaklyTypedInput`, case-insensitive keys, durations from strings) and
//! `CommonCAProviderConfig.Validate` / `ParseVaultCAConfig` do it, with their error texts.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::duration::parse_go_duration;

/// `CommonCAProviderConfig` after defaults (`defaultCommonConfig`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommonConfig {
    pub leaf_ttl: Duration,
    pub intermediate_ttl: Duration,
    pub root_ttl: Duration,
    pub key_type: String,
    pub key_bits: u32,
    pub skip_validate: bool,
}

/// `VaultCAProviderConfig` (the fields the simulator uses).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VaultConfig {
    pub common: CommonConfig,
    pub address: String,
    pub token: String,
    /// Without the trailing `/` Consul appends internally.
    pub root_path: String,
    pub int_path: String,
}

/// Go's `time.Duration.String()`.
pub(crate) fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1u128)
        } else if ns < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", frac(ns, div));
    }
    let secs_total = ns / 1_000_000_000;
    let h = secs_total / 3600;
    let m = (secs_total % 3600) / 60;
    let s = frac(ns % 60_000_000_000, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// `n / div` with Go's trimmed fractional digits.
fn frac(n: u128, div: u128) -> String {
    let whole = n / div;
    let rest = n % div;
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// mapstructure matches field names case-insensitively; snake_case is accepted too.
fn lookup<'a>(raw: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    let want = field.to_ascii_lowercase();
    raw.iter()
        .find(|(k, _)| k.replace('_', "").to_ascii_lowercase() == want)
        .map(|(_, v)| v)
}

fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

struct Decoder<'a> {
    raw: &'a Map<String, Value>,
    errors: Vec<String>,
}

impl Decoder<'_> {
    fn duration(&mut self, field: &str, default: Duration) -> Duration {
        match lookup(self.raw, field) {
            None | Some(Value::Null) => default,
            Some(Value::String(s)) => match parse_go_duration(s) {
                Ok(d) => d,
                Err(_) => {
                    self.errors.push(format!(
                        "error decoding '{field}': time: invalid duration {}",
                        go_quote(s)
                    ));
                    default
                }
            },
            // Weak decoding turns a number into nanoseconds.
            Some(Value::Number(n)) => {
                Duration::from_nanos(n.as_f64().unwrap_or(0.0).max(0.0) as u64)
            }
            Some(v) => {
                self.errors.push(format!(
                    "'{field}' expected type 'time.Duration', got unconvertible type '{}', value: '{v}'",
                    go_type(v)
                ));
                default
            }
        }
    }

    fn string(&mut self, field: &str, default: &str) -> String {
        match lookup(self.raw, field) {
            None | Some(Value::Null) => default.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => if *b { "1" } else { "0" }.to_string(),
            Some(v) => {
                self.errors.push(format!(
                    "'{field}' expected type 'string', got unconvertible type '{}', value: '{v}'",
                    go_type(v)
                ));
                default.to_string()
            }
        }
    }

    fn int(&mut self, field: &str, default: i64) -> i64 {
        match lookup(self.raw, field) {
            None | Some(Value::Null) => default,
            Some(Value::Number(n)) => n
                .as_i64()
                .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
            Some(Value::Bool(b)) => i64::from(*b),
            Some(Value::String(s)) if s.is_empty() => 0,
            Some(Value::String(s)) => match s.parse::<i64>() {
                Ok(i) => i,
                Err(_) => {
                    self.errors.push(format!(
                        "cannot parse '{field}' as int: strconv.ParseInt: parsing {}: invalid syntax",
                        go_quote(s)
                    ));
                    default
                }
            },
            Some(v) => {
                self.errors.push(format!(
                    "'{field}' expected type 'int', got unconvertible type '{}', value: '{v}'",
                    go_type(v)
                ));
                default
            }
        }
    }

    fn boolean(&mut self, field: &str) -> bool {
        match lookup(self.raw, field) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0) != 0.0,
            Some(Value::String(s)) if s.is_empty() => false,
            Some(Value::String(s)) => match s.as_str() {
                "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
                "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
                _ => {
                    self.errors.push(format!(
                        "cannot parse '{field}' as bool: strconv.ParseBool: parsing {}: invalid syntax",
                        go_quote(s)
                    ));
                    false
                }
            },
            Some(v) => {
                self.errors.push(format!(
                    "'{field}' expected type 'bool', got unconvertible type '{}', value: '{v}'",
                    go_type(v)
                ));
                false
            }
        }
    }

    fn finish(mut self) -> Result<(), String> {
        if self.errors.is_empty() {
            return Ok(());
        }
        self.errors.sort();
        let points: Vec<String> = self.errors.iter().map(|e| format!("* {e}")).collect();
        Err(format!(
            "error decoding config: {} error(s) decoding:\n\n{}",
            points.len(),
            points.join("\n")
        ))
    }
}

fn decode_common(d: &mut Decoder<'_>) -> CommonConfig {
    CommonConfig {
        leaf_ttl: d.duration("LeafCertTTL", Duration::from_secs(72 * 3600)),
        intermediate_ttl: d.duration("IntermediateCertTTL", Duration::from_secs(8760 * 3600)),
        root_ttl: d.duration("RootCertTTL", Duration::from_secs(87600 * 3600)),
        key_type: d.string("PrivateKeyType", "ec"),
        key_bits: u32::try_from(d.int("PrivateKeyBits", 256)).unwrap_or(0),
        skip_validate: d.boolean("SkipValidate"),
    }
}

/// `CommonCAProviderConfig.Validate`, in Consul's order.
fn validate(c: &CommonConfig) -> Result<(), String> {
    if c.skip_validate {
        return Ok(());
    }
    if c.root_ttl < c.intermediate_ttl {
        return Err(format!(
            "root cert TTL is set and is not greater than intermediate cert ttl. root cert ttl: {}, intermediate cert ttl: {}",
            go_duration(c.root_ttl),
            go_duration(c.intermediate_ttl)
        ));
    }
    let hour = Duration::from_secs(3600);
    if c.leaf_ttl < hour {
        return Err(format!(
            "leaf cert TTL must be greater or equal than {}",
            go_duration(hour)
        ));
    }
    let max = Duration::from_secs(365 * 24 * 3600);
    if c.leaf_ttl > max {
        return Err(format!(
            "leaf cert TTL must be less than {}",
            go_duration(max)
        ));
    }
    if c.intermediate_ttl < 3 * hour {
        return Err("Intermediate Cert TTL must be greater or equal than 3h".into());
    }
    if c.intermediate_ttl < 3 * c.leaf_ttl {
        return Err(format!(
            "Intermediate Cert TTL must be greater or equal than 3 * LeafCertTTL (>={}).",
            go_duration(3 * c.leaf_ttl)
        ));
    }
    match c.key_type.as_str() {
        "ec" => {
            if ![224, 256, 384, 521].contains(&c.key_bits) {
                return Err("EC key length must be one of (224, 256, 384, 521) bits".into());
            }
        }
        "rsa" => {
            if ![2048, 4096].contains(&c.key_bits) {
                return Err("RSA key length must be 2048 or 4096 bits".into());
            }
        }
        _ => return Err("private key type must be either 'ec' or 'rsa'".into()),
    }
    Ok(())
}

/// `ConsulCAProviderConfig`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConsulConfig {
    pub common: CommonConfig,
    pub private_key: String,
    pub root_cert: String,
}

/// `ParseConsulCAConfig`.
pub(crate) fn parse_consul(raw: &Map<String, Value>) -> Result<ConsulConfig, String> {
    let mut d = Decoder {
        raw,
        errors: Vec::new(),
    };
    let common = decode_common(&mut d);
    let private_key = d.string("PrivateKey", "");
    let root_cert = d.string("RootCert", "");
    d.finish()?;
    validate(&common)?;
    Ok(ConsulConfig {
        common,
        private_key,
        root_cert,
    })
}

/// `ParseVaultCAConfig`.
pub(crate) fn parse_vault(raw: &Map<String, Value>) -> Result<VaultConfig, String> {
    let mut d = Decoder {
        raw,
        errors: Vec::new(),
    };
    let common = decode_common(&mut d);
    let address = d.string("Address", "");
    let token = d.string("Token", "");
    let root_path = d.string("RootPKIPath", "");
    let int_path = d.string("IntermediatePKIPath", "");
    let auth_method = lookup(raw, "AuthMethod").filter(|v| !v.is_null()).cloned();
    d.finish()?;
    if token.is_empty() && auth_method.is_none() {
        return Err("must provide a Vault token or configure a Vault auth method".into());
    }
    if !token.is_empty() && auth_method.is_some() {
        return Err(
            "only one of Vault token or Vault auth method can be provided, but not both".into(),
        );
    }
    if root_path.is_empty() {
        return Err("must provide a valid path to a root PKI backend".into());
    }
    if int_path.is_empty() {
        return Err("must provide a valid path for the intermediate PKI backend".into());
    }
    validate(&common)?;
    if auth_method.is_some() {
        // Logging in through an auth method needs the method's own client flow.
        return Err(
            "the devstack simulator supports only Token authentication towards Vault".into(),
        );
    }
    Ok(VaultConfig {
        common,
        address: if address.is_empty() {
            // The Go Vault client's default address.
            "https://127.0.0.1:8200".into()
        } else {
            address
        },
        token,
        root_path: root_path.trim_end_matches('/').to_string(),
        int_path: int_path.trim_end_matches('/').to_string(),
    })
}

/// `VaultProvider.ValidateConfigUpdate`: the root's key cannot change under the same path.
pub(crate) fn vault_validate_update(
    prev: &Map<String, Value>,
    next: &Map<String, Value>,
) -> Result<(), String> {
    let p = parse_vault(prev).map_err(|e| format!("failed to parse existing CA config: {e}"))?;
    let n = parse_vault(next).map_err(|e| format!("failed to parse new CA config: {e}"))?;
    if p.root_path != n.root_path {
        return Ok(());
    }
    // Only non-default values of the previous config are compared.
    let prev_type = lookup(prev, "PrivateKeyType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !prev_type.is_empty() && prev_type != "ec" && p.common.key_type != n.common.key_type {
        return Err("cannot update the PrivateKeyType field without changing RootPKIPath".into());
    }
    let prev_bits_set = lookup(prev, "PrivateKeyBits").is_some_and(|v| !v.is_null());
    if prev_bits_set
        && p.common.key_bits != 0
        && p.common.key_bits != 256
        && p.common.key_bits != n.common.key_bits
    {
        return Err("cannot update the PrivateKeyBits field without changing RootPKIPath".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_duration_strings() {
        assert_eq!(go_duration(Duration::from_secs(72 * 3600)), "72h0m0s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(20)), "20ms");
    }

    #[test]
    fn validation_texts() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            parse_consul(&m(json!({"LeafCertTTL": "30m"}))).expect_err("must fail"),
            "leaf cert TTL must be greater or equal than 1h0m0s"
        );
        assert_eq!(
            parse_consul(&m(
                json!({"leaf_cert_ttl": "100h", "IntermediateCertTTL": "200h"})
            ))
            .expect_err("must fail"),
            "Intermediate Cert TTL must be greater or equal than 3 * LeafCertTTL (>=300h0m0s)."
        );
        assert_eq!(
            parse_consul(&m(json!({"PrivateKeyType": "rsa"}))).expect_err("must fail"),
            "RSA key length must be 2048 or 4096 bits"
        );
        assert_eq!(
            parse_consul(&m(json!({"LeafCertTTL": "abc"}))).expect_err("must fail"),
            "error decoding config: 1 error(s) decoding:\n\n* error decoding 'LeafCertTTL': time: invalid duration \"abc\""
        );
        assert_eq!(
            parse_vault(&m(json!({"Token": "t", "RootPKIPath": "r"}))).expect_err("must fail"),
            "must provide a valid path for the intermediate PKI backend"
        );
    }
}
