//! `Queue`: Python's `queue.Queue`, first in first out.

use std::collections::VecDeque;

use super::buffer::{Buffer, Pop, Push};
use super::core::Core;
use super::list::List;
use super::locked::Locked;
use super::ring::Ring;

/// Bounds up to this use the lock-free ring (its slots are allocated up
/// front); larger bounds use a `VecDeque` under a lock, which grows only as
/// needed.
const RING_MAX: usize = 1 << 16;

/// The FIFO's buffer: the ring, the lock-free block list (unbounded), or a
/// deque under a lock.
// The ring is the hot path: boxing it would add a pointer chase per call.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Fifo<T> {
    Ring(Ring<T>),
    List(List<T>),
    Deque(Locked<VecDeque<T>>),
}

impl<T: Send> Fifo<T> {
    pub(crate) fn new(maxsize: usize) -> Self {
        if maxsize == 0 {
            Fifo::List(List::new())
        } else if maxsize > RING_MAX {
            Fifo::Deque(Locked::new(VecDeque::new(), maxsize))
        } else {
            Fifo::Ring(Ring::new(maxsize))
        }
    }
}

impl<T: Send> Buffer<T> for Fifo<T> {
    #[inline]
    fn try_push(&self, value: T) -> Result<(), Push<T>> {
        match self {
            Fifo::Ring(r) => r.try_push(value),
            Fifo::List(l) => l.try_push(value),
            Fifo::Deque(d) => d.try_push(value),
        }
    }
    #[inline]
    fn try_pop(&self) -> Pop<T> {
        match self {
            Fifo::Ring(r) => r.try_pop(),
            Fifo::List(l) => l.try_pop(),
            Fifo::Deque(d) => d.try_pop(),
        }
    }
    fn close(&self) -> bool {
        match self {
            Fifo::Ring(r) => r.close(),
            Fifo::List(l) => l.close(),
            Fifo::Deque(d) => d.close(),
        }
    }
    fn is_closed(&self) -> bool {
        match self {
            Fifo::Ring(r) => r.is_closed(),
            Fifo::List(l) => l.is_closed(),
            Fifo::Deque(d) => d.is_closed(),
        }
    }
    #[inline]
    fn len(&self) -> usize {
        match self {
            Fifo::Ring(r) => r.len(),
            Fifo::List(l) => l.len(),
            Fifo::Deque(d) => d.len(),
        }
    }
    #[inline]
    fn capacity(&self) -> usize {
        match self {
            Fifo::Ring(r) => r.capacity(),
            Fifo::List(l) => l.capacity(),
            Fifo::Deque(d) => d.capacity(),
        }
    }
    fn set_capacity(&self, cap: usize) -> Result<(), usize> {
        match self {
            Fifo::Ring(r) => r.set_capacity(cap),
            Fifo::List(l) => l.set_capacity(cap),
            Fifo::Deque(d) => d.set_capacity(cap),
        }
    }
    #[inline]
    fn handoff_sc(&self) -> bool {
        match self {
            Fifo::Ring(r) => r.handoff_sc(),
            Fifo::List(l) => l.handoff_sc(),
            Fifo::Deque(d) => d.handoff_sc(),
        }
    }
    #[inline]
    fn counts_puts(&self) -> bool {
        match self {
            Fifo::Ring(r) => r.counts_puts(),
            Fifo::List(l) => l.counts_puts(),
            Fifo::Deque(d) => d.counts_puts(),
        }
    }
    #[inline]
    fn puts(&self) -> Option<usize> {
        match self {
            Fifo::Ring(r) => r.puts(),
            Fifo::List(l) => l.puts(),
            Fifo::Deque(d) => d.puts(),
        }
    }

    #[inline]
    fn puts_at_least(&self) -> usize {
        match self {
            Fifo::Ring(r) => r.puts_at_least(),
            Fifo::List(l) => l.puts_at_least(),
            Fifo::Deque(d) => d.puts_at_least(),
        }
    }
}

/// A first-in first-out queue: Python's `queue.Queue`.
///
/// `maxsize` bounds it (0 means unbounded); `put` waits while it is full,
/// `get` while it is empty. Each item put counts as an unfinished task until
/// a consumer calls [`task_done`](Queue::task_done); [`join`](Queue::join)
/// waits for all of them. [`shutdown`](Queue::shutdown) ends it (Python
/// 3.13).
///
/// Differences from Python: `put(item, block, timeout)` is `put` /
/// `try_put` / `put_timeout` (and `get` likewise); a failed put returns the
/// item inside the error; `join_timeout`, `put_many` and `get_many` are
/// additions.
///
/// A bounded queue with `maxsize <= 65536` is a lock-free ring: producers
/// and consumers share no lock, a put or get makes no syscall unless a
/// thread on the other side is asleep, and nothing is allocated after `new`.
/// An unbounded one is a lock-free list of 31-slot blocks, the same
/// without-a-lock, without-a-syscall path; it allocates a block only when
/// it grows beyond the ones it has (a retired block is kept for reuse).
///
/// ```
/// use gilfree::queue::Queue;
/// let q = Queue::new(3);
/// q.put_many(["a", "b", "c"]).unwrap();
/// assert!(q.full());
/// assert_eq!(q.get(), Ok("a")); // first in, first out
/// assert_eq!(q.get(), Ok("b"));
/// ```
pub struct Queue<T> {
    core: Core<T, Fifo<T>>,
}

impl<T: Send> Queue<T> {
    /// A new queue holding at most `maxsize` items; 0 means unbounded
    /// (Python: `queue.Queue(maxsize=0)`; Python's negative sizes are 0 here).
    ///
    /// ```
    /// let q: gilfree::queue::Queue<u32> = gilfree::queue::Queue::new(0);
    /// assert_eq!(q.maxsize(), 0);
    /// ```
    pub fn new(maxsize: usize) -> Self {
        Queue {
            core: Core::new(Fifo::new(maxsize), true),
        }
    }

    /// A new queue whose bound [`set_maxsize`](Queue::set_maxsize) may later
    /// move anywhere, unbounded included: a `VecDeque` under a lock, as
    /// CPython's `queue.Queue` is, rather than the ring `new` builds for a
    /// bound (whose slots are allocated up front). Use it when the bound
    /// must change at run time beyond its first value.
    ///
    /// ```
    /// let q = gilfree::queue::Queue::resizable(1);
    /// q.put(1).unwrap();
    /// q.set_maxsize(100).unwrap(); // past the first bound: fine here
    /// q.put(2).unwrap();
    /// q.set_maxsize(0).unwrap(); // unbounded
    /// assert_eq!(q.qsize(), 2);
    /// ```
    pub fn resizable(maxsize: usize) -> Self {
        Queue {
            core: Core::new(Fifo::Deque(Locked::new(VecDeque::new(), maxsize)), true),
        }
    }
}

impl<T: Send> Default for Queue<T> {
    /// An unbounded queue.
    fn default() -> Self {
        Queue::new(0)
    }
}

super::queue_methods!(Queue, Send);
