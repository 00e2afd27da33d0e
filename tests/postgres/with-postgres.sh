#!/bin/bash
# with-postgres.sh COMMAND [ARGS...] - runs COMMAND against a throwaway
# PostgreSQL cluster: starts one on a free port (scripts/pg-throwaway.sh),
# replaces every argument that is exactly @URL@ with its URL, exports
# HANZO_TEST_PG_URL, HANZO_TEST_PG_DIR and HANZO_TEST_PG_SCRIPT (for tests
# that restart or stop the server), runs the command, and stops the
# cluster however the command ends. The exit status is the command's.
set -u
here=$(cd "$(dirname "$0")" && pwd)
script="$here/../../scripts/pg-throwaway.sh"
dir=$(mktemp -d /tmp/hanzo-pg.XXXXXX)
trap 'bash "$script" stop "$dir"' EXIT INT TERM
url=$(bash "$script" start "$dir") || exit 1
export HANZO_TEST_PG_URL="$url" HANZO_TEST_PG_DIR="$dir" HANZO_TEST_PG_SCRIPT="$script"
args=()
for a in "$@"; do
  if [ "$a" = "@URL@" ]; then args+=("$url"); else args+=("$a"); fi
done
"${args[@]}"
