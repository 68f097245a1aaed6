//! The training-set figures of the run-end summary (the output design's
//! condition number, errors, the inputs' bounding box, the targets' spread,
//! the pre-activations' sums) from sums, maxima and R factors over sample
//! blocks of this process's rows, joined over the processes by the run's
//! reducer (one process: the local reducer, which does nothing).
//!
//! No pass holds more than one block's forward cache per thread, so neither
//! one process nor rank 0 of a multi-process run needs a forward pass over
//! all its rows at once (that pass used to set the peak memory).

use crate::data::Dataset;
use crate::error::Result;
use crate::linalg::{
    DEFAULT_BLOCK, QrWs, Reducer, SampleBlocks, all_gather, condition_number, qr_r_into,
};
use crate::net::{ForwardCache, Network};
use crate::task::regression::{max_abs_error_in_units, nan_max, sq_error_sum};
use faer::{Mat, MatRef};

/// What the summary needs from the training rows of all processes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrainFigures {
    /// Training samples over all processes.
    pub n: usize,
    /// 2-norm condition number of the output layer's design
    /// `[s(z_{L-1}); 1]^T` over all rows, from its R factor.
    pub output_design_cond: f64,
    /// `sum |u - y|^2` over samples and outputs (network units).
    pub sq_error_sum: f64,
    /// `max |u - y|` over samples and outputs in the data's units (NaN if
    /// any error is NaN).
    pub max_abs_error: f64,
    /// Smallest value of every input over the training rows.
    pub lo: Vec<f64>,
    /// Largest value of every input over the training rows.
    pub hi: Vec<f64>,
    /// MSE (mean over samples and outputs) of the best constant predictor,
    /// in the data's units.
    pub constant_predictor_mse: f64,
    /// `|Z_l|_F^2` of every layer's pre-activations (output included).
    pub z_sq: Vec<f64>,
}

/// The R factor (`k x k`, `k` = last hidden width + 1) of the output
/// layer's design rows of the samples `x`, and `|Z_l|_F^2` per layer: one
/// forward pass per sample block (blocks in parallel), merged in block
/// order, so the result does not depend on the thread count.
pub(crate) fn design_pass(net: &Network, x: MatRef<'_, f64>) -> (Mat<f64>, Vec<f64>) {
    let depth = net.depth();
    let k = net.widths()[depth - 1] + 1;
    let blocks = SampleBlocks::new(x.ncols(), DEFAULT_BLOCK);
    let per_block = blocks.map(|r| {
        let mut cache = ForwardCache::new(net.widths(), r.len());
        net.forward_into(x.subcols(r.start, r.len()), &mut cache);
        let mut a = cache.p[depth - 1].transpose().to_owned();
        let (mut rf, mut ws) = (Mat::zeros(k, k), QrWs::new(a.nrows(), k));
        qr_r_into(a.as_mut(), rf.as_mut(), &mut ws);
        let z: Vec<f64> = cache.z.iter().map(|z| z.squared_norm_l2()).collect();
        (rf, z)
    });
    let mut z_sq = vec![0.0; depth];
    for (_, z) in &per_block {
        for (s, v) in z_sq.iter_mut().zip(z) {
            *s += v;
        }
    }
    (merge_r(k, per_block.iter().map(|(r, _)| r.as_ref())), z_sq)
}

/// The R factor of the stacked `rs` (each `k x k`), merged in order:
/// the R factor of stacked row blocks is the R factor of their stacked R
/// factors (the TSQR identity), so the singular values are the design's.
fn merge_r<'a>(k: usize, rs: impl Iterator<Item = MatRef<'a, f64>>) -> Mat<f64> {
    let mut acc: Option<Mat<f64>> = None;
    let mut stack = Mat::zeros(2 * k, k);
    let mut ws = QrWs::new(2 * k, k);
    for r in rs {
        match acc.as_mut() {
            None => acc = Some(r.to_owned()),
            Some(a) => {
                stack.as_mut().subrows_mut(0, k).copy_from(a.as_ref());
                stack.as_mut().subrows_mut(k, k).copy_from(r);
                qr_r_into(stack.as_mut(), a.as_mut(), &mut ws);
            }
        }
    }
    acc.unwrap_or_else(|| Mat::zeros(k, k))
}

