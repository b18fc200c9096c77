#!/usr/bin/env python3
"""The soak's report (scripts/soak.sh): totals, a flatness check and ASCII plots.

Usage: soak_report.py SAMPLES.csv WRK.txt SERVER_TRANSACTIONS SERVER_BUDGET_KIB
Exits 1 when something grew or the server went past its memory budget.
"""
import csv, re, sys
rows = list(csv.DictReader(open(sys.argv[1])))
wrk = open(sys.argv[2]).read()
held, budget = int(sys.argv[3]), int(sys.argv[4])
requests = re.search(r"(\d+) requests in ([\d.]+)(\w+)", wrk)
rps = re.search(r"Requests/sec:\s*([\d.]+)", wrk)
p99 = re.search(r"99%\s+([\d.]+\w+)", wrk)
print(f"load: {requests.group(0) if requests else '?'}, {rps.group(1) if rps else '?'} req/s, p99 {p99.group(1) if p99 else '?'}")
print(f"server holds {held} transactions; server memory budget {budget} KiB")
cols = ["jvm_heap_live_kib", "jvm_rss_kib", "jvm_threads", "jvm_fds", "server_rss_kib", "server_threads", "server_fds"]
# The server keeps each sealed segment's index file open for queries (bounded
# by retention): its descriptors are checked net of the sealed segments.
if rows and "server_sealed" in rows[0]:
    for r in rows:
        r["server_fds_net"] = str(int(r["server_fds"]) - int(r["server_sealed"] or 0))
    cols.append("server_fds_net")
# Warm-up: the first quarter (at least one sample) is left out of the flatness check.
n = len(rows)
q = max(1, n // 4)
failed = []
print(f"\n{'metric':18} {'min':>9} {'max':>9} {'first q.':>9} {'last q.':>9}  growth")
for c in cols:
    v = [int(r[c] or 0) for r in rows]
    first = max(v[q:2 * q] or v)
    last = max(v[-q:])
    growth = (last - first) / first if first else 0.0
    # Flat: the last quarter's peak within 10 % (threads, fds: + 2) of the
    # second quarter's peak.
    slack = 2 if c.endswith(("threads", "fds")) else 0
    # The server's RSS grows with its hot segment's index until the segment
    # is sealed: it is held to its budget instead (below).
    net_checked = c == "server_fds" and "server_fds_net" in cols
    ok = c == "server_rss_kib" or net_checked or last <= first * 1.10 + slack
    print(f"{c:18} {min(v):9} {max(v):9} {first:9} {last:9}  {growth:+.1%}{'' if ok else '  GREW'}")
    if not ok:
        failed.append(c)
over = [int(r["server_rss_kib"]) for r in rows if int(r["server_rss_kib"]) > budget]
if over:
    failed.append(f"server RSS over budget ({max(over)} KiB)")
def plot(c, height=8, width=60):
    v = [int(r[c] or 0) for r in rows]
    if len(v) > width:
        step = len(v) / width
        v = [max(v[int(i * step):int((i + 1) * step)] or [0]) for i in range(width)]
    lo, hi = min(v), max(v)
    if hi == lo:
        # Constant: one row at the bottom.
        lo -= 1
    span = max(hi - lo, 1)
    print(f"\n{c} ({lo} .. {hi})")
    for level in range(height, 0, -1):
        cut = lo + span * (level - 0.5) / height
        print("  |" + "".join("#" if x >= cut else " " for x in v))
    print("  +" + "-" * len(v) + f"  {rows[-1]['t_s']} s")
for c in ["jvm_heap_live_kib", "jvm_rss_kib", "server_rss_kib", "jvm_threads", "jvm_fds"]:
    plot(c)
print("\nFLAT" if not failed else f"\nNOT FLAT: {failed}")
sys.exit(1 if failed else 0)
