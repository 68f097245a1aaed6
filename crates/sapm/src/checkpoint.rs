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

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

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

enum Data<'a> {
    F64(Cow<'a, [f64]>),
    U64(Vec<u64>),
    U8(Vec<u8>),
}

impl Data<'_> {
    fn dtype(&self) -> Dtype {
        match self {
            Data::F64(_) => Dtype::F64,
            Data::U64(_) => Dtype::U64,
            Data::U8(_) => Dtype::U8,
        }
    }
    fn len(&self) -> usize {
        match self {
            Data::F64(v) => v.len(),
            Data::U64(v) => v.len(),
            Data::U8(v) => v.len(),
        }
    }
}

/// Collects named arrays and small values for one checkpoint. Large arrays
/// are borrowed (`'a`), so saving a trainer's auxiliaries copies nothing;
/// the bytes are produced while streaming to the file.
pub struct StateWriter<'a> {
    prefix: String,
    items: Vec<(String, Data<'a>)>,
    meta: BTreeMap<String, Value>,
}

impl Default for StateWriter<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> StateWriter<'a> {
    /// An empty checkpoint.
    pub fn new() -> Self {
        StateWriter {
            prefix: String::new(),
            items: Vec::new(),
            meta: BTreeMap::new(),
        }
    }

    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Run `f` with every name prefixed by `name.` (nested states).
    pub fn scope<R>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        let keep = self.prefix.len();
        self.prefix.push_str(name);
        self.prefix.push('.');
        let r = f(self);
        self.prefix.truncate(keep);
        r
    }

    /// A borrowed array of floats.
    pub fn f64s(&mut self, name: &str, v: &'a [f64]) {
        let n = self.full(name);
        self.items.push((n, Data::F64(Cow::Borrowed(v))));
    }

    /// An owned array of floats.
    pub fn f64s_owned(&mut self, name: &str, v: Vec<f64>) {
        let n = self.full(name);
        self.items.push((n, Data::F64(Cow::Owned(v))));
    }

    /// One float (stored as a one-element array, so it keeps its exact bits).
    pub fn f64(&mut self, name: &str, v: f64) {
        self.f64s_owned(name, vec![v]);
    }

    /// An array of unsigned integers.
    pub fn u64s(&mut self, name: &str, v: Vec<u64>) {
        let n = self.full(name);
        self.items.push((n, Data::U64(v)));
    }

    /// Raw bytes (e.g. a serialised solver).
    pub fn bytes(&mut self, name: &str, v: Vec<u8>) {
        let n = self.full(name);
        self.items.push((n, Data::U8(v)));
    }

    /// An integer in the header.
    pub fn int(&mut self, name: &str, v: u64) {
        let n = self.full(name);
        self.meta.insert(n, Value::from(v));
    }

    /// A flag in the header.
    pub fn flag(&mut self, name: &str, v: bool) {
        let n = self.full(name);
        self.meta.insert(n, Value::Bool(v));
    }

    /// A string in the header.
    pub fn text(&mut self, name: &str, v: &str) {
        let n = self.full(name);
        self.meta.insert(n, Value::String(v.to_string()));
    }

    /// A list of strings in the header.
    pub fn texts(&mut self, name: &str, v: &[String]) {
        let n = self.full(name);
        self.meta.insert(
            n,
            Value::Array(v.iter().cloned().map(Value::String).collect()),
        );
    }

    /// Total bytes of the entry data (what dominates the file size).
    pub fn data_bytes(&self) -> u64 {
        self.items
            .iter()
            .map(|(_, d)| padded(d.len() as u64 * d.dtype().size()))
            .sum()
    }

    /// Stream the checkpoint into `out`; returns the bytes written.
    pub fn write_to(&self, out: &mut dyn Write) -> std::io::Result<u64> {
        let mut out = CrcWriter {
            inner: out,
            crc: crc32fast::Hasher::new(),
        };
        let n = self.write_body(&mut out)?;
        let crc = out.crc.finalize();
        out.inner.write_all(&u64::from(crc).to_le_bytes())?;
        out.inner.write_all(END_MAGIC)?;
        Ok(n + 16)
    }

    /// Everything the whole-file checksum covers: magic, data, header and
    /// its length.
    fn write_body(&self, out: &mut dyn Write) -> std::io::Result<u64> {
        let mut seen = std::collections::HashSet::new();
        for (n, _) in &self.items {
            if !seen.insert(n.as_str()) {
                return Err(std::io::Error::other(format!(
                    "checkpoint entry `{n}` written twice"
                )));
            }
        }
        out.write_all(MAGIC)?;
        let mut entries = Vec::with_capacity(self.items.len());
        let mut offset = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        for (name, data) in &self.items {
            let mut crc = crc32fast::Hasher::new();
            let bytes = data.len() as u64 * data.dtype().size();
            match data {
                Data::F64(v) => write_words(out, &mut crc, &mut buf, v, |x| x.to_le_bytes())?,
                Data::U64(v) => write_words(out, &mut crc, &mut buf, v, |x| x.to_le_bytes())?,
                Data::U8(v) => {
                    crc.update(v);
                    out.write_all(v)?;
                }
            }
            let pad = (padded(bytes) - bytes) as usize;
            out.write_all(&[0u8; 8][..pad])?;
            entries.push(EntryInfo {
                name: name.clone(),
                dtype: data.dtype(),
                len: data.len() as u64,
                offset,
                crc32: crc.finalize(),
            });
            offset += padded(bytes);
        }
        let header = Header {
            format: CHECKPOINT_FORMAT.into(),
            format_version: CHECKPOINT_VERSION,
            sapm_version: env!("CARGO_PKG_VERSION").into(),
            meta: self.meta.clone(),
            entries,
            data_bytes: offset,
        };
        let json = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
        out.write_all(&json)?;
        out.write_all(&(json.len() as u64).to_le_bytes())?;
        Ok(8 + offset + json.len() as u64 + 8)
    }

    /// Write the checkpoint to `path` atomically (temporary file, fsync,
    /// rename, fsync of the folder): a reader sees the old file or the new
    /// one, never a mixture, even if the process is killed mid-write.
    pub fn save(&self, path: &Path) -> Result<u64> {
        let mut n = 0;
        crate::io::write_atomic_with(path, |w| {
            n = self.write_to(w)?;
            Ok(())
        })?;
        Ok(n)
    }
}

