//! Leases of dynamic secrets: `sys/leases` (renew, revoke, lookup, list).
//!
//! Measured against OpenBao 2.7: revoking an unknown lease answers 204;
//! renewing one answers 400 `lease not found`; looking one up answers 400
//! `invalid lease`; a renewal past the role's `max_ttl` succeeds with a
//! shorter `lease_duration` and a warning. Lease IDs are not secrets, but
//! they are only ever sent in bodies, never in URLs.

use serde::{Deserialize, Serialize};

use super::VaultClient;
use crate::error::Error;
use crate::http::Method;

/// The lease after a renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewedLease {
    /// The lease ID (unchanged).
    #[serde(default)]
    pub lease_id: String,
    /// Whether it can be renewed again.
    #[serde(default)]
    pub renewable: bool,
    /// Seconds until it now expires (capped by the role's `max_ttl`).
    #[serde(default)]
    pub lease_duration: u64,
}

/// A lease as reported by `sys/leases/lookup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// The lease ID.
    #[serde(default)]
    pub id: String,
    /// RFC 3339 issue time.
    #[serde(default)]
    pub issue_time: String,
    /// RFC 3339 expiry time.
    #[serde(default)]
    pub expire_time: Option<String>,
    /// RFC 3339 time of the last renewal, if any.
    #[serde(default)]
    pub last_renewal: Option<String>,
    /// Whether the lease can be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// Seconds left.
    #[serde(default)]
    pub ttl: i64,
}

#[derive(Serialize)]
struct LeaseBody<'a> {
    lease_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    increment: Option<u64>,
}

impl VaultClient {
    /// Renews a lease, asking for `increment` more seconds (`None`: the role's default).
    ///
    /// `POST /v1/sys/leases/renew` with `{"lease_id", "increment"}` —
    /// <https://openbao.org/api-docs/system/leases/#renew-lease>
    pub async fn renew_lease(
        &self,
        lease_id: &str,
        increment: Option<u64>,
    ) -> Result<RenewedLease, Error> {
        self.request(Method::Post, "sys/leases/renew")
            .json(&LeaseBody {
                lease_id,
                increment,
            })
            .send()
            .await?
            .json()
    }

    /// Revokes a lease and waits for the backend to drop the credentials
    /// (`sync` defaults to true in the server code). An unknown lease answers 204 too.
    ///
    /// `POST /v1/sys/leases/revoke` with `{"lease_id"}` —
    /// <https://openbao.org/api-docs/system/leases/#revoke-lease>
    pub async fn revoke_lease(&self, lease_id: &str) -> Result<(), Error> {
        self.request(Method::Post, "sys/leases/revoke")
            .json(&LeaseBody {
                lease_id,
                increment: None,
            })
            .send()
            .await
            .map(drop)
    }

    /// Revokes every lease under `prefix` (e.g. `database/creds/ro`). Needs `sudo`.
    ///
    /// `POST /v1/sys/leases/revoke-prefix/:prefix` —
    /// <https://openbao.org/api-docs/system/leases/#revoke-prefix>
    pub async fn revoke_lease_prefix(&self, prefix: &str) -> Result<(), Error> {
        let prefix = prefix.trim().trim_matches('/');
        self.request(Method::Post, format!("sys/leases/revoke-prefix/{prefix}"))
            .send()
            .await
            .map(drop)
    }

    /// Looks a lease up; `None` when the server does not know it (400 `invalid lease`).
    ///
    /// `POST /v1/sys/leases/lookup` with `{"lease_id"}` —
    /// <https://openbao.org/api-docs/system/leases/#read-lease>
    pub async fn lookup_lease(&self, lease_id: &str) -> Result<Option<LeaseInfo>, Error> {
        let sent = self
            .request(Method::Post, "sys/leases/lookup")
            .json(&LeaseBody {
                lease_id,
                increment: None,
            })
            .send()
            .await;
        match sent {
            Ok(response) => response.data().map(Some),
            Err(e) if is_unknown_lease(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists the lease IDs (last segment only) directly under `prefix`,
    /// e.g. `database/creds/ro`. Needs `sudo`; empty when there are none.
    ///
    /// `LIST /v1/sys/leases/lookup/:prefix/` —
    /// <https://openbao.org/api-docs/system/leases/#list-leases>
    pub async fn list_leases(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let prefix = prefix.trim().trim_matches('/');
        self.list(&format!("sys/leases/lookup/{prefix}/")).await
    }
}

/// The server's answer for a lease it does not know.
fn is_unknown_lease(e: &Error) -> bool {
    e.status() == Some(400)
        && e.errors()
            .iter()
            .any(|m| m.contains("invalid lease") || m.contains("lease not found"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::tests::TestServer;
    use crate::vault::VaultConfig;
    use crate::RetryPolicy;

    fn client(url: &str) -> VaultClient {
        let mut config = VaultConfig::new(url).with_token("s.TOKEN");
        config.retry = RetryPolicy::none();
        VaultClient::new(config).unwrap()
    }

    #[tokio::test]
    async fn renew_sends_the_lease_in_the_body() {
        let server = TestServer::start(vec![(
            200,
            r#"{"lease_id":"database/creds/ro/abc","renewable":true,"lease_duration":3,"data":null,"warnings":["TTL capped"]}"#,
        )])
        .await;
        let lease = client(&server.url())
            .renew_lease("database/creds/ro/abc", Some(60))
            .await
            .unwrap();
        assert_eq!(lease.lease_duration, 3);
        let seen = server.seen();
        assert_eq!(
            (seen[0].method.as_str(), seen[0].target.as_str()),
            ("POST", "/v1/sys/leases/renew")
        );
        let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"lease_id": "database/creds/ro/abc", "increment": 60})
        );
    }

    #[tokio::test]
    async fn unknown_lease_lookup_is_none() {
        let server = TestServer::start(vec![
            (400, r#"{"errors":["invalid lease"]}"#),
            (
                200,
                r#"{"data":{"id":"database/creds/ro/abc","issue_time":"2026-01-01T00:00:00Z","expire_time":"2026-01-01T01:00:00Z","last_renewal":null,"renewable":true,"ttl":3599}}"#,
            ),
        ])
        .await;
        let c = client(&server.url());
        assert!(c.lookup_lease("x").await.unwrap().is_none());
        let info = c.lookup_lease("database/creds/ro/abc").await.unwrap();
        assert_eq!(info.map(|i| i.ttl), Some(3599));
    }

    #[tokio::test]
    async fn revoke_and_list_paths() {
        let server =
            TestServer::start(vec![(204, ""), (200, r#"{"data":{"keys":["abc"]}}"#)]).await;
        let c = client(&server.url());
        c.revoke_lease("database/creds/ro/abc").await.unwrap();
        assert_eq!(
            c.list_leases("database/creds/ro").await.unwrap(),
            vec!["abc"]
        );
        let seen = server.seen();
        assert_eq!(seen[0].target, "/v1/sys/leases/revoke");
        assert_eq!(
            seen[1].target,
            "/v1/sys/leases/lookup/database/creds/ro/?list=true"
        );
    }
}
