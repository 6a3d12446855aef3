//! Deadlocks: finding them (lock-order and wait-for detection) and avoiding
//! them (ordered multi-lock acquisition).
//!
//! Python has no counterpart in the standard library; the detector is in the
//! spirit of Linux's *lockdep*, and [`acquire_all`] is C++'s
//! `std::scoped_lock` for gilfree locks.
//!
//! # Avoidance (always available)
//!
//! [`acquire_all`] takes several locks in one global order, so two threads
//! that both use it can never wait on each other in a cycle, whatever order
//! they list the locks in. [`acquire_all_timeout`] gives up after a timeout,
//! and never holds some of the locks while it waits for another: when one is
//! busy it releases all, waits for that one, and starts again.
//!
//! ```
//! use gilfree::deadlock::acquire_all;
//! use gilfree::threading::Lock;
//!
//! let (alice, bob) = (Lock::new(100), Lock::new(0));
//! let mut all = acquire_all(&[&bob, &alice]); // any order: no deadlock
//! let (mut a, mut b) = (all.take(&alice).unwrap(), all.take(&bob).unwrap());
//! *a -= 30;
//! *b += 30;
//! ```
//!
//! # Detection (cargo feature `deadlock-detection`)
//!
//! (The items named in this section exist only with the feature.)
//!
//! With the feature on, every acquisition of a gilfree lock that has an
//! owner (`Lock`, `RLock`, and so `Condition`'s lock, whose wait releases
//! and takes it back) goes through a few hooks; without it the hooks are empty `#[inline(always)]`
//! functions and a lock carries no extra field, so the cost is zero.
//!
//! - **Lock order** (potential deadlocks): acquiring lock `B` while holding
//!   `A` records the edge `A → B` in one global graph. The first acquisition
//!   whose edge closes a cycle is reported *before it blocks*, even if this
//!   run would not have deadlocked: both threads' names, both acquisition
//!   sites (`#[track_caller]` locations) and the cycle. Each cycle is
//!   reported once. A failed-or-not `try_acquire` never waits, so it adds no
//!   edge (the lock still counts as held once taken). Re-entering an
//!   `RLock` is not an edge; a Semaphore has no owner and is never tracked.
//! - **What happens on a report** is the `Mode`: the environment variable
//!   `GILFREE_DEADLOCK=warn|panic`, read once at the first report, or
//!   `set_mode`. `warn` (the default when the variable is unset) prints
//!   the report to stderr; `panic` panics in the acquiring thread (its
//!   guards release on unwind; a thread already unwinding, or a
//!   `Condition` wait taking its lock back, warns instead). Either way the
//!   report is kept in `reports`.
//! - **Wait-for cycles** (actual deadlocks): `check` returns the cycles of
//!   threads blocked right now on locks held by each other;
//!   `spawn_watchdog` runs it periodically.
//! - **The picture**: `to_dot` renders the lock-order graph as Graphviz
//!   DOT, with reported cycles in red.
//!
//! With the feature on, each owned lock is 16 bytes larger (its id and
//! owner) and an acquire+release costs about 200 more instructions (a
//! thread-local held-lock stack and a per-thread cache of known edges; the
//! global graph is locked only for an edge never seen before).
//!
//! Locks are identified by an id given at their first acquisition (never
//! reused; addresses are not identities in Rust, where values move and
//! memory is reused). Dropping a lock removes it from the graph: a lock that
//! no longer exists cannot take part in a future deadlock.

mod order;

pub use crate::guard::Lockable;
pub use order::{AllGuard, acquire_all, acquire_all_timeout};

#[cfg(all(feature = "deadlock-detection", not(loom)))]
pub use crate::lockdep::detect::{
    BlockedThread, LockInfo, Mode, OrderEdge, PotentialDeadlock, WaitCycle, Watchdog, check, mode,
    reports, reset, set_mode, spawn_watchdog, to_dot,
};
