//! From a config and data to a fitted model, history and summary: the API the
//! `sapm` command is a thin layer over.

pub mod march;
pub mod pinn;

use crate::checkpoint::{StateReader, StateWriter, fingerprint_mats};
use crate::config::{Method, TrainConfig};
use crate::data::{Dataset, Split};
use crate::driver::{Checkpointer, Metrics, NoObserver, Observer, RunOptions, Status, run_with};
use crate::engine::PenaltyTrainer;
use crate::engine::loss::{Weighting, consistency_constant};
use crate::error::{Error, Result};
use crate::linalg::condition_number;
use crate::model::Model;
use crate::net::{ForwardCache, Network};
use crate::optim::{Adam, Elm, GradientDescent, Lbfgs, Lm, Sequence, Trainer};
use crate::record::{Record, TrainerStats};
use crate::task::regression::{LsObjective, mse};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Train and test MSE as the recorded metrics of a regression run.
pub struct RegressionMetrics<'a> {
    /// Training set.
    pub train: &'a Dataset,
    /// Test set.
    pub test: &'a Dataset,
}

impl Metrics for RegressionMetrics<'_> {
    fn names(&self) -> Vec<String> {
        vec!["train_mse".into(), "test_mse".into()]
    }
    fn eval(&self, net: &Network) -> Vec<f64> {
        vec![
            mse(net, self.train.x.as_ref(), self.train.y.as_ref()),
            mse(net, self.test.x.as_ref(), self.test.y.as_ref()),
        ]
    }
}

/// Build the trainer a config asks for, on the training set.
pub fn build_trainer<'a>(
    cfg: &TrainConfig,
    net: &Network,
    train: &'a Dataset,
) -> Result<Box<dyn Trainer + 'a>> {
    let (x, y) = (train.x.as_ref(), train.y.as_ref());
    let obj = || Box::new(LsObjective::new(net, x, y));
    let adam = |name: &str| -> Box<dyn Trainer + 'a> {
        let _ = name;
        Box::new(Adam::new(obj(), cfg.adam))
    };
    Ok(match cfg.method {
        Method::LsGd => Box::new(GradientDescent::new(obj(), cfg.gd.lr)),
        Method::LsAdam => adam("ls-adam"),
        Method::LsLbfgs => Box::new(Lbfgs::new(obj(), cfg.lbfgs)),
        Method::LsAdamLbfgs => Box::new(Sequence::new(
            "ls-adam-lbfgs",
            vec![
                (adam("ls-adam"), cfg.adam_lbfgs.adam_steps),
                (Box::new(Lbfgs::new(obj(), cfg.lbfgs)), 0),
            ],
        )),
        Method::Elm => Box::new(Elm::new(x, y, cfg.elm.ridge, cfg.elm.solver)),
        Method::Lm => Box::new(Lm::plain(obj(), cfg.lm)),
        Method::Varpro => Box::new(Lm::varpro(obj(), net, cfg.lm)),
        Method::Pm | Method::Sapm => {
            let (pc, w) = if cfg.method == Method::Pm {
                (cfg.pm, Weighting::Constant(cfg.pm.beta))
            } else {
                (cfg.sapm, Weighting::SelfAdaptive)
            };
            let t: Box<dyn Trainer + 'a> = Box::new(PenaltyTrainer::new(pc, w, x, y, cfg.seed));
            if pc.warm_start > 0 {
                Box::new(Sequence::new(
                    cfg.method.name(),
                    vec![(adam("ls-adam"), pc.warm_start), (t, 0)],
                ))
            } else {
                t
            }
        }
    })
}

/// End-of-run numbers that tell a real fit from a fragile one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostics {
    /// `|W_l|_F^2` for every layer (bias excluded).
    pub weight_norms_sq: Vec<f64>,
    /// `|W_L|_F^2` of the output layer.
    pub output_weight_norm_sq: f64,
    /// Product of the layers' spectral norms (a Lipschitz bound of the network).
    pub spectral_norm_product: f64,
    /// 2-norm condition number of the output layer's design matrix `[s(z_{L-1}); 1]^T` on the training set.
    pub output_design_cond: f64,
    /// Test MSE of the same model evaluated in f32.
    pub test_mse_f32: f64,
    /// `test_mse_f32 > 2 test_mse + 1e-10`: the fit relies on cancellation between large weights.
    pub fragile: bool,
    /// For PM/SAPM: `J_LS / J_aux` at the end (SAPM's bound: <= `consistency_bound`).
    pub ls_over_aux: Option<f64>,
    /// `L max(1, K^(2(L-1)))`.
    pub consistency_bound: f64,
    /// MSE of the best constant predictor on the training set (failure threshold).
    pub constant_predictor_mse: f64,
    /// Bytes held by auxiliary variables per training sample (PM/SAPM), else 0.
    pub aux_bytes_per_sample: usize,
    /// PM/SAPM: the penalty weights `omega_l` of the final weights (SAPM's span
    /// tens of decades when the output weights explode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omega: Option<Vec<f64>>,
    /// PM/SAPM: round-off floor of the auxiliary loss, `eps^2 sum_l omega_l |Z_l|_F^2 / N`
    /// (forward pre-activations `Z_l`). Below it, changes of `J` are noise: the
    /// descent guarantee holds in exact arithmetic only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux_roundoff_floor: Option<f64>,
}

