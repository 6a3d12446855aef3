//! `Event`: the scenarios of CPython's `Lib/test/lock_tests.py`
//! `EventTests`, one test per scenario and named after it, plus a stress
//! test of set/clear/wait cycles.
//!
//! The bodies are shared with the process-shared twin
//! (`tests/twins/event.rs`, run across processes by
//! `shared_memory_twins.rs`); here they run with threads over
//! `threading::Event`. The tests written here are the thread-only ones.

#[path = "twins/event.rs"]
mod event;
#[path = "twins/world.rs"]
mod world;

use event as case;
use gilfree::threading::Event;
use world::Threads;

#[test]
fn test_is_set() {
    case::test_is_set(&Threads);
}

#[test]
fn test_notify() {
    case::test_notify(&Threads);
}

#[test]
fn test_timeout() {
    case::test_timeout(&Threads);
}

#[test]
fn test_set_and_clear() {
    case::test_set_and_clear(&Threads);
}

#[test]
fn test_at_fork_reinit() {
    case::test_at_fork_reinit(&Threads);
}

#[test]
fn test_repr() {
    let evt = Event::new();
    let r = format!("{evt:?}");
    assert!(
        r.starts_with("<gilfree.Event at 0x") && r.ends_with(": unset>"),
        "{r}"
    );
    evt.set();
    assert!(format!("{evt:?}").ends_with(": set>"));
}

#[test]
fn set_publishes_writes() {
    case::set_publishes_writes(&Threads);
}

// ---- stress ----

#[test]
fn stress_event_set_clear_wait_rounds() {
    case::stress_rounds(&Threads, 4, 2_000);
}

#[test]
#[ignore = "long stress run"]
fn stress_event_set_clear_wait_rounds_long() {
    case::stress_rounds(&Threads, 8, 100_000);
}

#[test]
fn stress_event_ping_pong() {
    case::stress_ping_pong(&Threads, 20_000);
}

#[test]
#[ignore = "long stress run"]
fn stress_event_ping_pong_long() {
    case::stress_ping_pong(&Threads, 1_000_000);
}
