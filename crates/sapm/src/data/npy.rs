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

/// Where the values of an `.npy` file are and how to read them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    /// Byte offset of the first value.
    pub data_start: usize,
    /// Rows and columns (a 1-D array is one column).
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `f8`, `f4`, `i8` or `i4`.
    pub kind: &'static str,
    /// Bytes per value.
    pub item: usize,
    /// Big-endian values.
    pub big_endian: bool,
    /// Column-major (Fortran) order.
    pub fortran: bool,
}

/// Check magic, version, header and the declared shape against the file's
/// size (`file_len`), from the first bytes of the file (`head`, at least the
/// header): nothing is allocated from the declared shape.
pub(crate) fn layout(path: &Path, head: &[u8], file_len: usize) -> Result<Layout> {
    let bytes = head;
    let bad = |r: String| Error::format(path, r);
    // Magic, version and header length come first; check the length ourselves.
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad(format!(
            "not an .npy file (bad magic or shorter than 10 bytes: {} bytes)",
            bytes.len()
        )));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        2 | 3 => {
            return Err(bad(
                "truncated header (version 2 and 3 need 12 bytes)".into()
            ));
        }
        v => {
            return Err(bad(format!(
                "unsupported .npy version {v}.{}; supported versions: 1.0, 2.0, 3.0",
                bytes[7]
            )));
        }
    };
    if start + hlen > file_len {
        return Err(bad(format!(
            "header length field says {hlen} bytes but the file holds {} after it",
            file_len - start
        )));
    }
    if hlen > MAX_HEADER_LEN {
        return Err(bad(format!(
            "header length {hlen} exceeds the limit of {MAX_HEADER_LEN} bytes"
        )));
    }
    if start + hlen > bytes.len() {
        return Err(bad(format!("header of {hlen} bytes could not be read")));
    }
    check_header_text(&bytes[start..start + hlen]).map_err(bad)?;
    let file =
        npyz::NpyFile::new(&bytes[..start + hlen]).map_err(|e| bad(format!("bad header: {e}")))?;
    let shape = file.shape().to_vec();
    let (rows, cols) = match shape.as_slice() {
        [n] => (*n, 1),
        [n, c] => (*n, *c),
        s => {
            return Err(bad(format!(
                "header field `shape` is {s:?}; expected a 1-D or 2-D array"
            )));
        }
    };
    let count = rows
        .checked_mul(cols)
        .ok_or_else(|| bad(format!("header field `shape` {shape:?} overflows")))?;
    let dtype = file.dtype();
    let item = match &dtype {
        npyz::DType::Plain(t) => t.size_field(),
        _ => {
            return Err(bad(format!(
                "header field `descr` is {}; use float64, float32, int64 or int32",
                dtype.descr()
            )));
        }
    };
    let data_len = file_len - start - hlen;
    if count
        .checked_mul(item)
        .is_none_or(|need| need > data_len as u64)
    {
        return Err(bad(format!(
            "header field `shape` {shape:?} needs {count} x {item} bytes but the file holds {data_len}"
        )));
    }
    if rows == 0 || cols == 0 {
        return Err(bad(format!(
            "empty array (header field `shape` is {shape:?})"
        )));
    }
    let descr = dtype.descr();
    let descr = descr.trim_matches('\'');
    let big_endian = descr.starts_with('>');
    let kind = match descr.trim_start_matches(['<', '>', '|', '=']) {
        "f8" => "f8",
        "f4" => "f4",
        "i8" => "i8",
        "i4" => "i4",
        _ => {
            return Err(bad(format!(
                "header field `descr` is {descr}; use float64, float32, int64 or int32"
            )));
        }
    };
    Ok(Layout {
        data_start: start + hlen,
        rows: rows as usize,
        cols: cols as usize,
        kind,
        item: item as usize,
        big_endian,
        fortran: file.order() == npyz::Order::Fortran,
    })
}

impl Layout {
    /// The value stored in `b` (`item` bytes).
    pub fn decode(&self, b: &[u8]) -> f64 {
        macro_rules! num {
            ($t:ty, $n:expr) => {{
                let mut a = [0u8; $n];
                a.copy_from_slice(&b[..$n]);
                if self.big_endian {
                    <$t>::from_be_bytes(a) as f64
                } else {
                    <$t>::from_le_bytes(a) as f64
                }
            }};
        }
        match self.kind {
            "f8" => num!(f64, 8),
            "f4" => num!(f32, 4),
            "i8" => num!(i64, 8),
            _ => num!(i32, 4),
        }
    }
}

