#!/usr/bin/env bash
# The `vexil` client commands (flags, tokens, events, export, import) against
# the real server on random ports: what they print, what they change on the
# server, exit statuses (0 ok, 1 server error or unreachable, 2 bad usage),
# and that the admin token never shows up in any output.
# Usage: client_cli.sh VEXIL_BINARY
set -uo pipefail
vexil=$1
tmp=$(mktemp -d)
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0

secret_hex=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
admin_token="*:*.$secret_hex"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 40000))
}

# start_server NAME: starts `vexil serve` on a free port with a fresh SQLite
# database and waits for /ready; sets $port and $server_pid. Returns
# non-zero on failure.
start_server() {
  local name=$1
  port=$(free_port)
  INIT_ADMIN_API_TOKENS="$admin_token" "$vexil" serve --port "$port" \
    --database "sqlite:$tmp/$name.db" >"$tmp/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  server_pid=$pid
  for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: server $name did not become ready on port $port"
  sed 's/^/  log: /' "$tmp/$name.log" | tail -20
  fail=$((fail + 1))
  return 1
}

# check NAME STATUS REGEX COMMAND...: the command exits with STATUS and REGEX
# (unless empty) matches a line of its stdout or stderr.
check() {
  local name=$1 want=$2 pattern=$3
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  cat "$tmp/out" "$tmp/err" >>"$tmp/all"
  if [ "$got" -ne "$want" ] ||
    { [ -n "$pattern" ] && ! grep -qE -- "$pattern" "$tmp/out" "$tmp/err"; }; then
    echo "FAIL: $name (status $got, want $want; pattern '$pattern')"
    sed 's/^/  out: /' "$tmp/out" | head -8
    sed 's/^/  err: /' "$tmp/err" | head -8
    fail=$((fail + 1))
    return 1
  fi
  pass=$((pass + 1))
}

# Like check, but the pattern must NOT occur in stdout.
check_absent() { # name, regex, command...
  local name=$1 pattern=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  cat "$tmp/out" "$tmp/err" >>"$tmp/all"
  if [ "$got" -ne 0 ] || grep -qE -- "$pattern" "$tmp/out"; then
    echo "FAIL: $name (status $got; '$pattern' should be absent)"
    sed 's/^/  out: /' "$tmp/out" | head -8
    sed 's/^/  err: /' "$tmp/err" | head -8
    fail=$((fail + 1))
    return 1
  fi
  pass=$((pass + 1))
}

# Pretty JSON without the fields that differ between two servers holding
# the same state (times, generated ids).
normalise() {
  grep -vE '"(id|createdAt|updatedAt|lastSeenAt|archivedAt)":' "$1"
}

finish() {
  if grep -qF "$secret_hex" "$tmp/all" 2>/dev/null; then
    echo "FAIL: the admin token appeared in some output"
    fail=$((fail + 1))
  else
    pass=$((pass + 1))
  fi
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}

# ---- usage errors and an unreachable server: no server needed -----------
unset VEXIL_SERVER VEXIL_TOKEN
check "help" 0 'usage: vexil flags <command>' "$vexil" flags --help
check "command help" 0 'usage: vexil flags rollout NAME --env ENV --percent N' \
  "$vexil" flags rollout --help
check "missing token: exit 2" 2 'no API token: pass --token or set VEXIL_TOKEN' \
  "$vexil" flags list
export VEXIL_TOKEN=$admin_token
check "missing --env: exit 2" 2 'missing --env' "$vexil" flags enable x
check "missing NAME: exit 2" 2 'missing NAME' "$vexil" flags get
check "unknown subcommand: exit 2" 2 "unknown command 'frob'" "$vexil" flags frob
check "option that does not apply: exit 2" 2 '--percent does not apply' \
  "$vexil" flags get x --percent 5
check "--percent out of range: exit 2" 2 'from 0 to 100' \
  "$vexil" flags rollout x --env production --percent 101
