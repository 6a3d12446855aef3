//! What a run produces: the table (Markdown, so it can go into the README as
//! it is), the `--json` rows, the `--chart` SVG and the ratio chart
//! (`--ratio-chart`, or `*-ratio.svg` next to `--chart`).

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::harness::{Bench, Row};

/// The ratios the issues set a target for: gilfree/peer ≤ limit. Issue 6's
/// four, then issue 4's (process start ≤ 1.5× its floor, Pipe round trip
/// ≤ 1.1× a raw socketpair that spins as gilfree's does), then issue 13's (process-shared Lock ≤ 1.5×
/// threading's uncontended, ≤ a robust pthread mutex's time contended, and
/// ≥ 20× faster than CPython's on both), then issue 19's (Manager proxy
/// calls).
pub const TARGETS: &[(&str, &str, f64)] = &[
    ("lock_uncontended", "parking_lot", 1.0),
    ("lock_contended_2t", "parking_lot", 1.0),
    ("queue_bounded_1p1c", "crossbeam", 1.0),
    ("executor_submit_result", "rayon", 1.0),
    // Issue 18: the eager collect within 3× of rayon's (the lazy
    // `executor_map_lazy` row has no target).
    ("executor_map", "rayon", 3.0),
    // Issue 18: the unbounded queue at crossbeam's pace.
    ("queue_unbounded_1p1c", "crossbeam", 1.0),
    ("process_start_fork", "raw", 1.5),
    ("process_start_spawn", "raw", 1.5),
    ("process_start_forkserver", "raw", 1.5),
    ("pipe_roundtrip", "raw", 1.1),
    ("mp_lock_uncontended", "threading", 1.5),
    ("mp_lock_contended_2p", "robust_pthread", 1.0),
    ("mp_lock_uncontended", "cpython", 0.05),
    ("mp_lock_contended_2p", "cpython", 0.05),
    // Issue 19: a proxy call within 1.3× of a Pipe round trip (the floor is
    // two, as is the op), and ≥ 6× faster than CPython's Manager.
    ("manager_dict_set_get", "raw", 1.3),
    ("manager_queue_64b", "raw", 1.3),
    ("manager_dict_set_get", "cpython", 0.167),
    ("manager_queue_64b", "cpython", 0.167),
    // Issue 15: ≥ 14× CPython's multiprocessing.Queue at 64 B 1P1C (its
    // absolute targets, ≤ 0.5 µs per message and ≥ 10 GB/s at 1 MiB, are
    // read off the gilfree rows: 500 ns/op and 105,000 ns/op).
    ("mp_queue_64b_1p1c", "cpython", 0.0714),
    // Issue 17: async waits within 1.0× of tokio::sync on the same runtime.
    ("aio_semaphore_uncontended", "tokio::sync", 1.0),
    ("aio_semaphore_contended_4t", "tokio::sync", 1.0),
    // Issue 17: the async bounded queue against the async channels.
    ("queue_async_bounded_1p1c", "tokio", 1.0),
    ("queue_async_bounded_1p1c", "async-channel", 1.0),
];

/// The target limit of gilfree/`imp` on `shape`, if there is one.
fn target(shape: &str, imp: &str) -> Option<f64> {
    TARGETS
        .iter()
        .find(|(s, i, _)| *s == shape && *i == imp)
        .map(|t| t.2)
}

/// The reference impl of a ratio.
pub const OURS: &str = "gilfree";

fn fmt_ns(ns: f64) -> String {
    if ns < 10.0 {
        format!("{ns:.2}")
    } else if ns < 100.0 {
        format!("{ns:.1}")
    } else {
        format!("{ns:.0}")
    }
}

/// The shapes in the order they were measured.
fn shapes(rows: &[Row]) -> Vec<&str> {
    let mut v: Vec<&str> = Vec::new();
    for r in rows {
        if !v.contains(&r.shape.as_str()) {
            v.push(&r.shape);
        }
    }
    v
}

fn find<'a>(rows: &'a [Row], shape: &str, imp: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.shape == shape && r.imp == imp)
}

