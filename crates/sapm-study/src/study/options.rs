//! What a study accepts: the command-line [`StudyOptions`], the documented
//! `study.*` options ([`OptionDoc`]) and their typed, checked values ([`Params`]).

use crate::error::{Error, Result};
use serde::Serialize;

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StudyOptions {
    /// `--seeds`: overrides the study's default.
    pub seeds: Option<usize>,
    /// `--iterations`: overrides the study's default.
    pub iterations: Option<usize>,
    /// `--seconds`: overrides the study's default.
    pub seconds: Option<f64>,
    /// `--set key=value`: `study.*` keys are study options, every other key
    /// changes the base training config of all runs (the study's own grid is
    /// applied on top, so `--set` cannot undo what the study varies).
    pub sets: Vec<String>,
    /// `--jobs`: runs at once (0 = one per core).
    pub jobs: usize,
    /// Threads per run (0 = cores / jobs, at least 1).
    pub threads_per_run: usize,
    /// The command line, quoted in the report.
    pub command: String,
}

/// One `study.*` option: name, default and meaning (for docs and errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDoc {
    /// Key, e.g. `study.depths`.
    pub key: &'static str,
    /// Default, as TOML.
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

impl OptionDoc {
    /// The option `key` with its `default` (as TOML) and `meaning`.
    pub const fn new(key: &'static str, default: &'static str, meaning: &'static str) -> Self {
        OptionDoc {
            key,
            default,
            meaning,
        }
    }
}

/// The option every study accepts.
pub const FIRST_SEED: OptionDoc = OptionDoc::new(
    "study.first_seed",
    "0",
    "seeds are first_seed, first_seed + 1, ...",
);

/// `study.*` options as a TOML table, read with typed getters whose errors
/// name the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    table: toml::Table,
}

