//! `RLock`: the scenarios of CPython's `lock_tests.py` (`RLockTests` and the
//! `BaseLockTests` that apply), one test each, plus a stress test.
//!
//! The bodies are shared with the process-shared twin
//! (`tests/twins/rlock.rs`, run across processes by
//! `shared_memory_twins.rs`); here they run with threads over
//! `threading::RLock`. The tests written here are the thread-only ones.

#[path = "twins/rlock.rs"]
mod rlock;
#[path = "twins/world.rs"]
mod world;

use std::cell::Cell;
use std::sync::Arc;

use gilfree::threading::{Error, RLock};
use rlock as case;
use world::Threads;

// ---- BaseLockTests ----

#[test]
fn rlock_test_constructor() {
    case::rlock_test_constructor(&Threads);
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
    case::rlock_test_acquire_destroy(&Threads);
}

#[test]
fn rlock_test_acquire_release() {
    case::rlock_test_acquire_release(&Threads);
}

#[test]
fn rlock_test_try_acquire() {
    case::rlock_test_try_acquire(&Threads);
}

#[test]
fn rlock_test_try_acquire_contended() {
    case::rlock_test_try_acquire_contended(&Threads);
}

#[test]
fn rlock_test_acquire_contended() {
    case::rlock_test_acquire_contended(&Threads);
}

#[test]
fn rlock_test_with() {
    case::rlock_test_with(&Threads);
}

#[test]
fn rlock_test_thread_leak() {
    case::rlock_test_thread_leak(&Threads);
}

#[test]
fn rlock_test_timeout() {
    case::rlock_test_timeout(&Threads);
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
    case::rlock_test_reacquire(&Threads);
}

/// The error is `threading`'s own (Python's `RuntimeError`).
#[test]
fn rlock_test_release_unacquired() {
    case::rlock_test_release_unacquired(&Threads);
    assert_eq!(RLock::new(()).release(), Err(Error::NotOwner));
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
    case::rlock_test_recursion_count(&Threads);
}

#[test]
fn rlock_test_different_thread() {
    case::rlock_test_different_thread(&Threads);
}

#[test]
fn rlock_test_is_owned() {
    case::rlock_test_is_owned(&Threads);
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
    case::rlock_try_acquire_reenters_without_waiting(&Threads);
}

// ---- stress ----

#[test]
fn rlock_stress_mutual_exclusion_with_recursion() {
    case::stress(&Threads, 4, 20_000);
}

#[test]
#[ignore = "long stress run"]
fn rlock_stress_mutual_exclusion_with_recursion_long() {
    case::stress(&Threads, 8, 1_000_000);
}
