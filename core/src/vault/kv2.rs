//! KV version 2 secrets engine: `<mount>/data/:path` and `<mount>/metadata/:path`.
//!
//! Mount and secret paths are given without slashes at either end. Secret
//! values are JSON; the `Debug` output of every type here that carries them
//! shows key names only.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::VaultClient;
use crate::error::{Error, Product};
use crate::http::Method;

/// Metadata of one version, as returned by a write or with a read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretVersion {
    /// The version number (from 1).
    pub version: u64,
    /// When the version was written (RFC 3339).
    #[serde(default)]
    pub created_time: String,
    /// When it was soft-deleted; empty if it was not.
    #[serde(default)]
    pub deletion_time: String,
    /// Whether its data was destroyed for good.
    #[serde(default)]
    pub destroyed: bool,
    /// The secret's custom metadata; the server sends `null` for none.
    #[serde(default)]
    pub custom_metadata: Option<HashMap<String, String>>,
}

/// A secret version read with `GET <mount>/data/:path`. `Debug` shows only the keys.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KvSecret {
    /// The key/value pairs; values are usually strings but may be any JSON.
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    /// The version's metadata.
    pub metadata: SecretVersion,
}

impl fmt::Debug for KvSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvSecret")
            .field(
                "data_keys",
                &self.data.as_ref().map(|d| d.keys().collect::<Vec<_>>()),
            )
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Options of a write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOptions {
    /// Check-and-set: write only if the current version is this one; `0`
    /// writes only if the secret does not exist yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas: Option<u64>,
}

/// Body of `POST <mount>/data/:path`. `Debug` shows only the keys.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteSecretRequest {
    /// Write options (check-and-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<WriteOptions>,
    /// The new version's key/value pairs.
    pub data: Map<String, Value>,
}

impl fmt::Debug for WriteSecretRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteSecretRequest")
            .field("options", &self.options)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl WriteSecretRequest {
    /// A request writing these string values, with check-and-set `cas` if given.
    pub fn strings<'a>(
        data: impl IntoIterator<Item = (&'a String, &'a String)>,
        cas: Option<u64>,
    ) -> Self {
        Self {
            options: cas.map(|cas| WriteOptions { cas: Some(cas) }),
            data: data
                .into_iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        }
    }
}

/// State of one version inside [`SecretMetadata::versions`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionState {
    /// When the version was written.
    #[serde(default)]
    pub created_time: String,
    /// When it was soft-deleted; empty if it was not.
    #[serde(default)]
    pub deletion_time: String,
    /// Whether its data was destroyed.
    #[serde(default)]
    pub destroyed: bool,
}

/// A secret's metadata, read with `GET <mount>/metadata/:path`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMetadata {
    /// The newest version; `0` when metadata exists without any version.
    #[serde(default)]
    pub current_version: u64,
    /// The oldest version still kept.
    #[serde(default)]
    pub oldest_version: u64,
    /// Versions kept; `0` means the mount's setting.
    #[serde(default)]
    pub max_versions: u64,
    /// Whether every write must carry `cas`.
    #[serde(default)]
    pub cas_required: bool,
    /// Versions are soft-deleted this long after being written (`"0s"`: never).
    #[serde(default)]
    pub delete_version_after: String,
    /// User-defined metadata; the server sends `null` for none.
    #[serde(default)]
    pub custom_metadata: Option<HashMap<String, String>>,
    /// When the metadata was created.
    #[serde(default)]
    pub created_time: String,
    /// When the metadata last changed.
    #[serde(default)]
    pub updated_time: String,
    /// Every kept version by number (the server uses string keys: `"1"`).
    #[serde(default)]
    pub versions: BTreeMap<String, VersionState>,
}

impl SecretMetadata {
    /// The state of version `n`, if it is kept.
    pub fn version(&self, n: u64) -> Option<&VersionState> {
        self.versions.get(&n.to_string())
    }

    /// `true` if the current version can be read: it exists and is neither
    /// soft-deleted nor destroyed.
    pub fn current_is_readable(&self) -> bool {
        self.version(self.current_version)
            .is_some_and(|v| v.deletion_time.is_empty() && !v.destroyed)
    }
}

