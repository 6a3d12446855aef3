//! A [`Buffer`] that keeps its items in a container behind a
//! [`threading::Lock`](crate::threading::Lock): the home of `LifoQueue`
//! (`Vec`), `PriorityQueue` (`BinaryHeap`) and the unbounded or very large
//! FIFOs (`VecDeque`), as CPython keeps a `list`, a heap or a `deque` under
//! its queue's mutex.
//!
//! The lock is held only for the container operation itself (a push or pop,
//! no allocation but the container's own growth); all waiting happens
//! outside it, in [`super::core`]. The closed mark is a field under the same
//! lock, so "closed?" and "push" are one step.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::buffer::{Buffer, Pop, Push};
use crate::sys::atomic::{AtomicUsize, Ordering::Relaxed};
use crate::threading::Lock;

/// A container with one end to take from.
pub(crate) trait Store<T>: Send {
    fn push(&mut self, v: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
}

impl<T: Send> Store<T> for VecDeque<T> {
    #[inline]
    fn push(&mut self, v: T) {
        self.push_back(v)
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.pop_front()
    }
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
}

impl<T: Send> Store<T> for Vec<T> {
    #[inline]
    fn push(&mut self, v: T) {
        Vec::push(self, v)
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        Vec::pop(self)
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// Smallest first, as Python's `heapq`.
impl<T: Ord + Send> Store<T> for BinaryHeap<Reverse<T>> {
    #[inline]
    fn push(&mut self, v: T) {
        BinaryHeap::push(self, Reverse(v))
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        BinaryHeap::pop(self).map(|Reverse(v)| v)
    }
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
}

struct Inner<S> {
    store: S,
    closed: bool,
}

/// A container under a lock, bounded by `cap` (0: unbounded).
pub(crate) struct Locked<S> {
    inner: Lock<Inner<S>>,
    /// Written under the lock (so a push sees one bound for its whole
    /// check), read without it by `capacity`.
    cap: AtomicUsize,
    /// A copy of the length, for `qsize` without taking the lock.
    len: AtomicUsize,
}

impl<S> Locked<S> {
    pub(crate) fn new(store: S, cap: usize) -> Self {
        Locked {
            inner: Lock::new(Inner {
                store,
                closed: false,
            }),
            cap: AtomicUsize::new(cap),
            len: AtomicUsize::new(0),
        }
    }
}

impl<T: Send, S: Store<T>> Buffer<T> for Locked<S> {
    fn try_push(&self, value: T) -> Result<(), Push<T>> {
        let mut g = self.inner.acquire();
        if g.closed {
            return Err(Push::Closed(value));
        }
        let cap = self.cap.load(Relaxed);
        if cap != 0 && g.store.len() >= cap {
            return Err(Push::Full(value));
        }
        g.store.push(value);
        self.len.store(g.store.len(), Relaxed);
        Ok(())
    }

    fn try_pop(&self) -> Pop<T> {
        let mut g = self.inner.acquire();
        match g.store.pop() {
            Some(v) => {
                self.len.store(g.store.len(), Relaxed);
                Pop::Item(v)
            }
            None if g.closed => Pop::Closed,
            None => Pop::Empty,
        }
    }

    fn close(&self) -> bool {
        !core::mem::replace(&mut self.inner.acquire().closed, true)
    }

    fn is_closed(&self) -> bool {
        self.inner.acquire().closed
    }

    fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    fn capacity(&self) -> usize {
        self.cap.load(Relaxed)
    }

    fn set_capacity(&self, cap: usize) -> Result<(), usize> {
        let _g = self.inner.acquire();
        self.cap.store(cap, Relaxed);
        Ok(())
    }
}
