//! CPython's `Lib/test/lock_tests.py`, classes `BaseLockTests` and
//! `LockTests`, ported scenario by scenario to `gilfree::threading::Lock`
//! (one test per Python test, same name), plus stress tests.
//!
//! The bodies are shared with the process-shared twin
//! (`tests/twins/lock.rs`, run across processes by
//! `shared_memory_twins.rs`); here they run with threads over
//! `threading::Lock`. The tests written here are the thread-only ones.
//!
//! Not ported, because Rust has no such case:
//! - `test_timeout`'s `ValueError`/`OverflowError` cases: a `Duration` cannot
//!   be negative, and a huge one saturates to "wait forever" (checked here as
//!   Python's `TIMEOUT_MAX is ok`).
//! - `test_at_fork_reinit`: `_at_fork_reinit` is CPython's private fork hook;
//!   gilfree has no fork-time lock reset.

#[path = "twins/lock.rs"]
mod lock;
#[path = "twins/world.rs"]
mod world;

use std::sync::{Arc, Barrier, Weak, mpsc};

use gilfree::threading::{Error, Lock, enumerate};
use lock as case;
use world::Threads;

// ---------------------------------------------------------------- BaseLockTests

#[test]
fn test_constructor() {
    case::test_constructor(&Threads);
}

#[test]
fn test_repr() {
    let lock = Lock::new(());
    let r = format!("{lock:?}");
    assert!(
        r.starts_with("<unlocked ") && r.contains(" object at "),
        "{r}"
    );
}

#[test]
fn test_locked_repr() {
    let lock = Lock::new(());
    let _g = lock.acquire();
    let r = format!("{lock:?}");
    assert!(
        r.starts_with("<locked ") && r.contains(" object at "),
        "{r}"
    );
}

#[test]
fn test_acquire_destroy() {
    case::test_acquire_destroy(&Threads);
}

#[test]
fn test_acquire_release() {
    case::test_acquire_release(&Threads);
}

#[test]
fn test_try_acquire() {
    case::test_try_acquire(&Threads);
}

#[test]
fn test_try_acquire_contended() {
    case::test_try_acquire_contended(&Threads);
}

#[test]
fn test_acquire_contended() {
    case::test_acquire_contended(&Threads);
}

#[test]
fn test_with() {
    case::test_with(&Threads);
}

#[test]
fn test_thread_leak() {
    // Using a lock from foreign (non-gilfree) threads must not register
    // them as threads.
    const N: usize = 15;
    let lock = Arc::new(Lock::new(()));
    let barrier = Arc::new(Barrier::new(N + 1));
    let (tx, rx) = mpsc::channel();
    let hs: Vec<_> = (0..N)
        .map(|_| {
            let (l, b, tx) = (lock.clone(), barrier.clone(), tx.clone());
            std::thread::spawn(move || {
                drop(l.acquire());
                tx.send(gilfree::threading::get_native_id()).unwrap();
                b.wait(); // stay alive until main has looked
            })
        })
        .collect();
    let tids: Vec<u64> = (0..N).map(|_| rx.recv().unwrap()).collect();
    let listed: Vec<Option<u64>> = enumerate().iter().map(|t| t.native_id()).collect();
    for tid in &tids {
        assert!(
            !listed.contains(&Some(*tid)),
            "lock use registered a thread"
        );
    }
    barrier.wait();
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn test_timeout() {
    case::test_timeout(&Threads);
}

#[test]
fn test_weakref_exists() {
    let lock = Arc::new(Lock::new(()));
    let weak: Weak<Lock> = Arc::downgrade(&lock);
    assert!(weak.upgrade().is_some());
}

#[test]
fn test_weakref_deleted() {
    let lock = Arc::new(Lock::new(()));
    let weak = Arc::downgrade(&lock);
    drop(lock);
    assert!(weak.upgrade().is_none());
}

// -------------------------------------------------------------------- LockTests

#[test]
fn test_reacquire() {
    case::test_reacquire(&Threads);
}

#[test]
fn test_different_thread() {
    case::test_different_thread(&Threads);
}

#[test]
fn test_state_after_timeout() {
    case::test_state_after_timeout(&Threads);
}

// `test_threading.ThreadingExceptionTests.test_releasing_unacquired_lock`;
// the error is `threading`'s own (Python's `RuntimeError`).
#[test]
fn test_releasing_unacquired_lock() {
    case::test_releasing_unacquired_lock(&Threads);
    assert_eq!(Lock::new(()).release(), Err(Error::ReleaseUnlocked));
}

// ------------------------------------------------------------------ stress

#[test]
fn stress_counter_exact() {
    case::counter_stress(&Threads, 8, 20_000);
}

#[test]
#[ignore = "long stress; run with --ignored"]
fn stress_counter_exact_long() {
    case::counter_stress(&Threads, 16, 500_000);
}

#[test]
fn stress_handoff_any_thread_releases() {
    case::handoff_stress(&Threads, 4, 3, 5_000);
}

#[test]
#[ignore = "long stress; run with --ignored"]
fn stress_handoff_any_thread_releases_long() {
    case::handoff_stress(&Threads, 8, 4, 200_000);
}

#[test]
fn stress_timeouts_do_not_lose_wakeups() {
    case::stress_timeouts_do_not_lose_wakeups(&Threads);
}
