//! `RawLock`: the lock algorithm (one futex word), generic over `Scope`;
//! `threading::Lock` is its private home.
//!
//! # State encoding
//!
//! One `AtomicU32`:
//! - `UNLOCKED` (0): free.
//! - `LOCKED` (1): held, and nobody sleeps on the word.
//! - `CONTENDED` (2): held, and a thread may be sleeping on the word.
//!
//! # Memory ordering
//!
//! Acquiring is an `Acquire` CAS (or swap) that reads the `Release` swap of
//! the previous release, so everything written under the lock
//! happens-before the next holder's critical section. Nothing else is
//! ordered through this word.
//!
//! # State machine
//!
//! - acquire, fast path: CAS `UNLOCKED → LOCKED`.
//! - acquire, phase 1 (spin, `RawLock::lock_contended`): while the word
//!   reads `LOCKED`, poll it and CAS `UNLOCKED → LOCKED` when it is seen
//!   free; a word reading `CONTENDED` ends phase 1 at once (someone already
//!   sleeps: the lock is probably held for long).
//! - acquire, phase 2 (sleep): swap in `CONTENDED`; if that swapped out
//!   `UNLOCKED` the lock is ours (marked contended), else
//!   `futex_wait(CONTENDED)`; after a wake, poll once more, then repeat.
//! - release: swap in `UNLOCKED`; if it swapped out `CONTENDED`, wake one.
//!
//! # Why no wake-up is lost
//!
//! A thread only sleeps after it has itself set the word to `CONTENDED`, and
//! `futex_wait(CONTENDED)` refuses to sleep if the word has changed since.
//! A release swaps in `UNLOCKED`; if it swapped out `CONTENDED` it wakes one
//! sleeper, which sets `CONTENDED` again when it takes the lock (it cannot
//! know whether others sleep), so the next release wakes the next sleeper.
//! A spinner (phase 1, or the fast path) that takes a free word with
//! `LOCKED` breaks no chain: the word was `UNLOCKED`, so the release that
//! freed it already woke a sleeper if there was one, and that sleeper sets
//! `CONTENDED` again before it sleeps or when it takes the lock.
//! A sleeper that timed out leaves `CONTENDED` behind: the cost is one
//! spurious wake, never a lost one. A spinner that times out (phase 1) gives
//! up without writing the word at all.
//!
//! The uncontended path is one CAS to acquire and one swap to release, the
//! same instructions as std's and parking_lot's mutexes.
//!
//! # Spin policy
//!
//! Phase 1 follows `sys::spin::LOCK` (a ramp of 1, 2, 4 pauses, then sparse
//! looks ~1.3 µs apart in short rounds with yields between them, ~50 µs in
//! all before parking); the measurements behind those numbers are in
//! `docs/spin-policy.md`.

use core::marker::PhantomData;

use crate::sys::atomic::{AtomicU32, Ordering::*, const_fn};
use crate::sys::futex::{self, Wake};
use crate::sys::spin::{self, Spin};
use crate::sys::wakers::{self, WaitSlot};
use crate::sys::{Deadline, Private, Scope};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// The lock algorithm without data: one word, usable in private memory
/// (threads) or in a shared mapping (processes, `S = Shared`).
#[repr(C)]
pub struct RawLock<S: Scope = Private> {
    state: AtomicU32,
    _scope: PhantomData<S>,
}

#[allow(dead_code)]
impl<S: Scope> RawLock<S> {
    const_fn! {
        pub(crate) const fn new() -> Self {
            RawLock { state: AtomicU32::new(UNLOCKED), _scope: PhantomData }
        }
    }

