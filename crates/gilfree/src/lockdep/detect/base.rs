//! The detector's small shared pieces: the call-site type, the global
//! counters, and a mutex lock that a panic cannot disable.

use std::panic::Location;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};

pub(super) type Site = &'static Location<'static>;

/// Whether the hooks do anything (for callers that must skip work, like
/// RLock's ownership check, when they do not).
pub(crate) const ENABLED: bool = true;

pub(super) static NEXT_LOCK_ID: AtomicU64 = AtomicU64::new(1);
pub(super) static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
/// Bumped by [`reset`]; a thread whose edge cache is older clears it.
pub(super) static EPOCH: AtomicU64 = AtomicU64::new(0);

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these (none is expected: reports panic
    // after unlocking) must not disable the detector.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
