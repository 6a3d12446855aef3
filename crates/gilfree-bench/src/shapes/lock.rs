//! Lock: acquire+release, uncontended and with two threads contending.
//! Peers: std `Mutex`, parking_lot `Mutex`, CPython `threading.Lock`.

use std::hint::black_box;

use crate::harness::{Bench, Sizes, case, run_threads, timed};

/// Acquire and release, one thread, nobody else near the lock: the fast
/// path's cost. One op is one acquire+release.
pub fn lock_uncontended(b: &mut Bench) {
    let g = gilfree::threading::Lock::new(());
    let s = std::sync::Mutex::new(());
    let p = parking_lot::Mutex::new(());
    b.compare(
        "lock_uncontended",
        Sizes::FAST,
        vec![
            case("gilfree", |n| {
                timed(|| {
                    for _ in 0..n {
                        drop(black_box(&g).acquire());
                    }
                })
            }),
            case("std", |n| {
                timed(|| {
                    for _ in 0..n {
                        drop(black_box(&s).lock());
                    }
                })
            }),
            case("parking_lot", |n| {
                timed(|| {
                    for _ in 0..n {
                        drop(black_box(&p).lock());
                    }
                })
            }),
        ],
    );
}

/// Two threads increment one counter under the lock, `n / 2` times each.
/// One op is one acquire+increment+release.
pub fn lock_contended_2t(b: &mut Bench) {
    fn check(total: u64, n: u64) {
        assert_eq!(total, n / 2 * 2, "lost increments");
    }
    b.compare(
        "lock_contended_2t",
        Sizes::HANDOFF,
        vec![
            case("gilfree", |n| {
                let l = gilfree::threading::Lock::new(0u64);
                let d = run_threads(2, |_| {
                    for _ in 0..n / 2 {
                        *l.acquire() += 1;
                    }
                });
                check(l.into_inner(), n);
                d
            }),
            case("std", |n| {
                let l = std::sync::Mutex::new(0u64);
                let d = run_threads(2, |_| {
                    for _ in 0..n / 2 {
                        *l.lock().unwrap() += 1;
                    }
                });
                check(l.into_inner().unwrap(), n);
                d
            }),
            case("parking_lot", |n| {
                let l = parking_lot::Mutex::new(0u64);
                let d = run_threads(2, |_| {
                    for _ in 0..n / 2 {
                        *l.lock() += 1;
                    }
                });
                check(l.into_inner(), n);
                d
            }),
        ],
    );
}