/// Body of `POST <mount>/metadata/:path`; unset fields are left unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataRequest {
    /// Versions to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_versions: Option<u64>,
    /// Require `cas` on every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas_required: Option<bool>,
    /// Soft-delete versions this long after writing them (`"768h"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_version_after: Option<String>,
    /// Replaces the custom metadata; an empty map clears it. At most 64 keys,
    /// keys of 1–128 bytes, values of 1–512 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<HashMap<String, String>>,
}

/// The secrets engine mounted at or above a path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountedEngine {
    /// The mount path, without slashes at either end (`team/kv`).
    pub path: String,
    /// Engine type, e.g. `kv`, `pki`.
    pub mount_type: String,
    /// Engine options; `{"version": "2"}` for KV v2.
    pub options: HashMap<String, String>,
}

impl MountedEngine {
    /// `true` for KV version 2 (`type` `kv` with `options.version` `"2"`, or `kv-v2`).
    pub fn is_kv_v2(&self) -> bool {
        self.mount_type == "kv-v2"
            || (self.mount_type == "kv"
                && self.options.get("version").map(String::as_str) == Some("2"))
    }

    /// A short name for messages: `kv version 1`, `kv version 2`, `pki`, ...
    pub fn describe(&self) -> String {
        match (self.mount_type.as_str(), self.options.get("version")) {
            ("kv-v2", _) => "kv version 2".to_owned(),
            ("kv", Some(v)) if !v.is_empty() => format!("kv version {v}"),
            ("kv", _) => "kv version 1".to_owned(),
            (other, _) => other.to_owned(),
        }
    }
}

/// Validates a mount or secret path for a KV call; returns it trimmed of slashes.
fn clean(method: &'static str, what: &str, path: &str) -> Result<String, Error> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Err(Error::InvalidRequest {
            product: Product::Vault,
            method,
            path: path.to_owned(),
            reason: format!("the {what} is empty"),
        });
    }
    Ok(trimmed.to_owned())
}

fn kv_path(method: &'static str, mount: &str, kind: &str, path: &str) -> Result<String, Error> {
    Ok(format!(
        "{}/{kind}/{}",
        clean(method, "mount path", mount)?,
        clean(method, "secret path", path)?
    ))
}

/// The longest mount in `mounts` (keys with a trailing slash) that contains `path`.
fn longest_mount(mounts: HashMap<String, MountInfoLite>, path: &str) -> Option<MountedEngine> {
    let full = format!("{}/", path.trim_matches('/'));
    mounts
        .into_iter()
        .filter(|(key, _)| full.starts_with(key.as_str()))
        .max_by_key(|(key, _)| key.len())
        .map(|(key, info)| info.into_engine(&key))
}

/// The fields of a mount listing this module needs.
#[derive(Deserialize)]
struct MountInfoLite {
    #[serde(rename = "type")]
    mount_type: String,
    #[serde(default)]
    options: Option<HashMap<String, String>>,
    #[serde(default)]
    path: Option<String>,
}

impl MountInfoLite {
    fn into_engine(self, key: &str) -> MountedEngine {
        MountedEngine {
            path: self
                .path
                .as_deref()
                .unwrap_or(key)
                .trim_matches('/')
                .to_owned(),
            mount_type: self.mount_type,
            options: self.options.unwrap_or_default(),
        }
    }
}

