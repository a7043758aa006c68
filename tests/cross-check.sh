#!/usr/bin/env bash
# tests/cross-check.sh - the library compiled, and linted, for the other Unix
# targets its backend has code for (FreeBSD, macOS, NetBSD, illumos, Android): every
# cfg block of src/sys/ that Linux never builds is at least type-checked
# against that target's libc bindings. Windows too (x86_64-pc-windows-gnu:
# src/windows/ and the Windows tests, linted with --all-targets), so that a
# change that breaks it fails make test, not only make test-windows.
#
#   bash tests/cross-check.sh          (make cross-check)
#
# Uses the Rust standard libraries of the targets installed with rustup; a
# missing one is added (`rustup target add`) when the network allows. Prints
# `PASS: name` / `FAIL: name` / `SKIP: name: why` and exits non-zero on a FAIL.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
export CARGO_TARGET_DIR=$root/target/cross
status=0
for t in x86_64-unknown-freebsd x86_64-apple-darwin x86_64-unknown-netbsd x86_64-unknown-illumos \
    aarch64-linux-android x86_64-linux-android x86_64-pc-windows-gnu; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$t"; then
        if ! timeout 45 rustup target add "$t" > /dev/null 2>&1; then
            echo "SKIP: cross-check $t: target not installed and rustup could not add it"
            continue
        fi
    fi
    what=--lib
    [ "$t" = x86_64-pc-windows-gnu ] && what=--all-targets
    if cargo clippy --quiet $what --target "$t" -- -D warnings; then
        echo "PASS: cross-check $t (cargo clippy $what -D warnings)"
    else
        echo "FAIL: cross-check $t"
        status=1
    fi
done
exit $status
