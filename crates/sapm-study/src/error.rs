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
    /// An error from the `sapm` library (config, data, training).
    #[error(transparent)]
    Sapm(#[from] sapm::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file has unexpected content.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
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
    /// An [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    /// An [`Error::Format`].
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Result with the study [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
