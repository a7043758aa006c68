#!/usr/bin/env bash
# make test-windows: the library cross-built for x86_64-pc-windows-gnu with
# MinGW and run under Wine. Prints "PASS: name" / "FAIL: name: why" lines
# (SKIP: and INFO: lines count neither way) and ends, as make test does, with
#   N passed, N failed
# (each Rust test counts as one, from cargo's "test result:" lines). Exits
# non-zero if anything failed. Logs in build/wine/logs/.
#
# What it does, in order:
#   setup     installs wine, wine64 and gcc-mingw-w64-x86-64 with apt-get
#             (as root, when missing) and the rustup target;
#   prefix    a fresh WINEPREFIX in build/wine/prefix, booted under a
#             persistent wineserver with the services' output in a log (see
#             wine-run.sh: else they hold the first test's output pipe);
#   prng      Wine 8 has no bcryptprimitives.dll, whose ProcessPrng every
#             Rust 1.78+ binary imports: without it each one fails to load,
#             silently, with status c0000135 (exit code 53). A stand-in
#             (bcryptprimitives.c) goes into the prefix's system32 when it
#             lacks a real one, proven with a Rust hello-world;
#   header    mmkit.h and api_test.c compile with MinGW -Wall -Wextra -Werror;
#   build     cargo rustc --release: mmkit.dll, libmmkit.dll.a, libmmkit.a in
#             target/windows/x86_64-pc-windows-gnu/release (CARGO_TARGET_DIR
#             is target/windows) and the native libraries a static link
#             needs; if this fails, the rest is skipped;
#   symbols   mmkit.dll exports exactly tests/abi-symbols.txt and tests/abi-symbols-windows.txt and needs no
#             MinGW runtime DLL;
#   rust      cargo test --target x86_64-pc-windows-gnu, every test binary run
#             by wine-run.sh (CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER);
#   c         api_test.c linked against the DLL and against libmmkit.a, run;
#   examples  the C examples that mean something on Windows, run;
#   cmake     make install-windows into build/wine/stage, then tests/cmake
#             (the consumer project of make test-cmake) configured with the
#             MinGW toolchain file, built shared and static, run.
# At the end (and on any exit) the prefix's wineserver is killed.
#
# Environment: MMKIT_WINE_TIMEOUT (seconds for cargo test, default 3600).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

target=x86_64-pc-windows-gnu
W=$root/build/wine
logs=$W/logs
run_wine=$here/wine-run.sh
export CARGO_TARGET_DIR=$root/target/windows
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$run_wine
export WINEPREFIX=$W/prefix MMKIT_WINEPREFIX=$W/prefix
export WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml='
REL=$CARGO_TARGET_DIR/$target/release
MINGW=x86_64-w64-mingw32
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

passed=0
failed=0
failed_stages=()
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); stage_failed=1; }
skip() { echo "SKIP: $1: $2"; }
info() { echo "INFO: $*"; }
oneline() { tr '\n\r' '  ' | cut -c 1-"${1:-600}"; }

