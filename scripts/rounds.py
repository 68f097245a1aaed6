#!/usr/bin/env python3
"""Synchronisation rounds a data-parallel run would need to reach a train MSE (stdlib only).

Usage: scripts/rounds.py STUDY_DIR [TARGET ...]

Reads the runs of a `sapm study depth` folder and counts, per method, the global
reductions (all-reduce rounds) needed until the recorded train MSE first falls to each
target, under this model of a data-parallel run (samples split across workers):
- Adam / GD step: 1 round (the gradient sum).
- L-BFGS iteration: one round per loss+gradient evaluation (line-search trials); the
  evaluations per iteration are the run's average (summary `stats.evaluations`).
- PM/SAPM outer iteration (Jacobi auxiliary step): 1 round for all layers' Gram sums (or
  TSQR R factors; the auxiliaries do not change during the sweep, so all layers' data
  come from one pass and omega couples the solves only through scalars), 1 for the
  objective and the directional derivative of the auxiliary step, and 1 per line-search
  trial; the auxiliary updates themselves are per-sample. Warm-start Adam steps count 1 each.
  LOWER BOUND: summary.json does not record the line-search trials. Its
  `stats.aux_rejections` counts only auxiliary steps refused after all halvings, so the
  count below is 1 trial per step plus 1 per refused step (3 rounds per iteration at
  least), and every halving of an accepted step is left out, in PM/SAPM's favour.
- ELM: 1 round (the Gram sum of its one output-layer solve), judged on its final fit.
Histories are recorded every few iterations, so counts are resolved to that interval.
Prints the median rounds over all seeds (a seed that never reached the target counts as
infinitely many; "not reached" when that is the median) and how many seeds reached it.
"""
import csv, json, math, os, statistics, sys

root = sys.argv[1]
targets = [float(t) for t in sys.argv[2:]] or [1e-6, 1e-7, 1e-8]
rows = {}
for run in sorted(os.listdir(os.path.join(root, "runs"))):
    d = os.path.join(root, "runs", run)
    try:
        s = json.load(open(os.path.join(d, "summary.json")))
        hist = list(csv.DictReader(open(os.path.join(d, "history.csv"))))
    except OSError:
        continue
    cfg = s["config"]
    method = s["method"]
    depth = cfg["network"]["depth"]
    label = run.split("-", 2)[2].rsplit("-s", 1)[0]
    warm = cfg.get("sapm", {}).get("warm_start", 0) if method in ("sapm", "pm") else 0
    adam = cfg.get("adam_lbfgs", {}).get("adam_steps", 0) if method == "ls-adam-lbfgs" else 0
    iters, evals = s["iterations"], s["stats"]["evaluations"]
    if method == "ls-lbfgs":
        per = evals / max(iters, 1)
    elif method == "ls-adam-lbfgs":
        per = (evals - adam) / max(iters - adam, 1)
    # Lower bound: one trial per auxiliary step, plus one per step refused after
    # all halvings; the halvings of accepted steps are not recorded.
    trials = 1 + s["stats"]["aux_rejections"] / max(iters - warm, 1)

    def rounds(i):
        if method in ("ls-gd", "ls-adam"):
            return i
        if method == "ls-lbfgs":
            return i * per
        if method == "ls-adam-lbfgs":
            return i if i <= adam else adam + (i - adam) * per
        if method in ("sapm", "pm"):
            return i if i <= warm else warm + (i - warm) * (2 + trials)
        return None

    for t in targets:
        if method == "elm":  # one Gram sum for its single solve
            rows.setdefault((depth, label, t), []).append(1 if s["train_mse"] <= t else None)
            continue
        hit = next((int(h["iteration"]) for h in hist if float(h["train_mse"]) <= t), None)
        r = None if hit is None else rounds(hit)
        rows.setdefault((depth, label, t), []).append(r)

for depth in sorted({k[0] for k in rows}):
    print(f"\n**L = {depth}**: median rounds to reach a train MSE (seeds that reached it; pm/sapm: lower bounds)\n")
    print("| method | " + " | ".join(f"{t:g}" for t in targets) + " |")
    print("|---|" + "---|" * len(targets))
    for label in sorted({k[1] for k in rows if k[0] == depth}):
        cells = []
        for t in targets:
            rs = rows.get((depth, label, t), [])
            ok = [r for r in rs if r is not None]
            med = statistics.median([math.inf if r is None else r for r in rs])
            cells.append(f"{med:.3g} ({len(ok)}/{len(rs)})" if med < math.inf else f"not reached ({len(ok)}/{len(rs)})")
        print(f"| {label} | " + " | ".join(cells) + " |")
