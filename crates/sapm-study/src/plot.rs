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
//! ```
//! use sapm_study::plot::{Axis, Figure, LineChart, Panel, Series};
//! let chart = LineChart::new("loss", Axis::linear("iteration"), Axis::log("MSE"))
//!     .with(Series::line("train", vec![(0.0, 1.0), (1.0, 0.1), (2.0, 0.01)], 0));
//! let dir = tempfile::tempdir().unwrap();
//! let files = sapm_study::plot::save(&Figure::single(Panel::Line(chart)), &dir.path().join("loss")).unwrap();
//! assert!(files.iter().all(|f| f.exists()));
//! ```

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The vendored font (see `assets/README.md` for its licence).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// Font family every text style asks for.
const FAMILY: &str = "sans-serif";

/// Register the vendored font as plotters' `sans-serif` family (idempotent,
/// thread-safe). Every drawing function calls it; call it yourself only if
/// you draw with plotters directly.
pub fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::PlotInput(
            "the vendored font DejaVuSans.ttf could not be parsed".into(),
        ))
    }
}

/// Tableau-10 colours; series pick one by index (modulo 10).
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

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
    fn map(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            None
        } else if self.log {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    }

    /// Plot-unit range covering `vals` (already mapped).
    fn plot_range(&self, vals: impl Iterator<Item = f64>) -> (f64, f64) {
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

    fn tick_label(&self, v: f64) -> String {
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

    fn n_labels(&self, range: (f64, f64)) -> usize {
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

/// Values on a regular 2-D grid (PDE solutions and errors).
///
/// Cell `(ix, iy)` covers `[x0 + ix dx, x0 + (ix + 1) dx] x [y0 + iy dy, ...]`
/// with `dx = (x1 - x0) / nx`; its value is `values[iy * nx + ix]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Panel title.
    pub title: String,
    /// Horizontal axis description.
    pub x_label: String,
    /// Vertical axis description.
    pub y_label: String,
    /// `(x0, x1)`.
    pub x_range: (f64, f64),
    /// `(y0, y1)`.
    pub y_range: (f64, f64),
    /// Cells along x.
    pub nx: usize,
    /// Cells along y.
    pub ny: usize,
    /// Row-major values, `ny` rows of `nx`.
    pub values: Vec<f64>,
    /// Log10 colour scale (for errors); non-positive values get the lowest colour.
    pub log: bool,
    /// Colour-bar description.
    pub value_label: String,
}

impl Heatmap {
    /// A heat map of `f(x, y)` sampled at the `nx x ny` cell centres.
    pub fn from_fn(
        title: impl Into<String>,
        x_range: (f64, f64),
        y_range: (f64, f64),
        nx: usize,
        ny: usize,
        f: impl Fn(f64, f64) -> f64,
    ) -> Result<Self> {
        let mut values = Vec::with_capacity(nx * ny);
        for iy in 0..ny {
            for ix in 0..nx {
                let x = x_range.0 + (ix as f64 + 0.5) * (x_range.1 - x_range.0) / nx as f64;
                let y = y_range.0 + (iy as f64 + 0.5) * (y_range.1 - y_range.0) / ny as f64;
                values.push(f(x, y));
            }
        }
        Heatmap::new(title, x_range, y_range, nx, ny, values)
    }

    /// A heat map from row-major values; checks the sizes and ranges.
    pub fn new(
        title: impl Into<String>,
        x_range: (f64, f64),
        y_range: (f64, f64),
        nx: usize,
        ny: usize,
        values: Vec<f64>,
    ) -> Result<Self> {
        if nx == 0 || ny == 0 || values.len() != nx * ny {
            return Err(Error::PlotInput(format!(
                "heat map needs nx * ny = {} values with nx, ny >= 1, got nx = {nx}, ny = {ny} and {} values",
                nx * ny,
                values.len()
            )));
        }
        for (what, (a, b)) in [("x", x_range), ("y", y_range)] {
            if !(a.is_finite() && b.is_finite() && a < b) {
                return Err(Error::PlotInput(format!(
                    "heat map {what} range must be finite and increasing, got ({a}, {b})"
                )));
            }
        }
        Ok(Heatmap {
            title: title.into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_range,
            y_range,
            nx,
            ny,
            values,
            log: false,
            value_label: String::new(),
        })
    }

    /// `|a - b|` cell by cell on a log colour scale (pointwise error maps).
    pub fn abs_error(title: impl Into<String>, a: &Heatmap, b: &Heatmap) -> Result<Self> {
        if (a.nx, a.ny, a.x_range, a.y_range) != (b.nx, b.ny, b.x_range, b.y_range) {
            return Err(Error::PlotInput(format!(
                "error map needs equal grids, got {}x{} and {}x{}",
                a.nx, a.ny, b.nx, b.ny
            )));
        }
        let v = a
            .values
            .iter()
            .zip(&b.values)
            .map(|(p, q)| (p - q).abs())
            .collect();
        let mut h = Heatmap::new(title, a.x_range, a.y_range, a.nx, a.ny, v)?;
        h.log = true;
        h.x_label = a.x_label.clone();
        h.y_label = a.y_label.clone();
        h.value_label = "|error|".into();
        Ok(h)
    }

    /// Colour-scale limits in scale units (log10 if `log`); `None` if no value is drawable.
    pub fn limits(&self) -> Option<(f64, f64)> {
        let (lo, hi) = self
            .values
            .iter()
            .filter_map(|&v| self.scale(v))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v), h.max(v))
            });
        lo.is_finite().then_some((lo, hi))
    }

    fn scale(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            None
        } else if self.log {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    }
}

