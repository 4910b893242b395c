#!/usr/bin/env bash
# Installs the Debian 12 packages Vexil needs to build and test, and says
# what it installs. Idempotent: packages already present are left alone.
# Usage: scripts/deps.sh [build|test|bench|package]   (test adds clang,
# sanitizers, node, chromium for the browser tests, the sqlite3 shell, the
# PostgreSQL server and what `make package-test` needs; bench adds wrk;
# package adds what `make deb` needs)
set -euo pipefail

want=(gcc make cmake pkg-config libjansson-dev libpcre2-dev libsqlite3-dev libsodium-dev
      libmicrohttpd-dev libcurl4-openssl-dev zlib1g-dev curl libpq-dev)
if [ "${1:-build}" = bench ]; then
  want+=(wrk)
fi
# `make deb`: dpkg-shlibdeps (dpkg-dev) and file, which CPack's DEB
# generator runs to find the libraries' Depends.
if [ "${1:-build}" = package ] || [ "${1:-build}" = test ]; then
  want+=(dpkg-dev file)
fi
if [ "${1:-build}" = test ]; then
  want+=(libcmocka-dev clang-14 libclang-rt-14-dev llvm-14 clang-format-14 nodejs npm sqlite3
         chromium fonts-dejavu-core)
  # A private PostgreSQL server for `make store-pg` (tests/support/pg.sh);
  # the server itself is never needed to build or run Vexil.
  want+=(postgresql)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Node.js from elsewhere (NodeSource, nvm) is as good as Debian's.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}")
  missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
