#!/usr/bin/env bash
# fetch-pgvector.sh - builds and installs the pgvector extension into the
# PostgreSQL 15 server that the postgresql:// tests start, so that the
# backend's pgvector mode (src/backends/postgres/README.md) is tested.
#
# pgvector is not packaged for Debian bookworm; its source is in Debian's
# archive (trixie's source package). We download that pinned tarball,
# check its sha256, build it against postgresql-server-dev-15 and
# `make install` it into PostgreSQL 15's extension directory.
#
#   bash scripts/fetch-pgvector.sh          quiet when installed (or done)
#
# Idempotent: nothing happens when vector.control is already installed.
# The tarball is cached in third_party/pgvector/ (git-ignored), so a rerun
# after a failed build works offline.
#
# When the download fails (offline) the script prints a loud warning and
# exits 0: the rest of the tests still run and the pgvector tests report
# themselves skipped with the reason. With CI=true a failure is fatal
# (exit 1), so CI never silently skips them.
set -euo pipefail

PGVECTOR_VERSION=0.8.0
TGZ=pgvector_${PGVECTOR_VERSION}.orig.tar.gz
URL=http://deb.debian.org/debian/pool/main/p/pgvector/$TGZ
SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$ROOT/third_party/pgvector

say() { echo "fetch-pgvector: $*" >&2; }
# A failure we can live without locally (offline), but never in CI.
soft_fail() {
  if [ "${CI:-}" = true ]; then
    say "error: $* (CI=true: failing instead of skipping the pgvector tests)"
    exit 1
  fi
  say "################################################################"
  say "WARNING: $*"
  say "WARNING: pgvector is NOT installed; the pgvector tests will be SKIPPED"
  say "################################################################"
  exit 0
}
die() {
  say "error: $*"
  exit 1
}

[ -x "$PG_CONFIG" ] || soft_fail "$PG_CONFIG not found (apt-get install postgresql-server-dev-15)"
SHAREDIR=$("$PG_CONFIG" --sharedir)
[ -f "$SHAREDIR/extension/vector.control" ] && exit 0

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }

mkdir -p "$DIR"
if ! sha_ok "$DIR/$TGZ"; then
  rm -f "$DIR/$TGZ" "$DIR/$TGZ.part"
  curl -sfL --retry 2 -o "$DIR/$TGZ.part" "$URL" || soft_fail "could not download $URL"
  got=$(sha256sum "$DIR/$TGZ.part" | cut -d' ' -f1)
  if [ "$got" != "$SHA256" ]; then
    rm -f "$DIR/$TGZ.part"
    die "$TGZ has sha256 $got, expected $SHA256: refusing to use it"
  fi
  mv "$DIR/$TGZ.part" "$DIR/$TGZ"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fetch-pgvector.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
tar -xzf "$DIR/$TGZ" -C "$TMP"
SRC=$(find "$TMP" -maxdepth 2 -name vector.control -printf '%h\n' | head -1)
[ -n "$SRC" ] || die "$TGZ holds no vector.control"
# OPTFLAGS="": no -march=native, so the build runs on any x86-64 machine.
make -C "$SRC" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" -j2 >"$TMP/build.log" 2>&1 ||
  { tail -30 "$TMP/build.log" >&2; die "building pgvector $PGVECTOR_VERSION failed"; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo make -C "$SRC" PG_CONFIG="$PG_CONFIG" install >"$TMP/install.log" 2>&1 ||
  { tail -30 "$TMP/install.log" >&2; die "installing pgvector $PGVECTOR_VERSION failed"; }
[ -f "$SHAREDIR/extension/vector.control" ] || die "make install did not install vector.control"
