#!/usr/bin/env bash
# c-examples/test.sh - check the compiled mmkit C examples.
#
#   MMKIT_PREFIX=/abs/prefix MMKIT_EXAMPLES=/abs/examples bash c-examples/test.sh
#
# MMKIT_EXAMPLES  directory holding the compiled examples (make -C c-examples OUT=...)
# MMKIT_PREFIX    staged/installed mmkit prefix; its lib/ goes on LD_LIBRARY_PATH
#
# Prints one line per check: `PASS: name`, `FAIL: name: why`, or
# `SKIP: name: why` (a check that cannot run here, e.g. needs root; not a
# pass).  Exits 1 if any check failed.  Takes well under a minute.
set -u

if [ -z "${MMKIT_PREFIX:-}" ] || [ -z "${MMKIT_EXAMPLES:-}" ]; then
    echo "usage: MMKIT_PREFIX=/abs/prefix MMKIT_EXAMPLES=/abs/examples bash $0" >&2
    exit 2
fi
E=$MMKIT_EXAMPLES
LIBDIR=$MMKIT_PREFIX/lib
export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LC_ALL=C

T=$(mktemp -d "${TMPDIR:-/tmp}/mmkit-c-examples.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT

failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; failures=$((failures + 1)); }
skip() { echo "SKIP: $1: $2"; }

# run CMD...: runs with a time limit; stdout -> $T/out, stderr -> $T/err, status -> $rc
rc=0
run() { timeout 60 "$@" >"$T/out" 2>"$T/err"; rc=$?; }
# has_line TEXT: $T/out contains exactly this line
has_line() { grep -qxF -- "$1" "$T/out"; }
# first line of stderr, for FAIL messages
errline() { head -n 1 "$T/err"; }

PAGE=$(getconf PAGESIZE)
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1
IS_LINUX=0; [ "$(uname -s)" = Linux ] && IS_LINUX=1

# ---------------------------------------------------------------- binaries
missing=""
for x in anon_mmap map_cat mmap_sync mlock_demo shared_counter share_unrelated guarded_reader; do
    [ -x "$E/$x" ] || missing="$missing $x"
done
if [ -n "$missing" ]; then
    fail "examples built" "not found in $E:$missing"
else
    pass "examples built"
fi

# --------------------------------------------------------------- anon_mmap
# Output goes to a file (fully buffered stdio), so a missing fflush before
# fork() would show up as a duplicated "backend:" line.
check_anon() { # name, expected backend line, args...
    local name=$1 backend=$2; shift 2
    run "$E/anon_mmap" "$@"
    printf '%s\n' "$backend" "Child started, value = 1" "In parent, value = 2" >"$T/want"
    if [ $rc -ne 0 ]; then
        fail "$name" "exit $rc: $(errline)"
    elif ! cmp -s "$T/out" "$T/want"; then
        fail "$name" "output was: $(tr '\n' '|' <"$T/out")"
    else
        pass "$name"
    fi
}
check_anon "anon_mmap: MAP_ANONYMOUS backend, child's write seen by parent" "backend: MAP_ANONYMOUS"
check_anon "anon_mmap: --devzero uses /dev/zero, child's write seen by parent" "backend: /dev/zero" --devzero
run "$E/anon_mmap" --bogus
if [ $rc -eq 2 ] && grep -q usage "$T/err"; then pass "anon_mmap: bad option is a usage error"
else fail "anon_mmap: bad option is a usage error" "exit $rc"; fi

# ----------------------------------------------------------------- map_cat
D=$T/cat; mkdir "$D"
: >"$D/empty"
printf 'x' >"$D/one"
head -c 4095 /dev/urandom >"$D/p4095"
head -c 4096 /dev/urandom >"$D/p4096"
head -c 4097 /dev/urandom >"$D/p4097"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$D/big"
printf 'a\0b\0\0c\n\0' >"$D/nul"
printf 'hello, world\nsecond line\n' >"$D/text"
mkdir "$D/dir"

for f in empty one p4095 p4096 p4097 big nul; do
    name="map_cat: $f file ($(wc -c <"$D/$f") bytes) copied exactly"
    run "$E/map_cat" "$D/$f"
    if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
    elif ! cmp -s "$T/out" "$D/$f"; then fail "$name" "output differs from input"
    elif [ -s "$T/err" ]; then fail "$name" "unexpected stderr: $(errline)"
    else pass "$name"; fi
done

name="map_cat: several files equal cat of them"
cat "$D/text" "$D/empty" "$D/nul" "$D/p4097" "$D/one" >"$T/want"
run "$E/map_cat" "$D/text" "$D/empty" "$D/nul" "$D/p4097" "$D/one"
if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
elif ! cmp -s "$T/out" "$T/want"; then fail "$name" "output differs from cat"
else pass "$name"; fi