impl VaultClient {
    /// Reads the latest version of a secret, or `version`. `None` if the
    /// secret or that version does not exist, or if the version is deleted or
    /// destroyed (the server answers 404 for all of them; read the metadata
    /// to tell them apart).
    ///
    /// `GET /v1/:mount/data/:path?version=:version` —
    /// <https://openbao.org/api-docs/secret/kv/kv-v2/#read-secret-version>
    pub async fn kv2_read(
        &self,
        mount: &str,
        path: &str,
        version: Option<u64>,
    ) -> Result<Option<KvSecret>, Error> {
        let mut request = self.request(Method::Get, kv_path("GET", mount, "data", path)?);
        if let Some(v) = version {
            request = request.query("version", v.to_string());
        }
        match request.send().await {
            Ok(response) => response.data().map(Some),
            Err(e) if super::is_plain_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes a new version and returns its metadata. A check-and-set
    /// mismatch is a 400 for which [`Error::is_conflict`] is `true`.
    ///
    /// `POST /v1/:mount/data/:path` —
    /// <https://openbao.org/api-docs/secret/kv/kv-v2/#create-update-secret>
    pub async fn kv2_write(
        &self,
        mount: &str,
        path: &str,
        request: &WriteSecretRequest,
    ) -> Result<SecretVersion, Error> {
        self.write(&kv_path("POST", mount, "data", path)?, request)
            .await?
            .data()
    }

    /// Reads a secret's metadata and version list; `None` if there is none.
    ///
    /// `GET /v1/:mount/metadata/:path` —
    /// <https://openbao.org/api-docs/secret/kv/kv-v2/#read-secret-metadata>
    pub async fn kv2_read_metadata(
        &self,
        mount: &str,
        path: &str,
    ) -> Result<Option<SecretMetadata>, Error> {
        self.read(&kv_path("GET", mount, "metadata", path)?).await
    }

    /// Creates or changes a secret's metadata. The server answers 204.
    ///
    /// `POST /v1/:mount/metadata/:path` —
    /// <https://openbao.org/api-docs/secret/kv/kv-v2/#create-update-metadata>
    pub async fn kv2_write_metadata(
        &self,
        mount: &str,
        path: &str,
        request: &MetadataRequest,
    ) -> Result<(), Error> {
        self.write(&kv_path("POST", mount, "metadata", path)?, request)
            .await
            .map(drop)
    }

    /// Deletes a secret's metadata and every version for good. Succeeds if
    /// there is no such secret (the server answers 204 either way).
    ///
    /// `DELETE /v1/:mount/metadata/:path` —
    /// <https://openbao.org/api-docs/secret/kv/kv-v2/#delete-metadata-and-all-versions>
    pub async fn kv2_delete_metadata(&self, mount: &str, path: &str) -> Result<(), Error> {
        match self
            .delete(&kv_path("DELETE", mount, "metadata", path)?)
            .await
        {
            Err(e) if super::is_plain_not_found(&e) => Ok(()),
            other => other,
        }
    }

    /// The secrets engine whose mount contains `path` (e.g. `team/kv/app/db`
    /// → the `team/kv` mount); `None` if no mount does.
    ///
    /// Uses `GET /v1/sys/mounts` (longest matching mount). A token without
    /// read access there gets 403, so it then asks
    /// `GET /v1/sys/internal/ui/mounts/:path`, which any token with some
    /// capability below the mount may call; that endpoint answers 403
    /// (`preflight capability check`) for a path under no mount, which is
    /// returned as the error. —
    /// <https://openbao.org/api-docs/system/mounts/>,
    /// <https://openbao.org/api-docs/system/internal-ui-mounts/>
    pub async fn kv2_find_mount(&self, path: &str) -> Result<Option<MountedEngine>, Error> {
        let path = clean("GET", "path", path)?;
        match self.request(Method::Get, "sys/mounts").send().await {
            Ok(response) => Ok(longest_mount(response.data()?, &path)),
            Err(e) if e.is_forbidden() => {
                let found: Option<MountInfoLite> =
                    self.read(&format!("sys/internal/ui/mounts/{path}")).await?;
                Ok(found.map(|info| info.into_engine("")))
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::retry::RetryPolicy;
    use crate::vault::tests::TestServer;
    use crate::vault::VaultConfig;

    fn client(url: &str) -> VaultClient {
        let mut config = VaultConfig::new(url).with_token("t");
        config.retry = RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            total_budget: Duration::from_secs(5),
        };
        VaultClient::new(config).unwrap()
    }

    #[test]
    fn write_request_json_and_debug() {
        let data = BTreeMap::from([("password".to_owned(), "hunter2".to_owned())]);
        let req = WriteSecretRequest::strings(&data, Some(0));
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"options": {"cas": 0}, "data": {"password": "hunter2"}})
        );
        let shown = format!("{req:?}");
        assert!(
            shown.contains("password") && !shown.contains("hunter2"),
            "{shown}"
        );
        let plain = WriteSecretRequest::strings(&data, None);
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            json!({"data": {"password": "hunter2"}})
        );
    }