/// `omega` and the round-off floor of the auxiliary loss for `net` on inputs `x`.
pub fn aux_diagnostics(
    net: &Network,
    x: faer::MatRef<'_, f64>,
    weighting: Weighting,
) -> (Vec<f64>, f64) {
    let omega = weighting.omega(&net.weight_norms_sq());
    let mut cache = ForwardCache::new(net.widths(), x.ncols());
    net.forward_into(x, &mut cache);
    let floor = (0..net.depth())
        .map(|l| omega[l] * cache.z[l].squared_norm_l2())
        .sum::<f64>()
        * f64::EPSILON
        * f64::EPSILON
        / x.ncols().max(1) as f64;
    (omega, floor)
}

/// Diagnostics of `net` on `data`.
pub fn diagnostics(net: &Network, data: &Split, aux_loss: Option<f64>) -> Diagnostics {
    let weight_norms_sq = net.weight_norms_sq();
    let spectral_norm_product = (0..net.depth())
        .map(|l| {
            net.weight(l)
                .singular_values()
                .ok()
                .and_then(|s| s.into_iter().reduce(f64::max))
                .unwrap_or(f64::NAN)
        })
        .product();
    let mut cache = ForwardCache::new(net.widths(), data.train.len());
    net.forward_into(data.train.x.as_ref(), &mut cache);
    let output_design_cond = condition_number(cache.p[net.depth() - 1].as_ref().transpose());
    let test_mse = mse(net, data.test.x.as_ref(), data.test.y.as_ref());
    let pred32 = net.predict_f32(data.test.x.as_ref());
    let test_mse_f32 = crate::task::regression::sq_diff(pred32.as_ref(), data.test.y.as_ref())
        / data.test.len().max(1) as f64;
    let train_mse = mse(net, data.train.x.as_ref(), data.train.y.as_ref());
    let hidden: usize = net.widths()[1..net.depth()].iter().sum();
    Diagnostics {
        output_weight_norm_sq: *weight_norms_sq.last().unwrap_or(&0.0),
        weight_norms_sq,
        spectral_norm_product,
        output_design_cond,
        test_mse_f32,
        fragile: test_mse_f32.is_nan() || test_mse_f32 > 2.0 * test_mse + 1e-10,
        ls_over_aux: aux_loss.map(|a| train_mse / a),
        consistency_bound: consistency_constant(net.depth(), net.activation().lipschitz()),
        constant_predictor_mse: data.train.constant_predictor_mse(),
        aux_bytes_per_sample: if aux_loss.is_some() { hidden * 8 } else { 0 },
        omega: None,
        aux_roundoff_floor: None,
    }
}

/// Everything `summary.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Method name.
    pub method: String,
    /// Why training stopped (`max_iterations`, `converged`, `time_limit`, `diverged`, `interrupted`).
    pub status: Status,
    /// Human-readable stop reason.
    pub message: String,
    /// Iterations completed.
    pub iterations: usize,
    /// Training seconds (evaluation excluded).
    pub seconds: f64,
    /// Final train MSE.
    pub train_mse: f64,
    /// Final test MSE.
    pub test_mse: f64,
    /// Final PM/SAPM loss (null for other methods).
    pub aux_loss: Option<f64>,
    /// The run seed.
    pub seed: u64,
    /// Number of training / test samples.
    pub n_train: usize,
    /// Number of test samples.
    pub n_test: usize,
    /// Fragility and consistency diagnostics.
    pub diagnostics: Diagnostics,
    /// Trainer counters.
    pub stats: TrainerStats,
    /// PDE runs: relative L2 error against the exact solution on the test grid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rel_l2: Option<f64>,
    /// PDE runs: the same with the model evaluated in f32.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rel_l2_f32: Option<f64>,
    /// PDE runs: `mean(PDE residual^2)` on the interior points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pde_loss: Option<f64>,
    /// PDE runs: `mean(boundary residual^2)` on the boundary points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bc_loss: Option<f64>,
    /// PM/SAPM-PINN: `|d - dz|_F / |dz|_F`, derivative auxiliaries against the
    /// network's true directional derivatives (hidden layers, interior points).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derivative_gap: Option<f64>,
    /// Time-marching PDE runs: one entry per time window (the other fields then
    /// describe the piecewise solution; `diagnostics` are the last window's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<crate::fit::march::WindowSummary>>,
    /// sapm version.
    pub version: String,
    /// The resolved config.
    pub config: TrainConfig,
}

