//! Lesson `sequential-vs-threads`: I/O-bound work (simulated by sleeping)
//! run one task after another, then on 1, 2, 4, … threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gilfree::threading::Thread;

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

/// One simulated I/O call: waiting on a disk or a server, not computing.
fn io_task(d: Duration) {
    std::thread::sleep(d);
}

/// Run `tasks` tasks on `n` threads that take them from a shared counter.
fn on_threads(n: usize, tasks: usize, d: Duration) -> Result<Duration, gilfree::threading::Error> {
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let ts: Vec<_> = (0..n)
        .map(|i| {
            let next = next.clone();
            Thread::builder().name(format!("io-{i}")).spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < tasks {
                    io_task(d);
                }
            })
        })
        .collect::<Result<_, _>>()?;
    for t in &ts {
        t.join()?;
    }
    Ok(t0.elapsed())
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let (tasks, d) = if ctx.fast {
        (16, Duration::from_millis(2))
    } else {
        (64, Duration::from_millis(20))
    };
    let max = ctx.threads.unwrap_or(tasks).max(1);
    measure("tasks", format!("{tasks} × {} of simulated I/O", ms(d)));

    let t0 = Instant::now();
    for _ in 0..tasks {
        io_task(d);
    }
    let seq = t0.elapsed();
    measure("sequential", ms(seq));

    let mut points = Vec::new();
    let mut n = 1;
    while n <= max {
        let t = on_threads(n, tasks, d)?;
        measure(
            &format!("{n:>3} threads"),
            format!(
                "{:>10}   speedup {:.1}×",
                ms(t),
                seq.as_secs_f64() / t.as_secs_f64()
            ),
        );
        points.push((n, t));
        n *= 2;
    }
    if let Some(path) = &ctx.chart {
        chart(path, seq, &points)?;
        measure("chart written to", path.display());
    }
    explain(
        "While a thread waits for I/O it needs no CPU, so other threads can wait \
         at the same time: the total time falls roughly as tasks / threads, far \
         beyond the number of cores. This is why threads help I/O-bound work even \
         in CPython, where the GIL is released while blocked. Past one thread \
         per task there is nothing left to overlap.",
    );
    Ok(())
}

fn chart(
    path: &std::path::Path,
    seq: Duration,
    points: &[(usize, Duration)],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use plotters::prelude::*;
    let to_ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ymax = points.iter().map(|p| to_ms(p.1)).fold(to_ms(seq), f64::max) * 1.1;
    let xmax = points.last().map_or(1, |p| p.0) as f64 * 1.1;
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut c = ChartBuilder::on(&root)
        .caption("I/O-bound work: time against threads", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)
        .map_err(|e| e.to_string())?;
    c.configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("threads")
        .y_desc("time (ms)")
        .draw()
        .map_err(|e| e.to_string())?;
    let line: Vec<(f64, f64)> = points.iter().map(|&(n, t)| (n as f64, to_ms(t))).collect();
    c.draw_series(LineSeries::new(line.clone(), &BLUE))
        .map_err(|e| e.to_string())?
        .label("threads")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    c.draw_series(line.iter().map(|&p| Circle::new(p, 3, BLUE.filled())))
        .map_err(|e| e.to_string())?;
    c.draw_series(LineSeries::new(
        vec![(0.0, to_ms(seq)), (xmax, to_ms(seq))],
        &RED,
    ))
    .map_err(|e| e.to_string())?
    .label("sequential")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
    c.configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
