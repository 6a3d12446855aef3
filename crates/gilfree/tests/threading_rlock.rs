//! `RLock`: the scenarios of CPython's `lock_tests.py` (`RLockTests` and the
//! `BaseLockTests` that apply), one test each, plus a stress test.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier as StdBarrier, mpsc};
use std::thread;
use std::time::Duration;

use gilfree::threading::{Error, RLock};

/// Spin (yielding) until `f()` holds: waits for another thread to reach a
/// point it signals through state we can observe. Never a timed sleep.
fn wait_until(f: impl Fn() -> bool) {
    while !f() {
        thread::yield_now();
    }
}

// ---- BaseLockTests ----

#[test]
fn rlock_test_constructor() {
    let lock = RLock::new(());
    assert!(!lock.locked());
    let _ = lock; // Python: `del lock`
}

#[test]
fn rlock_test_repr() {
    let lock = RLock::new(());
    let r = format!("{lock:?}");
    assert!(r.starts_with("<unlocked gilfree.RLock object"), "{r}");
    assert!(r.contains(" at 0x"), "{r}");
}

#[test]
fn rlock_test_locked_repr() {
    let lock = RLock::new(());
    let _g = lock.acquire();
    let r = format!("{lock:?}");
    assert!(r.starts_with("<locked gilfree.RLock object"), "{r}");
    assert!(r.contains("count=1"), "{r}");
}

#[test]
fn rlock_test_acquire_destroy() {
    // Python: acquire, then `del lock`. A held lock may be dropped.
    let lock = Box::new(RLock::new(()));
    std::mem::forget(lock.acquire());
    assert!(lock.locked() && lock.is_owned());
    drop(lock);
}

#[test]
fn rlock_test_acquire_release() {
    let lock = RLock::new(());
    assert!(lock.acquire_unguarded(true, None));
    lock.release().unwrap();
    let g = lock.acquire();
    drop(g);
    assert!(!lock.locked());
}

#[test]
fn rlock_test_try_acquire() {
    let lock = RLock::new(());
    assert!(lock.acquire_unguarded(false, None));
    lock.release().unwrap();
    assert!(lock.try_acquire().is_some());
}

#[test]
fn rlock_test_try_acquire_contended() {
    let lock = Arc::new(RLock::new(()));
    let _g = lock.acquire();
    let l2 = lock.clone();
    let got = thread::spawn(move || l2.acquire_unguarded(false, None))
        .join()
        .unwrap();
    assert!(!got);
}

#[test]
fn rlock_test_acquire_contended() {
    const N: usize = 5;
    let lock = Arc::new(RLock::new(()));
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let g = lock.acquire();
    let hs: Vec<_> = (0..N)
        .map(|_| {
            let (lock, started, finished) = (lock.clone(), started.clone(), finished.clone());
            thread::spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                let _g = lock.acquire();
                finished.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    wait_until(|| started.load(Ordering::SeqCst) == N);
    // They cannot get past acquire while we hold it.
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    drop(g);
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(finished.load(Ordering::SeqCst), N);
}

#[test]
fn rlock_test_with() {
    let lock = Arc::new(RLock::new(()));
    let other_thread_can_take = |lock: &Arc<RLock>| {
        let l = lock.clone();
        thread::spawn(move || l.try_acquire().is_some())
            .join()
            .unwrap()
    };
    {
        let _g = lock.acquire();
    }
    assert!(other_thread_can_take(&lock));
    // A panic inside the "with" block releases the lock (no poisoning).
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _g = lock.acquire();
        let _g2 = lock.acquire();
        panic!("TypeError");
    }));
    assert!(r.is_err());
    assert!(other_thread_can_take(&lock));
    assert!(!lock.locked());
}

