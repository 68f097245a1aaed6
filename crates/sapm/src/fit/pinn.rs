//! The PINN path of [`crate::fit::fit_with`]: points, trainer, metrics, summary.

use crate::checkpoint::{StateReader, fingerprint_mats};
use crate::config::{Method, TrainConfig};
use crate::data::{Dataset, Split};
use crate::driver::{Checkpointer, Metrics, Observer, RunOptions, run_with};
use crate::engine::loss::Weighting;
use crate::engine::pinn::{PinnPenaltySettings, PinnPenaltyTrainer};
use crate::error::{Error, Result};
use crate::fit::CheckpointFile;
use crate::fit::{Fitted, Summary, diagnostics};
use crate::model::Model;
use crate::net::Network;
use crate::optim::{Adam, GradientDescent, Lbfgs, Lm, Sequence, Trainer};
use crate::task::pde::loss::{PinnObjective, pinn_loss};
use crate::task::pde::{PdeConfig, PinnData, Problem};
use faer::Mat;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// `|u - u_exact| / |u_exact|` on the test grid (NaN without an exact solution);
/// `f32 = true` evaluates the network in single precision.
pub fn rel_l2(net: &Network, data: &PinnData, f32: bool) -> f64 {
    let Some(u) = &data.u_test else {
        return f64::NAN;
    };
    let pred = if f32 {
        net.predict_f32(data.e_test.as_ref())
    } else {
        match net.predict(data.e_test.as_ref()) {
            Ok(p) => p,
            Err(_) => return f64::NAN,
        }
    };
    ((pred - u).squared_norm_l2() / u.squared_norm_l2()).sqrt()
}

/// Shared cell holding the derivative gap (f64 bits) of a PM/SAPM-PINN trainer.
pub type GapProbe = Arc<AtomicU64>;

/// History columns of a PINN run: `pinn_loss`, `pde_loss`, `bc_loss`, `rel_l2`,
/// and for PM/SAPM `derivative_gap`.
pub struct PinnMetrics<'a> {
    /// The points.
    pub data: &'a PinnData,
    /// PDE weight.
    pub alpha: f64,
    /// Boundary weight.
    pub beta_bc: f64,
    /// Derivative-gap probe of a PM/SAPM trainer.
    pub gap: Option<Arc<AtomicU64>>,
}

impl Metrics for PinnMetrics<'_> {
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = ["pinn_loss", "pde_loss", "bc_loss", "rel_l2"]
            .map(String::from)
            .to_vec();
        if self.gap.is_some() {
            v.push("derivative_gap".into());
        }
        v
    }
    fn eval(&self, net: &Network) -> Vec<f64> {
        let l = pinn_loss(net, self.data, self.alpha, self.beta_bc);
        let mut v = vec![l.total, l.pde, l.bc, rel_l2(net, self.data, false)];
        if let Some(g) = &self.gap {
            v.push(f64::from_bits(g.load(Ordering::Relaxed)));
        }
        v
    }
}

/// The trainer for a PDE config, and the derivative-gap probe for PM/SAPM.
pub fn build_pinn_trainer<'a>(
    cfg: &TrainConfig,
    pde: &PdeConfig,
    net: &Network,
    data: &'a PinnData,
) -> Result<(Box<dyn Trainer + 'a>, Option<GapProbe>)> {
    let (alpha, beta) = (pde.alpha, pde.beta_bc);
    let obj = || Box::new(PinnObjective::new(net, data, alpha, beta));
    let adam = || -> Box<dyn Trainer + 'a> { Box::new(Adam::new(obj(), cfg.adam)) };
    Ok(match cfg.method {
        Method::LsGd => (Box::new(GradientDescent::new(obj(), cfg.gd.lr)), None),
        Method::LsAdam => (adam(), None),
        Method::LsLbfgs => (Box::new(Lbfgs::new(obj(), cfg.lbfgs)), None),
        Method::LsAdamLbfgs => (
            Box::new(Sequence::new(
                "ls-adam-lbfgs",
                vec![
                    (adam(), cfg.adam_lbfgs.adam_steps),
                    (Box::new(Lbfgs::new(obj(), cfg.lbfgs)), 0),
                ],
            )),
            None,
        ),
        Method::Lm => (Box::new(Lm::plain(obj(), cfg.lm)), None),
        Method::Varpro => (Box::new(Lm::varpro(obj(), net, cfg.lm)), None),
        Method::Elm => {
            return Err(Error::config(
                "method",
                "elm is not available for PDE problems",
            ));
        }
        Method::Pm | Method::Sapm => {
            let (pc, w) = if cfg.method == Method::Pm {
                (cfg.pm, Weighting::Constant(cfg.pm.beta))
            } else {
                (cfg.sapm, Weighting::SelfAdaptive)
            };
            let set = PinnPenaltySettings {
                alpha,
                beta_bc: beta,
                omega_floor: pde.omega_floor,
                omega_deriv: pde.omega_deriv,
            };
            let t = PinnPenaltyTrainer::new(data, pc, set, w);
            let gap = t.gap_probe();
            let t: Box<dyn Trainer + 'a> = Box::new(t);
            let t = if pc.warm_start > 0 {
                Box::new(Sequence::new(
                    cfg.method.name(),
                    vec![(adam(), pc.warm_start), (t, 0)],
                )) as Box<dyn Trainer + 'a>
            } else {
                t
            };
            (t, Some(gap))
        }
    })
}

