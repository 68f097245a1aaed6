//! Memory of a run or a prediction, estimated before anything large is
//! allocated, and the limit it is checked against.
//!
//! The estimate adds up what a run holds at its peak (see
//! `docs/performance.md`, "Memory", and `docs/reliability.md`): the data;
//! copies of the weights (the driver keeps the current, the previous, the
//! last good and the best iterate, the optimiser its moments or L-BFGS
//! pairs); per-thread scratch of one sample block (forward caches and
//! deltas, `8 x` rows of every layer `x` block, each matrix padded to 8
//! rows as faer stores it); PM/SAPM's auxiliaries and directions (`16 H`
//! bytes per sample, [`crate::perf::penalty_bytes_per_sample`]); the final
//! evaluation's forward pass over the whole training set; and 64 MiB per
//! thread for faer's GEMM packing. It is a model, meant to be within a factor
//! of two of the peak RSS, and errs high; it is there to refuse a run that
//! cannot fit (width 2^20, 10^7 rows at width 2000) with a message instead of
//! an allocation failure after minutes.

use crate::config::{Method, TrainConfig};
use crate::error::{Error, Result};

/// Default limit: this fraction of the physical memory (`MemTotal`).
pub const DEFAULT_FRACTION: f64 = 0.8;

/// Most rows `predict`/`eval` push through the network at once.
pub const MAX_BATCH_ROWS: usize = 8192;

/// One estimate: named parts in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// What the bytes are for, e.g. `("auxiliaries A, D", 4.3e9)`.
    pub parts: Vec<(String, f64)>,
}

impl Estimate {
    /// Total bytes.
    pub fn total(&self) -> f64 {
        self.parts.iter().map(|(_, b)| b).sum()
    }