impl Params {
    /// Parse `study.key=value` strings (the `study.` prefix is required) and
    /// reject keys not in `allowed`.
    pub fn parse(sets: &[String], allowed: &[OptionDoc]) -> Result<Params> {
        let mut root = toml::Table::new();
        for s in sets {
            sapm::config::apply_override(&mut root, s)?;
        }
        let table = match root.remove("study") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => {
                return Err(Error::option(
                    "study",
                    "must be a section (study.KEY=VALUE)",
                ));
            }
            None => toml::Table::new(),
        };
        for k in table.keys() {
            let full = format!("study.{k}");
            if !allowed.iter().any(|o| o.key == full) {
                return Err(Error::option(
                    full,
                    format!(
                        "unknown option; this study knows: {}",
                        allowed.iter().map(|o| o.key).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        Ok(Params { table })
    }

    fn get(&self, key: &str) -> Option<&toml::Value> {
        self.table.get(key)
    }

    /// A non-negative integer.
    pub fn usize(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(toml::Value::Integer(i)) if *i >= 0 => Ok(*i as usize),
            Some(v) => Err(Error::option(
                format!("study.{key}"),
                format!("must be a whole number >= 0, got {v}"),
            )),
        }
    }

    /// A boolean.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(v) => Err(Error::option(
                format!("study.{key}"),
                format!("must be true or false, got {v}"),
            )),
        }
    }

    /// A finite number in `[lo, hi]`.
    pub fn f64(&self, key: &str, default: f64, lo: f64, hi: f64) -> Result<f64> {
        let v = match self.get(key) {
            None => return Ok(default),
            Some(v) => v,
        };
        match v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) {
            Some(x) if x.is_finite() && (lo..=hi).contains(&x) => Ok(x),
            _ => Err(Error::option(
                format!("study.{key}"),
                format!("must be a number in [{lo}, {hi}], got {v}"),
            )),
        }
    }

    /// A non-empty list of finite numbers > 0 (a single number is a one-element list).
    pub fn positive_list(&self, key: &str, default: &[f64]) -> Result<Vec<f64>> {
        let v = match self.get(key) {
            None => return Ok(default.to_vec()),
            Some(v) => v,
        };
        let bad = || {
            Error::option(
                format!("study.{key}"),
                format!("must be a non-empty list of numbers > 0, got {v}"),
            )
        };
        let items: Vec<&toml::Value> = match v {
            toml::Value::Array(a) if !a.is_empty() => a.iter().collect(),
            toml::Value::Integer(_) | toml::Value::Float(_) => vec![v],
            _ => return Err(bad()),
        };
        items
            .into_iter()
            .map(
                |x| match x.as_float().or_else(|| x.as_integer().map(|i| i as f64)) {
                    Some(b) if b.is_finite() && b > 0.0 => Ok(b),
                    _ => Err(bad()),
                },
            )
            .collect()
    }

    /// A non-empty list of whole numbers >= `min` (a single number is a one-element list).
    pub fn usize_list(&self, key: &str, default: &[usize], min: usize) -> Result<Vec<usize>> {
        let bad = |v: &toml::Value| {
            Error::option(
                format!("study.{key}"),
                format!("must be a non-empty list of whole numbers >= {min}, got {v}"),
            )
        };
        let v = match self.get(key) {
            None => return Ok(default.to_vec()),
            Some(v) => v,
        };
        let items: Vec<&toml::Value> = match v {
            toml::Value::Array(a) if !a.is_empty() => a.iter().collect(),
            toml::Value::Integer(_) => vec![v],
            _ => return Err(bad(v)),
        };
        items
            .into_iter()
            .map(|x| match x {
                toml::Value::Integer(i) if *i >= min as i64 => Ok(*i as usize),
                _ => Err(bad(v)),
            })
            .collect()
    }

    /// The items of `all` whose `key` the list `study.{name}` names (all by
    /// default), in `all`'s order.
    pub fn chosen<T: Copy>(
        &self,
        name: &str,
        all: &[T],
        key: impl Fn(&T) -> &str,
    ) -> Result<Vec<T>> {
        let keys: Vec<&str> = all.iter().map(&key).collect();
        let chosen = self.name_list(name, &keys, &keys)?;
        Ok(all
            .iter()
            .filter(|c| chosen.iter().any(|k| k == key(c)))
            .copied()
            .collect())
    }

    /// A non-empty list of names, each one of `known` (a bare word is a one-element list).
    pub fn name_list(&self, key: &str, default: &[&str], known: &[&str]) -> Result<Vec<String>> {
        let bad = |why: String| Error::option(format!("study.{key}"), why);
        let v = match self.get(key) {
            None => return Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(v) => v,
        };
        let items: Vec<String> = match v {
            toml::Value::Array(a) if !a.is_empty() => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("must be a list of names, got {v}")))
                })
                .collect::<Result<_>>()?,
            toml::Value::String(s) => s.split(',').map(|x| x.trim().to_string()).collect(),
            _ => return Err(bad(format!("must be a non-empty list of names, got {v}"))),
        };
        for i in &items {
            if !known.contains(&i.as_str()) {
                return Err(bad(format!(
                    "unknown name {i:?}; known: {}",
                    known.join(", ")
                )));
            }
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_typed_and_checked() {
        let docs = [
            OptionDoc::new("study.depths", "[6]", ""),
            OptionDoc::new("study.methods", "[]", ""),
            OptionDoc::new("study.flag", "false", ""),
        ];
        let p = Params::parse(
            &[
                "study.depths=[3, 4]".into(),
                "study.methods=a,b".into(),
                "study.flag=true".into(),
            ],
            &docs,
        )
        .unwrap();
        assert_eq!(p.usize_list("depths", &[6], 2).unwrap(), [3, 4]);
        assert_eq!(
            p.name_list("methods", &[], &["a", "b", "c"]).unwrap(),
            ["a", "b"]
        );
        assert!(p.bool("flag", false).unwrap());
        assert_eq!(p.usize("missing", 7).unwrap(), 7);
        let e = p.usize_list("depths", &[6], 5).unwrap_err().to_string();
        assert!(e.contains("study.depths") && e.contains(">= 5"), "{e}");
        let e = p.name_list("methods", &[], &["a"]).unwrap_err().to_string();
        assert!(e.contains("\"b\""), "{e}");
        let e = Params::parse(&["study.bogus=1".into()], &docs)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("study.bogus") && e.contains("study.depths"),
            "{e}"
        );
        let e = Params::parse(&["study.depths=[]".into()], &docs)
            .unwrap()
            .usize_list("depths", &[6], 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("non-empty"), "{e}");
    }
}
