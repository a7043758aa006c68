/*
 * bench_guard.c - figures 7 and 9 (issue 17): what the guard (MM_GUARD) costs.
 *
 *   bench_guard copy PATH        figure 7: mm_read / mm_write of 16 B, 4 KiB and
 *                                1 MiB on a guarded MM_SHARED region of PATH (a
 *                                2 MiB file on tmpfs, every page resident and
 *                                mapped first) vs memcpy of the same sizes from
 *                                (into) the same mapping and the same buffer;
 *                                the unguarded path for the record
 *   bench_guard map PATH         figure 9: mm_map_file / mm_map_fd + mm_unmap of
 *                                PATH (64 KiB) with MM_GUARD vs without
 *   bench_guard repair DIR       figure 9: the cost of one repaired page: a
 *                                guarded region of N pages whose file was
 *                                truncated to 0, every page read once (each a
 *                                SIGBUS the guard repairs), vs the same with
 *                                a minimal raw handler, N resident pages of a
 *                                fresh unguarded file mapping, N anonymous pages
 *   bench_guard loop CASE N PATH [SIZE]
 *                                N operations of one side, for callgrind
 *                                (CASE: read-guarded, read-unguarded,
 *                                read-memcpy, read-inline16, write-guarded,
 *                                write-unguarded, write-memcpy on the 2 MiB
 *                                PATH, SIZE bytes a copy (default 16);
 *                                map-file, map-file-guard on the 64 KiB PATH)
 *
 * Method as in bench_c.c: interleaved rounds of A B B A batches, one ratio
 * (tA1+tA2)/(tB1+tB2) per round, warm-up rounds thrown away, A/A rows for the
 * noise; report.py takes the medians. Figure 7's batches are sized at start
 * so that one batch of the faster side takes at least BENCH_COPY_MS (default
 * 1) ms. Figure 9's repair rounds run four ways in a rotating order and time
 * only the reading of the pages (not the map, truncate and unmap around it).
 *
 * Rounds: BENCH_ROUNDS_COPY (101), BENCH_ROUNDS_COPY_RECORD (31, the rows
 * without a target), BENCH_ROUNDS_GUARDMAP (201, batch BENCH_BATCH_GUARDMAP
 * 300), BENCH_ROUNDS_REPAIR (31, BENCH_REPAIR_PAGES 1024 pages a region).
 */
#define _GNU_SOURCE

#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mmkit.h>

#include "bench_common.h"

#define KIB 1024UL
#define MIB (1024UL * 1024UL)
#define COPY_FILE (2 * MIB)
#define NOFFS 1024                      /* offsets a copy loop cycles through */

/* The compiler must assume `p`'s memory is read and written here: no copy
   into it or out of it is dead, none is merged with the next. */
