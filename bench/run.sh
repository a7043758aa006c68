#!/usr/bin/env bash
# bench/run.sh - mmkit against its peers (issue 7; the guard's figures 7, 8 and 9:
# issue 17). Entry point of `make bench`.
#
#   make bench                         (stages the library and the examples first)
#   MMKIT_PREFIX=$PWD/build/prefix MMKIT_EXAMPLES=$PWD/build/examples bash bench/run.sh
#
# Environment (the top-level Makefile sets the first three):
#   MMKIT_PREFIX    staged prefix (lib/libmmkit.so, include/mmkit.h, lib/pkgconfig)
#   MMKIT_LIBRARY   the shared library for Python (default $MMKIT_PREFIX/lib/libmmkit.so)
#   MMKIT_EXAMPLES  compiled c-examples (for map_cat)
#   BENCH_QUICK=1   a few rounds of everything: a smoke test, not a measurement
#   BENCH_FIGURES   comma-separated figures to run (e.g. 5 or 7,9; default: all)
#   BENCH_TMPFS     tmpfs directory for the big files (default /dev/shm)
#   BENCH_ROUNDS_*  / BENCH_BATCH_*: see the harnesses
#
# Builds the C harnesses through pkg-config, the Rust harness (bench/rust, its own
# package, CARGO_TARGET_DIR=target/bench), a Python with numpy (build/venv if it
# has numpy, else build/bench-venv), runs every figure and prints one table.
# Every comparison is a median over interleaved rounds (see BENCHMARKS.md).
# Exit status: 0 when everything ran, even if targets were missed (those rows
# say MISSED, and a MISSED: line follows the table); 1 when something failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=$root/build/bench
mkdir -p "$out"

MMKIT_PREFIX=${MMKIT_PREFIX:-$root/build/prefix}
MMKIT_LIBRARY=${MMKIT_LIBRARY:-$MMKIT_PREFIX/lib/libmmkit.so}
MMKIT_EXAMPLES=${MMKIT_EXAMPLES:-$root/build/examples}
export MMKIT_PREFIX MMKIT_LIBRARY MMKIT_EXAMPLES
export PKG_CONFIG_PATH=$MMKIT_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export LD_LIBRARY_PATH=$MMKIT_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
CC=${CC:-cc}

