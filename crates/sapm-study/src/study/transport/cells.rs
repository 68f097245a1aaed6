//! The transport study's cells (problem, depth, method): aggregates, the
//! ratio to Adam -> L-BFGS, the tables and the "At a glance" sentences.

use crate::report::{frac, g, join_or_none, range, table};
use crate::results::{Quantiles, ResultRow};
use crate::study::FAIL_THRESHOLD;

/// The Adam -> L-BFGS label every ratio is taken against.
pub(super) const BASELINE: &str = "ls-adam-lbfgs";

/// Aggregate of one (problem, depth, method) cell of a PINN study.
#[derive(Debug, Clone, PartialEq)]
pub struct PinnCell {
    /// Problem (the run's `variant`, e.g. `transport1d beta=10`).
    pub problem: String,
    /// Depth `L`.
    pub depth: usize,
    /// Method label.
    pub label: String,
    /// Runs.
    pub n: usize,
    /// Runs with rel L2 >= the failure threshold, not a number, or an error.
    pub failed: usize,
    /// Final rel L2 (not a number counts as +inf).
    pub rel_l2: Quantiles,
    /// Final rel L2 of the f32 model.
    pub rel_l2_f32: Quantiles,
    /// Final derivative gap (runs without one left out).
    pub gap: Quantiles,
    /// `|W_L|_F^2`.
    pub w_out: Quantiles,
    /// Training seconds.
    pub seconds: Quantiles,
    /// Iterations.
    pub iterations: Quantiles,
}

impl PinnCell {
    /// `failed / n`.
    pub fn failure_rate(&self) -> f64 {
        self.failed as f64 / self.n as f64
    }
}

/// Cells keyed by (problem, depth, label), in order of first appearance.
pub fn pinn_cells(rows: &[ResultRow]) -> Vec<PinnCell> {
    let mut keys: Vec<(String, usize, String)> = Vec::new();
    for r in rows {
        let k = (r.variant.clone(), r.depth, r.label.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(problem, depth, label)| {
            let rs: Vec<&ResultRow> = rows
                .iter()
                .filter(|r| r.variant == problem && r.depth == depth && r.label == label)
                .collect();
            let ex = |name: &'static str| {
                Quantiles::of(rs.iter().map(|r| r.extra(name).unwrap_or(f64::NAN)))
            };
            PinnCell {
                n: rs.len(),
                failed: rs.iter().filter(|r| r.failed()).count(),
                rel_l2: ex("rel_l2"),
                rel_l2_f32: ex("rel_l2_f32"),
                // Not a number here means "no auxiliaries", not a bad run.
                gap: Quantiles::of(
                    rs.iter()
                        .filter_map(|r| r.extra("derivative_gap"))
                        .filter(|v| !v.is_nan()),
                ),
                w_out: Quantiles::of(rs.iter().map(|r| r.output_weight_norm_sq)),
                seconds: Quantiles::of(rs.iter().map(|r| r.seconds)),
                iterations: Quantiles::of(rs.iter().map(|r| r.iterations as f64)),
                problem,
                depth,
                label,
            }
        })
        .collect()
}

/// Median rel L2 of `c` over that of Adam -> L-BFGS (`ls-adam-lbfgs`) in the same
/// problem and depth.
pub fn ratio_to_baseline(cells: &[PinnCell], c: &PinnCell) -> Option<f64> {
    let base = baseline(cells, c)?;
    let r = c.rel_l2.median / base.rel_l2.median;
    r.is_finite().then_some(r)
}

pub(super) fn labels_of(cells: &[PinnCell]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for c in cells {
        if !v.contains(&c.label) {
            v.push(c.label.clone());
        }
    }
    v
}

pub(super) fn main_table(cells: &[PinnCell]) -> String {
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            vec![
                c.problem.clone(),
                c.depth.to_string(),
                c.label.clone(),
                range(&c.rel_l2),
                ratio_to_baseline(cells, c).map_or("-".into(), g),
                frac(c.failed, c.n),
                g(c.rel_l2_f32.median),
                g(c.w_out.median),
                if c.gap.median.is_nan() {
                    "-".into()
                } else {
                    g(c.gap.median)
                },
                g(c.iterations.median),
                g(c.seconds.median),
            ]
        })
        .collect();
    table(
        &[
            "problem",
            "L",
            "method",
            "rel L2 median [min, max]",
            "ratio",
            "failed",
            "f32",
            "|W_L|²",
            "gap",
            "iters",
            "seconds",
        ],
        &rows,
    )
}