static inline void barrier(const void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static size_t page;

/* A contestant: `n` operations on `ctx`. */
typedef void (*op_fn)(void *ctx, long n);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of x[0..n) (x is sorted in place). */
static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

/* Rounds of A B B A batches of `batch` operations. `info`: a label for an
   INFO line with both sides' median time per operation (NULL: none). */
static void duel(const char *figure, const char *what, const char *kind, const char *target,
                 op_fn a, void *actx, op_fn b, void *bctx, int rounds, long batch,
                 const char *info, const char *bname)
{
    double *ratio = calloc((size_t)rounds, sizeof *ratio);
    double *ta = calloc((size_t)rounds, sizeof *ta), *tb = calloc((size_t)rounds, sizeof *tb);
    if (!ratio || !ta || !tb)
        die("out of memory");
    const int warm = 3;
    for (int r = -warm; r < rounds; r++) {
        double sa = 0, sb = 0, t0;
        t0 = now_s(); a(actx, batch); sa += now_s() - t0;
        t0 = now_s(); b(bctx, batch); sb += now_s() - t0;
        t0 = now_s(); b(bctx, batch); sb += now_s() - t0;
        t0 = now_s(); a(actx, batch); sa += now_s() - t0;
        if (r >= 0) {
            ratio[r] = sa / sb;
            ta[r] = sa / 2 / (double)batch;
            tb[r] = sb / 2 / (double)batch;
        }
    }
    emit_row(figure, what, kind, target, ratio, rounds);
    if (info)
        printf("INFO\tfigure %s: %s: %.1f ns per call, %s %.1f ns (medians; %ld a batch)\n",
               figure, info, median(ta, rounds) * 1e9, bname, median(tb, rounds) * 1e9, batch);
    free(ratio);
    free(ta);
    free(tb);
}

/* The smallest batch (a power of two) of `f` that takes at least `min_s`
   seconds, the best of three tries at each size. */
static long calibrate(op_fn f, void *ctx, double min_s)
{
    for (long n = 16;; n *= 2) {
        double best = 1e9;
        for (int i = 0; i < 3; i++) {
            double t0 = now_s();
            f(ctx, n);
            double t = now_s() - t0;
            best = t < best ? t : best;
        }
        if (best >= min_s || n >= (1L << 40))
            return n;
    }
}

/* ------------------------------------------------------------ figure 7 */

struct copy {
    mm_region *r;
    char *base;                 /* mm_ptr(r) */
    char *buf;                  /* reads land here, writes come from here */
    size_t n;                   /* bytes a copy: not a constant, so memcpy is libc's */
    size_t off[NOFFS];
};

static void read_mmkit(void *v, long k)
{
    struct copy *c = v;
    for (long i = 0; i < k; i++) {
        if (mm_read(c->r, c->off[i & (NOFFS - 1)], c->buf, c->n) != 0)
            die("mm_read: %s", mm_last_error());
        barrier(c->buf);
    }
}

static void read_memcpy(void *v, long k)
{
    struct copy *c = v;
    for (long i = 0; i < k; i++) {
        memcpy(c->buf, c->base + c->off[i & (NOFFS - 1)], c->n);
        barrier(c->buf);
    }
}

/* memcpy with a constant 16: the compiler's own two-instruction copy. */
static void read_inline16(void *v, long k)
{
    struct copy *c = v;
    for (long i = 0; i < k; i++) {
        memcpy(c->buf, c->base + c->off[i & (NOFFS - 1)], 16);
        barrier(c->buf);
    }
}

static void write_mmkit(void *v, long k)
{
    struct copy *c = v;
    for (long i = 0; i < k; i++) {
        if (mm_write(c->r, c->off[i & (NOFFS - 1)], c->buf, c->n) != 0)
            die("mm_write: %s", mm_last_error());
        barrier(c->base);
    }
}

static void write_memcpy(void *v, long k)
{
    struct copy *c = v;
    for (long i = 0; i < k; i++) {
        memcpy(c->base + c->off[i & (NOFFS - 1)], c->buf, c->n);
        barrier(c->base);
    }
}

/* Offsets spread over the file: a new page and a new cache line each time
   (4 KiB + 64 B apart, wrapping), 16-byte aligned, the copy inside the file. */
static void set_offsets(struct copy *c, size_t n)
{
    size_t span = COPY_FILE - n;
    c->n = n;
    for (size_t j = 0; j < NOFFS; j++)
        c->off[j] = span ? ((j * (4 * KIB + 64)) % span) & ~(size_t)15 : 0;
}

/* The region of `path` (MM_SHARED, read-write), every page read and written
   once so that no copy meets a page fault. */
static mm_region *map_resident(const char *path, uint32_t guard)
{
    mm_region *r;
    if (mm_map_file(path, 0, 0, MM_READ | MM_WRITE | MM_SHARED | guard, &r) != 0)
        die("mm_map_file %s: %s", path, mm_last_error());
    if (mm_len(r) != COPY_FILE)
        die("%s: %zu bytes, figure 7 wants %lu", path, mm_len(r), COPY_FILE);
    volatile char *p = mm_ptr(r);
    for (size_t o = 0; o < COPY_FILE; o += page)
        p[o] = p[o];
    return r;
}

static char *copy_buffer(void)
{
    char *buf = aligned_alloc(page, MIB);
    if (!buf)
        die("out of memory");
    for (size_t i = 0; i < MIB; i++)
        buf[i] = (char)(i * 131);
    return buf;
}

static void copy_figure(const char *path)
{
    static struct copy g, u;    /* guarded, unguarded */
    g.r = map_resident(path, MM_GUARD);
    u.r = map_resident(path, 0);
    if (!(mm_flags(g.r) & MM_GUARD) || (mm_flags(u.r) & MM_GUARD))
        die("mm_flags: MM_GUARD not as asked (guarded %#x, unguarded %#x)",
            mm_flags(g.r), mm_flags(u.r));
    g.base = mm_ptr(g.r);
    u.base = mm_ptr(u.r);
    g.buf = u.buf = copy_buffer();
    int rounds = env_int("BENCH_ROUNDS_COPY", 101);
    int record = env_int("BENCH_ROUNDS_COPY_RECORD", 31);
    double min_s = env_int("BENCH_COPY_MS", 1) * 1e-3;
    static const struct { size_t n; const char *name, *target; } sizes[] = {
        { 16, "16 B", "<=3.0" }, { 4 * KIB, "4 KiB", "<=1.10" }, { MIB, "1 MiB", "<=1.10" },
    };
    char what[200], info[120];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s].n;
        const char *sz = sizes[s].name;
        set_offsets(&g, n);
        set_offsets(&u, n);
        long batch = calibrate(read_memcpy, &g, min_s);

        snprintf(what, sizeof what, "guarded mm_read %s vs memcpy from the same resident mapping", sz);
        snprintf(info, sizeof info, "guarded mm_read %s", sz);
        duel("7", what, "time", sizes[s].target, read_mmkit, &g, read_memcpy, &g, rounds, batch,
             info, "memcpy");
        snprintf(what, sizeof what, "guarded mm_write %s vs memcpy into the same resident mapping", sz);
        snprintf(info, sizeof info, "guarded mm_write %s", sz);
        duel("7", what, "time", sizes[s].target, write_mmkit, &g, write_memcpy, &g, rounds, batch,
             info, "memcpy");
        snprintf(what, sizeof what, "A/A control: memcpy %s from the mapping vs itself (noise band)", sz);
        duel("7", what, "aa", "-", read_memcpy, &g, read_memcpy, &g, rounds, batch, NULL, NULL);
        if (n == 16) {
            snprintf(what, sizeof what, "guarded mm_read 16 B vs an inlined 16-byte copy "
                     "(memcpy with a constant size)");
            duel("7", what, "time", "-", read_mmkit, &g, read_inline16, &g, record, batch,
                 "guarded mm_read 16 B", "inlined copy");
        }

        /* The unguarded path (process_vm_readv/writev): batches sized on it. */
        long slow = calibrate(read_mmkit, &u, 2 * min_s);
        snprintf(what, sizeof what, "unguarded mm_read %s vs memcpy (for the record)", sz);
        snprintf(info, sizeof info, "unguarded mm_read %s", sz);
        duel("7", what, "time", "-", read_mmkit, &u, read_memcpy, &u, record, slow, info, "memcpy");
        snprintf(what, sizeof what, "unguarded mm_write %s vs memcpy (for the record)", sz);
        snprintf(info, sizeof info, "unguarded mm_write %s", sz);
        duel("7", what, "time", "-", write_mmkit, &u, write_memcpy, &u, record, slow, info, "memcpy");
    }
    if (mm_check(g.r) != 0)
        die("mm_check: %s", mm_last_error());
    mm_unmap(g.r);
    mm_unmap(u.r);
    free(g.buf);
}

