//! Time marching (`sapm::fit::march`): window data, the piecewise solution,
//! its global error, and bad settings.

use faer::Mat;
use sapm::driver::NoObserver;
use sapm::fit::fit_pde;
use sapm::fit::march::{MarchOptions, time_march};
use sapm::task::pde::window::{window_edges, window_problem};
use sapm::task::pde::{PdeConfig, PinnData, Problem};
use std::f64::consts::PI;

#[path = "support/runs.rs"]
mod runs;

use runs::{checked as cfg, refused};

const SMALL: &str = "method = \"ls-adam-lbfgs\"\n[network]\ndepth = 3\nwidth = 10\n\
    [pde]\nn_interior = 200\nn_boundary = 40\nn_test = 21\n\
    [train]\nmax_iterations = 150\nrecord_every = 50\n[adam_lbfgs]\nadam_steps = 50\n";

/// Problem coordinates of column `j` of a window's points.
fn global(x: &Mat<f64>, j: usize, (t_lo, t_hi): (f64, f64), local: bool) -> Vec<f64> {
    let t = x[(1, j)];
    vec![x[(0, j)], if local { t_lo + (t_hi - t_lo) * t } else { t }]
}

#[test]
fn first_window_data_are_the_problems_g() {
    let pde = PdeConfig {
        n_interior: 50,
        n_boundary: 60,
        ..PdeConfig::default()
    };
    // transport_inflow has two inflow faces (x = 0 and t = 0); both must carry g.
    for p in [Problem::transport1d(3.0), Problem::transport_inflow(1.0)] {
        for local in [true, false] {
            for (k, span) in [(0, (0.0, 0.25)), (1, (0.25, 0.5))] {
                let w = window_problem(&p, 1, span, local, None).unwrap();
                let data = PinnData::sample(&w, &pde, 4).unwrap();
                let mut on_face = 0;
                for j in 0..data.n_boundary() {
                    let x = global(&data.x_bc, j, span, local);
                    if data.x_bc[(1, j)] == w.lo[1] {
                        on_face += 1;
                        assert_eq!(x[1], span.0);
                    }
                    let g = (p.g)(&x);
                    assert!(
                        (data.g_bc[(0, j)] - g).abs() <= 1e-12,
                        "{} window {k}, local {local}: {} vs {g} at {x:?}",
                        p.name,
                        data.g_bc[(0, j)]
                    );
                }
                assert!(on_face > 0, "{}: no initial-face points", p.name);
            }
        }
    }
}

#[test]
fn window_pde_is_the_problems_pde_in_local_time() {
    // The window's exact solution satisfies the window's (rescaled) PDE.
    let p = Problem::transport1d(30.0);
    let w = window_problem(&p, 1, (0.3, 0.4), true, None).unwrap();
    assert_eq!((w.lo[1], w.hi[1]), (0.0, 1.0));
    let u = w.exact.clone().unwrap();
    for k in 0..20 {
        let x = [0.3 * k as f64, 0.05 * k as f64];
        let h = 1e-6;
        let c = w.c_at(&x);
        assert!((c[0] - 3.0).abs() < 1e-12 && c[1] == 1.0, "{c:?}");
        let r = c[0] * (u(&[x[0] + h, x[1]]) - u(&[x[0] - h, x[1]])) / (2.0 * h)
            + c[1] * (u(&[x[0], x[1] + h]) - u(&[x[0], x[1] - h])) / (2.0 * h)
            - (w.f)(&x);
        assert!(r.abs() < 1e-7, "residual {r} at {x:?}");
        let t = 0.3 + 0.1 * x[1];
        assert!((u(&x) - (x[0] - 30.0 * t).sin()).abs() < 1e-12);
    }
}

#[test]
fn later_windows_start_from_the_previous_network() {
    for local in [true, false] {
        let text = SMALL
            .replace("ls-adam-lbfgs", "ls-adam")
            .replace("[adam_lbfgs]\nadam_steps = 50\n", "");
        let c = cfg(&text, &["train.max_iterations=30"]);
        let p = Problem::transport1d(1.0);
        let opts = MarchOptions {
            windows: 3,
            local_time: local,
        };
        let m = time_march(&p, &c, opts, &mut NoObserver).unwrap();
        assert_eq!(m.windows.len(), 3);
        let pde = c.pde.clone().unwrap();
        for k in 1..3 {
            let (prev, w) = (&m.windows[k - 1], &m.windows[k]);
            let data = PinnData::sample(&w.problem, &pde, c.seed).unwrap();
            let mut on_face = 0;
            for j in 0..data.n_boundary() {
                if data.x_bc[(1, j)] != w.problem.lo[1] {
                    continue;
                }
                on_face += 1;
                // The previous network on its own inputs (cos x, sin x, time at its end).
                let x = data.x_bc[(0, j)];
                let t_end = if local { 1.0 } else { w.t_lo };
                let e = Mat::from_fn(3, 1, |i, _| [x.cos(), x.sin(), t_end][i]);
                let want = prev.fitted.model.predict(e.as_ref()).unwrap()[(0, 0)];
                assert!(
                    (data.g_bc[(0, j)] - want).abs() <= 1e-12,
                    "window {k}, local {local}: {} vs {want}",
                    data.g_bc[(0, j)]
                );
                // ... and not the problem's g (the network is barely trained).
                assert!((data.g_bc[(0, j)] - x.sin()).abs() > 1e-6);
            }
            assert_eq!(
                on_face, 40,
                "transport1d: every boundary point is at t = t_k"
            );
        }
    }
}