# Which files map_cat prefaults. Its output goes to a pipe nobody drains
# beyond the first byte, so it stops in write(), after mapping (and after any
# populate); its resident file pages (RssFile, plus RssShmem where the test
# directory is tmpfs) then show what it prefaulted. The 5 MiB file (under a
# quarter of RAM) must be populated whole; a sparse file just over a quarter
# of RAM must stream: only the pages already written are resident (sparse: no
# disk space, no I/O).
name="map_cat: prefaults a small file, streams one over a quarter of RAM"
phys=$(( $(getconf _PHYS_PAGES) * $(getconf PAGESIZE) ))
truncate -s $(( phys / 4 + 4096 )) "$T/sparse"
rss_file() {   # map_cat FILE's resident file pages (KiB) once it is writing
    python3 - "$E/map_cat" "$1" <<'PY' 2>/dev/null
import subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
p.stdout.read(1)   # it has mapped the file and is writing
with open("/proc/%d/status" % p.pid) as f:
    rss = {l.split(":")[0]: int(l.split()[1]) for l in f if l.startswith(("RssFile:", "RssShmem:"))}
p.kill()
p.wait()
if len(rss) == 2:
    print(rss["RssFile"] + rss["RssShmem"])
PY
}
rss_small=$(rss_file "$D/big")
rss_sparse=$(rss_file "$T/sparse")
if [ -z "$rss_small" ] || [ -z "$rss_sparse" ]; then skip "$name" "no RssFile/RssShmem in /proc/PID/status (kernel before 4.5?) or no python3"
elif [ "$rss_small" -lt $(( rss_sparse + 4096 )) ]; then
    fail "$name" "resident file pages $rss_small KiB for 5 MiB, $rss_sparse KiB for $(( phys / 4 / 1048576 )) MiB sparse"
else pass "$name"; fi
rm -f "$T/sparse"

# Into a pipe map_cat hands the mapped pages over with vmsplice (Linux), and
# writes everything else (standard input, unmappable files) with write(): the
# output must still be exactly cat's, in order, whoever drains the pipe.
# run_pipe CMD...: like run, but stdout is a pipe drained by cat into $T/out
run_pipe() { timeout 60 "$@" 2>"$T/err" | cat >"$T/out"; rc=${PIPESTATUS[0]}; }
for f in empty one p4095 p4096 p4097 big nul; do
    name="map_cat: $f file ($(wc -c <"$D/$f") bytes) into a pipe copied exactly"
    run_pipe "$E/map_cat" "$D/$f"
    if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
    elif ! cmp -s "$T/out" "$D/$f"; then fail "$name" "output differs from input"
    elif [ -s "$T/err" ]; then fail "$name" "unexpected stderr: $(errline)"
    else pass "$name"; fi
done

name="map_cat: several files, an empty one and standard input into a pipe equal cat of them"
cat "$D/text" "$D/empty" "$D/big" - "$D/nul" /dev/null "$D/p4097" <"$D/p4095" >"$T/want"
run_pipe "$E/map_cat" "$D/text" "$D/empty" "$D/big" - "$D/nul" /dev/null "$D/p4097" <"$D/p4095"
if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
elif ! cmp -s "$T/out" "$T/want"; then fail "$name" "output differs from cat"
else pass "$name"; fi

name="map_cat: 5 MiB into a pipe whose reader starts late"
timeout 60 "$E/map_cat" "$D/big" "$D/big" | { sleep 0.3; cat; } >"$T/out"
cat "$D/big" "$D/big" >"$T/want"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then fail "$name" "exit ${PIPESTATUS[0]}"
elif ! cmp -s "$T/out" "$T/want"; then fail "$name" "output differs from input"
else pass "$name"; fi

# Which system call carried the bytes: strace's record of map_cat alone.
# Into a pipe every byte of a mapped file must go through vmsplice and only
# standard input through write(); into a file no vmsplice at all.
have_strace=1
if ! command -v strace >/dev/null; then
    if [ $IS_ROOT = 1 ] && command -v apt-get >/dev/null; then
        apt-get install -y strace >"$T/apt-strace.log" 2>&1 || true
    fi
    command -v strace >/dev/null || have_strace=0
fi
[ $have_strace = 1 ] && ! strace -o /dev/null true >/dev/null 2>&1 && have_strace=0   # ptrace refused
# bytes_by SYSCALL: the sum of the return values of SYSCALL(1, ...) in $T/strace
bytes_by() { awk -v c="$1(1," 'index($0, c) == 1 { n = $NF; s += n } END { print s + 0 }' "$T/strace"; }
STRACE=(strace -o "$T/strace" -e trace=vmsplice,write -e signal=none)
name="map_cat: into a pipe the mapped files go through vmsplice, standard input through write (strace)"
name2="map_cat: into a file everything goes through write, no vmsplice (strace)"
if [ $IS_LINUX = 0 ]; then
    skip "$name" "vmsplice is Linux-only"
elif [ $have_strace = 0 ]; then
    skip "$name" "strace is not installed or cannot trace here (and could not be installed as this user)"
    skip "$name2" "strace is not installed or cannot trace here"
else
    mapped=$(( $(wc -c <"$D/text") + $(wc -c <"$D/big") + $(wc -c <"$D/p4097") ))
    run_pipe "${STRACE[@]}" "$E/map_cat" "$D/text" "$D/empty" "$D/big" - "$D/p4097" <"$D/p4095"
    cat "$D/text" "$D/big" "$D/p4095" "$D/p4097" >"$T/want"
    vs=$(bytes_by vmsplice); wr=$(bytes_by write)
    if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
    elif ! cmp -s "$T/out" "$T/want"; then fail "$name" "output differs from cat"
    elif [ "$vs" != "$mapped" ] || [ "$wr" != 4095 ]; then
        fail "$name" "vmsplice carried $vs bytes (want $mapped), write $wr (want 4095)"
    else pass "$name ($(grep -c '^vmsplice(' "$T/strace") vmsplice calls)"; fi

    run "${STRACE[@]}" "$E/map_cat" "$D/text" "$D/big"
    cat "$D/text" "$D/big" >"$T/want"
    vs=$(grep -c '^vmsplice(' "$T/strace"); wr=$(bytes_by write)
    if [ $rc -ne 0 ]; then fail "$name2" "exit $rc: $(errline)"
    elif ! cmp -s "$T/out" "$T/want"; then fail "$name2" "output differs from cat"
    elif [ "$vs" != 0 ] || [ "$wr" != "$(wc -c <"$T/want")" ]; then
        fail "$name2" "$vs vmsplice calls, write carried $wr bytes"
    else pass "$name2"; fi
