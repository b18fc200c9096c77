#!/usr/bin/env python3
"""Turns `cargo bench --bench async_compare` output into a markdown table of
median ns per span, raw and net of the bare runtime's cost, with the
osprey / fastrace ratios.

    cargo bench -p osprey-benches --bench async_compare | tee async_compare.txt
    python3 benches/scripts/async_table.py async_compare.txt [more runs...]

With several files, each cell is the median of the runs' medians.
"""
import statistics
import sys

from compare_table import parse

TASKS = 4


def spans(n):
    """Spans per round of the four tasks."""
    return TASKS * max(1000 // TASKS // (n + 1), 1) * (n + 1)


def rounds(lines):
    """Rounds per iteration the run printed (runs from before the bench
    flushed per iteration print none: one)."""
    for line in lines:
        if line.startswith("rounds per iteration:"):
            return int(line.split(":")[1])
    return 1


def main():
    runs = []
    for name in sys.argv[1:]:
        text = open(name, encoding="utf-8").read().splitlines()
        r = rounds(text)
        runs.append({tuple(path[1:]): median / r for path, median in parse(text)})
    libs = ["bare", "osprey", "osprey_layer", "fastrace", "tracing_otel"]
    ns = sorted({int(k[1]) for rows in runs for k in rows if len(k) == 2})
    per = {}
    for lib in libs:
        for n in ns:
            vals = [rows[(lib, str(n))] / spans(n) for rows in runs if (lib, str(n)) in rows]
            if vals:
                per[(lib, n)] = statistics.median(vals)
    print(f"Median ns per span (root + n awaited children, 2 workers; {len(runs)} runs); "
          "lower is better.\n")
    print("| library | " + " | ".join(f"n={n} raw | n={n} net" for n in ns) + " |")
    print("|---" + "|---:|---:" * len(ns) + "|")
    for lib in libs:
        cells = []
        for n in ns:
            v, b = per.get((lib, n)), per.get(("bare", n))
            cells.append("–" if v is None else f"{v:.0f}")
            cells.append("–" if v is None or b is None or lib == "bare" else f"{v - b:.0f}")
        print(f"| {lib} | " + " | ".join(cells) + " |")
    for mine in ["osprey", "osprey_layer"]:
        cells = []
        for n in ns:
            o, f, b = per.get((mine, n)), per.get(("fastrace", n)), per.get(("bare", n))
            cells.append("–" if not o or not f else f"{o / f:.2f}")
            cells.append("–" if not o or not f or b is None else f"{(o - b) / (f - b):.2f}")
        print(f"| **{mine} / fastrace** | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
