//! `mpirun -n K sapm train` (feature `mpi`; needs Open MPI's `mpirun`):
//! 1, 2 and 3 ranks give the same weights to 1e-10 relative for every method
//! that runs distributed; a rank that dies mid-run ends the job with an error
//! within seconds, and so does a bad value in one rank's rows of a data file
//! (each rank reads only its rows); unsupported methods are refused by name.
#![cfg(feature = "mpi")]

mod common;

use common::{BIN, tiny};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `mpirun -n k sapm train --config cfg --out out` (oversubscribed: the
/// CI machine has 2 cores; as root when the tests run as root).
fn mpirun(k: usize, cfg: &Path, out: &Path, env: &[(&str, &str)]) -> Output {
    let args = [Path::new("--config"), cfg, Path::new("--out"), out];
    mpirun_with(k, &args, env)
}

/// `mpirun -n k sapm train --quiet --threads 1 ARGS`.
fn mpirun_with(k: usize, args: &[&Path], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("mpirun");
    c.args(["-n", &k.to_string(), "--oversubscribe"]);
    if is_root() {
        c.arg("--allow-run-as-root");
    }
    for (name, value) in env {
        // Exported to every rank.
        c.env(name, value).args(["-x", name]);
    }
    c.args([BIN, "train", "--quiet", "--threads", "1"])
        .args(args);
    c.output().expect("mpirun runs")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn weights(out: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(out.join("model.json")).expect("model.json");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut w = Vec::new();
    collect_numbers(&v["layers"], &mut w);
    assert!(!w.is_empty(), "no weights in {text}");
    w
}

fn collect_numbers(v: &serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Number(n) => out.push(n.as_f64().unwrap()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_numbers(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_numbers(x, out)),
        _ => {}
    }
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    (d / b.iter().map(|y| y * y).sum::<f64>()).sqrt()
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// 1, 2 and 3 ranks: the gradient methods agree to 1e-10 relative. PM/SAPM's
/// Cholesky weight steps amplify round-off (the Gram matrices are
/// ill-conditioned), so one rank with another block size (another summation
/// order) moves their weights by ~1e-10 already; K ranks must stay within
/// 10x of that.
#[test]
fn one_two_and_three_ranks_give_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    // `ls-adam` with 16-sample batches: every rank draws the whole set's batches.
    for (method, batch) in [
        ("ls-gd", 0),
        ("ls-adam", 0),
        ("ls-adam", 16),
        ("ls-lbfgs", 0),
        ("pm", 0),
        ("sapm", 0),
        ("lm", 0),
    ] {
        let mut text = tiny(method).replace("n_train = 30", "n_train = 61");
        if batch > 0 {
            text.push_str(&format!("batch_size = {batch}\n"));
        }
        let penalty = method == "pm" || method == "sapm";
        let write = |name: &str, extra: &str| {
            let cfg = dir.path().join(format!("{name}.toml"));
            let mut t = text.clone();
            if penalty {
                // The QR path is single-process only: compare like with like.
                t.push_str(&format!("[{method}]\nsolver = \"cholesky\"\n{extra}"));
            }
            std::fs::write(&cfg, t).unwrap();
            cfg
        };
        let cfg = write(&format!("{method}{batch}"), "");
        let run = |k: usize, cfg: &Path, tag: &str| {
            let out = dir.path().join(format!("{method}{batch}-{tag}{k}"));
            ok(
                &mpirun(k, cfg, &out, &[]),
                &format!("{method} on {k} ranks"),
            );
            weights(&out)
        };
        let one = run(1, &cfg, "");
        let tol = if penalty {
            let reblocked = run(1, &write(&format!("{method}-b"), "block = 16\n"), "b");
            10.0 * rel(&reblocked, &one).max(1e-11)
        } else {
            1e-10
        };
        for k in [2, 3] {
            let e = rel(&run(k, &cfg, ""), &one);
            assert!(
                e < tol,
                "{method}: {k} ranks differ from 1 by {e:e} (tolerance {tol:e})"
            );
        }
    }
}

/// Five ranks (one fold step and two doubling rounds of the reduction tree):
/// two runs give the same bits, and the weights agree with one process.
#[test]
fn five_ranks_give_the_same_bits_twice() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("adam.toml");
    std::fs::write(
        &cfg,
        tiny("ls-adam").replace("n_train = 30", "n_train = 61"),
    )
    .unwrap();
    let run = |k: usize, tag: &str| {
        let out = dir.path().join(format!("{tag}{k}"));
        ok(
            &mpirun(k, &cfg, &out, &[]),
            &format!("ls-adam on {k} ranks"),
        );
        weights(&out)
    };
    let (a, b) = (run(5, "a"), run(5, "b"));
    let bits = |w: &[f64]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b), "5 ranks: two runs differ");
    let e = rel(&a, &run(1, "a"));
    assert!(e < 1e-10, "5 ranks differ from 1 by {e:e}");
}

