#!/usr/bin/env bash
# tests/msrv.sh - the crate type-checked, with its tests, by the Rust of its
# rust-version (Cargo.toml) against the committed Cargo.lock: the claim that
# Rust 1.77 builds mmkit stays true (a newer dependency in the lock file, a
# newer language feature or Cargo syntax fails here). build.rs runs too, so
# cbindgen's header is checked with that Cargo.
#
#   bash tests/msrv.sh          (make msrv; make test runs it)
#
# Installs the toolchain with rustup (minimal profile) when the network allows;
# otherwise prints a SKIP. Prints PASS:/FAIL:/SKIP: lines.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
[ -n "$msrv" ] || { echo "FAIL: msrv: no rust-version in Cargo.toml"; exit 1; }
if ! rustup run "$msrv" rustc --version > /dev/null 2>&1; then
    if ! timeout 120 rustup toolchain install "$msrv" --profile minimal > /dev/null 2>&1; then
        echo "SKIP: msrv: Rust $msrv is not installed and rustup could not install it"
        exit 0
    fi
fi
export CARGO_TARGET_DIR=$root/target/msrv
# The crates first: without them (offline, empty cache) there is nothing to judge.
if ! cargo "+$msrv" fetch --locked --quiet > /dev/null 2>&1; then
    echo "SKIP: msrv: Rust $msrv cannot fetch the locked crates (offline?)"
    exit 0
fi
if cargo "+$msrv" check --locked --quiet --all-targets; then
    echo "PASS: msrv: Rust $msrv ($(rustup run "$msrv" rustc --version | cut -d' ' -f2)) checks the library and its tests with the committed Cargo.lock"
else
    echo "FAIL: msrv: Rust $msrv cannot build mmkit with the committed Cargo.lock"
    exit 1
fi
