//! Line and scatter charts: series, their styles and reference lines.

use super::axis::Axis;
use super::colors::color;
use super::font::FAMILY;
use super::frame::{DrawResult, builder, draw_legend, draw_mesh, msg};
use plotters::coord::Shift;
use plotters::prelude::*;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Solid line, 2 px.
    Line,
    /// Solid line, 1 px, semi-transparent (many runs on one chart).
    Thin,
    /// Dashed line, 2 px.
    Dashed,
    /// Filled circles.
    Points,
    /// Crosses (e.g. training points).
    Crosses,
}

/// One data series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry (none: not in the legend).
    pub label: Option<String>,
    /// `(x, y)` points in data units; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Palette index.
    pub color: usize,
    /// Drawing style.
    pub style: Style,
}

impl Series {
    /// A series with a legend label.
    pub fn new(
        label: impl Into<String>,
        points: Vec<(f64, f64)>,
        color: usize,
        style: Style,
    ) -> Self {
        Series {
            label: Some(label.into()),
            points,
            color,
            style,
        }
    }
    /// A solid labelled line.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>, color: usize) -> Self {
        Series::new(label, points, color, Style::Line)
    }
    /// Drop the legend entry.
    pub fn unlabelled(mut self) -> Self {
        self.label = None;
        self
    }
}

/// A horizontal reference line (e.g. a bound or a threshold).
#[derive(Debug, Clone, PartialEq)]
pub struct HLine {
    /// Height in data units.
    pub y: f64,
    /// Legend entry.
    pub label: String,
    /// Palette index.
    pub color: usize,
}

/// A line/scatter chart.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Panel title.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Data.
    pub series: Vec<Series>,
    /// Dashed horizontal reference lines.
    pub hlines: Vec<HLine>,
}

impl LineChart {
    /// An empty chart.
    pub fn new(title: impl Into<String>, x: Axis, y: Axis) -> Self {
        LineChart {
            title: title.into(),
            x,
            y,
            series: Vec::new(),
            hlines: Vec::new(),
        }
    }
    /// Add a series.
    pub fn with(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }
    /// Add a horizontal reference line.
    pub fn with_hline(mut self, y: f64, label: impl Into<String>, color: usize) -> Self {
        self.hlines.push(HLine {
            y,
            label: label.into(),
            color,
        });
        self
    }
}

/// Draw `c` into one panel.
pub(super) fn draw_line_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &LineChart,
) -> DrawResult {
    let mapped: Vec<Vec<(f64, f64)>> = c
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter_map(|&(x, y)| Some((c.x.map(x)?, c.y.map(y)?)))
                .collect()
        })
        .collect();
    let hl: Vec<f64> = c.hlines.iter().filter_map(|h| c.y.map(h.y)).collect();
    let xr = c.x.plot_range(mapped.iter().flatten().map(|p| p.0));
    let yr = c.y.plot_range(
        mapped
            .iter()
            .flatten()
            .map(|p| p.1)
            .chain(hl.iter().copied()),
    );
    let empty = mapped.iter().all(Vec::is_empty);
    let y_label_area = if c.y.categories.is_empty() { 62 } else { 150 };
    let mut chart = builder(area, &c.title, y_label_area)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(msg)?;
    let xf = |v: &f64| c.x.tick_label(*v);
    let yf = |v: &f64| c.y.tick_label(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(c.x.label.as_str())
        .y_desc(c.y.label.as_str())
        .x_labels(c.x.n_labels(xr))
        .y_labels(c.y.n_labels(yr))
        .x_label_formatter(&xf)
        .y_label_formatter(&yf);
    draw_mesh(mesh, true)?;
    let mut any_label = false;
    for (s, pts) in c.series.iter().zip(&mapped) {
        let col = color(s.color);
        let ann = match s.style {
            Style::Line => chart
                .draw_series(LineSeries::new(pts.iter().copied(), col.stroke_width(2)))
                .map_err(msg)?,
            Style::Thin => chart
                .draw_series(LineSeries::new(
                    pts.iter().copied(),
                    col.mix(0.55).stroke_width(1),
                ))
                .map_err(msg)?,
            Style::Dashed => chart
                .draw_series(DashedLineSeries::new(
                    pts.iter().copied(),
                    6,
                    4,
                    col.stroke_width(2),
                ))
                .map_err(msg)?,
            Style::Points => chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))
                .map_err(msg)?,
            Style::Crosses => chart
                .draw_series(pts.iter().map(|&p| Cross::new(p, 4, col.stroke_width(2))))
                .map_err(msg)?,
        };
        if let Some(l) = &s.label {
            any_label = true;
            let style = s.style;
            ann.label(l.as_str())
                .legend(move |(x, y)| -> DynElement<'static, DB, (i32, i32)> {
                    match style {
                        Style::Points => Circle::new((x + 8, y), 3, col.filled()).into_dyn(),
                        Style::Crosses => Cross::new((x + 8, y), 4, col.stroke_width(2)).into_dyn(),
                        _ => PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(2))
                            .into_dyn(),
                    }
                });
        }
    }
    for h in &c.hlines {
        if let Some(y) = c.y.map(h.y) {
            let col = color(h.color);
            any_label = true;
            chart
                .draw_series(DashedLineSeries::new(
                    [(xr.0, y), (xr.1, y)],
                    8,
                    5,
                    col.stroke_width(1),
                ))
                .map_err(msg)?
                .label(h.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(1))
                });
        }
    }
    if empty {
        chart
            .draw_series(std::iter::once(Text::new(
                "no finite data",
                (xr.0 + 0.4 * (xr.1 - xr.0), yr.0 + 0.5 * (yr.1 - yr.0)),
                (FAMILY, 15).into_font().color(&RED),
            )))
            .map_err(msg)?;
    }
    if any_label {
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}
