#!/usr/bin/env bash
# Runs the browser tests of the web console (tests/ui/*.test.js):
#
#   tests/ui/run.sh [node --test arguments...]   (default: tests/ui/)
#
# Needs Node.js >= 20 and Debian's chromium (scripts/deps.sh test installs
# it); playwright-core and axe-core come from package-lock.json (`npm ci` when missing)
# and never downloads a browser. VEXIL_BIN: the binary under test (default
# build/src/cli/vexil); VEXIL_CHROMIUM: the browser (default /usr/bin/chromium);
# screenshots go to build/ui-artifacts/ (VEXIL_UI_ARTIFACTS).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

export VEXIL_BIN="${VEXIL_BIN:-$root/build/src/cli/vexil}"
export VEXIL_CHROMIUM="${VEXIL_CHROMIUM:-/usr/bin/chromium}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

. "$root/tests/support/node.sh" # sets node_bin
if [ ! -x "$VEXIL_CHROMIUM" ]; then
  echo "run.sh: no browser at $VEXIL_CHROMIUM; run scripts/deps.sh test (installs Debian's chromium)" >&2
  exit 1
fi
if [ ! -x "$VEXIL_BIN" ]; then
  echo "run.sh: $VEXIL_BIN is missing or not executable; build it (make build) or set VEXIL_BIN" >&2
  exit 1
fi
npm_pinned "$here"
echo "run.sh: node $("$node_bin" --version), $("$VEXIL_CHROMIUM" --version 2>/dev/null || echo chromium), VEXIL_BIN=$VEXIL_BIN" >&2

if [ "$#" -eq 0 ]; then
  set -- tests/ui/
fi
exec "$node_bin" --test --test-concurrency=1 "$@"
