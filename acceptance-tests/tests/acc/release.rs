//! The release zip, installed the way users install providers: `terraform init` from a
//! `filesystem_mirror` (packed layout), checked against the lock file's hash, then `plan`.

use std::path::PathBuf;
use std::process::Command;

use stack_acceptance_tests::{random_name, tools, Bao, PlanOutcome, TfWorkdir};

use crate::common::PROVIDER;

/// Runs `xtask` with `args` in the repository and returns its stdout; fails the test on error.
fn xtask(args: &[&std::ffi::OsStr]) -> String {
    let bin = tools::provider_dir().join("xtask");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` first",
        bin.display()
    );
    let out = Command::new(&bin)
        .args(args)
        .current_dir(tools::repo_root())
        .output()
        .expect("run xtask");
    assert!(
        out.status.success(),
        "xtask {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The binary `cargo xtask package` zips (`cargo xtask artifact` builds it; test.sh does).
fn release_binary() -> PathBuf {
    let p = PathBuf::from(xtask(&["artifact".as_ref(), "--no-build".as_ref()]).trim());
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask artifact` first",
        p.display()
    );
    p
}

/// On Linux the artifact runs without the dynamic loader (start-up; see xtask/src/package.rs).
#[cfg(target_os = "linux")]
#[test]
fn release_artifact_is_static() {
    let out = Command::new("readelf")
        .args(["--program-headers", "--wide"])
        .arg(release_binary())
        .output()
        .expect("run readelf");
    let headers = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && headers.contains("LOAD"),
        "{headers}"
    );
    assert!(!headers.contains("INTERP"), "{headers}");
}

#[test]
fn release_zip_installs_from_filesystem_mirror() {
    let bao = Bao::shared();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dist = tmp.path().join("dist");
    let binary = release_binary();
    xtask(&[
        "package".as_ref(),
        "--version".as_ref(),
        "0.1.0".as_ref(),
        "--binary".as_ref(),
        binary.as_os_str(),
        "--out".as_ref(),
        dist.as_os_str(),
    ]);

    let zip = "terraform-provider-stack_0.1.0_linux_amd64.zip";
    let sums = std::fs::read_to_string(dist.join("terraform-provider-stack_0.1.0_SHA256SUMS"))
        .expect("SHA256SUMS");
    assert!(
        sums.contains(zip) && sums.contains("terraform-provider-stack_0.1.0_manifest.json"),
        "{sums}"
    );
    let check = Command::new("sha256sum")
        .args([
            "--check",
            "--strict",
            "terraform-provider-stack_0.1.0_SHA256SUMS",
        ])
        .current_dir(&dist)
        .output()
        .expect("sha256sum");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dist.join("terraform-provider-stack_0.1.0_manifest.json"))
            .expect("manifest"),
    )
    .expect("manifest json");
    assert_eq!(
        manifest["metadata"]["protocol_versions"],
        serde_json::json!(["6.0"])
    );

    // Packed mirror layout: HOST/NAMESPACE/TYPE/terraform-provider-TYPE_VERSION_OS_ARCH.zip
    let mirror = tmp.path().join("mirror");
    let pkg_dir = mirror.join("registry.terraform.io/stack/stack");
    std::fs::create_dir_all(&pkg_dir).expect("mirror dir");
    std::fs::copy(dist.join(zip), pkg_dir.join(zip)).expect("copy zip");
    let cli = tmp.path().join("mirror.tfrc");
    std::fs::write(
        &cli,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/stack/stack\"]\n  }}\n  direct {{\n    exclude = [\"registry.terraform.io/stack/stack\"]\n  }}\n}}\n",
            mirror.display()
        ),
    )
    .expect("cli config");

    let name = random_name("acc-mirror");
    let tf = TfWorkdir::new()
        .envs(bao.env())
        .env("TF_CLI_CONFIG_FILE", &cli);
    tf.write_config(&(PROVIDER.replace(
        "stack = { source = \"stack/stack\" }",
        "stack = {\n      source  = \"stack/stack\"\n      version = \"0.1.0\"\n    }",
    ) + &format!(
        "resource \"stack_vault_policy\" \"p\" {{\n  name   = \"{name}\"\n  policy = \"path \\\"a/*\\\" {{ capabilities = [\\\"read\\\"] }}\"\n}}\n"
    )));
    let init = tf.init();
    assert!(
        init.stdout.contains("Installing stack/stack v0.1.0"),
        "{}",
        init.stdout
    );
    let lock = std::fs::read_to_string(tf.path().join(".terraform.lock.hcl")).expect("lock file");
    assert!(
        lock.contains("registry.terraform.io/stack/stack") && lock.contains("h1:"),
        "{lock}"
    );
    match tf.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to add"), "{out}"),
        PlanOutcome::NoChanges => panic!("plan must show the policy to create"),
    }
}
