//! Inputs under careless use (issue 14): columns by name, huge values in
//! messages, non-finite predictions, relative paths in overrides, rows
//! streamed through `predict`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn sapm_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sapm"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const TINY: &str = "method = \"ls-adam\"\nseed = 3\n[network]\ndepth = 3\nwidth = 6\n[data]\nn_train = 30\nn_test = 40\n[train]\nmax_iterations = 15\nrecord_every = 5\n";

/// A trained tiny model (inputs `x`, output `y`) in `dir/run`.
fn tiny_model(dir: &Path) -> PathBuf {
    let cfg = write(dir, "c.toml", TINY);
    let o = sapm_in(
        dir,
        &[
            "train",
            "--quiet",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "run",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    dir.join("run/model.json")
}

/// A file with columns a, b, c was taken by position for a model trained
/// on x; now columns are matched by name, and by position only on request.
#[test]
fn columns_are_matched_by_name_and_by_position_only_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = tiny_model(d);
    let m = model.to_str().unwrap();
    let abc = write(d, "abc.csv", "a,b,c\n1,2,3\n");
    let o = sapm_in(
        d,
        &[
            "predict",
            "--model",
            m,
            "--input",
            abc.to_str().unwrap(),
            "--output",
            "p.csv",
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("missing [\"x\"]") && e.contains("--by-position"),
        "{e}"
    );
    assert!(!d.join("p.csv").exists());
    // One unnamed column: by position on request.
    let a = write(d, "a.csv", "a\n0.5\n-1\n");
    let o = sapm_in(
        d,
        &[
            "predict",
            "--model",
            m,
            "--input",
            a.to_str().unwrap(),
            "--output",
            "p.csv",
            "--by-position",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let by_pos = std::fs::read_to_string(d.join("p.csv")).unwrap();
    let x = write(d, "x.csv", "other,x\n9,0.5\n9,-1\n");
    let o = sapm_in(
        d,
        &[
            "predict",
            "--model",
            m,
            "--input",
            x.to_str().unwrap(),
            "--output",
            "q.csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(d.join("q.csv")).unwrap(), by_pos);
    // --by-position needs the exact column count.
    let o = sapm_in(
        d,
        &[
            "predict",
            "--model",
            m,
            "--input",
            abc.to_str().unwrap(),
            "--output",
            "p.csv",
            "--by-position",
        ],
    );
    assert!(stderr(&o).contains("exactly 1 columns"), "{}", stderr(&o));
    // eval: by name, or inputs then outputs by position.
    let o = sapm_in(d, &["eval", "--model", m, "--data", abc.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let ab = write(d, "ab.csv", "a,b\n0.5,0.2\n-1,0.8\n");
    let o = sapm_in(
        d,
        &[
            "eval",
            "--model",
            m,
            "--data",
            ab.to_str().unwrap(),
            "--by-position",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let xy = write(d, "xy.csv", "y,x\n0.2,0.5\n0.8,-1\n");
    let o2 = sapm_in(d, &["eval", "--model", m, "--data", xy.to_str().unwrap()]);
    assert!(o2.status.success(), "{}", stderr(&o2));
    assert_eq!(o.stdout, o2.stdout);
}

/// A 10 MB field came back whole in the error message.
#[test]
fn messages_quote_at_most_about_200_characters_of_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big = "9".repeat(10 << 20);
    write(d, "big.csv", &format!("x,y\n1,2\n3,{big}z\n"));
    let cfg = write(
        d,
        "c.toml",
        &TINY.replace(
            "[data]\nn_train = 30\nn_test = 40\n",
            "[data]\ntrain = \"big.csv\"\n",
        ),
    );
    let o = sapm_in(
        d,
        &[
            "train",
            "--quiet",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "run",
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(e.len() < 1000, "{} bytes of message", e.len());
    assert!(
        e.contains("line 3") && e.contains("(10485761 bytes)"),
        "{e}"
    );
    assert_eq!(e.matches("bytes)").count(), 1, "cut twice: {e}");
    let o = sapm_in(
        d,
        &[
            "train",
            "--quiet",
            "--out",
            "run",
            "--set",
            &format!("method={}", &big[..100_000]),
        ],
    );
    assert!(stderr(&o).len() < 1000, "{} bytes", stderr(&o).len());
}

/// A model with weights of 1e308 predicted inf and exited 0; non-finite
/// predictions are now an error and nothing is written.
#[test]
fn non_finite_predictions_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = write(
        d,
        "m.json",
        r#"{"format": "sapm-model", "version": 1, "activation": "tanh", "widths": [1, 1],
            "input_names": ["x"], "output_names": ["y"],
            "layers": [{"weight": [[1e308]], "bias": [0.0]}]}"#,
    );
    let input = write(d, "in.csv", "x\n0.5\n10\n");
    let o = sapm_in(
        d,
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            "p.csv",
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("row 2") && e.contains("inf"), "{e}");
    assert!(!d.join("p.csv").exists());
    let data = write(d, "xy.csv", "x,y\n0.5,1\n10,1\n");
    let o = sapm_in(
        d,
        &[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

/// `--set data.train=f.csv` was read from the working directory while the
/// file's own paths are relative to the config's folder; now both are.
/// `--set pde.f=0` (a number to TOML) is the expression "0".
#[test]
fn override_paths_and_strings_read_like_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("cfg")).unwrap();
    let mut csv = String::from("x,y\n");
    for i in 0..40 {
        let x = i as f64 / 10.0;
        csv.push_str(&format!("{x},{}\n", x.sin()));
    }
    write(&d.join("cfg"), "other.csv", &csv);
    write(
        &d.join("cfg"),
        "c.toml",
        &TINY.replace(
            "[data]\nn_train = 30\nn_test = 40\n",
            "[data]\ntrain = \"missing.csv\"\n",
        ),
    );
    let o = sapm_in(
        d,
        &[
            "train",
            "--quiet",
            "--config",
            "cfg/c.toml",
            "--out",
            "run",
            "--set",
            "data.train=other.csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        s["n_train"].as_u64().unwrap() + s["n_test"].as_u64().unwrap(),
        40
    );
    let pde = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/pde-custom.toml"
    );
    let o = sapm_in(
        d,
        &[
            "train",
            "--quiet",
            "--config",
            pde,
            "--out",
            "pde",
            "--set",
            "pde.f=0",
            "--set",
            "train.max_iterations=2",
            "--set",
            "pde.n_interior=30",
            "--set",
            "pde.n_boundary=10",
            "--set",
            "pde.n_test=5",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Peak resident memory of a finished child (Linux), sampled from /proc.
fn peak_rss_kb(args: &[&str], dir: &Path) -> Option<u64> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sapm"))
        .current_dir(dir)
        .args(args)
        .spawn()
        .ok()?;
    let status = format!("/proc/{}/status", child.id());
    let mut peak = None;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(l) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            peak = l
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .or(peak);
        }
        if child.try_wait().ok()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(child.wait().ok()?.success());
    peak
}

/// `predict` read all rows and pushed them through the network in one
/// piece (10 M rows at width 2000 asked for 160 GB). Rows now stream in
/// batches: ten times the rows, about the same memory, the same numbers.
#[test]
fn predict_streams_rows_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = write(d, "c.toml", &TINY.replace("width = 6", "width = 200"));
    let o = sapm_in(
        d,
        &[
            "train",
            "--quiet",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "run",
            "--set",
            "train.max_iterations=1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = |n: usize| {
        let mut s = String::with_capacity(n * 12);
        s.push_str("x\n");
        for i in 0..n {
            s.push_str(&format!("{}\n", (i % 1000) as f64 / 200.0 - 2.5));
        }
        s
    };
    write(d, "small.csv", &rows(30_000));
    write(d, "large.csv", &rows(300_000));
    let args = |input: &'static str, out: &'static str| -> Vec<&'static str> {
        vec![
            "predict",
            "--model",
            "run/model.json",
            "--input",
            input,
            "--output",
            out,
        ]
    };
    let (Some(small), Some(large)) = (
        peak_rss_kb(&args("small.csv", "s.csv"), d),
        peak_rss_kb(&args("large.csv", "l.csv"), d),
    ) else {
        eprintln!("no /proc: skipped");
        return;
    };
    // The whole-table forward pass would add about 300k x 410 rows x 8 B = 1 GB.
    assert!(
        large < small + 60_000,
        "peak RSS grew from {small} kB to {large} kB with the rows"
    );
    let s = std::fs::read_to_string(d.join("s.csv")).unwrap();
    let l = std::fs::read_to_string(d.join("l.csv")).unwrap();
    assert_eq!(l.lines().count(), 300_001);
    assert!(l.starts_with(&s[..s.len() - 1]));
    // A tight memory limit means smaller batches, not other numbers.
    let o = sapm_in(
        d,
        &[
            "predict",
            "--model",
            "run/model.json",
            "--input",
            "small.csv",
            "--output",
            "t.csv",
            "--max-memory",
            "300M",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(d.join("t.csv")).unwrap(), s);
    let o = sapm_in(
        d,
        &[
            "predict",
            "--model",
            "run/model.json",
            "--input",
            "small.csv",
            "--output",
            "u.csv",
            "--max-memory",
            "1M",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("more than the limit"), "{}", stderr(&o));
}

/// `predict` polls for Ctrl-C/SIGTERM between batches: it stops within a
/// second with exit code 4, and the partial output is removed.
#[test]
fn sigterm_stops_a_long_prediction_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = write(d, "c.toml", &TINY.replace("width = 6", "width = 300"));
    let o = sapm_in(
        d,
        &[
            "train",
            "--quiet",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "run",
            "--set",
            "train.max_iterations=1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut s = String::from("x\n");
    for i in 0..1_500_000 {
        s.push_str(&format!("{}\n", (i % 997) as f64 / 200.0 - 2.5));
    }
    write(d, "big.csv", &s);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sapm"))
        .current_dir(d)
        .args([
            "predict",
            "--model",
            "run/model.json",
            "--input",
            "big.csv",
            "--output",
            "p.csv",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the output's temporary file exists: rows are flowing.
    let t0 = std::time::Instant::now();
    let writing = || {
        std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".sapm-tmp"))
    };
    while !writing() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the signal"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "never started writing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let t1 = std::time::Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        t1.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t1.elapsed()
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    assert!(!d.join("p.csv").exists());
    assert!(!writing(), "a temporary file was left behind");
}
