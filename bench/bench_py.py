"""Figure 6: the mmkit Python package against the standard mmap module.

    python bench/bench_py.py FILE256M          (ROW/INFO lines for report.py)
    python bench/bench_py.py --profile         (cProfile of the map/close loop)
    python bench/bench_py.py --guard FILE      (figure 8: ROW/INFO lines)

* sum: ``mmkit.map_file(path)`` + ``numpy.frombuffer(r.view(), uint8).sum()`` +
  close, against ``mmap.mmap(f.fileno(), 0, access=ACCESS_READ)`` +
  ``numpy.frombuffer(m, uint8).sum()`` + close (both MAP_SHARED, PROT_READ).
  The map, the page faults, the sum and the unmap are all inside the clock.
* loop: ``mmkit.map_anon(4096)`` + ``r.close()`` against ``mmap.mmap(-1, 4096)``
  + ``m.close()``, in batches; and like for like, both ``MAP_SHARED`` and both
  ``MAP_PRIVATE`` (target <= 1.5 each).
* find (issue 18): ``mmkit.mmap.mmap(...).find(needle)`` of an 8-byte needle that
  is not there, over the first 64 MiB of FILE256M, against the standard
  ``mmap.find`` (both ACCESS_READ); ``Region.find`` alongside.  Target <= 1.5.
* readline (issue 18): ``mmkit.mmap`` ``readline()`` through a 64 MiB text file
  (made beside FILE256M) against the standard module's.  Target <= 3.

Figure 8 (issue 17): the copies of a guarded region (``mmkit.map_file(path)``,
``MM_GUARD`` by default: a direct copy of the memory without a lock, then one load
of the region's loss count, ``mm_lost_counter``)
against the standard module's on the same resident file (both MAP_SHARED,
PROT_READ): ``r[i]`` vs ``m[i]`` (target <= 6), ``r[a:b]`` of 64 bytes (<= 4)
and of 64 KiB (<= 1.3) vs ``m[a:b]``, ``r.read(off, 4096)`` vs
``m[off:off + 4096]`` (<= 2), each a batch of BENCH_BATCH_PYGUARD (2000)
calls at offsets moving through the file; rounds BENCH_ROUNDS_PYGUARD (31).

Each round runs mmkit, mmap, mmap, mmkit (ABBA) and gives the ratio of the
two sums of times; report.py takes the median over rounds. Rounds:
BENCH_ROUNDS_PYSUM (25), BENCH_ROUNDS_PYLOOP (51), BENCH_ROUNDS_PYFIND (15),
BENCH_ROUNDS_PYLINE (5); batch: BENCH_BATCH_PYLOOP (500).

Needs MMKIT_LIBRARY and PYTHONPATH=<repo>/python (bench/run.sh sets both).
"""

import mmap
import os
import sys
import time

import numpy as np

import mmkit
import mmkit.mmap as kmmap


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


FIND_SPAN = 64 << 20


def open_both(path, length):
    with open(path, "rb") as f:
        return (kmmap.mmap(f.fileno(), length, access=kmmap.ACCESS_READ),
                mmap.mmap(f.fileno(), length, access=mmap.ACCESS_READ))


def missing_needle(m):
    """An 8-byte needle that is not in ``m``."""
    for seed in range(1000):
        needle = bytes((seed * 37 + i * 101) % 256 for i in range(8))
        if m.find(needle) == -1:
            return needle
    raise RuntimeError("no missing needle found")


def text_file(directory, size=64 << 20):
    """A text file of ``size`` bytes: lines of 1 to 20 short words."""
    path = os.path.join(directory, "text64.txt")
    rnd = __import__("random").Random(18)
    words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 10)))
             for _ in range(5000)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 20))) + b"\n"
    with open(path, "wb") as f:
        f.write(out[:size])
    return path


def all_lines(m):
    m.seek(0)
    readline = m.readline
    n = 0
    while readline():
        n += 1
    return n


