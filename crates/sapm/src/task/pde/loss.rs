//! The standard PINN loss of a first-order problem as an [`Objective`]:
//! `alpha mean |c . grad u - f|^2 + beta_bc mean |u - g|^2`, and its gradient
//! by the reverse pass through the directional forward pass.
//!
//! Reverse pass for a loss `sum_n phi(u_n, du_n)` with adjoints `Zb_L = dphi/du`,
//! `Db_L = dphi/d(du)`: `grad W~_l = Zb_l p_l^T + Db_l q_l^T`, then
//! `pb = W_l^T Zb_l`, `qb = W_l^T Db_l`, `Db_{l-1} = s'(z) (.) qb`,
//! `Zb_{l-1} = s'(z) (.) pb + s''(z) (.) dz (.) qb`.

use crate::linalg::{DEFAULT_BLOCK, SampleBlocks};
use crate::net::derivs::{DirCache, derivs, dir_forward_into};
use crate::net::{Network, matmul_into};
use crate::objective::Objective;
use crate::task::pde::PinnData;
use crate::task::regression::{LsGrad, sq_error_sum};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

/// `mean_n |grad u(x_n) . v_n - f_n|^2`.
pub fn pde_mse(net: &Network, x: MatRef<'_, f64>, v: MatRef<'_, f64>, f: MatRef<'_, f64>) -> f64 {
    mean_of(pde_sq_sum(net, x, v, f), x.ncols())
}

