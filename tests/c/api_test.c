/*
 * The C ABI exercised from C, compiled against the *installed* prefix through
 * pkg-config only (shared and static). Prints "PASS: name" / "FAIL: name: why"
 * per check and exits non-zero if any failed.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static char tmpdir[] = "/tmp/mmkit-api-test-XXXXXX";

static void path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static void test_anon(void)
{
    mm_region *r = NULL;
    check(mm_map_anon(sizeof(int), MM_READ | MM_WRITE | MM_SHARED, &r) == 0, "anon: map shared int", mm_last_error());
    if (!r)
        return;
    check(mm_len(r) == sizeof(int), "anon: mm_len is the length asked", "");
    int *counter = mm_ptr(r);
    *counter = 1;
    pid_t pid = fork();
    if (pid == 0) {
        (*counter)++;
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && *counter == 2, "anon: fork child increment is seen by the parent", "");
    check(mm_sync(r, 0, 0, MM_SYNC) == 0, "anon: mm_sync succeeds and does nothing", mm_last_error());
    check(mm_advise(r, 0, 0, MM_ADV_WILLNEED) == 0, "anon: mm_advise", mm_last_error());
    check(mm_unmap(r) == 0, "anon: mm_unmap", "");

    r = NULL;
    check(mm_map_anon(100, MM_READ | MM_WRITE | MM_PRIVATE | MM_DEVZERO, &r) == 0 && (mm_flags(r) & MM_DEVZERO),
          "anon: MM_DEVZERO is reported by mm_flags", mm_last_error());
    mm_unmap(r);

    mm_region *sentinel = (mm_region *)(uintptr_t)0x5a5a;
    r = sentinel;
    check_err(mm_map_anon(0, MM_READ | MM_PRIVATE, &r), EINVAL, "mm_map_anon", "anon: len 0 is -EINVAL");
    check_err(mm_map_anon(SIZE_MAX, MM_READ | MM_PRIVATE, &r), ENOMEM, "mm_map_anon", "anon: SIZE_MAX is -ENOMEM");
    check_err(mm_map_anon(4096, MM_READ, &r), EINVAL, "mm_map_anon", "anon: neither shared nor private");
    check_err(mm_map_anon(4096, MM_READ | MM_SHARED | MM_PRIVATE, &r), EINVAL, "mm_map_anon", "anon: both shared and private");
    check_err(mm_map_anon(4096, MM_READ | MM_PRIVATE | 0x80000000u, &r), EINVAL, "mm_map_anon", "anon: unknown flag bits");
    check_err(mm_map_anon(4096, MM_READ | MM_PRIVATE, NULL), EINVAL, "mm_map_anon", "anon: NULL out");
    check(r == sentinel, "anon: out untouched on failure", "");
}

static void test_file(void)
{
    char path[256], dir[256];
    path_in_tmp(path, sizeof path, "data");
    path_in_tmp(dir, sizeof dir, "");
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 10000; i++)
        fputc(i % 251, f);
    fclose(f);

    mm_region *r = NULL;
    int rc = mm_map_file(path, 4097, 0, MM_READ | MM_SHARED, &r);
    check(rc == 0 && mm_len(r) == 10000 - 4097 && ((unsigned char *)mm_ptr(r))[0] == 4097 % 251,
          "file: unaligned offset points at the byte", mm_last_error());
    mm_unmap(r);

    rc = mm_map_file(path, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &r);
    check(rc == 0, "file: map read-write shared", mm_last_error());
    if (rc == 0) {
        memcpy(mm_ptr(r), "HELLO", 5);
        check(mm_sync(r, 0, 5, MM_SYNC) == 0, "file: mm_sync MM_SYNC", mm_last_error());
        check(mm_sync(r, 0, 0, MM_ASYNC | MM_INVALIDATE) == 0, "file: mm_sync MM_ASYNC|MM_INVALIDATE", mm_last_error());
        check_err(mm_sync(r, 0, 0, MM_SYNC | MM_ASYNC), EINVAL, "mm_sync", "file: MM_SYNC|MM_ASYNC is -EINVAL");
        check_err(mm_sync(r, 10001, 0, 0), EINVAL, "mm_sync", "file: sync range outside is -EINVAL");
        char buf[5] = {0};
        int fd = open(path, O_RDONLY);
        check(pread(fd, buf, 5, 0) == 5 && memcmp(buf, "HELLO", 5) == 0, "file: synced bytes are in the file", "");
        close(fd);
        mm_unmap(r);
    }

    char empty[256];
    path_in_tmp(empty, sizeof empty, "empty");
    close(open(empty, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    r = NULL;
    check(mm_map_file(empty, 0, 0, MM_READ | MM_PRIVATE, &r) == 0 && mm_len(r) == 0 && mm_ptr(r) == NULL,
          "file: empty file gives an empty region", mm_last_error());
    mm_unmap(r);

    char created[256];
    path_in_tmp(created, sizeof created, "created");
    r = NULL;
    rc = mm_map_file(created, 0, 65536, MM_READ | MM_WRITE | MM_SHARED | MM_CREATE | MM_EXCL, &r);
    struct stat st;
    check(rc == 0 && stat(created, &st) == 0 && st.st_size == 65536 && (st.st_mode & 0777) == 0600,
          "file: MM_CREATE|MM_EXCL makes a 0600 file of the length", mm_last_error());
    mm_unmap(r);
    check_err(mm_map_file(created, 0, 10, MM_READ | MM_WRITE | MM_SHARED | MM_CREATE | MM_EXCL, &r), EEXIST,
              "mm_map_file", "file: MM_EXCL on an existing file is -EEXIST");

    check_err(mm_map_file(NULL, 0, 0, MM_READ | MM_SHARED, &r), EINVAL, "mm_map_file", "file: NULL path");
    check_err(mm_map_file(path, 10001, 0, MM_READ | MM_SHARED, &r), EINVAL, "mm_map_file", "file: offset past the end");
    check_err(mm_map_file(path, 5000, 5001, MM_READ | MM_SHARED, &r), EINVAL, "mm_map_file", "file: offset + len past the end");
    check_err(mm_map_file(path, UINT64_MAX, 1, MM_READ | MM_SHARED, &r), EINVAL, "mm_map_file", "file: overflowing offset + len");
    check_err(mm_map_file(dir, 0, 0, MM_READ | MM_SHARED, &r), ENODEV, "mm_map_file",
              "file: a directory is -ENODEV (not a regular file)");
    check_err(mm_map_file(dir, 0, 0, MM_READ | MM_WRITE | MM_SHARED | MM_CREATE, &r), ENODEV, "mm_map_file",
              "file: a directory is -ENODEV with MM_CREATE too");
    check(strstr(mm_last_error(), tmpdir) != NULL, "file: the directory message names the path", mm_last_error());

    int pipefd[2];
    if (pipe(pipefd) == 0) {
        check_err(mm_map_fd(pipefd[0], 0, 0, MM_READ | MM_SHARED, &r), ENODEV, "mm_map_fd", "fd: a pipe is -ENODEV");
        close(pipefd[0]);
        close(pipefd[1]);
    }
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    check_err(mm_map_fd(ro, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &r), EACCES, "mm_map_fd",
              "fd: write-shared map of a read-only descriptor is -EACCES");
    r = NULL;
    check(mm_map_fd(ro, 0, 0, MM_READ | MM_WRITE | MM_PRIVATE, &r) == 0, "fd: private write map of a read-only descriptor",
          mm_last_error());
    check(fcntl(ro, F_GETFD) != -1, "fd: mm_map_fd leaves the descriptor open", "");
    if (r) {
        ((char *)mm_ptr(r))[0] = 'X';
        check(mm_protect(r, 0, 0, MM_READ) == 0, "fd: mm_protect to read-only", mm_last_error());
        check_err(mm_protect(r, 1, 1, MM_READ), EINVAL, "mm_protect", "fd: mm_protect off page boundaries");
        mm_unmap(r);
    }
    close(ro);
    check_err(mm_map_fd(-1, 0, 0, MM_READ | MM_SHARED, &r), EBADF, "mm_map_fd", "fd: -1 is -EBADF");
}

static void test_misc(void)
{
    mm_region *r = NULL;
    check(mm_map_anon(3 * mm_page_size(), MM_READ | MM_WRITE | MM_PRIVATE, &r) == 0, "misc: map", mm_last_error());
    int rc = mm_lock(r, 0, 0);
    check(rc == 0 || ((rc == -ENOMEM || rc == -EPERM) && strstr(mm_last_error(), "RLIMIT_MEMLOCK")),
          "misc: mm_lock succeeds or names RLIMIT_MEMLOCK", mm_last_error());
    check(mm_unlock(r, 0, 0) == 0, "misc: mm_unlock", mm_last_error());
    check_err(mm_advise(r, 0, 0, 12345), EINVAL, "mm_advise", "misc: unknown advice");
    check_err(mm_protect(r, 0, 0, MM_SHARED), EINVAL, "mm_protect", "misc: bad prot bits");
    check_err(mm_lock(NULL, 0, 0), EINVAL, "mm_lock", "misc: NULL region");
    check(mm_unmap(NULL) == 0 && mm_ptr(NULL) == NULL && mm_len(NULL) == 0 && mm_flags(NULL) == 0,
          "misc: NULL handles are harmless", "");
    mm_unmap(r);
    unsigned a, b, c;
    check(sscanf(mm_version(), "%u.%u.%u", &a, &b, &c) == 3, "misc: mm_version is MAJOR.MINOR.PATCH", mm_version());
    check(a == MMKIT_VERSION_MAJOR && b == MMKIT_VERSION_MINOR && c == MMKIT_VERSION_PATCH,
          "misc: MMKIT_VERSION_MAJOR/MINOR/PATCH are mm_version()", mm_version());
    check(MMKIT_VERSION_NUM == ((a << 16) | (b << 8) | c), "misc: MMKIT_VERSION_NUM is (MAJOR<<16)|(MINOR<<8)|PATCH",
          mm_version());
    /* The use the macros are for: choosing code by version in the preprocessor. */