/// Passes bytes through, adding them to a CRC-32.
struct CrcWriter<'w> {
    inner: &'w mut dyn Write,
    crc: crc32fast::Hasher,
}

impl Write for CrcWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn padded(bytes: u64) -> u64 {
    bytes.div_ceil(8) * 8
}

fn write_words<T: Copy>(
    out: &mut dyn Write,
    crc: &mut crc32fast::Hasher,
    buf: &mut [u8],
    v: &[T],
    le: impl Fn(T) -> [u8; 8],
) -> std::io::Result<()> {
    for chunk in v.chunks(buf.len() / 8) {
        let b = &mut buf[..chunk.len() * 8];
        for (dst, x) in b.chunks_exact_mut(8).zip(chunk) {
            dst.copy_from_slice(&le(*x));
        }
        crc.update(b);
        out.write_all(b)?;
    }
    Ok(())
}

trait Source: Read + Seek + Send {}
impl<T: Read + Seek + Send> Source for T {}

/// A checkpoint opened for reading: the header is parsed and checked at
/// once (magic, trailer, sizes, version, entry table); each entry is read
/// and its checksum verified when asked for. Errors are
/// [`Error::Format`] naming the file and the entry, field or byte.
pub struct StateReader {
    path: PathBuf,
    header: Header,
    index: HashMap<String, usize>,
    src: Box<dyn Source>,
    prefix: String,
}

impl std::fmt::Debug for StateReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateReader")
            .field("path", &self.path)
            .field("header", &self.header)
            .finish()
    }
}