    /// Take the lock if it is free; never blocks.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
            .is_ok()
    }

    /// Take the lock, giving up at `deadline`. Returns whether it was taken.
    #[inline]
    pub(crate) fn lock(&self, deadline: Deadline) -> bool {
        self.try_lock() || self.lock_contended(deadline)
    }

    #[cold]
    pub(crate) fn lock_contended(&self, deadline: Deadline) -> bool {
        if !crate::sys::trace::on() {
            return self.contend(deadline);
        }
        let since = std::time::Instant::now();
        let taken = self.contend(deadline);
        crate::sys::trace::waited("wait lock", since);
        taken
    }

    /// The contended acquire: spin, then sleep.
    #[inline]
    fn contend(&self, deadline: Deadline) -> bool {
        // Phase 1, while nobody sleeps on the word (it reads LOCKED): look
        // at it under the lock's spin policy, and take it with a CAS to
        // LOCKED as soon as it is seen free. While the word stays off
        // CONTENDED, releases pay no wake syscall (see the head comment).
        let mut spin = Spin::new(&spin::LOCK);
        let mut state;
        loop {
            state = self.state.load(Relaxed);
            if state == UNLOCKED {
                match self
                    .state
                    .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
                {
                    Ok(_) => return true,
                    Err(s) => state = s,
                }
            }
            if state != LOCKED || spin.spent() {
                break;
            }
            if deadline.expired() {
                // Seen held after the deadline: give up without marking the
                // lock contended (which would cost its holder a wake).
                return false;
            }
            spin.wait();
        }
        // Phase 2: sleep. Mark the lock contended first; if it was free, we
        // own it now, in the contended state, since others may sleep too.
        loop {
            if state != CONTENDED && self.state.swap(CONTENDED, Acquire) == UNLOCKED {
                return true;
            }
            if futex::wait::<S>(&self.state, CONTENDED, deadline) == Wake::TimedOut
                && deadline.expired()
            {
                // One last look: the lock may have been freed as we gave up.
                return self.try_lock();
            }
            state = spin::spin_word(&self.state, &spin::LOCK_AFTER_WAKE, |s| s == LOCKED);
        }
    }

    /// Release the lock. Returns `false` (and changes nothing) if it was not
    /// locked.
    #[inline]
    pub(crate) fn unlock(&self) -> bool {
        match self.state.swap(UNLOCKED, Release) {
            UNLOCKED => false,
            CONTENDED => {
                self.wake();
                true
            }
            _ => true,
        }
    }

    #[cold]
    fn wake(&self) {
        futex::wake_one::<S>(&self.state);
        if !S::SHARED {
            wakers::wake(&self.state, 1);
        }
    }

    /// Whether the lock is held by anyone (a snapshot).
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Relaxed) != UNLOCKED
    }
}

/// An async acquire in progress (the protocol is `sys::wakers`'s): a task
/// waits as a phase-2 sleeper does, with `CONTENDED` in the word, so the
/// release that frees the lock takes its slow path and wakes it. Private
/// scope only (see `sys::wakers`).
pub(crate) struct LockWait<'a> {
    lock: &'a RawLock<Private>,
    slot: WaitSlot,
}

impl<'a> LockWait<'a> {
    pub(crate) fn new(lock: &'a RawLock<Private>) -> Self {
        LockWait {
            lock,
            slot: WaitSlot::new(),
        }
    }

