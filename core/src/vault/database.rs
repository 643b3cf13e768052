//! Database secrets engine: connections, roles and dynamic credentials
//! (`<mount>/config`, `<mount>/roles`, `<mount>/creds`, `<mount>/rotate-root`).
//!
//! Measured against OpenBao 2.7: reading a connection never returns its
//! password (a literal password inside `connection_url` comes back as
//! `xxxxx`); writing a connection without `password` keeps the stored one;
//! writes and deletes of connections and roles answer 204, deletes also when
//! nothing is there; a role write does not check that `db_name` exists, nor
//! that `default_ttl <= max_ttl`. Credentials for a role missing from the
//! connection's `allowed_roles` fail with 500 `"<role>" is not an allowed role`.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use super::VaultClient;
use crate::error::{Error, Product};
use crate::http::Method;
use crate::secret::Secret;

/// Body of `POST <mount>/config/:name`. `Debug` never shows the password.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct DatabaseConnectionRequest {
    /// Plugin, e.g. `postgresql-database-plugin`.
    pub plugin_name: String,
    /// Connection URL, usually with `{{username}}` and `{{password}}` templates.
    pub connection_url: String,
    /// The user Vault connects as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Its password; `None` keeps the stored one.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_secret"
    )]
    pub password: Option<Secret>,
    /// Role names (or globs) allowed to use this connection.
    pub allowed_roles: Vec<String>,
    /// Check the connection before saving it.
    pub verify_connection: bool,
}

impl fmt::Debug for DatabaseConnectionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConnectionRequest")
            .field("plugin_name", &self.plugin_name)
            .field("connection_url", &self.connection_url)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("allowed_roles", &self.allowed_roles)
            .field("verify_connection", &self.verify_connection)
            .finish()
    }
}

fn expose_secret<S: Serializer>(secret: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_str(secret.expose()),
        None => s.serialize_none(),
    }
}

/// Connection details as read back; never holds a password.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionDetails {
    /// The connection URL as written (a literal password is replaced by `xxxxx`).
    #[serde(default)]
    pub connection_url: String,
    /// The user Vault connects as.
    #[serde(default)]
    pub username: Option<String>,
}

/// A connection as read by `GET <mount>/config/:name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseConnection {
    /// Plugin, e.g. `postgresql-database-plugin`.
    #[serde(default)]
    pub plugin_name: String,
    /// Plugin-specific settings without secrets.
    #[serde(default)]
    pub connection_details: ConnectionDetails,
    /// Role names (or globs) allowed to use this connection.
    #[serde(default)]
    pub allowed_roles: Vec<String>,
    /// Statements run by `rotate-root`.
    #[serde(default)]
    pub root_credentials_rotate_statements: Vec<String>,
    /// Password policy name, empty for the default.
    #[serde(default)]
    pub password_policy: String,
    /// Pinned plugin version, empty for the built-in one.
    #[serde(default)]
    pub plugin_version: String,
}

impl DatabaseConnection {
    /// `true` if `role` may use this connection: Vault matches `allowed_roles`
    /// as globs where `*` stands for any run of characters.
    pub fn allows(&self, role: &str) -> bool {
        self.allowed_roles.iter().any(|p| glob_match(p, role))
    }
}

/// Matches `text` against `pattern`, where `*` matches any run of characters.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Body of `POST <mount>/roles/:name`. TTLs are seconds; 0 means the mount default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DatabaseRoleRequest {
    /// The connection this role uses.
    pub db_name: String,
    /// Statements that create the user (`{{name}}`, `{{password}}`, `{{expiration}}`).
    pub creation_statements: Vec<String>,
    /// Statements that drop the user; empty for the plugin's default.
    pub revocation_statements: Vec<String>,
    /// Default lease TTL in seconds.
    pub default_ttl: u64,
    /// Maximum lease TTL in seconds.
    pub max_ttl: u64,
}

