//! `sapm export`: a model as `.npz` or `.safetensors` (the layout is the
//! library's, `sapm::export`; docs/models.md).

use crate::Usage;
use anyhow::Result;
use sapm::export::ExportFormat;
use sapm::model::Model;
use std::path::Path;

pub fn export(model: &Path, format: Option<&str>, output: &Path) -> Result<()> {
    let format = match format {
        Some(f) => ExportFormat::parse(f).map_err(|e| Usage(e.to_string()))?,
        None => ExportFormat::from_path(output).ok_or_else(|| {
            Usage(format!(
                "{}: give --format npz or safetensors (the extension says neither)",
                output.display()
            ))
        })?,
    };
    if output.as_os_str() == "-" {
        return Err(Usage("--output -: exports are binary files; give a file name".into()).into());
    }
    let model = Model::load_run_or_file(model)?;
    sapm::export::export(&model, format, output)?;
    Ok(())
}
