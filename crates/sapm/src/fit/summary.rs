//! End-of-run numbers: the fragility and consistency diagnostics, and the
//! summary of a run (one writer for every task kind).

use super::train_figures::{TrainFigures, design_pass, train_figures};
use crate::config::{Checked, Method, TrainConfig};
use crate::data::{Dataset, Split};
use crate::driver::{RunResult, Status};
use crate::engine::consistency::rows_bound;
use crate::engine::loss::{Weighting, consistency_constant};
use crate::error::Result;
use crate::linalg::{LocalReducer, Reducer};
use crate::net::Network;
use crate::record::TrainerStats;
use crate::task::Task;
use crate::task::pde::loss::pinn_loss;
use crate::task::pde::rel_l2;
use crate::task::regression::{max_abs_error_in_units, mse, mse_in_units, sq_diff, sq_diff_scaled};
use faer::{Mat, MatRef};
use serde::Serialize;

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
    /// Test MSE (mean over samples and outputs) of the same model evaluated in f32.
    pub test_mse_f32: f64,
    /// `test_mse_f32 > 2 test_mse + 1e-10`: the fit relies on cancellation between large weights.
    pub fragile: bool,
    /// For PM/SAPM: `J_LS / J_aux` at the end (SAPM's bound: <= `consistency_bound`).
    pub ls_over_aux: Option<f64>,
    /// Regression: `L max(1, K^(2(L-1)))`. PDE rows (PM/SAPM): the bound
    /// `(c1 + c2 sqrt(J))^2` on `ls_over_aux` of `engine::consistency::rows_bound`
    /// at the final weights and `J`.
    pub consistency_bound: f64,
    /// MSE (mean over samples and outputs) of the best constant predictor on
    /// the training set (failure threshold).
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
    /// Regression: the largest error between the training points against the
    /// largest error at them (the paper's "bad regularization").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spikes: Option<Spikes>,
}

/// Spikes of the fitted function between training points: sup-norm errors,
/// over samples and outputs, on the test points inside the training inputs'
/// bounding box (for the built-in 1-D data: the grid through the gaps between
/// the outermost training points), on the whole test set, and at the
/// training points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spikes {
    /// `max |u - y|` on the test points inside the training bounding box
    /// (NaN if none is inside).
    pub max_abs_error_between: f64,
    /// `max |u - y|` on the whole test set (extrapolation included).
    pub max_abs_error_test: f64,
    /// `max |u - y|` on the training set.
    pub max_abs_error_train: f64,
    /// `max_abs_error_between / max_abs_error_train`: about 1 when the error
    /// between the points is no larger than at them; large for an interpolant
    /// that spikes in the gaps (infinite, written as null, if the training
    /// error is 0).
    pub ratio: f64,
}

impl Spikes {
    /// The spikes of `net` on `data`, errors in the data's units (`out_scale`:
    /// the output scales of `data.scale`).
    pub fn of(net: &Network, data: &Split, out_scale: Option<&[f64]>) -> Spikes {
        let f = local_figures(net, &data.train, out_scale);
        Spikes::from_figures(net, &data.test, &f, out_scale)
    }

    /// The spikes on `test`, with the training set's bounding box and
    /// largest error from its figures.
    fn from_figures(
        net: &Network,
        test: &Dataset,
        train: &TrainFigures,
        out_scale: Option<&[f64]>,
    ) -> Spikes {
        let (tx, ty) = (test.x.as_ref(), test.y.as_ref());
        let (lo, hi) = (&train.lo, &train.hi);
        let inside: Vec<usize> = (0..tx.ncols())
            .filter(|&j| (0..tx.nrows()).all(|i| (lo[i]..=hi[i]).contains(&tx[(i, j)])))
            .collect();
        let pick =
            |m: MatRef<'_, f64>| Mat::from_fn(m.nrows(), inside.len(), |i, k| m[(i, inside[k])]);
        let between = if inside.is_empty() {
            f64::NAN
        } else {
            max_abs_error_in_units(net, pick(tx).as_ref(), pick(ty).as_ref(), out_scale)
        };
        Spikes {
            max_abs_error_between: between,
            max_abs_error_test: max_abs_error_in_units(net, tx, ty, out_scale),
            max_abs_error_train: train.max_abs_error,
            ratio: between / train.max_abs_error,
        }
    }
}

