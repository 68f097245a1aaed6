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
    /// Not enough memory or room for what was asked (the message names the
    /// estimate and the limit).
    #[error("{0}")]
    Resource(String),
    /// Ctrl-C or SIGTERM stopped a phase that writes nothing partial.
    #[error("interrupted: {0}")]
    Interrupted(String),
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

/// Most characters of a user's value quoted in an error message.
pub const MAX_QUOTED: usize = 200;

/// Most characters of a whole error message (the rest is cut and counted).
pub const MAX_MESSAGE: usize = 4000;

/// `text` quoted as `{:?}` does, but cut to [`MAX_QUOTED`] characters with
/// its full size appended: `"abcd..." (10485760 bytes)`. Error messages quote
/// user input; a 10 MB field must not come back as a 10 MB message.
pub fn quoted(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED) {
        None => format!("{text:?}"),
        Some((cut, _)) => {
            let q = format!("{:?}", &text[..cut]);
            format!("{}...\" ({} bytes)", &q[..q.len() - 1], text.len())
        }
    }
}

/// `items` listed as `{:?}` does, each quoted with [`quoted`], at most 20
/// of them (`["a", "b", ... 9998 more]`).
pub fn quoted_list(items: &[String]) -> String {
    let mut parts: Vec<String> = items.iter().take(20).map(|s| quoted(s)).collect();
    if items.len() > 20 {
        parts.push(format!("... {} more", items.len() - 20));
    }
    format!("[{}]", parts.join(", "))
}

/// A safety net for messages built elsewhere (other crates quote values
/// too): every span in double quotes or backticks longer than
/// [`MAX_QUOTED`] characters is cut as [`quoted`] cuts, and the message to
/// [`MAX_MESSAGE`] characters.
pub fn clip_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(MAX_MESSAGE + 64));
    let mut rest = msg;
    while let Some(open) = rest.find(['"', '`']) {
        let q = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=open]);
        let body = &rest[open + 1..];
        // The closing quote: the first one not escaped by a backslash.
        let mut close = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            if c == '\\' && q == '"' && !escaped {
                escaped = true;
                continue;
            }
            if c == q && !escaped {
                close = Some(i);
                break;
            }
            escaped = false;
        }
        let Some(close) = close else {
            rest = body;
            break;
        };
        let inner = &body[..close];
        // `quoted` output (MAX_QUOTED characters and "...") passes as it is.
        match inner.char_indices().nth(MAX_QUOTED + 3) {
            Some(_) => {
                let cut = inner.char_indices().nth(MAX_QUOTED).map_or(0, |c| c.0);
                out.push_str(&inner[..cut]);
                out.push_str(&format!("...{q} ({} bytes)", inner.len()));
            }
            None => {
                out.push_str(inner);
                out.push(q);
            }
        }
        rest = &body[close + 1..];
    }
    out.push_str(rest);
    match out.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!(
            "{}... (message cut: {} bytes in all)",
            &out[..cut],
            out.len()
        ),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_in_messages() {
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        let big = "é".repeat(5_000_000);
        let q = quoted(&big);
        assert!(q.len() < 600 && q.ends_with("\" (10000000 bytes)"), "{q}");
        let names: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
        let l = quoted_list(&names);
        assert!(
            l.starts_with("[\"c0\", ") && l.ends_with("... 980 more]"),
            "{l}"
        );
        let msg = format!(
            "line 3: {:?} is not a number; next \"ok\"",
            "x".repeat(1 << 20)
        );
        let c = clip_message(&msg);
        assert!(c.len() < 400, "{} bytes", c.len());
        assert!(
            c.contains("(1048576 bytes)") && c.ends_with("next \"ok\""),
            "{c}"
        );
        let c = clip_message(&"y".repeat(1 << 20));
        assert!(
            c.len() < MAX_MESSAGE + 100 && c.contains("message cut"),
            "{}",
            c.len()
        );
        assert_eq!(clip_message("no \"quote"), "no \"quote");
        // Already cut by `quoted`: left as it is.
        let q = format!("line 3: {} is not a number", quoted(&"9".repeat(5000)));
        assert_eq!(clip_message(&q), q);
        let c = clip_message(&format!(
            "unknown variant `{}`, expected `a`",
            "z".repeat(5000)
        ));
        assert!(c.len() < 300 && c.ends_with("expected `a`"), "{c}");
    }

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<super::Error>();
    }
}
