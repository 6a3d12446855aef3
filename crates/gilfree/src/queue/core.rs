//! The one queue algorithm behind all four front types: waiting, waking,
//! task accounting and shutdown, over any [`Buffer`] (the lock-free ring,
//! or a `Vec` / `VecDeque` / `BinaryHeap` behind a lock).
//!
//! # State encoding
//!
//! - The buffer holds the items and the *closed* mark (Python's
//!   `is_shutdown`), so "closed?" and "claim a place" are one atomic step.
//! - Three [`Waiters`] — `not_empty` (getters), `not_full` (putters),
//!   `all_done` (joiners) — are each one futex word on its own cache line:
//!   bit 0 `SLEEPY` ("someone registered to sleep since the last wake-up"),
//!   the bits above an epoch counting wake-ups.
//! - `unfinished` counts items put and not yet `task_done` (Python's
//!   `unfinished_tasks`), on its own cache line.
//!
//! # Memory ordering and why no wake-up is lost
//!
//! This is an event count. A waiter registers (sets `SLEEPY` in the word
//! and notes the word), issues a `SeqCst` fence, and only then re-checks its
//! condition; it sleeps on the futex only if the word is still what it
//! noted. A state change (push, pop, last task done, shutdown) is made
//! first, then a `SeqCst` fence, then the word is read: if `SLEEPY` is set,
//! the waker clears it while bumping the epoch and wakes every sleeper. The
//! two fences are totally ordered: if the waker's comes first, the waiter's
//! re-check sees the change; if the waiter's comes first, the waker sees
//! `SLEEPY` (or a later epoch, whose waker wakes everyone who registered
//! before it), and the epoch bump either precedes the waiter's futex call
//! (which then refuses to sleep) or wakes it. All sleepers of a generation
//! are woken, so a wake-up can never go to a thread that does not need it
//! while another that does sleeps on. The fast path — nobody asleep — is a
//! fence and one load, no syscall; a run of puts while the consumer sleeps
//! costs one wake-up.
//!
//! `unfinished` is raised before an item is pushed (and lowered again if the
//! push fails), so a consumer that got the item always sees it counted:
//! `task_done` can never underflow on a correct program. `task_done` is a
//! CAS loop that refuses to go below zero (Python's `ValueError`); the one
//! that reaches zero notifies `all_done`, with the same fence protocol.

use crossbeam_utils::CachePadded;

use super::ring::Backoff;

use crate::sys::atomic::{AtomicU32, AtomicUsize, Ordering::*, fence};
use crate::sys::futex::{self, Wake};
use crate::sys::{Deadline, Private};

/// Why a push failed; the item comes back.
pub(crate) enum Push<T> {
    Full(T),
    Closed(T),
}

/// What a pop found.
pub(crate) enum Pop<T> {
    Item(T),
    Empty,
    /// Closed and empty: nothing will ever come.
    Closed,
}

/// Where the items live. Never blocks; [`Core`] does the waiting.
pub(crate) trait Buffer<T>: Send + Sync {
    fn try_push(&self, value: T) -> Result<(), Push<T>>;
    fn try_pop(&self) -> Pop<T>;
    /// Refuse every later push; returns whether this call closed it.
    fn close(&self) -> bool;
    fn is_closed(&self) -> bool;
    fn len(&self) -> usize;
    /// 0 for unbounded.
    fn capacity(&self) -> usize;
}

/// An event count: threads sleeping until some condition may have changed.
///
/// One futex word: bit 0 (`SLEEPY`) says "someone registered to sleep
/// since the last wake-up", the bits above count wake-ups (the epoch). A
/// waker that finds `SLEEPY` set clears it and bumps the epoch in one CAS,
/// then wakes every sleeper; wakers that find it clear make no syscall. So a
/// stream of puts into a queue whose consumer is asleep costs one wake-up
/// syscall, not one per put. The price is that all sleepers of a
/// generation wake together (those that find nothing register again).
pub(crate) struct Waiters {
    word: AtomicU32,
}

/// Someone may be asleep on the word.
const SLEEPY: u32 = 1;