    /// One poll: `true` once the lock is taken (then the caller holds it).
    pub(crate) fn poll(&mut self, waker: &core::task::Waker) -> bool {
        // Fast path, only before registering: a registered waiter may have
        // been handed the `CONTENDED` mark by a release's wake, and must
        // put it back when it takes the lock (as a woken thread does), or
        // the waiters behind it would never be woken.
        if !self.slot.has_registered() && self.lock.try_lock() {
            return true;
        }
        loop {
            let state = self.lock.state.load(Relaxed);
            if state != CONTENDED && self.lock.state.swap(CONTENDED, Acquire) == UNLOCKED {
                self.slot.finish();
                return true;
            }
            if self.slot.register(&self.lock.state, CONTENDED, waker) {
                return false;
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads increment a counter under the raw lock: mutual exclusion
    /// (loom's cell tracking) and no lost wake-up (loom reports a deadlock).
    #[test]
    fn raw_lock_mutual_exclusion() {
        loom::model(|| {
            let lock = Arc::new(RawLock::<Private>::new());
            let data = Arc::new(crate::sys::atomic::UnsafeCell::new(0u32));
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, data) = (lock.clone(), data.clone());
                    thread::spawn(move || {
                        lock.lock(Deadline::Never);
                        // SAFETY: the lock is held.
                        data.with_mut(|p| unsafe { *p += 1 });
                        assert!(lock.unlock());
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            // SAFETY: every thread has joined.
            assert_eq!(data.with(|p| unsafe { *p }), 2);
            assert!(!lock.is_locked());
        });
    }

    /// Three contenders exercise the CONTENDED hand-off chain.
    #[test]
    fn raw_lock_three_contenders() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let lock = Arc::new(RawLock::<Private>::new());
            let ths: Vec<_> = (0..3)
                .map(|_| {
                    let lock = lock.clone();
                    thread::spawn(move || {
                        lock.lock(Deadline::Never);
                        lock.unlock();
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            assert!(!lock.is_locked());
        });
    }

    /// The waker registration vs release race: a task (driven by loom's
    /// `block_on`, which parks until woken) and a thread contend with the
    /// holder; loom reports a lost wake-up as a deadlock.
    #[test]
    fn raw_lock_async_register_vs_release() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let lock = Arc::new(RawLock::<Private>::new());
            assert!(lock.lock(Deadline::Never));
            let l2 = lock.clone();
            let task = thread::spawn(move || {
                let mut w = LockWait::new(&l2);
                crate::sys::wakers::block_on_model(|waker| w.poll(waker).then_some(()));
                drop(w);
                assert!(l2.unlock());
            });
            let l3 = lock.clone();
            let th = thread::spawn(move || {
                l3.lock(Deadline::Never);
                l3.unlock();
            });
            lock.unlock();
            task.join().unwrap();
            th.join().unwrap();
            assert!(!lock.is_locked());
        });
    }

    /// A task whose pending acquire is dropped (after it may have been
    /// notified) passes the notification on to the other task.
    #[test]
    fn raw_lock_async_drop_passes_on() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let lock = Arc::new(RawLock::<Private>::new());
            assert!(lock.lock(Deadline::Never));
            let waker = futures_noop_waker();
            // A registered async waiter that will be dropped unpolled.
            let mut dropped = LockWait::new(&lock);
            assert!(!dropped.poll(&waker));
            let l2 = lock.clone();
            let task = thread::spawn(move || {
                let mut w = LockWait::new(&l2);
                crate::sys::wakers::block_on_model(|waker| w.poll(waker).then_some(()));
                drop(w);
                assert!(l2.unlock());
            });
            lock.unlock();
            drop(dropped);
            task.join().unwrap();
            assert!(!lock.is_locked());
        });
    }

    fn futures_noop_waker() -> core::task::Waker {
        core::task::Waker::noop().clone()
    }

    /// A timed-out waiter must not swallow the wake-up meant for another.
    #[test]
    fn raw_lock_timeout_does_not_lose_wakeup() {
        loom::model(|| {
            let lock = Arc::new(RawLock::<Private>::new());
            assert!(lock.lock(Deadline::Never));
            let l2 = lock.clone();
            let timed = thread::spawn(move || {
                if l2.lock(Deadline::now()) {
                    l2.unlock();
                }
            });
            let l3 = lock.clone();
            let blocking = thread::spawn(move || {
                l3.lock(Deadline::Never);
                l3.unlock();
            });
            lock.unlock();
            timed.join().unwrap();
            blocking.join().unwrap();
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Regression: a failed non-blocking acquire must not mark the lock
    /// CONTENDED (that cost the holder a spurious futex wake).
    #[test]
    fn try_lock_leaves_state_uncontended() {
        let l = RawLock::<Private>::new();
        assert!(l.lock(Deadline::Never));
        assert!(!l.try_lock());
        assert_eq!(l.state.load(Relaxed), LOCKED);
    }

    /// An expired deadline ends the spin: a zero-timeout acquire of a held
    /// lock fails without parking or marking the lock CONTENDED.
    #[test]
    fn zero_timeout_lock_gives_up_uncontended() {
        let l = RawLock::<Private>::new();
        assert!(l.lock(Deadline::Never));
        assert!(!l.lock(Deadline::after(Duration::ZERO)));
        assert!(!l.lock(Deadline::now()));
        assert_eq!(l.state.load(Relaxed), LOCKED);
    }

    /// The process-shared scope runs the same algorithm (non-private futex
    /// calls): two threads contend through every phase, nothing is lost.
    #[test]
    fn shared_scope_counts_exactly() {
        use crate::sys::Shared;
        let lock = RawLock::<Shared>::new();
        let count = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        assert!(lock.lock(Deadline::Never));
                        // A non-atomic read-modify-write: only exclusion
                        // keeps it exact.
                        let v = count.load(std::sync::atomic::Ordering::Relaxed);
                        count.store(v + 1, std::sync::atomic::Ordering::Relaxed);
                        assert!(lock.unlock());
                    }
                });
            }
        });
        assert_eq!(count.into_inner(), 40_000);
        assert!(!lock.is_locked());
    }
}
