//! Time marching ("sequence-to-sequence" training in time, Krishnapriyan et
//! al. 2021, *Characterizing possible failure modes in physics-informed neural
//! networks*).
//!
//! The time coordinate `t` (the problem variable named `t`, not periodic) is
//! split into `K` equal windows `[t_k, t_{k+1}]`. Window `k` is the same PDE on
//! the sub-box, trained as an ordinary PINN (its own network, points and
//! `[train]` budget); its data on the initial face `t = t_k` is the previous
//! window's trained network evaluated at `t_k` (window 0 uses the problem's
//! `g`); on the other inflow faces it is the problem's `g`. The solution is
//! piecewise: a point with `t_k <= t < t_{k+1}` is evaluated by window `k`'s
//! network (`t = t_K` by the last).
//!
//! With `local_time` (the default) each window's network takes the local time
//! `s = (t - t_k) / h`, `h = t_{k+1} - t_k`, in `[0, 1]`: the window's PDE is
//! multiplied by `h`, i.e. `c'_t = c_t`, `c'_i = h c_i` for the other
//! coordinates and `f' = h f`. For `u_t + beta u_x = 0` every window is then the
//! same problem with speed `beta h` over unit time. Without it the networks take
//! `t` itself and the PDE is unchanged.
//!
//! ```
//! use sapm::task::pde::Problem;
//! use sapm::fit::march::{time_march, MarchOptions};
//! use sapm::{driver::NoObserver, TrainConfig};
//! let cfg = TrainConfig::from_toml_str(
//!     "method = \"ls-adam\"\n[network]\ndepth = 2\nwidth = 8\n[pde]\nn_interior = 50\nn_boundary = 10\nn_test = 11",
//!     &["train.max_iterations=20".into()], None)?;
//! let m = time_march(&Problem::transport1d(1.0), &cfg, MarchOptions::new(2), &mut NoObserver)?;
//! assert_eq!(m.windows.len(), 2);
//! assert_eq!((m.windows[1].t_lo, m.windows[1].t_hi), (0.5, 1.0));
//! assert!(m.rel_l2.is_finite());
//! # Ok::<(), sapm::Error>(())
//! ```

use super::checkpoint_file::CheckpointFile;
use super::schedule::{Plan, StageOut, run_stages};
use super::summary::{Summary, WindowSummary, summarize};
use crate::checkpoint::StateReader;
use crate::config::{Checked, TrainConfig};
use crate::driver::{Observer, Status};
use crate::error::{Error, Result};
use crate::fit::Fitted;
use crate::model::Model;
use crate::record::TrainerStats;
use crate::task::Task;
use crate::task::pde::window::{TimeMap, time_coordinate, window_edges, window_problem};
use crate::task::pde::{PdeConfig, PdeTask, PinnData, Problem};
use faer::{Mat, MatRef};

/// How to march.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarchOptions {
    /// Number of time windows `K >= 1`.
    pub windows: usize,
    /// Networks take the window's local time `s in [0, 1]` (see the module docs).
    pub local_time: bool,
}

impl MarchOptions {
    /// `windows` windows with local time.
    pub fn new(windows: usize) -> Self {
        MarchOptions {
            windows,
            local_time: true,
        }
    }

    /// `pde.time_windows` and `pde.window_local_time`.
    pub fn from_pde(pde: &PdeConfig) -> Self {
        MarchOptions {
            windows: pde.time_windows,
            local_time: pde.window_local_time,
        }
    }
}

/// One trained window.
#[derive(Debug, Clone)]
pub struct Window {
    /// `t_k`.
    pub t_lo: f64,
    /// `t_{k+1}`.
    pub t_hi: f64,
    /// The window's problem (in local time with `local_time`).
    pub problem: Problem,
    /// Its fit: model (inputs: the window problem's embedding), summary, history.
    pub fitted: Fitted,
}

