#!/usr/bin/env bash
# C-side tests against the installed prefix ($MMKIT_PREFIX), through pkg-config only.
# Prints PASS:/FAIL: lines; exits non-zero if any check failed.
set -u
: "${MMKIT_PREFIX:?set MMKIT_PREFIX to the installed prefix}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PKG_CONFIG_PATH=$MMKIT_PREFIX/lib/pkgconfig
CC=${CC:-cc}
CXX=${CXX:-c++}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fails=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; fails=$((fails + 1)); }

lib=$MMKIT_PREFIX/lib
# Installed layout.
for f in "$lib/libmmkit.so.0" "$lib/libmmkit.so" "$lib/libmmkit.a" "$MMKIT_PREFIX/include/mmkit.h" "$lib/pkgconfig/mmkit.pc"; do
    [ -e "$f" ] && pass "installed: ${f#$MMKIT_PREFIX/}" || fail "installed: ${f#$MMKIT_PREFIX/}" "missing"
done
soname=$(readelf -d "$lib/libmmkit.so" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libmmkit.so.0 ] && pass "SONAME is libmmkit.so.0" || fail "SONAME is libmmkit.so.0" "got '$soname'"
grep -q '^Libs.private: .*-l' "$lib/pkgconfig/mmkit.pc" && pass "mmkit.pc has Libs.private" || fail "mmkit.pc has Libs.private" "$(cat "$lib/pkgconfig/mmkit.pc")"
[ "$(pkg-config --modversion mmkit)" = "$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)" ] \
    && pass "pkg-config --modversion" || fail "pkg-config --modversion" "$(pkg-config --modversion mmkit 2>&1)"

# ABI guard: exactly the committed symbols, nothing else (no Rust internals).
grep -v '^#' "$root/tests/abi-symbols.txt" | sed '/^$/d' | sort > "$out/want"
nm -D --defined-only "$lib/libmmkit.so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sed 's/@.*//' | sort > "$out/got"
if diff -u "$out/want" "$out/got" > "$out/abi.diff"; then
    pass "ABI: exported symbols are exactly tests/abi-symbols.txt"
else
    fail "ABI: exported symbols are exactly tests/abi-symbols.txt" "$(tr '\n' ' ' < "$out/abi.diff")"
fi

# The header alone compiles cleanly in strict C and in C++.
printf '#include <mmkit.h>\nint main(void) { return mm_page_size() == 0; }\n' > "$out/h.c"
for std in c99 c11 c17; do
    if $CC -std=$std -Wall -Wextra -Werror -pedantic "$out/h.c" -o "$out/h" $(pkg-config --cflags --libs mmkit) 2> "$out/err"; then
        pass "header compiles with -std=$std -pedantic"
    else
        fail "header compiles with -std=$std -pedantic" "$(head -c 600 "$out/err")"
    fi
done
if command -v "$CXX" > /dev/null; then
    if $CXX -Wall -Wextra -Werror "$here/header_cxx.cpp" -o "$out/hcxx" $(pkg-config --cflags --libs mmkit) 2> "$out/err" \
        && LD_LIBRARY_PATH=$lib "$out/hcxx"; then
        pass "header works from C++"
    else
        fail "header works from C++" "$(head -c 600 "$out/err")"
    fi
fi

# The API test, linked shared and static.
run_api() { # name binary
    if LD_LIBRARY_PATH=$lib "$2" > "$out/$1.out" 2>&1; then
        pass "$1: api_test ran clean ($(grep -c '^PASS' "$out/$1.out") checks)"
    else
        fail "$1: api_test" "$(grep -v '^PASS' "$out/$1.out" | head -n 20 | tr '\n' ' ')"
    fi
}
if $CC -std=c11 -Wall -Wextra -Werror "$here/api_test.c" -o "$out/api_shared" $(pkg-config --cflags --libs mmkit) 2> "$out/err"; then
    pass "shared: api_test compiles with -Wall -Wextra -Werror"
    readelf -d "$out/api_shared" | grep -q 'NEEDED.*libmmkit.so.0' && pass "shared: binary needs libmmkit.so.0" \
        || fail "shared: binary needs libmmkit.so.0" "$(readelf -d "$out/api_shared" | grep NEEDED | tr '\n' ' ')"
    run_api shared "$out/api_shared"
else
    fail "shared: api_test compiles" "$(head -c 800 "$out/err")"
fi
# Static: pkg-config --static adds Libs.private; -l:libmmkit.a picks the archive.
static_libs=$(pkg-config --static --libs mmkit | sed 's/-lmmkit\b/-l:libmmkit.a/')
if $CC -std=c11 -Wall -Wextra -Werror "$here/api_test.c" -o "$out/api_static" $(pkg-config --cflags mmkit) $static_libs 2> "$out/err"; then
    pass "static: api_test compiles with pkg-config --static"
    if readelf -d "$out/api_static" | grep -q 'NEEDED.*libmmkit'; then
        fail "static: binary does not need libmmkit.so" "it does"
    else
        pass "static: binary does not need libmmkit.so"
    fi
    run_api static "$out/api_static"
else
    fail "static: api_test compiles" "$(head -c 800 "$out/err")"
fi

