//! One process of a data-parallel PINN run: every process samples the whole
//! point set of each stage from the seed (so 1 and K processes train on the
//! same points) and trains on its contiguous shard of every row group
//! ([`crate::task::pde::PdeTask::shard`]); the losses, gradients, Gram blocks
//! and normal equations go through the run's reducer. Rank 0's summary is
//! taken on the whole point set, as one process has it. Curriculum stages
//! run; refinement and time marching are refused by
//! [`super::build::check_distributed`].

use super::checkpoint_file::CheckpointFile;
use super::schedule::{Plan, StageOut, run_stages};
use super::{Fitted, join, pde_stages};
use crate::checkpoint::StateReader;
use crate::config::Checked;
use crate::driver::Observer;
use crate::error::{Error, Result};
use crate::linalg::SharedReducer;
use crate::task::Task;
use crate::task::pde::PdeTask;

/// Train the PINN of `cfg`'s `[pde]` section on this process's shard of its
/// points (`checkpoint`, `resume` as in
/// [`super::fit_distributed_checkpointed`], which calls this).
pub(super) fn fit_pde_shard(
    cfg: &Checked,
    reducer: SharedReducer,
    observer: &mut dyn Observer,
    checkpoint: Option<&mut CheckpointFile>,
    resume: Option<&mut StateReader>,
) -> Result<Fitted> {
    let Some(pde) = &cfg.pde else {
        return Err(Error::config("pde", "missing [pde] section"));
    };
    let (rank, size) = (reducer.rank(), reducer.size());
    let stages = pde_stages(pde);
    let whole = |k: usize| -> Result<PdeTask> {
        PdeTask::new(stages[k].problem()?, stages[k].clone(), cfg.seed)
    };
    let build = |k: usize, _: &[StageOut<'static>]| -> Result<Task<'static>> {
        Ok(Task::Pde(Box::new(whole(k)?.shard(rank, size)?)))
    };
    let plan = Plan {
        stages: stages.len(),
        carry: true,
        task: &build,
        raw: None,
        reducer,
    };
    let mut done = run_stages(cfg, &plan, observer, checkpoint, resume)?;
    // Rank 0 writes the summary: its diagnostics on the whole points.
    if rank == 0
        && let Some(k) = done.len().checked_sub(1)
    {
        done[k].task = Task::Pde(Box::new(whole(k)?));
    }
    // Without collectives: only rank 0 holds the whole points.
    join(cfg, done, &crate::linalg::LocalReducer)
}

#[cfg(test)]
mod tests {
    use crate::config::{Checked, TrainConfig};
    use crate::driver::NoObserver;
    use crate::fit::build::check_distributed;
    use crate::fit::distributed_harness::{assert_shards_agree, on_threads, tolerance};
    use crate::fit::fit_distributed_checkpointed;

    fn config(method: &str, problem: &str, extra: &str) -> Checked {
        let section = match method {
            "pm" | "sapm" => format!("[{method}]\nsolver = \"cholesky\"\n{extra}"),
            // `extra`: another solver (the yardstick).
            "elm" => format!(
                "[elm]\nsolver = \"{}\"\n",
                if extra.is_empty() { "cholesky" } else { extra }
            ),
            // Switch to L-BFGS inside the budget.
            "ls-adam-lbfgs" => "[adam_lbfgs]\nadam_steps = 6\n".into(),
            _ => String::new(),
        };
        let text = format!(
            "method = \"{method}\"\nseed = 3\n[network]\ndepth = 3\nwidth = 8\n[train]\nmax_iterations = 12\n[pde]\nproblem = \"{problem}\"\nn_interior = 67\nn_boundary = 20\nn_test = 11\n{section}"
        );
        TrainConfig::from_toml_str(&text, &[], None).unwrap()
    }

    fn params_on(k: usize, cfg: &Checked) -> Vec<Vec<f64>> {
        on_threads(k, |_, r| {
            let f =
                fit_distributed_checkpointed(cfg, None, r, &mut NoObserver, None, None).unwrap();
            f.model.net.params()
        })
    }

    /// Same weights on 1, 2 and 3 processes, the same bits on every process,
    /// for a first-order (transport1d) and a second-order (heat1d) PINN: to
    /// 1e-10 relative, except PM/SAPM, whose Cholesky weight steps amplify
    /// round-off: K processes must stay within 10x of one process with
    /// another block size (another summation order); and ELM, whose normal
    /// equations square the design's condition number: within 10x of one
    /// process solving by QR.
    #[test]
    fn pinn_on_one_two_and_three_shards_gives_the_same_weights() {
        for problem in ["transport1d", "heat1d"] {
            for method in crate::fit::build::DISTRIBUTED_METHODS.map(|m| m.name()) {
                if (problem, method) == ("transport1d", "elm") {
                    continue; // elm runs on second-order PDEs only
                }
                let cfg = config(method, problem, "");
                let one = params_on(1, &cfg);
                let tol = tolerance(
                    method,
                    &one[0],
                    || params_on(1, &config(method, problem, "block = 16\n")).remove(0),
                    || params_on(1, &config(method, problem, "qr")).remove(0),
                );
                let label = format!("{problem} {method}");
                assert_shards_agree(&label, &one[0], tol, |k| params_on(k, &cfg));
            }
        }
    }

    /// The history (PINN losses over every shard) of 2 processes is the
    /// single-process one, and rank 0's summary is on the whole points.
    #[test]
    fn pinn_history_and_summary_are_over_every_shard() {
        let cfg = config("ls-lbfgs", "heat1d", "");
        let one = on_threads(1, |_, r| {
            fit_distributed_checkpointed(&cfg, None, r, &mut NoObserver, None, None).unwrap()
        });
        let two = on_threads(2, |_, r| {
            fit_distributed_checkpointed(&cfg, None, r, &mut NoObserver, None, None).unwrap()
        });
        let (a, b) = (&one[0], &two[0]);
        assert_eq!(a.summary.n_train, b.summary.n_train);
        let (la, lb) = (a.summary.pde_loss.unwrap(), b.summary.pde_loss.unwrap());
        assert!((la - lb).abs() <= 1e-9 * la, "{la} vs {lb}");
        let last = |f: &crate::fit::Fitted| f.history.last().unwrap().values.clone();
        let (ha, hb) = (last(a), last(b));
        assert_eq!(ha.len(), hb.len());
        for (x, y) in ha.iter().zip(&hb) {
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(1e-300),
                "{ha:?} vs {hb:?}"
            );
        }
    }

    /// The derivative gaps of a second-order SAPM run (combined, first- and
    /// second-derivative parts) go through the reducer: every process
    /// reports the single-process figures, not its own shard's.
    #[test]
    fn pinn_derivative_gaps_are_over_every_shard() {
        let cfg = config("sapm", "heat1d", "");
        let gaps = |k: usize| {
            on_threads(k, |_, r| {
                let f = fit_distributed_checkpointed(&cfg, None, r, &mut NoObserver, None, None)
                    .unwrap();
                let s = &f.summary;
                [
                    s.derivative_gap,
                    s.derivative_gap_first,
                    s.derivative_gap_second,
                ]
                .map(|g| g.unwrap())
            })
        };
        let one = gaps(1)[0];
        assert!(one.iter().all(|g| *g > 0.0 && g.is_finite()), "{one:?}");
        for g in gaps(2) {
            for (x, y) in g.iter().zip(&one) {
                assert!((x - y).abs() <= 1e-6 * y, "{g:?} vs {one:?}");
            }
        }
    }

    /// What does not run on several processes is refused by name, and so
    /// are more processes than points (on every process alike).
    #[test]
    fn pinn_refinement_and_time_marching_are_refused_by_name() {
        for (problem, extra, key) in [
            (
                "heat1d",
                "[pde.refine]\nrounds = 1\ncandidates = 100\nadd = 10\n",
                "pde.refine",
            ),
            ("transport1d", "time_windows = 2\n", "pde.time_windows"),
        ] {
            let text = format!(
                "method = \"ls-adam\"\n[pde]\nproblem = \"{problem}\"\nn_test = 11\n{extra}"
            );
            let cfg = TrainConfig::from_toml_str(&text, &[], None).unwrap();
            let e = check_distributed(&cfg).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("several processes"), "{e}");
        }
        let cfg = config("ls-adam", "transport1d", "");
        for e in on_threads(68, |_, r| {
            fit_distributed_checkpointed(&cfg, None, r, &mut NoObserver, None, None)
                .err()
                .map(|e| e.to_string())
        }) {
            let e = e.expect("68 processes for 67 interior points ran");
            assert!(e.contains("67 interior points for 68 processes"), "{e}");
        }
    }
}
