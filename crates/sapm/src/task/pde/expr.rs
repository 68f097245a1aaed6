//! Scalar expressions of the problem variables, parsed by the `exmex` crate.
//!
//! Syntax (exmex's float operators): `+ - * / ^`, parentheses, `sin cos tan
//! asin acos atan sinh cosh tanh exp ln log sqrt cbrt abs signum floor ceil`,
//! constants `PI`, `π`, `TAU`, `E`. We add the lower-case constant `pi` and
//! numbers in scientific notation (`1.5e-3`).
//! Variables are the problem's names (`x`, `t` for the transport problems,
//! `x`, `y`, `z` for custom problems unless `pde.vars` renames them).
//!
//! Precedence is the usual mathematical one: exmex binds a unary minus
//! tighter than `^` (`-x^2` would be `(-x)^2`), so before parsing we wrap
//! every negated power as `-(x^2)`. exmex also reads `a^b^c` as `(a^b)^c`
//! where mathematics reads `a^(b^c)`; rather than guess, such chains are
//! refused and must be parenthesised.

use crate::error::{Error, Result};
use exmex::prelude::*;
use exmex::{FloatOpsFactory, MatchLiteral};

/// Number literals: exmex's own (`12`, `1.5`, `.5`) plus an exponent (`1e-3`, `2.5E+4`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct SciMatcher;

impl MatchLiteral for SciMatcher {
    fn is_literal(text: &str) -> Option<&str> {
        let n = number_len(text);
        (n > 0).then(|| &text[..n])
    }
}

/// Longest accepted expression: bounds the parsers' recursion and work.
const MAX_LEN: usize = 4096;

type Flat = FlatEx<f64, FloatOpsFactory<f64>, SciMatcher>;

/// Byte length of the number literal at the start of `text` (0 if none).
fn number_len(text: &str) -> usize {
    let b = text.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(0);
    let int_digits = i;
    if i < b.len() && b[i] == b'.' {
        let j = digits(i + 1);
        if int_digits == 0 && j == i + 1 {
            return 0; // a lone "."
        }
        i = j;
    }
    if i == 0 {
        return 0;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let k = digits(j);
        if k > j {
            i = k; // only with exponent digits: `2e` stays `2` times `e`
        }
    }
    i
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Num,
    Name,
    Open,
    Close,
    Comma,
    Op(char),
}

/// Tokens with their byte ranges.
fn tokenize(text: &str) -> Vec<(Tok, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let len = c.len_utf8();
        let (tok, end) = if c.is_whitespace() {
            i += len;
            continue;
        } else if let n @ 1.. = number_len(&text[i..]) {
            (Tok::Num, i + n)
        } else if c.is_alphabetic() || c == '_' {
            let n = text[i..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - i);
            (Tok::Name, i + n)
        } else {
            let tok = match c {
                '(' => Tok::Open,
                ')' => Tok::Close,
                ',' => Tok::Comma,
                _ => Tok::Op(c),
            };
            (tok, i + len)
        };
        out.push((tok, i, end));
        i = end;
    }
    out
}

/// Index after the operand starting at token `k` (a signed power chain after
/// a unary sign), or `None` if the tokens do not form one.
fn operand_end(t: &[(Tok, usize, usize)], k: usize) -> Option<usize> {
    match t.get(k)?.0 {
        Tok::Op('-' | '+') => chain_end(t, k + 1).map(|(e, _)| e),
        Tok::Num => Some(k + 1),
        Tok::Name if matches!(t.get(k + 1), Some((Tok::Open, ..))) => close_of(t, k + 1),
        Tok::Name => Some(k + 1),
        Tok::Open => close_of(t, k),
        _ => None,
    }
}