#[test]
fn a_rank_that_dies_ends_the_job_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sapm.toml");
    let text = tiny("sapm").replace("max_iterations = 15", "max_iterations = 100000");
    std::fs::write(&cfg, text).unwrap();
    let t0 = Instant::now();
    let o = mpirun(
        2,
        &cfg,
        &dir.path().join("out"),
        &[("SAPM_MPI_DIE_RANK", "1"), ("SAPM_MPI_DIE_AFTER", "50")],
    );
    let took = t0.elapsed();
    assert!(!o.status.success(), "the job succeeded");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("SAPM_MPI_DIE_AFTER"), "{err}");
    assert!(!dir.path().join("out").join("model.json").exists());
}

/// Each rank reads only its rows of a data file: 2 ranks on a CSV file
/// (seeded split, standard scaling from sums over the shards) give the
/// weights of 1 rank to 1e-10; a non-finite value in rank 1's rows of a
/// `.npy` file ends the job within seconds with the whole read's message.
#[test]
fn ranks_read_their_rows_and_a_bad_row_ends_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut text = String::from("x,y\n");
    for j in 0..90 {
        let x = 3.0 * (j as f64 * 0.37).sin() + 5.0;
        text += &format!("{x},{}\n", (x * x).sin() * 40.0 + 7.0);
    }
    std::fs::write(d.join("d.csv"), text).unwrap();
    let cfg = |train: &str, test: &str| {
        let text = tiny("ls-adam").replace(
            "[data]\nn_train = 30\nn_test = 40\n",
            &format!(
                "[data]\ntrain = {:?}\n{test}",
                d.join(train).display().to_string()
            ),
        );
        let path = d.join(format!("{train}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let csv = cfg("d.csv", "");
    let one = mpirun(1, &csv, &d.join("one"), &[]);
    ok(&one, "1 rank");
    let two = mpirun(2, &csv, &d.join("two"), &[]);
    ok(&two, "2 ranks");
    let e = rel(&weights(&d.join("two")), &weights(&d.join("one")));
    assert!(e < 1e-10, "2 ranks vs 1: {e:e}");

    let mut v: Vec<f64> = (0..80).map(|k| k as f64 / 80.0).collect();
    v[2 * 30 + 1] = f64::NAN; // row 30: rank 1's half of 40 rows
    sapm::data::write_npy(&d.join("bad.npy"), 40, 2, &v).unwrap();
    sapm::data::write_npy(&d.join("test.npy"), 2, 2, &[0.1, 0.2, 0.3, 0.4]).unwrap();
    let test = format!("test = {:?}\n", d.join("test.npy").display().to_string());
    let t0 = Instant::now();
    let o = mpirun(2, &cfg("bad.npy", &test), &d.join("bad"), &[]);
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the job succeeded");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(
        err.contains("rank 1 of 2") && err.contains("row 30, column 1: value NaN is not finite"),
        "{err}"
    );
    assert!(!d.join("bad").join("model.json").exists());
}

#[test]
fn unsupported_methods_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("varpro.toml");
    std::fs::write(&cfg, tiny("varpro")).unwrap();
    let o = mpirun(2, &cfg, &dir.path().join("out"), &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("varpro does not run on several processes"),
        "{err}"
    );
}