#[test]
fn rlock_test_thread_leak() {
    let lock = Arc::new(RLock::new(()));
    let hs: Vec<_> = (0..15)
        .map(|_| {
            let l = lock.clone();
            thread::spawn(move || {
                let _g = l.acquire();
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert!(!lock.locked());
}

#[test]
fn rlock_test_timeout() {
    let lock = Arc::new(RLock::new(()));
    // A huge timeout saturates (Python: TIMEOUT_MAX is fine).
    let g = lock.acquire_timeout(Duration::MAX).unwrap();
    drop(g);
    assert!(lock.acquire_timeout(Duration::from_secs(5)).is_some());
    let _g = lock.acquire();
    let l2 = lock.clone();
    let got = thread::spawn(move || l2.acquire_timeout(Duration::from_millis(50)).is_some())
        .join()
        .unwrap();
    assert!(!got);
    let l3 = lock.clone();
    let got = thread::spawn(move || l3.acquire_unguarded(true, Some(Duration::from_millis(10))))
        .join()
        .unwrap();
    assert!(!got);
}

#[test]
fn rlock_test_weakref_deleted() {
    // Python checks that the lock can be collected; here: dropping the last
    // Arc frees it, also while "held" via a forgotten level.
    let lock = Arc::new(RLock::new(()));
    let weak = Arc::downgrade(&lock);
    std::mem::forget(lock.acquire());
    drop(lock);
    assert!(weak.upgrade().is_none());
}

// ---- RLockTests ----

#[test]
fn rlock_test_reacquire() {
    let lock = RLock::new(());
    assert!(lock.acquire_unguarded(true, None));
    assert!(lock.acquire_unguarded(true, None));
    lock.release().unwrap();
    assert!(lock.acquire_unguarded(true, None));
    lock.release().unwrap();
    lock.release().unwrap();
    assert!(!lock.locked());
}

#[test]
fn rlock_test_release_unacquired() {
    let lock = RLock::new(());
    assert_eq!(lock.release(), Err(Error::NotOwner));
    lock.acquire_unguarded(true, None);
    lock.acquire_unguarded(true, None);
    lock.release().unwrap();
    lock.acquire_unguarded(true, None);
    lock.release().unwrap();
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(Error::NotOwner));
    assert_eq!(
        Error::NotOwner.to_string(),
        "cannot release un-acquired lock"
    );
}

#[test]
fn rlock_test_release_save_unacquired() {
    // `_release_save` is what Condition.wait uses: waiting on a Condition
    // whose RLock we do not own fails and changes nothing.
    let cond = gilfree::threading::Condition::new();
    assert_eq!(cond.wait(), Err(Error::NotHeld("wait")));
    {
        let _a = cond.acquire();
        let _b = cond.acquire();
    }
    let _c = cond.acquire();
    drop(_c);
    assert_eq!(cond.wait(), Err(Error::NotHeld("wait")));
    assert!(!cond.lock().locked());
}

#[test]
fn rlock_test_recursion_count() {
    let lock = Arc::new(RLock::new(()));
    assert_eq!(lock.recursion_count(), 0);
    lock.acquire_unguarded(true, None);
    assert_eq!(lock.recursion_count(), 1);
    lock.acquire_unguarded(true, None);
    lock.acquire_unguarded(true, None);
    assert_eq!(lock.recursion_count(), 3);
    lock.release().unwrap();
    assert_eq!(lock.recursion_count(), 2);
    lock.release().unwrap();
    lock.release().unwrap();
    assert_eq!(lock.recursion_count(), 0);

    // Another thread owning it does not count for us.
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let l2 = lock.clone();
    let t = thread::spawn(move || {
        let _g = l2.acquire();
        held_tx.send(l2.recursion_count()).unwrap();
        go_rx.recv().unwrap();
    });
    assert_eq!(held_rx.recv().unwrap(), 1);
    assert_eq!(lock.recursion_count(), 0);
    go_tx.send(()).unwrap();
    t.join().unwrap();
    assert_eq!(lock.recursion_count(), 0);
}

#[test]
fn rlock_test_different_thread() {
    let lock = Arc::new(RLock::new(()));
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let l2 = lock.clone();
    let t = thread::spawn(move || {
        l2.acquire_unguarded(true, None);
        held_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        l2.release().unwrap();
    });
    held_rx.recv().unwrap();
    assert_eq!(lock.release(), Err(Error::NotOwner));
    assert!(lock.locked(), "a failed release changes nothing");
    go_tx.send(()).unwrap();
    t.join().unwrap();
    assert!(!lock.locked());
}

#[test]
fn rlock_test_is_owned() {
    let lock = Arc::new(RLock::new(()));
    assert!(!lock.is_owned());
    lock.acquire_unguarded(true, None);
    assert!(lock.is_owned());
    lock.acquire_unguarded(true, None);
    assert!(lock.is_owned());
    let l2 = lock.clone();
    assert!(!thread::spawn(move || l2.is_owned()).join().unwrap());
    lock.release().unwrap();
    assert!(lock.is_owned());
    lock.release().unwrap();
    assert!(!lock.is_owned());
}

// ---- Rust-side API ----

#[test]
fn rlock_guards_data_with_shared_refs() {
    let lock = RLock::new(Cell::new(1));
    let a = lock.acquire();
    let b = lock.acquire();
    b.set(a.get() + 1);
    assert_eq!(a.get(), 2);
    drop(a);
    assert!(lock.is_owned(), "guards may drop in any order");
    drop(b);
    assert!(!lock.locked());
    assert_eq!(lock.into_inner().get(), 2);
}

#[test]
fn rlock_try_acquire_reenters_without_waiting() {
    let lock = RLock::new(());
    let _a = lock.acquire();
    let b = lock.try_acquire().expect("re-entry never waits");
    let c = lock.acquire_timeout(Duration::ZERO).expect("nor here");
    assert_eq!(lock.recursion_count(), 3);
    drop((b, c));
}

// ---- stress ----

fn stress(threads: usize, iters: usize) {
    // The counter lives in a Cell: only the owner touches it, so if mutual
    // exclusion failed across recursion, the read-modify-writes would lose
    // updates (and `inside` would see two threads at once).
    let lock = Arc::new(RLock::new(Cell::new(0usize)));
    let inside = Arc::new(AtomicBool::new(false));
    let start = Arc::new(StdBarrier::new(threads));
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (lock, inside, start) = (lock.clone(), inside.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..iters {
                    let depth = 1 + (i + t) % 3;
                    let guards: Vec<_> = (0..depth).map(|_| lock.acquire()).collect();
                    assert!(!inside.swap(true, Ordering::Relaxed), "two owners at once");
                    assert_eq!(lock.recursion_count() as usize, depth);
                    let c = &guards[depth - 1];
                    c.set(c.get() + 1);
                    inside.store(false, Ordering::Relaxed);
                    drop(guards);
                    if i % 7 == 0 {
                        // The Python-shaped path too, with a try in between.
                        if let Some(g) = lock.try_acquire() {
                            g.set(g.get() + 1);
                            g.set(g.get() - 1);
                        }
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert!(!lock.locked());
    assert_eq!(lock.acquire().get(), threads * iters);
}

#[test]
fn rlock_stress_mutual_exclusion_with_recursion() {
    stress(4, 20_000);
}

#[test]
#[ignore = "long stress run"]
fn rlock_stress_mutual_exclusion_with_recursion_long() {
    stress(8, 1_000_000);
}
