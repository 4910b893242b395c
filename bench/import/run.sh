#!/usr/bin/env bash
# The server side of `vexil import --from-unleash` for a large Unleash:
# builds bench_import in Release (build-bench/) and runs it for FLAGS flags
# (default 10000) on a fresh SQLite database, then on a private PostgreSQL
# (tests/support/pg.sh) unless NO_PG=1. Prints figures: document size,
# parse, dry run and import times, resident memory before, after and at
# the peak (bench/README.md, "bench_import").
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=build-bench
FLAGS=${FLAGS:-10000}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVX_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target bench_import >/dev/null
echo "== bench_import: $FLAGS flags, SQLite =="
"$BUILD"/bench/bench_import --flags "$FLAGS"
if [ "${NO_PG:-0}" != 1 ]; then
  echo
  echo "== bench_import: $FLAGS flags, PostgreSQL =="
  tests/support/pg.sh run sh -c "'$BUILD/bench/bench_import' --flags '$FLAGS' --database \"\$VEXIL_TEST_PG_DSN\""
fi
