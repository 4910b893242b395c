#!/usr/bin/env bash
# `vexil edge` under load (figures, not pass/fail; bench/README.md, "Edge
# nodes"), against the real binary on 127.0.0.1:
#   streams     BENCH_STREAMS concurrent streams (default 10000) on one
#               edge and on one server: RSS per stream, a change's
#               propagation to every stream (p50/p99/max; through the edge:
#               server -> edge -> SDK), BENCH_WRITES changes (20);
#   frontend    GET /api/frontend requests/s through an edge and on the
#               server, same run (wrk);
#   propagation one stream on an edge, BENCH_WRITES changes (default 200):
#               server -> edge -> SDK p50/p99/max, and straight from the
#               server for comparison.
# Usage: bench/edge/run.sh [VEXIL_BIN] [streams|frontend|propagation|all]
# (make bench-edge). Raises ulimit -n to the hard limit: 10,000 streams
# need about 20,000 descriptors on this machine (client and server sides).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export VEXIL_BIN=${1:-$root/build/src/cli/vexil}
command -v node >/dev/null || { echo "bench/edge: node is needed (scripts/deps.sh test)"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
case "${2:-all}" in
  streams) node "$here/streams.js" ;;
  frontend) "$here/frontend.sh" "$VEXIL_BIN" ;;
  propagation) BENCH_STREAMS=${BENCH_STREAMS:-1} BENCH_WRITES=${BENCH_WRITES:-200} node "$here/streams.js" ;;
  all)
    node "$here/streams.js"
    "$here/frontend.sh" "$VEXIL_BIN"
    BENCH_STREAMS=1 BENCH_WRITES=200 node "$here/streams.js"
    ;;
  *) echo "usage: bench/edge/run.sh [VEXIL_BIN] [streams|frontend|propagation|all]" >&2; exit 2 ;;
esac