check "--limit not a number: exit 2" 2 '--limit must be an integer' \
  "$vexil" events --limit ten
check "client token without --env: exit 2" 2 'need --env' \
  "$vexil" tokens create --name x --type client
check "unknown token type: exit 2" 2 '--type must be' \
  "$vexil" tokens create --name x --type root
down=$(free_port)
check "server down: exit 1" 1 "cannot reach http://127.0.0.1:$down: " \
  "$vexil" flags list --server "http://127.0.0.1:$down"
printf '{"features": [\n' >"$tmp/broken.json"
check "import: malformed file, line and column: exit 2" 2 'broken.json:2:' \
  "$vexil" import "$tmp/broken.json" --server "http://127.0.0.1:$down"

# ---- server 1 -----------------------------------------------------------
start_server one || finish
pid_one=$server_pid
export VEXIL_SERVER="http://127.0.0.1:$port"
one=$VEXIL_SERVER

check "create" 0 'created flag new-checkout in project default \(type release\)' \
  "$vexil" flags create new-checkout --description "Checkout v2"
check "create with type" 0 'created flag old-banner in project default \(type kill-switch\)' \
  "$vexil" flags create old-banner --type kill-switch
check "create: name taken: 409" 1 '^vexil: POST /api/admin/projects/default/features: 409 ' \
  "$vexil" flags create new-checkout
check "create: invalid name: 400 with details" 1 ': 400 ' \
  "$vexil" flags create 'bad name!'
check "list: header" 0 '^NAME +PROJECT +TYPE +development +production$' \
  "$vexil" flags list
check "list: a row per flag, off everywhere" 0 '^new-checkout +default +release +off +off$' \
  "$vexil" flags list --project default
check "list --json" 0 '"name": "new-checkout"' "$vexil" flags list --json

check "enable" 0 '^new-checkout is on in production$' \
  "$vexil" flags enable new-checkout --env production
check "list: on in production" 0 '^new-checkout +default +release +off +on$' \
  "$vexil" flags list
check "rollout: updates the strategy enabling added" 0 \
  '^new-checkout in production: rollout 25% by default \(updated strategy ' \
  "$vexil" flags rollout new-checkout --env production --percent 25
check "rollout: adds a strategy where there is none" 0 \
  'rollout 10% by userId \(added strategy ' \
  "$vexil" flags rollout new-checkout --env development --percent 10 --stickiness userId
check "rollout: notes that the environment is off" 0 'note: the flag is off in development' \
  "$vexil" flags rollout new-checkout --env development --percent 10 --stickiness userId
"$vexil" flags get new-checkout --json >"$tmp/get.json" 2>"$tmp/err"
check "get --json: production rollout 25" 0 '"rollout": "25"' cat "$tmp/get.json"
check "get --json: development rollout 10 by userId" 0 '"stickiness": "userId"' cat "$tmp/get.json"
check "get --json: groupId is the flag name" 0 '"groupId": "new-checkout"' cat "$tmp/get.json"
check "get --json: rollout kept one strategy per environment" 0 '^2$' \
  sh -c "grep -c '\"name\": \"flexibleRollout\"' '$tmp/get.json'"
check "get: summary" 0 'description +Checkout v2' "$vexil" flags get new-checkout
check "get: environments and strategies" 0 \
  '1\. flexibleRollout: rollout 25% by default, 0 constraints' \
  "$vexil" flags get new-checkout
check "get: environment state" 0 '^  production: on$' "$vexil" flags get new-checkout
check "disable" 0 '^new-checkout is off in production$' \
  "$vexil" flags disable new-checkout --env production
check "get: off after disable" 0 '^  production: off$' "$vexil" flags get new-checkout
check "get: unknown flag: 404" 1 '^vexil: GET /api/admin/projects/default/features/nope: 404 ' \
  "$vexil" flags get nope
check "enable: unknown flag: 404" 1 ': 404 ' \
  "$vexil" flags enable nope --env production
