#!/usr/bin/env bash
# Runs the C SDK's end-to-end test (tests/sdk/sdk.test.js) under node --test:
#   tests/sdk/run.sh VEXIL_BINARY SDK_DRIVER
# Needs Node.js >= 20 (or the one tests/compat/run.sh installs).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export VEXIL_BIN=$1 VEXIL_SDK_DRIVER=$2
. "$root/tests/support/node.sh" # sets node_bin
exec "$node_bin" --test "$here/sdk.test.js"
