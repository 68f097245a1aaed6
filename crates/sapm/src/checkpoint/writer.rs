//! Writing a checkpoint: [`StateWriter`] collects named arrays and small
//! values, then streams them to the file with their checksums.

use super::*;
use crate::error::Result;
use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

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

pub(super) fn padded(bytes: u64) -> u64 {
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
