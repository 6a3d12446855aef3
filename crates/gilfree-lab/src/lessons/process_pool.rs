//! Process pools: a CPU-bound map on `Pool`, `ProcessPoolExecutor` and
//! `ThreadPoolExecutor` against sequential; `imap` vs `imap_unordered`
//! order; a worker SIGKILLed mid-task.

use std::time::Instant;

use gilfree::futures::{MapOptions, ProcessPoolExecutor, ThreadPoolExecutor};
use gilfree::multiprocessing::{Error, Pool, process_cpu_count};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

/// Is `n` prime? Trial division: pure CPU.
fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

/// How many primes in the block `[k * BLOCK, (k + 1) * BLOCK)`.
#[gilfree::task]
fn primes_in_block(k: u64) -> u64 {
    (k * BLOCK..(k + 1) * BLOCK)
        .filter(|&n| is_prime(n))
        .count() as u64
}

const BLOCK: u64 = 10_000;

/// Item `i` of the order demo: the early items take longest.
#[gilfree::task]
fn slow_first(i: u64) -> u64 {
    let spins = (8 - i.min(8)) * 40_000;
    let mut x = i;
    for _ in 0..spins {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    std::hint::black_box(x);
    i
}

/// Item `i`; item 5 kills its own worker.
#[gilfree::task]
fn fragile(i: u32) -> u32 {
    if i == 5 {
        // SAFETY: raising a signal at ourselves.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    i * i
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let n = ctx.threads.unwrap_or_else(process_cpu_count).max(1);
    let blocks: u64 = if ctx.fast { 8 } else { 300 };
    measure("workers", n);
    measure(
        "work",
        format!(
            "count the primes below {} in {blocks} blocks",
            blocks * BLOCK
        ),
    );

    let t = Instant::now();
    let seq: u64 = (0..blocks).map(primes_in_block).sum();
    let t_seq = t.elapsed();

    // Both pools are started, and warmed with one call per worker, before
    // the clock starts (as a long-lived pool would be).
    let pool = Pool::new(n)?;
    pool.map(primes_in_block::TASK, 0..n as u64, Some(1))?;
    let ppe = ProcessPoolExecutor::builder().max_workers(n).build()?;
    ppe.map(primes_in_block::TASK, 0..n as u64, MapOptions::new())?
        .sum::<Result<u64, _>>()?;
    let t = Instant::now();
    let by_pool: u64 = pool
        .map(primes_in_block::TASK, 0..blocks, None)?
        .iter()
        .sum();
    let t_pool = t.elapsed();

    let t = Instant::now();
    let by_ppe: u64 = ppe
        .map(
            primes_in_block::TASK,
            0..blocks,
            MapOptions::new().chunksize(4),
        )?
        .sum::<Result<u64, _>>()?;
    let t_ppe = t.elapsed();

    let tpe = ThreadPoolExecutor::builder().max_workers(n).build()?;
    let t = Instant::now();
    let by_threads: u64 = tpe
        .map(primes_in_block, 0..blocks)?
        .sum::<Result<u64, _>>()?;
    let t_threads = t.elapsed();

    if [by_pool, by_ppe, by_threads].iter().any(|&x| x != seq) {
        return Err(format!("disagreement: {seq} / {by_pool} / {by_ppe} / {by_threads}").into());
    }
    measure("primes found (all four agree)", seq);
    measure("sequential", ms(t_seq));
    let speedup = |d: std::time::Duration| t_seq.as_secs_f64() / d.as_secs_f64();
    for (what, d) in [
        ("multiprocessing::Pool.map", t_pool),
        ("ProcessPoolExecutor.map", t_ppe),
        ("ThreadPoolExecutor.map", t_threads),
    ] {
        measure(what, format!("{} (speedup {:.2}×)", ms(d), speedup(d)));
    }

    // Order: the early items are the slow ones.
    let ordered: Vec<u64> = pool
        .imap(slow_first::TASK, 0..8u64, None)
        .collect::<Result<_, _>>()?;
    let unordered: Vec<u64> = pool
        .imap_unordered(slow_first::TASK, 0..8u64, None)
        .collect::<Result<_, _>>()?;
    measure("imap order", format!("{ordered:?}"));
    measure("imap_unordered order", format!("{unordered:?}"));

    // A worker killed mid-task.
    let before = pool.worker_pids();
    let results: Vec<Result<u32, Error>> = pool.imap(fragile::TASK, 0..8u32, None).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    measure("SIGKILL mid-task: results", format!("{ok} of 8"));
    for r in &results {
        if let Err(e) = r {
            measure("the failed call", e);
        }
    }
    let again = pool.map(primes_in_block::TASK, 0..4u64, Some(1))?;
    measure(
        "the next map",
        format!(
            "{} primes, workers {:?} -> {:?}",
            again.iter().sum::<u64>(),
            before,
            pool.worker_pids()
        ),
    );
    pool.close();
    pool.join()?;
    explain(
        "Both process pools split the blocks over worker processes and \
         speed up with the cores they get; so does the thread pool, since \
         Rust threads have no GIL (in CPython only the process pools \
         would). imap hands results back in input order, waiting for the \
         slow early items; imap_unordered hands each back as it finishes. \
         The killed worker fails only the call it held, naming the signal: \
         the pool replaced it and the next map runs normally (CPython's \
         Pool.map would hang, its ProcessPoolExecutor would break for \
         good). With --fast the work is too small for the speedups to mean \
         anything.",
    );
    Ok(())
}
