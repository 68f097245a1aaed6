//! Median, minimum and maximum over the seeds of a cell.

/// Median, minimum and maximum of a set of runs.
///
/// Values that are not numbers count as `+inf` (a run without a number is
/// worse than any run with one); an empty set gives NaN everywhere.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiles {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Quantiles {
    /// Quantiles of `values` (see the type docs).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values
            .into_iter()
            .map(|x| if x.is_nan() { f64::INFINITY } else { x })
            .collect();
        if v.is_empty() {
            return Quantiles {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        };
        Quantiles {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}
