//! Run configuration: one TOML file, overridable by `key=value` pairs.
//!
//! Unknown keys are errors (`deny_unknown_fields`); every value is checked by
//! [`TrainConfig::validate`] with an error naming the key and the value.
//! See the README for the full table of keys and defaults.

use crate::Activation;
use crate::data::DataConfig;
use crate::driver::{Clock, StopRules};
use crate::engine::PenaltyConfig;
use crate::error::{Error, Result};
use crate::linalg::SolveMethod;
use crate::net::{BiasInit, NetworkSpec, WeightInit};
use crate::optim::{AdamConfig, LbfgsConfig, LmConfig, SapmGnConfig};
use crate::task::pde::PdeConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

mod parse;
mod sections;
mod usage;
pub use parse::{apply_override, override_arg};
use parse::{conversion_error, deserialize_coercing, rebase_paths, toml_error};
use sections::check_second_order;
pub use sections::{
    AdamLbfgsConfig, ElmConfig, GdConfig, NetworkConfig, TrainSection, second_order_refusal,
};
pub use usage::{unused_keys, unused_reason};

/// A run configuration that passed every check: each value in range and
/// (when it came from text) each key read by the chosen method and task.
/// Built by [`TrainConfig::check`] or the parsers; the pipeline takes only
/// this type, so validation runs once.
///
/// ```
/// use sapm::config::TrainConfig;
/// let mut cfg = TrainConfig::default();
/// cfg.train.max_iterations = 0;
/// assert!(cfg.clone().check().is_err());
/// cfg.train.max_iterations = 5;
/// let checked = cfg.check().unwrap();
/// assert_eq!(checked.train.max_iterations, 5);     // reads through to the config
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Checked(TrainConfig);

impl std::ops::Deref for Checked {
    type Target = TrainConfig;
    fn deref(&self) -> &TrainConfig {
        &self.0
    }
}

impl Checked {
    /// The configuration, for changing it (check it again before use).
    pub fn into_inner(self) -> TrainConfig {
        self.0
    }
    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.0
    }
}

/// The training method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Full-batch gradient descent on `J_LS`.
    LsGd,
    /// Full-batch Adam on `J_LS`.
    LsAdam,
    /// L-BFGS (strong-Wolfe line search) on `J_LS`.
    LsLbfgs,
    /// Adam for `adam_lbfgs.adam_steps`, then L-BFGS.
    LsAdamLbfgs,
    /// Random hidden layers, least-squares output layer.
    Elm,
    /// Penalty model with constant `beta`.
    Pm,
    /// Self-adaptive weighted penalty model.
    #[default]
    Sapm,
    /// Levenberg-Marquardt on the residual vector (`[lm]`).
    Lm,
    /// Variable projection: output layer solved exactly, LM on the hidden layers (`[lm]`).
    Varpro,
    /// Levenberg-Marquardt on `J_SAPM` in weights and auxiliaries jointly
    /// (`[lm]`, `[sapm_gn]`; regression only).
    SapmGn,
}

impl Method {
    /// All methods.
    pub const ALL: [Method; 10] = [
        Method::LsGd,
        Method::LsAdam,
        Method::LsLbfgs,
        Method::LsAdamLbfgs,
        Method::Elm,
        Method::Pm,
        Method::Sapm,
        Method::Lm,
        Method::Varpro,
        Method::SapmGn,
    ];

