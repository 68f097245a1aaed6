#!/usr/bin/env bash
# Omega continuation for sapm-gn (docs/results.md section 9): sin(x^2) with the network of
# examples/sapm-gn.toml, cold start, one thread per run, equal CPU time (`train.clock = "cpu"`),
# seeds 0..SEEDS-1; the hidden omegas of joint step k scaled by omega_start^(1 - k/ramp).
# Usage: scripts/omega-continuation.sh OUT_DIR [SECONDS=6] [SEEDS=5]
# VARIANTS="label:start:ramp ..." replaces the default list ("none::" = no continuation).
# Then:  scripts/omega-continuation.py OUT_DIR
set -euo pipefail
out=${1:?usage: scripts/omega-continuation.sh OUT_DIR [SECONDS] [SEEDS]}
secs=${2:-6}
seeds=${3:-5}
bin=${SAPM_BIN:-target/release/sapm}
mkdir -p "$out"
for ((s = 0; s < seeds; s++)); do
  for c in ${VARIANTS:-none:: s1e-2-r30:1e-2:30 s1e-4-r30:1e-4:30 s1e-4-r60:1e-4:60 s1e-6-r30:1e-6:30}; do
    IFS=: read -r label start ramp <<<"$c"
    name="$label-s$s"
    [ -f "$out/$name/summary.json" ] && continue
    sets=(--set threads=1 --set seed="$s" --set train.clock=cpu --set train.max_seconds="$secs"
      --set train.max_iterations=100000000 --set train.record_every=1)
    [ -n "$start" ] && sets+=(--set sapm_gn.omega_start="$start" --set sapm_gn.omega_ramp="$ramp")
    "$bin" train --quiet --config examples/sapm-gn.toml --out "$out/$name" "${sets[@]}" \
      > "$out/$name.log" 2>&1 || true
  done
done
