//! The optimizers report: per problem a table of every method (error with
//! its f32 check and |W_L|^2, spikes, time to reach each threshold, ratio to
//! Adam -> L-BFGS), a plot of the error against CPU time, and the sentences.

use super::{BASELINE, CASES, Kind, METHODS, THRESHOLDS};
use crate::error::Result;
use crate::plot::{Axis, Figure, LineChart, Panel, Series, save};
use crate::report::{frac, g, image, range, table};
use crate::results::{FAIL_REL_L2, Quantiles};
use crate::runner::RunOutcome;
use crate::study::pinn::by_rel_l2;
use crate::study::{ReportBody, ReportInput};

/// A run's test error: rel L2 on a PINN, test MSE on regression data.
pub fn error(r: &RunOutcome) -> f64 {
    if is_pinn(r) {
        r.row.extra("rel_l2").unwrap_or(f64::NAN)
    } else {
        r.row.test_mse
    }
}

/// The same error of the model evaluated in f32.
fn error_f32(r: &RunOutcome) -> f64 {
    if is_pinn(r) {
        r.row.extra("rel_l2_f32").unwrap_or(f64::NAN)
    } else {
        r.row.test_mse_f32
    }
}

fn is_pinn(r: &RunOutcome) -> bool {
    r.row.extra(FAIL_REL_L2).is_some_and(f64::is_finite)
}

fn extra(r: &RunOutcome, name: &str) -> f64 {
    r.row.extra(name).unwrap_or(f64::NAN)
}

/// One problem x method cell.
pub struct Cell<'a> {
    /// Method label.
    pub label: &'a str,
    /// Its runs (one per seed).
    pub runs: Vec<&'a RunOutcome>,
}

impl Cell<'_> {
    fn q(&self, f: impl Fn(&RunOutcome) -> f64) -> Quantiles {
        Quantiles::of(self.runs.iter().map(|r| f(r)))
    }
    /// Median error over seeds (NaN counts as +inf).
    pub fn median_error(&self) -> f64 {
        self.q(error).median
    }
    /// The run with the median error (the better of the two middle ones).
    fn median_run(&self) -> Option<&RunOutcome> {
        let sorted = by_rel_l2(&self.runs, error);
        sorted.get(sorted.len().saturating_sub(1) / 2).copied()
    }
    /// `median (k/n)` of the seconds to reach `t`; `never` if no run did.
    fn reach(&self, k: usize) -> String {
        let col = format!("t_{:.0e}", THRESHOLDS[k]);
        let v: Vec<f64> = self.runs.iter().map(|r| extra(r, &col)).collect();
        if v.iter().all(|x| x.is_nan()) {
            return "-".into();
        }
        let hit = v.iter().filter(|x| x.is_finite()).count();
        if hit == 0 {
            return "never".into();
        }
        let m = Quantiles::of(v.iter().copied()).median;
        let m = if m.is_finite() { g(m) } else { "never".into() };
        format!("{m} ({})", frac(hit, v.len()))
    }
}

/// The cells of problem `key`, in `methods` order.
pub fn cells<'a>(runs: &'a [RunOutcome], key: &str, methods: &[&'static str]) -> Vec<Cell<'a>> {
    methods
        .iter()
        .filter_map(|&label| {
            let rs: Vec<&RunOutcome> = runs
                .iter()
                .filter(|r| r.row.variant == key && r.row.label == label)
                .collect();
            (!rs.is_empty()).then_some(Cell { label, runs: rs })
        })
        .collect()
}

/// The table of one problem.
fn problem_table(cells: &[Cell<'_>], pinn: bool) -> String {
    let base = cells
        .iter()
        .find(|c| c.label == BASELINE)
        .map(Cell::median_error);
    let err = if pinn { "rel L2" } else { "test MSE" };
    let header = [
        "method",
        "failed",
        "train MSE",
        err,
        "f32",
        "|W_L|²",
        "fragile",
        "max error between",
        "spike ratio",
        "s to 1e-3",
        "s to 1e-6",
        "s to 1e-9",
        "ratio",
    ];
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            let n = c.runs.len();
            let ratio = base.map_or("-".into(), |b| g(c.median_error() / b));
            vec![
                c.label.to_string(),
                frac(c.runs.iter().filter(|r| r.row.failed()).count(), n),
                g(c.q(|r| r.row.train_mse).median),
                range(&c.q(error)),
                g(c.q(error_f32).median),
                g(c.q(|r| r.row.output_weight_norm_sq).median),
                frac(c.runs.iter().filter(|r| r.row.fragile).count(), n),
                g(c.q(|r| extra(r, "max_err_between")).median),
                g(c.q(|r| extra(r, "spike_ratio")).median),
                c.reach(0),
                c.reach(1),
                c.reach(2),
                ratio,
            ]
        })
        .collect();
    table(&header, &rows)
}

