//! Time windows of a time-dependent problem: the window edges, the map
//! between window and problem coordinates, and the problem of one window
//! (time marching, see `crate::fit::march`).
//!
//! With local time (the default) each window's network takes
//! `s = (t - t_k) / h`, `h = t_{k+1} - t_k`, in `[0, 1]`: the window's PDE is
//! multiplied by `h`, i.e. `c'_t = c_t`, `c'_i = h c_i` for the other
//! coordinates and `f' = h f`.

use crate::error::{Error, Result};
use crate::net::Network;
use crate::task::pde::Problem;
use faer::Mat;
use std::sync::Arc;

/// Index of the coordinate named `t`; it must not be periodic.
pub fn time_coordinate(p: &Problem) -> Result<usize> {
    let i = p.vars.iter().position(|v| v == "t").ok_or_else(|| {
        Error::Problem(format!(
            "{}: time marching needs a coordinate named `t`, got {:?}",
            p.name, p.vars
        ))
    })?;
    if p.periodic.get(i).copied().unwrap_or(false) {
        return Err(Error::Problem(format!(
            "{}: time marching needs a non-periodic `t`",
            p.name
        )));
    }
    Ok(i)
}

/// Most time windows accepted (`pde.time_windows`).
pub const MAX_TIME_WINDOWS: usize = 10_000;

/// The `K + 1` window edges `t_k = lo + (hi - lo) k / K` of coordinate `time`.
/// Errors for `K = 0`, `K > MAX_TIME_WINDOWS`, a bad `time` index and windows
/// too short to be distinct in f64.
pub fn window_edges(p: &Problem, time: usize, windows: usize) -> Result<Vec<f64>> {
    check_windows(windows)?;
    check_time(p, time)?;
    let (lo, hi) = (p.lo[time], p.hi[time]);
    let edges: Vec<f64> = (0..=windows)
        .map(|k| {
            if k == windows {
                hi
            } else {
                lo + (hi - lo) * k as f64 / windows as f64
            }
        })
        .collect();
    if edges.windows(2).any(|w| w[1] <= w[0]) {
        return Err(Error::config(
            "pde.time_windows",
            format!("{windows} windows of [{lo}, {hi}] are too short to be distinct"),
        ));
    }
    Ok(edges)
}

/// `1 <= K <= MAX_TIME_WINDOWS`.
pub(crate) fn check_windows(windows: usize) -> Result<()> {
    if windows == 0 {
        return Err(Error::config(
            "pde.time_windows",
            "must be >= 1 (1 = no time marching), got 0",
        ));
    }
    if windows > MAX_TIME_WINDOWS {
        return Err(Error::config(
            "pde.time_windows",
            format!("must be <= {MAX_TIME_WINDOWS}, got {windows}"),
        ));
    }
    Ok(())
}

fn check_time(p: &Problem, time: usize) -> Result<()> {
    if time >= p.dim() || time >= p.lo.len() || time >= p.hi.len() {
        return Err(Error::Problem(format!(
            "{}: time coordinate index {time} out of range (dimension {})",
            p.name,
            p.dim()
        )));
    }
    Ok(())
}

/// Map between a window's coordinates and the problem's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeMap {
    pub(crate) time: usize,
    pub(crate) dim: usize,
    pub(crate) t_lo: f64,
    pub(crate) h: f64,
    pub(crate) local: bool,
}

impl TimeMap {
    /// Problem coordinates of a window point.
    pub(crate) fn global(&self, x: &[f64]) -> [f64; 3] {
        let mut y = [0.0; 3];
        y[..self.dim].copy_from_slice(&x[..self.dim]);
        if self.local {
            y[self.time] = self.t_lo + self.h * x[self.time];
        }
        y
    }

    /// Window coordinates of a problem point.
    pub(crate) fn window(&self, x: &[f64]) -> [f64; 3] {
        let mut y = [0.0; 3];
        y[..self.dim].copy_from_slice(&x[..self.dim]);
        if self.local {
            y[self.time] = (x[self.time] - self.t_lo) / self.h;
        }
        y
    }
}

/// Evaluate `net` at a point of `p`'s coordinates (NaN if the shapes disagree).
fn eval_at(p: &Problem, net: &Network, x: &[f64]) -> f64 {
    let de = p.embedded_dim();
    let (mut e, mut v) = ([0.0; 6], [0.0; 6]);
    p.network_input(x, &mut e[..de], &mut v[..de]);
    match net.predict(Mat::from_fn(de, 1, |i, _| e[i]).as_ref()) {
        Ok(u) if u.nrows() == 1 => u[(0, 0)],
        _ => f64::NAN,
    }
}

/// The problem of the window `[t_lo, t_hi]` of coordinate `time`.
///
/// Its inflow data on the initial face `t = t_lo` is `prev` (the previous
/// window's problem and network, evaluated on that problem's upper time face)
/// or, for the first window, the problem's `g`; elsewhere it is `g`. With
/// `local_time` the window's time runs over `[0, 1]` and its PDE is multiplied
/// by `h = t_hi - t_lo` (module docs). Errors for a bad `time` index or
/// span (not finite, or `t_lo >= t_hi`).
pub fn window_problem(
    p: &Problem,
    time: usize,
    (t_lo, t_hi): (f64, f64),
    local_time: bool,
    prev: Option<(&Problem, &Network)>,
) -> Result<Problem> {
    p.validate()?;
    check_time(p, time)?;
    if p.op.is_second_order() {
        return Err(Error::config(
            "pde.time_windows",
            format!(
                "{}: time marching is built for first-order problems only",
                p.name
            ),
        ));
    }
    if !(t_lo.is_finite() && t_hi.is_finite() && t_lo < t_hi) {
        return Err(Error::Problem(format!(
            "{}: a time window needs finite t_lo < t_hi, got [{t_lo}, {t_hi}]",
            p.name
        )));
    }
    let map = TimeMap {
        time,
        dim: p.dim(),
        t_lo,
        h: t_hi - t_lo,
        local: local_time,
    };
    let d = p.dim();
    let (mut lo, mut hi) = (p.lo.clone(), p.hi.clone());
    (lo[time], hi[time]) = if local_time { (0.0, 1.0) } else { (t_lo, t_hi) };
    let face = lo[time];
    let (f0, g0) = (p.f.clone(), p.g.clone());
    let scale = if local_time { map.h } else { 1.0 };
    let prev = prev.map(|(q, net)| (q.clone(), Arc::new(net.clone())));
    Ok(Problem {
        name: format!("{} (t in [{t_lo}, {t_hi}])", p.name),
        vars: p.vars.clone(),
        lo,
        hi,
        periodic: p.periodic.clone(),
        op: p
            .op
            .mapped(move |x| map.global(x), d, time, local_time.then_some(map.h)),
        f: Arc::new(move |x| scale * f0(&map.global(x)[..d])),
        pieces: Vec::new(),
        domain: None,
        g: Arc::new(move |x| match &prev {
            Some((q, net)) if x[time] <= face => {
                let mut y = [0.0; 3];
                y[..d].copy_from_slice(&x[..d]);
                y[time] = q.hi[time];
                eval_at(q, net, &y[..d])
            }
            _ => g0(&map.global(x)[..d]),
        }),
        exact: p.exact.as_ref().map(|u| {
            let u = u.clone();
            Arc::new(move |x: &[f64]| u(&map.global(x)[..d])) as crate::task::pde::ScalarFn
        }),
        // The window's own box is mapped (local time included).
        scale: p.scale,
    })
}
