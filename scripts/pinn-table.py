#!/usr/bin/env python3
"""Summarise the run folders of scripts/pinn-table.sh as markdown (stdlib only).

Usage: scripts/pinn-table.py OUT_DIR
Prints, per run group (name without -sSEED), the rel L2 of every seed, the median
training seconds, the f32 rel L2 (worst seed), max |W_L|_F^2, the derivative gap
(PM/SAPM) and, for methods other than ls-adam-lbfgs, the rel L2 that Adam -> L-BFGS
had reached after the same number of seconds (same problem, depth and seed).
"""
import csv, json, os, re, sys
from collections import defaultdict

root = sys.argv[1]
runs = {}
for name in sorted(os.listdir(root)):
    p = os.path.join(root, name, "summary.json")
    if not os.path.isfile(p):
        continue
    s = json.load(open(p))
    h = list(csv.DictReader(open(os.path.join(root, name, "history.csv"))))
    runs[name] = (s, h)

def at_seconds(hist, t):
    """rel_l2 of the last recorded row with seconds <= t."""
    best = None
    for r in hist:
        if float(r["seconds"]) <= t:
            best = float(r["rel_l2"])
    return best

groups = defaultdict(list)
for name in runs:
    m = re.match(r"(.*)-s(\d+)$", name)
    if m:
        groups[m.group(1)].append((int(m.group(2)), name))

def fmt(x):
    return "-" if x is None else f"{x:.2e}"

print("| run | rel L2 (seeds 0, 1, 2) | s (median) | iters | rel L2 f32 (max) | max |W_L|^2 | deriv. gap (max) | Adam->L-BFGS at same s |")
print("|---|---|---|---|---|---|---|---|")
for g in sorted(groups):
    items = sorted(groups[g])
    rel, secs, f32, wl, gap, base, its = [], [], [], [], [], [], []
    for seed, name in items:
        s, h = runs[name]
        rel.append(s.get("rel_l2"))
        secs.append(s["seconds"])
        its.append(s["iterations"])
        f32.append(s.get("rel_l2_f32") or 0.0)
        wl.append(s["diagnostics"]["output_weight_norm_sq"])
        if s.get("derivative_gap") is not None:
            gap.append(s["derivative_gap"])
        if "ls-adam-lbfgs" not in g:
            bname = re.sub(r"-(ls-adam|pm|sapm-warm|sapm)$", "-ls-adam-lbfgs", g) + f"-s{seed}"
            if bname in runs and bname != name:
                base.append(at_seconds(runs[bname][1], s["seconds"]))
    secs_sorted = sorted(secs)
    print(f"| {g} | {', '.join(fmt(r) for r in rel)} | {secs_sorted[len(secs)//2]:.0f} | {max(its)} | {fmt(max(f32))} | "
          f"{max(wl):.1e} | {fmt(max(gap)) if gap else '-'} | {', '.join(fmt(b) for b in base) if base else '-'} |")