stage_name=
stage_start=$SECONDS
stage_failed=0
begin() { # NAME: what the stage does
    end_stage
    stage_name=$1
    stage_start=$SECONDS
    stage_failed=0
    echo "== $*"
}
end_stage() {
    [ -n "$stage_name" ] || return 0
    [ $stage_failed -eq 0 ] || failed_stages+=("$stage_name")
    echo "   ($stage_name: $((SECONDS - stage_start)) s)"
    stage_name=
}
finish() {
    end_stage
    echo
    if [ ${#failed_stages[@]} -gt 0 ]; then
        echo "failed stages: ${failed_stages[*]} (logs in build/wine/logs/)"
    fi
    echo "total $((SECONDS - t0)) s"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}
# A failure that makes the rest meaningless: count it, skip the rest.
fatal() { # name why
    fail "$1" "$2"
    echo "SKIP: the remaining stages: nothing to test without this"
    finish
}
t0=$SECONDS
mkdir -p "$logs"
rm -f "$logs"/*.log

# ----------------------------------------------------------------- setup
begin setup "wine, wine64, gcc-mingw-w64-x86-64 and the rustup target $target"
need=()
command -v wine > /dev/null 2>&1 || need+=(wine)
command -v wine64 > /dev/null 2>&1 || [ -x /usr/lib/wine/wine64 ] || need+=(wine64)
command -v $MINGW-gcc > /dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64)
command -v cmake > /dev/null 2>&1 || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null 2>&1; then
        fatal "setup: packages" "missing ${need[*]}; as root on Debian: apt-get install --no-install-recommends ${need[*]}"
    fi
    echo "   apt-get install --no-install-recommends ${need[*]} (log: build/wine/logs/apt.log)"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -q --no-install-recommends "${need[@]}" >> "$logs/apt.log" 2>&1; }
    # A fresh machine may have no package lists, or stale ones.
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' > /dev/null; then
        apt-get update -q >> "$logs/apt.log" 2>&1
    fi
    if apt_install || { apt-get update -q >> "$logs/apt.log" 2>&1 && apt_install; }; then
        pass "setup: apt-get install ${need[*]}"
    else
        fatal "setup: apt-get install ${need[*]}" "$(tail -n 5 "$logs/apt.log" | oneline)"
    fi
fi
if command -v rustup > /dev/null 2>&1; then
    if ! rustup target list --installed 2>/dev/null | grep -qx $target; then
        if rustup target add $target >> "$logs/rustup.log" 2>&1; then
            pass "setup: rustup target add $target"
        else
            fatal "setup: rustup target add $target" "$(tail -n 3 "$logs/rustup.log" | oneline)"
        fi
    fi
elif [ ! -d "$(rustc --print sysroot)/lib/rustlib/$target" ]; then
    fatal "setup: Rust target $target" "not installed and no rustup to add it"
fi
info "$(wine --version 2> /dev/null), $($MINGW-gcc --version | head -n 1), $(rustc --version)"

# ---------------------------------------------------------------- prefix
# Any wineserver still running for the old prefix goes first.
stop_wine() {
    [ -d "$WINEPREFIX" ] || return 0
    wineserver -k > /dev/null 2>&1
    timeout 30 wineserver -w > /dev/null 2>&1
    return 0
}
trap stop_wine EXIT
trap 'exit 130' INT TERM

begin prefix "a fresh WINEPREFIX in build/wine/prefix"
stop_wine
rm -rf "$WINEPREFIX"
mkdir -p "$WINEPREFIX"
# The persistent server first, then the boot: the services it starts
# (services.exe, winedevice.exe, explorer.exe, ...) stay up for the whole
# run with the log as their stdout/stderr, never a test's pipe. (The
# registry files appear only when the server saves them, later.)
wineserver -p < /dev/null >> "$logs/wineboot.log" 2>&1
if timeout 600 wineboot -i < /dev/null >> "$logs/wineboot.log" 2>&1 &&
    [ -f "$WINEPREFIX/drive_c/windows/system32/kernel32.dll" ]; then
    pass "prefix: wineboot -i made build/wine/prefix ($(du -sm "$WINEPREFIX" | cut -f1) MB)"
else
    fatal "prefix: wineboot -i" "$(tail -n 5 "$logs/wineboot.log" | oneline)"
fi

# ------------------------------------------------------------------ prng
begin prng "bcryptprimitives.dll (ProcessPrng) for Rust binaries"
hello=$W/hello
mkdir -p "$hello/src"
cat > "$hello/Cargo.toml" <<'EOF'
[package]
name = "hello"
version = "0.1.0"
edition = "2021"

[workspace]
EOF
cat > "$hello/src/main.rs" <<'EOF'
// Made by tests/windows/run.sh: std imports ProcessPrng from
// bcryptprimitives.dll (HashMap's RandomState takes its keys from it).
use std::collections::HashMap;
fn main() {
    let mut m = HashMap::new();
    m.insert("hello", "wine");
    println!("hello from {}", m["hello"]);
}
EOF
hello_exe=$hello/target/$target/release/hello.exe
run_hello() { hello_out=$(timeout 120 "$run_wine" "$hello_exe" 2>&1); hello_rc=$?; }
if ! CARGO_TARGET_DIR=$hello/target cargo build -q --release --target $target \
    --manifest-path "$hello/Cargo.toml" > "$logs/hello.log" 2>&1; then
    fatal "prng: build a Rust hello-world for $target" "$(tail -n 5 "$logs/hello.log" | oneline)"
fi
sys32=$WINEPREFIX/drive_c/windows/system32
if [ -e "$sys32/bcryptprimitives.dll" ]; then
    info "this Wine has its own bcryptprimitives.dll; no stand-in"
else
    run_hello
    info "no bcryptprimitives.dll in this Wine: a Rust binary exits $hello_rc without it (53: status c0000135, a DLL not found), printing '$hello_out'"
    if $MINGW-gcc -shared -O2 -s -Wall -Wextra -Werror "$here/bcryptprimitives.c" -o "$W/bcryptprimitives.dll" \
        -lbcrypt > "$logs/bcryptprimitives.log" 2>&1; then
        cp "$W/bcryptprimitives.dll" "$sys32/"
        pass "prng: stand-in bcryptprimitives.dll built and put in system32"
    else
        fatal "prng: build the stand-in bcryptprimitives.dll" "$(oneline < "$logs/bcryptprimitives.log")"
    fi
fi
run_hello
if [ $hello_rc -eq 0 ] && [ "$hello_out" = "hello from wine" ]; then
    pass "prng: a Rust std binary runs under Wine"
else
    fatal "prng: a Rust std binary runs under Wine" "exit $hello_rc: $hello_out"
fi

# ---------------------------------------------------------------- header
begin header "mmkit.h and api_test.c with MinGW"
objs=$W/obj
mkdir -p "$objs"
printf '#include <mmkit.h>\nint main(void) { return mm_page_size() == 0; }\n' > "$objs/h.c"
for std in c99 c11 c17; do
    if $MINGW-gcc -std=$std -Wall -Wextra -Werror -pedantic -Iinclude -c "$objs/h.c" -o "$objs/h.o" 2> "$objs/err"; then
        pass "header: mmkit.h compiles with MinGW -std=$std -pedantic"
    else
        fail "header: mmkit.h compiles with MinGW -std=$std -pedantic" "$(oneline < "$objs/err")"
    fi
done
api_cflags=(-std=c11 -O1 -Wall -Wextra -Werror -Iinclude "-DMMKIT_EXPECTED_VERSION=\"$version\"")
if $MINGW-gcc "${api_cflags[@]}" -c tests/windows/api_test.c -o "$objs/api_test.o" 2> "$objs/err"; then
    pass "header: tests/windows/api_test.c compiles with -Wall -Wextra -Werror"
else
    fail "header: tests/windows/api_test.c compiles with -Wall -Wextra -Werror" "$(oneline < "$objs/err")"
fi

# ----------------------------------------------------------------- build
# One cargo rustc builds every crate type of Cargo.toml (the DLL, its import
# library, the static library, the rlib) and prints what a static link
# needs; a cargo build beside it would rebuild each time (other arguments).
begin build "cargo rustc --release --lib --target $target -- --print native-static-libs"
if timeout 3600 cargo rustc --release --lib --target $target -- --print native-static-libs \
    > "$logs/build.log" 2>&1; then
    for f in mmkit.dll libmmkit.dll.a libmmkit.a; do
        [ -s "$REL/$f" ] && pass "build: target/windows/$target/release/$f" || fail "build: $f" "not made"
    done
    static_libs=$(sed -n 's/^note: native-static-libs: //p' "$logs/build.log" | tail -n 1)
    if [ -n "$static_libs" ]; then
        info "libmmkit.a needs: $static_libs"
    else
        fail "build: native-static-libs" "rustc printed none"
    fi
else
    errors=$(grep -c '^error' "$logs/build.log")
    fatal "build: the library for $target" "cargo failed, $errors error lines (the Windows backend missing or broken?): $(grep -m 3 -A 3 '^error' "$logs/build.log" | oneline 800)"
fi

# --------------------------------------------------------------- symbols
begin symbols "mmkit.dll's exports and imports"
cat tests/abi-symbols.txt tests/abi-symbols-windows.txt | grep -v '^#' | sed '/^$/d' | sort > "$objs/want"
$MINGW-objdump -p "$REL/mmkit.dll" > "$objs/dll.txt"
awk '/^\[Ordinal\/Name Pointer\] Table/ { on = 1; next } on && NF == 0 { on = 0 } on { print $NF }' \
    "$objs/dll.txt" | sort > "$objs/got"
if [ -s "$objs/got" ] && diff -u "$objs/want" "$objs/got" > "$objs/abi.diff"; then
    pass "symbols: mmkit.dll exports exactly tests/abi-symbols.txt and tests/abi-symbols-windows.txt ($(wc -l < "$objs/got") names)"
else
    fail "symbols: mmkit.dll exports exactly tests/abi-symbols.txt and tests/abi-symbols-windows.txt" "$(tail -n +3 "$objs/abi.diff" | oneline)"
fi
dlls=$(sed -n 's/^\tDLL Name: //p' "$objs/dll.txt" | sort -f | tr '\n' ' ')
info "mmkit.dll imports: $dlls"
if echo "$dlls" | grep -qiE 'libgcc|libwinpthread|libstdc\+\+|mmkit'; then
    fail "symbols: mmkit.dll needs no MinGW runtime DLL" "$dlls"
else
    pass "symbols: mmkit.dll needs no MinGW runtime DLL"
fi

# ------------------------------------------------------------------ rust
begin rust "cargo test --target $target (under Wine)"
timeout "${MMKIT_WINE_TIMEOUT:-3600}" cargo test --no-fail-fast --target $target > "$logs/rust.log" 2>&1
rc=$?
# One line per test binary: "Running tests/it/main.rs (...)" then its result.
awk '/^ *(Running|Doc-tests) / { sub(/^ */, ""); what = $0 }
     /^test result: / { print "   " what ": " $0 }' "$logs/rust.log"
