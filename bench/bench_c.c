/*
 * bench_c.c - figures 1, 2 and 4: the C API against raw system calls.
 *
 *   bench_c anon4k            figure 1: mm_map_anon + touch + mm_unmap of 4 KiB
 *                                        vs mmap + touch + munmap
 *   bench_c file64k PATH      figure 2: mm_map_file + mm_unmap of a 64 KiB file
 *                                        vs open/fstat/mmap/close/munmap
 *   bench_c big256            figure 4: map and touch 256 MiB anonymous memory:
 *                                        raw fault-in, MAP_POPULATE, MM_POPULATE,
 *                                        MM_HUGEPAGES, MM_POPULATE|MM_HUGEPAGES
 *   bench_c filepop IN OUT    figure 5 (cause): map_cat's work with raw calls --
 *                                        map IN, write it all to OUT, unmap -- with
 *                                        no populate, with what MM_POPULATE does
 *                                        (MAP_POPULATE + MADV_POPULATE_READ), and
 *                                        with MADV_POPULATE_READ alone
 *
 * Rounds are interleaved, so drift of the machine (other tenants, frequency)
 * hits every contestant alike. Figures 1 and 2: each round runs a batch of
 * mmkit, two of raw, one of mmkit (A B B A) and gives (tA1+tA2)/(tB1+tB2).
 * Figure 4: each round runs every way once, in an order that rotates from
 * round to round. report.py takes the median of the per-round ratios.
 *
 * Round counts: BENCH_ROUNDS_ANON, BENCH_ROUNDS_FILE, BENCH_ROUNDS_BIG;
 * batch sizes: BENCH_BATCH_ANON, BENCH_BATCH_FILE.
 */
#define _GNU_SOURCE

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mmkit.h>

#include "bench_common.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define KIB 1024UL
#define MIB (1024UL * 1024UL)

/* ------------------------------------------------------------ figure 1 */

static void anon_mmkit(int n)
{
    for (int i = 0; i < n; i++) {
        mm_region *r;
        int rc = mm_map_anon(4 * KIB, MM_READ | MM_WRITE | MM_PRIVATE, &r);
        if (rc != 0)
            die("mm_map_anon: %s", mm_last_error());
        *(volatile char *)mm_ptr(r) = 1;
        mm_unmap(r);
    }
}

static void anon_raw(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = mmap(NULL, 4 * KIB, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            die("mmap: %s", strerror(errno));
        *(volatile char *)p = 1;
        munmap(p, 4 * KIB);
    }
}

/* ------------------------------------------------------------ figure 2 */

static const char *file_path;

static void file_mmkit(int n)
{
    for (int i = 0; i < n; i++) {
        mm_region *r;
        int rc = mm_map_file(file_path, 0, 0, MM_READ | MM_PRIVATE, &r);
        if (rc != 0)
            die("mm_map_file: %s", mm_last_error());
        mm_unmap(r);
    }
}

static void file_raw(int n)
{
    for (int i = 0; i < n; i++) {
        int fd = open(file_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die("open %s: %s", file_path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) != 0)
            die("fstat: %s", strerror(errno));
        size_t len = (size_t)st.st_size;
        void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            die("mmap: %s", strerror(errno));
        close(fd);
        munmap(p, len);
    }
}

/* Two contestants, batches of `batch` calls, `rounds` interleaved rounds of
   A B B A (ratio (tA1+tA2)/(tB1+tB2): neither side always goes first), after
   `warm` rounds thrown away. */
/* Interleaved A B B A batches, one ratio per round. kind is "time" for a
   comparison, "aa" for an A/A control (a against itself: the noise band). */
static void duel(const char *figure, const char *what, const char *kind, const char *target,
                 void (*a)(int), void (*b)(int), int rounds, int batch)
{
    double *ratio = calloc((size_t)rounds, sizeof *ratio);
    if (!ratio)
        die("out of memory");
    const int warm = 3;
    for (int r = -warm; r < rounds; r++) {
        double ta = 0, tb = 0, t0;
        t0 = now_s(); a(batch); ta += now_s() - t0;
        t0 = now_s(); b(batch); tb += now_s() - t0;
        t0 = now_s(); b(batch); tb += now_s() - t0;
        t0 = now_s(); a(batch); ta += now_s() - t0;
        if (r >= 0)
            ratio[r] = ta / tb;
        if (r == rounds - 1 && strcmp(kind, "aa") != 0)
            printf("INFO\tfigure %s: last round %.0f ns per mmkit call, %.0f ns per raw call\n",
                   figure, ta / 2 / batch * 1e9, tb / 2 / batch * 1e9);
    }
    emit_row(figure, what, kind, target, ratio, rounds);
    free(ratio);
}

