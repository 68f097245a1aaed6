#!/usr/bin/env bash
# The Levenberg-Marquardt measurements of docs/results.md section 8, at equal CPU time:
# one thread per run, `train.clock = "cpu"` (fair on a shared machine), two runs at a time.
# Usage: scripts/lm-table.sh OUT_DIR [regression|pinn|all]
# Then:  scripts/lm-table.py OUT_DIR
set -euo pipefail
out=${1:?usage: scripts/lm-table.sh OUT_DIR [regression|pinn|all]}
what=${2:-all}
bin=${SAPM_BIN:-target/release/sapm}
mkdir -p "$out"
run() { # name seconds config overrides...
  local name=$1 secs=$2 cfg=$3
  shift 3
  [ -f "$out/$name/summary.json" ] && return 0
  local sets=()
  for o in threads=1 train.clock=cpu "train.max_seconds=$secs" train.max_iterations=100000000 "$@"; do
    sets+=(--set "$o")
  done
  "$bin" train --quiet --config "$cfg" --out "$out/$name" "${sets[@]}" > "$out/$name.log" 2>&1 || true
}
pair() { run "$@" & }
if [ "$what" != pinn ]; then
  # sin(x^2), the network of examples/ls-adam-lbfgs.toml, 6 CPU seconds per run.
  for s in 0 1 2 3 4; do
    pair "sin-lm-s$s" 6 examples/lm.toml "seed=$s"
    pair "sin-ls-adam-lbfgs-s$s" 6 examples/ls-adam-lbfgs.toml "seed=$s"
    wait
    pair "sin-varpro-s$s" 6 examples/varpro.toml "seed=$s"
    pair "sin-varpro-ridge0-s$s" 6 examples/varpro.toml "seed=$s" lm.varpro_ridge=0
    wait
  done
fi
if [ "$what" != regression ]; then
  # PINNs, 120 CPU seconds per run.
  t1=examples/pde-transport1d-lm.toml
  t1a=examples/pde-transport1d-ls-adam-lbfgs.toml
  inl=examples/pde-transport-inflow-lm.toml
  inla=examples/pde-transport-inflow-ls-adam-lbfgs.toml
  b10=(pde.beta=10 pde.n_interior=2000 pde.sampling=grid)
  pair pinn-t1-lm 120 $t1
  pair pinn-t1-engd 120 $t1 lm.line_search=true
  wait
  pair pinn-t1-varpro 120 $t1 method=varpro
  pair pinn-t1-ls-adam-lbfgs 120 $t1a
  wait
  pair pinn-inflow-lm 120 $inl
  pair pinn-inflow-engd 120 $inl lm.line_search=true
  wait
  pair pinn-inflow-varpro 120 $inl method=varpro
  pair pinn-inflow-ls-adam-lbfgs 120 $inla
  wait
  pair pinn-b10grid-lm 120 $t1 "${b10[@]}"
  pair pinn-b10grid-engd 120 $t1 "${b10[@]}" lm.line_search=true
  wait
  pair pinn-b10grid-varpro 120 $t1 "${b10[@]}" method=varpro
  pair pinn-b10grid-ls-adam-lbfgs 120 $t1a "${b10[@]}"
  wait
  pair pinn-b10-lm 120 $t1 pde.beta=10
  pair pinn-b10-ls-adam-lbfgs 120 $t1a pde.beta=10
  wait
fi
