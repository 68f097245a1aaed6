//! The depth study's "At a glance": SAPM's consistency, robustness to depth,
//! SAPM against Adam and L-BFGS at equal time, and where auxiliary
//! variables win.

use super::grid::Grid;
use super::{AUX, LABELS, LS_STRONG, SAPM};
use crate::report::{and_list, cell_acc, frac, g as fmt_g};
use crate::results::CellStats;
use crate::runner::RunOutcome;

/// The sentences, in report order.
pub(super) fn sentences(g: &Grid<'_>) -> Vec<String> {
    let mut out = Vec::new();
    consistency(g, &mut out);
    robustness_by_variant(g, &mut out);
    equal_time(g, &mut out);
    aux_wins(g, &mut out);
    out
}

/// (1) Consistency of SAPM at every depth.
fn consistency(g: &Grid<'_>, out: &mut Vec<String>) {
    let sapm_runs: Vec<&RunOutcome> = g
        .runs
        .iter()
        .filter(|r| SAPM.contains(&r.row.label.as_str()) && r.row.max_ls_over_aux.is_finite())
        .collect();
    if !sapm_runs.is_empty() {
        let within = sapm_runs
            .iter()
            .filter(|r| r.row.max_ls_over_aux <= r.row.consistency_bound * (1.0 + 1e-9))
            .count();
        let worst = sapm_runs
            .iter()
            .map(|r| r.row.max_ls_over_aux / r.row.consistency_bound)
            .fold(0.0f64, f64::max);
        out.push(format!(
            "**J_SAPM and the MSE {}**: the train MSE stayed within SAPM's consistency bound L x J_SAPM over the whole history in {} SAPM runs (cold and warm, all depths; largest MSE/J_SAPM relative to the bound: {}).",
            if within == sapm_runs.len() { "stay together" } else { "come apart in some runs" },
            frac(within, sapm_runs.len()),
            fmt_g(worst)
        ));
    }
}

