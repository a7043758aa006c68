#!/usr/bin/env bash
# tests/cmake/run.sh - `make test-cmake`: the CMake package installed by
# `make install` (lib/cmake/mmkit), as a user's CMake project meets it.
#
#   MMKIT_PREFIX=$PWD/build/prefix bash tests/cmake/run.sh
#
# The project in tests/cmake/ is configured with find_package(mmkit) against
# the installed prefix, built shared (mmkit::mmkit) and static
# (MMKIT_USE_STATIC_LIBS=ON) and run; then again from a copy of the prefix
# moved elsewhere (relocatable). tests/cmake/find/ checks the version rules
# (SameMajorVersion), a multiarch LIBDIR and a missing static library, with no
# compiler. cmake is installed with apt-get when missing and running as root
# (as CI does). Prints PASS:/FAIL: lines; exits non-zero if any check failed.
set -u
: "${MMKIT_PREFIX:?set MMKIT_PREFIX to the installed prefix}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=$(cd "$MMKIT_PREFIX" && pwd)
out=$(mktemp -d "${TMPDIR:-/tmp}/mmkit-cmake.XXXXXX")
trap 'rm -rf "$out"' EXIT
fails=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; fails=$((fails + 1)); }

# ------------------------------------------------------------------ cmake
if ! command -v cmake > /dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null 2>&1; then
    echo "# cmake missing: apt-get install -y --no-install-recommends cmake" >&2
    apt_get() { DEBIAN_FRONTEND=noninteractive apt-get "$@" >> "$out/apt.log" 2>&1; }
    apt_get install -y -q --no-install-recommends cmake ||
        { apt_get update -q && apt_get install -y -q --no-install-recommends cmake; } ||
        tail -n 3 "$out/apt.log" | sed 's/^/#   /' >&2
fi
if ! command -v cmake > /dev/null 2>&1; then
    fail "cmake is available" "not installed, and apt-get could not install it (needs root): install cmake 3.10 or later"
    exit 1
fi
cmake_version=$(cmake --version | sed -n 's/^cmake version \([0-9][0-9.]*\).*/\1/p')
pass "cmake is available ($cmake_version)"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
IFS=. read -r major minor _ <<< "$version"

for f in mmkitConfig.cmake mmkitConfigVersion.cmake; do
    [ -f "$prefix/lib/cmake/mmkit/$f" ] && pass "installed: lib/cmake/mmkit/$f" \
        || fail "installed: lib/cmake/mmkit/$f" "missing"
done

# log NAME -> the end of its log, on one line.
log() { tail -n 12 "$out/$1.log" | tr '\n' ' ' | head -c 1500; }

# consumer NAME PREFIX shared|static [CMAKE ARGS...]: configure, build, inspect
# and run the project in tests/cmake/ against PREFIX; the program's own
# PASS/FAIL lines are passed on, prefixed with NAME.
consumer() {
    local name=$1 dir=$2 kind=$3
    shift 3
    local build=$out/$name exe=$out/$name/consumer
    if ! cmake -S "$here" -B "$build" -DCMAKE_PREFIX_PATH="$dir" "$@" > "$out/$name.log" 2>&1; then
        fail "$name: configure" "$(log "$name")"
        return
    fi
    grep -qF -- "-- mmkit $version from $dir/lib/cmake/mmkit" "$out/$name.log" \
        && pass "$name: find_package(mmkit) finds $version in $dir" \
        || fail "$name: find_package(mmkit) finds $version in $dir" "$(grep -- '-- mmkit ' "$out/$name.log")"
    if ! cmake --build "$build" >> "$out/$name.log" 2>&1; then
        fail "$name: build" "$(log "$name")"
        return
    fi
    pass "$name: builds with -Wall -Wextra -Werror"
    local needed runpath
    needed=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    if [ "$kind" = shared ]; then
        [[ " $needed" == *" libmmkit.so.0 "* ]] && pass "$name: the program needs libmmkit.so.0" \
            || fail "$name: the program needs libmmkit.so.0" "NEEDED: $needed"
        # CMake's build-tree RUNPATH points at the imported library's directory.
        runpath=$(readelf -d "$exe" | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]/\1/p')
        [[ ":$runpath:" == *":$dir/lib:"* ]] && pass "$name: its RUNPATH is $dir/lib" \
            || fail "$name: its RUNPATH is $dir/lib" "got '$runpath'"
    else
        [[ $needed != *libmmkit* ]] && pass "$name: the program does not need libmmkit.so" \
            || fail "$name: the program does not need libmmkit.so" "NEEDED: $needed"
    fi
    local rc
    env -u LD_LIBRARY_PATH "$exe" > "$out/$name.out" 2>&1
    rc=$?
    sed -E "s/^(PASS|FAIL): /\1: $name: /" "$out/$name.out" | grep -E '^(PASS|FAIL): '
    fails=$((fails + $(grep -c '^FAIL: ' "$out/$name.out")))
    if [ $rc -ne 0 ] && ! grep -q '^FAIL: ' "$out/$name.out"; then
        fail "$name: the program runs" "exit $rc: $(head -n 5 "$out/$name.out" | tr '\n' ' ')"
    fi
}