#[test]
fn global_rel_l2_is_the_piecewise_models_error_on_the_whole_grid() {
    let c = cfg(SMALL, &[]);
    let p = Problem::transport1d(1.0);
    let m = time_march(&p, &c, MarchOptions::new(2), &mut NoObserver).unwrap();
    // Direct evaluation: a 21 x 21 grid of [0, 2 pi] x [0, 1]; t < 1/2 by
    // window 0 at s = 2 t, t >= 1/2 by window 1 at s = 2 t - 1.
    let (mut num, mut den, mut n) = (0.0, 0.0, 0);
    for jt in 0..21 {
        for jx in 0..21 {
            let (x, t) = (2.0 * PI * jx as f64 / 20.0, jt as f64 / 20.0);
            let (k, s) = if t < 0.5 {
                (0, 2.0 * t)
            } else {
                (1, 2.0 * t - 1.0)
            };
            let e = Mat::from_fn(3, 1, |i, _| [x.cos(), x.sin(), s][i]);
            let u = m.windows[k].fitted.model.predict(e.as_ref()).unwrap()[(0, 0)];
            let exact = (x - t).sin();
            num += (u - exact).powi(2);
            den += exact * exact;
            n += 1;
        }
    }
    let direct = (num / den).sqrt();
    assert_eq!(m.x_test.ncols(), n);
    assert!(
        (m.rel_l2 - direct).abs() <= 1e-12 * direct,
        "{} vs {direct}",
        m.rel_l2
    );
    assert!(
        m.rel_l2 < 0.2,
        "beta = 1 should be learnt a little: {}",
        m.rel_l2
    );
    assert!((m.rel_l2_f32 - m.rel_l2).abs() < 1e-3 * m.rel_l2);
    assert_eq!(m.window_of(0.5), 1);
    assert_eq!(m.window_of(0.4999), 0);
    assert_eq!(m.window_of(1.0), 1);
    // Through the config and fit path: the same numbers, window fits attached.
    let cc = cfg(SMALL, &["pde.time_windows=2"]);
    let f = fit_pde(&cc, &mut NoObserver).unwrap();
    assert_eq!(f.summary.rel_l2, Some(m.rel_l2));
    assert_eq!(f.windows.len(), 2);
    let ws = f.summary.windows.as_ref().unwrap();
    assert_eq!((ws[1].t_lo, ws[1].t_hi), (0.5, 1.0));
    assert_eq!(ws[0].rel_l2, m.windows[0].fitted.summary.rel_l2);
    assert_eq!(
        f.summary.iterations,
        m.windows
            .iter()
            .map(|w| w.fitted.summary.iterations)
            .sum::<usize>()
    );
    assert_eq!(
        f.history.last().unwrap().iteration,
        f.summary.iterations,
        "history iterations accumulate over windows"
    );
}

#[test]
fn bad_windows_are_rejected_clearly() {
    let c = cfg(SMALL, &[]);
    let p = Problem::transport1d(1.0);
    let e = time_march(&p, &c, MarchOptions::new(0), &mut NoObserver)
        .unwrap_err()
        .to_string();
    assert!(e.contains("pde.time_windows") && e.contains(">= 1"), "{e}");
    let e = refused(SMALL, &["pde.time_windows=0"]);
    assert!(e.contains("pde.time_windows"), "{e}");
    let e = refused(SMALL, &["pde.time_windows=2", "pde.curriculum=[10.0]"]);
    assert!(e.contains("curriculum"), "{e}");
    // No time coordinate.
    let e = time_march(
        &Problem::steady1d(),
        &c,
        MarchOptions::new(2),
        &mut NoObserver,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("coordinate named `t`"), "{e}");
    let e = refused(SMALL, &["pde.time_windows=100000000000"]);
    assert!(
        e.contains("pde.time_windows") && e.contains("<= 10000"),
        "{e}"
    );
    assert!(window_problem(&p, 2, (0.0, 0.5), true, None).is_err());
    assert!(window_problem(&p, 1, (0.5, 0.5), true, None).is_err());
    // Windows too short to be distinct in f64.
    let mut q = Problem::transport1d(1.0);
    (q.lo[1], q.hi[1]) = (1.0, 1.0 + 4.0 * f64::EPSILON);
    let e = window_edges(&q, 1, 16).unwrap_err().to_string();
    assert!(e.contains("too short"), "{e}");
    // Too few boundary points: transport_inflow with one boundary point that
    // lands on the x = 0 face leaves window 0's initial face t = 0 empty.
    let p = Problem::transport_inflow(1.0);
    let with_seed = |s: u64| {
        cfg(
            SMALL,
            &[
                "pde.n_boundary=1",
                &format!("seed={s}"),
                "train.max_iterations=2",
            ],
        )
    };
    let c = (0..64)
        .map(with_seed)
        .find(|c| {
            let w = window_problem(&p, 1, (0.0, 0.5), true, None).unwrap();
            let data = PinnData::sample(&w, c.pde.as_ref().unwrap(), c.seed).unwrap();
            data.x_bc[(0, 0)] == 0.0
        })
        .unwrap();
    let e = time_march(&p, &c, MarchOptions::new(2), &mut NoObserver)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no boundary point on its initial face") && e.contains("pde.n_boundary"),
        "{e}"
    );
}