    /// The largest parts, as `data 1.2 GiB, auxiliaries 3.0 GiB`.
    pub fn describe(&self) -> String {
        let mut p: Vec<&(String, f64)> = self.parts.iter().filter(|(_, b)| *b > 0.0).collect();
        p.sort_by(|a, b| b.1.total_cmp(&a.1));
        p.iter()
            .take(4)
            .map(|(n, b)| format!("{n} {}", human(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// An error naming the estimate and the limit when it exceeds `limit`.
    pub fn check(&self, limit: u64, what: &str) -> Result<()> {
        let total = self.total();
        if total > limit as f64 {
            return Err(Error::Resource(format!(
                "{what} needs about {} of memory ({}), more than the limit of {} (--max-memory; default {:.0}% of the physical memory)",
                human(total),
                self.describe(),
                human(limit as f64),
                DEFAULT_FRACTION * 100.0
            )));
        }
        Ok(())
    }
}

/// `1.50 GiB`, `12.0 MiB`, `512 B`.
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else if v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// Physical memory in bytes (`MemTotal` of `/proc/meminfo`), if known.
pub fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut f = line.split_whitespace().skip(1);
    let n: u64 = f.next()?.parse().ok()?;
    match f.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
}

/// The default limit: [`DEFAULT_FRACTION`] of the physical memory (none
/// where `/proc/meminfo` is missing).
pub fn default_limit() -> Option<u64> {
    physical_memory().map(|m| (m as f64 * DEFAULT_FRACTION) as u64)
}

/// A size such as `512M`, `8G`, `8GiB`, `1.5T`, `2000000000` (bytes) or
/// `50%` (of the physical memory). `k`, `M`, `G`, `T` are powers of 1024.
pub fn parse_size(text: &str) -> Result<u64> {
    let bad = |why: &str| {
        Error::config(
            "--max-memory",
            format!("{}: {why}", crate::error::quoted(text)),
        )
    };
    let t = text.trim();
    if let Some(pct) = t.strip_suffix('%') {
        let f: f64 = pct.trim().parse().map_err(|_| bad("not a percentage"))?;
        if !(f > 0.0 && f <= 100.0) {
            return Err(bad("the percentage must be in (0, 100]"));
        }
        let total = physical_memory().ok_or_else(|| bad("physical memory unknown here"))?;
        return Ok((total as f64 * f / 100.0) as u64);
    }
    let lower = t.to_ascii_lowercase();
    let num_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let v: f64 = num.parse().map_err(|_| bad("not a size"))?;
    let scale = match unit.trim().trim_end_matches("ib").trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        _ => return Err(bad("unknown unit; use k, M, G, T or %")),
    };
    let bytes = v * scale;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < 2f64.powi(63)) {
        return Err(bad("out of range"));
    }
    Ok(bytes as u64)
}

fn pad(rows: usize) -> f64 {
    rows.next_multiple_of(8) as f64
}

/// Rows of one sample's forward cache: `[s(z_l); 1]` and `z_{l+1}` of every
/// layer, each padded.
fn forward_rows(widths: &[usize]) -> f64 {
    let l = widths.len() - 1;
    (0..l)
        .map(|i| pad(widths[i] + 1) + pad(widths[i + 1]))
        .sum()
}

fn params(widths: &[usize]) -> f64 {
    widths.windows(2).map(|w| ((w[0] + 1) * w[1]) as f64).sum()
}

/// Bytes of a forward pass over `rows` samples, per row (what `predict` and
/// `eval` hold for one batch, with the batch's input and output).
pub fn predict_bytes_per_row(widths: &[usize]) -> f64 {
    8.0 * (forward_rows(widths) + pad(widths[0]) + pad(widths[widths.len() - 1]) * 2.0)
}

/// Rows per `predict`/`eval` batch so that one batch fits in a quarter of
/// `limit` (at most [`MAX_BATCH_ROWS`]); an error when not even one row fits.
pub fn predict_batch_rows(widths: &[usize], limit: u64) -> Result<usize> {
    let per_row = predict_bytes_per_row(widths);
    let fixed = 8.0 * params(widths) * 2.0 + 64.0 * 1024.0 * 1024.0;
    let room = limit as f64 / 4.0 - fixed;
    let rows = (room / per_row).floor();
    if rows < 1.0 {
        let e = Estimate {
            parts: vec![
                ("weights and workspace".into(), fixed),
                ("one row of the forward pass".into(), per_row),
            ],
        };
        e.check(0, "one row of the prediction")?;
    }
    Ok((rows as usize).clamp(1, MAX_BATCH_ROWS))
}

/// The sizes a regression run's estimate needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunShape {
    /// Inputs and outputs of the network.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// Training samples (PINN: interior points).
    pub n_train: usize,
    /// Test samples (PINN: test grid points).
    pub n_test: usize,
    /// PINN: boundary points (0 for regression).
    pub n_boundary: usize,
    /// PINN: coordinates of a point before embedding (0 for regression).
    pub coordinates: usize,
    /// Worker threads.
    pub threads: usize,
}