impl StateReader {
    /// Open the checkpoint file at `path`.
    pub fn open(path: &Path) -> Result<StateReader> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        Self::from_source(path, Box::new(std::io::BufReader::new(f)), len)
    }

    /// Parse a checkpoint held in memory; `path` labels errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<StateReader> {
        let len = bytes.len() as u64;
        Self::from_source(path, Box::new(std::io::Cursor::new(bytes.to_vec())), len)
    }

    fn from_source(path: &Path, mut src: Box<dyn Source>, len: u64) -> Result<StateReader> {
        let fail = |reason: String| Error::format(path, reason);
        let io = |e: std::io::Error| Error::io(path, e);
        if len < MIN_BYTES {
            return Err(fail(format!(
                "byte 0: the file has {len} bytes, fewer than the {MIN_BYTES} of an empty checkpoint (truncated?)"
            )));
        }
        let mut magic = [0u8; 8];
        src.seek(SeekFrom::Start(0)).map_err(io)?;
        src.read_exact(&mut magic).map_err(io)?;
        if &magic != MAGIC {
            return Err(fail(format!(
                "byte 0: magic {:?} is not {:?}; not a sapm checkpoint",
                String::from_utf8_lossy(&magic),
                String::from_utf8_lossy(MAGIC)
            )));
        }
        let mut tail = [0u8; TRAILER as usize];
        src.seek(SeekFrom::Start(len - TRAILER)).map_err(io)?;
        src.read_exact(&mut tail).map_err(io)?;
        if &tail[16..] == END_MAGIC_V1 {
            return Err(fail(format!(
                "byte {}: checkpoint format version 1 (written by an earlier sapm, without a whole-file checksum); this build reads checkpoint versions {SUPPORTED_CHECKPOINT_VERSIONS:?}: start the run again",
                len - 8
            )));
        }
        if &tail[16..] != END_MAGIC {
            return Err(fail(format!(
                "byte {}: no end marker {:?}; the file is truncated or was not completely written",
                len - 8,
                String::from_utf8_lossy(END_MAGIC)
            )));
        }
        let word = |i: usize| u64::from_le_bytes(tail[i..i + 8].try_into().unwrap_or([0; 8]));
        let hlen = word(0);
        if hlen > MAX_HEADER_BYTES || hlen > len - MIN_BYTES {
            return Err(fail(format!(
                "byte {}: header length field {hlen} exceeds the file ({len} bytes) or the limit of {MAX_HEADER_BYTES}",
                len - TRAILER
            )));
        }
        // The whole file, header included, before anything in it is trusted.
        let want = word(8);
        let got = crc_of_prefix(&mut src, len - 16).map_err(io)?;
        if want != u64::from(got) {
            return Err(fail(format!(
                "byte {}: the whole-file checksum {got:08x} does not match the stored {want:08x}; the file was damaged or edited",
                len - 16
            )));
        }
        let hstart = len - TRAILER - hlen;
        let mut hbytes = vec![0u8; hlen as usize];
        src.seek(SeekFrom::Start(hstart)).map_err(io)?;
        src.read_exact(&mut hbytes).map_err(io)?;
        let header = parse_header(path, &hbytes, hstart)?;
        if header.data_bytes != hstart - 8 {
            return Err(fail(format!(
                "field `data_bytes`: {} declared, but the entry data spans {} bytes (truncated or edited)",
                header.data_bytes,
                hstart - 8
            )));
        }
        let mut index = HashMap::with_capacity(header.entries.len());
        let mut end = 0u64;
        for (i, e) in header.entries.iter().enumerate() {
            let at = format!("field `entries[{i}]` (`{}`)", e.name);
            if e.name.is_empty() || e.name.len() > 256 {
                return Err(fail(format!("{at}: name must have 1 to 256 bytes")));
            }
            if index.insert(e.name.clone(), i).is_some() {
                return Err(fail(format!("{at}: entry name used twice")));
            }
            let bytes = e.len.checked_mul(e.dtype.size());
            let stop = bytes.and_then(|b| e.offset.checked_add(b));
            match stop {
                Some(stop) if e.offset % 8 == 0 && e.offset >= end && stop <= header.data_bytes => {
                    end = stop;
                }
                _ => {
                    return Err(fail(format!(
                        "{at}: {} values of {} bytes at offset {} do not fit in the {} data bytes (or overlap the previous entry, or are not 8-byte aligned)",
                        e.len,
                        e.dtype.size(),
                        e.offset,
                        header.data_bytes
                    )));
                }
            }
        }
        Ok(StateReader {
            path: path.to_path_buf(),
            header,
            index,
            src,
            prefix: String::new(),
        })
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// `name` with the current scope prefix (as error messages name entries).
    pub fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A format error naming this file, for checks done by callers.
    pub fn err(&self, reason: String) -> Error {
        Error::format(&self.path, reason)
    }

    /// Check that the state under `method` was written by the trainer `want`.
    pub fn expect_method(&self, want: &str) -> Result<()> {
        let name = self.text("method")?;
        if name != want {
            return Err(self.err(format!(
                "field `meta.{}` is {name:?}, this run trains {want:?}",
                self.full("method")
            )));
        }
        Ok(())
    }

    /// Run `f` with every name prefixed by `name.`.
    pub fn scope<R>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let keep = self.prefix.len();
        self.prefix.push_str(name);
        self.prefix.push('.');
        let r = f(self);
        self.prefix.truncate(keep);
        r
    }

    fn meta(&self, name: &str) -> Result<(&Value, String)> {
        let full = self.full(name);
        match self.header.meta.get(&full) {
            Some(v) => Ok((v, full)),
            None => Err(self.err(format!("field `meta.{full}` is missing"))),
        }
    }

    /// Does the header hold the small value `name`?
    pub fn has_meta(&self, name: &str) -> bool {
        self.header.meta.contains_key(&self.full(name))
    }

    /// An integer from the header.
    pub fn int(&self, name: &str) -> Result<u64> {
        let (v, full) = self.meta(name)?;
        v.as_u64().ok_or_else(|| {
            self.err(format!(
                "field `meta.{full}` is {v}, not an unsigned integer"
            ))
        })
    }

    /// An integer that must fit in `usize` and be at most `max`.
    pub fn usize_at_most(&self, name: &str, max: usize) -> Result<usize> {
        let v = self.int(name)?;
        if v > max as u64 {
            return Err(self.err(format!(
                "field `meta.{}` is {v}, more than the {max} allowed here",
                self.full(name)
            )));
        }
        Ok(v as usize)
    }

    /// A flag from the header.
    pub fn flag(&self, name: &str) -> Result<bool> {
        let (v, full) = self.meta(name)?;
        v.as_bool()
            .ok_or_else(|| self.err(format!("field `meta.{full}` is {v}, not true or false")))
    }

    /// A string from the header.
    pub fn text(&self, name: &str) -> Result<String> {
        let (v, full) = self.meta(name)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.err(format!("field `meta.{full}` is not a string")))
    }

    /// A list of strings from the header.
    pub fn texts(&self, name: &str) -> Result<Vec<String>> {
        let (v, full) = self.meta(name)?;
        v.as_array()
            .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_string)).collect())
            .ok_or_else(|| self.err(format!("field `meta.{full}` is not a list of strings")))
    }

    fn entry(&self, name: &str, dtype: Dtype) -> Result<(EntryInfo, String)> {
        let full = self.full(name);
        let Some(&i) = self.index.get(&full) else {
            return Err(self.err(format!("entry `{full}` is missing")));
        };
        let e = self.header.entries[i].clone();
        if e.dtype != dtype {
            return Err(self.err(format!(
                "entry `{full}` holds {:?} values, expected {dtype:?}",
                e.dtype
            )));
        }
        Ok((e, full))
    }

    /// Stream an entry's bytes through `sink` in chunks and check its CRC.
    fn read_raw(&mut self, e: &EntryInfo, full: &str, mut sink: impl FnMut(&[u8])) -> Result<()> {
        let path = self.path.clone();
        let io = |err: std::io::Error| {
            Error::format(
                &path,
                format!("entry `{full}`: cannot read its bytes: {err}"),
            )
        };
        self.src.seek(SeekFrom::Start(8 + e.offset)).map_err(io)?;
        let mut left = e.len * e.dtype.size();
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; (1usize << 16).min(left as usize)];
        while left > 0 {
            let k = (buf.len() as u64).min(left) as usize;
            self.src.read_exact(&mut buf[..k]).map_err(io)?;
            crc.update(&buf[..k]);
            sink(&buf[..k]);
            left -= k as u64;
        }
        let got = crc.finalize();
        if got != e.crc32 {
            return Err(self.err(format!(
                "entry `{full}`: checksum {got:08x} does not match the stored {:08x}; the file is corrupted",
                e.crc32
            )));
        }
        Ok(())
    }

    /// Number of elements of entry `name` (any type).
    pub fn len_of(&self, name: &str) -> Result<usize> {
        let full = self.full(name);
        match self.index.get(&full) {
            Some(&i) => Ok(self.header.entries[i].len as usize),
            None => Err(self.err(format!("entry `{full}` is missing"))),
        }
    }

    /// Read a float entry into `out`, which must have exactly its length.
    pub fn f64s_into(&mut self, name: &str, out: &mut [f64]) -> Result<()> {
        let (e, full) = self.entry(name, Dtype::F64)?;
        if e.len != out.len() as u64 {
            return Err(self.err(format!(
                "entry `{full}` has {} values, this run needs {}",
                e.len,
                out.len()
            )));
        }
        let mut at = 0;
        self.read_raw(&e, &full, |b| {
            for w in b.chunks_exact(8) {
                out[at] = f64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
                at += 1;
            }
        })
    }

    /// A float entry.
    pub fn f64s(&mut self, name: &str) -> Result<Vec<f64>> {
        let n = self.entry(name, Dtype::F64)?.0.len as usize;
        let mut v = vec![0.0; n];
        self.f64s_into(name, &mut v)?;
        Ok(v)
    }

    /// A float entry of exactly `n` finite values (weights, auxiliaries).
    pub fn finite_f64s_into(&mut self, name: &str, out: &mut [f64]) -> Result<()> {
        self.f64s_into(name, out)?;
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(self.err(format!(
                "entry `{}`: value {} at index {i} is not finite",
                self.full(name),
                out[i]
            )));
        }
        Ok(())
    }

    /// A one-value float entry.
    pub fn f64(&mut self, name: &str) -> Result<f64> {
        let mut v = [0.0];
        self.f64s_into(name, &mut v)?;
        Ok(v[0])
    }

    /// An integer entry.
    pub fn u64s(&mut self, name: &str) -> Result<Vec<u64>> {
        let (e, full) = self.entry(name, Dtype::U64)?;
        let mut v = Vec::with_capacity(e.len as usize);
        self.read_raw(&e, &full, |b| {
            v.extend(
                b.chunks_exact(8)
                    .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8]))),
            );
        })?;
        Ok(v)
    }

    /// A byte entry.
    pub fn bytes(&mut self, name: &str) -> Result<Vec<u8>> {
        let (e, full) = self.entry(name, Dtype::U8)?;
        let mut v = Vec::with_capacity(e.len as usize);
        self.read_raw(&e, &full, |b| v.extend_from_slice(b))?;
        Ok(v)
    }

    /// Read every entry once and check its checksum.
    pub fn verify(&mut self) -> Result<()> {
        let saved = std::mem::take(&mut self.prefix);
        let entries = self.header.entries.clone();
        let r = entries
            .iter()
            .try_for_each(|e| self.read_raw(e, &e.name, |_| {}));
        self.prefix = saved;
        r
    }
}

