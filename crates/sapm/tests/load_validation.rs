//! Validation on load: one test per class of malformed file. Every file is
//! written to disk and read through the same call the CLI uses, and every
//! error must name the file, the field (row, column, key) and the problem.

use sapm::NetworkSpec;
use sapm::data::{load_file, npy_bytes_with_header, npy_padded_header, read_table, write_npy};
use sapm::model::{Model, SUPPORTED_MODEL_VERSIONS};
use std::path::Path;

#[path = "support/files.rs"]
mod files;

use files::{assert_has, format_error, write};

#[test]
fn csv_classes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "nan.csv",
            "x,y\n1,2\n3,NaN\n",
            &["line 3", "column \"y\"", "NaN", "not finite"],
        ),
        (
            "inf.csv",
            "x,y\n-inf,2\n",
            &["line 2", "column \"x\"", "-inf", "not finite"],
        ),
        (
            "huge.csv",
            "x,y\n1,1e999\n",
            &["line 2", "column \"y\"", "not finite"],
        ),
        (
            "ragged.csv",
            "x,y\n1,2\n3\n",
            &["line 3", "1 fields", "header has 2", "ragged"],
        ),
        (
            "long_row.csv",
            "x,y\n1,2,3\n",
            &["line 2", "3 fields", "ragged"],
        ),
        (
            "text.csv",
            "x,y\n1,two\n",
            &["line 2", "column \"y\"", "\"two\"", "not a number"],
        ),
        ("empty.csv", "", &["empty file"]),
        ("blank.csv", "\n\n# only a comment\n", &["empty file"]),
        ("header_only.csv", "x,y\n", &["no data rows"]),
        (
            "dup.csv",
            "x,y,x\n1,2,3\n",
            &["header column 3", "duplicate", "\"x\""],
        ),
        (
            "unnamed.csv",
            "x,,y\n1,2,3\n",
            &["header column 2", "no name"],
        ),
        (
            "utf8.csv",
            "x,y\n1,\u{0}\u{7f}\n",
            &["line 2", "not a number"],
        ),
    ];
    for (name, text, want) in cases {
        let p = write(dir.path(), name, text.as_bytes());
        let e = format_error(&p, read_table(&p).unwrap_err());
        assert_has(&e, want);
    }
    let p = write(dir.path(), "bad_utf8.csv", b"x,y\n1,\xff\n");
    let e = format_error(&p, read_table(&p).unwrap_err());
    assert_has(&e, &["line 2", "utf-8"]);
    // Column selection is part of loading: one column, unknown names, bad indices.
    let p = write(dir.path(), "one.csv", b"x\n1\n");
    assert_has(
        &format_error(&p, load_file(&p, None, None).unwrap_err()),
        &["at least 2 columns"],
    );
    let p = write(dir.path(), "ok.csv", b"x,y\n1,2\n");
    let sel = [sapm::data::Column::Name("z".into())];
    let e = format_error(&p, load_file(&p, Some(&sel), None).unwrap_err());
    assert_has(&e, &["no inputs column named \"z\"", "[\"x\", \"y\"]"]);
    let sel = [sapm::data::Column::Index(5)];
    let e = format_error(&p, load_file(&p, None, Some(&sel)).unwrap_err());
    assert_has(&e, &["outputs column index 5", "2 columns"]);
}

/// An `.npy` file with the given header dict (padded as numpy does) and data.
fn npy(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    npy_bytes_with_header(version, &npy_padded_header(version, dict), data)
}

