#!/usr/bin/env bash
# The frontend API through an edge against the server directly, in the same
# run (figures, not pass/fail): one server with 20 flags (rollouts on
# userId, a plan constraint, variants with payloads), one `vexil edge`
# following it with a client token, and wrk on GET /api/frontend with a
# 3-field context against each in turn, BENCH_REPEAT times, alternating so
# that both see the same machine. Prints requests/s and p50/p99 per target
# (the median run by requests/s) and the edge/server ratio. wrk, the server
# and the edge share the cores: the figures compare, they do not size.
#
# Usage: bench/edge/frontend.sh VEXIL_BIN
# Knobs: BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_WRK_THREADS (1),
#   BENCH_THREADS (server and edge listener threads, 2), BENCH_REPEAT (3).
set -euo pipefail
bin=${1:?usage: bench/edge/frontend.sh VEXIL_BIN}
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-50}
wrk_threads=${BENCH_WRK_THREADS:-1}
threads=${BENCH_THREADS:-2}
repeat=${BENCH_REPEAT:-3}
command -v wrk >/dev/null || { echo "bench/edge/frontend.sh: wrk is not installed (scripts/deps.sh bench)"; exit 1; }

tmp=$(mktemp -d)
spid= epid=
cleanup() {
  for p in $epid $spid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
hex() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
admin="*:*.$(hex)"
client="default:production.$(hex)"
front="default:production.$(hex)"
sport=$(( 20000 + RANDOM % 10000 )); eport=$(( sport + 1 ))
surl="http://127.0.0.1:$sport"; eurl="http://127.0.0.1:$eport"

INIT_ADMIN_API_TOKENS="$admin" INIT_CLIENT_API_TOKENS="$client" INIT_FRONTEND_API_TOKENS="$front" \
  "$bin" serve --port "$sport" --database "sqlite:$tmp/v.db" --threads "$threads" --log-requests off \
  >"$tmp/server.log" 2>&1 &
spid=$!
for _ in $(seq 1 400); do curl -fs "$surl/ready" >/dev/null 2>&1 && break; sleep 0.025; done
api() { curl -fsS -o /dev/null -X "$1" -H "Authorization: $admin" -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$surl$2"; }
ab='[{"name":"a","weight":500,"weightType":"variable","stickiness":"userId","payload":{"type":"json","value":"{\"color\":\"red\"}"}},{"name":"b","weight":500,"weightType":"variable","stickiness":"userId","payload":{"type":"string","value":"blue"}}]'
for i in $(seq 0 19); do
  f="fe-flag-$i"
  api POST /api/admin/projects/default/features "{\"name\":\"$f\"}"
  E="/api/admin/projects/default/features/$f/environments/production"
  case $((i % 4)) in
    1) api POST "$E/strategies" "{\"name\":\"flexibleRollout\",\"parameters\":{\"rollout\":\"50\",\"stickiness\":\"userId\",\"groupId\":\"$f\"},\"variants\":$ab}" ;;
    2) api POST "$E/strategies" "{\"name\":\"flexibleRollout\",\"parameters\":{\"rollout\":\"100\",\"stickiness\":\"default\",\"groupId\":\"$f\"},\"constraints\":[{\"contextName\":\"plan\",\"operator\":\"IN\",\"values\":[\"pro\"]}]}"
       api PUT "$E/variants" "$ab" ;;
    3) api POST "$E/strategies" "{\"name\":\"flexibleRollout\",\"parameters\":{\"rollout\":\"80\",\"stickiness\":\"userId\",\"groupId\":\"$f\"},\"constraints\":[{\"contextName\":\"appName\",\"operator\":\"STR_STARTS_WITH\",\"values\":[\"web\"]}]}" ;;
  esac
  api POST "$E/on"
done
"$bin" edge --upstream "$surl" --token "$client" --port "$eport" --threads "$threads" --data-dir "" \
  --log-requests off >"$tmp/edge.log" 2>&1 &
epid=$!
for _ in $(seq 1 400); do curl -fs "$eurl/ready" >/dev/null 2>&1 && break; sleep 0.025; done
path='/api/frontend?userId=user-4711&appName=web-shop&properties%5Bplan%5D=pro'
a=$(curl -fs -H "Authorization: $front" "$surl$path")
b=$(curl -fs -H "Authorization: $front" "$eurl$path")
[ "$a" = "$b" ] || { echo "the edge answers otherwise:"; echo "$a" | head -c 300; echo; echo "$b" | head -c 300; exit 1; }
echo "== /api/frontend, 20 flags, $(echo "$a" | grep -o '"name":"fe-flag' | wc -l) on for the context; $conns connections, ${secs}s x $repeat, $(nproc) cores shared"
cat >"$tmp/r.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("p50_ms=%.3f p99_ms=%.3f errors=%d\n", latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout))
end
LUA
: >"$tmp/server.runs"; : >"$tmp/edge.runs"
for who in server edge; do
  url=$surl; [ $who = edge ] && url=$eurl
  wrk -t"$wrk_threads" -c"$conns" -d2s -s "$tmp/r.lua" -H "Authorization: $front" "$url$path" >/dev/null
done
for i in $(seq 1 "$repeat"); do
  for who in server edge; do
    url=$surl; [ $who = edge ] && url=$eurl
    wrk -t"$wrk_threads" -c"$conns" -d"${secs}s" -s "$tmp/r.lua" -H "Authorization: $front" "$url$path" >"$tmp/out"
    r=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$tmp/out")
    l=$(grep '^p50_ms' "$tmp/out")
    echo "  run $i $who: rps=$r $l"
    echo "$r $l" >>"$tmp/$who.runs"
  done
done
for who in server edge; do
  read -r m rest < <(sort -n "$tmp/$who.runs" | sed -n "$(( (repeat + 1) / 2 ))p")
  echo "${who}_frontend_rps=$m $rest"
  eval "${who}_rps=$m"
done
awk -v e="$edge_rps" -v s="$server_rps" 'BEGIN { printf "edge/server=%.2f\n", s ? e / s : 0 }'
