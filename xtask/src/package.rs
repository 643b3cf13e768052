//! `cargo xtask package`: the files the Terraform registry expects for one platform, as
//! GoReleaser (`.goreleaser.yml`) writes them for all platforms:
//!
//! * `terraform-provider-stack_<version>_<os>_<arch>.zip` with the executable
//!   `terraform-provider-stack_v<version>` inside,
//! * `terraform-provider-stack_<version>_manifest.json` (a copy of `terraform-registry-manifest.json`),
//! * `terraform-provider-stack_<version>_SHA256SUMS` (`<hex>  <name>` lines, sorted by name),
//! * with `--sign`, `terraform-provider-stack_<version>_SHA256SUMS.sig`, a detached GPG signature
//!   made with the key in `$GPG_FINGERPRINT` (the key registered with the registry).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::{option_value, repo_root, Result};

const PROJECT: &str = "terraform-provider-stack";

struct Options {
    version: String,
    target_dir: Option<PathBuf>,
    binary: Option<PathBuf>,
    platform: Option<String>,
    out: Option<PathBuf>,
    sign: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        version: env!("CARGO_PKG_VERSION").to_string(),
        target_dir: None,
        binary: None,
        platform: None,
        out: None,
        sign: false,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        match arg {
            "--version" => o.version = option_value(args, &mut i, arg)?,
            "--target-dir" => o.target_dir = Some(option_value(args, &mut i, arg)?.into()),
            "--binary" => o.binary = Some(option_value(args, &mut i, arg)?.into()),
            "--platform" => o.platform = Some(option_value(args, &mut i, arg)?),
            "--out" => o.out = Some(option_value(args, &mut i, arg)?.into()),
            "--sign" => o.sign = true,
            other => return Err(format!("package: unknown option {other:?}").into()),
        }
        i += 1;
    }
    let version = o
        .version
        .strip_prefix('v')
        .unwrap_or(&o.version)
        .to_string();
    let valid = !version.is_empty()
        && version.starts_with(|c: char| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if !valid {
        return Err(format!("package: {:?} is not a version such as 1.2.3", o.version).into());
    }
    o.version = version;
    Ok(o)
}

pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let root = repo_root();
    // Fail before building when signing cannot work.
    let fingerprint = if o.sign {
        Some(
            std::env::var("GPG_FINGERPRINT")
                .ok()
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .ok_or("--sign needs GPG_FINGERPRINT (the fingerprint of the signing key)")?,
        )
    } else {
        None
    };
    let platform = match &o.platform {
        Some(p) => p.clone(),
        None => host_platform()?,
    };
    let exe_suffix = if platform.starts_with("windows_") {
        ".exe"
    } else {
        ""
    };

    let binary = match &o.binary {
        Some(b) => b.clone(),
        None => build(&root, o.target_dir.as_deref())?,
    };
    let binary_bytes = fs::read(&binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    let manifest_path = root.join("terraform-registry-manifest.json");
    let manifest =
        fs::read(&manifest_path).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    serde_json::from_slice::<serde_json::Value>(&manifest)
        .map_err(|e| format!("{}: not JSON: {e}", manifest_path.display()))?;

    let out = o.out.clone().unwrap_or_else(|| root.join("dist"));
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let v = &o.version;
    let zip_name = format!("{PROJECT}_{v}_{platform}.zip");
    let manifest_name = format!("{PROJECT}_{v}_manifest.json");
    let sums_name = format!("{PROJECT}_{v}_SHA256SUMS");
    let sig_name = format!("{sums_name}.sig");

    // A signature from an earlier run would not match the new checksums.
    let sig_path = out.join(&sig_name);
    if sig_path.exists() {
        fs::remove_file(&sig_path).map_err(|e| format!("{}: {e}", sig_path.display()))?;
    }

    let zip_bytes = zip_binary(&format!("{PROJECT}_v{v}{exe_suffix}"), &binary_bytes)?;
    write_file(&out.join(&zip_name), &zip_bytes)?;
    write_file(&out.join(&manifest_name), &manifest)?;

    let mut sums = [
        (&zip_name, sha256_hex(&zip_bytes)),
        (&manifest_name, sha256_hex(&manifest)),
    ];
    sums.sort();
    let sums_text: String = sums
        .iter()
        .map(|(name, hex)| format!("{hex}  {name}\n"))
        .collect();
    write_file(&out.join(&sums_name), sums_text.as_bytes())?;

    if let Some(fingerprint) = &fingerprint {
        sign(fingerprint, &out.join(&sums_name), &sig_path)?;
    }

    println!(
        "package: {} ({} bytes)",
        binary.display(),
        binary_bytes.len()
    );
    for name in [&zip_name, &manifest_name, &sums_name] {
        println!("package: wrote {}", out.join(name).display());
    }
    if fingerprint.is_some() {
        println!("package: wrote {}", sig_path.display());
    } else {
        println!("package: not signed (pass --sign with GPG_FINGERPRINT set to sign)");
    }
    Ok(())
}

/// Extra rustc flags for the release artifact on Linux: the C runtime linked statically,
/// non-PIE. Terraform starts the provider several times per command; without the dynamic
/// loader and its libc/libm/libgcc_s mappings start-up takes about 1 ms less (2.5 -> 1.5 ms
/// on our 2-core CI machines). `cargo build --release` stays a dynamic build: `+crt-static`
/// without `--target` would also reach proc-macros, which cannot be built that way.
const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static -C relocation-model=static";

