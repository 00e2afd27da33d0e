#!/usr/bin/env bash
# test_fetch_script.sh ROOT DUCKDB_DIR WORK - checks scripts/fetch-duckdb.sh's
# cache without the network:
#  1. the installed directory verifies (--check) and a rerun is a no-op that
#     needs no npm and takes well under a second;
#  2. a directory holding only the cached tarballs is re-extracted offline;
#  3. a tampered cached tarball is refused (and, with npm out of reach, the
#     script fails without installing anything);
#  4. a STAMP for other pins is not trusted.
set -euo pipefail
ROOT=$1
DIR=$2
WORK=$3
SCRIPT=$ROOT/scripts/fetch-duckdb.sh
fail() {
  echo "test_fetch_script: FAIL: $*" >&2
  exit 1
}

[ -f "$DIR/libduckdb.so" ] || fail "$DIR has no libduckdb.so (run scripts/fetch-duckdb.sh)"
[ -d "$DIR/dist" ] || fail "$DIR has no dist/ cache"

# A PATH without npm: every step below must work offline from the cache.
NONPM=$WORK/bin
rm -rf "$WORK"
mkdir -p "$NONPM"
for tool in bash sh cat cut sha256sum tar gzip mktemp rm mkdir mv install grep uname id date dirname env; do
  p=$(command -v "$tool") || fail "no $tool"
  ln -s "$p" "$NONPM/$tool"
done
offline() { env -i PATH="$NONPM" HOME="$WORK" TMPDIR="$WORK" bash "$SCRIPT" "$@"; }

# 1. Installed and verified; rerun instant.
offline --check "$DIR" || fail "--check rejects the installed $DIR"
start=$(date +%s%N)
offline "$DIR" 2>/dev/null || fail "a rerun on the installed $DIR failed"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 1000 ] || fail "a rerun took ${ms} ms"

# 2. Only the tarballs: re-extracted offline, identical files.
mkdir -p "$WORK/d2/dist"
cp "$DIR"/dist/*.tgz "$WORK/d2/dist/"
offline "$WORK/d2" 2>/dev/null || fail "re-extraction from the cache failed"
cmp -s "$WORK/d2/libduckdb.so" "$DIR/libduckdb.so" || fail "re-extracted libduckdb.so differs"
cmp -s "$WORK/d2/duckdb.h" "$DIR/duckdb.h" || fail "re-extracted duckdb.h differs"
offline --check "$WORK/d2" || fail "--check rejects the re-extracted directory"

# 3. A tampered tarball: refused, nothing installed.
mkdir -p "$WORK/d3/dist"
cp "$DIR"/dist/*.tgz "$WORK/d3/dist/"
for f in "$WORK"/d3/dist/duckdb-node-bindings-*.tgz; do printf 'x' >>"$f"; done
if offline "$WORK/d3" 2>/dev/null; then fail "a tampered tarball was accepted"; fi
[ ! -e "$WORK/d3/libduckdb.so" ] || fail "a library was installed from a tampered tarball"
[ ! -e "$WORK/d3/STAMP" ] || fail "a STAMP was written after a failure"

# 4. A STAMP for other pins is not trusted by --check.
cp -r "$WORK/d2" "$WORK/d4"
echo "duckdb 0.0.0 other" >"$WORK/d4/STAMP"
if offline --check "$WORK/d4"; then fail "--check trusted a STAMP for other pins"; fi

rm -rf "$WORK"
echo "test_fetch_script: ok"
