/*
 * shared_counter.c - forked workers add to one counter in shared memory.
 *
 * The IPC use of a shared anonymous mapping described in seed 000: related
 * processes (a parent and its forked children) share the pages of a
 * MM_SHARED anonymous region, much like a System V shared memory segment.
 *
 * The parent maps a small struct holding an _Atomic long counter, forks
 * WORKERS children, and each child adds 1 to the counter ITERATIONS times
 * with atomic_fetch_add.  The children wait at a start flag (also in the
 * shared region) until all of them exist, so they really run at the same
 * time.  Since all of them touch the same physical memory at once, a plain
 * `(*counter)++` (load, add, store) would lose updates; the C11 atomic
 * read-modify-write does not.  This is valid across processes because a
 * lock-free atomic is "address-free" (C11 7.17.5): it works wherever the
 * object is mapped.  The program checks that long is lock-free.
 *
 *     $ shared_counter 4 100000
 *     workers: 4, iterations: 100000
 *     total = 400000 (expected 400000): OK
 *
 * Usage: shared_counter [WORKERS] [ITERATIONS]    (default 4 100000)
 *   WORKERS 1..1024, ITERATIONS >= 0.
 * Exit status: 0 if the total is exact, 1 otherwise, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mmkit.h>

#define MAX_WORKERS 1024

/* What lives in the shared region. */
struct shared {
    _Atomic long counter;   /* the sum all workers add to */
    _Atomic int go;         /* start flag: set once every worker is forked */
};

static void usage(void)
{
    fprintf(stderr, "usage: shared_counter [WORKERS] [ITERATIONS]\n");
    exit(2);
}

static long parse(const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        usage();
    return v;
}

int main(int argc, char *argv[])
{
    long workers = 4, iterations = 100000;
    long started = 0, failed = 0, total, expected;
    mm_region *r = NULL;
    struct shared *sh;
    int rc;

    if (argc > 3)
        usage();
    if (argc > 1)
        workers = parse(argv[1], 1, MAX_WORKERS);
    if (argc > 2)
        iterations = parse(argv[2], 0, LONG_MAX);
    if (iterations > LONG_MAX / workers) {
        fprintf(stderr, "shared_counter: WORKERS * ITERATIONS overflows long\n");
        return 2;
    }
    expected = workers * iterations;

    rc = mm_map_anon(sizeof(struct shared), MM_READ | MM_WRITE | MM_SHARED, &r);
    if (rc != 0) {
        fprintf(stderr, "shared_counter: %s\n",
                *mm_last_error() ? mm_last_error() : strerror(-rc));
        return EXIT_FAILURE;
    }
    /* The region is page-aligned and zero-filled; initialize it anyway. */
    sh = mm_ptr(r);
    atomic_init(&sh->counter, 0);
    atomic_init(&sh->go, 0);
    if (!atomic_is_lock_free(&sh->counter) || !atomic_is_lock_free(&sh->go)) {
        fprintf(stderr, "shared_counter: atomics are not lock-free here, "
                        "so they may not work across processes\n");
        mm_unmap(r);
        return EXIT_FAILURE;
    }

    printf("workers: %ld, iterations: %ld\n", workers, iterations);
    fflush(stdout);     /* nothing buffered may be duplicated by fork() */

    for (long w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid == -1) {
            perror("shared_counter: fork");
            failed = 1;
            break;      /* wait for the ones already started */
        }
        if (pid == 0) {
            /* Worker: the mapping is inherited.  Wait for the start
               signal, then add.  memory_order_relaxed is enough because
               only the final sum matters; the parent reads it after
               wait() has reaped every worker. */
            while (!atomic_load(&sh->go))
                sched_yield();  /* the parent is still forking */
            for (long i = 0; i < iterations; i++)
                atomic_fetch_add_explicit(&sh->counter, 1,
                                          memory_order_relaxed);
            mm_unmap(r);        /* the child's own copy of the handle */
            _exit(0);
        }
        started++;
    }
    atomic_store(&sh->go, 1);   /* all forked (or fork failed): start */

    /* Parent: reap every worker and note any that did not exit 0. */
    while (started > 0) {
        int status;
        pid_t pid = wait(&status);
        if (pid == -1) {
            if (errno == EINTR)
                continue;
            perror("shared_counter: wait");
            failed = 1;
            break;
        }
        started--;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed = 1;
    }

    total = atomic_load(&sh->counter);
    printf("total = %ld (expected %ld): %s\n", total, expected,
           total == expected ? "OK" : "MISMATCH");
    if (failed)
        fprintf(stderr, "shared_counter: a worker failed\n");

    rc = mm_unmap(r);
    if (rc != 0) {
        fprintf(stderr, "shared_counter: %s\n", mm_last_error());
        return EXIT_FAILURE;
    }
    return (total == expected && !failed) ? EXIT_SUCCESS : EXIT_FAILURE;
}
