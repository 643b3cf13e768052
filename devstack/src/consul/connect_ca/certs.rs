//! Certificate work of the Connect CA: the built-in provider's root and leaves (rcgen), CSRs
//! for the Vault provider, and reading the facts Consul records about a certificate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData, RsaKeySize, SanType,
    SerialNumber, SignatureAlgorithm,
};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::public_key::PublicKey;

/// Consul's `CertificateTimeDriftBuffer`: certificates are back-dated by a minute.
const DRIFT: Duration = Duration::from_secs(60);

/// What Consul records about a certificate (`newCARoot`, `IssuedCert`).
#[derive(Debug, Clone)]
pub(crate) struct CertInfo {
    /// SHA-1 fingerprint of the DER, colon-hex (`CalculateCertFingerprint`).
    pub fingerprint: String,
    /// Low 64 bits of the serial (`SerialNumber.Uint64()`).
    pub serial_u64: u64,
    /// Serial bytes, colon-hex (`HexString`).
    pub serial_hex: String,
    /// Subject key identifier, colon-hex.
    pub ski_hex: String,
    pub not_before: String,
    pub not_after: String,
    /// The same bounds in Unix seconds.
    pub not_before_unix: i64,
    pub not_after_unix: i64,
    pub key_type: String,
    pub key_bits: u32,
    pub uris: Vec<String>,
}

/// Colon-separated lowercase hex, as Consul's `connect.HexString`.
pub(crate) fn colon_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses the first certificate of a PEM text.
pub(crate) fn parse_cert_pem(pem: &str) -> Result<CertInfo, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|_| "no PEM-encoded data found".to_string())?;
    if p.label != "CERTIFICATE" {
        return Err(format!(
            "first PEM-block should be CERTIFICATE type, got {}",
            p.label
        ));
    }
    parse_cert_der(&p.contents)
}

pub(crate) fn parse_cert_der(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("x509: malformed certificate: {e}"))?;
    let raw_serial = cert.raw_serial();
    let trimmed: &[u8] = {
        let mut s = raw_serial;
        while s.len() > 1 && s[0] == 0 {
            s = &s[1..];
        }
        s
    };
    let mut low = [0u8; 8];
    let tail = &trimmed[trimmed.len().saturating_sub(8)..];
    low[8 - tail.len()..].copy_from_slice(tail);
    let mut ski = Vec::new();
    let mut uris = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = k.0.to_vec(),
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    if let GeneralName::URI(u) = n {
                        uris.push((*u).to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let spki = cert.public_key();
    let (key_type, key_bits) = match spki.parsed() {
        Ok(PublicKey::RSA(r)) => ("rsa".to_string(), r.key_size() as u32),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let bits = match curve.as_str() {
                "1.3.132.0.33" => 224,
                "1.2.840.10045.3.1.7" => 256,
                "1.3.132.0.34" => 384,
                "1.3.132.0.35" => 521,
                _ => return Err(format!("unsupported EC curve {curve}")),
            };
            ("ec".to_string(), bits)
        }
        _ => return Err("unsupported key type".to_string()),
    };
    Ok(CertInfo {
        fingerprint: colon_hex(&sha1(der)),
        serial_u64: u64::from_be_bytes(low),
        serial_hex: colon_hex(trimmed),
        ski_hex: colon_hex(&ski),
        not_before: rfc3339(cert.validity().not_before.timestamp()),
        not_before_unix: cert.validity().not_before.timestamp(),
        not_after_unix: cert.validity().not_after.timestamp(),
        not_after: rfc3339(cert.validity().not_after.timestamp()),
        key_type,
        key_bits,
        uris,
    })
}

/// Unix seconds as Go's `time.Time` JSON (RFC 3339, UTC, no fraction for whole seconds).
pub(crate) fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// SHA-1 (FIPS 180-4), only for certificate fingerprints as Consul computes them.
pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | ((!b) & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6u32),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
        h[4] = h[4].wrapping_add(e);
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// Consul's `connect.KeyId`: SHA-256 of the DER public key info (all 32 bytes).
pub(crate) fn key_id(k: &impl PublicKeyData) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(k.subject_public_key_info()).to_vec()
}

