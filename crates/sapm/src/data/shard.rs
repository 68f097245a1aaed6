//! One process's rows of a multi-process run's data: its contiguous shard
//! of the training rows ([`crate::linalg::shard_range`]) and the whole test
//! set. A `.npy` file is read by offset (only those rows); a CSV file is
//! streamed twice (to count and check every row, then to keep this
//! process's), so it is scanned whole but only its rows are held.

use super::{DataConfig, Dataset, RowReader, Split, Table, load_file, split_rows};
use crate::error::{Error, Result};
use crate::linalg::shard_range;
use std::path::Path;

/// This process's share of a split.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardSplit {
    /// This process's training rows (`train`) and the whole test set (`test`).
    pub split: Split,
    /// Training samples over all processes.
    pub n_train: usize,
}

impl ShardSplit {
    /// Process `rank` of `size`'s share of a whole split.
    pub fn of(whole: &Split, rank: usize, size: usize) -> Result<ShardSplit> {
        let n = whole.train.len();
        enough(n, size)?;
        Ok(ShardSplit {
            split: Split {
                train: whole.train.rows(shard_range(n, rank, size)),
                test: whole.test.clone(),
            },
            n_train: n,
        })
    }
}

/// Every process needs at least one training sample.
fn enough(n: usize, size: usize) -> Result<()> {
    if n < size {
        return Err(Error::Data(format!(
            "{n} training samples for {size} processes: every process needs at least one"
        )));
    }
    Ok(())
}

/// Rows to read in one go.
const BATCH: usize = 4096;

/// The number of data rows of a table file: from a `.npy` header; a CSV
/// file is read to the end, every row checked as [`super::read_table`] does.
pub(crate) fn count_rows(path: &Path) -> Result<usize> {
    let mut r = RowReader::open(path)?;
    if let Some(n) = r.total_rows() {
        return Ok(n);
    }
    let mut scratch = Vec::new();
    while r.next_batch(BATCH, &mut scratch)? > 0 {}
    Ok(r.rows_read())
}

/// Rows `wanted` (increasing) of a table file, in that order: runs of
/// consecutive rows are read, the gaps skipped ([`RowReader::skip`]: a
/// seek in a C-order `.npy` file).
pub(crate) fn read_rows(path: &Path, wanted: &[usize]) -> Result<Table> {
    let mut r = RowReader::open(path)?;
    let ncol = r.names().len();
    let mut values = Vec::with_capacity(wanted.len() * ncol);
    let mut batch = Vec::new();
    let mut k = 0;
    while k < wanted.len() {
        let mut end = k + 1;
        while end < wanted.len() && wanted[end] == wanted[end - 1] + 1 {
            end += 1;
        }
        r.skip(wanted[k].saturating_sub(r.rows_read()))?;
        let mut left = end - k;
        while left > 0 {
            let got = r.next_batch(left.min(BATCH), &mut batch)?;
            if got == 0 {
                return Err(Error::format(
                    path,
                    format!(
                        "the file ended before row {} (was it changed?)",
                        wanted[end - 1]
                    ),
                ));
            }
            values.extend_from_slice(&batch);
            left -= got;
        }
        k = end;
    }
    Ok(Table {
        names: r.names().to_vec(),
        rows: wanted.len(),
        values,
    })
}