/* ------------------------------------------------------------ figure 9: map */

struct mapping {
    const char *path;
    int fd;
    uint32_t flags;
    int touch;                  /* read one byte of every page before the unmap */
};

static void touch_pages(mm_region *r)
{
    const volatile char *p = mm_ptr(r);
    size_t len = mm_len(r);
    for (size_t o = 0; o < len; o += page)
        (void)p[o];
}

static void map_file_loop(void *v, long n)
{
    struct mapping *m = v;
    for (long i = 0; i < n; i++) {
        mm_region *r;
        if (mm_map_file(m->path, 0, 0, m->flags, &r) != 0)
            die("mm_map_file: %s", mm_last_error());
        if (m->touch)
            touch_pages(r);
        mm_unmap(r);
    }
}

static void map_fd_loop(void *v, long n)
{
    struct mapping *m = v;
    for (long i = 0; i < n; i++) {
        mm_region *r;
        if (mm_map_fd(m->fd, 0, 0, m->flags, &r) != 0)
            die("mm_map_fd: %s", mm_last_error());
        mm_unmap(r);
    }
}

static void map_figure(const char *path)
{
    int rounds = env_int("BENCH_ROUNDS_GUARDMAP", 201);
    long batch = env_int("BENCH_BATCH_GUARDMAP", 300);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open %s: %s", path, strerror(errno));
    const uint32_t priv = MM_READ | MM_PRIVATE, shared = MM_READ | MM_SHARED;
    struct mapping fg = { path, fd, priv | MM_GUARD, 0 }, fu = { path, fd, priv, 0 };
    struct mapping tg = { path, fd, priv | MM_GUARD, 1 }, tu = { path, fd, priv, 1 };
    struct mapping dg = { path, fd, shared | MM_GUARD, 0 }, du = { path, fd, shared, 0 };
    mm_region *r;
    if (mm_map_file(path, 0, 0, fg.flags, &r) != 0 || !(mm_flags(r) & MM_GUARD) || mm_unmap(r) != 0 ||
        mm_map_fd(fd, 0, 0, dg.flags, &r) != 0 || !(mm_flags(r) & MM_GUARD) || mm_unmap(r) != 0)
        die("%s: a guarded mapping without MM_GUARD in mm_flags (%s)", path, mm_last_error());

    duel("9", "mm_map_file+mm_unmap 64 KiB (MM_READ|MM_PRIVATE): with MM_GUARD vs without", "time",
         "<=1.03", map_file_loop, &fg, map_file_loop, &fu, rounds, batch,
         "mm_map_file+mm_unmap with MM_GUARD", "without");
    duel("9", "A/A control: mm_map_file+mm_unmap 64 KiB without MM_GUARD vs itself (noise band)",
         "aa", "-", map_file_loop, &fu, map_file_loop, &fu, rounds, batch, NULL, NULL);
    duel("9", "mm_map_fd+mm_unmap 64 KiB (MM_READ|MM_SHARED): with MM_GUARD vs without", "time",
         "<=1.03", map_fd_loop, &dg, map_fd_loop, &du, rounds, batch,
         "mm_map_fd+mm_unmap with MM_GUARD", "without");
    duel("9", "mm_map_file+read all 16 pages+mm_unmap 64 KiB: with MM_GUARD vs without", "time",
         "-", map_file_loop, &tg, map_file_loop, &tu, rounds, batch / 2,
         "mm_map_file+read 16 pages+mm_unmap with MM_GUARD", "without");
    close(fd);
}