impl Waiters {
    pub(crate) fn new() -> Self {
        Waiters {
            word: AtomicU32::new(0),
        }
    }

    /// Run `attempt` until it gives `Some`, sleeping in between; `None` once
    /// `deadline` passed (after one last attempt).
    #[inline]
    pub(crate) fn wait_until<R>(
        &self,
        deadline: Deadline,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        if let Some(r) = attempt() {
            return Some(r);
        }
        self.wait_slow(deadline, &mut attempt)
    }

    #[cold]
    fn wait_slow<R>(
        &self,
        deadline: Deadline,
        attempt: &mut impl FnMut() -> Option<R>,
    ) -> Option<R> {
        if deadline.expired() {
            return None;
        }
        // Spin, then yield, before sleeping: the other side is usually a
        // few hundred nanoseconds away, and on a busy machine a yield lets
        // it run without the cost of a futex round trip.
        #[cfg(not(loom))]
        for step in 0..10u32 {
            if step < 6 {
                for _ in 0..(1u32 << step) {
                    core::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
            if let Some(r) = attempt() {
                return Some(r);
            }
        }
        loop {
            let seen = self.word.fetch_or(SLEEPY, Relaxed) | SLEEPY;
            fence(SeqCst);
            if let Some(r) = attempt() {
                return Some(r);
            }
            let woke = futex::wait::<Private>(&self.word, seen, deadline);
            if woke == Wake::TimedOut && deadline.expired() {
                return attempt();
            }
            if let Some(r) = attempt() {
                return Some(r);
            }
        }
    }

    /// The condition may have changed: wake the sleepers, if any. Call after
    /// the change is made.
    #[inline]
    pub(crate) fn notify(&self) {
        fence(SeqCst);
        let w = self.word.load(Relaxed);
        if w & SLEEPY != 0 {
            self.wake(w);
        }
    }

    #[cold]
    fn wake(&self, mut w: u32) {
        // Clear SLEEPY and bump the epoch (w | 1) + 1 in one step, so any
        // sleeper that read the old word fails its futex check.
        while w & SLEEPY != 0 {
            match self
                .word
                .compare_exchange_weak(w, w.wrapping_add(1), Release, Relaxed)
            {
                Ok(_) => {
                    futex::wake_all::<Private>(&self.word);
                    return;
                }
                Err(now) => w = now,
            }
        }
    }
}

/// The queue algorithm over a buffer `B`.
pub(crate) struct Core<T, B> {
    buf: B,
    not_empty: CachePadded<Waiters>,
    not_full: CachePadded<Waiters>,
    all_done: CachePadded<Waiters>,
    unfinished: CachePadded<AtomicUsize>,
    /// Whether `unfinished` is kept (not for `SimpleQueue`).
    track: bool,
    _items: core::marker::PhantomData<fn(T) -> T>,
}

/// A failed get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GetFail {
    Empty,
    ShutDown,
}

/// A failed put; the item comes back.
pub(crate) enum PutFail<T> {
    Full(T),
    ShutDown(T),
}

impl<T, B: Buffer<T>> Core<T, B> {
    pub(crate) fn new(buf: B, track: bool) -> Self {
        Core {
            buf,
            not_empty: CachePadded::new(Waiters::new()),
            not_full: CachePadded::new(Waiters::new()),
            all_done: CachePadded::new(Waiters::new()),
            unfinished: CachePadded::new(AtomicUsize::new(0)),
            track,
            _items: core::marker::PhantomData,
        }
    }

    #[inline]
    pub(crate) fn put(&self, item: T, deadline: Deadline) -> Result<(), PutFail<T>> {
        if self.track {
            self.unfinished.fetch_add(1, Relaxed);
        }
        let mut item = Some(item);
        let r = self.not_full.wait_until(deadline, || {
            match self.buf.try_push(item.take().expect("item present")) {
                Ok(()) => Some(Ok(())),
                Err(Push::Closed(v)) => Some(Err(PutFail::ShutDown(v))),
                Err(Push::Full(v)) => {
                    item = Some(v);
                    None
                }
            }
        });
        let r = r.unwrap_or_else(|| Err(PutFail::Full(item.take().expect("item present"))));
        match r {
            Ok(()) => self.not_empty.notify(),
            Err(_) => self.uncount(1),
        }
        r
    }

