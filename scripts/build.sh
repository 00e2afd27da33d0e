#!/usr/bin/env bash
# Configures and builds hanzo-db into build/ (or $1), passing extra CMake
# arguments through: scripts/build.sh build-asan -DHANZO_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
