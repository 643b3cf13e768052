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

step "build (debug workspace, release provider)"
cargo build --workspace --locked
cargo build --release --locked

step "docs are up to date"
cargo xtask docs --check

step "examples are terraform fmt clean"
"$TF" fmt -check -recursive -diff examples

step ".goreleaser.yml against GoReleaser's schema"
"$PY" scripts/validate-goreleaser.py

step "benchmark: provider start-up and memory"
# The harness is built like the tests (dev profile); what it measures is the release binary.
cargo bench --locked --profile dev -p terraform-provider-stack --bench startup

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
