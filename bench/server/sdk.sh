#!/usr/bin/env bash
# SDK-endpoint throughput of `vexil serve` under wrk (figures, not pass/fail):
#   1. GET  /api/frontend with a 3-field context over 20 flags;
#   2. POST /ofrep/v1/evaluate/flags/{key} (one flag, a 3-field context);
#   3. GET  /api/client/features with 1,000 flags, answered 200 (gzip);
#   4. the same answered 304 (If-None-Match with the current ETag);
#   5. (no target) GET /api/frontend for the same 20 flags when the
#      environment holds 1,020 (the frontend walks every flag of it).
# wrk runs on the same machine as the server (they share the cores), with
# BENCH_CONNECTIONS keep-alive connections (default 50). Each run prints
# requests/s and the p50/p99 latency wrk measured, and the summary compares
# them with the targets of issue 4 (bench/README.md). Each figure is the
# median (by requests/s) of BENCH_REPEAT runs: the machine is shared.
#
# Usage: bench/server/sdk.sh [VEXIL_BIN]
#   Without VEXIL_BIN, builds the server in Release into build-bench/ (as
#   bench/run.sh does for the engine benchmarks).
# Knobs: BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_WRK_THREADS (1),
#   BENCH_SERVER_THREADS (2), BENCH_WARMUP_SECONDS (2), BENCH_REPEAT (3),
#   BENCH_CASES (the cases to run, by name; default all five).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-50}
wrk_threads=${BENCH_WRK_THREADS:-1}
server_threads=${BENCH_SERVER_THREADS:-2}
warmup=${BENCH_WARMUP_SECONDS:-2}
repeat=${BENCH_REPEAT:-3}
cases=" ${BENCH_CASES:-frontend ofrep features_200 features_304 frontend_in_1020} "

command -v wrk >/dev/null || { echo "bench/server/sdk.sh: wrk is not installed (scripts/deps.sh bench)"; exit 1; }
command -v curl >/dev/null || { echo "bench/server/sdk.sh: curl is not installed"; exit 1; }

