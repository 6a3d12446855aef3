//! `Condition`: Python's `threading.Condition`. One file per part:
//! `core.rs` (the waiter FIFO, wait/notify and the Python-shaped API; its
//! head comment has the algorithm), `lock.rs` (what it needs of its lock),
//! `guarded.rs` (the API for a lock that guards data), `aio.rs` (the
//! `.await` forms, on a `Lock`).

mod aio;
mod core;
mod guarded;
mod lock;

pub use self::core::Condition;
pub use aio::ConditionWait;
pub use lock::{ConditionLock, DataLess};
