//! Inputs under careless use (issue 14): columns by name, huge values in
//! messages, non-finite predictions, relative paths in overrides, rows
//! streamed through `predict`.

mod common;

use common::{
    TINY_DATA, assert_code, assert_ok, command, eval_args, example, json, predict_args, sapm_in,
    stderr, table, terminate, tiny, train_args, write,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A trained tiny model (inputs `x`, output `y`) of hidden `width` in
/// `dir/run`, trained with `extra` arguments.
fn tiny_model(dir: &Path, width: usize, extra: &[&str]) -> PathBuf {
    let text = tiny("ls-adam").replace("width = 6", &format!("width = {width}"));
    let cfg = write(dir, "c.toml", &text);
    assert_ok(&sapm_in(dir, train_args(&cfg, "run", extra)));
    dir.join("run/model.json")
}

/// A file with columns a, b, c was taken by position for a model trained
/// on x; now columns are matched by name, and by position only on request.
#[test]
fn columns_are_matched_by_name_and_by_position_only_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = tiny_model(d, 6, &[]);
    let m = model.to_str().unwrap();
    let abc = write(d, "abc.csv", "a,b,c\n1,2,3\n");
    let e = assert_code(&sapm_in(d, predict_args(m, &abc, "p.csv", &[])), 1);
    assert!(
        e.contains("missing [\"x\"]") && e.contains("--by-position"),
        "{e}"
    );
    assert!(!d.join("p.csv").exists());
    // One unnamed column: by position on request.
    let a = write(d, "a.csv", "a\n0.5\n-1\n");
    assert_ok(&sapm_in(
        d,
        predict_args(m, &a, "p.csv", &["--by-position"]),
    ));
    let by_pos = std::fs::read_to_string(d.join("p.csv")).unwrap();
    let x = write(d, "x.csv", "other,x\n9,0.5\n9,-1\n");
    assert_ok(&sapm_in(d, predict_args(m, &x, "q.csv", &[])));
    assert_eq!(std::fs::read_to_string(d.join("q.csv")).unwrap(), by_pos);
    // --by-position needs the exact column count.
    let o = sapm_in(d, predict_args(m, &abc, "p.csv", &["--by-position"]));
    assert!(stderr(&o).contains("exactly 1 columns"), "{}", stderr(&o));
    // eval: by name, or inputs then outputs by position.
    let o = sapm_in(d, eval_args(m, &abc, &[]));
    assert_eq!(o.status.code(), Some(1));
    let ab = write(d, "ab.csv", "a,b\n0.5,0.2\n-1,0.8\n");
    let o = sapm_in(d, eval_args(m, &ab, &["--by-position"]));
    assert_ok(&o);
    let xy = write(d, "xy.csv", "y,x\n0.2,0.5\n0.8,-1\n");
    let o2 = sapm_in(d, eval_args(m, &xy, &[]));
    assert_ok(&o2);
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
        &tiny("ls-adam").replace(TINY_DATA, "[data]\ntrain = \"big.csv\"\n"),
    );
    let o = sapm_in(d, train_args(&cfg, "run", &[]));
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(e.len() < 1000, "{} bytes of message", e.len());
    assert!(
        e.contains("line 3") && e.contains("(10485761 bytes)"),
        "{e}"
    );
    assert_eq!(e.matches("bytes)").count(), 1, "cut twice: {e}");
    let method = format!("method={}", &big[..100_000]);
    let o = sapm_in(d, ["train", "--quiet", "--out", "run", "--set", &method]);
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
    let e = assert_code(&sapm_in(d, predict_args(&model, &input, "p.csv", &[])), 1);
    assert!(e.contains("row 2") && e.contains("inf"), "{e}");
    assert!(!d.join("p.csv").exists());
    let data = write(d, "xy.csv", "x,y\n0.5,1\n10,1\n");
    assert_code(&sapm_in(d, eval_args(&model, &data, &[])), 1);
}

/// `--set data.train=f.csv` was read from the working directory while the
/// file's own paths are relative to the config's folder; now both are.
/// `--set pde.f=0` (a number to TOML) is the expression "0".
#[test]
fn override_paths_and_strings_read_like_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("cfg")).unwrap();
    let csv = table("x,y", 40, |i| {
        let x = i as f64 / 10.0;
        format!("{x},{}", x.sin())
    });
    write(&d.join("cfg"), "other.csv", &csv);
    write(
        &d.join("cfg"),
        "c.toml",
        &tiny("ls-adam").replace(TINY_DATA, "[data]\ntrain = \"missing.csv\"\n"),
    );
    let set = ["--set", "data.train=other.csv"];
    assert_ok(&sapm_in(d, train_args("cfg/c.toml", "run", &set)));
    let s = json(&d.join("run/summary.json"));
    assert_eq!(
        s["n_train"].as_u64().unwrap() + s["n_test"].as_u64().unwrap(),
        40
    );
    let o = sapm_in(
        d,
        train_args(
            example("pde-custom.toml"),
            "pde",
            &[
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
        ),
    );
    assert_ok(&o);
}

/// Peak resident memory of a finished child (Linux), sampled from /proc.
fn peak_rss_kb(args: Vec<std::ffi::OsString>, dir: &Path) -> Option<u64> {
    let mut child = command(args).current_dir(dir).spawn().ok()?;
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
    tiny_model(d, 200, &["--set", "train.max_iterations=1"]);
    let rows = |n: usize| table("x", n, |i| format!("{}", (i % 1000) as f64 / 200.0 - 2.5));
    write(d, "small.csv", &rows(30_000));
    write(d, "large.csv", &rows(300_000));
    let args = |input: &str, out: &str| predict_args("run/model.json", input, out, &[]);
    let (Some(small), Some(large)) = (
        peak_rss_kb(args("small.csv", "s.csv"), d),
        peak_rss_kb(args("large.csv", "l.csv"), d),
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
    let limit = ["--max-memory", "300M"];
    let small_with = |out: &str, extra: &[&str]| {
        sapm_in(d, predict_args("run/model.json", "small.csv", out, extra))
    };
    assert_ok(&small_with("t.csv", &limit));
    assert_eq!(std::fs::read_to_string(d.join("t.csv")).unwrap(), s);
    let o = small_with("u.csv", &["--max-memory", "1M"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("more than the limit"), "{}", stderr(&o));
}

/// `predict` polls for Ctrl-C/SIGTERM between batches: it stops within a
/// second with exit code 4, and the partial output is removed.
#[test]
fn sigterm_stops_a_long_prediction_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_model(d, 300, &["--set", "train.max_iterations=1"]);
    let s = table("x", 1_500_000, |i| {
        format!("{}", (i % 997) as f64 / 200.0 - 2.5)
    });
    write(d, "big.csv", &s);
    let mut child = command(predict_args("run/model.json", "big.csv", "p.csv", &[]))
        .current_dir(d)
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
    terminate(&child);
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
