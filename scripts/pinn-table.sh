#!/usr/bin/env bash
# Runs the SAPM-PINN comparison grid of docs/pinn.md and writes one folder per run.
# Usage: scripts/pinn-table.sh OUT_DIR [GRID]   (GRID: main | deep | remedy | ablation | march | ...)
# Two runs at a time, one thread each; the budgets are iterations (see the example
# configs). Each run's CPU seconds (user + sys) go to OUT_DIR/NAME.time: on a shared
# machine they are a fairer clock than the wall seconds in summary.json.
# Jobs are ordered seed-major so an interrupted grid still covers every cell once.
set -euo pipefail
out=${1:?usage: scripts/pinn-table.sh OUT_DIR [GRID]}
grid=${2:-main}
bin=${SAPM_BIN:-target/release/sapm}
mkdir -p "$out"
jobs=()
add() { # name config overrides...
  jobs+=("$*")
}
problems=("t1d-b1 transport1d pde.beta=1" "t1d-b10 transport1d pde.beta=10" "t1d-b30 transport1d pde.beta=30" "t1d-b50 transport1d pde.beta=50" "inflow transport-inflow pde.beta=1")
case "$grid" in
  main)
    for s in 0 1 2; do
      for p in "${problems[@]}"; do
        set -- $p
        for m in ls-adam-lbfgs sapm sapm-warm ls-adam pm; do
          add "$1-L4-$m-s$s examples/pde-$2-$m.toml $3 seed=$s"
        done
      done
    done ;;
  priority)
    # The reduced grid of docs/pinn.md: seed 0 everywhere (the most informative
    # methods per problem), seeds 1-2 on beta = 1 and the inflow problem.
    for p in "${problems[1]}" "${problems[4]}"; do
      set -- $p
      for m in ls-adam-lbfgs sapm sapm-warm ls-adam pm; do add "$1-L4-$m-s0 examples/pde-$2-$m.toml $3 seed=0"; done
    done
    for p in "${problems[2]}" "${problems[3]}"; do
      set -- $p
      for m in ls-adam-lbfgs sapm-warm sapm; do add "$1-L4-$m-s0 examples/pde-$2-$m.toml $3 seed=0"; done
    done
    add "abl-b10-adam2000-s0 examples/pde-transport1d-ls-adam.toml pde.beta=10 seed=0 train.max_iterations=2000"
    for s in 1 2; do
      for p in "${problems[0]}" "${problems[4]}"; do
        set -- $p
        for m in ls-adam-lbfgs sapm sapm-warm; do add "$1-L4-$m-s$s examples/pde-$2-$m.toml $3 seed=$s"; done
      done
    done ;;
  deep)
    for s in 0 1 2; do
      for p in "${problems[0]}" "${problems[4]}"; do
        set -- $p
        for m in ls-adam-lbfgs sapm sapm-warm; do
          add "$1-L6-$m-s$s examples/pde-$2-$m.toml $3 seed=$s network.depth=6"
        done
      done
    done ;;
  remedy)
    for s in 0 1 2; do
      add "t1d-b30-curriculum-s$s examples/pde-transport1d-beta30-curriculum.toml seed=$s"
      add "t1d-b50-curriculum-s$s examples/pde-transport1d-beta30-curriculum.toml pde.beta=50 pde.curriculum=[10.0,20.0,30.0,40.0] seed=$s"
    done ;;
  extra)
    # Seeds 1-2 at beta = 10 and depth 6 (seed 0) on beta = 1 and the inflow problem.
    for s in 1 2; do
      for m in ls-adam-lbfgs sapm sapm-warm; do add "t1d-b10-L4-$m-s$s examples/pde-transport1d-$m.toml pde.beta=10 seed=$s"; done
    done
    for p in "${problems[0]}" "${problems[4]}"; do
      set -- $p
      for m in ls-adam-lbfgs sapm sapm-warm; do add "$1-L6-$m-s0 examples/pde-$2-$m.toml $3 seed=0 network.depth=6"; done
    done ;;
  remedy-points)
    # beta = 30 with 4x the collocation points (about 12 points per period in t).
    for s in 0 1; do
      add "t1d-b30-pts4000-s$s examples/pde-transport1d-ls-adam-lbfgs.toml pde.beta=30 pde.n_interior=4000 seed=$s"
    done ;;
  remedy-lbfgs)
    # beta = 30 and 50: curriculum in steps of 5 from beta = 1, L-BFGS only
    # (1000 iterations per stage), so no optimiser restart discards the last stage.
    for s in 0 1; do
      add "t1d-b30-curr-lbfgs-s$s examples/pde-transport1d-beta30-curriculum.toml method=ls-lbfgs pde.curriculum=[1.0,5.0,10.0,15.0,20.0,25.0] train.max_iterations=1000 seed=$s"
    done
    add "t1d-b50-curr-lbfgs-s0 examples/pde-transport1d-beta30-curriculum.toml method=ls-lbfgs pde.beta=50 pde.curriculum=[1.0,5.0,10.0,15.0,20.0,25.0,30.0,35.0,40.0,45.0] train.max_iterations=1000 seed=0"
    ;;
  remedy-wide)
    # beta = 30, width 50 and 2000 interior points, without and with the L-BFGS curriculum.
    add "t1d-b30-w50-pts2000-s0 examples/pde-transport1d-ls-adam-lbfgs.toml pde.beta=30 pde.n_interior=2000 network.width=50 seed=0"
    add "t1d-b30-w50-pts2000-curr-lbfgs-s0 examples/pde-transport1d-beta30-curriculum.toml method=ls-lbfgs pde.curriculum=[1.0,5.0,10.0,15.0,20.0,25.0] train.max_iterations=1000 pde.n_interior=2000 network.width=50 seed=0"
    ;;
  idle)
    # The SAPM target cells, for a run on an otherwise idle machine (wall ~ CPU time).
    for s in 0 1 2; do
      for p in "${problems[0]}" "${problems[4]}"; do
        set -- $p
        for m in ls-adam-lbfgs sapm sapm-warm; do add "$1-L4-$m-s$s examples/pde-$2-$m.toml $3 seed=$s"; done
      done
    done ;;
  remedy-s0)
    add "t1d-b30-curriculum-s0 examples/pde-transport1d-beta30-curriculum.toml seed=0" ;;
  ablation)
    # Where SAPM falls short (seed 0). The reference networks for
    # scripts/pinn-ablation.py: the initial network (one Adam step with lr = 1e-300)
    # and the 2000-step Adam run that warm-starts the *-warm runs.
    for b in 1 10; do
      add "abl-b$b-init-s0 examples/pde-transport1d-ls-adam.toml pde.beta=$b seed=0 train.max_iterations=1 adam.lr=1e-300"
    done
    c=examples/pde-transport1d-sapm-warm.toml
    add "abl-b10-pm-warm-s0 examples/pde-transport1d-pm.toml pde.beta=10 seed=0 pm.warm_start=2000 train.max_iterations=3500"
    add "abl-b10-sapm-warm-capped-s0 $c pde.beta=10 seed=0 sapm.cap_output=100.0 sapm.cap_hidden=30.0"
    add "abl-b10-sapm-warm-unitomega-s0 $c pde.beta=10 seed=0 pde.omega_deriv=0.0"
    add "abl-b10-sapm-bc10-s0 examples/pde-transport1d-sapm.toml pde.beta=10 seed=0 pde.beta_bc=10.0"
    add "abl-b10-sapm-warm-bc10-s0 $c pde.beta=10 seed=0 pde.beta_bc=10.0"
    add "abl-b1-sapm-frozen-s0 examples/pde-transport1d-sapm.toml pde.beta=1 seed=0 sapm.omega_mode=frozen"
    add "abl-b1-adam2000-s0 examples/pde-transport1d-ls-adam.toml pde.beta=1 seed=0 train.max_iterations=2000"
    add "abl-b1-pm-warm-s0 examples/pde-transport1d-pm.toml pde.beta=1 seed=0 pm.warm_start=2000 train.max_iterations=3500"
    ;;
  march)
    # Time marching (examples/pde-transport1d-march.toml: per window 500 + 100
    # points, 300 Adam + 600 L-BFGS), beta = 30 and 50, K = 5, 10, 20.
    for s in 0 1 2; do
      for b in 30 50; do
        for k in 5 10 20; do
          add "t1d-b$b-march-K$k-s$s examples/pde-transport1d-march.toml pde.beta=$b pde.time_windows=$k seed=$s"
        done
      done
    done ;;
  march-extra)
    # beta = 30, K = 10, seed 0: networks on absolute t instead of local time;
    # SAPM-warm per window (300 Adam + 600 SAPM iterations).
    add "t1d-b30-march-K10-abstime-s0 examples/pde-transport1d-march.toml pde.window_local_time=false seed=0"
    add "t1d-b30-march-K10-sapm-warm-s0 examples/pde-transport1d-march.toml method=sapm sapm.warm_start=300 seed=0"
    # The baseline's cost exactly: its 1000 + 200 points per window and
    # 10 x (200 Adam + 400 L-BFGS) = its 6000 iterations; and the baseline
    # itself (no marching), re-run next to these for CPU seconds.
    for s in 0 1; do
      add "t1d-b30-march-K10-equal-s$s examples/pde-transport1d-march.toml pde.n_interior=1000 pde.n_boundary=200 train.max_iterations=600 adam_lbfgs.adam_steps=200 seed=$s"
    done
    add "t1d-b50-march-K10-equal-s0 examples/pde-transport1d-march.toml pde.beta=50 pde.n_interior=1000 pde.n_boundary=200 train.max_iterations=600 adam_lbfgs.adam_steps=200 seed=0"
    add "t1d-b30-march-none-s0 examples/pde-transport1d-ls-adam-lbfgs.toml pde.beta=30 seed=0"
    ;;
  *) echo "unknown grid $grid" >&2; exit 2 ;;
esac
run_one() {
  set -- $1
  name=$1; cfg=$2; shift 2
  if [ -f "$out/$name.time" ] && [ ! -f "$out/$name/summary.json" ] && [ -n "${SKIP_RUNNING:-}" ]; then return 0; fi
  sets=()
  for kv in "$@"; do sets+=(--set "$kv"); done
  if [ -f "$out/$name/summary.json" ]; then return 0; fi
  /usr/bin/time -f "%U %S" -o "$out/$name.time" \
    "$bin" train --config "$cfg" "${sets[@]}" --threads 1 --quiet --out "$out/$name" 2> "$out/$name.log" || true
  tail -n 1 "$out/$name.log" | sed "s|^|$name: |"
}
export -f run_one
export out bin
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c 'run_one "{}"'
