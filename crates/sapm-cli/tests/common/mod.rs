//! What the `sapm` command's integration tests share: running the binary
//! (in a folder, within a time limit, in the background), the argument
//! lists of `train`, `predict` and `eval`, files in temporary folders and
//! the JSON a run writes.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

// The pixel size of a written figure, shared with sapm-study's tests.
#[path = "../../../sapm-study/tests/common/mod.rs"]
mod figures;
#[allow(unused_imports)]
pub use figures::{png_size, svg_size};

/// The `sapm` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sapm");

/// A tiny regression config (depth 3, width 6, 30 + 40 points, 15
/// iterations recorded every 5) for `method`.
pub fn tiny(method: &str) -> String {
    format!(
        "method = \"{method}\"\nseed = 3\n[network]\ndepth = 3\nwidth = 6\n[data]\nn_train = 30\nn_test = 40\n[train]\nmax_iterations = 15\nrecord_every = 5\n"
    )
}

/// The `[data]` lines of [`tiny`], for configs that read a file instead.
pub const TINY_DATA: &str = "[data]\nn_train = 30\nn_test = 40\n";

/// A `sapm` command with `args`, not yet run.
pub fn command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(BIN);
    c.args(args);
    c
}

/// Runs `sapm args` to the end.
pub fn sapm<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command(args).output().expect("runs")
}

/// Runs `sapm args` to the end in the working directory `dir`.
pub fn sapm_in<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command(args).current_dir(dir).output().expect("runs")
}

/// Starts `sapm args` in the background, its output thrown away.
pub fn spawn<I, S>(args: I) -> Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts")
}

/// Waits for `child`, killing it and failing the test after `limit` with
/// `what` in the message.
pub fn wait_within(child: &mut Child, limit: Duration, what: &str) {
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            child.kill().unwrap();
            panic!("{what} after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `sapm args`, killing it and failing the test after `limit`.
pub fn sapm_within<S: AsRef<OsStr>>(args: &[S], limit: Duration) -> Output {
    let shown: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
    let mut child = command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    wait_within(
        &mut child,
        limit,
        &format!("sapm {shown:?} still running: hung"),
    );
    child.wait_with_output().unwrap()
}

/// Sends SIGTERM to `child`.
pub fn terminate(child: &Child) {
    let k = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
}

fn args_of(head: &[&str], pairs: &[(&str, &OsStr)], extra: &[&str]) -> Vec<OsString> {
    let mut v: Vec<OsString> = head.iter().map(OsString::from).collect();
    for (flag, value) in pairs {
        v.push(flag.into());
        v.push(value.into());
    }
    v.extend(extra.iter().map(OsString::from));
    v
}

/// `train --quiet --config cfg --out out extra…`
pub fn train_args(cfg: impl AsRef<OsStr>, out: impl AsRef<OsStr>, extra: &[&str]) -> Vec<OsString> {
    args_of(
        &["train", "--quiet"],
        &[("--config", cfg.as_ref()), ("--out", out.as_ref())],
        extra,
    )
}

/// `train --quiet --resume dir extra…`
pub fn resume_args(dir: impl AsRef<OsStr>, extra: &[&str]) -> Vec<OsString> {
    args_of(&["train", "--quiet"], &[("--resume", dir.as_ref())], extra)
}

/// `predict --model model --input input --output output extra…`
pub fn predict_args(
    model: impl AsRef<OsStr>,
    input: impl AsRef<OsStr>,
    output: impl AsRef<OsStr>,
    extra: &[&str],
) -> Vec<OsString> {
    args_of(
        &["predict"],
        &[
            ("--model", model.as_ref()),
            ("--input", input.as_ref()),
            ("--output", output.as_ref()),
        ],
        extra,
    )
}

/// `eval --model model --data data extra…`
pub fn eval_args(
    model: impl AsRef<OsStr>,
    data: impl AsRef<OsStr>,
    extra: &[&str],
) -> Vec<OsString> {
    args_of(
        &["eval"],
        &[("--model", model.as_ref()), ("--data", data.as_ref())],
        extra,
    )
}

/// Runs `sapm train --quiet --config cfg --out out extra…`.
pub fn train(cfg: impl AsRef<OsStr>, out: impl AsRef<OsStr>, extra: &[&str]) -> Output {
    sapm(train_args(cfg, out, extra))
}

/// Runs `sapm plot dir`.
pub fn plot(dir: &Path) -> Output {
    sapm([Path::new("plot"), dir])
}

/// Fails the test, showing stderr, unless `o` succeeded; returns its stderr.
pub fn assert_ok(o: &Output) -> String {
    let e = stderr(o);
    assert!(o.status.success(), "{e}");
    e
}

/// Fails the test unless `o` exited with `code`; returns its stderr.
pub fn assert_code(o: &Output, code: i32) -> String {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{e}");
    e
}

/// `eval`'s JSON report, which must agree with the summary's `test_mse`
/// (to 1e-12) of the run the model came from.
pub fn eval_matching_summary(o: &Output, summary: &serde_json::Value) -> serde_json::Value {
    assert_ok(o);
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (a, b) = (
        m["mse"].as_f64().unwrap(),
        summary["test_mse"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-12 * b, "eval mse {a} vs summary {b}");
    m
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A CSV table: `header`, then `row(i)` for each of `n` rows.
pub fn table(header: &str, n: usize, row: impl Fn(usize) -> String) -> String {
    let mut s = format!("{header}\n");
    for i in 0..n {
        s.push_str(&row(i));
        s.push('\n');
    }
    s
}

/// The standard error of a finished command, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A JSON file, parsed.
pub fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The sorted names in a folder.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The path of a file in the repository's `examples` folder.
pub fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}