/// The training figures of one process's whole training set.
fn local_figures(net: &Network, train: &Dataset, out_scale: Option<&[f64]>) -> TrainFigures {
    train_figures(net, train, out_scale, &LocalReducer).expect("the local reducer does not fail")
}

/// `omega` and the round-off floor of the auxiliary loss for `net` on inputs `x`.
pub fn aux_diagnostics(
    net: &Network,
    x: faer::MatRef<'_, f64>,
    weighting: Weighting,
) -> (Vec<f64>, f64) {
    aux_floor(net, &design_pass(net, x).1, x.ncols(), weighting)
}

/// `omega` and the round-off floor `eps^2 sum_l omega_l |Z_l|_F^2 / N` from
/// the pre-activations' sums `z_sq` over `n` samples.
fn aux_floor(net: &Network, z_sq: &[f64], n: usize, weighting: Weighting) -> (Vec<f64>, f64) {
    let omega = weighting.omega(&net.weight_norms_sq());
    let floor =
        (0..net.depth()).map(|l| omega[l] * z_sq[l]).sum::<f64>() * f64::EPSILON * f64::EPSILON
            / n.max(1) as f64;
    (omega, floor)
}

/// Diagnostics of `net` on `data`. With `out_scale` (the output scales of
/// `data.scale`, `data` in the network's units) the errors are in the data's
/// units; the weight norms and `ls_over_aux` are the network's.
pub fn diagnostics(
    net: &Network,
    data: &Split,
    aux_loss: Option<f64>,
    out_scale: Option<&[f64]>,
) -> Diagnostics {
    let f = local_figures(net, &data.train, out_scale);
    diagnostics_from(net, &data.test, &f, aux_loss, out_scale)
}

