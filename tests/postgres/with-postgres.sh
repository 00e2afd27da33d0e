#!/bin/bash
# with-postgres.sh [--pgvector] COMMAND [ARGS...] - runs COMMAND against a
# throwaway PostgreSQL cluster: starts one on a free port
# (scripts/pg-throwaway.sh), replaces every argument that is exactly @URL@
# with its URL (and @URL@ at the start of an argument, so "@URL@?a=b"
# becomes "URL?a=b"), exports HANZO_TEST_PG_URL, HANZO_TEST_PG_DIR and
# HANZO_TEST_PG_SCRIPT (for tests that restart or stop the server), runs
# the command, and stops the cluster however the command ends. The exit
# status is the command's.
#
# --pgvector: the test needs the pgvector extension. It is created in the
# test database first; when the server does not have it (scripts/
# fetch-pgvector.sh installs it), the reason is printed and the exit
# status is 77, which ctest reports as skipped (SKIP_RETURN_CODE).
set -u
here=$(cd "$(dirname "$0")" && pwd)
script="$here/../../scripts/pg-throwaway.sh"
need_pgvector=0
if [ "${1:-}" = "--pgvector" ]; then
  need_pgvector=1
  shift
fi
dir=$(mktemp -d /tmp/hanzo-pg.XXXXXX)
trap 'bash "$script" stop "$dir"' EXIT INT TERM
url=$(bash "$script" start "$dir") || exit 1
export HANZO_TEST_PG_URL="$url" HANZO_TEST_PG_DIR="$dir" HANZO_TEST_PG_SCRIPT="$script"
if [ "$need_pgvector" = 1 ]; then
  pgbin=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
  as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  if ! out=$(as_owner "$pgbin/psql" -h "$dir" -p "$(cat "$dir/port")" -U postgres -d hanzo -qAt \
      -c "CREATE EXTENSION IF NOT EXISTS vector" 2>&1); then
    echo "SKIPPED: this test needs the pgvector extension, which the server does not have" \
         "(install it with scripts/fetch-pgvector.sh): $out"
    exit 77
  fi
fi
args=()
for a in "$@"; do
  case "$a" in
    @URL@*) args+=("$url${a#@URL@}") ;;
    *) args+=("$a") ;;
  esac
done
"${args[@]}"
