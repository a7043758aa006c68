/*
 * Explicit huge pages (MM_HUGEPAGES with huge pages reserved): a region mapped
 * with MAP_HUGETLB works in its own page size, the huge page, in every call.
 *
 * Reserving huge pages changes the machine for every process (the Rust suite's
 * property test looks at whether any are reserved), so this runs here, alone:
 * as root it saves /proc/sys/vm/nr_hugepages, reserves 8 more huge pages, runs
 * the checks and puts the old value back, at exit and on a fatal signal too.
 * Prints "SKIP: hugepages: why" and exits 0 when not root or when the
 * reservation fails; else "PASS: name" / "FAIL: name: why" per check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mmkit.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

static char saved[32];   /* nr_hugepages as it was, as the file says it */
static int saved_set;
static size_t huge;      /* the huge page size, bytes */

/* Async-signal-safe: called from the fatal-signal handler too. */
static void restore(void)
{
    if (!saved_set)
        return;
    int fd = open(NR_HUGEPAGES, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = write(fd, saved, strlen(saved));
        (void)n;
        close(fd);
    }
}

static void on_fatal(int sig)
{
    restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A "Name: N" line of /proc/meminfo; -1 when missing. */
static long meminfo(const char *name)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long v = -1;
    size_t n = strlen(name);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return v;
}

static int write_nr(long n)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", n);
    int fd = open(NR_HUGEPAGES, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int ok = write(fd, buf, (size_t)len) == len;
    close(fd);
    return ok ? 0 : -1;
}

/* 0 when 8 more huge pages are reserved and free; else why not, printed. */
static int reserve(void)
{
    if (geteuid() != 0) {
        printf("SKIP: hugepages: not root (reserving huge pages needs it)\n");
        return -1;
    }
    long kb = meminfo("Hugepagesize");
    int fd = open(NR_HUGEPAGES, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, saved, sizeof saved - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (kb <= 0 || n <= 0) {
        printf("SKIP: hugepages: no huge pages on this system (%s, Hugepagesize)\n", NR_HUGEPAGES);
        return -1;
    }
    saved[n] = '\0';
    saved_set = 1;
    huge = (size_t)kb * 1024;
    atexit(restore);
    int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGINT, SIGTERM};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        signal(fatal[i], on_fatal);
    long old = strtol(saved, NULL, 10);
    if (write_nr(old + 8) != 0 || meminfo("HugePages_Free") < 8) {
        printf("SKIP: hugepages: could not reserve 8 huge pages of %zu bytes (HugePages_Free is %ld)\n", huge,
               meminfo("HugePages_Free"));
        return -1;
    }
    return 0;
}

/* Whether the kernel may write the byte at p (a read(2) into it, which says
 * EFAULT where the page is not writable); the byte keeps its value. */
static int writable(void *p)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    char c = *(volatile char *)p;
    ssize_t n = write(fd[1], &c, 1) == 1 ? read(fd[0], p, 1) : -1;
    close(fd[0]);
    close(fd[1]);
    return n == 1;
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i % 251 + 1);
}

static void fill(mm_region *r, size_t from, size_t to)
{
    unsigned char *p = mm_ptr(r);
    for (size_t i = from; i < to; i++)
        p[i] = pattern(i);
}

/* Whether [from, to) holds the pattern (or zeros). */
static int holds(const mm_region *r, size_t from, size_t to, int zeros)
{
    const unsigned char *p = mm_ptr(r);
    for (size_t i = from; i < to; i++)
        if (p[i] != (zeros ? 0 : pattern(i)))
            return 0;
    return 1;
}

static const int RW_HUGE = MM_READ | MM_WRITE | MM_PRIVATE | MM_HUGEPAGES;

/* mm_resize to len, checked; on failure the caller stops using the region's
 * bytes past what it had (they may not be mapped). */
static int resized(mm_region *r, size_t len, const char *name)
{
    int rc = mm_resize(r, len);
    check(rc == 0 && mm_len(r) == len, name, rc ? mm_last_error() : "mm_len is not the new length");
    return rc == 0 && mm_len(r) == len;
}

static mm_region *map_huge(size_t len, uint32_t flags, const char *name)
{
    mm_region *r = NULL;
    int rc = mm_map_anon(len, flags, &r);
    check(rc == 0 && (mm_flags(r) & MM_HUGEPAGES), name, rc ? mm_last_error() : "mm_flags has no MM_HUGEPAGES");
    return rc == 0 ? r : NULL;
}