/// Consul's `CompactUID`: 8 random base-36 characters.
pub(crate) fn compact_uid() -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..8)
        .map(|_| A[fastrand::usize(..A.len())] as char)
        .collect()
}

/// Consul's `CACN`: `pri-<uid>.<provider>.ca.<cluster8>.consul`.
pub(crate) fn ca_common_name(provider: &str, cluster_id: &str) -> String {
    let short: String = cluster_id.chars().take(8).collect();
    format!("pri-{}.{provider}.ca.{short}.consul", compact_uid())
}

fn now_offset() -> time::OffsetDateTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn offset(d: Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2))
}

/// A key pair of the configured type. EC P-224 is not available in the crypto backend; the
/// simulator uses P-256 for it (see the module docs).
pub(crate) fn generate_key(key_type: &str, bits: u32) -> Result<KeyPair, String> {
    let r = match (key_type, bits) {
        ("rsa", 4096) => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096),
        ("rsa", _) => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
        (_, 384) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        (_, 521) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512),
        _ => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
    };
    r.map_err(|e| format!("error generating private key: {e}"))
}

/// The signing material of the built-in provider: the root's parameters and key.
#[derive(Debug, Clone)]
pub(crate) struct ConsulCa {
    pub params: CertificateParams,
    pub key_pem: String,
    pub cert_pem: String,
}

impl ConsulCa {
    fn issuer(&self) -> Result<Issuer<'static, KeyPair>, String> {
        let key =
            KeyPair::from_pem(&self.key_pem).map_err(|e| format!("error parsing CA key: {e}"))?;
        Ok(Issuer::new(self.params.clone(), key))
    }
}

/// Generates the built-in provider's self-signed root (`ConsulProvider.generateCA`), with
/// the configured `PrivateKey` when there is one.
pub(crate) fn consul_root(
    cluster_id: &str,
    private_key: Option<&str>,
    key_type: &str,
    bits: u32,
    ttl: Duration,
    serial: u64,
) -> Result<ConsulCa, String> {
    let key = match private_key {
        Some(pem) => KeyPair::from_pem(pem)
            .map_err(|e| format!("error generating CA: error parsing private key {pem:?}: {e}"))?,
        None => generate_key(key_type, bits)?,
    };
    let trust_domain = format!("{cluster_id}.consul");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, ca_common_name("consul", cluster_id));
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from(serial));
    params.subject_alt_names = vec![SanType::URI(
        format!("spiffe://{trust_domain}")
            .try_into()
            .map_err(|e| format!("invalid trust domain: {e:?}"))?,
    )];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    // The root is not back-dated (unlike leaves).
    let now = now_offset();
    params.not_before = now;
    params.not_after = now + offset(ttl);
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_id(&key));
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("error generating CA: error generating CA certificate: {e}"))?;
    Ok(ConsulCa {
        params,
        key_pem: key.serialize_pem(),
        cert_pem: cert.pem(),
    })
}

/// The built-in provider with a configured `RootCert` and `PrivateKey`: the certificate is
/// used as it is, and leaves are issued under its subject and key ID.
pub(crate) fn consul_given_root(root_pem: &str, key_pem: &str) -> Result<ConsulCa, String> {
    let key = KeyPair::from_pem(key_pem)
        .map_err(|e| format!("error parsing private key {key_pem:?}: {e}"))?;
    let (_, p) = x509_parser::pem::parse_x509_pem(root_pem.as_bytes())
        .map_err(|_| "error parsing CA cert: no PEM-encoded data found".to_string())?;
    let (_, cert) = x509_parser::parse_x509_certificate(&p.contents)
        .map_err(|e| format!("error parsing CA cert: {e}"))?;
    let info = parse_cert_der(&p.contents)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = subject_dn(&cert)?;
    let ski: Vec<u8> = info
        .ski_hex
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    params.key_identifier_method = if ski.is_empty() {
        KeyIdMethod::PreSpecified(key_id(&key))
    } else {
        KeyIdMethod::PreSpecified(ski)
    };
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    let mut cert_pem = root_pem.trim().to_string();
    cert_pem.push('\n');
    Ok(ConsulCa {
        params,
        key_pem: key.serialize_pem(),
        cert_pem,
    })
}

