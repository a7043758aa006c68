/*
 * The C ABI on Windows (x86_64-pc-windows-gnu), compiled with MinGW against
 * mmkit.dll (its import library) and against libmmkit.a, run under Wine by
 * tests/windows/run.sh. Checks the contract of /work/shared/API.md as it
 * reads on Windows ("## Windows"): negative errno values of the C runtime's
 * errno.h (MinGW's: ENOTSUP is 129), what a Unix-only flag or advice cannot
 * mean there is -ENOTSUP, and files are checked with Win32 file I/O, not
 * through the library. Prints "PASS: name" / "FAIL: name: why" per check
 * (and "INFO: ..." lines that are neither) and exits non-zero if any failed.
 *
 *   x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -Iinclude \
 *       tests/windows/api_test.c -Ltarget/windows/x86_64-pc-windows-gnu/release -l:libmmkit.dll.a
 *
 * -DMMKIT_EXPECTED_VERSION='"x.y.z"' makes it compare mm_version() with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include <mmkit.h>

#include "../c/check.h"

/* The test's own directory under the prefix's %TEMP%, made by main(). */
static char tmpdir[MAX_PATH];
static size_t page;

static void path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s\\%s", tmpdir, name);
}

/* The byte at offset i of the data files: never 0, so a zero page shows. */
static unsigned char pattern(uint64_t i)
{
    return (unsigned char)(1 + (i * 7 + 3) % 251);
}

/* Write n bytes of pattern() (or zeros when !pat) to a new file, with Win32. */
static int make_file(const char *path, size_t n, int pat)
{
    HANDLE h = CreateFileA(path, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return -1;
    unsigned char block[4096];
    size_t done = 0;
    while (done < n) {
        DWORD chunk = (DWORD)(n - done < sizeof block ? n - done : sizeof block), wrote = 0;
        for (DWORD i = 0; i < chunk; i++)
            block[i] = pat ? pattern(done + i) : 0;
        if (!WriteFile(h, block, chunk, &wrote, NULL) || wrote != chunk) {
            CloseHandle(h);
            return -1;
        }
        done += chunk;
    }
    CloseHandle(h);
    return 0;
}

/* Read n bytes at offset from the file with a handle of our own (Win32 ReadFile). */
static int read_file_at(const char *path, uint64_t offset, void *buf, DWORD n)
{
    HANDLE h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return -1;
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.Offset = (DWORD)offset;
    ov.OffsetHigh = (DWORD)(offset >> 32);
    DWORD got = 0;
    BOOL ok = ReadFile(h, buf, n, &got, &ov);
    CloseHandle(h);
    return ok && got == n ? 0 : -1;
}

static int64_t file_size(const char *path)
{
    WIN32_FILE_ATTRIBUTE_DATA a;
    if (!GetFileAttributesExA(path, GetFileExInfoStandard, &a))
        return -1;
    return (int64_t)(((uint64_t)a.nFileSizeHigh << 32) | a.nFileSizeLow);
}

/* Whether the n mapped bytes at p equal pattern() from file offset `from`. */
static int is_pattern(const unsigned char *p, size_t n, uint64_t from)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern(from + i))
            return 0;
    return 1;
}

/* Whether a call that should have mapped len bytes did: the test touches
   the memory only then, so a wrong answer is a FAIL line, not a crash. */
