#!/usr/bin/env bash
# The Debian package on this machine, end to end (`make package-test`):
#   1. builds vexil_<version>-1 and, from the same build, -2 (scripts/deb.sh);
#   2. installs -1 with dpkg: the files, the `vexil` system user,
#      /var/lib/vexil (0750 vexil:vexil), the first admin token in
#      /etc/vexil/admin-token (0600 root), the unit (systemd-analyze verify),
#      libvexil and libvexil-client usable through pkg-config;
#   3. starts the service: with systemd running, `systemctl restart vexil`;
#      without it (a container), the binary exactly as the installed unit
#      says (User=, Group=, UMask=, WorkingDirectory=, EnvironmentFile=,
#      ExecStart=, no new privileges), saying so; waits for /ready;
#   4. writes a flag with the admin token, upgrades to -2 over the running
#      installation, restarts, and checks the flag, the token, the edited
#      conffile and that no second admin token was minted;
#   5. removes the package (data and configuration stay), reinstalls it
#      (nothing minted, data kept), and purges it: no file, user, group or
#      systemd state of the package is left.
# The server listens on a free port (vexil.conf is edited like an operator
# would, which also checks that an upgrade keeps a changed conffile).
# Refuses to run when vexil is already installed here, so it never touches a
# real installation; cleans up (purge) on failure. Needs root (or sudo).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E "$0" "$@"
  fi
  echo "package-test: needs root (dpkg -i, a system user); run it as root or install sudo" >&2
  exit 1
fi

say() { echo "package-test: $*"; }
die() {
  echo "package-test: FAIL: $*" >&2
  exit 1
}

UNIT=/lib/systemd/system/vexil.service
CONF=/etc/vexil/vexil.conf
TOKEN_FILE=/etc/vexil/admin-token

# One run at a time on this machine (dpkg and the `vexil` user are global);
# the lock file goes at the end.
LOCK=/run/lock/vexil-package-test.lock
exec 9>"$LOCK"
flock -w 600 9 || die "another package test holds $LOCK"

if dpkg-query -W -f='${Status}' vexil 2>/dev/null | grep -qv "not-installed"; then
  die "a vexil package is already on this machine ($(dpkg-query -W -f='${Status} ${Version}' vexil)); refusing to touch it"
fi
for p in /etc/vexil /var/lib/vexil; do
  [ ! -e "$p" ] || die "$p exists already; refusing to touch it"
done
if getent passwd vexil >/dev/null || getent group vexil >/dev/null; then
  die "a 'vexil' user or group exists already; refusing to touch it"
fi

tmp=$(mktemp -d /tmp/vexil-package-test.XXXXXX)
server_pid=""
installed=0
systemd=0
[ -d /run/systemd/system ] && systemd=1

stop_server() {
  if [ "$systemd" = 1 ]; then
    systemctl stop vexil.service || true
  elif [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      kill -KILL "$server_pid" 2>/dev/null || true
      wait "$server_pid" 2>/dev/null || true
      server_pid=""
      die "the server did not stop within 10 s of SIGTERM"
    fi
    local rc=0
    wait "$server_pid" || rc=$?
    server_pid=""
    [ "$rc" = 0 ] || die "the server exited with status $rc on SIGTERM (log: $tmp/server.log)"
  fi
}

cleanup() {
  local rc=$?
  set +e
  if [ -n "$server_pid" ]; then
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if [ "$installed" = 1 ]; then
    [ "$systemd" = 1 ] && systemctl stop vexil.service 2>/dev/null
    echo "package-test: cleaning up: dpkg --purge vexil" >&2
    dpkg --purge vexil >/dev/null 2>&1
  fi
  if [ "$rc" != 0 ] && [ -f "$tmp/server.log" ]; then
    echo "package-test: server log:" >&2
    tail -n 30 "$tmp/server.log" >&2
  fi
  rm -rf "$tmp"
  rm -f "$LOCK"
  exit "$rc"
}
trap cleanup EXIT

# ---- 1. the packages ---------------------------------------------------------
say "building the packages (scripts/deb.sh)"
deb1=$(scripts/deb.sh 1 2>"$tmp/deb.log") || { cat "$tmp/deb.log" >&2; die "scripts/deb.sh 1"; }
deb2=$(scripts/deb.sh 2 2>"$tmp/deb.log") || { cat "$tmp/deb.log" >&2; die "scripts/deb.sh 2"; }
v1=$(dpkg-deb -f "$deb1" Version)
v2=$(dpkg-deb -f "$deb2" Version)
dpkg --compare-versions "$v2" gt "$v1" || die "$v2 is not newer than $v1"

# ---- 2. install ----------------------------------------------------------------
say "dpkg -i $(basename "$deb1")"
installed=1
dpkg -i "$deb1" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; die "dpkg -i $deb1"; }
grep -q "first admin token is in $TOKEN_FILE" "$tmp/dpkg.log" ||
  { cat "$tmp/dpkg.log" >&2; die "postinst did not say where the first admin token is"; }
