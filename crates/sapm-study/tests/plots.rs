//! Figures written as PNG and SVG: sizes as stated, no temporary files left,
//! clear errors for what cannot be drawn.

mod common;

use common::{png_size, svg_size};
use sapm_study::plot::{Axis, BarChart, Figure, Heatmap, LineChart, Panel, Series, Style, save};

#[test]
fn line_chart_writes_png_and_svg_of_the_stated_size() {
    let dir = tempfile::tempdir().unwrap();
    let pts: Vec<(f64, f64)> = (0..50)
        .map(|i| (i as f64, (-0.2 * i as f64).exp()))
        .collect();
    let c = LineChart::new("decay", Axis::linear("iteration"), Axis::log("loss"))
        .with(Series::line("exp", pts.clone(), 0))
        .with(Series::new("pts", pts, 1, Style::Crosses))
        .with(Series::new("zero", vec![(0.0, 0.0)], 2, Style::Dashed))
        .with_hline(1e-2, "bound", 3);
    let fig = Figure::grid(
        Some("title".into()),
        vec![Panel::Line(c.clone()), Panel::Line(c)],
        2,
        400,
        300,
    );
    assert_eq!(fig.size(), (800, 340));
    let files = save(&fig, &dir.path().join("f")).unwrap();
    assert_eq!(png_size(&files[0]), (800, 340));
    assert_eq!(svg_size(&files[1]), (800, 340));
    // No temporary files are left behind.
    let n = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(n, 2);
}

#[test]
fn bar_chart_and_heatmap_write_valid_files() {
    let dir = tempfile::tempdir().unwrap();
    let b = BarChart {
        title: "failure rate".into(),
        y_label: "share".into(),
        y_max: Some(1.0),
        groups: vec!["L=6".into(), "L=30".into()],
        bars: vec![
            ("gd".into(), vec![0.0, 1.0]),
            ("sapm".into(), vec![0.5, f64::NAN]),
        ],
    };
    let files = save(&Figure::single(Panel::Bar(b)), &dir.path().join("bars")).unwrap();
    assert_eq!(png_size(&files[0]), (800, 500));
    assert_eq!(svg_size(&files[1]), (800, 500));

    let u = Heatmap::from_fn("u", (0.0, 1.0), (0.0, 2.0), 30, 20, |x, y| (x - y).sin()).unwrap();
    let v = Heatmap::from_fn("v", (0.0, 1.0), (0.0, 2.0), 30, 20, |x, y| {
        (x - y).sin() + 1e-3 * x
    })
    .unwrap();
    let err = Heatmap::abs_error("error", &u, &v).unwrap();
    let fig = Figure::grid(
        None,
        vec![Panel::Heat(u), Panel::Heat(v), Panel::Heat(err)],
        3,
        360,
        300,
    );
    let files = save(&fig, &dir.path().join("heat")).unwrap();
    assert_eq!(png_size(&files[0]), (1080, 300));
    assert_eq!(svg_size(&files[1]), (1080, 300));
}

#[test]
fn bad_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let nan = Heatmap::new("n", (0.0, 1.0), (0.0, 1.0), 1, 1, vec![f64::NAN]).unwrap();
    let e = save(&Figure::single(Panel::Heat(nan)), &dir.path().join("n")).unwrap_err();
    assert!(e.to_string().contains("no drawable value"), "{e}");
    let empty = Figure::grid(None, vec![], 1, 10, 10);
    assert!(save(&empty, &dir.path().join("e")).is_err());
    // A line chart without finite points still draws (with a note), not an error.
    let c = LineChart::new("nan", Axis::linear("x"), Axis::log("y")).with(Series::line(
        "nan",
        vec![(0.0, f64::NAN)],
        0,
    ));
    save(&Figure::single(Panel::Line(c)), &dir.path().join("nan")).unwrap();
}