/// CRC-32 of the first `n` bytes of `src`.
fn crc_of_prefix(src: &mut dyn Source, n: u64) -> std::io::Result<u32> {
    src.seek(SeekFrom::Start(0))?;
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut left = n;
    while left > 0 {
        let k = (buf.len() as u64).min(left) as usize;
        src.read_exact(&mut buf[..k])?;
        crc.update(&buf[..k]);
        left -= k as u64;
    }
    Ok(crc.finalize())
}

fn parse_header(path: &Path, bytes: &[u8], at: u64) -> Result<Header> {
    let fail = |reason: String| Error::format(path, reason);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "header (byte {at}): invalid UTF-8 at byte {}",
            at + e.valid_up_to() as u64
        ))
    })?;
    let v: Value = serde_json::from_str(text).map_err(|e| {
        fail(format!(
            "header (byte {at}): line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(obj) = &v else {
        return Err(fail(format!("header (byte {at}): not a JSON object")));
    };
    match obj.get("format") {
        Some(Value::String(s)) if s == CHECKPOINT_FORMAT => {}
        other => {
            return Err(fail(format!(
                "field `format` is {}, expected {CHECKPOINT_FORMAT:?}",
                other.map_or("missing".to_string(), |v| v.to_string())
            )));
        }
    }
    match obj.get("format_version").and_then(Value::as_u64) {
        Some(n) if SUPPORTED_CHECKPOINT_VERSIONS.contains(&n) => {}
        _ => {
            return Err(fail(format!(
                "field `format_version` is {}; this build reads checkpoint versions {SUPPORTED_CHECKPOINT_VERSIONS:?}",
                obj.get("format_version")
                    .map_or("missing".to_string(), |v| v.to_string())
            )));
        }
    }
    serde_json::from_value::<Header>(v).map_err(|e| fail(format!("field `header`: {e}")))
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
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let big: Vec<f64> = (0..10_000).map(|i| (i as f64).sin()).collect();
        let mut w = StateWriter::new();
        w.f64s("big", &big);
        w.f64("nan", f64::NAN);
        w.u64s("ints", vec![1, u64::MAX]);
        w.bytes("blob", vec![1, 2, 3]);
        w.scope("t", |w| {
            w.int("n", 3);
            w.flag("f", true);
            w.text("s", "x");
            w.texts("l", &["a".into(), "b".into()]);
            w.f64s_owned("neg_zero", vec![-0.0, f64::INFINITY]);
        });
        let mut out = Vec::new();
        let n = w.write_to(&mut out).unwrap();
        assert_eq!(n, out.len() as u64);
        out
    }

    #[test]
    fn round_trips_every_type_bit_for_bit() {
        let bytes = sample();
        let p = Path::new("x.ckpt");
        let mut r = StateReader::parse(p, &bytes).unwrap();
        r.verify().unwrap();
        let big = r.f64s("big").unwrap();
        assert_eq!(big[9999].to_bits(), 9999f64.sin().to_bits());
        assert!(r.f64("nan").unwrap().is_nan());
        assert_eq!(r.u64s("ints").unwrap(), vec![1, u64::MAX]);
        assert_eq!(r.bytes("blob").unwrap(), vec![1, 2, 3]);
        r.scope("t", |r| {
            assert_eq!(r.int("n")?, 3);
            assert!(r.flag("f")?);
            assert_eq!(r.text("s")?, "x");
            assert_eq!(r.texts("l")?, vec!["a", "b"]);
            let z = r.f64s("neg_zero")?;
            assert_eq!(z[0].to_bits(), (-0.0f64).to_bits());
            assert_eq!(z[1], f64::INFINITY);
            Ok(())
        })
        .unwrap();
    }

    fn reason(bytes: &[u8]) -> String {
        match StateReader::parse(Path::new("c.sapm"), bytes).and_then(|mut r| r.verify()) {
            Err(Error::Format { path, reason }) => {
                assert_eq!(path, Path::new("c.sapm"));
                reason
            }
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    /// Recompute the whole-file checksum of a checkpoint edited on purpose,
    /// so the check behind it is the one that must refuse it.
    fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
        let n = bytes.len() - 16;
        let crc = crc32fast::hash(&bytes[..n]);
        bytes[n..n + 8].copy_from_slice(&u64::from(crc).to_le_bytes());
        bytes
    }

    /// Each class of broken file has its own message naming the place.
    #[test]
    fn malformed_files_give_specific_errors() {
        let good = sample();
        assert!(reason(&good[..10]).contains("fewer than the 32"));
        let mut m = good.clone();
        m[0] = b'X';
        assert!(reason(&m).contains("not a sapm checkpoint"));
        for cut in [good.len() - 1, good.len() / 2, 30] {
            assert!(reason(&good[..cut]).contains("truncated"), "cut at {cut}");
        }
        // A flipped bit anywhere fails the whole-file checksum, on open.
        for at in [8 + 800, good.len() - 40, good.len() - 12] {
            let mut m = good.clone();
            m[at] ^= 4;
            let e = reason(&m);
            assert!(e.contains("whole-file checksum"), "bit at {at}: {e}");
        }
        // Resealed, a flipped data bit still fails its entry's checksum.
        let mut m = good.clone();
        m[8 + 800] ^= 4;
        let e = reason(&reseal(m));
        assert!(e.contains("entry `big`") && e.contains("checksum"), "{e}");
        // Header length field pointing outside the file.
        let mut m = good.clone();
        let at = m.len() - 24;
        m[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(reason(&m).contains("header length field"));
        // A version-1 file (old end marker) is named as such.
        let mut m = good.clone();
        let at = m.len() - 8;
        m[at..].copy_from_slice(b"SAPMCEND");
        assert!(reason(&m).contains("format version 1"));
        // Edited header: version, format, entry outside the data, duplicate
        // names (resealed, so the checks after the checksum are reached).
        let edit = |from: &str, to: &str| -> Vec<u8> {
            let n = good.len();
            let hlen = u64::from_le_bytes(good[n - 24..n - 16].try_into().unwrap());
            let hstart = n - 24 - hlen as usize;
            let text = std::str::from_utf8(&good[hstart..n - 24]).unwrap();
            assert!(text.contains(from), "{from} not in {text}");
            let text = text.replacen(from, to, 1);
            let mut out = good[..hstart].to_vec();
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(&(text.len() as u64).to_le_bytes());
            out.extend_from_slice(&[0u8; 8]);
            out.extend_from_slice(END_MAGIC);
            reseal(out)
        };
        // The same edit without resealing: refused by the checksum.
        let mut unsealed = edit("\"t.s\":\"x\"", "\"t.s\":\"y\"");
        let k = unsealed.len() - 16;
        unsealed[k..k + 8].copy_from_slice(&good[good.len() - 16..good.len() - 8]);
        assert!(reason(&unsealed).contains("whole-file checksum"));
        assert!(
            StateReader::parse(Path::new("c.sapm"), &edit("\"t.s\":\"x\"", "\"t.s\":\"y\""))
                .is_ok()
        );
        let e = reason(&edit("\"format_version\":2", "\"format_version\":3"));
        assert!(
            e.contains("field `format_version` is 3") && e.contains("[2]"),
            "{e}"
        );
        let e = reason(&edit("\"sapm-checkpoint\"", "\"other\""));
        assert!(e.contains("field `format`"), "{e}");
        let e = reason(&edit("\"len\":10000", "\"len\":10000000"));
        assert!(e.contains("field `entries[0]` (`big`)"), "{e}");
        let e = reason(&edit("\"name\":\"nan\"", "\"name\":\"big\""));
        assert!(e.contains("used twice"), "{e}");
        let e = reason(&edit("\"data_bytes\":", "\"data_bytes\":1"));
        assert!(e.contains("field `data_bytes`"), "{e}");
        let e = reason(&edit("{", "["));
        assert!(e.contains("header") && e.contains("line 1"), "{e}");
        let e = reason(&edit("\"meta\"", "\"extra\":1,\"meta\""));
        assert!(e.contains("field `header`") && e.contains("extra"), "{e}");
        // Typed access errors name the entry or field.
        let mut r = StateReader::parse(Path::new("c.sapm"), &good).unwrap();
        let e = r.f64s("ints").unwrap_err().to_string();
        assert!(e.contains("entry `ints`") && e.contains("U64"), "{e}");
        let e = r.f64s_into("big", &mut [0.0; 3]).unwrap_err().to_string();
        assert!(e.contains("10000 values, this run needs 3"), "{e}");
        let e = r.int("t.s").unwrap_err().to_string();
        assert!(e.contains("field `meta.t.s`"), "{e}");
        let e = r
            .finite_f64s_into("nan", &mut [0.0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not finite"), "{e}");
        assert!(
            r.f64("missing")
                .unwrap_err()
                .to_string()
                .contains("entry `missing` is missing")
        );
    }

    /// Every single-bit change of a checkpoint is refused on open, in the
    /// header (a config edited by one bit was accepted by version 1 and
    /// trained a different model) as much as in the data and the trailer.
    #[test]
    fn every_single_bit_flip_is_refused() {
        let mut w = StateWriter::new();
        w.f64s_owned("w", vec![0.5, -1.25, 3.0]);
        w.text("run.config", "method = \"sapm\"\n[network]\ndepth = 3\n");
        w.int("driver.iteration", 40);
        let mut good = Vec::new();
        w.write_to(&mut good).unwrap();
        StateReader::parse(Path::new("c.sapm"), &good).unwrap();
        for byte in 0..good.len() {
            for bit in 0..8 {
                let mut m = good.clone();
                m[byte] ^= 1 << bit;
                assert!(
                    StateReader::parse(Path::new("c.sapm"), &m).is_err(),
                    "bit {bit} of byte {byte} accepted"
                );
            }
        }
    }

    #[test]
    fn fingerprints_see_every_bit_and_the_shape() {
        let a = [1.0, 2.0];
        let b = [1.0, f64::from_bits(2f64.to_bits() ^ 1)];
        assert_ne!(fingerprint([&a[..]]), fingerprint([&b[..]]));
        assert_ne!(fingerprint([&a[..1], &a[1..]]), fingerprint([&a[..]]));
    }
}
