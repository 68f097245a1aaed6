//! The library's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the library. Messages name the offending
/// file, key, row or value so a user can fix the input without reading code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has an invalid value.
    #[error("invalid config value for `{key}`: {reason}")]
    Config {
        /// Dotted key path, e.g. `sapm.tau`.
        key: String,
        /// What is wrong, with the offending value.
        reason: String,
    },
    /// A config file or override could not be parsed.
    #[error("config error: {0}")]
    ConfigParse(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A data or model file is malformed.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file (or a label such as `<memory>`).
        path: PathBuf,
        /// What is wrong, with row/column/field where known.
        reason: String,
    },
    /// Dimensions that should agree do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// Which object.
        what: String,
        /// Expected size.
        expected: String,
        /// Actual size.
        got: String,
    },
    /// Data values are unusable (NaN, Inf, empty).
    #[error("invalid data: {0}")]
    Data(String),
    /// A PDE problem specification is invalid.
    #[error("invalid problem: {0}")]
    Problem(String),
    /// A numerical kernel failed (not positive definite, non-finite result).
    #[error("numerical failure in {what}: {reason}")]
    Numerical {
        /// Which kernel.
        what: String,
        /// What happened.
        reason: String,
    },
}

/// Library result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::Config`].
    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Format`].
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Shape`].
    pub fn shape(what: impl Into<String>, expected: impl ToString, got: impl ToString) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Numerical`].
    pub fn numerical(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Numerical {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<super::Error>();
    }
}
