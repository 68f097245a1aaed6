//! Scalar expressions of the problem variables, parsed by the `exmex` crate.
//!
//! Syntax (exmex's float operators): `+ - * / ^`, parentheses, `sin cos tan
//! asin acos atan sinh cosh tanh exp ln log sqrt cbrt abs signum floor ceil`,
//! constants `PI`, `π`, `TAU`, `E`. We add the lower-case constant `pi`.
//! Variables are the problem's names (`x`, `t` for the transport problems,
//! `x`, `y`, `z` for custom problems unless `pde.vars` renames them).

use crate::error::{Error, Result};
use exmex::prelude::*;

/// A parsed expression with its variables mapped to problem coordinates.
#[derive(Debug, Clone)]
pub struct Expr {
    text: String,
    flat: FlatEx<f64>,
    /// For each exmex variable (alphabetical order): the coordinate index, or
    /// `None` for the constant `pi`.
    slots: Vec<Option<usize>>,
}

impl Expr {
    /// Parse `text`; `key` (e.g. `pde.g`) names the config entry in errors,
    /// `vars` are the allowed variable names in coordinate order.
    ///
    /// ```
    /// use sapm::pde::Expr;
    /// let e = Expr::parse("pde.g", "sin(2*pi*x) + t^2", &["x".into(), "t".into()]).unwrap();
    /// assert!((e.eval(&[0.25, 3.0]) - 10.0).abs() < 1e-12);
    /// let err = Expr::parse("pde.f", "sin(x", &["x".into()]).unwrap_err().to_string();
    /// assert!(err.contains("pde.f"));
    /// ```
    pub fn parse(key: &str, text: &str, vars: &[String]) -> Result<Expr> {
        let flat = exmex::parse::<f64>(text)
            .map_err(|e| Error::config(key, format!("cannot parse {text:?}: {e}")))?;
        let mut slots = Vec::new();
        for name in flat.var_names() {
            if let Some(i) = vars.iter().position(|v| v == name) {
                slots.push(Some(i));
            } else if name == "pi" {
                slots.push(None);
            } else {
                return Err(Error::config(
                    key,
                    format!(
                        "unknown variable `{name}` in {text:?}; known: {} and the constant pi",
                        vars.join(", ")
                    ),
                ));
            }
        }
        Ok(Expr {
            text: text.to_string(),
            flat,
            slots,
        })
    }

    /// The source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Value at the point `x` (coordinates in `vars` order). Evaluation errors
    /// (impossible after a successful parse with the right variables) give NaN,
    /// which the sampler then reports with the point.
    pub fn eval(&self, x: &[f64]) -> f64 {
        let vals: Vec<f64> = self
            .slots
            .iter()
            .map(|s| s.map_or(std::f64::consts::PI, |i| x[i]))
            .collect();
        self.flat.eval(&vals).unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn variables_map_by_name_not_alphabet() {
        // exmex orders variables alphabetically (t before x); we map by name.
        let e = Expr::parse("k", "x - 10*t", &v(&["x", "t"])).unwrap();
        assert_eq!(e.eval(&[1.0, 2.0]), -19.0);
        let c = Expr::parse("k", "2.5", &v(&["x"])).unwrap();
        assert_eq!(c.eval(&[7.0]), 2.5);
        let p = Expr::parse("k", "pi + PI", &v(&["x"])).unwrap();
        assert!((p.eval(&[0.0]) - 2.0 * std::f64::consts::PI).abs() < 1e-15);
    }

    #[test]
    fn errors_name_the_key() {
        for (text, why) in [("sin(x", "parse"), ("x + w", "unknown variable `w`")] {
            let e = Expr::parse("pde.c[1]", text, &v(&["x", "y"]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("pde.c[1]") && e.contains(why), "{e}");
        }
    }
}