/// The result of [`fit`].
#[derive(Debug, Clone)]
pub struct Fitted {
    /// The trained model (the last finite iterate if training diverged).
    pub model: Model,
    /// Summary numbers.
    pub summary: Summary,
    /// Metric names of the history values (`train_mse`, `test_mse`).
    pub metric_names: Vec<String>,
    /// Recorded history.
    pub history: Vec<Record>,
    /// Time-marching PDE runs: the fit of every time window, in time order
    /// (empty otherwise). `model` is then the last window's network.
    pub windows: Vec<Fitted>,
}

/// Train as `cfg` says on `data` (see [`fit_with`]).
pub fn fit(cfg: &TrainConfig, data: &Split) -> Result<Fitted> {
    fit_with(cfg, data, &mut NoObserver)
}

/// Train with an observer for progress and interruption.
///
/// Deterministic: the same config, seed and data give bit-identical weights,
/// losses and history (except `seconds`) for any thread count, unless
/// `train.max_seconds` stops the run.
///
/// Sets faer's global parallelism to sequential: faer's own threading would make
/// results depend on the thread count; we parallelise over sample blocks instead.
pub fn fit_with(cfg: &TrainConfig, data: &Split, observer: &mut dyn Observer) -> Result<Fitted> {
    fit_checkpointed(cfg, data, observer, None, None)
}

/// Writes a regression run's checkpoints to one file (atomically), adding
/// the run's context: its config as TOML and a fingerprint of its data.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    /// The checkpoint file (usually `OUT/checkpoint.sapm`).
    pub path: PathBuf,
    /// `train.checkpoint_every`.
    pub every: usize,
    /// `train.checkpoint_seconds`.
    pub min_seconds: f64,
    last: std::time::Instant,
    /// Checkpoints written so far.
    pub writes: usize,
    /// Size of the last one in bytes.
    pub bytes: u64,
    /// Wall seconds spent writing them.
    pub seconds: f64,
    config: String,
    /// Fingerprint of the run's data (or PINN points), set by the fit.
    pub(crate) data: u64,
}

impl CheckpointFile {
    /// Checkpoints of a run with config `cfg` into `path`.
    pub fn new(path: &Path, cfg: &TrainConfig) -> Self {
        CheckpointFile {
            path: path.to_path_buf(),
            every: cfg.train.checkpoint_every,
            min_seconds: cfg.train.checkpoint_seconds,
            last: std::time::Instant::now(),
            writes: 0,
            bytes: 0,
            seconds: 0.0,
            config: cfg.to_toml(),
            data: 0,
        }
    }
}

impl Checkpointer for CheckpointFile {
    fn due(&self, iteration: usize) -> bool {
        self.every > 0
            && iteration.is_multiple_of(self.every)
            && self.last.elapsed().as_secs_f64() >= self.min_seconds
    }
    fn save(&mut self, mut w: StateWriter<'_>, iteration: usize) -> Result<()> {
        let t = std::time::Instant::now();
        w.scope("run", |w| {
            w.text("config", &self.config);
            w.int("data_fingerprint", self.data);
            w.int("iteration", iteration as u64);
        });
        self.bytes = w.save(&self.path)?;
        self.writes += 1;
        self.seconds += t.elapsed().as_secs_f64();
        self.last = std::time::Instant::now();
        Ok(())
    }
}

/// The config a checkpoint was written with, with `overrides` applied.
/// Only `train.max_iterations`, `train.max_seconds`,
/// `train.checkpoint_every` and `train.checkpoint_seconds` may change on resume: anything else would make
/// the resumed run a different run.
pub fn checkpoint_config(r: &StateReader, overrides: &[String]) -> Result<TrainConfig> {
    const ALLOWED: [&str; 4] = [
        "train.max_iterations",
        "train.max_seconds",
        "train.checkpoint_every",
        "train.checkpoint_seconds",
    ];
    for o in overrides {
        let key = o.split_once('=').map_or(o.as_str(), |(k, _)| k).trim();
        if !ALLOWED.contains(&key) {
            return Err(Error::config(
                key,
                format!("cannot be changed when resuming; only {ALLOWED:?} can"),
            ));
        }
    }
    let text = r.text("run.config")?;
    TrainConfig::from_toml_str(&text, overrides, None)
        .map_err(|e| r.err(format!("field `meta.run.config`: not a valid config: {e}")))
}

