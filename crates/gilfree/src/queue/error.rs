//! The errors of `gilfree::queue`: Python's `queue.Empty`, `queue.Full`,
//! `queue.ShutDown` and the `ValueError` of `task_done`.

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