check "rollout: unknown environment" 1 'no environment' \
  "$vexil" flags rollout new-checkout --env staging --percent 5
check "bad token: 401" 1 '^vexil: GET /api/admin/features: 401 ' \
  "$vexil" flags list --token '*:*.ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'
check "archive" 0 '^archived flag old-banner$' "$vexil" flags archive old-banner
check_absent "list: archived flag gone" 'old-banner' "$vexil" flags list
check "archived: lists it" 0 '^old-banner +default +kill-switch +[0-9]{4}-' \
  "$vexil" flags archived
check "archived --project" 0 '^old-banner ' "$vexil" flags archived --project default
check "archived: unknown project: 404" 1 ': 404 ' "$vexil" flags archived --project nope
check "delete: a live flag is not deleted: 409" 1 \
  '^vexil: DELETE /api/admin/archive/new-checkout: 409 ' "$vexil" flags delete new-checkout
check "revive" 0 '^revived flag old-banner \(off in every environment' \
  "$vexil" flags revive old-banner
check "revive: listed again" 0 '^old-banner ' "$vexil" flags list
check_absent "revive: no longer archived" 'old-banner' "$vexil" flags archived
check "archive again" 0 '^archived flag old-banner$' "$vexil" flags archive old-banner
check "delete for good" 0 '^deleted flag old-banner for good$' \
  "$vexil" flags delete old-banner
check "delete: gone from the archive" 0 '^no archived flags$' "$vexil" flags archived
check "delete: the name is free again" 0 '' "$vexil" flags create old-banner
check "revive: unknown flag: 404" 1 ': 404 ' "$vexil" flags revive nope

check "tokens create: client secret printed once" 0 \
  '^    default:production\.[0-9a-f]{64}$' \
  "$vexil" tokens create --name ci-backend --type client --env production --project default
"$vexil" tokens create --name viewer-bot --type admin --role viewer --json \
  >"$tmp/tok.json" 2>"$tmp/err"
viewer_id=$(sed -nE 's/^  "id": "?([^",]*)"?,?$/\1/p' "$tmp/tok.json")
viewer_secret=$(sed -nE 's/^  "secret": "([^"]*)",?$/\1/p' "$tmp/tok.json")
check "tokens create --json: id and secret" 0 '"secret": ' cat "$tmp/tok.json"
check "tokens list" 0 '^ID +NAME +TYPE +ROLE +ENV +PROJECTS' "$vexil" tokens list
check "tokens list: the viewer token" 0 "^$viewer_id +viewer-bot +admin +viewer " \
  "$vexil" tokens list
check_absent "tokens list: no secrets" '[0-9a-f]{64}' "$vexil" tokens list
check "viewer token can read" 0 '^new-checkout ' \
  "$vexil" flags list --token "$viewer_secret"
check "viewer token cannot write: 403" 1 ': 403 ' \
  "$vexil" flags create from-viewer --token "$viewer_secret"
check "tokens revoke" 0 "^revoked token $viewer_id\$" "$vexil" tokens revoke "$viewer_id"
check "revoked token: 401" 1 ': 401 ' "$vexil" flags list --token "$viewer_secret"

check "events: feature-created" 0 ' feature-created +[^ ]+ +new-checkout ' \
  "$vexil" events --feature new-checkout
check "events: header" 0 '^ID +TIME +TYPE +CREATED BY +FEATURE +ENV$' \
  "$vexil" events --type feature-created
check "events --limit 1: one row" 0 '^2$' \
  sh -c "'$vexil' events --type feature-created --limit 1 2>/dev/null | wc -l | tr -d ' '"
check "events --json" 0 '"type": "feature-environment-enabled"' \
  "$vexil" events --feature new-checkout --json

check "export --output" 0 '' "$vexil" export --output "$tmp/state.json"
check "export file has the flag" 0 '"name": "new-checkout"' cat "$tmp/state.json"
check "export to stdout" 0 '"name": "new-checkout"' "$vexil" export
"$vexil" flags list --json >"$tmp/list1.json" 2>"$tmp/err"

