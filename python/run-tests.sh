#!/usr/bin/env bash
# Run the mmkit Python tests.
#
#   PYTHON         a python3 with pytest and numpy; when unset, build/venv is made
#                  (python3 -m venv + pip install pytest numpy) and used
#   MMKIT_LIBRARY  the library to test; default build/prefix/lib/libmmkit.so
#                  (from `make stage`), else target/release/libmmkit.so
#   MMKIT_EXAMPLES the compiled C examples (anon_mmap, map_cat) to compare with;
#                  default build/examples when it exists, else those tests skip
#   MMKIT_TEST_PYTHONS  `:`-separated Pythons for CPython's test_mmap (default:
#                  every pyenv version and python3 on the PATH, 3.9 or later)
#   MMKIT_TEST_NO_NEWER=1  skip the second run below
#
# Three runs, each printing one `PASS: name` / `FAIL: name: why` / `SKIP: name:
# why` line per check:
#   1. the tests under $PYTHON;
#   2. when $PYTHON is older than 3.12, the same tests under the newest Python
#      3.12+ found (build/venv-X.Y, made like build/venv), so that the buffer
#      protocol (PEP 688) is tested; its lines end in [pyX.Y];
#   3. CPython's own Lib/test/test_mmap.py of every Python found, unmodified,
#      against mmkit.mmap, and the side-by-side comparison with the standard
#      module (tests/run_cpython_test_mmap.py).
# Exits non-zero when any run failed.
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
status=0
"$PYTHON" -m pytest -q -p no:cacheprovider python/tests || status=1

# 2. Under the newest Python 3.12+, when $PYTHON is older.
if [ "${MMKIT_TEST_NO_NEWER:-0}" != 1 ] && \
        ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    newer=$("$PYTHON" "$here/tests/run_cpython_test_mmap.py" --newest 3.12)
    if [ -z "$newer" ]; then
        echo "SKIP: python/tests [3.12+]: no Python 3.12 or later found (the buffer protocol is untested)"
    else
        version=${newer%% *}
        venv=$root/build/venv-$version
        if ! "$venv/bin/python" -c 'import pytest, numpy' >/dev/null 2>&1; then
            echo "run-tests.sh: creating $venv with pytest and numpy" >&2
            "${newer#* }" -m venv "$venv" && "$venv/bin/python" -m pip install -q pytest numpy
        fi
        if "$venv/bin/python" -c 'import pytest, numpy' >/dev/null 2>&1; then
            MMKIT_TEST_TAG=py$version "$venv/bin/python" -m pytest -q -p no:cacheprovider \
                python/tests || status=1
        else
            echo "SKIP: python/tests [py$version]: cannot make $venv with pytest and numpy"
        fi
    fi
fi

# 3. CPython's test_mmap, and the comparison, under every Python found.
"$PYTHON" "$here/tests/run_cpython_test_mmap.py" || status=1
exit $status