/* ------------------------------------------------------------ figure 9: repair */

enum rway { R_REPAIRED, R_RAW, R_ORDINARY, R_ANON, NRWAYS };

struct repair {
    int gfd, cfd;               /* the file truncated under the mapping; the control's */
    size_t len;
    long faults[NRWAYS];        /* minor faults counted in the last timed read */
};

/* The proof of concept: a SIGBUS handler that maps a private zero
   page over the faulting page and returns; it checks nothing. */
static void raw_repair(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    uintptr_t at = (uintptr_t)si->si_addr & ~(uintptr_t)(page - 1);
    if (mmap((void *)at, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
        abort();
}

static long minor_faults(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

/* Read one byte of every page of [p, p + len): the timed part. */
static double read_pages(struct repair *x, enum rway w, const char *p, size_t len)
{
    long f0 = minor_faults();
    double t0 = now_s();
    for (size_t o = 0; o < len; o += page)
        (void)((const volatile char *)p)[o];
    double t = now_s() - t0;
    x->faults[w] = minor_faults() - f0;
    return t;
}

static double repair_once(struct repair *x, enum rway w)
{
    mm_region *r;
    double t;
    if (w == R_RAW) {
        struct sigaction raw = { .sa_sigaction = raw_repair, .sa_flags = SA_SIGINFO }, saved;
        sigemptyset(&raw.sa_mask);
        if (ftruncate(x->gfd, (off_t)x->len) != 0)
            die("ftruncate: %s", strerror(errno));
        char *p = mmap(NULL, x->len, PROT_READ, MAP_SHARED, x->gfd, 0);
        if (p == MAP_FAILED)
            die("mmap: %s", strerror(errno));
        if (ftruncate(x->gfd, 0) != 0)
            die("ftruncate: %s", strerror(errno));
        if (sigaction(SIGBUS, &raw, &saved) != 0)   /* the guard's handler, if any, set aside */
            die("sigaction: %s", strerror(errno));
        t = read_pages(x, w, p, x->len);
        if (sigaction(SIGBUS, &saved, NULL) != 0)
            die("sigaction: %s", strerror(errno));
        munmap(p, x->len);
        return t;
    }
    if (w == R_REPAIRED) {
        if (ftruncate(x->gfd, (off_t)x->len) != 0)
            die("ftruncate: %s", strerror(errno));
        if (mm_map_fd(x->gfd, 0, x->len, MM_READ | MM_SHARED | MM_GUARD, &r) != 0)
            die("mm_map_fd: %s", mm_last_error());
        if (ftruncate(x->gfd, 0) != 0)
            die("ftruncate: %s", strerror(errno));
        t = read_pages(x, w, mm_ptr(r), x->len);
        if (mm_check(r) != -EFAULT)
            die("mm_check: no loss recorded after reading a truncated guarded region");
    } else if (w == R_ORDINARY) {
        /* the kernel maps up to 16 resident pages a fault here (fault-around) */
        if (mm_map_fd(x->cfd, 0, x->len, MM_READ | MM_SHARED, &r) != 0)
            die("mm_map_fd: %s", mm_last_error());
        t = read_pages(x, w, mm_ptr(r), x->len);
    } else {
        /* one fault a page, mapping the shared zero page: the fault a
           repaired page takes after its repair */
        if (mm_map_anon(x->len, MM_READ | MM_PRIVATE, &r) != 0)
            die("mm_map_anon: %s", mm_last_error());
        t = read_pages(x, w, mm_ptr(r), x->len);
    }
    mm_unmap(r);
    return t;
}

static void repair_figure(const char *dir)
{
    int rounds = env_int("BENCH_ROUNDS_REPAIR", 31);
    long pages = env_int("BENCH_REPAIR_PAGES", 1024);
    struct repair x = { .len = (size_t)pages * page };
    char gpath[4096], cpath[4096];
    snprintf(gpath, sizeof gpath, "%s/repair.bin", dir);
    snprintf(cpath, sizeof cpath, "%s/ordinary.bin", dir);
    x.gfd = open(gpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    x.cfd = open(cpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (x.gfd < 0 || x.cfd < 0)
        die("open in %s: %s", dir, strerror(errno));
    char *fill = copy_buffer();
    for (size_t o = 0; o < x.len; o += MIB) {
        size_t k = x.len - o < MIB ? x.len - o : MIB;
        if (pwrite(x.cfd, fill, k, (off_t)o) != (ssize_t)k)
            die("pwrite %s: %s", cpath, strerror(errno));
    }
    free(fill);

    double *t[NRWAYS], *ratio = calloc((size_t)rounds, sizeof(double));
    for (int w = 0; w < NRWAYS; w++)
        if (!(t[w] = calloc((size_t)rounds, sizeof(double))))
            die("out of memory");
    if (!ratio)
        die("out of memory");
    for (int w = 0; w < NRWAYS; w++)        /* warm-up: installs the guard's handler too */
        (void)repair_once(&x, (enum rway)w);
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NRWAYS; i++) {
            int w = (i + r) % NRWAYS;
            t[w][r] = repair_once(&x, (enum rway)w);
        }
    static const struct { enum rway w; const char *peer; } vs[] = {
        { R_RAW, "a minimal raw SIGBUS handler (mmap of a zero page, nothing checked)" },
        { R_ORDINARY, "resident pages of an unguarded file mapping" },
        { R_ANON, "anonymous pages (one minor fault a page: the zero page)" },
    };
    char what[300];
    for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) {
        for (int r = 0; r < rounds; r++)
            ratio[r] = t[R_REPAIRED][r] / t[vs[k].w][r];
        snprintf(what, sizeof what, "read %ld pages repaired by the guard (file truncated) vs %s",
                 pages, vs[k].peer);
        emit_row("9", what, "time", "-", ratio, rounds);
    }
    static const char *name[NRWAYS] = {
        "a page repaired by the guard", "a page repaired by the minimal handler",
        "an ordinary page", "an anonymous page (zero page)",
    };
    for (int w = 0; w < NRWAYS; w++) {
        double ns = median(t[w], rounds) / (double)pages * 1e9;
        printf("INFO\tfigure 9: reading %-40s %6.0f ns per page (median of %d rounds of %ld pages; "
               "fastest %.0f ns; %.2f minor faults a page)\n", name[w], ns, rounds, pages,
               t[w][0] / (double)pages * 1e9, (double)x.faults[w] / (double)pages);
        free(t[w]);
    }
    free(ratio);
    close(x.gfd);
    close(x.cfd);
    unlink(gpath);
    unlink(cpath);
}

/* ------------------------------------------------------------ main */

static int loop(int argc, char **argv)
{
    if (argc < 5)
        die("loop: usage: loop CASE N PATH [SIZE]");
    const char *c = argv[2], *path = argv[4];
    long n = atol(argv[3]);
    size_t size = argc >= 6 ? (size_t)atol(argv[5]) : 16;
    if (strncmp(c, "map-", 4) == 0) {
        struct mapping m = { path, -1, MM_READ | MM_PRIVATE, 0 };
        if (strcmp(c, "map-file-guard") == 0)
            m.flags |= MM_GUARD;
        else if (strcmp(c, "map-file") != 0)
            die("loop: unknown case %s", c);
        map_file_loop(&m, n);
        return 0;
    }
    static struct copy x;
    int guarded = strstr(c, "unguarded") == NULL;
    x.r = map_resident(path, guarded ? MM_GUARD : 0);
    x.base = mm_ptr(x.r);
    x.buf = copy_buffer();
    set_offsets(&x, size);
    if (strncmp(c, "read-", 5) == 0 && strstr(c, "guarded")) read_mmkit(&x, n);
    else if (strcmp(c, "read-memcpy") == 0) read_memcpy(&x, n);
    else if (strcmp(c, "read-inline16") == 0) read_inline16(&x, n);
    else if (strncmp(c, "write-", 6) == 0 && strstr(c, "guarded")) write_mmkit(&x, n);
    else if (strcmp(c, "write-memcpy") == 0) write_memcpy(&x, n);
    else die("loop: unknown case %s", c);
    mm_unmap(x.r);
    free(x.buf);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    page = (size_t)sysconf(_SC_PAGESIZE);
    if (argc >= 3 && strcmp(argv[1], "copy") == 0) {
        copy_figure(argv[2]);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "map") == 0) {
        map_figure(argv[2]);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "repair") == 0) {
        repair_figure(argv[2]);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "loop") == 0)
        return loop(argc, argv);
    fprintf(stderr, "usage: bench_guard copy PATH | map PATH | repair DIR | "
            "loop CASE N PATH [SIZE]\n");
    return 2;
}
