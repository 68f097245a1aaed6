//! Checkpoint files: a versioned binary container of named arrays, written
//! atomically, read back lazily and checked entry by entry.
//!
//! A checkpoint holds everything a run needs to continue as if it had never
//! stopped: the driver's state (iteration, seconds, history, the weights and
//! the rollback model), the trainer's state (auxiliaries, optimiser moments,
//! step sizes, counters) and the run's context (config, data fingerprint,
//! curriculum stage). What goes in is decided once, by
//! [`crate::optim::Trainer::save_state`] and the driver; this module only
//! stores it.
//!
//! ## Layout (version 2)
//!
//! ```text
//! bytes 0..8          magic "SAPMCKPT"
//! bytes 8..8+D        entry data: each entry 8-byte aligned, f64 and u64 as
//!                     little-endian words, byte entries zero-padded
//! next H bytes        header: UTF-8 JSON {format, format_version, sapm_version,
//!                     meta: {name: int | bool | string | [string]},
//!                     entries: [{name, dtype, len, offset, crc32}], data_bytes}
//! last 24 bytes       H as u64 little-endian, the CRC-32 of every byte
//!                     before it as u64 little-endian, then "SAPMCEN2"
//! ```
//!
//! The header comes last so that a checkpoint of gigabytes is written in one
//! streaming pass (the CRC-32 of each entry is known only once it is
//! written). Every float is stored as raw bits, so values (NaN and Inf
//! included) round-trip exactly; small integers, flags and names live in
//! `meta`. A file that was cut short lacks the trailer and is refused before
//! anything else is read. The whole-file CRC-32 covers the header (config,
//! meta, entry table) as well as the data, so any edited or flipped bit is
//! refused on open; each entry's own CRC-32 is checked again when it is read.
//! Version 1 files (no whole-file checksum, end marker "SAPMCEND") are
//! refused with a message saying so.
//!
//! ```
//! use sapm::checkpoint::{StateReader, StateWriter};
//! let a = vec![1.0, f64::NAN, -0.0];
//! let mut w = StateWriter::new();
//! w.scope("trainer", |w| {
//!     w.f64s("a", &a);
//!     w.int("t", 7);
//! });
//! let mut bytes = Vec::new();
//! w.write_to(&mut bytes).unwrap();
//! let mut r = StateReader::parse("mem.ckpt".as_ref(), &bytes)?;
//! let back = r.scope("trainer", |r| r.f64s("a"))?;
//! assert_eq!(back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
//!            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
//! assert_eq!(r.int("trainer.t")?, 7);
//! # Ok::<(), sapm::Error>(())
//! ```

mod reader;
mod recut;
mod writer;

pub use reader::StateReader;
pub use recut::{Recut, RowSpan};
pub use writer::StateWriter;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The `format` tag of a checkpoint header.
pub const CHECKPOINT_FORMAT: &str = "sapm-checkpoint";
/// The version this build writes.
pub const CHECKPOINT_VERSION: u64 = 2;
/// The versions this build reads.
pub const SUPPORTED_CHECKPOINT_VERSIONS: &[u64] = &[2];
/// First 8 bytes of every checkpoint.
pub const MAGIC: &[u8; 8] = b"SAPMCKPT";
/// Last 8 bytes of every complete checkpoint.
pub const END_MAGIC: &[u8; 8] = b"SAPMCEN2";
/// End marker of version 1 files, which had no whole-file checksum.
const END_MAGIC_V1: &[u8; 8] = b"SAPMCEND";
/// Bytes after the header: its length, the whole-file CRC-32, the end marker.
const TRAILER: u64 = 24;
/// The smallest file: the magic and the trailer.
const MIN_BYTES: u64 = 8 + TRAILER;
/// Largest header accepted (names, meta, entry table): far above any real
/// one, small enough to read into memory without trusting the file.
pub const MAX_HEADER_BYTES: u64 = 64 << 20;
/// The usual file name of a run's checkpoint inside its output folder.
pub const FILE_NAME: &str = "checkpoint.sapm";

/// Element type of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// IEEE double, little-endian.
    F64,
    /// Unsigned 64-bit integer, little-endian.
    U64,
    /// Raw bytes (e.g. a serialised optimiser state).
    U8,
}

impl Dtype {
    fn size(self) -> u64 {
        match self {
            Dtype::F64 | Dtype::U64 => 8,
            Dtype::U8 => 1,
        }
    }
}

/// One entry of the header's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryInfo {
    /// Dotted name (`driver.net`, `trainer.phase.a`).
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Number of elements.
    pub len: u64,
    /// Byte offset of the first element from the end of the magic (a multiple of 8).
    pub offset: u64,
    /// CRC-32 (IEEE) of the entry's bytes as stored.
    pub crc32: u32,
}

/// The parsed header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// Container version.
    pub format_version: u64,
    /// sapm version that wrote the file.
    pub sapm_version: String,
    /// Small values: integers, flags, names.
    pub meta: BTreeMap<String, Value>,
    /// Array entries, in file order.
    pub entries: Vec<EntryInfo>,
    /// Bytes between the magic and the header.
    pub data_bytes: u64,
}

/// FNV-1a over the bit patterns of a list of float slices: a fingerprint of
/// a run's data, so a resumed run can prove it regenerated the same points.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a [f64]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for v in p
            .iter()
            .copied()
            .chain(std::iter::once(f64::from_bits(p.len() as u64)))
        {
            for b in v.to_bits().to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    h
}

/// [`fingerprint`] of matrices (column by column).
pub fn fingerprint_mats<'a>(mats: impl IntoIterator<Item = faer::MatRef<'a, f64>>) -> u64 {
    let cols: Vec<Vec<f64>> = mats
        .into_iter()
        .map(|m| {
            let mut v = Vec::with_capacity(m.nrows() * m.ncols() + 2);
            v.push(m.nrows() as f64);
            v.push(m.ncols() as f64);
            for j in 0..m.ncols() {
                for i in 0..m.nrows() {
                    v.push(m[(i, j)]);
                }
            }
            v
        })
        .collect();
    fingerprint(cols.iter().map(Vec::as_slice))
}

#[cfg(test)]
mod tests;
