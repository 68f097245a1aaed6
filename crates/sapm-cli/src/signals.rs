//! Ctrl-C and SIGTERM, phase by phase.
//!
//! | phase | first signal | another one (>= 1 s later) |
//! |---|---|---|
//! | training | stop after this iteration; checkpoint and outputs are written (exit 4) | exit at once, writing nothing (130) |
//! | setup (config, data, probe) and final evaluation | exit at once (4): nothing is written, a checkpoint already written stays, an output folder this run created and left empty is removed | |
//! | writing outputs | the writes finish (they are short and all-or-nothing) | exit at once (130) |
//! | `predict`, `eval`, `plot` | stop at the next batch or figure (4); a partial output file is removed | exit at once (130) |
//!
//! Signals less than a second apart count once: `timeout` and some job
//! controllers signal both the process and its group.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Exit code of a run stopped by Ctrl-C or SIGTERM.
pub const EXIT_INTERRUPTED: u8 = 4;

/// What the command is doing, for the signal handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Reading the config and data, checking memory and the output folder.
    Setup = 0,
    /// The training loop (it polls [`stop_requested`]).
    Training = 1,
    /// After a training loop: final evaluation (no outputs written yet).
    Evaluating = 2,
    /// Staging and publishing the outputs.
    Writing = 3,
    /// `predict`, `eval`, `plot`: loops poll [`stop_requested`].
    Polled = 4,
}

static PHASE: AtomicU8 = AtomicU8::new(Phase::Polled as u8);
static SIGNALS: AtomicU64 = AtomicU64::new(0);
static LAST_MS: AtomicU64 = AtomicU64::new(0);

/// An output folder this run created, removed (if empty but for the lock
/// file) when a signal ends the run early.
static CLEANUP: Mutex<Option<PathBuf>> = Mutex::new(None);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Enter `p`.
pub fn set_phase(p: Phase) {
    PHASE.store(p as u8, Ordering::SeqCst);
}

fn phase() -> Phase {
    match PHASE.load(Ordering::SeqCst) {
        0 => Phase::Setup,
        1 => Phase::Training,
        2 => Phase::Evaluating,
        3 => Phase::Writing,
        _ => Phase::Polled,
    }
}

/// Has Ctrl-C or SIGTERM arrived?
pub fn stop_requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Remember an output folder this run created (see [`CLEANUP`]); `None` forgets it.
pub fn cleanup_on_exit(dir: Option<PathBuf>) {
    if let Ok(mut g) = CLEANUP.lock() {
        *g = dir;
    }
}

fn exit_now(code: i32, why: &str) -> ! {
    eprintln!("{why}");
    if let Ok(g) = CLEANUP.try_lock()
        && let Some(d) = g.as_ref()
    {
        let _ = std::fs::remove_file(d.join(sapm::outdir::LOCK_FILE));
        let _ = std::fs::remove_dir(d);
    }
    std::process::exit(code);
}

/// Install the handler (once per process).
pub fn install() {
    let res = ctrlc::set_handler(|| {
        let now = now_ms();
        let before = SIGNALS.load(Ordering::SeqCst);
        if before > 0 && now.saturating_sub(LAST_MS.load(Ordering::SeqCst)) < 1000 {
            return; // the same signal, sent to the process and its group
        }
        SIGNALS.fetch_add(1, Ordering::SeqCst);
        LAST_MS.store(now, Ordering::SeqCst);
        let again = before > 0;
        match phase() {
            Phase::Setup => exit_now(
                EXIT_INTERRUPTED.into(),
                "interrupt before training: exiting, nothing written",
            ),
            Phase::Evaluating => exit_now(
                EXIT_INTERRUPTED.into(),
                "interrupt during the final evaluation: exiting without writing outputs (a checkpoint already written is kept)",
            ),
            _ if again => exit_now(130, "second interrupt: exiting at once, without writing"),
            Phase::Training => {
                eprintln!("interrupt: stopping after this iteration (again to exit at once)")
            }
            Phase::Writing => {
                eprintln!("interrupt: finishing the outputs being written (again to exit at once)")
            }
            Phase::Polled => eprintln!("interrupt: stopping (again to exit at once)"),
        }
    });
    if let Err(e) = res {
        eprintln!("warning: cannot catch Ctrl-C/SIGTERM ({e}); interrupting will lose the run");
    }
}
