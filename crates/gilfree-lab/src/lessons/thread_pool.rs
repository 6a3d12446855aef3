//! `thread-pool`: ThreadPoolExecutor with `map`, with `submit` +
//! `as_completed`, with `wait(FirstCompleted)`, and with a failing task;
//! with `--trace FILE`, all of it recorded as a trace to open in Perfetto.

use std::time::{Duration, Instant};

use gilfree::futures::{Error, MapOptions, ReturnWhen, ThreadPoolExecutor, as_completed, wait};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

/// A small CPU-bound job: how many primes below `n` (trial division).
fn count_primes(n: u64) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

pub fn run(ctx: &Ctx) -> LessonResult {
    // Started before the pool, so the trace sees every task.
    let trace = match &ctx.trace {
        Some(path) => Some(gilfree::trace::start(path)?),
        None => None,
    };
    let workers = ctx.threads.unwrap_or(4);
    let (jobs, size) = if ctx.fast { (16, 2_000) } else { (64, 60_000) };
    let pool = ThreadPoolExecutor::builder()
        .max_workers(workers)
        .thread_name_prefix("lab")
        .build()?;
    measure("workers (max_workers)", workers);
    measure("jobs x size", format!("{jobs} x count_primes({size})"));

    // 1. Sequential baseline, then map: results in input order.
    let t = Instant::now();
    let seq: Vec<u64> = (0..jobs).map(|i| count_primes(size + i)).collect();
    let t_seq = t.elapsed();
    measure("sequential, one thread", ms(t_seq));

    let t = Instant::now();
    let mapped: Vec<u64> = pool
        .map_with(
            move |i: u64| count_primes(size + i),
            0..jobs,
            MapOptions::new().progress(!ctx.fast),
        )?
        .collect::<Result<_, _>>()?;
    let t_map = t.elapsed();
    if mapped != seq {
        return Err("map returned results out of order or wrong".into());
    }
    measure("pool.map (in input order)", ms(t_map));
    measure(
        "speed-up over sequential",
        format!(
            "{:.2}x",
            t_seq.as_secs_f64() / t_map.as_secs_f64().max(1e-9)
        ),
    );

    // 2. submit + as_completed: results as they finish.
    let t = Instant::now();
    let fs: Vec<_> = (0..jobs)
        .map(|i| {
            // The first few jobs are long, the rest short.
            let n = if i < 4 { size * 4 } else { size / 4 };
            pool.submit(move || (i, count_primes(n)))
        })
        .collect::<Result<_, _>>()?;
    let mut order = Vec::new();
    let mut total = 0;
    for f in as_completed(&fs, None) {
        let (i, n) = f?.result()?;
        order.push(i);
        total += n;
    }
    measure("submit + as_completed", ms(t.elapsed()));
    measure(
        "first five to complete (job index)",
        format!("{:?}", &order[..5.min(order.len())]),
    );
    measure("primes counted", total);

    // 3. wait(FirstCompleted): one slow job, one quick job.
    let t = Instant::now();
    let slow = pool.submit(move || count_primes(size * 20))?;
    let quick = pool.submit(|| count_primes(100))?;
    let r = wait([&slow, &quick], None, ReturnWhen::FirstCompleted);
    let quick_first = r.done.iter().any(|f| f.ptr_eq(&quick));
    measure(
        "wait(FirstCompleted) returned after",
        format!(
            "{} with {} done, {} not done",
            ms(t.elapsed()),
            r.done.len(),
            r.not_done.len()
        ),
    );
    measure("the quick job was among the done", quick_first);
    slow.result()?;

    // 4. A failing task: its error is reported, the others are fine. The
    // default panic hook would print a backtrace from the worker; for the
    // lesson, one line is enough.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let who = std::thread::current().name().unwrap_or("?").to_string();
        eprintln!("   (worker {who} panicked: {info})");
    }));
    let fs: Vec<_> = (0..6u64)
        .map(|i| {
            pool.submit(move || {
                if i == 3 {
                    panic!("job {i} hit bad input");
                }
                i * 10
            })
        })
        .collect::<Result<_, _>>()?;
    let mut ok = 0;
    for (i, f) in fs.iter().enumerate() {
        match f.result_timeout(Duration::from_secs(60)) {
            Ok(v) if v == i as u64 * 10 => ok += 1,
            Ok(v) => return Err(format!("job {i} returned {v}").into()),
            Err(Error::Panicked(msg)) => measure(&format!("job {i} failed with"), msg),
            Err(e) => return Err(e.into()),
        }
    }
    std::panic::set_hook(hook);
    measure("other jobs succeeded", format!("{ok} of {}", fs.len()));
    measure("worker threads after the panic", pool.num_threads());

    let t = Instant::now();
    pool.shutdown(true, false);
    measure("shutdown(wait=true)", ms(t.elapsed()));
    if let (Some(trace), Some(path)) = (trace, &ctx.trace) {
        trace.finish()?;
        measure("trace written (open it in ui.perfetto.dev)", path.display());
    }

    explain(
        "map hands back results in input order, as_completed in completion order \
         (the long jobs were submitted first, so short ones overtake them), and \
         wait(FirstCompleted) returns as soon as one future is done. A task that \
         panics completes its own future with the panic message; the worker thread \
         survives and the other tasks are untouched. The speed-up is bounded by the \
         cores this machine really gives us.",
    );
    Ok(())
}
