//! Seeded, deterministic fuzzing of every file and expression parser, in-process on stable Rust.
//!
//! Each parser is a [`Target`]: a function from a file label and bytes to
//! accept/reject, valid seed inputs, an optional grammar-based generator and
//! a dictionary of meaningful tokens. Every case is a random input, a freshly
//! generated structured input, or a seed with 1 to 4 stacked mutations (bit
//! flips, truncations, NaN/Inf/huge numbers, duplicated or deleted lines and
//! fields, deep nesting, invalid UTF-8, very long lines). Each case runs
//! under `catch_unwind` and a counting allocator, and must
//! - not panic (invariant checks on accepted inputs panic too, and count),
//! - allocate at most [`alloc_budget`] bytes for its input size,
//! - if rejected, return the target's specific `sapm::Error` naming the file
//!   and a field, row, column or line.
//!
//! Environment: `SAPM_FUZZ_CASES` (cases per target, default 3000),
//! `SAPM_FUZZ_SEED` (default 0), `SAPM_FUZZ_CASE` (run only that case index,
//! to reproduce a failure). Failing inputs are written to
//! `$CARGO_TARGET_TMPDIR/fuzz-failures/`.
//!
//! Adding a parser: write a `Target` constant and add one line to
//! `fuzz_targets!` at the bottom of this file.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sapm::config::TrainConfig;
use sapm::data::{parse_csv, parse_npy};
use sapm::model::Model;
use sapm::{Error, NetworkSpec};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Allocation accounting: per-thread live bytes and their peak, so one case's
// peak can be measured while other tests run on other threads.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = LIVE.try_with(|live| {
        let v = live.get() + delta;
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            note(l.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            note(l.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        note(-(l.size() as isize));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            note(new as isize - l.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Run `f` and return its result with the peak of extra live bytes it allocated.
fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let r = f();
    let peak = PEAK.with(Cell::get);
    (r, (peak - start).max(0) as usize)
}

/// Most a parser may allocate for an input of `len` bytes: a constant for
/// fixed-size state plus a multiple of the input (parsed trees and value
/// vectors are a few times larger than their text; the TOML parser peaked at
/// about 40 bytes per input byte on long lines). A declared size trusted
/// before it is checked against the file blows far past this.
fn alloc_budget(len: usize) -> usize {
    (32 << 20) + 128 * len
}

/// Slowest acceptable case: generous for a loaded 2-core machine, but far
/// below what a quadratic algorithm needs on the longest inputs.
const MAX_CASE_TIME: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Panics are counted, not printed, on fuzzing threads.

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = format!("{msg} at {at}"));
            } else {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// Targets.

type Rng = ChaCha8Rng;

/// One parser under test.
struct Target {
    /// Short name (test name, failure file names).
    name: &'static str,
    /// The file label passed to the parser; errors must name it.
    file: &'static str,
    /// Parse `bytes` as file `path`; `Err` is a rejection. Accepted inputs
    /// are checked with assertions (a failed assertion counts as a failure).
    run: fn(&Path, &[u8]) -> Result<(), Error>,
    /// Is this rejection specific (right variant, names the file and a place)?
    check: fn(&Error, &Path) -> Result<(), String>,
    /// Valid inputs to mutate (each must be accepted).
    seeds: fn() -> Vec<Vec<u8>>,
    /// A random input from the format's grammar.
    generate: fn(&mut Rng) -> Vec<u8>,
    /// Meaningful tokens (keys, field names) for insertions.
    dictionary: &'static [&'static str],
}

/// `Error::Format` naming `path`, whose reason contains one of `places`.
fn format_error_with(e: &Error, path: &Path, places: &[&str]) -> Result<(), String> {
    match e {
        Error::Format { path: p, reason } if p == path => {
            if places.iter().any(|w| reason.contains(w)) {
                Ok(())
            } else {
                Err(format!(
                    "reason names no field/row/column (none of {places:?})"
                ))
            }
        }
        Error::Format { path: p, .. } => Err(format!("names {} instead of the file", p.display())),
        other => Err(format!("not a Format error: {other:?}")),
    }
}

