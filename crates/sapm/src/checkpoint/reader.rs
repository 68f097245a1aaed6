//! Reading a checkpoint: [`StateReader`] checks the trailer, the whole-file
//! checksum and the header at once, then reads entries on demand.

use super::*;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

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
    /// The files of the processes that wrote a checkpoint resumed by a
    /// process of a run on several processes (see `recut.rs`).
    pub(super) recut: Option<Box<super::Recut>>,
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
            recut: None,
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
