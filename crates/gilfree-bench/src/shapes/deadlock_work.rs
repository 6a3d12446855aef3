//! The work of the deadlock-detection shapes (issue 5: Lock acquire+release
//! with detection on vs off). This file is compiled twice: into the bench
//! (gilfree as the workspace builds it: detection off, impl `gilfree`) and
//! into `deadlock-on/` (gilfree with its `deadlock-detection` feature, impl
//! `gilfree_deadlock`), so both sides run exactly this code.
//!
//! It uses only gilfree and std.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use gilfree::threading::Lock;

/// Work: performs `n` operations, returns their time.
pub type Work = fn(u64) -> Duration;

/// The shapes: id, work, and whether an op hands off between threads
/// (which sizes it is calibrated with).
pub const SHAPES: &[(&str, Work, bool)] = &[
    ("deadlock_lock_uncontended", lock_uncontended, false),
    ("deadlock_lock_nested", lock_nested, false),
    ("deadlock_lock_contended_2t", lock_contended_2t, true),
];

/// Acquire and release one lock, nothing else held. One op is one
/// acquire+release.
pub fn lock_uncontended(n: u64) -> Duration {
    let l = Lock::new(());
    let t = Instant::now();
    for _ in 0..n {
        drop(black_box(&l).acquire());
    }
    t.elapsed()
}

/// Take `a`, then `b` inside it, release both: with detection on, the
/// second acquisition checks the order edge a → b. One op is the pair.
pub fn lock_nested(n: u64) -> Duration {
    let (a, b) = (Lock::new(()), Lock::new(()));
    let t = Instant::now();
    for _ in 0..n {
        let ga = black_box(&a).acquire();
        drop(black_box(&b).acquire());
        drop(ga);
    }
    t.elapsed()
}

/// Two threads increment one counter under the lock, `n / 2` times each
/// (the bench's `lock_contended_2t`). One op is one acquire+release.
pub fn lock_contended_2t(n: u64) -> Duration {
    let l = Lock::new(0u64);
    let start = Barrier::new(2);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    let t0 = Instant::now();
                    for _ in 0..n / 2 {
                        *l.acquire() += 1;
                    }
                    (t0, Instant::now())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(l.into_inner(), n / 2 * 2, "lost increments");
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    last - first
}
