//! PKI secrets engine: roots, intermediates, issuers and roles.
//!
//! Mount paths are given without slashes at either end (`team/pki`). Keys are
//! always generated inside the server (`.../generate/internal`); no method here
//! ever receives a private key.
//!
//! Measured against OpenBao 2.7:
//! - `GET :mount/issuer/:ref` answers **500** `unable to find PKI issuer for
//!   reference` for an unknown issuer, so existence is checked with
//!   [`VaultClient::pki_list_issuers`] instead.
//! - `POST :mount/roles/:name` answers 200 with the role, not 204.
//! - A requested `ttl` above the mount's `max_lease_ttl` is silently capped
//!   (with a warning), so callers tune the mount first.
//! - `intermediate/set-signed` with a `pem_bundle` imports the signing root as
//!   a second, key-less issuer; the intermediate is the issuer whose key is
//!   the CSR's `key_id`. It becomes the default only if the mount had none.
//!
//! [`CertificateInfo::from_pem`] reads the few X.509 fields a Terraform
//! resource needs (subject, validity, key), so no certificate library is needed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::VaultClient;
use crate::error::{Error, Product};
use crate::http::Method;

/// Body of `POST :mount/root/generate/internal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateRootRequest {
    /// Subject common name.
    pub common_name: String,
    /// Subject organization (O).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Validity, e.g. `87600h`; capped by the mount's `max_lease_ttl`.
    pub ttl: String,
    /// `ec` or `rsa`.
    pub key_type: String,
    /// Key size: 224/256/384/521 for `ec`, 2048/3072/4096 for `rsa`.
    pub key_bits: u32,
    /// Optional issuer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_name: Option<String>,
}

/// `data` of a root generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedRoot {
    /// The root certificate (PEM).
    pub certificate: String,
    /// ID of the new issuer.
    pub issuer_id: String,
    /// ID of the new key (the key itself stays in the server).
    #[serde(default)]
    pub key_id: String,
    /// Expiry, Unix seconds.
    #[serde(default)]
    pub expiration: i64,
    /// Serial number, colon-hex.
    #[serde(default)]
    pub serial_number: String,
}

/// Body of `POST :mount/intermediate/generate/internal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateIntermediateRequest {
    /// Subject common name.
    pub common_name: String,
    /// Subject organization (O).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// `ec` or `rsa`.
    pub key_type: String,
    /// Key size.
    pub key_bits: u32,
}

/// `data` of an intermediate CSR generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntermediateCsr {
    /// The CSR (PEM).
    pub csr: String,
    /// ID of the new key; identifies the issuer that `set-signed` creates.
    #[serde(default)]
    pub key_id: String,
}

/// Body of `POST :mount/issuer/:ref/sign-intermediate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIntermediateRequest {
    /// The CSR (PEM).
    pub csr: String,
    /// Validity, e.g. `43800h`; capped by the mount's `max_lease_ttl`.
    pub ttl: String,
    /// `pem_bundle` returns the certificate followed by the signing CA.
    pub format: String,
    /// Keep the CSR's subject instead of the request's `common_name`.
    pub use_csr_values: bool,
}

impl SignIntermediateRequest {
    /// A `pem_bundle` signing of `csr` that keeps the CSR's subject.
    pub fn bundle(csr: impl Into<String>, ttl: impl Into<String>) -> Self {
        Self {
            csr: csr.into(),
            ttl: ttl.into(),
            format: "pem_bundle".to_owned(),
            use_csr_values: true,
        }
    }
}

/// `data` of a signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCertificate {
    /// The certificate; with `pem_bundle`, followed by the signing CA.
    pub certificate: String,
    /// The signing CA (PEM).
    #[serde(default)]
    pub issuing_ca: String,
    /// The chain above the certificate.
    #[serde(default)]
    pub ca_chain: Vec<String>,
    /// Expiry, Unix seconds.
    #[serde(default)]
    pub expiration: i64,
    /// Serial number, colon-hex.
    #[serde(default)]
    pub serial_number: String,
}

/// `data` of `intermediate/set-signed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetSignedResult {
    /// Issuers created by this call.
    #[serde(default)]
    pub imported_issuers: Option<Vec<String>>,
    /// Issuers that were already there (e.g. the root of a second bundle).
    #[serde(default)]
    pub existing_issuers: Option<Vec<String>>,
    /// Issuer ID → key ID (empty for a certificate without a key here).
    #[serde(default)]
    pub mapping: HashMap<String, String>,
}