fi

# vmsplice refused: an LD_PRELOAD shim lets the first MMKIT_VMSPLICE_OK calls
# through and then fails with MMKIT_VMSPLICE_ERR.  Refusals that mean "not
# here" (ENOSYS, EPERM, EINVAL, EBADF, ENOMEM) must leave the rest to write()
# with the output still exact; any other error is a write error (exit 1).
name="map_cat: vmsplice refused (ENOSYS after 3 calls, EINVAL at once, ...): write() carries the rest exactly"
name2="map_cat: vmsplice failing with EIO is a write error, exit 1"
cat >"$T/vmsplice_shim.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
static int calls;
ssize_t vmsplice(int fd, const struct iovec *iov, size_t n, unsigned int flags)
{
    static const struct { const char *name; int e; } errs[] = {
        { "ENOSYS", ENOSYS }, { "EPERM", EPERM }, { "EINVAL", EINVAL },
        { "EBADF", EBADF }, { "ENOMEM", ENOMEM }, { "EIO", EIO } };
    const char *ok = getenv("MMKIT_VMSPLICE_OK"), *err = getenv("MMKIT_VMSPLICE_ERR");
    ssize_t (*real)(int, const struct iovec *, size_t, unsigned int) =
        (ssize_t (*)(int, const struct iovec *, size_t, unsigned int))dlsym(RTLD_NEXT, "vmsplice");
    if (calls++ < (ok ? atoi(ok) : 0))
        return real(fd, iov, n, flags);
    for (size_t i = 0; err && i < sizeof errs / sizeof errs[0]; i++)
        if (strcmp(err, errs[i].name) == 0) {
            errno = errs[i].e;
            return -1;
        }
    return real(fd, iov, n, flags);
}
C
CC_SHIM=${CC:-cc}
if [ $IS_LINUX = 0 ]; then
    skip "$name" "vmsplice is Linux-only"
elif ! command -v "$CC_SHIM" >/dev/null \
     || ! "$CC_SHIM" -shared -fPIC -o "$T/vmsplice_shim.so" "$T/vmsplice_shim.c" -ldl >"$T/shim.log" 2>&1; then
    skip "$name" "cannot build an LD_PRELOAD shim with $CC_SHIM: $(head -n 1 "$T/shim.log" 2>/dev/null)"
else
    cat "$D/text" "$D/big" "$D/p4097" >"$T/want"
    bad=""
    for case in ENOSYS:3 EPERM:0 EINVAL:0 EBADF:5 ENOMEM:1; do
        run_pipe env LD_PRELOAD="$T/vmsplice_shim.so" MMKIT_VMSPLICE_ERR="${case%:*}" \
            MMKIT_VMSPLICE_OK="${case#*:}" "$E/map_cat" "$D/text" "$D/big" "$D/p4097"
        if [ $rc -ne 0 ] || ! cmp -s "$T/out" "$T/want" || [ -s "$T/err" ]; then
            bad="$bad ${case%:*} (exit $rc: $(errline))"
        fi
    done
    if [ -z "$bad" ]; then pass "$name"; else fail "$name" "wrong output or exit with$bad"; fi

    run_pipe env LD_PRELOAD="$T/vmsplice_shim.so" MMKIT_VMSPLICE_ERR=EIO MMKIT_VMSPLICE_OK=2 \
        "$E/map_cat" "$D/big" "$D/text"
    if [ $rc -eq 1 ] && grep -qxF "map_cat: write error: Input/output error" "$T/err"; then pass "$name2"
    else fail "$name2" "exit $rc: $(errline)"; fi
fi

# Odd standard outputs, set up from Python: a pipe or socket left
# O_NONBLOCK (vmsplice waits; write() gets EAGAIN and must wait too), the
# read end of a pipe (vmsplice would *read* from it: map_cat must use
# write(), which fails with EBADF, and not hang), a file truncated while
# map_cat is blocked writing it (EFAULT, not SIGBUS), and a file changed
# after map_cat has exited but before the reader has read (into a pipe the
# reader gets the new bytes: the documented vmsplice caveat).
cat >"$T/odd_out.py" <<'PY'
import fcntl, os, socket, subprocess, sys, time
mode, exe, path = sys.argv[1:4]
def nonblock(fd):
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
def ends(kind):
    if kind == "pipe":
        return os.pipe()
    a, b = socket.socketpair()
    return a.detach(), b.detach()
def drain(r, first=b""):
    out = [first]
    while True:
        b = os.read(r, 1 << 20)
        if not b:
            return b"".join(out)
        out.append(b)