/// Estimate of a training run of `cfg` on data of `shape` (see the module docs).
pub fn run_estimate(cfg: &TrainConfig, shape: RunShape) -> Estimate {
    let spec = cfg.network.spec(shape.inputs, shape.outputs);
    let w = &spec.widths;
    let p = params(w);
    let fwd = forward_rows(w);
    let threads = shape.threads.max(1) as f64;
    let pinn = cfg.pde.is_some();
    let (n, nt, nb) = (
        shape.n_train as f64,
        shape.n_test as f64,
        shape.n_boundary as f64,
    );
    let penalty = matches!(cfg.method, Method::Pm | Method::Sapm);
    let pc = if cfg.method == Method::Pm {
        cfg.pm
    } else {
        cfg.sapm
    };
    let block_cfg = if penalty {
        pc.block
    } else {
        crate::linalg::DEFAULT_BLOCK
    };
    let block = crate::linalg::balanced_block(shape.n_train.max(1), block_cfg)
        .min(shape.n_train.max(1)) as f64;
    let mut parts: Vec<(String, f64)> = Vec::new();
    let data = if pinn {
        let (d, e) = (shape.coordinates.max(1), shape.inputs);
        // Points, embeddings, directions and targets; the sampled points as
        // vectors while they are built; the copies the final evaluation makes.
        8.0 * ((pad(d) + 2.0 * pad(e) + 16.0) * n + (pad(d) + pad(e) + 8.0) * (nb + nt))
            + (40.0 + 8.0 * d as f64) * (n + nt)
            + 8.0 * (pad(e) + 8.0) * (n + nt)
    } else {
        8.0 * (pad(shape.inputs) + pad(shape.outputs)) * (n + nt)
    };
    parts.push(("data".into(), data));
    let lbfgs = 2.0 * cfg.lbfgs.memory as f64 + 8.0;
    let copies =
        6.0 + match cfg.method {
            Method::LsGd => 1.0,
            Method::LsAdam => 3.0,
            Method::LsLbfgs => lbfgs,
            Method::LsAdamLbfgs => 3.0 + lbfgs,
            Method::Elm => 1.0,
            Method::Pm | Method::Sapm => 2.0 + if pc.warm_start > 0 { 3.0 } else { 0.0 },
            // Step, trial point, gradient, scaling and the geodesic correction.
            Method::Lm | Method::Varpro => 6.0,
            // Trial parameters and the Schur right-hand side (+ Adam's moments).
            Method::SapmGn => 4.0 + if cfg.sapm_gn.warm_start > 0 { 3.0 } else { 0.0 },
        } + crate::engine::DATA_WAVE as f64;
    parts.push(("weight copies".into(), 8.0 * p * copies));
    // Training passes: forward caches and deltas of one block per thread
    // (PINN passes carry values and input derivatives too); metric passes
    // (train and test MSE) run over blocks of up to 2048 samples of either set.
    let per_block = if pinn { 4.0 } else { 2.0 };
    let eval_block = shape
        .n_train
        .max(shape.n_test)
        .clamp(1, crate::linalg::DEFAULT_BLOCK) as f64;
    parts.push((
        "per-thread sample blocks".into(),
        threads * 8.0 * fwd * (block * per_block + eval_block),
    ));
    if penalty {
        let per_sample = crate::perf::penalty_bytes_per_sample(w);
        let rows = if pinn { 2.0 * n + nb } else { n };
        let stacked = if pinn {
            // The PINN weight steps still stack each layer's system.
            (0..w.len() - 1)
                .map(|l| 8.0 * (2.0 * n + nb) * (w[l] + 1 + w[l + 1]) as f64)
                .fold(0.0, f64::max)
        } else {
            0.0
        };
        parts.push((
            "auxiliaries and directions".into(),
            per_sample * rows * if pinn { 1.5 } else { 1.0 } + stacked,
        ));
        let ws: f64 = (0..w.len() - 1)
            .map(|l| {
                let c = (w[l] + 1 + w[l + 1]) as f64;
                8.0 * c * c * crate::engine::DATA_WAVE as f64 * 2.0
            })
            .sum();
        parts.push(("weight-step workspace".into(), ws));
    }
    if matches!(cfg.method, Method::Lm | Method::Varpro) {
        // The normal equations in the space LM picks, counted as if the dual
        // Gram came from the dense Jacobian (an upper bound of the factored form).
        let m = if pinn {
            n + nb
        } else {
            n * shape.outputs as f64
        } as usize;
        let k = if cfg.method == Method::Varpro {
            (w[w.len() - 2] + 1) * w[w.len() - 1]
        } else {
            0
        };
        let dual = match cfg.lm.solve {
            crate::optim::LmSolve::Auto => m < p as usize,
            crate::optim::LmSolve::Dual => true,
            crate::optim::LmSolve::Primal => false,
        };
        parts.push((
            "normal equations".into(),
            crate::optim::lm::normal::bytes_needed(dual, m, p as usize, k, 0),
        ));
    }
    if cfg.method == Method::SapmGn {
        parts.push((
            "joint normal equations".into(),
            crate::optim::sapm_gn::bytes_needed(w, shape.n_train),
        ));
    }
    if cfg.method == Method::Elm {
        let k = (w[w.len() - 2] + 1) as f64;
        parts.push(("output design and its QR".into(), 8.0 * n * (fwd + 3.0 * k)));
    }
    // Final evaluation: a forward pass over the whole training set (and the
    // PINN test grid), and an SVD of the largest weight matrix.
    let svd = (0..w.len() - 1)
        .map(|l| 8.0 * 3.0 * (w[l] as f64 + 1.0) * w[l + 1] as f64)
        .fold(0.0, f64::max);
    let eval_rows = if pinn { n + nt } else { n };
    parts.push((
        "final evaluation".into(),
        8.0 * fwd * eval_rows + svd + 8.0 * pad(shape.outputs) * nt,
    ));
    parts.push((
        "thread workspaces".into(),
        threads * 64.0 * 1024.0 * 1024.0 + 32.0 * 1024.0 * 1024.0,
    ));
    Estimate { parts }
}

