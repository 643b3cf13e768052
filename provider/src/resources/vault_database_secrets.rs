//! `stack_vault_database_secrets`: a database secrets engine connection and its roles.

use serde::{Deserialize, Serialize};
use stack_core::vault::database::{
    DatabaseConnection, DatabaseConnectionRequest, DatabaseRole, DatabaseRoleRequest,
};
use stack_core::vault::{MountRequest, VaultClient};
use stack_core::Secret;
use tf_framework::schema::validators::{clean_path, duration, one_of, parse_duration};
use tf_framework::{
    Attribute, AttributePath, Block, Diagnostic, Diags, NestedBlock, Resource, Schema, Value,
};

use super::mounts::check_engine_mount;
use crate::errors::{diag, diag_at, fail};
use crate::ProviderData;

/// The resource.
pub struct VaultDatabaseSecrets;

/// State and configuration of `stack_vault_database_secrets`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct VaultDatabaseSecretsModel {
    /// `<mount>/<connection name>`.
    pub id: Option<String>,
    /// Mount path of the database engine.
    pub mount: Option<String>,
    /// Whether this resource enabled the mount (and so disables it on destroy).
    pub mount_created: Option<bool>,
    /// The connection.
    pub db_connection: Option<ConnectionModel>,
    /// The roles using the connection.
    #[serde(default)]
    pub role: Vec<RoleModel>,
}

/// The `db_connection` block (Terraform reserves `connection` for provisioners).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ConnectionModel {
    /// Connection name.
    pub name: Option<String>,
    /// Plugin short name (`postgresql`).
    pub plugin: Option<String>,
    /// URL with `{{username}}`/`{{password}}` templates.
    pub connection_url: Option<String>,
    /// The user Vault connects as.
    pub username: Option<String>,
    /// Write-only password (only present during apply).
    pub password_wo: Option<String>,
    /// Bump to send `password_wo` again.
    pub password_wo_version: Option<i64>,
    /// Check the connection before saving it.
    pub verify_connection: Option<bool>,
    /// Rotate the root password after it is written.
    pub rotate_root: Option<bool>,
}

/// A `role` block.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RoleModel {
    /// Role name.
    pub name: Option<String>,
    /// SQL run to create a user.
    pub creation_statements: Option<Vec<String>>,
    /// SQL run to drop a user.
    pub revocation_statements: Option<Vec<String>>,
    /// Default lease TTL.
    pub default_ttl: Option<String>,
    /// Maximum lease TTL.
    pub max_ttl: Option<String>,
}

const TYPE: &str = "stack_vault_database_secrets";
const ENGINE: &str = "database";
/// Plugin short names and the catalog names Vault knows them by.
const PLUGINS: &[(&str, &str)] = &[("postgresql", "postgresql-database-plugin")];
const PLUGIN_NAMES: &[&str] = &["postgresql"];

fn plugin_catalog_name(short: &str) -> String {
    PLUGINS
        .iter()
        .find(|(s, _)| *s == short)
        .map(|(_, full)| full.to_string())
        .unwrap_or_else(|| short.to_string())
}

fn plugin_short_name(full: &str) -> String {
    PLUGINS
        .iter()
        .find(|(_, f)| *f == full)
        .map(|(s, _)| s.to_string())
        .unwrap_or_else(|| full.to_string())
}

/// Vault's `GenericNameRegex`: word characters, `-` and `.`, starting and ending with a word character.
fn check_name(v: &Value) -> Result<(), (String, String)> {
    let Some(s) = v.as_str() else { return Ok(()) };
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok = !s.is_empty()
        && s.starts_with(word)
        && s.ends_with(word)
        && s.chars().all(|c| word(c) || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err((
            "Invalid name".into(),
            format!("{s:?} must be letters, digits, `_`, `-` or `.`, starting and ending with a letter, digit or `_` (no \"/\")."),
        ))
    }
}

fn check_statements(v: &Value) -> Result<(), (String, String)> {
    match v {
        Value::List(items) if items.is_empty() => Err((
            "No creation statements".into(),
            "At least one SQL statement is needed to create the user.".into(),
        )),
        Value::List(items)
            if items
                .iter()
                .any(|i| i.as_str().is_some_and(|s| s.trim().is_empty())) =>
        {
            Err((
                "Empty statement".into(),
                "Statements must not be empty.".into(),
            ))
        }
        _ => Ok(()),
    }
}

