//! Checks shared by resources that mount a secrets engine: the path must be free, or already hold
//! an engine of the right type, and must not overlap another mount (Vault refuses nesting).

use std::collections::HashMap;

use stack_core::vault::MountInfo;
use tf_framework::{AttributePath, Diagnostic};

/// `Ok(true)`: `engine` is already mounted at `path`; `Ok(false)`: the path is free;
/// `Err`: another engine is there or the path overlaps a mount, reported on `attr`.
pub fn check_engine_mount(
    mounts: &HashMap<String, MountInfo>,
    path: &str,
    engine: &str,
    attr: &str,
) -> Result<bool, Diagnostic> {
    let key = format!("{path}/");
    let label = if engine == "pki" { "PKI" } else { engine };
    if let Some(m) = mounts.get(&key) {
        if m.mount_type != engine {
            return Err(Diagnostic::error(
                format!("Mount is not a {label} engine"),
                format!(
                    "A {:?} secrets engine is already mounted at {path:?}. `{attr}` needs a free path or an existing `{engine}` engine; choose another path or remove that mount.",
                    m.mount_type
                ),
            )
            .at(AttributePath::root(attr)));
        }
        return Ok(true);
    }
    for (other, m) in mounts {
        if key.starts_with(other.as_str()) || other.starts_with(&key) {
            return Err(Diagnostic::error(
                "Mount path overlaps another mount",
                format!(
                    "{path:?} overlaps the {:?} engine mounted at {:?}; mounts cannot be nested. Choose another path for `{attr}`.",
                    m.mount_type,
                    other.trim_end_matches('/')
                ),
            )
            .at(AttributePath::root(attr)));
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_mount_checks() {
        let info = |t: &str| MountInfo {
            mount_type: t.into(),
            ..MountInfo::default()
        };
        let mounts = HashMap::from([
            ("secret/".to_owned(), info("kv")),
            ("pki/".to_owned(), info("pki")),
        ]);
        let e = check_engine_mount(&mounts, "secret", "pki", "root_path").expect_err("kv");
        assert!(e.detail.contains("\"kv\""), "{}", e.detail);
        assert_eq!(e.attribute, Some(AttributePath::root("root_path")));
        assert_eq!(
            check_engine_mount(&mounts, "pki", "pki", "root_path"),
            Ok(true)
        );
        assert_eq!(
            check_engine_mount(&mounts, "other", "pki", "root_path"),
            Ok(false)
        );
        assert!(check_engine_mount(&mounts, "secret/pki", "pki", "root_path").is_err());
        assert!(check_engine_mount(&mounts, "pki", "database", "mount").is_err());
    }
}
