//! The one trainer factory: a checked config, a task and the initial network
//! give the trainer of the configured method.

use crate::config::{Checked, Method};
use crate::engine::PenaltyTrainer;
use crate::engine::loss::Weighting;
use crate::error::{Error, Result};
use crate::linalg::{SharedReducer, local_reducer};
use crate::net::Network;
use crate::optim::{Adam, Elm, GradientDescent, Lbfgs, Lm, SapmGn, Sequence, Trainer};
use crate::task::minibatch::MiniBatch;
use crate::task::pde::batch::PinnBatches;
use crate::task::{Residual, Task};

/// Build the trainer `cfg` asks for on `task`. Gradient methods see the
/// task's objective, ELM its regression data, PM/SAPM its row sets; a method
/// the task cannot run is an error naming it.
pub fn build_trainer<'a>(
    cfg: &Checked,
    task: &'a Task<'_>,
    net: &Network,
) -> Result<Box<dyn Trainer + 'a>> {
    build_trainer_on(cfg, task, net, &local_reducer())
}

/// Mini-batches over every process's samples, `(x, y)` being this process's
/// shard [`crate::linalg::shard_range`] of them; the batches are one
/// process's batches of the whole set, the losses and gradients summed over
/// `reducer`. `None` when a batch would hold every sample (full batch, as
/// on one process).
fn sharded_batches<'a>(
    cfg: &Checked,
    net: &Network,
    x: faer::MatRef<'a, f64>,
    y: faer::MatRef<'a, f64>,
    reducer: &SharedReducer,
) -> Result<Option<Box<dyn crate::objective::Objective + 'a>>> {
    let mut n = [x.ncols() as f64];
    reducer.all_reduce_sum(&mut n)?;
    let total = n[0] as usize;
    if cfg.train.batch_size >= total {
        return Ok(None);
    }
    let mine = crate::linalg::shard_range(total, reducer.rank(), reducer.size());
    if mine.len() != x.ncols() {
        return Err(Error::Data(format!(
            "process {} holds {} training samples where the shards of {total} over {} processes give it {}",
            reducer.rank(),
            x.ncols(),
            reducer.size(),
            mine.len()
        )));
    }
    let mb = MiniBatch::sharded(
        net,
        x,
        y,
        (mine.start, total),
        cfg.train.batch_size,
        cfg.seed,
    );
    Ok(Some(Box::new(crate::objective::ShardedObjective::new(
        Box::new(mb),
        reducer.clone(),
        net.num_params(),
    ))))
}

/// Methods that run on several processes, each on its shard of the samples.
pub const DISTRIBUTED_METHODS: [Method; 8] = [
    Method::LsGd,
    Method::LsAdam,
    Method::LsLbfgs,
    Method::LsAdamLbfgs,
    Method::Pm,
    Method::Sapm,
    Method::Lm,
    Method::Elm,
];

