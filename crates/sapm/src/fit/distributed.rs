//! One process of a data-parallel run (`mpirun -n K sapm train`): every
//! process trains the same network on its contiguous shard of the training
//! samples, and every sum over samples goes through the run's reducer, so
//! all processes take the same steps and end with the same weights.
//!
//! Every process reads only its rows `rank N / K .. (rank + 1) N / K` of
//! the training set ([`crate::linalg::shard_range`],
//! [`crate::data::DataConfig::load_shard`]) and the whole test set; the
//! scaling is fitted from sums and extrema over the shards, and the
//! summary's training figures are sums, maxima and R factors over the
//! shards joined through the reducer, so rank 0's summary is the one a
//! single process would write (up to round-off).

use super::build::check_distributed;
use super::checkpoint_file::CheckpointFile;
use super::distributed_pde::fit_pde_shard;
use super::schedule::{Plan, StageOut, run_stages};
use super::{Fitted, check_split, join, scale_split};
use crate::checkpoint::StateReader;
use crate::config::Checked;
use crate::data::{Dataset, ShardSplit, Split};
use crate::driver::Observer;
use crate::error::{Error, Result};
use crate::linalg::SharedReducer;
use crate::scale::Scaling;
use crate::task::Task;

/// Rows `range` of `d` (columns of its `x` and `y`).
pub fn shard_rows(d: &Dataset, range: std::ops::Range<usize>) -> Dataset {
    d.rows(range)
}

/// Train as `cfg` says on this process's shard of `data.train`, with
/// `reducer` joining the processes. Needs a method that runs distributed
/// (see [`check_distributed`]) and at least one sample per process. A
/// config with a `[pde]` section trains a PINN on this process's shard of
/// its points and ignores `data`.
pub fn fit_distributed(
    cfg: &Checked,
    data: &Split,
    reducer: SharedReducer,
    observer: &mut dyn Observer,
) -> Result<Fitted> {
    fit_distributed_checkpointed(cfg, Some(data), reducer, observer, None, None)
}

/// [`fit_distributed`] writing this process's checkpoints to `checkpoint`
/// (every `train.checkpoint_every` iterations exactly: `checkpoint_seconds`
/// is not used, it would let the processes disagree) and resuming from
/// `resume`, the checkpoint of a run on any number of processes (open it
/// with [`super::open_rank_checkpoints`]). `data` is the whole regression
/// split (`None`: this process reads its rows of `[data]`,
/// [`crate::data::DataConfig::load_shard`]); PINN runs take their points
/// from `[pde]`.
pub fn fit_distributed_checkpointed(
    cfg: &Checked,
    data: Option<&Split>,
    reducer: SharedReducer,
    observer: &mut dyn Observer,
    checkpoint: Option<&mut CheckpointFile>,
    resume: Option<&mut StateReader>,
) -> Result<Fitted> {
    if cfg.pde.is_some() {
        let mut checkpoint = checkpoint;
        prepare(cfg, &mut checkpoint)?;
        return fit_pde_shard(cfg, reducer, observer, checkpoint, resume);
    }
    let (rank, size) = (reducer.rank(), reducer.size());
    let shard = match data {
        Some(d) => {
            check_split(d)?;
            ShardSplit::of(d, rank, size)?
        }
        None => cfg.data.load_shard(cfg.seed, rank, size)?,
    };
    fit_shard_checkpointed(cfg, &shard, reducer, observer, checkpoint, resume)
}

/// Sequential faer, a checked method, checkpoints at iteration counts only.
fn prepare(cfg: &Checked, checkpoint: &mut Option<&mut CheckpointFile>) -> Result<()> {
    faer::set_global_parallelism(faer::Par::Seq);
    check_distributed(cfg)?;
    if let Some(c) = checkpoint.as_deref_mut() {
        c.min_seconds = 0.0;
    }
    Ok(())
}