impl SetSignedResult {
    /// The issuer that uses key `key_id`.
    pub fn issuer_for_key(&self, key_id: &str) -> Option<&str> {
        self.mapping
            .iter()
            .find(|(_, k)| !k.is_empty() && k.as_str() == key_id)
            .map(|(issuer, _)| issuer.as_str())
    }
}

/// `:mount/config/issuers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuersConfig {
    /// The default issuer's ID; empty when there is none.
    #[serde(default)]
    pub default: String,
    /// Whether every new issuer becomes the default.
    #[serde(default)]
    pub default_follows_latest_issuer: bool,
}

/// One issuer as listed by `LIST :mount/issuers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerSummary {
    /// Whether it is the mount's default issuer.
    #[serde(default)]
    pub is_default: bool,
    /// Its name, often empty.
    #[serde(default)]
    pub issuer_name: String,
    /// Its key; empty for a certificate without a key in this mount.
    #[serde(default)]
    pub key_id: String,
    /// Serial number, colon-hex.
    #[serde(default)]
    pub serial_number: String,
}

/// An issuer as read by `GET :mount/issuer/:ref`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuer {
    /// Its ID.
    pub issuer_id: String,
    /// Its name, often empty.
    #[serde(default)]
    pub issuer_name: String,
    /// Its key; empty for a certificate without a key in this mount.
    #[serde(default)]
    pub key_id: String,
    /// The issuer certificate (PEM).
    pub certificate: String,
    /// The issuer followed by the CAs above it, as far as the mount knows them.
    #[serde(default)]
    pub ca_chain: Vec<String>,
}

/// Body of `POST :mount/roles/:name`; unset fields keep the server default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkiRoleRequest {
    /// Domains certificates may be issued for.
    pub allowed_domains: Vec<String>,
    /// Whether subdomains of `allowed_domains` are allowed.
    pub allow_subdomains: bool,
    /// Maximum certificate TTL, e.g. `72h`; unset means the mount's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl: Option<String>,
    /// Key type of issued keys: `ec`, `rsa`, `ed25519` or `any` (sign only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// Key size of issued keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_bits: Option<u32>,
}

/// A role as read back; TTLs in seconds (0 = the mount's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkiRole {
    /// Domains certificates may be issued for.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Whether subdomains of `allowed_domains` are allowed.
    #[serde(default)]
    pub allow_subdomains: bool,
    /// Maximum certificate TTL in seconds.
    #[serde(default)]
    pub max_ttl: u64,
    /// Key type of issued keys.
    #[serde(default)]
    pub key_type: String,
    /// Key size of issued keys.
    #[serde(default)]
    pub key_bits: u32,
    /// Issuer used, `default` unless pinned.
    #[serde(default)]
    pub issuer_ref: String,
}

/// `:mount/config/urls`: the AIA/CRL/OCSP URLs written into issued certificates. Writing
/// replaces only the lists present in the body (measured on OpenBao 2.x: an absent list is
/// kept, an empty one clears it), so all three are always sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkiUrls {
    /// Where the issuing CA certificate can be fetched.
    #[serde(default)]
    pub issuing_certificates: Vec<String>,
    /// Where the CRL can be fetched.
    #[serde(default)]
    pub crl_distribution_points: Vec<String>,
    /// OCSP responders.
    #[serde(default)]
    pub ocsp_servers: Vec<String>,
}

fn pki_path(method: &'static str, mount: &str, rest: &str) -> Result<String, Error> {
    let mount = mount.trim().trim_matches('/');
    if mount.is_empty() {
        return Err(Error::InvalidRequest {
            product: Product::Vault,
            method,
            path: rest.to_owned(),
            reason: "the PKI mount path is empty".to_owned(),
        });
    }
    Ok(format!("{mount}/{rest}"))
}

fn name_segment(method: &'static str, what: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('/') {
        return Err(Error::InvalidRequest {
            product: Product::Vault,
            method,
            path: name.to_owned(),
            reason: format!("{what} must be non-empty and contain no \"/\""),
        });
    }
    Ok(())
}