pub(super) fn failure_table(cells: &[PinnCell]) -> String {
    let mut problems: Vec<String> = Vec::new();
    for c in cells {
        if !problems.contains(&c.problem) {
            problems.push(c.problem.clone());
        }
    }
    let rows: Vec<Vec<String>> = labels_of(cells)
        .iter()
        .map(|l| {
            let mut row = vec![l.clone()];
            let (mut k, mut n) = (0, 0);
            for p in &problems {
                let (a, b) = cells
                    .iter()
                    .filter(|c| &c.label == l && &c.problem == p)
                    .fold((0, 0), |(a, b), c| (a + c.failed, b + c.n));
                row.push(if b == 0 { "-".into() } else { frac(a, b) });
                k += a;
                n += b;
            }
            row.push(format!(
                "{} ({:.0} %)",
                frac(k, n),
                100.0 * k as f64 / n.max(1) as f64
            ));
            row
        })
        .collect();
    let mut hdr: Vec<&str> = vec!["method"];
    hdr.extend(problems.iter().map(String::as_str));
    hdr.push("all");
    table(&hdr, &rows)
}

/// "At a glance": failures per method, and where the SAPM variants stand
/// against Adam -> L-BFGS.
pub(super) fn glance(cells: &[PinnCell]) -> Vec<String> {
    let mut out = Vec::new();
    let labels = labels_of(cells);
    let parts: Vec<String> = labels
        .iter()
        .map(|l| {
            let (k, n) = cells
                .iter()
                .filter(|c| &c.label == l)
                .fold((0, 0), |(a, b), c| (a + c.failed, b + c.n));
            format!("{l} {}", frac(k, n))
        })
        .collect();
    out.push(format!(
        "**Failures** (rel L2 >= {FAIL_THRESHOLD}) over all problems and depths: {}.",
        parts.join("; ")
    ));
    for l in ["sapm", "sapm-warm", "pm"] {
        let mine: Vec<(&PinnCell, f64)> = cells
            .iter()
            .filter(|c| c.label == l)
            .filter_map(|c| Some((c, ratio_to_baseline(cells, c)?)))
            .collect();
        if mine.is_empty() {
            continue;
        }
        // Where both methods fail in most runs, a ratio of two errors near 1
        // says nothing: leave those cells out of the comparison.
        let mostly_failed = |c: &PinnCell| 2 * c.failed > c.n;
        let (compared, both_failed): (Vec<_>, Vec<_>) = mine.iter().partition(|(c, _)| {
            !(mostly_failed(c) && baseline(cells, c).is_some_and(mostly_failed))
        });
        let within = compared.iter().filter(|(_, r)| *r <= 10.0).count();
        let better = compared.iter().filter(|(_, r)| *r < 1.0).count();
        let list: Vec<String> = compared
            .iter()
            .map(|(c, r)| {
                format!(
                    "{} L={}: {}x{}",
                    c.problem,
                    c.depth,
                    g(*r),
                    if mostly_failed(c) { " (failed)" } else { "" }
                )
            })
            .collect();
        out.push(format!(
            "**{l} vs Adam -> L-BFGS** (ratio of median rel L2, same problem and depth; {} cells where both failed in most runs left out): better in {}, within 10x in {} cells; ratios: {}.",
            both_failed.len(),
            frac(better, compared.len()),
            frac(within, compared.len()),
            join_or_none(&list, ", ")
        ));
    }
    out
}

