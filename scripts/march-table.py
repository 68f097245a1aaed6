#!/usr/bin/env python3
"""Table of the time-marching runs of docs/pinn.md (section 7).

Usage: scripts/march-table.py RUNS_DIR [--windows]
Groups RUNS_DIR/t1d-b*-march-* by everything but the seed; prints rel L2 per
seed, the worst f32 rel L2, total iterations, median CPU seconds (RUNS_DIR/NAME.time)
and the per-window rel L2 (first window, worst window, last window; all with
--windows).
"""
import json
import re
import statistics
import sys
from pathlib import Path

root = Path(sys.argv[1])
all_windows = "--windows" in sys.argv
groups = {}
for d in sorted(root.iterdir()):
    m = re.fullmatch(r"(t1d-b\d+-march-.*)-s(\d+)", d.name)
    if not (d.is_dir() and m and (d / "summary.json").is_file()):
        continue
    s = json.loads((d / "summary.json").read_text())
    t = root / f"{d.name}.time"
    cpu = sum(map(float, t.read_text().split()[:2])) if t.is_file() else float("nan")
    groups.setdefault(m.group(1), []).append((int(m.group(2)), s, cpu))


def key(name):
    b = int(re.search(r"-b(\d+)-", name).group(1))
    k = re.search(r"-K(\d+)", name)
    return (b, int(k.group(1)) if k else 0, name)


print("| run | rel L2 (seeds) | rel L2 f32 (max) | iters | CPU s (median) | per-window rel L2: first, worst, last (seed 0) |")
print("|---|---|---|---|---|---|")
for name in sorted(groups, key=key):
    runs = sorted(groups[name], key=lambda r: r[0])
    rel = ", ".join(f"{s['rel_l2']:.2e}" for _, s, _ in runs)
    f32 = max(s["rel_l2_f32"] for _, s, _ in runs)
    iters = runs[0][1]["iterations"]
    cpu = statistics.median(c for _, _, c in runs)
    w = [x["rel_l2"] for x in runs[0][1].get("windows") or []]
    if not w:
        ws = "(one network)"
    elif all_windows:
        ws = " ".join(f"{x:.1e}" for x in w)
    else:
        ws = f"{w[0]:.1e}, {max(w):.1e} (window {w.index(max(w))}), {w[-1]:.1e}"
    print(f"| {name} | {rel} | {f32:.2e} | {iters} | {cpu:.0f} | {ws} |")
