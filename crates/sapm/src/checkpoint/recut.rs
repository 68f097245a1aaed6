//! Resuming a checkpoint of a run on several processes, on any number of
//! processes. Every process of a `K`-process run wrote its own file: the
//! replicated state (weights, optimiser state, history) is the same in all of
//! them, the per-point state (PM/SAPM auxiliaries) is the process's rows
//! `shard_range(N, j, K)` of each row set. A process `r` of `K'` resumes from
//! process 0's file and takes its rows `shard_range(N, r, K')` of the
//! per-point state from the files that hold them ([`StateReader::rows_into`]).
//! `K' = K` is the case where those rows are exactly its own file's.

use super::StateReader;
use crate::error::Result;
use crate::linalg::shard_range;
use std::ops::Range;

/// The files of the `from` processes that wrote a checkpoint, as process
/// `rank` of `size` resuming it needs them: those whose rows may overlap its
/// own ([`Recut::sources`]), with their ranks.
#[derive(Debug)]
pub struct Recut {
    from: usize,
    rank: usize,
    size: usize,
    parts: Vec<(usize, StateReader)>,
}

/// Where rows sit in a buffer of per-point state: `at` is the first row
/// meant, of `n` rows in the buffer (a layout may depend on `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowSpan {
    /// Rows in the buffer.
    pub n: usize,
    /// First row meant.
    pub at: usize,
}

/// `copy(src, from, dst, to, count)`: move `count` rows from `src` to `dst`
/// in a trainer's layout of per-point state.
pub type CopyRows<'a> = dyn Fn(&[f64], RowSpan, &mut [f64], RowSpan, usize) + 'a;

impl Recut {
    /// The writing processes `j` whose rows can overlap those of process
    /// `rank` of `size`, for any row count: row `x` of `N` is process `j`'s of
    /// `K` exactly when `(x + 1) / N` lies in `(j / K, (j + 1) / K]`
    /// ([`shard_range`]), so the rows can overlap only where these intervals
    /// do. Every writing process is in the range of some `rank`, and `j` in
    /// that of `j size / from` (its owner, [`Recut::owner`]).
    pub fn sources(from: usize, rank: usize, size: usize) -> Range<usize> {
        (rank * from / size)..((rank + 1) * from).div_ceil(size)
    }

    /// The process of `size` that checks writing process `j`'s file.
    pub fn owner(j: usize, from: usize, size: usize) -> usize {
        j * size / from
    }

    /// `parts`: the files of [`Recut::sources`] with their ranks, in order.
    pub fn new(from: usize, rank: usize, size: usize, parts: Vec<(usize, StateReader)>) -> Self {
        Recut {
            from,
            rank,
            size,
            parts,
        }
    }
}

impl StateReader {
    /// This reader with the files of the processes that wrote its checkpoint
    /// (`self` is process 0's).
    pub fn with_recut(mut self, recut: Recut) -> Self {
        self.recut = Some(Box::new(recut));
        self
    }

    /// Processes that wrote this checkpoint as a run on several processes.
    pub fn written_by(&self) -> Option<usize> {
        self.recut.as_ref().map(|r| r.from)
    }

    /// The per-point entry `name` of a row set with `total` points over all
    /// processes and `width` values per point, this process's rows into
    /// `out`. A single-process checkpoint (or one process's own file) is read
    /// as it is; a checkpoint of several processes gives this process's rows
    /// `shard_range(total, rank, size)` from the files that hold them, each
    /// file's entry checked to hold its process's rows. `copy(src, from, dst,
    /// to, count)` moves `count` rows between buffers in the trainer's
    /// layout.
    pub fn rows_into(
        &mut self,
        name: &str,
        total: usize,
        width: usize,
        out: &mut [f64],
        copy: &CopyRows<'_>,
    ) -> Result<()> {
        let full = self.full(name);
        let Some((from, rank, size)) = self.recut.as_ref().map(|r| (r.from, r.rank, r.size)) else {
            return self.finite_f64s_into(name, out);
        };
        let own = shard_range(total, rank, size);
        if out.len() != own.len() * width {
            return Err(self.err(format!(
                "entry `{full}`: this process holds {} values, not {} rows of {width}",
                out.len(),
                own.len()
            )));
        }
        let mut got = 0;
        let parts = self
            .recut
            .as_mut()
            .map_or(&mut [][..], |r| &mut r.parts[..]);
        for (j, part) in parts {
            let rows = shard_range(total, *j, from);
            let held = part.len_of(&full)?;
            if held != rows.len() * width {
                return Err(part.err(format!(
                    "entry `{full}` has {held} values; process {j} of {from} holds rows {}..{} of {total} ({width} values each): the checkpoint was written for another number of points",
                    rows.start, rows.end
                )));
            }
            let (lo, hi) = (rows.start.max(own.start), rows.end.min(own.end));
            if lo >= hi {
                continue;
            }
            let mut src = vec![0.0; held];
            part.finite_f64s_into(&full, &mut src)?;
            let at = |r: &Range<usize>| RowSpan {
                n: r.len(),
                at: lo - r.start,
            };
            copy(&src, at(&rows), out, at(&own), hi - lo);
            got += hi - lo;
        }
        if got != own.len() {
            return Err(self.err(format!(
                "entry `{full}`: the files of {from} processes gave {got} of the {} rows of process {rank} of {size}",
                own.len()
            )));
        }
        Ok(())
    }

