//! The plain sections of a run config: `[network]`, `[train]`, `[gd]`,
//! `[adam_lbfgs]` and `[elm]` with their defaults and checks, and which
//! methods a second-order `[pde]` accepts.

use super::*;

/// `[network]`: architecture and initialisation. Input and output widths come from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Number of affine layers `L` (>= 1); ignored when `hidden` is set.
    pub depth: usize,
    /// Width of every hidden layer; ignored when `hidden` is set.
    pub width: usize,
    /// Explicit hidden widths `[m_1, ..., m_{L-1}]`.
    pub hidden: Option<Vec<usize>>,
    /// Activation.
    pub activation: Activation,
    /// Weight initialisation: `glorot` or `uniform` (with `init_range`).
    pub init: WeightInit,
    /// `r` of `U(-r, r)` weights when `init = "uniform"`.
    pub init_range: f64,
    /// Bias initialisation: `uniform` (with `bias_range`) or `zero`.
    pub bias_init: BiasInit,
    /// `r` of `U(-r, r)` biases.
    pub bias_range: f64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            depth: 6,
            width: 20,
            hidden: None,
            activation: Activation::Tanh,
            init: WeightInit::Glorot,
            init_range: 1.0,
            bias_init: BiasInit::Uniform,
            bias_range: 1.0,
        }
    }
}

impl NetworkConfig {
    /// The full spec for input dimension `d` and output dimension `m`.
    pub fn spec(&self, d: usize, m: usize) -> NetworkSpec {
        let hidden = match &self.hidden {
            Some(h) => h.clone(),
            None => vec![self.width; self.depth.saturating_sub(1)],
        };
        let mut widths = vec![d];
        widths.extend(hidden);
        widths.push(m);
        NetworkSpec {
            widths,
            activation: self.activation,
            init: self.init,
            init_range: self.init_range,
            bias_init: self.bias_init,
            bias_range: self.bias_range,
        }
    }
}

/// `[train]`: stopping rules and recording.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Maximum iterations (>= 1). One iteration = one gradient step (GD/Adam),
    /// one L-BFGS iteration, or one outer PM/SAPM iteration.
    pub max_iterations: usize,
    /// Time limit in seconds (0 = none). Runs stopped by time are not bit-reproducible.
    pub max_seconds: f64,
    /// Clock for `seconds` and `max_seconds`: `wall` or `cpu` (process CPU time,
    /// fair equal-time comparisons on a shared machine).
    pub clock: Clock,
    /// Stop once the objective is <= this (0 = off).
    pub target_loss: f64,
    /// Stop when the objective changes by less than this fraction in one iteration (0 = off).
    pub rel_tol: f64,
    /// Divergence: objective above this multiple of its initial value.
    pub divergence_factor: f64,
    /// Record history every this many iterations (>= 1).
    pub record_every: usize,
    /// `sapm train` / `sapm study`: write a checkpoint every this many
    /// iterations (0 = only on Ctrl-C/SIGTERM). Not used by the library's
    /// plain `fit` and by PINN runs.
    pub checkpoint_every: usize,
    /// ... but not sooner than this many wall seconds after the previous one
    /// (0 = no floor): a synced write costs milliseconds, more than many
    /// iterations of a small network.
    pub checkpoint_seconds: f64,
    /// `ls-adam`: samples (or interior collocation points, drawn as
    /// `pde.batch` says) per step (0 = full batch; at least the sample
    /// count is full batch too), reshuffled every epoch from the seed. One
    /// iteration is then one mini-batch step.
    pub batch_size: usize,
}

impl Default for TrainSection {
    fn default() -> Self {
        let s = StopRules::default();
        TrainSection {
            max_iterations: s.max_iterations,
            max_seconds: s.max_seconds,
            clock: s.clock,
            target_loss: s.target_loss,
            rel_tol: s.rel_tol,
            divergence_factor: s.divergence_factor,
            record_every: 10,
            checkpoint_every: 100,
            checkpoint_seconds: 30.0,
            batch_size: 0,
        }
    }
}

impl TrainSection {
    /// The driver's stopping rules.
    pub fn rules(&self) -> StopRules {
        StopRules {
            max_iterations: self.max_iterations,
            max_seconds: self.max_seconds,
            clock: self.clock,
            target_loss: self.target_loss,
            rel_tol: self.rel_tol,
            divergence_factor: self.divergence_factor,
        }
    }
}

/// `[gd]`: gradient descent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GdConfig {
    /// Step size (> 0).
    pub lr: f64,
}

impl Default for GdConfig {
    fn default() -> Self {
        GdConfig { lr: 0.03 }
    }
}

/// `[adam_lbfgs]`: the Adam -> L-BFGS schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamLbfgsConfig {
    /// Adam steps before switching to L-BFGS.
    pub adam_steps: usize,
}

impl Default for AdamLbfgsConfig {
    fn default() -> Self {
        AdamLbfgsConfig { adam_steps: 2000 }
    }
}

/// `[elm]`: extreme learning machine baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ElmConfig {
    /// Ridge relative to `trace(P P^T) / k` (>= 0).
    pub ridge: f64,
    /// `qr` or `cholesky`.
    pub solver: SolveMethod,
}

/// A second-order `[pde]` with `cfg`'s method and activation: methods without
/// a second-order path and activations without a second derivative are
/// refused, and the spec is built (and so checked) before any training.
pub(super) fn check_second_order(cfg: &TrainConfig, p: &PdeConfig) -> Result<()> {
    if !p.is_second_order() {
        return Ok(());
    }
    if matches!(cfg.method, Method::SapmGn) {
        return Err(second_order_refusal(cfg.method));
    }
    crate::net::second::require_second_derivative(cfg.network.activation)?;
    if p.time_windows > 1 {
        return Err(Error::config(
            "pde.time_windows",
            "time marching is built for first-order problems only",
        ));
    }
    // The spec (expressions, A's symmetry, the boundary pieces)
    // is checked here, before any training.
    p.problem()?;
    Ok(())
}

/// Why `method` does not run on a second-order PDE (yet).
pub fn second_order_refusal(method: Method) -> Error {
    let why = match method {
        Method::SapmGn => {
            "its Gauss-Newton step is built for regression data only (as for first-order PDEs)"
        }
        _ => "it fits regression data only",
    };
    Error::config(
        "method",
        format!(
            "{method} is not available for second-order PDEs: {why}; use ls-adam, ls-lbfgs, ls-adam-lbfgs, lm, varpro, elm, pm or sapm"
        ),
    )
}
