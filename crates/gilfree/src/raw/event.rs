//! `RawEvent`: the event algorithm (one futex word with a generation),
//! generic over `Scope`; `threading::Event` is its private home.
//!
//! # State encoding
//!
//! One `AtomicU32`:
//! - bit 0, `SET`: the flag.
//! - bit 1, `WAITERS`: a thread may be sleeping on the word; `set` only
//!   makes the `futex_wake` syscall when it finds this bit.
//! - bits 2..32, the generation: bumped by every `set` that changes the
//!   flag from false to true. A waiter that sees the generation move knows a
//!   `set` happened while it waited, even if a `clear` followed before it
//!   woke: Python's `wait()` returns `True` in that case (gh-57711, CPython's
//!   `test_set_and_clear`), and so does ours.
//!
//! # Memory ordering
//!
//! `set` is a `Release` CAS; `is_set` and the waiter's checks are `Acquire`
//! loads. What a thread wrote before `set` happens-before what a waiter
//! does after `wait` returns `true` (a `clear` in between is a
//! read-modify-write, which continues `set`'s release sequence, so a waiter
//! that reads the cleared word with a new generation is still synchronised).
//!
//! # Why no wake-up is lost
//!
//! A waiter sleeps only on a word it has seen with `SET` clear and its own
//! generation, after putting `WAITERS` into that very word, and
//! `futex_wait` refuses to sleep if the word has changed since. A `set`
//! changes the word (flag and generation) and wakes all if the word it
//! replaced had `WAITERS`; it clears `WAITERS` in the same step, so a later
//! waiter sets it afresh for the next `set`. `clear` only touches `SET`, so
//! it never changes a word a waiter sleeps on. A waiter that timed out
//! leaves `WAITERS` behind: the cost is one needless wake syscall at the
//! next `set`, never a lost wake-up.
//!
//! The generation wraps after 2^30 sets; a waiter would confuse two
//! generations only if exactly a multiple of 2^30 sets happened between two
//! of its own loads of the word, a few instructions apart.

use core::marker::PhantomData;

use crate::sys::atomic::{AtomicU32, Ordering::*, const_fn};
use crate::sys::futex::{self, Wake};
use crate::sys::wakers::{self, WaitSlot};
use crate::sys::{Deadline, Private, Scope};

/// The flag.
const SET: u32 = 1;
/// Someone may sleep on the word.
const WAITERS: u32 = 2;
/// One step of the generation counter.
const GEN_ONE: u32 = 4;
/// The generation bits.
const GEN_MASK: u32 = !(SET | WAITERS);

/// The event algorithm: one word, usable in private memory (threads) or in
/// a shared mapping (processes, `S = Shared`).
#[repr(C)]
pub(crate) struct RawEvent<S: Scope = Private> {
    state: AtomicU32,
    _scope: PhantomData<S>,
}

#[allow(dead_code)]
impl<S: Scope> RawEvent<S> {
    const_fn! {
        pub(crate) const fn new() -> Self {
            RawEvent { state: AtomicU32::new(0), _scope: PhantomData }
        }
    }

    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.state.load(Acquire) & SET != 0
    }

    /// Set the flag and wake every waiter; no syscall if nobody waits.
    #[inline]
    pub(crate) fn set(&self) {
        let mut s = self.state.load(Relaxed);
        loop {
            if s & SET != 0 {
                return;
            }
            let new = ((s | SET) & !WAITERS).wrapping_add(GEN_ONE);
            match self.state.compare_exchange_weak(s, new, Release, Relaxed) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        if s & WAITERS != 0 {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        futex::wake_all::<S>(&self.state);
        if !S::SHARED {
            wakers::wake(&self.state, u32::MAX);
        }
    }

    /// One step of an async wait through `sys::futex_bridge` (another
    /// process may set): `Ok` once a set was seen since `generation`
    /// (taken at the first step); else `Err(s)` after putting `WAITERS`
    /// into the word, as a sleeper does: wait while the state is `s`.
    pub(crate) fn wait_step(&self, generation: &mut Option<u32>) -> Result<(), u32> {
        let mut s = self.state.load(Acquire);
        let generation = *generation.get_or_insert(s & GEN_MASK);
        loop {
            if s & SET != 0 || s & GEN_MASK != generation {
                return Ok(());
            }
            match futex::announce(&self.state, s, WAITERS, Acquire) {
                Ok(s) => return Err(s),
                Err(now) => s = now,
            }
        }
    }

    /// The futex word.
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.state
    }

    /// Reset the flag. Never wakes anyone.
    #[inline]
    pub(crate) fn clear(&self) {
        self.state.fetch_and(!SET, Release);
    }

    /// Wait until the flag is set (or was set at some point after the call
    /// began), giving up at `deadline`. Returns whether a set was seen.
    #[inline]
    pub(crate) fn wait(&self, deadline: Deadline) -> bool {
        let s = self.state.load(Acquire);
        s & SET != 0 || self.wait_slow(s, deadline)
    }

    #[cold]
    fn wait_slow(&self, s: u32, deadline: Deadline) -> bool {
        // The same step as a task's (`wait_step`): one announce loop.
        let mut generation = Some(s & GEN_MASK);
        loop {
            let Err(s) = self.wait_step(&mut generation) else {
                return true;
            };
            if futex::wait::<S>(&self.state, s, deadline) == Wake::TimedOut && deadline.expired() {
                let s = self.state.load(Acquire);
                return s & SET != 0 || Some(s & GEN_MASK) != generation;
            }
        }
    }
}

