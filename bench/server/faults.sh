#!/usr/bin/env bash
# What admin writes and a database fault cost the SDKs (figures, not
# pass/fail; docs/operations.md, "Faults and what each endpoint answers"):
# the latency of GET /api/client/features (p50, p99, with wrk) on one
# server on a private PostgreSQL (tests/support/pg.sh)
#   1. alone;
#   2. while 50 connections write to the admin API (a flag switched on and
#      off as fast as the server takes it), with the writes per second;
#   3. the same while that PostgreSQL is frozen (SIGSTOP), plus 50
#      connections posting SDK metrics, with what the writes got;
#   4. after SIGCONT: how long until /ready is 200 again.
# and, with BENCH_SQLITE=1 (default), steps 1 and 2 on SQLite as well.
#
# Usage: bench/server/faults.sh [VEXIL_BIN]
#   BENCH_SECONDS (10) per measurement, BENCH_FLAGS (1000) flags served,
#   BENCH_READERS (8) wrk connections reading, BENCH_WRITERS (50).
# Needs wrk (scripts/deps.sh bench) and the PostgreSQL server binaries
# (scripts/deps.sh test). Run it on a quiet machine, side by side with the
# previous build: `bench/server/faults.sh old/vexil; bench/server/faults.sh`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/src/cli/vexil}
secs=${BENCH_SECONDS:-10}
flags=${BENCH_FLAGS:-1000}
readers=${BENCH_READERS:-8}
writers=${BENCH_WRITERS:-50}
command -v wrk >/dev/null || { echo "bench/server/faults: wrk is not installed (scripts/deps.sh bench)"; exit 1; }
[ -x "$bin" ] || { echo "bench/server/faults: $bin is not executable"; exit 1; }

tmp=$(mktemp -d)
pid=
pgdir=
wpids=()
cleanup() {
  for p in "${wpids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  [ -n "$pgdir" ] && "$root/tests/support/pg.sh" stop "$pgdir" >/dev/null 2>&1
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

hex() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
admin="*:*.$(hex)"
client="default:production.$(hex)"
port=$(( 20000 + RANDOM % 20000 ))
url="http://127.0.0.1:$port"

start() { # $1: --database value
  INIT_ADMIN_API_TOKENS="$admin" INIT_CLIENT_API_TOKENS="$client" "$bin" serve --port "$port" \
    --database "$1" --log-requests off --max-body 67108864 >"$tmp/out.log" 2>"$tmp/err.log" &
  pid=$!
  for _ in $(seq 1 2000); do
    curl -fs "$url/ready" >/dev/null 2>&1 && return 0
    sleep 0.005
  done
  echo "the server did not become ready:"; cat "$tmp/err.log"; exit 1
}
stop() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; }

# $flags flags in production, each with a rollout strategy, by one import.
seed() {
  {
    printf '{"version":1,"projects":[{"id":"default","name":"Default","description":"","createdAt":"2026-01-01T00:00:00.000Z"}],'
    printf '"environments":[{"name":"development","type":"development","enabled":true,"sortOrder":1,"createdAt":"2026-01-01T00:00:00.000Z"},'
    printf '{"name":"production","type":"production","enabled":true,"sortOrder":2,"createdAt":"2026-01-01T00:00:00.000Z"}],'
    printf '"featureTypes":[{"id":"release","name":"Release","description":"","lifetimeDays":40}],"segments":[],"features":['
    awk -v n="$flags" 'BEGIN { for (i = 0; i < n; i++) {
      printf "%s{\"name\":\"flag-%d\",\"project\":\"default\",\"type\":\"release\",\"description\":\"\",\"impressionData\":false,\"stale\":false,\"archived\":false,\"archivedAt\":null,\"createdAt\":\"2026-01-01T00:00:00.000Z\",\"updatedAt\":\"2026-01-01T00:00:00.000Z\",\"lastSeenAt\":null,\"tags\":[],\"dependencies\":[],", (i ? "," : ""), i
      printf "\"environments\":[{\"name\":\"development\",\"enabled\":false,\"strategies\":[],\"variants\":[]},"
      printf "{\"name\":\"production\",\"enabled\":true,\"strategies\":[{\"id\":\"s-%d\",\"name\":\"flexibleRollout\",\"title\":null,\"disabled\":false,\"sortOrder\":0,", i
      printf "\"parameters\":{\"rollout\":\"25\",\"stickiness\":\"userId\",\"groupId\":\"flag-%d\"},\"constraints\":[],\"segments\":[],\"variants\":[]}],\"variants\":[]}]}", i
    } }'
    printf ']}'
  } >"$tmp/state.json"
  code=$(curl -s -o "$tmp/import.out" -w '%{http_code}' -H "Authorization: $admin" \
    -H 'Content-Type: application/json' --data-binary "@$tmp/state.json" "$url/api/admin/import")
  [ "$code" = 200 ] || { echo "import failed: $code $(cat "$tmp/import.out")"; exit 1; }
  curl -s -o /dev/null -H "Authorization: $admin" -H 'Content-Type: application/json' \
    -d '{"name":"switched"}' "$url/api/admin/projects/default/features"
}

