//! The vendored font, registered with plotters as the family every text style
//! asks for.

use crate::error::{Error, Result};
use plotters::style::FontStyle;
use std::sync::OnceLock;

/// The vendored font (see `assets/README.md` for its licence).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// Font family every text style asks for.
pub(super) const FAMILY: &str = "sans-serif";

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
