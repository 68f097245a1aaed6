//! The study crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in a study, a report or a plot. Messages name
/// the study, option, file or value involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No study of that name exists.
    #[error("unknown study {name:?}; known: {known}")]
    UnknownStudy {
        /// The requested name.
        name: String,
        /// Comma-separated list of registered names.
        known: String,
    },
    /// The study is registered but cannot run in this build yet.
    #[error("study {name:?} not available yet: {reason}")]
    NotAvailable {
        /// The study.
        name: String,
        /// What is missing.
        reason: String,
    },
    /// A study option (`study.*` key or command-line budget) is invalid.
    #[error("invalid study option `{key}`: {reason}")]
    Option {
        /// The option, e.g. `study.depths`.
        key: String,
        /// What is wrong, with the offending value.
        reason: String,
    },
    /// An error from the `sapm` library (config, data, training), or a file
    /// that could not be read or written or has unexpected content.
    #[error(transparent)]
    Sapm(#[from] sapm::Error),
    /// Drawing a plot failed.
    #[error("plot {}: {reason}", path.display())]
    Plot {
        /// The output file.
        path: PathBuf,
        /// The backend's message.
        reason: String,
    },
    /// Plot input is unusable (no finite points, grid size mismatch, ...).
    #[error("invalid plot input: {0}")]
    PlotInput(String),
}

impl Error {
    /// An [`Error::Option`].
    pub fn option(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Option {
            key: key.into(),
            reason: reason.into(),
        }
    }
    /// A file that could not be read or written: the library's
    /// [`sapm::Error::Io`], so both crates word it alike.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        sapm::Error::io(path, source).into()
    }
    /// A file with unexpected content: the library's [`sapm::Error::Format`].
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        sapm::Error::format(path, reason).into()
    }
}

/// Result with the study [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