impl VaultClient {
    /// Generates a root CA whose key never leaves the server; returns the new issuer.
    ///
    /// `POST /v1/:mount/root/generate/internal` —
    /// <https://openbao.org/api-docs/secret/pki/#generate-root>
    pub async fn pki_generate_root(
        &self,
        mount: &str,
        request: &GenerateRootRequest,
    ) -> Result<GeneratedRoot, Error> {
        self.write(&pki_path("POST", mount, "root/generate/internal")?, request)
            .await?
            .data()
    }

    /// Generates a key and a CSR for an intermediate CA (no issuer exists yet).
    ///
    /// `POST /v1/:mount/intermediate/generate/internal` —
    /// <https://openbao.org/api-docs/secret/pki/#generate-intermediate-csr>
    pub async fn pki_generate_intermediate(
        &self,
        mount: &str,
        request: &GenerateIntermediateRequest,
    ) -> Result<IntermediateCsr, Error> {
        self.write(
            &pki_path("POST", mount, "intermediate/generate/internal")?,
            request,
        )
        .await?
        .data()
    }

    /// Signs an intermediate CSR with the issuer `issuer_ref` (an ID, a name or `default`).
    ///
    /// `POST /v1/:mount/issuer/:issuer_ref/sign-intermediate` —
    /// <https://openbao.org/api-docs/secret/pki/#sign-intermediate>
    pub async fn pki_sign_intermediate(
        &self,
        mount: &str,
        issuer_ref: &str,
        request: &SignIntermediateRequest,
    ) -> Result<SignedCertificate, Error> {
        name_segment("POST", "the issuer reference", issuer_ref)?;
        let path = pki_path(
            "POST",
            mount,
            &format!("issuer/{issuer_ref}/sign-intermediate"),
        )?;
        self.write(&path, request).await?.data()
    }

