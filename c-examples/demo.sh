#!/usr/bin/env bash
# c-examples/demo.sh - run each mmkit example with a short explanation.
#
# Run by `make demo` after the library is staged and the examples compiled:
#
#   MMKIT_PREFIX=/abs/prefix MMKIT_EXAMPLES=/abs/examples bash c-examples/demo.sh
#
# Everything happens in a temporary directory, removed at the end.  Exits 1
# if an example did not behave as shown.
set -u

if [ -z "${MMKIT_EXAMPLES:-}" ]; then
    echo "usage: MMKIT_PREFIX=/abs/prefix MMKIT_EXAMPLES=/abs/examples bash $0" >&2
    exit 2
fi
if [ -n "${MMKIT_PREFIX:-}" ]; then
    export LD_LIBRARY_PATH="$MMKIT_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# The examples are on PATH, so the commands below read as a user types them.
export PATH="$MMKIT_EXAMPLES:$PATH"

T=$(mktemp -d "${TMPDIR:-/tmp}/mmkit-demo.XXXXXX") || exit 2
trap 'cd /; rm -rf "$T"' EXIT
cd "$T" || exit 2

problems=0

# section TITLE LINE...: a header and a few lines of explanation
section() {
    printf '\n==== %s ====\n' "$1"
    shift
    printf '  %s\n' "$@"
    echo
}

# show [--expect N] CMD...: print the command, run it, show its output
# (stdout and stderr together) and note an unexpected exit status.
show() {
    local expect=0 rc
    if [ "$1" = --expect ]; then expect=$2; shift 2; fi
    printf '$ %s\n' "$*"
    "$@" >"$T/.output" 2>&1
    rc=$?
    if [ -s "$T/.output" ]; then cat "$T/.output"; else echo "(no output)"; fi
    if [ $rc -ne 0 ] || [ $expect -ne 0 ]; then
        printf '(exit status %d)\n' $rc
    fi
    if [ $rc -ne "$expect" ]; then
        echo "!! expected exit status $expect"
        problems=$((problems + 1))
    fi
    echo
}

echo "mmkit C examples: the book programs of The Linux Programming Interface (ch. 49)"
echo "and Linux Application Development (ch. 13), ported to the mmkit C library."

# ----------------------------------------------------------------------
section "anon_mmap: a shared anonymous mapping survives fork()" \
    "The parent maps one int with mm_map_anon(..., MM_SHARED), stores 1 and forks." \
    "The child prints it and adds 1; after wait() the parent sees 2, because the" \
    "page is shared, not copied.  The first line says which kernel mechanism" \
    "served the memory: MAP_ANONYMOUS, or mapping /dev/zero (the BSD way; forced" \
    "here with --devzero)."
show anon_mmap
show anon_mmap --devzero

# ----------------------------------------------------------------------
printf 'Memory mapping, line one.\nLine two.\n' >hello.txt
: >empty.txt
section "map_cat: cat(1) through a file mapping" \
    "Each file is mapped with mm_map_file(path, 0, 0, MM_READ|MM_PRIVATE) and the" \
    "mapping is written to standard output.  The library closes the file before" \
    "returning: the mapping outlives the descriptor.  An empty file is a region" \
    "of length 0 (the book's version failed there).  A file that cannot be mapped" \
    "is reported, the others are still printed, and the exit status is 1."
show map_cat hello.txt
show map_cat empty.txt
show --expect 1 map_cat hello.txt no-such-file empty.txt

# ----------------------------------------------------------------------
section "mmap_sync: update a file through a shared mapping, then msync" \
    "counter.rec holds one 16-byte record (magic MMKITREC, a 64-bit counter)." \
    "Each run maps it with MM_SHARED (MM_CREATE creates it the first time), adds" \
    "1 with an ordinary store, calls mm_sync (--sync waits for the disk, --async" \
    "only schedules the write, --invalidate = sync + MS_INVALIDATE), and reads the" \
    "file back with pread() to show another reader sees the new value."
show mmap_sync counter.rec
show mmap_sync --async counter.rec
echo "The counter as stored in the file (bytes 8..15, read by od, not by mmkit):"
show od -An -t u8 -j 8 -N 8 counter.rec

# ----------------------------------------------------------------------
section "mlock_demo: locking memory, bounded by RLIMIT_MEMLOCK" \
    "mlock keeps pages in RAM.  An ordinary user may lock at most RLIMIT_MEMLOCK" \
    "bytes; a privileged process (CAP_IPC_LOCK, e.g. root) may lock more.  The" \
    "program locks 1 MiB, then one page more than the limit, and prints what" \
    "happened; a refusal comes with the library's explanation."
show mlock_demo 1048576
if [ "$(id -u)" = 0 ] && command -v prlimit >/dev/null && command -v setpriv >/dev/null \
   && id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null \
   && setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$MMKIT_EXAMPLES/mlock_demo"; then
    echo "The same as the unprivileged user nobody, with RLIMIT_MEMLOCK set to 64 KiB:"
    show prlimit --memlock=65536:65536 \
        setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
        mlock_demo 1048576
fi

# ----------------------------------------------------------------------
section "shared_counter: forked workers, one atomic counter in shared memory" \
    "The parent maps a shared anonymous region holding an _Atomic long and forks" \
    "4 workers; each adds 1 to it 100000 times with atomic_fetch_add, all at the" \
    "same time.  The total is exact: C11 lock-free atomics work across processes."
show shared_counter 4 100000

# ----------------------------------------------------------------------
section "share_unrelated: anonymous shared memory for an unrelated process" \
    "Seed 000 says shared anonymous memory works 'only between related processes'" \
    "(inherited across fork).  mm_map_shareable gives anonymous memory with a" \
    "descriptor (a memfd on Linux).  The parent writes a greeting, seals the object" \
    "against shrink/grow, and its child exec()s the program again as a peer: a new" \
    "image that shares nothing, not even the region's descriptor (close-on-exec)." \
    "The descriptor goes over a Unix socket (SCM_RIGHTS); the peer maps it with" \
    "mm_map_fd, reads the greeting, cannot shrink the sealed object, and writes a" \
    "reply that the parent reads in its own mapping."
show share_unrelated
echo "Without the seal the peer can shrink the object under both mappings; a plain"
echo "load would then raise SIGBUS, mm_read returns -EFAULT instead:"
show share_unrelated --no-seal

# ----------------------------------------------------------------------
section "guarded_reader: a reader that survives a writer truncating its file" \
    "Beyond the book: the reader maps a 16-page file and reads it through" \
    "mm_ptr() with plain loads.  Half-way a writer process truncates the file" \
    "to one page.  Without protection the next load raises SIGBUS and kills" \
    "the reader (the classic crash of every mapping).  With MM_GUARD the library" \
    "repairs each vanished page with a private page of zeros in its fault" \
    "handler, the load goes on, and mm_check() reports what was lost."
show guarded_reader log.txt
echo "The same without MM_GUARD: the reader dies of SIGBUS at its first load of page 8"
echo "(exit status 128 + 7):"
show --expect $((128 + $(kill -l BUS))) guarded_reader --unguarded log.txt 2>/dev/null

if [ $problems -ne 0 ]; then
    echo "demo: $problems example(s) did not behave as expected" >&2
    exit 1
fi
echo "All examples ran as expected."
