//! CPU-bound work, sequentially, on N threads, and on N processes.

use std::time::Instant;

use gilfree::multiprocessing::{Process, process_cpu_count};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

/// Count the primes in `lo..hi` by trial division: pure CPU, no memory
/// traffic to speak of.
#[gilfree::task]
fn count_primes(lo: u64, hi: u64) -> u64 {
    (lo..hi)
        .filter(|&n| n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count() as u64
}

fn chunks(limit: u64, n: usize) -> Vec<(u64, u64)> {
    // Interleave-free equal ranges; later ranges cost more, so cut finer
    // at the top: balance by n^1.5 work per number.
    let n = n.max(1) as u64;
    (0..n)
        .map(|i| {
            let f = |k: u64| ((k as f64 / n as f64).powf(2.0 / 3.0) * limit as f64) as u64;
            (f(i), if i + 1 == n { limit } else { f(i + 1) })
        })
        .collect()
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let n = ctx.threads.unwrap_or_else(process_cpu_count).max(1);
    let limit: u64 = if ctx.fast { 20_000 } else { 3_000_000 };
    measure("workers (threads / processes)", n);
    measure("work", format!("count the primes below {limit}"));

    let t = Instant::now();
    let seq = count_primes(0, limit);
    let t_seq = t.elapsed();

    let t = Instant::now();
    let handles: Vec<_> = chunks(limit, n)
        .into_iter()
        .map(|(lo, hi)| std::thread::spawn(move || count_primes(lo, hi)))
        .collect();
    let thr: u64 = handles.into_iter().map(|h| h.join().expect("worker")).sum();
    let t_thr = t.elapsed();

    let t = Instant::now();
    let procs = chunks(limit, n)
        .into_iter()
        .map(|(lo, hi)| Process::new(count_primes::TASK, (lo, hi)))
        .collect::<Result<Vec<_>, _>>()?;
    for p in &procs {
        p.start()?;
    }
    let mut prc = 0;
    for p in &procs {
        prc += p.result()?;
    }
    let t_prc = t.elapsed();

    if seq != thr || seq != prc {
        return Err(format!("disagreement: {seq} / {thr} / {prc}").into());
    }
    measure("primes found (all three agree)", seq);
    measure("sequential", ms(t_seq));
    measure(
        &format!("{n} threads"),
        format!(
            "{} (speedup {:.2}×)",
            ms(t_thr),
            t_seq.as_secs_f64() / t_thr.as_secs_f64()
        ),
    );
    measure(
        &format!("{n} processes"),
        format!(
            "{} (speedup {:.2}×)",
            ms(t_prc),
            t_seq.as_secs_f64() / t_prc.as_secs_f64()
        ),
    );
    explain(
        "Rust threads run on every core at once: nothing serialises them, so \
         CPU-bound work speeds up with the cores it is given (up to the \
         machine's load from everyone else). Processes scale the same way \
         but pay their start-up and the encoding of arguments and results. \
         In CPython the threads line would show no speedup: the GIL lets \
         one thread run Python bytecode at a time, which is why CPython \
         programs reach for multiprocessing for CPU-bound work. In Rust, \
         processes are for isolation (a crash, a leak, a different binary \
         or machine), not for parallelism. With --fast the work is too small \
         for the speedups to mean anything.",
    );
    Ok(())
}
