//! Validation on load, config files: unknown keys at every level, wrong
//! types and bad values of every numeric key; each error must name the file
//! and the key.

use sapm::Error;
use sapm::config::TrainConfig;
use std::path::{Path, PathBuf};

#[path = "support/files.rs"]
mod files;

use files::{assert_has, format_error, write};

/// Sections and a valid value for each key: the base for wrong-type tests.
const SECTIONS: &[&str] = &[
    "network",
    "data",
    "train",
    "gd",
    "adam",
    "lbfgs",
    "adam_lbfgs",
    "elm",
    "pm",
    "sapm",
];

fn config_error(dir: &Path, text: &str) -> (PathBuf, Error) {
    let p = write(dir, "c.toml", text.as_bytes());
    let e = TrainConfig::load(&p, &[]).expect_err(text);
    (p, e)
}

#[test]
fn config_unknown_keys_at_every_level() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, e) = config_error(dir.path(), "seed = 1\nbogus = 2\n");
    assert_has(
        &e.to_string(),
        &[&p.display().to_string(), "line 2", "unknown field `bogus`"],
    );
    let (_, e) = config_error(dir.path(), "[bogus]\nx = 1\n");
    assert_has(&e.to_string(), &["line 1", "unknown field `bogus`"]);
    for sec in SECTIONS {
        let (p, e) = config_error(dir.path(), &format!("[{sec}]\nbogus = 1\n"));
        let s = e.to_string();
        assert!(matches!(e, Error::ConfigParse(_)), "{s}");
        assert_has(
            &s,
            &[
                &p.display().to_string(),
                "line 2, column 1",
                "unknown field `bogus`",
            ],
        );
        // A section given as a value, and a key given as a section.
        let (_, e) = config_error(dir.path(), &format!("{sec} = 3\n"));
        assert_has(&e.to_string(), &["line 1", "invalid type"]);
    }
    let (_, e) = config_error(dir.path(), "[network.depth]\nx = 1\n");
    assert_has(&e.to_string(), &["line 1", "invalid type"]);
}

#[test]
fn config_wrong_types() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("seed = \"one\"", "key `seed`"),
        ("seed = -1", "key `seed`"),
        ("threads = 1.5", "key `threads`"),
        ("method = 3", "key `method`"),
        ("method = \"sgd\"", "unknown variant `sgd`"),
        ("[network]\ndepth = \"6\"", "key `network.depth`"),
        ("[network]\nhidden = [1, \"a\"]", "key `network.hidden`"),
        ("[network]\nactivation = \"cube\"", "unknown variant `cube`"),
        ("[data]\nn_train = true", "key `data.n_train`"),
        ("[data]\ninputs = \"x\"", "key `data.inputs`"),
        ("[train]\nmax_seconds = \"1s\"", "key `train.max_seconds`"),
        ("[lbfgs]\nmemory = 2.5", "key `lbfgs.memory`"),
        ("[sapm]\nbacktrack = 1", "key `sapm.backtrack`"),
        ("[pm]\nsolver = \"lu\"", "unknown variant `lu`"),
        ("[elm]\nridge = [1]", "key `elm.ridge`"),
    ];
    for (text, want) in cases {
        let (p, e) = config_error(dir.path(), text);
        let s = e.to_string();
        assert!(matches!(e, Error::ConfigParse(_)), "{s}");
        assert_has(&s, &[&p.display().to_string(), "line ", want]);
    }
    let p = write(dir.path(), "utf8.toml", b"seed = 1\n# \xc3\n");
    let e = TrainConfig::load(&p, &[]).unwrap_err();
    assert_has(&format_error(&p, e), &["invalid UTF-8 at byte 11 (line 2)"]);
    let p = write(dir.path(), "syntax.toml", b"[network\ndepth = 1\n");
    let s = TrainConfig::load(&p, &[]).unwrap_err().to_string();
    assert_has(&s, &[&p.display().to_string(), "line 1"]);
}