/// [`build_trainer`] for one process of a multi-process run: `task` holds
/// this process's shard and every sum over samples goes through `reducer`
/// (a single-process reducer gives exactly [`build_trainer`]'s trainer).
/// Methods not in [`DISTRIBUTED_METHODS`] are refused by name.
pub fn build_trainer_on<'a>(
    cfg: &Checked,
    task: &'a Task<'_>,
    net: &Network,
    reducer: &SharedReducer,
) -> Result<Box<dyn Trainer + 'a>> {
    if reducer.size() > 1 {
        check_distributed(cfg)?;
    }
    let obj = || task.objective_on(net, reducer);
    let adam = || -> Box<dyn Trainer + 'a> { Box::new(Adam::new(obj(), cfg.adam)) };
    if task.is_second_order() && matches!(cfg.method, Method::SapmGn) {
        return Err(crate::config::second_order_refusal(cfg.method));
    }
    Ok(match cfg.method {
        Method::LsGd => Box::new(GradientDescent::new(obj(), cfg.gd.lr)),
        Method::LsAdam => match (task, task.regression_data()) {
            // batch_size >= N is full batch, bit for bit.
            (_, Some((x, y))) if cfg.train.batch_size > 0 && reducer.size() > 1 => {
                match sharded_batches(cfg, net, x, y, reducer)? {
                    Some(mb) => Box::new(Adam::new(mb, cfg.adam)),
                    None => adam(),
                }
            }
            (_, Some((x, y))) if cfg.train.batch_size > 0 && cfg.train.batch_size < x.ncols() => {
                let mb = MiniBatch::new(net, x, y, cfg.train.batch_size, cfg.seed);
                Box::new(Adam::new(Box::new(mb), cfg.adam))
            }
            (Task::Pde(p), _) if cfg.train.batch_size > 0 => {
                match PinnBatches::new(p, cfg.train.batch_size, cfg.seed)? {
                    Some(b) => Box::new(Adam::new(Box::new(b), cfg.adam)),
                    None => adam(),
                }
            }
            _ => adam(),
        },
        Method::LsLbfgs => Box::new(Lbfgs::new(obj(), cfg.lbfgs)),
        Method::LsAdamLbfgs => Box::new(Sequence::new(
            "ls-adam-lbfgs",
            vec![
                (adam(), cfg.adam_lbfgs.adam_steps),
                (Box::new(Lbfgs::new(obj(), cfg.lbfgs)), 0),
            ],
        )),
        Method::Elm => match (task.regression_data(), task.least_squares(net)) {
            (Some((x, y)), _) => {
                Box::new(Elm::new(x, y, cfg.elm.ridge, cfg.elm.solver).distributed(reducer.clone()))
            }
            // Second-order rows: the output layer by least squares on them.
            (None, Residual::Rows(r)) => {
                Box::new(Elm::rows(r, cfg.elm.ridge, cfg.elm.solver).distributed(reducer.clone()))
            }
            (None, Residual::Factored(_)) => {
                return Err(Error::config(
                    "method",
                    "elm is not available for first-order PDE problems ([pde] section; it runs on second-order ones)",
                ));
            }
        },
        Method::Lm => {
            let lm = match task.least_squares(net) {
                Residual::Factored(k) => Lm::plain(k, cfg.lm),
                Residual::Rows(r) => Lm::plain_rows(r, cfg.lm),
            };
            // A PINN shard's residuals divide by the counts of every process.
            Box::new(match task {
                Task::Pde(_) => lm.distributed_scaled(reducer.clone()),
                Task::Regression(..) => lm.distributed(reducer.clone()),
            })
        }
        Method::Varpro => match task.least_squares(net) {
            Residual::Factored(k) => Box::new(Lm::varpro(k, net, cfg.lm)),
            Residual::Rows(r) => Box::new(Lm::varpro_rows(r, net, cfg.lm)),
        },
        Method::SapmGn => {
            let Some((x, y)) = task.regression_data() else {
                return Err(Error::config(
                    "method",
                    "sapm-gn is not available for PDE problems ([pde] section)",
                ));
            };
            let t: Box<dyn Trainer + 'a> = Box::new(SapmGn::new(x, y, cfg.lm, cfg.sapm_gn));
            let warm = cfg.sapm_gn.warm_start;
            if warm > 0 {
                Box::new(Sequence::new("sapm-gn", vec![(adam(), warm), (t, 0)]))
            } else {
                t
            }
        }
        Method::Pm | Method::Sapm => {
            let (pc, w) = if cfg.method == Method::Pm {
                (cfg.pm, Weighting::Constant(cfg.pm.beta))
            } else {
                (cfg.sapm, Weighting::SelfAdaptive)
            };
            let t: Box<dyn Trainer + 'a> = Box::new(
                PenaltyTrainer::with_sets(pc, w, task.row_sets(), cfg.seed)
                    .with_reducer(reducer.clone()),
            );
            if pc.warm_start > 0 {
                Box::new(Sequence::new(
                    cfg.method.name(),
                    vec![(adam(), pc.warm_start), (t, 0)],
                ))
            } else {
                t
            }
        }
    })
}

/// Refuse, by name, what a multi-process run cannot do yet: methods outside
/// [`DISTRIBUTED_METHODS`], PDE refinement and time marching, random auxiliary initialisation
/// (drawn per local point) and wall-clock limits (ranks would stop at
/// different iterations and wait for each other forever).
pub fn check_distributed(cfg: &Checked) -> Result<()> {
    if !DISTRIBUTED_METHODS.contains(&cfg.method) {
        let names: Vec<&str> = DISTRIBUTED_METHODS.iter().map(|m| m.name()).collect();
        let why = match cfg.method {
            // docs/distributed.md says more.
            Method::Varpro => {
                ": its output-layer solve and projected Jacobian need an orthonormal basis of the whole output-layer design, not done over processes;"
            }
            _ => "",
        };
        return Err(Error::config(
            "method",
            format!(
                "{} does not run on several processes yet{why} (distributed: {})",
                cfg.method.name(),
                names.join(", ")
            ),
        ));
    }
    if let Some(pde) = &cfg.pde {
        if pde.refine.is_some() {
            return Err(Error::config(
                "pde.refine",
                "residual-based refinement does not run on several processes yet (its new points are chosen from every process's residuals)",
            ));
        }
        if pde.time_windows > 1 {
            return Err(Error::config(
                "pde.time_windows",
                "time marching does not run on several processes yet (1 window)",
            ));
        }
    }
    let aux = match cfg.method {
        Method::Pm => Some(cfg.pm.aux_init),
        Method::Sapm => Some(cfg.sapm.aux_init),
        _ => None,
    };
    if aux == Some(crate::engine::AuxInit::Random) {
        return Err(Error::config(
            format!("{}.aux_init", cfg.method.name()),
            "\"random\" does not run on several processes (use \"forward\")",
        ));
    }
    if cfg.method == Method::Lm && cfg.lm.solve == crate::optim::lm::LmSolve::Dual {
        return Err(Error::config(
            "lm.solve",
            "\"dual\" needs every residual in one process; several processes solve the primal system (\"auto\" or \"primal\")",
        ));
    }
    if cfg.train.batch_size > 0 && cfg.pde.is_some() {
        return Err(Error::config(
            "train.batch_size",
            "collocation mini-batches do not run on several processes yet (full batch: 0; regression mini-batches do)",
        ));
    }
    if cfg.train.max_seconds > 0.0 {
        return Err(Error::config(
            "train.max_seconds",
            "a time limit would stop the processes at different iterations; use train.max_iterations",
        ));
    }
    Ok(())
}
