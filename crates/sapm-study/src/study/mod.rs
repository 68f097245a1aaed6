//! The studies and what they share: the [`Study`] trait, the registry
//! ([`available`], [`find`]) and the pipeline every study goes through:
//! plan runs -> run them in parallel -> `results.csv`/`cells.csv` -> plots ->
//! `report.md`.
//!
//! A study implements [`Study`]: it declares its [`StudyInfo`] (name,
//! description, default [`Budget`] and `study.*` options), turns options into
//! [`RunSpec`]s, may override how a run executes (the default is `sapm::fit`
//! on regression data), and writes its report sections and plots from the
//! outcomes. To add one, implement the trait in a new module and list it in
//! [`available`].
//!
//! Files: `options` (what a study accepts), `plan` (budget, plan inputs, time
//! bound), `pipeline` ([`run_study`], [`rereport`]), `study_json` and
//! `report_md` (the two files every study writes besides the tables); the
//! studies `consistency`, `depth`, `ablation`, `transport`, `derivatives` and
//! `optimizers`, `second_order`;
//! `regression` and `pinn` (what the regression and the PINN studies share).

mod ablation;
mod consistency;
mod depth;
mod derivatives;
mod optimizers;
mod options;
mod pinn;
mod pipeline;
mod plan;
mod regression;
mod report_md;
mod second_order;
mod study_json;
mod transport;

pub use ablation::Ablation;
pub use consistency::Consistency;
pub use depth::Depth;
pub use derivatives::Derivatives;
pub use optimizers::Optimizers;
pub use options::{FIRST_SEED, OptionDoc, Params, StudyOptions};
pub use pinn::{FAIL_THRESHOLD, PINN_COLUMNS};
pub use pipeline::{StudyOutput, rereport, run_study};
pub use plan::{Budget, PlanInput, PlanSummary, plan, plan_input};
pub use second_order::SecondOrder;
pub use transport::{PinnCell, Transport, pinn_cells, ratio_to_baseline};

use crate::error::{Error, Result};
use crate::runner::{RunOutcome, RunOutput, RunSpec, execute_regression_in};
use std::path::Path;

/// Everything a study's report needs.
pub struct ReportInput<'a> {
    /// Outcomes in plan order.
    pub runs: &'a [RunOutcome],
    /// The plan inputs.
    pub plan: &'a PlanInput,
    /// Folder for plots (`OUT/plots`); embed as `plots/<stem>.png`.
    pub plots_dir: &'a Path,
}

/// A study's part of `report.md`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportBody {
    /// "At a glance" sentences, computed from the results.
    pub glance: Vec<String>,
    /// Budget lines specific to the study (what `--seconds` means here, ...).
    pub budget_notes: Vec<String>,
    /// Markdown sections (tables, plots).
    pub sections: String,
    /// Definitions replacing the regression ones (failure by train MSE,
    /// fragility, ...) when not empty, e.g. for the PINN studies.
    pub definitions: Vec<String>,
}

/// What a study is: its registry name, description, default budget and
/// accepted `study.*` options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudyInfo {
    /// Registry name (`sapm study NAME`).
    pub name: &'static str,
    /// One-line description.
    pub about: &'static str,
    /// Default budget.
    pub budget: Budget,
    /// Accepted `study.*` options.
    pub options: &'static [OptionDoc],
}

/// A study: a grid of runs and a report.
pub trait Study: Sync {
    /// Name, description, default budget and options.
    fn info(&self) -> &'static StudyInfo;
    /// Registry name (`sapm study NAME`).
    fn name(&self) -> &'static str {
        self.info().name
    }
    /// One-line description.
    fn about(&self) -> &'static str {
        self.info().about
    }
    /// Default budget.
    fn budget(&self) -> Budget {
        self.info().budget
    }
    /// Accepted `study.*` options.
    fn options(&self) -> &'static [OptionDoc] {
        self.info().options
    }
    /// The runs to do.
    fn plan(&self, input: &PlanInput) -> Result<Vec<RunSpec>>;
    /// Execute one run in its folder `dir` (default: `sapm::fit` on the
    /// config's regression data, checkpointed into `dir`).
    fn execute(&self, spec: &RunSpec, dir: &Path) -> RunOutput {
        execute_regression_in(self.name(), spec, Some(dir))
    }
    /// Plots and report sections from the outcomes.
    fn report(&self, input: &ReportInput<'_>) -> Result<ReportBody>;
}

/// Studies that run in this build.
pub fn available() -> Vec<Box<dyn Study>> {
    vec![
        Box::new(Consistency),
        Box::new(Depth),
        Box::new(Ablation),
        Box::new(Transport),
        Box::new(Derivatives),
        Box::new(Optimizers),
        Box::new(SecondOrder),
    ]
}

/// Registered studies that cannot run yet, with what they wait for (none now;
/// kept so a future study can be announced before it runs).
pub const PENDING: [(&str, &str); 0] = [];

/// Look a study up by name; pending studies give [`Error::NotAvailable`].
pub fn find(name: &str) -> Result<Box<dyn Study>> {
    if let Some(s) = available().into_iter().find(|s| s.name() == name) {
        return Ok(s);
    }
    if let Some((n, why)) = PENDING.iter().find(|(n, _)| *n == name) {
        return Err(Error::NotAvailable {
            name: n.to_string(),
            reason: why.to_string(),
        });
    }
    let mut known: Vec<String> = available().iter().map(|s| s.name().to_string()).collect();
    known.extend(
        PENDING
            .iter()
            .map(|(n, _)| format!("{n} (not available yet)")),
    );
    Err(Error::UnknownStudy {
        name: name.into(),
        known: known.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_pending_and_unknown_studies() {
        for s in available() {
            assert!(find(s.name()).is_ok());
            assert!(!s.about().is_empty());
        }
        for (n, _) in PENDING {
            let e = find(n).err().unwrap().to_string();
            assert!(e.contains("not available yet") && e.contains(n), "{e}");
        }
        let e = find("nope").err().unwrap().to_string();
        assert!(
            e.contains("unknown study") && e.contains("depth") && e.contains("transport"),
            "{e}"
        );
    }
}