/* ------------------------------------------------------------ figure 4 */

#define BIG (256 * MIB)

enum way {
    RAW_FAULT,      /* mmap, touch every page */
    RAW_POPULATE,   /* mmap(MAP_POPULATE), touch */
    RAW_POPULATE2,  /* the same again: the A/A control that measures noise */
    RAW_THP,        /* mmap, madvise(MADV_HUGEPAGE), touch */
    RAW_THP_POP,    /* mmap, madvise(MADV_HUGEPAGE), madvise(MADV_POPULATE_WRITE), touch */
    RAW_POP_MADV,   /* mmap(MAP_POPULATE), madvise(MADV_POPULATE_WRITE), touch: what
                       mm_map_anon(MM_POPULATE) does, replayed with raw calls */
    RAW_MADV_POP,   /* mmap, madvise(MADV_POPULATE_WRITE), touch: the proposed fix */
    MM_POP,         /* mm_map_anon(MM_POPULATE), touch */
    MM_HUGE,        /* mm_map_anon(MM_HUGEPAGES), touch */
    MM_POP_HUGE,    /* mm_map_anon(MM_POPULATE|MM_HUGEPAGES), touch */
    NWAYS
};

static const char *way_name[NWAYS] = {
    "raw fault-in", "raw MAP_POPULATE", "raw MAP_POPULATE (A/A)",
    "raw MADV_HUGEPAGE", "raw MADV_HUGEPAGE+MADV_POPULATE_WRITE",
    "raw MAP_POPULATE+MADV_POPULATE_WRITE", "raw MADV_POPULATE_WRITE (no MAP_POPULATE)",
    "MM_POPULATE", "MM_HUGEPAGES", "MM_POPULATE|MM_HUGEPAGES",
};

/* AnonHugePages (kB) of the mapping that contains addr, from /proc/self/smaps. */
static long anon_huge_kb(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    int in = 0;
    long kb = -1;
    uintptr_t a = (uintptr_t)addr;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = a >= lo && a < hi;
            continue;
        }
        if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb;
}

static long huge_seen[NWAYS];
static double *second_pass;     /* per round: the MADV_POPULATE_WRITE of RAW_POP_MADV */
static int cur_round = -1;

static void touch(char *p)
{
    for (size_t off = 0; off < BIG; off += 4 * KIB)
        ((volatile char *)p)[off] = 1;
}

static double big_once(enum way w, int check)
{
    double t0 = now_s();
    char *p = NULL;
    mm_region *r = NULL;
    uint32_t f = MM_READ | MM_WRITE | MM_PRIVATE;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;

    switch (w) {
    case RAW_POPULATE:
    case RAW_POPULATE2:
    case RAW_POP_MADV:
        flags |= MAP_POPULATE;
        /* fall through */
    case RAW_FAULT:
    case RAW_MADV_POP:
    case RAW_THP:
    case RAW_THP_POP:
        p = mmap(NULL, BIG, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p == MAP_FAILED)
            die("mmap 256 MiB: %s", strerror(errno));
        if (w == RAW_THP || w == RAW_THP_POP)
            (void)madvise(p, BIG, MADV_HUGEPAGE);
        if ((w == RAW_THP_POP || w == RAW_MADV_POP) && madvise(p, BIG, MADV_POPULATE_WRITE) != 0)
            die("madvise(MADV_POPULATE_WRITE): %s", strerror(errno));
        if (w == RAW_POP_MADV) {
            double t1 = now_s();
            if (madvise(p, BIG, MADV_POPULATE_WRITE) != 0)
                die("madvise(MADV_POPULATE_WRITE): %s", strerror(errno));
            if (cur_round >= 0)
                second_pass[cur_round] = now_s() - t1;
        }
        break;
    case MM_POP:      f |= MM_POPULATE; goto mm;
    case MM_HUGE:     f |= MM_HUGEPAGES; goto mm;
    case MM_POP_HUGE: f |= MM_POPULATE | MM_HUGEPAGES; goto mm;
    mm:
        if (mm_map_anon(BIG, f, &r) != 0)
            die("mm_map_anon 256 MiB: %s", mm_last_error());
        p = mm_ptr(r);
        break;
    default:
        die("bad way");
    }
    touch(p);
    if (check)
        huge_seen[w] = anon_huge_kb(p);
    if (r)
        mm_unmap(r);
    else
        munmap(p, BIG);
    return now_s() - t0;
}