[ "$(dpkg-query -W -f='${Status} ${Version}' vexil)" = "install ok installed $v1" ] ||
  die "dpkg-query: $(dpkg-query -W -f='${Status} ${Version}' vexil)"

for f in /usr/bin/vexil "$UNIT" "$CONF" /usr/lib/sysusers.d/vexil.conf \
         /usr/include/vexil/vexil.h /usr/include/vexil/client.h \
         /usr/share/doc/vexil/operations.md; do
  [ -f "$f" ] || die "$f is not installed"
done
pw=$(getent passwd vexil) || die "no 'vexil' user"
uid=$(echo "$pw" | cut -d: -f3)
[ "$uid" -lt 1000 ] || die "the vexil user is not a system user (uid $uid)"
[ "$(echo "$pw" | cut -d: -f6)" = /var/lib/vexil ] || die "vexil's home: $pw"
getent group vexil >/dev/null || die "no 'vexil' group"
[ "$(stat -c '%U:%G %a' /var/lib/vexil)" = "vexil:vexil 750" ] ||
  die "/var/lib/vexil is $(stat -c '%U:%G %a' /var/lib/vexil), want vexil:vexil 750"
[ "$(stat -c '%U:%G %a' "$TOKEN_FILE")" = "root:root 600" ] ||
  die "$TOKEN_FILE is $(stat -c '%U:%G %a' "$TOKEN_FILE"), want root:root 600"
token=$(cat "$TOKEN_FILE")
case $token in
  '' | *[[:space:]]*) die "$TOKEN_FILE does not hold one token" ;;
esac
[ "$(stat -c '%U' /var/lib/vexil/vexil.db)" = vexil ] || die "the database is not owned by vexil"
[ -L /etc/systemd/system/multi-user.target.wants/vexil.service ] ||
  die "vexil.service is not enabled (no multi-user.target.wants link)"

if command -v systemd-analyze >/dev/null 2>&1; then
  out=$(systemd-analyze verify "$UNIT" 2>&1) || die "systemd-analyze verify $UNIT: $out"
  if echo "$out" | grep -Ei "unknown|invalid|failed|ignoring"; then
    die "systemd-analyze verify $UNIT complains"
  fi
  say "systemd-analyze verify: the unit is valid"
fi

if command -v cc >/dev/null 2>&1 && pkg-config --exists vexil vexil-client; then
  # shellcheck disable=SC2046
  cc -o "$tmp/embed" examples/embed.c $(pkg-config --cflags --libs vexil) ||
    die "examples/embed.c does not build against the installed libvexil"
  "$tmp/embed" examples/features.json new-checkout u-9 >"$tmp/embed.out" ||
    die "examples/embed.c against the installed libvexil.so failed"
  # shellcheck disable=SC2046
  cc -o "$tmp/client" examples/client.c $(pkg-config --cflags --libs vexil-client) ||
    die "examples/client.c does not build against the installed libvexil-client"
  say "libvexil and libvexil-client: headers, pkg-config files and libraries work"
else
  die "pkg-config does not find vexil and vexil-client (or no C compiler)"
fi

# ---- 3. start ------------------------------------------------------------------
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
port=$(free_port) || die "no free port"
sed -i "s/^port = .*/port = $port/" "$CONF"
grep -q "^port = $port\$" "$CONF" || die "could not set the port in $CONF"
base=http://127.0.0.1:$port

unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -n 1; }

start_server() {
  if [ "$systemd" = 1 ]; then
    systemctl restart vexil.service || die "systemctl restart vexil"
    return
  fi
  local user group umask_ wd envfile cmd
  user=$(unit_value User)
  group=$(unit_value Group)
  umask_=$(unit_value UMask)
  wd=$(unit_value WorkingDirectory)
  envfile=$(unit_value EnvironmentFile)
  cmd=$(unit_value ExecStart)
  [ -n "$user" ] && [ -n "$group" ] && [ -n "$wd" ] && [ -n "$cmd" ] ||
    die "$UNIT lacks User=, Group=, WorkingDirectory= or ExecStart="
  local env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
             HOME="$wd" USER="$user" LOGNAME="$user" SHELL=/usr/sbin/nologin)
  envfile=${envfile#-}
  if [ -n "$envfile" ] && [ -f "$envfile" ]; then
    while IFS= read -r line; do
      case $line in '' | '#'*) continue ;; esac
      env+=("$line")
    done <"$envfile"
  fi
  # ExecStart= holds no quotes or variables: plain word splitting is what
  # systemd does with it.
  read -r -a argv <<<"$cmd"
  (
    cd "$wd"
    umask "$umask_"
    exec setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs \
      env -i "${env[@]}" "${argv[@]}"
  ) >>"$tmp/server.log" 2>&1 &
  server_pid=$!
}

