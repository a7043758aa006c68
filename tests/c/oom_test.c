/*
 * No abort when the heap is exhausted: every C ABI call made by each scenario
 * below is run with its Nth heap allocation failing, for every N the
 * scenario's calls make, once with only that allocation failing and once with
 * it and every later one failing (an exhausted heap). Each run is a forked
 * child; it must exit normally, every call having returned 0 or a negative
 * errno, with a message that names the call. Run with failmalloc.so in
 * LD_PRELOAD (tests/c/oom.sh does, also under valgrind for leaks).
 *
 * Prints "PASS: name" / "FAIL: name: why" and exits non-zero on a failure.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* From failmalloc.so. */
void failmalloc_arm(long n, int exhausted);
void failmalloc_pause(void);
void failmalloc_resume(void);
long failmalloc_count(void);
long failmalloc_failed(void);

static char dir[] = "/tmp/mmkit-oom-XXXXXX";
static char file2[4096];   /* two pages of 'a' */
static char longfile[4200]; /* a path over 384 bytes (no stack copy, no inline save) */
static char newfile[4096];  /* made and removed by MM_CREATE scenarios */
static size_t page;
static int bad; /* calls that broke the rules in this child */

static void fail_call(const char *expr, int rc, const char *why)
{
    failmalloc_pause();
    fprintf(stderr, "  %s returned %d: %s\n", expr, rc, why);
    bad++;
}

