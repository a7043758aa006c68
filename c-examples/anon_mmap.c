/*
 * anon_mmap.c - a shared anonymous mapping inherited across fork().
 *
 * Port of the anon_mmap.c program from M. Kerrisk, "The Linux Programming
 * Interface", ch. 49 (also R. Love, "Linux System Programming", ch. 8),
 * as quoted in seed 000.
 *
 * The parent maps one int of zero-filled shared memory, stores 1 in it and
 * forks.  The child inherits the mapping, prints the value it sees and
 * increments it.  Because the mapping is MM_SHARED (not copy-on-write), the
 * parent sees the child's write once it has waited for the child:
 *
 *     $ anon_mmap
 *     backend: MAP_ANONYMOUS
 *     Child started, value = 1
 *     In parent, value = 2
 *
 * The book chooses between MAP_SHARED|MAP_ANONYMOUS and mapping /dev/zero at
 * compile time (USE_MAP_ANON).  mmkit makes that a run-time choice: by
 * default it uses MAP_ANONYMOUS (and falls back to /dev/zero by itself where
 * that is missing or refused); MM_DEVZERO forces /dev/zero.  mm_flags() of
 * the region tells which one actually served it.
 *
 * Usage: anon_mmap [--devzero]
 * Exit status: 0 when the parent saw 2, 1 on any failure, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mmkit.h>

static void usage(void)
{
    fprintf(stderr, "usage: anon_mmap [--devzero]\n");
    exit(2);
}

/* mmkit returns -errno; mm_last_error() says which call failed and why. */
static void die_mm(const char *what, int rc)
{
    const char *msg = mm_last_error();
    fprintf(stderr, "anon_mmap: %s: %s\n", what, *msg ? msg : strerror(-rc));
    exit(EXIT_FAILURE);
}

int main(int argc, char *argv[])
{
    uint32_t flags = MM_READ | MM_WRITE | MM_SHARED;
    mm_region *r = NULL;
    int *addr;      /* pointer to the shared int */
    pid_t pid;
    int rc, status;

    if (argc > 2)
        usage();
    if (argc == 2) {
        if (strcmp(argv[1], "--devzero") != 0)
            usage();
        flags |= MM_DEVZERO;
    }

    /* One int of shared, zero-filled memory.  mmap() returns page-aligned
       memory, so the int is suitably aligned. */
    rc = mm_map_anon(sizeof(int), flags, &r);
    if (rc != 0)
        die_mm("mm_map_anon", rc);
    addr = mm_ptr(r);

    printf("backend: %s\n",
           (mm_flags(r) & MM_DEVZERO) ? "/dev/zero" : "MAP_ANONYMOUS");

    *addr = 1;      /* initialize the integer in the mapped region */

    /*
     * Flush stdio before fork(): when stdout is a pipe or a file it is fully
     * buffered, and the not-yet-written "backend:" line would sit in both
     * the parent's and the child's copy of the buffer and be printed twice.
     * (The book's program prints nothing before fork(); anything added
     * there needs this flush.)
     */
    if (fflush(stdout) == EOF) {
        perror("anon_mmap: fflush");
        return EXIT_FAILURE;
    }

    pid = fork();   /* parent and child share the mapping */
    switch (pid) {
    case -1:
        perror("anon_mmap: fork");
        mm_unmap(r);
        return EXIT_FAILURE;

    case 0:         /* child: increment the shared integer and exit */
        printf("Child started, value = %d\n", *addr);
        (*addr)++;
        /* The child has its own copy of the region handle; unmapping it
           affects only the child's address space. */
        rc = mm_unmap(r);
        if (rc != 0)
            die_mm("mm_unmap (child)", rc);
        exit(EXIT_SUCCESS);     /* exit() flushes the child's printf */

    default:        /* parent: wait for the child to terminate */
        while (waitpid(pid, &status, 0) == -1) {
            if (errno != EINTR) {
                perror("anon_mmap: waitpid");
                return EXIT_FAILURE;
            }
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "anon_mmap: child failed\n");
            return EXIT_FAILURE;
        }
        printf("In parent, value = %d\n", *addr);
        status = (*addr == 2) ? EXIT_SUCCESS : EXIT_FAILURE;
        rc = mm_unmap(r);
        if (rc != 0)
            die_mm("mm_unmap", rc);
        return status;
    }
}
