//! `LifoQueue`: Python's `queue.LifoQueue`, last in first out.

use super::core::Core;
use super::locked::Locked;

/// A last-in first-out queue (a stack): Python's `queue.LifoQueue`.
///
/// The same interface and semantics as [`Queue`](super::Queue) — bound,
/// blocking and timed put/get, `task_done`/`join`, `shutdown` — but `get`
/// returns the item put most recently. The items live in a `Vec` behind a
/// futex lock held only for the push or pop (CPython uses a `list` under its
/// mutex).
///
/// ```
/// use gilfree::queue::LifoQueue;
/// let q = LifoQueue::new(0);
/// q.put_many([1, 2, 3]).unwrap();
/// assert_eq!(q.get(), Ok(3)); // last in, first out
/// assert_eq!(q.get(), Ok(2));
/// ```
pub struct LifoQueue<T> {
    core: Core<T, Locked<Vec<T>>>,
}

impl<T: Send> LifoQueue<T> {
    /// A new stack holding at most `maxsize` items; 0 means unbounded
    /// (Python: `queue.LifoQueue(maxsize=0)`).
    ///
    /// ```
    /// let q: gilfree::queue::LifoQueue<u32> = gilfree::queue::LifoQueue::new(4);
    /// assert_eq!(q.maxsize(), 4);
    /// ```
    pub fn new(maxsize: usize) -> Self {
        LifoQueue {
            core: Core::new(Locked::new(Vec::new(), maxsize), true),
        }
    }
}

impl<T: Send> Default for LifoQueue<T> {
    /// An unbounded stack.
    fn default() -> Self {
        LifoQueue::new(0)
    }
}

super::queue_methods!(LifoQueue, Send);
