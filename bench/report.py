#!/usr/bin/env python3
"""Turn the harnesses' ROW/INFO lines into the benchmark table (stdlib only).

    python3 bench/report.py RESULTS_FILE [--markdown]

ROW<TAB><figure><TAB><what vs peer><TAB><kind><TAB><target><TAB><ratio>,<ratio>,...
    kind   "time": per-round mmkit time / peer time (lower is better)
           "speedup": per-round peer time / variant time (higher is better)
           "aa": an A/A control (the peer timed against itself); its noise,
                 max(|median - 1|, half its 95% band), is the noise band of
                 the "<=X~" targets of the same figure
    target "<=X": met when the median ratio is at most X;
           "<=X~": at most X within the noise band: "yes" when the median is
                   at most X, "yes (noise)" when it is above X but X lies
                   inside the median's own 95% band or the median is at most
                   X + the figure's A/A noise; "-": no target.
INFO<TAB><text>  printed under the table.

For each row: the median of the per-round ratios and a distribution-free 95%
confidence band for that median (order statistics n/2 -+ 0.98*sqrt(n)).
"""

import math
import sys


def median_band(xs):
    s = sorted(xs)
    n = len(s)
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    half = 0.98 * math.sqrt(n)
    lo = max(0, int(math.floor(n / 2 - half)))
    hi = min(n - 1, int(math.ceil(n / 2 + half)) - 1)
    return med, s[lo], s[hi]


def verdict(med, lo, target, noise):
    if target in ("", "-"):
        return "-"
    within_noise = target.endswith("~")
    limit = float(target.rstrip("~").lstrip("<="))
    if med <= limit:
        return "yes"
    if within_noise and (lo <= limit or med <= limit + noise):
        return "yes (noise)"
    return "MISSED"


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    markdown = "--markdown" in argv
    rows, infos = [], []
    with open(argv[1]) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("ROW\t"):
                _, fig, what, kind, target, data = line.split("\t", 5)
                xs = [float(x) for x in data.split(",") if x]
                if not xs:
                    continue
                med, lo, hi = median_band(xs)
                rows.append((fig, what, kind, target, med, lo, hi, len(xs)))
            elif line.startswith("INFO\t"):
                infos.append(line[5:])

    noise = {}
    for fig, what, kind, target, med, lo, hi, n in rows:
        if kind == "aa":
            noise[fig] = max(noise.get(fig, 0.0), abs(med - 1), (hi - lo) / 2)

    table = []
    missed = []
    for fig, what, kind, target, med, lo, hi, n in rows:
        if kind == "speedup":
            ratio = "%.2fx speed-up [%.2f-%.2f]" % (med, lo, hi)
        else:
            ratio = "%.3f [%.3f-%.3f]" % (med, lo, hi)
        tgt = target.replace("<=", "<= ") if target != "-" else "-"
        if tgt.endswith("~"):
            tgt = tgt[:-1] + (" within noise (A/A +-%.1f%%)" % (100 * noise[fig]) if fig in noise
                              else " within noise")
        met = verdict(med, lo, target, noise.get(fig, 0.0))
        if met == "MISSED":
            missed.append("MISSED: figure %s: %s: median ratio %.3f > target %s"
                          % (fig, what, med, target.rstrip("~")))
        table.append((fig, what, ratio, str(n), tgt, met))

    head = ("figure", "peer", "ratio (median [95% band])", "rounds", "target", "met?")
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in table:
            print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    else:
        widths = [max(len(head[i]), *(len(r[i]) for r in table)) if table else len(head[i])
                  for i in range(len(head))]
        fmt = " | ".join("%%-%ds" % w for w in widths)
        print(fmt % head)
        print("-+-".join("-" * w for w in widths))
        for r in table:
            print(fmt % r)
    print()
    print("ratio: mmkit time / peer time per interleaved round, median over rounds (lower is "
          "better);")
    print("       'speed-up' rows: raw fault-in time / variant time (higher is better).")
    print("[band]: distribution-free 95% confidence band of the median. A/A rows time the peer")
    print("        against itself: their spread is the noise of that figure.")
    if infos:
        print()
        for i in infos:
            print(("    " if markdown else "") + i)
    print()
    if missed:
        for m in missed:
            print(m)
    else:
        print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
