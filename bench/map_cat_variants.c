/*
 * map_cat_variants.c - the core loop of c-examples/map_cat.c, built four ways
 * to find out which hints make it fastest (figure 5):
 *
 *   -DADVICE=0|1     mm_advise(MM_ADV_SEQUENTIAL) on the whole region
 *   -DPOPULATE=0|1   map with MM_POPULATE (prefault every page first)
 *   -DCHUNK=N        write at most N bytes per write(2) call (0: all at once)
 *   -DWINDOW=N       map and write the file N bytes at a time (each window
 *                    its own mapping, with the flags above) instead of all
 *                    at once; 0: the whole file in one mapping
 *   -DVMSPLICE=0|1   when standard output is a pipe, hand the mapped pages to
 *                    the pipe with vmsplice(2) instead of copying them with
 *                    write(2) (Linux only; the reader then copies straight out
 *                    of the page cache)
 *   -DPIPESZ=N       when standard output is a pipe, first ask for an N-byte
 *                    pipe (fcntl F_SETPIPE_SZ, Linux; a refusal is ignored):
 *                    fewer wake-ups of the reader per byte. c-examples/map_cat
 *                    does not do this (it would resize its caller's pipe)
 *
 * c-examples/map_cat.c itself is ADVICE=0 POPULATE=1 for a file of at most a
 * quarter of physical memory (the benchmark's case), ADVICE=1 POPULATE=0 above,
 * and VMSPLICE=1 (without the fallbacks) when standard output is a pipe. Only
 * mapped files are handled here (no standard input, no unmappable files);
 * usage: map_cat_x FILE...
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <fcntl.h>
#if VMSPLICE
#include <sys/uio.h>
#endif

#include <mmkit.h>

#ifndef ADVICE
#define ADVICE 1
#endif
#ifndef POPULATE
#define POPULATE 0
#endif
#ifndef VMSPLICE
#define VMSPLICE 0
#endif
#ifndef CHUNK
#define CHUNK 0
#endif
#ifndef WINDOW
#define WINDOW 0
#endif
#ifndef PIPESZ
#define PIPESZ 0
#endif

#if VMSPLICE
/* vmsplice the whole buffer into the pipe on fd; 0, or the errno. The pages
   stay referenced by the pipe until the reader has copied them, so they may be
   unmapped as soon as this returns (a read-only private file mapping is never
   written by us). */
static int splice_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        struct iovec iov = { (void *)buf, n };
        ssize_t w = vmsplice(fd, &iov, 1, 0);
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
#endif

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, CHUNK && n > (size_t)CHUNK ? (size_t)CHUNK : n);
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

/* Map [off, off + len) of the file (len 0: to its end), write it to standard
   output, unmap. Returns 0, or -1 after reporting a mapping error; a write
   error ends the program. */
static int cat_range(const char *path, uint64_t off, size_t len)
{
    mm_region *r = NULL;
    uint32_t flags = MM_READ | MM_PRIVATE | (POPULATE ? MM_POPULATE : 0);
    if (mm_map_file(path, off, len, flags, &r) != 0) {
        fprintf(stderr, "map_cat_x: %s: %s\n", path, mm_last_error());
        return -1;
    }
    if (mm_len(r) > 0) {
        if (ADVICE)
            (void)mm_advise(r, 0, 0, MM_ADV_SEQUENTIAL);
        int err;
#if VMSPLICE
        struct stat st;
        if (fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode))
            err = splice_all(STDOUT_FILENO, mm_ptr(r), mm_len(r));
        else
#endif
            err = write_all(STDOUT_FILENO, mm_ptr(r), mm_len(r));
        if (err != 0) {
            fprintf(stderr, "map_cat_x: write error: %s\n", strerror(err));
            exit(EXIT_FAILURE);
        }
    }
    return mm_unmap(r) == 0 ? 0 : -1;
}

static int cat_file(const char *path)
{
#if WINDOW
    /* WINDOW bytes at a time, each window its own mapping. */
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "map_cat_x: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (uint64_t off = 0; off < (uint64_t)st.st_size; off += WINDOW) {
        uint64_t left = (uint64_t)st.st_size - off;
        if (cat_range(path, off, left < (uint64_t)WINDOW ? (size_t)left : (size_t)WINDOW) != 0)
            return -1;
    }
    return 0;
#else
    return cat_range(path, 0, 0);
#endif
}

int main(int argc, char *argv[])
{
    int status = EXIT_SUCCESS;
#if PIPESZ && defined(F_SETPIPE_SZ)
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode))
        (void)fcntl(STDOUT_FILENO, F_SETPIPE_SZ, PIPESZ);
#endif
    for (int i = 1; i < argc; i++)
        if (cat_file(argv[i]) != 0)
            status = EXIT_FAILURE;
    return status;
}