#if MMKIT_VERSION_NUM >= 0x000100 && MMKIT_VERSION_NUM == \
    ((MMKIT_VERSION_MAJOR << 16) | (MMKIT_VERSION_MINOR << 8) | MMKIT_VERSION_PATCH)
    check(1, "misc: #if MMKIT_VERSION_NUM >= 0x000100 compiles and holds", "");
#else
    check(0, "misc: #if MMKIT_VERSION_NUM >= 0x000100 compiles and holds", "the macros say an older version");
#endif
    check(mm_page_size() == (size_t)sysconf(_SC_PAGESIZE), "misc: mm_page_size", "");
    check(mm_last_error() != NULL, "misc: mm_last_error is never NULL", "");
}

/* Beyond the peers: fault-safe copies, shareable memory, resize. */
static void test_beyond(void)
{
    char path[256];
    long page = sysconf(_SC_PAGESIZE);
    path_in_tmp(path, sizeof path, "trunc");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, 4 * page) != 0) {
        check(0, "beyond: setup", "open/ftruncate");
        return;
    }
    mm_region *r = NULL;
    check(mm_map_fd(fd, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &r) == 0, "beyond: map a 4-page file", mm_last_error());
    if (!r)
        return;
    char buf[16] = {0};
    check(mm_write(r, (size_t)(3 * page), "abc", 3) == 0 && mm_read(r, (size_t)(3 * page), buf, 3) == 0 &&
              memcmp(buf, "abc", 3) == 0,
          "beyond: mm_write then mm_read", mm_last_error());
    check(ftruncate(fd, page) == 0, "beyond: truncate the file under the mapping", "");
    check_err(mm_read(r, (size_t)(3 * page), buf, 3), EFAULT, "mm_read", "beyond: mm_read of a truncated page is -EFAULT");
    check_err(mm_write(r, (size_t)(2 * page), buf, 3), EFAULT, "mm_write", "beyond: mm_write of a truncated page is -EFAULT");
    check(mm_read(r, 0, buf, 16) == 0, "beyond: the rest still reads", mm_last_error());
    mm_unmap(r);
    close(fd);

    r = NULL;
    check(mm_map_shareable("api-test", 100, MM_READ | MM_WRITE | MM_SHARED, &r) == 0, "beyond: mm_map_shareable",
          mm_last_error());
    if (!r)
        return;
    int sfd = mm_fd(r);
    check(sfd >= 0 && (fcntl(sfd, F_GETFD) & FD_CLOEXEC), "beyond: mm_fd is close-on-exec", "");
    mm_region *peer = NULL;
    check(mm_map_fd(sfd, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &peer) == 0, "beyond: peer maps the descriptor",
          mm_last_error());
    if (peer) {
        memcpy(mm_ptr(peer), "peer", 4);
        check(memcmp(mm_ptr(r), "peer", 4) == 0, "beyond: writes are shared", "");
        mm_unmap(peer);
    }
