//! `Semaphore` and `BoundedSemaphore`: the scenarios of CPython's
//! `Lib/test/lock_tests.py` (`BaseSemaphoreTests`, `SemaphoreTests`,
//! `BoundedSemaphoreTests`), one test per scenario and named after it, plus
//! stress tests with invariants.
//!
//! Where Python sleeps "until the threads are blocked", these tests
//! synchronise on channels and assert only what must hold whether or not
//! the threads have reached the futex yet.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use gilfree::threading::{BoundedSemaphore, Error, Semaphore};

/// Long enough never to expire on a loaded machine; only bounds a hang.
const LONG: Duration = Duration::from_secs(60);

/// The scenarios both kinds share (`BaseSemaphoreTests`). `$release` gives
/// one permit back (for a bounded semaphore the result must be `Ok`), and
/// `$release_n` gives `n`.
macro_rules! base_semaphore_tests {
    ($modname:ident, $ty:ty, $release:expr, $release_n:expr) => {
        mod $modname {
            use super::*;

            fn release(s: &$ty) {
                ($release)(s)
            }
            fn release_n(s: &$ty, n: u32) {
                ($release_n)(s, n)
            }

            /// Python: a negative value is a `ValueError`. Here the value is
            /// a `u32`, so only the range's ends are left to check.
            #[test]
            fn test_constructor() {
                assert_eq!(<$ty>::new(0).value(), 0);
                assert_eq!(<$ty>::new(u32::MAX).value(), u32::MAX);
                assert!(<$ty>::new(0).try_acquire().is_none());
            }

            #[test]
            fn test_acquire() {
                let sem = <$ty>::new(1);
                assert!(sem.acquire_unguarded(true, None));
                release(&sem);
                let sem = <$ty>::new(2);
                assert!(sem.acquire_unguarded(true, None));
                assert!(sem.acquire_unguarded(true, None));
                release(&sem);
                release(&sem);
                assert_eq!(sem.value(), 2);
            }

            /// Dropping a semaphore whose permit is held is fine.
            #[test]
            fn test_acquire_destroy() {
                let sem = <$ty>::default();
                assert!(sem.acquire_unguarded(true, None));
                let _destroyed = sem; // Python: `del sem`
            }

            /// Ten threads each take two permits of a semaphore of 7 (one
            /// held by the test): the permits released in each phase let
            /// through exactly that many acquisitions, and no more.
            #[test]
            fn test_acquire_contended() {
                contended_phases(false);
            }

            /// As `test_acquire_contended`, releasing each phase's permits
            /// with one `release(n)` (Python 3.9+).
            #[test]
            fn test_multirelease() {
                contended_phases(true);
            }

            fn contended_phases(multi: bool) {
                const SEM_VALUE: u32 = 7;
                const N: usize = 10;
                let sem = Arc::new(<$ty>::new(SEM_VALUE));
                assert!(sem.acquire_unguarded(true, None));
                let phase = Arc::new(AtomicU32::new(0));
                let (tx, rx) = mpsc::channel();
                let hs: Vec<_> = (0..N)
                    .map(|_| {
                        let (sem, phase, tx) = (sem.clone(), phase.clone(), tx.clone());
                        std::thread::spawn(move || {
                            for _ in 0..2 {
                                assert!(sem.acquire_unguarded(true, None));
                                tx.send(phase.load(SeqCst)).unwrap();
                            }
                        })
                    })
                    .collect();
                let mut results = Vec::new();
                let mut take = |count: usize| {
                    for _ in 0..count {
                        results.push(rx.recv_timeout(LONG).expect("an acquisition was lost"));
                    }
                    results.sort();
                    results.clone()
                };
                // Phase 0: the six free permits.
                let count1 = (SEM_VALUE - 1) as usize;
                assert_eq!(take(count1), vec![0; count1]);
                // Phase 1.
                phase.store(1, SeqCst);
                let count2 = SEM_VALUE as usize;
                if multi {
                    release_n(&sem, SEM_VALUE);
                } else {
                    for _ in 0..SEM_VALUE {
                        release(&sem);
                    }
                }
                let mut want = vec![0; count1];
                want.extend(vec![1; count2]);
                assert_eq!(take(count2), want);
                // Phase 2.
                phase.store(2, SeqCst);
                let count3 = (SEM_VALUE - 1) as usize;
                if multi {
                    release_n(&sem, SEM_VALUE - 1);
                } else {
                    for _ in 0..SEM_VALUE - 1 {
                        release(&sem);
                    }
                }
                want.extend(vec![2; count3]);
                assert_eq!(take(count3), want);
                // The semaphore is still taken: 19 of 20 acquisitions done.
                assert!(!sem.acquire_unguarded(false, None));
                // Final release, to let the last thread finish.
                phase.store(3, SeqCst);
                release(&sem);
                want.push(3);
                assert_eq!(take(1), want);
                for h in hs {
                    h.join().unwrap();
                }
                assert_eq!(sem.value(), 0);
            }

            #[test]
            fn test_try_acquire() {
                let sem = <$ty>::new(2);
                assert!(sem.acquire_unguarded(false, None));
                assert!(sem.try_acquire().map(|g| g.forget()).is_some());
                assert!(!sem.acquire_unguarded(false, None));
                assert!(sem.try_acquire().is_none());
                release(&sem);
                assert!(sem.acquire_unguarded(false, None));
            }

            /// Five threads each try twice on 3 free permits: exactly 3
            /// succeed.
            #[test]
            fn test_try_acquire_contended() {
                let sem = <$ty>::new(4);
                assert!(sem.acquire_unguarded(true, None));
                let ok = AtomicUsize::new(0);
                let failed = AtomicUsize::new(0);
                std::thread::scope(|s| {
                    for _ in 0..5 {
                        s.spawn(|| {
                            for _ in 0..2 {
                                if sem.acquire_unguarded(false, None) {
                                    ok.fetch_add(1, SeqCst);
                                } else {
                                    failed.fetch_add(1, SeqCst);
                                }
                            }
                        });
                    }
                });
                assert_eq!((ok.into_inner(), failed.into_inner()), (3, 7));
            }

            /// Python's `acquire(False, timeout=1.0)` is a `ValueError`; here
            /// non-blocking ignores the timeout (documented). The timed
            /// forms succeed while permits are free and report a timeout
            /// when none is.
            #[test]
            fn test_acquire_timeout() {
                let sem = <$ty>::new(2);
                let t = Duration::from_millis(5);
                assert!(sem.acquire_unguarded(true, Some(t)));
                sem.acquire_timeout(t).expect("a free permit").forget();
                assert!(!sem.acquire_unguarded(true, Some(t)));
                assert!(sem.acquire_timeout(t).is_none());
                release(&sem);
                assert!(sem.acquire_unguarded(true, Some(t)));
                assert!(!sem.acquire_unguarded(true, Some(Duration::from_millis(50))));
                assert!(!sem.acquire_unguarded(false, Some(LONG)));
            }

            /// The default value is 1: a second acquirer blocks until the
            /// release.
            #[test]
            fn test_default_value() {
                let sem = Arc::new(<$ty>::default());
                assert!(sem.acquire_unguarded(true, None));
                let finished = Arc::new(AtomicBool::new(false));
                let (tx, rx) = mpsc::channel();
                let h = {
                    let (sem, finished) = (sem.clone(), finished.clone());
                    std::thread::spawn(move || {
                        tx.send(()).unwrap();
                        let g = sem.acquire();
                        finished.store(true, SeqCst);
                        drop(g);
                    })
                };
                rx.recv().unwrap();
                // Whether or not it is asleep yet, it cannot have passed.
                assert!(!finished.load(SeqCst));
                release(&sem);
                h.join().unwrap();
                assert!(finished.load(SeqCst));
                assert_eq!(sem.value(), 1);
            }

            /// `with sem:` is the guard; the permit comes back at the end of
            /// the block, also when it ends with a panic (Python: an
            /// exception).
            #[test]
            fn test_with() {
                let sem = <$ty>::new(2);
                let with = |fail: bool| {
                    let _g = sem.acquire();
                    assert!(sem.acquire_unguarded(false, None));
                    release(&sem);
                    let _g2 = sem.acquire();
                    assert!(!sem.acquire_unguarded(false, None));
                    if fail {
                        panic!("TypeError");
                    }
                };
                with(false);
                assert!(sem.acquire_unguarded(false, None));
                release(&sem);
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| with(true)));
                assert!(r.is_err());
                assert!(sem.acquire_unguarded(false, None));
                release(&sem);
                assert_eq!(sem.value(), 2);
            }
        }
    };
}

