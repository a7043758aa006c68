/*
 * ab.c - two builds of libmmkit side by side: does a second path pay?
 *
 *   ab A.so A2.so B.so [FILE]
 *
 * A and A2 are copies of one build (the A/A control: the noise band), B the
 * build to compare (for instance one built with MMKIT_DISABLE=...). All three are
 * dlopen'ed into this one process. Each round times a batch of figure 1's
 * loop (mm_map_anon + touch + mm_unmap of 4 KiB) and, with FILE, figure 2's
 * (mm_map_file + mm_unmap) through each library, in an order that rotates from
 * round to round, and records B/A and A2/A. Prints the median and the middle
 * half of each ratio. Rounds: AB_ROUNDS (default 201), batch: AB_BATCH (500).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>

#include <mmkit.h>

#include "bench_common.h"

struct lib {
    const char *path;
    int (*map_anon)(size_t, uint32_t, mm_region **);
    int (*map_file)(const char *, uint64_t, size_t, uint32_t, mm_region **);
    int (*unmap)(mm_region *);
    void *(*ptr)(const mm_region *);
    const char *(*last_error)(void);
};

static void *sym(void *h, const char *path, const char *name)
{
    void *p = dlsym(h, name);
    if (!p)
        die("%s: no %s", path, name);
    return p;
}

static void load(struct lib *l, const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        die("dlopen %s: %s", path, dlerror());
    l->path = path;
    l->map_anon = sym(h, path, "mm_map_anon");
    l->map_file = sym(h, path, "mm_map_file");
    l->unmap = sym(h, path, "mm_unmap");
    l->ptr = sym(h, path, "mm_ptr");
    l->last_error = sym(h, path, "mm_last_error");
}

static const char *file;

static double run(const struct lib *l, int anon, int n)
{
    double t = now_s();
    for (int i = 0; i < n; i++) {
        mm_region *r;
        int rc = anon ? l->map_anon(4096, MM_READ | MM_WRITE | MM_PRIVATE, &r)
                      : l->map_file(file, 0, 0, MM_READ | MM_PRIVATE, &r);
        if (rc != 0)
            die("%s: %s", l->path, l->last_error());
        if (anon)
            *(volatile char *)l->ptr(r) = 1;
        l->unmap(r);
    }
    return now_s() - t;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *r, int n)
{
    qsort(r, (size_t)n, sizeof *r, cmp);
    printf("%-44s median %.4f  (middle half %.4f-%.4f, %d rounds)\n", what, r[n / 2], r[n / 4],
           r[(3 * n) / 4], n);
}

static void duel(struct lib *libs, int anon, int rounds, int batch)
{
    double *ba = calloc((size_t)rounds, sizeof(double));
    double *aa = calloc((size_t)rounds, sizeof(double));
    if (!ba || !aa)
        die("out of memory");
    for (int k = 0; k < 3; k++)
        run(&libs[k], anon, batch); /* warm up */
    for (int i = 0; i < rounds; i++) {
        double t[3];
        for (int k = 0; k < 3; k++) {
            int which = (i + k) % 3;
            t[which] = run(&libs[which], anon, batch);
        }
        ba[i] = t[2] / t[0];
        aa[i] = t[1] / t[0];
    }
    const char *fig = anon ? "figure 1 loop (anon 4 KiB)" : "figure 2 loop (file 64 KiB)";
    char what[128];
    snprintf(what, sizeof what, "%s: B/A", fig);
    report(what, ba, rounds);
    snprintf(what, sizeof what, "%s: A2/A (A/A control)", fig);
    report(what, aa, rounds);
    free(ba);
    free(aa);
}

int main(int argc, char **argv)
{
    if (argc < 4)
        die("usage: ab A.so A2.so B.so [FILE]");
    struct lib libs[3];
    for (int k = 0; k < 3; k++)
        load(&libs[k], argv[1 + k]);
    file = argc > 4 ? argv[4] : NULL;
    int rounds = env_int("AB_ROUNDS", 201), batch = env_int("AB_BATCH", 500);
    duel(libs, 1, rounds, batch);
    if (file)
        duel(libs, 0, rounds, batch);
    return 0;
}