fn check_version(v: &Value) -> Result<(), (String, String)> {
    match v {
        Value::Number(n) if n.as_i64().is_some_and(|i| i >= 0) => Ok(()),
        Value::Number(n) => Err((
            "Invalid version".into(),
            format!("{n} must be a whole number of at least 0."),
        )),
        _ => Ok(()),
    }
}

/// A literal password in the URL would be stored in state and returned by every read.
fn check_connection_url(v: &Value) -> Result<(), (String, String)> {
    let Some(url) = v.as_str() else { return Ok(()) };
    if url.trim().is_empty() {
        return Err(("Invalid connection URL".into(), "The URL is empty.".into()));
    }
    let userinfo = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .map(|(userinfo, _)| userinfo);
    if let Some((_, password)) = userinfo.and_then(|u| u.split_once(':')) {
        if !password.is_empty() && password != "{{password}}" {
            return Err((
                "Password in connection URL".into(),
                "The URL holds a literal password, which would be stored in state. Write `{{password}}` in its place and pass the password in `password_wo`.".into(),
            ));
        }
    }
    if url.contains("password=") && !url.contains("password={{password}}") {
        return Err((
            "Password in connection URL".into(),
            "The URL holds a literal `password=` parameter, which would be stored in state. Use `{{password}}` and `password_wo`.".into(),
        ));
    }
    Ok(())
}

