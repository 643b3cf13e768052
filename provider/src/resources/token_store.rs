//! Tokens kept in Vault KV v2 (keys `token` and `accessor_id`): the layout the provider's
//! `token_vault_path` reads. Shared by the ACL bootstrap and token resources.

use serde_json::{Map, Value};
use stack_core::vault::kv2::WriteSecretRequest;
use stack_core::vault::VaultClient;
use stack_core::Error;

/// Writes a new version holding `token` and `accessor_id`.
pub async fn store(
    vault: &VaultClient,
    mount: &str,
    path: &str,
    token: &str,
    accessor: &str,
) -> Result<u64, Error> {
    let mut data = Map::new();
    data.insert("token".into(), Value::String(token.into()));
    data.insert("accessor_id".into(), Value::String(accessor.into()));
    let version = vault
        .kv2_write(
            mount,
            path,
            &WriteSecretRequest {
                options: None,
                data,
            },
        )
        .await?;
    Ok(version.version)
}

/// The `token` stored at `mount/path`, if any. Never log the result.
pub async fn stored_token(
    vault: &VaultClient,
    mount: &str,
    path: &str,
) -> Result<Option<String>, Error> {
    Ok(vault
        .kv2_read(mount, path, None)
        .await?
        .and_then(|s| s.data)
        .and_then(|d| d.get("token").and_then(Value::as_str).map(str::to_string)))
}

/// `<mount>/<path>` the way `vault kv get` names it.
pub fn kv_name(mount: &str, path: &str) -> String {
    format!("{}/{}", mount.trim_matches('/'), path.trim_matches('/'))
}
