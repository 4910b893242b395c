#!/usr/bin/env bash
# Runs the end-to-end tests of `vexil serve` (docs/admin-api.md):
#
#   tests/integration/run.sh [node --test arguments...]   (default: tests/integration/)
#
# VEXIL_BIN: the binary under test (default build/src/cli/vexil, from the
# repository root). Needs Node.js >= 20 and no npm packages; with an older
# node, the one tests/compat/run.sh installs under tests/compat/.node is used.
# VEXIL_IT_KEEP=1 keeps the temporary databases and prints where they are.
# VEXIL_IT_PG_DSN=postgres://SUPERUSER@HOST:PORT/DB runs every server on
# PostgreSQL instead, one new database per server (`make store-pg` does this
# on a private server; needs psql).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

export VEXIL_BIN="${VEXIL_BIN:-$root/build/src/cli/vexil}"

. "$root/tests/support/node.sh" # sets node_bin

if [ ! -x "$VEXIL_BIN" ]; then
  echo "run.sh: $VEXIL_BIN is missing or not executable; build it (make build) or set VEXIL_BIN" >&2
  exit 1
fi
if ! "$VEXIL_BIN" serve --help >/dev/null 2>&1; then
  echo "run.sh: $VEXIL_BIN has no working 'serve' command ('$VEXIL_BIN serve --help' fails); build the server first" >&2
  exit 1
fi
echo "run.sh: node $("$node_bin" --version), VEXIL_BIN=$VEXIL_BIN" >&2

if [ "$#" -eq 0 ]; then
  set -- tests/integration/
fi
exec "$node_bin" --test "$@"