/// A certificate's subject as rcgen names it, keeping each attribute's string type so the
/// issuer of signed certificates matches the subject byte for byte.
fn subject_dn(
    cert: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<DistinguishedName, String> {
    use rcgen::DnValue;
    let mut dn = DistinguishedName::new();
    for rdn in cert.subject().iter() {
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let ty = match oid.as_str() {
                "2.5.4.3" => DnType::CommonName,
                "2.5.4.6" => DnType::CountryName,
                "2.5.4.7" => DnType::LocalityName,
                "2.5.4.8" => DnType::StateOrProvinceName,
                "2.5.4.10" => DnType::OrganizationName,
                "2.5.4.11" => DnType::OrganizationalUnitName,
                _ => DnType::CustomDnType(
                    oid.split('.')
                        .filter_map(|x| x.parse::<u64>().ok())
                        .collect(),
                ),
            };
            let raw = attr.attr_value();
            let text = attr
                .as_str()
                .map(str::to_string)
                .map_err(|e| format!("error parsing CA cert subject: {e}"))?;
            let value = match raw.header.tag().0 {
                0x13 => {
                    DnValue::PrintableString(text.clone().try_into().map_err(|e| format!("{e:?}"))?)
                }
                0x16 => DnValue::Ia5String(text.clone().try_into().map_err(|e| format!("{e:?}"))?),
                _ => DnValue::Utf8String(text),
            };
            dn.push(ty, value);
        }
    }
    Ok(dn)
}

/// A leaf key and the parameters of its certificate (SPIFFE URI SAN only, as the agent's CSR).
fn leaf_params(uri: &str) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![SanType::URI(
        uri.to_string()
            .try_into()
            .map_err(|e| format!("invalid SPIFFE ID: {e:?}"))?,
    )];
    Ok(params)
}

/// A CSR for `uri` and its key (what the agent sends to `ConnectCA.Sign`).
pub(crate) fn leaf_csr(uri: &str) -> Result<(String, KeyPair), String> {
    let key = generate_key("ec", 256)?;
    let csr = leaf_params(uri)?
        .serialize_request(&key)
        .map_err(|e| format!("error creating CSR: {e}"))?;
    let pem = csr.pem().map_err(|e| format!("error encoding CSR: {e}"))?;
    Ok((pem, key))
}

/// One DER TLV: (tag, whole TLV, content, rest).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn der_tlv(b: &[u8]) -> Option<Tlv<'_>> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    let whole = b.get(..end)?;
    Some((tag, whole, &whole[hdr..], &b[end..]))
}

fn der_wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|x| *x == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

/// An EC key as the agent writes it (`x509.MarshalECPrivateKey`: SEC 1 with the curve and
/// the public key, `EC PRIVATE KEY`), converted from the PKCS#8 the crypto backend emits.
pub(crate) fn ec_key_sec1_pem(key: &KeyPair) -> String {
    fn convert(pkcs8: &[u8]) -> Option<Vec<u8>> {
        let (_, _, outer, _) = der_tlv(pkcs8)?;
        let (_, _, _version, rest) = der_tlv(outer)?;
        let (_, _, alg, rest) = der_tlv(rest)?;
        let (_, _, _ec_oid, alg_rest) = der_tlv(alg)?;
        let (_, curve_oid, _, _) = der_tlv(alg_rest)?;
        let (_, _, inner, _) = der_tlv(rest)?;
        let (_, _, ec, _) = der_tlv(inner)?;
        let (_, version, _, rest) = der_tlv(ec)?;
        let (_, privkey, _, mut rest) = der_tlv(rest)?;
        let mut public = None;
        while let Some((tag, whole, _, r)) = der_tlv(rest) {
            if tag == 0xa1 {
                public = Some(whole);
            }
            rest = r;
        }
        let mut body = Vec::new();
        body.extend_from_slice(version);
        body.extend_from_slice(privkey);
        body.extend_from_slice(&der_wrap(0xa0, curve_oid));
        if let Some(p) = public {
            body.extend_from_slice(p);
        }
        Some(der_wrap(0x30, &body))
    }
    match convert(&key.serialize_der()) {
        Some(der) => {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            let mut out = String::from("-----BEGIN EC PRIVATE KEY-----\n");
            for chunk in b64.as_bytes().chunks(64) {
                out.push_str(&String::from_utf8_lossy(chunk));
                out.push('\n');
            }
            out.push_str("-----END EC PRIVATE KEY-----\n");
            out
        }
        // Not an EC PKCS#8 document: PKCS#8 PEM is still a valid private key.
        None => key.serialize_pem(),
    }
}