    /// Config name (`ls-adam`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Method::LsGd => "ls-gd",
            Method::LsAdam => "ls-adam",
            Method::LsLbfgs => "ls-lbfgs",
            Method::LsAdamLbfgs => "ls-adam-lbfgs",
            Method::Elm => "elm",
            Method::Pm => "pm",
            Method::Sapm => "sapm",
            Method::Lm => "lm",
            Method::Varpro => "varpro",
            Method::SapmGn => "sapm-gn",
        }
    }

    /// Whether a run of this method reads the config section `section`
    /// (method-specific sections only; a warm start also reads `[adam]`).
    pub fn reads(self, section: &str, cfg: &TrainConfig) -> bool {
        match section {
            "gd" => self == Method::LsGd,
            "adam" => match self {
                Method::LsAdam | Method::LsAdamLbfgs => true,
                Method::Pm => cfg.pm.warm_start > 0,
                Method::Sapm => cfg.sapm.warm_start > 0,
                Method::SapmGn => cfg.sapm_gn.warm_start > 0,
                _ => false,
            },
            "lbfgs" => matches!(self, Method::LsLbfgs | Method::LsAdamLbfgs),
            "adam_lbfgs" => self == Method::LsAdamLbfgs,
            "elm" => self == Method::Elm,
            "pm" => self == Method::Pm,
            "sapm" => self == Method::Sapm,
            "lm" => matches!(self, Method::Lm | Method::Varpro | Method::SapmGn),
            "sapm_gn" => self == Method::SapmGn,
            _ => true,
        }
    }

    /// The methods that read `section`, for messages.
    pub fn readers(section: &str) -> Vec<&'static str> {
        let mut all = TrainConfig::default();
        all.pm.warm_start = 1;
        all.sapm.warm_start = 1;
        all.sapm_gn.warm_start = 1;
        Method::ALL
            .into_iter()
            .filter(|m| m.reads(section, &all))
            .map(|m| m.name())
            .collect()
    }

    /// Parse a config name.
    pub fn parse(s: &str) -> Result<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::config(
                    "method",
                    format!(
                        "unknown method {}; known: {}",
                        crate::error::quoted(s),
                        Method::ALL.map(|m| m.name()).join(", ")
                    ),
                )
            })
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A complete run configuration.
///
/// ```
/// use sapm::config::{Method, TrainConfig};
/// let cfg = TrainConfig::from_toml_str("method = \"pm\"\n[train]\nmax_iterations = 5", &["pm.beta=10".into()], None).unwrap();
/// assert_eq!(cfg.method, Method::Pm);
/// assert_eq!(cfg.pm.beta, 10.0);
/// assert!(TrainConfig::from_toml_str("bogus = 1", &[], None).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Training method.
    pub method: Method,
    /// Seed of initial weights, training points, splits and random auxiliaries.
    pub seed: u64,
    /// Worker threads (0 = all cores). Results do not depend on it.
    pub threads: usize,
    /// Network.
    pub network: NetworkConfig,
    /// Data.
    pub data: DataConfig,
    /// Stopping and recording.
    pub train: TrainSection,
    /// Gradient descent.
    pub gd: GdConfig,
    /// Adam (also the warm start of PM/SAPM and the first phase of ls-adam-lbfgs).
    pub adam: AdamConfig,
    /// L-BFGS.
    pub lbfgs: LbfgsConfig,
    /// Adam -> L-BFGS switch.
    pub adam_lbfgs: AdamLbfgsConfig,
    /// ELM.
    pub elm: ElmConfig,
    /// PM knobs.
    pub pm: PenaltyConfig,
    /// SAPM knobs.
    pub sapm: PenaltyConfig,
    /// Levenberg-Marquardt and VarPro (and the damping of sapm-gn).
    pub lm: LmConfig,
    /// Gauss-Newton on the SAPM objective.
    pub sapm_gn: SapmGnConfig,
    /// PDE problem: when present the run is a PINN and `[data]` is ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pde: Option<PdeConfig>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            method: Method::Sapm,
            seed: 0,
            threads: 0,
            network: NetworkConfig::default(),
            data: DataConfig::default(),
            train: TrainSection::default(),
            gd: GdConfig::default(),
            adam: AdamConfig::default(),
            lbfgs: LbfgsConfig::default(),
            adam_lbfgs: AdamLbfgsConfig::default(),
            elm: ElmConfig::default(),
            pm: PenaltyConfig::default(),
            sapm: PenaltyConfig::default(),
            lm: LmConfig::default(),
            sapm_gn: SapmGnConfig::default(),
            pde: None,
        }
    }
}

impl TrainConfig {
    /// Validate every value (errors name the key and the value).
    pub fn check(self) -> Result<Checked> {
        self.validate()?;
        Ok(Checked(self))
    }

