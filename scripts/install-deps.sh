#!/usr/bin/env bash
# Installs the Debian packages hanzo-db needs to build and test.
# Safe to run again: apt-get skips what is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config   # toolchain
  libcjson-dev                       # JSON
  libsodium-dev                      # base64 now; crypto later
  libcmocka-dev                      # unit and conformance tests
  clang libclang-rt-14-dev           # libFuzzer targets
  libzstd-dev liblz4-dev libxxhash-dev   # native engine: compression, checksums
  libsqlite3-dev                     # sqlite://
  libpq-dev postgresql-15 postgresql-server-dev-15   # postgresql:// (the server runs the tests; dev: pgvector build)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
