//! `RawLife`: one thread's life word (started? running? done?) and the
//! waits on it, generic over `Scope`; `threading::Thread` is its home.
//!
//! # The life word
//!
//! Each thread's shared state has one `AtomicU32`, its *life word*:
//! - bits 0–1, the phase: `NEW` (0, built, not started), `STARTING` (1,
//!   `start` claimed it, the OS thread is being made), `RUNNING` (2),
//!   `DONE` (3, the target returned or panicked and the thread's
//!   thread-locals are being torn down).
//! - bit 2, `WAITERS`: somebody may sleep on the word (a `start` waiting
//!   for `RUNNING`, or a `join` waiting for `DONE`).
//!
//! The phase only moves forward, and only the thread itself moves it past
//! `STARTING` (a failed OS spawn moves `STARTING` back to `NEW`, and a
//! joiner that then sees `NEW` gives up with `NotStarted`).
//!
//! # Memory ordering
//!
//! The thread moves the phase with a `Release` swap after writing what the
//! phase promises (its native id before `RUNNING`; its result or panic
//! message before `DONE`); a waiter reads the phase with `Acquire`, so once
//! it sees `DONE` it sees the result.
//!
//! # Why no wake-up is lost
//!
//! A waiter sleeps only on a value that has `WAITERS` set, which it set
//! itself (a CAS) or saw set. The thread's swap replaces the whole word: if
//! the swap happened before the waiter's `futex_wait`, the kernel sees a
//! changed word and does not sleep; if after, the swap returns `WAITERS` and
//! the thread wakes everyone. Woken waiters that still wait (a joiner woken
//! by `RUNNING`) set `WAITERS` again before sleeping again. A waiter that
//! times out leaves `WAITERS` behind: the cost is one needless wake, never a
//! lost one. (`loom_tests` checks this.)

use core::marker::PhantomData;

use crate::sys::atomic::{AtomicU32, Ordering::*};
use crate::sys::futex::{self, Wake};
use crate::sys::{Deadline, Private, Scope};

/// The phase bits.
const PHASE: u32 = 0b011;
/// Built, not started (or its start failed).
pub(crate) const NEW: u32 = 0;
/// `start` claimed it; the OS thread is being made.
pub(crate) const STARTING: u32 = 1;
/// The thread runs its target.
pub(crate) const RUNNING: u32 = 2;
/// The target returned or panicked.
pub(crate) const DONE: u32 = 3;
/// Someone may sleep on the word.
const WAITERS: u32 = 0b100;

/// The life word of one thread (see the module comment), in private memory
/// (threads) or in a shared mapping (`S = Shared`).
#[repr(C)]
pub(crate) struct RawLife<S: Scope = Private> {
    word: AtomicU32,
    _scope: PhantomData<S>,
}

impl<S: Scope> RawLife<S> {
    /// A life word at `phase` (`NEW` for a thread to start, `RUNNING` or
    /// `DONE` for one that gilfree did not start).
    pub(crate) fn new(phase: u32) -> Self {
        RawLife {
            word: AtomicU32::new(phase),
            _scope: PhantomData,
        }
    }

    /// The phase now (`Acquire`: what the phase promises is visible).
    #[inline]
    pub(crate) fn phase(&self) -> u32 {
        self.word.load(Acquire) & PHASE
    }

    /// `NEW` → `STARTING`; false if the thread was started already.
    pub(crate) fn claim_start(&self) -> bool {
        // Keep `WAITERS`: a joiner may already wait on a thread whose
        // earlier start failed.
        let mut s = self.word.load(Relaxed);
        loop {
            if s & PHASE != NEW {
                return false;
            }
            match self
                .word
                .compare_exchange(s, STARTING | (s & WAITERS), Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Move to `phase` (by the thread itself, or by a failed start) and wake
    /// whoever waits.
    pub(crate) fn advance(&self, phase: u32) {
        if self.word.swap(phase, AcqRel) & WAITERS != 0 {
            futex::wake_all::<S>(&self.word);
        }
    }

    /// Wait until the phase is at least `phase`, or `deadline`. Returns
    /// whether it got there; also gives up (false) if the thread is, or
    /// falls back to, `NEW` (never started, or its start failed).
    pub(crate) fn wait_for(&self, phase: u32, deadline: Deadline) -> bool {
        let mut s = self.word.load(Acquire);
        loop {
            if s & PHASE >= phase {
                return true;
            }
            if s & PHASE == NEW {
                return false;
            }
            if s & WAITERS == 0 {
                if let Err(now) = self.word.compare_exchange(s, s | WAITERS, Acquire, Acquire) {
                    s = now;
                    continue;
                }
                s |= WAITERS;
            }
            if futex::wait::<S>(&self.word, s, deadline) == Wake::TimedOut && deadline.expired() {
                return self.phase() >= phase;
            }
            s = self.word.load(Acquire);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn life_word_phases() {
        let l = RawLife::<Private>::new(NEW);
        assert!(!l.wait_for(RUNNING, Deadline::Never), "NEW gives up");
        assert!(l.claim_start());
        l.advance(NEW); // a failed spawn
        assert!(!l.wait_for(DONE, Deadline::Never));
        assert!(l.claim_start());
        assert!(!l.claim_start());
        l.advance(RUNNING);
        assert!(l.wait_for(RUNNING, Deadline::now()));
        assert!(!l.wait_for(DONE, Deadline::after(Duration::from_millis(1))));
        l.advance(DONE);
        assert!(l.wait_for(DONE, Deadline::Never));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A starter waits for `RUNNING` and a joiner for `DONE` while the
    /// thread moves through both: neither misses its wake-up (loom would
    /// report the deadlock) and the joiner sees the value written before
    /// `DONE`.
    #[test]
    fn life_start_and_join_handshake() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let life = Arc::new(RawLife::<Private>::new(STARTING));
            let value = Arc::new(crate::sys::atomic::UnsafeCell::new(0u32));
            let (l, v) = (life.clone(), value.clone());
            let worker = thread::spawn(move || {
                l.advance(RUNNING);
                // SAFETY: written before `DONE`, read only after it.
                v.with_mut(|p| unsafe { *p = 7 });
                l.advance(DONE);
            });
            let l2 = life.clone();
            let v2 = value.clone();
            let joiner = thread::spawn(move || {
                assert!(l2.wait_for(DONE, Deadline::Never));
                // SAFETY: `DONE` was seen, so the write is done.
                assert_eq!(v2.with(|p| unsafe { *p }), 7);
            });
            assert!(life.wait_for(RUNNING, Deadline::Never));
            joiner.join().unwrap();
            worker.join().unwrap();
        });
    }

    /// A timed join that gives up leaves `WAITERS` behind; a later blocking
    /// join must still be woken.
    #[test]
    fn life_timed_join_then_join() {
        loom::model(|| {
            let life = Arc::new(RawLife::<Private>::new(RUNNING));
            let l = life.clone();
            let worker = thread::spawn(move || l.advance(DONE));
            let done_early = life.wait_for(DONE, Deadline::now());
            assert!(life.wait_for(DONE, Deadline::Never));
            let _ = done_early;
            worker.join().unwrap();
        });
    }
}