/// The figures of `train` (this process's rows) joined over the processes
/// of `reducer`: sums added in the reducer's fixed order, maxima and
/// minima exact, R factors merged in rank order. Three collectives, of `4 + L + m`, `m`
/// and `K (k^2 + 1 + 2 d)` numbers; every process gets the same figures.
/// `out_scale`: the output scales of `data.scale` (errors and the constant
/// predictor in the data's units).
pub(crate) fn train_figures(
    net: &Network,
    train: &Dataset,
    out_scale: Option<&[f64]>,
    reducer: &dyn Reducer,
) -> Result<TrainFigures> {
    let (x, y) = (train.x.as_ref(), train.y.as_ref());
    let (d, m, depth) = (x.nrows(), y.nrows(), net.depth());
    let (rf, z_sq) = design_pass(net, x);
    let k = rf.nrows();
    // Sums: rows, squared errors, |Z_l|^2 per layer, target sums per output.
    let mut sums = vec![x.ncols() as f64, sq_error_sum(net, x, y, None)];
    sums.extend(&z_sq);
    sums.extend((0..m).map(|i| (0..y.ncols()).map(|j| y[(i, j)]).sum::<f64>()));
    reducer.all_reduce_sum(&mut sums)?;
    let n = sums[0] as usize;
    let nf = n as f64;
    // Two passes over the targets (mean, then squared deviations), as one
    // process computes the constant predictor's error.
    let mut dev: Vec<f64> = (0..m)
        .map(|i| {
            let (mean, s) = (sums[2 + depth + i] / nf, out_scale.map_or(1.0, |s| s[i]));
            (0..y.ncols())
                .map(|j| (s * (y[(i, j)] - mean)).powi(2))
                .sum::<f64>()
        })
        .collect();
    reducer.all_reduce_sum(&mut dev)?;
    // Per process: its R factor, largest error and bounding box.
    let bound = |i: usize, f: fn(f64, f64) -> f64, init: f64| {
        (0..x.ncols()).fold(init, |a, j| f(a, x[(i, j)]))
    };
    let mut local: Vec<f64> = (0..k)
        .flat_map(|j| (0..k).map(move |i| (i, j)))
        .map(|(i, j)| rf[(i, j)])
        .collect();
    local.push(max_abs_error_in_units(net, x, y, out_scale));
    local.extend((0..d).map(|i| bound(i, f64::min, f64::INFINITY)));
    local.extend((0..d).map(|i| bound(i, f64::max, f64::NEG_INFINITY)));
    let all = all_gather(reducer, &local)?;
    let as_r = |p: &[f64]| Mat::from_fn(k, k, |i, j| p[j * k + i]);
    let rs: Vec<Mat<f64>> = all.iter().map(|p| as_r(p)).collect();
    let r_all = merge_r(k, rs.iter().map(|r| r.as_ref()));
    let fold =
        |at: usize, f: fn(f64, f64) -> f64, init: f64| all.iter().map(|p| p[at]).fold(init, f);
    Ok(TrainFigures {
        n,
        // Fewer rows than columns: the design's singular values are those
        // of R's leading rows (the rest are zero up to round-off).
        output_design_cond: condition_number(r_all.as_ref().subrows(0, n.min(k))),
        sq_error_sum: sums[1],
        max_abs_error: fold(k * k, nan_max, 0.0),
        lo: (0..d)
            .map(|i| fold(k * k + 1 + i, f64::min, f64::INFINITY))
            .collect(),
        hi: (0..d)
            .map(|i| fold(k * k + 1 + d + i, f64::max, f64::NEG_INFINITY))
            .collect(),
        constant_predictor_mse: dev.iter().map(|v| v / nf).sum::<f64>() / m.max(1) as f64,
        z_sq: sums[2..2 + depth].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::distributed::shard_rows;
    use crate::fit::distributed_harness::on_threads;
    use crate::linalg::{LocalReducer, shard_range};
    use crate::task::regression::sq_diff;

    /// `n` samples of 2 inputs and 2 outputs (smooth targets plus a wobble,
    /// so the errors are not a function of the inputs alone).
    fn data(n: usize) -> Dataset {
        let x = Mat::from_fn(2, n, |i, j| ((j * (3 + 4 * i)) % 97) as f64 / 48.0 - 1.0);
        let y = Mat::from_fn(2, n, |i, j| {
            (x[(0, j)] * (1.0 + i as f64)).sin() + 0.1 * ((j % 7) as f64 - 3.0)
        });
        let names = |p: &str| vec![format!("{p}0"), format!("{p}1")];
        Dataset::new(x, y, names("x"), names("y")).unwrap()
    }

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    /// One process's figures are the old whole-set formulas: the maxima,
    /// the bounding box, the squared-error sum and the constant predictor
    /// bit for bit; `|Z_l|^2` summed per block to 1e-13; the condition
    /// number from the blocks' merged R factor against the SVD of the
    /// whole `N x k` design to `max(1e-12, 100 eps cond)` (both are only
    /// accurate to about `eps cond`; cond is 4e7 in the 7-sample case).
    /// Then 2 and 3 shards on threads
    /// give every process the same bits, and the one-process figures to
    /// the same tolerances (sums in another order). Sizes cover several
    /// sample blocks (5000 > 2 x 2048) and fewer rows than design columns.
    #[test]
    fn sharded_figures_match_one_process_and_the_whole_set_formulas() {
        let scale = [2.0, 0.5];
        for (n, width) in [(5000, 8), (301, 8), (7, 12)] {
            let net = crate::NetworkSpec::new(vec![2, width, width, 2])
                .build(5)
                .unwrap();
            let d = data(n);
            let (x, y) = (d.x.as_ref(), d.y.as_ref());
            let one = train_figures(&net, &d, Some(&scale), &LocalReducer).unwrap();
            // The whole-set formulas the summary used before.
            let mut cache = ForwardCache::new(net.widths(), n);
            net.forward_into(x, &mut cache);
            let cond = condition_number(cache.p[2].as_ref().transpose());
            // Both are backward stable: the relative error of a condition
            // number is about eps cond.
            let cond_tol = 1e-12_f64.max(100.0 * f64::EPSILON * cond);
            let e = rel(one.output_design_cond, cond);
            eprintln!(
                "{n} x {}: cond {cond:.3e}, R against SVD {e:.1e}",
                width + 1
            );
            assert!(
                e < cond_tol,
                "{n}: cond {} against {cond}",
                one.output_design_cond
            );
            assert!(cond.is_finite() && cond > 1.0);
            assert_eq!(one.n, n);
            assert_eq!(one.sq_error_sum, sq_error_sum(&net, x, y, None));
            assert_eq!(
                one.max_abs_error,
                max_abs_error_in_units(&net, x, y, Some(&scale))
            );
            assert_eq!(
                one.constant_predictor_mse,
                d.constant_predictor_mse_in_units(Some(&scale))
            );
            for i in 0..2 {
                let row: Vec<f64> = (0..n).map(|j| x[(i, j)]).collect();
                assert_eq!(one.lo[i], row.iter().cloned().fold(f64::INFINITY, f64::min));
                assert_eq!(
                    one.hi[i],
                    row.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                );
            }
            for (l, z) in cache.z.iter().enumerate() {
                let want = sq_diff(z.as_ref(), Mat::<f64>::zeros(z.nrows(), n).as_ref());
                assert!(rel(one.z_sq[l], want) < 1e-13, "{n}: layer {l}");
            }
            for k in [2, 3] {
                let parts = on_threads(k, |rank, r| {
                    let shard = shard_rows(&d, shard_range(n, rank, k));
                    train_figures(&net, &shard, Some(&scale), r.as_ref()).unwrap()
                });
                for p in &parts {
                    assert_eq!(p, &parts[0], "{n} on {k}: processes disagree");
                }
                let p = &parts[0];
                let e = rel(p.output_design_cond, one.output_design_cond);
                eprintln!("{n} on {k} shards: cond against one process {e:.1e}");
                assert_eq!((p.n, p.max_abs_error), (n, one.max_abs_error));
                assert_eq!((&p.lo, &p.hi), (&one.lo, &one.hi));
                let close = [
                    (p.output_design_cond, one.output_design_cond, cond_tol),
                    (p.sq_error_sum, one.sq_error_sum, 1e-13),
                    (p.constant_predictor_mse, one.constant_predictor_mse, 1e-13),
                ];
                for (i, (a, b, tol)) in close.into_iter().enumerate() {
                    assert!(rel(a, b) < tol, "{n} on {k}: figure {i}: {a:e} vs {b:e}");
                }
                for l in 0..3 {
                    assert!(rel(p.z_sq[l], one.z_sq[l]) < 1e-13, "{n} on {k}: z {l}");
                }
            }
        }
    }
}
