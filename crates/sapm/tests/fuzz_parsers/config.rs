//! The config target (TOML file plus `--set` overrides) and its generator.

use super::*;

// --- config (TOML file plus `key=value` overrides) ---

/// Overrides ride in the same input after this marker line (a TOML comment),
/// so mutations reach them as well as the file.
pub(crate) const SET_MARKER: &[u8] = b"\n#--set\n";

pub(crate) fn split_config(bytes: &[u8]) -> (&[u8], Vec<String>) {
    let at = bytes
        .windows(SET_MARKER.len())
        .rposition(|w| w == SET_MARKER);
    match at {
        Some(i) => {
            let sets = String::from_utf8_lossy(&bytes[i + SET_MARKER.len()..]);
            let sets = sets
                .split('\n')
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            (&bytes[..i], sets)
        }
        None => (bytes, Vec::new()),
    }
}

pub(crate) const CONFIG: Target = Target {
    name: "config",
    file: "fuzz/config.toml",
    run: |path, bytes| {
        let (file, sets) = split_config(bytes);
        let cfg = TrainConfig::parse(path, file, &sets)?;
        cfg.config()
            .clone()
            .check()
            .expect("an accepted config validates");
        let text = cfg.to_toml();
        let back = TrainConfig::from_toml_str(&text, &[], None)
            .unwrap_or_else(|e| panic!("written config does not parse: {e}\n{text}"));
        assert_eq!(back, cfg, "config round trip");
        Ok(())
    },
    check: |e, path| {
        let file = path.display().to_string();
        match e {
            Error::ConfigParse(m) => {
                if !m.starts_with(&file) {
                    Err("parse error does not name the file".into())
                } else if ["line ", "key `", "field `", "override", "recursion limit"]
                    .iter()
                    .any(|w| m.contains(w))
                {
                    Ok(())
                } else {
                    Err("parse error names no line, key or override".into())
                }
            }
            Error::Config { key, reason } => {
                if key.is_empty() {
                    Err("empty key".into())
                } else if reason.contains(&format!("(in {file})")) || reason.contains("override") {
                    Ok(())
                } else {
                    Err("names neither the file nor the override".into())
                }
            }
            Error::Format { .. } => format_error_with(e, path, &["UTF-8"]),
            other => Err(format!("unexpected variant: {other:?}")),
        }
    },
    seeds: || {
        let mut v: Vec<Vec<u8>> = [
            include_str!("../../../../examples/sapm.toml"),
            include_str!("../../../../examples/pm.toml"),
            include_str!("../../../../examples/elm.toml"),
            include_str!("../../../../examples/ls-adam-lbfgs.toml"),
            include_str!("../../../../examples/sapm-warm.toml"),
            "",
            "method = \"ls-gd\"\n[network]\nhidden = [3, 4]\n[data]\ntrain = \"d.csv\"\ninputs = [\"x\", 1]\noutputs = [2]\n",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        v.push(TrainConfig::default().to_toml().into_bytes());
        v.push(b"seed = 3\n#--set\nnetwork.depth=3\npm.tau=0.5\nmethod=pm\n".to_vec());
        v
    },
    generate: gen_config,
    dictionary: &[
        &[
            "[network]",
            "[data]",
            "[train]",
            "[gd]",
            "[adam]",
            "[lbfgs]",
            "[adam_lbfgs]",
            "[elm]",
            "[pm]",
            "[sapm]",
            " = ",
            "=",
            ".",
            "\"",
            "[",
            "]",
            "{",
            "}",
            "\n",
            "#--set\n",
            "[[network]]",
        ],
        ROOT,
        NETWORK,
        DATA,
        TRAIN,
        GD,
        ADAM,
        LBFGS,
        ADAM_LBFGS,
        ELM,
        SAPM,
    ],
};

/// Config sections and their keys (the keys are also mutation tokens).
pub(crate) const SCHEMA: &[(&str, &[&str])] = &[
    ("", ROOT),
    ("network", NETWORK),
    ("data", DATA),
    ("train", TRAIN),
    ("gd", GD),
    ("adam", ADAM),
    ("lbfgs", LBFGS),
    ("adam_lbfgs", ADAM_LBFGS),
    ("elm", ELM),
    ("sapm", SAPM),
];

const ROOT: &[&str] = &["method", "seed", "threads"];
const NETWORK: &[&str] = &[
    "depth",
    "width",
    "hidden",
    "activation",
    "init",
    "init_range",
    "bias_init",
    "bias_range",
];
const DATA: &[&str] = &[
    "builtin",
    "n_train",
    "n_test",
    "noise",
    "train",
    "test",
    "test_fraction",
    "inputs",
    "outputs",
    "seed",
];
const TRAIN: &[&str] = &[
    "max_iterations",
    "max_seconds",
    "target_loss",
    "rel_tol",
    "divergence_factor",
    "record_every",
];
const GD: &[&str] = &["lr"];
const ADAM: &[&str] = &["lr", "beta1", "beta2", "eps"];
const LBFGS: &[&str] = &["memory", "tol_grad", "tol_cost"];
const ADAM_LBFGS: &[&str] = &["adam_steps"];
const ELM: &[&str] = &["ridge", "solver"];
const SAPM: &[&str] = &[
    "beta",
    "omega_mode",
    "solver",
    "ridge",
    "prox",
    "tau",
    "aux_steps",
    "backtrack",
    "aux_order",
    "sweep",
    "cap_output",
    "cap_hidden",
    "aux_init",
    "warm_start",
    "block",
];

pub(crate) fn toml_value(rng: &mut Rng) -> String {
    match rng.random_range(0..14) {
        0 => rng.random_range(0..50u32).to_string(),
        1 => pick(
            rng,
            &[
                "-1",
                "0",
                "9223372036854775807",
                "-9223372036854775808",
                "1_000",
            ],
        )
        .to_string(),
        2 => pick(
            rng,
            &[
                "nan", "inf", "-inf", "+nan", "-0.0", "1e300", "1e-320", "0.5",
            ],
        )
        .to_string(),
        3 => format!("{}", rng.random::<f64>() * 4.0 - 1.0),
        4 => format!(
            "\"{}\"",
            pick(
                rng,
                &[
                    "sapm", "pm", "elm", "ls-gd", "ls-adam", "ls-lbfgs", "tanh", "sin", "relu",
                    "qr", "cholesky", "glorot", "uniform", "zero", "sin_x2", "franke", "bogus",
                    "coupled", "frozen", "jacobi", "backward", "forward", "",
                ],
            )
        ),
        5 => pick(rng, &["true", "false"]).to_string(),
        6 => {
            let n = rng.random_range(0..4);
            let v: Vec<String> = (0..n)
                .map(|_| rng.random_range(0..6u32).to_string())
                .collect();
            format!("[{}]", v.join(", "))
        }
        7 => "[\"x\", 1]".into(),
        8 => "{ a = 1 }".into(),
        9 => "1979-05-27".into(),
        10 => "[]".into(),
        _ => rng.random_range(1..200u32).to_string(),
    }
}

pub(crate) fn gen_config(rng: &mut Rng) -> Vec<u8> {
    let mut s = String::new();
    let sections = rng.random_range(0..5);
    for i in 0..=sections {
        let (sec, keys) = if i == 0 {
            SCHEMA[0]
        } else {
            *pick(rng, &SCHEMA[1..])
        };
        let sec = if sec == "sapm" && rng.random_bool(0.5) {
            "pm"
        } else {
            sec
        };
        if !sec.is_empty() {
            match rng.random_range(0..20) {
                0 => s.push_str(&format!("[[{sec}]]\n")),
                1 => s.push_str("[bogus]\n"),
                _ => s.push_str(&format!("[{sec}]\n")),
            }
        }
        for _ in 0..rng.random_range(0..4) {
            let key = if rng.random_bool(0.05) {
                "bogus"
            } else {
                *pick(rng, keys)
            };
            s.push_str(&format!("{key} = {}\n", toml_value(rng)));
        }
    }
    if rng.random_bool(0.5) {
        s.push_str("#--set\n");
        for _ in 0..rng.random_range(0..4) {
            let o = match rng.random_range(0..10) {
                0 => pick(
                    rng,
                    &[
                        "novalue",
                        "=1",
                        "a..b=1",
                        ".a=1",
                        "network=1",
                        "network.depth.x=2",
                        "x=",
                    ],
                )
                .to_string(),
                1 => format!("{}=1", vec!["a"; rng.random_range(1..200)].join(".")),
                _ => {
                    let (sec, keys) = *pick(rng, SCHEMA);
                    let key = pick(rng, keys);
                    let full = if sec.is_empty() {
                        key.to_string()
                    } else {
                        format!("{sec}.{key}")
                    };
                    let raw = if rng.random_bool(0.2) {
                        "bareword".to_string()
                    } else {
                        toml_value(rng)
                    };
                    format!("{full}={raw}")
                }
            };
            s.push_str(&o);
            s.push('\n');
        }
    }
    s.into_bytes()
}