    #[test]
    fn metadata_request_leaves_unset_fields_out() {
        let req = MetadataRequest {
            custom_metadata: Some(HashMap::new()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"custom_metadata": {}})
        );
    }

    #[test]
    fn engine_kinds() {
        let engine = |t: &str, v: Option<&str>| MountedEngine {
            path: "m".into(),
            mount_type: t.into(),
            options: v
                .map(|v| HashMap::from([("version".to_owned(), v.to_owned())]))
                .unwrap_or_default(),
        };
        assert!(engine("kv", Some("2")).is_kv_v2());
        assert!(engine("kv-v2", None).is_kv_v2());
        assert!(!engine("kv", Some("1")).is_kv_v2());
        assert!(!engine("kv", None).is_kv_v2());
        assert_eq!(engine("kv", None).describe(), "kv version 1");
        assert_eq!(engine("pki", None).describe(), "pki");
    }

    #[test]
    fn longest_mount_wins() {
        let mounts: HashMap<String, MountInfoLite> = serde_json::from_value(json!({
            "team/": {"type": "kv", "options": null},
            "team/kv/": {"type": "kv", "options": {"version": "2"}},
            "secret/": {"type": "kv", "options": {"version": "2"}}
        }))
        .unwrap();
        let m = longest_mount(mounts, "team/kv/app/db").unwrap();
        assert_eq!(m.path, "team/kv");
        assert!(m.is_kv_v2());
    }

    #[tokio::test]
    async fn read_parses_data_and_hides_values_in_debug() {
        let server = TestServer::start(vec![(
            200,
            r#"{"data":{"data":{"user":"u","pw":"s3cret","n":5},"metadata":{"created_time":"t","custom_metadata":null,"deletion_time":"","destroyed":false,"version":2}}}"#,
        )])
        .await;
        let vault = client(&server.url());
        let secret = vault
            .kv2_read("team/kv", "app/my db", Some(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(secret.metadata.version, 2);
        assert_eq!(secret.data.as_ref().unwrap()["n"], json!(5));
        assert!(!format!("{secret:?}").contains("s3cret"));
        let seen = server.seen();
        assert_eq!(seen[0].target, "/v1/team/kv/data/app/my%20db?version=2");
    }

    #[tokio::test]
    async fn deleted_version_404_is_none() {
        // The server answers 404 with a body holding the metadata for a deleted version.
        let server = TestServer::start(vec![(
            404,
            r#"{"data":{"data":null,"metadata":{"version":2,"deletion_time":"t","destroyed":false}}}"#,
        )])
        .await;
        let vault = client(&server.url());
        assert!(vault.kv2_read("kv", "a", None).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn metadata_versions() {
        let server = TestServer::start(vec![(
            200,
            r#"{"data":{"cas_required":false,"created_time":"t","current_metadata_version":0,"current_version":2,"custom_metadata":{"owner":"me"},"delete_version_after":"0s","max_versions":0,"oldest_version":0,"updated_time":"t","versions":{"1":{"created_time":"t","deletion_time":"","destroyed":false},"2":{"created_time":"t","deletion_time":"t2","destroyed":false}}}}"#,
        )])
        .await;
        let vault = client(&server.url());
        let m = vault.kv2_read_metadata("kv", "a").await.unwrap().unwrap();
        assert_eq!(m.current_version, 2);
        assert!(!m.current_is_readable());
        assert_eq!(m.custom_metadata.unwrap()["owner"], "me");
    }

    #[tokio::test]
    async fn find_mount_falls_back_to_ui_endpoint_on_403() {
        let server = TestServer::start(vec![
            (403, r#"{"errors":["permission denied"]}"#),
            (
                200,
                r#"{"data":{"path":"team/kv/","type":"kv","options":{"version":"2"}}}"#,
            ),
        ])
        .await;
        let vault = client(&server.url());
        let m = vault.kv2_find_mount("team/kv/app").await.unwrap().unwrap();
        assert_eq!(m.path, "team/kv");
        assert!(m.is_kv_v2());
        let seen = server.seen();
        assert_eq!(seen[1].target, "/v1/sys/internal/ui/mounts/team/kv/app");
    }

    #[tokio::test]
    async fn delete_metadata_of_missing_secret_succeeds() {
        let server = TestServer::start(vec![(404, r#"{"errors":[]}"#)]).await;
        let vault = client(&server.url());
        vault.kv2_delete_metadata("kv", "gone").await.unwrap();
        assert_eq!(server.seen()[0].method, "DELETE");
        assert_eq!(server.seen()[0].target, "/v1/kv/metadata/gone");
    }
}
