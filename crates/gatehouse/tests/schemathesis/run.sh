#!/usr/bin/env bash
# Generated API cases (issue #18): schemathesis against the admin API's OpenAPI document.
#
#   crates/gatehouse/tests/schemathesis/run.sh [sqlite|postgres] [--seed N] [--max-examples N]
#                                               [--max-time S] [--min-cases N]
#                                               [-- extra schemathesis options]
#
# Starts the built `target/debug/gatehouse` (GATEHOUSE_BIN overrides) on a fresh data
# directory — SQLite in it, or a fresh PostgreSQL database on GATEHOUSE_SCHEMATHESIS_PG
# (default postgres://postgres@127.0.0.1:5432/postgres; created here and dropped afterwards) —
# registers a client-credentials client with `gatehouse:admin` and the `admin` role, takes its token and runs every
# phase (examples, coverage, fuzzing, stateful through the document's links), positive and
# negative data, with the conformance checks. Exits non-zero on any failure; prints the count
# of cases, and fails when fewer than --min-cases ran. The admin rate limit is raised for the run.
set -euo pipefail

backend=sqlite
seed=18
max_examples=150
max_time=""
min_cases=0
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        sqlite|postgres) backend=$1 ;;
        --seed) seed=$2; shift ;;
        --max-examples) max_examples=$2; shift ;;
        --max-time) max_time=$2; shift ;;
        --min-cases) min_cases=$2; shift ;;
        --) shift; extra=("$@"); break ;;
        *) echo "usage: $0 [sqlite|postgres] [--seed N] [--max-examples N] [--max-time S] [--min-cases N] [-- options]" >&2; exit 2 ;;
    esac
    shift
done

root=$(cd "$(dirname "$0")/../../../.." && pwd)
bin=${GATEHOUSE_BIN:-$root/target/debug/gatehouse}
[ -x "$bin" ] || { echo "no $bin: run cargo build -p gatehouse first" >&2; exit 2; }
command -v schemathesis >/dev/null || { echo "schemathesis missing: pip install schemathesis" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-schemathesis-XXXXXX")
server_pid=""
pg_db=""
pg_admin=${GATEHOUSE_SCHEMATHESIS_PG:-postgres://postgres@127.0.0.1:5432/postgres}
cleanup() {
    status=$?
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$pg_db" ]; then
        psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null || true
    fi
    if [ "$status" -eq 0 ]; then rm -rf "$work"; else echo "kept $work (server.log, report/)" >&2; fi
    exit "$status"
}
trap cleanup EXIT INT TERM

export GATEHOUSE_DATA_DIR=$work/data
case "$backend" in
    sqlite) export GATEHOUSE_DATABASE_URL="sqlite://$work/data/gatehouse.db" ;;
    postgres)
        pg_db="gatehouse_schemathesis_$(date +%s)_$$"
        psql -q "$pg_admin" -c "CREATE DATABASE $pg_db" >/dev/null
        export GATEHOUSE_DATABASE_URL="${pg_admin%/*}/$pg_db"
        ;;
esac
# Every case comes from one address: the per-address admin limit is set out of reach.
export GATEHOUSE_RATE_LIMITS__ADMIN_IP__REQUESTS=100000000
export GATEHOUSE_RATE_LIMITS__ADMIN_IP__PERIOD=60
export GATEHOUSE_PASSWORD__POOL_SIZE=1

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
cd "$work"
"$bin" serve --bind "127.0.0.1:$port" --issuer "$base" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

client=$("$bin" clients create --name schemathesis --grant-type client_credentials \
    --scope gatehouse:admin --access-token-lifetime 3600 --json)
read -r client_id client_secret < <(python3 -c \
    'import json, sys; c = json.load(sys.stdin); print(c["client_id"], c["client_secret"])' <<<"$client")
# The `admin` role as well as the scope: a generated PATCH of the client's own scopes would
# otherwise take its admin access away for the rest of the run (a scope counts only while the
# client is registered for it).
"$bin" roles grant admin --client "$client_id" >/dev/null
token=$(curl -fsS -u "$client_id:$client_secret" -d grant_type=client_credentials "$base/oauth2/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

echo "schemathesis $(schemathesis --version | awk '{print $NF}') on $backend, seed $seed, $base"
args=(
    "$base/admin/v1/openapi.json"
    --header "Authorization: Bearer $token"
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection,use_after_free,ensure_resource_availability
    --phases examples,coverage,fuzzing,stateful
    --mode all
    --max-examples "$max_examples"
    --seed "$seed"
    --workers 1
    --request-timeout 30
    --suppress-health-check all
    --no-color
    --report junit,ndjson
    --report-dir "$work/report"
)
[ -n "$max_time" ] && args+=(--max-time "$max_time")
started=$(date +%s)
set +e
schemathesis run "${args[@]}" "${extra[@]}" | tee "$work/schemathesis.log"
rc=${PIPESTATUS[0]}
set -e
cases=$(grep -Eo '[0-9]+ generated' "$work/schemathesis.log" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
echo "$backend: $cases cases in $(( $(date +%s) - started ))s (schemathesis exit $rc)"
if [ "$rc" -eq 0 ] && [ "$cases" -lt "$min_cases" ]; then
    echo "only $cases cases, fewer than --min-cases $min_cases" >&2
    rc=1
fi
if [ "$rc" -ne 0 ]; then
    echo "schemathesis failed ($rc); server log: $work/server.log" >&2
    grep -E 'ERROR|panicked' "$work/server.log" | tail -20 >&2 || true
fi
exit "$rc"