/// Index after the matching `)` of the `(` at `k`.
fn close_of(t: &[(Tok, usize, usize)], k: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, tok) in t.iter().enumerate().skip(k) {
        match tok.0 {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// End of the power chain `operand (^ operand)*` starting at `k`, and its number of `^`.
fn chain_end(t: &[(Tok, usize, usize)], k: usize) -> Option<(usize, usize)> {
    let mut j = operand_end(t, k)?;
    let mut powers = 0;
    while matches!(t.get(j), Some((Tok::Op('^'), ..))) {
        j = operand_end(t, j + 1)?;
        powers += 1;
    }
    Some((j, powers))
}

/// `text` with every negated power wrapped (`-x^2` -> `-(x^2)`), or why it is
/// refused. Text it cannot analyse is returned unchanged for exmex to report.
fn standard_precedence(text: &str) -> std::result::Result<String, String> {
    let t = tokenize(text);
    let mut inserts: Vec<(usize, char)> = Vec::new();
    for (i, tok) in t.iter().enumerate() {
        let unary = i == 0 || matches!(t[i - 1].0, Tok::Open | Tok::Comma | Tok::Op(_));
        match tok.0 {
            Tok::Op('-') if unary => {
                if let Some((end, 1..)) = chain_end(&t, i + 1) {
                    inserts.push((t[i + 1].1, '('));
                    inserts.push((t[end - 1].2, ')'));
                }
            }
            Tok::Op('^') => {
                if let Some(end) = operand_end(&t, i + 1)
                    && matches!(t.get(end), Some((Tok::Op('^'), ..)))
                {
                    return Err(format!(
                        "`{}` chains powers without parentheses; write `a^(b^c)` or `(a^b)^c`",
                        &text[t[i.saturating_sub(1)].1..t[end].2]
                    ));
                }
            }
            _ => {}
        }
    }
    // Later positions first so earlier offsets stay valid; `)` before `(` at a tie.
    inserts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out = text.to_string();
    for (at, c) in inserts {
        out.insert(at, c);
    }
    Ok(out)
}

/// A parsed expression with its variables mapped to problem coordinates.
#[derive(Debug, Clone)]
pub struct Expr {
    text: String,
    flat: Flat,
    /// For each exmex variable (alphabetical order): the coordinate index, or
    /// `None` for the constant `pi`.
    slots: Vec<Option<usize>>,
}

impl Expr {
    /// Parse `text`; `key` (e.g. `pde.g`) names the config entry in errors,
    /// `vars` are the allowed variable names in coordinate order.
    ///
    /// ```
    /// use sapm::task::pde::Expr;
    /// let e = Expr::parse("pde.g", "sin(2*pi*x) + t^2", &["x".into(), "t".into()]).unwrap();
    /// assert!((e.eval(&[0.25, 3.0]) - 10.0).abs() < 1e-12);
    /// let err = Expr::parse("pde.f", "sin(x", &["x".into()]).unwrap_err().to_string();
    /// assert!(err.contains("pde.f"));
    /// ```
    pub fn parse(key: &str, text: &str, vars: &[String]) -> Result<Expr> {
        if text.len() > MAX_LEN {
            return Err(Error::config(
                key,
                format!(
                    "expression of {} bytes; at most {MAX_LEN} are accepted",
                    text.len()
                ),
            ));
        }
        let bad = |why: String| {
            Error::config(
                key,
                format!("cannot parse {}: {why}", crate::error::quoted(text)),
            )
        };
        let standard = standard_precedence(text).map_err(bad)?;
        let flat = Flat::parse(&standard).map_err(|e| bad(e.to_string()))?;
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
                        "unknown variable `{name}` in {}; known: {} and the constant pi",
                        crate::error::quoted(text),
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

    /// Whether the expression is the constant 0 (no variables, value 0):
    /// such coefficients are left out of the operator's structure.
    pub fn is_constant_zero(&self) -> bool {
        self.slots.iter().all(Option::is_none) && self.eval(&[]) == 0.0
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
    fn precedence_is_the_mathematical_one() {
        let x = [3.0, 2.0];
        let val = |text: &str| Expr::parse("k", text, &v(&["x", "t"])).unwrap().eval(&x);
        for (text, want) in [
            ("-x^2", -9.0),
            ("-2^2", -4.0),
            ("exp(-x^2)", (-9.0f64).exp()),
            ("exp(-(x - t)^2 / 0.5)", (-2.0f64).exp()),
            ("1 - -x^2", 10.0),
            ("--x^2", 9.0),
            ("-sin(x)^2", -(3.0f64.sin().powi(2))),
            ("2^-x", 0.125),
            ("x^-t^2", 3.0f64.powf(-4.0)),
            ("(-x)^2", 9.0),
            ("2*-x^2", -18.0),
            ("-x*t", -6.0),
            ("t/-x^2*9", -2.0),
            ("1.5e-3*x", 4.5e-3),
            ("2E+2 - x", 197.0),
            (".5e1", 5.0),
            ("2^(3^2)", 512.0),
            ("(2^3)^2", 64.0),
        ] {
            let got = val(text);
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "{text}: {got} != {want}"
            );
        }
    }

    #[test]
    fn ambiguous_power_chains_are_refused() {
        for text in ["2^3^2", "x^t^2", "-x^2^t", "sin(x)^2^2"] {
            let e = Expr::parse("pde.g", text, &v(&["x", "t"]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("pde.g") && e.contains("parenthes"),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn long_expressions_are_refused_not_overflowing() {
        let long = "-".repeat(100_000) + "x";
        let e = Expr::parse("pde.f", &long, &v(&["x"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pde.f") && e.contains("at most 4096"), "{e}");
        let deep = "-(".repeat(1300) + "x^2" + &")".repeat(1300);
        assert_eq!(
            Expr::parse("k", &deep, &v(&["x"])).unwrap().eval(&[2.0]),
            4.0
        );
    }

    #[test]
    fn number_literals() {
        for (text, n) in [
            ("12", 2),
            ("1.5", 3),
            (".5", 2),
            ("1e-3x", 4),
            ("2E+10", 5),
            ("2e", 1),
            ("2e+", 1),
            (".", 0),
            ("x", 0),
            ("3.", 2),
        ] {
            assert_eq!(number_len(text), n, "{text}");
        }
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