impl DataConfig {
    /// What process `rank` of `size` trains and tests on: its shard of the
    /// training rows of [`DataConfig::load`]'s split and the whole test set
    /// (`seed` is the run seed). From a file it reads only those rows (see
    /// the module docs); a built-in target is generated whole and sharded.
    /// A process checks the values of the rows it reads (every row of a CSV
    /// file; its own and the test rows of a `.npy` file): each row is read
    /// by some process, so a bad value still fails the run.
    pub fn load_shard(&self, seed: u64, rank: usize, size: usize) -> Result<ShardSplit> {
        self.validate()?;
        let Some(path) = &self.train else {
            return ShardSplit::of(&self.load(seed)?, rank, size);
        };
        let seed = self.seed.unwrap_or(seed);
        let (ins, outs) = (self.inputs.as_deref(), self.outputs.as_deref());
        let n = count_rows(path)?;
        let Some(test_path) = &self.test else {
            // Rows of the seeded split: the test rows and this process's
            // shard of the training rows, read in file order.
            let (train, test) = split_rows(n, self.test_fraction, seed)?;
            enough(train.len(), size)?;
            let mine = &train[shard_range(train.len(), rank, size)];
            let (wanted, at_test, at_mine) = merge(&test, mine);
            let rows = read_rows(path, &wanted)?.to_dataset(path, ins, outs)?;
            return Ok(ShardSplit {
                split: Split {
                    train: rows.subset(&at_mine),
                    test: rows.subset(&at_test),
                },
                n_train: train.len(),
            });
        };
        enough(n, size)?;
        let mine: Vec<usize> = shard_range(n, rank, size).collect();
        let train = read_rows(path, &mine)?.to_dataset(path, ins, outs)?;
        let test = load_file(test_path, ins, outs)?;
        if test.input_names != train.input_names || test.output_names != train.output_names {
            return Err(Error::format(
                test_path,
                "test file columns differ from the training file's",
            ));
        }
        Ok(ShardSplit {
            split: Split { train, test },
            n_train: n,
        })
    }
}

/// The union of two disjoint increasing row lists, and where each list's
/// rows are in it.
fn merge(a: &[usize], b: &[usize]) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let mut all = Vec::with_capacity(a.len() + b.len());
    let (mut at_a, mut at_b) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i] < b[j]) {
            at_a.push(all.len());
            all.push(a[i]);
            i += 1;
        } else {
            at_b.push(all.len());
            all.push(b[j]);
            j += 1;
        }
    }
    (all, at_a, at_b)
}

