//! CSV tables with a header row.

use crate::error::{Error, Result};
use std::path::Path;

/// A dense numeric table: `rows x names.len()` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column names (generated as `c0, c1, ...` for headerless formats).
    pub names: Vec<String>,
    /// Number of data rows.
    pub rows: usize,
    /// Row-major values.
    pub values: Vec<f64>,
}

/// Read a CSV file with a header row; every data field must parse as a finite
/// number and every row must have as many fields as the header.
///
/// Errors name the file, the 1-based line and the column.
pub fn read_csv_table(path: &Path) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_csv(path, &bytes)
}

/// The CSV dialect of every table: header row, `#` comments, trimmed fields.
pub(crate) fn reader<R: std::io::Read>(r: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(r)
}

/// Column names from the first record: present, non-empty, unique.
pub(crate) fn header_names(
    path: &Path,
    first: Option<csv::Result<csv::StringRecord>>,
) -> Result<Vec<String>> {
    let header = match first {
        None => return Err(Error::format(path, "empty file (no header row)")),
        Some(r) => r.map_err(|e| Error::format(path, format!("unreadable header: {e}")))?,
    };
    let names: Vec<String> = header.iter().map(str::to_string).collect();
    if names.is_empty() || names.iter().all(|n| n.is_empty()) {
        return Err(Error::format(path, "empty header row"));
    }
    if let Some(i) = names.iter().position(|n| n.is_empty()) {
        return Err(Error::format(
            path,
            format!("header column {} has no name", i + 1),
        ));
    }
    // A set, not pairwise comparison: a one-line header can hold 10^5 names.
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        if !seen.insert(n.as_str()) {
            return Err(Error::format(
                path,
                format!(
                    "header column {}: duplicate column name {}",
                    i + 1,
                    crate::error::quoted(n)
                ),
            ));
        }
    }
    Ok(names)
}

/// Append one data record's values to `values`; `false` for a blank line.
/// Every field must be a finite number and the row as long as the header.
pub(crate) fn push_record(
    path: &Path,
    names: &[String],
    rec: csv::Result<csv::StringRecord>,
    values: &mut Vec<f64>,
) -> Result<bool> {
    let rec = rec.map_err(|e| Error::format(path, format!("unreadable row: {e}")))?;
    let line = rec.position().map_or(0, |p| p.line());
    if rec.len() == 1 && rec.get(0) == Some("") {
        return Ok(false);
    }
    let ncol = names.len();
    if rec.len() != ncol {
        return Err(Error::format(
            path,
            format!(
                "line {line}: {} fields, but the header has {ncol} (ragged row)",
                rec.len()
            ),
        ));
    }
    for (c, field) in rec.iter().enumerate() {
        let v: f64 = field.parse().map_err(|_| {
            Error::format(
                path,
                format!(
                    "line {line}, column {}: {} is not a number",
                    crate::error::quoted(&names[c]),
                    crate::error::quoted(field)
                ),
            )
        })?;
        if !v.is_finite() {
            return Err(Error::format(
                path,
                format!(
                    "line {line}, column {}: value {} is not finite",
                    crate::error::quoted(&names[c]),
                    if field.len() > crate::error::MAX_QUOTED {
                        crate::error::quoted(field)
                    } else {
                        field.to_string()
                    }
                ),
            ));
        }
        values.push(v);
    }
    Ok(true)
}

/// Parse CSV bytes (see [`read_csv_table`]); `path` only labels errors.
pub fn parse_csv(path: &Path, bytes: &[u8]) -> Result<Table> {
    let mut rdr = reader(bytes);
    let mut records = rdr.records();
    let names = header_names(path, records.next())?;
    let mut values = Vec::new();
    let mut rows = 0;
    for rec in records {
        if push_record(path, &names, rec, &mut values)? {
            rows += 1;
        }
    }
    if rows == 0 {
        return Err(Error::format(path, "no data rows after the header"));
    }
    Ok(Table {
        names,
        rows,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Table> {
        parse_csv(Path::new("t.csv"), s.as_bytes())
    }

    #[test]
    fn parses_a_table() {
        let t = parse("x, y\n1, 2\n\n3,4.5e-1\n").unwrap();
        assert_eq!(t.names, vec!["x", "y"]);
        assert_eq!(t.rows, 2);
        assert_eq!(t.values, vec![1.0, 2.0, 3.0, 0.45]);
    }

    #[test]
    fn malformed_tables_get_specific_errors() {
        let cases = [
            ("", "empty file"),
            ("x,y\n", "no data rows"),
            ("x,y\n1,2\n3\n", "ragged"),
            ("x,y\n1,abc\n", "not a number"),
            ("x,y\n1,nan\n", "not finite"),
            ("x,y\n1,inf\n", "not finite"),
            ("x,x\n1,2\n", "duplicate"),
            ("x,\n1,2\n", "no name"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.contains("t.csv"), "{e}");
        }
        let e = parse("x,y,x\n1,2,3\n").unwrap_err().to_string();
        assert!(e.contains("header column 3") && e.contains("\"x\""), "{e}");
        let e = parse("x,y\n1,2\n3,zz\n").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("\"y\""), "{e}");
    }

    /// A 10 MB field used to come back whole in the error message.
    #[test]
    fn errors_quote_at_most_200_characters_of_a_value() {
        let field = "z".repeat(10 << 20);
        let name = "n".repeat(1 << 20);
        for text in [
            format!("x,y\n1,{field}\n"),
            format!("x,{name}\n1,abc\n"),
            format!("x,y\n1,1e{}\n", "9".repeat(1 << 20)),
        ] {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.len() < 700, "{} bytes: {}", e.len(), &e[..300]);
            assert!(e.contains("bytes)") && e.contains("line 2"), "{e}");
        }
    }

    #[test]
    fn wide_headers_are_checked_in_linear_time() {
        // Found by tests/fuzz_parsers.rs: the duplicate-name check compared all
        // pairs, so a 440 kB header line took 17 s.
        let n = 200_000;
        let header: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let row = vec!["1"; n].join(",");
        let start = std::time::Instant::now();
        let t = parse(&format!("{}\n{row}\n", header.join(","))).unwrap();
        assert_eq!((t.rows, t.names.len()), (1, n));
        let dup = format!("{},c7\n{row},1\n", header.join(","));
        let e = parse(&dup).unwrap_err().to_string();
        assert!(e.contains(&format!("header column {}", n + 1)), "{e}");
        assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
    }
}