def start(w):
    p = subprocess.Popen([exe, path], stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    return p
if mode in ("nonblock-pipe", "nonblock-socket"):
    r, w = ends(mode.split("-")[1])
    nonblock(w)
    p = start(w)
    time.sleep(0.3)                      # let it fill the pipe and wait
    got = drain(r)
    err = p.communicate(timeout=30)[1]
    ok = p.returncode == 0 and got == open(path, "rb").read() and not err
    print("ok" if ok else "exit %d, %d bytes, %r" % (p.returncode, len(got), err[:200]))
elif mode == "read-end":
    r, w = os.pipe()
    p = subprocess.Popen([exe, path], stdout=r, stderr=subprocess.PIPE)
    try:
        err = p.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()
        print("hung (killed after 10 s)"); sys.exit()
    ok = p.returncode == 1 and b"map_cat: write error: Bad file descriptor" in err
    print("ok" if ok else "exit %d, %r" % (p.returncode, err[:200]))
elif mode in ("truncate-pipe", "truncate-socket"):
    r, w = ends(mode.split("-")[1])
    p = start(w)
    first = os.read(r, 1)                # it is writing, and blocked long before the end
    time.sleep(0.1)
    os.truncate(path, 0)
    got = drain(r, first)
    err = p.communicate(timeout=30)[1]
    ok = p.returncode == 1 and b"map_cat: write error: Bad address" in err
    print("ok" if ok else "exit %d, %d bytes, %r" % (p.returncode, len(got), err[:200]))
elif mode in ("change-pipe", "change-socket"):
    r, w = ends(mode.split("-")[1])
    with open(path, "wb") as f:
        f.write(b"A" * 4096)
    p = start(w)
    p.wait(timeout=30)                   # 4 KiB fit in the pipe: map_cat is done
    with open(path, "r+b") as f:         # same file, same page-cache page
        f.write(b"B" * 4096)
    got = drain(r)
    print({b"A" * 4096: "old", b"B" * 4096: "new"}.get(got, "%d other bytes" % len(got))
          if p.returncode == 0 else "exit %d" % p.returncode)
PY
odd_out() { timeout 60 python3 "$T/odd_out.py" "$1" "$E/map_cat" "$2" 2>&1 | tail -n 1; }
if ! command -v python3 >/dev/null; then
    skip "map_cat: odd standard outputs" "no python3"
else
    for kind in pipe socket; do
        name="map_cat: into an O_NONBLOCK $kind with a late reader, 5 MiB copied exactly"
        res=$(odd_out "nonblock-$kind" "$D/big")
        if [ "$res" = ok ]; then pass "$name"; else fail "$name" "$res"; fi
    done

    name="map_cat: onto the read end of a pipe: write error EBADF, exit 1, no hang"
    res=$(odd_out read-end "$D/text")
    if [ "$res" = ok ]; then pass "$name"; else fail "$name" "$res"; fi

    for kind in pipe socket; do
        name="map_cat: file truncated while it goes into a $kind: write error EFAULT, exit 1, no SIGBUS"
        cp "$D/big" "$T/trunc"
        res=$(odd_out "truncate-$kind" "$T/trunc")
        if [ "$res" = ok ]; then pass "$name"; else fail "$name" "$res"; fi
    done

    if [ $IS_LINUX = 1 ]; then want=new; else want=old; fi
    name="map_cat: file changed before the reader reads: a pipe reader sees the $want bytes (vmsplice caveat)"
    res=$(odd_out change-pipe "$T/change")
    if [ "$res" = "$want" ]; then pass "$name"; else fail "$name" "the reader saw: $res"; fi
    name="map_cat: file changed before the reader reads: a socket reader sees the old bytes (write copies)"
    res=$(odd_out change-socket "$T/change")
    if [ "$res" = old ]; then pass "$name"; else fail "$name" "the reader saw: $res"; fi
fi

for bad in missing dir; do
    name="map_cat: $bad path reported, other files still printed, exit non-zero"
    cat "$D/text" "$D/one" >"$T/want"
    run "$E/map_cat" "$D/text" "$D/$bad" "$D/one"
    if [ $rc -eq 0 ]; then fail "$name" "exit 0"
    elif ! grep -qF "map_cat: $D/$bad: " "$T/err"; then fail "$name" "stderr does not name the path: $(errline)"
    elif ! cmp -s "$T/out" "$T/want"; then fail "$name" "the other files were not printed exactly"
    else pass "$name"; fi
done

name="map_cat: no argument copies standard input"
run "$E/map_cat" <"$D/nul"
if [ $rc -ne 0 ] || ! cmp -s "$T/out" "$D/nul"; then fail "$name" "exit $rc or output differs"
else pass "$name"; fi

name="map_cat: '-' among files is standard input"
cat "$D/one" - "$D/text" <"$D/p4095" >"$T/want"
run "$E/map_cat" "$D/one" - "$D/text" <"$D/p4095"
if [ $rc -ne 0 ] || ! cmp -s "$T/out" "$T/want"; then fail "$name" "exit $rc or output differs"
else pass "$name"; fi

name="map_cat: unmappable files (/dev/null, a pipe) are read instead"
printf 'from a pipe\n' >"$T/want"
run "$E/map_cat" /dev/null <(printf 'from a pipe\n')
if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
elif ! cmp -s "$T/out" "$T/want"; then fail "$name" "output differs"
else pass "$name"; fi

# --------------------------------------------------------------- mmap_sync
# The checks Windows runs too (tests/windows/examples.sh), then this one's own.
run_mmap_sync() { run "$E/mmap_sync" "$@"; }
shown() { printf '%s' "$1"; }
out_text() { tr '\n' '|' <"$T/out"; }
# shellcheck source=c-examples/mmap_sync_checks.sh
. "$(dirname "$0")/mmap_sync_checks.sh"
check_mmap_sync 600

name="mmap_sync: no option means MM_SYNC"
run "$E/mmap_sync" "$T/rec-default"
if [ $rc -eq 0 ] && has_line "mm_sync(MM_SYNC): ok" && has_line "counter = 1"; then pass "$name"
else fail "$name" "exit $rc: $(out_text)"; fi

# -------------------------------------------------------------- mlock_demo
MB=1048576
if [ $IS_ROOT = 1 ]; then
    name="mlock_demo as root: 1 MiB locked and unlocked"
    run "$E/mlock_demo" $MB
    if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(tr '\n' '|' <"$T/out")"
    elif ! has_line "lock $MB bytes: locked"; then fail "$name" "no line 'lock $MB bytes: locked': $(tr '\n' '|' <"$T/out")"
    elif ! has_line "unlock $MB bytes: ok"; then fail "$name" "no line 'unlock $MB bytes: ok'"
    elif ! has_line "result: as expected"; then fail "$name" "no line 'result: as expected'"
    else pass "$name"; fi

    if command -v prlimit >/dev/null; then
        name="mlock_demo as root under RLIMIT_MEMLOCK=65536: CAP_IPC_LOCK exceeds the limit"
        above=$((65536 + PAGE))
        run prlimit --memlock=65536:65536 "$E/mlock_demo" $MB
        if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(tr '\n' '|' <"$T/out")"
        elif ! has_line "RLIMIT_MEMLOCK: soft=65536 hard=65536"; then fail "$name" "limit line missing"
        elif ! has_line "lock $MB bytes: locked"; then fail "$name" "1 MiB not locked: $(tr '\n' '|' <"$T/out")"
        elif ! has_line "lock $above bytes (above the limit): locked (privileged: CAP_IPC_LOCK ignores RLIMIT_MEMLOCK)"; then
            fail "$name" "above-limit lock not reported as locked"
        else pass "$name"; fi
    else
        skip "mlock_demo as root under RLIMIT_MEMLOCK=65536" "prlimit not installed"
    fi
else
    skip "mlock_demo as root" "not running as root"
    name="mlock_demo as this user: outcome as expected"
    run "$E/mlock_demo" $MB
    if [ $rc -eq 0 ] && has_line "result: as expected"; then pass "$name"
    else fail "$name" "exit $rc: $(tr '\n' '|' <"$T/out")"; fi
fi

if [ $IS_ROOT = 1 ] && command -v prlimit >/dev/null && command -v setpriv >/dev/null \
   && id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null; then
    AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all)
    # nobody must be able to run the binary and load the library where they
    # are; otherwise copy both into a directory nobody can reach.
    bin=$E/mlock_demo
    lib=$(readlink -f "$LIBDIR/libmmkit.so.0" 2>/dev/null || readlink -f "$LIBDIR/libmmkit.so")
    nb_libdir=$LIBDIR
    name="mlock_demo: binary and library readable by nobody"
    if "${AS_NOBODY[@]}" test -x "$bin" -a -r "$bin" -a -r "$lib"; then
        pass "$name"
    else
        chmod 711 "$T"; mkdir -m 755 "$T/nobody"
        cp "$bin" "$T/nobody/mlock_demo"; cp -P "$LIBDIR"/libmmkit.so* "$T/nobody/"
        chmod a+rX "$T/nobody"/*
        bin=$T/nobody/mlock_demo; nb_libdir=$T/nobody
        if "${AS_NOBODY[@]}" test -x "$bin" -a -r "$T/nobody/$(basename "$lib")"; then
            pass "$name (copied to a temp dir nobody can reach)"
        else
            fail "$name" "not readable in place nor from $T/nobody"
        fi
    fi

    above=$((65536 + PAGE))
    name="mlock_demo as nobody under RLIMIT_MEMLOCK=65536: refusal names RLIMIT_MEMLOCK and 65536"
    run env LD_LIBRARY_PATH="$nb_libdir" prlimit --memlock=65536:65536 "${AS_NOBODY[@]}" "$bin" $MB
    if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(tr '\n' '|' <"$T/out") $(errline)"
    elif ! has_line "RLIMIT_MEMLOCK: soft=65536 hard=65536"; then fail "$name" "limit line missing: $(tr '\n' '|' <"$T/out")"
    elif ! grep -qE "^lock $MB bytes: refused: .*mlock\($MB bytes\).*RLIMIT_MEMLOCK.*65536" "$T/out"; then
        fail "$name" "refusal line wrong: $(grep "^lock $MB" "$T/out")"
    elif ! grep -qE "^lock $above bytes \(above the limit\): refused: .*RLIMIT_MEMLOCK.*65536" "$T/out"; then
        fail "$name" "above-limit refusal wrong: $(grep "above the limit" "$T/out")"
    elif ! has_line "result: as expected"; then fail "$name" "no line 'result: as expected'"
    else pass "$name"; fi

    name="mlock_demo as nobody under RLIMIT_MEMLOCK=65536: 32768 bytes within the limit are locked"
    run env LD_LIBRARY_PATH="$nb_libdir" prlimit --memlock=65536:65536 "${AS_NOBODY[@]}" "$bin" 32768
    if [ $rc -eq 0 ] && has_line "lock 32768 bytes: locked" && has_line "unlock 32768 bytes: ok"; then pass "$name"
    else fail "$name" "exit $rc: $(tr '\n' '|' <"$T/out")"; fi
else
    skip "mlock_demo as nobody under RLIMIT_MEMLOCK=65536" "needs root, prlimit, setpriv, user nobody and group nogroup"
fi

name="mlock_demo: bad size is a usage error"
run "$E/mlock_demo" 12abc
if [ $rc -eq 2 ]; then pass "$name"; else fail "$name" "exit $rc"; fi

# ---------------------------------------------------------- shared_counter
name="shared_counter: 4 workers x 100000 gives exactly 400000"
run "$E/shared_counter" 4 100000
if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(tr '\n' '|' <"$T/out") $(errline)"
elif ! has_line "workers: 4, iterations: 100000"; then fail "$name" "header line missing"
elif ! has_line "total = 400000 (expected 400000): OK"; then fail "$name" "$(tail -n 1 "$T/out")"
else pass "$name"; fi

name="shared_counter: bad arguments are a usage error"
run "$E/shared_counter" 0; rc1=$rc
run "$E/shared_counter" 2 -5; rc2=$rc
if [ $rc1 -eq 2 ] && [ $rc2 -eq 2 ]; then pass "$name"; else fail "$name" "exit $rc1 / $rc2"; fi

# --------------------------------------------------------- share_unrelated
# The parent maps shareable memory (mm_map_shareable), the child exec()s the
# program again as `--peer SOCK REGIONFD`, and the region travels over a
# Unix socket (SCM_RIGHTS).  Lines are checked exactly; the pids and
# descriptor numbers are taken from the output and checked against each
# other.
SU_BIN=$(readlink -f "$E/share_unrelated")
# names a leaked POSIX shm object of the non-memfd backend would have
# (/mmkit-PID-SEQ-HEX, unlinked at once by the library), or our label
shm_names() { ls -A /dev/shm 2>/dev/null | grep -E '^mmkit-[0-9]+-[0-9]+-[0-9a-f]+$|share_unrelated' | sort; }
shm_before=$(shm_names)

# su_parse: from $T/out, set su_ppid (parent), su_fd (the parent's region
# descriptor), su_cpid (peer), su_sock (the peer's socket), su_exe (what the
# peer says it is), su_rfd (the descriptor the peer received).
su_parse() {
    local line
    line=$(grep -m1 '^parent: pid ' "$T/out")
    su_ppid=$(sed -n 's/^parent: pid \([0-9]*\), .*/\1/p' <<<"$line")
    su_fd=$(sed -n 's/.*, descriptor \([0-9]*\) (close-on-exec)$/\1/p' <<<"$line")
    line=$(grep -m1 '^peer: pid ' "$T/out")
    su_cpid=$(sed -n "s/^peer: pid \([0-9]*\), exec'd as .*/\1/p" <<<"$line")
    su_exe=$(sed -n "s/^peer: pid [0-9]*, exec'd as \(.*\) --peer [0-9]* [0-9]*\$/\1/p" <<<"$line")
    su_sock=$(sed -n "s/.* --peer \([0-9]*\) [0-9]*\$/\1/p" <<<"$line")
    su_rfd=$(sed -n 's/^peer: received the region over the socket as descriptor \([0-9]*\), 4096 bytes$/\1/p' "$T/out")
}
# su_common_ok NAME: after `run`, the exit was 0, stderr is empty and su_parse
# found every number; otherwise one FAIL line and status 1.
su_common_ok() {
    if [ $rc -ne 0 ]; then fail "$1" "exit $rc: $(errline)"; return 1; fi
    if [ -s "$T/err" ]; then fail "$1" "unexpected stderr: $(errline)"; return 1; fi
    su_parse
    if [ -z "$su_ppid" ] || [ -z "$su_fd" ] || [ -z "$su_cpid" ] || [ -z "$su_sock" ] || [ -z "$su_rfd" ]; then
        fail "$1" "output not as expected: $(tr '\n' '|' <"$T/out")"; return 1
    fi
    return 0
}

