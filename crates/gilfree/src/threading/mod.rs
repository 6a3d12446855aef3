//! Python's `threading` module: threads and the classic synchronisation
//! primitives, each a few atomic words plus futex wait/wake.
//!
//! | Python | gilfree |
//! |---|---|
//! | `threading.Lock` | [`Lock`] |
//!
//! Python's `acquire(blocking=True, timeout=-1)` becomes three methods, as in
//! `std`: `acquire()`, `try_acquire()`, `acquire_timeout(Duration)`, and
//! `with x:` becomes an RAII guard.

mod error;
mod lock;

pub use error::Error;
#[allow(unused_imports)]
pub(crate) use lock::RawLock;
pub use lock::{Lock, LockGuard};