base_semaphore_tests!(
    semaphore_tests,
    Semaphore,
    |s: &Semaphore| s.release().unwrap(),
    |s: &Semaphore, n| s.release_n(n).unwrap()
);
base_semaphore_tests!(
    bounded_semaphore_tests,
    BoundedSemaphore,
    |s: &BoundedSemaphore| s.release().unwrap(),
    |s: &BoundedSemaphore, n| s.release_n(n).unwrap()
);

// ---- SemaphoreTests ----

/// Unbounded releases are allowed and raise the value.
#[test]
fn semaphore_test_release_unacquired() {
    let sem = Semaphore::new(1);
    sem.release().unwrap();
    assert!(sem.acquire_unguarded(true, None));
    assert!(sem.acquire_unguarded(true, None));
    sem.release().unwrap();
    assert_eq!(sem.value(), 1);
}

#[test]
fn semaphore_test_repr() {
    let sem = Semaphore::new(3);
    let repr = |s: &Semaphore| format!("{s:?}");
    assert!(repr(&sem).starts_with("<gilfree.Semaphore at 0x"));
    assert!(repr(&sem).ends_with(": value=3>"), "{}", repr(&sem));
    assert!(sem.acquire_unguarded(true, None));
    assert!(repr(&sem).ends_with(": value=2>"));
    sem.release().unwrap();
    sem.release().unwrap();
    assert!(repr(&sem).ends_with(": value=4>"));
}

