#!/usr/bin/env python3
"""Table of the omega-continuation runs of scripts/omega-continuation.sh.

Usage: scripts/omega-continuation.py OUT_DIR
"""
import glob
import json
import os
import statistics
import sys

out = sys.argv[1]
runs = {}
for p in sorted(glob.glob(os.path.join(out, "*-s[0-9]*", "summary.json"))):
    label = os.path.basename(os.path.dirname(p)).rsplit("-s", 1)[0]
    runs.setdefault(label, []).append(json.load(open(p)))
print("| continuation | runs | iterations | train MSE median [min, max] | test MSE (f32) | J_LS / J_SAPM | fragile | |W_L|^2 [min, max] |")
print("|---|---|---|---|---|---|---|---|")
for label, rs in runs.items():
    med = lambda f: statistics.median(f(r) for r in rs)
    tr = [r["train_mse"] for r in rs]
    wl = [r["diagnostics"]["output_weight_norm_sq"] for r in rs]
    ratio = med(lambda r: r["diagnostics"]["ls_over_aux"])
    frag = sum(1 for r in rs if r["diagnostics"].get("fragile"))
    print(
        f"| {label} | {len(rs)} | {med(lambda r: r['iterations']):.0f} | {statistics.median(tr):.2e} "
        f"[{min(tr):.1e}, {max(tr):.1e}] | {med(lambda r: r['test_mse']):.2e} "
        f"({med(lambda r: r['diagnostics']['test_mse_f32']):.2e}) | {ratio:.2f} | {frag} | "
        f"{statistics.median(wl):.0f} [{min(wl):.0f}, {max(wl):.0f}] |"
    )
