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
//! `fuzz_targets!` at the bottom of this file (targets live in the modules
//! `files`, `config`, `model` and `expr`; mutations in `mutate`).

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
    /// Meaningful tokens (keys, field names) for insertions, in lists.
    dictionary: &'static [&'static [&'static str]],
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

/// Checks an accepted table, then picks its columns as loading does: that
/// step must reject cleanly too, and keep every row.
fn check_table(path: &Path, t: sapm::data::Table) -> Result<(), Error> {
    assert!(t.rows > 0, "accepted a table without rows");
    assert_eq!(t.values.len(), t.rows * t.names.len(), "table size");
    assert!(t.values.iter().all(|v| v.is_finite()), "non-finite value");
    assert!(t.names.iter().all(|n| !n.is_empty()), "empty column name");
    let mut names = t.names.clone();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), t.names.len(), "duplicate column names");
    let d = t.to_dataset(path, None, None)?;
    assert_eq!(d.len(), t.rows);
    Ok(())
}

mod config;
mod expr;
mod files;
mod model;
mod mutate;

use config::*;
use expr::*;
use files::*;
use model::*;
use mutate::*;

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
