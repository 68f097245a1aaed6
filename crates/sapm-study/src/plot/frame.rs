//! What every chart panel shares: the caption and margins, the mesh's text
//! and grid lines, the legend box, and plotters' errors as messages.

use super::font::FAMILY;
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::prelude::*;

/// A drawing step; the error is plotters' message.
pub(super) type DrawResult = std::result::Result<(), String>;

/// Plotters' drawing error as a message.
pub(super) fn msg<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
    e.to_string()
}

/// A chart on `area` with a `title` caption, 8 px margins, a 38 px label
/// area below and a `y_label_area` px label area on the left.
pub(super) fn builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    y_label_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.caption(title, (FAMILY, 17))
        .margin(8)
        .x_label_area_size(38)
        .y_label_area_size(y_label_area);
    b
}

/// Draw `mesh` with the shared label fonts; `grid` adds faint horizontal
/// and vertical lines at the major ticks only.
pub(super) fn draw_mesh<X, Y, DB>(mut mesh: MeshStyle<'_, '_, X, Y, DB>, grid: bool) -> DrawResult
where
    X: Ranged + ValueFormatter<X::ValueType>,
    Y: Ranged + ValueFormatter<Y::ValueType>,
    DB: DrawingBackend,
{
    mesh.label_style((FAMILY, 12)).axis_desc_style((FAMILY, 13));
    if grid {
        mesh.light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08));
    }
    mesh.draw().map_err(msg)
}

/// Draw the legend of the labelled series at `position`.
pub(super) fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FAMILY, 12))
        .draw()
        .map_err(msg)
}