static int usable(const mm_region *r, size_t len)
{
    return r != NULL && mm_len(r) == len && mm_ptr(r) != NULL;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

static void test_basics(void)
{
    const char *msg = mm_last_error();
    check(msg != NULL && msg[0] == '\0', "basics: mm_last_error is \"\" before any failure", msg ? msg : "(null)");
    unsigned a, b, c;
    char tail;
    check(sscanf(mm_version(), "%u.%u.%u%c", &a, &b, &c, &tail) == 3, "basics: mm_version is MAJOR.MINOR.PATCH",
          mm_version());
#ifdef MMKIT_EXPECTED_VERSION
    check(strcmp(mm_version(), MMKIT_EXPECTED_VERSION) == 0, "basics: mm_version is Cargo.toml's version",
          mm_version());
#endif
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    char detail[100];
    snprintf(detail, sizeof detail, "mm_page_size %zu, dwPageSize %lu", mm_page_size(), (unsigned long)si.dwPageSize);
    check(mm_page_size() == si.dwPageSize, "basics: mm_page_size is the system page size (not the 64 KiB granularity)",
          detail);
    check(mm_unmap(NULL) == 0 && mm_ptr(NULL) == NULL && mm_len(NULL) == 0 && mm_flags(NULL) == 0,
          "basics: NULL handles are harmless", "");
    /* The values the library must return are those of this errno.h. */
    snprintf(detail, sizeof detail, "ENOTSUP %d EINVAL %d", ENOTSUP, EINVAL);
    check(ENOTSUP == 129 && EINVAL == 22 && EFAULT == 14 && EACCES == 13 && EEXIST == 17,
          "basics: MinGW's errno.h values (ENOTSUP 129)", detail);
}

static void test_anon(void)
{
    mm_region *r = NULL;
    int rc = mm_map_anon(100, MM_READ | MM_WRITE | MM_PRIVATE, &r);
    check(rc == 0 && r != NULL && mm_len(r) == 100 && mm_ptr(r) != NULL, "anon: private map, mm_len is the length asked",
          mm_last_error());
    if (usable(r, 100)) {
        unsigned char *p = mm_ptr(r);
        check(all_zero(p, 100), "anon: private memory is zero-filled", "");
        memcpy(p, "private", 7);
        check(memcmp(p, "private", 7) == 0, "anon: private memory is writable", "");
        check(mm_sync(r, 0, 0, MM_SYNC) == 0, "anon: mm_sync succeeds and does nothing", mm_last_error());
        mm_unmap(r);
    }

    r = NULL;
    rc = mm_map_anon(3 * page, MM_READ | MM_WRITE | MM_SHARED, &r);
    check(rc == 0 && r != NULL && mm_len(r) == 3 * page && (mm_flags(r) & MM_SHARED), "anon: shared map",
          mm_last_error());
    if (usable(r, 3 * page)) {
        unsigned char *p = mm_ptr(r);
        check(all_zero(p, 3 * page), "anon: shared memory is zero-filled", "");
        memcpy(p + 2 * page, "shared", 6);
        char buf[8] = {0};
        check(mm_read(r, 2 * page, buf, 6) == 0 && memcmp(buf, "shared", 6) == 0, "anon: shared memory: store, mm_read",
              mm_last_error());
        mm_unmap(r);
    }

    r = NULL;
    check(mm_map_anon(100, MM_READ | MM_WRITE | MM_PRIVATE | MM_POPULATE, &r) == 0, "anon: MM_POPULATE is accepted",
          mm_last_error());
    mm_unmap(r);
    r = NULL;
    check(mm_map_anon(4 << 20, MM_READ | MM_WRITE | MM_PRIVATE | MM_HUGEPAGES, &r) == 0,
          "anon: MM_HUGEPAGES never fails because none are available", mm_last_error());
    mm_unmap(r);
    r = NULL;
    check(mm_map_anon(100, MM_READ | MM_WRITE | MM_PRIVATE | MM_GUARD, &r) == 0 && (mm_flags(r) & MM_GUARD) == 0 &&
              mm_check(r) == 0,
          "anon: MM_GUARD is accepted and not reported", mm_last_error());
    mm_unmap(r);

    mm_region *sentinel = (mm_region *)(uintptr_t)0x5a5a;
    r = sentinel;
    check_err(mm_map_anon(100, MM_READ | MM_WRITE | MM_PRIVATE | MM_DEVZERO, &r), ENOTSUP, "mm_map_anon",
              "anon: MM_DEVZERO is -ENOTSUP (no /dev/zero)");
    check_err(mm_map_anon(0, MM_READ | MM_PRIVATE, &r), EINVAL, "mm_map_anon", "anon: len 0 is -EINVAL");
    check_err(mm_map_anon(SIZE_MAX, MM_READ | MM_PRIVATE, &r), ENOMEM, "mm_map_anon", "anon: SIZE_MAX is -ENOMEM");
    check_err(mm_map_anon(4096, MM_READ, &r), EINVAL, "mm_map_anon", "anon: neither shared nor private");
    check_err(mm_map_anon(4096, MM_READ | MM_SHARED | MM_PRIVATE, &r), EINVAL, "mm_map_anon",
              "anon: both shared and private");
    check_err(mm_map_anon(4096, MM_READ | MM_PRIVATE | 0x80000000u, &r), EINVAL, "mm_map_anon",
              "anon: unknown flag bits");
    check_err(mm_map_anon(4096, MM_READ | MM_PRIVATE, NULL), EINVAL, "mm_map_anon", "anon: NULL out");
    check(r == sentinel, "anon: out untouched on failure", "");
}

static void test_resize(void)
{
    mm_region *r = NULL;
    check(mm_map_anon(100, MM_READ | MM_WRITE | MM_PRIVATE, &r) == 0, "resize: map 100 bytes", mm_last_error());
    if (!usable(r, 100))
        return;
    memcpy(mm_ptr(r), "keep me", 7);
    size_t big = 5 * page + 5;
    int rc = mm_resize(r, big);
    unsigned char *p = mm_ptr(r);
    check(rc == 0 && usable(r, big) && memcmp(p, "keep me", 7) == 0 && all_zero(p + 7, big - 7),
          "resize: private anonymous grows, keeps its bytes, gains zeros", mm_last_error());
    if (rc == 0 && usable(r, big))
        p[big - 1] = 'e';
    rc = mm_resize(r, 50);
    check(rc == 0 && usable(r, 50) && memcmp(mm_ptr(r), "keep me", 7) == 0, "resize: and shrinks, keeping its bytes",
          mm_last_error());
    check_err(mm_resize(r, 0), EINVAL, "mm_resize", "resize: new_len 0 is -EINVAL");
    check_err(mm_resize(NULL, 10), EINVAL, "mm_resize", "resize: NULL region is -EINVAL");
    mm_unmap(r);

    r = NULL;
    check(mm_map_anon(page, MM_READ | MM_WRITE | MM_SHARED, &r) == 0, "resize: shared anonymous map", mm_last_error());
    if (r) {
        check_err(mm_resize(r, 2 * page), ENOTSUP, "mm_resize", "resize: shared anonymous memory cannot grow (-ENOTSUP)");
        check(mm_resize(r, 10) == 0 && mm_len(r) == 10, "resize: shared anonymous memory can shrink", mm_last_error());
        mm_unmap(r);
    }
}

static void test_access(void)
{
    mm_region *r = NULL;
    check(mm_map_anon(3 * page, MM_READ | MM_WRITE | MM_PRIVATE, &r) == 0, "access: map 3 pages", mm_last_error());
    if (!usable(r, 3 * page))
        return;
    unsigned char *p = mm_ptr(r);
    char buf[16] = {0};
    memcpy(p + page, "middle", 6);
    check(mm_write(r, 0, "abc", 3) == 0 && mm_read(r, 0, buf, 3) == 0 && memcmp(buf, "abc", 3) == 0,
          "access: mm_write then mm_read", mm_last_error());
    check(mm_read(r, 3 * page - 3, buf, 3) == 0 && mm_read(r, 3 * page, buf, 0) == 0,
          "access: mm_read up to the end, and of 0 bytes at the end", mm_last_error());
    check_err(mm_read(r, 3 * page - 2, buf, 3), EINVAL, "mm_read", "access: mm_read past the end is -EINVAL");
    check_err(mm_read(r, SIZE_MAX, buf, 2), EINVAL, "mm_read", "access: mm_read with an overflowing range is -EINVAL");
    check_err(mm_write(r, 3 * page, "x", 1), EINVAL, "mm_write", "access: mm_write past the end is -EINVAL");
    check_err(mm_read(r, 0, NULL, 1), EINVAL, "mm_read", "access: mm_read into NULL is -EINVAL");
    check_err(mm_read(NULL, 0, buf, 1), EINVAL, "mm_read", "access: mm_read of a NULL region is -EINVAL");
    check_err(mm_write(NULL, 0, buf, 1), EINVAL, "mm_write", "access: mm_write of a NULL region is -EINVAL");

    /* A page made inaccessible: the copies fail with -EFAULT, the process goes on. */
    check(mm_protect(r, page, page, 0) == 0, "access: mm_protect the middle page to no access", mm_last_error());
    check_err(mm_read(r, page, buf, 6), EFAULT, "mm_read",
              "access: mm_read of a no-access page is -EFAULT (and the process survives)");
    check_err(mm_write(r, page - 2, "xyzw", 4), EFAULT, "mm_write", "access: mm_write into a no-access page is -EFAULT");
    check(mm_read(r, 0, buf, 3) == 0 && mm_read(r, 2 * page, buf, 3) == 0, "access: the other pages still read",
          mm_last_error());
    check(mm_protect(r, page, page, MM_READ | MM_WRITE) == 0 && mm_read(r, page, buf, 6) == 0 &&
              memcmp(buf, "middle", 6) == 0,
          "access: mm_protect back to read-write; the bytes are there", mm_last_error());
    check(mm_protect(r, 0, 0, MM_READ) == 0, "access: mm_protect the whole region to read-only", mm_last_error());
    check(mm_read(r, 0, buf, 3) == 0, "access: a read-only page still reads", mm_last_error());
    check(mm_protect(r, 0, 0, MM_READ | MM_WRITE) == 0, "access: and back to read-write", mm_last_error());
    check_err(mm_protect(r, 1, 1, MM_READ), EINVAL, "mm_protect", "access: mm_protect off page boundaries is -EINVAL");
    check_err(mm_protect(r, 0, 0, MM_SHARED), EINVAL, "mm_protect", "access: mm_protect with bad prot bits is -EINVAL");

    int rc = mm_lock(r, 0, 0);
    check(rc == 0, "access: mm_lock", mm_last_error());
    check(mm_unlock(r, 0, 0) == 0, "access: mm_unlock", mm_last_error());
    check_err(mm_lock(NULL, 0, 0), EINVAL, "mm_lock", "access: mm_lock of a NULL region is -EINVAL");
    check(mm_advise(r, 0, 0, MM_ADV_WILLNEED) == 0, "access: mm_advise MM_ADV_WILLNEED", mm_last_error());
    check_err(mm_advise(r, 0, 0, MM_ADV_HUGEPAGE), ENOTSUP, "mm_advise", "access: mm_advise MM_ADV_HUGEPAGE is -ENOTSUP");
    check_err(mm_advise(r, 0, 0, 12345), EINVAL, "mm_advise", "access: unknown advice is -EINVAL");
    check_err(mm_sync(NULL, 0, 0, MM_SYNC), EINVAL, "mm_sync", "access: mm_sync of a NULL region is -EINVAL");
    mm_unmap(r);

    r = NULL;
    check(mm_map_anon(100, MM_READ | MM_PRIVATE, &r) == 0, "access: read-only anonymous map", mm_last_error());
    if (r) {
        check_err(mm_write(r, 0, "x", 1), EACCES, "mm_write", "access: mm_write of a read-only region is -EACCES");
        mm_unmap(r);
    }
}

static void test_file(void)
{
    const size_t size = 200000; /* three 64 KiB allocation-granularity blocks and a bit */
    char path[MAX_PATH], detail[300];
    path_in_tmp(path, sizeof path, "data");
    if (make_file(path, size, 1) != 0) {
        check(0, "file: setup", "cannot write the data file");
        return;
    }
    mm_region *r = NULL;
    int rc = mm_map_file(path, 0, 0, MM_READ | MM_SHARED, &r);
    check(rc == 0 && usable(r, size) && is_pattern(mm_ptr(r), size, 0),
          "file: read-only shared map of the whole file has its bytes", mm_last_error());
    mm_unmap(r);

    /* Offsets the library must align itself: Windows maps views at multiples
       of the 64 KiB allocation granularity, not of the 4 KiB page. */
    static const uint64_t offsets[] = {70000, 4096, 65536, 1};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        uint64_t off = offsets[i];
        char name[100];
        r = NULL;
        rc = mm_map_file(path, off, 0, MM_READ | MM_SHARED, &r);
        snprintf(name, sizeof name, "file: offset %llu, to the end: mm_ptr is that byte", (unsigned long long)off);
        check(rc == 0 && usable(r, size - off) && is_pattern(mm_ptr(r), size - off, off), name, mm_last_error());
        mm_unmap(r);
    }
    r = NULL;
    rc = mm_map_file(path, 70000, 1000, MM_READ | MM_PRIVATE, &r);
    check(rc == 0 && usable(r, 1000) && is_pattern(mm_ptr(r), 1000, 70000), "file: offset 70000, 1000 bytes",
          mm_last_error());
    if (r) {
        rc = mm_resize(r, 2000);
        check(rc == 0 && usable(r, 2000) && is_pattern(mm_ptr(r), 2000, 70000),
              "file: mm_resize grows inside the file, keeping the offset", mm_last_error());
        check_err(mm_resize(r, size), EINVAL, "mm_resize", "file: mm_resize past the end of the file is -EINVAL");
        mm_unmap(r);
    }

    /* Read-write shared: the bytes reach the file. */
    r = NULL;
    rc = mm_map_file(path, 70000, 0, MM_READ | MM_WRITE | MM_SHARED, &r);
    check(rc == 0 && usable(r, size - 70000), "file: read-write shared map at offset 70000", mm_last_error());
    if (rc == 0 && usable(r, size - 70000)) {
        unsigned char *p = mm_ptr(r);
        memcpy(p, "HELLO", 5);
        memcpy(p + 100000, "WORLD", 5);
        check(mm_write(r, 50000, "mmkit", 5) == 0, "file: mm_write into a shared file map", mm_last_error());
        check(mm_sync(r, 0, 5, MM_SYNC) == 0, "file: mm_sync MM_SYNC", mm_last_error());
        check(mm_sync(r, 0, 0, 0) == 0, "file: mm_sync flags 0 (MM_SYNC)", mm_last_error());
        check(mm_sync(r, 0, 0, MM_ASYNC) == 0, "file: mm_sync MM_ASYNC", mm_last_error());
        check(mm_sync(r, 1, 0, MM_SYNC | MM_INVALIDATE) == 0, "file: mm_sync MM_SYNC|MM_INVALIDATE from an odd offset",
              mm_last_error());
        check_err(mm_sync(r, 0, 0, MM_SYNC | MM_ASYNC), EINVAL, "mm_sync", "file: MM_SYNC|MM_ASYNC is -EINVAL");
        check_err(mm_sync(r, size - 70000 + 1, 0, 0), EINVAL, "mm_sync", "file: mm_sync range outside is -EINVAL");
        unsigned char a[5], b[5], c[5];
        check(read_file_at(path, 70000, a, 5) == 0 && memcmp(a, "HELLO", 5) == 0 &&
                  read_file_at(path, 170000, b, 5) == 0 && memcmp(b, "WORLD", 5) == 0 &&
                  read_file_at(path, 120000, c, 5) == 0 && memcmp(c, "mmkit", 5) == 0,
              "file: the synced bytes are in the file (ReadFile)", "");
        unsigned char before[5];
        check(read_file_at(path, 69995, before, 5) == 0 && is_pattern(before, 5, 69995),
              "file: the bytes before the offset are untouched", "");
        mm_unmap(r);
    }

    /* Copy-on-write: never written back. */
    r = NULL;
    rc = mm_map_file(path, 0, 0, MM_READ | MM_WRITE | MM_PRIVATE, &r);
    check(rc == 0 && usable(r, size), "file: copy-on-write map", mm_last_error());
    if (rc == 0 && usable(r, size)) {
        unsigned char *p = mm_ptr(r), got[4];
        memcpy(p + 10, "PRIV", 4);
        check(mm_sync(r, 0, 0, MM_SYNC) == 0, "file: mm_sync of a copy-on-write map", mm_last_error());
        check(memcmp(p + 10, "PRIV", 4) == 0 && read_file_at(path, 10, got, 4) == 0 && is_pattern(got, 4, 10),
              "file: copy-on-write stores stay out of the file", "");
        mm_unmap(r);
        check(read_file_at(path, 10, got, 4) == 0 && is_pattern(got, 4, 10), "file: ... after mm_unmap too", "");
    }

    /* A read-only mapping refuses writes. */
    r = NULL;
    if (mm_map_file(path, 0, 0, MM_READ | MM_SHARED, &r) == 0) {
        check_err(mm_write(r, 0, "x", 1), EACCES, "mm_write", "file: mm_write of a read-only map is -EACCES");
        check_err(mm_protect(r, 0, 0, MM_READ | MM_WRITE), EACCES, "mm_protect",
                  "file: mm_protect to write a read-only file map is -EACCES");
        mm_unmap(r);
    }

    /* A read-only file: write-shared needs write access, copy-on-write does not. */
    char ro[MAX_PATH];
    path_in_tmp(ro, sizeof ro, "readonly");
    if (make_file(ro, 5000, 1) == 0 && SetFileAttributesA(ro, FILE_ATTRIBUTE_READONLY)) {
        /* Wine keeps the attribute as Unix permissions, which root ignores. */
        HANDLE h = CreateFileA(ro, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                               OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
        r = NULL;
        if (h != INVALID_HANDLE_VALUE) {
            CloseHandle(h);
            printf("SKIP: file: write-shared map of a read-only file: this system lets us write it anyway "
                   "(Wine as root)\n");
        } else {
            rc = mm_map_file(ro, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &r);
            check_err(rc, EACCES, "mm_map_file", "file: write-shared map of a read-only file is -EACCES");
            if (rc == 0)
                mm_unmap(r);
        }
        r = NULL;
        rc = mm_map_file(ro, 0, 0, MM_READ | MM_WRITE | MM_PRIVATE, &r);
        check(rc == 0 && usable(r, 5000), "file: copy-on-write map of a read-only file", mm_last_error());
        if (rc == 0 && usable(r, 5000)) {
            ((unsigned char *)mm_ptr(r))[0] = 0;
            mm_unmap(r);
        }
        SetFileAttributesA(ro, FILE_ATTRIBUTE_NORMAL);
    } else {
        check(0, "file: setup of a read-only file", "");
    }

    /* Empty files and the end of a file. */
    char empty[MAX_PATH];
    path_in_tmp(empty, sizeof empty, "empty");
    make_file(empty, 0, 0);
    r = NULL;
    rc = mm_map_file(empty, 0, 0, MM_READ | MM_SHARED, &r);
    check(rc == 0 && r != NULL && mm_len(r) == 0 && mm_ptr(r) == NULL, "file: an empty file is a region of length 0",
          mm_last_error());
    if (r) {
        char buf[1];
        check(mm_read(r, 0, buf, 0) == 0 && mm_sync(r, 0, 0, MM_SYNC) == 0, "file: ... that reads and syncs 0 bytes",
              mm_last_error());
        mm_unmap(r);
    }
    r = NULL;
    rc = mm_map_file(path, size, 0, MM_READ | MM_SHARED, &r);
    check(rc == 0 && mm_len(r) == 0, "file: offset == size, len 0 is a region of length 0", mm_last_error());
    mm_unmap(r);
    check_err(mm_map_file(path, size + 1, 0, MM_READ | MM_SHARED, &r), EINVAL, "mm_map_file",
              "file: offset past the end is -EINVAL");
    check_err(mm_map_file(path, 70000, size - 70000 + 1, MM_READ | MM_SHARED, &r), EINVAL, "mm_map_file",
              "file: offset + len past the end is -EINVAL");
    check_err(mm_map_file(path, UINT64_MAX, 1, MM_READ | MM_SHARED, &r), EINVAL, "mm_map_file",
              "file: overflowing offset + len is -EINVAL");

    /* MM_CREATE and MM_EXCL. */
    char created[MAX_PATH];
    path_in_tmp(created, sizeof created, "created");
    r = NULL;
    rc = mm_map_file(created, 0, 70005, MM_READ | MM_WRITE | MM_SHARED | MM_CREATE | MM_EXCL, &r);
    snprintf(detail, sizeof detail, "rc %d, size %lld: %s", rc, (long long)file_size(created), mm_last_error());
    check(rc == 0 && usable(r, 70005) && file_size(created) == 70005 && all_zero(mm_ptr(r), 70005),
          "file: MM_CREATE|MM_EXCL makes a file of offset + len zeros", detail);
    if (rc == 0 && usable(r, 70005)) {
        ((unsigned char *)mm_ptr(r))[70004] = 'z';
        rc = mm_resize(r, 200000);
        snprintf(detail, sizeof detail, "rc %d, size %lld: %s", rc, (long long)file_size(created), mm_last_error());
        check(rc == 0 && usable(r, 200000) && file_size(created) == 200000 &&
                  ((unsigned char *)mm_ptr(r))[70004] == 'z',
              "file: mm_resize of an MM_CREATE region grows the file", detail);
        mm_unmap(r);
    }
    r = NULL;
    check_err(mm_map_file(created, 0, 10, MM_READ | MM_WRITE | MM_SHARED | MM_CREATE | MM_EXCL, &r), EEXIST,
              "mm_map_file", "file: MM_CREATE|MM_EXCL on an existing file is -EEXIST");
    char grown[MAX_PATH];
    path_in_tmp(grown, sizeof grown, "grown");
    make_file(grown, 1000, 1);
    rc = mm_map_file(grown, 70000, 10, MM_READ | MM_WRITE | MM_SHARED | MM_CREATE, &r);
    snprintf(detail, sizeof detail, "rc %d, size %lld: %s", rc, (long long)file_size(grown), mm_last_error());
    check(rc == 0 && usable(r, 10) && file_size(grown) == 70010 && all_zero(mm_ptr(r), 10),
          "file: MM_CREATE grows an existing file to offset + len", detail);
    if (rc == 0) {
        mm_unmap(r);
        unsigned char head[1000];
        check(read_file_at(grown, 0, head, 1000) == 0 && is_pattern(head, 1000, 0),
              "file: ... keeping its bytes", "");
    }

    /* Refusals. */
    char missing[MAX_PATH];
    path_in_tmp(missing, sizeof missing, "missing");
    check_err(mm_map_file(missing, 0, 0, MM_READ | MM_SHARED, &r), ENOENT, "mm_map_file",
              "file: a missing file is -ENOENT");
    check(strstr(mm_last_error(), "missing") != NULL, "file: ... and the message names the path", mm_last_error());
    printf("INFO: the message for a missing file: %s\n", mm_last_error());
    check_err(mm_map_file(tmpdir, 0, 0, MM_READ | MM_SHARED, &r), ENODEV, "mm_map_file",
              "file: a directory is -ENODEV (not a regular file)");
    check_err(mm_map_file(NULL, 0, 0, MM_READ | MM_SHARED, &r), EINVAL, "mm_map_file", "file: NULL path is -EINVAL");
    check_err(mm_map_file(path, 0, 0, MM_READ | MM_SHARED, NULL), EINVAL, "mm_map_file", "file: NULL out is -EINVAL");
    check_err(mm_map_file(path, 0, 0, MM_READ | MM_SHARED | MM_DEVZERO, &r), EINVAL, "mm_map_file",
              "file: MM_DEVZERO on a file is -EINVAL");
}

/* mm_map_fd with a C runtime descriptor (msvcrt's, shared with the DLL). */
static void test_fd(void)
{
    char path[MAX_PATH];
    path_in_tmp(path, sizeof path, "fd");
    if (make_file(path, 100000, 1) != 0) {
        check(0, "fd: setup", "");
        return;
    }
    int fd = _open(path, _O_RDONLY | _O_BINARY);
    mm_region *r = NULL;
    int rc = mm_map_fd(fd, 70000, 0, MM_READ | MM_SHARED, &r);
    check(fd >= 0 && rc == 0 && usable(r, 30000) && is_pattern(mm_ptr(r), 30000, 70000),
          "fd: map a C runtime descriptor at offset 70000", mm_last_error());
    mm_unmap(r);
    check_err(mm_map_fd(fd, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &r), EACCES, "mm_map_fd",
              "fd: write-shared map of a read-only descriptor is -EACCES");
    r = NULL;
    rc = mm_map_fd(fd, 0, 0, MM_READ | MM_WRITE | MM_PRIVATE, &r);
    check(rc == 0, "fd: copy-on-write map of a read-only descriptor", mm_last_error());
    if (r) {
        check_err(mm_resize(r, 200000), ENOTSUP, "mm_resize", "fd: a mm_map_fd region cannot grow (-ENOTSUP)");
        mm_unmap(r);
    }
    check(_lseeki64(fd, 0, SEEK_END) == 100000, "fd: mm_map_fd leaves the descriptor open", "");
    _close(fd);
    check_err(mm_map_fd(-1, 0, 0, MM_READ | MM_SHARED, &r), EBADF, "mm_map_fd", "fd: -1 is -EBADF");

    /* A program of another C runtime (the UCRT): its descriptor numbers are
       its own, so it maps by handle, as mm_map_handle(3) says. Both C
       runtimes' descriptor 3 (or whichever) name different files here. */
    HMODULE ucrt = LoadLibraryA("ucrtbase.dll");
    typedef int (*open_fn)(const char *, int, ...);
    typedef intptr_t (*osf_fn)(int);
    typedef int (*close_fn)(int);
    open_fn u_open = ucrt ? (open_fn)(void (*)(void))GetProcAddress(ucrt, "_open") : NULL;
    osf_fn u_osf = ucrt ? (osf_fn)(void (*)(void))GetProcAddress(ucrt, "_get_osfhandle") : NULL;
    close_fn u_close = ucrt ? (close_fn)(void (*)(void))GetProcAddress(ucrt, "_close") : NULL;
    if (u_open && u_osf && u_close) {
        int ufd = u_open(path, _O_RDONLY | _O_BINARY);
        r = NULL;
        rc = ufd >= 0 ? mm_map_handle((void *)u_osf(ufd), 70000, 100, MM_READ | MM_SHARED, &r) : -1;
        check(rc == 0 && usable(r, 100) && is_pattern(mm_ptr(r), 100, 70000),
              "fd: a UCRT descriptor maps through mm_map_handle(_get_osfhandle(fd))", mm_last_error());
        mm_unmap(r);
        if (ufd >= 0)
            u_close(ufd);
    } else {
        printf("SKIP: fd: no ucrtbase.dll here\n");
    }
    check_err(mm_map_handle(NULL, 0, 0, MM_READ | MM_SHARED, &r), EBADF, "mm_map_handle",
              "fd: mm_map_handle(NULL) is -EBADF");
    check_err(mm_map_handle(INVALID_HANDLE_VALUE, 0, 0, MM_READ | MM_SHARED, &r), EBADF, "mm_map_handle",
              "fd: mm_map_handle(INVALID_HANDLE_VALUE) is -EBADF");
    r = NULL;
    if (mm_map_anon(100, MM_READ | MM_WRITE | MM_PRIVATE, &r) == 0) {
        void *h = NULL;
        check_err(mm_handle(r, &h), EBADF, "mm_handle", "fd: mm_handle of an anonymous region is -EBADF");
        mm_unmap(r);
    }
}

static void test_guard(void)
{
    char path[MAX_PATH];
    path_in_tmp(path, sizeof path, "guarded");
    if (make_file(path, 4 * page, 1) != 0) {
        check(0, "guard: setup", "");
        return;
    }
    mm_region *r = NULL;
    int rc = mm_map_file(path, 0, 0, MM_READ | MM_WRITE | MM_SHARED | MM_GUARD, &r);
    check(rc == 0 && (mm_flags(r) & MM_GUARD) && mm_check(r) == 0,
          "guard: MM_GUARD is accepted on a file map, reported, and mm_check is 0", mm_last_error());
    if (!r)
        return;
    /* Windows does not let a mapped file shrink: nothing can be lost. */
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                           NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    LARGE_INTEGER one_page;
    one_page.QuadPart = (LONGLONG)page;
    BOOL shrunk = h != INVALID_HANDLE_VALUE && SetFilePointerEx(h, one_page, NULL, FILE_BEGIN) && SetEndOfFile(h);
    DWORD err = GetLastError();
    if (h != INVALID_HANDLE_VALUE)
        CloseHandle(h);
    char detail[100];
    snprintf(detail, sizeof detail, "SetEndOfFile %s, error %lu", shrunk ? "succeeded" : "failed", (unsigned long)err);
    check(!shrunk && err == ERROR_USER_MAPPED_FILE, "guard: Windows refuses to truncate a mapped file", detail);
    char buf[8];
    check(mm_read(r, 3 * page, buf, 8) == 0 && is_pattern((unsigned char *)buf, 8, 3 * page) && mm_check(r) == 0,
          "guard: every page still reads, mm_check is 0", mm_last_error());
    mm_unmap(r);
    check_err(mm_check(NULL), EINVAL, "mm_check", "guard: mm_check(NULL) is -EINVAL");
}

static void test_shareable(void)
{
    mm_region *r = NULL;
    int rc = mm_map_shareable("api-test", 100, MM_READ | MM_WRITE | MM_SHARED, &r);
    check(rc == 0 && usable(r, 100) && all_zero(mm_ptr(r), 100), "shareable: mm_map_shareable, zero-filled",
          mm_last_error());
    if (rc == 0 && usable(r, 100)) {
        char buf[8] = {0};
        memcpy(mm_ptr(r), "share", 5);
        check(mm_read(r, 0, buf, 5) == 0 && memcmp(buf, "share", 5) == 0 && mm_write(r, 95, "tail", 4) == 0,
              "shareable: store, mm_read, mm_write", mm_last_error());
        check_err(mm_seal(r, MM_SEAL_SHRINK), ENOTSUP, "mm_seal", "shareable: mm_seal is -ENOTSUP");
        /* A section has a fixed size: Windows cannot grow it (documented in
           mm_map_shareable(3)); shrinking keeps the bytes. */
        check_err(mm_resize(r, 10 * page), ENOTSUP, "mm_resize", "shareable: a section cannot grow (-ENOTSUP)");
        check(mm_resize(r, 99) == 0 && usable(r, 99) && memcmp(mm_ptr(r), "share", 5) == 0,
              "shareable: shrinks, keeping its bytes", mm_last_error());
        /* A section is no file to the C runtime: the region keeps a HANDLE,
           which mm_handle gives and mm_map_handle maps. */
        check_err(mm_fd(r), EBADF, "mm_fd", "shareable: mm_fd is -EBADF on Windows (the region keeps a HANDLE)");
        mm_region *r2 = NULL;
        void *h = NULL;
        check(mm_handle(r, &h) == 0 && h != NULL && mm_map_handle(h, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &r2) == 0 &&
                  mm_len(r2) >= 99 && memcmp(mm_ptr(r2), "share", 5) == 0,
              "shareable: mm_handle gives the section, mm_map_handle maps the same memory", mm_last_error());
        mm_unmap(r2);
        check_err(mm_handle(r, NULL), EINVAL, "mm_handle", "shareable: mm_handle(r, NULL) is -EINVAL");
        mm_unmap(r);
    }
    check_err(mm_map_shareable("api-test", 100, MM_READ | MM_WRITE | MM_PRIVATE, &r), EINVAL, "mm_map_shareable",
              "shareable: MM_PRIVATE is -EINVAL");
    check_err(mm_map_shareable("api-test", 0, MM_READ | MM_WRITE | MM_SHARED, &r), EINVAL, "mm_map_shareable",
              "shareable: len 0 is -EINVAL");
    check_err(mm_map_shareable(NULL, 100, MM_READ | MM_WRITE | MM_SHARED, &r), EINVAL, "mm_map_shareable",
              "shareable: NULL name is -EINVAL");
    check_err(mm_map_shareable("api-test", 100, MM_READ | MM_WRITE | MM_SHARED, NULL), EINVAL, "mm_map_shareable",
              "shareable: NULL out is -EINVAL");
    check_err(mm_fd(NULL), EINVAL, "mm_fd", "shareable: mm_fd(NULL) is -EINVAL");

    r = NULL;
    if (mm_map_anon(100, MM_READ | MM_WRITE | MM_PRIVATE, &r) == 0) {
        check_err(mm_seal(r, MM_SEAL_SHRINK), ENOTSUP, "mm_seal", "shareable: mm_seal of an anonymous region is -ENOTSUP");
        mm_unmap(r);
    }
}

/* mm_last_error() is per thread. */
static char thread_msg[300];

static DWORD WINAPI failing_thread(LPVOID arg)
{
    mm_region *r;
    (void)arg;
    int rc = mm_map_anon(0, MM_READ | MM_PRIVATE, &r);
    snprintf(thread_msg, sizeof thread_msg, "%d %s", rc, mm_last_error());
    return 0;
}

static void test_threads(void)
{
    mm_region *r;
    mm_resize(NULL, 1); /* this thread's last failure: mm_resize */
    HANDLE t = CreateThread(NULL, 0, failing_thread, NULL, 0, NULL);
    if (t == NULL) {
        check(0, "threads: CreateThread", "");
        return;
    }
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
    char detail[700];
    snprintf(detail, sizeof detail, "thread: \"%s\", main: \"%.300s\"", thread_msg, mm_last_error());
    check(strncmp(thread_msg, "-22 mm_map_anon:", 16) == 0 && strncmp(mm_last_error(), "mm_resize:", 10) == 0,
          "threads: mm_last_error is per thread", detail);
    (void)r;
}

/* Remove what the test made (every region is unmapped by now). */
static void cleanup(void)
{
    char pattern_path[MAX_PATH + 4], path[MAX_PATH + 300];
    WIN32_FIND_DATAA fd;
    snprintf(pattern_path, sizeof pattern_path, "%s\\*", tmpdir);
    HANDLE f = FindFirstFileA(pattern_path, &fd);
    if (f != INVALID_HANDLE_VALUE) {
        do {
            if (strcmp(fd.cFileName, ".") == 0 || strcmp(fd.cFileName, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s\\%s", tmpdir, fd.cFileName);
            SetFileAttributesA(path, FILE_ATTRIBUTE_NORMAL);
            if (!DeleteFileA(path))
                fprintf(stderr, "could not delete %s (error %lu)\n", path, (unsigned long)GetLastError());
        } while (FindNextFileA(f, &fd));
        FindClose(f);
    }
    if (!RemoveDirectoryA(tmpdir))
        fprintf(stderr, "could not remove %s (error %lu)\n", tmpdir, (unsigned long)GetLastError());
}

int main(void)
{
    char base[MAX_PATH];
    DWORD n = GetTempPathA(sizeof base, base);
    if (n == 0 || n >= sizeof base) {
        fprintf(stderr, "GetTempPath failed\n");
        return 2;
    }
    /* Process ids repeat in a fresh prefix; a crashed run leaves its directory. */
    for (unsigned i = 0;; i++) {
        snprintf(tmpdir, sizeof tmpdir, "%smmkit-api-test-%lu-%u", base, (unsigned long)GetCurrentProcessId(), i);
        if (CreateDirectoryA(tmpdir, NULL))
            break;
        if (GetLastError() != ERROR_ALREADY_EXISTS || i == 1000) {
            fprintf(stderr, "cannot create %s (error %lu)\n", tmpdir, (unsigned long)GetLastError());
            return 2;
        }
    }
    page = mm_page_size();
    test_basics();
    test_anon();
    test_resize();
    test_access();
    test_file();
    test_fd();
    test_guard();
    test_shareable();
    test_threads();
    cleanup();
    return failures ? 1 : 0;
}
