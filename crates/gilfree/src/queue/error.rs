//! The errors of `gilfree::queue`: Python's `queue.Empty`, `queue.Full`,
//! `queue.ShutDown` and the `ValueError` of `task_done`, plus the bound a
//! ring-backed `Queue` cannot take.

use std::fmt;

/// A failed put (Python: `queue.Full` or `queue.ShutDown`); the item comes
/// back inside, so nothing is lost.
///
/// ```
/// use gilfree::queue::{PutError, Queue};
/// let q = Queue::new(1);
/// q.put("a").unwrap();
/// assert_eq!(q.try_put("b"), Err(PutError::Full("b")));
/// q.shutdown(false);
/// let err = q.put("c").unwrap_err();
/// assert!(err.is_shutdown());
/// assert_eq!(err.into_inner(), "c");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PutError<T> {
    /// `queue.Full`: the queue had no room (only from `try_put` and
    /// `put_timeout`).
    Full(T),
    /// `queue.ShutDown`: the queue was shut down.
    ShutDown(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// let e = gilfree::queue::PutError::Full(7);
    /// assert_eq!(e.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(v) | PutError::ShutDown(v) => v,
        }
    }

    /// Whether this is `Full`.
    ///
    /// ```
    /// assert!(gilfree::queue::PutError::Full(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }

    /// Whether this is `ShutDown`.
    ///
    /// ```
    /// assert!(gilfree::queue::PutError::ShutDown(()).is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self, PutError::ShutDown(_))
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("queue is full"),
            PutError::ShutDown(_) => f.write_str("queue is shut down"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

/// A failed get (Python: `queue.Empty` or `queue.ShutDown`).
///
/// ```
/// use gilfree::queue::{GetError, Queue};
/// let q = Queue::<i32>::new(0);
/// assert_eq!(q.try_get(), Err(GetError::Empty));
/// q.shutdown(false);
/// assert_eq!(q.get(), Err(GetError::ShutDown));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// `queue.Empty`: nothing to get (only from `try_get` and `get_timeout`).
    #[error("queue is empty")]
    Empty,
    /// `queue.ShutDown`: the queue was shut down and is empty (or was shut
    /// down with `immediate`).
    #[error("queue is shut down")]
    ShutDown,
}

/// `ValueError('task_done() called too many times')`: more `task_done`
/// calls than items put.
///
/// ```
/// let q = gilfree::queue::Queue::<()>::new(0);
/// assert_eq!(q.task_done(), Err(gilfree::queue::TaskDoneError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("task_done() called too many times")]
pub struct TaskDoneError;

/// A bound that a [`Queue`](crate::queue::Queue) built as a ring cannot
/// take: its slots were allocated for the `maxsize` given to `new`, so
/// `set_maxsize` can move the bound between 1 and that number, but not
/// past it nor to unbounded (0). No Python equivalent: CPython's queue is
/// a deque and takes any bound; build with [`Queue::resizable`](crate::queue::Queue::resizable)
/// for that.
///
/// ```
/// use gilfree::queue::{MaxsizeError, Queue};
/// let q = Queue::<u8>::new(4);
/// assert!(q.set_maxsize(2).is_ok());
/// assert_eq!(q.set_maxsize(5), Err(MaxsizeError { requested: 5, slots: 4 }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "this queue was built as a ring of {slots} slots; its maxsize can be 1 to {slots}, not {requested}"
)]
pub struct MaxsizeError {
    /// The bound asked for.
    pub requested: usize,
    /// The ring's slots: the largest bound it can take.
    pub slots: usize,
}