impl Dataset {
    /// The samples `range` (columns of `x` and `y`).
    pub fn rows(&self, range: std::ops::Range<usize>) -> Dataset {
        let (lo, n) = (range.start, range.len());
        Dataset {
            x: self.x.as_ref().subcols(lo, n).to_owned(),
            y: self.y.as_ref().subcols(lo, n).to_owned(),
            input_names: self.input_names.clone(),
            output_names: self.output_names.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{read_table, write_npy};
    use proptest::prelude::*;

    /// `n` rows of 3 columns (x0, x1, y) as a CSV file and a `.npy` file in `dir`.
    fn files(dir: &Path, n: usize) -> [std::path::PathBuf; 2] {
        let v: Vec<f64> = (0..n * 3)
            .map(|k| ((k * 37) % 101) as f64 / 7.0 - 3.0)
            .collect();
        let csv = dir.join("t.csv");
        let mut text = String::from("a,b,y\n");
        for r in v.chunks(3) {
            text += &format!("{},{},{}\n", r[0], r[1], r[2]);
        }
        std::fs::write(&csv, text).unwrap();
        let npy = dir.join("t.npy");
        write_npy(&npy, n, 3, &v).unwrap();
        [csv, npy]
    }

    fn config(train: &Path, test: Option<&Path>) -> DataConfig {
        DataConfig {
            train: Some(train.to_path_buf()),
            test: test.map(Path::to_path_buf),
            ..DataConfig::default()
        }
    }

    /// Reading rows by runs (skipping the gaps, by seek in a `.npy` file)
    /// gives the rows of the whole read; and on 1 to 4 processes the
    /// training shards, in rank order, are the training set of
    /// `DataConfig::load` (a seeded split, or a separate test file) and
    /// every process holds its whole test set.
    #[test]
    fn per_process_reads_are_the_slices_of_the_whole_read() {
        let dir = tempfile::tempdir().unwrap();
        let n = 103;
        for path in files(dir.path(), n) {
            let whole = read_table(&path).unwrap();
            assert_eq!(count_rows(&path).unwrap(), n);
            let wanted = [0, 1, 2, 7, 8, 50, 101, 102];
            let t = read_rows(&path, &wanted).unwrap();
            assert_eq!(t.names, whole.names);
            for (k, &r) in wanted.iter().enumerate() {
                assert_eq!(t.values[3 * k..3 * k + 3], whole.values[3 * r..3 * r + 3]);
            }
            // A test file of the same format (the `.npy` columns are c0, c1, c2).
            let other = dir
                .path()
                .join("test")
                .with_extension(path.extension().unwrap());
            if other.extension().unwrap() == "npy" {
                write_npy(&other, 2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
            } else {
                std::fs::write(&other, "a,b,y\n1,2,3\n4,5,6\n").unwrap();
            }
            for cfg in [config(&path, None), config(&path, Some(&other))] {
                let all = cfg.load(9).unwrap();
                for k in 1..=4 {
                    let shards: Vec<ShardSplit> = (0..k)
                        .map(|rank| cfg.load_shard(9, rank, k).unwrap())
                        .collect();
                    let mut cols = Vec::new();
                    for s in &shards {
                        assert_eq!(s.split.test, all.test);
                        assert_eq!(s.n_train, all.train.len());
                        cols.extend((0..s.split.train.len()).map(|j| {
                            (
                                s.split.train.x[(0, j)],
                                s.split.train.x[(1, j)],
                                s.split.train.y[(0, j)],
                            )
                        }));
                    }
                    let want: Vec<_> = (0..all.train.len())
                        .map(|j| {
                            (
                                all.train.x[(0, j)],
                                all.train.x[(1, j)],
                                all.train.y[(0, j)],
                            )
                        })
                        .collect();
                    assert_eq!(cols, want, "{} on {k}", path.display());
                }
            }
        }
    }

    /// A process checks the rows it reads: a non-finite value in rank 1's
    /// rows of a `.npy` file fails rank 1 with the whole read's message
    /// (rank 0 reads other rows); a ragged CSV row fails every process
    /// (each scans the whole file), with the whole read's message.
    #[test]
    fn bad_rows_fail_the_process_that_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let n = 40;
        let mut v: Vec<f64> = (0..n * 2).map(|k| k as f64).collect();
        v[2 * 30 + 1] = f64::NAN;
        let npy = dir.path().join("bad.npy");
        write_npy(&npy, n, 2, &v).unwrap();
        let other = dir.path().join("test.csv");
        std::fs::write(&other, "c0,c1\n1,2\n").unwrap();
        let cfg = config(&npy, Some(&other));
        let whole = read_table(&npy).unwrap_err().to_string();
        assert!(cfg.load_shard(0, 0, 2).is_ok());
        let e = cfg.load_shard(0, 1, 2).unwrap_err().to_string();
        assert_eq!(e, whole);
        assert!(
            e.contains("row 30, column 1: value NaN is not finite"),
            "{e}"
        );

        let csv = dir.path().join("ragged.csv");
        std::fs::write(&csv, "a,b\n1,2\n3,4\n5\n7,8\n").unwrap();
        let whole = read_table(&csv).unwrap_err().to_string();
        for rank in 0..2 {
            let e = config(&csv, Some(&other))
                .load_shard(0, rank, 2)
                .unwrap_err();
            assert_eq!(e.to_string(), whole);
            assert!(whole.contains("ragged row"), "{whole}");
        }
        let e = config(&csv, Some(&other)).load_shard(0, 0, 5).unwrap_err();
        assert!(e.to_string().contains("ragged"), "{e}");
        let ok = dir.path().join("ok.csv");
        std::fs::write(&ok, "a,b\n1,2\n3,4\n").unwrap();
        let e = config(&ok, Some(&other)).load_shard(0, 0, 3).unwrap_err();
        assert!(
            e.to_string().contains("2 training samples for 3 processes"),
            "{e}"
        );
    }

    proptest! {
        /// Over any number of processes, the seeded split's training rows
        /// are each read by exactly one process, in order, and no process
        /// takes a test row for training.
        #[test]
        fn split_shards_cover_every_training_row_once(
            n in 2usize..3000, k in 1usize..40, frac in 0.05f64..0.95, seed in 0u64..1000
        ) {
            let Ok((train, test)) = split_rows(n, frac, seed) else { return Ok(()) };
            prop_assume!(train.len() >= k);
            let mut seen = Vec::new();
            for rank in 0..k {
                let mine = &train[shard_range(train.len(), rank, k)];
                let (all, at_test, at_mine) = merge(&test, mine);
                prop_assert!(all.windows(2).all(|w| w[0] < w[1]));
                prop_assert_eq!(at_test.iter().map(|&i| all[i]).collect::<Vec<_>>(), test.clone());
                seen.extend(at_mine.iter().map(|&i| all[i]));
            }
            prop_assert_eq!(seen, train);
        }
    }
}