/// Signs a leaf for `uri` with the built-in provider (`ConsulProvider.Sign`).
pub(crate) fn consul_sign_leaf(
    ca: &ConsulCa,
    uri: &str,
    ttl: Duration,
    serial: u64,
) -> Result<(String, String), String> {
    let key = generate_key("ec", 256)?;
    let mut params = leaf_params(uri)?;
    params.serial_number = Some(SerialNumber::from(serial));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DataEncipherment,
        KeyUsagePurpose::KeyAgreement,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_id(&key));
    let now = now_offset();
    params.not_before = now - offset(DRIFT);
    params.not_after = now + offset(ttl);
    let cert = params
        .signed_by(&key, &ca.issuer()?)
        .map_err(|e| format!("error issuing cert: {e}"))?;
    Ok((cert.pem(), ec_key_sec1_pem(&key)))
}

/// A public key taken from an existing certificate, so the old CA can cross-sign it.
struct ForeignKey {
    spki: Vec<u8>,
    raw: Vec<u8>,
    alg: &'static SignatureAlgorithm,
}

impl PublicKeyData for ForeignKey {
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.spki.clone()
    }
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

/// Cross-signs `new_root_pem` with the built-in provider's root (`ConsulProvider.CrossSignCA`):
/// same subject, key and SKI as the new root, issued by the old one.
pub(crate) fn consul_cross_sign(
    ca: &ConsulCa,
    new_root_pem: &str,
    serial: u64,
) -> Result<String, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(new_root_pem.as_bytes())
        .map_err(|_| "no PEM-encoded data found".to_string())?;
    let (_, cert) = x509_parser::parse_x509_certificate(&p.contents)
        .map_err(|e| format!("error parsing root cert: {e}"))?;
    let info = parse_cert_der(&p.contents)?;
    let alg: &'static SignatureAlgorithm = match (info.key_type.as_str(), info.key_bits) {
        ("rsa", _) => &rcgen::PKCS_RSA_SHA256,
        (_, 384) => &rcgen::PKCS_ECDSA_P384_SHA384,
        (_, 521) => &rcgen::PKCS_ECDSA_P521_SHA512,
        _ => &rcgen::PKCS_ECDSA_P256_SHA256,
    };
    let spki = cert.public_key();
    let key = ForeignKey {
        spki: spki.raw.to_vec(),
        raw: spki.subject_public_key.data.to_vec(),
        alg,
    };
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            dn.push(DnType::CommonName, s);
        }
    }
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from(serial));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    params.subject_alt_names = info
        .uris
        .iter()
        .filter_map(|u| u.clone().try_into().ok().map(SanType::URI))
        .collect();
    let ski: Vec<u8> = info
        .ski_hex
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    if !ski.is_empty() {
        params.key_identifier_method = KeyIdMethod::PreSpecified(ski);
    }
    params.use_authority_key_identifier_extension = true;
    // Only needed while leaves of the old root are in use: valid for 7 days.
    let now = now_offset();
    params.not_before = now - offset(DRIFT);
    params.not_after = now + time::Duration::days(7);
    let out = params
        .signed_by(&key, &ca.issuer()?)
        .map_err(|e| format!("error cross-signing: {e}"))?;
    Ok(out.pem())
}