    /// Parse TOML text, apply `key=value` overrides (dotted keys, TOML values;
    /// bare words are strings), then check: every value in range, and every
    /// key read by the chosen method and task (an unused key is an error
    /// naming it and why). Relative data paths, in the text and in overrides
    /// alike (`--set data.train=f.csv`), are taken relative to `base_dir` (the
    /// config file's folder; without one, the working directory). A string
    /// key set to a bare number or boolean (`--set pde.f=0`) takes the text as
    /// written (`"0"`).
    pub fn from_toml_str(
        text: &str,
        overrides: &[String],
        base_dir: Option<&Path>,
    ) -> Result<Checked> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| Error::ConfigParse(toml_error(text, &e)))?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        if let Some(dir) = base_dir {
            rebase_paths(&mut table, dir);
        }
        let merged = table.clone();
        let cfg: TrainConfig =
            deserialize_coercing(&mut table, overrides).map_err(|e: toml::de::Error| {
                // Errors from the merged table name the key but not the line;
                // deserialising the text alone finds the line when the file
                // itself is at fault: always without overrides (rebasing
                // only edits path strings), else when the message is the same.
                let direct = toml::from_str::<TrainConfig>(text)
                    .err()
                    .filter(|d| overrides.is_empty() || d.message() == e.message());
                Error::ConfigParse(conversion_error(text, &e, direct.as_ref(), overrides))
            })?;
        cfg.validate()?;
        if let Some((key, why)) = unused_keys(&cfg, &merged).into_iter().next() {
            return Err(Error::config(key, format!("has no effect: {why}")));
        }
        Ok(Checked(cfg))
    }

    /// Read a TOML file (see [`TrainConfig::parse`]).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Checked> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        TrainConfig::parse(path, &bytes, overrides)
    }

    /// Parse the bytes of a config file named `path` (see
    /// [`TrainConfig::from_toml_str`]); relative data paths are taken relative
    /// to `path`'s folder. Every error names the file: parse errors carry its
    /// name and the line and column, and [`Error::Config`] reasons end with
    /// `(in FILE)` or `(set by override KEY=VALUE)`.
    pub fn parse(path: &Path, bytes: &[u8], overrides: &[String]) -> Result<Checked> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let at = e.valid_up_to();
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
            Error::format(path, format!("invalid UTF-8 at byte {at} (line {line})"))
        })?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        TrainConfig::from_toml_str(text, overrides, dir).map_err(|e| match e {
            Error::ConfigParse(m) => Error::ConfigParse(format!("{}: {m}", path.display())),
            Error::Config { key, reason } => {
                let from_override = overrides.iter().find(|o| {
                    o.split_once('=').is_some_and(|(k, _)| {
                        let k = k.trim();
                        k == key
                            || key.starts_with(&format!("{k}."))
                            || k.starts_with(&format!("{key}."))
                    })
                });
                let reason = match from_override {
                    Some(o) => format!("{reason} (set by override `{o}`)"),
                    None => format!("{reason} (in {})", path.display()),
                };
                Error::Config { key, reason }
            }
            other => other,
        })
    }

    /// The config as TOML text with only the keys it uses (what checkpoints
    /// store and `summary.json` embeds as JSON); parsing it gives the same
    /// configuration back.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.canonical()).unwrap_or_default()
    }

    /// The config as a TOML table with only the keys it uses.
    pub fn canonical(&self) -> toml::Table {
        let mut t = toml::Table::try_from(self).unwrap_or_default();
        usage::prune(self, &mut t);
        t
    }

    /// Check every value; errors name the key.
    fn validate(&self) -> Result<()> {
        let pos = |key: &str, v: f64| -> Result<()> {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::config(
                    key,
                    format!("must be finite and > 0, got {v}"),
                ))
            }
        };
        let nonneg = |key: &str, v: f64| -> Result<()> {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::config(
                    key,
                    format!("must be finite and >= 0, got {v}"),
                ))
            }
        };
        if self.threads > MAX_THREADS {
            return Err(Error::config(
                "threads",
                format!(
                    "must be <= {MAX_THREADS} (0 = all cores), got {}",
                    self.threads
                ),
            ));
        }
        let n = &self.network;
        if n.hidden.is_none() {
            if n.depth > MAX_DEPTH {
                return Err(Error::config(
                    "network.depth",
                    format!("must be <= {MAX_DEPTH}, got {}", n.depth),
                ));
            }
            if n.width > MAX_WIDTH {
                return Err(Error::config(
                    "network.width",
                    format!("must be <= {MAX_WIDTH}, got {}", n.width),
                ));
            }
            if n.depth == 0 {
                return Err(Error::config("network.depth", "must be >= 1, got 0"));
            }
            if n.width == 0 && n.depth > 1 {
                return Err(Error::config("network.width", "must be >= 1, got 0"));
            }
        }
        if let Some(h) = &n.hidden
            && h.contains(&0)
        {
            return Err(Error::config(
                "network.hidden",
                format!("widths must be >= 1, got {h:?}"),
            ));
        }
        if let Some(h) = &n.hidden {
            if h.len() + 1 > MAX_DEPTH {
                return Err(Error::config(
                    "network.hidden",
                    format!("at most {} hidden layers, got {}", MAX_DEPTH - 1, h.len()),
                ));
            }
            if let Some(w) = h.iter().find(|&&w| w > MAX_WIDTH) {
                return Err(Error::config(
                    "network.hidden",
                    format!("widths must be <= {MAX_WIDTH}, got {w}"),
                ));
            }
        }
        // Widths within range can still multiply into more weights than fit in
        // memory; refuse here rather than abort on allocation during training.
        let hidden = n.spec(1, 1).widths;
        let weights: u128 = hidden[1..hidden.len() - 1]
            .windows(2)
            .map(|w| w[0] as u128 * w[1] as u128)
            .sum();
        if weights > MAX_HIDDEN_WEIGHTS as u128 {
            let key = if n.hidden.is_some() {
                "network.hidden"
            } else {
                "network.width"
            };
            return Err(Error::config(
                key,
                format!(
                    "{weights} weights between hidden layers; at most {MAX_HIDDEN_WEIGHTS} are allowed"
                ),
            ));
        }
        pos("network.init_range", n.init_range)?;
        pos("network.bias_range", n.bias_range)?;
        let depth = n.hidden.as_ref().map_or(n.depth, |h| h.len() + 1);
        if matches!(self.method, Method::Pm | Method::Sapm | Method::SapmGn) && depth < 2 {
            return Err(Error::config(
                "network.depth",
                format!(
                    "{} needs at least 2 layers (one hidden), got {depth}",
                    self.method
                ),
            ));
        }
        if self.network.activation == Activation::Relu
            && matches!(self.method, Method::Pm | Method::Sapm)
        {
            // Allowed: the weight step does not need smoothness; backtracking handles kinks.
        }
        if let Some(p) = &self.pde {
            p.validate()?;
            check_second_order(self, p)?;
            if self.method == Method::Elm && !p.is_second_order() {
                return Err(Error::config(
                    "method",
                    "elm is not available for first-order PDE problems ([pde] section; it runs on second-order ones)",
                ));
            }
            if self.method == Method::SapmGn {
                return Err(Error::config(
                    "method",
                    "sapm-gn is not available for PDE problems ([pde] section): its joint step is implemented for regression rows only",
                ));
            }
            if !self.network.activation.is_smooth() {
                return Err(Error::config(
                    "network.activation",
                    format!(
                        "PINNs need a smooth activation, got {}",
                        self.network.activation
                    ),
                ));
            }
        } else {
            self.data.validate()?;
        }
        let t = &self.train;
        if t.max_iterations == 0 {
            return Err(Error::config("train.max_iterations", "must be >= 1, got 0"));
        }
        nonneg("train.max_seconds", t.max_seconds)?;
        nonneg("train.checkpoint_seconds", t.checkpoint_seconds)?;
        nonneg("train.target_loss", t.target_loss)?;
        nonneg("train.rel_tol", t.rel_tol)?;
        pos("train.divergence_factor", t.divergence_factor)?;
        if t.divergence_factor <= 1.0 {
            return Err(Error::config(
                "train.divergence_factor",
                format!("must be > 1, got {}", t.divergence_factor),
            ));
        }
        if t.record_every == 0 {
            return Err(Error::config("train.record_every", "must be >= 1, got 0"));
        }
        pos("gd.lr", self.gd.lr)?;
        pos("adam.lr", self.adam.lr)?;
        pos("adam.eps", self.adam.eps)?;
        for (k, b) in [
            ("adam.beta1", self.adam.beta1),
            ("adam.beta2", self.adam.beta2),
        ] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::config(k, format!("must be in [0, 1), got {b}")));
            }
        }
        if self.lbfgs.memory == 0 || self.lbfgs.memory > MAX_LBFGS_MEMORY {
            return Err(Error::config(
                "lbfgs.memory",
                format!(
                    "must be in [1, {MAX_LBFGS_MEMORY}], got {}",
                    self.lbfgs.memory
                ),
            ));
        }
        nonneg("lbfgs.tol_grad", self.lbfgs.tol_grad)?;
        nonneg("lbfgs.tol_cost", self.lbfgs.tol_cost)?;
        nonneg("elm.ridge", self.elm.ridge)?;
        self.lm.validate()?;
        self.sapm_gn.validate()?;
        if self.method == Method::Varpro && depth < 2 {
            return Err(Error::config(
                "network.depth",
                format!("varpro needs at least 2 layers (one hidden), got {depth}"),
            ));
        }
        for (sec, p) in [("pm", &self.pm), ("sapm", &self.sapm)] {
            pos(&format!("{sec}.beta"), p.beta)?;
            nonneg(&format!("{sec}.ridge"), p.ridge)?;
            nonneg(&format!("{sec}.prox"), p.prox)?;
            pos(&format!("{sec}.tau"), p.tau)?;
            nonneg(&format!("{sec}.cap_output"), p.cap_output)?;
            nonneg(&format!("{sec}.cap_hidden"), p.cap_hidden)?;
            if p.aux_steps == 0 {
                return Err(Error::config(
                    format!("{sec}.aux_steps"),
                    "must be >= 1, got 0",
                ));
            }
            if p.block == 0 {
                return Err(Error::config(format!("{sec}.block"), "must be >= 1, got 0"));
            }
        }
        Ok(())
    }
}

/// Largest `threads`: more would only exhaust the process's thread limit.
pub const MAX_THREADS: usize = 1024;
/// Largest number of layers `L`.
pub const MAX_DEPTH: usize = 1000;
/// Largest hidden width.
pub const MAX_WIDTH: usize = 1 << 20;
/// Largest number of hidden-to-hidden weights (2 GiB of `f64`).
pub const MAX_HIDDEN_WEIGHTS: usize = 1 << 28;
/// Largest `lbfgs.memory` (the solver reserves this many vector pairs up front).
pub const MAX_LBFGS_MEMORY: usize = 10_000;

#[cfg(test)]
mod tests;
