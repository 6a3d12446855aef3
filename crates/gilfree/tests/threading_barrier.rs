//! `Barrier`: the scenarios of CPython's `lock_tests.py` `BarrierTests`, one
//! test each, plus gilfree specifics and a many-cycle stress test.
//!
//! The bodies are shared with the process-shared twin
//! (`tests/twins/barrier.rs`, run across processes by
//! `shared_memory_twins.rs`); here they run with threads over
//! `threading::Barrier`. The tests written here are the thread-only ones.

#[path = "twins/barrier.rs"]
mod barrier;
#[path = "twins/world.rs"]
mod world;

use std::sync::Arc;
use std::thread;

use barrier as case;
use gilfree::threading::{Barrier, Error};
use world::{Threads, wait_until};

macro_rules! shared {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            case::$name(&Threads);
        }
    )*};
}

shared!(
    barrier_test_constructor,
    barrier_test_barrier,
    barrier_test_barrier_10,
    barrier_test_wait_return,
    barrier_test_action,
    barrier_test_abort,
    barrier_test_reset,
    barrier_test_abort_and_reset,
    barrier_test_timeout,
    barrier_test_default_timeout,
    barrier_test_single_thread,
);

#[test]
fn barrier_test_repr() {
    let b = Arc::new(Barrier::new(3));
    let r = format!("{b:?}");
    assert!(
        r.starts_with("<gilfree.Barrier at ") && r.ends_with(": waiters=0/3>"),
        "{r}"
    );
    let hs: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            thread::spawn(move || b.wait().unwrap())
        })
        .collect();
    wait_until(|| b.n_waiting() >= 2);
    let r = format!("{b:?}");
    assert!(r.ends_with(": waiters=2/3>"), "{r}");
    b.wait().unwrap();
    for h in hs {
        h.join().unwrap();
    }
    b.abort();
    assert!(format!("{b:?}").ends_with(": broken>"));
}

// ---- gilfree specifics ----

shared!(
    barrier_action_panic_breaks_barrier,
    barrier_action_may_read_state,
    barrier_broken_until_reset,
    barrier_abort_wakes_blocked_waiters,
);

/// The error's text is `threading`'s own.
#[test]
fn barrier_reset_with_nobody_waiting_is_a_no_op() {
    case::barrier_reset_with_nobody_waiting_is_a_no_op(&Threads);
    assert_eq!(Error::BrokenBarrier.to_string(), "barrier is broken");
}

// ---- stress ----

#[test]
fn barrier_stress_many_cycles() {
    case::stress_cycles(&Threads, 4, 3_000);
}

#[test]
#[ignore = "long stress run"]
fn barrier_stress_many_cycles_long() {
    case::stress_cycles(&Threads, 8, 100_000);
}
