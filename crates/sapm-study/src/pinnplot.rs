//! Plots of PINN solutions: the network's prediction, the exact solution and
//! the pointwise error over the problem's domain (heat maps in `(x, t)` for
//! 2-D problems, a line plot for 1-D ones).

use crate::error::{Error, Result};
use crate::plot::{Axis, Heatmap, LineChart, Panel, Series, Style};
use faer::Mat;
use sapm::net::Network;
use sapm::task::pde::Problem;

/// Cells per axis of the heat maps of `sapm plot` (a 101 x 101 grid makes SVGs of megabytes).
pub const PLOT_GRID: usize = 80;

/// Prediction and (if the problem has one) exact solution of a 2-D problem
/// on an `n x n` grid of cell centres over its box.
#[derive(Debug, Clone, PartialEq)]
pub struct SolutionMaps {
    /// The network's `u`.
    pub prediction: Heatmap,
    /// The exact `u`, if known.
    pub exact: Option<Heatmap>,
}

impl SolutionMaps {
    /// `|prediction - exact|` on a log colour scale (`None` without an exact solution).
    pub fn error(&self, title: impl Into<String>) -> Result<Option<Heatmap>> {
        self.exact
            .as_ref()
            .map(|e| Heatmap::abs_error(title, &self.prediction, e))
            .transpose()
    }
}

/// The network's values at problem points `xs` (each of `problem.dim()` coordinates).
fn predict_at(net: &Network, problem: &Problem, xs: &[Vec<f64>]) -> Result<Vec<f64>> {
    let m = problem.embedded_dim();
    if net.input_dim() != m || net.output_dim() != 1 {
        return Err(Error::PlotInput(format!(
            "the network takes {} inputs and gives {} outputs, the problem {} needs {m} and 1",
            net.input_dim(),
            net.output_dim(),
            problem.name
        )));
    }
    let (mut e, mut v) = (vec![0.0; m], vec![0.0; m]);
    let mut inp = Mat::<f64>::zeros(m, xs.len());
    for (j, x) in xs.iter().enumerate() {
        // The network's own inputs (with the domain map of `pde.scale`).
        problem.network_input(x, &mut e, &mut v);
        for (i, ei) in e.iter().enumerate() {
            inp[(i, j)] = *ei;
        }
    }
    let u = net.predict(inp.as_ref())?;
    Ok((0..xs.len()).map(|j| u[(0, j)]).collect())
}

/// Prediction and exact solution of a 2-D problem on an `n x n` grid;
/// `what` starts the panel titles (e.g. the method).
pub fn solution_maps(
    net: &Network,
    problem: &Problem,
    n: usize,
    what: &str,
) -> Result<SolutionMaps> {
    if problem.dim() != 2 {
        return Err(Error::PlotInput(format!(
            "heat maps need a 2-D problem, {} has {} coordinates",
            problem.name,
            problem.dim()
        )));
    }
    let (xr, yr) = (
        (problem.lo[0], problem.hi[0]),
        (problem.lo[1], problem.hi[1]),
    );
    let centre = |r: (f64, f64), i: usize| r.0 + (i as f64 + 0.5) * (r.1 - r.0) / n as f64;
    // Row-major: iy outer, ix inner, as `Heatmap` stores its values.
    let xs: Vec<Vec<f64>> = (0..n)
        .flat_map(|iy| (0..n).map(move |ix| vec![centre(xr, ix), centre(yr, iy)]))
        .collect();
    let label = |mut h: Heatmap, value: &str| {
        h.x_label = problem.vars[0].clone();
        h.y_label = problem.vars[1].clone();
        h.value_label = value.into();
        h
    };
    let prediction = label(
        Heatmap::new(
            format!("{what}: u"),
            xr,
            yr,
            n,
            n,
            predict_at(net, problem, &xs)?,
        )?,
        "u",
    );
    let exact = match &problem.exact {
        Some(f) => Some(label(
            Heatmap::new(
                "exact solution",
                xr,
                yr,
                n,
                n,
                xs.iter().map(|x| f(x)).collect(),
            )?,
            "u",
        )),
        None => None,
    };
    Ok(SolutionMaps { prediction, exact })
}

