use super::*;

#[test]
fn defaults_validate_and_round_trip() {
    let c = TrainConfig::default();
    c.validate().unwrap();
    let back = TrainConfig::from_toml_str(&c.to_toml(), &[], None).unwrap();
    assert_eq!(c, *back);
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("network.depth=0", "network.depth"),
        ("network.width=0", "network.width"),
        ("train.max_iterations=0", "train.max_iterations"),
        ("adam.lr=-1", "adam.lr"),
        ("gd.lr=0", "gd.lr"),
        ("sapm.tau=0", "sapm.tau"),
        ("pm.beta=-2", "pm.beta"),
        ("sapm.aux_steps=0", "sapm.aux_steps"),
        ("data.n_train=0", "data.n_train"),
        ("data.builtin=nope", "data.builtin"),
        ("method=sgd", "method"),
        ("sapm.bogus=1", "bogus"),
        ("network.activation=cube", "activation"),
    ];
    for (o, key) in cases {
        let e = TrainConfig::from_toml_str("", &[o.to_string()], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{o}: {e}");
    }
    assert!(TrainConfig::from_toml_str("", &["novalue".into()], None).is_err());
    assert!(TrainConfig::from_toml_str("[network\n", &[], None).is_err());
}

#[test]
fn errors_locate_the_key_in_the_file() {
    // Found by tests/fuzz_parsers.rs: errors from the merged table named
    // neither a line nor, for top-level keys, a key.
    let path = Path::new("dir/c.toml");
    let err = |text: &str, sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        TrainConfig::parse(path, text.as_bytes(), &sets)
            .unwrap_err()
            .to_string()
    };
    let e = err("seed = 1\nbogus = 2\n", &[]);
    assert!(
        e.contains("dir/c.toml: line 2, column 1") && e.contains("`bogus`"),
        "{e}"
    );
    let e = err("[network]\ndepth = \"x\"\n", &[]);
    assert!(e.contains("line 2, column 9, key `network.depth`"), "{e}");
    let e = err("", &["network.depth=x"]);
    assert!(
        e.contains("key `network.depth`") && e.contains("overrides"),
        "{e}"
    );
    let e = err("[network]\ndepth = 0\n", &[]);
    assert!(
        e.contains("`network.depth`") && e.contains("(in dir/c.toml)"),
        "{e}"
    );
    let e = err("", &["network.depth=0"]);
    assert!(e.contains("override `network.depth=0`"), "{e}");
    let e = err(
        &format!("a = {}{}", "[".repeat(5000), "]".repeat(5000)),
        &[],
    );
    assert!(
        e.contains("line 1, column") && e.contains("recursion"),
        "{e}"
    );
    let e = err(&format!("{} = 1", vec!["a"; 5000].join(".")), &[]);
    assert!(
        e.contains("dir/c.toml: tables or arrays nest deeper"),
        "{e}"
    );
    let e = err("", &[&format!("{}=1", vec!["a"; 100].join("."))]);
    assert!(e.contains("100 parts"), "{e}");
    let long = format!("seed = [{}\n", "1,".repeat(100_000));
    let e = err(&long, &[]);
    assert!(
        e.len() < 500,
        "the message quotes the whole line: {} bytes",
        e.len()
    );
    let e = TrainConfig::parse(path, b"seed = 1\n\xff", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dir/c.toml") && e.contains("UTF-8 at byte 9 (line 2)"),
        "{e}"
    );
}

