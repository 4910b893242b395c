#!/usr/bin/env bash
# Propagation latency between two `vexil serve` replicas on one PostgreSQL
# (figures, not pass/fail): a private PostgreSQL from tests/support/pg.sh,
# replicas A and B, BENCH_WRITES flag toggles on A (default 300), each timed
# from sending the write to A until B serves it on /api/client/features and
# until a streaming client on B receives it. Prints p50, p99 and max.
# Usage: bench/replicas/run.sh [VEXIL_BIN]   (make bench-replicas)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export VEXIL_BIN=${1:-$root/build/src/cli/vexil}
command -v node >/dev/null || { echo "bench/replicas: node is needed (scripts/deps.sh test)"; exit 1; }
exec "$root/tests/support/pg.sh" run sh -c \
  'VEXIL_IT_PG_DSN="$VEXIL_TEST_PG_DSN" node "$0"' "$here/propagation.js"