/// `sum / n`, 0 without points.
fn mean_of(sum: f64, n: usize) -> f64 {
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// `sum_n |grad u(x_n) . v_n - f_n|^2`, per block in block order.
pub fn pde_sq_sum(
    net: &Network,
    x: MatRef<'_, f64>,
    v: MatRef<'_, f64>,
    f: MatRef<'_, f64>,
) -> f64 {
    let blocks = SampleBlocks::new(x.ncols(), DEFAULT_BLOCK);
    blocks.sum(|r| {
        let mut c = DirCache::new(net.widths(), r.len());
        dir_forward_into(
            net,
            x.subcols(r.start, r.len()),
            v.subcols(r.start, r.len()),
            &mut c,
        );
        crate::task::regression::sq_diff(
            c.dz[net.depth() - 1].as_ref(),
            f.subcols(r.start, r.len()),
        )
    })
}

#[derive(Debug, Clone)]
struct BlockWs {
    c: DirCache,
    zb: Vec<Mat<f64>>,
    db: Vec<Mat<f64>>,
    grad: Vec<f64>,
    loss: f64,
}

/// Gradient of `mean |grad u . v - f|^2` by the reverse pass through the
/// directional forward pass, per sample block.
#[derive(Debug, Clone)]
pub struct DirGrad {
    blocks: SampleBlocks,
    ws: Vec<BlockWs>,
    n: usize,
    /// The mean's divisor: `n`, or the points of every process's shard.
    total: usize,
}

impl DirGrad {
    /// Buffers for `net`'s shape and `n` samples.
    pub fn new(net: &Network, n: usize, block: usize) -> Self {
        let blocks = SampleBlocks::new(n, block);
        let w = net.widths();
        let ws = blocks
            .ranges()
            .iter()
            .map(|r| BlockWs {
                c: DirCache::new(w, r.len()),
                zb: (1..w.len()).map(|l| Mat::zeros(w[l], r.len())).collect(),
                db: (1..w.len()).map(|l| Mat::zeros(w[l], r.len())).collect(),
                grad: vec![0.0; net.num_params()],
                loss: 0.0,
            })
            .collect();
        DirGrad {
            blocks,
            ws,
            n,
            total: n,
        }
    }

    /// Divide by `total` points (all processes' shards) instead of this shard's.
    pub fn with_total(mut self, total: usize) -> Self {
        self.total = total;
        self
    }

    /// `mean |grad u . v - f|^2` and its parameter gradient (written into `grad`).
    pub fn loss_grad(
        &mut self,
        net: &Network,
        x: MatRef<'_, f64>,
        v: MatRef<'_, f64>,
        f: MatRef<'_, f64>,
        grad: &mut [f64],
    ) -> f64 {
        assert_eq!(x.ncols(), self.n, "sample count changed");
        let scale = 2.0 / self.total.max(1) as f64;
        let ranges = self.blocks.ranges();
        let work = |(r, ws): (&std::ops::Range<usize>, &mut BlockWs)| {
            block_grad(
                net,
                x.subcols(r.start, r.len()),
                v.subcols(r.start, r.len()),
                f.subcols(r.start, r.len()),
                scale,
                ws,
            )
        };
        if self.ws.len() == 1 {
            work((&ranges[0], &mut self.ws[0]));
        } else {
            ranges.par_iter().zip(self.ws.par_iter_mut()).for_each(work);
        }
        grad.fill(0.0);
        let mut loss = 0.0;
        for ws in &self.ws {
            loss += ws.loss;
            for (g, b) in grad.iter_mut().zip(&ws.grad) {
                *g += b;
            }
        }
        loss / self.total.max(1) as f64
    }
}

fn block_grad(
    net: &Network,
    x: MatRef<'_, f64>,
    v: MatRef<'_, f64>,
    f: MatRef<'_, f64>,
    scale: f64,
    ws: &mut BlockWs,
) {
    dir_forward_into(net, x, v, &mut ws.c);
    let depth = net.depth();
    let act = net.activation();
    let du = ws.c.dz[depth - 1].as_ref();
    let mut loss = 0.0;
    ws.zb[depth - 1].fill(0.0);
    {
        let db = &mut ws.db[depth - 1];
        for j in 0..du.ncols() {
            for i in 0..du.nrows() {
                let r = du[(i, j)] - f[(i, j)];
                loss += r * r;
                db[(i, j)] = scale * r;
            }
        }
    }
    ws.loss = loss;
    let mut offset = net.num_params();
    for l in (0..depth).rev() {
        let layer = net.layer(l);
        let (rows, cols) = (layer.nrows(), layer.ncols());
        offset -= rows * cols;
        let mut g = MatMut::from_column_major_slice_mut(
            &mut ws.grad[offset..offset + rows * cols],
            rows,
            cols,
        );
        let top = l + 1 == depth;
        if top {
            // The interior loss does not see u itself: Zb_L = 0.
            g.fill(0.0);
        } else {
            faer::linalg::matmul::matmul(
                g.as_mut(),
                Accum::Replace,
                ws.zb[l].as_ref(),
                ws.c.p[l].as_ref().transpose(),
                1.0,
                Par::Seq,
            );
        }
        faer::linalg::matmul::matmul(
            g,
            Accum::Add,
            ws.db[l].as_ref(),
            ws.c.q[l].as_ref().transpose(),
            1.0,
            Par::Seq,
        );
        if l > 0 {
            let w = net.weight(l);
            let (zlo, zhi) = ws.zb.split_at_mut(l);
            let (dlo, dhi) = ws.db.split_at_mut(l);
            let (pb, qb) = (&mut zlo[l - 1], &mut dlo[l - 1]);
            if top {
                pb.fill(0.0);
            } else {
                matmul_into(pb.as_mut(), w.transpose(), zhi[0].as_ref());
            }
            matmul_into(qb.as_mut(), w.transpose(), dhi[0].as_ref());
            let z = ws.c.z[l - 1].as_ref();
            let dz = ws.c.dz[l - 1].as_ref();
            let sz = ws.c.p[l].as_ref();
            for j in 0..z.ncols() {
                for i in 0..z.nrows() {
                    let (s1, s2) = derivs(act, z[(i, j)], sz[(i, j)]);
                    let qbar = qb[(i, j)];
                    pb[(i, j)] = s1 * pb[(i, j)] + s2 * dz[(i, j)] * qbar;
                    qb[(i, j)] = s1 * qbar;
                }
            }
        }
    }
}

/// The parts of the PINN loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PinnLoss {
    /// `alpha * pde + beta_bc * bc`.
    pub total: f64,
    /// `mean(PDE residual^2)` over interior points.
    pub pde: f64,
    /// `mean(boundary residual^2)` over boundary points.
    pub bc: f64,
}

