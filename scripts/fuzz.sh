#!/usr/bin/env bash
# Builds every libFuzzer target in tests/fuzz/ with clang and runs each for
# $1 seconds (default 20). A crash, leak or sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
out=build-fuzz
mkdir -p "$out/obj"
shopt -s nullglob
# The library's core and the native engine's parts (their decoders are what
# the targets exercise), compiled once with coverage instrumentation.
srcs=(src/core/*.c src/api/*.c src/backends/memory/*.c src/engine/*/*.c)
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-std=c11 -g -O1 $SAN -D_GNU_SOURCE -Iinclude -Isrc"
LIBS="$(pkg-config --libs libcjson libsodium libzstd liblz4 libxxhash) -lm -lpthread"
objs=()
for src in "${srcs[@]}"; do
  obj="$out/obj/$(echo "$src" | tr / _).o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
    clang $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$obj" &
  fi
  objs+=("$obj")
  # Two compilers at a time: the machine has two cores.
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
done
for pid in $(jobs -p); do wait "$pid"; done # a failed compile fails the run
for target in tests/fuzz/fuzz_*.c; do
  name=$(basename "$target" .c)
  clang $CFLAGS -fsanitize=fuzzer -o "$out/$name" "$target" "${objs[@]}" $LIBS
  mkdir -p "$out/$name.corpus"
  seeds="tests/fuzz/corpus/$name"
  [ -d "$seeds" ] || seeds=""
  echo "-- $name"
  "$out/$name" -max_total_time="$secs" -max_len=4096 -print_final_stats=0 \
    "$out/$name.corpus" $seeds 2>"$out/$name.log" || { tail -50 "$out/$name.log"; exit 1; }
  grep -E "^Done" "$out/$name.log" | tail -1 || true
done
