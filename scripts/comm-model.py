#!/usr/bin/env python3
"""Communication model of data-parallel training (docs/distributed.md).

Per iteration and rank: the numbers each method sums over ranks, the
latency-bound rounds (collectives), and the time of both against the
compute of one rank, for K = 1 .. 1024 ranks with N_RANK samples per rank
(weak scaling). Three reductions: the deterministic recursive doubling that
sapm uses (src/linalg/reduce_tree.rs: ceil(log2 K) exchanges of the whole
buffer, plus a fold and an unfold when K is not a power of two), the
deterministic all-gather in rank order it used before (every rank receives
K - 1 copies), and a plain ring MPI_Allreduce (2 (K-1)/K copies, order not
fixed).

Usage: python3 scripts/comm-model.py [--width 64] [--depth 10] [--n-rank 100000]
       [--sapm-ns 14490] [--grad-ns 5908] [--lm-ns 1.1e8]
The *-ns figures are compute per sample and iteration on one core
(nanoseconds): sapm and ls-adam measured here (docs/distributed.md, CPU time
per iteration at N = 1e5, width 64, depth 10, divided by N); lm primal from
its P^2 flops per sample (J^T J) at 10 GFLOP/s.
"""
import argparse
import math

NETS = {
    "InfiniBand (2 us, 10 GB/s)": (2e-6, 10e9),
    "10 GbE (25 us, 1.25 GB/s)": (25e-6, 1.25e9),
}


def sizes(width, depth, d=1, m=1):
    w = [d] + [width] * (depth - 1) + [m]
    p = sum((w[l] + 1) * w[l + 1] for l in range(depth))
    gram = sum((w[l] + 1) * (w[l] + 2) // 2 + (w[l] + 1) * w[l + 1] for l in range(depth))
    return p, gram


def methods(width, depth, aux_steps=1, trials=1):
    p, gram = sizes(width, depth)
    # (numbers per iteration, rounds per iteration)
    return {
        "ls-adam / ls-gd": (p + 1, 1),
        # about 1.2 function evaluations per iteration with the More-Thuente search
        "ls-lbfgs": (1.2 * (p + 1), 1.2),
        # Gram pack + per aux step: 3 L sums for the direction, L per Armijo trial
        "sapm / pm": (gram + aux_steps * (3 * depth + trials * depth) + 2, 1 + aux_steps * (1 + trials)),
        # primal normal equations (packed triangle) and J^T r, then a scalar per trial
        "lm (primal, model)": (p * (p + 1) / 2 + p + trials, 1 + trials),
    }, p, gram


def comm_seconds(numbers, rounds, k, alpha, beta, kind):
    if k == 1:
        return 0.0
    steps = math.ceil(math.log2(k))
    if kind == "tree":
        p = 1 << (k.bit_length() - 1)
        steps = int(math.log2(p)) + (2 if k > p else 0)
        copies = steps
    elif kind == "gather":
        copies = k - 1
    else:
        copies = 2 * (k - 1) / k
    return rounds * alpha * steps + copies * 8 * numbers / beta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--n-rank", type=float, nargs="+", default=[1e5, 1e3])
    ap.add_argument("--sapm-ns", type=float, default=14490.0)
    ap.add_argument("--grad-ns", type=float, default=5908.0)
    ap.add_argument("--lm-ns", type=float, default=1.1e8)
    a = ap.parse_args()
    ms, p, gram = methods(a.width, a.depth)
    ns = {"ls-adam / ls-gd": a.grad_ns, "ls-lbfgs": 1.2 * a.grad_ns, "sapm / pm": a.sapm_ns, "lm (primal, model)": a.lm_ns}
    print(f"width {a.width}, depth {a.depth}: P = {p} parameters, SAPM Gram pack = {gram} numbers\n")
    print("| method | numbers / iter | bytes / iter | rounds / iter | compute / sample / iter |")
    print("|---|---|---|---|---|")
    for name, (num, rounds) in ms.items():
        print(f"| {name} | {num:,.0f} | {8 * num / 1e6:.3g} MB | {rounds:g} | {ns[name] / 1e3:.3g} us |")
    ks = [2, 8, 64, 256, 1024]
    for net, (alpha, beta) in NETS.items():
        print(f"\n{net}: parallel efficiency compute / (compute + communication) per "
              "iteration, weak scaling; fixed-order tree (sapm's reducer) / all-gather in "
              "rank order (its reducer before) / plain MPI_Allreduce\n")
        print("| method | samples / rank | " + " | ".join(f"K = {k}" for k in ks) + " |")
        print("|---|---|" + "---|" * len(ks))
        for n_rank in a.n_rank:
            for name, (num, rounds) in ms.items():
                comp = ns[name] * 1e-9 * n_rank
                cells = []
                for k in ks:
                    e = [comp / (comp + comm_seconds(num, rounds, k, alpha, beta, kind))
                         for kind in ("tree", "gather", "ring")]
                    cells.append(" / ".join(f"{v:.2f}" for v in e))
                print(f"| {name} | {n_rank:.0e} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