# wrk scripts: the reads, the writes (switch a flag on and off), the metrics.
cat >"$tmp/read.lua" <<EOF
wrk.headers["Authorization"] = "$client"
EOF
cat >"$tmp/write.lua" <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "$admin"
local n = 0
request = function()
  n = n + 1
  local what = (n % 2 == 0) and "on" or "off"
  return wrk.format(nil, "/api/admin/projects/default/features/switched/environments/production/" .. what)
end
local codes = {}
response = function(status) codes[status] = (codes[status] or 0) + 1 end
done = function(summary, latency, requests)
  local s = ""
  for k, v in pairs(codes) do s = s .. " status_" .. k .. "=" .. v end
  io.write("write_statuses" .. s .. "\n")
end
EOF
cat >"$tmp/metrics.lua" <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "$client"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"appName":"bench","instanceId":"i-1","bucket":{"start":"2026-01-01T00:00:00Z","stop":"2026-01-01T00:01:00Z","toggles":{"flag-1":{"yes":3,"no":1}}}}'
EOF

# Runs wrk on $1 (a path) with script $2, $3 connections; prints p50/p99
# (ms) and requests/s under the label $4.
measure() {
  local out
  out=$(wrk -t2 -c"$3" -d"${secs}s" --latency -s "$2" "$url$1" 2>&1)
  awk -v label="$4" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    $1 == "Requests/sec:" { rps = $2 }
    /Non-2xx or 3xx/ { bad = $NF }
    /Socket errors/ { gsub(",", ""); to = $NF }
    /^write_statuses/ { st = $0 }
    END { printf "%s p50_ms=%.3f p99_ms=%.3f rps=%s non2xx=%s timeouts=%s %s\n", label, p50, p99, rps, (bad == "" ? 0 : bad), (to == "" ? 0 : to), st }' <<<"$out"
}

# Writers in the background for the whole of a measurement.
writers_start() {
  wrk -t2 -c"$writers" -d"$((secs + 2))s" -s "$tmp/write.lua" "$url/" >"$tmp/writers.out" 2>&1 &
  wpids+=($!)
  sleep 1
}
writers_report() { # $1: label
  wait "${wpids[@]}" 2>/dev/null || true
  wpids=()
  awk -v label="$1" '
    $1 == "Requests/sec:" { rps = $2 }
    /^write_statuses/ { st = $0 }
    END { printf "%s writes_per_s=%s %s\n", label, rps, st }' "$tmp/writers.out"
}

run_db() { # $1: label, $2: --database
  start "$2"
  seed
  curl -s -o /dev/null -H "Authorization: $client" "$url/api/client/features"
  echo "== $1"
  measure /api/client/features "$tmp/read.lua" "$readers" "${1}_features_alone"
  writers_start
  measure /api/client/features "$tmp/read.lua" "$readers" "${1}_features_with_${writers}_writers"
  writers_report "${1}_admin_writers"
}

if [ "${BENCH_SQLITE:-1}" = 1 ]; then
  run_db sqlite "sqlite:$tmp/v.db"
  stop
fi

pgdir=$("$root/tests/support/pg.sh" start)
dsn=$(cat "$pgdir/dsn")
run_db postgres "$dsn"

echo "== postgres frozen (SIGSTOP), $writers writers and $writers metrics posters"
"$root/tests/support/pg.sh" freeze "$pgdir"
writers_start
wrk -t1 -c"$writers" -d"$((secs + 1))s" -s "$tmp/metrics.lua" "$url/api/client/metrics" >"$tmp/metrics.out" 2>&1 &
wpids+=($!)
measure /api/client/features "$tmp/read.lua" "$readers" "postgres_frozen_features"
measure /health "$tmp/read.lua" 2 "postgres_frozen_health"
writers_report "postgres_frozen_admin_writers"
awk '$1 == "Requests/sec:" { printf "postgres_frozen_metrics_posts_per_s=%s\n", $2 }' "$tmp/metrics.out"
ready=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$url/ready" || true)
echo "postgres_frozen_ready_status=$ready"
t0=$(date +%s%N)
"$root/tests/support/pg.sh" thaw "$pgdir"
until [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url/ready" || true)" = 200 ]; do sleep 0.01; done
t1=$(date +%s%N)
echo "postgres_thaw_to_ready_ms=$(( (t1 - t0) / 1000000 ))"
stop
