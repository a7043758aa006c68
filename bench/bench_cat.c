/*
 * bench_cat.c - figure 5: map_cat (and variants) against GNU cat, whole
 * processes, interleaved rounds.
 *
 *   bench_cat OUT ROUNDS INPUT PEER_NAME PEER_PATH NAME PATH [NAME PATH]...
 *
 * Every command is run as `PATH INPUT` with its standard output going to
 *   OUT = "pipe":  a pipe drained by a thread of this program (read() into a
 *                  1 MiB buffer, bytes counted and thrown away) -- a reader that
 *                  is neither contestant;
 *   OUT = a path:  that file, opened O_TRUNC before the clock starts (freeing
 *                  the previous run's pages is not timed);
 *   OUT = append:PATH  the same with O_APPEND, which copy_file_range(2) refuses
 *                  (EBADF): GNU cat then falls back to its read/write loop.
 * The clock runs from fork() to the end of the child (and, for a pipe, to the
 * drain seeing EOF). Each round runs every command once, in an order that
 * rotates from round to round; every command's per-round time is divided by
 * the peer's time of the same round. The byte count of every run is checked.
 *
 * Prints one ROW per non-peer command (see bench_common.h). The first one is
 * the c-examples map_cat and carries TARGET (env BENCH_CAT_TARGET, or "-").
 */
#define _GNU_SOURCE

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

struct drain {
    int fd;
    unsigned long long bytes;
};

/* CPU placement: with BENCH_PIN=1 (the default on machines with 2+ CPUs) the
   command runs on CPU 1 and the drain on CPU 0, so no run depends on where
   the scheduler happened to put the two ends of the pipe; BENCH_PIN=2 puts
   both on CPU 0; BENCH_PIN=0 leaves placement to the scheduler. */
static int pin = -1;

static void pin_to(int cpu)
{
    if (pin <= 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(pin == 2 ? 0 : cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}

static void *drain_main(void *arg)
{
    struct drain *d = arg;
    pin_to(0);
    static char buf[1 << 20];
    for (;;) {
        ssize_t n = read(d->fd, buf, sizeof buf);
        if (n > 0) {
            d->bytes += (unsigned long long)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
    return NULL;
}

static void run_child(const char *path, const char *input, int out)
{
    pin_to(1);
    if (dup2(out, STDOUT_FILENO) < 0)
        _exit(126);
    if (out != STDOUT_FILENO)
        close(out);
    char *args[] = { (char *)path, (char *)input, NULL };
    execv(path, args);
    _exit(127);
}

static void wait_ok(pid_t pid, const char *path)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("%s failed (status %#x)", path, st);
}

/* One run of `path input`; returns seconds. */
static double run_once(const char *out, const char *path, const char *input,
                       unsigned long long expect)
{
    double t;
    if (strcmp(out, "pipe") == 0) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            die("pipe: %s", strerror(errno));
        struct drain d = { p[0], 0 };
        pthread_t th;
        double t0 = now_s();
        if (pthread_create(&th, NULL, drain_main, &d) != 0)
            die("pthread_create");
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0)
            run_child(path, input, p[1]);
        close(p[1]);
        wait_ok(pid, path);
        pthread_join(th, NULL);
        t = now_s() - t0;
        close(p[0]);
        if (d.bytes != expect)
            die("%s wrote %llu bytes into the pipe, expected %llu", path, d.bytes, expect);
    } else {
        int append = strncmp(out, "append:", 7) == 0;
        if (append)
            out += 7;
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (append ? O_APPEND : 0), 0600);
        if (fd < 0)
            die("open %s: %s", out, strerror(errno));
        double t0 = now_s();
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0)
            run_child(path, input, fd);
        wait_ok(pid, path);
        t = now_s() - t0;
        struct stat st;
        if (fstat(fd, &st) != 0 || (unsigned long long)st.st_size != expect)
            die("%s wrote %lld bytes into %s, expected %llu", path,
                (long long)st.st_size, out, expect);
        close(fd);
    }
    return t;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 8 || (argc - 4) % 2 != 0) {
        fprintf(stderr, "usage: bench_cat OUT ROUNDS INPUT PEER_NAME PEER_PATH NAME PATH...\n");
        return 2;
    }
    const char *out = argv[1];
    int rounds = atoi(argv[2]);
    const char *input = argv[3];
    int ncmd = (argc - 4) / 2;      /* command 0 is the peer */
    const char *target = getenv("BENCH_CAT_TARGET");
    if (!target || !*target)
        target = "-";
    if (rounds < 1)
        die("bad ROUNDS");

    const char *p = getenv("BENCH_PIN");
    pin = p && *p ? atoi(p) : (sysconf(_SC_NPROCESSORS_ONLN) >= 2);

    struct stat st;
    if (stat(input, &st) != 0)
        die("stat %s: %s", input, strerror(errno));
    unsigned long long expect = (unsigned long long)st.st_size;

    double (*t)[ncmd] = calloc((size_t)rounds, sizeof *t);
    if (!t)
        die("out of memory");
    /* warm-up: one untimed run each (page cache, binaries, the library) */
    for (int c = 0; c < ncmd; c++)
        (void)run_once(out, argv[5 + 2 * c], input, expect);
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < ncmd; i++) {
            int c = (i + r) % ncmd;
            t[r][c] = run_once(out, argv[5 + 2 * c], input, expect);
        }

    const char *where = strcmp(out, "pipe") == 0
                      ? (pin == 2 ? "into a pipe, both ends on one CPU" : "into a pipe")
                      : strncmp(out, "append:", 7) == 0 ? "into an O_APPEND file on tmpfs"
                      : "into a file on tmpfs";
    double *ratio = calloc((size_t)rounds, sizeof *ratio);
    double *peer = calloc((size_t)rounds, sizeof *peer);
    if (!ratio || !peer)
        die("out of memory");
    for (int c = 1; c < ncmd; c++) {
        char what[256];
        snprintf(what, sizeof what, "%s vs %s, %s", argv[4 + 2 * c], argv[4], where);
        for (int r = 0; r < rounds; r++)
            ratio[r] = t[r][c] / t[r][0];
        emit_row("5", what, "time", c == 1 ? target : "-", ratio, rounds);
    }
    for (int c = 0; c < ncmd; c++) {
        for (int r = 0; r < rounds; r++)
            peer[r] = t[r][c];
        for (int i = 1; i < rounds; i++)
            for (int j = i; j > 0 && peer[j - 1] > peer[j]; j--) {
                double x = peer[j]; peer[j] = peer[j - 1]; peer[j - 1] = x;
            }
        printf("INFO\tfigure 5, %s: %-28s median %6.1f ms (%.2f GB/s)\n", where,
               argv[4 + 2 * c], peer[rounds / 2] * 1e3, expect / peer[rounds / 2] / 1e9);
    }
    free(ratio);
    free(peer);
    free(t);
    return 0;
}