static void test_small(void)
{
    mm_region *r = map_huge(100, RW_HUGE, "small: 100 bytes of huge pages, mm_flags has MM_HUGEPAGES");
    if (!r)
        return;
    void *at = mm_ptr(r);
    fill(r, 0, 100);
    if (!resized(r, 200, "small: resize 100 -> 200"))
        goto out;
    check(holds(r, 0, 100, 0) && holds(r, 100, 200, 1), "small: the bytes kept, the new ones zero", "");
    check(mm_ptr(r) == at, "small: a resize inside the huge page does not move", "");
    /* Bytes a shrink hides read as zeros after the next grow, far into the huge page. */
    fill(r, 0, 200);
    memset((char *)mm_ptr(r) + 200, 0x5a, huge - 200);
    if (!resized(r, 100, "small: resize 200 -> 100") ||
        !resized(r, huge, "small: resize 100 -> one whole huge page"))
        goto out;
    check(holds(r, 0, 100, 0) && holds(r, 100, huge, 1),
          "small: bytes past the old end are cleared up to the huge page's end", "");
out:
    mm_unmap(r);
}

/* The sizes of the brief in huge pages of 2 MiB: 3 MiB, 5 MiB, 1 MiB. */
static void test_resize(void)
{
    size_t three = huge + huge / 2, five = 2 * huge + huge / 2, one = huge / 2, half = huge / 2;
    mm_region *r = map_huge(three, RW_HUGE, "resize: map 1.5 huge pages");
    if (!r)
        return;
    fill(r, 0, three);
    if (!resized(r, three - half / 2, "resize: shrink inside the last huge page") ||
        !resized(r, five, "resize: grow 1.5 -> 2.5 huge pages (3 MiB -> 5 MiB)"))
        goto out;
    check(holds(r, 0, three - half / 2, 0), "resize: grow keeps the bytes", "");
    check(holds(r, three - half / 2, five, 1), "resize: grow gains zeros (those a shrink hid too)", "");
    fill(r, 0, five);
    if (!resized(r, one, "resize: shrink 2.5 -> 0.5 huge pages (5 MiB -> 1 MiB)"))
        goto out;
    check(holds(r, 0, one, 0), "resize: shrink keeps the bytes", "");

    /* Still usable, through mm_ptr and the fault-safe copies. */
    char buf[8] = {0};
    check(mm_write(r, one - 5, "hello", 5) == 0 && mm_read(r, one - 5, buf, 5) == 0 && memcmp(buf, "hello", 5) == 0 &&
              memcmp((char *)mm_ptr(r) + one - 5, "hello", 5) == 0,
          "resize: mm_write, mm_read and mm_ptr agree after the resizes", mm_last_error());
    check_err(mm_read(r, one - 4, buf, 5), EINVAL, "mm_read", "resize: mm_read past the new end is -EINVAL");

    /* A grow with the addresses after it in use moves the region, bytes and all. */
    if (!resized(r, huge, "resize: grow to one whole huge page"))
        goto out;
    fill(r, 0, huge);
    char *end = (char *)mm_ptr(r) + huge;
    void *block = mmap(end, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (block == end) {
        int moved = mm_protect(r, 0, 0, MM_READ) == 0 &&
                    resized(r, 2 * huge, "resize: a grow with the next addresses in use") &&
                    (char *)mm_ptr(r) != end - huge;
        check(moved, "resize: a grow with the next addresses in use moves the region", mm_last_error());
        munmap(block, 4096);
        if (!moved)
            goto out;
        check(holds(r, 0, huge, 0) && holds(r, huge, 2 * huge, 1), "resize: the moved region has its bytes", "");
        check(writable((char *)mm_ptr(r) + huge) == 0 && writable(mm_ptr(r)) == 0,
              "resize: the moved region keeps its protection", "");
        check(mm_protect(r, 0, 0, MM_READ | MM_WRITE) == 0, "resize: made writable again", mm_last_error());
    } else {
        check(0, "resize: a blocker after the region", "mmap(MAP_FIXED_NOREPLACE) put it elsewhere");
        if (block != MAP_FAILED)
            munmap(block, 4096);
        goto out;
    }

    /* With a part given its own protection, a grow that must move is -EBUSY. */
    end = (char *)mm_ptr(r) + 2 * huge;
    block = mmap(end, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (block == end) {
        check(mm_protect(r, 0, huge, MM_READ) == 0, "resize: protect the first huge page", mm_last_error());
        check_err(mm_resize(r, 3 * huge), EBUSY, "mm_resize", "resize: a grow that must move a split region is -EBUSY");
        check(strstr(mm_last_error(), "huge pages") != NULL, "resize: the -EBUSY message says why (huge pages)",
              mm_last_error());
        check(mm_protect(r, 0, 0, MM_READ | MM_WRITE) == 0, "resize: the split undone", mm_last_error());
        munmap(block, 4096);
    }
    check(mm_len(r) == 2 * huge && holds(r, 0, huge, 0), "resize: a refused grow leaves the region as it was", "");

    /* Past the reserved huge pages: refused, the message says what to do. */
    /* (more than are free, whatever the machine had reserved before) */
    int rc = mm_resize(r, (size_t)(meminfo("HugePages_Free") + 8) * huge);
    check(rc == -ENOMEM && strstr(mm_last_error(), "nr_hugepages") != NULL,
          "resize: past the free huge pages is -ENOMEM naming vm.nr_hugepages", mm_last_error());
    check(mm_len(r) == 2 * huge && holds(r, 0, huge, 0), "resize: a refused grow leaves the region as it was", "");
out:
    mm_unmap(r);

    r = map_huge(three, MM_READ | MM_WRITE | MM_SHARED | MM_HUGEPAGES, "resize: shared huge pages");
    if (r) {
        fill(r, 0, three);
        check(resized(r, one, "resize: shared huge pages shrink") && holds(r, 0, one, 0),
              "resize: shared huge pages shrink, bytes kept", "");
        check_err(mm_resize(r, five), ENOTSUP, "mm_resize", "resize: shared anonymous huge pages cannot grow");
        mm_unmap(r);
    }
}

static void test_ops(void)
{
    char want[64];
    size_t len = 2 * huge + huge / 2;
    mm_region *r = map_huge(len, RW_HUGE, "ops: map 2.5 huge pages");
    if (!r)
        return;
    fill(r, 0, len);

    check_err(mm_protect(r, 4096, 4096, MM_READ), EINVAL, "mm_protect", "protect: inside a huge page is -EINVAL");
    snprintf(want, sizeof want, "huge pages of %zu bytes", huge);
    check(strstr(mm_last_error(), want) != NULL, "protect: the message names the huge page size", mm_last_error());
    check_err(mm_protect(r, 0, 4096, MM_READ), EINVAL, "mm_protect", "protect: ending inside a huge page is -EINVAL");
    check(mm_protect(r, huge, huge, MM_READ) == 0, "protect: one aligned huge page", mm_last_error());
    check_err(mm_write(r, huge + 1, "x", 1), EFAULT, "mm_write", "protect: the read-only huge page refuses mm_write");
    check(mm_write(r, huge - 1, "x", 1) == 0 && mm_write(r, 2 * huge, "y", 1) == 0,
          "protect: the huge pages around it stay writable", mm_last_error());
    check(mm_protect(r, 2 * huge, 0, MM_READ) == 0, "protect: from a huge page boundary to the region's end",
          mm_last_error());
    check(mm_protect(r, 0, 0, MM_READ | MM_WRITE) == 0, "protect: the whole region back to read-write", mm_last_error());
    fill(r, 0, len);

    check(mm_advise(r, 4096, 4096, MM_ADV_RANDOM) == 0, "advise: MM_ADV_RANDOM inside a huge page", mm_last_error());
    check(mm_advise(r, 0, 0, MM_ADV_NORMAL) == 0 && mm_advise(r, 0, 0, MM_ADV_WILLNEED) == 0 &&
              mm_advise(r, huge + 5, 10, MM_ADV_SEQUENTIAL) == 0,
          "advise: MM_ADV_NORMAL, WILLNEED, SEQUENTIAL", mm_last_error());
    check(mm_advise(r, 4096, huge, MM_ADV_DONTNEED) == 0 && holds(r, 0, len, 0),
          "advise: MM_ADV_DONTNEED of no whole huge page discards nothing", mm_last_error());
    check(mm_advise(r, huge, huge, MM_ADV_DONTNEED) == 0 && holds(r, 0, huge, 0) && holds(r, huge, 2 * huge, 1) &&
              holds(r, 2 * huge, len, 0),
          "advise: MM_ADV_DONTNEED of a whole huge page zeroes just it", mm_last_error());
    check(mm_advise(r, 2 * huge + 1, 0, MM_ADV_DONTNEED) == 0 && holds(r, 2 * huge, len, 0),
          "advise: MM_ADV_DONTNEED to the region's end inside its last huge page discards nothing", mm_last_error());

    int rc = mm_lock(r, 4096, 4096);
    check(rc == 0, "lock: inside a huge page", mm_last_error());
    check(mm_unlock(r, 4096, 4096) == 0 && mm_lock(r, 0, 0) == 0 && mm_unlock(r, 0, 0) == 0,
          "lock: mm_unlock, and the whole region", mm_last_error());
    check(mm_sync(r, 4096, 10, MM_SYNC) == 0, "sync: succeeds and does nothing", mm_last_error());
    if (resized(r, len + huge, "ops: the region still grows after them"))
        check(holds(r, 0, huge, 0) && holds(r, 2 * huge, len, 0) && holds(r, len, len + huge, 1),
              "ops: the grown region has its bytes and zeros", "");
    mm_unmap(r);
}

/* Whether some mapping of this process is the memfd named `name`. */
static int memfd_mapped(const char *name)
{
    char line[512], want[64];
    snprintf(want, sizeof want, "/memfd:%s", name);
    FILE *f = fopen("/proc/self/maps", "r");
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, want) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* A descriptor of huge pages (a memfd made with MFD_HUGETLB, as a file on
 * hugetlbfs): the kernel maps it in huge pages whatever length is asked, so
 * the region must know it, or mm_unmap's munmap of 4 KiB is refused and the
 * mapping, with its huge pages, stays behind. */
static void test_hugetlb_fd(void)
{
    char want[64];
    int fd = memfd_create("mmkit-huge-fd", MFD_CLOEXEC | MFD_HUGETLB);
    if (fd < 0) {
        printf("SKIP: hugepages: memfd_create(MFD_HUGETLB): %s\n", strerror(errno));
        return;
    }
    long before = meminfo("HugePages_Free");
    check(ftruncate(fd, (off_t)(2 * huge)) == 0, "fd: a huge page memfd of 2 huge pages", strerror(errno));
    mm_region *r = NULL;
    check(mm_map_fd(fd, 0, 100, MM_READ | MM_WRITE | MM_SHARED, &r) == 0 && mm_len(r) == 100,
          "fd: mm_map_fd of 100 bytes of it", mm_last_error());
    if (r) {
        check(mm_write(r, 0, "huge", 4) == 0, "fd: written", mm_last_error());
        check_err(mm_protect(r, 0, 50, MM_READ), EINVAL, "mm_protect",
                  "fd: protect ending inside its huge page is -EINVAL");
        snprintf(want, sizeof want, "huge pages of %zu bytes", huge);
        check(strstr(mm_last_error(), want) != NULL, "fd: the message names the huge page size", mm_last_error());
        check(mm_protect(r, 0, 0, MM_READ) == 0, "fd: protect of the whole region", mm_last_error());
        check_err(mm_resize(r, huge + 100), ENOTSUP, "mm_resize",
                  "fd: a file region in huge pages is not resized (a grow would put zeros over the file)");
        check(mm_len(r) == 100 && memcmp(mm_ptr(r), "huge", 4) == 0, "fd: the refused resize changed nothing",
              mm_last_error());
        check(mm_unmap(r) == 0 && !memfd_mapped("mmkit-huge-fd"), "fd: mm_unmap leaves no mapping behind",
              "the memfd is still in /proc/self/maps");
    }
    r = NULL;
    check_err(mm_map_fd(fd, 0, 100, MM_READ | MM_PRIVATE | MM_GUARD, &r), ENOTSUP, "mm_map_fd",
              "fd: MM_GUARD, which cannot repair huge pages, is refused");
    snprintf(want, sizeof want, "huge pages of %zu bytes", huge);
    check(r == NULL && strstr(mm_last_error(), want) != NULL && strstr(mm_last_error(), "MM_GUARD") != NULL,
          "fd: the message names the huge pages and MM_GUARD", mm_last_error());
    close(fd);
    check(meminfo("HugePages_Free") == before, "fd: its huge page is free again", "HugePages_Free differs");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (reserve() != 0)
        return 0;
    test_small();
    test_resize();
    test_ops();
    test_hugetlb_fd();
    restore();
    return failures ? 1 : 0;
}