/// Train a PINN as `cfg` (with a `[pde]` section) says.
///
/// ```
/// use sapm::{fit::fit_with, driver::NoObserver, Method, TrainConfig};
/// let mut cfg = TrainConfig::from_toml_str(
///     "method = \"ls-adam-lbfgs\"\n[network]\ndepth = 3\nwidth = 10\n[pde]\nproblem = \"steady1d\"\nn_interior = 64",
///     &["train.max_iterations=300".into(), "adam_lbfgs.adam_steps=100".into()], None)?;
/// let data = cfg.data.load(0)?;                  // ignored by PINN runs
/// let f = fit_with(&cfg, &data, &mut NoObserver)?;
/// assert!(f.summary.rel_l2.unwrap() < 0.05);
/// assert!(f.summary.pde_loss.is_some());
/// # Ok::<(), sapm::Error>(())
/// ```
pub fn fit_pde(cfg: &TrainConfig, observer: &mut dyn Observer) -> Result<Fitted> {
    fit_pde_checkpointed(cfg, observer, None, None)
}

/// [`fit_pde`] writing checkpoints to `checkpoint` and, with `resume`,
/// continuing from a checkpoint of the same config and points (see
/// [`crate::fit::fit_checkpointed`]).
///
/// Only single-stage runs are checkpointed: runs with time marching
/// (`pde.time_windows > 1`) or a curriculum (`pde.curriculum`) write no
/// checkpoint, and resuming one is an error naming the setting.
pub fn fit_pde_checkpointed(
    cfg: &TrainConfig,
    observer: &mut dyn Observer,
    checkpoint: Option<&mut CheckpointFile>,
    resume: Option<&mut StateReader>,
) -> Result<Fitted> {
    cfg.validate()?;
    let pde = cfg
        .pde
        .as_ref()
        .ok_or_else(|| Error::config("pde", "missing [pde] section"))?;
    if resume.is_some() {
        if pde.time_windows > 1 {
            return Err(Error::config(
                "pde.time_windows",
                format!(
                    "time-marching runs ({} windows) cannot be resumed; only single-stage PINN runs can, start this run again",
                    pde.time_windows
                ),
            ));
        }
        if !pde.curriculum.is_empty() {
            return Err(Error::config(
                "pde.curriculum",
                "runs with a curriculum cannot be resumed; only single-stage PINN runs can, start this run again",
            ));
        }
    }
    if pde.time_windows > 1 {
        let problem = pde.problem()?;
        let marched = super::march::time_march(
            &problem,
            cfg,
            super::march::MarchOptions::from_pde(pde),
            observer,
        )?;
        return marched.into_fitted(cfg);
    }
    // Curriculum stages (if any), then the target problem, on the same network.
    let stages: Vec<(PdeConfig, Problem)> = pde
        .curriculum
        .iter()
        .map(|&b| PdeConfig {
            beta: b,
            ..pde.clone()
        })
        .chain(std::iter::once(pde.clone()))
        .map(|s| s.problem().map(|p| (s, p)))
        .collect::<Result<_>>()?;
    if stages.len() > 1 {
        // A curriculum: no checkpoints (a resume is refused above).
        return fit_stages(cfg, pde, stages, observer, None, None);
    }
    fit_stages(cfg, pde, stages, observer, checkpoint, resume)
}

/// Fingerprint of a PINN run's points (interior, boundary and test grid,
/// with their targets), so a checkpoint is not resumed on other points.
pub fn points_fingerprint(data: &PinnData) -> u64 {
    let mut mats = vec![
        data.e_int.as_ref(),
        data.v_int.as_ref(),
        data.f_int.as_ref(),
        data.e_bc.as_ref(),
        data.g_bc.as_ref(),
        data.e_test.as_ref(),
    ];
    if let Some(u) = &data.u_test {
        mats.push(u.as_ref());
    }
    fingerprint_mats(mats)
}

