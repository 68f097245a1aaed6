//! When a run stops: the stopping rules, the clock they are measured on and
//! the status a run ends with.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// When to stop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StopRules {
    /// Maximum number of iterations (>= 1).
    pub max_iterations: usize,
    /// Time limit in seconds of training (evaluation excluded), on `clock`; 0 = none.
    pub max_seconds: f64,
    /// Which clock measures training time.
    pub clock: Clock,
    /// Stop with `converged` once the objective is at or below this; 0 = off.
    pub target_loss: f64,
    /// Stop with `converged` when the objective changes by less than this
    /// fraction in one iteration; 0 = off.
    pub rel_tol: f64,
    /// Stop with `diverged` when the objective exceeds this multiple of its
    /// initial value (or any weight or loss is NaN/Inf).
    pub divergence_factor: f64,
}

impl Default for StopRules {
    fn default() -> Self {
        StopRules {
            max_iterations: 1000,
            max_seconds: 0.0,
            clock: Clock::Wall,
            target_loss: 0.0,
            rel_tol: 0.0,
            divergence_factor: 1e4,
        }
    }
}

/// Which clock times training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// Elapsed wall time (what users wait for).
    #[default]
    Wall,
    /// CPU time of the whole process (all threads): robust to other jobs on a
    /// shared machine, so equal-time comparisons stay fair under load.
    Cpu,
}

impl Clock {
    /// Seconds on this clock since an arbitrary origin.
    pub fn now(self) -> f64 {
        match self {
            Clock::Wall => {
                static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
                ORIGIN.get_or_init(Instant::now).elapsed().as_secs_f64()
            }
            Clock::Cpu => {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: clock_gettime writes one timespec into the valid pointer.
                let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
                if rc == 0 {
                    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
                } else {
                    Clock::Wall.now()
                }
            }
        }
    }
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Reached `max_iterations`.
    MaxIterations,
    /// A tolerance fired (target loss, relative change, or the method's own test).
    Converged,
    /// Reached `max_seconds`.
    TimeLimit,
    /// NaN/Inf or explosion; the model is the last finite one.
    Diverged,
    /// Stopped by the observer (Ctrl-C).
    Interrupted,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 5] = [
        Status::MaxIterations,
        Status::Converged,
        Status::TimeLimit,
        Status::Diverged,
        Status::Interrupted,
    ];

    /// The status named `s` (as [`Status::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// snake_case name as written in `summary.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::MaxIterations => "max_iterations",
            Status::Converged => "converged",
            Status::TimeLimit => "time_limit",
            Status::Diverged => "diverged",
            Status::Interrupted => "interrupted",
        }
    }
}
