#!/usr/bin/env bash
# `make install` and the pkg-config files, the way a user consumes them:
# installs the build tree into a temporary prefix, checks what landed
# there, then compiles examples/embed.c against vexil.pc and
# examples/client.c against vexil-client.pc with the system compiler and
# runs both.
#   tests/sdk/install.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, command...
  local name=$1
  shift
  if ! "$@" >"$tmp/out" 2>&1; then
    echo "FAIL: $name"
    sed 's/^/  /' "$tmp/out" | head -20
    fail=1
  fi
}
check "cmake --install" cmake --install "$build" --prefix "$tmp/prefix"
check "bin/vexil" test -x "$tmp/prefix/bin/vexil"
check "include/vexil/client.h" test -f "$tmp/prefix/include/vexil/client.h"
check "include/vexil/vexil.h" test -f "$tmp/prefix/include/vexil/vexil.h"
pcdir=$(dirname "$(find "$tmp/prefix" -name vexil-client.pc | head -1)")
check "vexil.pc" test -f "$pcdir/vexil.pc"
check "libvexil-client.so" test -e "$(dirname "$pcdir")/libvexil-client.so"
export PKG_CONFIG_PATH=$pcdir
libdir=$(pkg-config --variable=libdir vexil-client)
check "libdir resolves into the prefix" test -e "$libdir/libvexil.so"
cc=${CC:-cc}
# shellcheck disable=SC2046 # pkg-config output is a word list
check "embed.c builds with vexil.pc" $cc -o "$tmp/embed" "$src/examples/embed.c" \
  $(pkg-config --cflags --libs vexil) -Wl,-rpath,"$libdir"
check "embed runs" "$tmp/embed" "$src/examples/features.json" new-checkout u-9
# shellcheck disable=SC2046
check "client.c builds with vexil-client.pc" $cc -o "$tmp/client" "$src/examples/client.c" \
  $(pkg-config --cflags --libs vexil-client) -Wl,-rpath,"$libdir"
# Without VEXIL_URL/VEXIL_TOKEN the example prints its usage and exits 2.
env -u VEXIL_URL -u VEXIL_TOKEN "$tmp/client" some-flag >"$tmp/usage" 2>&1
status=$?
if [ "$status" -ne 2 ] || ! grep -q 'usage:' "$tmp/usage"; then
  echo "FAIL: client without settings (status $status)"
  fail=1
fi
# The installed binary runs.
check "vexil --help" "$tmp/prefix/bin/vexil" serve --help
[ $fail -eq 0 ] && echo "install: ok"
exit $fail
