//! Output files: atomic writes, history CSV, summaries.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Suffix of every temporary file sapm creates next to an output. Such a
/// file left in a run folder by a killed process is removed by the next run
/// that takes the folder's lock ([`crate::outdir::OutDir::open`]).
pub const TEMP_SUFFIX: &str = ".sapm-tmp";

/// An error if `path` is a symbolic link: sapm never writes an output
/// through a link (a link planted in an output folder could point anywhere).
pub fn refuse_symlink(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let to = std::fs::read_link(path)
                .map(|t| format!(" (to {})", t.display()))
                .unwrap_or_default();
            Err(Error::io(
                path,
                std::io::Error::other(format!(
                    "is a symbolic link{to}; sapm does not write outputs through links: remove it or choose another path"
                )),
            ))
        }
        _ => Ok(()),
    }
}

/// Write `bytes` to `path` via a temporary file in the same folder and a
/// rename, so readers never see a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// A new temporary file in `dir` (`.PREFIX.RANDOM.sapm-tmp`), created with
/// `O_EXCL` (an existing file or link of that name is never opened) and the
/// usual permissions (0666 less the umask).
pub fn temp_file_in(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix).suffix(TEMP_SUFFIX).rand_bytes(10);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b.tempfile_in(dir)
}

/// Stream a file to `path` atomically: `fill` writes into a buffered
/// temporary file in the same folder (a fresh name, created with `O_EXCL`),
/// which is then flushed, `fsync`ed and renamed over `path`, and the folder
/// is `fsync`ed so the rename survives a power loss. A rename replaces a
/// name and never follows a link, and `path` itself may not be a link
/// ([`refuse_symlink`]). If `fill` fails, `path` keeps its previous content
/// and the temporary file is removed; after a kill it is left as
/// `.NAME.RANDOM.sapm-tmp` for the next run to clean.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    refuse_symlink(path)?;
    let res = (|| {
        let mut tmp = temp_file_in(dir, &format!(".{name}."))?;
        {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
            fill(&mut w)?;
            w.flush()?;
        }
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        sync_dir(dir);
        Ok(())
    })();
    res.map_err(|e| Error::io(path, e))
}

/// `fsync` a folder so renames in it survive a power loss (best effort:
/// some filesystems refuse to sync a directory).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        // A write that cannot complete (target is a directory) leaves no temp file behind.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(write_atomic(&sub, b"x").is_err());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(TEMP_SUFFIX))
            .collect();
        assert!(leftovers.is_empty());
    }

    /// Temporaries had predictable names (`.NAME.tmpPID`) and were opened
    /// following links: a link planted under that name made a run
    /// overwrite a file outside its folder. Now names are random and
    /// created with O_EXCL, and an output that is a link is refused.
    #[cfg(unix)]
    #[test]
    fn links_in_an_output_folder_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, b"precious").unwrap();
        let out = dir.path().join("run");
        std::fs::create_dir(&out).unwrap();
        // The old predictable temporary name, planted as a link.
        let planted = out.join(format!(".model.json.tmp{}", std::process::id()));
        std::os::unix::fs::symlink(&outside, &planted).unwrap();
        write_atomic(&out.join("model.json"), b"new").unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
        assert_eq!(std::fs::read(out.join("model.json")).unwrap(), b"new");
        // An output that is itself a link is refused, the target untouched.
        let link = out.join("summary.json");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let e = write_atomic(&link, b"x").unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
    }

    /// A write that fails halfway (disk full, a bug in the writer) leaves
    /// the previous file byte for byte and no temporary file.
    #[test]
    fn interrupted_stream_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ckpt");
        write_atomic(&p, b"old complete file").unwrap();
        let e = write_atomic_with(&p, |w| {
            w.write_all(&[7u8; 3 << 20])?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"old complete file");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Outputs get the permissions of any new file (0666 less the
        // umask), not tempfile's private 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let plain = dir.path().join("plain");
            std::fs::write(&plain, b"x").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&p), mode(&plain));
        }
    }
}
