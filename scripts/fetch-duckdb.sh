#!/usr/bin/env bash
# fetch-duckdb.sh - puts DuckDB's official prebuilt C library where the
# build looks for it (HANZO_DUCKDB_DIR, default third_party/duckdb/).
#
# DuckDB is not packaged in Debian. Its release builds are published on the
# npm registry: libduckdb.so ships in @duckdb/node-bindings-linux-x64 and the
# matching C header (duckdb.h) in the sources of the `duckdb` package of the
# same DuckDB version. We take both with `npm pack` (a download of the
# tarball, no install scripts), check each tarball against the sha256
# pinned below, and extract the two files.
#
#   bash scripts/fetch-duckdb.sh [DIR]     DIR defaults to $HANZO_DUCKDB_DIR,
#                                           else third_party/duckdb
#   bash scripts/fetch-duckdb.sh --check   exit 0 when DIR is complete and
#                                           verified, 1 otherwise; no network
#
# Cache, so that reruns are instant and work offline:
#   DIR/dist/*.tgz      the verified tarballs
#   DIR/libduckdb.so    DIR/duckdb.h    DIR/LICENSE
#   DIR/STAMP           the pins the files were extracted from
# A rerun with a STAMP matching the pins and both files present does
# nothing. A rerun with verified tarballs in DIR/dist re-extracts without
# the network. A tarball whose sha256 is wrong is deleted and fetched again;
# a fetched tarball whose sha256 is wrong is an error (nothing is
# installed).
set -euo pipefail

# Pins: keep the two versions matched (the header must describe the
# library). To upgrade: change the versions, run once with
# HANZO_DUCKDB_PRINT_SHA=1 to see the new checksums, review, pin them.
DUCKDB_VERSION=1.4.4
BINDINGS_PKG=@duckdb/node-bindings-linux-x64
BINDINGS_VERSION=1.4.4-r.4
BINDINGS_TGZ=duckdb-node-bindings-linux-x64-${BINDINGS_VERSION}.tgz
BINDINGS_SHA256=732fac4dc6b8f198870b9c4bb6ddf13544466daca00ad28ba2f1d80de5d7aa4b
HEADER_PKG=duckdb
HEADER_VERSION=${DUCKDB_VERSION}
HEADER_TGZ=duckdb-${HEADER_VERSION}.tgz
HEADER_SHA256=5bb967dcbcd517670ba5f169f238fb9d6787e53752c60ebe24386169d76941ed

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHECK_ONLY=0
if [ "${1:-}" = "--check" ]; then
  CHECK_ONLY=1
  shift
fi
DIR=${1:-${HANZO_DUCKDB_DIR:-$ROOT/third_party/duckdb}}
STAMP_WANT="duckdb ${DUCKDB_VERSION} ${BINDINGS_PKG}@${BINDINGS_VERSION} ${BINDINGS_SHA256} ${HEADER_PKG}@${HEADER_VERSION} ${HEADER_SHA256}"

say() { echo "fetch-duckdb: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) die "the pinned build is for Linux x86_64, not $(uname -s)-$(uname -m)" ;;
esac

installed() {
  [ -f "$DIR/libduckdb.so" ] && [ -f "$DIR/duckdb.h" ] && [ -f "$DIR/STAMP" ] &&
    [ "$(cat "$DIR/STAMP")" = "$STAMP_WANT" ]
}

if installed; then
  [ "$CHECK_ONLY" = 1 ] || say "DuckDB ${DUCKDB_VERSION} already in $DIR"
  exit 0
fi
[ "$CHECK_ONLY" = 1 ] && exit 1

sha_ok() { # FILE SHA256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

mkdir -p "$DIR/dist"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fetch-duckdb.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

fetch() { # PKG VERSION TGZ SHA256
  local pkg=$1 ver=$2 tgz=$3 sha=$4
  if sha_ok "$DIR/dist/$tgz" "$sha"; then
    return 0
  fi
  if [ -f "$DIR/dist/$tgz" ]; then
    say "cached $tgz fails its checksum; fetching it again"
    rm -f "$DIR/dist/$tgz"
  fi
  if ! command -v npm >/dev/null 2>&1; then
    say "npm not found; installing the Debian package npm"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  say "npm pack ${pkg}@${ver}"
  (cd "$TMP" && npm pack --ignore-scripts --loglevel=error "${pkg}@${ver}" >/dev/null) ||
    die "npm pack ${pkg}@${ver} failed (is the registry reachable?)"
  [ -f "$TMP/$tgz" ] || die "npm pack ${pkg}@${ver} did not produce $tgz"
  local got
  got=$(sha256sum "$TMP/$tgz" | cut -d' ' -f1)
  if [ "${HANZO_DUCKDB_PRINT_SHA:-0}" = 1 ]; then
    say "sha256 of $tgz: $got"
  fi
  [ "$got" = "$sha" ] || die "$tgz has sha256 $got, expected $sha: refusing to use it"
  mv "$TMP/$tgz" "$DIR/dist/$tgz"
}

fetch "$BINDINGS_PKG" "$BINDINGS_VERSION" "$BINDINGS_TGZ" "$BINDINGS_SHA256"
fetch "$HEADER_PKG" "$HEADER_VERSION" "$HEADER_TGZ" "$HEADER_SHA256"

# Extract into the temporary directory, then move into place, so an
# interrupted run never leaves a half-written library behind a valid STAMP.
mkdir -p "$TMP/x"
tar -xzf "$DIR/dist/$BINDINGS_TGZ" -C "$TMP/x" package/libduckdb.so package/LICENSE
tar -xzf "$DIR/dist/$HEADER_TGZ" -C "$TMP/x" package/src/duckdb/src/include/duckdb.h
grep -q "duckdb_appender_create" "$TMP/x/package/src/duckdb/src/include/duckdb.h" ||
  die "duckdb.h from $HEADER_TGZ does not look like DuckDB's C API header"
rm -f "$DIR/STAMP"
install -m 0755 "$TMP/x/package/libduckdb.so" "$DIR/libduckdb.so"
install -m 0644 "$TMP/x/package/src/duckdb/src/include/duckdb.h" "$DIR/duckdb.h"
install -m 0644 "$TMP/x/package/LICENSE" "$DIR/LICENSE"
echo "$STAMP_WANT" >"$DIR/STAMP"
say "DuckDB ${DUCKDB_VERSION} installed in $DIR"
