//! Markdown building blocks for `report.md`: number formatting, tables, and
//! the "accuracy next to its fragility check" convention.

use crate::results::{CellStats, Quantiles};

/// A number with 3 significant digits: plain between 0.01 and 10^4
/// (`12.5`, `0.0123`), else scientific (`1.23e-4`); `inf`, `NaN`, `0`.
pub fn g(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if v == 0.0 {
        "0".into()
    } else if (1e-2..1e4).contains(&v.abs()) {
        // Round to 3 significant digits first, so 9.996 becomes 10 rather than 10.00.
        let r: f64 = format!("{v:.2e}").parse().unwrap_or(v);
        let decimals = (2 - r.abs().log10().floor() as i32).max(0) as usize;
        let s = format!("{r:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.2e}")
    }
}

/// `median [min, max]`.
pub fn range(q: &Quantiles) -> String {
    format!("{} [{}, {}]", g(q.median), g(q.min), g(q.max))
}

/// An accuracy number with its f32 check and output-weight norm:
/// `1.2e-4 (f32 1.3e-4, |W_L|^2 3.1)`.
pub fn acc(mse: f64, f32_mse: f64, w_out: f64) -> String {
    format!("{} (f32 {}, |W_L|² {})", g(mse), g(f32_mse), g(w_out))
}

/// A cell's median test MSE with its medians of the f32 test MSE and `|W_L|^2`.
pub fn cell_acc(c: &CellStats) -> String {
    acc(
        c.test_mse.median,
        c.test_mse_f32.median,
        c.output_weight_norm_sq.median,
    )
}

/// `k/n`.
pub fn frac(k: usize, n: usize) -> String {
    format!("{k}/{n}")
}

/// A markdown table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut s = String::new();
    s.push_str(&format!(
        "| {} |\n",
        header
            .iter()
            .map(|h| esc(h))
            .collect::<Vec<_>>()
            .join(" | ")
    ));
    s.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        s.push_str(&format!(
            "| {} |\n",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        ));
    }
    s
}

/// The standard per-cell columns: runs, failures, fragile runs, train and
/// test MSE with ranges, f32 test MSE, `|W_L|^2`, iterations and seconds.
pub const CELL_HEADER: [&str; 10] = [
    "method",
    "failed",
    "fragile",
    "train MSE median [min, max]",
    "test MSE median [min, max]",
    "f32 test MSE median [min, max]",
    "|W_L|² median [min, max]",
    "max MSE/J_aux median",
    "iterations median",
    "seconds median",
];

/// One row under [`CELL_HEADER`]; `name` fills the first column.
pub fn cell_row(name: &str, c: &CellStats) -> Vec<String> {
    vec![
        name.to_string(),
        frac(c.failed, c.n),
        frac(c.fragile, c.n),
        range(&c.train_mse),
        range(&c.test_mse),
        range(&c.test_mse_f32),
        range(&c.output_weight_norm_sq),
        if c.max_ls_over_aux.median.is_nan() {
            "-".into()
        } else {
            g(c.max_ls_over_aux.median)
        },
        g(c.iterations.median),
        format!("{:.2}", c.seconds.median),
    ]
}

/// Markdown image link to `plots/<stem>.png` with a link to the SVG.
pub fn image(alt: &str, stem: &str) -> String {
    format!("![{alt}](plots/{stem}.png)\n\n(vector: [plots/{stem}.svg](plots/{stem}.svg))\n")
}

/// `items` joined by `sep`, or `none` if there are none.
pub fn join_or_none(items: &[String], sep: &str) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(sep)
    }
}

/// `yes` or `no`.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// Join names as `a, b and c`.
pub fn and_list(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} and {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(g(1.23456e-4), "1.23e-4");
        assert_eq!(g(10.0), "10");
        assert_eq!(g(1.6349), "1.63");
        assert_eq!(g(9.996), "10");
        assert_eq!(g(-0.012345), "-0.0123");
        assert_eq!(g(1234.5), "1230");
        assert_eq!(g(2.5e4), "2.50e4");
        assert_eq!(g(f64::INFINITY), "inf");
        assert_eq!(g(f64::NAN), "NaN");
        assert_eq!(g(0.0), "0");
        assert_eq!(acc(1e-3, 2e-3, 5.0), "1.00e-3 (f32 2.00e-3, |W_L|² 5)");
        let t = table(&["a", "b|c"], &[vec!["1".into(), "x|y".into()]]);
        assert_eq!(t, "| a | b\\|c |\n|---|---|\n| 1 | x\\|y |\n");
        assert_eq!(
            and_list(&["a".into(), "b".into(), "c".into()]),
            "a, b and c"
        );
        assert_eq!(and_list(&["a".into()]), "a");
        assert_eq!(and_list(&[]), "");
        assert_eq!(join_or_none(&["a".into(), "b".into()], "; "), "a; b");
        assert_eq!(join_or_none(&[], ", "), "none");
        assert_eq!(
            (yes_no(true).as_str(), yes_no(false).as_str()),
            ("yes", "no")
        );
    }
}
