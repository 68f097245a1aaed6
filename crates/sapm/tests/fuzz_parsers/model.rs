//! The model JSON and checkpoint targets and their generators.

use super::*;

// --- model JSON ---

pub(crate) const MODEL: Target = Target {
    name: "model",
    file: "fuzz/model.json",
    run: |path, bytes| {
        let m = Model::parse(path, bytes)?;
        let back = Model::parse(path, m.to_json().as_bytes()).expect("written model parses");
        assert_eq!(back, m, "model round trip");
        let x = faer::Mat::<f64>::zeros(m.net.input_dim(), 2);
        let y = m.predict(x.as_ref()).expect("an accepted model predicts");
        assert_eq!((y.nrows(), y.ncols()), (m.net.output_dim(), 2));
        Ok(())
    },
    check: |e, path| format_error_with(e, path, &["field `", "line ", "UTF-8"]),
    seeds: || {
        let mut v = vec![include_bytes!("../fixtures/model_v1.json").to_vec()];
        for (i, widths) in [vec![1, 1], vec![2, 3, 1], vec![1, 4, 4, 2]]
            .into_iter()
            .enumerate()
        {
            v.push(model_json(widths, i as u64).into_bytes());
        }
        v
    },
    generate: gen_model,
    dictionary: &[&[
        "\"format\"",
        "\"version\"",
        "\"activation\"",
        "\"widths\"",
        "\"input_names\"",
        "\"output_names\"",
        "\"layers\"",
        "\"weight\"",
        "\"bias\"",
        "\"sapm-model\"",
        ":",
        ",",
        "[",
        "]",
        "{",
        "}",
        "null",
        "1e999",
        "-1",
        "2",
        "\"tanh\"",
        "\"relu\"",
    ]],
};

pub(crate) fn model_json(widths: Vec<usize>, seed: u64) -> String {
    let d = widths[0];
    let m = widths[widths.len() - 1];
    let net = NetworkSpec::new(widths).build(seed).expect("network");
    let model = Model::new(
        net,
        (0..d).map(|i| format!("x{i}")).collect(),
        (0..m).map(|i| format!("y{i}")).collect(),
    )
    .expect("model");
    model.to_json()
}

pub(crate) fn json_value(rng: &mut Rng) -> serde_json::Value {
    use serde_json::json;
    match rng.random_range(0..12) {
        0 => json!(null),
        1 => json!(true),
        2 => json!(-1),
        3 => json!(1.5),
        4 => json!(1e308),
        5 => json!("tanh"),
        6 => json!([]),
        7 => json!({}),
        8 => json!(u64::MAX),
        9 => json!([[1.0, 2.0], [3.0]]),
        10 => json!(0),
        _ => json!(rng.random_range(0..5u32)),
    }
}

pub(crate) fn gen_model(rng: &mut Rng) -> Vec<u8> {
    use serde_json::Value;
    let n = rng.random_range(2..5);
    let widths: Vec<usize> = (0..n).map(|_| rng.random_range(1..4)).collect();
    let text = model_json(widths, rng.random());
    let mut v: Value = serde_json::from_str(&text).expect("own model JSON");
    for _ in 0..rng.random_range(1..3) {
        let obj = v.as_object_mut().expect("object");
        let keys: Vec<String> = obj.keys().cloned().collect();
        let key = pick(rng, &keys).clone();
        match rng.random_range(0..9) {
            0 => {
                obj.remove(&key);
            }
            1 => {
                obj.insert("extra".into(), json_value(rng));
            }
            2 => {
                obj.insert(key, json_value(rng));
            }
            3 => {
                let ver = pick(rng, &["0", "2", "-1", "1.0", "\"1\"", "4294967297", "null"]);
                obj.insert("version".into(), serde_json::from_str(ver).expect("json"));
            }
            4 => {
                let f = pick(rng, &["\"sapm\"", "\"\"", "1", "null"]);
                obj.insert("format".into(), serde_json::from_str(f).expect("json"));
            }
            5 => {
                if let Some(Value::Array(w)) = obj.get_mut("widths")
                    && !w.is_empty()
                {
                    let i = rng.random_range(0..w.len());
                    w[i] = json_value(rng);
                }
            }
            _ => {
                // Edit one weight row or bias: drop, grow or corrupt a value.
                if let Some(Value::Array(layers)) = obj.get_mut("layers")
                    && !layers.is_empty()
                {
                    let l = rng.random_range(0..layers.len());
                    let part = if rng.random_bool(0.5) {
                        "weight"
                    } else {
                        "bias"
                    };
                    if let Some(Value::Array(a)) = layers[l].get_mut(part)
                        && !a.is_empty()
                    {
                        let i = rng.random_range(0..a.len());
                        match rng.random_range(0..3) {
                            0 => {
                                a.remove(i);
                            }
                            1 => a.push(a[i].clone()),
                            _ => a[i] = json_value(rng),
                        }
                    }
                }
            }
        }
    }
    if rng.random_bool(0.5) {
        serde_json::to_vec_pretty(&v).expect("json")
    } else {
        serde_json::to_vec(&v).expect("json")
    }
}