/// Viridis colour of `t` in `[0, 1]` (clamped), by linear interpolation between five stops.
pub fn viridis(t: f64) -> (u8, u8, u8) {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = t * 4.0;
    let i = (s.floor() as usize).min(3);
    let f = s - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let lerp = |p: f64, q: f64| (p + f * (q - p)).round() as u8;
    (lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

/// One panel of a figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Panel {
    /// Lines and points.
    Line(LineChart),
    /// Grouped bars.
    Bar(BarChart),
    /// 2-D grid.
    Heat(Heatmap),
}

/// Panels in a grid, filled row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Figure title above all panels.
    pub title: Option<String>,
    /// The panels.
    pub panels: Vec<Panel>,
    /// Panels per row (>= 1).
    pub cols: usize,
    /// Width of one panel in pixels.
    pub panel_width: u32,
    /// Height of one panel in pixels.
    pub panel_height: u32,
}

/// Height of the figure title band in pixels.
const TITLE_BAND: u32 = 40;

impl Figure {
    /// A one-panel figure of 800 x 500 pixels.
    pub fn single(panel: Panel) -> Self {
        Figure {
            title: None,
            panels: vec![panel],
            cols: 1,
            panel_width: 800,
            panel_height: 500,
        }
    }
    /// A grid of panels, `cols` per row, each `w x h` pixels.
    pub fn grid(title: Option<String>, panels: Vec<Panel>, cols: usize, w: u32, h: u32) -> Self {
        Figure {
            title,
            panels,
            cols: cols.max(1),
            panel_width: w,
            panel_height: h,
        }
    }
    /// Number of panel rows.
    pub fn rows(&self) -> usize {
        self.panels.len().div_ceil(self.cols.max(1)).max(1)
    }
    /// Pixel size of the whole figure `(width, height)`.
    pub fn size(&self) -> (u32, u32) {
        let cols = self.cols.max(1).min(self.panels.len().max(1)) as u32;
        let band = if self.title.is_some() { TITLE_BAND } else { 0 };
        (
            cols * self.panel_width,
            self.rows() as u32 * self.panel_height + band,
        )
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG bitmap.
    Png,
    /// SVG vector graphics.
    Svg,
}

/// Write `fig` as `stem.png` and `stem.svg`; returns both paths.
pub fn save(fig: &Figure, stem: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::with_capacity(2);
    for (fmt, ext) in [(Format::Png, "png"), (Format::Svg, "svg")] {
        let p = stem.with_extension(ext);
        save_as(fig, &p, fmt)?;
        out.push(p);
    }
    Ok(out)
}

/// Write `fig` to `path` in `fmt`: drawn in memory, then written by
/// [`sapm::io::write_atomic`] (a fresh temporary file, never through a link).
pub fn save_as(fig: &Figure, path: &Path, fmt: Format) -> Result<()> {
    register_font()?;
    if fig.panels.is_empty() {
        return Err(Error::PlotInput(format!(
            "figure for {} has no panels",
            path.display()
        )));
    }
    let size = fig.size();
    let plot_err = |reason: String| Error::Plot {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = match fmt {
        Format::Png => {
            let (w, h) = size;
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
                draw_figure(&root, fig)
                    .and_then(|_| root.present().map_err(|e| e.to_string()))
                    .map_err(plot_err)?;
            }
            let mut png_bytes = Vec::new();
            let mut enc = png::Encoder::new(&mut png_bytes, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.write_header()
                .and_then(|mut wr| wr.write_image_data(&rgb))
                .map_err(|e| plot_err(format!("PNG encoding: {e}")))?;
            png_bytes
        }
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                draw_figure(&root, fig)
                    .and_then(|_| root.present().map_err(|e| e.to_string()))
                    .map_err(plot_err)?;
            }
            svg.into_bytes()
        }
    };
    sapm::io::write_atomic(path, &bytes)?;
    Ok(())
}

