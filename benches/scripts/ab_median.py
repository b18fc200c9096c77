#!/usr/bin/env python3
"""Median ns per span of osprey and fastrace over interleaved runs of two
builds of the compare bench (concatenated, each run headed `=== base run N`
or `=== branch run N`), and the branch / base ratio for osprey.

    python3 benches/scripts/ab_median.py benches/results/compare-ab-2026-12-06.txt
"""
import statistics
import sys

from compare_table import parse

NS = ["1", "10", "100", "1000"]
TS = ["t=1", "t=2"]
# Those present in the runs are shown.
LIBS = ["osprey", "fastrace", "tracing_otel", "tracing_registry", "otel_sdk"]


def spans(n):
    return max(1000 // (int(n) + 1), 1) * (int(n) + 1)


def main():
    runs = {"base": [], "branch": []}
    kind, lines = None, []
    for line in open(sys.argv[1], encoding="utf-8").read().splitlines() + ["=== end"]:
        if line.startswith("=== "):
            if kind:
                runs[kind].append({tuple(p[1:]): m for p, m in parse(lines)})
            kind, lines = (line.split()[1] if line != "=== end" else None), []
        else:
            lines.append(line)
    med = {}
    libs = [lib for lib in LIBS if any((lib, "1", "t=1") in r for rs in runs.values() for r in rs)]
    for kind, rs in runs.items():
        for lib in libs:
            for n in NS:
                for t in TS:
                    vals = [r[(lib, n, t)] / spans(n) for r in rs if (lib, n, t) in r]
                    med[(kind, lib, n, t)] = statistics.median(vals)
    cols = [(n, t) for n in NS for t in TS]
    print(f"Median over {len(runs['base'])} + {len(runs['branch'])} interleaved runs, ns per span.\n")
    print("| build | library | " + " | ".join(f"n={n} {t}" for n, t in cols) + " |")
    print("|---|---" + "|---:" * len(cols) + "|")
    for kind in ["base", "branch"]:
        for lib in libs:
            print(f"| {kind} | {lib} | " + " | ".join(f"{med[(kind, lib, n, t)]:.1f}" for n, t in cols) + " |")
        print(f"| {kind} | **osprey / fastrace** | " + " | ".join(
            f"{med[(kind, 'osprey', n, t)] / med[(kind, 'fastrace', n, t)]:.2f}" for n, t in cols) + " |")
    print("| | **osprey branch / base** | " + " | ".join(
        f"{med[('branch', 'osprey', n, t)] / med[('base', 'osprey', n, t)]:.2f}" for n, t in cols) + " |")
    print("\nosprey / fastrace per run (same process): median [min–max]\n")
    print("| build | " + " | ".join(f"n={n} {t}" for n, t in cols) + " |")
    print("|---" + "|---:" * len(cols) + "|")
    for kind, rs in runs.items():
        cells = []
        for n, t in cols:
            k = (n, t)
            rat = sorted(r[("osprey",) + k] / r[("fastrace",) + k]
                         for r in rs if ("osprey",) + k in r and ("fastrace",) + k in r)
            cells.append(f"{statistics.median(rat):.2f} [{rat[0]:.2f}–{rat[-1]:.2f}]")
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
