#!/usr/bin/env python3
"""Python overhead of `sapm.Regressor.fit` against `sapm train` on the same
config and data (docs/python.md, "Measured").

    python scripts/py-overhead.py [--bin target/release/sapm] [--n 1000] [--repeats 5]
                                  [--threads 0] [--methods sapm,lm,ls-adam]

For each method: the training seconds per iteration (summary `seconds` /
`iterations`, the driver's own clock, measured the same way in both) and
the wall time of the whole call (Python: `fit` with data checks, config,
final evaluation and conversion back to Python; CLI: the process, with
config, data generation, evaluation and writing the run folder), medians
over the repeats. Both runs use the built-in sin_x2 data with N training
points, so they train on the same numbers (the script checks the summaries
agree).
"""

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import sapm

METHODS = {
    "sapm": {"train.max_iterations": 200},
    "lm": {"train.max_iterations": 100},
    "ls-adam": {"train.max_iterations": 2000},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/sapm")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    a = ap.parse_args()
    X, y, Xt, yt = sapm.builtin_data("sin_x2", a.n, 1000, 0.0, 0)
    print(f"N = {a.n}, threads = {a.threads or 'all'}, median of {a.repeats}")
    print("method | iterations | s/iteration CLI | s/iteration Python | ratio | wall CLI (s) | wall Python (s)")
    for method in a.methods.split(","):
        sets = METHODS[method]
        cli_it, py_it, cli_wall, py_wall = [], [], [], []
        for _ in range(a.repeats):
            with tempfile.TemporaryDirectory() as d:
                args = [a.bin, "train", "--quiet", "--out", str(Path(d) / "r"),
                        "--set", f"method={method}", "--set", f"data.n_train={a.n}",
                        "--set", f"threads={a.threads}", "--set", "train.checkpoint_every=0"]
                for k, v in sets.items():
                    args += ["--set", f"{k}={v}"]
                t = time.perf_counter()
                subprocess.run(args, check=True, capture_output=True)
                cli_wall.append(time.perf_counter() - t)
                cli = json.loads((Path(d) / "r" / "summary.json").read_text())
            opts = {k.replace(".", "__"): v for k, v in sets.items()}
            reg = sapm.Regressor(method=method, threads=a.threads, **opts)
            t = time.perf_counter()
            reg.fit(X, y, eval_set=(Xt, yt))
            py_wall.append(time.perf_counter() - t)
            s = reg.summary_
            assert s["train_mse"] == cli["train_mse"], (s["train_mse"], cli["train_mse"])
            cli_it.append(cli["seconds"] / cli["iterations"])
            py_it.append(s["seconds"] / s["iterations"])
        c, p = statistics.median(cli_it), statistics.median(py_it)
        print(f"{method} | {s['iterations']} | {c:.3e} | {p:.3e} | {p / c:.3f} | "
              f"{statistics.median(cli_wall):.3f} | {statistics.median(py_wall):.3f}")


if __name__ == "__main__":
    main()
