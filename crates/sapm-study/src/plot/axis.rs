//! Chart axes: linear, log10 and categorical, their ranges and tick labels.

/// `v` on a linear or (`log`) log10 scale; `None` for a value the scale
/// cannot show (not finite, or not positive on a log scale).
pub(super) fn scaled(v: f64, log: bool) -> Option<f64> {
    if !v.is_finite() {
        None
    } else if log {
        (v > 0.0).then(|| v.log10())
    } else {
        Some(v)
    }
}

/// An axis: label, scale, optional fixed range and optional category names.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Axis description.
    pub label: String,
    /// Log10 scale.
    pub log: bool,
    /// Fixed range in data units (else from the data).
    pub range: Option<(f64, f64)>,
    /// Names of the integer positions `0, 1, ...` (categorical axis).
    pub categories: Vec<String>,
}

impl Axis {
    /// Linear axis.
    pub fn linear(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            log: false,
            range: None,
            categories: Vec::new(),
        }
    }
    /// Log10 axis.
    pub fn log(label: impl Into<String>) -> Self {
        Axis {
            log: true,
            ..Axis::linear(label)
        }
    }
    /// Categorical axis: position `i` is labelled `names[i]`.
    pub fn categories(label: impl Into<String>, names: Vec<String>) -> Self {
        let n = names.len() as f64;
        Axis {
            range: Some((-0.5, n - 0.5)),
            categories: names,
            ..Axis::linear(label)
        }
    }
    /// Fix the range (data units).
    pub fn with_range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }

    /// Map a data value to plot units (`None`: not drawable on this axis).
    pub(super) fn map(&self, v: f64) -> Option<f64> {
        scaled(v, self.log)
    }

    /// Plot-unit range covering `vals` (already mapped).
    pub(super) fn plot_range(&self, vals: impl Iterator<Item = f64>) -> (f64, f64) {
        let fixed = self
            .range
            .and_then(|(a, b)| Some((self.map(a)?, self.map(b)?)))
            .filter(|(a, b)| a < b);
        if let Some(r) = fixed {
            return r;
        }
        let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        if self.log {
            let (a, b) = (lo.floor(), hi.ceil());
            if a == b { (a - 1.0, b + 1.0) } else { (a, b) }
        } else if lo == hi {
            let pad = if lo == 0.0 { 1.0 } else { 0.5 * lo.abs() };
            (lo - pad, hi + pad)
        } else {
            let pad = 0.04 * (hi - lo);
            (lo - pad, hi + pad)
        }
    }

    /// The label of the tick at `v` (plot units).
    pub(super) fn tick_label(&self, v: f64) -> String {
        if !self.categories.is_empty() {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < self.categories.len() {
                return self.categories[i as usize].clone();
            }
            return String::new();
        }
        if self.log {
            if (v - v.round()).abs() < 1e-6 {
                format!("1e{}", v.round() as i64)
            } else {
                format!("{:.1e}", 10f64.powf(v))
            }
        } else {
            let a = v.abs();
            if a != 0.0 && !(1e-3..1e4).contains(&a) {
                format!("{v:.1e}")
            } else {
                let s = format!("{v:.3}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
        }
    }

    /// How many tick labels to ask plotters for over `range` (plot units).
    pub(super) fn n_labels(&self, range: (f64, f64)) -> usize {
        if !self.categories.is_empty() {
            self.categories.len() + 1
        } else if self.log {
            // One label per decade up to 12, else plotters thins them.
            ((range.1 - range.0).round() as usize + 1).clamp(2, 12)
        } else {
            8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maps_and_labels() {
        let a = Axis::log("y");
        assert_eq!(a.map(100.0), Some(2.0));
        assert_eq!(a.map(0.0), None);
        assert_eq!(a.map(f64::NAN), None);
        assert_eq!(a.tick_label(-3.0), "1e-3");
        assert_eq!(a.plot_range([-2.5, 0.2].into_iter()), (-3.0, 1.0));
        assert_eq!(a.plot_range([1.0].into_iter()), (0.0, 2.0));
        assert_eq!(a.plot_range(std::iter::empty()), (0.0, 1.0));
        let c = Axis::categories("m", vec!["a".into(), "b".into()]);
        assert_eq!(c.tick_label(1.0), "b");
        assert_eq!(c.tick_label(0.5), "");
        assert_eq!(c.tick_label(7.0), "");
        let l = Axis::linear("x");
        assert_eq!(l.tick_label(2.5), "2.5");
        assert_eq!(l.tick_label(1e-6), "1.0e-6");
    }
}