/// [`diagnostics`] from the training figures `train` (of one process, or
/// joined over the processes of a multi-process run) and the whole `test` set.
fn diagnostics_from(
    net: &Network,
    test: &Dataset,
    train: &TrainFigures,
    aux_loss: Option<f64>,
    out_scale: Option<&[f64]>,
) -> Diagnostics {
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
    // Means over samples and outputs, as the recorded MSEs.
    let m = test.output_dim().max(1) as f64;
    let test_mse = mse_in_units(net, test.x.as_ref(), test.y.as_ref(), out_scale) / m;
    let pred32 = net.predict_f32(test.x.as_ref());
    let (p32, ty) = (pred32.as_ref(), test.y.as_ref());
    let test_sq_f32 = match out_scale {
        Some(sc) => sq_diff_scaled(p32, ty, sc),
        None => sq_diff(p32, ty),
    };
    let test_mse_f32 = test_sq_f32 / (test.len().max(1) as f64 * m);
    // As `mse` (mean over samples, summed over outputs): the scale of J.
    let train_mse = if train.n == 0 {
        0.0
    } else {
        train.sq_error_sum / train.n as f64
    };
    let hidden: usize = net.widths()[1..net.depth()].iter().sum();
    Diagnostics {
        output_weight_norm_sq: *weight_norms_sq.last().unwrap_or(&0.0),
        weight_norms_sq,
        spectral_norm_product,
        output_design_cond: train.output_design_cond,
        test_mse_f32,
        fragile: test_mse_f32.is_nan() || test_mse_f32 > 2.0 * test_mse + 1e-10,
        ls_over_aux: aux_loss.map(|a| train_mse / a),
        consistency_bound: consistency_constant(net.depth(), net.activation().lipschitz()),
        constant_predictor_mse: train.constant_predictor_mse,
        aux_bytes_per_sample: if aux_loss.is_some() { hidden * 8 } else { 0 },
        omega: None,
        aux_roundoff_floor: None,
        spikes: Some(Spikes::from_figures(net, test, train, out_scale)),
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
    /// Final train MSE (mean over samples and outputs).
    pub train_mse: f64,
    /// Final test MSE (mean over samples and outputs).
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
    /// Second-order PM/SAPM-PINN: the same over the first-derivative
    /// auxiliaries alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derivative_gap_first: Option<f64>,
    /// Second-order PM/SAPM-PINN: the same over the second-derivative
    /// auxiliaries alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derivative_gap_second: Option<f64>,
    /// Time-marching PDE runs: one entry per time window (the other fields then
    /// describe the piecewise solution; `diagnostics` are the last window's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<WindowSummary>>,
    /// sapm version.
    pub version: String,
    /// The resolved config (only the keys it uses).
    #[serde(serialize_with = "canonical_config")]
    pub config: TrainConfig,
}

fn canonical_config<S: serde::Serializer>(
    cfg: &TrainConfig,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    cfg.canonical().serialize(s)
}

/// The summary of a finished run of `cfg` on `task` with the final `net`.
/// A regression task's training set is this process's rows, and `reducer`
/// joins the training figures over the processes (every process of a
/// multi-process run calls this; one process passes the local reducer).
/// PDE tasks are summarised on the points they hold, without collectives.
pub(crate) fn summarize(
    cfg: &Checked,
    task: &Task<'_>,
    net: &Network,
    res: &RunResult,
    reducer: &dyn Reducer,
) -> Result<Summary> {
    let aux_loss = res
        .aux_loss
        .filter(|_| matches!(cfg.method, Method::Pm | Method::Sapm | Method::SapmGn));
    let last = res
        .history
        .last()
        .map(|r| r.values.clone())
        .unwrap_or_default();
    let column = |name: &str| {
        res.metric_names
            .iter()
            .position(|n| n == name)
            .and_then(|k| last.get(k).copied())
    };
    let mut summary = Summary {
        method: cfg.method.name().to_string(),
        status: res.status,
        message: res.message.clone(),
        iterations: res.iterations,
        seconds: res.seconds,
        train_mse: f64::NAN,
        test_mse: f64::NAN,
        aux_loss,
        seed: cfg.seed,
        n_train: 0,
        n_test: 0,
        diagnostics: empty_diagnostics(),
        stats: res.stats.clone(),
        rel_l2: None,
        rel_l2_f32: None,
        pde_loss: None,
        bc_loss: None,
        derivative_gap: column("derivative_gap"),
        derivative_gap_first: column("derivative_gap_first"),
        derivative_gap_second: column("derivative_gap_second"),
        windows: None,
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: cfg.config().clone(),
    };
    match task {
        Task::Regression(data, scaling) => {
            let out_scale = scaling.map(|s| s.outputs.scale.as_slice());
            summary.train_mse = column("train_mse").unwrap_or(f64::NAN);
            summary.test_mse = column("test_mse").unwrap_or(f64::NAN);
            let f = train_figures(net, &data.train, out_scale, reducer)?;
            summary.n_train = f.n;
            summary.n_test = data.test.len();
            let mut d = diagnostics_from(net, &data.test, &f, aux_loss, out_scale);
            let w = match cfg.method {
                Method::Pm => Some(Weighting::Constant(cfg.pm.beta)),
                Method::Sapm | Method::SapmGn => Some(Weighting::SelfAdaptive),
                _ => None,
            };
            if let Some(w) = w {
                let (omega, floor) = aux_floor(net, &f.z_sq, f.n, w);
                d.omega = Some(omega);
                d.aux_roundoff_floor = Some(floor);
            }
            summary.diagnostics = d;
        }
        Task::Pde(p) => {
            let data = &p.data;
            let (names, outs) = task.names();
            // Diagnostics against the exact solution (zeros when there is none).
            let exact_or_zero =
                |u: &Option<Mat<f64>>, n: usize| u.clone().unwrap_or_else(|| Mat::zeros(1, n));
            let split = Split {
                train: Dataset::new(
                    data.e_int.clone(),
                    exact_or_zero(&data.u_int, data.n_interior()),
                    names.clone(),
                    outs.clone(),
                )?,
                test: Dataset::new(
                    data.e_test.clone(),
                    exact_or_zero(&data.u_test, data.e_test.ncols()),
                    names,
                    outs,
                )?,
            };
            let has_exact = data.u_test.is_some();
            let err = |d: &Dataset| {
                if has_exact {
                    mse(net, d.x.as_ref(), d.y.as_ref())
                } else {
                    f64::NAN
                }
            };
            let loss = pinn_loss(net, data, p.cfg.alpha, p.cfg.beta_bc);
            summary.train_mse = err(&split.train);
            summary.test_mse = err(&split.test);
            summary.n_train = data.n_interior() + data.n_boundary();
            summary.n_test = data.e_test.ncols();
            summary.rel_l2 = Some(rel_l2(net, data, false));
            summary.rel_l2_f32 = Some(rel_l2(net, data, true));
            summary.pde_loss = Some(loss.pde);
            summary.bc_loss = Some(loss.bc);
            let mut d = diagnostics(net, &split, aux_loss.map(|_| f64::NAN), None);
            // J_LS / J_aux has no meaning here; report the PINN loss over J instead,
            // and the derivative rows' bound on that ratio at the final weights.
            d.ls_over_aux = aux_loss.map(|a| loss.total / a);
            let w = match cfg.method {
                Method::Pm => Some(Weighting::Constant(cfg.pm.beta)),
                Method::Sapm => Some(Weighting::SelfAdaptive),
                _ => None,
            };
            if let (Some(w), Some(a)) = (w, aux_loss) {
                d.consistency_bound = rows_bound(net, &p.row_sets(), w).ratio_bound(a);
            }
            // Interior points hold value and derivative auxiliaries.
            d.aux_bytes_per_sample *= 2;
            summary.diagnostics = d;
        }
    }
    Ok(summary)
}

fn empty_diagnostics() -> Diagnostics {
    Diagnostics {
        weight_norms_sq: Vec::new(),
        output_weight_norm_sq: f64::NAN,
        spectral_norm_product: f64::NAN,
        output_design_cond: f64::NAN,
        test_mse_f32: f64::NAN,
        fragile: false,
        ls_over_aux: None,
        consistency_bound: f64::NAN,
        constant_predictor_mse: f64::NAN,
        aux_bytes_per_sample: 0,
        omega: None,
        aux_roundoff_floor: None,
        spikes: None,
    }
}

/// One window's numbers, as `summary.json` lists them under `windows`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowSummary {
    /// Window index `k`.
    pub index: usize,
    /// `t_k`.
    pub t_lo: f64,
    /// `t_{k+1}`.
    pub t_hi: f64,
    /// Relative L2 error on the window's own test grid (`n_test` per coordinate).
    pub rel_l2: Option<f64>,
    /// The same in f32.
    pub rel_l2_f32: Option<f64>,
    /// The window's mean squared PDE residual (of its own, possibly rescaled, PDE).
    pub pde_loss: Option<f64>,
    /// The window's mean squared boundary residual.
    pub bc_loss: Option<f64>,
    /// Iterations of the window.
    pub iterations: usize,
    /// Training seconds of the window.
    pub seconds: f64,
    /// Why the window's training stopped.
    pub status: Status,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Activation;

    fn split(x: Mat<f64>, y: Mat<f64>) -> Split {
        let names = |k: usize, p: &str| (0..k).map(|i| format!("{p}{i}")).collect();
        let set = Dataset::new(x.clone(), y, names(x.nrows(), "x"), names(1, "y")).unwrap();
        Split {
            train: set.clone(),
            test: set,
        }
    }

    /// The f32 columns come from the model evaluated in single precision: a
    /// model that cancels two terms of size 1e7 fits its targets to 1e-12 in
    /// f64 and is flagged fragile, with the f32 test MSE recomputed here from
    /// single-precision predictions; a model without cancellation is not.
    #[test]
    fn f32_test_mse_is_single_precision_and_flags_cancellation() {
        let net = crate::net::tests::cancelling_net();
        let x = Mat::from_fn(1, 20, |_, j| 0.05 + j as f64 / 20.0);
        let y = Mat::from_fn(1, 20, |_, j| 1.0 - x[(0, j)].tanh().powi(2));
        let data = split(x.clone(), y.clone());
        let d = diagnostics(&net, &data, None, None);
        let mut want = 0.0;
        for j in 0..20 {
            let mut u = 0.0f32;
            for (w, b) in [(-1e7f32, 0.0f32), (1e7, 1e-7)] {
                u += w * Activation::Tanh.eval_f32(x[(0, j)] as f32 + b);
            }
            want += (f64::from(u) - y[(0, j)]).powi(2) / 20.0;
        }
        assert!(mse(&net, x.as_ref(), y.as_ref()) < 1e-12);
        assert!(
            (d.test_mse_f32 - want).abs() <= 1e-6 * want && want > 1e-2,
            "f32 test MSE {} against {want}",
            d.test_mse_f32
        );
        assert!(d.fragile);

        let sound = crate::NetworkSpec::new(vec![1, 4, 1]).build(0).unwrap();
        let y =
            sound.predict(x.as_ref()).unwrap() + Mat::from_fn(1, 20, |_, j| 0.1 * (j % 3) as f64);
        let f64_mse = mse(&sound, x.as_ref(), y.as_ref());
        let d = diagnostics(&sound, &split(x, y), None, None);
        assert!(f64_mse > 1e-3);
        assert!(
            !d.fragile && (d.test_mse_f32 - f64_mse).abs() < 1e-5 * f64_mse,
            "{d:?}"
        );
    }

    /// The spike figures are the sup-norm errors on each set, over samples and
    /// outputs, and their ratio: targets offset from a 2-output network's
    /// prediction by known amounts give those amounts back; a NaN prediction
    /// gives NaN, not the largest finite error.
    #[test]
    fn spikes_are_sup_norm_errors_on_test_and_train() {
        let net = crate::NetworkSpec::new(vec![1, 5, 2]).build(3).unwrap();
        let offsets = |x: &Mat<f64>, at: usize, big: f64| {
            let mut y = net.predict(x.as_ref()).unwrap();
            for j in 0..x.ncols() {
                y[(j % 2, j)] += if j == at { big } else { 0.01 * (j % 4) as f64 };
            }
            y
        };
        let names = |k: usize, p: &str| (0..k).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let set =
            |x: Mat<f64>, y: Mat<f64>| Dataset::new(x, y, names(1, "x"), names(2, "y")).unwrap();
        let xtr = Mat::from_fn(1, 9, |_, j| j as f64 / 8.0);
        let xte = Mat::from_fn(1, 40, |_, j| -0.3 + j as f64 / 30.0);
        let (ytr, yte) = (offsets(&xtr, 4, -0.2), offsets(&xte, 17, 0.7));
        let data = Split {
            train: set(xtr, ytr),
            test: set(xte, yte),
        };
        let s = Spikes::of(&net, &data, None);
        assert!((s.max_abs_error_train - 0.2).abs() < 1e-12, "{s:?}");
        // Test point 17 (x = 0.2667) lies between the training points.
        assert!((s.max_abs_error_test - 0.7).abs() < 1e-12, "{s:?}");
        assert!((s.max_abs_error_between - 0.7).abs() < 1e-12, "{s:?}");
        assert!((s.ratio - 3.5).abs() < 1e-10, "{s:?}");
        // Outside [0, 1] it is extrapolation: counted in the test error only.
        let mut far = data.clone();
        far.test.y[(1, 1)] += 5.0; // x = -0.2667, offset 0.01 before
        let f = Spikes::of(&net, &far, None);
        assert!((f.max_abs_error_test - 5.01).abs() < 1e-9, "{f:?}");
        assert_eq!(f.max_abs_error_between, s.max_abs_error_between);
        assert_eq!(diagnostics(&net, &data, None, None).spikes, Some(s));

        let mut bad = data.test.y.clone();
        bad[(1, 3)] = f64::NAN;
        let nan = crate::task::regression::max_abs_error_in_units(
            &net,
            data.test.x.as_ref(),
            bad.as_ref(),
            None,
        );
        assert!(nan.is_nan());
    }
}