/// A 2-rank run stopped after 7 iterations (checkpoints every 3) resumes on
/// 2 ranks to the weights of 12 iterations in one go, bit for bit; on 1 and
/// 3 ranks (the replicated state from rank 0's file, SAPM's auxiliaries
/// re-cut to the new ranks' rows) to those of 12 iterations straight on as
/// many ranks, within the 1/2/3-rank tolerance (1e-10; SAPM: 10x one rank's
/// spread over block sizes). A missing rank file is named.
#[test]
fn a_two_rank_checkpoint_resumes_on_one_two_and_three_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for method in ["sapm", "ls-lbfgs"] {
        let mut text = tiny(method).replace("max_iterations = 15", "max_iterations = 12")
            + "checkpoint_every = 3\n";
        if method == "sapm" {
            // The QR path is single-process only: compare like with like.
            text += "[sapm]\nsolver = \"cholesky\"\n";
        }
        let write = |name: &str, text: &str| {
            let cfg = d.join(format!("{method}-{name}.toml"));
            std::fs::write(&cfg, text).unwrap();
            cfg
        };
        let cfg = write("full", &text);
        let short = write(
            "short",
            &text.replace("max_iterations = 12", "max_iterations = 7"),
        );
        let first = d.join(format!("{method}-first"));
        ok(&mpirun(2, &short, &first, &[]), "first 7 iterations");
        let straight = |k: usize, cfg: &Path, tag: &str| {
            let out = d.join(format!("{method}-straight{tag}{k}"));
            ok(
                &mpirun(k, cfg, &out, &[]),
                &format!("{method} on {k} ranks"),
            );
            weights(&out)
        };
        let tol = if method == "sapm" {
            let other = write("b", &format!("{text}block = 16\n"));
            10.0 * rel(&straight(1, &other, "b"), &straight(1, &cfg, "")).max(1e-11)
        } else {
            1e-10
        };
        let resume = |k: usize, tag: &str, skip: Option<&str>| {
            let out = d.join(format!("{method}-resumed{tag}{k}"));
            std::fs::create_dir_all(&out).unwrap();
            for e in std::fs::read_dir(&first).unwrap() {
                let name = e.unwrap().file_name().into_string().unwrap();
                if name.starts_with("checkpoint.") && Some(name.as_str()) != skip {
                    std::fs::copy(first.join(&name), out.join(&name)).unwrap();
                }
            }
            let set = [
                Path::new("--resume"),
                &out,
                Path::new("--set"),
                Path::new("train.max_iterations=12"),
            ];
            (mpirun_with(k, &set, &[]), out)
        };
        for k in [2, 1, 3] {
            let (o, out) = resume(k, "", None);
            ok(&o, &format!("{method}: resumed on {k} ranks"));
            assert!(out.join(format!("checkpoint.rank0-of-{k}.sapm")).exists());
            let (got, want) = (weights(&out), straight(k, &cfg, ""));
            if k == 2 {
                assert_eq!(got, want, "{method}: resumed run differs");
            }
            let e = rel(&got, &want);
            assert!(
                e < tol,
                "{method}: 2 -> {k} ranks: {e:e} (tolerance {tol:e})"
            );
        }
        let (o, _) = resume(3, "missing", Some("checkpoint.rank1-of-2.sapm"));
        assert!(!o.status.success(), "resumed without rank 1's file");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("checkpoint.rank1-of-2.sapm: missing"), "{err}");
    }
}

/// A second-order PINN (heat1d, LM) on 2 ranks gives the weights of a plain
/// single-process run to 1e-10 relative; rank 0 writes the output.
/// Refinement is refused by name.
#[test]
fn a_pinn_on_two_ranks_gives_the_single_process_weights() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("heat.toml");
    let text = "method = \"lm\"\nseed = 3\n[network]\ndepth = 3\nwidth = 6\n[train]\nmax_iterations = 10\nrecord_every = 5\n[pde]\nproblem = \"heat1d\"\nn_interior = 60\nn_boundary = 20\nn_test = 11\n";
    std::fs::write(&cfg, text).unwrap();
    let one = dir.path().join("one");
    let o = common::command(["train", "--quiet", "--threads", "1", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&one)
        .output()
        .unwrap();
    ok(&o, "single process");
    let two = dir.path().join("two");
    ok(&mpirun(2, &cfg, &two, &[]), "heat1d on 2 ranks");
    let e = rel(&weights(&two), &weights(&one));
    assert!(e < 1e-10, "2 ranks differ from 1 process by {e:e}");
    assert!(two.join("summary.json").exists() && two.join("history.csv").exists());
    let refine = dir.path().join("refine.toml");
    let more = "[pde.refine]\nrounds = 1\ncandidates = 100\nadd = 10\n";
    std::fs::write(&refine, format!("{text}{more}")).unwrap();
    let o = mpirun(2, &refine, &dir.path().join("r"), &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("pde.refine") && err.contains("several processes"),
        "{err}"
    );
}
