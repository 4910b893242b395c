#!/usr/bin/env bash
# `vexil migrate --from sqlite:... --to postgres://...` end to end: an
# installation built through the admin API on SQLite is moved into a new
# PostgreSQL database, then a server on PostgreSQL must answer exactly what
# the SQLite one did (export, flags, tokens, the whole audit log with its ids
# and times), keep numbering after it, and refuse a second migration into
# the now non-empty database. Needs VEXIL_TEST_PG_DSN (a superuser URI;
# `make store-pg` provides one); exits 77 (skipped) without it.
# Usage: migrate_cli.sh VEXIL_BINARY
set -uo pipefail
vexil=$1
if [ -z "${VEXIL_TEST_PG_DSN:-}" ]; then
  echo "migrate_cli: VEXIL_TEST_PG_DSN is not set; skipped (make store-pg runs it)"
  exit 77
fi
tmp=$(mktemp -d)
db="vexil_migrate_$$"
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  psql -X -q -d "$VEXIL_TEST_PG_DSN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0

admin="*:*.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
pg_dsn="${VEXIL_TEST_PG_DSN%/*}/$db"
sqlite_dsn="sqlite:$tmp/vexil.db"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 40000))
}

# start DSN NAME: serves DSN on a free port; sets $port and $server_pid.
start() {
  port=$(free_port)
  INIT_ADMIN_API_TOKENS="$admin" "$vexil" serve --port "$port" --database "$1" \
    >"$tmp/$2.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: server $2 did not become ready"
  tail -20 "$tmp/$2.log"
  exit 1
}

stop() {
  kill "$server_pid" && wait "$server_pid" 2>/dev/null
}

api() { # METHOD PATH [BODY]
  curl -s -X "$1" -H "Authorization: $admin" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "http://127.0.0.1:$port$2"
}

ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# check NAME STATUS REGEX COMMAND...: exit status and a line of its output.
check() {
  local name=$1 want=$2 pattern=$3
  shift 3
  "$@" >"$tmp/out" 2>&1
  local got=$?
  if [ "$got" -ne "$want" ] || ! grep -qE -- "$pattern" "$tmp/out"; then
    bad "$name (status $got, want $want; pattern '$pattern')"
    sed 's/^/  out: /' "$tmp/out" | head -8
    return 1
  fi
  ok
}

# The state worth comparing, through the API: export, every flag, tokens,
# segments and every event (newest first, ids and times included).
snapshot() { # FILE
  {
    api GET /api/admin/export
    echo
    api GET /api/admin/features
    echo
    api GET /api/admin/api-tokens
    echo
    api GET /api/admin/segments
    echo
    api GET '/api/admin/search/events?limit=1000'
    echo
  } >"$1"
}

# 1. An installation on SQLite, built through the API.
start "$sqlite_dsn" sqlite
for f in zeta alpha mid; do
  api POST /api/admin/projects/default/features "{\"name\":\"$f\"}" >/dev/null
done
api POST /api/admin/projects/default/features/alpha/environments/production/on >/dev/null
api POST /api/admin/segments '{"name":"beta","constraints":[{"contextName":"userId","operator":"IN","values":["1","2"]}]}' >/dev/null
sdk=$(api POST /api/admin/api-tokens '{"tokenName":"sdk","type":"client","environment":"production"}' |
  grep -o '"secret":"[^"]*"' | cut -d'"' -f4)
# An SDK instance registers: records of a kind the admin API never lists.
curl -s -o /dev/null -H "Authorization: $sdk" -H 'Content-Type: application/json' \
  --data '{"appName":"shop","instanceId":"i-1","strategies":[],"started":"2026-01-01T00:00:00Z","interval":10000}' \
  "http://127.0.0.1:$port/api/client/register"
api DELETE /api/admin/projects/default/features/mid >/dev/null
snapshot "$tmp/before.json"
stop
grep -q '"total":' "$tmp/before.json" && ok || bad "no events in the SQLite snapshot"

# 2. Refusals that leave nothing behind.
psql -X -q -d "$VEXIL_TEST_PG_DSN" -c "CREATE DATABASE $db" >/dev/null || {
  echo "FAIL: cannot create database $db"
  exit 1
}
check "--from without --to" 2 "go together" "$vexil" migrate --from "$sqlite_dsn"
check "a missing source" 1 "no database at" "$vexil" migrate --from "sqlite:$tmp/none.db" --to "$pg_dsn"
check "an unknown scheme" 2 "unknown database" "$vexil" migrate --from "$sqlite_dsn" --to "mysql://x/y"
check "an unreachable target names it, password hidden" 1 "cannot connect to postgres://vexil:\*\*\*@127.0.0.1:1/x" \
  "$vexil" migrate --from "$sqlite_dsn" --to "postgres://vexil:sekrit@127.0.0.1:1/x"
grep -q sekrit "$tmp/out" && bad "the password shows in: $(cat "$tmp/out")" || ok

# 3. The move.
check "migrate sqlite -> postgres" 0 "moved [0-9]+ documents \(3 flags\), 2 sequences and [0-9]+ events" \
  "$vexil" migrate --from "$sqlite_dsn" --to "$pg_dsn"
check "a second move into the same database is refused" 2 "target database is not empty" \
  "$vexil" migrate --from "$sqlite_dsn" --to "$pg_dsn"
# It says what the target holds, each kind by name (usage buckets, SDK
# instances and leases once printed "(null)").
grep -q "(null)" "$tmp/out" && bad "unnamed kind in: $(cat "$tmp/out")" || ok

# 4. The PostgreSQL server answers what the SQLite one did.
start "$pg_dsn" postgres
snapshot "$tmp/after.json"
if cmp -s "$tmp/before.json" "$tmp/after.json"; then ok; else
  bad "state differs after the move"
  diff <(tr ',' '\n' <"$tmp/before.json") <(tr ',' '\n' <"$tmp/after.json") | head -20
fi
# Numbering goes on after the copied ids.
before_max=$(grep -o '"id":[0-9]*' <(tail -1 "$tmp/before.json") | head -1 | cut -d: -f2)
api POST /api/admin/projects/default/features '{"name":"after"}' >/dev/null
new_id=$(api GET '/api/admin/search/events?limit=1' | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
if [ -n "$before_max" ] && [ -n "$new_id" ] && [ "$new_id" -gt "$before_max" ]; then ok; else
  bad "new event id '$new_id' does not follow the copied '$before_max'"
fi
seg=$(api POST /api/admin/segments '{"name":"two","constraints":[]}')
echo "$seg" | grep -q '"id":2' && ok || bad "segment ids do not go on: $seg"
stop

echo "migrate_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
