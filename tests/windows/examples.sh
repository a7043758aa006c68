#!/usr/bin/env bash
# tests/windows/examples.sh RELEASE_DIR: the C examples that mean something on
# Windows, compiled with MinGW against mmkit.dll in RELEASE_DIR and run under
# Wine (tests/windows/run.sh calls it once the prefix is up). Prints PASS:,
# FAIL: and SKIP: lines; exits 1 if any check failed.
#
#   map_cat, mmap_sync, mlock_demo   built (a few #ifdef _WIN32 lines: no
#                                    O_CLOEXEC, pread, poll or getrlimit there)
#   anon_mmap, shared_counter        not built: fork() is their point
#   share_unrelated                  not built: fork() and SCM_RIGHTS over a Unix socket;
#                                    its Windows form, share_unrelated_win.c, is built
#   guarded_reader                   not built: fork(), and it truncates a mapped
#                                    file, which Windows refuses
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rel=${1:?usage: examples.sh RELEASE_DIR}
run_wine=$here/wine-run.sh
E=$root/build/wine/examples
T=$E/tmp
rm -rf "$E"
mkdir -p "$T"
export LC_ALL=C

failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; failures=$((failures + 1)); }
skip() { echo "SKIP: $1: $2"; }

# A path as the Windows programs see it: Wine's Z: drive is the Unix root.
winpath() { local p=${1//\//\\}; printf 'Z:%s' "$p"; }

# run EXE ARGS...: under Wine with a time limit; stdout -> $T/out (CRs of text
# mode stripped into $T/lines), stderr -> $T/err, status -> $rc.
rc=0
run() {
    timeout 120 "$run_wine" "$E/$1.exe" "${@:2}" > "$T/out" 2> "$T/err" < "${STDIN:-/dev/null}"
    rc=$?
    tr -d '\r' < "$T/out" > "$T/lines"
}
has_line() { grep -qxF -- "$1" "$T/lines"; }
errline() { tr -d '\r' < "$T/err" | head -n 1; }

cp "$rel/mmkit.dll" "$E/"
built=()
for x in map_cat mmap_sync mlock_demo share_unrelated_win; do
    if x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -O2 -I"$root/include" "$root/c-examples/$x.c" \
        -o "$E/$x.exe" -L"$rel" -l:libmmkit.dll.a 2> "$T/cc.err"; then
        built+=("$x")
        pass "$x.c compiles with MinGW -Wall -Wextra -Werror"
    else
        fail "$x.c compiles with MinGW" "$(tr '\n' ' ' < "$T/cc.err" | cut -c 1-600)"
    fi
done
skip "anon_mmap, shared_counter" "fork() is their point"
skip "share_unrelated" "fork() and SCM_RIGHTS over a Unix socket (share_unrelated_win.c is its Windows form)"
skip "guarded_reader" "fork(), and Windows refuses to truncate a mapped file"
is_built() { [[ " ${built[*]} " == *" $1 "* ]]; }

# ---------------------------------------------------- share_unrelated_win
if is_built share_unrelated_win; then
    name="share_unrelated_win: a program it starts maps the section by an inherited handle; both see the other's writes"
    run share_unrelated_win
    if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
    elif ! has_line 'peer: read "hello from the parent"'; then fail "$name" "no greeting read by the peer: $(tr '\n' '|' < "$T/lines")"
    elif ! has_line 'parent: the peer wrote "hello back from another program"'; then fail "$name" "no reply: $(tr '\n' '|' < "$T/lines")"
    else pass "$name"; fi
    run share_unrelated_win --peer 0
    [ $rc -ne 0 ] && pass "share_unrelated_win: a bad handle is an error, not a crash (exit $rc: $(errline))" \
        || fail "share_unrelated_win: a bad handle is an error" "exit 0"
fi

# ---------------------------------------------------------------- map_cat
if is_built map_cat; then
    D=$T/cat
    mkdir "$D"
    : > "$D/empty"
    printf 'x' > "$D/one"
    head -c 4095 /dev/urandom > "$D/p4095"
    head -c 4096 /dev/urandom > "$D/p4096"
    head -c 4097 /dev/urandom > "$D/p4097"
    head -c 70001 /dev/urandom > "$D/g70001"
    head -c $((5 * 1024 * 1024)) /dev/urandom > "$D/big"
    # Control bytes text mode would change (CR LF, ^Z); not "nul", a device name on Windows.
    printf 'a\0b\r\n\0\032c\n\0' > "$D/ctl"
    printf 'hello, world\nsecond line\n' > "$D/text"
    for f in empty one p4095 p4096 p4097 g70001 big ctl text; do
        name="map_cat: $f ($(wc -c < "$D/$f") bytes) copied exactly"
        run map_cat "$(winpath "$D/$f")"
        if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
        elif ! cmp -s "$T/out" "$D/$f"; then fail "$name" "output differs ($(wc -c < "$T/out") bytes)"
        elif [ -s "$T/err" ]; then fail "$name" "unexpected stderr: $(errline)"
        else pass "$name"; fi
    done

    name="map_cat: several files and standard input equal cat of them"
    cat "$D/text" "$D/empty" "$D/big" - "$D/ctl" "$D/p4097" < "$D/p4095" > "$T/want"
    STDIN=$D/p4095 run map_cat "$(winpath "$D/text")" "$(winpath "$D/empty")" "$(winpath "$D/big")" - \
        "$(winpath "$D/ctl")" "$(winpath "$D/p4097")"
    if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
    elif ! cmp -s "$T/out" "$T/want"; then fail "$name" "output differs from cat"
    else pass "$name"; fi

    name="map_cat: a missing file is reported, the others still written, exit 1"
    cat "$D/text" "$D/one" > "$T/want"
    run map_cat "$(winpath "$D/text")" "$(winpath "$D/nope")" "$(winpath "$D/one")"
    if [ $rc -ne 1 ]; then fail "$name" "exit $rc, want 1"
    elif ! cmp -s "$T/out" "$T/want"; then fail "$name" "output differs"
    elif ! tr -d '\r' < "$T/err" | grep -q '^map_cat: .*nope: '; then fail "$name" "stderr: $(errline)"
    else pass "$name"; fi

    name="map_cat: a directory is reported, exit 1"
    run map_cat "$(winpath "$D")"
    if [ $rc -eq 1 ] && tr -d '\r' < "$T/err" | grep -q '^map_cat: '; then pass "$name"
    else fail "$name" "exit $rc: $(errline)"; fi
fi

# -------------------------------------------------------------- mmap_sync
# The checks of c-examples/test.sh that mean the same here (no file modes).
if is_built mmap_sync; then
    run_mmap_sync() { run mmap_sync "$@"; }
    shown() { winpath "$1"; }
    out_text() { tr '\n' '|' < "$T/lines"; }
    # shellcheck source=c-examples/mmap_sync_checks.sh
    . "$root/c-examples/mmap_sync_checks.sh"
    check_mmap_sync
fi

# ------------------------------------------------------------- mlock_demo
if is_built mlock_demo; then
    name="mlock_demo: 1 MiB locked and unlocked"
    run mlock_demo 1048576
    if [ $rc -eq 0 ] && has_line "RLIMIT_MEMLOCK: none (Windows)" && has_line "lock 1048576 bytes: locked" &&
        has_line "unlock 1048576 bytes: ok" && has_line "result: as expected"; then
        pass "$name"
    else
        fail "$name" "exit $rc: $(tr '\n' '|' < "$T/lines") $(errline)"
    fi
    name="mlock_demo: a bad size is a usage error"
    run mlock_demo 12abc
    if [ $rc -eq 2 ] && tr -d '\r' < "$T/err" | grep -q usage; then pass "$name"
    else fail "$name" "exit $rc"; fi
fi

exit $((failures > 0))
