//! `stack_vault_pki_ca`: a root CA and an optional intermediate, each in its own PKI mount
//! (the Vault side of "Consul Connect with Vault CA").

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stack_core::vault::pki::{
    parse_rfc3339, rfc3339, CertificateInfo, GenerateIntermediateRequest, GenerateRootRequest,
    PkiRoleRequest, PkiUrls, SignIntermediateRequest,
};
use stack_core::vault::{MountConfigInput, MountInfo, MountRequest, MountTuneRequest};
use stack_core::VaultClient;
use tf_framework::schema::validators::{clean_path, one_of, parse_duration};
use tf_framework::{
    Attribute, AttributePath, Block, Diagnostic, Diags, NestedBlock, Resource, Schema, Value,
};

use super::mounts::check_engine_mount;
use crate::errors::{diag, fail};
use crate::ProviderData;

/// The resource.
pub struct VaultPkiCa;

/// One `role` block.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PkiRoleModel {
    /// Role name.
    pub name: Option<String>,
    /// Domains certificates may be issued for.
    pub allowed_domains: Option<Vec<String>>,
    /// Whether subdomains of `allowed_domains` are allowed.
    pub allow_subdomains: Option<bool>,
    /// Maximum leaf TTL.
    pub max_ttl: Option<String>,
}

/// State and configuration of `stack_vault_pki_ca`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct VaultPkiCaModel {
    /// Same as `root_path`.
    pub id: Option<String>,
    /// Mount path of the root engine.
    pub root_path: Option<String>,
    /// Mount path of the intermediate engine.
    pub intermediate_path: Option<String>,
    /// Subject CN of the root.
    pub common_name: Option<String>,
    /// Subject O.
    pub organization: Option<String>,
    /// `ec` or `rsa`.
    pub key_type: Option<String>,
    /// Key size.
    pub key_bits: Option<i64>,
    /// Root validity.
    pub root_ttl: Option<String>,
    /// Intermediate validity.
    pub intermediate_ttl: Option<String>,
    /// Max lease TTL of the issuing mount.
    pub max_lease_ttl: Option<String>,
    /// Rotation window.
    pub rotate_intermediate_before: Option<String>,
    /// Roles on the issuing mount.
    pub role: Option<Vec<PkiRoleModel>>,
    /// Root certificate (PEM).
    pub root_certificate: Option<String>,
    /// Root issuer ID.
    pub root_issuer_id: Option<String>,
    /// Root expiry (RFC 3339).
    pub root_expiry: Option<String>,
    /// Intermediate certificate (PEM).
    pub intermediate_certificate: Option<String>,
    /// Intermediate issuer ID.
    pub intermediate_issuer_id: Option<String>,
    /// Intermediate expiry (RFC 3339).
    pub intermediate_expiry: Option<String>,
    /// Issuing CA first, root last.
    pub ca_chain: Option<Vec<String>>,
    /// AIA issuing-certificate URLs on every managed mount.
    pub issuing_certificates: Option<Vec<String>>,
    /// CRL distribution points on every managed mount.
    pub crl_distribution_points: Option<Vec<String>>,
    /// OCSP servers on every managed mount.
    pub ocsp_servers: Option<Vec<String>>,
}

const TYPE: &str = "stack_vault_pki_ca";
const CREATE: &str = "create stack_vault_pki_ca";
const READ: &str = "read stack_vault_pki_ca";
const UPDATE: &str = "update stack_vault_pki_ca";
const DELETE: &str = "delete stack_vault_pki_ca";
const DEFAULT_ROOT_TTL: &str = "87600h";
const DEFAULT_INTERMEDIATE_TTL: &str = "43800h";
/// The server backdates `notBefore` by this much (`not_before_duration`), so a
/// certificate's validity is its TTL plus 30 s.
const BACKDATE_SECS: i64 = 30;
const EC_BITS: &[i64] = &[224, 256, 384, 521];
const RSA_BITS: &[i64] = &[2048, 3072, 4096];
/// Attributes that change when the intermediate is (re)built.
const INTERMEDIATE_COMPUTED: &[&str] = &[
    "intermediate_certificate",
    "intermediate_issuer_id",
    "intermediate_expiry",
    "ca_chain",
];

/// The `config/urls` lists, written identically to the root and the intermediate mount.
const URL_ATTRS: &[&str] = &[
    "issuing_certificates",
    "crl_distribution_points",
    "ocsp_servers",
];

/// Why `u` is not an absolute http(s) URL with a host, if it is not.
fn url_problem(u: &str) -> Option<&'static str> {
    let lower = u.to_ascii_lowercase();
    let Some(rest) = ["http://", "https://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme))
    else {
        return Some("it does not start with http:// or https://");
    };
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains whitespace or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if host_port.starts_with('[') {
        host_port
            .split_once(']')
            .map_or("", |(h, _)| h.trim_start_matches('['))
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Some("it has no host");
    }
    None
}

fn valid_bits(key_type: &str) -> &'static [i64] {
    if key_type == "rsa" {
        RSA_BITS
    } else {
        EC_BITS
    }
}

fn default_bits(key_type: &str) -> i64 {
    if key_type == "rsa" {
        2048
    } else {
        256
    }
}

