//! The PDE expression target.

use super::*;

// --- PDE expressions (config values such as `pde.g = "sin(2*pi*x)"`) ---

pub(crate) const EXPR_VARS: [&str; 2] = ["x", "t"];

pub(crate) const EXPR: Target = Target {
    name: "expr",
    file: "pde.g",
    run: |key, bytes| {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| sapm::Error::config(key.display().to_string(), "not UTF-8"))?;
        let vars: Vec<String> = EXPR_VARS.iter().map(|v| v.to_string()).collect();
        let e = sapm::task::pde::Expr::parse(&key.display().to_string(), text, &vars)?;
        assert_eq!(e.text(), text, "expression text kept");
        // Evaluation never panics; non-finite values are the sampler's to report.
        for x in [[0.0, 0.0], [0.5, -1.0], [1e300, 1e-300]] {
            let _ = e.eval(&x);
        }
        Ok(())
    },
    check: |e, key| match e {
        Error::Config { key: k, reason } if Path::new(k) == key && !reason.is_empty() => Ok(()),
        Error::Config { key: k, .. } => Err(format!("names key {k} instead of {}", key.display())),
        other => Err(format!("not a Config error: {other:?}")),
    },
    seeds: || {
        [
            "sin(x - t)",
            "sin(2*pi*x) + t^2",
            "exp(-(x-0.5)^2 / 0.01) * cos(PI*t)",
            "2.0",
            "-1.5e-3*x + abs(t) / (1 + x^2)",
            "sqrt(1 + x*x) - ln(2 + t^2) + tanh(x)*atan(t)",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
    },
    generate: |rng| {
        fn term(rng: &mut Rng, depth: u32) -> String {
            const ATOMS: [&str; 8] = ["x", "t", "pi", "PI", "1", "2.5", "1e-3", "0"];
            const FUNS: [&str; 8] = ["sin", "cos", "exp", "ln", "sqrt", "abs", "tanh", "atan"];
            const OPS: [&str; 5] = ["+", "-", "*", "/", "^"];
            match if depth == 0 {
                0
            } else {
                rng.random_range(0..4)
            } {
                0 => ATOMS[rng.random_range(0..ATOMS.len())].to_string(),
                1 => format!(
                    "{}({})",
                    FUNS[rng.random_range(0..FUNS.len())],
                    term(rng, depth - 1)
                ),
                2 => format!("-{}", term(rng, depth - 1)),
                _ => format!(
                    "({} {} {})",
                    term(rng, depth - 1),
                    OPS[rng.random_range(0..OPS.len())],
                    term(rng, depth - 1)
                ),
            }
        }
        let depth = rng.random_range(0..6);
        term(rng, depth).into_bytes()
    },
    dictionary: &[&[
        "x", "t", "y", "pi", "PI", "E", "TAU", "sin(", "cos(", "exp(", "ln(", "log(", "sqrt(", "^",
        "**", "(", ")", "1e308", "NaN", "inf", ",", "signum(", "floor(", "--", "0/0",
    ]],
};