# Explicit huge pages: reserved (as root) only here, where nothing runs beside
# it; the program puts /proc/sys/vm/nr_hugepages back, and so does this.
if $CC -std=c11 -Wall -Wextra -Werror "$here/hugepages_test.c" -o "$out/huge" $(pkg-config --cflags --libs mmkit) 2> "$out/err"; then
    nr=/proc/sys/vm/nr_hugepages
    nr_before=$(cat "$nr" 2> /dev/null)
    LD_LIBRARY_PATH=$lib "$out/huge" > "$out/huge.out" 2>&1
    rc=$?
    if [ -n "$nr_before" ] && [ "$(cat "$nr")" != "$nr_before" ]; then
        echo "$nr_before" > "$nr" 2> /dev/null
        fail "hugepages: nr_hugepages put back" "the test left $(cat "$nr") (was $nr_before)"
    fi
    if grep -q '^SKIP: ' "$out/huge.out"; then
        grep '^SKIP: ' "$out/huge.out"
    elif [ $rc -eq 0 ]; then
        pass "hugepages: an explicit huge page region works in its page size ($(grep -c '^PASS' "$out/huge.out") checks)"
    else
        fail "hugepages: hugepages_test" "exit $rc: $(grep -v '^PASS' "$out/huge.out" | head -n 20 | tr '\n' ' ')"
    fi
else
    fail "hugepages: hugepages_test compiles" "$(head -c 800 "$out/err")"
fi

# The guard and Python's faulthandler (through ctypes, not the mmkit package):
# enabled before the first guarded map, faulthandler is the handler the guard
# passes other faults to, and a truncation is survived; enabled after, it
# catches the fault first and re-raises it without its address, and the
# process dies (what mm_check(3) tells users).
if command -v python3 > /dev/null; then
    cat > "$out/fh.py" <<'PY'
import ctypes, faulthandler, os, sys
lib = ctypes.CDLL(sys.argv[1])
when, path = sys.argv[2], sys.argv[3]
page = lib.mm_page_size()
with open(path, "wb") as f:
    f.write(b"x" * (4 * page))
lib.mm_map_file.argtypes = [ctypes.c_char_p, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_uint32,
                            ctypes.POINTER(ctypes.c_void_p)]
lib.mm_ptr.restype = ctypes.c_void_p
lib.mm_ptr.argtypes = lib.mm_check.argtypes = [ctypes.c_void_p]
if when == "before":
    faulthandler.enable()
r = ctypes.c_void_p()
MM_READ, MM_SHARED, MM_GUARD = 0x1, 0x10, 0x8000
if lib.mm_map_file(path.encode(), 0, 0, MM_READ | MM_SHARED | MM_GUARD, ctypes.byref(r)) != 0:
    sys.exit(3)
if when == "after":
    faulthandler.enable()
os.truncate(path, page)
print("byte", ctypes.string_at(lib.mm_ptr(r) + 3 * page, 1), "check", lib.mm_check(r), flush=True)
PY
    for how in before -X; do
        if [ $how = -X ]; then args=(-X faulthandler "$out/fh.py" "$lib/libmmkit.so.0" none); name="python -X faulthandler"
        else args=("$out/fh.py" "$lib/libmmkit.so.0" before); name="faulthandler.enable() before the first guarded map"; fi
        got=$(python3 "${args[@]}" "$out/fh.bin" 2>&1)
        if [ "$got" = "byte b'\x00' check -14" ]; then pass "guard: $name: a truncated page reads zeros, the process survives"
        else fail "guard: $name: a truncated page reads zeros, the process survives" "$got"; fi
    done
    got=$(python3 "$out/fh.py" "$lib/libmmkit.so.0" after "$out/fh.bin" 2>&1); rc=$?
    if [ $rc -eq $((128 + $(kill -l BUS))) ] && [[ $got == *"Fatal Python error: Bus error"* ]]; then
        pass "guard: faulthandler.enable() after the first guarded map reports a lost page as fatal (documented)"
    else
        fail "guard: faulthandler.enable() after the first guarded map" "exit $rc: $(echo "$got" | head -n 3 | tr '\n' ' ')"
    fi
fi

# make install honours DESTDIR and uninstall removes everything it installed.
dest=$out/destdir
if make -s -C "$root" install DESTDIR="$dest" PREFIX=/opt/mmkit > "$out/inst" 2>&1; then
    n=$(find "$dest" \( -type f -o -type l \) | wc -l)
    [ -L "$dest/opt/mmkit/lib/libmmkit.so.0" ] && [ -f "$dest/opt/mmkit/lib/pkgconfig/mmkit.pc" ] \
        && grep -q '^prefix=/opt/mmkit$' "$dest/opt/mmkit/lib/pkgconfig/mmkit.pc" \
        && pass "install DESTDIR=... PREFIX=/opt/mmkit ($n files)" || fail "install DESTDIR" "layout: $(find "$dest" | tr '\n' ' ')"
    make -s -C "$root" uninstall DESTDIR="$dest" PREFIX=/opt/mmkit > /dev/null 2>&1
    left=$(find "$dest" \( -type f -o -type l \) | wc -l)
    [ "$left" = 0 ] && pass "uninstall removes every installed file" || fail "uninstall" "$left files left"
else
    fail "install DESTDIR" "$(tail -n 5 "$out/inst")"
fi

exit $((fails > 0))
