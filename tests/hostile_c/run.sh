#!/bin/sh
# Builds tests/hostile_c/v2_stress.c against target/debug/libconnman.so and runs
# it plain, under valgrind (memcheck, definite leaks are errors) and with ASan.
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/connman-hostile-c}
mkdir -p "$OUT"
cargo build -q --manifest-path "$ROOT/Cargo.toml" -p connman
LIB="$ROOT/target/debug"
CFLAGS="-std=c11 -Wall -Wextra -pedantic -g -O1 -I$ROOT/include"
cc $CFLAGS "$ROOT/tests/hostile_c/v2_stress.c" -o "$OUT/v2" -L"$LIB" -lconnman -lpthread
cc $CFLAGS -fsanitize=address -fno-omit-frame-pointer "$ROOT/tests/hostile_c/v2_stress.c" \
   -o "$OUT/v2_asan" -L"$LIB" -lconnman -lpthread
export LD_LIBRARY_PATH="$LIB"
echo "--- plain";  "$OUT/v2"
echo "--- valgrind"
valgrind -q --error-exitcode=1 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite \
    "$OUT/v2"
echo "--- asan"
ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$ROOT/c-examples/tests/lsan.supp:print_suppressions=0 \
    "$OUT/v2_asan"
echo "all ok"