/// A role as read by `GET <mount>/roles/:name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseRole {
    /// The connection this role uses.
    #[serde(default)]
    pub db_name: String,
    /// Statements that create the user.
    #[serde(default)]
    pub creation_statements: Vec<String>,
    /// Statements that drop the user.
    #[serde(default)]
    pub revocation_statements: Vec<String>,
    /// Statements run when a lease is renewed.
    #[serde(default)]
    pub renew_statements: Vec<String>,
    /// Statements run when creation fails.
    #[serde(default)]
    pub rollback_statements: Vec<String>,
    /// Default lease TTL in seconds.
    #[serde(default)]
    pub default_ttl: u64,
    /// Maximum lease TTL in seconds.
    #[serde(default)]
    pub max_ttl: u64,
    /// `password`, `rsa_private_key`, ...
    #[serde(default)]
    pub credential_type: String,
}

/// Dynamic credentials with their lease. `Debug` hides the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseCredentials {
    /// Lease ID, e.g. `database/creds/ro/<id>`; renew and revoke it through `sys/leases`.
    pub lease_id: String,
    /// Seconds until the lease expires.
    pub lease_duration: u64,
    /// Whether the lease can be renewed.
    pub renewable: bool,
    /// The generated user name.
    pub username: String,
    /// The generated password.
    pub password: Secret,
}

#[derive(Deserialize)]
struct CredsEnvelope {
    #[serde(default)]
    lease_id: String,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
    data: Option<CredsData>,
}

#[derive(Deserialize)]
struct CredsData {
    username: String,
    password: String,
}

/// `<mount>/<kind>/<name>` after checking both parts are non-empty.
fn engine_path(method: &'static str, mount: &str, kind: &str, name: &str) -> Result<String, Error> {
    let mount = mount.trim().trim_matches('/');
    let name = name.trim();
    if mount.is_empty() || name.is_empty() || name.contains('/') {
        return Err(Error::InvalidRequest {
            product: Product::Vault,
            method,
            path: format!("{mount}/{kind}/{name}"),
            reason: "the mount and a name without \"/\" are required".to_owned(),
        });
    }
    Ok(format!("{mount}/{kind}/{name}"))
}

