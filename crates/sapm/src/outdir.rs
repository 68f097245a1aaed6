//! A run's output folder: confined, locked, probed, published all at once.
//!
//! [`OutDir::open`] refuses a folder that is a symbolic link, creates it if
//! missing, takes an exclusive advisory lock (`flock` on `.sapm.lock`; a
//! second run into the same folder is refused while the first holds it),
//! finishes or removes what a killed run left (staging folders, temporary
//! files) and can probe that the folder is writable and has room
//! ([`OutDir::probe`]) before any training starts.
//!
//! Outputs are written into a staging folder inside it ([`Staging`]) and
//! published together: a manifest is written last into the staging folder,
//! then each file is renamed into place (`summary.json` last) and stale
//! files of an earlier run are removed. A failure while writing (disk full)
//! leaves the previous run's files untouched; a kill during the renames
//! leaves the manifest, and the next [`OutDir::open`] completes them. So the
//! folder holds one consistent run: never a new `model.json` next to an old
//! `summary.json`.

use crate::error::{Error, Result};
use crate::io::{TEMP_SUFFIX, refuse_symlink, sync_dir, temp_file_in};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file inside an output folder.
pub const LOCK_FILE: &str = ".sapm.lock";
/// Prefix of staging folders inside an output folder.
pub const STAGING_PREFIX: &str = ".sapm-staging-";
/// Written last into a staging folder: what to publish and remove.
const MANIFEST: &str = "MANIFEST";

/// An output folder held by this process (see the module docs).
#[derive(Debug)]
pub struct OutDir {
    path: PathBuf,
    _lock: File,
    created: bool,
    cleaned: usize,
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::io(path, std::io::Error::new(e.kind(), format!("{what}: {e}")))
}

impl OutDir {
    /// Open (creating if missing) and lock the output folder `path`.
    ///
    /// Refused: `path` is a symbolic link (give the real folder; links in
    /// the parents are fine) or not a folder, or another process holds the
    /// lock (the message names its pid).
    pub fn open(path: &Path) -> Result<OutDir> {
        refuse_symlink(path)?;
        let created = match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => false,
            Ok(_) => {
                return Err(Error::io(
                    path,
                    std::io::Error::other("exists and is not a folder"),
                ));
            }
            Err(_) => {
                std::fs::create_dir_all(path)
                    .map_err(|e| io_err(path, "cannot create the output folder", e))?;
                true
            }
        };
        let lock = match lock_folder(path) {
            Ok(f) => f,
            Err(e) => {
                if created {
                    let _ = std::fs::remove_file(path.join(LOCK_FILE));
                    let _ = std::fs::remove_dir(path);
                }
                return Err(e);
            }
        };
        let mut out = OutDir {
            path: path.to_path_buf(),
            _lock: lock,
            created,
            cleaned: 0,
        };
        out.cleaned = out.recover()?;
        Ok(out)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether [`OutDir::open`] created the folder.
    pub fn created(&self) -> bool {
        self.created
    }

    /// Leftovers of a killed run removed or completed when opening.
    pub fn cleaned(&self) -> usize {
        self.cleaned
    }

    /// Check before training that the folder takes a file (a read-only
    /// folder or filesystem fails here) and that its filesystem has at least
    /// `need_bytes` free (a full disk fails here, not after hours of training).
    pub fn probe(&self, need_bytes: u64) -> Result<()> {
        let fail = |e: std::io::Error| {
            io_err(
                &self.path,
                "cannot write a test file into the output folder (read-only or full?)",
                e,
            )
        };
        let mut f = temp_file_in(&self.path, ".probe.").map_err(fail)?;
        f.write_all(&[0u8; 64 << 10]).map_err(fail)?;
        f.as_file().sync_all().map_err(fail)?;
        drop(f);
        if let Some(free) = free_bytes(&self.path)
            && free < need_bytes
        {
            return Err(Error::io(
                &self.path,
                std::io::Error::other(format!(
                    "only {} free, the run's outputs and checkpoint need about {}",
                    crate::memory::human(free as f64),
                    crate::memory::human(need_bytes as f64)
                )),
            ));
        }
        Ok(())
    }