/* One library call, with the failing allocator live only around it. */
#define CALL(expr)                                                                     \
    ({                                                                                 \
        failmalloc_resume();                                                           \
        int rc_ = (expr);                                                              \
        const char *msg_ = rc_ < 0 ? mm_last_error() : "";                             \
        failmalloc_pause();                                                            \
        if (rc_ > 0)                                                                   \
            fail_call(#expr, rc_, "a positive return");                                \
        else if (rc_ < 0 && (msg_ == NULL || strncmp(msg_, "mm_", 3) != 0))            \
            fail_call(#expr, rc_, msg_ ? msg_ : "mm_last_error() is NULL");            \
        rc_;                                                                           \
    })

/* An accessor, with the failing allocator live around it. */
#define ACCESS(expr)                                                                   \
    ({                                                                                 \
        failmalloc_resume();                                                           \
        __typeof__(expr) v_ = (expr);                                                  \
        failmalloc_pause();                                                            \
        v_;                                                                            \
    })

static void anon(void)
{
    mm_region *r = NULL;
    if (CALL(mm_map_anon(100, MM_READ | MM_WRITE | MM_PRIVATE, &r)) == 0) {
        char buf[8] = "abcdefg";
        CALL(mm_write(r, 1, buf, sizeof buf));
        CALL(mm_read(r, 1, buf, sizeof buf));
        (void)ACCESS(mm_ptr(r));
        (void)ACCESS(mm_len(r));
        (void)ACCESS(mm_flags(r));
        CALL(mm_unmap(r));
    }
    r = NULL;
    if (CALL(mm_map_anon(3 * page, MM_READ | MM_WRITE | MM_SHARED | MM_POPULATE, &r)) == 0)
        CALL(mm_unmap(r));
    r = NULL;
    if (CALL(mm_map_anon(page, MM_READ | MM_PRIVATE | MM_DEVZERO | MM_NORESERVE, &r)) == 0)
        CALL(mm_unmap(r));
    r = NULL;
    if (CALL(mm_map_anon(2 * page, MM_READ | MM_WRITE | MM_PRIVATE | MM_HUGEPAGES, &r)) == 0)
        CALL(mm_unmap(r));
    (void)ACCESS(mm_page_size());
    (void)ACCESS(mm_version());
}

static void anon_errors(void)
{
    mm_region *r = NULL;
    CALL(mm_map_anon(0, MM_READ | MM_PRIVATE, &r));
    CALL(mm_map_anon(SIZE_MAX, MM_READ | MM_PRIVATE, &r));
    CALL(mm_map_anon(page, MM_READ, &r));
    CALL(mm_map_anon(page, MM_READ | MM_PRIVATE | 0x80000000u, &r));
    CALL(mm_map_anon(page, MM_READ | MM_PRIVATE | MM_CREATE, &r));
    CALL(mm_map_anon(page, MM_READ | MM_PRIVATE, NULL));
    CALL(mm_map_anon((size_t)1 << 46, MM_READ | MM_WRITE | MM_PRIVATE | MM_POPULATE, &r));
    CALL(mm_sync(NULL, 0, 0, 0));
    CALL(mm_unmap(NULL));
}

static void ops(void)
{
    mm_region *r = NULL;
    if (CALL(mm_map_anon(4 * page, MM_READ | MM_WRITE | MM_PRIVATE, &r)) != 0)
        return;
    char buf[16] = {0};
    CALL(mm_sync(r, 0, 0, MM_SYNC));
    CALL(mm_sync(r, 0, 0, MM_SYNC | MM_ASYNC));
    CALL(mm_sync(r, 5 * page, 1, MM_SYNC));
    CALL(mm_lock(r, 0, page));
    CALL(mm_unlock(r, 0, page));
    CALL(mm_lock(r, 0, 5 * page));
    for (int a = -1; a <= 7; a++)
        CALL(mm_advise(r, 0, page, a));
    CALL(mm_protect(r, page, page, MM_READ));
    CALL(mm_protect(r, 1, page, MM_READ));
    CALL(mm_protect(r, 0, page, 0x80));
    CALL(mm_protect(r, 2 * page, page, 0));
    CALL(mm_read(r, 2 * page, buf, sizeof buf));          /* -EFAULT: no access */
    CALL(mm_write(r, page, buf, sizeof buf));             /* -EFAULT or -EACCES */
    CALL(mm_read(r, 4 * page, buf, sizeof buf));          /* -EINVAL: out of range */
    CALL(mm_read(r, 0, NULL, sizeof buf));
    CALL(mm_resize(r, 8 * page));                         /* a split region grows */
    CALL(mm_resize(r, page / 2));
    CALL(mm_resize(r, 0));
    CALL(mm_seal(r, MM_SEAL_SHRINK));
    (void)ACCESS(mm_fd(r));
    CALL(mm_unmap(r));

    r = NULL;
    if (CALL(mm_map_anon(page, MM_READ | MM_WRITE | MM_SHARED, &r)) == 0) {
        CALL(mm_resize(r, 2 * page)); /* -ENOTSUP */
        CALL(mm_unmap(r));
    }
}

static void file(void)
{
    mm_region *r = NULL;
    if (CALL(mm_map_file(file2, 0, 0, MM_READ | MM_SHARED, &r)) == 0)
        CALL(mm_unmap(r));
    r = NULL;
    if (CALL(mm_map_file(file2, 5, 100, MM_READ | MM_WRITE | MM_PRIVATE | MM_POPULATE, &r)) == 0)
        CALL(mm_unmap(r));
    r = NULL;
    if (CALL(mm_map_file(longfile, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &r)) == 0) {
        CALL(mm_sync(r, 0, 0, MM_SYNC));
        CALL(mm_resize(r, 3 * page)); /* past the end, no MM_CREATE: -EINVAL */
        CALL(mm_unmap(r));
    }
    r = NULL;
    int fd = open(file2, O_RDONLY | O_CLOEXEC);
    if (CALL(mm_map_fd(fd, 0, 0, MM_READ | MM_PRIVATE, &r)) == 0) {
        CALL(mm_resize(r, 3 * page)); /* -ENOTSUP: no descriptor kept */
        CALL(mm_unmap(r));
    }
    CALL(mm_map_fd(fd, 0, page, MM_READ | MM_WRITE | MM_SHARED, &r)); /* -EACCES */
    close(fd);
    CALL(mm_map_fd(-1, 0, 0, MM_READ | MM_SHARED, &r));
    CALL(mm_map_fd(9999, 0, 0, MM_READ | MM_SHARED, &r));
}

static void file_errors(void)
{
    mm_region *r = NULL;
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    CALL(mm_map_file(missing, 0, 0, MM_READ | MM_SHARED, &r));
    CALL(mm_map_file(NULL, 0, 0, MM_READ | MM_SHARED, &r));
    CALL(mm_map_file(dir, 0, 0, MM_READ | MM_SHARED, &r));
    CALL(mm_map_file("/dev/null", 0, 0, MM_READ | MM_SHARED, &r));
    CALL(mm_map_file(file2, 3 * page, 0, MM_READ | MM_SHARED, &r));
    CALL(mm_map_file(file2, page, 2 * page, MM_READ | MM_SHARED, &r));
    CALL(mm_map_file(file2, UINT64_MAX - 5, 10, MM_READ | MM_SHARED, &r));
    CALL(mm_map_file(file2, 0, 0, MM_READ | MM_SHARED | MM_EXCL | MM_CREATE, &r));
    CALL(mm_map_file(longfile, 0, 0, MM_READ | MM_SHARED | MM_EXCL | MM_CREATE, &r));
    snprintf(missing, sizeof missing, "%s/nodir/x", longfile);
    CALL(mm_map_file(missing, 0, 0, MM_READ | MM_SHARED, &r));
}

static void create(void)
{
    mm_region *r = NULL;
    if (CALL(mm_map_file(newfile, 0, page, MM_READ | MM_WRITE | MM_SHARED | MM_CREATE, &r)) == 0) {
        char buf[4] = "xyz";
        CALL(mm_write(r, 0, buf, sizeof buf));
        CALL(mm_resize(r, 3 * page)); /* reopens the file by its path */
        CALL(mm_resize(r, page));
        CALL(mm_sync(r, 0, 0, MM_ASYNC | MM_INVALIDATE));
        CALL(mm_unmap(r));
    }
    r = NULL;
    if (CALL(mm_map_file(newfile, page, page, MM_READ | MM_WRITE | MM_SHARED | MM_CREATE | MM_EXCL, &r)) == 0)
        CALL(mm_unmap(r));
    unlink(newfile);
}

static void truncated(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/trunc", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, 2 * (off_t)page) != 0) {
        fail_call("setup", -errno, "cannot make the file");
        return;
    }
    mm_region *r = NULL;
    if (CALL(mm_map_fd(fd, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &r)) == 0) {
        if (ftruncate(fd, (off_t)page) != 0)
            fail_call("ftruncate", -errno, "cannot shrink the file");
        char buf[8] = "12345678";
        CALL(mm_read(r, page, buf, sizeof buf));  /* -EFAULT */
        CALL(mm_write(r, page, buf, sizeof buf)); /* -EFAULT */
        CALL(mm_lock(r, 0, 0));
        CALL(mm_unlock(r, 0, 0));
        CALL(mm_unmap(r));
    }
    close(fd);
    unlink(path);
}

/* MM_GUARD: the handler repairs a lost page with no heap; the loss is
 * reported (a message that finds no memory is a fixed text). Valgrind
 * cannot deliver the SIGBUS of a page past the end of a mapped file (it
 * makes it a SIGSEGV at 0): there the scenario only maps and unmaps. */
static void guarded(void)
{
    char path[4200];
    const char *preload = getenv("LD_PRELOAD");
    int valgrind = preload != NULL && strstr(preload, "vgpreload") != NULL;
    snprintf(path, sizeof path, "%s/guarded", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, 3 * (off_t)page) != 0) {
        fail_call("setup", -errno, "cannot make the file");
        return;
    }
    mm_region *r = NULL;
    if (CALL(mm_map_fd(fd, 0, 0, MM_READ | MM_WRITE | MM_SHARED | MM_GUARD, &r)) == 0) {
        char buf[8] = "12345678";
        CALL(mm_check(r)); /* 0 */
        if (!valgrind && ftruncate(fd, (off_t)page) == 0) {
            CALL(mm_read(r, page, buf, sizeof buf));      /* -EFAULT: lost during the copy */
            CALL(mm_write(r, 2 * page, buf, sizeof buf)); /* -EFAULT */
            CALL(mm_sync(r, 0, 0, MM_SYNC));              /* -EFAULT */
            CALL(mm_check(r));                            /* -EFAULT */
            CALL(mm_resize(r, 4 * page));                 /* -EFAULT: lost pages, no grow */
        }
        CALL(mm_read(r, 0, buf, sizeof buf));
        CALL(mm_resize(r, page));
        CALL(mm_check(r));
        CALL(mm_unmap(r));
    }
    CALL(mm_check(NULL));
    close(fd);
    unlink(path);
}

