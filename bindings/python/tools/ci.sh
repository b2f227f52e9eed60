#!/usr/bin/env bash
# The Python package's CI, run by .ci/run from the repository root (or by hand):
#   1. connman/_ffi.py and connman/_version.py are what tools/generate.py makes
#      of include/connman.h and Cargo.toml (the mirror cannot drift);
#   2. mypy --strict on the package and its examples (pyproject.toml [tool.mypy]);
#   3. `pip wheel` builds libconnman and a py3-none-<platform> wheel holding it;
#   4. the wheel, installed in a fresh venv (with requirements-test.txt:
#      uvloop), passes the test suite, run from outside the tree with no
#      CONNMAN_LIBRARY, so the bundled library is the one tested; the uvloop
#      tests must run there (CONNMAN_TEST_REQUIRE_UVLOOP=1).
# Tools come from requirements-dev.txt, everything lives under target/python-ci/.
set -euo pipefail
cd "$(dirname "$0")/../../.."
repo=$PWD
work=$repo/target/python-ci
rm -rf "$work"
mkdir -p "$work"
pip_flags=(--disable-pip-version-check --no-input)

echo "-- tools (bindings/python/requirements-dev.txt)"
python3 -m venv "$work/tools"
"$work/tools/bin/pip" install "${pip_flags[@]}" --quiet -r bindings/python/requirements-dev.txt

echo "-- generated mirror is current (bindings/python/tools/generate.py --check)"
"$work/tools/bin/python" bindings/python/tools/generate.py --check

echo "-- mypy --strict"
(cd bindings/python && "$work/tools/bin/mypy" --cache-dir "$work/mypy-cache")

echo "-- pip wheel ./bindings/python (builds libconnman with cargo)"
# Progress: cargo's own lines; the whole log only if the build fails.
if ! "$work/tools/bin/pip" wheel "${pip_flags[@]}" -v --no-deps -w "$work/wheels" ./bindings/python \
    > "$work/wheel.log" 2>&1; then
    cat "$work/wheel.log" >&2
    exit 1
fi
grep -E '^ *(Compiling|Finished) |^Successfully built' "$work/wheel.log" | tail -n 4 || true
wheels=("$work"/wheels/connman-*.whl)
if [ "${#wheels[@]}" -ne 1 ]; then
    echo "expected one wheel, got: ${wheels[*]}" >&2
    exit 1
fi
case "${wheels[0]}" in
    *-py3-none-linux_*.whl) echo "built $(basename "${wheels[0]}")" ;;
    *) echo "the wheel is not tagged py3-none-linux_*: ${wheels[0]}" >&2; exit 1 ;;
esac
if ! python3 -c 'import sys, zipfile; sys.exit("connman/libconnman.so" not in zipfile.ZipFile(sys.argv[1]).namelist())' "${wheels[0]}"; then
    echo "the wheel does not bundle connman/libconnman.so" >&2
    exit 1
fi

echo "-- the test suite against the wheel, installed in a fresh venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install "${pip_flags[@]}" --quiet --no-index "${wheels[0]}"
"$work/venv/bin/pip" install "${pip_flags[@]}" --quiet -r bindings/python/requirements-test.txt
# The test server, wherever the workspace builds it.
flaky_echo=$(cargo build --workspace --bins --quiet --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "flaky-echo":
        print(m["executable"])')
[ -x "$flaky_echo" ] || { echo "flaky-echo was not built" >&2; exit 1; }
mkdir -p "$work/run"
(cd "$work/run" && env -u CONNMAN_LIBRARY -u PYTHONPATH CONNMAN_TEST_INSTALLED=1 \
    CONNMAN_TEST_REQUIRE_UVLOOP=1 \
    CONNMAN_FLAKY_ECHO="$flaky_echo" PYTHONDONTWRITEBYTECODE=1 \
    "$work/venv/bin/python" -m unittest discover -s "$repo/bindings/python/tests")