/// Error against CPU time of each method's median run on one problem
/// (colours by position in `methods`).
fn time_chart(title: &str, cells: &[Cell<'_>], pinn: bool, methods: &[&str]) -> LineChart {
    let metric = if pinn { "rel_l2" } else { "test_mse" };
    let mut c = LineChart::new(
        title,
        Axis::log("CPU seconds"),
        Axis::log(if pinn { "rel L2" } else { "test MSE" }),
    );
    for cell in cells {
        let Some(r) = cell.median_run() else { continue };
        let Some(k) = r.metric_names.iter().position(|n| n == metric) else {
            continue;
        };
        let pts = r
            .history
            .iter()
            .filter_map(|h| Some((h.seconds, *h.values.get(k)?)))
            .collect();
        let color = methods.iter().position(|m| *m == cell.label).unwrap_or(0);
        c = c.with(Series::line(cell.label, pts, color));
    }
    c
}

/// One sentence per problem: the most accurate method at equal time, the
/// baseline, and the best auxiliary-variable method, each with its checks.
fn sentence(key: &str, cells: &[Cell<'_>], pinn: bool) -> Option<String> {
    let err = if pinn { "rel L2" } else { "test MSE" };
    let best = cells
        .iter()
        .min_by(|a, b| a.median_error().total_cmp(&b.median_error()))?;
    let describe = |c: &Cell<'_>| {
        format!(
            "{} {} (f32 {}, |W_L|² {}, fragile {})",
            c.label,
            g(c.median_error()),
            g(c.q(error_f32).median),
            g(c.q(|r| r.row.output_weight_norm_sq).median),
            frac(
                c.runs.iter().filter(|r| r.row.fragile).count(),
                c.runs.len()
            )
        )
    };
    let mut s = format!("{key}: lowest median {err}: {}", describe(best));
    if let Some(b) = cells.iter().find(|c| c.label == BASELINE) {
        s.push_str(&format!(
            "; {} {}x the baseline {BASELINE} ({})",
            best.label,
            g(best.median_error() / b.median_error()),
            g(b.median_error())
        ));
    }
    let aux = cells
        .iter()
        .filter(|c| ["pm", "sapm", "sapm-warm", "sapm-gn"].contains(&c.label))
        .min_by(|a, b| a.median_error().total_cmp(&b.median_error()));
    if let Some(a) = aux {
        s.push_str(&format!(
            "; best auxiliary-variable method {}, {}x the lowest",
            describe(a),
            g(a.median_error() / best.median_error())
        ));
    }
    s.push('.');
    Some(s)
}

/// The report body (see the module docs).
pub fn report(input: &ReportInput<'_>) -> Result<ReportBody> {
    let mut body = ReportBody::default();
    body.budget_notes.push(format!(
        "equal CPU time per problem kind (`train.clock = \"cpu\"`): every regression run trains for --seconds = {} s, every PINN run for `study.pinn_seconds` = {} s (a time-marching run: that over its windows); no iteration limit; methods with the examples' settings",
        g(input.plan.budget.seconds),
        g(input.plan.params.f64("pinn_seconds", 30.0, 1e-3, 1e7)?),
    ));
    body.budget_notes.push("regression: width 20, tanh, sin_x2 / sincos_x2 100 random training points and a 1000-point test grid on [-3, 3], franke 400 random points and a 50 x 50 grid; PINN: width 20, tanh, L = 4, 1000 interior + 200 boundary points (marching: 500 + 100 per window, K = 10), 101 x 101 test grid".into());
    body.definitions = definitions();
    let cases: Vec<(&str, bool)> = CASES
        .iter()
        .map(|c| (c.key, matches!(c.kind, Kind::Pinn(..))))
        .collect();
    problem_sections(input, &cases, &METHODS, &mut body)?;
    Ok(body)
}

/// The *Definitions* of the report (the second-order study's too).
pub fn definitions() -> Vec<String> {
    vec![
        "**test MSE / rel L2**: the final model's mean squared error on the regression test set (mean over outputs), or `|u - u_exact|_2 / |u_exact|_2` on the PINN test grid; `median [min, max]` over seeds, NaN counted as +inf. **f32**: the same for the model evaluated in single precision (median). **|W_L|²**: output-layer weights, squared Frobenius norm (median).".into(),
        "**fragile**: the model's test MSE in f32 above twice the f64 one (on a PINN: the MSE against the exact solution on the test grid), the sign of cancellation between large weights.".into(),
        "**max error between / spike ratio**: the largest `|u - y|` on the test points inside the training inputs' bounding box (the gaps between training points; extrapolation beyond the outermost points is left out, it is in results.csv as `max_err_test`), and its ratio to the largest `|u - y|` at the training points (PINN: `|u - u_exact|` on the test grid and at the interior collocation points): a fit that spikes between its training points (the paper's \"bad regularization\") has a large ratio, and so does a fit whose training error is near zero; read the ratio with the error beside it (medians over seeds).".into(),
        "**s to 1e-k**: CPU seconds until the test MSE (regression) or rel L2 (PINN) first fell to 1e-k at a recorded iteration, median over seeds with `(reached/runs)`; `never` if the median run did not; `-` for time marching, whose history holds per-window errors.".into(),
        format!("**failed**: regression: final train MSE above the constant predictor's, or an error; PINN: rel L2 >= 0.5 or not a number. **ratio**: median error over the median error of {BASELINE} on the same problem (< 1: more accurate)."),
    ]
}

/// Per problem `(key, is a PINN)` of `cases`: its sentence, its table of the
/// `methods` (in that order) and its panel of the error-against-time figure
/// `plots/error_time`, into `body`.
pub fn problem_sections(
    input: &ReportInput<'_>,
    cases: &[(&str, bool)],
    methods: &[&'static str],
    body: &mut ReportBody,
) -> Result<()> {
    let mut panels = Vec::new();
    for &(key, pinn) in cases {
        let cs = cells(input.runs, key, methods);
        if cs.is_empty() {
            continue;
        }
        if let Some(s) = sentence(key, &cs, pinn) {
            body.glance.push(s);
        }
        let s = &mut body.sections;
        s.push_str(&format!("## {key}\n\n"));
        s.push_str(&problem_table(&cs, pinn));
        s.push('\n');
        panels.push(Panel::Line(time_chart(key, &cs, pinn, methods)));
    }
    if !panels.is_empty() {
        let fig = Figure::grid(
            Some("Test error against CPU seconds (the median run of each method)".into()),
            panels,
            3,
            560,
            420,
        );
        save(&fig, &input.plots_dir.join("error_time"))?;
        body.sections.push_str("## Error against time\n\n");
        body.sections
            .push_str(&image("error against time", "error_time"));
        body.sections.push_str("\nOne panel per problem; each line is the recorded history of the run with the median final error of its method (log axes; iteration 0 at 0 s is off the axis).\n");
    }
    Ok(())
}
