//! Repository commands, run as `cargo xtask <command>`.
//!
//! * `docs [--check]`: write `docs/` (Terraform registry layout) from the provider schema and
//!   `examples/`; with `--check`, compare instead and fail when `docs/` is out of date.
//! * `package [--version X] [--target-dir DIR] [--binary PATH] [--out DIR] [--sign]`: build the
//!   release binary and write the registry release files (zip, manifest, `SHA256SUMS`, `.sig`).
//! * `artifact [--no-build] [--target-dir DIR]`: build the release binary that `package` zips
//!   (statically linked on Linux) and print its path.

mod docs;
mod package;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Errors end the command with a message on stderr and exit status 1.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  docs [--check]        generate docs/ from the provider schema and examples/;
                        --check compares instead of writing and fails if docs/ is stale
  package [options]     build the release binary and write the registry release files
      --version X       release version (default: the workspace version)
      --target-dir DIR  cargo target directory (default: $CARGO_TARGET_DIR or target/)
      --binary PATH     package this binary instead of running cargo build
      --platform OS_ARCH  platform of the binary, e.g. linux_amd64 (default: this machine's)
      --out DIR         output directory (default: dist/)
      --sign            write <name>_SHA256SUMS.sig with
                        gpg --batch --local-user $GPG_FINGERPRINT --detach-sign
  artifact [options]    build the release binary that package zips (statically
                        linked on Linux) and print its path
      --no-build        only print the path
      --target-dir DIR  cargo target directory (default: $CARGO_TARGET_DIR or target/)
  help                  print this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("docs") => docs::run(&args[1..]),
        Some("package") => package::run(&args[1..]),
        Some("artifact") => artifact(&args[1..]),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}").into()),
        None => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask artifact`: the release binary's path on stdout (cargo's output goes to stderr).
fn artifact(args: &[String]) -> Result<()> {
    let (mut build, mut target_dir) = (true, None::<PathBuf>);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--no-build" => build = false,
            "--target-dir" => target_dir = Some(option_value(args, &mut i, "--target-dir")?.into()),
            other => return Err(format!("artifact: unknown option {other:?}").into()),
        }
        i += 1;
    }
    let root = repo_root();
    let path = if build {
        package::build(&root, target_dir.as_deref())?
    } else {
        package::artifact_path(&root, target_dir.as_deref())
    };
    println!("{}", path.display());
    Ok(())
}

/// The repository root (the parent of this crate's directory).
fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Takes the value of option `name` from `args[*i + 1]`, advancing `i`.
fn option_value(args: &[String], i: &mut usize, name: &str) -> Result<String> {
    *i += 1;
    args.get(*i)
        .cloned()
        .ok_or_else(|| format!("{name} needs a value").into())
}