#ifdef __linux__
    check(mm_seal(r, MM_SEAL_SHRINK) == 0 && ftruncate(sfd, 0) == -1 && errno == EPERM,
          "beyond: MM_SEAL_SHRINK refuses ftruncate", mm_last_error());
    check_err(mm_resize(r, 10), EPERM, "mm_resize", "beyond: a sealed region refuses to shrink");
#endif
    check(mm_resize(r, (size_t)(10 * page)) == 0 && mm_len(r) == (size_t)(10 * page) &&
              memcmp(mm_ptr(r), "peer", 4) == 0 && ((char *)mm_ptr(r))[9 * page] == 0,
          "beyond: shareable region grows, keeps bytes, gains zeros", mm_last_error());
    mm_unmap(r);

    r = NULL;
    check(mm_map_anon((size_t)page, MM_READ | MM_WRITE | MM_SHARED, &r) == 0, "beyond: shared anonymous map", "");
    check_err(mm_resize(r, (size_t)(2 * page)), ENOTSUP, "mm_resize", "beyond: shared anonymous memory refuses to grow");
    mm_unmap(r);

    /* -EACCES is for a region mapped without MM_WRITE; a page mm_protect
     * later made inaccessible (to writes, or to all access) is -EFAULT. */
    r = NULL;
    check(mm_map_anon((size_t)page, MM_READ | MM_WRITE | MM_PRIVATE, &r) == 0, "beyond: anonymous map", "");
    check(mm_protect(r, 0, 0, MM_READ) == 0, "beyond: whole region made read-only", mm_last_error());
    check_err(mm_write(r, 0, "x", 1), EFAULT, "mm_write", "beyond: a region mm_protect made read-only is -EFAULT");
    check(mm_protect(r, 0, 0, 0) == 0, "beyond: whole region made inaccessible", mm_last_error());
    check_err(mm_write(r, 0, "x", 1), EFAULT, "mm_write", "beyond: a region mm_protect made inaccessible is -EFAULT");
    check_err(mm_read(r, 0, buf, 1), EFAULT, "mm_read", "beyond: reading it is -EFAULT");
    mm_unmap(r);
    r = NULL;
    check(mm_map_anon((size_t)page, MM_READ | MM_PRIVATE, &r) == 0, "beyond: read-only anonymous map", "");
    check_err(mm_write(r, 0, "x", 1), EACCES, "mm_write", "beyond: a region mapped without MM_WRITE is -EACCES");
    mm_unmap(r);
}