fn ignore_not_found(result: Result<(), Error>) -> Result<(), Error> {
    match result {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

impl VaultClient {
    /// Creates or replaces a database connection. With `verify_connection`
    /// the server connects first and answers 400 when it cannot. Answers 204.
    ///
    /// `POST /v1/:mount/config/:name` —
    /// <https://openbao.org/api-docs/secret/databases/#configure-connection>
    pub async fn write_database_connection(
        &self,
        mount: &str,
        name: &str,
        request: &DatabaseConnectionRequest,
    ) -> Result<(), Error> {
        let path = engine_path("POST", mount, "config", name)?;
        self.write(&path, request).await.map(drop)
    }

    /// Reads a connection; `None` if it does not exist (404).
    ///
    /// `GET /v1/:mount/config/:name` —
    /// <https://openbao.org/api-docs/secret/databases/#read-connection>
    pub async fn read_database_connection(
        &self,
        mount: &str,
        name: &str,
    ) -> Result<Option<DatabaseConnection>, Error> {
        self.read(&engine_path("GET", mount, "config", name)?).await
    }

    /// Lists connection names; empty when there are none.
    ///
    /// `LIST /v1/:mount/config` —
    /// <https://openbao.org/api-docs/secret/databases/#list-connections>
    pub async fn list_database_connections(&self, mount: &str) -> Result<Vec<String>, Error> {
        self.list(&format!("{}/config", mount.trim().trim_matches('/')))
            .await
    }

    /// Deletes a connection; succeeds if it does not exist. Leases issued
    /// through it can no longer be revoked afterwards, and then the mount
    /// cannot be disabled: revoke them first.
    ///
    /// `DELETE /v1/:mount/config/:name` (204) —
    /// <https://openbao.org/api-docs/secret/databases/#delete-connection>
    pub async fn delete_database_connection(&self, mount: &str, name: &str) -> Result<(), Error> {
        ignore_not_found(
            self.delete(&engine_path("DELETE", mount, "config", name)?)
                .await,
        )
    }

    /// Rotates the connection's root password to one only Vault knows. Answers 204.
    ///
    /// `POST /v1/:mount/rotate-root/:name` —
    /// <https://openbao.org/api-docs/secret/databases/#rotate-root-credentials>
    pub async fn rotate_database_root(&self, mount: &str, name: &str) -> Result<(), Error> {
        let path = engine_path("POST", mount, "rotate-root", name)?;
        self.request(Method::Post, path).send().await.map(drop)
    }

    /// Creates or replaces a role. Answers 204.
    ///
    /// `POST /v1/:mount/roles/:name` —
    /// <https://openbao.org/api-docs/secret/databases/#create-role>
    pub async fn write_database_role(
        &self,
        mount: &str,
        name: &str,
        request: &DatabaseRoleRequest,
    ) -> Result<(), Error> {
        let path = engine_path("POST", mount, "roles", name)?;
        self.write(&path, request).await.map(drop)
    }

    /// Reads a role; `None` if it does not exist.
    ///
    /// `GET /v1/:mount/roles/:name` —
    /// <https://openbao.org/api-docs/secret/databases/#read-role>
    pub async fn read_database_role(
        &self,
        mount: &str,
        name: &str,
    ) -> Result<Option<DatabaseRole>, Error> {
        self.read(&engine_path("GET", mount, "roles", name)?).await
    }

    /// Lists role names; empty when there are none.
    ///
    /// `LIST /v1/:mount/roles` —
    /// <https://openbao.org/api-docs/secret/databases/#list-roles>
    pub async fn list_database_roles(&self, mount: &str) -> Result<Vec<String>, Error> {
        self.list(&format!("{}/roles", mount.trim().trim_matches('/')))
            .await
    }

    /// Deletes a role; succeeds if it does not exist. Its leases stay valid.
    ///
    /// `DELETE /v1/:mount/roles/:name` (204) —
    /// <https://openbao.org/api-docs/secret/databases/#delete-role>
    pub async fn delete_database_role(&self, mount: &str, name: &str) -> Result<(), Error> {
        ignore_not_found(
            self.delete(&engine_path("DELETE", mount, "roles", name)?)
                .await,
        )
    }

    /// Issues credentials for a role, with a lease to renew and revoke.
    /// An unknown role gives 400 `unknown role: <role>`.
    ///
    /// `GET /v1/:mount/creds/:role` —
    /// <https://openbao.org/api-docs/secret/databases/#generate-credentials>
    pub async fn generate_database_credentials(
        &self,
        mount: &str,
        role: &str,
    ) -> Result<DatabaseCredentials, Error> {
        let path = engine_path("GET", mount, "creds", role)?;
        let response = self.request(Method::Get, path.clone()).send().await?;
        let envelope: CredsEnvelope = response.json()?;
        let data = envelope.data.ok_or_else(|| Error::Decode {
            product: Product::Vault,
            method: "GET",
            path,
            address: self.address().to_owned(),
            message: "the response has no credentials (`data` is null)".to_owned(),
        })?;
        Ok(DatabaseCredentials {
            lease_id: envelope.lease_id,
            lease_duration: envelope.lease_duration,
            renewable: envelope.renewable,
            username: data.username,
            password: Secret::new(data.password),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::tests::TestServer;
    use crate::vault::VaultConfig;
    use crate::RetryPolicy;
    use serde_json::json;

    fn client(url: &str) -> VaultClient {
        let mut config = VaultConfig::new(url).with_token("s.TOKEN");
        config.retry = RetryPolicy::none();
        VaultClient::new(config).unwrap()
    }

    #[test]
    fn connection_request_json_and_debug() {
        let mut req = DatabaseConnectionRequest {
            plugin_name: "postgresql-database-plugin".into(),
            connection_url: "postgresql://{{username}}:{{password}}@db:5432/app".into(),
            username: Some("vault".into()),
            password: Some(Secret::new("hunter2-SECRET")),
            allowed_roles: vec!["ro".into()],
            verify_connection: true,
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": "postgresql://{{username}}:{{password}}@db:5432/app",
                "username": "vault",
                "password": "hunter2-SECRET",
                "allowed_roles": ["ro"],
                "verify_connection": true
            })
        );
        assert!(!format!("{req:?}").contains("SECRET"));
        req.password = None;
        assert!(serde_json::to_value(&req)
            .unwrap()
            .get("password")
            .is_none());
    }

    #[test]
    fn role_request_json() {
        let req = DatabaseRoleRequest {
            db_name: "pg".into(),
            creation_statements: vec!["CREATE ROLE x".into()],
            revocation_statements: vec![],
            default_ttl: 3600,
            max_ttl: 0,
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"db_name": "pg", "creation_statements": ["CREATE ROLE x"],
                   "revocation_statements": [], "default_ttl": 3600, "max_ttl": 0})
        );
    }

    #[test]
    fn allowed_roles_are_globs() {
        let conn = |roles: &[&str]| DatabaseConnection {
            allowed_roles: roles.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert!(conn(&["ro", "rw"]).allows("rw"));
        assert!(!conn(&["ro"]).allows("rw"));
        assert!(!conn(&[]).allows("ro"));
        assert!(conn(&["*"]).allows("anything"));
        assert!(conn(&["app-*"]).allows("app-ro"));
        assert!(!conn(&["app-*"]).allows("web-ro"));
        assert!(conn(&["a*c*e"]).allows("abcde"));
        assert!(!conn(&["a*a"]).allows("a"));
    }

    #[tokio::test]
    async fn reads_connection_and_maps_404() {
        let server = TestServer::start(vec![
            (
                200,
                r#"{"data":{"allowed_roles":["ro"],"connection_details":{"connection_url":"postgresql://{{username}}:{{password}}@h/db","username":"vault"},"password_policy":"","plugin_name":"postgresql-database-plugin","plugin_version":"","root_credentials_rotate_statements":[]}}"#,
            ),
            (404, r#"{"errors":[]}"#),
        ])
        .await;
        let c = client(&server.url());
        let conn = c
            .read_database_connection("team/db", "pg")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(conn.plugin_name, "postgresql-database-plugin");
        assert_eq!(conn.connection_details.username.as_deref(), Some("vault"));
        assert!(conn.allows("ro"));
        assert!(c
            .read_database_connection("team/db", "pg")
            .await
            .unwrap()
            .is_none());
        let seen = server.seen();
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].target, "/v1/team/db/config/pg");
    }

    #[tokio::test]
    async fn credentials_keep_the_lease_and_hide_the_password() {
        let server = TestServer::start(vec![(
            200,
            r#"{"lease_id":"database/creds/ro/abc","renewable":true,"lease_duration":3600,"data":{"username":"v-token-ro-x","password":"pw-SECRET"}}"#,
        )])
        .await;
        let creds = client(&server.url())
            .generate_database_credentials("database", "ro")
            .await
            .unwrap();
        assert_eq!(creds.lease_id, "database/creds/ro/abc");
        assert_eq!((creds.lease_duration, creds.renewable), (3600, true));
        assert_eq!(creds.password.expose(), "pw-SECRET");
        assert!(!format!("{creds:?}").contains("SECRET"));
        assert_eq!(server.seen()[0].target, "/v1/database/creds/ro");
    }

    #[tokio::test]
    async fn names_with_slashes_are_rejected_before_sending() {
        let c = client("http://127.0.0.1:9");
        let err = c
            .write_database_role("database", "a/b", &DatabaseRoleRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
    }
}
