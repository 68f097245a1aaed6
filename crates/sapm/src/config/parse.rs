//! From TOML text to a config table: config-relative data paths, numbers
//! coerced to text keys, `--set key=value` overrides and error positions.

use super::*;

/// Most dotted parts in an override key (`section.key` needs 2).
const MAX_KEY_PARTS: usize = 8;

pub(super) fn rebase_paths(table: &mut toml::Table, dir: &Path) {
    if let Some(toml::Value::Table(data)) = table.get_mut("data") {
        for key in ["train", "test"] {
            if let Some(toml::Value::String(s)) = data.get_mut(key) {
                let p = Path::new(s.as_str());
                if p.is_relative() {
                    *s = dir.join(p).to_string_lossy().into_owned();
                }
            }
        }
    }
}

/// Deserialise the merged table. A string-valued key that an override set to
/// a number, boolean or array of them (`--set pde.f=0`: TOML reads `0` as an
/// integer) takes the override's text instead, as if it had been quoted.
pub(super) fn deserialize_coercing(
    table: &mut toml::Table,
    overrides: &[String],
) -> std::result::Result<TrainConfig, toml::de::Error> {
    loop {
        let e = match toml::Value::Table(table.clone()).try_into::<TrainConfig>() {
            Ok(c) => return Ok(c),
            Err(e) => e,
        };
        if !e.message().contains("expected a string") {
            return Err(e);
        }
        let shown = e.to_string();
        let Some((_, key)) = shown.trim_end().rsplit_once("\nin `") else {
            return Err(e);
        };
        let key = key.trim_end_matches('`');
        let Some(raw) = overrides.iter().rev().find_map(|o| {
            let (k, v) = o.split_once('=')?;
            (k.trim() == key).then(|| v.trim())
        }) else {
            return Err(e);
        };
        let (parents, last) = key.rsplit_once('.').unwrap_or(("", key));
        let parent =
            parents
                .split('.')
                .filter(|p| !p.is_empty())
                .try_fold(&mut *table, |t, part| match t.get_mut(part) {
                    Some(toml::Value::Table(inner)) => Some(inner),
                    _ => None,
                });
        let Some(v) = parent.and_then(|t| t.get_mut(last)) else {
            return Err(e);
        };
        let text = |v: &toml::Value| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let new = match v {
            toml::Value::String(_) | toml::Value::Table(_) => return Err(e),
            toml::Value::Array(items) if items.iter().all(|i| !i.is_table()) => {
                toml::Value::Array(items.iter().map(|i| toml::Value::String(text(i))).collect())
            }
            toml::Value::Array(_) => return Err(e),
            _ => toml::Value::String(raw.to_string()),
        };
        if *v == new {
            return Err(e);
        }
        *v = new;
    }
}

/// `line L, column C: message` for a TOML syntax error. The toml crate's own
/// rendering quotes the whole offending line, which can be megabytes long.
pub(super) fn toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => format!("{}: {}", position(text, span.start), e.message()),
        None if e.message().contains("recursion limit") => {
            "tables or arrays nest deeper than the TOML parser's recursion limit".into()
        }
        None => e.message().to_string(),
    }
}

/// `line L, column C` (1-based, columns in characters) of byte `at`.
pub(super) fn position(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let before = text.as_bytes()[..at].iter().rposition(|&b| b == b'\n');
    let line = 1 + text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let start = before.map_or(0, |i| i + 1);
    let column = 1 + String::from_utf8_lossy(&text.as_bytes()[start..at])
        .chars()
        .count();
    format!("line {line}, column {column}")
}

/// Describe an error from deserialising the merged table: the key (from the
/// error's `in `a.b`` suffix), the line when `direct` located it in the file,
/// else a note that overrides took part.
pub(super) fn conversion_error(
    text: &str,
    e: &toml::de::Error,
    direct: Option<&toml::de::Error>,
    overrides: &[String],
) -> String {
    let shown = e.to_string();
    let key = shown
        .trim_end()
        .rsplit_once("\nin `")
        .map(|(_, k)| format!("key `{}", k.trim_end()));
    let mut place: Vec<String> = Vec::new();
    if let Some(at) = direct.and_then(|d| d.span()) {
        place.push(position(text, at.start));
    }
    place.extend(key);
    if direct.is_none() && !overrides.is_empty() {
        place.push("after applying the overrides".into());
    }
    let message = direct.map_or(e.message(), |d| d.message());
    if place.is_empty() {
        message.to_string()
    } else {
        format!("{}: {message}", place.join(", "))
    }
}

/// The override `key=value` that sets `key` to `value` exactly, for callers
/// that hold typed values rather than command-line text (the Python package):
/// strings are quoted and escaped, floats written to round-trip, arrays and
/// tables inline. [`apply_override`] of the result sets the same value.
///
/// ```
/// use sapm::config::{apply_override, override_arg};
/// let arg = override_arg("pde.f", &toml::Value::String("sin(x) \"q\"".into()));
/// let mut t = toml::Table::new();
/// apply_override(&mut t, &arg).unwrap();
/// assert_eq!(t["pde"]["f"].as_str(), Some("sin(x) \"q\""));
/// ```
pub fn override_arg(key: &str, value: &toml::Value) -> String {
    format!("{key}={value}")
}

/// Apply one `a.b.c=value` override to a TOML table.
pub fn apply_override(table: &mut toml::Table, o: &str) -> Result<()> {
    let (key, raw) = o.split_once('=').ok_or_else(|| {
        Error::ConfigParse(format!(
            "override {} is not of the form key=value",
            crate::error::quoted(o)
        ))
    })?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(Error::ConfigParse(format!(
            "override {} has an empty key",
            crate::error::quoted(o)
        )));
    }
    let raw = raw.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    // Each part nests a table; refuse absurd depths before building them.
    if parts.len() > MAX_KEY_PARTS {
        return Err(Error::ConfigParse(format!(
            "override key has {} parts; config keys have at most {MAX_KEY_PARTS}",
            parts.len()
        )));
    }
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(Error::ConfigParse(format!(
                    "override {}: `{p}` is not a section",
                    crate::error::quoted(o)
                )));
            }
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}