consumer shared "$prefix" shared
consumer static "$prefix" static -DMMKIT_USE_STATIC_LIBS=ON
# Relocatable: a copy of the prefix works where it lies, and nothing the
# build writes names the original.
cp -a "$prefix" "$out/moved-prefix"
consumer moved "$out/moved-prefix" shared
if grep -rqF "$prefix/" "$out/moved" "$out/moved.log" 2> /dev/null; then
    fail "moved: nothing refers to the original prefix" "$(grep -rlF "$prefix/" "$out/moved" "$out/moved.log" | head -n 3 | tr '\n' ' ')"
else
    pass "moved: nothing refers to the original prefix"
fi

# find_only NAME want|refuse [CMAKE ARGS...]: only find_package (tests/cmake/find),
# which must succeed or fail; the log is $out/find-NAME.log.
find_only() {
    local name=$1 want=$2 rc
    shift 2
    cmake -S "$here/find" -B "$out/find-$name" "$@" > "$out/find-$name.log" 2>&1
    rc=$?
    if [ "$want" = want ]; then return $((rc != 0)); else return $((rc == 0)); fi
}

# SameMajorVersion: the same major, not newer than installed.
next=$((minor + 1))
for req in "$major.$minor" "$major.0" "$version;EXACT"; do
    n=v${req//[^0-9.]/_}
    find_only "$n" want -DCMAKE_PREFIX_PATH="$prefix" "-DMMKIT_TEST_VERSION=$req" \
        && pass "version: find_package(mmkit ${req/;/ }) finds $version" \
        || fail "version: find_package(mmkit ${req/;/ }) finds $version" "$(log "find-$n")"
done
for req in "$major.$next" "$((major + 1)).0"; do
    if find_only "v$req" refuse -DCMAKE_PREFIX_PATH="$prefix" "-DMMKIT_TEST_VERSION=$req" \
        && tr -s '\n ' '  ' < "$out/find-v$req.log" | grep -q 'compatible with requested version "'"$req"'"'; then
        pass "version: find_package(mmkit $req) refuses $version"
    else
        fail "version: find_package(mmkit $req) refuses $version" "$(log "find-v$req")"
    fi
done
# Version ranges: CMake 3.19 and later.
if [ "$(printf '%s\n3.19\n' "$cmake_version" | sort -V | head -n 1)" = 3.19 ]; then
    req="$major.$minor...<$((major + 1))"
    find_only range want -DCMAKE_PREFIX_PATH="$prefix" "-DMMKIT_TEST_VERSION=$req" \
        && pass "version: find_package(mmkit $req) finds $version" \
        || fail "version: find_package(mmkit $req) finds $version" "$(log find-range)"
    req="$major.$minor...$((major + 1)).0"
    find_only range-major refuse -DCMAKE_PREFIX_PATH="$prefix" "-DMMKIT_TEST_VERSION=$req" \
        && pass "version: find_package(mmkit $req) refuses $version (the range leaves major $major)" \
        || fail "version: find_package(mmkit $req) refuses $version" "$(log find-range-major)"
else
    echo "SKIP: version ranges: cmake $cmake_version is older than 3.19"
fi

# A Debian-style multiarch LIBDIR: every path found from lib/<arch>/cmake/mmkit.
dest=$out/multiarch
if make -s -C "$root" install DESTDIR="$dest" PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu > "$out/find-multiarch.log" 2>&1 &&
    find_only multiarch want -Dmmkit_DIR="$dest/usr/lib/x86_64-linux-gnu/cmake/mmkit" &&
    grep -qF "mmkit::mmkit_shared: $dest/usr/lib/x86_64-linux-gnu/libmmkit.so include $dest/usr/include " "$out/find-multiarch.log" &&
    grep -qF "mmkit::mmkit_static: $dest/usr/lib/x86_64-linux-gnu/libmmkit.a include $dest/usr/include " "$out/find-multiarch.log"; then
    pass "LIBDIR=/usr/lib/x86_64-linux-gnu: the package finds its libraries and header"
else
    fail "LIBDIR=/usr/lib/x86_64-linux-gnu: the package finds its libraries and header" "$(log find-multiarch)"
fi

# The static target carries the system libraries pkg-config calls Libs.private.
private=$(sed -n 's/^Libs.private: //p' "$prefix/lib/pkgconfig/mmkit.pc" | tr -s ' ' ';')
find_only static-libs want -DCMAKE_PREFIX_PATH="$prefix" -DMMKIT_USE_STATIC_LIBS=ON &&
    grep -qF -- "mmkit::mmkit is mmkit::mmkit_static" "$out/find-static-libs.log" &&
    grep -qF -- "libmmkit.a include $prefix/include libs $private" "$out/find-static-libs.log" \
    && pass "mmkit::mmkit_static links the Libs.private of mmkit.pc ($private)" \
    || fail "mmkit::mmkit_static links the Libs.private of mmkit.pc" "$(log find-static-libs)"

# Asking for a library that is not installed: not found, and why.
rm -f "$out/moved-prefix/lib/libmmkit.a"
if find_only no-static refuse -DCMAKE_PREFIX_PATH="$out/moved-prefix" -DMMKIT_USE_STATIC_LIBS=ON &&
    grep -q 'the static library is not installed' "$out/find-no-static.log"; then
    pass "MMKIT_USE_STATIC_LIBS=ON without libmmkit.a: not found, saying why"
else
    fail "MMKIT_USE_STATIC_LIBS=ON without libmmkit.a: not found, saying why" "$(log find-no-static)"
fi

exit $((fails > 0))
