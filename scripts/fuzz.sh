#!/usr/bin/env bash
# Builds every libFuzzer target in tests/fuzz/ with clang and runs each for
# $1 seconds (default 20). A crash, leak or sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
out=build-fuzz
mkdir -p "$out"
srcs=$(ls src/core/*.c src/api/*.c src/backends/memory/*.c)
CFLAGS="-std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -Iinclude -Isrc"
LIBS="$(pkg-config --libs libcjson libsodium) -lm -lpthread"
shopt -s nullglob
for target in tests/fuzz/fuzz_*.c; do
  name=$(basename "$target" .c)
  clang $CFLAGS -o "$out/$name" "$target" $srcs $LIBS
  mkdir -p "$out/$name.corpus"
  seeds="tests/fuzz/corpus/$name"
  [ -d "$seeds" ] || seeds=""
  echo "-- $name"
  "$out/$name" -max_total_time="$secs" -max_len=4096 -print_final_stats=0 \
    "$out/$name.corpus" $seeds 2>"$out/$name.log" || { tail -50 "$out/$name.log"; exit 1; }
  grep -E "^(#[0-9]+\s+DONE|Done)" "$out/$name.log" | tail -1 || true
done