/// The result of [`time_march`].
#[derive(Debug, Clone)]
pub struct Marched {
    /// The whole problem.
    pub problem: Problem,
    /// Index of the time coordinate.
    pub time: usize,
    /// Whether the windows use local time.
    pub local_time: bool,
    /// The windows, in time order.
    pub windows: Vec<Window>,
    /// Relative L2 error of the piecewise solution on the whole problem's test
    /// grid (`n_test` points per coordinate; NaN without an exact solution).
    pub rel_l2: f64,
    /// The same with every network evaluated in f32.
    pub rel_l2_f32: f64,
    /// Mean squared error against the exact solution on that grid (NaN without one).
    pub test_mse: f64,
    /// The test grid, `d x N_t` (problem coordinates).
    pub x_test: Mat<f64>,
}

/// Train `K` PINNs on consecutive time windows of `problem` (module docs).
///
/// `cfg` gives the method, network, seed and per-window `[train]` budget; its
/// `[pde]` section (default if absent) the per-window point counts, weights and
/// `n_test` (its `problem`, `time_windows` and `window_local_time` keys are not
/// read: `problem` and `opts` say what to march). Every window samples its
/// points with `cfg.seed` and initialises its network from it.
///
/// Errors: `K = 0`; no coordinate `t`; a window whose initial face receives no
/// boundary point (too few `n_boundary`, or `t = t_k` not an inflow face); any
/// error of the single-window fit.
pub fn time_march(
    problem: &Problem,
    cfg: &Checked,
    opts: MarchOptions,
    observer: &mut dyn Observer,
) -> Result<Marched> {
    march_checkpointed(problem, cfg, opts, observer, None, None)
}