/// `release(n)` with `n < 1` is a `ValueError` and changes nothing; so is
/// overflowing the `u32` value (Python's ints do not overflow).
#[test]
fn semaphore_release_n_rejects_zero_and_overflow() {
    let sem = Semaphore::new(u32::MAX - 1);
    assert!(matches!(sem.release_n(0), Err(Error::Value(_))));
    assert!(matches!(sem.release_n(2), Err(Error::Value(_))));
    assert_eq!(sem.value(), u32::MAX - 1);
    sem.release_n(1).unwrap();
    // A single release past the top is the same error, not a panic, and
    // leaves the value (and a waiter-free semaphore) as it was.
    assert!(matches!(sem.release(), Err(Error::Value(_))));
    assert_eq!(sem.value(), u32::MAX);
    assert!(sem.try_acquire().is_some_and(|g| {
        g.forget();
        true
    }));
    sem.release().unwrap();
    assert_eq!(sem.value(), u32::MAX);
}

// ---- BoundedSemaphoreTests ----

/// Cannot go past the initial value.
#[test]
fn bounded_semaphore_test_release_unacquired() {
    let sem = BoundedSemaphore::default();
    assert_eq!(sem.release(), Err(Error::TooManyReleases));
    assert!(sem.acquire_unguarded(true, None));
    assert_eq!(sem.release(), Ok(()));
    assert_eq!(sem.release(), Err(Error::TooManyReleases));
    assert_eq!(sem.value(), 1);
}

#[test]
fn bounded_semaphore_test_repr() {
    let sem = BoundedSemaphore::new(3);
    let repr = format!("{sem:?}");
    assert!(repr.starts_with("<gilfree.BoundedSemaphore at 0x"));
    assert!(repr.ends_with(": value=3/3>"), "{repr}");
    let _g = sem.acquire();
    assert!(format!("{sem:?}").ends_with(": value=2/3>"));
}

/// `release(n)` is all or nothing against the bound.
#[test]
fn bounded_semaphore_release_n_all_or_nothing() {
    let sem = BoundedSemaphore::new(3);
    for _ in 0..3 {
        sem.acquire().forget();
    }
    sem.release_n(1).unwrap();
    assert_eq!(sem.release_n(3), Err(Error::TooManyReleases));
    assert_eq!(sem.value(), 1);
    assert!(matches!(sem.release_n(0), Err(Error::Value(_))));
    assert_eq!(sem.release_n(2), Ok(()));
    assert_eq!(sem.value(), 3);
}

/// A guard dropped when someone else has already over-released leaves the
/// value at the bound (a destructor cannot raise).
#[test]
fn bounded_guard_drop_at_bound_keeps_bound() {
    let sem = BoundedSemaphore::new(1);
    let g = sem.acquire();
    sem.release().unwrap();
    drop(g);
    assert_eq!(sem.value(), 1);
}

/// A permit has no owner: a guard may be dropped on another thread.
#[test]
fn guard_released_from_another_thread() {
    let sem = Semaphore::new(1);
    let g = sem.acquire();
    std::thread::scope(|s| {
        s.spawn(move || drop(g));
    });
    assert_eq!(sem.value(), 1);
}

// ---- stress ----