name="share_unrelated: parent and exec'd peer read each other's writes (sealed), exit 0"
run "$E/share_unrelated"
if su_common_ok "$name"; then
    if [ $IS_LINUX = 1 ]; then
        seal_line="parent: sealed against shrink and grow"
        trunc_line="peer: ftruncate refused: Operation not permitted (sealed)"
    else
        seal_line=$(grep -m1 '^parent: sealing not supported here: ' "$T/out")
        trunc_line=$(grep -m1 '^peer: ftruncate ' "$T/out")
    fi
    {
        echo "parent: pid $su_ppid, shareable region of 4096 bytes, descriptor $su_fd (close-on-exec)"
        echo "parent wrote: hello from pid $su_ppid"
        echo "$seal_line"
        echo "peer: pid $su_cpid, exec'd as $su_exe --peer $su_sock $su_fd"
        grep -m1 "^peer: region fd $su_fd not inherited across exec: " "$T/out"
        echo "peer: received the region over the socket as descriptor $su_rfd, 4096 bytes"
        echo "peer read: hello from pid $su_ppid"
        echo "$trunc_line"
        if [ $IS_LINUX = 0 ] && [ "${trunc_line#peer: ftruncate to 0 bytes succeeded}" != "$trunc_line" ]; then
            grep -m1 '^peer: mm_read after the shrink: ' "$T/out"
            echo "peer: size restored to 4096 bytes (the old contents are gone)"
        fi
        echo "peer wrote: reply from pid $su_cpid"
        echo "parent read: reply from pid $su_cpid"
    } >"$T/want"
    if ! cmp -s "$T/out" "$T/want"; then
        fail "$name" "output was: $(tr '\n' '|' <"$T/out") wanted: $(tr '\n' '|' <"$T/want")"
    else
        pass "$name"
    fi

    name="share_unrelated: the peer is a new process image: own pid, exec'd with --peer"
    if [ "$su_cpid" = "$su_ppid" ]; then fail "$name" "peer pid $su_cpid is the parent's"
    elif [ $IS_LINUX = 1 ] && [ "$su_exe" != "$SU_BIN" ]; then
        fail "$name" "peer's /proc/self/exe is '$su_exe', want '$SU_BIN'"
    elif [ "$su_sock" = "$su_fd" ]; then fail "$name" "socket and region descriptor numbers are equal"
    else pass "$name"; fi

    name="share_unrelated: the region's descriptor $su_fd was not inherited across exec"
    if has_line "peer: region fd $su_fd not inherited across exec: fcntl($su_fd, F_GETFD): Bad file descriptor" \
       || has_line "peer: region fd $su_fd not inherited across exec: descriptor $su_fd is open but is another file"; then
        pass "$name"
    else fail "$name" "no such line: $(grep '^peer: region fd' "$T/out")"; fi

    if [ $IS_LINUX = 1 ]; then
        name="share_unrelated: sealed on Linux, the peer's ftruncate(fd, 0) is refused"
        if has_line "parent: sealed against shrink and grow" \
           && has_line "peer: ftruncate refused: Operation not permitted (sealed)"; then pass "$name"
        else fail "$name" "$(grep -E '^(parent: seal|parent: not seal|peer: ftruncate)' "$T/out" | tr '\n' '|')"; fi
    fi