fn dict(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn npy_classes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = f64s(&[1.0, 2.0, 3.0, 4.0]);
    let mut bad_version = npy(1, &dict("<f8", "(2, 2)"), &good);
    bad_version[6] = 9;
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "magic.npy",
            b"PK\x03\x04 this is a zip".to_vec(),
            vec!["bad magic"],
        ),
        (
            "short.npy",
            b"\x93NUM".to_vec(),
            vec!["bad magic", "4 bytes"],
        ),
        (
            "version.npy",
            bad_version,
            vec!["version 9.0", "supported versions: 1.0, 2.0, 3.0"],
        ),
        (
            "huge.npy",
            npy(1, &dict("<f8", "(4000000000000, 1000000)"), &good),
            vec!["`shape`", "needs", "holds 32"],
        ),
        (
            "overflow.npy",
            npy(1, &dict("<f8", "(18446744073709551615, 2)"), &good),
            vec!["`shape`"],
        ),
        (
            "short_data.npy",
            npy(1, &dict("<f8", "(3, 2)"), &good),
            vec!["`shape`", "needs 6 x 8"],
        ),
        (
            "dtype.npy",
            npy(1, &dict("<c16", "(1, 1)"), &[0; 16]),
            vec!["`descr`", "c16", "float64"],
        ),
        (
            "uint8.npy",
            npy(1, &dict("|u1", "(2, 2)"), &[1; 4]),
            vec!["`descr`", "u1"],
        ),
        (
            "three_d.npy",
            npy(1, &dict("<f8", "(1, 2, 2)"), &good),
            vec!["`shape`", "[1, 2, 2]", "1-D or 2-D"],
        ),
        (
            "zero_d.npy",
            npy(1, &dict("<f8", "()"), &good),
            vec!["`shape`", "[]"],
        ),
        (
            "empty.npy",
            npy(1, &dict("<f8", "(0, 2)"), &[]),
            vec!["empty array"],
        ),
        (
            "nan.npy",
            npy(1, &dict("<f8", "(2, 2)"), &f64s(&[1.0, 2.0, f64::NAN, 4.0])),
            vec!["row 1, column 0", "NaN", "not finite"],
        ),
        (
            "inf32.npy",
            npy(3, &dict("<f4", "(1, 2)"), &[0, 0, 0, 0, 0, 0, 0x80, 0x7f]),
            vec!["row 0, column 1", "inf", "not finite"],
        ),
        (
            "header.npy",
            npy(1, "{'descr': '<f8', 'shape': (2, 2)}", &good),
            vec!["bad header"],
        ),
    ];
    for (name, bytes, want) in cases {
        let p = write(dir.path(), name, &bytes);
        let e = format_error(&p, read_table(&p).unwrap_err());
        assert_has(&e, &want);
    }
    // The header-length field may not point past the end of the file.
    let mut lying = npy(2, &dict("<f8", "(2, 2)"), &good);
    lying[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let p = write(dir.path(), "lying.npy", &lying);
    assert_has(
        &format_error(&p, read_table(&p).unwrap_err()),
        &["header length field says 4294967295"],
    );
    // And the good files load, 1-D as one column and Fortran order transposed.
    let p = write(dir.path(), "ok.npy", &npy(1, &dict("<f8", "(4,)"), &good));
    assert_eq!(
        read_table(&p).expect("1-D").values,
        vec![1.0, 2.0, 3.0, 4.0]
    );
    let fortran = npy(
        1,
        "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }",
        &good,
    );
    let p = write(dir.path(), "f.npy", &fortran);
    assert_eq!(
        read_table(&p).expect("fortran").values,
        vec![1.0, 3.0, 2.0, 4.0]
    );
    let p = dir.path().join("w.npy");
    write_npy(&p, 2, 2, &[1.0, 2.0, 3.0, 4.0]).expect("write");
    assert_eq!(
        read_table(&p).expect("own file").values,
        vec![1.0, 2.0, 3.0, 4.0]
    );
}

fn model_text() -> String {
    let net = NetworkSpec::new(vec![2, 3, 1]).build(7).expect("net");
    Model::new(net, vec!["a".into(), "b".into()], vec!["u".into()])
        .expect("model")
        .to_json()
}

