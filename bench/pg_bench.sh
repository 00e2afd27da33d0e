#!/bin/bash
# pg_bench.sh PG_BENCH_BINARY [ROWS [QUERIES [DIM [MODE]]]] - runs
# bench/pg_bench.c against a throwaway PostgreSQL cluster
# (scripts/pg-throwaway.sh) and stops it afterwards. MODE is bytea (the
# default) or pgvector (needs the extension: scripts/fetch-pgvector.sh).
# Examples:
#   bash bench/pg_bench.sh build/pg_bench 100000 1000 384
#   bash bench/pg_bench.sh build/pg_bench 20000 200 384 pgvector
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: pg_bench.sh PG_BENCH_BINARY [ROWS [QUERIES [DIM [MODE]]]]}
shift
# Both tables (2 x ~160 MB at the defaults) fit in the buffer cache, and the
# benchmark prewarms both, so neither side reads from the OS cache more.
export PG_SHARED_BUFFERS=${PG_SHARED_BUFFERS:-1GB}
opts=()
[ "${4:-}" = pgvector ] && opts=(--pgvector)
exec bash "$here/../tests/postgres/with-postgres.sh" "${opts[@]}" "$bin" @URL@ "$@"