    /// Installs a signed intermediate certificate (or bundle) as issuer(s).
    ///
    /// `POST /v1/:mount/intermediate/set-signed` with `{"certificate": "<pem>"}` —
    /// <https://openbao.org/api-docs/secret/pki/#import-ca-certificates-and-keys>
    pub async fn pki_set_signed(
        &self,
        mount: &str,
        certificate: &str,
    ) -> Result<SetSignedResult, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            certificate: &'a str,
        }
        let response = self
            .write(
                &pki_path("POST", mount, "intermediate/set-signed")?,
                &Body { certificate },
            )
            .await?;
        Ok(response
            .json_opt::<Envelope<SetSignedResult>>()?
            .and_then(|e| e.data)
            .unwrap_or_default())
    }

    /// Reads which issuer is the default.
    ///
    /// `GET /v1/:mount/config/issuers` —
    /// <https://openbao.org/api-docs/secret/pki/#read-issuers-configuration>
    pub async fn pki_read_issuers_config(&self, mount: &str) -> Result<IssuersConfig, Error> {
        self.request(Method::Get, pki_path("GET", mount, "config/issuers")?)
            .send()
            .await?
            .data()
    }

    /// Makes `issuer_id` the default issuer, keeping `default_follows_latest_issuer` as it is.
    ///
    /// `POST /v1/:mount/config/issuers` —
    /// <https://openbao.org/api-docs/secret/pki/#set-issuers-configuration>
    pub async fn pki_set_default_issuer(&self, mount: &str, issuer_id: &str) -> Result<(), Error> {
        let mut config = self.pki_read_issuers_config(mount).await?;
        config.default = issuer_id.to_owned();
        self.write(&pki_path("POST", mount, "config/issuers")?, &config)
            .await
            .map(drop)
    }

    /// Lists the issuers of a mount by ID; empty for a mount without any.
    ///
    /// `LIST /v1/:mount/issuers` (404 when empty) —
    /// <https://openbao.org/api-docs/secret/pki/#list-issuers>
    pub async fn pki_list_issuers(
        &self,
        mount: &str,
    ) -> Result<HashMap<String, IssuerSummary>, Error> {
        #[derive(Deserialize)]
        struct Listing {
            #[serde(default)]
            key_info: HashMap<String, IssuerSummary>,
        }
        match self
            .request(Method::List, pki_path("LIST", mount, "issuers")?)
            .send()
            .await
        {
            Ok(response) => Ok(response.data::<Listing>()?.key_info),
            Err(e) if e.is_not_found() => Ok(HashMap::new()),
            Err(e) => Err(e),
        }
    }

    /// Reads one issuer with its certificate and chain. `issuer_ref` must
    /// exist (see the module notes); check with [`VaultClient::pki_list_issuers`].
    ///
    /// `GET /v1/:mount/issuer/:issuer_ref` —
    /// <https://openbao.org/api-docs/secret/pki/#read-issuer>
    pub async fn pki_read_issuer(&self, mount: &str, issuer_ref: &str) -> Result<Issuer, Error> {
        name_segment("GET", "the issuer reference", issuer_ref)?;
        self.request(
            Method::Get,
            pki_path("GET", mount, &format!("issuer/{issuer_ref}"))?,
        )
        .send()
        .await?
        .data()
    }

    /// Creates or replaces a role.
    ///
    /// `POST /v1/:mount/roles/:name` (OpenBao answers 200 with the role) —
    /// <https://openbao.org/api-docs/secret/pki/#create-update-role>
    pub async fn pki_write_role(
        &self,
        mount: &str,
        name: &str,
        role: &PkiRoleRequest,
    ) -> Result<(), Error> {
        name_segment("POST", "the role name", name)?;
        self.write(&pki_path("POST", mount, &format!("roles/{name}"))?, role)
            .await
            .map(drop)
    }

    /// Reads a role; `None` if it does not exist.
    ///
    /// `GET /v1/:mount/roles/:name` —
    /// <https://openbao.org/api-docs/secret/pki/#read-role>
    pub async fn pki_read_role(&self, mount: &str, name: &str) -> Result<Option<PkiRole>, Error> {
        name_segment("GET", "the role name", name)?;
        self.read(&pki_path("GET", mount, &format!("roles/{name}"))?)
            .await
    }

    /// Reads the URLs configured on a mount (empty lists when none are set).
    ///
    /// `GET /v1/:mount/config/urls` —
    /// <https://openbao.org/api-docs/secret/pki/#read-urls>
    pub async fn pki_read_urls(&self, mount: &str) -> Result<PkiUrls, Error> {
        self.request(Method::Get, pki_path("GET", mount, "config/urls")?)
            .send()
            .await?
            .data()
    }

    /// Sets all three URL lists of a mount; empty lists clear them. The server rejects
    /// entries that are not URLs with 400.
    ///
    /// `POST /v1/:mount/config/urls` (OpenBao answers 200 with the new config) —
    /// <https://openbao.org/api-docs/secret/pki/#set-urls>
    pub async fn pki_write_urls(&self, mount: &str, urls: &PkiUrls) -> Result<(), Error> {
        self.write(&pki_path("POST", mount, "config/urls")?, urls)
            .await
            .map(drop)
    }

    /// Deletes a role; a missing role is not an error.
    ///
    /// `DELETE /v1/:mount/roles/:name` —
    /// <https://openbao.org/api-docs/secret/pki/#delete-role>
    pub async fn pki_delete_role(&self, mount: &str, name: &str) -> Result<(), Error> {
        name_segment("DELETE", "the role name", name)?;
        match self
            .delete(&pki_path("DELETE", mount, &format!("roles/{name}"))?)
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
}

/// The X.509 fields of a certificate that a CA resource reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject CN.
    pub common_name: Option<String>,
    /// Subject O.
    pub organization: Option<String>,
    /// The subject Name, DER (for comparing with another certificate's issuer).
    pub subject_der: Vec<u8>,
    /// The issuer Name, DER.
    pub issuer_der: Vec<u8>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// `ec`, `rsa`, `ed25519`, or `unknown`.
    pub key_type: String,
    /// Key size in bits (the curve size for EC), 0 when unknown.
    pub key_bits: u32,
}