fn assert_table(t: &sapm::data::Table) {
    assert!(t.rows > 0, "accepted a table without rows");
    assert_eq!(t.values.len(), t.rows * t.names.len(), "table size");
    assert!(t.values.iter().all(|v| v.is_finite()), "non-finite value");
    assert!(t.names.iter().all(|n| !n.is_empty()), "empty column name");
    let mut names = t.names.clone();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), t.names.len(), "duplicate column names");
}

// --- CSV ---

const CSV: Target = Target {
    name: "csv",
    file: "fuzz/data.csv",
    run: |path, bytes| {
        let t = parse_csv(path, bytes)?;
        assert_table(&t);
        // Loading goes on to pick columns; that step must reject cleanly too.
        let d = t.to_dataset(path, None, None)?;
        assert_eq!(d.len(), t.rows);
        Ok(())
    },
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
    dictionary: &[
        ",", "\"", "\n", "\r\n", "#", "x", "y", "1", "-", "e", ".", " ", ";", "\t",
    ],
};

fn gen_csv(rng: &mut Rng) -> Vec<u8> {
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

const NPY: Target = Target {
    name: "npy",
    file: "fuzz/data.npy",
    run: |path, bytes| {
        let t = parse_npy(path, bytes)?;
        assert_table(&t);
        let d = t.to_dataset(path, None, None)?;
        assert_eq!(d.len(), t.rows);
        Ok(())
    },
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
    dictionary: &[
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
    ],
};

fn f64_data(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// An `.npy` file: magic, version, header length, padded header dict, data.
fn npy_bytes(version: u8, descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let fo = if fortran { "True" } else { "False" };
    let dict = format!("{{'descr': {descr}, 'fortran_order': {fo}, 'shape': {shape}, }}");
    let pre = if version == 1 { 10 } else { 12 };
    let total = (pre + dict.len() + 1).div_ceil(64) * 64;
    let header = format!("{dict:<width$}\n", width = total - pre - 1);
    let mut b = b"\x93NUMPY".to_vec();
    b.push(version);
    b.push(0);
    if version == 1 {
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

fn gen_npy(rng: &mut Rng) -> Vec<u8> {
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

// --- config (TOML file plus `key=value` overrides) ---

/// Overrides ride in the same input after this marker line (a TOML comment),
/// so mutations reach them as well as the file.
const SET_MARKER: &[u8] = b"\n#--set\n";

fn split_config(bytes: &[u8]) -> (&[u8], Vec<String>) {
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

const CONFIG: Target = Target {
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
            include_str!("../../../examples/sapm.toml"),
            include_str!("../../../examples/pm.toml"),
            include_str!("../../../examples/elm.toml"),
            include_str!("../../../examples/ls-adam-lbfgs.toml"),
            include_str!("../../../examples/sapm-warm.toml"),
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
        "method",
        "seed",
        "threads",
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
        "depth",
        "width",
        "hidden",
        "activation",
        "init_range",
        "bias_range",
        "n_train",
        "n_test",
        "noise",
        "train",
        "test",
        "test_fraction",
        "inputs",
        "outputs",
        "max_iterations",
        "max_seconds",
        "target_loss",
        "rel_tol",
        "divergence_factor",
        "record_every",
        "lr",
        "beta1",
        "beta2",
        "eps",
        "memory",
        "tol_grad",
        "tol_cost",
        "adam_steps",
        "ridge",
        "solver",
        "beta",
        "tau",
        "prox",
        "aux_steps",
        "cap_output",
        "cap_hidden",
        "warm_start",
        "block",
        "omega_mode",
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
};

/// Config sections and their keys.
const SCHEMA: &[(&str, &[&str])] = &[
    ("", &["method", "seed", "threads"]),
    (
        "network",
        &[
            "depth",
            "width",
            "hidden",
            "activation",
            "init",
            "init_range",
            "bias_init",
            "bias_range",
        ],
    ),
    (
        "data",
        &[
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
        ],
    ),
    (
        "train",
        &[
            "max_iterations",
            "max_seconds",
            "target_loss",
            "rel_tol",
            "divergence_factor",
            "record_every",
        ],
    ),
    ("gd", &["lr"]),
    ("adam", &["lr", "beta1", "beta2", "eps"]),
    ("lbfgs", &["memory", "tol_grad", "tol_cost"]),
    ("adam_lbfgs", &["adam_steps"]),
    ("elm", &["ridge", "solver"]),
    (
        "sapm",
        &[
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
        ],
    ),
];

fn toml_value(rng: &mut Rng) -> String {
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

fn gen_config(rng: &mut Rng) -> Vec<u8> {
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

// --- model JSON ---

const MODEL: Target = Target {
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
        let mut v = vec![include_bytes!("fixtures/model_v1.json").to_vec()];
        for (i, widths) in [vec![1, 1], vec![2, 3, 1], vec![1, 4, 4, 2]]
            .into_iter()
            .enumerate()
        {
            v.push(model_json(widths, i as u64).into_bytes());
        }
        v
    },
    generate: gen_model,
    dictionary: &[
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
    ],
};

fn model_json(widths: Vec<usize>, seed: u64) -> String {
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

fn json_value(rng: &mut Rng) -> serde_json::Value {
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

fn gen_model(rng: &mut Rng) -> Vec<u8> {
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
    static CKPT_RESUMED: Cell<usize> = const { Cell::new(0) };
}

/// The config every checkpoint seed is written with (`METHOD` replaced).
const CKPT_CONFIG: &str = "method = \"METHOD\"\nseed = 1\n[network]\ndepth = 3\nwidth = 4\n\
[data]\nbuiltin = \"sin_x2\"\nn_train = 16\nn_test = 16\n\
[train]\nmax_iterations = 12\ncheckpoint_every = 4\ncheckpoint_seconds = 0.0\n";

fn ckpt_config(method: &str) -> sapm::config::Checked {
    let mut text = CKPT_CONFIG.replace("METHOD", method);
    if method == "ls-adam-lbfgs" {
        text.push_str("[adam_lbfgs]\nadam_steps = 5\n");
    }
    TrainConfig::from_toml_str(&text, &[], None).unwrap()
}

/// Checkpoints written by real runs of four trainers (Adam, Adam -> L-BFGS mid-L-BFGS, PM, SAPM).
fn ckpt_seeds() -> Vec<Vec<u8>> {
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
fn gen_ckpt(rng: &mut Rng) -> Vec<u8> {
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

const CKPT: Target = Target {
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
    dictionary: &[
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
    ],
};

// --- PDE expressions (config values such as `pde.g = "sin(2*pi*x)"`) ---

const EXPR_VARS: [&str; 2] = ["x", "t"];

const EXPR: Target = Target {
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
    dictionary: &[
        "x", "t", "y", "pi", "PI", "E", "TAU", "sin(", "cos(", "exp(", "ln(", "log(", "sqrt(", "^",
        "**", "(", ")", "1e308", "NaN", "inf", ",", "signum(", "floor(", "--", "0/0",
    ],
};

// ---------------------------------------------------------------------------
// Generic mutations.

fn pick<'a, T>(rng: &mut Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

/// Numbers that break naive parsers.
const NUMBERS: &[&str] = &[
    "NaN",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-1e309",
    "1e-400",
    "0",
    "-0",
    "-1",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775809",
    "4294967296",
    "1.7976931348623157e308",
    "5e-324",
    "0x10",
    "1_000",
    "+3",
    ".5",
    "5.",
    "--1",
    "1e",
    "1.2.3",
];

fn number_token(rng: &mut Rng) -> String {
    match rng.random_range(0..5) {
        0 => pick(rng, NUMBERS).to_string(),
        1 => rng.random_range(-100..100i32).to_string(),
        2 => format!("{:e}", rng.random::<f64>() * 1e6),
        _ => format!("{}", rng.random::<f64>() * 10.0 - 5.0),
    }
}

/// Byte ranges of number-like tokens.
fn number_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b"+-._".contains(&b[i])) {
                i += 1;
            }
            spans.push((s, i));
        } else {
            i += 1;
        }
    }
    spans
}

fn line_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut s = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            spans.push((s, i + 1));
            s = i + 1;
        }
    }
    if s < b.len() {
        spans.push((s, b.len()));
    }
    spans
}

/// Sizes spread over orders of magnitude, up to `2^max_log2`.
fn log_size(rng: &mut Rng, max_log2: u32) -> usize {
    let k = rng.random_range(0..=max_log2);
    rng.random_range((1usize << k) / 2..=(1usize << k))
}

fn mutate(rng: &mut Rng, b: &mut Vec<u8>, t: &Target, seeds: &[Vec<u8>]) {
    let pos = |rng: &mut Rng, b: &Vec<u8>| rng.random_range(0..=b.len());
    match rng.random_range(0..18) {
        0 => {
            if !b.is_empty() {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
        }
        1 => {
            if !b.is_empty() {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
        }
        2 => {
            let n = pos(rng, b);
            b.truncate(n);
        }
        3 => {
            let i = pos(rng, b);
            let n = rng.random_range(1..16);
            let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            b.splice(i..i, junk);
        }
        4 | 5 => {
            let i = pos(rng, b);
            let tok = if t.dictionary.is_empty() || rng.random_bool(0.3) {
                number_token(rng)
            } else {
                pick(rng, t.dictionary).to_string()
            };
            b.splice(i..i, tok.into_bytes());
        }
        6 | 7 => {
            // Replace a number with NaN/Inf/huge/odd spellings.
            let spans = number_spans(b);
            if !spans.is_empty() {
                let (s, e) = *pick(rng, &spans);
                let tok = if rng.random_bool(0.2) {
                    format!("1{}", "0".repeat(log_size(rng, 12)))
                } else {
                    number_token(rng)
                };
                b.splice(s..e, tok.into_bytes());
            }
        }
        8 => {
            let lines = line_spans(b);
            if !lines.is_empty() {
                let (s, e) = *pick(rng, &lines);
                let copy = b[s..e].to_vec();
                let i = pick(rng, &lines).0;
                b.splice(i..i, copy);
            }
        }
        9 => {
            let lines = line_spans(b);
            if !lines.is_empty() {
                let (s, e) = *pick(rng, &lines);
                b.drain(s..e);
            }
        }
        10 => {
            if !b.is_empty() {
                let s = rng.random_range(0..b.len());
                let e = rng.random_range(s..=b.len().min(s + 64));
                let copy = b[s..e].to_vec();
                let i = pos(rng, b);
                b.splice(i..i, copy);
            }
        }
        11 => {
            if !b.is_empty() {
                let s = rng.random_range(0..b.len());
                let e = rng.random_range(s..=b.len().min(s + 64));
                b.drain(s..e);
            }
        }
        12 => {
            // Deep nesting in every bracket style the formats know.
            let k = log_size(rng, 15);
            let (open, close) = *pick(
                rng,
                &[
                    ("[", "]"),
                    ("{", "}"),
                    ("{a=", "}"),
                    ("{\"a\":", "}"),
                    ("a.", ""),
                    ("(", ")"),
                    ("\"", "\""),
                ],
            );
            let mut s = open.repeat(k);
            if rng.random_bool(0.7) {
                s.push('1');
                s.push_str(&close.repeat(k));
            }
            let i = pos(rng, b);
            b.splice(i..i, s.into_bytes());
        }
        13 => {
            // A very long line of one token, or of distinct tokens (wide headers).
            let n = log_size(rng, 16);
            let s = if rng.random_bool(0.5) {
                let tok = pick(rng, &["1,", "a", " ", "1.5e3,", "#", ",", "x = 1\n", "0"]);
                tok.repeat(n)
            } else {
                (0..n).map(|i| format!("c{i},")).collect()
            };
            let i = pos(rng, b);
            b.splice(i..i, s.into_bytes());
        }
        14 => {
            // Invalid UTF-8: stray continuation, truncated sequence, surrogate, overlong.
            let bad = *pick::<&[u8]>(
                rng,
                &[
                    &[0xff][..],
                    &[0x80],
                    &[0xc3],
                    &[0xed, 0xa0, 0x80],
                    &[0xc0, 0xaf],
                    &[0xf4, 0x90, 0x80, 0x80],
                    &[0xef, 0xbb, 0xbf],
                    &[0],
                ],
            );
            let i = pos(rng, b);
            b.splice(i..i, bad.iter().copied());
        }
        15 => {
            // Splice with another seed.
            let other = pick(rng, seeds);
            let i = pos(rng, b);
            let j = rng.random_range(0..=other.len());
            b.truncate(i);
            b.extend_from_slice(&other[j..]);
        }
        16 => {
            let lines = line_spans(b);
            if lines.len() >= 2 {
                let (s1, e1) = *pick(rng, &lines);
                let (s2, e2) = *pick(rng, &lines);
                let (a, c) = if s1 <= s2 {
                    ((s1, e1), (s2, e2))
                } else {
                    ((s2, e2), (s1, e1))
                };
                if a.1 <= c.0 {
                    let first = b[a.0..a.1].to_vec();
                    let second = b[c.0..c.1].to_vec();
                    b.splice(c.0..c.1, first);
                    b.splice(a.0..a.1, second);
                }
            }
        }
        _ => {
            // Structure-aware: replace the input with a generated one at random.
            *b = (t.generate)(rng);
        }
    }
}

fn make_case(rng: &mut Rng, t: &Target, seeds: &[Vec<u8>]) -> Vec<u8> {
    match rng.random_range(0..100) {
        0..5 => {
            let n = rng.random_range(0..256);
            (0..n).map(|_| rng.random()).collect()
        }
        5..30 => (t.generate)(rng),
        r => {
            let mut b = if r < 80 {
                pick(rng, seeds).clone()
            } else {
                (t.generate)(rng)
            };
            for _ in 0..rng.random_range(1..=4) {
                mutate(rng, &mut b, t, seeds);
            }
            b
        }
    }
}

// ---------------------------------------------------------------------------
// The driver.

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a non-negative integer")),
        Err(_) => default,
    }
}

fn case_rng(seed: u64, t: &Target, case: u64) -> Rng {
    // FNV-1a of the name keeps targets' streams independent of their order.
    let h = t.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    Rng::seed_from_u64(seed ^ h ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// What one case did.
enum Outcome {
    Accepted,
    Rejected,
    /// Panicked, vague error, too much memory or time.
    Failed(String),
}

/// Run one input through a target with all the checks.
fn run_case(t: &Target, input: &[u8]) -> (Outcome, usize, Duration) {
    let path = Path::new(t.file);
    QUIET.with(|q| q.set(true));
    let start = Instant::now();
    let (res, peak) = measure(|| catch_unwind(AssertUnwindSafe(|| (t.run)(path, input))));
    let dt = start.elapsed();
    QUIET.with(|q| q.set(false));
    let mut outcome = match res {
        Ok(Ok(())) => Outcome::Accepted,
        Ok(Err(e)) => match (t.check)(&e, path) {
            Ok(()) => Outcome::Rejected,
            Err(why) => Outcome::Failed(format!("vague error ({why}): {e}")),
        },
        Err(_) => Outcome::Failed(format!(
            "panic: {}",
            LAST_PANIC.with(|p| p.borrow().clone())
        )),
    };
    if peak > alloc_budget(input.len()) && !matches!(outcome, Outcome::Failed(_)) {
        outcome = Outcome::Failed(format!(
            "allocated {peak} bytes for a {}-byte input",
            input.len()
        ));
    }
    if dt > MAX_CASE_TIME && !matches!(outcome, Outcome::Failed(_)) {
        outcome = Outcome::Failed(format!("took {dt:?} for a {}-byte input", input.len()));
    }
    (outcome, peak, dt)
}

#[derive(Default)]
struct Stats {
    cases: u64,
    accepted: u64,
    rejected: u64,
    failed: u64,
    max_alloc: usize,
    max_alloc_case: u64,
    max_budget_share: f64,
    max_time: Duration,
    max_len: usize,
    failures: Vec<String>,
}

/// Write a case's input under `$CARGO_TARGET_TMPDIR/fuzz-failures/`.
fn save_input(t: &Target, seed: u64, case: u64, input: &[u8]) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let file = dir.join(format!("{}-{seed}-{case}.bin", t.name));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&file, input))
        .map_or_else(
            |e| format!("not saved: {e}"),
            |()| file.display().to_string(),
        )
}

fn fuzz(t: &Target) -> Stats {
    install_panic_hook();
    let seeds = (t.seeds)();
    for (i, s) in seeds.iter().enumerate() {
        let (o, _, _) = run_case(t, s);
        if !matches!(o, Outcome::Accepted) {
            let e = (t.run)(Path::new(t.file), s).err();
            panic!("{} seed {i} is not accepted: {e:?}", t.name);
        }
    }
    let seed = env_u64("SAPM_FUZZ_SEED", 0);
    let only = std::env::var("SAPM_FUZZ_CASE")
        .ok()
        .map(|_| env_u64("SAPM_FUZZ_CASE", 0));
    let cases = env_u64("SAPM_FUZZ_CASES", 3000);
    let range = match only {
        Some(c) => c..c + 1,
        None => 0..cases,
    };
    let mut st = Stats::default();
    for case in range {
        let mut rng = case_rng(seed, t, case);
        let input = make_case(&mut rng, t, &seeds);
        if only.is_some() {
            // Reproducing one case: keep its input even if it hangs or aborts.
            let file = save_input(t, seed, case, &input);
            println!("fuzz {}: case {case}: input saved to {file}", t.name);
        }
        let (outcome, peak, dt) = run_case(t, &input);
        st.cases += 1;
        if peak > st.max_alloc {
            st.max_alloc = peak;
            st.max_alloc_case = case;
        }
        st.max_budget_share = st
            .max_budget_share
            .max(peak as f64 / alloc_budget(input.len()) as f64);
        st.max_time = st.max_time.max(dt);
        st.max_len = st.max_len.max(input.len());
        match outcome {
            Outcome::Accepted => st.accepted += 1,
            Outcome::Rejected => st.rejected += 1,
            Outcome::Failed(why) => {
                st.failed += 1;
                if st.failures.len() < 10 {
                    let saved = save_input(t, seed, case, &input);
                    let preview = String::from_utf8_lossy(&input[..input.len().min(160)]);
                    st.failures.push(format!(
                        "case {case} ({} bytes, {saved}): {why}\n    input: {preview:?}",
                        input.len()
                    ));
                }
            }
        }
    }
    // Shown with --nocapture; the numbers docs/reliability.md quotes.
    println!(
        "fuzz {}: seed {seed}: {} cases, {} accepted, {} rejected, {} failed; \
         largest input {} B, peak alloc {} B (case {}; at most {:.0}% of the budget), slowest case {:?}",
        t.name,
        st.cases,
        st.accepted,
        st.rejected,
        st.failed,
        st.max_len,
        st.max_alloc,
        st.max_alloc_case,
        100.0 * st.max_budget_share,
        st.max_time
    );
    assert!(
        st.failures.is_empty(),
        "{}: {} of {} cases failed (reproduce with SAPM_FUZZ_SEED={seed} SAPM_FUZZ_CASE=N):\n{}",
        t.name,
        st.failed,
        st.cases,
        st.failures.join("\n")
    );
    st
}

macro_rules! fuzz_targets {
    ($($test:ident => $target:expr,)*) => {
        /// Every target, for the tests that loop over them.
        const TARGETS: &[Target] = &[$($target),*];
        $(
            #[test]
            fn $test() {
                let st = fuzz(&$target);
                // A harness that rejects everything tests nothing: the mutated
                // and generated inputs must reach the accepting paths too.
                if st.cases >= 1000 {
                    assert!(st.accepted * 100 >= st.cases, "{}: only {} of {} accepted", $target.name, st.accepted, st.cases);
                    assert!(st.rejected * 100 >= st.cases, "{}: only {} of {} rejected", $target.name, st.rejected, st.cases);
                }
            }
        )*
    };
}

// One line per parser.
fuzz_targets! {
    fuzz_csv => CSV,
    fuzz_npy => NPY,
    fuzz_config => CONFIG,
    fuzz_model => MODEL,
    fuzz_expr => EXPR,
    fuzz_checkpoint => CKPT,
}

// ---------------------------------------------------------------------------
// Fixed malicious inputs: small files that claim huge sizes or nest deeply.

/// Run `input` through the target named `name` and require a clean rejection.
fn refused(name: &str, input: &[u8]) -> String {
    install_panic_hook();
    let t = TARGETS.iter().find(|t| t.name == name).expect("target");
    let (outcome, peak, _) = run_case(t, input);
    match outcome {
        Outcome::Rejected => {}
        Outcome::Accepted => panic!("{name}: accepted {:?}", String::from_utf8_lossy(input)),
        Outcome::Failed(why) => panic!("{name}: {why}"),
    }
    assert!(peak <= alloc_budget(input.len()));
    (t.run)(Path::new(t.file), input).unwrap_err().to_string()
}

#[test]
fn checkpoint_seeds_reach_the_resume_path() {
    // The target must train from the checkpoint, not stop at parsing it.
    for seed in ckpt_seeds() {
        let before = CKPT_RESUMED.with(Cell::get);
        (CKPT.run)(Path::new(CKPT.file), &seed).unwrap();
        assert_eq!(CKPT_RESUMED.with(Cell::get), before + 1);
    }
}

#[test]
fn npy_declared_sizes_are_checked_before_allocating() {
    let huge = npy_bytes(1, "'<f8'", false, "(1099511627776, 1048576)", &[0u8; 64]);
    assert!(refused("npy", &huge).contains("`shape`"));
    let overflow = npy_bytes(2, "'<f8'", false, "(18446744073709551615, 3)", &[0u8; 64]);
    assert!(refused("npy", &overflow).contains("`shape`"));
    // The header-length field claims 4 GiB in a 200-byte file.
    let mut lying = npy_bytes(2, "'<f8'", false, "(2, 2)", &[0u8; 32]);
    lying[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(refused("npy", &lying).contains("header length"));
    let mut lying = npy_bytes(1, "'<f8'", false, "(2, 2)", &[0u8; 32]);
    lying[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    assert!(refused("npy", &lying).contains("header length"));
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    let n = 100_000;
    let arrays = format!("a = {}{}", "[".repeat(n), "]".repeat(n));
    refused("config", arrays.as_bytes());
    let tables = format!("a = {}1{}", "{b=".repeat(n), "}".repeat(n));
    refused("config", tables.as_bytes());
    let dotted = format!("{} = 1", vec!["a"; n].join("."));
    refused("config", dotted.as_bytes());
    let header = format!("[{}]", vec!["a"; n].join("."));
    refused("config", header.as_bytes());
    // Found by the fuzzer (config case 13394, seed 0): an override key nests
    // tables without the parser's limit, and dropping 29k nested tables
    // overflowed the stack. Keys are now refused beyond 8 parts.
    let set = format!(
        "[adam_lbfgs]\n#--set\nsa.{}apm.tau=bareword\n",
        "a.".repeat(29_277)
    );
    assert!(refused("config", set.as_bytes()).contains("29280 parts"));
    let set = format!("seed = 1\n#--set\nnetwork.{}=1", vec!["a"; n].join("."));
    refused("config", set.as_bytes());
    let json = format!("{}1{}", "[".repeat(n), "]".repeat(n));
    refused("model", json.as_bytes());
    let json = format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    refused("model", json.as_bytes());
}

#[test]
fn the_checks_reject_vague_errors() {
    // The harness must be able to fail: errors without the file or a place.
    let path = Path::new(CSV.file);
    let cases = [
        Error::Data("bad".into()),
        Error::format("other.csv", "line 3: bad"),
        Error::format(path, "bad"),
    ];
    for e in &cases {
        assert!((CSV.check)(e, path).is_err(), "{e}");
    }
    assert!((CSV.check)(&Error::format(path, "line 3, column \"x\": bad"), path).is_ok());
    let path = Path::new(CONFIG.file);
    assert!((CONFIG.check)(&Error::config("a.b", "bad"), path).is_err());
    assert!((CONFIG.check)(&Error::ConfigParse("line 1: bad".into()), path).is_err());
    // And a panicking run is reported with its message.
    install_panic_hook();
    let (o, _, _) = run_case(
        &Target {
            run: |_, _| panic!("boom"),
            ..CSV
        },
        b"x",
    );
    assert!(matches!(o, Outcome::Failed(ref m) if m.contains("boom")));
}