if [ $# -ge 1 ]; then
  bin=$1
else
  echo "== build: Release into build-bench"
  cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DVX_TESTS=OFF >/dev/null
  cmake --build "$root/build-bench" -j"$(nproc 2>/dev/null || echo 2)" --target vexil_cli >/dev/null
  bin=$root/build-bench/src/cli/vexil
fi
[ -x "$bin" ] || { echo "bench/server/sdk.sh: $bin is not executable"; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$tmp"; }
trap cleanup EXIT

hex() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
admin="*:*.$(hex)"
port=$(( 20000 + RANDOM % 20000 ))
url="http://127.0.0.1:$port"

# ---- the flag sets: project "sdk" with 20 flags (frontend, OFREP), and
# for the second server also project "default" with 1,000 flags (client
# features), all in production.
now=2026-01-01T00:00:00.000Z
flagset() { # BIG_FLAGS: the import document on stdout
  printf '{"version":1,"projects":[{"id":"default","name":"Default","description":"","createdAt":"%s"},' "$now"
  printf '{"id":"sdk","name":"SDK","description":"","createdAt":"%s"}],' "$now"
  printf '"environments":[{"name":"development","type":"development","enabled":true,"sortOrder":1,"createdAt":"%s"},' "$now"
  printf '{"name":"production","type":"production","enabled":true,"sortOrder":2,"createdAt":"%s"}],' "$now"
  printf '"featureTypes":[{"id":"release","name":"Release","description":"","lifetimeDays":40}],"segments":[],"features":['
  awk -v now="$now" -v big="$1" 'function flag(first, name, project, strat, variants) {
      printf "%s{\"name\":\"%s\",\"project\":\"%s\",\"type\":\"release\",\"description\":\"\",\"impressionData\":false,\"stale\":false,\"archived\":false,\"archivedAt\":null,\"createdAt\":\"%s\",\"updatedAt\":\"%s\",\"lastSeenAt\":null,\"tags\":[],\"dependencies\":[],", (first ? "" : ","), name, project, now, now
      printf "\"environments\":[{\"name\":\"development\",\"enabled\":false,\"strategies\":[],\"variants\":[]},"
      printf "{\"name\":\"production\",\"enabled\":true,\"strategies\":[%s],\"variants\":[%s]}]}", strat, variants
    }
    function rollout(id, name, pct, stick, constraint, variants) {
      return sprintf("{\"id\":\"%s\",\"name\":\"flexibleRollout\",\"title\":null,\"disabled\":false,\"sortOrder\":0,\"parameters\":{\"rollout\":\"%d\",\"stickiness\":\"%s\",\"groupId\":\"%s\"},\"constraints\":[%s],\"segments\":[],\"variants\":[%s]}", id, pct, stick, name, constraint, variants)
    }
    BEGIN {
      ab = "{\"name\":\"a\",\"weight\":500,\"weightType\":\"variable\",\"stickiness\":\"userId\",\"payload\":{\"type\":\"json\",\"value\":\"{\\\"color\\\":\\\"red\\\",\\\"size\\\":3}\"}},{\"name\":\"b\",\"weight\":500,\"weightType\":\"variable\",\"stickiness\":\"userId\",\"payload\":{\"type\":\"string\",\"value\":\"blue\"}}"
      # 20 flags for the frontend API and OFREP: rollouts on userId, plan
      # constraints, variants with payloads, a few plain on/off flags.
      for (i = 0; i < 20; i++) {
        name = sprintf("sdk-flag-%d", i)
        if (i % 4 == 0) { strat = ""; vars = "" }
        else if (i % 4 == 1) { strat = rollout("f" i, name, 50, "userId", "", ab); vars = "" }
        else if (i % 4 == 2) { strat = rollout("f" i, name, 100, "default", "{\"contextName\":\"plan\",\"operator\":\"IN\",\"values\":[\"pro\",\"enterprise\"],\"caseInsensitive\":false,\"inverted\":false}", ""); vars = ab }
        else { strat = rollout("f" i, name, 80, "userId", "{\"contextName\":\"appName\",\"operator\":\"STR_STARTS_WITH\",\"values\":[\"web\"],\"caseInsensitive\":true,\"inverted\":false}", ab); vars = "" }
        flag(i == 0, name, "sdk", strat, vars)
      }
      # 1,000 flags for /api/client/features, shaped like bench/server/run.sh.
      for (i = 0; i < big; i++) {
        name = sprintf("flag-%d", i)
        strat = rollout("s" i, name, 25, "userId", "{\"contextName\":\"country\",\"operator\":\"IN\",\"values\":[\"TH\",\"VN\"],\"caseInsensitive\":false,\"inverted\":false}", ab)
        flag(0, name, "default", strat, "")
      }
    }'
  printf ']}'
}
flagset 0 >"$tmp/state-20.json"
flagset 1000 >"$tmp/state-1020.json"

start_server() { # STATE_FILE: a fresh server on a new database, filled
  if [ -n "$pid" ]; then kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; fi
  rm -f "$tmp"/v.db*
  INIT_ADMIN_API_TOKENS="$admin" "$bin" serve --port "$port" --database "sqlite:$tmp/v.db" \
    --threads "$server_threads" --log-requests off --max-body 67108864 >"$tmp/out.log" 2>"$tmp/err.log" &
  pid=$!
  for _ in $(seq 1 2000); do
    curl -fs "$url/ready" >/dev/null 2>&1 && break
    sleep 0.005
  done
  curl -fs "$url/ready" >/dev/null || { echo "server did not become ready"; cat "$tmp/err.log"; exit 1; }
  api POST /api/admin/import "@$1" >/dev/null
}

api() { # METHOD PATH [BODY]: prints the body, fails on a non-2xx
  curl -fsS -X "$1" -H "Authorization: $admin" -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$url$2"
}
token() { # TYPE PROJECT: a new token's secret
  api POST /api/admin/api-tokens "{\"tokenName\":\"bench-$1-$2\",\"type\":\"$1\",\"environment\":\"production\",\"projects\":[\"$2\"]}" |
    sed -n 's/.*"secret" *: *"\([^"]*\)".*/\1/p'
}

fe_path='/api/frontend?userId=user-4711&appName=web-shop&properties%5Bplan%5D=pro'
ofrep_path='/ofrep/v1/evaluate/flags/sdk-flag-3'
ofrep_body='{"context":{"targetingKey":"user-4711","appName":"web-shop","plan":"pro"}}'

# Checks that an endpoint answers what we mean to measure.
check() { # LABEL EXPECTED_STATUS CURL_ARGS...
  local label=$1 want=$2
  shift 2
  local got
  got=$(curl -s -o "$tmp/check.body" -D "$tmp/check.hdr" -w '%{http_code} %{size_download}' "$@")
  echo "check $label: HTTP ${got% *}, ${got#* } bytes"
  [ "${got% *}" = "$want" ] || { echo "  expected $want:"; head -c 600 "$tmp/check.body"; echo; exit 1; }
}

cat >"$tmp/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout))
  io.write(string.format("p50_ms=%.3f p99_ms=%.3f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

declare -A rps p99
run() { # NAME SCRIPT PATH HEADERS...: BENCH_REPEAT runs, the median by rps is kept
  local name=$1 script=$2 path=$3
  shift 3
  case "$cases" in *" $name "*) ;; *) return 0 ;; esac
  local hdr=()
  for h in "$@"; do hdr+=(-H "$h"); done
  wrk -t"$wrk_threads" -c"$conns" -d"${warmup}s" -s "$script" "${hdr[@]}" "$url$path" >/dev/null
  echo "== $name: ${conns} connections, wrk -t$wrk_threads, ${secs}s x $repeat"
  : >"$tmp/$name.runs"
  for i in $(seq 1 "$repeat"); do
    wrk -t"$wrk_threads" -c"$conns" -d"${secs}s" -s "$script" "${hdr[@]}" "$url$path" >"$tmp/$name.out"
    local r q50 q99 errs
    r=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$tmp/$name.out")
    q50=$(sed -n 's/^p50_ms=\([0-9.]*\).*/\1/p' "$tmp/$name.out")
    q99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$tmp/$name.out")
    errs=$(grep '^errors_' "$tmp/$name.out" | tr -d '\n')
    echo "  run $i: rps=$r p50_ms=$q50 p99_ms=$q99 $errs"
    echo "$r $q50 $q99" >>"$tmp/$name.runs"
  done
  local m_rps m_p50 m_p99
  read -r m_rps m_p50 m_p99 < <(sort -n "$tmp/$name.runs" | sed -n "$(( (repeat + 1) / 2 ))p")
  rps[$name]=$m_rps
  p99[$name]=$m_p99
  echo "${name}_rps=$m_rps ${name}_p50_ms=$m_p50 ${name}_p99_ms=$m_p99"
}

echo "== server: $bin, --threads $server_threads; $(nproc) cores shared with wrk"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== phase 1: production holds the 20 flags of project sdk"
start_server "$tmp/state-20.json"
frontend=$(token frontend sdk)
client_sdk=$(token client sdk)
if [ -z "$frontend" ] || [ -z "$client_sdk" ]; then echo "could not create tokens"; exit 1; fi
check frontend 200 -H "Authorization: $frontend" "$url$fe_path"
echo "  $(grep -o '"name":"sdk-flag-[0-9]*"' "$tmp/check.body" | sort -u | wc -l) of 20 flags on for this context, $(wc -c <"$tmp/check.body") bytes"
check ofrep 200 -X POST -H "Authorization: Bearer $client_sdk" -H 'Content-Type: application/json' --data "$ofrep_body" "$url$ofrep_path"
echo "  $(head -c 300 "$tmp/check.body")"
cat >"$tmp/ofrep.lua" <<LUA
wrk.method = "POST"
wrk.body = '$ofrep_body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $client_sdk"
$(cat "$tmp/report.lua")
LUA
run frontend "$tmp/report.lua" "$fe_path" "Authorization: $frontend"
run ofrep "$tmp/ofrep.lua" "$ofrep_path"

echo "== phase 2: production holds 1,020 flags (1,000 in project default, 20 in sdk)"
start_server "$tmp/state-1020.json"
frontend=$(token frontend sdk)
client_all=$(token client default)
if [ -z "$frontend" ] || [ -z "$client_all" ]; then echo "could not create tokens"; exit 1; fi
check features-200 200 -H "Authorization: $client_all" -H 'Accept-Encoding: gzip' "$url/api/client/features"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$tmp/check.hdr")
nflags=$(curl -s -H "Authorization: $client_all" "$url/api/client/features" | grep -o '"name":"flag-[0-9]*"' | wc -l)
echo "  $nflags flags, $(wc -c <"$tmp/check.body") bytes gzipped, ETag $etag"
check features-304 304 -H "Authorization: $client_all" -H 'Accept-Encoding: gzip' -H "If-None-Match: $etag" "$url/api/client/features"
run features_200 "$tmp/report.lua" /api/client/features "Authorization: $client_all" "Accept-Encoding: gzip"
run features_304 "$tmp/report.lua" /api/client/features "Authorization: $client_all" "Accept-Encoding: gzip" "If-None-Match: $etag"
# Not a target: the frontend token still sees 20 flags, but the environment
# now holds 1,020 (what a shared environment costs the frontend API).
run frontend_in_1020 "$tmp/report.lua" "$fe_path" "Authorization: $frontend"
echo "rss_mb=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

verdict() { # LABEL VALUE OP LIMIT
  [ -n "$2" ] || return 0
  if awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { exit !((op == ">=") ? v >= l : v < l) }'; then
    printf '%-44s %10s %s %-8s met\n' "$1" "$2" "$3" "$4"
  else
    printf '%-44s %10s %s %-8s MISSED\n' "$1" "$2" "$3" "$4"
  fi
}
echo
echo "== summary against issue 4's targets"
verdict "GET /api/frontend requests/s" "${rps[frontend]:-}" ">=" 30000
verdict "GET /api/frontend p99 ms" "${p99[frontend]:-}" "<" 5
verdict "POST /ofrep/v1/evaluate/flags/{key} req/s" "${rps[ofrep]:-}" ">=" 30000
verdict "GET /api/client/features 200 req/s" "${rps[features_200]:-}" ">=" 5000
verdict "GET /api/client/features 304 req/s" "${rps[features_304]:-}" ">=" 40000
