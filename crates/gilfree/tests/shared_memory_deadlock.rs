//! The deadlock hooks see process-shared locks: lock-order inversions
//! within one process between `multiprocessing::Lock`s, between a
//! `threading::Lock` and a `Value`'s lock, and between an `RLock` (taken
//! twice) and a `Lock`, are reported as the threading locks' are. Run with `--features deadlock-detection`.
#![cfg(feature = "deadlock-detection")]

use std::sync::{Mutex, MutexGuard};
use std::thread;

use gilfree::deadlock::{self, Mode};
use gilfree::multiprocessing::{Lock, RLock, Value};

/// The graph is process-global: one test at a time, from an empty graph.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    deadlock::reset();
    deadlock::set_mode(Mode::Warn);
    g
}

/// A lock taken around a call: `hold(inner)` acquires, runs `inner`,
/// releases.
type Hold<'a> = &'a (dyn Fn(&mut dyn FnMut()) + Sync);

/// `first` then `second` in one thread; afterwards (never at the same
/// time) `second` then `first` in another.
fn inversion(first: Hold<'_>, second: Hold<'_>) {
    thread::scope(|s| {
        s.spawn(|| first(&mut || second(&mut || ())))
            .join()
            .unwrap();
        s.spawn(|| second(&mut || first(&mut || ())))
            .join()
            .unwrap();
    });
}

#[test]
fn process_lock_inversion_is_reported() {
    let _s = serial();
    let (a, b) = (Lock::new(0u32).unwrap(), Lock::new(0u32).unwrap());
    inversion(
        &|f| {
            let _g = a.acquire();
            f()
        },
        &|f| {
            let _g = b.acquire();
            f()
        },
    );
    let reports = deadlock::reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].cycle.len(), 2);
    assert!(reports[0].cycle.iter().all(|e| e.to.kind == "Lock"));
    assert!(!a.locked() && !b.locked());
}

#[test]
fn threading_and_value_lock_inversion_is_reported() {
    let _s = serial();
    let t = gilfree::threading::Lock::new(());
    let v = Value::new(0u64).unwrap();
    inversion(
        &|f| {
            let _g = t.acquire();
            f()
        },
        &|f| {
            let _g = v.get_lock();
            f()
        },
    );
    assert_eq!(deadlock::reports().len(), 1);
}

#[test]
fn consistent_order_is_not_reported() {
    let _s = serial();
    let (a, b) = (Lock::new(()).unwrap(), Lock::new(()).unwrap());
    let nested = || {
        let _a = a.acquire();
        let _b = b.acquire();
    };
    thread::scope(|s| {
        s.spawn(nested).join().unwrap();
        s.spawn(nested).join().unwrap();
    });
    assert!(deadlock::reports().is_empty());
}

#[test]
fn rlock_inversion_is_reported_and_reentry_is_not_an_edge() {
    let _s = serial();
    let r = RLock::new().unwrap();
    let l = Lock::new(()).unwrap();
    inversion(
        &|f| {
            let _a = r.acquire();
            let _again = r.acquire();
            f()
        },
        &|f| {
            let _g = l.acquire();
            f()
        },
    );
    let reports = deadlock::reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(!r.is_owned() && !l.locked());
}