/// The target triple the release artifact is built for with [`STATIC_RUSTFLAGS`], on hosts
/// where we know how (GoReleaser builds the published Linux binaries for musl instead, see
/// `.goreleaser.yml`).
fn static_target() -> Option<&'static str> {
    if cfg!(all(
        target_os = "linux",
        target_env = "gnu",
        target_arch = "x86_64"
    )) {
        Some("x86_64-unknown-linux-gnu")
    } else if cfg!(all(
        target_os = "linux",
        target_env = "gnu",
        target_arch = "aarch64"
    )) {
        Some("aarch64-unknown-linux-gnu")
    } else {
        None
    }
}

/// Where [`build`] leaves the release artifact.
pub fn artifact_path(root: &Path, target_dir: Option<&Path>) -> PathBuf {
    let dir = match target_dir {
        Some(d) => d.to_path_buf(),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target")),
    };
    let dir = if dir.is_relative() {
        root.join(dir)
    } else {
        dir
    };
    let dir = match static_target() {
        Some(triple) => dir.join(triple),
        None => dir,
    };
    dir.join("release")
        .join(format!("{PROJECT}{}", std::env::consts::EXE_SUFFIX))
}

/// Builds the release artifact (`cargo build --release --locked -p terraform-provider-stack`,
/// statically linked on Linux) and returns its path.
pub fn build(root: &Path, target_dir: Option<&Path>) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--locked", "-p", PROJECT]);
    if let Some(dir) = target_dir {
        cmd.arg("--target-dir").arg(dir);
    }
    if let Some(triple) = static_target() {
        // With an explicit --target, RUSTFLAGS reach only the target's crates, not build
        // scripts and proc-macros. Encoded flags would take precedence over RUSTFLAGS.
        let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        if !flags.is_empty() {
            flags.push(' ');
        }
        flags.push_str(STATIC_RUSTFLAGS);
        cmd.args(["--target", triple])
            .env("RUSTFLAGS", flags)
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
    }
    eprintln!("package: running {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed ({status})").into());
    }
    let binary = artifact_path(root, target_dir);
    if static_target().is_some() {
        let bytes = fs::read(&binary).map_err(|e| format!("{}: {e}", binary.display()))?;
        if elf_is_static(&bytes) != Some(true) {
            return Err(format!("{} is not a static executable", binary.display()).into());
        }
    }
    Ok(binary)
}

/// Whether a 64-bit little-endian ELF file has no program interpreter (`PT_INTERP`), that is,
/// runs without the dynamic loader. `None` when it is not such an ELF file.
fn elf_is_static(bytes: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let phoff =
        usize::try_from(u64::from_le_bytes(bytes.get(0x20..0x28)?.try_into().ok()?)).ok()?;
    let (entry_size, count) = (usize::from(u16_at(0x36)?), usize::from(u16_at(0x38)?));
    for i in 0..count {
        if u32_at(phoff.checked_add(i.checked_mul(entry_size)?)?)? == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

/// This machine's platform in Go's names, as the registry and GoReleaser spell them.
fn host_platform() -> Result<String> {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => {
            return Err(
                format!("no registry name for architecture {other}; pass --platform").into(),
            )
        }
    };
    Ok(format!("{os}_{arch}"))
}

/// A zip holding one executable (mode 0755), with a fixed timestamp so the bytes depend only on
/// the binary.
fn zip_binary(name: &str, binary: &[u8]) -> Result<Vec<u8>> {
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o755);
    zip.start_file(name, options)?;
    zip.write_all(binary)?;
    Ok(zip.finish()?.into_inner())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// `gpg --batch --local-user $GPG_FINGERPRINT --output <sig> --detach-sign <sums>`, as the
/// `signs` section of `.goreleaser.yml` runs it.
fn sign(fingerprint: &str, sums: &Path, sig: &Path) -> Result<()> {
    let status = Command::new("gpg")
        .args(["--batch", "--local-user", fingerprint, "--output"])
        .arg(sig)
        .arg("--detach-sign")
        .arg(sums)
        .status()
        .map_err(|e| format!("cannot run gpg: {e}"))?;
    if !status.success() {
        return Err(format!("gpg failed ({status})").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_is_deterministic_and_executable() {
        let a = zip_binary("terraform-provider-stack_v1.2.3", b"\x7fELF").expect("zip");
        let b = zip_binary("terraform-provider-stack_v1.2.3", b"\x7fELF").expect("zip");
        assert_eq!(a, b);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(a)).expect("read back");
        let file = archive.by_index(0).expect("entry");
        assert_eq!(file.name(), "terraform-provider-stack_v1.2.3");
        assert_eq!(file.unix_mode().map(|m| m & 0o777), Some(0o755));
    }

    #[test]
    fn elf_interpreter_is_detected() {
        // This test binary is a normal dynamic executable on Linux.
        let me = std::env::current_exe().expect("current exe");
        let bytes = fs::read(me).expect("read self");
        if cfg!(target_os = "linux") {
            assert_eq!(elf_is_static(&bytes), Some(false));
        }
        assert_eq!(elf_is_static(b"#!/bin/sh\n"), None);
        assert_eq!(elf_is_static(b"\x7fELF\x02\x01"), None);
    }

    #[test]
    fn version_is_checked() {
        let args = |v: &str| vec!["--version".to_string(), v.to_string()];
        assert_eq!(parse(&args("v1.2.3")).expect("ok").version, "1.2.3");
        assert!(parse(&args("1.2.3-rc.1")).is_ok());
        assert!(parse(&args("../x")).is_err());
        assert!(parse(&["--version".to_string()]).is_err());
    }
}