static void big(int rounds)
{
    double *t[NWAYS];
    for (int w = 0; w < NWAYS; w++) {
        t[w] = calloc((size_t)rounds, sizeof(double));
        if (!t[w])
            die("out of memory");
    }
    /* warm-up pass, untimed, which also records what each way really got
       (AnonHugePages from smaps: too slow to read inside a timed run) */
    for (int w = 0; w < NWAYS; w++)
        (void)big_once((enum way)w, 1);
    second_pass = calloc((size_t)rounds, sizeof(double));
    if (!second_pass)
        die("out of memory");
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NWAYS; i++) {
            cur_round = r;
            int w = (i + r) % NWAYS;
            t[w][r] = big_once((enum way)w, 0);
        }

    double *ratio = calloc((size_t)rounds, sizeof(double));
    if (!ratio)
        die("out of memory");
#define RATIO(expr) do { for (int r = 0; r < rounds; r++) ratio[r] = (expr); } while (0)
    RATIO(t[MM_POP][r] / t[RAW_POPULATE][r]);
    emit_row("4", "MM_POPULATE vs raw MAP_POPULATE", "time", "<=1.0~", ratio, rounds);
    RATIO(t[RAW_POPULATE2][r] / t[RAW_POPULATE][r]);
    emit_row("4", "A/A control: raw MAP_POPULATE vs itself (noise band)", "aa", "-", ratio, rounds);
    static const enum way sp[] = { RAW_POPULATE, MM_POP, MM_HUGE, MM_POP_HUGE, RAW_THP, RAW_THP_POP };
    for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++) {
        char what[160];
        snprintf(what, sizeof what, "speed-up of %s over raw fault-in", way_name[sp[k]]);
        RATIO(t[RAW_FAULT][r] / t[sp[k]][r]);
        emit_row("4", what, "speedup", "-", ratio, rounds);
    }
    RATIO(t[MM_HUGE][r] / t[RAW_THP][r]);
    emit_row("4", "MM_HUGEPAGES vs raw MADV_HUGEPAGE", "time", "-", ratio, rounds);
    RATIO(t[MM_POP][r] / t[RAW_POP_MADV][r]);
    emit_row("4", "MM_POPULATE vs its raw replay MAP_POPULATE+MADV_POPULATE_WRITE", "time", "-",
             ratio, rounds);
    RATIO(t[RAW_MADV_POP][r] / t[RAW_POPULATE][r]);
    emit_row("4", "proposed fix, raw: MADV_POPULATE_WRITE alone vs raw MAP_POPULATE", "time", "-",
             ratio, rounds);
    RATIO(t[MM_POP_HUGE][r] / t[RAW_THP_POP][r]);
    emit_row("4", "MM_POPULATE|MM_HUGEPAGES vs raw MADV_HUGEPAGE+MADV_POPULATE_WRITE", "time", "-",
             ratio, rounds);
#undef RATIO
    for (int i = 1; i < rounds; i++)
        for (int j = i; j > 0 && second_pass[j - 1] > second_pass[j]; j--) {
            double x = second_pass[j]; second_pass[j] = second_pass[j - 1]; second_pass[j - 1] = x;
        }
    printf("INFO\tfigure 4: the second populate pass (MADV_POPULATE_WRITE over a range MAP_POPULATE "
           "already filled) takes %.1f ms (median)\n", second_pass[rounds / 2] * 1e3);
    free(second_pass);
    for (int w = 0; w < NWAYS; w++) {
        double s[rounds];
        memcpy(s, t[w], sizeof s);
        /* median time, for the absolute context line */
        for (int i = 1; i < rounds; i++)
            for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
                double x = s[j]; s[j] = s[j - 1]; s[j - 1] = x;
            }
        printf("INFO\tfigure 4: %-42s median %6.1f ms, AnonHugePages %ld kB of 262144 kB\n",
               way_name[w], s[rounds / 2] * 1e3, huge_seen[w]);
        free(t[w]);
    }
    free(ratio);
}

/* ------------------------------------------------------------ figure 5 (cause) */

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

enum fway { F_PLAIN, F_MMKIT_POP, F_MADV_POP, NFWAYS };

