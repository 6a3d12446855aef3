//! The algorithms: each primitive as a few `#[repr(C)]` atomic words plus
//! futex wait/wake, generic over [`Scope`](crate::sys::Scope) — `Private`
//! for threads (`threading` is their home), `Shared` for words in a shared
//! mapping (processes, `multiprocessing`). One file per primitive; each
//! file's head comment states its state encoding, its memory orderings and
//! why no wake-up is lost, and its loom models live beside it.
//!
//! Nothing here knows about data guards, deadlock hooks or Python's API:
//! those are the homes' job (the guard layer is `crate::guard`).
//!
//! | raw | home(s) |
//! |---|---|
//! | [`RawBarrier`] | `threading::Barrier`, `multiprocessing::Barrier` |
//! | [`RawLock`] | `threading::Lock` |
//! | [`RawRLock`] | `threading::RLock` |
//! | [`RawSemaphore`] | `threading::{Semaphore, BoundedSemaphore}`, `multiprocessing::{Semaphore, BoundedSemaphore}` |
//! | [`RawEvent`] | `threading::Event`, `multiprocessing::Event` |
//! | [`RawLife`] | `threading::Thread` (started / running / done) |
//! | [`RawCondvar`] | `multiprocessing::Condition` |
//! | [`RawRobustLock`] | `multiprocessing::{Lock, Value, Array, Condition}` (a holder may die) |
//! | [`RawRobustRLock`] | `multiprocessing::RLock` (a holder, thread or task, may die) |

mod barrier;
mod condvar;
mod event;
pub(crate) mod life;
mod lock;
mod rlock;
pub(crate) mod robust_lock;
mod robust_rlock;
mod semaphore;

pub(crate) use barrier::{BarrierWait, MAX_PARTIES, RawBarrier};
#[allow(unused_imports)]
pub(crate) use condvar::RawCondvar;
pub(crate) use event::{EventWait, RawEvent};
pub(crate) use life::RawLife;
pub(crate) use lock::{LockWait, RawLock};
pub(crate) use rlock::{NotOwner, RLockWait, RawOwner, RawRLock};
#[allow(unused_imports)]
pub(crate) use robust_lock::RawRobustLock;
pub(crate) use robust_rlock::RawRobustRLock;
pub(crate) use semaphore::{AcquireWait, RawSemaphore};
