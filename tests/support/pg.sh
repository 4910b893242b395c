#!/usr/bin/env bash
# A private, throw-away PostgreSQL for the tests, from Debian's packages
# (scripts/deps.sh test installs them). It never touches a system cluster:
# initdb in a new temporary directory, a random free port on 127.0.0.1, the
# unix socket in that directory, trust authentication for the superuser
# "vexil" and a database "vexil". initdb refuses to run as root, so as root
# the server runs as the unprivileged user "postgres" (created by the
# package) via runuser.
#
#   tests/support/pg.sh start          starts one; prints its directory
#   tests/support/pg.sh env DIR        prints `export VEXIL_TEST_PG_DSN=...`
#   tests/support/pg.sh stop DIR       stops it and removes DIR
#   tests/support/pg.sh pause DIR      stops the server, keeping DIR (an
#                                      outage in the middle of a test)
#   tests/support/pg.sh resume DIR     starts it again: same data, same port
#   tests/support/pg.sh freeze DIR     SIGSTOPs the server and every process
#                                      it started: connections stay open and
#                                      nothing answers (a hung or partitioned
#                                      database, not a down one)
#   tests/support/pg.sh thaw DIR       SIGCONTs them: it answers again
#   tests/support/pg.sh run CMD ARGS   start, run CMD with VEXIL_TEST_PG_DSN
#                                      and VEXIL_TEST_PG_DIR set, stop (also
#                                      on failure or ^C); exits with CMD's
#                                      status
set -euo pipefail

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    echo "pg.sh: PostgreSQL server binaries not found under /usr/lib/postgresql; run scripts/deps.sh test" >&2
    return 1
  fi
  echo "$d"
}

# Runs a command as the user owning the cluster.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A TCP port nobody listens on right now (the start is retried on a race).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "pg.sh: no free port found" >&2
  return 1
}

# Starts the cluster in DIR on PORT (fsync off: a test cluster is thrown
# away, durability across a machine crash is not tested here).
server_up() {
  local bin=$1 dir=$2 port=$3
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" \
    start >/dev/null 2>&1
}

# Only directories made by cmd_start.
check_dir() {
  case "$1" in
    */vexil-pg.*) [ -f "$1/dsn" ] && return 0 ;;
  esac
  echo "pg.sh: $1 is not a directory made by pg.sh start" >&2
  return 1
}

cmd_pause() {
  local dir=${1:?usage: pg.sh pause DIR} bin
  check_dir "$dir"
  bin=$(pg_bin)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

cmd_resume() {
  local dir=${1:?usage: pg.sh resume DIR} bin port
  check_dir "$dir"
  bin=$(pg_bin)
  port=$(sed -E 's|.*:([0-9]+)/.*|\1|' "$dir/dsn")
  if ! server_up "$bin" "$dir" "$port"; then
    echo "pg.sh: the server did not start again on port $port; its log:" >&2
    tail -20 "$dir/server.log" >&2 || true
    return 1
  fi
}

# The postmaster of DIR's cluster and every process it started (backends,
# background workers), by pid: only this cluster's processes are signalled.
cluster_pids() {
  local dir=$1 pm
  pm=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)
  case "$pm" in
    ''|*[!0-9]*) echo "pg.sh: no running server in $dir" >&2; return 1 ;;
  esac
  echo "$pm"
  pgrep -P "$pm" || true
}

cmd_freeze() {
  local dir=${1:?usage: pg.sh freeze DIR} pids
  check_dir "$dir"
  pids=$(cluster_pids "$dir")
  # The children first, so none is left running while its parent stops.
  # shellcheck disable=SC2046
  kill -STOP $(echo "$pids" | tac)
  # kill(2) only asks: wait (2 s at most) until each is stopped, so that
  # no query is answered after this returns.
  local pid state tries=0
  for pid in $pids; do
    while state=$(awk '{ sub(/.*\) /, ""); print substr($0, 1, 1) }' "/proc/$pid/stat" 2>/dev/null) &&
      [ "$state" != T ] && [ "$state" != t ]; do
      tries=$((tries + 1))
      if [ "$tries" -gt 400 ]; then
        echo "pg.sh freeze: process $pid still runs 2 s after SIGSTOP" >&2
        return 1
      fi
      sleep 0.005
    done
  done
}

cmd_thaw() {
  local dir=${1:?usage: pg.sh thaw DIR} pids
  check_dir "$dir"
  pids=$(cluster_pids "$dir")
  # shellcheck disable=SC2086
  kill -CONT $pids
}

cmd_start() {
  local bin dir port ok=0
  bin=$(pg_bin)
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "pg.sh: running as root needs the user 'postgres' (package postgresql)" >&2
    return 1
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/vexil-pg.XXXXXX")
  chmod 0700 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  if ! as_owner "$bin/initdb" -D "$dir/data" -U vexil --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
    echo "pg.sh: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    return 1
  fi
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if server_up "$bin" "$dir" "$port"; then
      ok=1
      break
    fi
  done
  if [ $ok -ne 1 ]; then
    echo "pg.sh: the server did not start; its log:" >&2
    tail -20 "$dir/server.log" >&2 || true
    rm -rf "$dir"
    return 1
  fi
  as_owner "$bin/psql" -X -q -h "$dir" -p "$port" -U vexil -d postgres \
    -c 'CREATE DATABASE vexil' >/dev/null
  echo "postgres://vexil@127.0.0.1:$port/vexil" >"$dir/dsn"
  echo "$dir"
}

cmd_env() {
  local dir=${1:?usage: pg.sh env DIR}
  echo "export VEXIL_TEST_PG_DSN=$(cat "$dir/dsn")"
}

cmd_stop() {
  local dir=${1:?usage: pg.sh stop DIR} bin
  case "$dir" in
    */vexil-pg.*) ;;
    *) echo "pg.sh: $dir is not a directory made by pg.sh start" >&2; return 1 ;;
  esac
  bin=$(pg_bin)
  if [ -f "$dir/data/postmaster.pid" ]; then
    # A test that failed while the server was frozen: let it hear the stop.
    # shellcheck disable=SC2046
    kill -CONT $(cluster_pids "$dir" 2>/dev/null) 2>/dev/null || true
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 ||
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

cmd_run() {
  [ $# -gt 0 ] || { echo "usage: pg.sh run CMD [ARGS...]" >&2; return 2; }
  local dir rc=0
  dir=$(cmd_start)
  # shellcheck disable=SC2064
  trap "cmd_stop '$dir'" EXIT
  trap 'exit 130' INT TERM
  VEXIL_TEST_PG_DSN=$(cat "$dir/dsn")
  VEXIL_TEST_PG_DIR=$dir
  export VEXIL_TEST_PG_DSN VEXIL_TEST_PG_DIR
  echo "pg.sh: PostgreSQL at $VEXIL_TEST_PG_DSN (socket in $dir)" >&2
  "$@" || rc=$?
  return $rc
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  env) shift; cmd_env "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  pause) shift; cmd_pause "$@" ;;
  resume) shift; cmd_resume "$@" ;;
  freeze) shift; cmd_freeze "$@" ;;
  thaw) shift; cmd_thaw "$@" ;;
  run) shift; cmd_run "$@" ;;
  *) echo "usage: pg.sh start | env DIR | stop DIR | pause DIR | resume DIR | freeze DIR | thaw DIR | run CMD [ARGS...]" >&2; exit 2 ;;
esac
