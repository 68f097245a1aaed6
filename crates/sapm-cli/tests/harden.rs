//! Hostile and careless use of the `sapm` command (issue 14): hangs,
//! signals, output folders, memory, inputs and honest reporting.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sapm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sapm"))
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

/// Runs `sapm args`, killing it and failing the test after `limit`.
fn sapm_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sapm"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            child.kill().unwrap();
            panic!("sapm {args:?} still running after {limit:?}: hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Targets of order 1e160 make the initial objective infinite: L-BFGS used
/// to spin for ever (and ignore SIGTERM); now every method ends at once as
/// diverged (exit code 3) with a message naming the overflow.
#[test]
fn an_infinite_initial_objective_ends_every_gradient_method_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,y\n");
    for i in 0..50 {
        let x = -3.0 + 6.0 * i as f64 / 49.0;
        csv.push_str(&format!("{x},{:e}\n", 1e160 * f64::sin(x)));
    }
    write(dir.path(), "big.csv", &csv);
    let cfg = write(
        dir.path(),
        "big.toml",
        "[network]\ndepth = 3\nwidth = 8\n[data]\ntrain = \"big.csv\"\n[train]\nmax_iterations = 50\n",
    );
    for method in ["ls-lbfgs", "ls-adam-lbfgs", "ls-adam"] {
        let out = dir.path().join(method);
        let t0 = Instant::now();
        let o = sapm_within(
            &[
                "train",
                "--quiet",
                "--config",
                cfg.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--set",
                &format!("method={method}"),
                "--set",
                "adam_lbfgs.adam_steps=0",
            ],
            Duration::from_secs(20),
        );
        assert_eq!(o.status.code(), Some(3), "{method}: {}", stderr(&o));
        assert!(t0.elapsed() < Duration::from_secs(5), "{method}: slow");
        let e = stderr(&o);
        assert!(e.contains("diverged") && e.contains("inf"), "{method}: {e}");
        if method == "ls-lbfgs" {
            assert!(e.contains("inf at the initial weights"), "{e}");
        }
    }
}
