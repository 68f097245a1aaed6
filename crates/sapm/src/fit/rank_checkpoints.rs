//! The checkpoint files of a run on several processes: every process writes
//! its own, and a run on any number of processes resumes them (the files
//! must be on a filesystem every process reads). Process `r` of `K'` reads
//! the replicated state from process 0's file and re-cuts the per-point
//! state from the files that hold its rows ([`crate::checkpoint::Recut`]).

use crate::checkpoint::{FILE_NAME, Recut, StateReader};
use crate::error::{Error, Result};
use crate::linalg::SharedReducer;
use std::path::Path;

/// The checkpoint file of process `rank` of `size`: every process writes
/// its own (its shard's auxiliaries are its own; the rest is the same on
/// every process), and the name says how many processes wrote it.
pub fn rank_file_name(rank: usize, size: usize) -> String {
    format!("checkpoint.rank{rank}-of-{size}.sapm")
}

/// `(rank, size)` of a file named by [`rank_file_name`].
fn parse_rank_file(name: &str) -> Option<(usize, usize)> {
    let rest = name
        .strip_prefix("checkpoint.rank")?
        .strip_suffix(".sapm")?;
    let (r, k) = rest.split_once("-of-")?;
    Some((r.parse().ok()?, k.parse().ok()?))
}

/// Open the checkpoint of a run on several processes in `dir` for this
/// process of `reducer`'s run, on any number of processes: process 0's file
/// with the files holding this process's rows ([`StateReader::with_recut`]).
/// Every process must call it (one collective). Refused, with the same
/// error on every process: no rank files (saying what `dir` holds); a
/// missing file of the processes that wrote them (named); a damaged file or
/// one of another run (named); files taken after different iterations (a
/// job killed while the processes were writing them).
pub fn open_rank_checkpoints(dir: &Path, reducer: &SharedReducer) -> Result<StateReader> {
    let (rank, size) = (reducer.rank(), reducer.size());
    let from = written_by(dir, size)?;
    let path = |j: usize| dir.join(rank_file_name(j, from));
    if let Some(j) = (0..from).find(|&j| !path(j).exists()) {
        return Err(Error::format(
            path(j),
            format!(
                "missing: the checkpoint in {} was written by {from} processes and resuming needs every one's file",
                dir.display()
            ),
        ));
    }
    let first = StateReader::open(&path(0))?;
    let config = first.text("run.config")?;
    // Slots per writing process (filled by its owner): state 1 = readable
    // and of this run, 2 = of another run (another config), 3 = unreadable;
    // the stage and iteration it was taken at.
    let mut slots = vec![0.0; 3 * from];
    let mut why = None;
    let mut parts = Vec::new();
    for j in Recut::sources(from, rank, size) {
        let owner = Recut::owner(j, from, size) == rank;
        let r = match StateReader::open(&path(j)) {
            Ok(r) => r,
            Err(e) => {
                if owner {
                    slots[3 * j] = 3.0;
                }
                why.get_or_insert(e);
                continue;
            }
        };
        if owner {
            let same = r.text("run.config")? == config;
            slots[3 * j] = if same { 1.0 } else { 2.0 };
            slots[3 * j + 1] = stage_of(&r) as f64;
            slots[3 * j + 2] = r.int("run.iteration")? as f64;
        }
        parts.push((j, r));
    }
    reducer.all_reduce_sum(&mut slots)?;
    let state = |j: usize| slots[3 * j];
    if let Some(j) = (0..from).find(|&j| state(j) != 1.0 && state(j) != 2.0) {
        return Err(why.unwrap_or_else(|| {
            Error::format(
                path(j),
                format!(
                    "unreadable or damaged (process {} of {size} says why)",
                    Recut::owner(j, from, size)
                ),
            )
        }));
    }
    // Files one checkpoint apart (a job killed while writing them) before
    // files of another run: the first is what a stopped job leaves.
    let at = |j: usize| (slots[3 * j + 1], slots[3 * j + 2]);
    if (0..from).any(|j| at(j) != at(0)) {
        let list: Vec<String> = (0..from)
            .map(|j| format!("rank {j}: {}", at(j).1))
            .collect();
        return Err(first.err(format!(
            "the processes' checkpoints were taken after different iterations ({}); the job was stopped while writing them: restart the run",
            list.join(", ")
        )));
    }
    if let Some(j) = (0..from).find(|&j| state(j) != 1.0) {
        return Err(Error::format(
            path(j),
            format!(
                "field `meta.run.config` differs from that of {}: the files are of different runs",
                rank_file_name(0, from)
            ),
        ));
    }
    Ok(first.with_recut(Recut::new(from, rank, size, parts)))
}

fn stage_of(r: &StateReader) -> u64 {
    r.int("schedule.stage").unwrap_or(0)
}

/// How many processes wrote the checkpoint files in `dir`. When files of
/// several runs are there (a run resumed on another number of processes
/// writes its own), the latest: the one whose process 0 took its checkpoint
/// at the latest stage and iteration (`size`'s on a tie).
fn written_by(dir: &Path, size: usize) -> Result<usize> {
    let mut counts: Vec<usize> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| parse_rank_file(&e.ok()?.file_name().into_string().ok()?))
        .map(|(_, k)| k)
        .collect();
    counts.sort_unstable();
    counts.dedup();
    if counts.len() <= 1 {
        return match counts.first() {
            Some(&k) => Ok(k),
            None => Err(Error::Data(format!(
                "--resume {} on {size} processes: no {} in that folder ({})",
                dir.display(),
                rank_file_name(0, size),
                if dir.join(FILE_NAME).exists() {
                    "it holds a single-process checkpoint: resume it without mpirun"
                } else {
                    "was the run started with train.checkpoint_every > 0?"
                }
            ))),
        };
    }
    let when = |k: usize| {
        StateReader::open(&dir.join(rank_file_name(0, k)))
            .and_then(|r| Ok((stage_of(&r), r.int("run.iteration")?)))
            .ok()
    };
    let mut best = (None, false, 0);
    for k in counts {
        let key = (when(k), k == size, k);
        if key > best {
            best = key;
        }
    }
    Ok(best.2)
}
