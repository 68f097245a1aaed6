//! Output folders under hostile or careless use (issue 14): links, two runs
//! at once, leftovers of a killed run, read-only and full folders, and a
//! spec error that must leave nothing behind.

mod common;

use common::{
    assert_code, assert_ok, command, json, names, predict_args, sapm, stderr, terminate, tiny,
    train, train_args, write,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A temporary folder holding the tiny ls-adam config `c.toml`.
fn tiny_in_temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", &tiny("ls-adam"));
    (dir, cfg)
}

/// A link planted in the output folder under the old predictable
/// temporary name made a run overwrite a file outside the folder. Links are
/// never followed: outputs that are links and --out folders that are links
/// are refused, and nothing outside changes.
#[cfg(unix)]
#[test]
fn links_never_lead_an_output_outside_its_folder() {
    let (dir, cfg) = tiny_in_temp();
    let d = dir.path();
    let victim = write(d, "victim.txt", "precious");
    let out = d.join("run");
    std::fs::create_dir(&out).unwrap();
    for name in [
        ".model.json.tmp1".to_string(),
        ".summary.json.tmp2".into(),
        format!(".history.csv.tmp{}", 3),
    ] {
        std::os::unix::fs::symlink(&victim, out.join(name)).unwrap();
    }
    // Links under names of temporaries: harmless, removed as leftovers.
    assert_ok(&train(&cfg, &out, &[]));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(out.join("summary.json").is_file());
    // An output that is itself a link: refused before training.
    std::fs::remove_file(out.join("model.json")).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("model.json")).unwrap();
    let e = assert_code(&train(&cfg, &out, &[]), 1);
    assert!(e.contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // --out itself a link: refused (give the real folder).
    let link = d.join("link");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    let o = train(&cfg, &link, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    // predict --output a link: refused.
    std::fs::remove_file(out.join("model.json")).unwrap();
    assert!(train(&cfg, &out, &[]).status.success());
    let input = write(d, "in.csv", "x\n0.5\n");
    let pred = d.join("pred.csv");
    std::os::unix::fs::symlink(&victim, &pred).unwrap();
    let o = sapm(predict_args(out.join("model.json"), &input, &pred, &[]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

/// Two runs into one folder mixed their files. The second is refused at
/// once with a message naming the first's pid, and the first is unharmed.
#[test]
fn a_second_run_into_a_busy_folder_is_refused() {
    let (dir, cfg) = tiny_in_temp();
    let d = dir.path();
    let out = d.join("run");
    let long = ["--set", "train.max_iterations=100000000"];
    let mut first = command(train_args(&cfg, &out, &long))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !out.join(".sapm.lock").exists() {
        assert!(t0.elapsed() < Duration::from_secs(30), "no lock file");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let o = train(&cfg, &out, &[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("another sapm run") && e.contains(&format!("pid {}", first.id())),
        "{e}"
    );
    // The first run stops cleanly on SIGTERM and writes its outputs.
    terminate(&first);
    let st = first.wait().unwrap();
    assert_eq!(st.code(), Some(4));
    assert_eq!(json(&out.join("summary.json"))["status"], "interrupted");
    // Once it is done, the folder takes a new run.
    assert!(train(&cfg, &out, &[]).status.success());
}

/// A killed run's temporary files and unpublished staging folder are
/// removed by the next run; a published one is completed first.
#[test]
fn leftovers_of_a_killed_run_are_cleaned_by_the_next() {
    let (dir, cfg) = tiny_in_temp();
    let d = dir.path();
    let out = d.join("run");
    std::fs::create_dir(&out).unwrap();
    write(&out, ".checkpoint.sapm.k3J9xQ2mZp.sapm-tmp", "partial");
    write(&out, ".model.json.tmp12345", "partial");
    std::fs::create_dir(out.join(".sapm-staging-abc")).unwrap();
    write(&out.join(".sapm-staging-abc"), "model.json", "half");
    write(&out, "loss.png", "an old plot");
    write(&out, "notes.txt", "the user's");
    assert_ok(&train(&cfg, &out, &[]));
    assert_eq!(
        names(&out),
        vec![
            ".sapm.lock",
            "history.csv",
            "model.json",
            "notes.txt",
            "summary.json"
        ]
    );
}

/// A bad spec or bad data exits with its message and leaves no folder;
/// an existing folder keeps what it had.
#[test]
fn errors_before_training_leave_no_output_folder() {
    let (dir, cfg) = tiny_in_temp();
    let d = dir.path();
    let file_cfg = write(
        d,
        "f.toml",
        "[network]\ndepth = 2\nwidth = 4\n[data]\ntrain = \"nope.csv\"\n",
    );
    let pde = write(
        d,
        "p.toml",
        "method = \"ls-adam\"\n[pde]\nproblem = \"custom\"\nlo = [0.0]\nhi = [1.0]\nc = [\"1\"]\ng = \"sin(q)\"\n",
    );
    for (args, want) in [
        (
            vec!["--config", pde.to_str().unwrap()],
            "unknown variable `q`",
        ),
        (vec!["--config", file_cfg.to_str().unwrap()], "nope.csv"),
        (
            vec!["--config", cfg.to_str().unwrap(), "--max-memory", "1M"],
            "more than the limit",
        ),
    ] {
        let out = d.join("out");
        let mut full = vec!["train", "--quiet", "--out", out.to_str().unwrap()];
        full.extend(args.iter().copied());
        let o = sapm(full);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} left {:?}", names(&out));
    }
    let kept = d.join("kept");
    std::fs::create_dir(&kept).unwrap();
    write(&kept, "mine.txt", "x");
    let o = train(&pde, &kept, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(names(&kept), vec!["mine.txt"]);
}

/// Unmounts on drop.
struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, opts: &str) -> Option<Mount> {
    std::fs::create_dir_all(at).ok()?;
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
        .arg(at)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mount(at.to_path_buf()))
}

/// A read-only or full output folder is found before training (write
/// probe and free space), not after it. Needs to mount a small tmpfs
/// (root in a container); skipped otherwise.
#[test]
fn read_only_and_full_folders_are_refused_before_training() {
    let (dir, cfg) = tiny_in_temp();
    let d = dir.path();
    let Some(ro) = mount_tmpfs(&d.join("ro"), "ro,size=1m") else {
        eprintln!("cannot mount a tmpfs here: skipped");
        return;
    };
    let e = assert_code(&train(&cfg, ro.0.join("run"), &[]), 1);
    assert!(e.contains("Read-only"), "{e}");
    let full = mount_tmpfs(&d.join("full"), "size=64k").expect("second tmpfs");
    // Fill it up.
    let _ = std::fs::write(full.0.join("filler"), vec![1u8; 64 << 10]);
    let t0 = Instant::now();
    let o = train(
        &cfg,
        full.0.join("run"),
        &["--set", "train.max_iterations=100000"],
    );
    let e = assert_code(&o, 1);
    assert!(e.contains("read-only or full") || e.contains("free"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5), "trained first");
    assert!(!full.0.join("run").exists(), "{:?}", names(&full.0));
}