/// gilfree's median over `imp`'s on `shape`, when both were measured.
pub fn ratio(rows: &[Row], shape: &str, imp: &str) -> Option<f64> {
    Some(find(rows, shape, OURS)?.median_ns / find(rows, shape, imp)?.median_ns)
}

/// The table: one line per (shape, impl), gilfree first within a shape.
pub fn table(b: &Bench) -> String {
    let rows = &b.rows;
    let mut lines: Vec<[String; 5]> = vec![[
        "shape".into(),
        "impl".into(),
        "median ns/op".into(),
        "spread (min–max)".into(),
        "gilfree/impl".into(),
    ]];
    for shape in shapes(rows) {
        let order = impls(rows);
        let mut of: Vec<&Row> = rows.iter().filter(|r| r.shape == shape).collect();
        of.sort_by_key(|r| order.iter().position(|i| *i == r.imp));
        for (i, r) in of.iter().enumerate() {
            let ratio = match ratio(rows, shape, &r.imp) {
                Some(x) if r.imp != OURS => match target(shape, &r.imp) {
                    Some(t) if x <= t => format!("{x:.2}× (target ≤ {t}: met)"),
                    Some(t) => format!("{x:.2}× (target ≤ {t}: MISSED)"),
                    None => format!("{x:.2}×"),
                },
                _ => String::new(),
            };
            lines.push([
                if i == 0 {
                    shape.to_string()
                } else {
                    String::new()
                },
                r.imp.clone(),
                fmt_ns(r.median_ns),
                format!("{} – {}", fmt_ns(r.min_ns), fmt_ns(r.max_ns)),
                ratio,
            ]);
        }
    }
    let width = |c: usize| {
        lines
            .iter()
            .map(|l| l[c].chars().count())
            .max()
            .unwrap_or(0)
    };
    let w: Vec<usize> = (0..5).map(width).collect();
    let mut out = String::new();
    for (k, l) in lines.iter().enumerate() {
        out.push('|');
        for c in 0..5 {
            let pad = w[c] - l[c].chars().count();
            // Numbers right-aligned, names left.
            if c == 2 && k > 0 {
                let _ = write!(out, " {}{} |", " ".repeat(pad), l[c]);
            } else {
                let _ = write!(out, " {}{} |", l[c], " ".repeat(pad));
            }
        }
        out.push('\n');
        if k == 0 {
            out.push('|');
            for (c, wc) in w.iter().enumerate() {
                let dashes = "-".repeat(*wc);
                let _ = if c == 2 {
                    write!(out, "-{dashes}:|")
                } else {
                    write!(out, "-{dashes}-|")
                };
            }
            out.push('\n');
        }
    }
    out
}

/// The CPU-bound speedups: each impl's time per item on N threads against
/// the sequential time (std's for the Rust impls, CPython's own for CPython).
pub fn speedups(b: &Bench) -> String {
    let shape = crate::shapes::cpu::threads_shape(b.cfg.threads);
    let mut out = String::new();
    for r in b.rows.iter().filter(|r| r.shape == shape) {
        let base = if r.imp == "cpython" { "cpython" } else { "std" };
        if let Some(seq) = find(&b.rows, "cpu_sequential", base) {
            let _ = writeln!(
                out,
                "- {}: {:.2}× on {} threads",
                r.imp,
                seq.median_ns / r.median_ns,
                b.cfg.threads
            );
        }
    }
    // The process pool against the same heavy items run sequentially.
    if let (Some(seq), Some(pool)) = (
        find(&b.rows, "pool_map_cpu_2w", "sequential"),
        find(&b.rows, "pool_map_cpu_2w", OURS),
    ) {
        let _ = writeln!(
            out,
            "- gilfree Pool: {:.2}× on 2 worker processes (pool_map_cpu_2w, target ≥ 1.9)",
            seq.median_ns / pool.median_ns
        );
    }
    out
}

/// Deadlock detection on/off, per deadlock shape.
pub fn deadlock_cost(b: &Bench) -> String {
    let mut out = String::new();
    for (shape, _, _) in crate::shapes::deadlock_work::SHAPES {
        if let (Some(off), Some(on)) = (
            find(&b.rows, shape, OURS),
            find(&b.rows, shape, "gilfree_deadlock"),
        ) {
            let _ = writeln!(
                out,
                "- {shape}: {:.2}× ({} ns on, {} ns off)",
                on.median_ns / off.median_ns,
                fmt_ns(on.median_ns),
                fmt_ns(off.median_ns)
            );
        }
    }
    out
}