/// [`fit_distributed_checkpointed`] of a regression run on this process's
/// `shard` (from [`crate::data::DataConfig::load_shard`], which the command
/// calls before it opens the output folder).
pub fn fit_shard_checkpointed(
    cfg: &Checked,
    shard: &ShardSplit,
    reducer: SharedReducer,
    observer: &mut dyn Observer,
    checkpoint: Option<&mut CheckpointFile>,
    resume: Option<&mut StateReader>,
) -> Result<Fitted> {
    let mut checkpoint = checkpoint;
    prepare(cfg, &mut checkpoint)?;
    if cfg.pde.is_some() {
        return Err(Error::config("pde", "a PINN run has no data shard"));
    }
    check_split(&shard.split)?;
    // The scaling of all processes' training rows (sums in the reducer's
    // fixed order;
    // one process: the bits of `Scaling::fit`), the same on every process.
    let (x, y) = (shard.split.train.x.as_ref(), shard.split.train.y.as_ref());
    let scaling = Scaling::fit_on(cfg.data.scale_kind(), x, y, reducer.as_ref())?;
    let scaled = scaling
        .as_ref()
        .map(|s| scale_split(s, &shard.split))
        .transpose()?;
    let raw = &shard.split;
    let shard = scaled.as_ref().unwrap_or(raw);
    let sc = scaling.as_ref();
    let build = |_: usize, _: &[StageOut<'_>]| Ok(Task::Regression(shard, sc));
    let summary_reducer = reducer.clone();
    let plan = Plan {
        stages: 1,
        carry: true,
        task: &build,
        raw: Some(raw),
        reducer,
    };
    let stages = run_stages(cfg, &plan, observer, checkpoint, resume)?;
    // Every process summarises on its shard: the training figures are
    // joined through the reducer, so rank 0's summary is the one a single
    // process would write (up to round-off) without a whole-data pass.
    let mut fitted = join(cfg, stages, summary_reducer.as_ref())?;
    fitted.model = fitted.model.with_scaling(scaling)?;
    Ok(fitted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::driver::NoObserver;
    use crate::fit::distributed_harness::{assert_shards_agree, on_threads, rel, tolerance};
    use crate::fit::{open_rank_checkpoints, rank_file_name};

    fn params_on(k: usize, cfg: &Checked, data: &Split) -> Vec<Vec<f64>> {
        on_threads(k, |_, r| {
            let f = fit_distributed(cfg, data, r, &mut NoObserver).unwrap();
            f.model.net.params()
        })
    }

    /// `params_on` with every process checkpointing into `dir`, resuming
    /// from its file there when `resume`.
    fn checkpointed_on(
        k: usize,
        cfg: &Checked,
        data: &Split,
        dir: &std::path::Path,
        resume: bool,
    ) -> Vec<Result<Vec<f64>>> {
        on_threads(k, |rank, r| {
            let path = dir.join(rank_file_name(rank, k));
            let mut ck = CheckpointFile::new(&path, cfg);
            let mut reader = if resume {
                Some(open_rank_checkpoints(dir, &r)?)
            } else {
                None
            };
            let f = fit_distributed_checkpointed(
                cfg,
                Some(data),
                r,
                &mut NoObserver,
                Some(&mut ck),
                reader.as_mut(),
            )?;
            Ok(f.model.net.params())
        })
    }

    /// A run on K processes stopped after 7 iterations (checkpoints every
    /// 3) and resumed to 12 ends with the same bits as 12 iterations in one
    /// go, on every process: SAPM (each process's auxiliaries in its own
    /// file), L-BFGS (its memory), LM (its damping) and mini-batch Adam
    /// (its step, which picks the batch).
    #[test]
    fn k_process_checkpoints_resume_bit_for_bit() {
        // ls-adam on mini-batches: the batches continue from the step reached.
        for (method, extra) in [
            ("sapm", ""),
            ("ls-lbfgs", ""),
            ("lm", ""),
            ("ls-adam", "batch_size = 16\n"),
        ] {
            let with = |iters: usize, seed: u64| {
                let text = format!(
                    "method = \"{method}\"\nseed = {seed}\n[network]\ndepth = 3\nwidth = 8\n[data]\nn_train = 301\nn_test = 50\n[train]\nmax_iterations = {iters}\ncheckpoint_every = 3\n{extra}"
                );
                TrainConfig::from_toml_str(&text, &[], None).unwrap()
            };
            let data = with(12, 3).data.load(3).unwrap();
            for k in [2, 3] {
                let dir = tempfile::tempdir().unwrap();
                let straight = checkpointed_on(k, &with(12, 3), &data, dir.path(), false);
                let dir = tempfile::tempdir().unwrap();
                for p in checkpointed_on(k, &with(7, 3), &data, dir.path(), false) {
                    p.unwrap();
                }
                // Another seed: only the checkpoint's weights can give the same
                // bits. Mini-batches draw their order from the seed, so that case
                // keeps it: a resume that restarted the batches at step 0 differs.
                let seed = if extra.is_empty() { 4 } else { 3 };
                let resumed = checkpointed_on(k, &with(12, seed), &data, dir.path(), true);
                for (a, b) in straight.iter().zip(&resumed) {
                    let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
                    assert_eq!(a, b, "{method} on {k}: resumed run differs");
                }
            }
        }
    }

    /// Files one checkpoint apart (a job killed while writing) are refused.
    #[test]
    fn checkpoints_of_different_iterations_are_refused() {
        let text = "method = \"ls-adam\"\nseed = 3\n[data]\nn_train = 50\nn_test = 10\n[train]\nmax_iterations = 9\ncheckpoint_every = 3\n";
        let cfg = TrainConfig::from_toml_str(text, &[], None).unwrap();
        let data = cfg.data.load(3).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for p in checkpointed_on(2, &cfg, &data, dir.path(), false) {
            p.unwrap();
        }
        // Rank 1's file from an earlier checkpoint of another run.
        let short = TrainConfig::from_toml_str(&text.replace("= 9", "= 5"), &[], None).unwrap();
        let other = tempfile::tempdir().unwrap();
        for p in checkpointed_on(2, &short, &data, other.path(), false) {
            p.unwrap();
        }
        std::fs::copy(
            other.path().join(rank_file_name(1, 2)),
            dir.path().join(rank_file_name(1, 2)),
        )
        .unwrap();
        for r in checkpointed_on(2, &cfg, &data, dir.path(), true) {
            let Err(e) = r else {
                panic!("resumed from files of different iterations");
            };
            let e = e.to_string();
            assert!(
                e.contains("different iterations") && e.contains("rank 1: "),
                "{e}"
            );
        }
    }

    fn config(method: &str, extra: &str) -> Checked {
        // The QR path is single-process only: compare like with like.
        let solver = if method == "pm" || method == "sapm" {
            format!("[{method}]\nsolver = \"cholesky\"\n{extra}")
        } else if method == "lm" {
            format!("[lm]\n{extra}")
        } else if method == "elm" {
            // `extra`: another solver (the yardstick).
            let solver = if extra.is_empty() { "cholesky" } else { extra };
            format!("[elm]\nsolver = \"{solver}\"\n")
        } else {
            String::new()
        };
        TrainConfig::from_toml_str(
            &format!(
                "method = \"{method}\"\nseed = 3\n[network]\ndepth = 3\nwidth = 8\n[data]\nn_train = 301\nn_test = 50\n[train]\nmax_iterations = 15\n{solver}"
            ),
            &[],
            None,
        )
        .unwrap()
    }

    /// Same weights on 1, 2 and 3 processes, and the same bits on every
    /// process: to 1e-10 relative for the gradient methods and LM; ELM's
    /// normal equations (cond ~ 1e10 here, no ridge) must stay within 10x of
    /// one process solving by QR instead of Cholesky; PM/SAPM's
    /// Cholesky weight steps amplify round-off (cond ~ 1e8 here), so one
    /// process with another block size (another summation order) already
    /// moves the weights ~2e-8: K processes must stay within 10x of that.
    #[test]
    fn one_two_and_three_shards_give_the_same_weights() {
        for method in crate::fit::build::DISTRIBUTED_METHODS.map(|m| m.name()) {
            let cfg = config(method, "");
            let data = cfg.data.load(cfg.seed).unwrap();
            let one = params_on(1, &cfg, &data);
            let tol = tolerance(
                method,
                &one[0],
                || params_on(1, &config(method, "block = 64\n"), &data).remove(0),
                || params_on(1, &config(method, "qr"), &data).remove(0),
            );
            assert_shards_agree(method, &one[0], tol, |k| params_on(k, &cfg, &data));
        }
    }

    /// Every process reports the objective of all samples: the last recorded
    /// objective is the same on every process and within 1e-9 of one
    /// process's (ELM sums its squared errors over the processes itself).
    #[test]
    fn every_process_reports_the_objective_of_all_shards() {
        for method in ["elm", "ls-lbfgs"] {
            let cfg = config(method, "");
            let data = cfg.data.load(cfg.seed).unwrap();
            let last = |k: usize| {
                on_threads(k, |_, r| {
                    let f = fit_distributed(&cfg, &data, r, &mut NoObserver).unwrap();
                    f.history.last().unwrap().objective
                })
            };
            let one = last(1)[0];
            for k in [2, 3] {
                let many = last(k);
                for o in &many {
                    assert_eq!(o.to_bits(), many[0].to_bits(), "{method}, {k}: {many:?}");
                    assert!((o - one).abs() <= 1e-9 * one, "{method}, {k}: {o} vs {one}");
                }
            }
        }
    }

    /// Rank 0's summary on K processes (training figures joined from the
    /// shards, no whole-data pass) is the single-process summary: the same
    /// sizes, the maxima and bounding box exactly (ls-adam's weights agree
    /// to 1e-16 here, so the errors do too), sums and the condition number
    /// to 1e-12; SAPM's omega and round-off floor to 1e-6 (its weights
    /// differ by up to ~4e-8 over K, see the test above).
    #[test]
    fn rank_zero_summary_is_the_single_process_summary() {
        for method in ["ls-adam", "sapm"] {
            let cfg = config(method, "");
            let data = cfg.data.load(cfg.seed).unwrap();
            let summaries = |k: usize| {
                on_threads(k, |_, r| {
                    fit_distributed(&cfg, &data, r, &mut NoObserver)
                        .unwrap()
                        .summary
                })
            };
            let one = summaries(1).remove(0);
            let (d1, s1) = (&one.diagnostics, one.diagnostics.spikes.unwrap());
            let tol = if method == "sapm" { 1e-6 } else { 1e-12 };
            for k in [2, 3] {
                let s = summaries(k).remove(0);
                let (d, sp) = (&s.diagnostics, s.diagnostics.spikes.unwrap());
                assert_eq!((s.n_train, s.n_test), (one.n_train, one.n_test));
                let close = [
                    ("cond", d.output_design_cond, d1.output_design_cond),
                    ("const", d.constant_predictor_mse, d1.constant_predictor_mse),
                    (
                        "ls/aux",
                        d.ls_over_aux.unwrap_or(1.0),
                        d1.ls_over_aux.unwrap_or(1.0),
                    ),
                    ("train", sp.max_abs_error_train, s1.max_abs_error_train),
                    (
                        "floor",
                        d.aux_roundoff_floor.unwrap_or(1.0),
                        d1.aux_roundoff_floor.unwrap_or(1.0),
                    ),
                ];
                for (what, a, b) in close {
                    let e = (a - b).abs() / b.abs();
                    assert!(e < tol, "{method} on {k}: {what} {a:e} vs {b:e}");
                }
                assert_eq!(d.omega.is_some(), method == "sapm");
                if method == "ls-adam" {
                    assert_eq!(sp.max_abs_error_train, s1.max_abs_error_train);
                }
            }
        }
    }

    /// A run on a data file, each process reading only its rows
    /// (`data = None`): the scaling from sums over the shards is
    /// `Scaling::fit`'s on one process (bit for bit) and within 1e-15 on 2
    /// and 3 (minmax exactly), and the weights after 15 ls-adam iterations
    /// agree with one process's plain run to 1e-10.
    #[test]
    fn processes_reading_their_rows_of_a_file_train_as_one() {
        use crate::scale::{ScaleKind, Scaling};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        let mut text = String::from("x,y\n");
        for j in 0..151 {
            let x = 3.0 * (j as f64 * 0.37).sin() + 5.0;
            text += &format!("{x},{}\n", (x * x).sin() * 40.0 + 7.0);
        }
        std::fs::write(&path, text).unwrap();
        let cfg = TrainConfig::from_toml_str(
            &format!(
                "method = \"ls-adam\"\nseed = 3\n[network]\ndepth = 3\nwidth = 8\n[data]\ntrain = {:?}\n[train]\nmax_iterations = 15\n",
                path.display().to_string()
            ),
            &[],
            None,
        )
        .unwrap();
        let whole = cfg.data.load(cfg.seed).unwrap();
        let (x, y) = (whole.train.x.as_ref(), whole.train.y.as_ref());
        for kind in [ScaleKind::Standard, ScaleKind::Minmax] {
            let one = Scaling::fit(kind, x, y).unwrap();
            for k in [1, 2, 3] {
                let got = on_threads(k, |rank, r| {
                    let s = cfg.data.load_shard(cfg.seed, rank, k).unwrap();
                    let t = &s.split.train;
                    Scaling::fit_on(kind, t.x.as_ref(), t.y.as_ref(), r.as_ref())
                        .unwrap()
                        .unwrap()
                });
                for g in &got {
                    assert_eq!(g, &got[0], "{kind:?} on {k}: processes disagree");
                }
                let flat = |s: &Scaling| {
                    [
                        &s.inputs.shift,
                        &s.inputs.scale,
                        &s.outputs.shift,
                        &s.outputs.scale,
                    ]
                    .into_iter()
                    .flatten()
                    .copied()
                    .collect::<Vec<f64>>()
                };
                let e = rel(&flat(&got[0]), &flat(&one));
                if k == 1 || kind == ScaleKind::Minmax {
                    assert_eq!(got[0], one, "{kind:?} on {k}");
                } else {
                    assert!(e < 1e-15, "{kind:?} on {k}: {e:e}");
                }
            }
        }
        let plain = crate::fit(&cfg, &whole).unwrap().model.net.params();
        for k in [1, 2, 3] {
            let many = on_threads(k, |_, r| {
                fit_distributed_checkpointed(&cfg, None, r, &mut NoObserver, None, None)
                    .unwrap()
                    .model
                    .net
                    .params()
            });
            let e = rel(&many[0], &plain);
            eprintln!("file data, {k} processes vs one plain run: {e:.1e}");
            assert!(e < 1e-10, "{k} processes: {e:e}");
        }
    }

    /// LM's variants that sum more than the primal system: the geodesic
    /// correction `J^T r_vv` and the line search's trial losses. Both
    /// amplify round-off (a second difference divided by h^2; a step grid
    /// on a Gauss-Newton direction with damping 1e-10), so the yardstick is
    /// one process solving the dual instead of the primal system (the same
    /// step in exact arithmetic): K processes must stay within 10x of that.
    #[test]
    fn lm_with_geodesic_acceleration_or_line_search_agrees_on_shards() {
        for extra in ["geodesic = true", "line_search = true"] {
            let base = config("lm", "");
            let cfg = config("lm", extra);
            let data = cfg.data.load(cfg.seed).unwrap();
            let one = params_on(1, &cfg, &data);
            assert!(
                rel(&one[0], &params_on(1, &base, &data)[0]) > 1e-6,
                "{extra} had no effect"
            );
            let dual_cfg = config("lm", &format!("{extra}\nsolve = \"dual\""));
            let dual = crate::fit(&dual_cfg, &data).unwrap().model.net.params();
            let tol = 10.0 * rel(&dual, &one[0]).max(1e-11);
            for k in [2, 3] {
                let many = params_on(k, &cfg, &data);
                let e = rel(&many[k - 1], &one[0]);
                assert!(e < tol, "{extra}, {k} shards: {e:e} (tolerance {tol:e})");
            }
        }
    }

    #[test]
    fn unsupported_methods_are_refused_by_name() {
        let cfg = TrainConfig::from_toml_str("method = \"varpro\"", &[], None).unwrap();
        let e = check_distributed(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("varpro does not run on several processes yet: ")
                && e.contains("orthonormal basis")
                && e.contains("sapm, lm, elm"),
            "{e}"
        );
        let cfg = TrainConfig::from_toml_str("method = \"lm\"\n[lm]\nsolve = \"dual\"", &[], None)
            .unwrap();
        let e = check_distributed(&cfg).unwrap_err().to_string();
        assert!(e.contains("lm.solve") && e.contains("primal"), "{e}");
    }
}