impl CertificateInfo {
    /// Parses the first certificate of a PEM text; `None` if there is none or
    /// it is not DER this parser understands.
    pub fn from_pem(pem: &str) -> Option<Self> {
        Self::from_der(&pem_first_certificate(pem)?)
    }

    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (cert, _) = tlv(der, 0x30)?;
        let (tbs, _) = tlv(cert, 0x30)?;
        let mut rest = tbs;
        if rest.first() == Some(&0xA0) {
            rest = skip(rest)?;
        }
        rest = skip(rest)?; // serial number
        rest = skip(rest)?; // signature algorithm
        let issuer_full = element(rest)?;
        rest = skip(rest)?;
        let (validity, after_validity) = tlv(rest, 0x30)?;
        let not_before = asn1_time(validity)?;
        let not_after = asn1_time(skip(validity)?)?;
        rest = after_validity;
        let subject_full = element(rest)?;
        let (subject, after_subject) = tlv(rest, 0x30)?;
        let (spki, _) = tlv(after_subject, 0x30)?;
        let (key_type, key_bits) = key_of(spki)?;
        Some(Self {
            common_name: name_attribute(subject, &[0x55, 0x04, 0x03]),
            organization: name_attribute(subject, &[0x55, 0x04, 0x0A]),
            subject_der: subject_full.to_vec(),
            issuer_der: issuer_full.to_vec(),
            not_before,
            not_after,
            key_type: key_type.to_owned(),
            key_bits,
        })
    }
}

/// Every certificate of a PEM text, in order, each as its own PEM block.
pub fn pem_certificates(pem: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        out.push(rest[start..end].to_owned());
        rest = &rest[end..];
    }
    out
}

fn pem_first_certificate(pem: &str) -> Option<Vec<u8>> {
    let block = pem_certificates(pem).into_iter().next()?;
    let body = block
        .trim_start_matches("-----BEGIN CERTIFICATE-----")
        .trim_end_matches("-----END CERTIFICATE-----");
    base64_decode(body)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            c if c.is_ascii_whitespace() => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Header of a DER element: (tag, content start, content end).
fn header(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *buf.first()?;
    let first = *buf.get(1)?;
    let (len, start) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*buf.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = start.checked_add(len)?;
    (end <= buf.len()).then_some((tag, start, end))
}

/// The content of the element at the start of `buf` if it has `tag`, and what follows it.
fn tlv(buf: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, start, end) = header(buf)?;
    (t == tag).then(|| (&buf[start..end], &buf[end..]))
}

/// The whole first element (header and content).
fn element(buf: &[u8]) -> Option<&[u8]> {
    let (_, _, end) = header(buf)?;
    Some(&buf[..end])
}

/// What follows the first element.
fn skip(buf: &[u8]) -> Option<&[u8]> {
    let (_, _, end) = header(buf)?;
    Some(&buf[end..])
}

