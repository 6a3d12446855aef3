//! `Condition`: Python's `threading.Condition`. One file per part:
//! `core.rs` (the waiter FIFO, wait/notify and the Python-shaped API; its
//! head comment has the algorithm), `lock.rs` (what it needs of its lock),
//! `guarded.rs` (the API for a lock that guards data), `aio.rs` (the
//! `.await` forms, on a `Lock` or, with a task's owner token, an `RLock`).

mod aio;
mod core;
mod guarded;
mod lock;

pub use self::core::Condition;
pub use aio::{ConditionWait, ConditionWaitBy};
pub use lock::{ConditionLock, DataLess};
