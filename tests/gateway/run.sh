#!/usr/bin/env bash
# The model gateway end to end: the official `openai` and `ollama` npm
# clients (pinned in package-lock.json, installed here by `npm ci` when
# missing) against `vexil serve` and two tests/support/model_server.js
# upstreams.
#
#   tests/gateway/run.sh [node --test arguments...]   (default: tests/gateway/)
#
# VEXIL_BIN: the binary under test (default build/src/cli/vexil).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

. "$root/tests/support/node.sh" # sets node_bin
npm_pinned "$here"

if [ "$#" -eq 0 ]; then
  set -- tests/gateway/
fi
exec tests/integration/run.sh "$@"
