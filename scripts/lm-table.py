#!/usr/bin/env python3
"""Tables of docs/results.md section 8 from the runs of scripts/lm-table.sh.

Usage: scripts/lm-table.py OUT_DIR
"""
import json
import os
import sys


def load(out, name):
    p = os.path.join(out, name, "summary.json")
    if not os.path.exists(p):
        return None
    return json.load(open(p))


def e(v):
    return "n/a" if v is None else f"{v:.2e}"


def regression(out):
    print("| seed | method | iterations | train MSE | test MSE | f32 test MSE | \\|W_L\\|² | test MSE ratio ls-adam-lbfgs / method |")
    print("|---|---|---|---|---|---|---|---|")
    met = {"lm": 0, "varpro": 0}
    for s in range(5):
        base = load(out, f"sin-ls-adam-lbfgs-s{s}")
        for m in ["ls-adam-lbfgs", "lm", "varpro", "varpro-ridge0"]:
            r = load(out, f"sin-{m}-s{s}")
            if r is None:
                continue
            d = r["diagnostics"]
            ratio = base["test_mse"] / r["test_mse"] if base else float("nan")
            print(
                f"| {s} | {m} | {r['iterations']} | {e(r['train_mse'])} | {e(r['test_mse'])} | "
                f"{e(d['test_mse_f32'])} | {e(d['output_weight_norm_sq'])} | {ratio:.3g} |"
            )
            if m in met:
                ok = (
                    r["train_mse"] <= 1e-14
                    and ratio >= 100
                    and d["test_mse_f32"] <= 10 * r["test_mse"]
                )
                met[m] += ok
    for m, k in met.items():
        print(f"\n{m}: train MSE <= 1e-14, test MSE >= 100x below ls-adam-lbfgs and f32 within 10x on {k} of 5 seeds")


def pinn(out):
    print("| problem | method | iterations | rel L2 | rel L2 in f32 | PDE loss | BC loss | \\|W_L\\|² |")
    print("|---|---|---|---|---|---|---|---|")
    for p in ["t1", "inflow", "b10", "b10grid"]:
        for m in ["lm", "engd", "varpro", "ls-adam-lbfgs"]:
            r = load(out, f"pinn-{p}-{m}")
            if r is None:
                continue
            print(
                f"| {p} | {m} | {r['iterations']} | {e(r['rel_l2'])} | {e(r['rel_l2_f32'])} | "
                f"{e(r['pde_loss'])} | {e(r['bc_loss'])} | {e(r['diagnostics']['output_weight_norm_sq'])} |"
            )


if __name__ == "__main__":
    out = sys.argv[1]
    regression(out)
    print()
    pinn(out)
