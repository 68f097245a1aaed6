//! Long fits without the GIL: the fit runs on a worker thread (inside a
//! rayon pool of `threads` workers, as `sapm train` does) while the calling
//! thread, holding no GIL, wakes every [`TICK`] to take the GIL briefly, run
//! Python's signal handlers (`Python::check_signals`) and update the progress
//! callback. A `KeyboardInterrupt` (or any exception a signal handler or the
//! callback raises) asks the driver to stop after the current iteration; the
//! fit then returns its model as usual and the exception is handed back to
//! the caller, which keeps the model and raises it.

use crate::convert::to_py_err;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use sapm::driver::{Observer, StopRules};
use sapm::record::Record;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

/// How often the waiting thread looks at signals and progress.
const TICK: Duration = Duration::from_millis(50);

/// What the worker reports and the waiting thread reads.
#[derive(Default)]
pub struct Shared {
    stage: AtomicUsize,
    iteration: AtomicUsize,
    total: AtomicUsize,
    objective: AtomicU64,
    record: Mutex<String>,
    stop: AtomicBool,
}

/// The driver's observer: stores progress, stops when asked.
pub struct Watch<'a> {
    shared: &'a Shared,
    names: Vec<String>,
}

impl Observer for Watch<'_> {
    fn on_start(&mut self, names: &[String], rules: &StopRules) {
        self.names = names.to_vec();
        let s = self.shared;
        s.stage.fetch_add(1, Ordering::Relaxed);
        s.iteration.store(0, Ordering::Relaxed);
        s.total.store(rules.max_iterations, Ordering::Relaxed);
    }
    fn on_iteration(&mut self, iteration: usize, objective: f64) {
        let s = self.shared;
        s.iteration.store(iteration, Ordering::Relaxed);
        s.objective.store(objective.to_bits(), Ordering::Relaxed);
    }
    fn on_record(&mut self, r: &Record) {
        let mut text: Vec<String> = self
            .names
            .iter()
            .zip(&r.values)
            .map(|(n, v)| format!("{n} {v:.3e}"))
            .collect();
        if let Some(a) = r.aux_loss {
            text.push(format!("aux {a:.3e}"));
        }
        if let Ok(mut g) = self.shared.record.lock() {
            *g = text.join(" ");
        }
    }
    fn should_stop(&mut self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }
}

/// Run `work` without the GIL on `threads` workers (0 = all cores); see the
/// module docs. Returns its result and the exception that stopped it, if any.
/// `progress(stage, iteration, total, objective, metrics_text)` is called
/// from the calling thread when the iteration count moved.
pub fn released<T: Send>(
    py: Python<'_>,
    threads: usize,
    progress: Option<Py<PyAny>>,
    work: impl FnOnce(&mut Watch<'_>) -> sapm::Result<T> + Send,
) -> PyResult<(T, Option<PyErr>)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start worker threads: {e}")))?;
    let shared = Shared::default();
    let mut stopped_by: Option<PyErr> = None;
    let joined = py.detach(|| {
        std::thread::scope(|scope| {
            let (done, wait) = channel::<()>();
            let shared = &shared;
            let worker = scope.spawn(move || {
                let _done = done; // dropped when the fit returns or panics
                let mut watch = Watch {
                    shared,
                    names: Vec::new(),
                };
                pool.install(|| work(&mut watch))
            });
            let mut shown = (usize::MAX, usize::MAX);
            loop {
                let finished = !matches!(wait.recv_timeout(TICK), Err(RecvTimeoutError::Timeout));
                Python::attach(|py| {
                    if stopped_by.is_none()
                        && let Err(e) = py.check_signals()
                    {
                        shared.stop.store(true, Ordering::Relaxed);
                        stopped_by = Some(e);
                    }
                    let now = (
                        shared.stage.load(Ordering::Relaxed),
                        shared.iteration.load(Ordering::Relaxed),
                    );
                    if let Some(cb) = &progress
                        && now != shown
                        && now.0 > 0
                    {
                        shown = now;
                        let record = shared.record.lock().map(|g| g.clone()).unwrap_or_default();
                        let args = (
                            now.0,
                            now.1,
                            shared.total.load(Ordering::Relaxed),
                            f64::from_bits(shared.objective.load(Ordering::Relaxed)),
                            record,
                        );
                        if let Err(e) = cb.call1(py, args)
                            && stopped_by.is_none()
                        {
                            shared.stop.store(true, Ordering::Relaxed);
                            stopped_by = Some(e);
                        }
                    }
                });
                if finished {
                    break;
                }
            }
            worker.join()
        })
    });
    let result = joined.map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        PyRuntimeError::new_err(format!("sapm: internal error (panic): {what}"))
    })?;
    match result {
        Ok(v) => Ok((v, stopped_by)),
        // A stop request never fails a fit: an error is the library's (the
        // interrupt, if one came, is what the user asked for and wins).
        Err(e) => Err(stopped_by.unwrap_or_else(|| to_py_err(e))),
    }
}