/// The [`BASELINE`] cell of the same problem and depth.
fn baseline<'a>(cells: &'a [PinnCell], c: &PinnCell) -> Option<&'a PinnCell> {
    cells
        .iter()
        .find(|b| b.problem == c.problem && b.depth == c.depth && b.label == BASELINE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::from_csv;
    use std::path::Path;

    /// Two problems, two methods, three seeds; hand-computed medians and failures.
    fn table() -> Vec<ResultRow> {
        let head = "study,run,label,method,depth,variant,seed,status,failed,fragile,iterations,seconds,wall_seconds,train_mse,test_mse,test_mse_f32,output_weight_norm_sq,spectral_norm_product,output_design_cond,aux_loss,ls_over_aux,max_ls_over_aux,consistency_bound,constant_predictor_mse,message,beta,rel_l2,rel_l2_f32,pde_loss,bc_loss,derivative_gap,fail_rel_l2\n";
        let mut t = head.to_string();
        // label, problem, seed, status, rel_l2, gap, train_mse ("-": empty)
        let rows = "\
            ls-adam-lbfgs b1 0 max_iterations 1e-4 - 1e-9
            ls-adam-lbfgs b1 1 max_iterations 3e-4 - 1e-9
            ls-adam-lbfgs b1 2 max_iterations 2e-4 - 1e-9
            sapm b1 0 max_iterations 2e-3 1e-5 5
            sapm b1 1 diverged NaN 1e-4 NaN
            sapm b1 2 max_iterations 1e-3 3e-5 1e-6
            ls-adam-lbfgs b10 0 max_iterations 0.6 - 1e-3
            ls-adam-lbfgs b10 1 max_iterations 0.5 - 1e-3
            ls-adam-lbfgs b10 2 max_iterations 0.1 - 1e-3
            sapm b10 0 error - - -
            sapm b10 1 max_iterations 0.2 2e-3 1e-3
            sapm b10 2 max_iterations 0.4999 1e-3 1e-3";
        for (i, line) in rows.lines().enumerate() {
            let f: Vec<&str> = line
                .split_whitespace()
                .map(|x| if x == "-" { "" } else { x })
                .collect();
            let [l, p, s, st, rel, gap, mse] = f[..] else {
                panic!("bad line {line:?}")
            };
            t.push_str(&format!(
                "transport,r{i},{l},{l},4,{p},{s},{st},0,0,10,1,1,{mse},,,2,1,1,,,,,0.1,,1,{rel},{rel},1e-3,1e-4,{gap},0.5\n"
            ));
        }
        from_csv(&t, Path::new("hand.csv")).unwrap()
    }

    #[test]
    fn medians_failures_and_ratios_on_a_hand_made_table() {
        let rows = table();
        let cells = pinn_cells(&rows);
        assert_eq!(cells.len(), 4);
        let cell = |p: &str, l: &str| {
            cells
                .iter()
                .find(|c| c.problem == p && c.label == l)
                .unwrap()
        };
        let base = cell("b1", "ls-adam-lbfgs");
        assert_eq!((base.n, base.failed), (3, 0));
        assert_eq!(base.rel_l2.median, 2e-4);
        assert_eq!((base.rel_l2.min, base.rel_l2.max), (1e-4, 3e-4));
        assert!(base.gap.median.is_nan(), "no gap for ls-*");
        // Train MSE 5 > constant 0.1 does not fail a PINN run; NaN rel L2 does.
        let s = cell("b1", "sapm");
        assert_eq!((s.n, s.failed), (3, 1));
        assert_eq!(s.rel_l2.median, 2e-3);
        assert_eq!(s.rel_l2.max, f64::INFINITY);
        assert_eq!(s.gap.median, 3e-5);
        assert!((ratio_to_baseline(&cells, s).unwrap() - 10.0).abs() < 1e-12);
        // 0.5 is a failure (>=), 0.4999 is not; an error row fails.
        let b = cell("b10", "ls-adam-lbfgs");
        assert_eq!((b.failed, b.failure_rate()), (2, 2.0 / 3.0));
        let s10 = cell("b10", "sapm");
        assert_eq!(s10.failed, 1);
        assert_eq!(s10.rel_l2.median, 0.4999);
        assert!((ratio_to_baseline(&cells, s10).unwrap() - 0.4999 / 0.5).abs() < 1e-12);
        assert_eq!(ratio_to_baseline(&cells, base), Some(1.0));

        let ft = failure_table(&cells);
        assert!(ft.contains("| sapm | 1/3 | 1/3 | 2/6 (33 %) |"), "{ft}");
        assert!(
            ft.contains("| ls-adam-lbfgs | 0/3 | 2/3 | 2/6 (33 %) |"),
            "{ft}"
        );
        let mt = main_table(&cells);
        assert!(
            mt.contains("| b1 | 4 | sapm | 2.00e-3 [1.00e-3, inf] | 10 | 1/3 |"),
            "{mt}"
        );
        let gl = glance(&cells);
        assert!(gl[0].contains("ls-adam-lbfgs 2/6; sapm 2/6"), "{}", gl[0]);
        // b10: sapm fails 1/3, the baseline 2/3: compared, not left out.
        let compared =
            "0 cells where both failed in most runs left out): better in 1/2, within 10x in 2/2";
        assert!(gl[1].contains(compared), "{}", gl[1]);
        // Both failing in most runs: the cell leaves the comparison.
        let mut both = cells.clone();
        for c in &mut both {
            if c.problem == "b10" {
                c.failed = 3;
            }
        }
        let gl = glance(&both);
        let left_out =
            "1 cells where both failed in most runs left out): better in 0/1, within 10x in 1/1";
        assert!(gl[1].contains(left_out), "{}", gl[1]);
    }
}