    /// A new staging folder for this run's outputs.
    pub fn stage(&self) -> Result<Staging<'_>> {
        let dir = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .rand_bytes(10)
            .tempdir_in(&self.path)
            .map_err(|e| io_err(&self.path, "cannot create a staging folder", e))?
            .keep();
        Ok(Staging {
            out: self,
            dir,
            puts: Vec::new(),
            dels: Vec::new(),
            published: false,
        })
    }

    /// After a failed run: if [`OutDir::open`] created the folder, remove it
    /// again when nothing but the lock file is in it (an error in the spec or
    /// the data leaves no empty folder behind).
    pub fn abandon(self) {
        if self.created {
            let _ = std::fs::remove_file(self.path.join(LOCK_FILE));
            let _ = std::fs::remove_dir(&self.path);
        }
    }

    /// Complete published staging folders (their manifest exists), remove
    /// unpublished ones and temporary files. Runs with the lock held, so
    /// nothing here belongs to a live run.
    fn recover(&self) -> Result<usize> {
        let mut n = 0;
        let entries =
            std::fs::read_dir(&self.path).map_err(|e| io_err(&self.path, "cannot list", e))?;
        let mut windows = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if name.starts_with(STAGING_PREFIX) && meta.is_dir() {
                if p.join(MANIFEST).is_file() {
                    apply(&self.path, &p)?;
                } else {
                    std::fs::remove_dir_all(&p)
                        .map_err(|e| io_err(&p, "cannot remove a stale staging folder", e))?;
                }
                n += 1;
            } else if is_temp_name(&name) && !meta.is_dir() {
                std::fs::remove_file(&p)
                    .map_err(|e| io_err(&p, "cannot remove a stale temporary file", e))?;
                n += 1;
            } else if meta.is_dir() && is_window(&name) {
                windows.push(p);
            }
        }
        for w in windows {
            for e in std::fs::read_dir(&w).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if is_temp_name(&name) && e.file_type().is_ok_and(|t| !t.is_dir()) {
                    let _ = std::fs::remove_file(e.path());
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

/// `.NAME.RANDOM.sapm-tmp` (ours), or `.NAME.tmpPID` (earlier versions).
fn is_temp_name(name: &str) -> bool {
    if !name.starts_with('.') {
        return false;
    }
    if name.ends_with(TEMP_SUFFIX) {
        return true;
    }
    name.rsplit_once(".tmp")
        .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// `window-K` folders of a time-marching run.
pub fn is_window(name: &str) -> bool {
    name.strip_prefix("window-")
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

fn lock_folder(dir: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let p = dir.join(LOCK_FILE);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&p)
        .map_err(|e| {
            io_err(
                &p,
                "cannot open the lock file (read-only folder, or a link?)",
                e,
            )
        })?;
    // SAFETY: flock on a file descriptor this function owns.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(Error::io(
                dir,
                std::io::Error::other(format!(
                    "another sapm run{} is writing to this folder (lock {}); wait for it to finish or choose another --out",
                    if pid.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {pid})")
                    },
                    p.display()
                )),
            ));
        }
        return Err(io_err(&p, "cannot lock", e));
    }
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = writeln!(f, "{}", std::process::id());
    Ok(f)
}

/// Free bytes for an unprivileged user on the filesystem of `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes one struct into the valid pointer; `c` is a NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    (rc == 0).then(|| (s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
}

/// Outputs being written; nothing in the output folder changes until
/// [`Staging::publish`]. Dropped unpublished, the staging folder is removed.
#[derive(Debug)]
pub struct Staging<'o> {
    out: &'o OutDir,
    dir: PathBuf,
    puts: Vec<String>,
    dels: Vec<String>,
    published: bool,
}

/// A relative output path: one or two plain components (`model.json`,
/// `window-3/model.json`).
fn check_rel(rel: &str) -> Result<()> {
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.is_empty()
        || parts.len() > 2
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\n'))
    {
        return Err(Error::io(
            rel,
            std::io::Error::other("not a plain relative output path"),
        ));
    }
    Ok(())
}