#[test]
fn model_classes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = model_text();
    let v: serde_json::Value = serde_json::from_str(&good).expect("json");
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = v.clone();
        f(&mut v);
        serde_json::to_string_pretty(&v).expect("json")
    };
    let supported = "supported versions: 1";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "v0.json",
            edit(&|v| v["version"] = 0.into()),
            vec!["`version` is 0", "model versions 1"],
        ),
        (
            "v3.json",
            edit(&|v| v["version"] = 3.into()),
            vec!["`version` is 3", "model versions 1, 2"],
        ),
        (
            "vstr.json",
            edit(&|v| v["version"] = "1".into()),
            vec!["`version` is \"1\""],
        ),
        (
            "vnone.json",
            edit(&|v| {
                v.as_object_mut().expect("object").remove("version");
            }),
            vec!["missing field `version`", supported],
        ),
        // A newer file with fields this build does not know: the version is
        // reported, not the unknown field.
        (
            "v3new.json",
            edit(&|v| {
                v["version"] = 3.into();
                v["normalisation"] = serde_json::json!({"mean": [0.0]});
            }),
            vec!["`version` is 3"],
        ),
        (
            "format.json",
            edit(&|v| v["format"] = "keras".into()),
            vec!["field `format` is \"keras\""],
        ),
        (
            "noformat.json",
            edit(&|v| {
                v.as_object_mut().expect("object").remove("format");
            }),
            vec!["missing field `format`"],
        ),
        (
            "rows.json",
            edit(&|v| {
                v["layers"][0]["weight"].as_array_mut().expect("rows").pop();
            }),
            vec!["`layers[0].weight` has 2 rows, expected 3"],
        ),
        (
            "cols.json",
            edit(&|v| {
                v["layers"][1]["weight"][0]
                    .as_array_mut()
                    .expect("row")
                    .push(1.0.into());
            }),
            vec!["`layers[1].weight[0]` has 4 values, expected 3"],
        ),
        (
            "bias.json",
            edit(&|v| v["layers"][1]["bias"] = serde_json::json!([])),
            vec!["`layers[1].bias` has 0 values, expected 1"],
        ),
        (
            "depth.json",
            edit(&|v| {
                v["layers"].as_array_mut().expect("layers").pop();
            }),
            vec!["`layers` has 1 entries", "needs 2"],
        ),
        (
            "widths.json",
            edit(&|v| v["widths"] = serde_json::json!([2, 0, 1])),
            vec!["`widths[1]` is 0"],
        ),
        (
            "names.json",
            edit(&|v| v["input_names"] = serde_json::json!(["a"])),
            vec!["`input_names` has 1 names", "says 2"],
        ),
        (
            "nan.json",
            good.replacen("\"bias\": [", "\"bias\": [NaN, ", 1),
            vec!["line ", "column"],
        ),
        (
            "inf.json",
            good.replacen("\"bias\": [", "\"bias\": [1e999, ", 1),
            vec!["line ", "column"],
        ),
        (
            "trunc.json",
            good[..good.len() * 2 / 3].to_string(),
            vec!["not valid JSON", "EOF", "line "],
        ),
        (
            "empty.json",
            String::new(),
            vec!["not valid JSON", "line 1"],
        ),
        (
            "extra.json",
            edit(&|v| v["extra"] = 1.into()),
            vec!["unknown field `extra`", "line "],
        ),
        (
            "type.json",
            edit(&|v| v["widths"] = "2,3,1".into()),
            vec!["invalid type", "line "],
        ),
    ];
    for (name, text, want) in cases {
        assert_ne!(text, good, "{name}");
        let p = write(dir.path(), name, text.as_bytes());
        let e = format_error(&p, Model::load(&p).unwrap_err());
        assert_has(&e, &want);
    }
    let p = write(dir.path(), "utf8.json", b"{\"format\": \"sapm-\xff\"}");
    let e = format_error(&p, Model::load(&p).unwrap_err());
    assert_has(&e, &["invalid UTF-8 at byte 17 (line 1)"]);
    let p = write(dir.path(), "good.json", good.as_bytes());
    Model::load(&p).expect("the unmodified model loads");
}

/// A version-1 file committed to the repository keeps loading, and predicts
/// what its weights say: `u = W2 tanh(W1 x + b1) + b2`.
#[test]
fn committed_version_1_model_loads_and_predicts() {
    assert!(SUPPORTED_MODEL_VERSIONS.contains(&1));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model_v1.json");
    let m = Model::load(&path).expect("version-1 model loads");
    assert_eq!(m.input_names, vec!["x", "t"]);
    assert_eq!(m.net.widths(), &[2, 3, 1]);
    assert!(m.scaling.is_none(), "version 1 has no scaling");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    let num = |x: &serde_json::Value| x.as_f64().expect("number");
    let (w1, b1) = (&v["layers"][0]["weight"], &v["layers"][0]["bias"]);
    let (w2, b2) = (&v["layers"][1]["weight"][0], &v["layers"][1]["bias"][0]);
    let x = [0.3, -1.2];
    let mut u = num(b2);
    for i in 0..3 {
        let z = num(&w1[i][0]) * x[0] + num(&w1[i][1]) * x[1] + num(&b1[i]);
        u += num(&w2[i]) * z.tanh();
    }
    let got = m
        .predict(faer::Mat::from_fn(2, 1, |i, _| x[i]).as_ref())
        .expect("predict");
    assert!((got[(0, 0)] - u).abs() < 1e-14, "{} vs {u}", got[(0, 0)]);
}
