/*
 * map_cat.c - cat(1) that maps each file into memory and writes the mapping.
 *
 * Port of map-cat.c from M. K. Johnson & E. W. Troan, "Linux Application
 * Development", ch. 13.2 (seed 004).  The book's program maps one file,
 * closes the descriptor (the mapping stays valid after close) and writes
 * the whole file to standard output with a single write().  As printed it
 * has three problems, fixed here:
 *
 *   - a syntax error: `if ( fd = open(argv[1], O_RDONLY)) < 0)`;
 *   - an empty file fails, because mmap() of length 0 is EINVAL.  With mmkit
 *     an empty file is a valid region of length 0: we simply write nothing;
 *   - one write() is assumed to write everything.  write() may write less
 *     (pipes, sockets, signals, files over ~2 GiB), or fail with EINTR, so
 *     we loop until every byte is out.
 *
 * mm_map_file() opens the file, maps it and closes the descriptor before it
 * returns, which is exactly the book's "mapping outlives close(fd)" point.
 *
 * Speed (BENCHMARKS.md, figure 5): a file that fits easily in memory (a
 * quarter of RAM at most) is mapped with MM_POPULATE, which sets up all its
 * page-table entries in one pass instead of taking a page fault every 16
 * pages during write(): ~8% faster on a page-cached 512 MiB file.  A larger
 * file is not prefaulted (that would read all of it before writing any,
 * and evict its own first pages); MM_ADV_SEQUENTIAL then drives read-ahead.
 *
 * Usage: map_cat [FILE]...
 *   Writes each FILE to standard output, like cat.  With no FILE, or where
 *   FILE is "-", standard input is copied with read()/write() instead (a
 *   pipe or terminal cannot be mapped, and a redirected file may not be
 *   positioned at offset 0).  Files the library refuses to map because they
 *   are not regular files (-ENODEV: FIFOs, character devices such as
 *   /dev/null) are copied the same way, so `map_cat <(cmd)` works too.
 *   There are no options: every other argument is a file name.
 *
 * Errors: a file that cannot be mapped (missing, a directory, no
 * permission, ...) is reported as `map_cat: FILE: reason` on standard error
 * and the remaining files are still written; the exit status is then 1.
 * A write error on standard output stops the program at once (exit 1).
 *
 * Limitations: if another process truncates a file while it is being
 * written, touching the vanished pages raises SIGBUS (as with any mapping).
 * Pseudo-files that report size 0 but produce data when read (/proc/...)
 * come out empty, because a mapping only sees the file's size.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mmkit.h>

/* Write all n bytes of buf to fd, retrying short writes and EINTR.
   Returns 0, or the errno of the failed write(). */
static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A failed write to standard output is fatal, as in cat. */
static void write_out(const char *buf, size_t n)
{
    int err = write_all(STDOUT_FILENO, buf, n);
    if (err != 0) {
        fprintf(stderr, "map_cat: write error: %s\n", strerror(err));
        exit(EXIT_FAILURE);
    }
}

/* Copy an unmappable descriptor (pipe, terminal, device) with read().
   Returns 0, or -1 after reporting a read error. */
static int copy_fd(int fd, const char *name)
{
    char buf[65536];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "map_cat: %s: %s\n", name, strerror(errno));
            return -1;
        }
        write_out(buf, (size_t)n);
    }
}

/* Fallback for files that exist but cannot be mapped (-ENODEV). */
static int copy_path(const char *path)
{
    int fd, rc;

    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        fprintf(stderr, "map_cat: %s: %s\n", path, strerror(errno));
        return -1;
    }
    rc = copy_fd(fd, path);
    close(fd);
    return rc;
}

/* Whether to prefault the file: it fits in a quarter of physical memory.
   Only a hint; if the size changes before the mapping, nothing breaks.  (A
   container's memory limit may be smaller than the machine's memory; then a
   large file is prefaulted when it should stream: slower, same output.) */
static int worth_populating(const char *path)
{
#ifdef _SC_PHYS_PAGES   /* not POSIX, but glibc, musl, the BSDs and macOS have it */
    struct stat st;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

    if (stat(path, &st) != 0 || pages <= 0 || page <= 0)
        return 0;
    return (unsigned long long)st.st_size
           <= (unsigned long long)pages * (unsigned long long)page / 4;
#else
    (void)path;
    return 0;
#endif
}

/* Map one file and write it.  Returns 0, or -1 after reporting an error. */
static int cat_file(const char *path)
{
    mm_region *r = NULL;
    int rc, populate = worth_populating(path);

    /*
     * offset 0, len 0 = the whole file.  Read-only and MM_PRIVATE: we never
     * write through the mapping (the book notes MAP_SHARED would do as
     * well; either way a read-only mapping needs only O_RDONLY).
     */
    rc = mm_map_file(path, 0, 0, MM_READ | MM_PRIVATE | (populate ? MM_POPULATE : 0), &r);
    if (rc == -ENODEV)
        return copy_path(path);     /* FIFO, device: not mappable */
    if (rc != 0) {
        const char *msg = mm_last_error();
        fprintf(stderr, "map_cat: %s: %s\n", path, *msg ? msg : strerror(-rc));
        return -1;
    }

    /* An empty file is a region of length 0 (mm_ptr may be NULL): there
       is nothing to write. */
    if (mm_len(r) > 0) {
        /* A hint only: we read the pages once, front to back. */
        if (!populate)
            (void)mm_advise(r, 0, 0, MM_ADV_SEQUENTIAL);
        write_out(mm_ptr(r), mm_len(r));
    }

    rc = mm_unmap(r);
    if (rc != 0) {
        const char *msg = mm_last_error();
        fprintf(stderr, "map_cat: %s: %s\n", path, *msg ? msg : strerror(-rc));
        return -1;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    int status = EXIT_SUCCESS;

    if (argc < 2)
        return copy_fd(STDIN_FILENO, "-") == 0 ? EXIT_SUCCESS : EXIT_FAILURE;

    for (int i = 1; i < argc; i++) {
        int rc = strcmp(argv[i], "-") == 0 ? copy_fd(STDIN_FILENO, "-")
                                           : cat_file(argv[i]);
        if (rc != 0)
            status = EXIT_FAILURE;      /* report, and go on with the rest */
    }
    return status;
}