// --- Checkpoints (`checkpoint.sapm`, read by `sapm train --resume`) ---

thread_local! {
    /// Checkpoints the target resumed (not just parsed) on this thread.
    pub(crate) static CKPT_RESUMED: Cell<usize> = const { Cell::new(0) };
}

/// The config every checkpoint seed is written with (`METHOD` replaced).
pub(crate) const CKPT_CONFIG: &str = "method = \"METHOD\"\nseed = 1\n[network]\ndepth = 3\nwidth = 4\n\
[data]\nbuiltin = \"sin_x2\"\nn_train = 16\nn_test = 16\n\
[train]\nmax_iterations = 12\ncheckpoint_every = 4\ncheckpoint_seconds = 0.0\n";

pub(crate) fn ckpt_config(method: &str) -> sapm::config::Checked {
    let mut text = CKPT_CONFIG.replace("METHOD", method);
    if method == "ls-adam-lbfgs" {
        text.push_str("[adam_lbfgs]\nadam_steps = 5\n");
    }
    TrainConfig::from_toml_str(&text, &[], None).unwrap()
}

/// Checkpoints written by real runs of four trainers (Adam, Adam -> L-BFGS mid-L-BFGS, PM, SAPM).
pub(crate) fn ckpt_seeds() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    ["sapm", "ls-adam", "ls-adam-lbfgs", "pm"]
        .iter()
        .map(|m| {
            let cfg = ckpt_config(m);
            let data = cfg.data.load(cfg.seed).unwrap();
            let path = dir.path().join(format!("{m}.sapm"));
            let mut file = sapm::fit::CheckpointFile::new(&path, &cfg);
            let mut obs = sapm::driver::NoObserver;
            sapm::fit::fit_checkpointed(&cfg, Some(&data), &mut obs, Some(&mut file), None)
                .unwrap();
            std::fs::read(&path).unwrap()
        })
        .collect()
}