    /// The fingerprint the data of this process must have: the file's own,
    /// or, resuming a checkpoint of several processes on as many, that of
    /// this process's file; `None` on another number of processes (each
    /// file's fingerprint is of its own rows; the rows are then checked by
    /// their counts in [`StateReader::rows_into`]).
    pub fn data_fingerprint(&self) -> Result<Option<u64>> {
        match self.recut.as_deref() {
            None => self.int("run.data_fingerprint").map(Some),
            Some(rc) if rc.from == rc.size => match rc.parts.as_slice() {
                [(_, own)] => own.int("run.data_fingerprint").map(Some),
                _ => Ok(None),
            },
            Some(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::StateWriter;

    fn reader() -> StateReader {
        reader_of(1)
    }

    /// A checkpoint whose data fingerprint is `fp`.
    fn reader_of(fp: u64) -> StateReader {
        let mut w = StateWriter::new();
        w.scope("run", |w| w.int("data_fingerprint", fp));
        let mut out = Vec::new();
        w.write_to(&mut out).unwrap();
        StateReader::parse(std::path::Path::new("x.ckpt"), &out).unwrap()
    }

    /// A reader knows how many processes wrote its checkpoint only when it
    /// holds their files.
    #[test]
    fn written_by_is_the_number_of_writing_processes() {
        assert_eq!(reader().written_by(), None);
        for (from, size) in [(2, 1), (3, 2), (2, 3)] {
            let parts = Recut::sources(from, 0, size)
                .map(|j| (j, reader()))
                .collect();
            let r = reader().with_recut(Recut::new(from, 0, size, parts));
            assert_eq!(r.written_by(), Some(from), "{from} -> {size}");
        }
    }

    /// The data fingerprint to check: the file's own; resuming on as many
    /// processes as wrote it, that of this process's own file (its only
    /// part); on another number, none (rows are checked by their counts).
    #[test]
    fn the_data_fingerprint_is_of_the_own_file_on_as_many_processes() {
        assert_eq!(reader_of(7).data_fingerprint().unwrap(), Some(7));
        for (from, size, rank) in [(2, 2, 1), (3, 3, 0), (2, 1, 0), (2, 3, 2)] {
            let parts = Recut::sources(from, rank, size)
                .map(|j| (j, reader_of(100 + j as u64)))
                .collect();
            let r = reader_of(7).with_recut(Recut::new(from, rank, size, parts));
            let want = (from == size).then_some(100 + rank as u64);
            assert_eq!(r.data_fingerprint().unwrap(), want, "{from} -> {size}");
        }
    }

    /// For every row count, the writing processes whose rows a process takes
    /// are among its sources, every writer has an owner among the processes
    /// it is a source of, and the sources of the same number are the process
    /// itself.
    #[test]
    fn sources_cover_every_overlap() {
        for from in 1..9 {
            for size in 1..9 {
                for j in 0..from {
                    let o = Recut::owner(j, from, size);
                    assert!(
                        Recut::sources(from, o, size).contains(&j),
                        "{from} {size} {j}"
                    );
                }
                for rank in 0..size {
                    let src = Recut::sources(from, rank, size);
                    if from == size {
                        assert_eq!(src, rank..rank + 1);
                    }
                    for n in from.max(size)..60 {
                        let own = shard_range(n, rank, size);
                        for j in 0..from {
                            let rows = shard_range(n, j, from);
                            if rows.start.max(own.start) < rows.end.min(own.end) {
                                assert!(
                                    src.contains(&j),
                                    "{n} rows, {from} -> {size}: {j} for {rank}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
