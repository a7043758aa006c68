"""Figure 6: the mmkit Python package against the standard mmap module.

    python bench/bench_py.py FILE256M          (ROW/INFO lines for report.py)
    python bench/bench_py.py --profile         (cProfile of the map/close loop)

* sum: ``mmkit.map_file(path)`` + ``numpy.frombuffer(r.view(), uint8).sum()`` +
  close, against ``mmap.mmap(f.fileno(), 0, access=ACCESS_READ)`` +
  ``numpy.frombuffer(m, uint8).sum()`` + close (both MAP_SHARED, PROT_READ).
  The map, the page faults, the sum and the unmap are all inside the clock.
* loop: ``mmkit.map_anon(4096)`` + ``r.close()`` against ``mmap.mmap(-1, 4096)``
  + ``m.close()``, in batches.

Each round runs mmkit, mmap, mmap, mmkit (ABBA) and gives the ratio of the
two sums of times; report.py takes the median over rounds. Rounds:
BENCH_ROUNDS_PYSUM (25), BENCH_ROUNDS_PYLOOP (51); batch: BENCH_BATCH_PYLOOP (500).

Needs MMKIT_LIBRARY and PYTHONPATH=<repo>/python (bench/run.sh sets both).
"""

import mmap
import os
import sys
import time

import numpy as np

import mmkit


def env_num(name, default):
    try:
        n = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return n if n > 0 else default


def sum_mmkit(path):
    r = mmkit.map_file(path)
    view = r.view()
    a = np.frombuffer(view, dtype=np.uint8)
    s = int(a.sum())
    del a
    view.release()
    r.close()
    return s


def sum_mmap(path):
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    a = np.frombuffer(m, dtype=np.uint8)
    s = int(a.sum())
    del a
    m.close()
    return s


def open_close_mmkit(path):
    r = mmkit.map_file(path)
    view = r.view()
    a = np.frombuffer(view, dtype=np.uint8)
    del a
    view.release()
    r.close()


def open_close_mmap(path):
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    a = np.frombuffer(m, dtype=np.uint8)
    del a
    m.close()


def loop_mmkit(n):
    for _ in range(n):
        r = mmkit.map_anon(4096)
        r.close()


def loop_mmap(n):
    for _ in range(n):
        m = mmap.mmap(-1, 4096)
        m.close()


def loop_mmkit_shared(n):
    for _ in range(n):
        r = mmkit.map_anon(4096, shared=True)
        r.close()


def loop_mmap_private(n):
    for _ in range(n):
        m = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE)
        m.close()


def duel(rounds, a, b, warm=1):
    """Interleaved rounds A B B A: per round (tA1 + tA2) / (tB1 + tB2), so that
    neither side always runs first; also the median per-call times."""
    def timed(f):
        t0 = time.perf_counter()
        f()
        return time.perf_counter() - t0

    ratios, ta_all, tb_all = [], [], []
    for r in range(-warm, rounds):
        ta = timed(a)
        tb = timed(b)
        tb += timed(b)
        ta += timed(a)
        if r >= 0:
            ratios.append(ta / tb)
            ta_all.append(ta / 2)
            tb_all.append(tb / 2)
    return ratios, sorted(ta_all)[rounds // 2], sorted(tb_all)[rounds // 2]


def row(what, target, ratios, kind="time"):
    print("ROW\t6\t%s\t%s\t%s\t%s" % (what, kind, target, ",".join("%.6f" % x for x in ratios)))


def profile():
    import cProfile
    import pstats
    loop_mmkit(2000)
    pr = cProfile.Profile()
    pr.enable()
    loop_mmkit(20000)
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(18)


def main(argv):
    if len(argv) > 1 and argv[1] == "--profile":
        profile()
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = argv[1]
    size = os.path.getsize(path)
    if sum_mmkit(path) != sum_mmap(path):
        print("bench_py: the two sums differ", file=sys.stderr)
        return 1

    ratios, tm, tp = duel(env_num("BENCH_ROUNDS_PYSUM", 25),
                          lambda: sum_mmkit(path), lambda: sum_mmap(path))
    tp_sum = tp
    row("Python map_file+numpy sum %d MiB vs mmap module (time; throughput = 1/ratio)"
        % (size >> 20), "<=1.0~", ratios)
    print("INFO\tfigure 6: sum of %d MiB: mmkit %.1f ms (%.2f GB/s), mmap module %.1f ms "
          "(%.2f GB/s), medians" % (size >> 20, tm * 1e3, size / tm / 1e9, tp * 1e3,
                                     size / tp / 1e9))
    aa_ratios, _, _ = duel(env_num("BENCH_ROUNDS_PYSUM", 25),
                           lambda: sum_mmap(path), lambda: sum_mmap(path))
    row("A/A control: mmap module sum vs itself (noise band)", "-", aa_ratios, kind="aa")

    # What differs between the two sides is only the fixed cost of mapping,
    # viewing and closing (the faults and the sum are the same kernel and numpy
    # code on the same pages): measure it alone.
    _, tm, tp = duel(11, lambda: [open_close_mmkit(path) for _ in range(100)],
                     lambda: [open_close_mmap(path) for _ in range(100)])
    print("INFO\tfigure 6: the fixed part (map %d MiB, view, frombuffer, close; no page "
          "touched): mmkit %.1f us, mmap module %.1f us: %.2f%% of the sum's time"
          % (size >> 20, tm * 1e4, tp * 1e4, (tm - tp) / 100 / tp_sum * 100))

    batch = env_num("BENCH_BATCH_PYLOOP", 500)
    ratios, tm, tp = duel(env_num("BENCH_ROUNDS_PYLOOP", 51),
                          lambda: loop_mmkit(batch), lambda: loop_mmap(batch))
    row("Python map_anon(4096)+close loop vs mmap.mmap(-1, 4096)+close", "<=1.5", ratios)
    print("INFO\tfigure 6: map/close loop: mmkit %.2f us, mmap module %.2f us per iteration "
          "(medians)" % (tm / batch * 1e6, tp / batch * 1e6))
    # The defaults differ: mmkit.map_anon is MAP_PRIVATE, mmap.mmap(-1, n) is
    # MAP_SHARED (a shmem object in the kernel). Like for like, both ways:
    rounds = max(11, env_num("BENCH_ROUNDS_PYLOOP", 51) // 2)
    ratios, tm, tp = duel(rounds, lambda: loop_mmkit_shared(batch), lambda: loop_mmap(batch))
    row("Python map_anon(4096, shared=True)+close vs mmap.mmap(-1, 4096)+close (both MAP_SHARED)",
        "-", ratios)
    ratios, tm2, tp2 = duel(rounds, lambda: loop_mmkit(batch), lambda: loop_mmap_private(batch))
    row("Python map_anon(4096)+close vs mmap.mmap(-1, 4096, flags=MAP_PRIVATE)+close "
        "(both MAP_PRIVATE)", "-", ratios)
    print("INFO\tfigure 6: like for like: MAP_SHARED mmkit %.2f us vs mmap %.2f us; MAP_PRIVATE "
          "mmkit %.2f us vs mmap %.2f us per iteration (medians)"
          % (tm / batch * 1e6, tp / batch * 1e6, tm2 / batch * 1e6, tp2 / batch * 1e6))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