/// `3600` → `1h`, `90` → `90s`: the shortest exact spelling, as read-back values are written.
fn fmt_duration(secs: u64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `8760h` and `365d` are the same TTL.
pub(crate) fn same_duration(a: &Value, b: &Value) -> bool {
    match (
        a.as_str().and_then(parse_duration),
        b.as_str().and_then(parse_duration),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

pub(crate) fn positive_duration(v: &Value) -> Result<(), (String, String)> {
    match v.as_str() {
        Some(s) if parse_duration(s).is_some_and(|n| n > 0) => Ok(()),
        Some(s) => Err((
            "Invalid duration".into(),
            format!("{s:?} is not a positive duration. Use a number of seconds or a duration such as \"72h\", \"30m\" or \"1h30m\"."),
        )),
        None => Ok(()),
    }
}

/// The server's role route: `\w(([\w-.]+)?\w)?`.
fn valid_role_name(s: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    word(first) && word(last) && s.chars().all(|c| word(c) || c == '-' || c == '.')
}

fn secs(s: Option<&str>) -> Option<u64> {
    s.and_then(parse_duration)
}

/// The TTL a certificate was made with. The server reads the clock twice (notBefore backdated
/// by 30 s, notAfter), so a validity 1 s off a whole minute is rounded to it.
fn ttl_of(info: &CertificateInfo) -> String {
    let mut secs = (info.not_after - info.not_before - BACKDATE_SECS).max(0) as u64;
    match secs % 60 {
        1 => secs -= 1,
        59 => secs += 1,
        _ => {}
    }
    fmt_duration(secs)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn at(name: &str) -> AttributePath {
    AttributePath::root(name)
}

/// Settings with their defaults applied.
struct Eff<'a> {
    root: &'a str,
    int: Option<&'a str>,
    common_name: &'a str,
    key_type: &'a str,
    key_bits: i64,
    root_ttl: &'a str,
    int_ttl: &'a str,
}

impl VaultPkiCaModel {
    fn eff(&self) -> Eff<'_> {
        let key_type = self.key_type.as_deref().unwrap_or("ec");
        Eff {
            root: self.root_path.as_deref().unwrap_or_default(),
            int: self.intermediate_path.as_deref(),
            common_name: self.common_name.as_deref().unwrap_or_default(),
            key_type,
            key_bits: self.key_bits.unwrap_or_else(|| default_bits(key_type)),
            root_ttl: self.root_ttl.as_deref().unwrap_or(DEFAULT_ROOT_TTL),
            int_ttl: self
                .intermediate_ttl
                .as_deref()
                .unwrap_or(DEFAULT_INTERMEDIATE_TTL),
        }
    }

    /// The mount that issues leaves and holds the roles.
    fn issuing(&self) -> &str {
        let e = self.eff();
        e.int.unwrap_or(e.root)
    }

    /// Final `max_lease_ttl` of the root mount: the root TTL while it signs intermediates,
    /// else `max_lease_ttl` (it is then the issuing mount).
    fn root_mount_max(&self) -> &str {
        let e = self.eff();
        match (e.int, self.max_lease_ttl.as_deref()) {
            (None, Some(m)) => m,
            _ => e.root_ttl,
        }
    }

    fn int_mount_max(&self) -> &str {
        self.max_lease_ttl.as_deref().unwrap_or(self.eff().int_ttl)
    }

    /// The URL lists to write; unset means none (empty lists clear the mount's).
    fn urls(&self) -> PkiUrls {
        PkiUrls {
            issuing_certificates: self.issuing_certificates.clone().unwrap_or_default(),
            crl_distribution_points: self.crl_distribution_points.clone().unwrap_or_default(),
            ocsp_servers: self.ocsp_servers.clone().unwrap_or_default(),
        }
    }

    fn clear_computed(&mut self) {
        self.root_certificate = None;
        self.root_issuer_id = None;
        self.root_expiry = None;
        self.clear_intermediate();
        self.ca_chain = None;
    }

    fn clear_intermediate(&mut self) {
        self.intermediate_certificate = None;
        self.intermediate_issuer_id = None;
        self.intermediate_expiry = None;
    }
}

fn tune(max: &str) -> MountTuneRequest {
    MountTuneRequest {
        config: MountConfigInput {
            max_lease_ttl: Some(max.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn mount_or_tune(
    v: &VaultClient,
    path: &str,
    exists: bool,
    max: &str,
    description: &str,
    made: &mut Vec<String>,
) -> Result<(), stack_core::Error> {
    if exists {
        return v.tune_mount(path, &tune(max)).await;
    }
    let mut req = MountRequest::new("pki");
    req.description = Some(description.to_owned());
    req.config = Some(MountConfigInput {
        max_lease_ttl: Some(max.to_owned()),
        ..Default::default()
    });
    v.enable_mount(path, &req).await?;
    made.push(path.to_owned());
    Ok(())
}

/// Generates an intermediate key and CSR in `int`, signs it with the root issuer, installs
/// it and makes it the default issuer. Returns the new issuer ID.
async fn build_intermediate(
    v: &VaultClient,
    m: &VaultPkiCaModel,
    root_issuer: &str,
    action: &'static str,
) -> Result<String, Diags> {
    let e = m.eff();
    let int = e.int.unwrap_or_default();
    let csr = v
        .pki_generate_intermediate(
            int,
            &GenerateIntermediateRequest {
                common_name: format!("{} Intermediate", e.common_name),
                organization: m.organization.clone(),
                key_type: e.key_type.to_owned(),
                key_bits: e.key_bits as u32,
            },
        )
        .await
        .map_err(fail(action))?;
    let signed = v
        .pki_sign_intermediate(
            e.root,
            root_issuer,
            &SignIntermediateRequest::bundle(csr.csr, e.int_ttl),
        )
        .await
        .map_err(fail(action))?;
    let set = v
        .pki_set_signed(int, &signed.certificate)
        .await
        .map_err(fail(action))?;
    let Some(issuer) = set.issuer_for_key(&csr.key_id).map(str::to_owned) else {
        return Err(Diagnostic::error(
            format!("Unable to {action}"),
            format!("POST {int}/intermediate/set-signed did not report an issuer for the new key {}; the intermediate was not installed.", csr.key_id),
        )
        .into());
    };
    v.pki_set_default_issuer(int, &issuer)
        .await
        .map_err(fail(action))?;
    Ok(issuer)
}

async fn write_roles(
    v: &VaultClient,
    m: &VaultPkiCaModel,
    action: &'static str,
) -> Result<(), Diags> {
    let e = m.eff();
    for r in m.role.iter().flatten() {
        let name = r.name.as_deref().unwrap_or_default();
        let req = PkiRoleRequest {
            allowed_domains: r.allowed_domains.clone().unwrap_or_default(),
            allow_subdomains: r.allow_subdomains.unwrap_or(false),
            max_ttl: r.max_ttl.clone(),
            key_type: Some(e.key_type.to_owned()),
            key_bits: Some(e.key_bits as u32),
        };
        v.pki_write_role(m.issuing(), name, &req)
            .await
            .map_err(|err| diag(action, &err).at(at("role")))?;
    }
    Ok(())
}

/// Writes the URL lists to the root and (when there is one) the intermediate mount.
async fn write_urls(
    v: &VaultClient,
    m: &VaultPkiCaModel,
    action: &'static str,
) -> Result<(), Diags> {
    let e = m.eff();
    let urls = m.urls();
    for mount in std::iter::once(e.root).chain(e.int) {
        v.pki_write_urls(mount, &urls).await.map_err(fail(action))?;
    }
    Ok(())
}

/// One URL list as observed: the first mount whose list differs from `state` (drift on either
/// mount shows), else `state`; null stays null while the server has none.
fn observed_urls(state: &Option<Vec<String>>, mounts: &[&Vec<String>]) -> Option<Vec<String>> {
    let want = state.clone().unwrap_or_default();
    let got = mounts
        .iter()
        .find(|l| ***l != want)
        .map_or(want, |l| (*l).clone());
    if got.is_empty() && state.is_none() {
        None
    } else {
        Some(got)
    }
}

fn parse_cert(pem: &str, what: &str) -> Result<CertificateInfo, Diags> {
    CertificateInfo::from_pem(pem).ok_or_else(|| {
        Diagnostic::error(
            format!("Unable to {READ}"),
            format!("The {what} certificate returned by the server could not be parsed."),
        )
        .into()
    })
}

/// Reads everything back. `m` is the prior state (or an import stub, recognised by a missing
/// `root_issuer_id`); `None` when the root mount or the root issuer is gone.
async fn observe(v: &VaultClient, m: &VaultPkiCaModel) -> Result<Option<VaultPkiCaModel>, Diags> {
    let importing = m.root_issuer_id.is_none();
    let mut out = m.clone();
    let e = m.eff();
    let mounts = v.list_mounts().await.map_err(fail(READ))?;
    let Some(root_mount) = mounts.get(&format!("{}/", e.root)) else {
        return Ok(None);
    };
    if root_mount.mount_type != "pki" {
        return Ok(None);
    }
    let issuers = v.pki_list_issuers(e.root).await.map_err(fail(READ))?;
    let root_id = match &m.root_issuer_id {
        Some(id) if issuers.contains_key(id) => id.clone(),
        // Deleted or regenerated out of band: the CA this resource made is gone.
        Some(_) => return Ok(None),
        None => match issuers.iter().find(|(_, i)| i.is_default) {
            Some((id, _)) => id.clone(),
            None => return Ok(None),
        },
    };
    let root = v
        .pki_read_issuer(e.root, &root_id)
        .await
        .map_err(fail(READ))?;
    let root_info = parse_cert(&root.certificate, "root")?;
    out.id = Some(e.root.to_owned());
    out.root_issuer_id = Some(root_id);
    out.root_expiry = Some(rfc3339(root_info.not_after));
    out.ca_chain = Some(if root.ca_chain.is_empty() {
        vec![root.certificate.clone()]
    } else {
        root.ca_chain.clone()
    });
    out.root_certificate = Some(root.certificate);
    if importing {
        out.common_name = root_info.common_name.clone();
        out.organization = root_info.organization.clone();
        out.key_type = Some(root_info.key_type.clone());
        out.key_bits = Some(i64::from(root_info.key_bits));
        out.root_ttl = Some(ttl_of(&root_info));
        // Unused without an intermediate; the default keeps the plan empty.
        out.intermediate_ttl = Some(DEFAULT_INTERMEDIATE_TTL.to_owned());
    }

    let mut url_sets = vec![v.pki_read_urls(e.root).await.map_err(fail(READ))?];

    let mut issuing_exists = true;
    if let Some(int) = e.int {
        out.clear_intermediate();
        match mounts.get(&format!("{int}/")) {
            Some(im) if im.mount_type == "pki" => {
                url_sets.push(v.pki_read_urls(int).await.map_err(fail(READ))?);
                let issuers = v.pki_list_issuers(int).await.map_err(fail(READ))?;
                let want = match &m.intermediate_issuer_id {
                    Some(id) => Some(id.clone()),
                    None if importing => issuers
                        .iter()
                        .find(|(_, i)| i.is_default)
                        .map(|(id, _)| id.clone()),
                    None => None,
                };
                // Missing, or no longer the default: left empty so the next plan rebuilds it.
                if let Some(id) = want.filter(|id| issuers.get(id).is_some_and(|i| i.is_default)) {
                    let issuer = v.pki_read_issuer(int, &id).await.map_err(fail(READ))?;
                    let info = parse_cert(&issuer.certificate, "intermediate")?;
                    if importing {
                        out.intermediate_ttl = Some(ttl_of(&info));
                    }
                    out.intermediate_issuer_id = Some(id);
                    out.intermediate_expiry = Some(rfc3339(info.not_after));
                    out.ca_chain = Some(issuer.ca_chain);
                    out.intermediate_certificate = Some(issuer.certificate);
                }
                let expected = secs(Some(out.int_mount_max()));
                if expected != Some(im.config.max_lease_ttl) {
                    out.max_lease_ttl = Some(fmt_duration(im.config.max_lease_ttl));
                }
            }
            _ => {
                issuing_exists = false;
                out.ca_chain = None;
            }
        }
    }
    let pick =
        |f: fn(&PkiUrls) -> &Vec<String>| -> Vec<&Vec<String>> { url_sets.iter().map(f).collect() };
    out.issuing_certificates =
        observed_urls(&m.issuing_certificates, &pick(|u| &u.issuing_certificates));
    out.crl_distribution_points = observed_urls(
        &m.crl_distribution_points,
        &pick(|u| &u.crl_distribution_points),
    );
    out.ocsp_servers = observed_urls(&m.ocsp_servers, &pick(|u| &u.ocsp_servers));

    let expected = secs(Some(out.root_mount_max()));
    if expected != Some(root_mount.config.max_lease_ttl) {
        let actual = Some(fmt_duration(root_mount.config.max_lease_ttl));
        if e.int.is_some() {
            out.root_ttl = actual;
        } else {
            out.max_lease_ttl = actual;
        }
    }

    let issuing = out.issuing().to_owned();
    let mut wanted: Vec<PkiRoleModel> = m.role.clone().unwrap_or_default();
    if importing && issuing_exists {
        let mut names = v
            .list(&format!("{issuing}/roles"))
            .await
            .map_err(fail(READ))?;
        names.sort();
        wanted = names
            .into_iter()
            .map(|n| PkiRoleModel {
                name: Some(n),
                ..Default::default()
            })
            .collect();
    }
    let mut roles = Vec::new();
    if issuing_exists {
        for r in wanted {
            let name = r.name.clone().unwrap_or_default();
            let Some(found) = v.pki_read_role(&issuing, &name).await.map_err(fail(READ))? else {
                continue;
            };
            roles.push(PkiRoleModel {
                name: Some(name),
                allowed_domains: if found.allowed_domains.is_empty() && r.allowed_domains.is_none()
                {
                    None
                } else {
                    Some(found.allowed_domains)
                },
                allow_subdomains: Some(found.allow_subdomains),
                max_ttl: match (found.max_ttl, r.max_ttl) {
                    (0, None) => None,
                    (n, Some(s)) if secs(Some(&s)) == Some(n) => Some(s),
                    (n, _) => Some(fmt_duration(n)),
                },
            });
        }
    }
    out.role = Some(roles);
    Ok(Some(out))
}

/// Removes the mounts a failed call created; whatever cannot be removed is recorded in state.
async fn clean_up(v: &VaultClient, made: &[String], plan: &VaultPkiCaModel, diags: Diags) -> Diags {
    let mut diags = diags;
    let mut left = false;
    for path in made.iter().rev() {
        if let Err(e) = v.disable_mount(path).await {
            left = true;
            diags.push(diag(
                "clean up after a failed create of stack_vault_pki_ca",
                &e,
            ));
        }
    }
    if left {
        let mut partial = plan.clone();
        partial.clear_computed();
        partial.id = partial.root_path.clone();
        diags = diags.with_partial_state(&partial);
    }
    diags
}

async fn create_in(
    v: &VaultClient,
    plan: &VaultPkiCaModel,
    mounts: &HashMap<String, MountInfo>,
    made: &mut Vec<String>,
) -> Result<VaultPkiCaModel, Diags> {
    let e = plan.eff();
    let root_exists = mounts.contains_key(&format!("{}/", e.root));
    // The root mount must allow the root TTL while the root is generated.
    mount_or_tune(
        v,
        e.root,
        root_exists,
        e.root_ttl,
        "Root CA (stack_vault_pki_ca)",
        made,
    )
    .await
    .map_err(|err| diag(CREATE, &err).at(at("root_path")))?;
    let root = v
        .pki_generate_root(
            e.root,
            &GenerateRootRequest {
                common_name: e.common_name.to_owned(),
                organization: plan.organization.clone(),
                ttl: e.root_ttl.to_owned(),
                key_type: e.key_type.to_owned(),
                key_bits: e.key_bits as u32,
                issuer_name: None,
            },
        )
        .await
        .map_err(fail(CREATE))?;
    // An adopted mount may already have a default issuer.
    v.pki_set_default_issuer(e.root, &root.issuer_id)
        .await
        .map_err(fail(CREATE))?;
    let mut out = plan.clone();
    out.id = Some(e.root.to_owned());
    out.key_bits = Some(e.key_bits);
    out.root_issuer_id = Some(root.issuer_id.clone());
    if let Some(int) = e.int {
        let exists = mounts.contains_key(&format!("{int}/"));
        mount_or_tune(
            v,
            int,
            exists,
            plan.int_mount_max(),
            "Intermediate CA (stack_vault_pki_ca)",
            made,
        )
        .await
        .map_err(|err| diag(CREATE, &err).at(at("intermediate_path")))?;
        out.intermediate_issuer_id =
            Some(build_intermediate(v, plan, &root.issuer_id, CREATE).await?);
    }
    if plan.root_mount_max() != e.root_ttl {
        v.tune_mount(e.root, &tune(plan.root_mount_max()))
            .await
            .map_err(fail(CREATE))?;
    }
    write_roles(v, plan, CREATE).await?;
    write_urls(v, plan, CREATE).await?;
    finish(v, out, CREATE).await
}

/// Fills computed attributes from the server after a create or update.
async fn finish(
    v: &VaultClient,
    m: VaultPkiCaModel,
    action: &'static str,
) -> Result<VaultPkiCaModel, Diags> {
    match observe(v, &m).await? {
        Some(mut o) => {
            // What was just written stands; only computed values come from the server.
            o.role = m.role.clone();
            o.root_ttl = m.root_ttl.clone();
            o.intermediate_ttl = m.intermediate_ttl.clone();
            o.max_lease_ttl = m.max_lease_ttl.clone();
            o.issuing_certificates = m.issuing_certificates.clone();
            o.crl_distribution_points = m.crl_distribution_points.clone();
            o.ocsp_servers = m.ocsp_servers.clone();
            Ok(o)
        }
        None => Err(Diagnostic::error(
            format!("Unable to {action}"),
            format!(
                "The root CA at {:?} disappeared while it was being configured.",
                m.root_path.unwrap_or_default()
            ),
        )
        .into()),
    }
}

fn schema_block() -> Block {
    let ttl = |name: &str| {
        Attribute::string(name)
            .validate(positive_duration)
            .equivalent(same_duration)
    };
    let computed = |name: &str, doc: &str| {
        Attribute::string(name)
            .computed()
            .use_state_for_unknown()
            .doc(doc)
    };
    Block::new(
        "A whole CA chain in Vault or OpenBao: a PKI engine at `root_path` with an internal root CA (its private key never leaves the server) and, optionally, a second PKI engine at `intermediate_path` with an intermediate CA signed by that root. Optional `role` blocks are created on the issuing mount (the intermediate when there is one, else the root).\n\nThis is the Vault side of Consul Connect's Vault CA provider: point Consul's `RootPKIPath` and `IntermediatePKIPath` at the two mounts.\n\nOnly `root_path`, `common_name`, `key_type` and `key_bits` force a new resource. TTL, role, URL and `intermediate_path` changes are in-place updates. With `rotate_intermediate_before`, a plan made when the intermediate is that close to expiry shows an in-place rotation: a new intermediate key and certificate become the default issuer, and the old issuer stays in the mount until it expires.\n\nA `pki` engine that already exists at `root_path` or `intermediate_path` is reused (a plan warns about it), and destroying the resource unmounts both engines.",
    )
    .attr(
        Attribute::string("id")
            .computed()
            .use_state_for_unknown()
            .doc("Same as `root_path`."),
    )
    .attr(
        Attribute::string("root_path")
            .required()
            .requires_replace()
            .validate(clean_path())
            .doc("Mount path of the root PKI engine, without leading or trailing `/`, e.g. `pki`. The engine is mounted if the path is free. Changing this forces a new resource."),
    )
    .attr(
        Attribute::string("intermediate_path")
            .optional()
            .validate(clean_path())
            .doc("Mount path of the intermediate PKI engine, e.g. `pki_int`. When set, an intermediate CA is generated there and signed by the root, and it issues the leaves. Must differ from `root_path`. Changing it moves the intermediate (and the roles) to the new mount in place and unmounts the old one; removing it unmounts the intermediate and moves the roles to the root mount."),
    )
    .attr(
        Attribute::string("common_name")
            .required()
            .requires_replace()
            .validate(|v| match v.as_str() {
                Some(s) if s.trim().is_empty() => {
                    Err(("Invalid common name".into(), "The common name is empty.".into()))
                }
                _ => Ok(()),
            })
            .doc("Subject common name of the root. The intermediate is named `<common_name> Intermediate`. Changing this forces a new resource."),
    )
    .attr(
        Attribute::string("organization")
            .optional()
            .doc("Subject organization (O) of the root and the intermediate. A change applies to the next intermediate; the root keeps its subject until the resource is replaced."),
    )
    .attr(
        Attribute::string("key_type")
            .default("ec")
            .requires_replace()
            .validate(one_of(&["ec", "rsa"]))
            .doc("Key type of both CAs and of the keys issued through the roles: `ec` (default) or `rsa`. Changing this forces a new resource."),
    )
    .attr(
        Attribute::number("key_bits")
            .optional()
            .computed()
            .use_state_for_unknown()
            .requires_replace()
            .doc("Key size: 224, 256 (default), 384 or 521 for `ec`; 2048 (default), 3072 or 4096 for `rsa`. Changing this forces a new resource."),
    )
    .attr(ttl("root_ttl").default(DEFAULT_ROOT_TTL).doc("Validity of the root certificate, e.g. `87600h` (the default, 10 years). It is also the root mount's max lease TTL while an intermediate exists. A change tunes the mount in place; the current root keeps its expiry."))
    .attr(ttl("intermediate_ttl").default(DEFAULT_INTERMEDIATE_TTL).doc("Validity of each intermediate certificate, default `43800h` (5 years). Must not exceed `root_ttl`. A change applies from the next rotation."))
    .attr(ttl("max_lease_ttl").optional().doc("Max lease TTL of the issuing mount: no certificate issued through the roles outlives it. Defaults to `intermediate_ttl` (or `root_ttl` without an intermediate)."))
    .attr(ttl("rotate_intermediate_before").optional().doc("When the intermediate expires within this duration (e.g. `720h`), the plan shows an in-place rotation: a new intermediate key and certificate are signed by the root and made the default issuer; the old issuer is kept until it expires. Run plans regularly for this to take effect. Needs `intermediate_path`."))
    .attr(computed("root_certificate", "The root certificate (PEM)."))
    .attr(computed("root_issuer_id", "Issuer ID of the root in the root mount. A root deleted or regenerated out of band shows as a new resource to create."))
    .attr(computed("root_expiry", "Expiry of the root certificate (RFC 3339, UTC)."))
    .attr(computed("intermediate_certificate", "The current intermediate certificate (PEM); null without `intermediate_path`."))
    .attr(computed("intermediate_issuer_id", "Issuer ID of the current intermediate, the default issuer of the intermediate mount. It changes on rotation."))
    .attr(computed("intermediate_expiry", "Expiry of the current intermediate certificate (RFC 3339, UTC)."))
    .attr(
        Attribute::string_list("ca_chain")
            .computed()
            .use_state_for_unknown()
            .doc("The chain of the issuing CA as PEM certificates: the intermediate first (when there is one), the root last."),
    )
    .attr(
        Attribute::string_list("issuing_certificates")
            .optional()
            .doc("URLs where the issuing CA certificate can be fetched, written into the Authority Information Access extension of certificates issued from now on, e.g. `[\"https://vault.example.com/v1/pki_int/ca\"]`. Set on the root and the intermediate mount (`<mount>/config/urls`). Each entry must be an absolute `http://` or `https://` URL. Unset means none: the mounts' lists are kept empty. A change is an in-place update."),
    )
    .attr(
        Attribute::string_list("crl_distribution_points")
            .optional()
            .doc("CRL distribution point URLs written into certificates issued from now on, e.g. `[\"https://vault.example.com/v1/pki_int/crl\"]`. Set on both mounts like `issuing_certificates`; absolute `http(s)` URLs only; unset means none."),
    )
    .attr(
        Attribute::string_list("ocsp_servers")
            .optional()
            .doc("OCSP responder URLs written into certificates issued from now on. Set on both mounts like `issuing_certificates`; absolute `http(s)` URLs only; unset means none."),
    )
    .block(NestedBlock::list(
        "role",
        Block::new("A role on the issuing mount, used to issue leaf certificates (`<mount>/issue/<name>`). Keys it issues have the CA's `key_type` and `key_bits`.")
            .attr(
                Attribute::string("name")
                    .required()
                    .validate(|v| match v.as_str() {
                        Some(s) if !valid_role_name(s) => Err((
                            "Invalid role name".into(),
                            format!("{s:?} is not a role name the server accepts: use letters, digits, `_`, `-` and `.`, starting and ending with a letter, digit or `_`."),
                        )),
                        _ => Ok(()),
                    })
                    .doc("Role name: letters, digits, `_`, `-` and `.`."),
            )
            .attr(
                Attribute::string_list("allowed_domains")
                    .optional()
                    .doc("Domains certificates may be issued for, e.g. `[\"example.com\"]`."),
            )
            .attr(
                Attribute::bool("allow_subdomains")
                    .default(false)
                    .doc("Whether subdomains of `allowed_domains` are allowed. Default `false`."),
            )
            .attr(ttl("max_ttl").optional().doc("Maximum TTL of issued certificates, e.g. `72h`. Defaults to the mount's max lease TTL.")),
    ))
}

/// Cross-attribute checks on configuration (values may be unknown).
fn check_config(config: &Value) -> Diags {
    let mut d = Diags::new();
    let s = |name: &str| config.get(name).as_str().map(str::to_owned);
    let key_type = match config.get("key_type") {
        Value::Null => Some("ec".to_owned()),
        v => v.as_str().map(str::to_owned),
    };
    if let (Some(kt), Value::Number(n)) = (&key_type, config.get("key_bits")) {
        let allowed = valid_bits(kt);
        if !n.as_i64().is_some_and(|b| allowed.contains(&b)) {
            let list: Vec<String> = allowed.iter().map(i64::to_string).collect();
            d.attr_error(
                at("key_bits"),
                "Invalid key size",
                format!(
                    "key_bits = {n} is not valid for key_type {kt:?}; use one of {}.",
                    list.join(", ")
                ),
            );
        }
    }
    let root_ttl = match config.get("root_ttl") {
        Value::Null => Some(DEFAULT_ROOT_TTL.to_owned()),
        v => v.as_str().map(str::to_owned),
    };
    let int_ttl = match config.get("intermediate_ttl") {
        Value::Null => Some(DEFAULT_INTERMEDIATE_TTL.to_owned()),
        v => v.as_str().map(str::to_owned),
    };
    let has_int = !config.get("intermediate_path").is_null();
    if let (Some(r), Some(i)) = (secs(root_ttl.as_deref()), secs(int_ttl.as_deref())) {
        if i > r && has_int {
            d.attr_error(
                at("intermediate_ttl"),
                "Intermediate outlives the root",
                format!(
                    "intermediate_ttl ({}) is longer than root_ttl ({}); the root cannot sign a certificate that outlives it.",
                    int_ttl.as_deref().unwrap_or_default(),
                    root_ttl.as_deref().unwrap_or_default()
                ),
            );
        }
    }
    if let (Some(root), Some(int)) = (s("root_path"), s("intermediate_path")) {
        if root == int {
            d.attr_error(
                at("intermediate_path"),
                "Same path for both CAs",
                format!("intermediate_path must differ from root_path (both are {root:?}); each CA needs its own PKI mount."),
            );
        } else if int.starts_with(&format!("{root}/")) || root.starts_with(&format!("{int}/")) {
            d.attr_error(
                at("intermediate_path"),
                "Nested mount paths",
                format!("{int:?} and {root:?} are nested; mounts cannot be nested."),
            );
        }
    }
    if let Some(before) = s("rotate_intermediate_before") {
        match config.get("intermediate_path") {
            Value::Null => d.push(
                Diagnostic::warning(
                    "Rotation without an intermediate",
                    "rotate_intermediate_before has no effect without intermediate_path: a root is never rotated in place.",
                )
                .at(at("rotate_intermediate_before")),
            ),
            _ => {
                if let (Some(b), Some(i)) = (secs(Some(&before)), secs(int_ttl.as_deref())) {
                    if b >= i {
                        d.push(
                            Diagnostic::warning(
                                "Intermediate rotated on every apply",
                                format!("rotate_intermediate_before ({before}) is not shorter than intermediate_ttl ({}): every intermediate starts inside the rotation window, so each plan after it is signed rotates it again.", int_ttl.as_deref().unwrap_or_default()),
                            )
                            .at(at("rotate_intermediate_before")),
                        );
                    }
                }
            }
        }
    }
    for name in URL_ATTRS {
        if let Value::List(items) = config.get(name) {
            for (i, item) in items.iter().enumerate() {
                let Some(u) = item.as_str() else { continue };
                if let Some(why) = url_problem(u) {
                    d.attr_error(
                        at(name).index(i),
                        "Invalid URL",
                        format!("{u:?} is not an absolute http(s) URL: {why}. Use e.g. \"https://vault.example.com/v1/pki/ca\"."),
                    );
                }
            }
        }
    }
    if let Value::List(roles) = config.get("role") {
        let mut seen = Vec::new();
        for (i, r) in roles.iter().enumerate() {
            if let Some(name) = r.get("name").as_str() {
                if seen.contains(&name) {
                    d.attr_error(
                        at("role").index(i).attr("name"),
                        "Duplicate role",
                        format!("Two role blocks are named {name:?}."),
                    );
                }
                seen.push(name);
            }
        }
    }
    d
}

impl Resource for VaultPkiCa {
    type Ctx = ProviderData;
    type Model = VaultPkiCaModel;
    const TYPE_NAME: &'static str = TYPE;
    // No IDENTITY: identity attributes are all required for import, and `root_path` alone
    // cannot name the intermediate, so import goes by ID (`root,intermediate`) only.

    fn schema() -> Schema {
        Schema::new(schema_block())
    }

    fn validate(config: &Value) -> Diags {
        check_config(config)
    }

    async fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a ProviderData>,
        prior: &'a Value,
        planned: &'a mut Value,
        diags: &'a mut Diags,
    ) {
        let Some(p) = planned.as_map_mut() else {
            return;
        };
        // key_bits defaults by key type (and follows a key type change when left unset).
        if let Some(kt) = p.get("key_type").and_then(Value::as_str).map(str::to_owned) {
            let ok = matches!(p.get("key_bits"), Some(Value::Number(n)) if n.as_i64().is_some_and(|b| valid_bits(&kt).contains(&b)));
            if !ok {
                p.insert("key_bits".into(), Value::from(default_bits(&kt)));
            }
        }
        // A default equal to the prior spelling (e.g. imported "87600h" vs "3650d") is no change.
        for name in ["root_ttl", "intermediate_ttl"] {
            let old = prior.get(name);
            if let Some(v) = p.get_mut(name) {
                if same_duration(old, v) {
                    *v = old.clone();
                }
            }
        }
        let get_str = |v: &Value, name: &str| v.get(name).as_str().map(str::to_owned);
        let planned_v = Value::Map(p.clone());
        let int = get_str(&planned_v, "intermediate_path");
        if prior.is_null() {
            let Some(v) = ctx.and_then(|c| c.vault().ok()) else {
                return;
            };
            // Best effort at plan time; create checks again before writing.
            let Ok(mounts) = v.list_mounts().await else {
                return;
            };
            for (attr, path) in [
                ("root_path", get_str(&planned_v, "root_path")),
                ("intermediate_path", int),
            ] {
                let Some(path) = path else { continue };
                match check_engine_mount(&mounts, &path, "pki", attr) {
                    Err(e) => diags.push(e),
                    Ok(true) => diags.push(
                        Diagnostic::warning(
                            "Existing PKI engine will be reused",
                            format!("A pki engine is already mounted at {path:?}. It will be reused: a new CA is generated in it and made its default issuer, and destroying this resource unmounts it."),
                        )
                        .at(at(attr)),
                    ),
                    Ok(false) => {}
                }
            }
            return;
        }
        let prior_int = get_str(prior, "intermediate_path");
        let Some(int) = int else {
            if prior_int.is_some() {
                for name in &INTERMEDIATE_COMPUTED[..3] {
                    p.insert((*name).into(), Value::Null);
                }
                p.insert(
                    "ca_chain".into(),
                    Value::List(vec![prior.get("root_certificate").clone()]),
                );
            }
            return;
        };
        let near_expiry = match (
            p.get("rotate_intermediate_before")
                .and_then(Value::as_str)
                .and_then(parse_duration),
            prior
                .get("intermediate_expiry")
                .as_str()
                .and_then(parse_rfc3339),
        ) {
            (Some(before), Some(expiry)) => expiry - unix_now() < before as i64,
            _ => false,
        };
        let missing = prior.get("intermediate_issuer_id").is_null();
        let moved = prior_int.as_deref() != Some(int.as_str());
        if near_expiry || missing || moved {
            for name in INTERMEDIATE_COMPUTED {
                p.insert((*name).into(), Value::Unknown);
            }
        }
        if moved {
            if let Some(v) = ctx.and_then(|c| c.vault().ok()) {
                if let Ok(mounts) = v.list_mounts().await {
                    if let Err(e) = check_engine_mount(&mounts, &int, "pki", "intermediate_path") {
                        diags.push(e);
                    }
                }
            }
        }
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: VaultPkiCaModel,
    ) -> Result<VaultPkiCaModel, Diags> {
        let v = ctx.vault()?;
        let e = plan.eff();
        let mounts = v.list_mounts().await.map_err(fail(CREATE))?;
        // Before anything is written: both paths must be free or hold a pki engine.
        check_engine_mount(&mounts, e.root, "pki", "root_path")?;
        if let Some(int) = e.int {
            check_engine_mount(&mounts, int, "pki", "intermediate_path")?;
        }
        let mut made = Vec::new();
        match create_in(v, &plan, &mounts, &mut made).await {
            Ok(m) => Ok(m),
            Err(d) => Err(clean_up(v, &made, &plan, d).await),
        }
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: VaultPkiCaModel,
    ) -> Result<Option<VaultPkiCaModel>, Diags> {
        observe(ctx.vault()?, &state).await
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        prior: VaultPkiCaModel,
        plan: VaultPkiCaModel,
    ) -> Result<VaultPkiCaModel, Diags> {
        let v = ctx.vault()?;
        let e = plan.eff();
        let mounts = v.list_mounts().await.map_err(fail(UPDATE))?;
        let int_exists = match e.int {
            Some(int) => check_engine_mount(&mounts, int, "pki", "intermediate_path")?,
            None => false,
        };
        let root_issuer = prior.root_issuer_id.clone().unwrap_or_default();
        let mut out = plan.clone();
        out.root_issuer_id = Some(root_issuer.clone());
        // Room for signing an intermediate of intermediate_ttl.
        v.tune_mount(e.root, &tune(e.root_ttl))
            .await
            .map_err(fail(UPDATE))?;
        if let Some(int) = e.int {
            let rotate = plan.intermediate_issuer_id.is_none()
                || !int_exists
                || prior.intermediate_path.as_deref() != Some(int);
            let mut made = Vec::new();
            let built = async {
                mount_or_tune(
                    v,
                    int,
                    int_exists,
                    plan.int_mount_max(),
                    "Intermediate CA (stack_vault_pki_ca)",
                    &mut made,
                )
                .await
                .map_err(|err| Diags::from(diag(UPDATE, &err).at(at("intermediate_path"))))?;
                if rotate {
                    return build_intermediate(v, &plan, &root_issuer, UPDATE)
                        .await
                        .map(Some);
                }
                Ok(None)
            }
            .await;
            match built {
                Ok(Some(id)) => out.intermediate_issuer_id = Some(id),
                Ok(None) => {}
                Err(mut d) => {
                    // Prior state stays; a mount this call made must not be orphaned.
                    for path in made.iter().rev() {
                        if let Err(err) = v.disable_mount(path).await {
                            d.push(diag(
                                "clean up after a failed update of stack_vault_pki_ca",
                                &err,
                            ));
                        }
                    }
                    return Err(d);
                }
            }
        }
        if plan.root_mount_max() != e.root_ttl {
            v.tune_mount(e.root, &tune(plan.root_mount_max()))
                .await
                .map_err(fail(UPDATE))?;
        }
        write_roles(v, &plan, UPDATE).await?;
        write_urls(v, &plan, UPDATE).await?;
        let keep: Vec<&str> = plan
            .role
            .iter()
            .flatten()
            .filter_map(|r| r.name.as_deref())
            .collect();
        let old_issuing = prior.issuing();
        // Roles left behind on a mount that stays: the root when an intermediate takes over,
        // or the same issuing mount for roles removed from configuration.
        if old_issuing == plan.issuing() || old_issuing == e.root {
            for r in prior.role.iter().flatten() {
                let name = r.name.as_deref().unwrap_or_default();
                if old_issuing != plan.issuing() || !keep.contains(&name) {
                    v.pki_delete_role(old_issuing, name)
                        .await
                        .map_err(fail(UPDATE))?;
                }
            }
        }
        if let Some(old) = prior.intermediate_path.as_deref() {
            if Some(old) != e.int {
                v.disable_mount(old).await.map_err(fail(UPDATE))?;
            }
        }
        if e.int.is_none() {
            out.clear_intermediate();
        }
        finish(v, out, UPDATE).await
    }

    async fn delete(&self, ctx: &ProviderData, state: VaultPkiCaModel) -> Result<(), Diags> {
        let v = ctx.vault()?;
        if let Some(int) = state.intermediate_path.as_deref() {
            v.disable_mount(int).await.map_err(fail(DELETE))?;
        }
        v.disable_mount(state.root_path.as_deref().unwrap_or_default())
            .await
            .map_err(fail(DELETE))
    }

    fn import(id: &str) -> Result<VaultPkiCaModel, Diags> {
        let parts: Vec<&str> = id.split(',').map(str::trim).collect();
        let bad = |detail: String| -> Diags {
            Diagnostic::error("Invalid import ID", format!("{detail} The import ID is `<root_path>` or `<root_path>,<intermediate_path>`, e.g. `pki,pki_int`.")).into()
        };
        if parts.len() > 2 {
            return Err(bad(format!("{id:?} has more than two parts.")));
        }
        for p in &parts {
            if p.is_empty() || p.starts_with('/') || p.ends_with('/') || p.contains("//") {
                return Err(bad(format!(
                    "{p:?} is not a mount path without leading or trailing \"/\"."
                )));
            }
        }
        if parts.len() == 2 && parts[0] == parts[1] {
            return Err(bad("The two paths are the same.".into()));
        }
        Ok(VaultPkiCaModel {
            id: Some(parts[0].to_owned()),
            root_path: Some(parts[0].to_owned()),
            intermediate_path: parts.get(1).map(|s| (*s).to_owned()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, Value)]) -> Value {
        Value::object(pairs.iter().cloned())
    }

    fn errors_at(d: &Diags) -> Vec<String> {
        d.items
            .iter()
            .filter(|i| i.severity == tf_framework::diag::Severity::Error)
            .map(|i| {
                i.attribute
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn key_bits_must_fit_key_type() {
        let d = check_config(&cfg(&[("key_bits", Value::from(2048i64))]));
        assert_eq!(errors_at(&d), vec!["key_bits"], "{d}");
        let d = check_config(&cfg(&[
            ("key_type", "rsa".into()),
            ("key_bits", Value::from(3072i64)),
        ]));
        assert!(!d.has_errors(), "{d}");
        let d = check_config(&cfg(&[
            ("key_type", "rsa".into()),
            ("key_bits", Value::from(256i64)),
        ]));
        assert_eq!(errors_at(&d), vec!["key_bits"]);
        // Unknown key_type: nothing to check yet.
        let d = check_config(&cfg(&[
            ("key_type", Value::Unknown),
            ("key_bits", Value::from(1i64)),
        ]));
        assert!(!d.has_errors());
    }

    #[test]
    fn paths_must_differ_and_not_nest() {
        let d = check_config(&cfg(&[
            ("root_path", "pki".into()),
            ("intermediate_path", "pki".into()),
        ]));
        assert_eq!(errors_at(&d), vec!["intermediate_path"]);
        let d = check_config(&cfg(&[
            ("root_path", "pki".into()),
            ("intermediate_path", "pki/int".into()),
        ]));
        assert_eq!(errors_at(&d), vec!["intermediate_path"]);
        let d = check_config(&cfg(&[
            ("root_path", "pki".into()),
            ("intermediate_path", "pki_int".into()),
        ]));
        assert!(!d.has_errors());
    }

    #[test]
    fn intermediate_cannot_outlive_root() {
        let d = check_config(&cfg(&[
            ("intermediate_path", "int".into()),
            ("intermediate_ttl", "100000h".into()),
        ]));
        assert_eq!(errors_at(&d), vec!["intermediate_ttl"]);
        // Without an intermediate the setting is unused.
        let d = check_config(&cfg(&[("root_ttl", "10h".into())]));
        assert!(!d.has_errors());
        let d = check_config(&cfg(&[
            ("root_ttl", "10h".into()),
            ("intermediate_ttl", "2h".into()),
        ]));
        assert!(!d.has_errors());
    }

    #[test]
    fn duplicate_roles_and_rotation_warnings() {
        let role = |n: &str| cfg(&[("name", n.into())]);
        let d = check_config(&cfg(&[(
            "role",
            Value::List(vec![role("a"), role("b"), role("a")]),
        )]));
        assert_eq!(errors_at(&d), vec!["role[2].name"]);
        let d = check_config(&cfg(&[
            ("intermediate_path", "int".into()),
            ("intermediate_ttl", "2h".into()),
            ("rotate_intermediate_before", "3h".into()),
        ]));
        assert!(!d.has_errors());
        assert_eq!(d.items.len(), 1, "one warning: {d}");
    }

    #[test]
    fn durations() {
        assert_eq!(fmt_duration(315_360_000), "87600h");
        assert_eq!(fmt_duration(90), "90s");
        assert_eq!(fmt_duration(120), "2m");
        assert!(same_duration(&"365d".into(), &"8760h".into()));
        assert!(!same_duration(&"1h".into(), &"61m".into()));
        assert!(positive_duration(&"0".into()).is_err());
        assert!(positive_duration(&"1x".into()).is_err());
        assert!(positive_duration(&"1h30m".into()).is_ok());
    }

    #[test]
    fn urls_checked_per_entry() {
        for ok in [
            "http://a/ca",
            "https://vault.example.com:8200/v1/pki/ca",
            "HTTPS://[::1]:8200/x",
            "http://user@host",
        ] {
            assert_eq!(url_problem(ok), None, "{ok}");
        }
        for bad in [
            "vault/ca",
            "ftp://a/ca",
            "https://",
            "http:///ca",
            "http://a b",
            "http://:80/x",
        ] {
            assert!(url_problem(bad).is_some(), "{bad}");
        }
        let d = check_config(&cfg(&[(
            "crl_distribution_points",
            Value::List(vec!["https://ok/crl".into(), "nope".into(), Value::Unknown]),
        )]));
        assert_eq!(errors_at(&d), vec!["crl_distribution_points[1]"], "{d}");
    }

    #[test]
    fn role_names() {
        for ok in ["web", "a", "web-1.internal", "_x_"] {
            assert!(valid_role_name(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "-a", "a.", "ü"] {
            assert!(!valid_role_name(bad), "{bad}");
        }
    }

    #[test]
    fn import_ids() {
        let m = VaultPkiCa::import("pki").expect("one path");
        assert_eq!(m.root_path.as_deref(), Some("pki"));
        assert!(m.intermediate_path.is_none());
        let m = VaultPkiCa::import("pki,pki_int").expect("two paths");
        assert_eq!(m.intermediate_path.as_deref(), Some("pki_int"));
        assert!(VaultPkiCa::import("pki/,x").is_err());
        assert!(VaultPkiCa::import("a,a").is_err());
        assert!(VaultPkiCa::import("a,b,c").is_err());
        assert!(VaultPkiCa::import("").is_err());
    }
}