/// [`fit_with`] writing checkpoints to `checkpoint` (every
/// `train.checkpoint_every` iterations and when the observer stops the run)
/// and, with `resume`, continuing from a checkpoint of the same config and
/// data. PINN runs (`[pde]`) go to [`crate::fit::pinn::fit_pde_checkpointed`]:
/// single-stage ones are checkpointed and resumed the same way (with a
/// fingerprint of their points); curriculum and time-marching ones are not.
pub fn fit_checkpointed(
    cfg: &TrainConfig,
    data: &Split,
    observer: &mut dyn Observer,
    mut checkpoint: Option<&mut CheckpointFile>,
    mut resume: Option<&mut StateReader>,
) -> Result<Fitted> {
    faer::set_global_parallelism(faer::Par::Seq);
    cfg.validate()?;
    if cfg.pde.is_some() {
        // A PINN run: `data` is ignored, points come from the `[pde]` section.
        return crate::fit::pinn::fit_pde_checkpointed(cfg, observer, checkpoint, resume);
    }
    let (d, m) = (data.train.input_dim(), data.train.output_dim());
    if data.test.input_dim() != d || data.test.output_dim() != m {
        return Err(Error::shape(
            "test set",
            format!("{d} inputs and {m} outputs"),
            format!("{} and {}", data.test.input_dim(), data.test.output_dim()),
        ));
    }
    let spec = cfg.network.spec(d, m);
    let mut net = spec.build(cfg.seed)?;
    let mut trainer = build_trainer(cfg, &net, &data.train)?;
    let metrics = RegressionMetrics {
        train: &data.train,
        test: &data.test,
    };
    let fp = fingerprint_mats([
        data.train.x.as_ref(),
        data.train.y.as_ref(),
        data.test.x.as_ref(),
        data.test.y.as_ref(),
    ]);
    if let Some(r) = resume.as_deref_mut() {
        let saved = r.int("run.data_fingerprint")?;
        if saved != fp {
            return Err(r.err(format!(
                "field `meta.run.data_fingerprint`: the checkpoint was written for other data ({saved:016x}, this run has {fp:016x})"
            )));
        }
    }
    if let Some(c) = checkpoint.as_deref_mut() {
        c.data = fp;
    }
    let res = run_with(
        trainer.as_mut(),
        &mut net,
        &metrics,
        &cfg.train.rules(),
        cfg.train.record_every,
        observer,
        RunOptions {
            checkpoint: checkpoint.map(|c| c as &mut dyn Checkpointer),
            resume,
        },
    )?;
    let last = res
        .history
        .last()
        .map(|r| r.values.clone())
        .unwrap_or_default();
    let aux_loss = res
        .aux_loss
        .filter(|_| matches!(cfg.method, Method::Pm | Method::Sapm));
    let summary = Summary {
        method: cfg.method.name().to_string(),
        status: res.status,
        message: res.message.clone(),
        iterations: res.iterations,
        seconds: res.seconds,
        train_mse: last.first().copied().unwrap_or(f64::NAN),
        test_mse: last.get(1).copied().unwrap_or(f64::NAN),
        aux_loss,
        seed: cfg.seed,
        n_train: data.train.len(),
        n_test: data.test.len(),
        diagnostics: {
            let mut d = diagnostics(&net, data, aux_loss);
            let w = match cfg.method {
                Method::Pm => Some(Weighting::Constant(cfg.pm.beta)),
                Method::Sapm => Some(Weighting::SelfAdaptive),
                _ => None,
            };
            if let Some(w) = w {
                let (omega, floor) = aux_diagnostics(&net, data.train.x.as_ref(), w);
                d.omega = Some(omega);
                d.aux_roundoff_floor = Some(floor);
            }
            d
        },
        stats: res.stats.clone(),
        rel_l2: None,
        rel_l2_f32: None,
        pde_loss: None,
        bc_loss: None,
        derivative_gap: None,
        windows: None,
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: cfg.clone(),
    };
    let model = Model::new(
        net,
        data.train.input_names.clone(),
        data.train.output_names.clone(),
    )?;
    Ok(Fitted {
        model,
        summary,
        metric_names: res.metric_names,
        history: res.history,
        windows: Vec::new(),
    })
}