/// Train one network on `stages` in turn (each with the `[train]` budget and
/// its own points), and summarise it on the last stage. `pde` gives the
/// weights of the final loss. `checkpoint` and `resume` need exactly one stage.
pub(crate) fn fit_stages(
    cfg: &TrainConfig,
    pde: &PdeConfig,
    stages: Vec<(PdeConfig, Problem)>,
    observer: &mut dyn Observer,
    mut checkpoint: Option<&mut CheckpointFile>,
    mut resume: Option<&mut StateReader>,
) -> Result<Fitted> {
    if stages.len() != 1 && (checkpoint.is_some() || resume.is_some()) {
        return Err(Error::config(
            "pde.curriculum",
            "only single-stage PINN runs can be checkpointed or resumed",
        ));
    }
    let first = &stages
        .first()
        .ok_or_else(|| Error::config("pde", "no stage to run"))?
        .1;
    let mut net = cfg.network.spec(first.embedded_dim(), 1).build(cfg.seed)?;
    let mut history = Vec::new();
    let (mut iter_offset, mut sec_offset) = (0, 0.0);
    let mut stats = crate::record::TrainerStats::default();
    let mut last = None;
    for (stage, problem) in stages {
        let data = PinnData::sample(&problem, &stage, cfg.seed)?;
        let (mut trainer, gap) = build_pinn_trainer(cfg, &stage, &net, &data)?;
        let metrics = PinnMetrics {
            data: &data,
            alpha: stage.alpha,
            beta_bc: stage.beta_bc,
            gap: gap.clone(),
        };
        let fp = points_fingerprint(&data);
        if let Some(r) = resume.as_deref_mut() {
            let saved = r.int("run.data_fingerprint")?;
            if saved != fp {
                return Err(r.err(format!(
                    "field `meta.run.data_fingerprint`: the checkpoint was written for other PINN points ({saved:016x}, this run has {fp:016x})"
                )));
            }
        }
        if let Some(c) = checkpoint.as_deref_mut() {
            c.data = fp;
        }
        let mut res = run_with(
            trainer.as_mut(),
            &mut net,
            &metrics,
            &cfg.train.rules(),
            cfg.train.record_every,
            observer,
            RunOptions {
                checkpoint: checkpoint
                    .as_deref_mut()
                    .map(|c| c as &mut dyn Checkpointer),
                resume: resume.as_deref_mut(),
            },
        )?;
        drop(trainer);
        for r in &mut res.history {
            r.iteration += iter_offset;
            r.seconds += sec_offset;
        }
        iter_offset += res.iterations;
        sec_offset += res.seconds;
        history.append(&mut res.history);
        stats.solves += res.stats.solves;
        stats.solve_fallbacks += res.stats.solve_fallbacks;
        stats.aux_rejections += res.stats.aux_rejections;
        stats.evaluations += res.stats.evaluations;
        last = Some((res, data, gap, problem));
    }
    let (mut res, data, gap, problem) =
        last.ok_or_else(|| Error::config("pde", "no stage to run"))?;
    res.iterations = iter_offset;
    res.seconds = sec_offset;
    res.history = history;
    res.stats = stats;
    let aux_loss = res
        .aux_loss
        .filter(|_| matches!(cfg.method, Method::Pm | Method::Sapm));
    let names = problem.embedded_names();
    // Diagnostics against the exact solution (zeros when there is none).
    let exact_or_zero =
        |u: &Option<Mat<f64>>, n: usize| u.clone().unwrap_or_else(|| Mat::zeros(1, n));
    let split = Split {
        train: Dataset::new(
            data.e_int.clone(),
            exact_or_zero(&data.u_int, data.n_interior()),
            names.clone(),
            vec!["u".into()],
        )?,
        test: Dataset::new(
            data.e_test.clone(),
            exact_or_zero(&data.u_test, data.e_test.ncols()),
            names.clone(),
            vec!["u".into()],
        )?,
    };
    let has_exact = data.u_test.is_some();
    let mse = |d: &Dataset| {
        if has_exact {
            crate::task::regression::mse(&net, d.x.as_ref(), d.y.as_ref())
        } else {
            f64::NAN
        }
    };
    let loss = pinn_loss(&net, &data, pde.alpha, pde.beta_bc);
    // The derivative gap of the returned model (the probe holds the last step's).
    let derivative_gap = gap.map(|g| f64::from_bits(g.load(Ordering::Relaxed)));
    let summary = Summary {
        method: cfg.method.name().to_string(),
        status: res.status,
        message: res.message.clone(),
        iterations: res.iterations,
        seconds: res.seconds,
        train_mse: mse(&split.train),
        test_mse: mse(&split.test),
        aux_loss,
        seed: cfg.seed,
        n_train: data.n_interior() + data.n_boundary(),
        n_test: data.e_test.ncols(),
        diagnostics: diagnostics(&net, &split, aux_loss.map(|_| f64::NAN)),
        stats: res.stats.clone(),
        rel_l2: Some(rel_l2(&net, &data, false)),
        rel_l2_f32: Some(rel_l2(&net, &data, true)),
        pde_loss: Some(loss.pde),
        bc_loss: Some(loss.bc),
        derivative_gap,
        windows: None,
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: cfg.clone(),
    };
    let mut summary = summary;
    // J_LS / J_aux has no meaning here; report the PINN loss over J instead.
    summary.diagnostics.ls_over_aux = aux_loss.map(|a| loss.total / a);
    // Interior points hold value and derivative auxiliaries.
    summary.diagnostics.aux_bytes_per_sample *= 2;
    let model = Model::new(net, names, vec!["u".into()])?;
    Ok(Fitted {
        model,
        summary,
        metric_names: res.metric_names,
        history: res.history,
        windows: Vec::new(),
    })
}
