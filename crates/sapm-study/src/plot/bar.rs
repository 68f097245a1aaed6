//! Grouped bar charts.

use super::axis::Axis;
use super::colors::color;
use super::frame::{DrawResult, builder, draw_legend, draw_mesh, msg};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Grouped bars: one group per category, one bar per series.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Panel title.
    pub title: String,
    /// Vertical axis description.
    pub y_label: String,
    /// Top of the vertical axis (else from the data).
    pub y_max: Option<f64>,
    /// Group names along the horizontal axis.
    pub groups: Vec<String>,
    /// `(name, one value per group)`; NaN values draw no bar.
    pub bars: Vec<(String, Vec<f64>)>,
}

/// Draw `c` into one panel.
pub(super) fn draw_bar_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &BarChart,
) -> DrawResult {
    let top = c
        .y_max
        .filter(|v| v.is_finite() && *v > 0.0)
        .unwrap_or_else(|| {
            let m = c
                .bars
                .iter()
                .flat_map(|(_, v)| v.iter().copied())
                .filter(|v| v.is_finite())
                .fold(0.0f64, f64::max);
            if m > 0.0 { 1.1 * m } else { 1.0 }
        });
    let x_axis = Axis::categories("", c.groups.clone());
    let n = c.groups.len().max(1) as f64;
    let mut chart = builder(area, &c.title, 55)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..top)
        .map_err(msg)?;
    let xf = |v: &f64| x_axis.tick_label(*v);
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .x_labels(c.groups.len() + 1)
        .x_label_formatter(&xf)
        .y_desc(c.y_label.as_str());
    draw_mesh(mesh, true)?;
    let k = c.bars.len().max(1) as f64;
    let w = 0.8 / k;
    for (s, (name, vals)) in c.bars.iter().enumerate() {
        let col = color(s);
        let rects: Vec<_> = vals
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(g, &v)| {
                let x0 = g as f64 - 0.4 + s as f64 * w;
                // A zero bar is drawn as a thin line so "0 %" is visible.
                let h = if v == 0.0 { top * 0.004 } else { v.min(top) };
                Rectangle::new([(x0, 0.0), (x0 + w * 0.92, h)], col.filled())
            })
            .collect();
        chart
            .draw_series(rects)
            .map_err(msg)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
    }
    if !c.bars.is_empty() {
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    }
    Ok(())
}