type DrawResult = std::result::Result<(), String>;

fn draw_figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let area = match &fig.title {
        Some(t) => {
            let (top, rest) = root.split_vertically(TITLE_BAND);
            top.draw(&Text::new(
                t.clone(),
                (10, 10),
                (FAMILY, 22).into_font().color(&BLACK),
            ))
            .map_err(e)?;
            rest
        }
        None => root.clone(),
    };
    let cols = fig.cols.max(1).min(fig.panels.len());
    let cells = area.split_evenly((fig.rows(), cols));
    for (panel, cell) in fig.panels.iter().zip(cells.iter()) {
        match panel {
            Panel::Line(c) => draw_line_chart(cell, c)?,
            Panel::Bar(c) => draw_bar_chart(cell, c)?,
            Panel::Heat(h) => draw_heatmap(cell, h)?,
        }
    }
    Ok(())
}

fn draw_line_chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &LineChart) -> DrawResult {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
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
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, (FAMILY, 17))
        .margin(8)
        .x_label_area_size(38)
        .y_label_area_size(if c.y.categories.is_empty() { 62 } else { 150 })
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(e)?;
    let xf = |v: &f64| c.x.tick_label(*v);
    let yf = |v: &f64| c.y.tick_label(*v);
    chart
        .configure_mesh()
        .x_desc(c.x.label.as_str())
        .y_desc(c.y.label.as_str())
        .x_labels(c.x.n_labels(xr))
        .y_labels(c.y.n_labels(yr))
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 13))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(e)?;
    let mut any_label = false;
    for (s, pts) in c.series.iter().zip(&mapped) {
        let col = color(s.color);
        let ann = match s.style {
            Style::Line => chart
                .draw_series(LineSeries::new(pts.iter().copied(), col.stroke_width(2)))
                .map_err(e)?,
            Style::Thin => chart
                .draw_series(LineSeries::new(
                    pts.iter().copied(),
                    col.mix(0.55).stroke_width(1),
                ))
                .map_err(e)?,
            Style::Dashed => chart
                .draw_series(DashedLineSeries::new(
                    pts.iter().copied(),
                    6,
                    4,
                    col.stroke_width(2),
                ))
                .map_err(e)?,
            Style::Points => chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))
                .map_err(e)?,
            Style::Crosses => chart
                .draw_series(pts.iter().map(|&p| Cross::new(p, 4, col.stroke_width(2))))
                .map_err(e)?,
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
                .map_err(e)?
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
            .map_err(e)?;
    }
    if any_label {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, 12))
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

fn draw_bar_chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &BarChart) -> DrawResult {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
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
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, (FAMILY, 17))
        .margin(8)
        .x_label_area_size(38)
        .y_label_area_size(55)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..top)
        .map_err(e)?;
    let xf = |v: &f64| x_axis.tick_label(*v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(c.groups.len() + 1)
        .x_label_formatter(&xf)
        .y_desc(c.y_label.as_str())
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 13))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(e)?;
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
            .map_err(e)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
    }
    if !c.bars.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, 12))
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

