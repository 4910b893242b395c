#!/usr/bin/env bash
# Installs the Unleash client-specification vectors, the npm package
# @unleash/client-specification pinned in tests/spec/package-lock.json, into
# tests/spec/node_modules with `npm ci`, unless that version is already
# there. The vectors are then in
#   tests/spec/node_modules/@unleash/client-specification/specifications/
# (index.json and the NN-*.json files), read by tests/spec/test_unleash_spec.c
# (ctest) and tests/compat/spec_oracle.test.js. Needs npm and the registry
# (or npm's cache) only when the package is missing. Idempotent.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pkg=$here/node_modules/@unleash/client-specification

version_of() { # the "version" of a package.json, or nothing
  [ -f "$1" ] && sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$1" | head -n 1
}
want=$(sed -n 's/.*"@unleash\/client-specification": "\([^"]*\)".*/\1/p' "$here/package.json")
have=$(version_of "$pkg/package.json" || true)
if [ -n "$want" ] && [ "$have" = "$want" ] && [ -f "$pkg/specifications/index.json" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "tests/spec/install.sh: npm is missing (scripts/deps.sh test installs it)" >&2
  exit 1
fi
echo "tests/spec/install.sh: installing @unleash/client-specification@$want (npm ci)" >&2
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2
if [ ! -f "$pkg/specifications/index.json" ]; then
  echo "tests/spec/install.sh: npm ci did not give $pkg/specifications/index.json" >&2
  exit 1
fi
