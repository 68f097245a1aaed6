//! What a run records: history rows and trainer counters, their checkpoint
//! entries and their CSV form.

use crate::checkpoint::{StateReader, StateWriter};
use crate::error::Result;
use serde::Serialize;

/// One row of the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Iterations completed.
    pub iteration: usize,
    /// Training seconds so far (metric evaluation excluded).
    pub seconds: f64,
    /// The method's objective.
    pub objective: f64,
    /// PM/SAPM auxiliary loss, if any.
    pub aux_loss: Option<f64>,
    /// Metric values in [`Metrics::names`] order.
    pub values: Vec<f64>,
}

/// Counters a trainer exposes for the summary.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TrainerStats {
    /// Weight steps whose solve fell back to the SVD pseudo-inverse.
    pub solve_fallbacks: usize,
    /// Weight steps solved in total.
    pub solves: usize,
    /// Auxiliary steps rejected by backtracking (no decrease found).
    pub aux_rejections: usize,
    /// Cost-function evaluations (L-BFGS line search included).
    pub evaluations: usize,
}

impl TrainerStats {
    /// Add `o`'s counters to these.
    pub fn add(&mut self, o: &TrainerStats) {
        self.solve_fallbacks += o.solve_fallbacks;
        self.solves += o.solves;
        self.aux_rejections += o.aux_rejections;
        self.evaluations += o.evaluations;
    }
}

impl StateWriter<'_> {
    /// A trainer's counters under `stats.*`.
    pub fn stats(&mut self, s: &TrainerStats) {
        self.scope("stats", |w| {
            w.int("solve_fallbacks", s.solve_fallbacks as u64);
            w.int("solves", s.solves as u64);
            w.int("aux_rejections", s.aux_rejections as u64);
            w.int("evaluations", s.evaluations as u64);
        });
    }

    /// History rows under `name.*` (floats as raw bits, NaN and Inf included).
    pub fn records(&mut self, name: &str, rows: &[Record]) {
        let width = rows.first().map_or(0, |r| r.values.len());
        self.scope(name, |w| {
            w.int("rows", rows.len() as u64);
            w.int("width", width as u64);
            w.u64s(
                "iteration",
                rows.iter().map(|r| r.iteration as u64).collect(),
            );
            w.f64s_owned("seconds", rows.iter().map(|r| r.seconds).collect());
            w.f64s_owned("objective", rows.iter().map(|r| r.objective).collect());
            w.u64s(
                "has_aux",
                rows.iter()
                    .map(|r| u64::from(r.aux_loss.is_some()))
                    .collect(),
            );
            w.f64s_owned(
                "aux",
                rows.iter().map(|r| r.aux_loss.unwrap_or(0.0)).collect(),
            );
            let mut v = Vec::with_capacity(rows.len() * width);
            for r in rows {
                v.extend(
                    r.values
                        .iter()
                        .copied()
                        .chain(std::iter::repeat(f64::NAN))
                        .take(width),
                );
            }
            w.f64s_owned("values", v);
        });
    }
}

impl StateReader {
    /// Counters written by [`StateWriter::stats`].
    pub fn stats(&self) -> Result<TrainerStats> {
        let g =
            |k: &str| -> Result<usize> { self.usize_at_most(&format!("stats.{k}"), usize::MAX) };
        Ok(TrainerStats {
            solve_fallbacks: g("solve_fallbacks")?,
            solves: g("solves")?,
            aux_rejections: g("aux_rejections")?,
            evaluations: g("evaluations")?,
        })
    }

    /// History rows written by [`StateWriter::records`]; each row must have
    /// `width` values.
    pub fn records(&mut self, name: &str, width: usize) -> Result<Vec<Record>> {
        self.scope(name, |r| {
            let rows = r.usize_at_most("rows", usize::MAX)?;
            let w = r.usize_at_most("width", usize::MAX)?;
            if rows > 0 && w != width {
                return Err(r.err(format!(
                    "field `meta.{}` is {w}, this run records {width} metrics",
                    r.full("width")
                )));
            }
            let expect = |r: &StateReader, n: &str, len: usize, want: usize| -> Result<()> {
                if len != want {
                    return Err(r.err(format!(
                        "entry `{}` has {len} values, {want} expected for {rows} rows",
                        r.full(n)
                    )));
                }
                Ok(())
            };
            for n in ["iteration", "seconds", "objective", "has_aux", "aux"] {
                expect(r, n, r.len_of(n)?, rows)?;
            }
            expect(r, "values", r.len_of("values")?, rows.saturating_mul(width))?;
            let it = r.u64s("iteration")?;
            let secs = r.f64s("seconds")?;
            let obj = r.f64s("objective")?;
            let has = r.u64s("has_aux")?;
            let aux = r.f64s("aux")?;
            let vals = r.f64s("values")?;
            Ok((0..rows)
                .map(|i| Record {
                    iteration: it[i] as usize,
                    seconds: secs[i],
                    objective: obj[i],
                    aux_loss: (has[i] != 0).then_some(aux[i]),
                    values: vals[i * width..(i + 1) * width].to_vec(),
                })
                .collect())
        })
    }
}

/// History as CSV text: `iteration,seconds,objective,aux_loss,<metrics...>`;
/// a missing auxiliary loss is an empty field.
pub fn history_csv(metric_names: &[String], rows: &[Record]) -> String {
    let mut s = String::from("iteration,seconds,objective,aux_loss");
    for n in metric_names {
        s.push(',');
        s.push_str(n);
    }
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},{:e},{:e},",
            r.iteration, r.seconds, r.objective
        ));
        if let Some(a) = r.aux_loss {
            s.push_str(&format!("{a:e}"));
        }
        for v in &r.values {
            s.push_str(&format!(",{v:e}"));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_has_a_header_and_round_trips_numbers() {
        let rows = vec![Record {
            iteration: 3,
            seconds: 0.5,
            objective: 1.25e-3,
            aux_loss: None,
            values: vec![0.1, 1e-300],
        }];
        let csv = history_csv(&["train_mse".into(), "test_mse".into()], &rows);
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("iteration,seconds,objective,aux_loss,train_mse,test_mse")
        );
        let f: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(f[0], "3");
        assert_eq!(f[3], "");
        assert_eq!(f[5].parse::<f64>().unwrap(), 1e-300);
    }
}
