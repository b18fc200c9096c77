#!/usr/bin/env python3
"""Interleaved rounds of several builds of the async bench: median ns per
span per build, library and n, and each run's osprey / fastrace ratio
(median and range over the rounds, both libraries measured in the same
process minutes apart).

The input is the concatenated output of the runs, each headed
`=== round R bin LABEL ...` (benches/scripts/async_ab.sh writes it):

    python3 benches/scripts/async_ab.py benches/results/async_ab-2026-12-06.txt
"""
import statistics
import sys

from async_table import spans
from compare_table import parse

LIBS = ["bare", "osprey", "fastrace"]


def runs_of(path):
    """[(label, {(lib, n): median ns per iteration})] in file order."""
    runs, label, lines = [], None, []
    for line in open(path, encoding="utf-8").read().splitlines() + ["=== end"]:
        if line.startswith("=== "):
            if label:
                runs.append((label, {tuple(p[1:]): m for p, m in parse(lines)}))
            words = line.split()
            label = words[4] if len(words) > 4 and words[3] == "bin" else None
            lines = []
        else:
            lines.append(line)
    return runs


def main():
    runs = []
    for path in sys.argv[1:]:
        runs += runs_of(path)
    labels = list(dict.fromkeys(label for label, _ in runs))
    ns = sorted({int(k[1]) for _, r in runs for k in r if len(k) == 2})
    print(f"Median ns per span over interleaved rounds ({len(runs)} runs).\n")
    print("| build | library | runs | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---|---|---:" + "|---:" * len(ns) + "|")
    for label in labels:
        mine = [r for lab, r in runs if lab == label]
        for lib in LIBS:
            cells = []
            for n in ns:
                vals = [r[(lib, str(n))] / spans(n) for r in mine if (lib, str(n)) in r]
                cells.append(f"{statistics.median(vals):.0f}" if vals else "–")
            print(f"| {label} | {lib} | {len(mine)} | " + " | ".join(cells) + " |")
    print("\nosprey / fastrace per run: median [min–max]\n")
    print("| build | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---" + "|---:" * len(ns) + "|")
    for label in labels:
        mine = [r for lab, r in runs if lab == label]
        cells = []
        for n in ns:
            k = str(n)
            ratios = sorted(r[("osprey", k)] / r[("fastrace", k)]
                            for r in mine if ("osprey", k) in r and ("fastrace", k) in r)
            if ratios:
                cells.append(f"{statistics.median(ratios):.2f} [{ratios[0]:.2f}–{ratios[-1]:.2f}]")
            else:
                cells.append("–")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nEach library's own cost, net of the runtime (`bare` of the same run):"
          " (osprey − bare) / (fastrace − bare) per run, median [min–max]\n")
    print("| build | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---" + "|---:" * len(ns) + "|")
    for label in labels:
        cells = []
        for n in ns:
            k = str(n)
            ratios = sorted((r[("osprey", k)] - r[("bare", k)]) / (r[("fastrace", k)] - r[("bare", k)])
                            for lab, r in runs
                            if lab == label and all((lib, k) in r for lib in LIBS))
            cells.append(f"{statistics.median(ratios):.2f} [{ratios[0]:.2f}–{ratios[-1]:.2f}]"
                         if ratios else "–")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\nosprey, each build / {labels[0]} in the same round (paired): median [min–max]\n")
    print("| build | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---" + "|---:" * len(ns) + "|")
    rounds = {}
    for path in sys.argv[1:]:
        for label, r in runs_of(path):
            rounds.setdefault((path, round_no(path, label, rounds)), {})[label] = r
    for label in labels[1:]:
        cells = []
        for n in ns:
            k = ("osprey", str(n))
            rat = sorted(rs[label][k] / rs[labels[0]][k] for rs in rounds.values()
                         if label in rs and labels[0] in rs and k in rs[label] and k in rs[labels[0]])
            cells.append(f"{statistics.median(rat):.2f} [{rat[0]:.2f}–{rat[-1]:.2f}]" if rat else "–")
        print(f"| {label} | " + " | ".join(cells) + " |")


def round_no(path, label, rounds):
    """The first round of `path` that has no run of `label` yet."""
    i = 0
    while label in rounds.get((path, i), {}):
        i += 1
    return i


if __name__ == "__main__":
    main()
