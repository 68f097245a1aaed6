//! NumPy `.npy` arrays (2-D `N x columns`, or 1-D as one column).

use super::Table;
use crate::error::{Error, Result};
use std::path::Path;

/// Read a `.npy` file of f64/f32/i64/i32 values into a [`Table`] with column
/// names `c0, c1, ...`. The declared shape is checked against the file size
/// before anything is allocated, so a tiny file cannot claim a huge array.
pub fn read_npy_table(path: &Path) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(path, &bytes)
}

/// Parse `.npy` bytes (see [`read_npy_table`]); `path` only labels errors.
pub fn parse_npy(path: &Path, bytes: &[u8]) -> Result<Table> {
    let bad = |r: String| Error::format(path, r);
    // Magic, version and header length come first; check the length ourselves.
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not an .npy file (bad magic)".into()));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    if start + hlen > bytes.len() {
        return Err(bad(format!(
            "header length {hlen} exceeds the file size {}",
            bytes.len()
        )));
    }
    let file = npyz::NpyFile::new(bytes).map_err(|e| bad(format!("bad header: {e}")))?;
    let shape = file.shape().to_vec();
    let (rows, cols) = match shape.as_slice() {
        [n] => (*n, 1),
        [n, c] => (*n, *c),
        s => return Err(bad(format!("expected a 1-D or 2-D array, got shape {s:?}"))),
    };
    let count = rows
        .checked_mul(cols)
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let dtype = file.dtype();
    let item = match &dtype {
        npyz::DType::Plain(t) => t.size_field(),
        _ => return Err(bad(format!("unsupported dtype {}", dtype.descr()))),
    };
    let data_len = bytes.len() - start - hlen;
    if count
        .checked_mul(item)
        .is_none_or(|need| need > data_len as u64)
    {
        return Err(bad(format!(
            "shape {shape:?} needs {count} x {item} bytes but the file holds {data_len}"
        )));
    }
    if rows == 0 || cols == 0 {
        return Err(bad(format!("empty array (shape {shape:?})")));
    }
    let fortran = file.order() == npyz::Order::Fortran;
    let io = |e: std::io::Error| bad(format!("bad data: {e}"));
    let descr = dtype.descr();
    let raw: Vec<f64> = match descr
        .trim_matches('\'')
        .trim_start_matches(['<', '>', '|', '='])
    {
        "f8" => file.into_vec::<f64>().map_err(io)?,
        "f4" => file
            .into_vec::<f32>()
            .map_err(io)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "i8" => file
            .into_vec::<i64>()
            .map_err(io)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        "i4" => file
            .into_vec::<i32>()
            .map_err(io)?
            .into_iter()
            .map(f64::from)
            .collect(),
        _ => {
            return Err(bad(format!(
                "unsupported dtype {descr} (use float64, float32, int64 or int32)"
            )));
        }
    };
    let (rows, cols) = (rows as usize, cols as usize);
    if raw.len() != rows * cols {
        return Err(bad(format!(
            "expected {} values, read {}",
            rows * cols,
            raw.len()
        )));
    }
    let mut values = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            let v = if fortran {
                raw[c * rows + r]
            } else {
                raw[r * cols + c]
            };
            if !v.is_finite() {
                return Err(bad(format!("row {r}, column {c}: value {v} is not finite")));
            }
            values[r * cols + c] = v;
        }
    }
    Ok(Table {
        names: (0..cols).map(|c| format!("c{c}")).collect(),
        rows,
        values,
    })
}

/// Write a row-major `rows x cols` f64 array as `.npy` (used by tests and tools).
pub fn write_npy(path: &Path, rows: usize, cols: usize, values: &[f64]) -> Result<()> {
    use npyz::WriterBuilder;
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[rows as u64, cols as u64])
            .writer(&mut buf)
            .begin_nd()
            .map_err(|e| Error::io(path, e))?;
        w.extend(values.iter().copied())
            .map_err(|e| Error::io(path, e))?;
        w.finish().map_err(|e| Error::io(path, e))?;
    }
    std::fs::write(path, buf).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malicious_headers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let vals: Vec<f64> = (0..12).map(|i| i as f64 * 0.5).collect();
        write_npy(&p, 4, 3, &vals).unwrap();
        let t = read_npy_table(&p).unwrap();
        assert_eq!((t.rows, t.names.len()), (4, 3));
        assert_eq!(t.values, vals);

        // A tiny file that declares a huge array must be refused before allocating.
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (4000000000000, 3), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let padded = format!("{header:<117}\n");
        bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        bytes.extend_from_slice(&[0u8; 64]);
        let e = parse_npy(&p, &bytes).unwrap_err().to_string();
        assert!(e.contains("needs"), "{e}");

        for junk in [
            &b""[..],
            b"\x93NUMPY",
            b"hello world, not npy",
            b"\x93NUMPY\x01\x00\xff\xff{}",
        ] {
            assert!(parse_npy(&p, junk).is_err());
        }
    }
}