fn digits(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// UTCTime or GeneralizedTime (UTC, `Z`) → Unix seconds.
fn asn1_time(buf: &[u8]) -> Option<i64> {
    let (tag, start, end) = header(buf)?;
    let s = &buf[start..end];
    let (year, rest) = match tag {
        0x17 if s.len() >= 12 => {
            let yy = digits(&s[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        0x18 if s.len() >= 14 => (digits(&s[..4])?, &s[4..]),
        _ => return None,
    };
    let field = |i: usize| digits(rest.get(i..i + 2)?);
    let (month, day) = (field(0)?, field(2)?);
    let (h, m, sec) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// The first value of attribute `oid` in a Name (content of the SEQUENCE).
fn name_attribute(name: &[u8], oid: &[u8]) -> Option<String> {
    let mut rdns = name;
    while !rdns.is_empty() {
        let (set, next) = tlv(rdns, 0x31)?;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (atv, after) = tlv(atvs, 0x30)?;
            let (id, value) = tlv(atv, 0x06)?;
            if id == oid {
                let (_, start, end) = header(value)?;
                return Some(String::from_utf8_lossy(&value[start..end]).into_owned());
            }
            atvs = after;
        }
        rdns = next;
    }
    None
}

const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];
const CURVES: &[(&[u8], u32)] = &[
    (&[0x2B, 0x81, 0x04, 0x00, 0x21], 224),
    (&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07], 256),
    (&[0x2B, 0x81, 0x04, 0x00, 0x22], 384),
    (&[0x2B, 0x81, 0x04, 0x00, 0x23], 521),
];

/// Key type and size from a SubjectPublicKeyInfo (content of the SEQUENCE).
fn key_of(spki: &[u8]) -> Option<(&'static str, u32)> {
    let (alg, after_alg) = tlv(spki, 0x30)?;
    let (oid, params) = tlv(alg, 0x06)?;
    if oid == OID_EC {
        let (curve, _) = tlv(params, 0x06)?;
        let bits = CURVES
            .iter()
            .find(|(c, _)| *c == curve)
            .map_or(0, |(_, b)| *b);
        return Some(("ec", bits));
    }
    if oid == OID_ED25519 {
        return Some(("ed25519", 256));
    }
    if oid == OID_RSA {
        let (bits, _) = tlv(after_alg, 0x03)?;
        let (key, _) = tlv(bits.get(1..)?, 0x30)?;
        let (modulus, _) = tlv(key, 0x02)?;
        let significant: &[u8] = match modulus.iter().position(|b| *b != 0) {
            Some(i) => &modulus[i..],
            None => &[],
        };
        let bits = match significant.first() {
            Some(b) => (significant.len() as u32 - 1) * 8 + (8 - b.leading_zeros()),
            None => 0,
        };
        return Some(("rsa", bits));
    }
    Some(("unknown", 0))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds → RFC 3339 in UTC, e.g. `2036-11-24T22:39:03Z`.
pub fn rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// RFC 3339 (`Z` or a numeric offset, optional fraction) → Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, m, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        rest = &rest[1 + n..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), hh1, hh2, b':', mm1, mm2] => {
            let o = digits(&[*hh1, *hh2])? * 3600 + digits(&[*mm1, *mm2])? * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// OpenBao 2.7 `root/generate/internal`: ec P-256, O=Acme, CN=Root CA, ttl 87600h.
    const EC_ROOT: &str = "-----BEGIN CERTIFICATE-----
MIIBqDCCAU2gAwIBAgIUFy8TOicpWPYRBsitFprB4NrX0K0wCgYIKoZIzj0EAwIw
ITENMAsGA1UEChMEQWNtZTEQMA4GA1UEAxMHUm9vdCBDQTAeFw0yNjExMjcyMjM4
MzNaFw0zNjExMjQyMjM5MDNaMCExDTALBgNVBAoTBEFjbWUxEDAOBgNVBAMTB1Jv
b3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQDT0Dh6xWUlv6uJma7sTsV
3gt4BGjq8kXU1oAjub+5gDrH2CQCLN4ZI0ataAGd/k4bEB77u+jEeGhyyk59JmBL
o2MwYTAOBgNVHQ8BAf8EBAMCAQYwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQU
qFOBum136GF42ePrHTlauGVVp6MwHwYDVR0jBBgwFoAUqFOBum136GF42ePrHTla
uGVVp6MwCgYIKoZIzj0EAwIDSQAwRgIhAPZa1DV/LAOa2WQW/b3Hm78yk8m1MWUi
BH3ShSpP6ivXAiEA5jRM/KaVVraasL2D33wyItYTUWv3fQIHslG+sVBmFYk=
-----END CERTIFICATE-----";

    /// The intermediate (CN=Int CA) that EC_ROOT signed with `sign-intermediate`.
    const EC_INT: &str = "-----BEGIN CERTIFICATE-----
MIIBpzCCAUygAwIBAgIUcmg7/V0MbHzENMpqQocDvFy2F00wCgYIKoZIzj0EAwIw
ITENMAsGA1UEChMEQWNtZTEQMA4GA1UEAxMHUm9vdCBDQTAeFw0yNjExMjcyMjM4
MzZaFw0zMTExMjYyMjM5MDZaMCAxDTALBgNVBAoTBEFjbWUxDzANBgNVBAMTBklu
dCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABIRTaRl4md1N0q/s09P/14HC
+XL3SxAOyz6I+Atx6o5Zo4XnsT3Y/nrWxP8xKpq6JsG87q/PIarECuc+mF3AdXqj
YzBhMA4GA1UdDwEB/wQEAwIBBjAPBgNVHRMBAf8EBTADAQH/MB0GA1UdDgQWBBRL
mDNfiaGlqO60GPNvdCaEibunyzAfBgNVHSMEGDAWgBSoU4G6bXfoYXjZ4+sdOVq4
ZVWnozAKBggqhkjOPQQDAgNJADBGAiEAtfJx1Bi3rM9NFmLMarY3sbCUU2EyRVXF
ETeeTwhbSO0CIQCTnBZr7gw8Elyd0Et5VUH5CcfNj7G7SkHrFh0VxVJ5uw==
-----END CERTIFICATE-----";

    /// rsa 3072, O=Example Org, CN=RSA Root.
    const RSA_ROOT: &str = "-----BEGIN CERTIFICATE-----
MIIEQzCCAqugAwIBAgIUL6HOWvfHVX8IMWIYFTWQAKLxyyAwDQYJKoZIhvcNAQEL
BQAwKTEUMBIGA1UEChMLRXhhbXBsZSBPcmcxETAPBgNVBAMTCFJTQSBSb290MB4X
DTI2MTEyNzIyNDAzOFoXDTM2MTEyNDIyNDEwN1owKTEUMBIGA1UEChMLRXhhbXBs
ZSBPcmcxETAPBgNVBAMTCFJTQSBSb290MIIBojANBgkqhkiG9w0BAQEFAAOCAY8A
MIIBigKCAYEA7OrF6JELKZnFqoLmbry/wDju+BJkLJIFgzY4e+/VA/Xwxvp5tFqh
76HtLVodkgYZCvbJrPfOguus0GWo5spjpWLpnSvsUP74CHpXK951bTLOFL3v44b+
hwEuVhqJIfCHbC+Pz/cXdGVIzurDVV6zDf6alU+lF+TlqlDW5exVcx++KNZ7ddNK
Nf18Ux+Uw5vfyo7pZjTFj8CDmlkQZA2nCiufoSvOI/B/3WMupxEIdMy/8xbizVF/
N6iXYuoVTulhmvqhFld6xYFRS0MAk4UVCBXWwAs9c4WPZAsf0vPaV8xbvdhxav9l
Np4bhzyhsBAhufDK0AYk13tsqniZ8vwsw+afT+2bYR2PHpf+JKR+WC7coKlGQxqH
xM0ydE+i4kCM4N1YwKJcOcaWwQtxgqVLr95rDPXHicUOZ+9UPcwMlQfS7IWfAhdP
yO4DfN5yUMGjUaDffwH7pStg9ofN15BEVUxuJuI76mrrnu0FSyHRPqR6gBeFHrZ2
Jv/DYah8dsS5AgMBAAGjYzBhMA4GA1UdDwEB/wQEAwIBBjAPBgNVHRMBAf8EBTAD
AQH/MB0GA1UdDgQWBBQf304clSn4GaEh4axr/kkUOGiEQDAfBgNVHSMEGDAWgBQf
304clSn4GaEh4axr/kkUOGiEQDANBgkqhkiG9w0BAQsFAAOCAYEAhq0+Qj8CWhFr
n9iUdMLeQWMLDA+N13I8k0c+ij7IEkOc0JeDphNPr32+TdNrFvcTIMJFPfeZgiMJ
O9qB9+VWBxiZ1qSBxGrq/x0zFTL2YM4bc9Kj33QqXjMQEJj8n+Upm1E6fVaUFbUE
Udx6Kr2kiazyNluGCBJ+lzPE67Gqo3VCAQM4RmPR16d9Fve98JhziHKyNOW6onq0
raq+1YpuMQbd/5jgzK9DPCo1+Si1CYUjz7VcbRm0MIDndMvBKBjm2sOhOS+IwS8i
NrSymRncG3E+x5VAqLW1HZjp00k0nSvRgBJPcaX5CFphgp3NpVpJrf2E0aRkKAPB
RFLwdcz2mC0OCG9x+lCAA2jOmFdjFn/BOR9wubXUXKYZ4X+VluX7q0pBv8wJ6TDC
A1AgJxGkakvnhJ4EahTEVLlQ6NLX3WDCkcNFmka//qrjw4At+ENj7oKApXDDJVdN
cLFY1KPyhUdBg7QPrygsCe4NCYYMZ56HkGd4AzyUg9NcRLxEaEbz
-----END CERTIFICATE-----";

    #[test]
    fn parses_ec_root() {
        let c = CertificateInfo::from_pem(EC_ROOT).unwrap();
        assert_eq!(c.common_name.as_deref(), Some("Root CA"));
        assert_eq!(c.organization.as_deref(), Some("Acme"));
        assert_eq!((c.key_type.as_str(), c.key_bits), ("ec", 256));
        // openssl: notBefore=Nov 27 22:38:33 2026 GMT, notAfter=Nov 24 22:39:03 2036 GMT.
        assert_eq!(c.not_before, 1_795_819_113);
        assert_eq!(c.not_after, 2_111_179_143);
        // 87600h plus the 30 s the server backdates notBefore by.
        assert_eq!(c.not_after - c.not_before, 87_600 * 3600 + 30);
        assert_eq!(c.subject_der, c.issuer_der, "a root is self-issued");
    }

    #[test]
    fn intermediate_issuer_is_root_subject() {
        let root = CertificateInfo::from_pem(EC_ROOT).unwrap();
        let int = CertificateInfo::from_pem(EC_INT).unwrap();
        assert_eq!(int.common_name.as_deref(), Some("Int CA"));
        assert_eq!(int.issuer_der, root.subject_der);
        assert_ne!(int.subject_der, root.subject_der);
    }

    #[test]
    fn parses_rsa_key_size() {
        let c = CertificateInfo::from_pem(RSA_ROOT).unwrap();
        assert_eq!((c.key_type.as_str(), c.key_bits), ("rsa", 3072));
        assert_eq!(c.organization.as_deref(), Some("Example Org"));
        assert_eq!(c.common_name.as_deref(), Some("RSA Root"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(CertificateInfo::from_pem("not a cert").is_none());
        assert!(CertificateInfo::from_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
        )
        .is_none());
        assert!(CertificateInfo::from_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }

    #[test]
    fn splits_bundles() {
        let bundle = format!("{EC_INT}\n{EC_ROOT}\n");
        let certs = pem_certificates(&bundle);
        assert_eq!(certs, vec![EC_INT.to_owned(), EC_ROOT.to_owned()]);
    }

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(2_111_179_143), "2036-11-24T22:39:03Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 951_782_400, 1_795_819_113, 2_111_179_143, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2036-11-24T23:39:03.5+01:00"),
            Some(2_111_179_143)
        );
        assert_eq!(parse_rfc3339("2036-11-24"), None);
        assert_eq!(parse_rfc3339("2036-13-24T22:39:03Z"), None);
    }

    #[test]
    fn request_bodies() {
        let root = GenerateRootRequest {
            common_name: "Root".into(),
            organization: None,
            ttl: "87600h".into(),
            key_type: "ec".into(),
            key_bits: 256,
            issuer_name: None,
        };
        assert_eq!(
            serde_json::to_value(&root).unwrap(),
            json!({"common_name":"Root","ttl":"87600h","key_type":"ec","key_bits":256})
        );
        assert_eq!(
            serde_json::to_value(SignIntermediateRequest::bundle("CSR", "2h")).unwrap(),
            json!({"csr":"CSR","ttl":"2h","format":"pem_bundle","use_csr_values":true})
        );
        let role = PkiRoleRequest {
            allowed_domains: vec!["example.com".into()],
            allow_subdomains: true,
            max_ttl: Some("72h".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&role).unwrap(),
            json!({"allowed_domains":["example.com"],"allow_subdomains":true,"max_ttl":"72h"})
        );
    }

    #[test]
    fn set_signed_maps_key_to_issuer() {
        // OpenBao 2.7 answer for a pem_bundle (intermediate + root).
        let r: SetSignedResult = serde_json::from_value(json!({
            "existing_issuers": null, "existing_keys": null,
            "imported_issuers": ["25d5", "4786"], "imported_keys": null,
            "mapping": {"25d5": "d1c1", "4786": ""}
        }))
        .unwrap();
        assert_eq!(r.issuer_for_key("d1c1"), Some("25d5"));
        assert_eq!(r.issuer_for_key(""), None);
        assert_eq!(r.issuer_for_key("zzzz"), None);
    }

    #[test]
    fn role_read_back() {
        let r: PkiRole = serde_json::from_value(json!({
            "allow_subdomains": true, "allowed_domains": ["example.com"], "max_ttl": 259200,
            "key_type": "ec", "key_bits": 256, "issuer_ref": "default", "ttl": 0
        }))
        .unwrap();
        assert_eq!(r.max_ttl, 259_200);
        assert!(r.allow_subdomains);
    }

    #[test]
    fn empty_mount_is_rejected() {
        assert!(pki_path("GET", "/", "issuers").is_err());
        assert_eq!(pki_path("GET", "/a/b/", "issuers").unwrap(), "a/b/issuers");
        assert!(name_segment("GET", "role", "a/b").is_err());
    }
}
