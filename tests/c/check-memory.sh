#!/usr/bin/env bash
# tests/c/check-memory.sh - the C side under memory checkers.
#
#   MMKIT_PREFIX=/abs/prefix MMKIT_EXAMPLES=/abs/examples bash tests/c/check-memory.sh
#   (make check-memory sets both after staging the library and building the examples)
#
# 1. tests/c/api_test.c, compiled against $MMKIT_PREFIX through pkg-config,
#    under valgrind memcheck (--error-exitcode=1 --leak-check=full
#    --errors-for-leak-kinds=definite). c-examples/test.sh already runs the
#    examples under valgrind; they are not repeated here.
# 2. api_test and every c-examples/*.c rebuilt with
#    -fsanitize=address,undefined -fno-omit-frame-pointer, linked against the
#    shared libmmkit through pkg-config, and run the way c-examples/test.sh
#    runs them (small arguments), with ASAN_OPTIONS=detect_leaks=1 and
#    UBSAN_OPTIONS=halt_on_error=1: any sanitizer report or signal fails.
#    ($MMKIT_EXAMPLES only has to exist: the sanitizer builds come from source.)
#
# Prints `PASS: name` / `FAIL: name: why` (or `SKIP: name: why` when a tool is
# missing and cannot be installed); exits non-zero if anything failed.
set -u
: "${MMKIT_PREFIX:?set MMKIT_PREFIX to the installed prefix}"
: "${MMKIT_EXAMPLES:?set MMKIT_EXAMPLES to the compiled examples directory}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PKG_CONFIG_PATH=$MMKIT_PREFIX/lib/pkgconfig
export LD_LIBRARY_PATH="$MMKIT_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LC_ALL=C
CC=${CC:-cc}
T=$(mktemp -d "${TMPDIR:-/tmp}/mmkit-check-memory.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
fails=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; fails=$((fails + 1)); }
skip() { echo "SKIP: $1: $2"; }
oneline() { tr '\n' ' ' < "$1" | cut -c1-600; }

if ! pkg-config --exists mmkit; then
    fail "pkg-config finds mmkit" "no mmkit.pc under $PKG_CONFIG_PATH"
    exit 1
fi
MMKIT_CFLAGS=$(pkg-config --cflags mmkit)
MMKIT_LIBS=$(pkg-config --libs mmkit)

# ------------------------------------------------------------------ valgrind
have_valgrind=1
if ! command -v valgrind > /dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        apt-get install -y valgrind > "$T/apt.log" 2>&1 || true
    fi
    command -v valgrind > /dev/null || have_valgrind=0
fi

if $CC -std=c11 -g -O1 -Wall -Wextra "$here/api_test.c" -o "$T/api_test" $MMKIT_CFLAGS $MMKIT_LIBS 2> "$T/cc.err"; then
    pass "api_test compiles against $MMKIT_PREFIX"
    if [ $have_valgrind = 0 ]; then
        skip "valgrind: api_test" "valgrind is not installed (and could not be installed as this user)"
    else
        # The forked children of api_test are checked too; their reports go
        # to the same log, their exit status to the parent's checks.
        timeout 120 valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
            --child-silent-after-fork=no --log-file="$T/vg.%p.log" \
            "$T/api_test" > "$T/api_vg.out" 2> "$T/api_vg.err"
        rc=$?
        vg_reports=$(cat "$T"/vg.*.log 2> /dev/null | grep -E '^==[0-9]+== ' | grep -vE 'Warning: (set address range perms|noted but unhandled ioctl)' | head -n 20)
        if [ $rc -ne 0 ]; then
            fail "valgrind: api_test" "exit $rc: $(grep -v '^PASS' "$T/api_vg.out" | head -n 5 | tr '\n' ' ') $(echo "$vg_reports" | tr '\n' ' ' | cut -c1-600)"
        elif [ -n "$vg_reports" ]; then
            fail "valgrind: api_test" "memcheck reported: $(echo "$vg_reports" | tr '\n' ' ' | cut -c1-600)"
        else
            pass "valgrind: api_test clean ($(grep -c '^PASS' "$T/api_vg.out") checks, no errors, no definite leaks)"
        fi
    fi
else
    fail "api_test compiles against $MMKIT_PREFIX" "$(oneline "$T/cc.err")"
fi

# ------------------------------------------------------------------ ASan + UBSan
SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer -g -O1)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87

# A sanitizer build that cannot run here at all (no ptrace for LeakSanitizer,
# ...) is reported once and the sanitizer runs are skipped.
printf '#include <mmkit.h>\nint main(void) { return mm_page_size() == 0; }\n' > "$T/probe.c"
san_ok=1
if ! $CC "${SAN[@]}" "$T/probe.c" -o "$T/probe" $MMKIT_CFLAGS $MMKIT_LIBS 2> "$T/probe.err"; then
    skip "ASan/UBSan" "the compiler cannot build with -fsanitize=address,undefined: $(oneline "$T/probe.err")"
    san_ok=0
elif ! "$T/probe" > /dev/null 2> "$T/probe.run"; then
    skip "ASan/UBSan" "sanitized programs cannot run here: $(oneline "$T/probe.run")"
    san_ok=0
fi

