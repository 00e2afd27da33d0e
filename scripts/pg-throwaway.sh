#!/bin/bash
# pg-throwaway.sh - a throwaway PostgreSQL cluster for tests and benchmarks.
#
#   scripts/pg-throwaway.sh start DIR [PORT]   prints the URL (postgresql://...)
#   scripts/pg-throwaway.sh stop DIR
#   scripts/pg-throwaway.sh restart DIR        (pg_ctl restart -m fast)
#   scripts/pg-throwaway.sh pause DIR          stops the server, keeps the data
#   scripts/pg-throwaway.sh resume DIR         starts it again (same port)
#   scripts/pg-throwaway.sh url DIR            prints the URL again
#
# DIR is created (must not hold a cluster already for start). The server
# listens on 127.0.0.1:PORT (default: a free port in 55432-55499) and on a
# unix socket in DIR, with trust authentication for local connections and
# scram-sha-256 for TCP as user "hanzo_pw" (password "hanzo-secret"), used
# by the authentication tests. fsync, synchronous_commit and
# full_page_writes are off: for tests only, never for data you keep.
# PG_SHARED_BUFFERS (default 128MB) sizes the server's buffer cache.
# Run as root (initdb and the server run as user postgres) or as any
# non-root user (they run as that user).
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "pg-throwaway: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A free port, searched from a random point of the range so that clusters
# started at the same moment (parallel test runs) rarely pick the same one;
# start retries with another port when the server still loses the race.
free_port() {
  local off=$((RANDOM % 68)) i p
  for i in $(seq 0 67); do
    p=$((55432 + (off + i) % 68))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && [ ! -e "/tmp/.s.PGSQL.$p.lock" ]; then
      echo "$p"; return 0
    fi
  done
  echo "pg-throwaway: no free port in 55432-55499" >&2; return 1
}

server_start() { # DIR PORT
  as_owner "$PGBIN/pg_ctl" -D "$1/data" -l "$1/log" -w -t 60 -o "-p $2 -k $1 -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=${PG_SHARED_BUFFERS:-128MB} -c max_connections=200" start >/dev/null \
    || { cat "$1/log" >&2; return 1; }
}

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,18p' "$0" >&2; exit 2; }

case "$cmd" in
start)
  want=${3:-}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  chmod 700 "$dir"
  as_owner "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  cat >"$dir/data/pg_hba.conf" <<HBA
local all all trust
host all hanzo_pw 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
HBA
  for attempt in 1 2 3 4 5; do
    port=${want:-$(free_port)}
    echo "$port" >"$dir/port"
    server_start "$dir" "$port" 2>"$dir/start.err" && break
    if [ -n "$want" ] || [ "$attempt" = 5 ]; then cat "$dir/start.err" >&2; exit 1; fi
  done
  as_owner "$PGBIN/psql" -h "$dir" -p "$port" -U postgres -d postgres -qAt \
    -c "CREATE ROLE hanzo_pw LOGIN PASSWORD 'hanzo-secret'" -c "CREATE DATABASE hanzo" >/dev/null
  as_owner "$PGBIN/psql" -h "$dir" -p "$port" -U postgres -d hanzo -qAt \
    -c "GRANT ALL ON SCHEMA public TO hanzo_pw" >/dev/null
  echo "postgresql://postgres@127.0.0.1:$port/hanzo"
  ;;
url)
  echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/hanzo"
  ;;
restart)
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -m fast restart >/dev/null
  ;;
pause)
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  ;;
resume)
  server_start "$dir" "$(cat "$dir/port")"
  ;;
stop)
  [ -d "$dir/data" ] && as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "pg-throwaway: unknown command '$cmd' (start, stop, restart, pause, resume, url)" >&2; exit 2
  ;;
esac