/// The targets, met or not.
pub fn targets(b: &Bench) -> String {
    let mut out = String::new();
    for (shape, peer, limit) in TARGETS {
        let line = match ratio(&b.rows, shape, peer) {
            Some(x) if x <= *limit => format!("met ({x:.2}×)"),
            Some(x) => format!("MISSED ({x:.2}×)"),
            None if b.wants(shape) => "not measured (no gilfree row yet)".to_string(),
            None => "not run".to_string(),
        };
        let _ = writeln!(out, "- {shape}: gilfree/{peer} ≤ {limit} — {line}");
    }
    out
}

/// The rows as JSON: `[{"shape", "impl", "median_ns", "min_ns", "max_ns",
/// "unit": "op", "n", "reps"}, …]`.
pub fn json(rows: &[Row]) -> String {
    let v: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "shape": r.shape,
                "impl": r.imp,
                "median_ns": r.median_ns,
                "min_ns": r.min_ns,
                "max_ns": r.max_ns,
                "unit": "op",
                "n": r.n,
                "reps": r.reps,
            })
        })
        .collect();
    serde_json::to_string_pretty(&v).expect("rows serialise") + "\n"
}

/// The impls measured, in a fixed order: gilfree, the Rust peers, CPython,
/// then any other.
fn impls(rows: &[Row]) -> Vec<&str> {
    const ORDER: &[&str] = &[
        OURS,
        "std",
        "parking_lot",
        "crossbeam",
        "flume",
        "rayon",
        "cpython",
        "raw",
        "raw_blocking",
        "gilfree_deadlock",
    ];
    let mut v: Vec<&str> = Vec::new();
    for r in rows {
        if !v.contains(&r.imp.as_str()) {
            v.push(&r.imp);
        }
    }
    v.sort_by_key(|i| ORDER.iter().position(|o| o == i).unwrap_or(ORDER.len()));
    v
}

/// A fixed colour per impl, so charts of different runs compare.
fn colour(imp: &str) -> RGBColor {
    match imp {
        "gilfree" => RGBColor(214, 39, 40),
        "std" => RGBColor(127, 127, 127),
        "parking_lot" => RGBColor(31, 119, 180),
        "crossbeam" => RGBColor(44, 160, 44),
        "flume" => RGBColor(255, 127, 14),
        "rayon" => RGBColor(148, 103, 189),
        "cpython" => RGBColor(188, 189, 34),
        "gilfree_deadlock" => RGBColor(255, 152, 150),
        "raw" => RGBColor(40, 40, 40),
        "raw_blocking" => RGBColor(140, 86, 75),
        _ => RGBColor(23, 190, 207),
    }
}

