//! Heat maps of values on a regular 2-D grid, with a colour bar.

use super::axis::scaled;
use super::colors::viridis;
use super::font::FAMILY;
use super::frame::{DrawResult, builder, draw_mesh, msg};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

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
        scaled(v, self.log)
    }
}

/// Draw `h` into one panel: the map and, on its right, its colour bar.
pub(super) fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    h: &Heatmap,
) -> DrawResult {
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
    let mut chart = builder(&main, &h.title, 55)
        .build_cartesian_2d(h.x_range.0..h.x_range.1, h.y_range.0..h.y_range.1)
        .map_err(msg)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_mesh()
        .x_desc(h.x_label.as_str())
        .y_desc(h.y_label.as_str());
    draw_mesh(mesh, false)?;
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
        .map_err(msg)?;
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
        .map_err(msg)?;
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
        .map_err(msg)?;
    let bands = 64;
    cb.draw_series((0..bands).map(|i| {
        let a = blo + (bhi - blo) * i as f64 / bands as f64;
        let b = blo + (bhi - blo) * (i + 1) as f64 / bands as f64;
        let (r, g, bb) = viridis((0.5 * (a + b) - lo) / span);
        Rectangle::new([(0.0, a), (1.0, b)], RGBColor(r, g, bb).filled())
    }))
    .map_err(msg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_at_cell_centres_with_log_error_maps() {
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
    }

    #[test]
    fn bad_grids_are_errors() {
        assert!(Heatmap::new("h", (0.0, 1.0), (0.0, 1.0), 2, 2, vec![0.0; 3]).is_err());
        assert!(Heatmap::new("h", (1.0, 0.0), (0.0, 1.0), 1, 1, vec![0.0]).is_err());
        let a = Heatmap::new("a", (0.0, 1.0), (0.0, 1.0), 1, 1, vec![0.0]).unwrap();
        let b = Heatmap::new("b", (0.0, 1.0), (0.0, 1.0), 1, 2, vec![0.0; 2]).unwrap();
        assert!(Heatmap::abs_error("e", &a, &b).is_err());
        let nan = Heatmap::new("n", (0.0, 1.0), (0.0, 1.0), 1, 1, vec![f64::NAN]).unwrap();
        assert_eq!(nan.limits(), None);
    }
}