fn same_duration(a: &Value, b: &Value) -> bool {
    match (
        a.as_str().and_then(parse_duration),
        b.as_str().and_then(parse_duration),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Seconds as a short duration: `3600` → `1h`, `5400` → `1h30m`.
fn format_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn ttl_seconds(v: &Option<String>) -> u64 {
    v.as_deref().and_then(parse_duration).unwrap_or(0)
}

/// The remote TTL, spelled as in the prior state when they mean the same.
fn read_ttl(remote: u64, prior: Option<&String>) -> Option<String> {
    match prior {
        Some(p) if parse_duration(p) == Some(remote) => Some(p.clone()),
        _ if remote == 0 => None,
        _ => Some(format_duration(remote)),
    }
}

fn role_request(db_name: &str, r: &RoleModel) -> DatabaseRoleRequest {
    DatabaseRoleRequest {
        db_name: db_name.to_string(),
        creation_statements: r.creation_statements.clone().unwrap_or_default(),
        revocation_statements: r.revocation_statements.clone().unwrap_or_default(),
        default_ttl: ttl_seconds(&r.default_ttl),
        max_ttl: ttl_seconds(&r.max_ttl),
    }
}

fn role_from_remote(name: &str, remote: DatabaseRole, prior: Option<&RoleModel>) -> RoleModel {
    let revocation = if remote.revocation_statements.is_empty() {
        prior
            .and_then(|p| p.revocation_statements.clone())
            .filter(Vec::is_empty)
    } else {
        Some(remote.revocation_statements)
    };
    RoleModel {
        name: Some(name.to_string()),
        creation_statements: Some(remote.creation_statements),
        revocation_statements: revocation,
        default_ttl: read_ttl(
            remote.default_ttl,
            prior.and_then(|p| p.default_ttl.as_ref()),
        ),
        max_ttl: read_ttl(remote.max_ttl, prior.and_then(|p| p.max_ttl.as_ref())),
    }
}

fn role_names(roles: &[RoleModel]) -> Vec<String> {
    roles.iter().filter_map(|r| r.name.clone()).collect()
}

fn mount_of(m: &VaultDatabaseSecretsModel) -> String {
    m.mount.clone().unwrap_or_else(|| ENGINE.to_string())
}

impl VaultDatabaseSecrets {
    /// Revokes the leases of a role (while the connection can still drop the users), then deletes it.
    async fn remove_role(vault: &VaultClient, mount: &str, role: &str) -> Result<(), Diags> {
        if let Err(e) = vault
            .revoke_lease_prefix(&format!("{mount}/creds/{role}"))
            .await
        {
            if !e.is_forbidden() {
                return Err(diag(&format!("revoke the leases of role {role:?}"), &e).into());
            }
            // Without sudo on sys/leases/revoke-prefix the leases run out on their own.
            log::warn!("cannot revoke the leases of database role {role:?}: {e}");
        }
        vault
            .delete_database_role(mount, role)
            .await
            .map_err(fail("delete a stack_vault_database_secrets role"))
    }

    fn connection_request(
        c: &ConnectionModel,
        roles: &[RoleModel],
        send_password: bool,
    ) -> DatabaseConnectionRequest {
        DatabaseConnectionRequest {
            plugin_name: plugin_catalog_name(c.plugin.as_deref().unwrap_or("postgresql")),
            connection_url: c.connection_url.clone().unwrap_or_default(),
            username: c.username.clone(),
            password: if send_password {
                c.password_wo.clone().map(Secret::new)
            } else {
                None
            },
            allowed_roles: role_names(roles),
            verify_connection: c.verify_connection.unwrap_or(true),
        }
    }

    /// Writes the connection, the roles and rotates; on failure returns what was written.
    async fn write_all(
        vault: &VaultClient,
        plan: &VaultDatabaseSecretsModel,
        done: &mut VaultDatabaseSecretsModel,
    ) -> Result<(), Diags> {
        let mount = mount_of(plan);
        let conn = plan.db_connection.clone().unwrap_or_default();
        let name = conn.name.clone().unwrap_or_default();
        if let Some(pw) = &conn.password_wo {
            tf_framework::log::register_secret(pw);
        }
        vault
            .write_database_connection(
                &mount,
                &name,
                &Self::connection_request(&conn, &plan.role, true),
            )
            .await
            .map_err(|e| {
                diag_at(
                    "create the database connection",
                    &e,
                    AttributePath::root("db_connection"),
                )
            })?;
        done.db_connection = Some(ConnectionModel {
            password_wo: None,
            ..conn.clone()
        });
        for (i, r) in plan.role.iter().enumerate() {
            let role = r.name.clone().unwrap_or_default();
            vault
                .write_database_role(&mount, &role, &role_request(&name, r))
                .await
                .map_err(|e| {
                    diag_at(
                        "create a database role",
                        &e,
                        AttributePath::root("role").index(i),
                    )
                })?;
            done.role.push(r.clone());
        }
        if conn.rotate_root == Some(true) {
            vault
                .rotate_database_root(&mount, &name)
                .await
                .map_err(|e| {
                    diag_at(
                        "rotate the root credentials",
                        &e,
                        AttributePath::root("db_connection").attr("rotate_root"),
                    )
                })?;
        }
        Ok(())
    }
}

impl Resource for VaultDatabaseSecrets {
    type Ctx = ProviderData;
    type Model = VaultDatabaseSecretsModel;
    const TYPE_NAME: &'static str = TYPE;

    fn schema() -> Schema {
        let connection = Block::new("Required, exactly one: the database connection Vault uses to create and drop users.")
            .attr(Attribute::string("name").required().requires_replace().validate(check_name).doc("Connection name, unique within the mount. Changing this forces a new resource."))
            .attr(Attribute::string("plugin").required().validate(one_of(PLUGIN_NAMES)).doc("Database plugin. Supported: `postgresql`."))
            .attr(Attribute::string("connection_url").required().validate(check_connection_url).doc("Connection URL with `{{username}}` and `{{password}}` templates, e.g. `postgresql://{{username}}:{{password}}@db.example.com:5432/app`. A literal password is refused: it would end up in state."))
            .attr(Attribute::string("username").optional().doc("The user Vault connects as; it must be able to create and drop roles."))
            .attr(Attribute::string("password_wo").optional().sensitive().write_only().doc("Password of `username`. Write-only: never stored in state or plan (Terraform 1.11 or later). It is sent when the connection is created and whenever `password_wo_version` changes."))
            .attr(Attribute::number("password_wo_version").optional().validate(check_version).doc("Change this number to send `password_wo` again, e.g. after rotating the password in the database."))
            .attr(Attribute::bool("verify_connection").default(true).doc("Connect to the database before saving the connection, so a wrong URL or password fails the apply. Defaults to `true`."))
            .attr(Attribute::bool("rotate_root").default(false).doc("After the password is written (on create, on a `password_wo_version` change, or when this turns `true`), have Vault rotate it to a value only Vault knows. The password you supplied stops working. Defaults to `false`."));
        let role = Block::new("A role: how Vault creates users on request. Changes are applied in place.")
            .attr(Attribute::string("name").required().validate(check_name).doc("Role name; credentials are read from `<mount>/creds/<name>`."))
            .attr(Attribute::string_list("creation_statements").required().validate(check_statements).doc("SQL statements that create a user. Templates: `{{name}}`, `{{password}}`, `{{expiration}}`."))
            .attr(Attribute::string_list("revocation_statements").optional().doc("SQL statements that drop a user. Unset: the plugin's default (revoke privileges, then drop the role)."))
            .attr(Attribute::string("default_ttl").optional().validate(duration()).equivalent(same_duration).doc("Default lease duration, e.g. `1h` or `3600`. Unset: the mount's default."))
            .attr(Attribute::string("max_ttl").optional().validate(duration()).equivalent(same_duration).doc("Maximum lease duration including renewals, e.g. `24h`. Unset: the mount's maximum. Must not be shorter than `default_ttl`."));
        Schema::new(
            Block::new("Dynamic database credentials: a Vault/OpenBao database secrets engine connection and the roles that issue users through it. The mount is enabled when it does not exist (and then disabled on destroy). Vault only lets the roles of this resource use the connection (`allowed_roles`). The database password is write-only and never stored in state. The connection is configured in a `db_connection` block, because Terraform reserves `connection` in resource blocks for provisioners. Issue credentials with the `stack_vault_database_credentials` ephemeral resource.")
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("`<mount>/<connection name>`, also the import ID."))
                .attr(Attribute::string("mount").default(ENGINE).requires_replace().validate(clean_path()).doc("Mount path of the database secrets engine, without leading or trailing `/`. Enabled if absent; an existing mount must be a database engine. Defaults to `database`. Changing this forces a new resource."))
                .attr(Attribute::bool("mount_created").computed().use_state_for_unknown().doc("`true` when this resource enabled the mount; only then does destroy disable it (which revokes every lease under it)."))
                .block(NestedBlock::single("db_connection", connection))
                .block(NestedBlock::list("role", role)),
        )
    }

    fn validate(config: &Value) -> Diags {
        let mut diags = Diags::new();
        if config.get("db_connection").is_null() {
            diags.error(
                "Missing db_connection block",
                "A `db_connection` block is required.",
            );
        }
        let mut seen = std::collections::HashSet::new();
        if let Value::List(roles) = config.get("role") {
            for (i, r) in roles.iter().enumerate() {
                let at = AttributePath::root("role").index(i);
                if let Some(name) = r.get("name").as_str() {
                    if !seen.insert(name.to_string()) {
                        diags.push(
                            Diagnostic::error(
                                "Duplicate role",
                                format!("Role {name:?} is declared twice."),
                            )
                            .at(at.clone().attr("name")),
                        );
                    }
                }
                let secs = |k: &str| r.get(k).as_str().and_then(parse_duration);
                if let (Some(d), Some(m)) = (secs("default_ttl"), secs("max_ttl")) {
                    if m > 0 && d > m {
                        diags.push(
                            Diagnostic::error(
                                "default_ttl exceeds max_ttl",
                                format!(
                                    "default_ttl ({d}s) must not be longer than max_ttl ({m}s)."
                                ),
                            )
                            .at(at.attr("default_ttl")),
                        );
                    }
                }
            }
        }
        diags
    }

    async fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a ProviderData>,
        prior: &'a Value,
        planned: &'a mut Value,
        diags: &'a mut Diags,
    ) {
        // A mount of another engine is reported at plan time, before anything is written.
        let (Some(ctx), true) = (ctx, prior.is_null()) else {
            return;
        };
        let Some(mount) = planned.get("mount").as_str().map(str::to_string) else {
            return;
        };
        let Ok(vault) = ctx.vault() else { return };
        if let Ok(mounts) = vault.list_mounts().await {
            if let Err(problem) = check_engine_mount(&mounts, &mount, ENGINE, "mount") {
                diags.push(problem);
            }
        }
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: VaultDatabaseSecretsModel,
    ) -> Result<VaultDatabaseSecretsModel, Diags> {
        let vault = ctx.vault()?;
        let mount = mount_of(&plan);
        let name = plan
            .db_connection
            .as_ref()
            .and_then(|c| c.name.clone())
            .unwrap_or_default();
        let mounts = vault
            .list_mounts()
            .await
            .map_err(fail("read the mount table"))?;
        if let Err(problem) = check_engine_mount(&mounts, &mount, ENGINE, "mount") {
            return Err(problem.into());
        }
        let mount_created = !mounts.contains_key(&format!("{mount}/"));
        if mount_created {
            let mut request = MountRequest::new(ENGINE);
            request.description = Some(format!("Managed by Terraform ({TYPE})"));
            vault.enable_mount(&mount, &request).await.map_err(|e| {
                diag_at(
                    "enable the database mount",
                    &e,
                    AttributePath::root("mount"),
                )
            })?;
        }
        let mut done = VaultDatabaseSecretsModel {
            id: Some(format!("{mount}/{name}")),
            mount: Some(mount.clone()),
            mount_created: Some(mount_created),
            db_connection: None,
            role: Vec::new(),
        };
        if let Err(mut diags) = Self::write_all(vault, &plan, &mut done).await {
            // Undo a mount we made (that drops everything in it); otherwise record what exists.
            if mount_created {
                match vault.disable_mount(&mount).await {
                    Ok(()) => return Err(diags),
                    Err(e) => diags.push(diag("disable the mount after the failed create", &e)),
                }
            }
            if done.db_connection.is_none() && !mount_created {
                return Err(diags);
            }
            return Err(diags.with_partial_state(&done));
        }
        Ok(VaultDatabaseSecretsModel {
            id: done.id,
            mount_created: Some(mount_created),
            mount: Some(mount),
            db_connection: plan.db_connection.map(|c| ConnectionModel {
                password_wo: None,
                ..c
            }),
            role: plan.role,
        })
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: VaultDatabaseSecretsModel,
    ) -> Result<Option<VaultDatabaseSecretsModel>, Diags> {
        let vault = ctx.vault()?;
        let mount = mount_of(&state);
        let prior = state.db_connection.clone().unwrap_or_default();
        let name = prior.name.clone().unwrap_or_default();
        let action = "read stack_vault_database_secrets";
        match vault.read_mount(&mount).await.map_err(fail(action))? {
            Some(m) if m.mount_type == ENGINE => {}
            _ => return Ok(None),
        }
        let mount_created = state.mount_created.unwrap_or(false);
        let remote: Option<DatabaseConnection> = vault
            .read_database_connection(&mount, &name)
            .await
            .map_err(fail(action))?;
        // Without its connection the resource is gone, unless it owns the mount: then it stays, so
        // the mount is not forgotten, and the plan re-creates the connection.
        if remote.is_none() && !mount_created {
            return Ok(None);
        }
        let mut roles = Vec::new();
        let mut names = vault
            .list_database_roles(&mount)
            .await
            .map_err(fail(action))?;
        // Keep the order of the prior state; roles found only remotely (import, drift) go last.
        let known = role_names(&state.role);
        names.sort_by_key(|n| {
            (
                known.iter().position(|k| k == n).unwrap_or(usize::MAX),
                n.clone(),
            )
        });
        for role in names {
            let allowed = remote.as_ref().is_none_or(|c| c.allows(&role));
            if !allowed {
                // A role the connection refuses cannot issue anything: plan it as missing.
                continue;
            }
            let Some(r) = vault
                .read_database_role(&mount, &role)
                .await
                .map_err(fail(action))?
            else {
                continue;
            };
            if r.db_name != name {
                continue;
            }
            let prior_role = state.role.iter().find(|p| p.name.as_deref() == Some(&role));
            roles.push(role_from_remote(&role, r, prior_role));
        }
        let connection = remote.map(|c| ConnectionModel {
            name: Some(name.clone()),
            plugin: Some(plugin_short_name(&c.plugin_name)),
            connection_url: Some(c.connection_details.connection_url),
            username: c
                .connection_details
                .username
                .filter(|u| !u.is_empty() || prior.username.is_some()),
            password_wo: None,
            password_wo_version: prior.password_wo_version,
            verify_connection: Some(prior.verify_connection.unwrap_or(true)),
            rotate_root: Some(prior.rotate_root.unwrap_or(false)),
        });
        Ok(Some(VaultDatabaseSecretsModel {
            id: Some(format!("{mount}/{name}")),
            mount: Some(mount),
            mount_created: Some(mount_created),
            db_connection: connection,
            role: roles,
        }))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        prior: VaultDatabaseSecretsModel,
        plan: VaultDatabaseSecretsModel,
    ) -> Result<VaultDatabaseSecretsModel, Diags> {
        let vault = ctx.vault()?;
        let mount = mount_of(&plan);
        let conn = plan.db_connection.clone().unwrap_or_default();
        let name = conn.name.clone().unwrap_or_default();
        let old = prior.db_connection.clone();
        let send_password = old
            .as_ref()
            .is_none_or(|o| o.password_wo_version != conn.password_wo_version);
        let changed = match &old {
            None => true,
            Some(o) => {
                o.plugin != conn.plugin
                    || o.connection_url != conn.connection_url
                    || o.username != conn.username
                    || o.verify_connection != conn.verify_connection
                    || send_password
                    || role_names(&prior.role) != role_names(&plan.role)
            }
        };
        if changed {
            if let (true, Some(pw)) = (send_password, &conn.password_wo) {
                tf_framework::log::register_secret(pw);
            }
            vault
                .write_database_connection(
                    &mount,
                    &name,
                    &Self::connection_request(&conn, &plan.role, send_password),
                )
                .await
                .map_err(|e| {
                    diag_at(
                        "update the database connection",
                        &e,
                        AttributePath::root("db_connection"),
                    )
                })?;
        }
        for (i, r) in plan.role.iter().enumerate() {
            if prior.role.iter().any(|p| p == r) {
                continue;
            }
            let role = r.name.clone().unwrap_or_default();
            vault
                .write_database_role(&mount, &role, &role_request(&name, r))
                .await
                .map_err(|e| {
                    diag_at(
                        "update a database role",
                        &e,
                        AttributePath::root("role").index(i),
                    )
                })?;
        }
        let keep = role_names(&plan.role);
        for gone in role_names(&prior.role).iter().filter(|n| !keep.contains(n)) {
            Self::remove_role(vault, &mount, gone).await?;
        }
        let was_rotating = old.as_ref().and_then(|o| o.rotate_root) == Some(true);
        if conn.rotate_root == Some(true) && (send_password || !was_rotating) {
            vault
                .rotate_database_root(&mount, &name)
                .await
                .map_err(|e| {
                    diag_at(
                        "rotate the root credentials",
                        &e,
                        AttributePath::root("db_connection").attr("rotate_root"),
                    )
                })?;
        }
        Ok(VaultDatabaseSecretsModel {
            id: Some(format!("{mount}/{name}")),
            mount: Some(mount),
            mount_created: prior.mount_created.or(Some(false)),
            db_connection: Some(ConnectionModel {
                password_wo: None,
                ..conn
            }),
            role: plan.role,
        })
    }

    async fn delete(
        &self,
        ctx: &ProviderData,
        state: VaultDatabaseSecretsModel,
    ) -> Result<(), Diags> {
        let vault = ctx.vault()?;
        let mount = mount_of(&state);
        let existing = vault
            .read_mount(&mount)
            .await
            .map_err(fail("delete stack_vault_database_secrets"))?;
        // Gone, or replaced out of band by another engine that is not ours to touch.
        if existing.is_none_or(|m| m.mount_type != ENGINE) {
            return Ok(());
        }
        if state.mount_created == Some(true) {
            // Disabling revokes every lease while the connection still exists, then drops it all.
            return vault
                .disable_mount(&mount)
                .await
                .map_err(fail("disable the database mount"));
        }
        for role in role_names(&state.role) {
            Self::remove_role(vault, &mount, &role).await?;
        }
        let name = state.db_connection.and_then(|c| c.name).unwrap_or_default();
        vault
            .delete_database_connection(&mount, &name)
            .await
            .map_err(fail("delete the database connection"))
    }

    fn import(id: &str) -> Result<VaultDatabaseSecretsModel, Diags> {
        let parts = id.rsplit_once('/').filter(|(m, n)| {
            !m.is_empty() && !n.is_empty() && !m.starts_with('/') && !m.contains("//")
        });
        let Some((mount, name)) = parts else {
            return Err(Diagnostic::error(
                "Invalid import ID",
                format!("{id:?} is not `<mount>/<connection name>`, e.g. `database/postgres`."),
            )
            .into());
        };
        Ok(VaultDatabaseSecretsModel {
            id: Some(id.to_string()),
            mount: Some(mount.to_string()),
            mount_created: Some(false),
            db_connection: Some(ConnectionModel {
                name: Some(name.to_string()),
                ..ConnectionModel::default()
            }),
            role: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_vault_rules() {
        assert!(check_name(&Value::from("ro")).is_ok());
        assert!(check_name(&Value::from("app.read-only_1")).is_ok());
        for bad in ["", "a/b", "-x", "x.", "a b"] {
            assert!(check_name(&Value::from(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn literal_passwords_in_urls_are_refused() {
        let ok = "postgresql://{{username}}:{{password}}@127.0.0.1:5432/app?sslmode=disable";
        assert!(check_connection_url(&Value::from(ok)).is_ok());
        assert!(check_connection_url(&Value::from("postgresql://db:5432/app")).is_ok());
        assert!(check_connection_url(&Value::from("postgresql://{{username}}@db/app")).is_ok());
        assert!(check_connection_url(&Value::from("postgresql://admin:hunter2@db/app")).is_err());
        assert!(check_connection_url(&Value::from("host=db user=x password=hunter2")).is_err());
        assert!(check_connection_url(&Value::from("host=db password={{password}}")).is_ok());
    }

    #[test]
    fn ttls_keep_their_spelling() {
        assert_eq!(read_ttl(3600, Some(&"60m".to_string())), Some("60m".into()));
        assert_eq!(read_ttl(7200, Some(&"60m".to_string())), Some("2h".into()));
        assert_eq!(read_ttl(0, None), None);
        assert_eq!(read_ttl(0, Some(&"0".to_string())), Some("0".into()));
        assert_eq!(read_ttl(5400, None), Some("1h30m".into()));
        assert_eq!(format_duration(90), "1m30s");
        assert!(same_duration(&Value::from("1h"), &Value::from("3600")));
    }

    #[test]
    fn validate_catches_ttl_order_and_duplicates() {
        let role = |name: &str, d: &str, m: &str| {
            Value::object([
                ("name", Value::from(name)),
                ("default_ttl", Value::from(d)),
                ("max_ttl", Value::from(m)),
            ])
        };
        let config = Value::object([
            (
                "db_connection",
                Value::object([("name", Value::from("pg"))]),
            ),
            (
                "role",
                Value::List(vec![role("ro", "3h", "1h"), role("ro", "1h", "2h")]),
            ),
        ]);
        let diags = VaultDatabaseSecrets::validate(&config);
        let text = format!("{diags:?}");
        assert!(text.contains("default_ttl exceeds max_ttl"), "{text}");
        assert!(text.contains("Duplicate role"), "{text}");
        assert!(
            VaultDatabaseSecrets::validate(&Value::object([("role", Value::List(vec![]))]))
                .has_errors()
        );
    }

    #[test]
    fn import_ids() {
        let m = VaultDatabaseSecrets::import("team/db/pg").expect("valid");
        assert_eq!(m.mount.as_deref(), Some("team/db"));
        assert_eq!(m.db_connection.and_then(|c| c.name).as_deref(), Some("pg"));
        for bad in ["pg", "/pg", "db/", ""] {
            assert!(VaultDatabaseSecrets::import(bad).is_err(), "{bad:?}");
        }
    }
}
