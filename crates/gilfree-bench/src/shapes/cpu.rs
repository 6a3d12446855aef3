//! CPU-bound speedup: the same work items run sequentially, then split over
//! N threads (N = the machine's cores). The table shows each impl's speedup
//! over its own sequential run; CPython's threads share one GIL, so its
//! speedup stays near 1×.
//!
//! The work is the lab's `cpu-bound` lesson's: primality by trial division.
//! One op is one work item, "is `BASE + i` prime?", with `BASE` large
//! enough that an item costs about the same whatever `n` calibration picks
//! (the same in `python/cpython_peers.py`).

use std::hint::black_box;

use crate::harness::{Bench, Sizes, case, timed};

/// Where the numbers tested start.
pub const BASE: u64 = 1_000_000;

/// One work item: 1 if `BASE + i` is prime, else 0 (trial division, as the
/// lab's `cpu-bound` lesson counts primes).
#[inline]
pub fn work(i: u64) -> u64 {
    let n = BASE + i;
    u64::from(
        (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d)),
    )
}

/// Work items in one [`heavy`] item.
pub const HEAVY: u64 = 200;

/// One heavy item, for shapes whose per-item overhead (a process pool's
/// encode, send, reply) would hide the parallelism with [`work`]'s
/// ~160 ns items: the [`HEAVY`] work items `0..HEAVY` (is `BASE + j`
/// prime?, `j < 200`), about 30 µs on the machine the numbers in
/// `docs/` come from. Every heavy item is the same work (whatever its
/// index), so a run's time per item does not depend on how many items
/// calibration picks; `black_box` keeps the compiler from computing it
/// once for all items.
#[inline]
pub fn heavy(_i: u64) -> u64 {
    (0..HEAVY).map(|j| work(black_box(j))).sum()
}

/// Thread `t`'s contiguous share of `0..n` among `k` threads. A stride of
/// `k` would hand one thread every even number, which trial division
/// rejects at once, and leave the other all the work.
fn share(t: u64, k: u64, n: u64) -> std::ops::Range<u64> {
    t * n / k..(t + 1) * n / k
}

/// The shape id of the threaded run on this machine.
pub fn threads_shape(threads: usize) -> String {
    format!("cpu_threads_{threads}t")
}

/// Every item on one thread.
pub fn cpu_sequential(b: &mut Bench) {
    b.compare(
        "cpu_sequential",
        Sizes::FAST,
        vec![case("std", |n| {
            timed(|| {
                let mut acc = 0;
                for i in 0..n {
                    acc += work(black_box(i));
                }
                black_box(acc);
            })
        })],
    );
}

/// The items split over N threads: gilfree `Thread`s and std threads each
/// taking a contiguous share of the items (both started and joined inside the sample, as
/// CPython's `threading.Thread`s are), rayon's parallel iterator.
pub fn cpu_threads(b: &mut Bench) {
    use rayon::prelude::*;
    let k = b.cfg.threads;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(k)
        .build()
        .expect("rayon pool");
    b.compare(
        &threads_shape(k),
        Sizes::FAST,
        vec![
            case("gilfree", move |n| {
                timed(|| {
                    let ts: Vec<_> = (0..k as u64)
                        .map(|t| {
                            let th = gilfree::threading::Thread::new(move || {
                                share(t, k as u64, n)
                                    .map(|i| work(black_box(i)))
                                    .sum::<u64>()
                            });
                            th.start().expect("start");
                            th
                        })
                        .collect();
                    let total: u64 = ts.into_iter().map(|t| t.into_result().expect("join")).sum();
                    black_box(total);
                })
            }),
            case("std", move |n| {
                // Timed like gilfree's: spawn, run and join inside the
                // sample, so both pay the same thread start-up.
                timed(|| {
                    let ts: Vec<_> = (0..k as u64)
                        .map(|t| {
                            std::thread::spawn(move || {
                                share(t, k as u64, n)
                                    .map(|i| work(black_box(i)))
                                    .sum::<u64>()
                            })
                        })
                        .collect();
                    let total: u64 = ts.into_iter().map(|t| t.join().expect("join")).sum();
                    black_box(total);
                })
            }),
            case("rayon", |n| {
                timed(|| {
                    let acc = pool.install(|| (0..n).into_par_iter().map(work).sum::<u64>());
                    black_box(acc);
                })
            }),
        ],
    );
}
