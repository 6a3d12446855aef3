//! Python's `threading` module: threads and the classic synchronisation
//! primitives, each a few atomic words plus futex wait/wake.
//!
//! | Python | gilfree |
//! |---|---|
//! | `threading.Lock` | [`Lock`] |
//! | `threading.RLock` | [`RLock`] |
//! | `threading.Condition` | [`Condition`] |
//! | `threading.Barrier` | [`Barrier`] |
//! | `threading.Semaphore` | [`Semaphore`] (guard: [`SemaphoreGuard`]) |
//! | `threading.BoundedSemaphore` | [`BoundedSemaphore`] |
//! | `threading.Event` | [`Event`] |
//! | `threading.Timer` | [`Timer`] |
//! | `threading.local` | [`Local`] |
//! | `threading.Thread` (`start`, `join(timeout)`, `is_alive`, `name`, `ident`, `native_id`, `daemon`) | [`Thread`], [`ThreadBuilder`]; `join_timeout` |
//! | subclass `Thread`, override `run` | implement [`Runnable`] |
//! | `current_thread()`, `main_thread()`, `enumerate()`, `active_count()` | [`current_thread`], [`main_thread`], [`enumerate`], [`active_count`] |
//! | `get_ident()`, `get_native_id()` | [`get_ident`], [`get_native_id`] |
//! | `threading.excepthook`, `__excepthook__`, `ExceptHookArgs` | [`set_excepthook`] / [`excepthook`], [`default_excepthook`], [`ExceptHookArgs`] |
//! | waiting for non-daemon threads at exit | [`main`], [`exit_guard`], [`wait_for_non_daemon_threads`] |
//!
//! | `asyncio.Lock`, `asyncio.Semaphore`, `asyncio.BoundedSemaphore`, `asyncio.Event`, `asyncio.Condition`, `asyncio.Barrier` | the same objects: [`Lock::acquire_async`], [`Semaphore::acquire_async`], [`BoundedSemaphore::acquire_async`], [`Event::wait_async`], [`Condition::wait_async`] (on a `Lock`), [`Barrier::wait_async`] (threads and tasks may wait on one object at once) |
//! | an async `RLock` (aiologic's; asyncio has none), owned by a task | [`RLock::acquire_async`] with a [`TaskOwner`]; on an RLock-backed `Condition`, [`Condition::wait_async_by`] |
//!
//! Python's `acquire(blocking=True, timeout=-1)` becomes three methods, as in
//! `std`: `acquire()`, `try_acquire()`, `acquire_timeout(Duration)`, and
//! `with x:` becomes an RAII guard.

mod aio;
mod barrier;
mod condition;
mod error;
mod event;
mod local;
mod lock;
mod rlock;
mod rlock_aio;
mod semaphore;
mod thread;
mod timer;

pub use crate::guard::Guard;
pub use aio::{AsyncLockGuard, BarrierWait, EventWait, LockAcquire, SemaphoreAcquire};
pub use barrier::Barrier;
pub use condition::{Condition, ConditionLock, ConditionWait, ConditionWaitBy, DataLess};
pub use error::Error;
pub use event::Event;
pub use local::Local;
pub use lock::{Lock, LockGuard};
pub use rlock::{RLock, RLockGuard};
pub use rlock_aio::{AsyncRLockGuard, RLockAcquire, TaskOwner};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
pub use thread::{
    ExceptHook, ExceptHookArgs, ExitGuard, Runnable, Thread, ThreadBuilder, active_count,
    current_thread, default_excepthook, enumerate, excepthook, exit_guard, get_ident,
    get_native_id, main, main_thread, set_excepthook, wait_for_non_daemon_threads,
};
pub use timer::Timer;