/// A seed re-encoded with one semantic change, so the checksums hold and
/// the resume-time validation (shapes, finiteness, meta) is what rejects it.
pub(crate) fn gen_ckpt(rng: &mut Rng) -> Vec<u8> {
    use sapm::checkpoint::{Dtype, StateReader, StateWriter};
    thread_local! {
        static SEEDS: Vec<Vec<u8>> = ckpt_seeds();
    }
    let seed = SEEDS.with(|s| pick(rng, s).clone());
    let path = Path::new("seed.sapm");
    let mut r = StateReader::parse(path, &seed).unwrap();
    let header = r.header().clone();
    let mut w = StateWriter::new();
    let n = header.entries.len() + header.meta.len();
    let target = rng.random_range(0..n.max(1));
    let kind = rng.random_range(0..5);
    for (i, e) in header.entries.iter().enumerate() {
        let hit = i == target;
        if hit && kind == 0 {
            continue; // dropped
        }
        match e.dtype {
            Dtype::F64 => {
                let mut v = r.f64s(&e.name).unwrap();
                if hit {
                    match kind {
                        1 => {
                            v.pop();
                        }
                        2 => v.push(0.5),
                        _ if !v.is_empty() => {
                            let j = rng.random_range(0..v.len());
                            v[j] = [f64::NAN, f64::INFINITY, 1e300, -0.0][rng.random_range(0..4)];
                        }
                        _ => {}
                    }
                }
                w.f64s_owned(&e.name, v);
            }
            Dtype::U64 => {
                let mut v = r.u64s(&e.name).unwrap();
                if hit {
                    v.push(u64::MAX);
                }
                w.u64s(&e.name, v);
            }
            Dtype::U8 => {
                let mut v = r.bytes(&e.name).unwrap();
                if hit && !v.is_empty() {
                    let j = rng.random_range(0..v.len());
                    v[j] ^= 1 << rng.random_range(0..8);
                }
                w.bytes(&e.name, v);
            }
        }
    }
    for (i, (name, value)) in header.meta.iter().enumerate() {
        let hit = i + header.entries.len() == target;
        if hit && kind == 0 {
            continue;
        }
        match value {
            serde_json::Value::Bool(b) => w.flag(name, *b ^ hit),
            serde_json::Value::Number(x) => {
                let x = x.as_u64().unwrap_or(0);
                let x = if hit {
                    [x + 1, x.saturating_sub(1), u64::MAX, 0, 1 << 40][rng.random_range(0..5)]
                } else {
                    x
                };
                w.int(name, x)
            }
            serde_json::Value::String(t) => {
                let t = if hit {
                    let mut lines: Vec<&str> = t.lines().collect();
                    if !lines.is_empty() {
                        lines.remove(rng.random_range(0..lines.len()));
                    }
                    lines.join("\n")
                } else {
                    t.clone()
                };
                w.text(name, &t)
            }
            serde_json::Value::Array(a) => {
                let mut v: Vec<String> = a
                    .iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect();
                if hit {
                    v.pop();
                }
                w.texts(name, &v)
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    w.write_to(&mut out).unwrap();
    out
}

pub(crate) const CKPT: Target = Target {
    name: "checkpoint",
    file: "fuzz/checkpoint.sapm",
    run: |path, bytes| {
        let mut r = sapm::checkpoint::StateReader::parse(path, bytes)?;
        let cfg = sapm::fit::checkpoint_config(&r, &[])?;
        // Resume only checkpoints of the seeds' problem size: a checkpoint may
        // legitimately ask for any data set or budget, which is not a parser's cost.
        let base = ckpt_config(cfg.method.name());
        if cfg.data != base.data
            || cfg.network != base.network
            || cfg.train.max_iterations > 12
            || cfg.pde.is_some()
        {
            return Ok(());
        }
        let data = cfg.data.load(cfg.seed).expect("the seeds' data load");
        let mut obs = sapm::driver::NoObserver;
        let fitted = sapm::fit::fit_checkpointed(&cfg, Some(&data), &mut obs, None, Some(&mut r))?;
        assert!(fitted.summary.iterations <= 12, "resumed past the budget");
        CKPT_RESUMED.with(|c| c.set(c.get() + 1));
        Ok(())
    },
    check: |e, path| {
        format_error_with(
            e,
            path,
            &[
                "entry `", "field `", "byte ", "header", "trailer", "magic", "`",
            ],
        )
    },
    seeds: ckpt_seeds,
    generate: gen_ckpt,
    dictionary: &[&[
        "\"format_version\"",
        "\"meta\"",
        "\"entries\"",
        "\"dtype\"",
        "\"f64\"",
        "\"u64\"",
        "\"u8\"",
        "\"len\"",
        "\"offset\"",
        "\"crc32\"",
        "\"data_bytes\"",
        "SAPMCKPT",
        "SAPMCEND",
        "SAPMCEN2",
        "run.config",
        "driver.net",
    ]],
};