p=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$logs/rust.log" | awk '{s+=$1} END {print s+0}')
f=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$logs/rust.log" | awk '{s+=$1} END {print s+0}')
passed=$((passed + p))
failed=$((failed + f))
sed -n 's/^test \(.*\) \.\.\. FAILED$/FAIL: rust: \1: see build\/wine\/logs\/rust.log/p' "$logs/rust.log"
[ "$f" -eq 0 ] || stage_failed=1
echo "   rust: $p passed, $f failed"
if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    fail "rust: cargo test" "exit $rc without a failed test (build error, crash or timeout): $(grep -m 3 -E '^error|process didn.t exit' "$logs/rust.log" | oneline)"
fi

# --------------------------------------------------------------------- c
# Lines from a Windows program's output, prefixed: its PASS:/FAIL: lines count.
relay() { # prefix log rc
    local n_fail n_pass
    n_pass=$(grep -c '^PASS: ' "$2")
    n_fail=$(grep -c '^FAIL: ' "$2")
    tr -d '\r' < "$2" | sed -n "s/^\(PASS\|FAIL\|SKIP\|INFO\): /\1: $1: /p"
    passed=$((passed + n_pass))
    failed=$((failed + n_fail))
    [ "$n_fail" -eq 0 ] || stage_failed=1
    if [ "$3" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
        fail "$1" "exit $3 without a FAIL line (crash? 53 is a DLL not found, 5 an access violation): $(grep -v '^PASS' "$2" | tail -n 5 | oneline)"
    fi
}
imports() { $MINGW-objdump -p "$1" | sed -n 's/^\tDLL Name: //p' | tr '\n' ' '; }

begin c "api_test.c against mmkit.dll and libmmkit.a"
cdir=$W/c
rm -rf "$cdir"
mkdir -p "$cdir"
cp "$REL/mmkit.dll" "$cdir/"
if $MINGW-gcc "${api_cflags[@]}" tests/windows/api_test.c -o "$cdir/api_dll.exe" -L"$REL" -l:libmmkit.dll.a \
    2> "$cdir/err"; then
    imp=$(imports "$cdir/api_dll.exe")
    [[ $imp == *mmkit.dll* ]] && pass "c dll: api_test.exe linked with libmmkit.dll.a imports mmkit.dll" \
        || fail "c dll: api_test.exe imports mmkit.dll" "imports: $imp"
    timeout 300 "$run_wine" "$cdir/api_dll.exe" > "$logs/c-dll.log" 2>&1
    relay "c dll" "$logs/c-dll.log" $?
else
    fail "c dll: link api_test.c with -l:libmmkit.dll.a" "$(oneline < "$cdir/err")"
fi
# shellcheck disable=SC2086 # static_libs is a list of -l options
if $MINGW-gcc "${api_cflags[@]}" tests/windows/api_test.c -o "$cdir/api_static.exe" "$REL/libmmkit.a" $static_libs \
    2> "$cdir/err"; then
    imp=$(imports "$cdir/api_static.exe")
    [[ $imp != *mmkit* ]] && pass "c static: api_test.exe linked with libmmkit.a $static_libs needs no mmkit.dll" \
        || fail "c static: api_test.exe needs no mmkit.dll" "imports: $imp"
    timeout 300 "$run_wine" "$cdir/api_static.exe" > "$logs/c-static.log" 2>&1
    relay "c static" "$logs/c-static.log" $?
else
    fail "c static: link api_test.c with libmmkit.a $static_libs" "$(oneline < "$cdir/err")"
fi

# -------------------------------------------------------------- examples
begin examples "the C examples that mean something on Windows"
bash "$here/examples.sh" "$REL" > "$logs/examples.log" 2>&1
relay "examples" "$logs/examples.log" $?

# ----------------------------------------------------------------- cmake
begin cmake "make install-windows, then a CMake project with the MinGW toolchain file"
stage=$W/stage
rm -rf "$stage"
if make -s install-windows PREFIX="$stage" > "$logs/install-windows.log" 2>&1; then
    pass "cmake: make install-windows PREFIX=build/wine/stage"
    for kind in shared static; do
        b=$W/cmake-$kind
        rm -rf "$b"
        args=(-DCMAKE_TOOLCHAIN_FILE="$root/tests/cmake/mingw-w64-x86_64.cmake" -DCMAKE_PREFIX_PATH="$stage")
        [ $kind = static ] && args+=(-DMMKIT_USE_STATIC_LIBS=ON)
        if cmake -S tests/cmake -B "$b" "${args[@]}" > "$logs/cmake-$kind.log" 2>&1 &&
            cmake --build "$b" >> "$logs/cmake-$kind.log" 2>&1; then
            imp=$(imports "$b/consumer.exe")
            if [ $kind = shared ]; then
                [[ $imp == *mmkit.dll* ]] && pass "cmake $kind: mmkit::mmkit imports mmkit.dll" \
                    || fail "cmake $kind: mmkit::mmkit imports mmkit.dll" "imports: $imp"
            else
                [[ $imp != *mmkit* ]] && pass "cmake $kind: mmkit::mmkit with MMKIT_USE_STATIC_LIBS needs no mmkit.dll" \
                    || fail "cmake $kind: needs no mmkit.dll" "imports: $imp"
            fi
            timeout 120 "$run_wine" "$b/consumer.exe" > "$logs/cmake-$kind-run.log" 2>&1
            relay "cmake $kind" "$logs/cmake-$kind-run.log" $?
        else
            fail "cmake $kind: configure and build tests/cmake" "$(tail -n 5 "$logs/cmake-$kind.log" | oneline)"
        fi
    done
else
    fail "cmake: make install-windows" "$(tail -n 5 "$logs/install-windows.log" | oneline)"
fi

finish