start=$(date +%s)
# want N: figure N was asked for (BENCH_FIGURES unset or empty: every figure)
want() { case ",${BENCH_FIGURES:-$1}," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
step() { printf '\n== [%3ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }
fail() { echo "bench/run.sh: $*" >&2; exit 1; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    export BENCH_ROUNDS_ANON=${BENCH_ROUNDS_ANON:-15} BENCH_ROUNDS_FILE=${BENCH_ROUNDS_FILE:-15}
    export BENCH_ROUNDS_BIG=${BENCH_ROUNDS_BIG:-3} BENCH_ROUNDS_RUST=${BENCH_ROUNDS_RUST:-15}
    export BENCH_ROUNDS_PYSUM=${BENCH_ROUNDS_PYSUM:-3} BENCH_ROUNDS_PYLOOP=${BENCH_ROUNDS_PYLOOP:-5}
    export BENCH_ROUNDS_FILEPOP=${BENCH_ROUNDS_FILEPOP:-3}
    export BENCH_ROUNDS_COPY=${BENCH_ROUNDS_COPY:-11} BENCH_ROUNDS_COPY_RECORD=${BENCH_ROUNDS_COPY_RECORD:-5}
    export BENCH_ROUNDS_GUARDMAP=${BENCH_ROUNDS_GUARDMAP:-15} BENCH_ROUNDS_REPAIR=${BENCH_ROUNDS_REPAIR:-5}
    export BENCH_ROUNDS_PYFIND=${BENCH_ROUNDS_PYFIND:-3} BENCH_ROUNDS_PYLINE=${BENCH_ROUNDS_PYLINE:-1}
    cat_rounds_file=3 cat_rounds_append=3 cat_rounds_pipe=3 cat_rounds_pipe1=3
else
    cat_rounds_file=${BENCH_ROUNDS_CAT_FILE:-15}
    cat_rounds_append=${BENCH_ROUNDS_CAT_APPEND:-9}
    cat_rounds_pipe=${BENCH_ROUNDS_CAT_PIPE:-11}
    cat_rounds_pipe1=${BENCH_ROUNDS_CAT_PIPE1:-7}
fi

[ -e "$MMKIT_PREFIX/lib/pkgconfig/mmkit.pc" ] || fail "no staged mmkit in $MMKIT_PREFIX; run 'make stage examples' (or 'make bench')"
[ -x "$MMKIT_EXAMPLES/map_cat" ] || fail "no $MMKIT_EXAMPLES/map_cat; run 'make examples' (or 'make bench')"
[ -e "$MMKIT_LIBRARY" ] || fail "MMKIT_LIBRARY=$MMKIT_LIBRARY does not exist"

# ---------------------------------------------------------------- build
step "building the C harnesses against $MMKIT_PREFIX (pkg-config mmkit)"
mmkit_flags=$(pkg-config --cflags --libs mmkit) || fail "pkg-config cannot find mmkit"
cflags="-O2 -Wall -Wextra -Werror"
$CC $cflags -std=gnu11 -o "$out/bench_c" "$here/bench_c.c" $mmkit_flags || fail "bench_c.c does not build"
$CC $cflags -std=gnu11 -pthread -o "$out/bench_cat" "$here/bench_cat.c" || fail "bench_cat.c does not build"
$CC $cflags -std=gnu11 -o "$out/bench_guard" "$here/bench_guard.c" $mmkit_flags || fail "bench_guard.c does not build"
# map_cat_variants: ADVICE (MM_ADV_SEQUENTIAL) x POPULATE (MM_POPULATE), a
# 64 MiB window at a time, and VMSPLICE for pipes. c-examples/map_cat itself is
# ADVICE=0 POPULATE=1 for files up to a quarter of RAM, ADVICE=1 POPULATE=0 above,
# and VMSPLICE=1 when standard output is a pipe.
for v in "a0p0:-DADVICE=0 -DPOPULATE=0" "a1p0:-DADVICE=1 -DPOPULATE=0" \
         "a0p1:-DADVICE=0 -DPOPULATE=1" "a1p1:-DADVICE=1 -DPOPULATE=1" \
         "w64p1:-DADVICE=0 -DPOPULATE=1 -DWINDOW=67108864" \
         "vmsplice:-DADVICE=0 -DPOPULATE=0 -DVMSPLICE=1" \
         "vmsplice_p1:-DADVICE=0 -DPOPULATE=1 -DVMSPLICE=1" \
         "vmsplice_pipe1m:-DADVICE=0 -DPOPULATE=0 -DVMSPLICE=1 -DPIPESZ=1048576"; do
    $CC $cflags -std=gnu11 ${v#*:} -o "$out/map_cat_${v%%:*}" "$here/map_cat_variants.c" $mmkit_flags \
        || fail "map_cat_variants.c (${v#*:}) does not build"
done

rust_bin=$root/target/bench/release/mmkit-bench
if want 3; then
    step "building the Rust harness (bench/rust, CARGO_TARGET_DIR=$root/target/bench)"
    CARGO_TARGET_DIR=$root/target/bench cargo build --release --quiet \
        --manifest-path "$here/rust/Cargo.toml" || fail "bench/rust does not build"
fi

py=""
if want 6 || want 8; then
    step "finding a Python with numpy"
    for cand in "${BENCH_PYTHON:-}" "$root/build/venv/bin/python" "$root/build/bench-venv/bin/python"; do
        if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import numpy' >/dev/null 2>&1; then
            py=$cand
            break
        fi
    done
    if [ -z "$py" ]; then
        echo "creating $root/build/bench-venv with numpy"
        python3 -m venv "$root/build/bench-venv" || fail "python3 -m venv failed"
        "$root/build/bench-venv/bin/python" -m pip install -q numpy || fail "pip install numpy failed"
        py=$root/build/bench-venv/bin/python
    fi
    echo "python: $py (numpy $("$py" -c 'import numpy; print(numpy.__version__)'))"
fi

# ---------------------------------------------------------------- data
tmpfs=${BENCH_TMPFS:-/dev/shm}
[ -d "$tmpfs" ] && [ -w "$tmpfs" ] || fail "$tmpfs is not a writable directory (set BENCH_TMPFS to a tmpfs)"
work=$(mktemp -d "$tmpfs/mmkit-bench.XXXXXX") || fail "cannot make a directory in $tmpfs"
trap 'rm -rf "$work"' EXIT INT TERM
step "making the data files (64 KiB on disk in $out; 2, 256 and 512 MiB in $work)"
f64k=$out/f64k.bin
head -c 65536 /dev/urandom > "$f64k" || fail "cannot write $f64k"
head -c $((1 << 20)) /dev/urandom > "$work/1m"
cat "$work/1m" "$work/1m" > "$work/in2.bin" || fail "cannot write $work/in2.bin"
if want 5 || want 6; then
    for _ in $(seq 256); do cat "$work/1m"; done > "$work/in256.bin" || fail "cannot write $work/in256.bin"
    cat "$work/in256.bin" "$work/in256.bin" > "$work/in512.bin" || fail "cannot write $work/in512.bin"
fi
rm -f "$work/1m"

results=$out/results.txt
: > "$results"
run() {   # run a harness, keep its ROW/INFO lines
    local name=$1
    shift
    if ! "$@" >> "$results"; then
        echo "bench/run.sh: $name failed" >&2
        echo "ERROR	$name" >> "$results"
        return 1
    fi
}
status=0

# ---------------------------------------------------------------- figures
if want 1; then
    step "figure 1: mm_map_anon 4 KiB vs mmap/munmap"
    run fig1 "$out/bench_c" anon4k || status=1
fi
if want 2; then
    step "figure 2: mm_map_file 64 KiB vs open/fstat/mmap/close/munmap"
    run fig2 "$out/bench_c" file64k "$f64k" || status=1
fi
if want 3; then
    step "figure 3: Rust Region vs memmap2"
    run fig3 "$rust_bin" "$f64k" || status=1
fi
if want 4; then
    step "figure 4: map and touch 256 MiB anonymous"
    run fig4 "$out/bench_c" big256 || status=1
fi

if want 5; then
    cat_bin=$(command -v cat)
    variants=(
        "map_cat_variants ADVICE=0 POPULATE=0" "$out/map_cat_a0p0"
        "map_cat_variants ADVICE=1 POPULATE=0" "$out/map_cat_a1p0"
        "map_cat_variants ADVICE=0 POPULATE=1" "$out/map_cat_a0p1"
        "map_cat_variants ADVICE=1 POPULATE=1" "$out/map_cat_a1p1"
        "map_cat_variants WINDOW=64MiB POPULATE=1" "$out/map_cat_w64p1"
    )
    # Figure 5's targets (issue 16): into a file, map_cat <= 1.0x cat's own
    # read/write loop, measured into an O_APPEND file, where cat's copy_file_range
    # fails with EBADF and it falls back to that loop; into a pipe drained by a
    # reader, map_cat (which vmsplices there) <= 1.0x GNU cat. Into a plain file
    # GNU cat copies inside the kernel (copy_file_range), which no mapping can
    # beat: that row stays in the table for the record, without a target.
    step "figure 5: map_cat vs GNU cat ($("$cat_bin" --version | head -n 1)), 512 MiB into a file on tmpfs (no target: cat uses copy_file_range)"
    run fig5-file "$out/bench_cat" "$work/out.bin" "$cat_rounds_file" "$work/in512.bin" \
        "GNU cat" "$cat_bin" "map_cat (c-examples)" "$MMKIT_EXAMPLES/map_cat" "${variants[@]}" || status=1
    step "figure 5: the same into an O_APPEND file, where GNU cat falls back to its read/write loop (target <= 1.0)"
    BENCH_CAT_TARGET="<=1.0" run fig5-append "$out/bench_cat" "append:$work/out.bin" "$cat_rounds_append" "$work/in512.bin" \
        "GNU cat (read/write loop)" "$cat_bin" "map_cat (c-examples)" "$MMKIT_EXAMPLES/map_cat" \
        "map_cat_variants ADVICE=0 POPULATE=0" "$out/map_cat_a0p0" || status=1
    rm -f "$work/out.bin"
    step "figure 5: why MM_POPULATE does not help map_cat: the populate passes with raw calls"
    run fig5-populate "$out/bench_c" filepop "$work/in512.bin" "$work/out.bin" || status=1
    rm -f "$work/out.bin"
    # map_cat vmsplices into a pipe; the write() variants are its former pipe path.
    step "figure 5: map_cat vs GNU cat, 512 MiB into a pipe (target <= 1.0)"
    BENCH_CAT_TARGET="<=1.0" run fig5-pipe "$out/bench_cat" pipe "$cat_rounds_pipe" "$work/in512.bin" \
        "GNU cat" "$cat_bin" "map_cat (c-examples)" "$MMKIT_EXAMPLES/map_cat" \
        "map_cat_variants ADVICE=0 POPULATE=0" "$out/map_cat_a0p0" \
        "map_cat_variants ADVICE=0 POPULATE=1" "$out/map_cat_a0p1" \
        "map_cat_variants VMSPLICE=1" "$out/map_cat_vmsplice" \
        "map_cat_variants VMSPLICE=1 POPULATE=1" "$out/map_cat_vmsplice_p1" \
        "map_cat_variants VMSPLICE=1 PIPESZ=1MiB" "$out/map_cat_vmsplice_pipe1m" || status=1
    step "figure 5: the same pipe with writer and reader pinned to one CPU"
    BENCH_PIN=2 run fig5-pipe1 "$out/bench_cat" pipe "$cat_rounds_pipe1" "$work/in512.bin" \
        "GNU cat" "$cat_bin" "map_cat (c-examples)" "$MMKIT_EXAMPLES/map_cat" \
        "map_cat_variants VMSPLICE=1" "$out/map_cat_vmsplice" || status=1
fi
rm -f "$work/in512.bin"

if want 6; then
    step "figure 6: Python mmkit vs the mmap module (and mmkit.mmap find/readline, issue 18)"
    PYTHONPATH=$root/python${PYTHONPATH:+:$PYTHONPATH} run fig6 "$py" "$here/bench_py.py" "$work/in256.bin" || status=1
fi
rm -f "$work/in256.bin"

# Figures 7 and 9 (issue 17): what the guard (MM_GUARD) costs.
if want 7; then
    step "figure 7: guarded mm_read/mm_write vs memcpy, a resident 2 MiB file on $tmpfs (and the unguarded path)"
    run fig7 "$out/bench_guard" copy "$work/in2.bin" || status=1
fi
if want 8; then
    step "figure 8: Python on a guarded region vs the mmap module, a resident 2 MiB file on $tmpfs"
    PYTHONPATH=$root/python${PYTHONPATH:+:$PYTHONPATH} run fig8 "$py" "$here/bench_py.py" --guard "$work/in2.bin" || status=1
fi
if want 9; then
    step "figure 9: mm_map_file/mm_map_fd + mm_unmap 64 KiB with MM_GUARD vs without"
    run fig9-map "$out/bench_guard" map "$f64k" || status=1
    step "figure 9: the cost of one repaired page (files in $work)"
    run fig9-repair "$out/bench_guard" repair "$work" || status=1
fi

# ---------------------------------------------------------------- table
step "done in $(( $(date +%s) - start )) s"
echo
echo "mmkit benchmarks: $(nproc) CPUs, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
echo
python3 "$here/report.py" "$results" | tee "$out/table.txt"
python3 "$here/report.py" "$results" --markdown > "$out/table.md"
echo
echo "raw per-round ratios: $results; markdown table: $out/table.md"
if grep -q '^ERROR' "$results"; then
    echo "FAILED harnesses: $(grep '^ERROR' "$results" | cut -f2 | tr '\n' ' ')"
    status=1
fi
exit $status