static void shareable(void)
{
    mm_region *r = NULL;
    if (CALL(mm_map_shareable("oom-test", 2 * page, MM_READ | MM_WRITE | MM_SHARED, &r)) == 0) {
        (void)ACCESS(mm_fd(r));
        CALL(mm_resize(r, 4 * page));
        CALL(mm_seal(r, MM_SEAL_GROW));
        CALL(mm_resize(r, 8 * page)); /* -EPERM: sealed (where seals exist) */
        CALL(mm_seal(r, 0x80));
        CALL(mm_unmap(r));
    }
    r = NULL;
    /* A name that is not UTF-8: taken as its bytes, no lossy copy. */
    if (CALL(mm_map_shareable("label-\xff", page, MM_READ | MM_WRITE | MM_SHARED, &r)) == 0)
        CALL(mm_unmap(r));
    CALL(mm_map_shareable(NULL, page, MM_READ | MM_SHARED, &r));
    CALL(mm_map_shareable("x", 0, MM_READ | MM_SHARED, &r));
    CALL(mm_map_shareable("x", page, MM_READ | MM_PRIVATE, &r));
}

struct scenario {
    const char *name;
    void (*run)(void);
};

static const struct scenario scenarios[] = {
    {"anonymous mappings", anon},       {"anonymous errors", anon_errors},
    {"operations", ops},                {"file mappings", file},
    {"file errors", file_errors},       {"MM_CREATE", create},
    {"a truncated file", truncated},    {"shareable memory", shareable},
    {"a guarded region", guarded},
};