# ---- server 2: import what server 1 exported ----------------------------
start_server two || finish
two="http://127.0.0.1:$port"
check "import" 0 'imported [0-9]+ flags? from ' \
  "$vexil" import "$tmp/state.json" --server "$two"
"$vexil" flags list --json --server "$two" >"$tmp/list2.json" 2>"$tmp/err"
check "imported flags equal the exported ones" 0 '' \
  diff <(normalise "$tmp/list1.json") <(normalise "$tmp/list2.json")
check "import: same rollout on the second server" 0 '"rollout": "25"' \
  "$vexil" flags get new-checkout --json --server "$two"
check "import into a server with flags: 409" 1 '^vexil: POST /api/admin/import: 409 ' \
  "$vexil" import - --server "$two" <"$tmp/state.json"
check "events: state-imported" 0 'state-imported' \
  "$vexil" events --type state-imported --server "$two"

# ---- an Unleash feature export file (/api/admin/features-batch/export) ---
cat >"$tmp/unleash-export.json" <<'JSON'
{"features":[{"name":"from-unleash","type":"release","project":"default",
  "description":null,"stale":false,"impressionData":false,"archived":false}],
 "featureStrategies":[{"name":"flexibleRollout","id":"01J0AAAAAAAAAAAAAAAAAAAAAA",
  "featureName":"from-unleash","title":null,"disabled":false,"segments":[],
  "parameters":{"rollout":"40","stickiness":"userId","groupId":"from-unleash"},
  "constraints":[{"contextName":"signup","operator":"DATE_AFTER",
   "value":"2024-01-01T00:00:00.000Z","values":[]}],"variants":[]}],
 "featureEnvironments":[{"enabled":true,"featureName":"from-unleash",
  "environment":"production","variants":[],"name":"from-unleash"}],
 "contextFields":[],"featureTags":[],"segments":[],"tagTypes":[],
 "dependencies":[],"links":[]}
JSON
check "unleash export file: --dry-run plans, writes nothing" 0 \
  '^  1 flags: from-unleash$' \
  "$vexil" import "$tmp/unleash-export.json" --dry-run --server "$two"
check_absent "unleash export file: dry run wrote nothing" 'from-unleash' \
  "$vexil" flags list --server "$two"
check "unleash export file: the date warning" 0 'compares the time of the request' \
  "$vexil" import "$tmp/unleash-export.json" --dry-run --server "$two"
check "unleash export file: imported" 0 '^  1 flags: from-unleash$' \
  "$vexil" import "$tmp/unleash-export.json" --server "$two"
check "unleash export file: on with its rollout" 0 '"rollout": "40"' \
  "$vexil" flags get from-unleash --json --server "$two"
check "unleash export file: --env names an unknown environment" 0 \
  '^  1 environments: qa$' \
  "$vexil" import "$tmp/unleash-export.json" --env qa --dry-run --server "$two"
check "vexil export: --dry-run does not apply" 2 'apply to Unleash documents' \
  "$vexil" import "$tmp/state.json" --dry-run --server "$two"
check "import: FILE and --from-unleash: usage" 2 'one of them' \
  "$vexil" import "$tmp/state.json" --from-unleash http://127.0.0.1:1 --server "$two"
check "import --from-unleash: no Unleash token: usage" 2 'no Unleash token' \
  "$vexil" import --from-unleash http://127.0.0.1:1 --server "$two"
check "import --from-unleash: unreachable Unleash: exit 1" 1 \
  'reading the Unleash at http://127.0.0.1:1 failed' \
  "$vexil" import --from-unleash http://127.0.0.1:1/api/ --unleash-token x --server "$two"

# ---- a server that went away --------------------------------------------
kill "$pid_one" 2>/dev/null && wait "$pid_one" 2>/dev/null
check "server stopped: exit 1" 1 "^vexil: cannot reach $one: " "$vexil" flags list

finish
