#!/usr/bin/env bash
# bench/ab.sh - A/B of two library builds in one process (bench/ab.c).
#
#   bash bench/ab.sh DISABLE      (a capability of build.rs, e.g. map_populate)
#
# A is the release build as it is; B the same sources built with
# MMKIT_DISABLE=$DISABLE (its own CARGO_TARGET_DIR). Both are dlopen'ed by
# bench/ab.c with a copy of A as the A/A control, figures 1 and 2's loops
# interleaved. How the quick paths were weighed (and removed) with it, and
# the rule that a second path must show 2% to stay: BENCHMARKS.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
off=${1:?usage: bench/ab.sh DISABLE (a capability of build.rs)}
out=$root/build/ab
mkdir -p "$out"
(cd "$root" && cargo build --release --lib --quiet)
(cd "$root" && MMKIT_DISABLE=$off CARGO_TARGET_DIR=$root/target/ab-$off cargo build --release --lib --quiet)
cp "$root/target/release/libmmkit.so" "$out/a.so"
cp "$root/target/release/libmmkit.so" "$out/a2.so"
cp "$root/target/ab-$off/release/libmmkit.so" "$out/b.so"
head -c 65536 /dev/urandom > "$out/file64k"
${CC:-cc} -O2 -Wall -Wextra -Werror -std=gnu11 -I"$root/include" -o "$out/ab" "$here/ab.c" -ldl
echo "A: this build; B: MMKIT_DISABLE=$off"
"$out/ab" "$out/a.so" "$out/a2.so" "$out/b.so" "$out/file64k"
