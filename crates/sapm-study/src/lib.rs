//! # sapm-study
//!
//! Studies over many [`sapm`] runs: a parallel runner, `results.csv` and
//! per-cell aggregates (median/min/max, failure and fragility rates),
//! `report.md` with sentences computed from the results, and plots (PNG and
//! SVG, with a vendored font).
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
//! - [`study`]: the registry (`consistency`, `depth`, `ablation`; `transport`
//!   and `derivatives` are registered but not available yet) and the pipeline.
//! - [`runner`]: runs fits `jobs` at a time and writes each run's folder.
//! - [`results`]: `results.csv`, the failure and fragility definitions, aggregation.
//! - [`report`]: markdown helpers; [`plot`]: figures; [`runplot`]: single-run plots
//!   (`sapm plot RUN_DIR`); [`machine`]: machine description for reports.
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