/// N permits, M > N threads, every kind of acquire: the measured number of
/// concurrent holders never exceeds N, every acquisition completes (none is
/// lost), and all permits come back.
fn stress_bound_never_exceeded(permits: u32, threads: usize, iters: usize) {
    let sem = Semaphore::new(permits);
    let holders = AtomicUsize::new(0);
    let max = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (sem, holders, max, done) = (&sem, &holders, &max, &done);
            s.spawn(move || {
                for i in 0..iters {
                    let g = match (t + i) % 3 {
                        0 => sem.acquire(),
                        1 => sem.acquire_timeout(LONG).expect("no permit within LONG"),
                        _ => loop {
                            if let Some(g) = sem.try_acquire() {
                                break g;
                            }
                            std::thread::yield_now();
                        },
                    };
                    let now = holders.fetch_add(1, SeqCst) + 1;
                    max.fetch_max(now, SeqCst);
                    assert!(
                        now <= permits as usize,
                        "{now} holders of {permits} permits"
                    );
                    if i % 7 == 0 {
                        std::thread::yield_now();
                    }
                    holders.fetch_sub(1, SeqCst);
                    drop(g);
                    done.fetch_add(1, SeqCst);
                }
            });
        }
    });
    assert_eq!(done.into_inner(), threads * iters);
    assert!(max.into_inner() <= permits as usize);
    assert_eq!(sem.value(), permits);
}

#[test]
fn stress_semaphore_bound_never_exceeded() {
    stress_bound_never_exceeded(3, 8, 3_000);
}

#[test]
#[ignore = "long stress run"]
fn stress_semaphore_bound_never_exceeded_long() {
    stress_bound_never_exceeded(3, 16, 200_000);
}

/// Producers `release(n)` permits in batches, consumers block on
/// `acquire`: every released permit is consumed exactly once and no
/// consumer is left asleep with permits free (a lost wake-up would hang
/// the join, bounded here by `LONG` per acquire).
fn stress_release_n(consumers: usize, per_consumer: usize) {
    let sem = Semaphore::new(0);
    let consumed = AtomicUsize::new(0);
    let total = consumers * per_consumer;
    std::thread::scope(|s| {
        for _ in 0..consumers {
            s.spawn(|| {
                for _ in 0..per_consumer {
                    sem.acquire_timeout(LONG).expect("lost wake-up").forget();
                    consumed.fetch_add(1, SeqCst);
                }
            });
        }
        s.spawn(|| {
            let mut left = total;
            let mut n = 1;
            while left > 0 {
                let k = n.min(left);
                sem.release_n(k as u32).unwrap();
                left -= k;
                n = n % 5 + 1;
                std::thread::yield_now();
            }
        });
    });
    assert_eq!(consumed.into_inner(), total);
    assert_eq!(sem.value(), 0);
}

#[test]
fn stress_semaphore_release_n_nothing_lost() {
    stress_release_n(6, 5_000);
}

#[test]
#[ignore = "long stress run"]
fn stress_semaphore_release_n_nothing_lost_long() {
    stress_release_n(12, 200_000);
}

/// Rounds of racing over-releases on a drained bounded semaphore: in each
/// round exactly `bound` of the releases succeed, the value never reads
/// above the bound, and the rest fail with `TooManyReleases`.
fn stress_bounded_over_release(bound: u32, threads: usize, rounds: usize) {
    let sem = BoundedSemaphore::new(bound);
    let barrier = Barrier::new(threads + 1);
    let ok = AtomicUsize::new(0);
    let too_many = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..rounds {
                    barrier.wait();
                    for _ in 0..2 {
                        match sem.release() {
                            Ok(()) => ok.fetch_add(1, SeqCst),
                            Err(Error::TooManyReleases) => too_many.fetch_add(1, SeqCst),
                            Err(e) => panic!("{e}"),
                        };
                        assert!(sem.value() <= bound);
                    }
                    barrier.wait();
                }
            });
        }
        for _ in 0..rounds {
            for _ in 0..bound {
                sem.acquire().forget();
            }
            assert_eq!(sem.value(), 0);
            barrier.wait();
            barrier.wait();
            assert_eq!(ok.swap(0, SeqCst), bound as usize);
            assert_eq!(too_many.swap(0, SeqCst), 2 * threads - bound as usize);
            assert_eq!(sem.value(), bound);
        }
    });
}

#[test]
fn stress_bounded_semaphore_over_release_race() {
    stress_bounded_over_release(3, 4, 2_000);
}

#[test]
#[ignore = "long stress run"]
fn stress_bounded_semaphore_over_release_race_long() {
    stress_bounded_over_release(5, 8, 100_000);
}