/// Bytes a run writes at most at once into its output folder: the model
/// (text), history, and a checkpoint (weights, optimiser state, auxiliaries).
pub fn output_bytes(cfg: &TrainConfig, shape: RunShape) -> u64 {
    let w = cfg.network.spec(shape.inputs, shape.outputs).widths;
    let p = params(&w);
    let rows = (cfg.train.max_iterations / cfg.train.record_every.max(1) + 2) as f64;
    let model = 26.0 * p;
    let history = rows * 200.0;
    let aux = if matches!(cfg.method, Method::Pm | Method::Sapm) {
        let h: usize = w[1..w.len() - 1].iter().sum();
        8.0 * h as f64 * (2.0 * shape.n_train as f64 + shape.n_boundary as f64)
    } else {
        0.0
    };
    let ckpt = 8.0 * p * (4.0 + 2.0 * cfg.lbfgs.memory as f64) + aux + history;
    // Old and new files exist together while a run publishes.
    (2.0 * (model + history) + ckpt + (1 << 20) as f64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("8GiB").unwrap(), 8 << 30);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "x", "-1G", "5Q", "0", "1e400", "150%"] {
            let e = parse_size(bad).unwrap_err().to_string();
            assert!(e.contains("--max-memory"), "{bad}: {e}");
        }
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(1.5 * 1024.0 * 1024.0 * 1024.0), "1.50 GiB");
        assert_eq!(
            parse_meminfo("MemTotal:       24683772 kB\nMemFree: 1 kB\n"),
            Some(24683772 * 1024)
        );
        assert_eq!(parse_meminfo("nothing"), None);
    }

    /// Width 2^20 aborted with a faer allocation panic; its estimate is far
    /// above any machine's memory, while the default example is small.
    #[test]
    fn huge_shapes_are_estimated_before_they_are_allocated() {
        let shape = RunShape {
            inputs: 1,
            outputs: 1,
            n_train: 100,
            n_test: 1000,
            n_boundary: 0,
            coordinates: 0,
            threads: 2,
        };
        let small = run_estimate(&TrainConfig::default(), shape);
        assert!(small.total() < 0.5e9, "{}", small.describe());
        let mut cfg = TrainConfig::default();
        cfg.network.width = 1 << 20;
        cfg.network.depth = 2;
        let e = run_estimate(&cfg, shape);
        assert!(e.total() > 1e9, "{}", e.describe());
        let msg = e.check(1 << 30, "this run").unwrap_err().to_string();
        assert!(
            msg.contains("needs about") && msg.contains("limit of 1.00 GiB"),
            "{msg}"
        );
        // predict: batches shrink with the width, never below one row.
        let wide = [1, 1 << 20, 1];
        let rows = predict_batch_rows(&wide, 8 << 30).unwrap();
        assert!((1..1000).contains(&rows), "{rows}");
        assert_eq!(
            predict_batch_rows(&[1, 20, 1], 8 << 30).unwrap(),
            MAX_BATCH_ROWS
        );
        assert!(predict_batch_rows(&wide, 1 << 20).is_err());
    }
}