    /// Put every item, blocking while full; wakes getters once per run of
    /// items that fit, not once per item. On shutdown returns the items not
    /// put (the failed one first, then the rest in order).
    pub(crate) fn put_many(&self, items: impl IntoIterator<Item = T>) -> Result<(), Vec<T>> {
        let mut it = items.into_iter();
        let mut pushed = false;
        while let Some(v) = it.next() {
            if self.track {
                self.unfinished.fetch_add(1, Relaxed);
            }
            let v = match self.buf.try_push(v) {
                Ok(()) => {
                    pushed = true;
                    continue;
                }
                Err(Push::Full(v)) => v,
                Err(Push::Closed(v)) => {
                    self.uncount(1);
                    if pushed {
                        self.not_empty.notify();
                    }
                    return Err(core::iter::once(v).chain(it).collect());
                }
            };
            // Full: let the getters at what we have, then wait for room.
            if pushed {
                self.not_empty.notify();
                pushed = false;
            }
            if self.track {
                self.unfinished.fetch_sub(1, Relaxed);
            }
            match self.put(v, Deadline::Never) {
                Ok(()) => {}
                Err(PutFail::ShutDown(v) | PutFail::Full(v)) => {
                    return Err(core::iter::once(v).chain(it).collect());
                }
            }
        }
        if pushed {
            self.not_empty.notify();
        }
        Ok(())
    }

    #[inline]
    fn pop_attempt(&self) -> Option<Result<T, GetFail>> {
        match self.buf.try_pop() {
            Pop::Item(v) => Some(Ok(v)),
            Pop::Closed => Some(Err(GetFail::ShutDown)),
            Pop::Empty => None,
        }
    }

    #[inline]
    pub(crate) fn get(&self, deadline: Deadline) -> Result<T, GetFail> {
        let r = self
            .not_empty
            .wait_until(deadline, || self.pop_attempt())
            .unwrap_or(Err(GetFail::Empty));
        if r.is_ok() && self.buf.capacity() != 0 {
            self.not_full.notify();
        }
        r
    }

    /// Wait (until `deadline`) for at least one item, then take up to `max`
    /// without waiting again.
    pub(crate) fn get_many(&self, max: usize, deadline: Deadline) -> Result<Vec<T>, GetFail> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let first = self.get_quiet(deadline)?;
        let mut out = Vec::with_capacity(max.min(self.buf.len() + 1).max(1));
        out.push(first);
        while out.len() < max {
            match self.buf.try_pop() {
                Pop::Item(v) => out.push(v),
                _ => break,
            }
        }
        if self.buf.capacity() != 0 {
            self.not_full.notify();
        }
        Ok(out)
    }

    /// `get` without waking putters (the caller does it in bulk).
    fn get_quiet(&self, deadline: Deadline) -> Result<T, GetFail> {
        self.not_empty
            .wait_until(deadline, || self.pop_attempt())
            .unwrap_or(Err(GetFail::Empty))
    }

    /// Lower `unfinished` by up to `n` for items that never became (or no
    /// longer are) tasks; wakes joiners if it reaches zero.
    fn uncount(&self, n: usize) {
        if !self.track || n == 0 {
            return;
        }
        let mut cur = self.unfinished.load(Relaxed);
        loop {
            let new = cur.saturating_sub(n);
            match self
                .unfinished
                .compare_exchange_weak(cur, new, AcqRel, Relaxed)
            {
                Ok(_) => {
                    if new == 0 {
                        self.all_done.notify();
                    }
                    return;
                }
                Err(c) => cur = c,
            }
        }
    }

    /// Python's `task_done`; `false` if called more times than items put.
    pub(crate) fn task_done(&self) -> bool {
        let mut cur = self.unfinished.load(Relaxed);
        loop {
            if cur == 0 {
                return false;
            }
            match self
                .unfinished
                .compare_exchange_weak(cur, cur - 1, AcqRel, Relaxed)
            {
                Ok(_) => {
                    if cur == 1 {
                        self.all_done.notify();
                    }
                    return true;
                }
                Err(c) => cur = c,
            }
        }
    }

