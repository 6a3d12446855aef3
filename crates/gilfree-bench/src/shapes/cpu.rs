//! CPU-bound speedup: the same work items run sequentially, then split over
//! N threads (N = the machine's cores). The table shows each impl's speedup
//! over its own sequential run; CPython's threads share one GIL, so its
//! speedup stays near 1×.
//!
//! One op is one work item: 256 rounds of a 64-bit xorshift, the same in
//! `python/cpython_peers.py`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::harness::{Bench, Sizes, case, run_threads, timed};

/// One work item.
#[inline]
pub fn work(seed: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    for _ in 0..256 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
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
                    acc ^= work(black_box(i));
                }
                black_box(acc);
            })
        })],
    );
}

/// The items split over N threads: std threads taking every N-th item,
/// rayon's parallel iterator.
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
            case("std", move |n| {
                let acc = AtomicU64::new(0);
                let d = run_threads(k, |t| {
                    let mut a = 0;
                    for i in (t as u64..n).step_by(k) {
                        a ^= work(black_box(i));
                    }
                    acc.fetch_xor(a, Relaxed);
                });
                black_box(acc.into_inner());
                d
            }),
            case("rayon", |n| {
                timed(|| {
                    let acc = pool
                        .install(|| (0..n).into_par_iter().map(work).reduce(|| 0, |a, b| a ^ b));
                    black_box(acc);
                })
            }),
        ],
    );
}
