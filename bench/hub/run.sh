#!/usr/bin/env bash
# The SDK hub under load (figures, not pass/fail), against the real binary
# on a temporary SQLite database (or PostgreSQL: VEXIL_IT_PG_DSN as for the
# integration tests, or run it under tests/support/pg.sh run):
#   streams.js  BENCH_STREAMS concurrent streams (default 2000): RSS per
#               stream, a change's propagation to every stream (p50/p99
#               over BENCH_WRITES writes), release after the clients close;
#   writes.js   GET /api/client/features p50/p99 while BENCH_WRITERS
#               connections (default 50) toggle flags through the admin
#               API, against the same with no writer (BENCH_SECONDS each).
# Usage: bench/hub/run.sh [VEXIL_BIN] [streams|writes]   (make bench-hub)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export VEXIL_BIN=${1:-$root/build/src/cli/vexil}
command -v node >/dev/null || { echo "bench/hub: node is needed (scripts/deps.sh test)"; exit 1; }
# Every stream is a socket on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
case "${2:-all}" in
  streams) node "$here/streams.js" ;;
  writes) node "$here/writes.js" ;;
  all) node "$here/streams.js" && node "$here/writes.js" ;;
  *) echo "usage: bench/hub/run.sh [VEXIL_BIN] [streams|writes]" >&2; exit 2 ;;
esac