    /// Python's `join`; `false` if `deadline` passed first.
    pub(crate) fn join(&self, deadline: Deadline) -> bool {
        self.all_done
            .wait_until(deadline, || {
                (self.unfinished.load(Acquire) == 0).then_some(())
            })
            .is_some()
    }

    pub(crate) fn unfinished_tasks(&self) -> usize {
        self.unfinished.load(Acquire)
    }

    /// Python 3.13's `shutdown(immediate)`.
    pub(crate) fn shutdown(&self, immediate: bool) {
        self.buf.close();
        if immediate {
            // Drain what is there (puts are refused now, so this ends), and
            // count each drained item as done, as CPython does.
            // `Empty` on a closed buffer means a put claimed a place before
            // the close and is still writing it: wait for it, so that nothing
            // is left behind after `shutdown(true)` returns.
            let mut drained = 0;
            let mut backoff = Backoff::new();
            loop {
                match self.buf.try_pop() {
                    Pop::Item(v) => {
                        drop(v);
                        drained += 1;
                    }
                    Pop::Empty => backoff.snooze(),
                    Pop::Closed => break,
                }
            }
            self.uncount(drained);
        }
        self.not_empty.notify();
        self.not_full.notify();
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.buf.is_closed()
    }

    pub(crate) fn qsize(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.buf.capacity()
    }

