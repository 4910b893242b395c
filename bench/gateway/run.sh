#!/usr/bin/env bash
# The model gateway's overhead (figures, not pass/fail): a local upstream
# that answers at once (bench_gw_upstream, libmicrohttpd), called
#   1. directly, and through the gateway, one request at a time (wrk -c1):
#      the added latency p50/p99 is the difference;
#   2. through the gateway with BENCH_CONNECTIONS connections: proxied
#      requests/s (non-streaming, small bodies).
# Targets (issue 7): added p50 < 1 ms, added p99 < 5 ms, >= 5,000 rps on 2
# cores. wrk, the server and the upstream share this machine's cores. Each
# figure is the median of BENCH_REPEAT runs.
#
# Usage: bench/gateway/run.sh   (builds Release into build-bench/)
# Knobs: BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_SERVER_THREADS (2),
#   BENCH_REPEAT (3), BENCH_LATENCY_SECONDS (5), BENCH_VEXIL_BIN (a vexil
#   binary to measure instead of the one built here: the same upstream and
#   load against two builds, e.g. this commit's and the previous one's).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${BENCH_SECONDS:-10}
lsecs=${BENCH_LATENCY_SECONDS:-5}
conns=${BENCH_CONNECTIONS:-50}
server_threads=${BENCH_SERVER_THREADS:-2}
repeat=${BENCH_REPEAT:-3}

command -v wrk >/dev/null || { echo "bench/gateway/run.sh: wrk is not installed (scripts/deps.sh bench)"; exit 1; }
command -v curl >/dev/null || { echo "bench/gateway/run.sh: curl is not installed"; exit 1; }

echo "== build: Release into build-bench"
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DVX_TESTS=OFF >/dev/null
if [ -n "${BENCH_VEXIL_BIN:-}" ]; then
  cmake --build "$root/build-bench" -j2 --target bench_gw_upstream >/dev/null
  bin=$BENCH_VEXIL_BIN
else
  cmake --build "$root/build-bench" -j2 --target vexil_cli bench_gw_upstream >/dev/null
  bin=$root/build-bench/src/cli/vexil
fi
echo "== server binary: $bin"
up_bin=$root/build-bench/bench/bench_gw_upstream

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

hex() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
admin="*:*.$(hex)"
client="default:production.$(hex)"
port=$(( 20000 + RANDOM % 20000 ))
up_port=$(( port + 1 ))
url="http://127.0.0.1:$port"
up_url="http://127.0.0.1:$up_port"

"$up_bin" "$up_port" >"$tmp/upstream.log" 2>&1 &
pids+=($!)
INIT_ADMIN_API_TOKENS=$admin INIT_CLIENT_API_TOKENS=$client \
  "$bin" serve --host 127.0.0.1 --port "$port" --threads "$server_threads" \
  --log-requests off --egress-allow 127.0.0.1 --database "sqlite:$tmp/vexil.db" >"$tmp/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf "$url/ready" >/dev/null 2>&1 && curl -s "$up_url/" >/dev/null 2>&1 && break
  sleep 0.1
done

api() { # METHOD PATH [BODY]
  curl -sf -X "$1" -H "Authorization: $admin" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "$url$2" >/dev/null || { echo "bench: $1 $2 failed"; exit 1; }
}
flag=/api/admin/projects/default/features/model.bench
api POST /api/admin/projects/default/features '{"name":"model.bench"}'
api POST "$flag/environments/production/strategies" '{"name":"flexibleRollout","parameters":{"rollout":100,"stickiness":"default"}}'
payload="{\\\"base_url\\\":\\\"$up_url/v1\\\",\\\"model\\\":\\\"bench-model\\\",\\\"timeout_ms\\\":5000}"
api PUT "$flag/environments/production/variants" \
  "[{\"name\":\"control\",\"weight\":1000,\"weightType\":\"fix\",\"stickiness\":\"default\",\"payload\":{\"type\":\"json\",\"value\":\"$payload\"}}]"
api POST "$flag/environments/production/on"

body='{"model":"bench","messages":[{"role":"user","content":"hi"}],"user":"u1"}'
got=$(curl -s -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' -H "Authorization: Bearer $client" \
  -H 'Content-Type: application/json' --data "$body" "$url/v1/chat/completions")
[ "$got" = 200 ] && grep -qi '^x-vexil-variant: control' "$tmp/h" ||
  { echo "bench: the gateway does not answer 200 via control ($got):"; cat "$tmp/h" "$tmp/b"; exit 1; }

cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $client"
done = function(summary, latency, requests)
  io.write(string.format("errors=%d\n", summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.status + summary.errors.timeout))
  io.write(string.format("p50_ms=%.3f p99_ms=%.3f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

median() { sort -n | sed -n "$(( (repeat + 1) / 2 ))p"; }
run() { # NAME URL CONNECTIONS SECONDS -> lines "rps p50 p99" in $tmp/NAME.runs
  local name=$1 target=$2 c=$3 d=$4
  wrk -t1 -c"$c" -d2s -s "$tmp/post.lua" "$target" >/dev/null
  : >"$tmp/$name.runs"
  for i in $(seq 1 "$repeat"); do
    wrk -t1 -c"$c" -d"${d}s" -s "$tmp/post.lua" "$target" >"$tmp/$name.out"
    local r q50 q99 e
    r=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$tmp/$name.out")
    q50=$(sed -n 's/^p50_ms=\([0-9.]*\).*/\1/p' "$tmp/$name.out")
    q99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$tmp/$name.out")
    e=$(sed -n 's/^errors=//p' "$tmp/$name.out")
    echo "  $name run $i: rps=$r p50_ms=$q50 p99_ms=$q99 errors=$e"
    echo "$r $q50 $q99" >>"$tmp/$name.runs"
  done
}

echo "== server: --threads $server_threads; $(nproc) cores shared by wrk, the server and the upstream"
echo "== latency, one connection, ${lsecs}s x $repeat"
run direct "$up_url/v1/chat/completions" 1 "$lsecs"
run gateway "$url/v1/chat/completions" 1 "$lsecs"
echo "== throughput through the gateway, $conns connections, ${secs}s x $repeat"
run load "$url/v1/chat/completions" "$conns" "$secs"

d50=$(awk '{print $2}' "$tmp/direct.runs" | median)
d99=$(awk '{print $3}' "$tmp/direct.runs" | median)
g50=$(awk '{print $2}' "$tmp/gateway.runs" | median)
g99=$(awk '{print $3}' "$tmp/gateway.runs" | median)
rps=$(awk '{print $1}' "$tmp/load.runs" | median)
lp99=$(sort -n "$tmp/load.runs" | sed -n "$(( (repeat + 1) / 2 ))p" | awk '{print $3}')
echo
echo "== summary (medians)"
awk -v d50="$d50" -v d99="$d99" -v g50="$g50" -v g99="$g99" -v rps="$rps" -v lp99="$lp99" 'BEGIN {
  a50 = g50 - d50; a99 = g99 - d99
  printf "upstream directly:     p50 %.3f ms  p99 %.3f ms\n", d50, d99
  printf "through the gateway:   p50 %.3f ms  p99 %.3f ms\n", g50, g99
  printf "added latency:         p50 %.3f ms (target < 1)   %s\n", a50, (a50 < 1 ? "ok" : "MISSED")
  printf "                       p99 %.3f ms (target < 5)   %s\n", a99, (a99 < 5 ? "ok" : "MISSED")
  printf "proxied requests/s:    %d (target >= 5000)   %s   (p99 under load %.3f ms)\n", rps, (rps >= 5000 ? "ok" : "MISSED"), lp99
}'
