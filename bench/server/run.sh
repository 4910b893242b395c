#!/usr/bin/env bash
# Server benchmarks for the admin API (figures, not pass/fail):
#   - start to ready with 10,000 flags, and idle RSS after start;
#   - sustained admin writes (flag metadata updates) per second, with wrk:
#     first with no SDK connected, then with the production environment
#     served to SDKs (each write is then patched into what SDKs are served),
#     and the RSS with that environment in memory (right after the write
#     runs, and 2 s later).
# Usage: bench/server/run.sh [VEXIL_BIN]   (needs wrk: apt-get install wrk)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/src/cli/vexil}
flags=${BENCH_FLAGS:-10000}
secs=${BENCH_SECONDS:-10}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
command -v wrk >/dev/null || { echo "bench/server: wrk is not installed (apt-get install wrk)"; exit 1; }

token="*:*.$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
client="*:production.$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
port=$(( 20000 + RANDOM % 20000 ))
url="http://127.0.0.1:$port"

start() {
  INIT_ADMIN_API_TOKENS="$token" INIT_CLIENT_API_TOKENS="$client" "$bin" serve --port "$port" --database "sqlite:$tmp/v.db" \
    --log-requests off --max-body 67108864 >"$tmp/out.log" 2>"$tmp/err.log" &
  pid=$!
}
wait_ready() {
  for _ in $(seq 1 2000); do
    curl -fs "$url/ready" >/dev/null 2>&1 && return 0
    sleep 0.005
  done
  echo "server did not become ready"; cat "$tmp/err.log"; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

# Seed: one import of $flags flags, each with a strategy, a constraint and variants.
start; wait_ready
{
  printf '{"version":1,"projects":[{"id":"default","name":"Default","description":"","createdAt":"2026-01-01T00:00:00.000Z"}],'
  printf '"environments":[{"name":"development","type":"development","enabled":true,"sortOrder":1,"createdAt":"2026-01-01T00:00:00.000Z"},'
  printf '{"name":"production","type":"production","enabled":true,"sortOrder":2,"createdAt":"2026-01-01T00:00:00.000Z"}],'
  printf '"featureTypes":[{"id":"release","name":"Release","description":"","lifetimeDays":40}],"segments":[],"features":['
  awk -v n="$flags" 'BEGIN {
    for (i = 0; i < n; i++) {
      printf "%s{\"name\":\"flag-%d\",\"project\":\"default\",\"type\":\"release\",\"description\":\"\",\"impressionData\":false,\"stale\":false,\"archived\":false,\"archivedAt\":null,\"createdAt\":\"2026-01-01T00:00:00.000Z\",\"updatedAt\":\"2026-01-01T00:00:00.000Z\",\"lastSeenAt\":null,\"tags\":[],\"dependencies\":[],", (i ? "," : ""), i
      printf "\"environments\":[{\"name\":\"development\",\"enabled\":false,\"strategies\":[],\"variants\":[]},"
      printf "{\"name\":\"production\",\"enabled\":true,\"strategies\":[{\"id\":\"s-%d\",\"name\":\"flexibleRollout\",\"title\":null,\"disabled\":false,\"sortOrder\":0,", i
      printf "\"parameters\":{\"rollout\":\"25\",\"stickiness\":\"userId\",\"groupId\":\"flag-%d\"},", i
      printf "\"constraints\":[{\"contextName\":\"country\",\"operator\":\"IN\",\"values\":[\"TH\",\"VN\"],\"caseInsensitive\":false,\"inverted\":false}],\"segments\":[],"
      printf "\"variants\":[{\"name\":\"a\",\"weight\":500,\"weightType\":\"variable\",\"stickiness\":\"userId\"},{\"name\":\"b\",\"weight\":500,\"weightType\":\"variable\",\"stickiness\":\"userId\"}]}],\"variants\":[]}]}"
    } }'
  printf ']}'
} >"$tmp/state.json"
t0=$(date +%s%N)
code=$(curl -s -o "$tmp/import.out" -w '%{http_code}' -H "Authorization: $token" \
  -H 'Content-Type: application/json' --data-binary "@$tmp/state.json" "$url/api/admin/import")
t1=$(date +%s%N)
[ "$code" = 200 ] || { echo "import failed: $code $(cat "$tmp/import.out")"; exit 1; }
echo "== seed"
echo "import_flags=$flags import_ms=$(( (t1 - t0) / 1000000 )) import_bytes=$(stat -c %s "$tmp/state.json")"
stop

echo "== start to ready ($flags flags)"
best=999999
for run in 1 2 3 4 5; do
  t0=$(date +%s%N); start; wait_ready; t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  [ "$ms" -lt "$best" ] && best=$ms
  sleep 0.3
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  [ "$run" -lt 5 ] && stop
done
echo "start_to_ready_ms_best_of_5=$best"
echo "idle_rss_mb=$(awk -v k="$rss" 'BEGIN {printf "%.1f", k / 1024}')"

echo "== admin writes: PUT feature metadata, 4 connections, ${secs}s"
cat >"$tmp/put.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local body = '{"description":"update ' .. n .. '"}'
  return wrk.format("PUT", "/api/admin/projects/default/features/flag-" .. (n % $flags),
    {["Authorization"] = "$token", ["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("non2xx=%d\n", summary.errors.status))
end
LUA
wrk -t2 -c4 -d"${secs}s" -s "$tmp/put.lua" "$url" | tee "$tmp/wrk.out" | grep -E "Requests/sec|Latency|non2xx|requests in"
echo "admin_writes_per_sec=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.out")"
echo "rss_after_writes_mb=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")"
echo "== admin writes with production served to SDKs, 4 and 32 connections, ${secs}s"
curl -s -o /dev/null -H "Authorization: $client" "$url/api/client/features"
echo "rss_sdk_live_mb=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")"
for c in 4 32; do
  wrk -t2 -c$c -d"${secs}s" -s "$tmp/put.lua" "$url" >"$tmp/wrk2.out"
  echo "admin_writes_per_sec_sdk_live_c$c=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk2.out") $(grep -E 'Latency' "$tmp/wrk2.out" | tr -s ' ')"
done
curl -s "$url/metrics" | grep '^vexil_sdk_rebuild_seconds' | sed 's/ /=/'
echo "rss_after_writes_sdk_live_mb=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")"
sleep 2 # the hub trims the heap once a burst is over
echo "rss_settled_sdk_live_mb=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")"
events=$(curl -s -H "Authorization: $token" "$url/api/admin/search/events?limit=1" | jq .total)
echo "events_total=$events"
stop
