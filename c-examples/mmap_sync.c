/*
 * mmap_sync.c - update a record through a shared file mapping, then msync.
 *
 * Illustrates the msync() section of M. K. Johnson & E. W. Troan, "Linux
 * Application Development", ch. 13.2.4 (seed 004).  A store into a
 * MM_SHARED file mapping changes the file's page in memory; mm_sync()
 * (msync) controls when that page is written to the disk:
 *
 *   --sync        MM_SYNC: write the pages and wait until they are written
 *                 (the default; after it returns 0 the update survives a
 *                 crash of the process or a power loss once the disk has it)
 *   --async       MM_ASYNC: schedule the write and return at once
 *   --invalidate  MM_SYNC|MM_INVALIDATE: write and wait, and also ask the
 *                 kernel to invalidate other cached copies of those pages
 *
 * MM_SYNC and MM_ASYNC are mutually exclusive (the library returns -EINVAL
 * for both).  Whatever the mode, an independent reader using pread() sees the
 * new value at once on Linux, because the mapping and read() share the same
 * page cache; msync is about the disk, not about other readers.
 *
 * The file holds one 16-byte record:
 *
 *     bytes 0..7   magic "MMKITREC"
 *     bytes 8..15  counter, unsigned 64-bit, host byte order
 *
 * If FILE does not exist it is created (mode 0600) by MM_CREATE, which also
 * grows it to the record size; a new record starts at 0.  Each run adds 1:
 *
 *     $ mmap_sync /tmp/rec
 *     file: /tmp/rec: new record
 *     counter = 1
 *     mm_sync(MM_SYNC): ok
 *     pread sees: counter = 1
 *     $ mmap_sync --async /tmp/rec
 *     file: /tmp/rec: existing record
 *     counter = 2
 *     mm_sync(MM_ASYNC): ok
 *     pread sees: counter = 2
 *
 * A file that exists but is not such a record is refused and left unchanged.
 * (Two runs at the same moment could both read the same old value; this
 * demo does not lock the file.)
 *
 * Usage: mmap_sync [--sync|--async|--invalidate] FILE
 * Exit status: 0 on success, 1 on failure, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mmkit.h>

#ifdef _WIN32
/* The Windows C runtime (MinGW) has neither O_CLOEXEC nor pread(): a
   descriptor children do not inherit, in binary mode, and a seek and a read. */
#include <io.h>
#define O_CLOEXEC (O_NOINHERIT | O_BINARY)
static ssize_t pread(int fd, void *buf, size_t n, long long offset)
{
    if (_lseeki64(fd, offset, SEEK_SET) < 0)
        return -1;
    return read(fd, buf, (unsigned)n);
}
#endif

#define RECORD_MAGIC "MMKITREC"

struct record {
    char magic[8];          /* RECORD_MAGIC, without its NUL */
    uint64_t counter;
};
_Static_assert(sizeof(struct record) == 16, "record must be 16 bytes");

static void usage(void)
{
    fprintf(stderr, "usage: mmap_sync [--sync|--async|--invalidate] FILE\n");
    exit(2);
}

static int fail_mm(const char *path, int rc)
{
    const char *msg = mm_last_error();
    fprintf(stderr, "mmap_sync: %s: %s\n", path, *msg ? msg : strerror(-rc));
    return EXIT_FAILURE;
}

/* Read the record back the ordinary way, as another program would. */
static int read_back(const char *path, struct record *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        fprintf(stderr, "mmap_sync: %s: open: %s\n", path, strerror(errno));
        return -1;
    }
    do
        n = pread(fd, out, sizeof *out, 0);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n != (ssize_t)sizeof *out) {
        fprintf(stderr, "mmap_sync: %s: pread: %s\n", path,
                n < 0 ? strerror(errno) : "short read");
        return -1;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    uint32_t sync_flags = MM_SYNC;
    const char *mode_name = "MM_SYNC";
    const char *path;
    mm_region *r = NULL;
    struct record *rec, seen;
    struct stat st;
    uint64_t value;
    int rc;

    if (argc == 3) {
        if (strcmp(argv[1], "--sync") == 0) {
            sync_flags = MM_SYNC;
            mode_name = "MM_SYNC";
        } else if (strcmp(argv[1], "--async") == 0) {
            sync_flags = MM_ASYNC;
            mode_name = "MM_ASYNC";
        } else if (strcmp(argv[1], "--invalidate") == 0) {
            sync_flags = MM_SYNC | MM_INVALIDATE;
            mode_name = "MM_SYNC|MM_INVALIDATE";
        } else {
            usage();
        }
        path = argv[2];
    } else if (argc == 2 && strncmp(argv[1], "--", 2) != 0) {
        path = argv[1];
    } else {
        usage();
    }

    /* Refuse, before MM_CREATE grows it, a short file that cannot be ours. */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size != 0 &&
        st.st_size < (off_t)sizeof(struct record)) {
        fprintf(stderr, "mmap_sync: %s: not a record file (%lld bytes)\n",
                path, (long long)st.st_size);
        return EXIT_FAILURE;
    }

    /*
     * Map the first 16 bytes, writable and shared with the file.  MM_CREATE
     * creates a missing file (0600) and grows a short one to 16 bytes with
     * the blocks allocated, so the store below cannot hit a full disk.
     * mm_map_file closes its descriptor before returning.
     */
    rc = mm_map_file(path, 0, sizeof(struct record),
                     MM_READ | MM_WRITE | MM_SHARED | MM_CREATE, &r);
    if (rc != 0)
        return fail_mm(path, rc);
    rec = mm_ptr(r);        /* offset 0: page-aligned, fine for uint64_t */

    if (memcmp(rec->magic, RECORD_MAGIC, sizeof rec->magic) == 0) {
        printf("file: %s: existing record\n", path);
    } else {
        static const struct record zero;
        if (memcmp(rec, &zero, sizeof zero) != 0) {
            fprintf(stderr, "mmap_sync: %s: not a record file (bad magic)\n",
                    path);
            mm_unmap(r);
            return EXIT_FAILURE;
        }
        /* Just created (all zeros): write a fresh record. */
        memcpy(rec->magic, RECORD_MAGIC, sizeof rec->magic);
        rec->counter = 0;
        printf("file: %s: new record\n", path);
    }

    /* The update: an ordinary store into memory changes the file's page. */
    value = ++rec->counter;
    printf("counter = %" PRIu64 "\n", value);

    /* Now push the page towards the disk, as the user asked. */
    rc = mm_sync(r, 0, 0, sync_flags);
    if (rc != 0) {
        fail_mm(path, rc);
        mm_unmap(r);
        return EXIT_FAILURE;
    }
    printf("mm_sync(%s): ok\n", mode_name);

    /* A separate reader (pread on a new descriptor, while the mapping is
       still in place) sees the change. */
    if (read_back(path, &seen) != 0) {
        mm_unmap(r);
        return EXIT_FAILURE;
    }
    printf("pread sees: counter = %" PRIu64 "\n", seen.counter);

    rc = mm_unmap(r);
    if (rc != 0)
        return fail_mm(path, rc);

    if (memcmp(seen.magic, RECORD_MAGIC, sizeof seen.magic) != 0 ||
        seen.counter != value) {
        fprintf(stderr, "mmap_sync: %s: reader does not see the update\n",
                path);
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
