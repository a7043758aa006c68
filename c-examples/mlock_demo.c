/*
 * mlock_demo.c - lock memory in RAM, within and beyond RLIMIT_MEMLOCK.
 *
 * Illustrates the memory-locking section of M. K. Johnson & E. W. Troan,
 * "Linux Application Development", ch. 13.2.5 (seed 004).  mlock() keeps
 * pages in RAM so that a latency-sensitive program never waits for them to
 * be paged back in.  Because a process that locked everything could bring
 * the system down, the total a process may lock is bounded by the resource
 * limit RLIMIT_MEMLOCK; a privileged process (CAP_IPC_LOCK, e.g. root) is
 * not bound by it.  When the kernel refuses, mmkit's message names the
 * limit, its value and the bytes asked, e.g.
 *
 *     mm_lock: mlock(1048576 bytes) refused: RLIMIT_MEMLOCK is 65536 bytes ...
 *
 * What it does:
 *   1. prints RLIMIT_MEMLOCK (getrlimit);
 *   2. maps BYTES of anonymous memory and tries to lock all of it, then
 *      unlocks it if that worked;
 *   3. tries to lock a region one page larger than the soft limit, which an
 *      unprivileged process must be refused (skipped when the limit is
 *      unlimited, or too large to try without locking lots of real RAM).
 *
 * Output lines (stable; tests match them):
 *   RLIMIT_MEMLOCK: soft=<N|unlimited> hard=<N|unlimited>
 *   lock <BYTES> bytes: locked
 *   lock <BYTES> bytes: refused: <mm_last_error()>
 *   unlock <BYTES> bytes: ok
 *   lock <M> bytes (above the limit): locked (privileged: CAP_IPC_LOCK ignores RLIMIT_MEMLOCK)
 *   lock <M> bytes (above the limit): refused: <mm_last_error()>
 *   lock above the limit: skipped (<why>)
 *   result: as expected
 *   result: unexpected
 *
 * A refusal is expected behaviour when it is EPERM, ENOMEM or EAGAIN and the
 * message names RLIMIT_MEMLOCK; so the program exits 0 both for root (all
 * locks succeed) and for an unprivileged user under a small limit (locks
 * refused), e.g.
 *
 *     prlimit --memlock=65536:65536 setpriv --reuid=nobody --regid=nogroup \
 *         --clear-groups --inh-caps=-all ./mlock_demo 1048576
 *
 * Usage: mlock_demo [BYTES]      (default 1048576 = 1 MiB)
 * Exit status: 0 as expected, 1 otherwise, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/resource.h>
#endif

#include <mmkit.h>

#define DEFAULT_BYTES ((size_t)1 << 20)
/* Beyond this the "above the limit" attempt is skipped: a privileged
   process would really lock that much RAM. */
#define MAX_ABOVE_LIMIT_TRY ((size_t)256 << 20)

static void usage(void)
{
    fprintf(stderr, "usage: mlock_demo [BYTES]\n");
    exit(2);
}

#ifndef _WIN32
static void print_limit(const char *name, rlim_t v)
{
    if (v == RLIM_INFINITY)
        printf("%s=unlimited", name);
    else
        printf("%s=%" PRIuMAX, name, (uintmax_t)v);
}
#endif

/* Is this refusal the documented RLIMIT_MEMLOCK / privilege refusal? */
static int expected_refusal(int rc, const char *msg)
{
    return (rc == -EPERM || rc == -ENOMEM || rc == -EAGAIN) &&
           strstr(msg, "RLIMIT_MEMLOCK") != NULL;
}

/*
 * Map `bytes` of private anonymous memory and try to lock it.
 * `label` is "" or " (above the limit)".  Returns 1 when the outcome is
 * expected (locked, or refused for RLIMIT_MEMLOCK), 0 otherwise.
 */
static int try_lock(size_t bytes, const char *label, int unlock_after)
{
    mm_region *r = NULL;
    int rc, ok = 1;

    rc = mm_map_anon(bytes, MM_READ | MM_WRITE | MM_PRIVATE, &r);
    if (rc != 0) {
        printf("lock %zu bytes%s: cannot map: %s\n", bytes, label,
               *mm_last_error() ? mm_last_error() : strerror(-rc));
        return 0;
    }

    rc = mm_lock(r, 0, 0);          /* len 0: to the end of the region */
    if (rc == 0) {
        printf("lock %zu bytes%s: locked%s\n", bytes, label,
               *label ? " (privileged: CAP_IPC_LOCK ignores RLIMIT_MEMLOCK)"
                      : "");
        if (unlock_after) {
            rc = mm_unlock(r, 0, 0);
            if (rc == 0) {
                printf("unlock %zu bytes: ok\n", bytes);
            } else {
                printf("unlock %zu bytes: failed: %s\n", bytes,
                       mm_last_error());
                ok = 0;
            }
        }
    } else {
        const char *msg = mm_last_error();
        printf("lock %zu bytes%s: refused: %s\n", bytes, label,
               *msg ? msg : strerror(-rc));
        ok = expected_refusal(rc, msg);
    }

    /* Unmapping also unlocks whatever is still locked. */
    if (mm_unmap(r) != 0) {
        printf("unmap: failed: %s\n", mm_last_error());
        ok = 0;
    }
    return ok;
}

int main(int argc, char *argv[])
{
    size_t bytes = DEFAULT_BYTES;
#ifndef _WIN32
    struct rlimit rl;
#endif
    int ok = 1;

    if (argc > 2)
        usage();
    if (argc == 2) {
        char *end;
        uintmax_t v;
        errno = 0;
        v = strtoumax(argv[1], &end, 10);
        if (errno != 0 || end == argv[1] || *end != '\0' || v == 0 ||
            v > SIZE_MAX || argv[1][0] == '-')
            usage();
        bytes = (size_t)v;
    }

#ifdef _WIN32
    /* Windows has no RLIMIT_MEMLOCK: VirtualLock is bounded by the
       process's working set instead. */
    printf("RLIMIT_MEMLOCK: none (Windows)\n");
    ok &= try_lock(bytes, "", 1);
    printf("lock above the limit: skipped (no RLIMIT_MEMLOCK on Windows)\n");
#else
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) {
        perror("mlock_demo: getrlimit(RLIMIT_MEMLOCK)");
        return EXIT_FAILURE;
    }
    printf("RLIMIT_MEMLOCK: ");
    print_limit("soft", rl.rlim_cur);
    printf(" ");
    print_limit("hard", rl.rlim_max);
    printf("\n");

    /* 1. The size the user asked for. */
    ok &= try_lock(bytes, "", 1);

    /* 2. One page more than the soft limit. */
    if (rl.rlim_cur == RLIM_INFINITY) {
        printf("lock above the limit: skipped (RLIMIT_MEMLOCK is unlimited)\n");
    } else if ((uintmax_t)rl.rlim_cur >
               (uintmax_t)(MAX_ABOVE_LIMIT_TRY - mm_page_size())) {
        printf("lock above the limit: skipped (limit %" PRIuMAX
               " bytes is too large to try)\n", (uintmax_t)rl.rlim_cur);
    } else {
        ok &= try_lock((size_t)rl.rlim_cur + mm_page_size(),
                       " (above the limit)", 1);
    }
#endif

    printf("result: %s\n", ok ? "as expected" : "unexpected");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