/// Draw ns/op per shape per impl as grouped horizontal bars on a log axis.
pub fn chart(b: &Bench, path: &Path, title: &str) -> Result<(), Box<dyn std::error::Error>> {
    let rows = &b.rows;
    let shapes = shapes(rows);
    if shapes.is_empty() {
        return Err("nothing was measured".into());
    }
    let impls = impls(rows);
    let lo = rows.iter().map(|r| r.median_ns).fold(f64::MAX, f64::min) / 2.0;
    let hi = rows.iter().map(|r| r.max_ns).fold(0.0, f64::max) * 2.0;
    let ns = shapes.len();
    let height = 120 + 44 * ns as u32;

    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(250)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..ns as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("median ns per operation (log scale; shorter is faster; whiskers: min–max)")
        .draw()?;
    // Shape names left of their group of bars (plotters' own y labels sit
    // at "nice" numbers, not at the groups).
    let label = ("sans-serif", 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    for (i, shape) in shapes.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(lo, (ns - i) as f64 - 0.5));
        root.draw(&Text::new(shape.to_string(), (x - 8, y), label.clone()))?;
    }

    for imp in &impls {
        let c = colour(imp);
        // Each shape's bars fill its band, in the impls' order, leaving no
        // gap for an impl the shape does not have.
        let slot = |shape: &str| -> Option<(f64, f64)> {
            let i = shapes.iter().position(|s| *s == shape)?;
            let here: Vec<&str> = impls
                .iter()
                .copied()
                .filter(|x| find(rows, shape, x).is_some())
                .collect();
            let j = here.iter().position(|x| x == imp)? as f64;
            let h = 0.8 / here.len().max(3) as f64;
            let top = (ns - i) as f64 - 0.5 + h * here.len() as f64 / 2.0;
            Some((top - (j + 1.0) * h, top - j * h))
        };
        let mine: Vec<&Row> = rows.iter().filter(|r| r.imp == *imp).collect();
        chart
            .draw_series(mine.iter().filter_map(|r| {
                let (y0, y1) = slot(&r.shape)?;
                Some(Rectangle::new(
                    [(lo, y0 + 0.01), (r.median_ns, y1 - 0.01)],
                    c.filled(),
                ))
            }))?
            .label(*imp)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        chart.draw_series(mine.iter().filter_map(|r| {
            let (y0, y1) = slot(&r.shape)?;
            let y = (y0 + y1) / 2.0;
            Some(PathElement::new(
                vec![(r.min_ns, y), (r.max_ns, y)],
                BLACK.stroke_width(1),
            ))
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Per shape, gilfree's median over the fastest peer's (any impl but
/// gilfree's own rows), with that peer's name; shapes without both sides
/// are left out.
pub fn best_peer_ratios(rows: &[Row]) -> Vec<(&str, &str, f64)> {
    shapes(rows)
        .into_iter()
        .filter_map(|shape| {
            let ours = find(rows, shape, OURS)?;
            let best = rows
                .iter()
                .filter(|r| r.shape == shape && !r.imp.starts_with(OURS))
                .min_by(|a, b| a.median_ns.total_cmp(&b.median_ns))?;
            Some((shape, best.imp.as_str(), ours.median_ns / best.median_ns))
        })
        .collect()
}

/// Draw one bar per shape, gilfree ÷ its fastest peer, on a log axis from
/// 1.0 (marked): bars left of the line are where gilfree leads (green),
/// right of it where it trails (red).
pub fn ratio_chart(b: &Bench, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let ratios = best_peer_ratios(&b.rows);
    if ratios.is_empty() {
        return Err("no shape has both a gilfree row and a peer row".into());
    }
    let lo = ratios.iter().map(|r| r.2).fold(1.0, f64::min) / 2.0;
    let hi = ratios.iter().map(|r| r.2).fold(1.0, f64::max) * 2.0;
    let n = ratios.len();
    let height = 120 + 26 * n as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "gilfree ÷ fastest peer, per shape (left of 1: gilfree leads)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(330)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|v| format!("{v:.2}×"))
        .x_desc("gilfree median ÷ fastest peer's median (log scale)")
        .draw()?;
    let label = ("sans-serif", 13)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    let lead = RGBColor(44, 160, 44);
    let trail = RGBColor(214, 39, 40);
    for (i, (shape, peer, x)) in ratios.iter().enumerate() {
        let y = (n - i) as f64 - 0.5;
        let (px, py) = chart.backend_coord(&(lo, y));
        let text = format!("{shape} vs {peer} ({x:.2}×)");
        root.draw(&Text::new(text, (px - 8, py), label.clone()))?;
        let c = if *x <= 1.0 { lead } else { trail };
        chart.draw_series(std::iter::once(Rectangle::new(
            [(1.0, y - 0.35), (*x, y + 0.35)],
            c.filled(),
        )))?;
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(1.0, 0.0), (1.0, n as f64)],
        BLACK.stroke_width(2),
    )))?;
    root.present()?;
    Ok(())
}

/// Where the ratio chart goes next to `--chart FILE.svg`: `FILE-ratio.svg`.
pub fn ratio_chart_path(chart: &Path) -> std::path::PathBuf {
    let stem = chart
        .file_stem()
        .map_or("chart".into(), |s| s.to_string_lossy());
    chart.with_file_name(format!("{stem}-ratio.svg"))
}