fi

name="share_unrelated --no-seal: the peer shrinks the object, mm_read gives EFAULT, reply still arrives"
run "$E/share_unrelated" --no-seal
if su_common_ok "$name"; then
    {
        echo "parent: pid $su_ppid, shareable region of 4096 bytes, descriptor $su_fd (close-on-exec)"
        echo "parent wrote: hello from pid $su_ppid"
        echo "parent: not sealed (--no-seal)"
        echo "peer: pid $su_cpid, exec'd as $su_exe --peer $su_sock $su_fd"
        grep -m1 "^peer: region fd $su_fd not inherited across exec: " "$T/out"
        echo "peer: received the region over the socket as descriptor $su_rfd, 4096 bytes"
        echo "peer read: hello from pid $su_ppid"
        echo "peer: ftruncate to 0 bytes succeeded (not sealed)"
        echo "peer: mm_read after the shrink: EFAULT (a plain load would have raised SIGBUS)"
        echo "peer: size restored to 4096 bytes (the old contents are gone)"
        echo "peer wrote: reply from pid $su_cpid"
        echo "parent read: reply from pid $su_cpid"
    } >"$T/want"
    if cmp -s "$T/out" "$T/want"; then pass "$name"
    else fail "$name" "output was: $(tr '\n' '|' <"$T/out")"; fi
