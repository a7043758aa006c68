#!/usr/bin/env bash
# tests/c/oom.sh - no abort when the heap is exhausted (tests/c/oom_test.c).
#
#   MMKIT_PREFIX=/abs/prefix bash tests/c/oom.sh
#
# Builds the malloc-failure shim (tests/c/failmalloc.c) and the driver against
# the installed library (pkg-config), then runs every scenario with each of
# its heap allocations failing in turn (alone, and with every later one):
# once plainly and once under valgrind memcheck, where a definite leak in any
# run fails. Prints PASS:/FAIL: lines; exits non-zero on a failure.
set -u
: "${MMKIT_PREFIX:?set MMKIT_PREFIX to the installed prefix}"
here=$(cd "$(dirname "$0")" && pwd)
export PKG_CONFIG_PATH=$MMKIT_PREFIX/lib/pkgconfig
export LD_LIBRARY_PATH="$MMKIT_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
CC=${CC:-cc}
T=$(mktemp -d "${TMPDIR:-/tmp}/mmkit-oom.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $1: $2"; fails=$((fails + 1)); }

if ! $CC -O1 -g -shared -fPIC -Wl,-soname,libfailmalloc.so "$here/failmalloc.c" -o "$T/libfailmalloc.so" 2> "$T/cc.err" \
    || ! $CC -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-format-truncation "$here/oom_test.c" -o "$T/oom_test" \
        $(pkg-config --cflags --libs mmkit) -L"$T" -lfailmalloc 2>> "$T/cc.err"; then
    fail "out of memory: the shim and driver compile" "$(head -c 800 "$T/cc.err" | tr '\n' ' ')"
    exit 1
fi
echo "PASS: out of memory: the shim and driver compile"
export LD_LIBRARY_PATH="$T:$LD_LIBRARY_PATH"

# Plain runs: the driver prints a PASS/FAIL line per scenario.
LD_PRELOAD="$T/libfailmalloc.so" "$T/oom_test" > "$T/plain.out" 2> "$T/plain.err"
rc=$?
cat "$T/plain.out"
if [ $rc -ne 0 ] && ! grep -q '^FAIL: ' "$T/plain.out"; then
    fail "out of memory: the driver" "exit $rc: $(tail -n 5 "$T/plain.err" | tr '\n' ' ')"
fi
grep -q '^FAIL: ' "$T/plain.out" && { echo "--- driver stderr (tail)"; tail -n 30 "$T/plain.err"; }

# The same under valgrind: a run that leaks (or misuses memory) exits 99.
if ! command -v valgrind > /dev/null && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get install -y valgrind > "$T/apt.log" 2>&1 || true
fi
if command -v valgrind > /dev/null; then
    # somalloc=nouse: memcheck replaces libc's allocator only, so the shim's
    # malloc stays in front of it (and hands memcheck every block it passes).
    # (valgrind itself cannot run under a lowered RLIMIT_AS: that check is
    # the plain run's only.)
    MMKIT_OOM_NO_RLIMIT=1 LD_PRELOAD="$T/libfailmalloc.so" timeout 900 valgrind -q --soname-synonyms=somalloc=nouse \
        --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        "$T/oom_test" > "$T/vg.out" 2> "$T/vg.err"
    rc=$?
    sed 's/^\(PASS\|FAIL\): out of memory: /\1: out of memory, valgrind: /' "$T/vg.out"
    if [ $rc -ne 0 ] && ! grep -q '^FAIL: ' "$T/vg.out"; then
        fail "out of memory, valgrind: the driver" "exit $rc: $(tail -n 5 "$T/vg.err" | tr '\n' ' ')"
    fi
    grep -q '^FAIL: ' "$T/vg.out" && { echo "--- valgrind stderr (tail)"; tail -n 40 "$T/vg.err"; }
else
    echo "SKIP: out of memory, valgrind: valgrind is not installed and could not be"
fi
fails=$((fails + $(grep -c '^FAIL: ' "$T/plain.out") ))
[ -f "$T/vg.out" ] && fails=$((fails + $(grep -c '^FAIL: ' "$T/vg.out") ))
exit $((fails > 0))
