/*
 * guarded_reader.c - a reader that survives a writer truncating the file
 * under its mapping (MM_GUARD).
 *
 * Beyond the book: every mapping of a file that another process may shorten
 * is a crash waiting to happen.  A page past the new end of the file is gone,
 * and touching it through the mapping raises SIGBUS, which kills the process
 * (the classic failure of every mapping library, CPython's mmap included).
 * MM_GUARD makes the library repair such a page in its fault handler: the
 * page becomes a private page of zeros, the loss is recorded, and the load
 * simply goes on.  mm_check() then reports what was lost.
 *
 * The program writes FILE (16 pages; page i holds the letter 'a' + i), maps
 * it with MM_READ|MM_SHARED|MM_GUARD, and reads it through mm_ptr() with plain
 * loads, as any C code (or a library handed the pointer) would.  Half-way it
 * lets a writer process - a forked child that opens FILE itself - truncate
 * FILE to one page, then reads on:
 *
 *     $ guarded_reader /tmp/log
 *     reader: /tmp/log: 65536 bytes (16 pages of 4096) mapped with MM_GUARD
 *     reader: pages 0-7 through mm_ptr: 32768 bytes, as written
 *     writer: truncated /tmp/log to 4096 bytes
 *     reader: pages 8-15 through mm_ptr: 32768 bytes, all zeros (no SIGBUS)
 *     reader: mm_check: 8 pages lost, the first at offset 32768 (...)
 *     reader: mm_read of page 3: EFAULT (the page is gone from the file)
 *     reader: still alive
 *
 * With --unguarded the region is mapped without MM_GUARD: the load of page 8
 * raises SIGBUS and the process dies there, as with a raw mmap(2).
 *
 * Usage: guarded_reader [--unguarded] FILE
 * Exit status: 0 on success, 1 on failure, 2 on bad usage; killed by SIGBUS
 * with --unguarded.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mmkit.h>

#define PAGES 16

static void usage(void)
{
    fprintf(stderr, "usage: guarded_reader [--unguarded] FILE\n");
    exit(2);
}

/* Lines go out at once: with --unguarded the process dies mid-way. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* FILE: PAGES pages, page i filled with 'a' + i. */
static int write_file(const char *path, size_t page)
{
    char *buf = malloc(page);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = buf != NULL && fd >= 0;
    for (int i = 0; ok && i < PAGES; i++) {
        memset(buf, 'a' + i, page);
        ok = write(fd, buf, page) == (ssize_t)page;
    }
    if (!ok)
        fprintf(stderr, "guarded_reader: writing %s: %s\n", path, strerror(errno));
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    free(buf);
    return ok;
}

/* Pages [first, last] through the plain pointer: how many bytes were as
 * written, and how many were zeros. */
static void scan(const mm_region *r, size_t page, int first, int last, size_t *same, size_t *zeros)
{
    const volatile unsigned char *p = mm_ptr(r);
    *same = *zeros = 0;
    for (int i = first; i <= last; i++)
        for (size_t k = 0; k < page; k++) {
            unsigned char b = p[(size_t)i * page + k];
            *same += b == (unsigned char)('a' + i);
            *zeros += b == 0;
        }
}

int main(int argc, char **argv)
{
    int guard = 1;
    if (argc == 3 && strcmp(argv[1], "--unguarded") == 0)
        guard = 0;
    else if (argc != 2 || argv[1][0] == '-')
        usage();
    const char *path = argv[argc - 1];
    size_t page = mm_page_size(), same, zeros;

    if (!write_file(path, page))
        return 1;
    mm_region *r;
    int rc = mm_map_file(path, 0, 0, MM_READ | MM_SHARED | (guard ? MM_GUARD : 0), &r);
    if (rc < 0) {
        fprintf(stderr, "guarded_reader: %s\n", mm_last_error());
        return 1;
    }
    say("reader: %s: %zu bytes (%d pages of %zu) mapped %s\n", path, mm_len(r), PAGES, page,
        guard ? "with MM_GUARD" : "without MM_GUARD");

    scan(r, page, 0, PAGES / 2 - 1, &same, &zeros);
    say("reader: pages 0-%d through mm_ptr: %zu bytes, %s\n", PAGES / 2 - 1, (size_t)(PAGES / 2) * page,
        same == (size_t)(PAGES / 2) * page ? "as written" : "NOT as written");

    /* The writer: another process, with a descriptor of its own. */
    pid_t pid = fork();
    if (pid < 0) {
        perror("guarded_reader: fork");
        return 1;
    }
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)page) != 0) {
            fprintf(stderr, "guarded_reader: writer: truncating %s: %s\n", path, strerror(errno));
            _exit(1);
        }
        say("writer: truncated %s to %zu bytes\n", path, page);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "guarded_reader: the writer failed\n");
        return 1;
    }

    /* Without MM_GUARD the first load below raises SIGBUS. */
    scan(r, page, PAGES / 2, PAGES - 1, &same, &zeros);
    say("reader: pages %d-%d through mm_ptr: %zu bytes, %s\n", PAGES / 2, PAGES - 1,
        (size_t)(PAGES / 2) * page, zeros == (size_t)(PAGES / 2) * page ? "all zeros (no SIGBUS)" : "NOT zeros");

    int ok = zeros == (size_t)(PAGES / 2) * page;
    rc = mm_check(r);
    say("reader: %s\n", rc == -EFAULT ? mm_last_error() : "mm_check: nothing lost (unexpected)");
    ok = ok && rc == -EFAULT;

    char buf[16];
    rc = mm_read(r, 3 * page, buf, sizeof buf);
    say("reader: mm_read of page 3: %s\n",
        rc == -EFAULT ? "EFAULT (the page is gone from the file)" : rc == 0 ? "read (unexpected)" : mm_last_error());
    ok = ok && rc == -EFAULT;

    mm_unmap(r);
    say("reader: still alive\n");
    return ok ? 0 : 1;
}