fi

name="share_unrelated: started through PATH (argv[0] without a slash), the peer still runs"
run env PATH="$E:$PATH" share_unrelated
if su_common_ok "$name"; then
    if has_line "parent read: reply from pid $su_cpid" && [ "$su_cpid" != "$su_ppid" ]; then pass "$name"
    else fail "$name" "output was: $(tr '\n' '|' <"$T/out")"; fi
fi

name="share_unrelated: bad usage exits 2"
run "$E/share_unrelated" --bogus; rc1=$rc
run "$E/share_unrelated" --peer 5; rc2=$rc
run "$E/share_unrelated" --peer x 3; rc3=$rc
if [ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] && [ $rc3 -eq 2 ] && grep -q usage "$T/err"; then pass "$name"
else fail "$name" "exit $rc1 / $rc2 / $rc3"; fi

name="share_unrelated --peer on a descriptor that is not a socket: clean error, exit 1"
run "$E/share_unrelated" --peer 0 7 </dev/null
if [ $rc -eq 1 ] && grep -q '^share_unrelated: peer: recvmsg: ' "$T/err"; then pass "$name"
else fail "$name" "exit $rc: $(errline)"; fi

if [ -d /dev/shm ]; then
    name="share_unrelated: nothing left in /dev/shm"
    shm_after=$(shm_names)
    leaked=$(comm -13 <(printf '%s\n' "$shm_before") <(printf '%s\n' "$shm_after") | grep -v '^$')
    if [ -z "$leaked" ]; then pass "$name"; else fail "$name" "new entries: $(tr '\n' ' ' <<<"$leaked")"; fi
else
    skip "share_unrelated: nothing left in /dev/shm" "no /dev/shm here"
fi

# ---------------------------------------------------------- guarded_reader
# Valgrind cannot deliver the SIGBUS of a page past the end of a mapped file
# (it makes it a SIGSEGV at address 0), so guarded_reader is not run under it.
G=$T/guarded; mkdir "$G"
name="guarded_reader: a writer truncates the file under the mapping; the reader reads zeros and goes on"
run "$E/guarded_reader" "$G/log"
{
    echo "reader: $G/log: $((16 * PAGE)) bytes (16 pages of $PAGE) mapped with MM_GUARD"
    echo "reader: pages 0-7 through mm_ptr: $((8 * PAGE)) bytes, as written"
    echo "writer: truncated $G/log to $PAGE bytes"
    echo "reader: pages 8-15 through mm_ptr: $((8 * PAGE)) bytes, all zeros (no SIGBUS)"
    grep -m1 "^reader: mm_check: 8 pages lost, the first at offset $((8 * PAGE)) (" "$T/out"
    echo "reader: mm_read of page 3: EFAULT (the page is gone from the file)"
    echo "reader: still alive"
} >"$T/want"
if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
elif ! cmp -s "$T/out" "$T/want"; then fail "$name" "output was: $(tr '\n' '|' <"$T/out")"
elif [ "$(stat -c %s "$G/log" 2>/dev/null || stat -f %z "$G/log")" != "$PAGE" ]; then
    fail "$name" "the file is not $PAGE bytes long"