# san_run NAME EXPECTED-LINE|'' ALLOWED-EXITS CMD...: run a sanitized binary;
# fail on a sanitizer report, a signal, an exit code not allowed, or a missing line.
san_run() {
    local name="asan+ubsan: $1" want=$2 allowed=$3
    shift 3
    timeout 60 "$@" > "$T/san.out" 2> "$T/san.err" < "${SAN_STDIN:-/dev/null}"
    local rc=$?
    local report
    report=$(grep -m 3 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer' "$T/san.err")
    if [ -n "$report" ]; then
        fail "$name" "$(echo "$report" | tr '\n' ' ' | cut -c1-600)"
    elif [ $rc -ge 128 ] || [ $rc = 86 ] || [ $rc = 87 ] || [ $rc = 124 ]; then
        fail "$name" "exit $rc: $(oneline "$T/san.err")"
    elif ! [[ " $allowed " == *" $rc "* ]]; then
        fail "$name" "exit $rc (allowed: $allowed): $(oneline "$T/san.err")"
    elif [ -n "$want" ] && ! grep -qxF -- "$want" "$T/san.out"; then
        fail "$name" "no line '$want' in: $(oneline "$T/san.out")"
    else
        pass "$name"
    fi
}

if [ $san_ok = 1 ]; then
    if $CC -std=c11 "${SAN[@]}" "$here/api_test.c" -o "$T/api_test_san" $MMKIT_CFLAGS $MMKIT_LIBS 2> "$T/cc.err"; then
        san_run "api_test" "" "0" "$T/api_test_san"
        n=$(grep -c '^PASS' "$T/san.out")
        [ "$n" -gt 0 ] || fail "asan+ubsan: api_test ran its checks" "no PASS lines"
    else
        fail "asan+ubsan: api_test compiles" "$(oneline "$T/cc.err")"
    fi

    D=$T/data
    mkdir "$D"
    : > "$D/empty"
    printf 'a\0b\0\0c\n\0' > "$D/nul"
    head -c 4097 /dev/urandom > "$D/p4097"
    head -c $((1024 * 1024 + 3)) /dev/urandom > "$D/big"
    mkdir "$D/dir"

    for src in "$root"/c-examples/*.c; do
        x=$(basename "$src" .c)
        # Windows-only programs (share_unrelated_win.c): make test-windows runs them.
        case $x in *_win) continue ;; esac
        bin=$T/$x
        if ! $CC -std=c11 -Wall -Wextra "${SAN[@]}" "$src" -o "$bin" $MMKIT_CFLAGS $MMKIT_LIBS 2> "$T/cc.err"; then
            fail "asan+ubsan: $x compiles" "$(oneline "$T/cc.err")"
            continue
        fi
        [ -x "$MMKIT_EXAMPLES/$x" ] || echo "note: $x is not among the compiled examples in $MMKIT_EXAMPLES" >&2
        # The invocations of c-examples/test.sh, with small arguments.
        case $x in
            anon_mmap)
                san_run "anon_mmap" "In parent, value = 2" "0" "$bin"
                san_run "anon_mmap --devzero" "In parent, value = 2" "0" "$bin" --devzero
                san_run "anon_mmap bad option" "" "2" "$bin" --bogus
                ;;
            map_cat)
                san_run "map_cat (empty, NUL, 4097-byte, 1 MiB files)" "" "0" "$bin" "$D/empty" "$D/nul" "$D/p4097" "$D/big"
                if ! cmp -s "$T/san.out" <(cat "$D/empty" "$D/nul" "$D/p4097" "$D/big"); then
                    fail "asan+ubsan: map_cat output" "differs from cat"
                fi
                san_run "map_cat missing file and directory" "" "1" "$bin" "$D/nul" "$D/missing" "$D/dir"
                SAN_STDIN=$D/p4097 san_run "map_cat stdin" "" "0" "$bin" -
                san_run "map_cat /dev/null" "" "0" "$bin" /dev/null
                ;;
            mmap_sync)
                san_run "mmap_sync --sync (new record)" "counter = 1" "0" "$bin" --sync "$D/rec"
                san_run "mmap_sync --async" "counter = 2" "0" "$bin" --async "$D/rec"
                san_run "mmap_sync --invalidate" "counter = 3" "0" "$bin" --invalidate "$D/rec"
                printf 'not a record\n' > "$D/notrec"
                san_run "mmap_sync refuses a non-record" "" "1" "$bin" "$D/notrec"
                san_run "mmap_sync bad usage" "" "2" "$bin"
                ;;
            mlock_demo)
                san_run "mlock_demo 65536" "result: as expected" "0" "$bin" 65536
                if command -v prlimit > /dev/null; then
                    san_run "mlock_demo 65536 under RLIMIT_MEMLOCK=32768" "result: as expected" "0" \
                        prlimit --memlock=32768:32768 "$bin" 65536
                fi
                san_run "mlock_demo bad size" "" "2" "$bin" 12abc
                ;;
            shared_counter)
                san_run "shared_counter 4 10000" "total = 40000 (expected 40000): OK" "0" "$bin" 4 10000
                san_run "shared_counter bad arguments" "" "2" "$bin" 0
                ;;
            guarded_reader)
                # A lost page repaired in the library's SIGBUS handler; the
                # --unguarded run dies of SIGBUS by design and is not run here.
                san_run "guarded_reader" "reader: still alive" "0" "$bin" "$D/guarded-log"
                ;;
            share_unrelated)
                san_run "share_unrelated" "" "0" "$bin"
                grep -q '^parent read: reply from pid' "$T/san.out" \
                    || fail "asan+ubsan: share_unrelated reply" "$(oneline "$T/san.out")"
                san_run "share_unrelated --no-seal" "" "0" "$bin" --no-seal
                ;;
            *)
                # An example this script does not know yet: it must at least
                # run (or refuse its arguments) without a sanitizer report.
                san_run "$x (no arguments)" "" "0 1 2" "$bin"
                ;;
        esac
    done
fi

if [ $fails -ne 0 ]; then
    echo "check-memory: $fails check(s) failed" >&2
    exit 1
fi
exit 0
