#!/usr/bin/env bash
# One config file for every command, as the service uses it
# (/etc/vexil/vexil.conf, packaging/): `vexil admin-token --config` and
# `vexil migrate --config` take its `database` line and skip the settings
# that only `vexil serve` has (host, port, threads...), an unknown key is
# still an error naming the file and line (exit 2), and `vexil serve
# --config` starts on the same file and accepts the token minted offline.
# Usage: config_cli.sh VEXIL_BINARY
set -uo pipefail
vexil=$1
tmp=$(mktemp -d)
pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

conf=$tmp/vexil.conf
cat >"$conf" <<CONF
# as shipped in packaging/vexil.conf.in
host = 127.0.0.1
port = 0
threads = 2
log-requests = off
database = sqlite:$tmp/data/vexil.db
CONF
mkdir -p "$tmp/data"

if "$vexil" migrate --config "$conf" >"$tmp/out" 2>"$tmp/err" &&
  grep -qE '^vexil: [0-9]+ migrations? applied$' "$tmp/out" && [ -f "$tmp/data/vexil.db" ]; then
  ok
else
  bad "migrate --config with serve's settings in the file"; cat "$tmp/err"
fi

if "$vexil" admin-token --config "$conf" --name ops >"$tmp/token" 2>"$tmp/err" &&
  [ "$(wc -l <"$tmp/token")" = 1 ] && [ -s "$tmp/token" ]; then
  ok
else
  bad "admin-token --config with serve's settings in the file"; cat "$tmp/err"
fi

printf 'database = sqlite:%s/data/vexil.db\nbogus = 1\n' "$tmp" >"$tmp/bad.conf"
for cmd in migrate admin-token serve; do
  "$vexil" "$cmd" --config "$tmp/bad.conf" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" = 2 ] && grep -q "bad.conf:2: unknown setting 'bogus'" "$tmp/err"; then
    ok
  else
    bad "$cmd: an unknown key is an error (status $rc)"; cat "$tmp/err"
  fi
done

# serve on the same file: the offline token works, no second one is printed.
"$vexil" serve --config "$conf" >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/^vexil: listening on \(http:[^ ]*\)$/\1/p' "$tmp/serve.out")
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ]; then
  bad "serve --config did not start"; cat "$tmp/serve.err"
else
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
    -H "Authorization: $(cat "$tmp/token")" "$url/api/admin/projects")
  [ "$code" = 200 ] && ok || bad "the token from admin-token --config: HTTP $code"
  if grep -q "admin token" "$tmp/serve.out"; then
    bad "serve minted a first admin token although one exists"
  else
    ok
  fi
fi

echo "config_cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