static double filepop_once(const char *in, const char *out, enum fway w)
{
    int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (ofd < 0)
        die("open %s: %s", out, strerror(errno));
    double t0 = now_s();
    int fd = open(in, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die("open %s: %s", in, strerror(errno));
    size_t n = (size_t)st.st_size;
    char *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE | (w == F_MMKIT_POP ? MAP_POPULATE : 0), fd, 0);
    if (p == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    close(fd);
    if (w != F_PLAIN && madvise(p, n, MADV_POPULATE_READ) != 0)
        die("madvise(MADV_POPULATE_READ): %s", strerror(errno));
    for (size_t o = 0; o < n;) {
        ssize_t x = write(ofd, p + o, n - o);
        if (x < 0 && errno != EINTR)
            die("write: %s", strerror(errno));
        if (x > 0)
            o += (size_t)x;
    }
    munmap(p, n);
    double t = now_s() - t0;
    close(ofd);
    return t;
}

static void filepop(const char *in, const char *out, int rounds)
{
    double *t[NFWAYS], *ratio = calloc((size_t)rounds, sizeof(double));
    for (int w = 0; w < NFWAYS; w++)
        if (!(t[w] = calloc((size_t)rounds, sizeof(double))))
            die("out of memory");
    if (!ratio)
        die("out of memory");
    for (int w = 0; w < NFWAYS; w++)
        (void)filepop_once(in, out, (enum fway)w);
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NFWAYS; i++) {
            int w = (i + r) % NFWAYS;
            t[w][r] = filepop_once(in, out, (enum fway)w);
        }
    for (int r = 0; r < rounds; r++)
        ratio[r] = t[F_MMKIT_POP][r] / t[F_PLAIN][r];
    emit_row("5", "raw replay of MM_POPULATE on a file (MAP_POPULATE+MADV_POPULATE_READ) vs no populate, "
             "map+write to tmpfs+unmap", "time", "-", ratio, rounds);
    for (int r = 0; r < rounds; r++)
        ratio[r] = t[F_MADV_POP][r] / t[F_PLAIN][r];
    emit_row("5", "proposed fix, raw: MADV_POPULATE_READ alone vs no populate, map+write to tmpfs+unmap",
             "time", "-", ratio, rounds);
    for (int w = 0; w < NFWAYS; w++)
        free(t[w]);
    free(ratio);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "anon4k") == 0) {
        duel("1", "mm_map_anon+touch+mm_unmap 4 KiB vs mmap+touch+munmap", "time", "<=1.03",
             anon_mmkit, anon_raw, env_int("BENCH_ROUNDS_ANON", 201),
             env_int("BENCH_BATCH_ANON", 500));
        duel("1", "A/A control: mmap+touch+munmap vs itself (noise band)", "aa", "-",
             anon_raw, anon_raw, env_int("BENCH_ROUNDS_ANON", 201),
             env_int("BENCH_BATCH_ANON", 500));
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "file64k") == 0) {
        file_path = argv[2];
        duel("2", "mm_map_file+mm_unmap 64 KiB vs open/fstat/mmap/close/munmap", "time", "<=1.05",
             file_mmkit, file_raw, env_int("BENCH_ROUNDS_FILE", 201),
             env_int("BENCH_BATCH_FILE", 300));
        duel("2", "A/A control: open/fstat/mmap/close/munmap vs itself (noise band)", "aa", "-",
             file_raw, file_raw, env_int("BENCH_ROUNDS_FILE", 201),
             env_int("BENCH_BATCH_FILE", 300));
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "big256") == 0) {
        big(env_int("BENCH_ROUNDS_BIG", 25));
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "filepop") == 0) {
        filepop(argv[2], argv[3], env_int("BENCH_ROUNDS_FILEPOP", 9));
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "loop") == 0) {
        /* for callgrind/strace: N iterations of one side; see BENCHMARKS.md */
        int n = argc >= 4 ? atoi(argv[3]) : 1000;
        if (argc >= 5)
            file_path = argv[4];
        if (strcmp(argv[2], "anon-mmkit") == 0) anon_mmkit(n);
        else if (strcmp(argv[2], "anon-raw") == 0) anon_raw(n);
        else if (strcmp(argv[2], "file-mmkit") == 0 && file_path) file_mmkit(n);
        else if (strcmp(argv[2], "file-raw") == 0 && file_path) file_raw(n);
        else if (strcmp(argv[2], "big-mm-pop") == 0) while (n--) big_once(MM_POP, 0);
        else if (strcmp(argv[2], "big-raw-pop") == 0) while (n--) big_once(RAW_POPULATE, 0);
        else die("loop: unknown case %s", argv[2]);
        return 0;
    }
    fprintf(stderr, "usage: bench_c anon4k | file64k PATH | big256 | filepop IN OUT | loop CASE N [PATH]\n");
    return 2;
}
