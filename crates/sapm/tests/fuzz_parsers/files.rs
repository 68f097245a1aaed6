//! The CSV and .npy targets and their generators.

use super::*;

// --- CSV ---

pub(crate) const CSV: Target = Target {
    name: "csv",
    file: "fuzz/data.csv",
    run: |path, bytes| check_table(path, parse_csv(path, bytes)?),
    check: |e, path| {
        format_error_with(
            e,
            path,
            &["line ", "header", "empty file", "no data rows", "column"],
        )
    },
    seeds: || {
        [
            "x,y\n1,2\n3,4\n",
            "x, y, u\n-1.5e-3, 2, 0\n\n# comment\n4.25,5,6\n",
            "a,b\r\n1,2\r\n3,4\r\n",
            "\"x\",\"y z\"\n\"1\",2\n",
            "t,x,y,z\n0,1,2,3\n1,2,3,4\n2,3,4,5\n",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
    },
    generate: gen_csv,
    dictionary: &[&[
        ",", "\"", "\n", "\r\n", "#", "x", "y", "1", "-", "e", ".", " ", ";", "\t",
    ]],
};

pub(crate) fn gen_csv(rng: &mut Rng) -> Vec<u8> {
    const NAMES: &[&str] = &[
        "x", "y", "z", "a b", "\"q\"", "\"a,b\"", "", "#c", "é", "x", "u_1",
    ];
    let ncol = rng.random_range(0..6);
    let nrow = rng.random_range(0..6);
    let sep = *pick(rng, &[",", ",", ",", ";", "\t", ", "]);
    let eol = *pick(rng, &["\n", "\n", "\r\n", "\r"]);
    let mut s = String::new();
    let header: Vec<&str> = (0..ncol).map(|_| *pick(rng, NAMES)).collect();
    s.push_str(&header.join(sep));
    s.push_str(eol);
    for _ in 0..nrow {
        match rng.random_range(0..12) {
            0 => s.push_str(eol),
            1 => s.push_str("# comment"),
            _ => {
                let n = if rng.random_bool(0.85) {
                    ncol
                } else {
                    rng.random_range(0..8)
                };
                let cells: Vec<String> = (0..n).map(|_| number_token(rng)).collect();
                s.push_str(&cells.join(sep));
            }
        }
        s.push_str(eol);
    }
    s.into_bytes()
}

// --- npy ---

pub(crate) const NPY: Target = Target {
    name: "npy",
    file: "fuzz/data.npy",
    run: |path, bytes| check_table(path, parse_npy(path, bytes)?),
    check: |e, path| {
        format_error_with(
            e,
            path,
            &["magic", "version", "header", "row ", "column", "data"],
        )
    },
    seeds: || {
        let mut v = vec![
            npy_bytes(
                1,
                "'<f8'",
                false,
                "(3, 2)",
                &f64_data(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            ),
            npy_bytes(
                1,
                "'<f8'",
                true,
                "(2, 3)",
                &f64_data(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            ),
            npy_bytes(2, "'<f4'", false, "(2, 2)", &[0u8; 16]),
            npy_bytes(3, "'<i8'", false, "(1, 2)", &[7u8; 16]),
            npy_bytes(1, "'<i4'", false, "(2, 2)", &[1u8; 16]),
            npy_bytes(1, "'>f8'", false, "(1, 2)", &f64_data(&[0.5, -0.5])),
        ];
        // The library's own writer.
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("w.npy");
        sapm::data::write_npy(&p, 2, 2, &[1.0, 2.0, 3.0, 4.0]).expect("write npy");
        v.push(std::fs::read(&p).expect("read npy"));
        v
    },
    generate: gen_npy,
    dictionary: &[&[
        "'descr'",
        "'shape'",
        "'fortran_order'",
        "True",
        "False",
        "'<f8'",
        "'<f4'",
        "'<i8'",
        "'|u1'",
        "(",
        ")",
        ",",
        "{",
        "}",
        ":",
        " ",
        "\n",
        "4294967296",
        "-1",
    ]],
};

pub(crate) fn f64_data(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// An `.npy` file: magic, version, header length, padded header dict, data.
pub(crate) fn npy_bytes(
    version: u8,
    descr: &str,
    fortran: bool,
    shape: &str,
    data: &[u8],
) -> Vec<u8> {
    let fo = if fortran { "True" } else { "False" };
    let dict = format!("{{'descr': {descr}, 'fortran_order': {fo}, 'shape': {shape}, }}");
    sapm::data::npy_bytes_with_header(
        version,
        &sapm::data::npy_padded_header(version, &dict),
        data,
    )
}

pub(crate) fn gen_npy(rng: &mut Rng) -> Vec<u8> {
    const DESCR: &[&str] = &[
        "'<f8'",
        "'<f8'",
        "'<f4'",
        "'>f8'",
        "'<i8'",
        "'<i4'",
        "'|u1'",
        "'<c16'",
        "'<U3'",
        "'|b1'",
        "'<f2'",
        "'O'",
        "'<m8[s]'",
        "[('a', '<f8')]",
        "'<f8",
        "3",
        "'<f8 '",
    ];
    let dim = |rng: &mut Rng| -> String {
        match rng.random_range(0..10) {
            0 => u64::MAX.to_string(),
            1 => (1u64 << 62).to_string(),
            2 => "4000000000000".into(),
            3 => "-1".into(),
            4 => "0".into(),
            _ => rng.random_range(1..5u32).to_string(),
        }
    };
    let ndim = *pick(rng, &[0usize, 1, 2, 2, 2, 3]);
    let dims: Vec<String> = (0..ndim).map(|_| dim(rng)).collect();
    let shape = match ndim {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let version = *pick(rng, &[1u8, 1, 2, 3, 0, 4]);
    let n: usize = rng.random_range(0..48);
    let data: Vec<u8> = match rng.random_range(0..3) {
        0 => (0..n * 8).map(|_| rng.random()).collect(),
        1 => f64_data(
            &(0..n)
                .map(|_| *pick(rng, &[1.0, f64::NAN, f64::INFINITY, -0.0, 1e308]))
                .collect::<Vec<_>>(),
        ),
        _ => f64_data(&(0..n).map(|i| i as f64).collect::<Vec<_>>()),
    };
    let mut b = npy_bytes(
        version,
        pick::<&str>(rng, DESCR),
        rng.random_bool(0.3),
        &shape,
        &data,
    );
    // Sometimes lie in the header length field.
    if rng.random_bool(0.2) && b.len() >= 12 {
        let lie = *pick(rng, &[0u32, 1, 65535, u32::MAX, 1 << 20, 127]);
        if version == 1 {
            b[8..10].copy_from_slice(&(lie as u16).to_le_bytes());
        } else {
            b[8..12].copy_from_slice(&lie.to_le_bytes());
        }
    }
    b
}