    pub(crate) fn full(&self) -> bool {
        let cap = self.buf.capacity();
        cap != 0 && self.buf.len() >= cap
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::queue::locked::Locked;
    use crate::queue::ring::Ring;
    use loom::sync::Arc;
    use loom::thread;

    fn ring(cap: usize) -> Arc<Core<usize, Ring<usize>>> {
        Arc::new(Core::new(Ring::new(cap), true))
    }

    fn builder(bound: usize) -> loom::model::Builder {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(bound);
        b
    }

    /// Blocking put and get through a ring of capacity 1: the producer
    /// waits on full, the consumer on empty; no wake-up is lost (loom would
    /// report a deadlock) and the order is kept.
    #[test]
    fn core_loom_tests_ring_spsc_blocking() {
        builder(3).check(|| {
            let q = ring(1);
            let q2 = q.clone();
            let p = thread::spawn(move || {
                for i in 0..2 {
                    assert!(q2.put(i, Deadline::Never).is_ok());
                }
            });
            let a = q.get(Deadline::Never).ok();
            let b = q.get(Deadline::Never).ok();
            p.join().unwrap();
            assert_eq!((a, b), (Some(0), Some(1)));
        });
    }

    /// Two blocking producers, one consumer, capacity 1.
    #[test]
    fn core_loom_tests_ring_two_producers() {
        builder(2).check(|| {
            let q = ring(1);
            let ps: Vec<_> = (1..=2)
                .map(|i| {
                    let q = q.clone();
                    thread::spawn(move || assert!(q.put(i, Deadline::Never).is_ok()))
                })
                .collect();
            let a = q.get(Deadline::Never).ok().unwrap();
            let b = q.get(Deadline::Never).ok().unwrap();
            for p in ps {
                p.join().unwrap();
            }
            assert_eq!(a + b, 3);
        });
    }

    /// One producer, two blocking consumers, capacity 1: both consumers
    /// must be woken (the put of the second item must reach the second
    /// sleeper).
    #[test]
    fn core_loom_tests_ring_two_consumers() {
        builder(2).check(|| {
            let q = ring(1);
            let cs: Vec<_> = (0..2)
                .map(|_| {
                    let q = q.clone();
                    thread::spawn(move || q.get(Deadline::Never).ok().unwrap())
                })
                .collect();
            q.put(1, Deadline::Never).ok().unwrap();
            q.put(2, Deadline::Never).ok().unwrap();
            let sum: usize = cs.into_iter().map(|c| c.join().unwrap()).sum();
            assert_eq!(sum, 3);
        });
    }

    /// put, get + task_done and join: join returns once the task is done,
    /// never before (the consumer marks it before task_done).
    #[test]
    fn core_loom_tests_task_done_join() {
        builder(3).check(|| {
            let q = ring(1);
            let done = Arc::new(crate::sys::atomic::AtomicBool::new(false));
            assert!(q.put(5, Deadline::Never).is_ok());
            let (q2, done2) = (q.clone(), done.clone());
            let c = thread::spawn(move || {
                assert_eq!(q2.get(Deadline::Never).ok(), Some(5));
                done2.store(true, Relaxed);
                assert!(q2.task_done());
            });
            assert!(q.join(Deadline::Never));
            assert!(done.load(Relaxed));
            c.join().unwrap();
            assert!(!q.task_done());
        });
    }

    /// shutdown racing a blocked get on an empty queue: the get is woken
    /// and fails with ShutDown.
    #[test]
    fn core_loom_tests_shutdown_wakes_blocked_get() {
        builder(3).check(|| {
            let q = ring(1);
            let q2 = q.clone();
            let c = thread::spawn(move || q2.get(Deadline::Never).err());
            q.shutdown(false);
            assert_eq!(c.join().unwrap(), Some(GetFail::ShutDown));
        });
    }

    /// shutdown racing a blocked put on a full queue: the put is woken and
    /// hands its item back.
    #[test]
    fn core_loom_tests_shutdown_wakes_blocked_put() {
        builder(3).check(|| {
            let q = ring(1);
            assert!(q.put(1, Deadline::Never).is_ok());
            let q2 = q.clone();
            let p = thread::spawn(move || match q2.put(2, Deadline::Never) {
                Err(PutFail::ShutDown(v)) => v,
                _ => panic!("put after shutdown succeeded"),
            });
            q.shutdown(false);
            assert_eq!(p.join().unwrap(), 2);
            assert_eq!(q.get(Deadline::Never).ok(), Some(1));
            assert_eq!(q.get(Deadline::Never).err(), Some(GetFail::ShutDown));
        });
    }

    /// shutdown racing a put and a blocked get: the consumer receives the
    /// item exactly when the put succeeded, then ShutDown.
    #[test]
    fn core_loom_tests_shutdown_races_put_and_get() {
        builder(2).check(|| {
            let q = ring(1);
            let (q1, q2) = (q.clone(), q.clone());
            let p = thread::spawn(move || q1.put(9, Deadline::Never).is_ok());
            let c = thread::spawn(move || {
                let mut got = 0;
                while q2.get(Deadline::Never).is_ok() {
                    got += 1;
                }
                got
            });
            q.shutdown(false);
            let put_ok = p.join().unwrap();
            assert_eq!(c.join().unwrap(), usize::from(put_ok));
        });
    }

    /// shutdown(immediate) drains the queued item and releases a blocked
    /// join.
    #[test]
    fn core_loom_tests_immediate_shutdown_releases_join() {
        builder(3).check(|| {
            let q = ring(1);
            assert!(q.put(1, Deadline::Never).is_ok());
            let q2 = q.clone();
            let j = thread::spawn(move || q2.join(Deadline::Never));
            q.shutdown(true);
            assert!(j.join().unwrap());
            assert_eq!(q.get(Deadline::Never).err(), Some(GetFail::ShutDown));
            assert_eq!(q.unfinished_tasks(), 0);
        });
    }

    /// The locked (LIFO) buffer through the same core, capacity 1.
    #[test]
    fn core_loom_tests_locked_spsc_blocking() {
        builder(2).check(|| {
            let q: Arc<Core<usize, Locked<Vec<usize>>>> =
                Arc::new(Core::new(Locked::new(Vec::new(), 1), true));
            let q2 = q.clone();
            let p = thread::spawn(move || {
                for i in 0..2 {
                    assert!(q2.put(i, Deadline::Never).is_ok());
                }
            });
            let a = q.get(Deadline::Never).ok();
            let b = q.get(Deadline::Never).ok();
            p.join().unwrap();
            assert_eq!((a, b), (Some(0), Some(1)));
        });
    }
}