else pass "$name"; fi

name="guarded_reader --unguarded: the same load kills the reader with SIGBUS"
run "$E/guarded_reader" --unguarded "$G/log2"
if [ $rc -eq $((128 + $(kill -l BUS))) ] && has_line "writer: truncated $G/log2 to $PAGE bytes" \
   && ! grep -q '^reader: pages 8-15' "$T/out"; then pass "$name"
else fail "$name" "exit $rc, output: $(tr '\n' '|' <"$T/out")"; fi

name="guarded_reader: bad usage exits 2"
run "$E/guarded_reader"; rc1=$rc
run "$E/guarded_reader" --bogus "$G/x"; rc2=$rc
if [ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] && grep -q usage "$T/err"; then pass "$name"
else fail "$name" "exit $rc1 / $rc2"; fi

name="guarded_reader: a file that cannot be written is a clean error, exit 1"
run "$E/guarded_reader" "$G/no/such/dir/log"
if [ $rc -eq 1 ] && grep -q '^guarded_reader: writing ' "$T/err"; then pass "$name"
else fail "$name" "exit $rc: $(errline)"; fi

# ---------------------------------------------------------------- valgrind
have_valgrind=1
if ! command -v valgrind >/dev/null; then
    if [ $IS_ROOT = 1 ] && command -v apt-get >/dev/null; then
        apt-get install -y valgrind >"$T/apt.log" 2>&1 || true
    fi
    command -v valgrind >/dev/null || have_valgrind=0
fi
if [ $have_valgrind = 0 ]; then
    skip "valgrind" "valgrind is not installed (and could not be installed as this user)"
else
    VG=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1)
    # vg NAME EXPECTED-LINE CMD...: clean under valgrind, and still correct
    vg() {
        local name="valgrind: $1" want=$2; shift 2
        run "${VG[@]}" "$@"
        if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(grep -m1 -E '==[0-9]+==' "$T/err" || errline)"
        elif [ -n "$want" ] && ! has_line "$want"; then fail "$name" "no line '$want'"
        else pass "$name"; fi
    }
    vg "anon_mmap" "In parent, value = 2" --trace-children=no "$E/anon_mmap"
    vg "anon_mmap --devzero" "In parent, value = 2" --trace-children=no "$E/anon_mmap" --devzero
    vg "map_cat (empty, NUL, 4097-byte, 5 MiB files)" "" "$E/map_cat" "$D/empty" "$D/nul" "$D/p4097" "$D/big"
    # a failing file must not leak either (exit 1 is expected there)
    name="valgrind: map_cat with a missing file and a directory"
    run "${VG[@]}" --error-exitcode=99 "$E/map_cat" "$D/one" "$D/missing" "$D/dir"
    if [ $rc -eq 1 ] && ! grep -qE '==[0-9]+==' "$T/err"; then pass "$name"
    else fail "$name" "exit $rc: $(grep -m1 -E '==[0-9]+==' "$T/err")"; fi
    vg "map_cat stdin" "" "$E/map_cat" - <"$D/text"
    name="valgrind: map_cat into a pipe (vmsplice on Linux)"
    "${VG[@]}" "$E/map_cat" "$D/empty" "$D/nul" "$D/p4097" "$D/big" - <"$D/text" 2>"$T/err" | cat >"$T/out"
    rc=${PIPESTATUS[0]}
    cat "$D/nul" "$D/p4097" "$D/big" "$D/text" >"$T/want"
    if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(grep -m1 -E '==[0-9]+==' "$T/err" || errline)"
    elif ! cmp -s "$T/out" "$T/want"; then fail "$name" "output differs from cat"
    else pass "$name"; fi
    vg "mmap_sync --sync" "counter = 1" "$E/mmap_sync" --sync "$T/rec-vg"
    vg "mmap_sync --async" "counter = 2" "$E/mmap_sync" --async "$T/rec-vg"
    vg "mmap_sync --invalidate" "counter = 3" "$E/mmap_sync" --invalidate "$T/rec-vg"
    vg "mlock_demo" "result: as expected" "$E/mlock_demo"
    vg "shared_counter" "total = 40000 (expected 40000): OK" --trace-children=no "$E/shared_counter" 4 10000
    # The peer is exec'd under valgrind too (--trace-children=yes); its
    # errors make it exit non-zero, and then the parent fails as well.
    if [ $IS_LINUX = 1 ]; then su_want="parent: sealed against shrink and grow"; else su_want=""; fi
    vg "share_unrelated (parent and peer)" "$su_want" --trace-children=yes "$E/share_unrelated"
    vg "share_unrelated --no-seal (parent and peer)" "peer: size restored to 4096 bytes (the old contents are gone)" \
        --trace-children=yes "$E/share_unrelated" --no-seal
fi

if [ $failures -ne 0 ]; then
    echo "c-examples: $failures check(s) failed" >&2
    exit 1
fi
exit 0
