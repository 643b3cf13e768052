//! `stack_vault_database_credentials`: dynamic database credentials that live only while
//! Terraform runs: issued on open, renewed before their lease runs out, revoked on close.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tf_framework::schema::validators::clean_path;
use tf_framework::{Attribute, Block, Diagnostic, Diags, EphemeralResource, Opened, Schema};

use crate::errors::{diag_at, fail};
use crate::ProviderData;

/// The ephemeral resource.
pub struct VaultDatabaseCredentials;

/// Configuration and result of `stack_vault_database_credentials`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct VaultDatabaseCredentialsModel {
    /// Mount path of the database engine.
    pub mount: Option<String>,
    /// Role to issue credentials for.
    pub role: Option<String>,
    /// Generated user name.
    pub username: Option<String>,
    /// Generated password.
    pub password: Option<String>,
    /// Lease ID.
    pub lease_id: Option<String>,
    /// Lease duration in seconds.
    pub lease_duration: Option<i64>,
}

/// What `renew` and `close` need, kept by Terraform between calls (no secret in it).
#[derive(Serialize, Deserialize)]
struct Lease {
    lease_id: String,
    /// The TTL asked for on every renewal: the lease's first duration.
    increment: u64,
}

/// Renew when two thirds of the lease have passed, so a slow renewal still lands in time.
fn renew_at(renewable: bool, secs: u64) -> Option<SystemTime> {
    (renewable && secs > 0).then(|| SystemTime::now() + Duration::from_secs((secs * 2 / 3).max(1)))
}

fn private_lease(private: &[u8]) -> Result<Lease, Diags> {
    serde_json::from_slice(private).map_err(|e| {
        Diags::from(Diagnostic::error(
            "Provider internal error",
            format!("the lease data Terraform handed back is not valid: {e}"),
        ))
    })
}

impl EphemeralResource for VaultDatabaseCredentials {
    type Ctx = ProviderData;
    type Model = VaultDatabaseCredentialsModel;
    const TYPE_NAME: &'static str = "stack_vault_database_credentials";

    fn schema() -> Schema {
        Schema::new(
            Block::new("Dynamic database credentials from a Vault/OpenBao database secrets engine role, e.g. one managed by `stack_vault_database_secrets`. Nothing is stored in state: the credentials are issued when Terraform needs them, their lease is renewed while Terraform runs, and it is revoked (the database user dropped) when Terraform is done with them. Requires Terraform 1.10 or later.")
                .attr(Attribute::string("mount").optional().computed().validate(clean_path()).doc("Mount path of the database secrets engine. Defaults to `database`."))
                .attr(Attribute::string("role").required().validate(|v| match v.as_str() {
                    Some(s) if s.is_empty() || s.contains('/') => Err(("Invalid role name".into(), format!("{s:?} must be non-empty and contain no \"/\"."))),
                    _ => Ok(()),
                }).doc("Role to issue credentials for."))
                .attr(Attribute::string("username").computed().doc("The generated database user."))
                .attr(Attribute::string("password").computed().sensitive().doc("The generated password."))
                .attr(Attribute::string("lease_id").computed().doc("Vault lease of the credentials; renewed while Terraform runs and revoked when it closes the resource."))
                .attr(Attribute::number("lease_duration").computed().doc("Seconds the lease was valid for when issued.")),
        )
    }

    async fn open(
        &self,
        ctx: &ProviderData,
        config: VaultDatabaseCredentialsModel,
    ) -> Result<Opened<VaultDatabaseCredentialsModel>, Diags> {
        let mount = config
            .mount
            .clone()
            .unwrap_or_else(|| "database".to_string());
        let role = config.role.clone().unwrap_or_default();
        let creds = ctx
            .vault()?
            .generate_database_credentials(&mount, &role)
            .await
            .map_err(|e| {
                let at = tf_framework::AttributePath::root("role");
                Diags::from(diag_at("issue database credentials", &e, at))
            })?;
        tf_framework::log::register_secret(creds.password.expose());
        let private = serde_json::to_vec(&Lease {
            lease_id: creds.lease_id.clone(),
            increment: creds.lease_duration,
        })
        .map_err(|e| Diags::from(Diagnostic::error("Provider internal error", e.to_string())))?;
        Ok(Opened {
            renew_at: renew_at(creds.renewable, creds.lease_duration),
            result: VaultDatabaseCredentialsModel {
                mount: Some(mount),
                role: Some(role),
                username: Some(creds.username),
                password: Some(creds.password.expose().to_string()),
                lease_id: Some(creds.lease_id),
                lease_duration: i64::try_from(creds.lease_duration).ok(),
            },
            private,
        })
    }

    async fn renew(
        &self,
        ctx: &ProviderData,
        private: Vec<u8>,
    ) -> Result<(Option<SystemTime>, Vec<u8>), Diags> {
        let lease = private_lease(&private)?;
        let renewed = ctx
            .vault()?
            .renew_lease(&lease.lease_id, Some(lease.increment))
            .await
            .map_err(fail("renew the database credentials lease"))?;
        // Past max_ttl the lease stops growing; Terraform then simply stops renewing.
        Ok((renew_at(renewed.renewable, renewed.lease_duration), private))
    }

    async fn close(&self, ctx: &ProviderData, private: Vec<u8>) -> Result<(), Diags> {
        let lease = private_lease(&private)?;
        if lease.lease_id.is_empty() {
            return Ok(());
        }
        ctx.vault()?
            .revoke_lease(&lease.lease_id)
            .await
            .map_err(fail("revoke the database credentials lease"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_at_two_thirds_of_a_renewable_lease() {
        assert!(renew_at(false, 60).is_none());
        assert!(renew_at(true, 0).is_none());
        let at = renew_at(true, 60).expect("renewable");
        let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
        assert!(
            wait <= Duration::from_secs(40) && wait > Duration::from_secs(38),
            "{wait:?}"
        );
        assert!(renew_at(true, 1).is_some());
    }

    #[test]
    fn private_data_round_trips_without_secrets() {
        let bytes = serde_json::to_vec(&Lease {
            lease_id: "database/creds/ro/abc".into(),
            increment: 60,
        })
        .expect("json");
        let lease = private_lease(&bytes).expect("parses");
        assert_eq!(
            (lease.lease_id.as_str(), lease.increment),
            ("database/creds/ro/abc", 60)
        );
        assert!(private_lease(b"junk").is_err());
    }

    #[test]
    fn schema_marks_the_password_sensitive() {
        let schema = VaultDatabaseCredentials::schema();
        let pw = schema.block.attribute("password").expect("password");
        assert!(pw.sensitive && pw.computed);
    }
}