/// `alpha mean_n |c . grad u - f|^2 + beta_bc mean_m |u - g|^2` (for
/// second-order data, the loss of `second_loss.rs`). On a shard of the
/// points the means divide by the counts over every process: the parts are
/// this process's shares, whose sums over processes are the whole loss.
pub fn pinn_loss(net: &Network, data: &PinnData, alpha: f64, beta_bc: f64) -> PinnLoss {
    let (pde, bc) = match super::second_loss::second_loss_parts(net, data, alpha, beta_bc) {
        Some(parts) => parts,
        None => (
            mean_of(
                pde_sq_sum(
                    net,
                    data.e_int.as_ref(),
                    data.v_int.as_ref(),
                    data.f_int.as_ref(),
                ),
                data.n_interior_total(),
            ),
            mean_of(
                sq_error_sum(net, data.e_bc.as_ref(), data.g_bc.as_ref(), None),
                data.n_boundary_total(),
            ),
        ),
    };
    PinnLoss::of(pde, bc, alpha, beta_bc)
}

impl PinnLoss {
    /// The loss of its two parts.
    pub fn of(pde: f64, bc: f64, alpha: f64, beta_bc: f64) -> Self {
        PinnLoss {
            total: alpha * pde + beta_bc * bc,
            pde,
            bc,
        }
    }
}

/// The standard PINN loss as an [`Objective`] for `ls-gd`, `ls-adam`, `ls-lbfgs`.
pub struct PinnObjective<'a> {
    pub(crate) data: &'a PinnData,
    pub(crate) alpha: f64,
    pub(crate) beta_bc: f64,
    dir: DirGrad,
    bc: LsGrad,
    tmp: Vec<f64>,
}

impl<'a> PinnObjective<'a> {
    /// The loss of `net`'s shape on `data` with weights `alpha`, `beta_bc`.
    pub fn new(net: &Network, data: &'a PinnData, alpha: f64, beta_bc: f64) -> Self {
        PinnObjective {
            data,
            alpha,
            beta_bc,
            dir: DirGrad::new(net, data.n_interior(), DEFAULT_BLOCK)
                .with_total(data.n_interior_total()),
            bc: LsGrad::new(net, data.n_boundary(), DEFAULT_BLOCK)
                .with_total(data.n_boundary_total()),
            tmp: vec![0.0; net.num_params()],
        }
    }
}

impl Objective for PinnObjective<'_> {
    fn value(&mut self, net: &Network) -> f64 {
        pinn_loss(net, self.data, self.alpha, self.beta_bc).total
    }
    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64 {
        let d = self.data;
        let pde = self.dir.loss_grad(
            net,
            d.e_int.as_ref(),
            d.v_int.as_ref(),
            d.f_int.as_ref(),
            grad,
        );
        let bc = self
            .bc
            .loss_grad(net, d.e_bc.as_ref(), d.g_bc.as_ref(), &mut self.tmp);
        for (g, b) in grad.iter_mut().zip(&self.tmp) {
            *g = self.alpha * *g + self.beta_bc * b;
        }
        self.alpha * pde + self.beta_bc * bc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::pde::{PdeConfig, Problem};
    use crate::{Activation, NetworkSpec};

    #[test]
    fn pinn_gradient_matches_finite_differences() {
        let cfg = PdeConfig {
            n_interior: 23,
            n_boundary: 9,
            beta: 3.0,
            ..PdeConfig::default()
        };
        let p = Problem::transport1d(3.0);
        let data = PinnData::sample(&p, &cfg, 1).unwrap();
        for act in [Activation::Tanh, Activation::Sin, Activation::Softplus] {
            let mut net = NetworkSpec::new(vec![3, 5, 4, 1])
                .with_activation(act)
                .build(2)
                .unwrap();
            for block in [5, 4096] {
                let mut obj = PinnObjective::new(&net, &data, 0.7, 1.3);
                obj.dir = DirGrad::new(&net, data.n_interior(), block);
                let mut g = vec![0.0; net.num_params()];
                let f0 = obj.value_grad(&net, &mut g);
                assert!((f0 - obj.value(&net)).abs() < 1e-13 * f0);
                let fds = crate::net::central_differences(&mut net, 1e-6, |n| obj.value(n));
                for (k, &fd) in fds.iter().enumerate() {
                    assert!(
                        (fd - g[k]).abs() <= 1e-6 * (1.0 + g[k].abs()),
                        "{act} param {k}: fd {fd} vs {}",
                        g[k]
                    );
                }
            }
        }
    }
}
