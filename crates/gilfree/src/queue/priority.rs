//! `PriorityQueue`: Python's `queue.PriorityQueue`, smallest first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::core::Core;
use super::locked::Locked;

/// A queue that gives the smallest item first: Python's
/// `queue.PriorityQueue` (which uses `heapq`, a min-heap).
///
/// The same interface and semantics as [`Queue`](super::Queue), but `get`
/// returns the least item by `Ord`. As in Python, items that compare equal
/// come out in no particular order; the usual entry is a tuple
/// `(priority, sequence, data)`. Use [`std::cmp::Reverse`] for
/// largest-first. The items live in a `BinaryHeap` behind a futex lock held
/// only for the push or pop.
///
/// ```
/// use gilfree::queue::PriorityQueue;
/// let q = PriorityQueue::new(0);
/// q.put_many([(3, "low"), (1, "urgent"), (2, "normal")]).unwrap();
/// assert_eq!(q.get(), Ok((1, "urgent")));
/// assert_eq!(q.get(), Ok((2, "normal")));
/// ```
pub struct PriorityQueue<T: Ord + Send> {
    core: Core<T, Locked<BinaryHeap<Reverse<T>>>>,
}

impl<T: Ord + Send> PriorityQueue<T> {
    /// A new priority queue holding at most `maxsize` items; 0 means
    /// unbounded (Python: `queue.PriorityQueue(maxsize=0)`).
    ///
    /// ```
    /// let q: gilfree::queue::PriorityQueue<u32> = gilfree::queue::PriorityQueue::new(0);
    /// assert!(q.empty());
    /// ```
    pub fn new(maxsize: usize) -> Self {
        PriorityQueue {
            core: Core::new(Locked::new(BinaryHeap::new(), maxsize), true),
        }
    }
}

impl<T: Ord + Send> Default for PriorityQueue<T> {
    /// An unbounded priority queue.
    fn default() -> Self {
        PriorityQueue::new(0)
    }
}

super::queue_methods!(PriorityQueue, Ord + Send);