impl Staging<'_> {
    /// Write the output `rel` (e.g. `window-2/model.json`) into the staging folder.
    pub fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.write_with(rel, |w| w.write_all(bytes))
    }

    /// Stream the output `rel` into the staging folder (flushed and `fsync`ed).
    pub fn write_with(
        &mut self,
        rel: &str,
        fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        check_rel(rel)?;
        let target = self.out.path.join(rel);
        refuse_symlink(&target)?;
        let p = self.dir.join(rel);
        let res = (|| {
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&p)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            fill(&mut w)?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()
        })();
        res.map_err(|e| Error::io(&target, e))?;
        self.puts.retain(|r| r != rel);
        self.puts.push(rel.to_string());
        Ok(())
    }

    /// Remove `rel` (a file, or a `window-K` folder) from the output folder
    /// when publishing, if it is there: a stale output of an earlier run.
    pub fn remove(&mut self, rel: &str) -> Result<()> {
        check_rel(rel)?;
        if !self.dels.iter().any(|r| r == rel) {
            self.dels.push(rel.to_string());
        }
        Ok(())
    }

    /// Move every staged file into the output folder (`summary.json` files
    /// last) and remove the stale ones, completed even after a kill (see the
    /// module docs).
    pub fn publish(mut self) -> Result<()> {
        for rel in &self.puts {
            refuse_symlink(&self.out.path.join(rel))?;
            if let Some((d, _)) = rel.split_once('/') {
                refuse_symlink(&self.out.path.join(d))?;
            }
        }
        let mut puts = self.puts.clone();
        puts.sort_by_key(|r| r.ends_with("summary.json"));
        let mut text = String::new();
        for r in &self.dels {
            text.push_str(&format!("del {r}\n"));
        }
        for r in &puts {
            text.push_str(&format!("put {r}\n"));
        }
        let manifest = self.dir.join(MANIFEST);
        let res = (|| {
            let mut tmp = temp_file_in(&self.dir, ".manifest.")?;
            tmp.write_all(text.as_bytes())?;
            tmp.as_file().sync_all()?;
            tmp.persist(&manifest).map_err(|e| e.error)?;
            sync_dir(&self.dir);
            Ok(())
        })();
        res.map_err(|e| io_err(&manifest, "cannot write the publication manifest", e))?;
        self.published = true;
        apply(&self.out.path, &self.dir)
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Carry out the manifest of `staging` in `out`, then remove `staging`.
/// Idempotent: files already moved are skipped.
fn apply(out: &Path, staging: &Path) -> Result<()> {
    let manifest = staging.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| io_err(&manifest, "cannot read the publication manifest", e))?;
    let mut dirs = vec![out.to_path_buf()];
    for line in text.lines() {
        let (op, rel) = line.split_once(' ').unwrap_or(("", line));
        check_rel(rel)?;
        let target = out.join(rel);
        let fail = |what: &str, e: std::io::Error| io_err(&target, what, e);
        match op {
            "del" => match std::fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => {
                    std::fs::remove_dir_all(&target)
                        .map_err(|e| fail("cannot remove a stale output folder", e))?;
                }
                Ok(_) => {
                    std::fs::remove_file(&target)
                        .map_err(|e| fail("cannot remove a stale output", e))?;
                }
                Err(_) => {}
            },
            "put" => {
                let src = staging.join(rel);
                if !src.exists() {
                    continue; // moved before a kill
                }
                if let Some(parent) = target.parent()
                    && parent != out
                {
                    match std::fs::symlink_metadata(parent) {
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            refuse_symlink(parent)?;
                            return Err(Error::io(
                                parent,
                                std::io::Error::other("exists and is not a folder"),
                            ));
                        }
                        Err(_) => std::fs::create_dir(parent)
                            .map_err(|e| fail("cannot create the folder", e))?,
                    }
                    if !dirs.iter().any(|d| d == parent) {
                        dirs.push(parent.to_path_buf());
                    }
                }
                std::fs::rename(&src, &target).map_err(|e| fail("cannot publish", e))?;
            }
            _ => {
                return Err(Error::format(
                    &manifest,
                    format!("unreadable line {}", crate::error::quoted(line)),
                ));
            }
        }
    }
    for d in &dirs {
        sync_dir(d);
    }
    std::fs::remove_dir_all(staging)
        .map_err(|e| io_err(staging, "cannot remove the staging folder", e))?;
    sync_dir(out);
    Ok(())
}

#[cfg(test)]
mod tests;