/// An async wait in progress (the protocol is `sys::wakers`'s): a task
/// puts `WAITERS` into the word as a sleeping thread does, so the `set`
/// takes its slow path and wakes it. Its generation is taken at its first
/// poll. Private scope only (see `sys::wakers`).
pub(crate) struct EventWait<'a> {
    ev: &'a RawEvent<Private>,
    slot: WaitSlot,
    generation: Option<u32>,
}

impl<'a> EventWait<'a> {
    pub(crate) fn new(ev: &'a RawEvent<Private>) -> Self {
        EventWait {
            ev,
            slot: WaitSlot::new(),
            generation: None,
        }
    }

    /// One poll: `true` once a set was seen.
    pub(crate) fn poll(&mut self, waker: &core::task::Waker) -> bool {
        let mut s = self.ev.state.load(Acquire);
        let generation = *self.generation.get_or_insert(s & GEN_MASK);
        let seen = |s: u32| s & SET != 0 || s & GEN_MASK != generation;
        loop {
            if seen(s) {
                self.slot.finish();
                return true;
            }
            s = match futex::announce(&self.ev.state, s, WAITERS, Acquire) {
                Ok(s) => s,
                Err(now) => {
                    s = now;
                    continue;
                }
            };
            if self.slot.register(&self.ev.state, s, waker) {
                return false;
            }
            s = self.ev.state.load(Acquire);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// gh-57711, exactly: a wait that took its first look before a set and
    /// a clear returns `true` (the generation moved), and does not block.
    #[test]
    fn wait_sees_set_then_clear() {
        let ev = RawEvent::<Private>::new();
        let first_look = ev.state.load(Acquire);
        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        assert!(ev.wait_slow(first_look, Deadline::Never));
        // A wait that begins after the clear does not see that set.
        assert!(!ev.wait(Deadline::now()));
    }

    /// A waiter that registered (set `WAITERS`) and timed out leaves the
    /// bit; the next `set` clears it, and a `set` with no waiter never sets
    /// it.
    #[test]
    fn waiters_bit_bookkeeping() {
        let ev = RawEvent::<Private>::new();
        ev.set();
        assert_eq!(ev.state.load(Relaxed) & WAITERS, 0);
        ev.clear();
        assert!(!ev.wait(Deadline::after(std::time::Duration::from_millis(1))));
        assert_ne!(ev.state.load(Relaxed) & WAITERS, 0);
        ev.set();
        assert_eq!(ev.state.load(Relaxed) & WAITERS, 0);
        assert!(ev.wait(Deadline::Never));
    }

    /// The generation wraps without touching the flag bits.
    #[test]
    fn generation_wraps() {
        let ev = RawEvent::<Private>::new();
        ev.state.store(GEN_MASK, Relaxed); // the last generation, unset
        let first_look = ev.state.load(Acquire);
        ev.set();
        assert_eq!(ev.state.load(Relaxed), SET);
        ev.clear();
        assert!(ev.wait_slow(first_look, Deadline::Never));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two waiters and a setter: both waiters return (loom reports a lost
    /// wake-up as a deadlock) and see the flag.
    #[test]
    fn event_set_wakes_all_waiters() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let ev = Arc::new(RawEvent::<Private>::new());
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let ev = ev.clone();
                    thread::spawn(move || assert!(ev.wait(Deadline::Never)))
                })
                .collect();
            ev.set();
            for t in ths {
                t.join().unwrap();
            }
            assert!(ev.is_set());
        });
    }

    /// An async waiter (loom's `block_on` parks it until woken) and a
    /// thread waiter both see one `set` that races their registration.
    #[test]
    fn event_async_register_vs_set() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let ev = Arc::new(RawEvent::<Private>::new());
            let e2 = ev.clone();
            let task = thread::spawn(move || {
                let mut w = EventWait::new(&e2);
                crate::sys::wakers::block_on_model(|waker| w.poll(waker).then_some(()));
            });
            let e3 = ev.clone();
            let th = thread::spawn(move || assert!(e3.wait(Deadline::Never)));
            ev.set();
            task.join().unwrap();
            th.join().unwrap();
        });
    }

    /// set then clear at once: a waiter whose wait began before the set
    /// (its first look at the word is taken before the set, in `main`) must
    /// still return `true`, whether it was asleep, about to sleep, or not
    /// yet registered as a waiter when the set and the clear came.
    #[test]
    fn event_set_clear_still_wakes() {
        loom::model(|| {
            let ev = Arc::new(RawEvent::<Private>::new());
            let first_look = ev.state.load(Acquire);
            assert_eq!(first_look & SET, 0);
            let e2 = ev.clone();
            let waiter = thread::spawn(move || assert!(e2.wait_slow(first_look, Deadline::Never)));
            ev.set();
            ev.clear();
            waiter.join().unwrap();
            assert!(!ev.is_set());
        });
    }

    /// Data written before `set` is visible after `wait` (loom's cell
    /// tracking reports a race otherwise), and a timed waiter that gives up
    /// does not make a blocking one miss the set.
    #[test]
    fn event_publishes_and_timeout_is_harmless() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let ev = Arc::new(RawEvent::<Private>::new());
            let data = Arc::new(crate::sys::atomic::UnsafeCell::new(0u32));
            let (e2, d2) = (ev.clone(), data.clone());
            let waiter = thread::spawn(move || {
                assert!(e2.wait(Deadline::Never));
                // SAFETY: (test) written only before `set`, read after `wait`.
                assert_eq!(d2.with(|p| unsafe { *p }), 7);
            });
            let e3 = ev.clone();
            let timed = thread::spawn(move || {
                let _ = e3.wait(Deadline::now());
            });
            // SAFETY: (test) no reader before `set`.
            data.with_mut(|p| unsafe { *p = 7 });
            ev.set();
            waiter.join().unwrap();
            timed.join().unwrap();
        });
    }
}
