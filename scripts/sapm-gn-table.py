#!/usr/bin/env python3
"""Table of docs/results.md section 9 from the runs of scripts/sapm-gn-table.sh.

Usage: scripts/sapm-gn-table.py OUT_DIR
"""
import json
import os
import statistics
import sys

METHODS = ["sapm-gn", "sapm-gn-warm", "sapm", "sapm-warm", "lm", "ls-adam-lbfgs"]


def load(out, name):
    p = os.path.join(out, name, "summary.json")
    return json.load(open(p)) if os.path.exists(p) else None


def e(v):
    return "n/a" if v is None else f"{v:.2e}"


def main(out):
    print("| seed | method | iterations | train MSE | test MSE | f32 test MSE | \\|W_L\\|² | J_SAPM | ls_over_aux (bound) |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = {m: [] for m in METHODS}
    for s in range(5):
        for m in METHODS:
            r = load(out, f"{m}-s{s}")
            if r is None:
                continue
            d = r["diagnostics"]
            rows[m].append(r)
            lo = d.get("ls_over_aux")
            bound = d.get("consistency_bound")
            ratio = "n/a" if lo is None else f"{lo:.3g} ({bound:.3g})"
            print(
                f"| {s} | {m} | {r['iterations']} | {e(r['train_mse'])} | {e(r['test_mse'])} | "
                f"{e(d['test_mse_f32'])} | {e(d['output_weight_norm_sq'])} | {e(r.get('aux_loss'))} | {ratio} |"
            )
    print()
    print("| method | median train MSE | median test MSE | median f32 test MSE | max \\|W_L\\|² | median iterations |")
    print("|---|---|---|---|---|---|")
    for m, rs in rows.items():
        if not rs:
            continue
        med = lambda f: statistics.median(f(r) for r in rs)
        print(
            f"| {m} | {e(med(lambda r: r['train_mse']))} | {e(med(lambda r: r['test_mse']))} | "
            f"{e(med(lambda r: r['diagnostics']['test_mse_f32']))} | "
            f"{e(max(r['diagnostics']['output_weight_norm_sq'] for r in rs))} | {med(lambda r: r['iterations']):.0f} |"
        )


if __name__ == "__main__":
    main(sys.argv[1])
