/*
 * bench_common.h - helpers shared by the C benchmark harnesses.
 *
 * Every harness measures interleaved rounds (mmkit and its peer alternate in
 * one loop) and prints, per comparison, one line for bench/report.py:
 *
 *   ROW<TAB><figure><TAB><what vs peer><TAB><kind><TAB><target><TAB><ratio>,<ratio>,...
 *
 * kind:   time     ratio = mmkit time / peer time per round (lower is better)
 *         speedup  ratio = peer time / variant time per round (higher is better)
 *         aa       an A/A control (the peer against itself): its spread is the
 *                  noise band for the "<=X~" targets of the same figure
 * target: "<=1.03", "<=1.0~" (at most 1.0 within the noise band) or "-".
 * report.py takes the median of the per-round ratios and its 95% band.
 * INFO<TAB><text> lines are printed under the table.
 */
#ifndef MMKIT_BENCH_COMMON_H
#define MMKIT_BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* One ROW line: ratios[i] for i < n. */
__attribute__((unused)) static void emit_row(const char *figure, const char *what, const char *kind,
                     const char *target, const double *ratios, int n)
{
    printf("ROW\t%s\t%s\t%s\t%s\t", figure, what, kind, target);
    for (int i = 0; i < n; i++)
        printf("%s%.6f", i ? "," : "", ratios[i]);
    putchar('\n');
    fflush(stdout);
}

/* An environment integer with a default (BENCH_ROUNDS_* overrides). */
__attribute__((unused)) static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    int n = atoi(v);
    return n > 0 ? n : dflt;
}

#endif
