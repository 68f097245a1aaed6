#!/usr/bin/env bash
# The sapm-gn measurements of docs/results.md section 9, at equal CPU time:
# one thread per run, `train.clock = "cpu"` (fair on a shared machine), two runs at a time,
# 6 CPU seconds per run, seeds 0..4, sin(x^2) with the network of examples/ls-adam-lbfgs.toml.
# Usage: scripts/sapm-gn-table.sh OUT_DIR
# Then:  scripts/sapm-gn-table.py OUT_DIR
set -euo pipefail
out=${1:?usage: scripts/sapm-gn-table.sh OUT_DIR}
bin=${SAPM_BIN:-target/release/sapm}
mkdir -p "$out"
run() { # name config overrides...
  local name=$1 cfg=$2
  shift 2
  [ -f "$out/$name/summary.json" ] && return 0
  local sets=()
  for o in threads=1 train.clock=cpu train.max_seconds=6 train.max_iterations=100000000 "$@"; do
    sets+=(--set "$o")
  done
  "$bin" train --quiet --config "$cfg" --out "$out/$name" "${sets[@]}" > "$out/$name.log" 2>&1 || true
}
pair() { run "$@" & }
for s in 0 1 2 3 4; do
  pair "sapm-gn-s$s" examples/sapm-gn.toml "seed=$s"
  pair "sapm-gn-warm-s$s" examples/sapm-gn.toml "seed=$s" sapm_gn.warm_start=2000
  wait
  pair "sapm-s$s" examples/sapm.toml "seed=$s"
  pair "sapm-warm-s$s" examples/sapm-warm.toml "seed=$s"
  wait
  pair "lm-s$s" examples/lm.toml "seed=$s"
  pair "ls-adam-lbfgs-s$s" examples/ls-adam-lbfgs.toml "seed=$s"
  wait
done
