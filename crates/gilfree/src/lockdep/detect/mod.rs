//! The detector (feature `deadlock-detection`): per-lock tags, per-thread
//! held stacks, the global lock-order graph, the wait-for check.
//!
//! # Where the state lives, and what it costs
//!
//! - Each lock's [`Tag`]: its id (assigned at first acquisition from a
//!   global counter, never reused) and its current owner (a thread serial,
//!   0 for none). Written by the acquiring/releasing thread only, next to
//!   the lock word: no shared cache line beyond the lock's own.
//! - Each thread's `Local` (a thread-local): the stack of locks it holds
//!   with their acquisition sites, and a cache of the lock-order edges it
//!   has already recorded. An acquisition whose edges are all cached (the
//!   steady state of a program) touches no global state at all.
//! - The global [`Graph`] (a mutex): only locked when a thread records an
//!   edge new to it, and by [`to_dot`]/[`reports`]/[`reset`].
//! - The thread registry (a mutex): touched when a thread first uses a
//!   lock, when it exits, on a release by a thread that does not hold the
//!   lock (Python's Lock allows it), and by [`check`]. Each thread's
//!   "waiting on" record has its own mutex, taken only on the futex-sleeping
//!   slow path and by [`check`].
//!
//! # Why `check` may read a lock it does not own
//!
//! A thread publishes a pointer to the tag of the lock it waits on, under
//! its `waiting` mutex, and clears it under the same mutex before its
//! acquire call returns. The lock is borrowed by that call, so it outlives
//! the record; [`check`] dereferences the pointer only while holding the
//! mutex.
//!
//! # What is best-effort
//!
//! A [`check`] is a snapshot of a moving system; a cycle is returned only
//! if a second look finds the same waits (same wait serials, same owners).
//! A real deadlock does not move, so it is always confirmed. A Lock released
//! by a thread that does not hold it (a Lock used as a signal) is removed
//! from its holder's stack at the holder's next hook.
//!
//! One file per part: `base.rs` (shared pieces), `mode.rs`, `tags.rs`,
//! `threads.rs`, `hooks.rs`, `graph.rs` (and `report.rs`, what a report
//! says), `waitfor.rs` (`check` and the watchdog).

mod base;
mod graph;
mod hooks;
mod mode;
mod report;
mod tags;
mod threads;
mod waitfor;

pub(crate) use base::ENABLED;
pub use graph::{reports, reset, to_dot};
pub(crate) use hooks::{
    acquired, before_acquire, before_reacquire, released, wait_begin, wait_end,
};
pub use mode::{Mode, mode, set_mode};
pub use report::{LockInfo, OrderEdge, PotentialDeadlock};
pub(crate) use tags::{Tag, order_key};
pub use waitfor::{BlockedThread, WaitCycle, Watchdog, check, spawn_watchdog};
