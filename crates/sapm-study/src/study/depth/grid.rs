//! The depth study's cells by bias variant, depth and method.

use crate::results::{CellStats, aggregate};
use crate::runner::RunOutcome;

/// The runs and their cells, with the variants, depths and method labels
/// that occur (variants and labels in order of first appearance, depths
/// ascending).
pub(super) struct Grid<'a> {
    /// The runs, in plan order.
    pub runs: &'a [RunOutcome],
    /// Their cells.
    pub cells: Vec<CellStats>,
    /// Bias variants.
    pub variants: Vec<String>,
    /// Depths, ascending.
    pub depths: Vec<usize>,
    /// Method labels.
    pub labels: Vec<String>,
}

impl<'a> Grid<'a> {
    /// The grid of `runs`.
    pub fn new(runs: &'a [RunOutcome]) -> Self {
        let rows: Vec<_> = runs.iter().map(|r| r.row.clone()).collect();
        let cells = aggregate(&rows);
        let mut variants: Vec<String> = Vec::new();
        let mut depths: Vec<usize> = Vec::new();
        let mut labels: Vec<String> = Vec::new();
        for c in &cells {
            if !variants.contains(&c.key.variant) {
                variants.push(c.key.variant.clone());
            }
            if !depths.contains(&c.key.depth) {
                depths.push(c.key.depth);
            }
            if !labels.contains(&c.key.label) {
                labels.push(c.key.label.clone());
            }
        }
        depths.sort_unstable();
        Grid {
            runs,
            cells,
            variants,
            depths,
            labels,
        }
    }

    /// The cell of variant `v`, depth `d` and method `l`.
    pub fn cell(&self, v: &str, d: usize, l: &str) -> Option<&CellStats> {
        self.cells
            .iter()
            .find(|c| c.key.variant == v && c.key.depth == d && c.key.label == l)
    }

    /// Whether method `l` ran.
    pub fn has(&self, l: &str) -> bool {
        self.labels.iter().any(|x| x == l)
    }

    /// Depths at which variant `v` ran (the zero-bias variant runs only at some).
    pub fn variant_depths(&self, v: &str) -> Vec<usize> {
        self.depths
            .iter()
            .copied()
            .filter(|&d| self.labels.iter().any(|l| self.cell(v, d, l).is_some()))
            .collect()
    }

    /// The cell of the method in `set` with the lowest median test MSE at (`v`, `d`).
    pub fn best(&self, v: &str, d: usize, set: &[&str]) -> Option<&CellStats> {
        set.iter()
            .filter_map(|l| self.cell(v, d, l))
            .min_by(|a, b| a.test_mse.median.total_cmp(&b.test_mse.median))
    }
}
