#!/usr/bin/env python3
"""Turns `cargo bench --bench compare` output (divan's tree) into a markdown
table of median ns per span, with the osprey/fastrace ratio.

    cargo bench -p osprey-benches --bench compare | tee compare.txt
    python3 benches/scripts/compare_table.py compare.txt
"""
import re
import sys

UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
TIME = r"([\d.]+)\s*(ps|ns|µs|us|ms|s)\b"


def parse(lines):
    """Yields (path, median_ns) for every leaf row of divan's tree."""
    path = []
    for line in lines:
        m = re.match(r"^([│ ├╰─]*)([^\s│├╰─].*)$", line.rstrip("\n"))
        if not m or "│" not in m.group(2) and not m.group(1):
            continue
        depth = len(m.group(1)) // 3
        rest = m.group(2)
        name = re.split(r"\s{2,}|\s+│", rest, maxsplit=1)[0].strip()
        if not name or re.match(TIME, name):
            continue  # a throughput line
        path = path[:depth] + [name]
        cols = [c.strip() for c in rest[len(name):].split("│")]
        if len(cols) >= 3:
            t = re.match(TIME, cols[2])
            if t:
                yield list(path), float(t.group(1)) * UNITS[t.group(2)]


def main():
    text = open(sys.argv[1], encoding="utf-8").read().splitlines()
    rows = {}
    for path, median in parse(text):
        rows[tuple(path[1:])] = median  # drop the "compare" root
    libs = ["osprey", "fastrace", "otel_sdk", "tracing_otel", "tracing_registry"]
    ns = ["1", "10", "100", "1000"]
    threads = ["t=1", "t=2"]
    print("Median ns per span (transactions of a root + n children); lower is better.\n")
    head = "| library | " + " | ".join(f"n={n} {t}" for n in ns for t in threads) + " |"
    print(head)
    print("|---" + "|---:" * (len(ns) * len(threads)) + "|")
    for lib in libs:
        cells = []
        for n in ns:
            for t in threads:
                v = rows.get((lib, n, t))
                spans = max(1000 // (int(n) + 1), 1) * (int(n) + 1)
                cells.append("–" if v is None else f"{v / spans:.1f}")
        print(f"| {lib} | " + " | ".join(cells) + " |")
    cells = []
    for n in ns:
        for t in threads:
            o, f = rows.get(("osprey", n, t)), rows.get(("fastrace", n, t))
            cells.append("–" if not o or not f else f"{o / f:.2f}")
    print("| **osprey / fastrace** | " + " | ".join(cells) + " |")
    print("\nClock floor: two reads per span (median ns per pair).\n")
    print("| clock | t=1 | t=2 |")
    print("|---|---:|---:|")
    for clock in ["rdtsc", "quanta", "std_instant"]:
        cells = [rows.get(("clock_pair", clock, t)) for t in threads]
        print(f"| {clock} | " + " | ".join("–" if v is None else f"{v:.1f}" for v in cells) + " |")


if __name__ == "__main__":
    main()
