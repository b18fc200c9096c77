#!/usr/bin/env python3
"""Interleaved rounds of several builds of the async bench: per build,
library and n, the median ns per span (wall time of an iteration, and the
process's CPU time when the run printed it, in all and by thread role),
each run's osprey / fastrace
ratio (median and range over the rounds, both libraries measured in the
same process minutes apart), that ratio net of the bare runtime, and each
build's osprey against the first build's in the same round.

The input is the concatenated output of the runs, each headed
`=== round R bin LABEL ...` (benches/scripts/async_ab.sh writes it):

    python3 benches/scripts/async_ab.py benches/results/async_ab-2026-12-06.txt

Runs from before the bench flushed per iteration print no
`rounds per iteration` line: one round each.
"""
import statistics
import sys

from async_table import rounds, spans
from compare_table import parse

LIBS = ["bare", "osprey", "fastrace"]
# Printed too when present (ALL=1 runs), not in the ratios.
MORE = ["osprey_layer", "tracing_otel"]
# CPU time lines: the whole process's, and by thread role.
METRICS = {"cpu": "cpu", "workers cpu": "workers", "main cpu": "main",
           "background cpu": "background"}


def run_of(lines):
    """{(metric, lib, n): ns per span} of one run's output."""
    per_iteration = rounds(lines)
    cpu = {}
    for line in lines:
        head, _, rest = line.partition(" ns per span:")
        if rest and head in METRICS:
            lib, n, value = rest.split()
            cpu[(METRICS[head], lib, n)] = float(value)
    wall = {("wall",) + tuple(p[1:]): m / (spans(int(p[2])) * per_iteration)
            for p, m in parse(lines) if len(p) == 3}
    return wall | cpu


def runs_of(path):
    """[(label, run)] in file order."""
    runs, label, lines = [], None, []
    for line in open(path, encoding="utf-8").read().splitlines() + ["=== end"]:
        if line.startswith("=== "):
            if label:
                runs.append((label, run_of(lines)))
            words = line.split()
            label = words[4] if len(words) > 4 and words[3] == "bin" else None
            lines = []
        else:
            lines.append(line)
    return runs


def cell(values):
    values = sorted(values)
    if not values:
        return "–"
    return f"{statistics.median(values):.2f} [{values[0]:.2f}–{values[-1]:.2f}]"


def tables(metric, title, runs, labels, ns, rounds):
    mine = lambda label: [r for lab, r in runs if lab == label]
    key = lambda lib, n: (metric, lib, str(n))
    if not any(key("osprey", n) in r for _, r in runs for n in ns):
        return
    print(f"\n## {title}\n\nMedian ns per span over interleaved rounds.\n")
    print("| build | library | runs | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---|---|---:" + "|---:" * len(ns) + "|")
    for label in labels:
        for lib in LIBS + [m for m in MORE if any(key(m, n) in r for r in mine(label) for n in ns)]:
            cells = []
            for n in ns:
                vals = [r[key(lib, n)] for r in mine(label) if key(lib, n) in r]
                cells.append(f"{statistics.median(vals):.0f}" if vals else "–")
            print(f"| {label} | {lib} | {len(mine(label))} | " + " | ".join(cells) + " |")
    print("\nosprey / fastrace per run: median [min–max]\n")
    print("| build | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---" + "|---:" * len(ns) + "|")
    for label in labels:
        cells = [cell(r[key("osprey", n)] / r[key("fastrace", n)] for r in mine(label)
                      if key("osprey", n) in r and key("fastrace", n) in r) for n in ns]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nEach library's own cost, net of the runtime (`bare` of the same run):"
          " (osprey − bare) / (fastrace − bare) per run, median [min–max]\n")
    print("| build | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---" + "|---:" * len(ns) + "|")
    for label in labels:
        cells = [cell((r[key("osprey", n)] - r[key("bare", n)])
                      / (r[key("fastrace", n)] - r[key("bare", n)])
                      for r in mine(label) if all(key(lib, n) in r for lib in LIBS))
                 for n in ns]
        print(f"| {label} | " + " | ".join(cells) + " |")
    if len(labels) < 2:
        return
    print(f"\nosprey, each build / {labels[0]} in the same round (paired): median [min–max]\n")
    print("| build | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---" + "|---:" * len(ns) + "|")
    for label in labels[1:]:
        cells = []
        for n in ns:
            k = key("osprey", n)
            cells.append(cell(rs[label][k] / rs[labels[0]][k] for rs in rounds.values()
                              if label in rs and labels[0] in rs
                              and k in rs[label] and k in rs[labels[0]]))
        print(f"| {label} | " + " | ".join(cells) + " |")


def round_no(path, label, rounds):
    """The first round of `path` that has no run of `label` yet."""
    i = 0
    while label in rounds.get((path, i), {}):
        i += 1
    return i


def main():
    runs, rounds = [], {}
    for path in sys.argv[1:]:
        for label, r in runs_of(path):
            runs.append((label, r))
            rounds.setdefault((path, round_no(path, label, rounds)), {})[label] = r
    labels = list(dict.fromkeys(label for label, _ in runs))
    ns = sorted({int(k[2]) for _, r in runs for k in r})
    print(f"{len(runs)} runs.")
    tables("wall", "Wall time", runs, labels, ns, rounds)
    tables("cpu", "CPU time of the whole process", runs, labels, ns, rounds)
    tables("workers", "CPU time of the runtime's worker threads", runs, labels, ns, rounds)
    tables("background", "CPU time of the library's own threads"
           " (the process's threads other than the workers and main)",
           runs, labels, ns, rounds)


if __name__ == "__main__":
    main()
