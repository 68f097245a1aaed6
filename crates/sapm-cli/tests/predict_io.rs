//! `sapm predict` / `eval` / `export` I/O (issue 13): the output format
//! from the extension or `--format`, `-` for stdout, CSV through a real CSV
//! writer (a column named `x,1` round-trips), predicted columns named
//! `OUTPUT_pred`, and `--model` taking a run folder.

mod common;

use common::{assert_code, assert_ok, sapm_in, table, write};
use sapm::model::Model;
use std::path::Path;

/// A short LM run on `a,b` data whose input column is named `x,1` and whose
/// outputs are `y "q"` and `z`, in `d/run`; returns the model.
fn trained(d: &Path) -> Model {
    let csv = table("\"x,1\",\"y \"\"q\"\"\",z", 40, |i| {
        let x = 100.0 + 10.0 * i as f64;
        format!("{x},{},{}", (x / 100.0).sin(), 1000.0 + x)
    });
    write(d, "train.csv", &csv);
    write(
        d,
        "c.toml",
        "method = \"lm\"\n[network]\ndepth = 2\nwidth = 6\n[data]\ntrain = \"train.csv\"\noutputs = [1, 2]\n[train]\nmax_iterations = 5\n",
    );
    assert_ok(&sapm_in(
        d,
        ["train", "--quiet", "--config", "c.toml", "--out", "run"],
    ));
    Model::load(&d.join("run/model.json")).unwrap()
}

fn predict(d: &Path, model: &str, output: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "predict", "--model", model, "--input", "in.csv", "--output", output,
    ];
    args.extend_from_slice(extra);
    sapm_in(d, args)
}

/// The model's own predictions for the rows of `in.csv`, `rows x outputs`.
fn expected(m: &Model, xs: &[f64]) -> Vec<Vec<f64>> {
    let x = faer::Mat::from_fn(1, xs.len(), |_, j| xs[j]);
    let u = m.predict(x.as_ref()).unwrap();
    (0..xs.len())
        .map(|j| (0..u.nrows()).map(|i| u[(i, j)]).collect())
        .collect()
}

#[test]
fn csv_quotes_names_and_names_predictions_after_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = trained(d);
    assert!(m.scaling.is_some(), "a data file is scaled by default");
    let xs = [150.0, 333.0, 480.0];
    write(d, "in.csv", &table("\"x,1\"", 3, |j| xs[j].to_string()));
    assert_ok(&predict(d, "run/model.json", "p.csv", &[]));
    let mut r = csv::Reader::from_path(d.join("p.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, ["x,1", "y \"q\"_pred", "z_pred"]);
    let want = expected(&m, &xs);
    for (j, rec) in r.records().enumerate() {
        let v: Vec<f64> = rec.unwrap().iter().map(|f| f.parse().unwrap()).collect();
        assert_eq!(v[0], xs[j]);
        assert_eq!(
            &v[1..],
            want[j].as_slice(),
            "row {j}: the CSV holds the exact f64"
        );
    }
    // A run folder is a model too: the same bytes.
    assert_ok(&predict(d, "run", "q.csv", &[]));
    assert_eq!(
        std::fs::read(d.join("p.csv")).unwrap(),
        std::fs::read(d.join("q.csv")).unwrap()
    );
    // `-` is stdout, and no file named "-" appears.
    let o = assert_ok_stdout(&predict(d, "run", "-", &[]));
    assert_eq!(o, std::fs::read(d.join("p.csv")).unwrap());
    assert!(!d.join("-").exists());
    // eval takes the folder as well.
    let data = table("\"x,1\",\"y \"\"q\"\"\",z", 3, |j| {
        format!("{},0.5,1200", xs[j])
    });
    write(d, "xy.csv", &data);
    let o = sapm_in(d, ["eval", "--model", "run", "--data", "xy.csv"]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["n"], 3);
}

fn assert_ok_stdout(o: &std::process::Output) -> Vec<u8> {
    assert_ok(o);
    o.stdout.clone()
}

#[test]
fn npy_and_npz_outputs_are_real_numpy_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = trained(d);
    let xs = [120.0, 260.0, 390.0, 499.5];
    write(d, "in.csv", &table("\"x,1\"", 4, |j| xs[j].to_string()));
    let want: Vec<f64> = expected(&m, &xs).concat();
    for (out, extra) in [("p.npy", &[][..]), ("p.out", &["--format", "npy"][..])] {
        assert_ok(&predict(d, "run", out, extra));
        let bytes = std::fs::read(d.join(out)).unwrap();
        let f = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(f.shape(), &[4, 2], "{out}: rows x outputs");
        assert_eq!(f.into_vec::<f64>().unwrap(), want, "{out}");
    }
    assert_ok(&predict(d, "run", "p.npz", &[]));
    let entries = sapm::export::read_stored_zip(&std::fs::read(d.join("p.npz")).unwrap()).unwrap();
    let get = |n: &str| &entries.iter().find(|(k, _)| k == n).expect(n).1;
    let preds = npyz::NpyFile::new(&get("predictions.npy")[..]).unwrap();
    assert_eq!(preds.into_vec::<f64>().unwrap(), want);
    let inputs = npyz::NpyFile::new(&get("inputs.npy")[..]).unwrap();
    assert_eq!(inputs.shape(), &[4, 1]);
    assert_eq!(inputs.into_vec::<f64>().unwrap(), xs);
    assert!(entries.iter().any(|(k, _)| k == "prediction_names.npy"));
    // Binary formats do not go to stdout; an unknown --format is a usage error.
    let e = assert_code(&predict(d, "run", "-", &["--format", "npz"]), 2);
    assert!(e.contains("stdout"), "{e}");
    assert_code(&predict(d, "run", "p.x", &["--format", "parquet"]), 2);
    assert!(!d.join("-").exists() && !d.join("p.x").exists());
}

#[test]
fn export_writes_npz_and_safetensors_from_a_folder_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = trained(d);
    let export = |model: &str, out: &str, extra: &[&str]| {
        let mut a = vec!["export", "--model", model, "--output", out];
        a.extend_from_slice(extra);
        sapm_in(d, a)
    };
    assert_ok(&export("run", "m.safetensors", &[]));
    let bytes = std::fs::read(d.join("m.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = st.tensor("layer1.weight").unwrap();
    assert_eq!(w.shape(), &[2, 6]);
    let first = f64::from_le_bytes(w.data()[..8].try_into().unwrap());
    assert_eq!(first.to_bits(), m.net.layer(1)[(0, 0)].to_bits());
    assert_ok(&export("run/model.json", "m.bin", &["--format", "npz"]));
    let entries = sapm::export::read_stored_zip(&std::fs::read(d.join("m.bin")).unwrap()).unwrap();
    assert!(entries.iter().any(|(k, _)| k == "output_scale.npy"));
    let e = assert_code(&export("run", "m.onnx", &[]), 2);
    assert!(e.contains("--format"), "{e}");
    let e = assert_code(&export("nowhere", "m.npz", &[]), 1);
    assert!(e.contains("nowhere"), "{e}");
    assert!(!d.join("m.onnx").exists() && !d.join("m.npz").exists());
}
