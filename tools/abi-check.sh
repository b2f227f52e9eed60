#!/usr/bin/env bash
# The C ABI of libconnman.so against its committed baseline, abi/libconnman.abi
# (libabigail's abidw output). Additions pass; a removed function or a changed
# function or type (size, layout, signature) fails.
#
#   tools/abi-check.sh           check (run by .ci/run)
#   tools/abi-check.sh --update  rewrite the baseline after an intended addition
#
# Needs abidw/abidiff (Debian: abigail-tools), installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v abidiff >/dev/null; then
    echo "installing abigail-tools (abidw, abidiff)"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get install -y -qq abigail-tools >/dev/null
fi

cargo build --quiet --lib
lib=target/debug/libconnman.so
flags=(--no-corpus-path --no-comp-dir-path --no-show-locs --no-architecture
       --drop-undefined-syms --type-id-style hash --no-elf-needed)
if [ "${1:-}" = "--update" ]; then
    abidw "${flags[@]}" "$lib" > abi/libconnman.abi
    echo "wrote abi/libconnman.abi"
    exit 0
fi

current=$(mktemp)
trap 'rm -f "$current"' EXIT
abidw "${flags[@]}" "$lib" > "$current"
set +e
report=$(abidiff abi/libconnman.abi "$current")
rc=$?
set -e
# abidiff: bit 1 error, 2 usage, 4 ABI changed, 8 incompatible (a removed symbol).
if [ $((rc & 3)) -ne 0 ]; then
    echo "abidiff failed (exit $rc):" >&2
    echo "$report" >&2
    exit 1
fi
if [ $((rc & 8)) -ne 0 ] || echo "$report" | grep -Eq '[1-9][0-9]* (Removed|Changed)'; then
    echo "incompatible change to the C ABI (against abi/libconnman.abi):" >&2
    echo "$report" >&2
    exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
    echo "C ABI: compatible additions since the baseline (tools/abi-check.sh --update records them):"
    echo "$report" | grep -E 'Added|^  \[A\]' || true
else
    echo "C ABI: unchanged"
fi
