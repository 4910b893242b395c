#!/usr/bin/env bash
# Runs the tests of `vexil edge` (docs/edge.md) against the real binary:
#
#   tests/edge/run.sh [node --test arguments...]   (default: tests/edge/)
#
# The same runner as tests/integration (VEXIL_BIN, VEXIL_IT_KEEP...). The
# real SDKs against an edge are in tests/compat/edge_sdk.test.js (make
# compat).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ "$#" -eq 0 ]; then
  set -- tests/edge/
fi
exec "$root/tests/integration/run.sh" "$@"
