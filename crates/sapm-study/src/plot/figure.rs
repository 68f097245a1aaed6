//! Figures: panels in a grid under an optional title, written as PNG and SVG.

use super::bar::{BarChart, draw_bar_chart};
use super::font::{FAMILY, register_font};
use super::frame::{DrawResult, msg};
use super::heatmap::{Heatmap, draw_heatmap};
use super::line::{LineChart, draw_line_chart};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

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

fn draw_figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult {
    root.fill(&WHITE).map_err(msg)?;
    let area = match &fig.title {
        Some(t) => {
            let (top, rest) = root.split_vertically(TITLE_BAND);
            top.draw(&Text::new(
                t.clone(),
                (10, 10),
                (FAMILY, 22).into_font().color(&BLACK),
            ))
            .map_err(msg)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::{Axis, Series};

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
}
