#!/usr/bin/env bash
# The repository on its own (`make clone-test`): clones this tree's HEAD into
# a fresh temporary folder that has nothing beside it (no ../shared), then,
# in the clone, installs the pinned specification vectors the way `make
# test` does (tests/spec/install.sh, npm ci), builds libvexil's spec test and
# the vexil binary, and runs the two specification suites there:
# test_unleash_spec (ctest, libvexil) and tests/compat/spec_oracle.test.js
# (`vexil eval`). A suite that cannot find its vectors fails, never skips.
# Then the model gateway's suite (tests/gateway, with its pinned npm
# clients) runs there too, and no file the clone holds after these runs,
# installed packages included, imports a `../shared` (npm_pinned drops
# the type declarations, source maps and TypeScript sources packages
# ship, where openai's imports of its own module `shared` were).
# Uncommitted changes are not in the clone (it says so); the folder is
# removed at the end. Environment: JOBS.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
say() { echo "clone-test: $*"; }

tmp=$(mktemp -d /tmp/vexil-clone-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
clone=$tmp/vexil

if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
  say "note: uncommitted changes in $root are not in the clone (it tests HEAD)"
fi
git clone --quiet --no-hardlinks "$root" "$clone"
say "cloned $(git -C "$clone" rev-parse --short HEAD) into $clone"
if [ -e "$clone/../shared" ]; then
  say "FAIL: $clone/../shared exists"
  exit 1
fi

cd "$clone"
# Nothing from the calling environment may point the suites elsewhere.
unset VEXIL_SPECS VEXIL_BIN

tests/spec/install.sh
cmake -S . -B build -DVX_WERROR=ON -DVX_TESTS=ON -DVX_BENCH=OFF >/dev/null
if ! cmake --build build -j"$jobs" --target test_unleash_spec vexil_cli >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log"
  say "FAIL: the build in the clone"
  exit 1
fi

say "ctest -R test_unleash_spec (libvexil against the vectors)"
ctest --test-dir build -R '^test_unleash_spec$' --no-tests=error --output-on-failure
say "tests/compat/spec_oracle.test.js (vexil eval against the vectors)"
VEXIL_BIN=$clone/build/src/cli/vexil tests/compat/run.sh tests/compat/spec_oracle.test.js \
  >"$tmp/oracle.log" 2>&1 || {
  cat "$tmp/oracle.log"
  say "FAIL: spec_oracle.test.js in the clone"
  exit 1
}
grep -E '^# (tests|pass|fail|cancelled|skipped) |expectations checked' "$tmp/oracle.log" || true
# The two delta-stream files are skipped by design (see the test); anything
# failing or cancelled, or nothing passing, is a failure.
if ! grep -q '^# fail 0$' "$tmp/oracle.log" || ! grep -q '^# cancelled 0$' "$tmp/oracle.log" ||
  ! grep -qE '^# pass [1-9]' "$tmp/oracle.log"; then
  cat "$tmp/oracle.log"
  say "FAIL: spec_oracle.test.js"
  exit 1
fi
say "tests/gateway (the openai and ollama npm clients, pinned)"
VEXIL_BIN=$clone/build/src/cli/vexil tests/gateway/run.sh >"$tmp/gateway.log" 2>&1 || {
  cat "$tmp/gateway.log"
  say "FAIL: tests/gateway in the clone"
  exit 1
}
grep -E '^# (tests|pass|fail|cancelled) ' "$tmp/gateway.log" || true
if ! grep -q '^# fail 0$' "$tmp/gateway.log" || ! grep -qE '^# pass [1-9]' "$tmp/gateway.log"; then
  cat "$tmp/gateway.log"
  say "FAIL: tests/gateway"
  exit 1
fi
# Nothing in the clone, tracked or installed, imports a ../shared.
found=$(grep -rlE "(from|require\(|import\() *['\"](\.\./)+shared(\.[cm]?js)?['\"/]" "$clone" --include='*.js' \
  --include='*.mjs' --include='*.cjs' --include='*.ts' --include='*.mts' --include='*.cts' --include='*.sh' \
  --include='*.c' --include='*.h' 2>/dev/null | head -5 || true)
if [ -n "$found" ]; then
  echo "$found"
  say "FAIL: these files in the clone import a ../shared"
  exit 1
fi
say "passed: the specification and gateway suites run from the clone alone"
