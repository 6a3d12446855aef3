//! Locks and thread identity: std's normally, loom's under
//! `--cfg loom`, so that the few types built on a plain lock (rather than
//! on the crate's futex words) are model-checked too.

#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The calling thread's handle (`std::thread::current`); loom gives each
/// of its model threads an id of its own (they share one OS thread).
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::thread::{ThreadId, current as current_thread};

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::thread::{ThreadId, current as current_thread};
