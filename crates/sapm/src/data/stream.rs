//! Tables read in batches of rows, so `predict` and `eval` hold one batch
//! at a time whatever the number of rows. The same checks as
//! [`super::read_table`] apply, with the same messages (line, column, value).

use super::csv::{header_names, push_record, reader};
use super::npy::{Layout, layout};
use super::{Table, read_table};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

enum Source {
    Csv(csv::StringRecordsIntoIter<BufReader<File>>),
    /// C-order `.npy`: rows are contiguous and read as they come.
    Npy {
        file: BufReader<File>,
        lay: Layout,
        buf: Vec<u8>,
    },
    /// Column-major `.npy` (rows are strided): read whole, handed out in batches.
    Whole(Table),
}

/// A CSV (with header) or `.npy` table read batch by batch.
pub struct RowReader {
    path: PathBuf,
    names: Vec<String>,
    src: Source,
    rows: usize,
}

impl std::fmt::Debug for RowReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowReader")
            .field("path", &self.path)
            .field("names", &self.names)
            .field("rows", &self.rows)
            .finish()
    }
}

impl RowReader {
    /// Open `path` (`.npy` by extension, else CSV) and read its header.
    pub fn open(path: &Path) -> Result<RowReader> {
        let is_npy = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        let (names, src) = if is_npy {
            let len = f.metadata().map_err(|e| Error::io(path, e))?.len() as usize;
            let mut file = BufReader::new(f);
            let mut head = Vec::new();
            (&mut file)
                .take(12 + 10_000)
                .read_to_end(&mut head)
                .map_err(|e| Error::io(path, e))?;
            let lay = layout(path, &head, len)?;
            let names = (0..lay.cols).map(|c| format!("c{c}")).collect();
            if lay.fortran {
                (names, Source::Whole(read_table(path)?))
            } else {
                file.seek(SeekFrom::Start(lay.data_start as u64))
                    .map_err(|e| Error::io(path, e))?;
                (
                    names,
                    Source::Npy {
                        file,
                        lay,
                        buf: Vec::new(),
                    },
                )
            }
        } else {
            let mut records = reader(BufReader::with_capacity(1 << 20, f)).into_records();
            let names = header_names(path, records.next())?;
            (names, Source::Csv(records))
        };
        Ok(RowReader {
            path: path.to_path_buf(),
            names,
            src,
            rows: 0,
        })
    }

    /// Column names (`c0, c1, ...` for `.npy`).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Rows read so far.
    pub fn rows_read(&self) -> usize {
        self.rows
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of data rows when the header says it (`.npy`); a CSV
    /// file has to be read to the end to know (`None`).
    pub fn total_rows(&self) -> Option<usize> {
        match &self.src {
            Source::Csv(_) => None,
            Source::Npy { lay, .. } => Some(lay.rows),
            Source::Whole(t) => Some(t.rows),
        }
    }

    /// Pass over the next `n` rows (fewer at the end of the file). A C-order
    /// `.npy` file seeks past them (their values are neither read nor
    /// checked); a CSV file reads and checks them as [`Self::next_batch`].
    pub fn skip(&mut self, n: usize) -> Result<()> {
        match &mut self.src {
            Source::Npy { file, lay, .. } => {
                let n = n.min(lay.rows - self.rows);
                let bytes = (n * lay.cols * lay.item) as i64;
                file.seek_relative(bytes)
                    .map_err(|e| Error::io(&self.path, e))?;
                self.rows += n;
            }
            Source::Whole(t) => self.rows += n.min(t.rows - self.rows),
            Source::Csv(_) => {
                let mut scratch = Vec::new();
                let mut left = n;
                while left > 0 {
                    let got = self.next_batch(left.min(4096), &mut scratch)?;
                    if got == 0 {
                        break;
                    }
                    left -= got;
                }
            }
        }
        Ok(())
    }

    /// Up to `max` more rows, row-major, into `out` (cleared first); returns
    /// the number of rows, 0 at the end. A file without any data row is an
    /// error, as for [`read_table`].
    pub fn next_batch(&mut self, max: usize, out: &mut Vec<f64>) -> Result<usize> {
        out.clear();
        let ncol = self.names.len();
        let max = max.max(1);
        let mut got = 0;
        match &mut self.src {
            Source::Csv(records) => {
                while got < max {
                    let Some(rec) = records.next() else { break };
                    if push_record(&self.path, &self.names, rec, out)? {
                        got += 1;
                    }
                }
            }
            Source::Npy { file, lay, buf } => {
                let left = lay.rows - self.rows;
                got = left.min(max);
                buf.resize(got * ncol * lay.item, 0);
                file.read_exact(buf)
                    .map_err(|e| Error::format(&self.path, format!("bad data: {e}")))?;
                for (k, b) in buf.chunks_exact(lay.item).enumerate() {
                    let v = lay.decode(b);
                    if !v.is_finite() {
                        let (r, c) = (self.rows + k / ncol, k % ncol);
                        return Err(Error::format(
                            &self.path,
                            format!("row {r}, column {c}: value {v} is not finite"),
                        ));
                    }
                    out.push(v);
                }
            }
            Source::Whole(t) => {
                got = (t.rows - self.rows).min(max);
                out.extend_from_slice(&t.values[self.rows * ncol..(self.rows + got) * ncol]);
            }
        }
        self.rows += got;
        if got == 0 && self.rows == 0 {
            return Err(Error::format(&self.path, "no data rows after the header"));
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(path: &Path, batch: usize) -> Result<(Vec<String>, Vec<f64>)> {
        let mut r = RowReader::open(path)?;
        let (mut v, mut b) = (Vec::new(), Vec::new());
        while r.next_batch(batch, &mut b)? > 0 {
            v.extend_from_slice(&b);
        }
        Ok((r.names().to_vec(), v))
    }

    /// Batches of any size give the same values and the same errors as the
    /// whole-file parsers.
    #[test]
    fn batches_match_the_whole_file_readers() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.csv");
        std::fs::write(&csv, "a,b\n1,2\n\n# c\n3,4.5\n5,6\n").unwrap();
        let npy = dir.path().join("t.npy");
        let vals: Vec<f64> = (0..21).map(|i| i as f64 * 0.5).collect();
        super::super::write_npy(&npy, 7, 3, &vals).unwrap();
        for p in [&csv, &npy] {
            let t = read_table(p).unwrap();
            for batch in [1, 2, 5, 100] {
                let (names, v) = all(p, batch).unwrap();
                assert_eq!((names, v), (t.names.clone(), t.values.clone()));
            }
        }
        for (text, want) in [
            ("a,b\n1,2\n3\n", "line 3: 1 fields"),
            ("a,b\n1,x\n", "line 2, column \"b\": \"x\" is not a number"),
            ("a,b\n", "no data rows"),
            ("", "empty file"),
        ] {
            std::fs::write(&csv, text).unwrap();
            let whole = read_table(&csv).unwrap_err().to_string();
            let streamed = all(&csv, 1).unwrap_err().to_string();
            assert_eq!(whole, streamed);
            assert!(streamed.contains(want), "{streamed}");
        }
        let mut bad = vals.clone();
        bad[17] = f64::NAN;
        super::super::write_npy(&npy, 7, 3, &bad).unwrap();
        let e = all(&npy, 2).unwrap_err().to_string();
        assert!(e.contains("row 5, column 2: value NaN"), "{e}");
    }
}