/// Every numeric key with values outside its range: (key, value, reason).
const BAD_VALUES: &[(&str, &str, &str)] = &[
    ("threads", "100000", "<= 1024"),
    ("network.depth", "0", ">= 1"),
    ("network.depth", "1001", "<= 1000"),
    ("network.width", "0", ">= 1"),
    ("network.width", "2000000", "<= 1048576"),
    ("network.width", "100000", "weights between hidden layers"),
    ("network.hidden", "[4, 0]", ">= 1"),
    ("network.hidden", "[2000000]", "<= 1048576"),
    ("network.init_range", "0", "> 0"),
    ("network.init_range", "nan", "> 0"),
    ("network.bias_range", "-1", "> 0"),
    ("network.bias_range", "inf", "> 0"),
    ("data.n_train", "0", "[1, 16777216]"),
    ("data.n_train", "100000000", "[1, 16777216]"),
    ("data.n_test", "0", "[1, 16777216]"),
    ("data.noise", "-0.1", ">= 0"),
    ("data.noise", "nan", ">= 0"),
    ("data.test_fraction", "0", "(0, 1)"),
    ("data.test_fraction", "1", "(0, 1)"),
    ("data.test_fraction", "nan", "(0, 1)"),
    ("train.max_iterations", "0", ">= 1"),
    ("train.max_seconds", "-1", ">= 0"),
    ("train.max_seconds", "inf", ">= 0"),
    ("train.target_loss", "-1e-3", ">= 0"),
    ("train.rel_tol", "nan", ">= 0"),
    ("train.divergence_factor", "1", "> 1"),
    ("train.divergence_factor", "inf", "> 0"),
    ("train.record_every", "0", ">= 1"),
    ("gd.lr", "0", "> 0"),
    ("gd.lr", "-inf", "> 0"),
    ("adam.lr", "-1", "> 0"),
    ("adam.beta1", "1", "[0, 1)"),
    ("adam.beta1", "-0.5", "[0, 1)"),
    ("adam.beta2", "1.5", "[0, 1)"),
    ("adam.eps", "0", "> 0"),
    ("lbfgs.memory", "0", "[1, 10000]"),
    ("lbfgs.memory", "1000000000000", "[1, 10000]"),
    ("lbfgs.tol_grad", "-1", ">= 0"),
    ("lbfgs.tol_cost", "nan", ">= 0"),
    ("elm.ridge", "-1", ">= 0"),
    ("lm.lambda_init", "0", "> 0"),
    ("lm.lambda_init", "inf", "> 0"),
    ("lm.lambda_min", "-1", ">= 0"),
    ("lm.max_trials", "0", "[1, 1000]"),
    ("lm.max_trials", "1001", "[1, 1000]"),
    ("lm.geodesic_alpha", "0", "> 0"),
    ("lm.geodesic_h", "nan", "> 0"),
    ("lm.tol_grad", "-1", ">= 0"),
    ("lm.tol_step", "nan", ">= 0"),
    ("lm.tol_rel", "-1e-3", ">= 0"),
    ("lm.ls_steps", "0", "[1, 60]"),
    ("lm.ls_steps", "61", "[1, 60]"),
    ("lm.ls_damping", "0", "> 0"),
    ("lm.varpro_ridge", "-1", ">= 0"),
    ("lm.max_memory_gib", "0", "> 0"),
];

/// The same checks for both penalty sections.
const PENALTY_BAD: &[(&str, &str, &str)] = &[
    ("beta", "0", "> 0"),
    ("beta", "nan", "> 0"),
    ("ridge", "-1", ">= 0"),
    ("prox", "-1", ">= 0"),
    ("tau", "0", "> 0"),
    ("tau", "inf", "> 0"),
    ("aux_steps", "0", ">= 1"),
    ("cap_output", "-1", ">= 0"),
    ("cap_hidden", "nan", ">= 0"),
    ("block", "0", ">= 1"),
];

#[test]
fn config_bad_value_for_every_numeric_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cases: Vec<(String, &str, &str)> = BAD_VALUES
        .iter()
        .map(|&(k, v, r)| (k.to_string(), v, r))
        .collect();
    for sec in ["pm", "sapm"] {
        for &(k, v, r) in PENALTY_BAD {
            cases.push((format!("{sec}.{k}"), v, r));
        }
    }
    for (key, value, reason) in &cases {
        // In the file: the key as `[section] name = value`.
        let text = match key.split_once('.') {
            Some((sec, name)) => format!("[{sec}]\n{name} = {value}\n"),
            None => format!("{key} = {value}\n"),
        };
        let (p, e) = config_error(dir.path(), &text);
        match &e {
            Error::Config { key: k, reason: r } => {
                assert_eq!(k, key, "{text}: {e}");
                assert_has(r, &[reason, &format!("(in {})", p.display())]);
            }
            other => panic!("{text}: expected a Config error, got {other:?}"),
        }
        // As an override.
        let o = format!("{key}={value}");
        let e = TrainConfig::from_toml_str("", std::slice::from_ref(&o), None).unwrap_err();
        assert_has(&e.to_string(), &[&format!("`{key}`"), reason]);
        let p = write(dir.path(), "empty.toml", b"");
        let e = TrainConfig::load(&p, std::slice::from_ref(&o)).unwrap_err();
        assert_has(&e.to_string(), &[&format!("override `{o}`")]);
    }
    // Negative integers for unsigned keys are type errors that name the key.
    for key in [
        "seed",
        "data.seed",
        "adam_lbfgs.adam_steps",
        "sapm.warm_start",
        "pm.warm_start",
    ] {
        let e = TrainConfig::from_toml_str("", &[format!("{key}=-1")], None).unwrap_err();
        assert_has(&e.to_string(), &[&format!("key `{key}`"), "-1"]);
    }
}
