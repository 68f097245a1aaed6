#!/usr/bin/env python3
"""Markdown tables for docs/results.md from a study's cells.csv (stdlib only).

Usage: scripts/results-tables.py full STUDY_DIR      # one table per (variant, depth) cell
       scripts/results-tables.py depth STUDY_DIR     # test MSE by depth, one row per method
"""
import csv, sys

def g(x):
    v = float(x)
    if v != v:
        return "-"
    if v == 0:
        return "0"
    if 1e-2 <= abs(v) < 1e4:
        return f"{v:.3g}"
    return f"{v:.1e}"

def rng(c, k):
    return f"{g(c[k + '_median'])} [{g(c[k + '_min'])}, {g(c[k + '_max'])}]"

mode, root = sys.argv[1], sys.argv[2]
cells = list(csv.DictReader(open(f"{root}/cells.csv")))
if mode == "full":
    groups = {}
    for c in cells:
        groups.setdefault((c["variant"], c["depth"]), []).append(c)
    for (variant, depth), cs in groups.items():
        print(f"**L = {depth}** ({variant}, medians [min, max] over {cs[0]['n']} seeds)\n")
        print("| method | train MSE | test MSE | f32 test MSE | \\|W_L\\|² | fragile | failed | iterations |")
        print("|---|---|---|---|---|---|---|---|")
        for c in cs:
            print(f"| {c['label']} | {rng(c, 'train_mse')} | {rng(c, 'test_mse')} | "
                  f"{g(c['test_mse_f32_median'])} | {g(c['output_weight_norm_sq_median'])} | "
                  f"{c['fragile']}/{c['n']} | {c['failed']}/{c['n']} | {g(c['iterations_median'])} |")
        print()
elif mode == "depth":
    for variant in dict.fromkeys(c["variant"] for c in cells):
        cs = [c for c in cells if c["variant"] == variant]
        depths = list(dict.fromkeys(c["depth"] for c in cs))
        print(f"Median test MSE (f32 test MSE), failed / fragile out of {cs[0]['n']}; {variant}\n")
        print("| method | " + " | ".join(f"L = {d}" for d in depths) + " |")
        print("|---|" + "---|" * len(depths))
        for label in dict.fromkeys(c["label"] for c in cs):
            row = []
            for d in depths:
                c = next((c for c in cs if c["label"] == label and c["depth"] == d), None)
                row.append("" if c is None else
                           f"{g(c['test_mse_median'])} ({g(c['test_mse_f32_median'])}), {c['failed']}/{c['fragile']}")
            print(f"| {label} | " + " | ".join(row) + " |")
        print()