def bench_find_and_readline(path):
    km, sm = open_both(path, FIND_SPAN)
    region = mmkit.map_file(path, 0, FIND_SPAN)
    needle = missing_needle(sm)
    if km.find(needle) != -1 or region.find(needle) != -1:
        raise RuntimeError("mmkit found a needle the mmap module did not")
    rounds = env_num("BENCH_ROUNDS_PYFIND", 15)
    ratios, tk, ts = duel(rounds, lambda: km.find(needle), lambda: sm.find(needle))
    row("Python mmkit.mmap find, missing 8-byte needle, 64 MiB file vs mmap.find", "<=1.5",
        ratios)
    ratios, tr, _ = duel(rounds, lambda: region.find(needle), lambda: sm.find(needle))
    row("Python Region.find, the same vs mmap.find", "-", ratios)
    print("INFO\tfigure 6: find over 64 MiB: mmkit.mmap %.1f ms, Region %.1f ms, mmap module "
          "%.1f ms (medians; mmkit searches the guarded memory in place with libc memmem, "
          "then asks mm_check)"
          % (tk * 1e3, tr * 1e3, ts * 1e3))
    for m in (km, sm, region):
        m.close()

    text = text_file(os.path.dirname(os.path.abspath(path)))
    km, sm = open_both(text, 0)
    lines = all_lines(sm)
    if all_lines(km) != lines:
        raise RuntimeError("mmkit.mmap read another number of lines")
    ratios, tk, ts = duel(env_num("BENCH_ROUNDS_PYLINE", 5), lambda: all_lines(km),
                          lambda: all_lines(sm), warm=0)
    row("Python mmkit.mmap readline through a 64 MiB text file vs mmap.readline", "<=3",
        ratios)
    print("INFO\tfigure 6: readline: %d lines; mmkit.mmap %.0f ns, mmap module %.0f ns per "
          "line (medians; mmkit's copies a 256-byte window of the memory a line, then "
          "reads the loss count)"
          % (lines, tk / lines * 1e9, ts / lines * 1e9))
    for m in (km, sm):
        m.close()
    os.unlink(text)


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


def row(what, target, ratios, kind="time", figure=6):
    print("ROW\t%d\t%s\t%s\t%s\t%s" % (figure, what, kind, target,
                                        ",".join("%.6f" % x for x in ratios)))


def bench_guard(path):
    """Figure 8: a guarded region's copies vs the standard module's, same file."""
    batch = env_num("BENCH_BATCH_PYGUARD", 2000)
    rounds = env_num("BENCH_ROUNDS_PYGUARD", 31)
    r = mmkit.map_file(path)
    if not r.guarded:
        print("bench_py: the loaded library does not guard (no mm_check)", file=sys.stderr)
        return 1
    f = open(path, "rb")
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    size = len(r)
    for k in (1, 64, 65536, 4096):
        offs = [(i * 4099) % (size - k) for i in range(batch)]  # through the file, not aligned
        assert r[offs[1]:offs[1] + k] == m[offs[1]:offs[1] + k]
        if k == 1:
            def a(): [r[o] for o in offs]
            def b(): [m[o] for o in offs]
            what, target = "Python guarded r[i] vs mmap module m[i]", "<=6"
        elif k == 4096:
            def a(): [r.read(o, 4096) for o in offs]
            def b(): [m[o:o + 4096] for o in offs]
            what, target = "Python guarded r.read(off, 4096) vs mmap module m[off:off+4096]", "<=2"
        else:
            def a(): [r[o:o + k] for o in offs]
            def b(): [m[o:o + k] for o in offs]
            what = "Python guarded r[a:b] %s vs mmap module m[a:b]" % (
                "64 B" if k == 64 else "64 KiB")
            target = "<=4" if k == 64 else "<=1.3"
        ratios, ta, tb = duel(rounds, a, b)
        row(what, target, ratios, figure=8)
        print("INFO\tfigure 8: %s: mmkit %.0f ns, mmap module %.0f ns per call (medians)"
              % (what, ta / batch * 1e9, tb / batch * 1e9))
    m.close()
    f.close()
    r.close()
    return 0


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
    if len(argv) > 2 and argv[1] == "--guard":
        return bench_guard(argv[2])
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
        "<=1.5", ratios)
    ratios, tm2, tp2 = duel(rounds, lambda: loop_mmkit(batch), lambda: loop_mmap_private(batch))
    row("Python map_anon(4096)+close vs mmap.mmap(-1, 4096, flags=MAP_PRIVATE)+close "
        "(both MAP_PRIVATE)", "<=1.5", ratios)
    print("INFO\tfigure 6: like for like: MAP_SHARED mmkit %.2f us vs mmap %.2f us; MAP_PRIVATE "
          "mmkit %.2f us vs mmap %.2f us per iteration (medians)"
          % (tm / batch * 1e6, tp / batch * 1e6, tm2 / batch * 1e6, tp2 / batch * 1e6))
    sys.stdout.flush()
    bench_find_and_readline(path)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
