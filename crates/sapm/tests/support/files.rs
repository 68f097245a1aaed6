//! Helpers of the validation-on-load tests: fixtures on disk and error checks.
#![allow(dead_code)]

use sapm::Error;
use std::path::{Path, PathBuf};

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write fixture");
    p
}

/// The error as text, after checking it is a `Format` error naming `path`.
pub fn format_error(path: &Path, e: Error) -> String {
    match &e {
        Error::Format { path: p, .. } => assert_eq!(p, path, "{e}"),
        other => panic!(
            "expected a Format error for {}, got {other:?}",
            path.display()
        ),
    }
    let s = e.to_string();
    assert!(s.contains(&path.display().to_string()), "{s}");
    s
}

pub fn assert_has(s: &str, parts: &[&str]) {
    for p in parts {
        assert!(s.contains(p), "{p:?} missing from: {s}");
    }
}
