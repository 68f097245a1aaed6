//! Figures with plotters, written as PNG and SVG: line charts (log axes
//! allowed), grouped bar charts and 2-D heat maps, in a grid of panels.
//!
//! Text uses the vendored DejaVu Sans, registered with plotters on first use
//! ([`register_font`]), so PNG text renders on machines without system fonts.
//!
//! Log axes are drawn by plotting `log10(v)` on a linear axis with `1e{k}`
//! tick labels: non-positive values are dropped from log axes, and the
//! ticks land on whole decades.
//!
//! One file per part: `figure` ([`Figure`], [`Panel`], [`save`]), `axis`
//! ([`Axis`]), `line` ([`LineChart`], [`Series`]), `bar` ([`BarChart`]),
//! `heatmap` ([`Heatmap`]), `colors` ([`PALETTE`], [`viridis`]), `font`
//! ([`register_font`]) and `frame` (the caption, mesh and legend every chart
//! shares).
//!
//! ```
//! use sapm_study::plot::{Axis, Figure, LineChart, Panel, Series};
//! let chart = LineChart::new("loss", Axis::linear("iteration"), Axis::log("MSE"))
//!     .with(Series::line("train", vec![(0.0, 1.0), (1.0, 0.1), (2.0, 0.01)], 0));
//! let dir = tempfile::tempdir().unwrap();
//! let files = sapm_study::plot::save(&Figure::single(Panel::Line(chart)), &dir.path().join("loss")).unwrap();
//! assert!(files.iter().all(|f| f.exists()));
//! ```

mod axis;
mod bar;
mod colors;
mod figure;
mod font;
mod frame;
mod heatmap;
mod line;

pub use axis::Axis;
pub use bar::BarChart;
pub use colors::{PALETTE, viridis};
pub use figure::{Figure, Format, Panel, save, save_as};
pub use font::register_font;
pub use heatmap::Heatmap;
pub use line::{HLine, LineChart, Series, Style};