/* The report that started this: RLIMIT_AS plus a heap used up to it made
 * mm_map_anon die with SIGABRT ("memory allocation of 80 bytes failed").
 * A child lowers RLIMIT_AS to what it uses now plus 16 MiB, allocates until
 * malloc fails (no shim: the real heap), and calls the library. */
static int real_exhaustion(char *why, size_t whylen)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl;
        long vm_kb = 0;
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "VmSize: %ld kB", &vm_kb) == 1)
                break;
        if (f)
            fclose(f);
        if (vm_kb <= 0)
            _exit(3);
        rl.rlim_cur = rl.rlim_max = (rlim_t)vm_kb * 1024 + (16 << 20);
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(4);
        /* Big blocks, then small ones: nothing is left for malloc. */
        for (size_t size = 1 << 20; size >= 16; size /= 2)
            while (malloc(size) != NULL)
                ;
        mm_region *r = NULL;
        int rc = mm_map_anon(page, MM_READ | MM_WRITE | MM_PRIVATE, &r);
        if (rc == 0)
            rc = mm_unmap(r);
        else if (rc != -ENOMEM || strncmp(mm_last_error(), "mm_map_anon: ", 13) != 0)
            _exit(5);
        char missing[4200];
        snprintf(missing, sizeof missing, "%s/missing", dir);
        rc = mm_map_file(missing, 0, 0, MM_READ | MM_SHARED, &r);
        if (rc != -ENOENT && rc != -ENOMEM)
            _exit(6);
        if (strncmp(mm_last_error(), "mm_map_file: ", 13) != 0)
            _exit(7);
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status))
        snprintf(why, whylen, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WEXITSTATUS(status) != 0)
        snprintf(why, whylen, "exit %d", WEXITSTATUS(status));
    else
        return 1;
    return 0;
}

/* Run `s` in a child with allocation `n` failing (0: none); the child writes
 * its allocation count to `report` when it is not -1. */
