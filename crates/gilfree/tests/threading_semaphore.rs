//! `Semaphore` and `BoundedSemaphore`: the scenarios of CPython's
//! `Lib/test/lock_tests.py` (`BaseSemaphoreTests`, `SemaphoreTests`,
//! `BoundedSemaphoreTests`), one test per scenario and named after it, plus
//! stress tests with invariants.
//!
//! The bodies are shared with the process-shared twins
//! (`tests/twins/semaphore.rs`, run across processes by
//! `shared_memory_twins.rs`); here they run with threads over the
//! `threading` types. The tests written here are the thread-only ones.

#[path = "twins/semaphore.rs"]
mod semaphore;
#[path = "twins/world.rs"]
mod world;

use gilfree::threading::{BoundedSemaphore, Semaphore};
use semaphore as case;
use world::Threads;

/// The scenarios both kinds share (`BaseSemaphoreTests`), over the
/// semaphore `$bounded` says.
macro_rules! base_semaphore_tests {
    ($modname:ident, $bounded:expr) => {
        mod $modname {
            use super::*;

            #[test]
            fn test_constructor() {
                case::test_constructor(&Threads, $bounded);
            }

            #[test]
            fn test_acquire() {
                case::test_acquire(&Threads, $bounded);
            }

            #[test]
            fn test_acquire_destroy() {
                case::test_acquire_destroy(&Threads, $bounded);
            }

            #[test]
            fn test_acquire_contended() {
                case::contended_phases(&Threads, $bounded, false);
            }

            #[test]
            fn test_multirelease() {
                case::contended_phases(&Threads, $bounded, true);
            }

            #[test]
            fn test_try_acquire() {
                case::test_try_acquire(&Threads, $bounded);
            }

            #[test]
            fn test_try_acquire_contended() {
                case::test_try_acquire_contended(&Threads, $bounded);
            }

            #[test]
            fn test_acquire_timeout() {
                case::test_acquire_timeout(&Threads, $bounded);
            }

            #[test]
            fn test_default_value() {
                case::test_default_value(&Threads, $bounded);
            }

            #[test]
            fn test_with() {
                case::test_with(&Threads, $bounded);
            }
        }
    };
}

base_semaphore_tests!(semaphore_tests, false);
base_semaphore_tests!(bounded_semaphore_tests, true);

// ---- SemaphoreTests ----

#[test]
fn semaphore_test_release_unacquired() {
    case::semaphore_test_release_unacquired(&Threads);
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

#[test]
fn semaphore_release_n_rejects_zero_and_overflow() {
    case::semaphore_release_n_rejects_zero_and_overflow(&Threads);
}

// ---- BoundedSemaphoreTests ----

#[test]
fn bounded_semaphore_test_release_unacquired() {
    case::bounded_semaphore_test_release_unacquired(&Threads);
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

#[test]
fn bounded_semaphore_release_n_all_or_nothing() {
    case::bounded_semaphore_release_n_all_or_nothing(&Threads);
}

#[test]
fn bounded_guard_drop_at_bound_keeps_bound() {
    case::bounded_guard_drop_at_bound_keeps_bound(&Threads);
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

#[test]
fn stress_semaphore_bound_never_exceeded() {
    case::stress_bound_never_exceeded(&Threads, 3, 8, 3_000);
}

#[test]
#[ignore = "long stress run"]
fn stress_semaphore_bound_never_exceeded_long() {
    case::stress_bound_never_exceeded(&Threads, 3, 16, 200_000);
}

#[test]
fn stress_semaphore_release_n_nothing_lost() {
    case::stress_release_n(&Threads, 6, 5_000);
}

#[test]
#[ignore = "long stress run"]
fn stress_semaphore_release_n_nothing_lost_long() {
    case::stress_release_n(&Threads, 12, 200_000);
}

#[test]
fn stress_bounded_semaphore_over_release_race() {
    case::stress_bounded_over_release(&Threads, 3, 4, 2_000);
}

#[test]
#[ignore = "long stress run"]
fn stress_bounded_semaphore_over_release_race_long() {
    case::stress_bounded_over_release(&Threads, 5, 8, 100_000);
}
