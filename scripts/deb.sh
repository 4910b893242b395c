#!/usr/bin/env bash
# Builds the Debian package (`make deb`): configures build-deb/ (Release with
# debug info, stripped in the package; CMAKE_INSTALL_PREFIX=/usr; no tests,
# no benchmarks), builds it and runs CPack's DEB generator
# (cmake/VexilPackage.cmake). Prints the path of the .deb on standard output.
# Usage: scripts/deb.sh [DEBIAN_REVISION]   (default 1: vexil_<version>-1_<arch>.deb;
# tests/package/run.sh builds revision 2 to upgrade over revision 1)
# Environment: DEB_BUILD (default build-deb), JOBS.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

rev=${1:-1}
case $rev in
  '' | *[!0-9A-Za-z.+~]*) echo "deb.sh: bad Debian revision '$rev'" >&2; exit 2 ;;
esac
build=${DEB_BUILD:-build-deb}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

scripts/deps.sh package >&2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DVX_WERROR=ON -DVX_TESTS=OFF -DVX_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" >&2
out=$(cd "$build" && cpack -G DEB -D CPACK_DEBIAN_PACKAGE_RELEASE="$rev" 2>&1) || {
  echo "$out" >&2
  exit 1
}
deb=$(printf '%s\n' "$out" | sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$/\1/p' | tail -n 1)
if [ -z "$deb" ] || [ ! -f "$deb" ]; then
  echo "$out" >&2
  echo "deb.sh: cpack did not report a .deb" >&2
  exit 1
fi
echo "deb.sh: $(dpkg-deb -f "$deb" Package Version Architecture | paste -sd' ') in $deb" >&2
echo "$deb"
