#!/usr/bin/env bash
# Run the mmkit Python tests.
#
#   PYTHON         a python3 with pytest and numpy; when unset, build/venv is made
#                  (python3 -m venv + pip install pytest numpy) and used
#   MMKIT_LIBRARY  the library to test; default build/prefix/lib/libmmkit.so
#                  (from `make stage`), else target/release/libmmkit.so
#   MMKIT_EXAMPLES the compiled C examples (anon_mmap, map_cat) to compare with;
#                  default build/examples when it exists, else those tests skip
#
# Prints pytest's report, then one `PASS: name` / `FAIL: name: why` /
# `SKIP: name: why` line per test, and exits with pytest's exit status.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

if [ -z "${PYTHON:-}" ]; then
    venv=$root/build/venv
    if ! "$venv/bin/python" -c 'import pytest, numpy, wheel' >/dev/null 2>&1; then
        echo "run-tests.sh: creating $venv with pytest and numpy" >&2
        python3 -m venv "$venv" || exit 1
        "$venv/bin/python" -m pip install -q pytest numpy wheel || exit 1
    fi
    PYTHON=$venv/bin/python
fi

if [ -z "${MMKIT_LIBRARY:-}" ]; then
    for candidate in "$root/build/prefix/lib/libmmkit.so" "$root/target/release/libmmkit.so"; do
        if [ -e "$candidate" ]; then
            MMKIT_LIBRARY=$candidate
            break
        fi
    done
fi
if [ -z "${MMKIT_LIBRARY:-}" ]; then
    echo "run-tests.sh: no libmmkit.so found; run 'make stage' first or set MMKIT_LIBRARY" >&2
    echo "FAIL: python/run-tests.sh: no libmmkit.so to test"
    exit 1
fi
if [ -z "${MMKIT_EXAMPLES:-}" ] && [ -d "$root/build/examples" ]; then
    MMKIT_EXAMPLES=$root/build/examples
fi

export MMKIT_LIBRARY
[ -n "${MMKIT_EXAMPLES:-}" ] && export MMKIT_EXAMPLES
export MMKIT_TEST_LINES=1
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"

cd "$root" || exit 1
"$PYTHON" -m pytest -q -p no:cacheprovider python/tests
exit $?