/// [`time_march`] with every window checkpointed and resumable.
pub(crate) fn march_checkpointed(
    problem: &Problem,
    cfg: &Checked,
    opts: MarchOptions,
    observer: &mut dyn Observer,
    checkpoint: Option<&mut CheckpointFile>,
    resume: Option<&mut StateReader>,
) -> Result<Marched> {
    let pde = cfg.pde.clone().unwrap_or_default();
    problem.validate()?;
    let time = time_coordinate(problem)?;
    let edges = window_edges(problem, time, opts.windows)?;
    let build = |k: usize, done: &[StageOut<'static>]| -> Result<Task<'static>> {
        let prev = done.last().map(|s| match &s.task {
            Task::Pde(p) => (&p.problem, &s.net),
            Task::Regression(..) => unreachable!("time windows are PDE tasks"),
        });
        let wp = window_problem(
            problem,
            time,
            (edges[k], edges[k + 1]),
            opts.local_time,
            prev,
        )?;
        let task = PdeTask::new(wp, pde.clone(), cfg.seed)?;
        let data = &task.data;
        let on_face = (0..data.n_boundary())
            .filter(|&j| data.x_bc[(time, j)] <= task.problem.lo[time])
            .count();
        if on_face == 0 {
            return Err(Error::Problem(format!(
                "time window {k} (t in [{}, {}]) has no boundary point on its initial face t = {}: \
                 raise pde.n_boundary (now {}), or check that c_t > 0 there",
                edges[k],
                edges[k + 1],
                edges[k],
                pde.n_boundary
            )));
        }
        Ok(Task::Pde(Box::new(task)))
    };
    let plan = Plan {
        stages: opts.windows,
        carry: false,
        task: &build,
        raw: None,
        reducer: crate::linalg::local_reducer(),
    };
    let stages = run_stages(cfg, &plan, observer, checkpoint, resume)?;
    let mut windows: Vec<Window> = Vec::with_capacity(stages.len());
    for (k, s) in stages.into_iter().enumerate() {
        let summary = summarize(cfg, &s.task, &s.net, &s.res, &crate::linalg::LocalReducer)?;
        let (names, outs) = s.task.names();
        let scaling = s.task.model_scaling();
        let Task::Pde(p) = s.task else {
            unreachable!("time windows are PDE tasks")
        };
        windows.push(Window {
            t_lo: edges[k],
            t_hi: edges[k + 1],
            problem: p.problem,
            fitted: Fitted {
                model: Model::new(s.net, names, outs)?.with_scaling(scaling)?,
                summary,
                metric_names: s.res.metric_names,
                history: s.res.history,
                windows: Vec::new(),
            },
        });
    }
    let grid = PinnData::sample(problem, &pde, cfg.seed)?;
    let mut m = Marched {
        problem: problem.clone(),
        time,
        local_time: opts.local_time,
        windows,
        rel_l2: f64::NAN,
        rel_l2_f32: f64::NAN,
        test_mse: f64::NAN,
        x_test: grid.x_test.clone(),
    };
    if let Some(u) = &grid.u_test {
        let err = |f32: bool| -> Result<(f64, f64)> {
            let d = m.predict(grid.x_test.as_ref(), f32)? - u;
            Ok((
                (d.squared_norm_l2() / u.squared_norm_l2()).sqrt(),
                d.squared_norm_l2() / u.ncols().max(1) as f64,
            ))
        };
        let ((rel, mse), (rel32, _)) = (err(false)?, err(true)?);
        (m.rel_l2, m.test_mse, m.rel_l2_f32) = (rel, mse, rel32);
    }
    Ok(m)
}

impl Marched {
    /// The window holding time `t`: the last `k` with `t_k <= t` (clamped to
    /// `0..K`), so an interior edge `t_k` belongs to window `k`.
    pub fn window_of(&self, t: f64) -> usize {
        let k = self.windows.partition_point(|w| w.t_lo <= t);
        k.saturating_sub(1)
            .min(self.windows.len().saturating_sub(1))
    }

    /// The piecewise solution at the columns of `x` (`d x N`, problem
    /// coordinates), `1 x N`; `f32 = true` evaluates the networks in f32.
    pub fn predict(&self, x: MatRef<'_, f64>, f32: bool) -> Result<Mat<f64>> {
        let d = self.problem.dim();
        if self.windows.is_empty() {
            return Err(Error::config("pde.time_windows", "no window was trained"));
        }
        if x.nrows() != d {
            return Err(Error::shape(
                "time-marching points",
                format!("{d} rows"),
                format!("{}", x.nrows()),
            ));
        }
        let de = self.problem.embedded_dim();
        let mut cols: Vec<Vec<usize>> = vec![Vec::new(); self.windows.len()];
        for j in 0..x.ncols() {
            cols[self.window_of(x[(self.time, j)])].push(j);
        }
        let mut out = Mat::zeros(1, x.ncols());
        for (w, idx) in self.windows.iter().zip(&cols) {
            if idx.is_empty() {
                continue;
            }
            let map = TimeMap {
                time: self.time,
                dim: d,
                t_lo: w.t_lo,
                h: w.t_hi - w.t_lo,
                local: self.local_time,
            };
            let mut e = Mat::zeros(de, idx.len());
            let (mut ej, mut vj) = ([0.0; 6], [0.0; 6]);
            for (c, &j) in idx.iter().enumerate() {
                let xj: Vec<f64> = (0..d).map(|i| x[(i, j)]).collect();
                w.problem
                    .network_input(&map.window(&xj)[..d], &mut ej[..de], &mut vj[..de]);
                for i in 0..de {
                    e[(i, c)] = ej[i];
                }
            }
            let net = &w.fitted.model.net;
            let u = if f32 {
                net.predict_f32(e.as_ref())
            } else {
                net.predict(e.as_ref())?
            };
            for (c, &j) in idx.iter().enumerate() {
                out[(0, j)] = u[(0, c)];
            }
        }
        Ok(out)
    }

    /// Per-window numbers.
    pub fn window_summaries(&self) -> Vec<WindowSummary> {
        self.windows
            .iter()
            .enumerate()
            .map(|(index, w)| {
                let s = &w.fitted.summary;
                WindowSummary {
                    index,
                    t_lo: w.t_lo,
                    t_hi: w.t_hi,
                    rel_l2: s.rel_l2,
                    rel_l2_f32: s.rel_l2_f32,
                    pde_loss: s.pde_loss,
                    bc_loss: s.bc_loss,
                    iterations: s.iterations,
                    seconds: s.seconds,
                    status: s.status,
                }
            })
            .collect()
    }

    /// One [`Fitted`] for the whole run: the windows' histories one after the
    /// other (iterations and seconds accumulated), totals of iterations,
    /// seconds and counters, the global `rel_l2`, `rel_l2_f32` and `test_mse`,
    /// the mean of the windows' `train_mse`, `pde_loss` and `bc_loss`,
    /// `windows` in the summary and the window fits in `Fitted::windows`.
    /// `model` and `diagnostics` are the last window's.
    pub fn into_fitted(self, cfg: &TrainConfig) -> Result<Fitted> {
        let summaries = self.window_summaries();
        let k = self.windows.len();
        let last = self
            .windows
            .last()
            .ok_or_else(|| Error::config("pde.time_windows", "no window was trained"))?;
        let mut summary = last.fitted.summary.clone();
        let mut history = Vec::new();
        let (mut iters, mut secs) = (0, 0.0);
        let mut stats = TrainerStats::default();
        let mean = |f: &dyn Fn(&Fitted) -> Option<f64>| {
            self.windows
                .iter()
                .map(|w| f(&w.fitted).unwrap_or(f64::NAN))
                .sum::<f64>()
                / k as f64
        };
        for w in &self.windows {
            for r in &w.fitted.history {
                let mut r = r.clone();
                r.iteration += iters;
                r.seconds += secs;
                history.push(r);
            }
            let s = &w.fitted.summary;
            iters += s.iterations;
            secs += s.seconds;
            stats.solves += s.stats.solves;
            stats.solve_fallbacks += s.stats.solve_fallbacks;
            stats.aux_rejections += s.stats.aux_rejections;
            stats.evaluations += s.stats.evaluations;
        }
        if let Some((i, w)) = self.windows.iter().enumerate().find(|(_, w)| {
            matches!(
                w.fitted.summary.status,
                Status::Diverged | Status::Interrupted
            )
        }) {
            summary.status = w.fitted.summary.status;
            summary.message = format!("time window {i}: {}", w.fitted.summary.message);
        } else {
            summary.message = format!("{k} time windows; last: {}", summary.message);
        }
        summary.iterations = iters;
        summary.seconds = secs;
        summary.stats = stats;
        summary.train_mse = mean(&|f| Some(f.summary.train_mse));
        summary.test_mse = self.test_mse;
        summary.rel_l2 = Some(self.rel_l2);
        summary.rel_l2_f32 = Some(self.rel_l2_f32);
        summary.pde_loss = Some(mean(&|f| f.summary.pde_loss));
        summary.bc_loss = Some(mean(&|f| f.summary.bc_loss));
        let worst = |g: &dyn Fn(&Summary) -> Option<f64>| {
            self.windows
                .iter()
                .filter_map(|w| g(&w.fitted.summary))
                .reduce(f64::max)
        };
        summary.derivative_gap = worst(&|s| s.derivative_gap);
        summary.derivative_gap_first = worst(&|s| s.derivative_gap_first);
        summary.derivative_gap_second = worst(&|s| s.derivative_gap_second);
        summary.n_train = self.windows.iter().map(|w| w.fitted.summary.n_train).sum();
        summary.n_test = self.x_test.ncols();
        summary.windows = Some(summaries);
        summary.config = cfg.clone();
        let model = last.fitted.model.clone();
        let metric_names = last.fitted.metric_names.clone();
        Ok(Fitted {
            model,
            summary,
            metric_names,
            history,
            windows: self.windows.into_iter().map(|w| w.fitted).collect(),
        })
    }
}