static int run_child(const struct scenario *s, long n, int exhausted, int report, char *why, size_t whylen)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        return 0;
    }
    if (pid == 0) {
        failmalloc_arm(n, exhausted);
        failmalloc_pause();
        s->run();
        long counted = failmalloc_count();
        if (report >= 0 && write(report, &counted, sizeof counted) != sizeof counted)
            _exit(3);
        exit(bad ? 2 : 0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        snprintf(why, whylen, "allocation %ld%s: killed by signal %d (%s)", n,
                 exhausted ? " and every later one" : "", WTERMSIG(status), strsignal(WTERMSIG(status)));
        return 0;
    }
    if (WEXITSTATUS(status) != 0) {
        snprintf(why, whylen, "allocation %ld%s: exit %d (see stderr%s)", n,
                 exhausted ? " and every later one" : "", WEXITSTATUS(status),
                 WEXITSTATUS(status) == 99 ? ": valgrind found errors or leaks" : "");
        return 0;
    }
    return 1;
}

static void make_file(const char *path, size_t len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char *buf = malloc(len);
    if (fd < 0 || !buf) {
        perror(path);
        exit(1);
    }
    memset(buf, 'a', len);
    if (write(fd, buf, len) != (ssize_t)len) {
        perror(path);
        exit(1);
    }
    free(buf);
    close(fd);
}

int main(int argc, char **argv)
{
    /* argv[1], if given: only the scenarios whose name contains it; with
     * argv[2] (N) and argv[3] (0 or 1, exhausted) too, that one run in this
     * process, for a debugger. */
    const char *only = argc > 1 ? argv[1] : NULL;
    page = (size_t)sysconf(_SC_PAGESIZE);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(file2, sizeof file2, "%s/two-pages", dir);
    make_file(file2, 2 * page);
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%0200d", dir, 0);
    mkdir(sub, 0700);
    snprintf(sub + strlen(sub), sizeof sub - strlen(sub), "/%0200d", 1);
    mkdir(sub, 0700);
    snprintf(longfile, sizeof longfile, "%s/long-path-file", sub);
    make_file(longfile, page);
    snprintf(newfile, sizeof newfile, "%s/created", dir);

    int failures = 0;
    if (!only && !getenv("MMKIT_OOM_NO_RLIMIT")) {
        char why[256] = "";
        if (real_exhaustion(why, sizeof why))
            printf("PASS: out of memory: RLIMIT_AS and a used-up heap: mm_map_anon and mm_map_file return an errno with their message\n");
        else {
            printf("FAIL: out of memory: RLIMIT_AS and a used-up heap: %s\n", why);
            failures++;
        }
    }
    if (argc > 3) {
        for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
            if (strstr(scenarios[i].name, only)) {
                failmalloc_arm(atol(argv[2]), atoi(argv[3]));
                failmalloc_pause();
                scenarios[i].run();
                printf("%s: %ld allocations, %ld refused, %d bad calls\n", scenarios[i].name,
                       failmalloc_count(), failmalloc_failed(), bad);
                return bad != 0;
            }
        return 2;
    }
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        const struct scenario *s = &scenarios[i];
        if (only && !strstr(s->name, only))
            continue;
        char why[512] = "";
        int fds[2];
        long count = -1;
        if (pipe(fds) != 0) {
            perror("pipe");
            return 1;
        }
        int ok = run_child(s, 0, 0, fds[1], why, sizeof why);
        close(fds[1]);
        if (read(fds[0], &count, sizeof count) != sizeof count)
            count = -1;
        close(fds[0]);
        if (!ok || count < 0) {
            printf("FAIL: out of memory: %s: the run without failures: %s\n", s->name, why);
            failures++;
            continue;
        }
        long runs = 0;
        for (long n = 1; ok && n <= count; n++)
            for (int exhausted = 0; ok && exhausted <= 1; exhausted++, runs++)
                ok = run_child(s, n, exhausted, -1, why, sizeof why);
        if (ok)
            printf("PASS: out of memory: %s: each of its %ld allocations failed, alone and with every later one (%ld runs)\n",
                   s->name, count, runs);
        else {
            printf("FAIL: out of memory: %s: %s\n", s->name, why);
            failures++;
        }
    }
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return failures != 0;
}
