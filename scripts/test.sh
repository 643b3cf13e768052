#!/usr/bin/env bash
# Sets up every tool (scripts/setup-tools.sh) and runs every check and test:
# format, lints, builds, generated docs, example formatting, the GoReleaser config,
# unit, protocol and acceptance tests (real Terraform, real OpenBao), and the start-up benchmark.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
step() { printf '\n==> %s\n' "$*"; }

step "tools"
bash scripts/setup-tools.sh
TF="$ROOT/.tools/bin/terraform"
PY="$ROOT/.tools/venv/bin/python"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build (debug workspace, release provider, release artifact)"
cargo build --workspace --locked
cargo build --release --locked
# The binary `cargo xtask package` zips: statically linked on Linux (see xtask/src/package.rs).
ARTIFACT="$(cargo xtask artifact)"

step "docs are up to date"
cargo xtask docs --check

step "examples are terraform fmt clean"
"$TF" fmt -check -recursive -diff examples

step "examples/reference-architecture: terraform init + validate"
REF="$(mktemp -d)"
cp -r examples/reference-architecture/. "$REF/"
cat >"$REF.tfrc" <<TFRC
provider_installation {
  dev_overrides {
    "registry.terraform.io/stack/stack" = "$ROOT/target/release"
  }
  direct {}
}
TFRC
TF_CLI_CONFIG_FILE="$REF.tfrc" "$TF" -chdir="$REF" init -backend=false -input=false -no-color >/dev/null
TF_CLI_CONFIG_FILE="$REF.tfrc" "$TF" -chdir="$REF" validate -no-color
rm -rf "$REF" "$REF.tfrc"

step ".goreleaser.yml against GoReleaser's schema"
"$PY" scripts/validate-goreleaser.py

step "benchmark: provider start-up and memory"
# The harness is built like the tests (dev profile); what it measures is the release artifact.
STACK_PROVIDER_BIN="$ARTIFACT" cargo bench --locked --profile dev -p terraform-provider-stack --bench startup

step "benchmark: stack-devstack up to a healthy stack"
cargo bench --locked --profile dev -p stack-devstack --bench up

step "benchmarks: Nomad deployment wait (blocking queries), 50 parallel intentions"
STACK_PROVIDER_BIN="$ARTIFACT" \
  cargo bench --locked --profile dev -p stack-acceptance-tests --bench job_deploy --bench intentions

step "tests (unit, protocol, acceptance)"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1); if ($(i) ~ /^ignored/) s += $(i-1) } }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, s }' "$LOG"
exit "$status"