/// Prediction vs exact solution of a 1-D problem on `n` points of its interval.
pub fn solution_line(net: &Network, problem: &Problem, n: usize, title: &str) -> Result<LineChart> {
    if problem.dim() != 1 {
        return Err(Error::PlotInput(format!(
            "line plots need a 1-D problem, {} has {} coordinates",
            problem.name,
            problem.dim()
        )));
    }
    let (lo, hi) = (problem.lo[0], problem.hi[0]);
    let xs: Vec<Vec<f64>> = (0..n.max(2))
        .map(|i| vec![lo + (hi - lo) * i as f64 / (n.max(2) - 1) as f64])
        .collect();
    let u = predict_at(net, problem, &xs)?;
    let mut c = LineChart::new(
        title,
        Axis::linear(problem.vars[0].clone()),
        Axis::linear("u"),
    );
    if let Some(f) = &problem.exact {
        c = c.with(Series::new(
            "exact",
            xs.iter().map(|x| (x[0], f(x))).collect(),
            7,
            Style::Line,
        ));
    }
    Ok(c.with(Series::line(
        "prediction",
        xs.iter().zip(&u).map(|(x, u)| (x[0], *u)).collect(),
        0,
    )))
}

/// The panels `sapm plot` draws for a PINN: prediction, exact and error heat
/// maps (2-D), or prediction vs exact (1-D). Empty for 3-D problems.
pub fn solution_panels(net: &Network, problem: &Problem, n: usize) -> Result<Vec<Panel>> {
    match problem.dim() {
        1 => Ok(vec![Panel::Line(solution_line(
            net,
            problem,
            4 * n,
            "prediction vs exact solution",
        )?)]),
        2 => {
            let m = solution_maps(net, problem, n, "network")?;
            let err = m.error("pointwise error |u - u_exact|")?;
            // Maps without a finite value cannot be drawn (see `Heatmap::limits`).
            Ok(std::iter::once(m.prediction)
                .chain(m.exact)
                .chain(err)
                .filter(|h| h.limits().is_some())
                .map(Panel::Heat)
                .collect())
        }
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sapm::net::NetworkSpec;

    #[test]
    fn maps_cover_the_box_and_errors_vanish_for_the_exact_network_shape() {
        let p = Problem::transport1d(1.0);
        let net = NetworkSpec::new(vec![3, 5, 1]).build(0).unwrap();
        let m = solution_maps(&net, &p, 7, "t").unwrap();
        assert_eq!((m.prediction.nx, m.prediction.ny), (7, 7));
        assert_eq!(m.prediction.x_range, (0.0, 2.0 * std::f64::consts::PI));
        let e = m.exact.as_ref().unwrap();
        // Row 0 is t = 1/14, column 3 is x = pi: u = sin(pi - 1/14).
        let want = (std::f64::consts::PI - 1.0 / 14.0).sin();
        assert!((e.values[3] - want).abs() < 1e-12);
        let err = m.error("e").unwrap().unwrap();
        assert!(err.log);
        assert!((err.values[3] - (m.prediction.values[3] - want).abs()).abs() < 1e-12);
        assert_eq!(solution_panels(&net, &p, 7).unwrap().len(), 3);
        // A network of the wrong input size is an error, not a panic.
        let bad = NetworkSpec::new(vec![2, 5, 1]).build(0).unwrap();
        assert!(solution_maps(&bad, &p, 7, "t").is_err());
        let s = Problem::steady1d();
        let one = NetworkSpec::new(vec![1, 5, 1]).build(0).unwrap();
        assert!(solution_maps(&one, &s, 7, "t").is_err());
        let c = solution_line(&one, &s, 11, "s").unwrap();
        assert_eq!(c.series.len(), 2);
        assert_eq!(c.series[1].points.len(), 11);
    }
}
