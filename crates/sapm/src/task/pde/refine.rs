//! Residual-based adaptive refinement (`pde.refine`): after each round of
//! training, the interior points of largest PDE residual among fresh
//! candidates join the collocation set. Each round is a stage of the run's
//! schedule (`fit/mod.rs`): one network carried through, every stage with
//! the `[train]` budget, its task rebuilt from the seed and the previous
//! stage's network, so a resumed run is the same bit for bit.

use super::config::{PdeConfig, RefineConfig, Sampling};
use super::problem::Problem;
use super::sampling::{PinnData, eval_at, interior_points};
use super::second_loss::SecondObjective;
use super::second_sampling::interior_rows;
use super::task::PdeTask;
use crate::error::{Error, Result};
use crate::net::Network;
use crate::objective::LeastSquares;
use faer::Mat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `data` with the interior points `pts` (rows, `f` and exact values
/// recomputed), the boundary unchanged.
fn with_interior(p: &Problem, data: &PinnData, pts: &[Vec<f64>]) -> Result<PinnData> {
    let d = p.dim();
    let x = Mat::from_fn(d, pts.len(), |i, j| pts[j][i]);
    let mut rows = data.second.clone().ok_or_else(|| {
        Error::Problem(format!(
            "{}: refinement needs a second-order problem",
            p.name
        ))
    })?;
    rows.interior = interior_rows(p, pts)?;
    let mut out = data.clone();
    out.f_int = eval_at(p, "f", &p.f, pts)?;
    out.u_int = p
        .exact
        .as_ref()
        .map(|u| eval_at(p, "exact", u, pts))
        .transpose()?;
    out.e_int = p.network_inputs(pts);
    out.x_int = x;
    out.v_int = Mat::zeros(0, pts.len());
    out.second = Some(rows);
    Ok(out)
}

fn columns(m: &Mat<f64>) -> Vec<Vec<f64>> {
    (0..m.ncols())
        .map(|j| (0..m.nrows()).map(|i| m[(i, j)]).collect())
        .collect()
}

/// The fresh candidates of round `round` (the run's design; random for a
/// grid, which would offer the same points every round).
pub(super) fn candidates(
    task: &PdeTask,
    r: &RefineConfig,
    round: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    let cfg = PdeConfig {
        n_interior: r.candidates,
        sampling: match task.cfg.sampling {
            Sampling::Grid => Sampling::Random,
            s => s,
        },
        ..task.cfg.clone()
    };
    let mix = (round as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0AD_A971_5EED ^ mix);
    interior_points(&task.problem, &cfg, &mut rng)
}

/// `|L u - f|` of `net` at `pts`.
pub(super) fn residuals(task: &PdeTask, net: &Network, pts: &[Vec<f64>]) -> Result<Vec<f64>> {
    let cand = with_interior(&task.problem, &task.data, pts)?;
    let mut obj = SecondObjective::new(&cand, 1.0, 1.0)
        .ok_or_else(|| Error::Problem("refinement needs a second-order problem".into()))?;
    let mut r = vec![0.0; obj.residual_count()];
    obj.residuals_into(net, &mut r);
    // The rows are scaled by sqrt(1 / N); undo it.
    let s = (pts.len().max(1) as f64).sqrt();
    Ok(r[..pts.len()].iter().map(|v| (v * s).abs()).collect())
}

/// Round `round`'s task: `task` with the `add` candidates of largest
/// residual of `net` added to its interior points.
pub(crate) fn refined(
    task: &PdeTask,
    net: &Network,
    r: &RefineConfig,
    round: usize,
    seed: u64,
) -> Result<PdeTask> {
    let cand = candidates(task, r, round, seed)?;
    let res = residuals(task, net, &cand)?;
    let mut order: Vec<usize> = (0..cand.len()).collect();
    order.sort_by(|&a, &b| res[b].total_cmp(&res[a]).then(a.cmp(&b)));
    let mut pts = columns(&task.data.x_int);
    pts.extend(order.iter().take(r.add).map(|&j| cand[j].clone()));
    Ok(PdeTask {
        problem: task.problem.clone(),
        cfg: task.cfg.clone(),
        data: with_interior(&task.problem, &task.data, &pts)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NetworkSpec;

    /// `-lap net - f` by central differences (independent of the forward mode).
    fn fd_residual(p: &Problem, net: &Network, x: &[f64]) -> f64 {
        let h = 1e-4;
        let u = |y: &[f64]| {
            net.predict(Mat::from_fn(2, 1, |i, _| y[i]).as_ref())
                .unwrap()[(0, 0)]
        };
        let mut lap = 0.0;
        for i in 0..2 {
            let (mut a, mut b) = (x.to_vec(), x.to_vec());
            a[i] += h;
            b[i] -= h;
            lap += (u(&a) - 2.0 * u(x) + u(&b)) / (h * h);
        }
        -lap - (p.f)(x)
    }

    #[test]
    fn refinement_adds_the_candidates_of_largest_residual() {
        let cfg = PdeConfig {
            problem: "poisson2d_lshape".into(),
            n_interior: 50,
            n_boundary: 20,
            n_test: 11,
            ..PdeConfig::default()
        };
        let task = PdeTask::new(cfg.problem().unwrap(), cfg.clone(), 4).unwrap();
        let net = NetworkSpec::new(vec![2, 8, 8, 1]).build(1).unwrap();
        let r = RefineConfig {
            rounds: 2,
            add: 10,
            candidates: 80,
        };
        let next = refined(&task, &net, &r, 1, 4).unwrap();
        assert_eq!(next.data.n_interior(), 60);
        assert_eq!(next.data.n_boundary(), 20);
        let old = columns(&task.data.x_int);
        let new = columns(&next.data.x_int);
        assert_eq!(new[..50], old[..]);
        let cand = candidates(&task, &r, 1, 4).unwrap();
        assert_eq!(cand.len(), 80);
        let fd: Vec<f64> = cand
            .iter()
            .map(|x| fd_residual(&task.problem, &net, x).abs())
            .collect();
        let chosen_min = new[50..]
            .iter()
            .map(|x| fd[cand.iter().position(|c| c == x).unwrap()])
            .fold(f64::INFINITY, f64::min);
        let mut rest: Vec<f64> = cand
            .iter()
            .zip(&fd)
            .filter(|(c, _)| !new[50..].contains(c))
            .map(|(_, v)| *v)
            .collect();
        rest.sort_by(f64::total_cmp);
        assert!(
            chosen_min >= rest[rest.len() - 1] - 1e-4 * (1.0 + chosen_min),
            "{chosen_min} vs {rest:?}"
        );
        // Rows at the added points match a fresh build of the same points.
        let again = with_interior(&task.problem, &task.data, &new).unwrap();
        assert_eq!(again.second, next.data.second);
        // Another round draws other candidates; the same round the same.
        assert_ne!(candidates(&task, &r, 2, 4).unwrap(), cand);
        assert_eq!(candidates(&task, &r, 1, 4).unwrap(), cand);
    }
}
