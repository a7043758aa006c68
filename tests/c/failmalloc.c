/*
 * failmalloc.so: an LD_PRELOAD shim that makes heap allocations fail on
 * demand, for tests/c/oom_test.c.
 *
 * Every malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign and
 * valloc made while the shim is armed is counted; the Nth one (counting from
 * 1 at the arming) and, in "exhausted" mode, every one after it return NULL
 * (or ENOMEM) as an exhausted heap would. The real work is glibc's
 * __libc_* entry points, which valgrind's memcheck replaces as it replaces
 * malloc, so leak checking still sees every block.
 *
 *   failmalloc_arm(n, exhausted)   start counting afresh; fail the nth (0: never)
 *   failmalloc_pause()             stop counting and failing for a while
 *   failmalloc_resume()            go on counting where the arming left off
 *   failmalloc_count()             allocations counted since the arming
 *   failmalloc_failed()            allocations refused since the arming
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread int armed;
static __thread long counted;
static __thread long refused;
static __thread long fail_at;
static __thread int exhausted;

void failmalloc_arm(long n, int exhaust)
{
    counted = 0;
    refused = 0;
    fail_at = n;
    exhausted = exhaust;
    armed = 1;
}

void failmalloc_pause(void) { armed = 0; }
void failmalloc_resume(void) { armed = 1; }
long failmalloc_count(void) { return counted; }
long failmalloc_failed(void) { return refused; }

/* Whether this allocation must fail. */
static int refuse(void)
{
    if (!armed)
        return 0;
    counted++;
    if (fail_at > 0 && (counted == fail_at || (exhausted && counted > fail_at))) {
        refused++;
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    if (refuse()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (refuse()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    /* realloc(p, 0) frees; a NULL p is a malloc. Both are counted. */
    if (refuse()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, n);
}

void free(void *p) { __libc_free(p); }

void *memalign(size_t align, size_t n)
{
    if (refuse()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }

void *valloc(size_t n) { return memalign(4096, n); }

int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
