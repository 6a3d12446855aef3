//! Lesson `race`: `counter += 1` from two threads without a lock loses
//! updates; under a Lock it loses none.
//!
//! The unsynchronised version is a *logical* race in safe Rust: an atomic
//! `load`, then a separate atomic `store` of the value plus one. Every access
//! is atomic, so there is no undefined behaviour, but another thread's
//! increments between the load and the store are overwritten: exactly what
//! `counter += 1` does in Python, where the read and the write are separate
//! bytecodes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gilfree::threading::{Lock, Thread};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure};

/// Widen the window between read and write, as a longer computation or a
/// page fault would: a few spins, and now and then a yield so that the
/// other thread runs in the window even on one core.
#[inline]
fn window(i: u64) {
    for _ in 0..32 {
        std::hint::spin_loop();
    }
    if i.is_multiple_of(4) {
        std::thread::yield_now();
    }
}

/// Two threads each add `iters` to a counter with `load` + `store`;
/// returns the final count.
fn unsynchronised(threads: usize, iters: u64) -> Result<u64, gilfree::threading::Error> {
    let counter = Arc::new(AtomicU64::new(0));
    let go = Arc::new(AtomicBool::new(false));
    let ts = (0..threads)
        .map(|i| {
            let (c, go) = (counter.clone(), go.clone());
            Thread::builder().name(format!("racer-{i}")).spawn(move || {
                while !go.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                for i in 0..iters {
                    let v = c.load(Ordering::Relaxed); // read ...
                    window(i);
                    c.store(v + 1, Ordering::Relaxed); // ... then write: not one step
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    go.store(true, Ordering::Release);
    for t in &ts {
        t.join()?;
    }
    Ok(counter.load(Ordering::Relaxed))
}

/// The same loop with the read-modify-write under a Lock.
fn locked(threads: usize, iters: u64) -> Result<u64, gilfree::threading::Error> {
    let counter = Arc::new(Lock::new(0u64));
    let go = Arc::new(AtomicBool::new(false));
    let ts = (0..threads)
        .map(|i| {
            let (c, go) = (counter.clone(), go.clone());
            Thread::builder()
                .name(format!("careful-{i}"))
                .spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    for i in 0..iters {
                        let mut g = c.acquire();
                        let v = *g;
                        window(i);
                        *g = v + 1;
                    }
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    go.store(true, Ordering::Release);
    for t in &ts {
        t.join()?;
    }
    Ok(*counter.acquire())
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let threads = ctx.threads.unwrap_or(2).max(2);
    let iters: u64 = if ctx.fast { 2_000 } else { 100_000 };
    let expected = threads as u64 * iters;
    measure(
        "threads × increments",
        format!("{threads} × {iters} = {expected}"),
    );

    // Losses are near-certain in one round; a few more rounds make it so
    // even on a machine that happens to run the threads one after the other.
    let mut rounds = 0;
    let (got, lost) = loop {
        rounds += 1;
        let got = unsynchronised(threads, iters)?;
        if got < expected || rounds == 20 {
            break (got, expected - got);
        }
    };
    measure("without a lock: final count", got);
    measure("lost updates (no lock)", lost);
    if rounds > 1 {
        measure("rounds until a loss showed", rounds);
    }

    let got = locked(threads, iters)?;
    measure("with a Lock: final count", got);
    measure("lost updates (with Lock)", expected - got);
    if got != expected {
        return Err("the Lock lost updates".into());
    }
    explain(
        "counter += 1 is a read, an add and a write. Two threads that read the \
         same value both write value+1, and one increment is gone: the result \
         depends on timing, so it is a race condition. Holding a Lock around the \
         read-modify-write makes it one indivisible step for every thread that \
         also takes the Lock, and the count is exact.",
    );
    Ok(())
}