/* What the application's own SIGBUS handler, installed before the first
 * guarded map, saw: it must get every SIGBUS that is not a lost page of a
 * guarded region, with its original siginfo. It repairs the page itself. */
static volatile sig_atomic_t app_calls, app_code;
static void *volatile app_addr;

static void app_sigbus(int sig, siginfo_t *info, void *ctx)
{
    long page = sysconf(_SC_PAGESIZE);
    (void)sig;
    (void)ctx;
    app_calls++;
    app_code = info->si_code;
    app_addr = info->si_addr;
    mmap((void *)((uintptr_t)info->si_addr & ~(uintptr_t)(page - 1)), (size_t)page, PROT_READ,
         MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* A file of `pages` pages of 'x' in the test directory; its descriptor. */
static int pages_file(const char *name, long pages)
{
    char path[256], block[4096];
    long page = sysconf(_SC_PAGESIZE);
    path_in_tmp(path, sizeof path, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    memset(block, 'x', sizeof block);
    for (long i = 0; fd >= 0 && i < pages * page; i += (long)sizeof block)
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
            return -1;
    return fd;
}

/* In a child with SIGBUS at its default action: a lost page of the guarded
 * region is repaired, a page of an unguarded one kills with SIGBUS. */
static void test_guard_default_action(void)
{
    long page = sysconf(_SC_PAGESIZE);
    pid_t pid = fork();
    if (pid == 0) {
        mm_region *g = NULL, *u = NULL;
        signal(SIGBUS, SIG_DFL); /* a sanitizer's handler is not the default */
        int gfd = pages_file("guard-child-g", 2), ufd = pages_file("guard-child-u", 2);
        if (gfd < 0 || ufd < 0 || mm_map_fd(gfd, 0, 0, MM_READ | MM_SHARED | MM_GUARD, &g) != 0 ||
            mm_map_fd(ufd, 0, 0, MM_READ | MM_SHARED, &u) != 0 || ftruncate(gfd, 0) != 0 || ftruncate(ufd, 0) != 0)
            _exit(3);
        if (((volatile char *)mm_ptr(g))[page] != 0 || mm_check(g) != -EFAULT)
            _exit(4);
        (void)((volatile char *)mm_ptr(u))[page];
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char detail[64];
    snprintf(detail, sizeof detail, "status %#x", status);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
          "guard: with SIGBUS at its default action, a guarded lost page is repaired and an unguarded one kills",
          detail);
}

/* Valgrind turns the SIGBUS of a load past the end of a mapped file into a
 * SIGSEGV at address 0 (plain programs too): nothing to repair there. */
static int under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

static void test_guard(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char buf[64], detail[256];
    if (under_valgrind()) {
        printf("SKIP: guard: valgrind does not deliver SIGBUS for a page past the end of a mapped file\n");
        return;
    }
    test_guard_default_action();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = app_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    check(sigaction(SIGBUS, &sa, NULL) == 0, "guard: the application installs its SIGBUS handler first", "");

    mm_region *a = NULL;
    check(mm_map_anon(100, MM_READ | MM_WRITE | MM_PRIVATE | MM_GUARD, &a) == 0 && (mm_flags(a) & MM_GUARD) == 0 &&
              mm_check(a) == 0,
          "guard: MM_GUARD is accepted for anonymous memory and not reported", mm_last_error());
    mm_unmap(a);

    int fd = pages_file("guarded", 4);
    mm_region *r = NULL;
    check(fd >= 0 && mm_map_fd(fd, 0, 0, MM_READ | MM_WRITE | MM_SHARED | MM_GUARD, &r) == 0,
          "guard: map a 4-page file with MM_GUARD", mm_last_error());
    if (!r)
        return;
    check((mm_flags(r) & MM_GUARD) != 0 && mm_check(r) == 0, "guard: mm_flags reports MM_GUARD, mm_check is 0", "");
    const volatile size_t *lost = mm_lost_counter(r), *none = mm_lost_counter(NULL);
    check(lost != NULL && none != NULL && lost != none && *lost == 0 && *none == 0,
          "guard: mm_lost_counter gives the region's count, 0, and a static 0 for NULL", "");
    check(ftruncate(fd, page) == 0, "guard: truncate the file to one page under the mapping", "");
    volatile char *p = mm_ptr(r);
    check(*lost == 0, "guard: a truncation nothing touched counts nothing", "");
    check(p[3 * page + 7] == 0 && p[0] == 'x' && app_calls == 0,
          "guard: a load of a vanished page reads zeros, no signal reaches the application", "");
    snprintf(detail, sizeof detail, "count %zu", *lost);
    check(*lost == 1, "guard: the count read without a call says 1 page lost", detail);
    p[3 * page + 8] = 'w';
    check(p[3 * page + 8] == 'w', "guard: a store to it lands in a private page", "");
    int rc = mm_check(r);
    char want[64];
    snprintf(want, sizeof want, "1 page lost, the first at offset %ld", 3 * page);
    snprintf(detail, sizeof detail, "rc %d, \"%s\"", rc, mm_last_error());
    check(rc == -EFAULT && strstr(mm_last_error(), want) != NULL, "guard: mm_check says how many and where", detail);
    check_err(mm_read(r, (size_t)(3 * page), buf, 8), EFAULT, "mm_read", "guard: mm_read over a lost page is -EFAULT");
    check_err(mm_write(r, (size_t)(2 * page) - 4, "12345678", 8), EFAULT, "mm_write",
              "guard: mm_write over a page lost during the copy is -EFAULT");
    check(mm_read(r, 0, buf, sizeof buf) == 0 && mm_write(r, 0, "ok", 2) == 0,
          "guard: copies of the pages still in the file succeed", mm_last_error());
    check_err(mm_sync(r, 0, 0, MM_SYNC), EFAULT, "mm_sync", "guard: mm_sync over a lost page is -EFAULT");
    check(mm_sync(r, 0, (size_t)page, MM_SYNC) == 0, "guard: mm_sync of the rest succeeds", mm_last_error());
    check_err(mm_check(NULL), EINVAL, "mm_check", "guard: mm_check(NULL) is -EINVAL");

    /* A SIGBUS outside any guarded region reaches the application's handler,
     * with its own si_code and si_addr. */
    int ufd = pages_file("unguarded", 2);
    mm_region *u = NULL;
    check(ufd >= 0 && mm_map_fd(ufd, 0, 0, MM_READ | MM_SHARED, &u) == 0 && ftruncate(ufd, 0) == 0,
          "guard: map and truncate an unguarded file", mm_last_error());
    if (u) {
        volatile char *q = (char *)mm_ptr(u) + page + 3;
        char got = *q;
        snprintf(detail, sizeof detail, "calls %d, code %d, addr %p (want %p), byte %d", (int)app_calls, (int)app_code,
                 app_addr, (void *)q, got);
        check(app_calls == 1 && app_code == BUS_ADRERR && app_addr == (void *)q && mm_check(u) == 0,
              "guard: an unguarded SIGBUS reaches the earlier handler with its si_code and si_addr", detail);
        check(mm_lost_counter(u) == none && *none == 0, "guard: an unguarded region's count is the static 0", "");
        mm_unmap(u);
    }
    close(ufd);
    mm_unmap(r);
    close(fd);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_anon();
    test_file();
    test_misc();
    test_beyond();
    test_guard();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failures ? 1 : 0;
}