/// Parse `.npy` bytes (see [`read_npy_table`]); `path` only labels errors.
pub fn parse_npy(path: &Path, bytes: &[u8]) -> Result<Table> {
    let bad = |r: String| Error::format(path, r);
    let lay = layout(path, bytes, bytes.len())?;
    let (rows, cols) = (lay.rows, lay.cols);
    let data = &bytes[lay.data_start..];
    let raw: Vec<f64> = data
        .chunks_exact(lay.item)
        .take(rows * cols)
        .map(|b| lay.decode(b))
        .collect();
    let fortran = lay.fortran;
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

/// Longest accepted header, as numpy's own default `max_header_size`: plain
/// dtypes need under 200 bytes, and the header parser's cost grows with it.
const MAX_HEADER_LEN: usize = 10_000;

/// Deepest bracket nesting in a header: the dict, a list of fields, a field
/// tuple and a sub-array shape. npyz's header parser backtracks exponentially
/// in the depth of unclosed brackets, so a 120-byte header of `{{{{...` hangs it.
const MAX_HEADER_NESTING: usize = 4;

/// Cheap checks on the header dict before npyz parses it.
fn check_header_text(h: &[u8]) -> std::result::Result<(), String> {
    if h.len() > MAX_HEADER_LEN {
        return Err(format!(
            "header length {} exceeds the limit of {MAX_HEADER_LEN} bytes",
            h.len()
        ));
    }
    let (mut depth, mut quote, mut escaped) = (0usize, None, false);
    for (i, &c) in h.iter().enumerate() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'{' | b'[' | b'(' => {
                    depth += 1;
                    if depth > MAX_HEADER_NESTING {
                        return Err(format!(
                            "header brackets nest deeper than {MAX_HEADER_NESTING} levels (byte {i} of the header)"
                        ));
                    }
                }
                b'}' | b']' | b')' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    Ok(())
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

/// `dict` padded as numpy writes it (spaces and a newline, so that the
/// preamble of format `version` and the header fill whole 64-byte blocks).
/// For tests and fuzzers that build `.npy` files by hand.
#[doc(hidden)]
pub fn npy_padded_header(version: u8, dict: &str) -> String {
    let pre = if version == 1 { 10 } else { 12 };
    let total = (pre + dict.len() + 1).div_ceil(64) * 64;
    format!("{dict:<width$}\n", width = total - pre - 1)
}

/// The bytes of an `.npy` file of format `version` (a 2-byte header length
/// in version 1, 4 bytes after it) with `header` exactly as given, then
/// `data`. For tests and fuzzers that build `.npy` files, malformed ones
/// included, by hand.
#[doc(hidden)]
pub fn npy_bytes_with_header(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(&[version, 0]);
    if version == 1 {
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
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

    fn with_header(version: u8, header: &str) -> Vec<u8> {
        npy_bytes_with_header(version, header, &[0u8; 64])
    }

    #[test]
    fn nested_or_long_headers_are_refused_quickly() {
        // Found by tests/fuzz_parsers.rs: npyz's header parser backtracks
        // exponentially on unclosed brackets; this 118-byte header hung it.
        let p = Path::new("n.npy");
        let start = std::time::Instant::now();
        let header = format!("{{'descr': '>f8', 'fortran_order':{}\n", "{".repeat(80));
        let e = parse_npy(p, &with_header(1, &header))
            .unwrap_err()
            .to_string();
        assert!(e.contains("n.npy") && e.contains("nest deeper"), "{e}");
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
        // Brackets inside strings do not count; a structured dtype nests 3 deep.
        let ok = "{'descr': [('a(((', '<f8')], 'fortran_order': False, 'shape': (1,), }\n";
        let e = parse_npy(p, &with_header(1, ok)).unwrap_err().to_string();
        assert!(e.contains("`descr`"), "{e}");
        let long = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }}{}\n",
            " ".repeat(20_000)
        );
        let e = parse_npy(p, &with_header(2, &long))
            .unwrap_err()
            .to_string();
        assert!(e.contains("exceeds the limit"), "{e}");
        let e = parse_npy(p, b"\x93NUMPY\x04\x00\x00\x00\x00\x00")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("version 4.0; supported versions: 1.0, 2.0, 3.0"),
            "{e}"
        );
        let e = parse_npy(p, b"\x93NUMPY\x02\x00\x00\x00")
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated header"), "{e}");
    }
}