/// (2) Robustness to depth: failures by depth, SAPM vs GD and PM.
fn robustness_by_variant(g: &Grid<'_>, out: &mut Vec<String>) {
    for v in &g.variants {
        let depths = g.variant_depths(v);
        let fails = |l: &str| -> Option<Vec<usize>> {
            depths
                .iter()
                .map(|&d| g.cell(v, d, l).map(|c| c.failed))
                .collect()
        };
        let n = depths
            .iter()
            .filter_map(|&d| g.cell(v, d, g.labels.first()?.as_str()))
            .map(|c| c.n)
            .next()
            .unwrap_or(0);
        let mut parts = Vec::new();
        for l in ["ls-gd", "pm", "sapm", "sapm-warm"] {
            if let Some(f) = fails(l).filter(|_| g.has(l)) {
                parts.push(format!(
                    "{l} ({})",
                    f.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if parts.is_empty() {
            continue;
        }
        let mut verdicts = Vec::new();
        for s in SAPM.iter().filter(|s| g.has(s)) {
            for base in ["ls-gd", "pm"].iter().filter(|b| g.has(b)) {
                if let (Some(a), Some(b)) = (fails(s), fails(base)) {
                    verdicts.push(format!("{s} is {} {base}", robustness(&a, &b)));
                }
            }
        }
        let fragile: Vec<String> =
            SAPM.iter()
                .filter(|s| g.has(s))
                .map(|s| {
                    let (k, ok) = depths.iter().filter_map(|&d| g.cell(v, d, s)).fold(
                        (0, 0),
                        |(k, ok), c| {
                            let good = g.runs.iter().filter(|r| {
                                r.row.variant == *v
                                    && r.row.depth == c.key.depth
                                    && r.row.label == *s
                                    && !r.row.failed()
                            });
                            let (fk, fo) = good
                                .fold((0, 0), |(a, b), r| (a + usize::from(r.row.fragile), b + 1));
                            (k + fk, ok + fo)
                        },
                    );
                    format!("{s} {}", frac(k, ok))
                })
                .collect();
        out.push(format!(
            "**Robustness to depth ({v})**: failed runs out of {n} at L = ({}): {}. So {}. Fragile among the runs that did not fail: {}.",
            depths.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
            parts.join("; "),
            if verdicts.is_empty() { "no comparison is possible with the methods run".to_string() } else { and_list(&verdicts) },
            if fragile.is_empty() { "-".to_string() } else { fragile.join(", ") }
        ));
    }
}

/// (3) Equal time: best of Adam / L-BFGS / Adam->L-BFGS vs the best SAPM variant.
fn equal_time(g: &Grid<'_>, out: &mut Vec<String>) {
    let mut ls_wins = 0;
    let mut sapm_wins = Vec::new();
    let mut total = 0;
    let mut detail = Vec::new();
    for v in &g.variants {
        for &d in &g.depths {
            if let (Some(a), Some(b)) = (g.best(v, d, &LS_STRONG), g.best(v, d, &SAPM)) {
                total += 1;
                let sapm_better = b.test_mse.median < a.test_mse.median;
                if sapm_better {
                    sapm_wins.push(format!(
                        "L = {d} ({v}): {} {} vs {} {}{}",
                        b.key.label,
                        cell_acc(b),
                        a.key.label,
                        cell_acc(a),
                        sound_note(b)
                    ));
                } else {
                    ls_wins += 1;
                }
                if d == *g.depths.last().unwrap_or(&d) || d == 10 {
                    detail.push(format!(
                        "L = {d} ({v}): best LS {} {}, best SAPM {} {}",
                        a.key.label,
                        cell_acc(a),
                        b.key.label,
                        cell_acc(b)
                    ));
                }
            }
        }
    }
    if total > 0 {
        out.push(format!(
            "**Against Adam and L-BFGS at equal time**: the best of {} had the lower median test MSE in {} (depth, bias) cells, the best SAPM variant in {}{}. For example: {}.",
            LS_STRONG.iter().filter(|l| g.has(l)).cloned().collect::<Vec<_>>().join(" / "),
            frac(ls_wins, total),
            frac(sapm_wins.len(), total),
            if sapm_wins.is_empty() { String::new() } else { format!(" ({})", sapm_wins.join("; ")) },
            detail.join("; ")
        ));
    }
}

/// (4) Where auxiliary variables win.
fn aux_wins(g: &Grid<'_>, out: &mut Vec<String>) {
    let plain: Vec<&str> = LABELS
        .iter()
        .filter(|l| !AUX.contains(l))
        .cloned()
        .collect();
    let (mut sound_wins, mut fragile_wins, mut n_cells) = (Vec::new(), Vec::new(), 0);
    for v in &g.variants {
        for &d in &g.depths {
            if let (Some(a), Some(p)) = (g.best(v, d, &AUX), g.best(v, d, &plain)) {
                n_cells += 1;
                if a.test_mse.median < p.test_mse.median {
                    let s = format!(
                        "L = {d} ({v}): {} {} vs {} {}",
                        a.key.label,
                        cell_acc(a),
                        p.key.label,
                        cell_acc(p)
                    );
                    if a.sound() {
                        sound_wins.push(s);
                    } else {
                        fragile_wins.push(format!(
                            "{s}, but {} fragile and {} failed",
                            frac(a.fragile, a.n),
                            frac(a.failed, a.n)
                        ));
                    }
                }
            }
        }
    }
    if n_cells > 0 {
        out.push(if sound_wins.is_empty() {
            format!(
                "**Where auxiliary variables win**: nowhere in this study. In all {n_cells} cells a method without auxiliary variables had a lower median test MSE{}.",
                if fragile_wins.is_empty() {
                    String::new()
                } else {
                    format!(", except where the auxiliary-variable winner was fragile or failing in more than half its runs ({})", fragile_wins.join("; "))
                }
            )
        } else {
            format!(
                "**Where auxiliary variables win** (lower median test MSE than every method without them, fragile and failed in at most half the runs): {} of {n_cells} cells: {}{}.",
                sound_wins.len(),
                sound_wins.join("; "),
                if fragile_wins.is_empty() { String::new() } else { format!("; unsound wins: {}", fragile_wins.join("; ")) }
            )
        });
    }
}

/// Compare failures by depth of method `a` with method `b`.
fn robustness(a: &[usize], b: &[usize]) -> &'static str {
    let (sa, sb): (usize, usize) = (a.iter().sum(), b.iter().sum());
    let le = a.iter().zip(b).all(|(x, y)| x <= y);
    let ge = a.iter().zip(b).all(|(x, y)| x >= y);
    if le && ge {
        "as robust as"
    } else if le && sa < sb {
        "more robust than"
    } else if ge && sa > sb {
        "less robust than"
    } else {
        "neither clearly more nor less robust than (mixed by depth)"
    }
}

fn sound_note(c: &CellStats) -> String {
    if 2 * c.fragile > c.n {
        format!(", but fragile in {}", frac(c.fragile, c.n))
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robustness_verdicts() {
        assert_eq!(robustness(&[0, 1, 2], &[0, 3, 5]), "more robust than");
        assert_eq!(robustness(&[1, 1], &[1, 1]), "as robust as");
        assert_eq!(robustness(&[2, 4], &[1, 4]), "less robust than");
        assert!(robustness(&[0, 5], &[3, 1]).starts_with("neither"));
    }
}