fn draw_heatmap<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, h: &Heatmap) -> DrawResult {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (lo, hi) = h
        .limits()
        .ok_or_else(|| format!("heat map {:?} has no drawable value", h.title))?;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let rgb = |v: f64| -> RGBColor {
        match h.scale(v) {
            Some(s) => {
                let (r, g, b) = viridis((s - lo) / span);
                RGBColor(r, g, b)
            }
            // Non-positive values on a log scale sit at the bottom of the scale.
            None if v.is_finite() => {
                let (r, g, b) = viridis(0.0);
                RGBColor(r, g, b)
            }
            None => RGBColor(200, 200, 200),
        }
    };
    let (w, _) = area.dim_in_pixel();
    let (main, bar) = area.split_horizontally(w.saturating_sub(95).max(1));
    let mut chart = ChartBuilder::on(&main)
        .caption(&h.title, (FAMILY, 17))
        .margin(8)
        .x_label_area_size(38)
        .y_label_area_size(55)
        .build_cartesian_2d(h.x_range.0..h.x_range.1, h.y_range.0..h.y_range.1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(h.x_label.as_str())
        .y_desc(h.y_label.as_str())
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 13))
        .draw()
        .map_err(e)?;
    let dx = (h.x_range.1 - h.x_range.0) / h.nx as f64;
    let dy = (h.y_range.1 - h.y_range.0) / h.ny as f64;
    chart
        .draw_series((0..h.ny).flat_map(|iy| {
            (0..h.nx).map(move |ix| {
                let x0 = h.x_range.0 + ix as f64 * dx;
                let y0 = h.y_range.0 + iy as f64 * dy;
                Rectangle::new(
                    [(x0, y0), (x0 + dx, y0 + dy)],
                    rgb(h.values[iy * h.nx + ix]).filled(),
                )
            })
        }))
        .map_err(e)?;
    // Colour bar: 64 bands from lo to hi, labelled in data units.
    let (blo, bhi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let mut cb = ChartBuilder::on(&bar)
        .margin_top(34)
        .margin_bottom(46)
        .margin_right(8)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, blo..bhi)
        .map_err(e)?;
    let log = h.log;
    let yf = move |v: &f64| {
        if log {
            format!("{:.1e}", 10f64.powf(*v))
        } else {
            format!("{v:.2e}")
        }
    };
    cb.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&yf)
        .y_desc(h.value_label.as_str())
        .label_style((FAMILY, 11))
        .axis_desc_style((FAMILY, 12))
        .draw()
        .map_err(e)?;
    let bands = 64;
    cb.draw_series((0..bands).map(|i| {
        let a = blo + (bhi - blo) * i as f64 / bands as f64;
        let b = blo + (bhi - blo) * (i + 1) as f64 / bands as f64;
        let (r, g, bb) = viridis((0.5 * (a + b) - lo) / span);
        Rectangle::new([(0.0, a), (1.0, b)], RGBColor(r, g, bb).filled())
    }))
    .map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(p: &Path) -> (u32, u32) {
        let f = std::io::BufReader::new(std::fs::File::open(p).unwrap());
        let mut r = png::Decoder::new(f).read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        (info.width, info.height)
    }

    fn svg_size(p: &Path) -> (u32, u32) {
        let text = std::fs::read_to_string(p).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        let num = |k| root.attribute(k).unwrap().parse::<u32>().unwrap();
        (num("width"), num("height"))
    }

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

    #[test]
    fn viridis_ends_and_clamps() {
        assert_eq!(viridis(0.0), (68, 1, 84));
        assert_eq!(viridis(1.0), (253, 231, 37));
        assert_eq!(viridis(2.0), viridis(1.0));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        assert_eq!(viridis(0.5), (33, 145, 140));
    }

    #[test]
    fn line_chart_writes_png_and_svg_of_the_stated_size() {
        let dir = tempfile::tempdir().unwrap();
        let pts: Vec<(f64, f64)> = (0..50)
            .map(|i| (i as f64, (-0.2 * i as f64).exp()))
            .collect();
        let c = LineChart::new("decay", Axis::linear("iteration"), Axis::log("loss"))
            .with(Series::line("exp", pts.clone(), 0))
            .with(Series::new("pts", pts, 1, Style::Crosses))
            .with(Series::new("zero", vec![(0.0, 0.0)], 2, Style::Dashed))
            .with_hline(1e-2, "bound", 3);
        let fig = Figure::grid(
            Some("title".into()),
            vec![Panel::Line(c.clone()), Panel::Line(c)],
            2,
            400,
            300,
        );
        assert_eq!(fig.size(), (800, 340));
        let files = save(&fig, &dir.path().join("f")).unwrap();
        assert_eq!(png_size(&files[0]), (800, 340));
        assert_eq!(svg_size(&files[1]), (800, 340));
        // No temporary files are left behind.
        let n = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(n, 2);
    }

    #[test]
    fn png_text_renders_with_the_vendored_font() {
        // The same chart with and without a long title differs in the title band:
        // text really is rasterised (without a font plotters returns an error instead).
        let dir = tempfile::tempdir().unwrap();
        let c = LineChart::new("", Axis::linear("x"), Axis::linear("y")).with(Series::line(
            "a",
            vec![(0.0, 0.0), (1.0, 1.0)],
            0,
        ));
        let mut fig = Figure::single(Panel::Line(c));
        let p1 = dir.path().join("a.png");
        save_as(&fig, &p1, Format::Png).unwrap();
        fig.title = Some("WWWWWWWWWWWWWWWW".into());
        let p2 = dir.path().join("b.png");
        save_as(&fig, &p2, Format::Png).unwrap();
        let dark = |p: &Path, rows: u32| {
            let f = std::io::BufReader::new(std::fs::File::open(p).unwrap());
            let mut r = png::Decoder::new(f).read_info().unwrap();
            let mut buf = vec![0; r.output_buffer_size().unwrap()];
            let info = r.next_frame(&mut buf).unwrap();
            let ch = info.color_type.samples();
            let w = info.width as usize;
            (0..(rows as usize * w))
                .filter(|&i| buf[i * ch] < 128)
                .count()
        };
        assert_eq!(dark(&p1, 0), 0);
        assert!(
            dark(&p2, TITLE_BAND) > 100,
            "title text drew no dark pixels"
        );
    }

    #[test]
    fn bar_chart_and_heatmap_write_valid_files() {
        let dir = tempfile::tempdir().unwrap();
        let b = BarChart {
            title: "failure rate".into(),
            y_label: "share".into(),
            y_max: Some(1.0),
            groups: vec!["L=6".into(), "L=30".into()],
            bars: vec![
                ("gd".into(), vec![0.0, 1.0]),
                ("sapm".into(), vec![0.5, f64::NAN]),
            ],
        };
        let files = save(&Figure::single(Panel::Bar(b)), &dir.path().join("bars")).unwrap();
        assert_eq!(png_size(&files[0]), (800, 500));
        assert_eq!(svg_size(&files[1]), (800, 500));

        let u =
            Heatmap::from_fn("u", (0.0, 1.0), (0.0, 2.0), 30, 20, |x, y| (x - y).sin()).unwrap();
        assert_eq!(u.values.len(), 600);
        // Cell centres: first cell at (1/60, 1/20).
        assert!((u.values[0] - (1.0f64 / 60.0 - 0.05).sin()).abs() < 1e-15);
        let v = Heatmap::from_fn("v", (0.0, 1.0), (0.0, 2.0), 30, 20, |x, y| {
            (x - y).sin() + 1e-3 * x
        })
        .unwrap();
        let err = Heatmap::abs_error("error", &u, &v).unwrap();
        assert!(err.log);
        let (lo, hi) = err.limits().unwrap();
        assert!(lo < hi && hi <= -3.0 + 1e-9);
        let fig = Figure::grid(
            None,
            vec![Panel::Heat(u), Panel::Heat(v), Panel::Heat(err)],
            3,
            360,
            300,
        );
        let files = save(&fig, &dir.path().join("heat")).unwrap();
        assert_eq!(png_size(&files[0]), (1080, 300));
        assert_eq!(svg_size(&files[1]), (1080, 300));
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(Heatmap::new("h", (0.0, 1.0), (0.0, 1.0), 2, 2, vec![0.0; 3]).is_err());
        assert!(Heatmap::new("h", (1.0, 0.0), (0.0, 1.0), 1, 1, vec![0.0]).is_err());
        let a = Heatmap::new("a", (0.0, 1.0), (0.0, 1.0), 1, 1, vec![0.0]).unwrap();
        let b = Heatmap::new("b", (0.0, 1.0), (0.0, 1.0), 1, 2, vec![0.0; 2]).unwrap();
        assert!(Heatmap::abs_error("e", &a, &b).is_err());
        let nan = Heatmap::new("n", (0.0, 1.0), (0.0, 1.0), 1, 1, vec![f64::NAN]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let e = save(&Figure::single(Panel::Heat(nan)), &dir.path().join("n")).unwrap_err();
        assert!(e.to_string().contains("no drawable value"), "{e}");
        let empty = Figure::grid(None, vec![], 1, 10, 10);
        assert!(save(&empty, &dir.path().join("e")).is_err());
        // A line chart without finite points still draws (with a note), not an error.
        let c = LineChart::new("nan", Axis::linear("x"), Axis::log("y")).with(Series::line(
            "nan",
            vec![(0.0, f64::NAN)],
            0,
        ));
        save(&Figure::single(Panel::Line(c)), &dir.path().join("nan")).unwrap();
    }
}
