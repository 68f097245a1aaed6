//! # sapm-study
//!
//! Studies over many [`sapm`] runs: fixed grids of training runs executed
//! `jobs` at a time, one `results.csv` row per run and per-cell aggregates
//! (median/min/max, failure and fragility rates), plots (PNG and SVG, with a
//! vendored font) and a `report.md` whose "At a glance" sentences are
//! computed from the results. `sapm study NAME` and `sapm plot RUN_DIR` are
//! thin wrappers over this crate.
//!
//! Seven studies run (see `docs/studies.md`):
//! - `consistency`: SAPM's auxiliary loss and the true MSE over the
//!   iterations, next to PM's;
//! - `depth`: every method at several depths at equal wall time, with random
//!   and zero initial biases;
//! - `ablation`: SAPM's knobs changed one at a time around the defaults;
//! - `transport`: PINN accuracy (rel L2) over the transport speed beta;
//! - `derivatives`: how well the PM/SAPM-PINN derivative auxiliaries track
//!   the network's true input derivatives;
//! - `optimizers`: every method at equal CPU time on regression and PINN
//!   problems;
//! - `second-order`: every method at equal CPU time on the second-order
//!   PDEs.
//!
//! ```no_run
//! use sapm_study::study::{run_study, StudyOptions};
//! let opts = StudyOptions { seeds: Some(2), iterations: Some(50), ..Default::default() };
//! let out = run_study("consistency", &opts, std::path::Path::new("study-out"), &|_| {}, &|_| {})?;
//! println!("{} runs, report in {}", out.runs, out.report.display());
//! # Ok::<(), sapm_study::Error>(())
//! ```
//!
//! ## Map
//! - [`study`]: the [`Study`](study::Study) trait, the registry of the five
//!   studies, their options and plans, and the pipeline ([`run_study`],
//!   [`rereport`] for `--report-only`); `study/regression.rs` and
//!   `study/pinn.rs` hold what the regression and the PINN studies share.
//! - [`runner`]: runs fits `jobs` at a time and writes each run's folder.
//! - [`results`]: `results.csv`, the failure and fragility definitions,
//!   aggregation into cells and `cells.csv`.
//! - [`report`]: markdown helpers; [`plot`]: figures (line and bar charts,
//!   heat maps); [`runplot`]: single-run plots (`sapm plot RUN_DIR`);
//!   [`pinnplot`]: PINN solution, exact and error maps; [`machine`]: the
//!   machine description for reports.
//!
//! [`run_study`]: study::run_study
//! [`rereport`]: study::rereport
//!
//! ## What this crate is not
//! A general experiment tracker: studies are fixed grids defined in code, and
//! the report answers the questions those grids were built for.
#![warn(missing_docs)]

pub mod error;
pub mod machine;
pub mod pinnplot;
pub mod plot;
pub mod report;
pub mod results;
pub mod runner;
pub mod runplot;
pub mod study;

pub use error::{Error, Result};