/// `--set pde.f=0` meant the expression "0" (TOML reads an integer),
/// and `--set data.train=f.csv` was taken from the working directory
/// while the file's own paths are relative to the file's folder.
#[test]
fn overrides_of_strings_and_paths_read_like_the_file() {
    let pde = "[pde]\nproblem = \"custom\"\nlo = [0.0, 0.0]\nhi = [1.0, 1.0]\nc = [\"1\", \"1\"]\ng = \"x\"\n";
    let sets: Vec<String> = ["pde.f=0", "pde.exact=1.5", "pde.c=[2, 1]"]
        .map(String::from)
        .to_vec();
    let c = TrainConfig::parse(Path::new("c.toml"), pde.as_bytes(), &sets).unwrap();
    let p = c.pde.clone().unwrap();
    assert_eq!((p.f.as_str(), p.exact.as_deref()), ("0", Some("1.5")));
    assert_eq!(p.c, vec!["2", "1"]);
    // Other type errors are still errors, naming the key.
    let e = TrainConfig::from_toml_str("", &["network.depth=x".into()], None).unwrap_err();
    assert!(e.to_string().contains("network.depth"), "{e}");
    let e = TrainConfig::from_toml_str("", &["network=3".into()], None).unwrap_err();
    assert!(e.to_string().contains("network"), "{e}");
    // Paths: relative to the config's folder in the file and in overrides.
    let text = "[data]\ntrain = \"a.csv\"\n";
    let c = TrainConfig::parse(Path::new("cfg/c.toml"), text.as_bytes(), &[]).unwrap();
    assert_eq!(c.data.train.as_deref(), Some(Path::new("cfg/a.csv")));
    let sets = vec![
        "data.train=b.csv".to_string(),
        "data.test=/abs/t.csv".into(),
    ];
    let c = TrainConfig::parse(Path::new("cfg/c.toml"), text.as_bytes(), &sets).unwrap();
    assert_eq!(c.data.train.as_deref(), Some(Path::new("cfg/b.csv")));
    assert_eq!(c.data.test.as_deref(), Some(Path::new("/abs/t.csv")));
    // Without a config file: the working directory.
    let c = TrainConfig::from_toml_str("", &["data.train=b.csv".into()], None).unwrap();
    assert_eq!(c.data.train.as_deref(), Some(Path::new("b.csv")));
}

#[test]
fn overrides_parse_types() {
    let c = TrainConfig::from_toml_str(
        "",
        &[
            "network.hidden=[3, 4]".into(),
            "method=sapm".into(),
            "sapm.solver=cholesky".into(),
            "data.train=d.csv".into(),
            "data.inputs=[\"a\", 1]".into(),
        ],
        None,
    )
    .unwrap();
    assert_eq!(c.network.spec(2, 1).widths, vec![2, 3, 4, 1]);
    assert_eq!(c.method, Method::Sapm);
    assert_eq!(c.sapm.solver, SolveMethod::Cholesky);
}

/// The Python package turns typed option values into overrides: every value
/// must come back exactly (floats bit for bit, strings with quotes,
/// backslashes, control characters and non-ASCII text, arrays, inline tables).
#[test]
fn override_arg_round_trips_typed_values() {
    use toml::Value as V;
    let mut floats = vec![
        0.1,
        1e-300,
        5e-324,
        1e300,
        -0.0,
        1.0,
        2.0f64.powi(60),
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut bits = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..200 {
        bits = bits
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let f = f64::from_bits(bits);
        if f.is_finite() {
            floats.push(f);
        }
    }
    let mut values: Vec<V> = floats.into_iter().map(V::Float).collect();
    values.extend([
        V::Integer(0),
        V::Integer(-7),
        V::Integer(i64::MAX),
        V::Boolean(true),
        V::String("tanh".into()),
        V::String("say \"hi\"\\ \n\t\u{7f}\u{1} é 😀 = [x]".into()),
        V::String(String::new()),
        V::Array(vec![V::Integer(20), V::Integer(40)]),
        V::Array(vec![V::String("x".into()), V::String("t".into())]),
    ]);
    let mut inline = toml::Table::new();
    inline.insert("face".into(), V::String("x_lo".into()));
    inline.insert("alpha".into(), V::Float(0.5));
    values.push(V::Array(vec![V::Table(inline)]));
    for v in values {
        let arg = override_arg("sec.key", &v);
        let mut t = toml::Table::new();
        apply_override(&mut t, &arg).unwrap();
        let back = &t["sec"]["key"];
        match (&v, back) {
            (V::Float(a), V::Float(b)) => assert_eq!(a.to_bits(), b.to_bits(), "{arg}"),
            _ => assert_eq!(&v, back, "{arg}"),
        }
    }
    // NaN comes back as NaN (it is not equal to itself).
    let mut t = toml::Table::new();
    apply_override(&mut t, &override_arg("k", &V::Float(f64::NAN))).unwrap();
    assert!(t["k"].as_float().unwrap().is_nan());
    // Through the whole parser: a typed override sets the config value.
    let c = TrainConfig::from_toml_str(
        "",
        &[
            override_arg("adam.lr", &V::Float(0.1 + 0.2)),
            override_arg("method", &V::String("ls-adam".into())),
        ],
        None,
    )
    .unwrap();
    assert_eq!(c.adam.lr, 0.1 + 0.2);
}
