//! Python's `threading` module: threads and the classic synchronisation
//! primitives, each a few atomic words plus futex wait/wake.
//!
//! | Python | gilfree |
//! |---|---|
//! | `threading.Lock` | [`Lock`] |
//! | `threading.Semaphore` | [`Semaphore`] (guard: [`SemaphoreGuard`]) |
//! | `threading.BoundedSemaphore` | [`BoundedSemaphore`] |
//! | `threading.Event` | [`Event`] |
//! | `threading.Timer` | [`Timer`] |
//! | `threading.local` | [`Local`] |
//!
//! Python's `acquire(blocking=True, timeout=-1)` becomes three methods, as in
//! `std`: `acquire()`, `try_acquire()`, `acquire_timeout(Duration)`, and
//! `with x:` becomes an RAII guard.

mod error;
mod event;
mod local;
mod lock;
mod semaphore;
mod timer;

pub use error::Error;
pub use event::Event;
#[allow(unused_imports)]
pub(crate) use event::RawEvent;
pub use local::Local;
#[allow(unused_imports)]
pub(crate) use lock::RawLock;
pub use lock::{Lock, LockGuard};
#[allow(unused_imports)]
pub(crate) use semaphore::RawSemaphore;
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
pub use timer::Timer;
