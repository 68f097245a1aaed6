#!/usr/bin/env python3
"""How far did a run move each layer, and how large are SAPM's omegas? (stdlib only)

Usage: scripts/pinn-ablation.py REFERENCE_RUN RUN [RUN ...]
REFERENCE_RUN is a run folder whose model.json is the starting point of the others
(e.g. the 2000-step Adam run that warm-started them, or a 1-step ls-adam run with
adam.lr=1e-300, which is the initial network). For each RUN prints, per layer,
|W_l - W_l^ref|_F / |W_l^ref|_F, and omega_l = prod_{j>l} |W_j|_F^2 of the final
weights (the SAPM weights of the hidden constraints), plus rel_l2 and |W_L|_F^2.
"""
import json, math, os, sys

def layers(run):
    m = json.load(open(os.path.join(run, "model.json")))
    return [l["weight"] for l in m["layers"]]

def fro2(w):
    return sum(v * v for row in w for v in row)

ref = layers(sys.argv[1])
for run in sys.argv[2:]:
    w = layers(run)
    s = json.load(open(os.path.join(run, "summary.json")))
    moves = []
    for a, b in zip(w, ref):
        d = sum((x - y) ** 2 for ra, rb in zip(a, b) for x, y in zip(ra, rb))
        moves.append(math.sqrt(d / fro2(b)))
    norms = [fro2(a) for a in w]
    omega = []
    for l in range(len(norms)):
        p = 1.0
        for j in range(l + 1, len(norms)):
            p *= norms[j]
        omega.append(p)
    print(f"{os.path.basename(run)}: rel_l2 {s.get('rel_l2'):.3e}, |W_L|^2 {norms[-1]:.2e}, "
          f"layer change {', '.join(f'{m:.1e}' for m in moves)}, "
          f"omega {', '.join(f'{o:.1e}' for o in omega[:-1])}")
