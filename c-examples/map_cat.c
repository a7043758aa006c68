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
 * Into a pipe (Linux): the book writes the mapping with write(), which
 * copies the bytes into the pipe's own pages, and the reader copies them a
 * second time out of the pipe.  With one end of a 64 KiB pipe on each CPU
 * the two copies take turns, and map_cat was 1.2-1.5x slower than GNU cat
 * there.  So when standard output is a pipe, map_cat hands the mapped pages
 * to it with vmsplice(2) instead: the pipe then holds references to the
 * file's page-cache pages (our mapping is read-only and private, and we never
 * write it, so its pages ARE the page cache's), and the reader's copy is the
 * only one (0.76-0.89x cat in figure 5; nearer parity on a quiet machine,
 * where the pipe's wake-ups, not the copies, set the pace).  It is still the book's program: one
 * mapping of the whole file, made the same way, given to the pipe in one
 * loop that the kernel serves a pipe's worth at a time as the reader drains
 * it, just as it serves write().  Everywhere else (files, terminals,
 * sockets, systems without vmsplice) map_cat uses write().
 *
 * Why this is safe, and what it changes:
 *   - vmsplice takes a reference on every page it puts in the pipe, so the
 *     pages outlive our mapping: mm_unmap() right after vmsplice() returns,
 *     and even exiting, is safe; the reader copies from the same pages later.
 *   - no SPLICE_F_GIFT: the pages belong to the file's page cache, not to us,
 *     so we may not give them away (a gifted page may be taken over by
 *     whoever splices it out of the pipe, e.g. moved into another file's
 *     cache); without the flag the kernel copies a page whenever someone
 *     would take it.  (GIFT also wants whole pages, and a file's last page is
 *     usually partial.)
 *   - the caveat: the reader copies the bytes when it reads them, not when we
 *     call vmsplice.  If another process changes the file meanwhile, the
 *     reader sees the new bytes of the pages still in the pipe (at most the
 *     pipe's size, 64 KiB by default).  cat and write() have the same race
 *     while they copy; vmsplice only keeps the window open until the reader
 *     has read.  The usual vmsplice rule, "do not modify the buffer until the
 *     reader has consumed it", is kept trivially: nobody writes through a
 *     read-only mapping.  Standard input, copied through one reused buffer
 *     (copy_fd), is never vmspliced for exactly that reason.
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
 * written, the pages past the new end vanish from the mapping.  A program
 * that loaded from them would get SIGBUS; map_cat never loads from the
 * mapping itself (write() copies from it and vmsplice() references it in
 * the kernel), so the call fails with EFAULT instead and map_cat stops with
 * `map_cat: write error: Bad address` (exit 1).
 * Pseudo-files that report size 0 but produce data when read (/proc/...)
 * come out empty, because a mapping only sees the file's size.
 */
#define _POSIX_C_SOURCE 200809L
#ifdef __linux__
#define _GNU_SOURCE             /* vmsplice() and SPLICE_F_* in <fcntl.h> */
#endif

#include <errno.h>
#include <fcntl.h>
#ifndef _WIN32
#include <poll.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/uio.h>            /* struct iovec */
#endif

#include <mmkit.h>

#ifdef _WIN32
/* The Windows C runtime (MinGW): no O_CLOEXEC (a descriptor children do not
   inherit instead, in binary mode), no poll() (its descriptors never block
   with EAGAIN), and write() takes an unsigned int count. */
#include <io.h>
#define O_CLOEXEC (O_NOINHERIT | O_BINARY)
#define WRITE_MAX ((size_t)1 << 30)
#endif

/* vmsplice(2) is Linux-only; SPLICE_F_GIFT tells us the C library declares it. */
#if defined(__linux__) && defined(SPLICE_F_GIFT)
#define HAVE_VMSPLICE 1
#else
#define HAVE_VMSPLICE 0
#endif

/* Wait until fd can take more data (after EAGAIN: standard output may have
   been left non-blocking by whoever set it up).  Returns 0, or an errno. */
static int wait_writable(int fd)
{
#ifdef _WIN32
    (void)fd;
    return EAGAIN;
#else
    struct pollfd p = { .fd = fd, .events = POLLOUT };

    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            return errno;
    return 0;
#endif
}

/* Write all n bytes of buf to fd, retrying short writes, EINTR and EAGAIN.
   Returns 0, or the errno of the failed write(). */
static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
#ifdef _WIN32
        ssize_t w = write(fd, buf, (unsigned)(n < WRITE_MAX ? n : WRITE_MAX));
#else
        ssize_t w = write(fd, buf, n);
#endif
        if (w < 0) {
            int err = errno;
            if (err == EINTR)
                continue;
            if ((err == EAGAIN || err == EWOULDBLOCK) && (err = wait_writable(fd)) == 0)
                continue;
            return err;
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

#if HAVE_VMSPLICE
/* Set in main(): standard output is a pipe we may vmsplice into.  Cleared
   for good if vmsplice turns out not to work here. */
static int out_splice;

/* Whether standard output is a pipe (or FIFO) opened for writing.  The
   access mode matters: on a descriptor opened only for reading, vmsplice
   goes the other way and would read from the pipe into our buffer. */
static int stdout_is_pipe(void)
{
    struct stat st;
    int fl;

    if (fstat(STDOUT_FILENO, &st) != 0 || !S_ISFIFO(st.st_mode))
        return 0;
    fl = fcntl(STDOUT_FILENO, F_GETFL);
    return fl >= 0 && (fl & O_ACCMODE) != O_RDONLY;
}

/* Hand the n mapped bytes at *buf to the pipe on fd, advancing *buf and *n
   as the kernel takes them (it takes as much as the pipe has room for and
   waits for the reader, like write()).  Returns 0, or the errno of the
   failed vmsplice() with *buf and *n at the first byte not handed over. */
static int splice_all(int fd, char **buf, size_t *n)
{
    while (*n > 0) {
        struct iovec iov = { .iov_base = *buf, .iov_len = *n };
        ssize_t w = vmsplice(fd, &iov, 1, 0);     /* flags 0: no SPLICE_F_GIFT */
        if (w < 0) {
            int err = errno;
            if (err == EINTR)
                continue;
            /* Only with SPLICE_F_NONBLOCK, which we do not pass (Linux 6.18
               waits even if the pipe is O_NONBLOCK), but cheap to handle. */
            if (err == EAGAIN && (err = wait_writable(fd)) == 0)
                continue;
            return err;
        }
        if (w == 0)
            return EINVAL;      /* cannot happen for n > 0; never spin */
        *buf += w;
        *n -= (size_t)w;
    }
    return 0;
}
#endif

/* Write n bytes of a mapping to standard output: vmsplice into a pipe
   (Linux), write() everywhere else.  A failure is fatal, as in cat. */
static void out_mapping(char *buf, size_t n)
{
#if HAVE_VMSPLICE
    if (out_splice) {
        int err = splice_all(STDOUT_FILENO, &buf, &n);
        if (err == 0)
            return;
        switch (err) {
        case ENOSYS:            /* no vmsplice in this kernel or emulation */
        case EPERM:             /* refused by a seccomp filter */
        case EINVAL:            /* refused for this descriptor or buffer */
        case EBADF:             /* not a pipe after all */
        case ENOMEM:            /* no memory to reference the pages */
            out_splice = 0;     /* write() the rest, and from now on */
            break;
        default:                /* EPIPE, EFAULT (file truncated), ...: as write() */
            fprintf(stderr, "map_cat: write error: %s\n", strerror(err));
            exit(EXIT_FAILURE);
        }
    }
#endif
    write_out(buf, n);
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
        out_mapping(mm_ptr(r), mm_len(r));
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

#ifdef _WIN32
    /* Bytes, not text: no CR added before LF, no ^Z taken as the end. */
    _setmode(STDIN_FILENO, O_BINARY);
    _setmode(STDOUT_FILENO, O_BINARY);
#endif
#if HAVE_VMSPLICE
    out_splice = stdout_is_pipe();
#endif
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
