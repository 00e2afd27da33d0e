#!/usr/bin/env bash
# Installs what the tests need, then runs every test: the unit tests, the
# conformance suite on each built backend and the CLI end-to-end script,
# first in a normal build, then under AddressSanitizer + UBSan, then each
# fuzz target briefly. Ends with one "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/fetch-duckdb.sh   # DuckDB's C library (npm registry), cached in third_party/
bash scripts/fetch-pgvector.sh # pgvector 0.8.0 (Debian source), built into PostgreSQL 15; cached in third_party/

total_passed=0
total_failed=0
run_ctest() { # DIR [ctest options...]
  local dir=$1 log
  shift
  log="$dir/ctest.log"
  if ! ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" "$@" 2>&1 | tee "$log"; then
    echo "tests failed in $dir" >&2
    exit 1
  fi
  local line n failed
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  n=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  failed=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  total_passed=$((total_passed + n - failed))
  total_failed=$((total_failed + failed))
}

echo "== build (RelWithDebInfo)"
bash scripts/build.sh build
echo "== tests"
run_ctest build

echo "== build (ASan + UBSan)"
bash scripts/build.sh build-asan -DHANZO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DHANZO_BUILD_BENCH=OFF
# Tests labelled "slow" (large recall runs) ran above; under the sanitizers
# they would take many minutes and check nothing the small ones do not.
echo "== tests under ASan + UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_ctest build-asan -LE slow

echo "== fuzz targets (${HANZO_FUZZ_SECONDS:-20} s each)"
mkdir -p build-fuzz
bash scripts/fuzz.sh "${HANZO_FUZZ_SECONDS:-20}" | tee build-fuzz/summary.log
nfuzz=$(grep -c '^-- ' build-fuzz/summary.log || true)
total_passed=$((total_passed + nfuzz))

echo "${total_passed} passed, ${total_failed} failed"
