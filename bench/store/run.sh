#!/usr/bin/env bash
# Store transaction figures on SQLite (a temporary file) and PostgreSQL (a
# private server from tests/support/pg.sh, fsync off as in the tests, so
# the figures are CPU and round-trip cost, not disk flushes).
# Usage: bench/store/run.sh BENCH_STORE_BINARY [TRANSACTIONS]
set -euo pipefail
bin=$1
n=${2:-2000}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" "sqlite:$tmp/bench.db" "$n"
"$here/../../tests/support/pg.sh" run sh -c '"$0" "$VEXIL_TEST_PG_DSN" "$1"' "$bin" "$n"
