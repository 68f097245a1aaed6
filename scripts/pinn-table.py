#!/usr/bin/env python3
"""Summarise the run folders of scripts/pinn-table.sh as markdown (stdlib only).

Usage: scripts/pinn-table.py OUT_DIR [wall]
Prints, per run group (name without -sSEED), the rel L2 of every seed, the median
CPU seconds of the whole process (NAME.time, user + sys) and the median wall
seconds of training, the f32 rel L2 (worst seed), max |W_L|_F^2, the derivative gap
(PM/SAPM) and, for methods other than ls-adam-lbfgs, the rel L2 that Adam -> L-BFGS
had reached after the same CPU time (same problem, depth and seed; the baseline's
history seconds are scaled by its CPU/wall ratio, i.e. contention is assumed even).
With `wall`, the comparison uses training wall seconds (summary `seconds` against the
baseline's history seconds, metric evaluation excluded): the fair clock on an idle
machine. CPU seconds include metric evaluation, which the PM/SAPM configs do 5x as
often as the baselines (record_every 10 vs 50), so the CPU comparison favours the baseline.
"""
import csv, json, os, re, sys
from collections import defaultdict

root = sys.argv[1]
use_wall = len(sys.argv) > 2 and sys.argv[2] == "wall"
runs = {}
for name in sorted(os.listdir(root)):
    p = os.path.join(root, name, "summary.json")
    if not os.path.isfile(p):
        continue
    s = json.load(open(p))
    h = list(csv.DictReader(open(os.path.join(root, name, "history.csv"))))
    cpu = float("nan")
    tp = os.path.join(root, name + ".time")
    if os.path.isfile(tp):
        u = open(tp).read().split()
        try:
            cpu = float(u[-2]) + float(u[-1])
        except (ValueError, IndexError):
            pass
    runs[name] = (s, h, cpu)

def at_cpu(run, t):
    """rel_l2 of the last recorded row whose CPU-scaled seconds are <= t."""
    s, hist, cpu = run
    k = cpu / s["seconds"] if s["seconds"] > 0 and cpu == cpu and not use_wall else 1.0
    best = None
    for r in hist:
        if float(r["seconds"]) * k <= t:
            best = float(r["rel_l2"])
    return best

groups = defaultdict(list)
for name in runs:
    m = re.match(r"(.*)-s(\d+)$", name)
    if m:
        groups[m.group(1)].append((int(m.group(2)), name))

def fmt(x):
    return "-" if x is None else f"{x:.2e}"

print("| run | rel L2 (seeds 0, 1, 2) | CPU s / wall s (median) | iters | rel L2 f32 (max) | max |W_L|^2 | deriv. gap (max) | Adam->L-BFGS at same " + ("wall" if use_wall else "CPU") + " s |")
print("|---|---|---|---|---|---|---|---|")
for g in sorted(groups):
    items = sorted(groups[g])
    rel, secs, cpus, f32, wl, gap, base, its = [], [], [], [], [], [], [], []
    for seed, name in items:
        s, h, cpu = runs[name]
        cpus.append(cpu)
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
                base.append(at_cpu(runs[bname], s["seconds"] if use_wall else cpu))
    secs_sorted = sorted(secs)
    cpus_sorted = sorted(cpus)
    print(f"| {g} | {', '.join(fmt(r) for r in rel)} | {cpus_sorted[len(cpus)//2]:.0f} / {secs_sorted[len(secs)//2]:.0f} | {max(its)} | {fmt(max(f32))} | "
          f"{max(wl):.1e} | {fmt(max(gap)) if gap else '-'} | {', '.join(fmt(b) for b in base) if base else '-'} |")