wait_ready() {
  local code
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/ready" || true)
    [ "$code" = 200 ] && return 0
    if [ "$systemd" = 0 ] && ! kill -0 "$server_pid" 2>/dev/null; then
      die "the server exited before /ready answered"
    fi
    sleep 0.1
  done
  die "/ready did not answer 200 within 30 s (last: $code)"
}

if [ "$systemd" = 1 ]; then
  say "systemd runs here: systemctl restart vexil (port $port)"
else
  say "systemd is not running here (no /run/systemd/system): starting '$(unit_value ExecStart)'" \
      "as the unit would: User=$(unit_value User), WorkingDirectory=$(unit_value WorkingDirectory)," \
      "UMask=$(unit_value UMask), EnvironmentFile=$(unit_value EnvironmentFile), no new privileges (port $port)"
fi
start_server
wait_ready
say "/ready: 200 on $base"
if [ "$systemd" = 0 ]; then
  [ "$(ps -o user= -p "$server_pid")" = vexil ] || die "the server does not run as vexil"
fi

api() { # METHOD PATH [BODY] -> prints the HTTP status, body in $tmp/body
  local args=(-s -o "$tmp/body" -w '%{http_code}' --max-time 10 -X "$1"
              -H "Authorization: $token" -H 'Content-Type: application/json')
  [ $# -ge 3 ] && args+=(-d "$3")
  curl "${args[@]}" "$base$2" || true
}
code=$(api POST /api/admin/projects/default/features '{"name":"package-test-flag","description":"kept across upgrades"}')
[ "$code" = 201 ] || die "creating a flag with the first admin token: HTTP $code $(cat "$tmp/body")"
say "the first admin token ($TOKEN_FILE) works: flag package-test-flag created"

# ---- 4. upgrade ----------------------------------------------------------------
if [ "$systemd" = 0 ]; then
  stop_server
fi
say "dpkg -i $(basename "$deb2") (upgrade over $v1)"
dpkg -i "$deb2" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; die "dpkg -i $deb2"; }
[ "$(dpkg-query -W -f='${Version}' vexil)" = "$v2" ] || die "the upgrade did not install $v2"
[ "$(cat "$TOKEN_FILE")" = "$token" ] || die "the upgrade changed $TOKEN_FILE"
grep -q "^port = $port\$" "$CONF" || die "the upgrade did not keep the edited $CONF"
[ ! -e "$CONF.dpkg-new" ] && [ ! -e "$CONF.dpkg-old" ] || die "dpkg left $CONF.dpkg-new/old"
start_server
wait_ready
code=$(api GET /api/admin/projects/default/features/package-test-flag)
[ "$code" = 200 ] && grep -q '"kept across upgrades"' "$tmp/body" ||
  die "after the upgrade the flag is gone: HTTP $code $(cat "$tmp/body")"
code=$(api GET /api/admin/api-tokens)
[ "$code" = 200 ] || die "listing tokens after the upgrade: HTTP $code"
n_admin=$(grep -o '"type":"admin"' "$tmp/body" | wc -l)
[ "$n_admin" = 1 ] || die "after the upgrade there are $n_admin admin tokens, want 1: $(cat "$tmp/body")"
say "after the upgrade: /ready 200, the flag, the token and the edited conffile are kept"
stop_server

# ---- 5. remove, reinstall, purge -----------------------------------------------
dpkg --remove vexil >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; die "dpkg --remove vexil"; }
[ ! -e /usr/bin/vexil ] && [ ! -e "$UNIT" ] || die "dpkg --remove left the binary or the unit"
[ -f /var/lib/vexil/vexil.db ] && [ -f "$CONF" ] && [ -f "$TOKEN_FILE" ] ||
  die "dpkg --remove deleted data or configuration (only purge may)"
getent passwd vexil >/dev/null || die "dpkg --remove deleted the vexil user"
dpkg -i "$deb2" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; die "reinstalling $deb2"; }
if grep -q "first admin token" "$tmp/dpkg.log"; then
  die "reinstalling over kept data minted another admin token"
fi
[ "$(cat "$TOKEN_FILE")" = "$token" ] || die "reinstalling changed $TOKEN_FILE"
say "remove keeps /var/lib/vexil and /etc/vexil; a reinstall goes on with them"

dpkg --purge vexil >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; die "dpkg --purge vexil"; }
installed=0
left=$(find /etc /var/lib /lib/systemd /usr/lib /usr/bin /usr/include /usr/share/doc /run \
         -name '*vexil*' ! -path "$LOCK" -print 2>/dev/null || true)
[ -z "$left" ] || die "the purge left: $left"
! getent passwd vexil >/dev/null || die "the purge left the vexil user"
! getent group vexil >/dev/null || die "the purge left the vexil group"
dpkg-query -W -f='${Status}' vexil 2>/dev/null | grep -qv "not-installed" &&
  die "dpkg still knows vexil after the purge: $(dpkg-query -W -f='${Status}' vexil)"
say "purge: no file, user, group or systemd state of vexil is left"
say "passed ($v1 install, start, /ready, upgrade to $v2, remove, reinstall, purge)"
