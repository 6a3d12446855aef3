//! `RawBarrier`: Python's barrier state machine (CPython's `threading.Barrier`)
//! in one futex word, without a lock, generic over `Scope`;
//! `threading::Barrier` is its private home, `multiprocessing::Barrier` its
//! process-shared one.
//!
//! # State encoding
//!
//! One `AtomicU32`, `word`:
//! - bits 0..16, `count`: parties inside the current cycle (arrived and not
//!   yet left). Hence at most [`MAX_PARTIES`] parties.
//! - bits 16..18, the phase, CPython's `_state`:
//!   - `FILLING` (0): parties arrive (`count += 1`, the index is the old
//!     `count`). The last arrival runs the action with the phase still
//!     `FILLING` (an extra arrival meanwhile sees `count == parties` and
//!     waits, as it would wait for CPython's lock), then moves to
//!     `DRAINING`.
//!   - `DRAINING` (1): the released parties leave; new arrivals wait. The
//!     last one out (`count` back to 0) moves to `FILLING`.
//!   - `RESETTING` (2): `reset()` with parties inside: they leave with
//!     "broken"; the last one out moves to `FILLING`.
//!   - `BROKEN` (3): `abort()`, a timed-out wait or a failed action; every
//!     wait fails until `reset()`.
//!
//! A second word, `parties`, is written once at creation (it is an atomic
//! only so that the whole barrier is plain atomic words, valid in a shared
//! block whatever another process left there).
//!
//! Every transition is one CAS on `word`, so a party killed at any point
//! (a process) never leaves the word half-changed: it is merely a party
//! that never arrives or never leaves. Waiters then time out and break the
//! barrier; a dead party's `count` is never given back, so such a barrier
//! stays broken (a `reset` waits in `RESETTING` for a departure that never
//! comes) — see `docs/design-notes.md`, "Shared state".
//!
//! # Memory ordering
//!
//! Every CAS is `AcqRel`, every load `Acquire`. The arrivals' increments
//! are read-modify-writes, so they form one release sequence that the last
//! arrival's CAS acquires; its `DRAINING` CAS releases it again (after the
//! action), and a waiter that loads `DRAINING` (or any later value: the
//! departures are read-modify-writes too) acquires it. So what every party
//! did before `wait` happens-before the action, and the action before what
//! every party does after `wait` returns, as with CPython's lock.
//!
//! # Why no wake-up is lost
//!
//! A party sleeps only with `futex_wait(word, v)` on the exact value `v` it
//! last read and found it must wait on; the kernel refuses to sleep once
//! `word != v`. Every transition a sleeper waits for — a phase change
//! (release, break, reset, the end of a drain or a reset) — is a CAS that
//! changes `word` and is followed by `wake_all`. A change nobody waits for
//! (an arrival, a departure that is not the last) wakes no one: a sleeper on
//! an older value that the kernel lets sleep is woken by the phase change
//! that follows; one that has not slept yet gets `EAGAIN`, re-reads and
//! re-checks. Cost: one `futex_wake` syscall per phase change, even when
//! nobody sleeps (no waiters bit: the word has no spare bit a departure
//! could keep exact cheaply).

use core::marker::PhantomData;

use crate::sys::atomic::{AtomicU32, Ordering::*, const_fn};
use crate::sys::futex::{self, Wake};
use crate::sys::futex_bridge::{BridgeWait, TaskSlot};
use crate::sys::wakers::{self, WaitSlot};
use crate::sys::{Deadline, Private, Scope, Shared};

/// The most parties a barrier can have (`count` is 16 bits).
pub(crate) const MAX_PARTIES: u32 = 0xFFFF;

const COUNT_MASK: u32 = 0xFFFF;
const PHASE_SHIFT: u32 = 16;
const FILLING: u32 = 0;
const DRAINING: u32 = 1;
const RESETTING: u32 = 2;
const BROKEN: u32 = 3;

#[inline]
fn count(w: u32) -> u32 {
    w & COUNT_MASK
}
#[inline]
fn phase(w: u32) -> u32 {
    w >> PHASE_SHIFT
}
#[inline]
fn with_phase(w: u32, p: u32) -> u32 {
    count(w) | (p << PHASE_SHIFT)
}

/// The barrier was broken (or reset) before this party could pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Broken;

/// The barrier algorithm: two words, usable in private memory (threads) or
/// in a shared mapping (processes, `S = Shared`).
#[repr(C)]
pub(crate) struct RawBarrier<S: Scope = Private> {
    word: AtomicU32,
    parties: AtomicU32,
    _scope: PhantomData<S>,
}

#[allow(dead_code)]
impl<S: Scope> RawBarrier<S> {
    const_fn! {
        /// `parties` must be in `1..=MAX_PARTIES` (the homes check).
        pub(crate) const fn new(parties: u32) -> Self {
            RawBarrier {
                word: AtomicU32::new(0),
                parties: AtomicU32::new(parties),
                _scope: PhantomData,
            }
        }
    }

    pub(crate) fn parties(&self) -> u32 {
        self.parties.load(Relaxed)
    }

    /// CPython's `n_waiting`: the parties inside a filling cycle, else 0.
    pub(crate) fn n_waiting(&self) -> u32 {
        let w = self.word.load(Acquire);
        if phase(w) == FILLING { count(w) } else { 0 }
    }

    pub(crate) fn broken(&self) -> bool {
        phase(self.word.load(Acquire)) == BROKEN
    }

    /// Wait for the other parties, giving up (and breaking the barrier) at
    /// `deadline`. The last arrival calls `action` before releasing the
    /// others; if it returns `false` the barrier breaks instead. Returns
    /// this party's index, `0..parties`.
    pub(crate) fn wait(
        &self,
        deadline: Deadline,
        action: impl FnOnce() -> bool,
    ) -> Result<u32, Broken> {
        let index = self.enter(deadline)?;
        let result = if index + 1 == self.parties() {
            self.release(action)
        } else {
            self.wait_released(deadline)
        };
        self.leave();
        result.map(|()| index)
    }

    /// Arrive: wait out a drain or a reset (and a cycle whose last party
    /// runs the action), then take an index.
    fn enter(&self, deadline: Deadline) -> Result<u32, Broken> {
        let parties = self.parties();
        let mut w = self.word.load(Acquire);
        loop {
            match phase(w) {
                BROKEN => return Err(Broken),
                FILLING if count(w) < parties => {
                    match self.word.compare_exchange_weak(w, w + 1, AcqRel, Acquire) {
                        Ok(_) => return Ok(count(w)),
                        Err(now) => w = now,
                    }
                }
                _ => {
                    if futex::wait::<S>(&self.word, w, deadline) == Wake::TimedOut
                        && deadline.expired()
                    {
                        // Not inside the cycle: breaking it would strand
                        // nobody, and CPython's `_enter` never times out;
                        // but a drain that never ends (a party died in it)
                        // must not hang this one.
                        return Err(Broken);
                    }
                    w = self.word.load(Acquire);
                }
            }
        }
    }

    /// The last arrival: run the action, then release the cycle (unless it
    /// was broken or reset meanwhile).
    fn release(&self, action: impl FnOnce() -> bool) -> Result<(), Broken> {
        let to = if action() { DRAINING } else { BROKEN };
        let mut w = self.word.load(Acquire);
        loop {
            if phase(w) != FILLING {
                return Err(Broken);
            }
            match self
                .word
                .compare_exchange_weak(w, with_phase(w, to), AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        self.wake_all();
        if to == DRAINING { Ok(()) } else { Err(Broken) }
    }

    /// Any other arrival: wait until the cycle is released, broken or reset;
    /// at `deadline`, break it.
    fn wait_released(&self, deadline: Deadline) -> Result<(), Broken> {
        let mut w = self.word.load(Acquire);
        loop {
            match phase(w) {
                DRAINING => return Ok(()),
                FILLING => {}
                _ => return Err(Broken),
            }
            if futex::wait::<S>(&self.word, w, deadline) == Wake::TimedOut && deadline.expired() {
                self.break_from(FILLING);
                return match phase(self.word.load(Acquire)) {
                    DRAINING => Ok(()),
                    _ => Err(Broken),
                };
            }
            w = self.word.load(Acquire);
        }
    }

    /// Leave the cycle; the last one out ends a drain or a reset.
    fn leave(&self) {
        let mut w = self.word.load(Acquire);
        loop {
            let mut new = w - 1;
            let ends = count(new) == 0 && matches!(phase(w), DRAINING | RESETTING);
            if ends {
                new = with_phase(new, FILLING);
            }
            match self.word.compare_exchange_weak(w, new, AcqRel, Acquire) {
                Ok(_) => {
                    if ends {
                        self.wake_all();
                    }
                    return;
                }
                Err(now) => w = now,
            }
        }
    }

    /// Set `BROKEN` if the phase is `from` (any phase if `None`) and wake
    /// everyone.
    fn break_if(&self, from: Option<u32>) {
        let mut w = self.word.load(Acquire);
        loop {
            if from.is_some_and(|p| phase(w) != p) || phase(w) == BROKEN {
                return;
            }
            match self
                .word
                .compare_exchange_weak(w, with_phase(w, BROKEN), AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        self.wake_all();
    }

    fn break_from(&self, from: u32) {
        self.break_if(Some(from))
    }

    /// Wake every sleeping party, thread or task (after a phase change).
    fn wake_all(&self) {
        futex::wake_all::<S>(&self.word);
        if !S::SHARED {
            wakers::wake(&self.word, u32::MAX);
        }
    }

    /// CPython's `abort()`: break the barrier for every current and later
    /// wait, until `reset`.
    pub(crate) fn abort(&self) {
        self.break_if(None)
    }

    /// CPython's `reset()`: parties inside leave broken and the last one out
    /// empties the barrier; with nobody inside, it is empty at once.
    pub(crate) fn reset(&self) {
        let mut w = self.word.load(Acquire);
        loop {
            let new = if count(w) == 0 {
                with_phase(w, FILLING)
            } else if matches!(phase(w), FILLING | BROKEN) {
                with_phase(w, RESETTING)
            } else {
                // A drain or a reset in progress ends by itself.
                w
            };
            match self.word.compare_exchange_weak(w, new, AcqRel, Acquire) {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        self.wake_all();
    }
}

/// An async party in progress (the protocol is `sys::wakers`'s; the drop
/// semantics are the head comment's "Async parties"). Private scope only.
/// Generic over where its task waits (`W`): the waker table for private
/// words, the futex bridge (`sys::futex_bridge`) for a barrier in a shared
/// mapping, whose phase changes another process makes.
pub(crate) struct BarrierWait<'a, S: Scope = Private, W: TaskSlot = WaitSlot> {
    b: &'a RawBarrier<S>,
    slot: W,
    /// This party's index once it has arrived, until it has left.
    index: Option<u32>,
}

impl<'a> BarrierWait<'a> {
    pub(crate) fn new(b: &'a RawBarrier<Private>) -> Self {
        BarrierWait {
            b,
            slot: WaitSlot::new(),
            index: None,
        }
    }
}

impl<'a> BarrierWait<'a, Shared, BridgeWait> {
    /// An async party of a process-shared barrier.
    pub(crate) fn shared(b: &'a RawBarrier<Shared>) -> Self {
        BarrierWait {
            b,
            slot: BridgeWait::new(),
            index: None,
        }
    }
}

impl<S: Scope, W: TaskSlot> BarrierWait<'_, S, W> {
    /// One poll: `Some(result)` once this party has passed (or been told
    /// broken) and left the cycle; `None` if it waits (the waker is
    /// registered). The last arrival runs `action` within this call, as
    /// [`RawBarrier::wait`] does. Not to be polled again after `Some`.
    pub(crate) fn poll(
        &mut self,
        waker: &core::task::Waker,
        action: impl FnOnce() -> bool,
    ) -> Option<Result<u32, Broken>> {
        let b = self.b;
        let mut w = b.word.load(Acquire);
        let index = match self.index {
            Some(i) => i,
            None => loop {
                // As `enter`, registering instead of sleeping.
                match phase(w) {
                    BROKEN => {
                        self.slot.finish();
                        return Some(Err(Broken));
                    }
                    FILLING if count(w) < b.parties() => {
                        match b.word.compare_exchange_weak(w, w + 1, AcqRel, Acquire) {
                            Ok(_) => {
                                let i = count(w);
                                if i + 1 == b.parties() {
                                    self.slot.finish();
                                    let r = b.release(action);
                                    b.leave();
                                    return Some(r.map(|()| i));
                                }
                                self.index = Some(i);
                                w = b.word.load(Acquire);
                                break i;
                            }
                            Err(now) => w = now,
                        }
                    }
                    _ => {
                        if self.slot.register(&b.word, w, waker) {
                            return None;
                        }
                        w = b.word.load(Acquire);
                    }
                }
            },
        };
        // As `wait_released`, registering instead of sleeping.
        loop {
            let result = match phase(w) {
                DRAINING => Ok(index),
                FILLING => {
                    if self.slot.register(&b.word, w, waker) {
                        return None;
                    }
                    w = b.word.load(Acquire);
                    continue;
                }
                _ => Err(Broken),
            };
            self.slot.finish();
            self.index = None;
            b.leave();
            return Some(result);
        }
    }
}

impl<S: Scope, W: TaskSlot> BarrierWait<'_, S, W> {
    /// Give up the wait (what a drop does): withdraw from a filling cycle
    /// or leave a released, broken or reset one. Returns `true` if this
    /// party was inside a cycle that had been released (it passed, unseen),
    /// `false` if it was withdrawn, told broken, or had not arrived.
    pub(crate) fn cancel(&mut self) -> bool {
        if self.index.take().is_none() {
            return false; // never arrived, or already left
        }
        let b = self.b;
        let mut w = b.word.load(Acquire);
        loop {
            if phase(w) != FILLING {
                b.leave();
                return phase(w) == DRAINING;
            }
            if count(w) == b.parties() {
                // The last arrival runs the action: the cycle is complete
                // and this party in it. Wait for the phase change.
                futex::wait::<S>(&b.word, w, Deadline::Never);
                w = b.word.load(Acquire);
                continue;
            }
            match b.word.compare_exchange_weak(w, w - 1, AcqRel, Acquire) {
                Ok(_) => return false,
                Err(now) => w = now,
            }
        }
    }
}

impl<S: Scope, W: TaskSlot> Drop for BarrierWait<'_, S, W> {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The state machine, single-threaded: indices, the action, timeout
    /// breaking, abort and reset.
    #[test]
    fn one_party_and_breaking() {
        let b = RawBarrier::<Private>::new(1);
        assert_eq!(b.wait(Deadline::Never, || true), Ok(0));
        assert_eq!(b.wait(Deadline::Never, || true), Ok(0));
        assert_eq!(b.wait(Deadline::Never, || false), Err(Broken));
        assert!(b.broken());
        assert_eq!(b.wait(Deadline::Never, || true), Err(Broken));
        b.reset();
        assert!(!b.broken());
        let two = RawBarrier::<Private>::new(2);
        assert_eq!(two.wait(Deadline::now(), || true), Err(Broken));
        assert!(two.broken());
        assert_eq!(two.n_waiting(), 0);
        two.reset();
        assert_eq!(two.word.load(Relaxed), 0);
    }

    /// `reset` with a party inside moves to `RESETTING`; its departure ends
    /// the reset.
    #[test]
    fn reset_with_party_inside() {
        let b = RawBarrier::<Private>::new(2);
        assert_eq!(b.enter(Deadline::Never), Ok(0));
        assert_eq!(b.n_waiting(), 1);
        b.reset();
        assert_eq!(phase(b.word.load(Relaxed)), RESETTING);
        assert_eq!(b.wait_released(Deadline::Never), Err(Broken));
        b.leave();
        assert_eq!(b.word.load(Relaxed), 0);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// `parties` threads, `cycles` cycles each: every cycle hands out the
    /// indices `0..parties` once (the sum checks it), a fast party
    /// re-entering while a cycle drains waits for the drain, and no wake-up
    /// is lost (loom reports a deadlock otherwise). The action's write is
    /// read by every party after its wait (loom's cell tracking reports a
    /// race otherwise).
    fn cycles(parties: u32, cycles: u32) {
        let b = Arc::new(RawBarrier::<Private>::new(parties));
        let data = Arc::new(crate::sys::atomic::UnsafeCell::new(0u32));
        let run = move |b: Arc<RawBarrier>, d: Arc<crate::sys::atomic::UnsafeCell<u32>>| {
            let mut sum = 0;
            for c in 1..=cycles {
                let i = b.wait(Deadline::Never, || {
                    // SAFETY: (test) the action runs while every party is
                    // inside the barrier, before any is released.
                    d.with_mut(|p| unsafe { *p = c });
                    true
                });
                sum += i.unwrap();
                // SAFETY: (test) written only in the next cycle's action,
                // which cannot start before this party arrives again.
                assert_eq!(d.with(|p| unsafe { *p }), c);
            }
            sum
        };
        let ths: Vec<_> = (1..parties)
            .map(|_| {
                let (b, d) = (b.clone(), data.clone());
                thread::spawn(move || run(b, d))
            })
            .collect();
        let mut total = run(b.clone(), data.clone());
        total += ths.into_iter().map(|t| t.join().unwrap()).sum::<u32>();
        assert_eq!(total, cycles * parties * (parties - 1) / 2);
        assert_eq!(b.word.load(Relaxed), 0);
    }

    #[test]
    fn raw_barrier_two_parties_two_cycles() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| cycles(2, 2));
    }

    #[test]
    fn raw_barrier_three_parties() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| cycles(3, 1));
    }

    /// A party that times out breaks the barrier; the other party either
    /// passed with it (released first) or is told broken — never hangs.
    #[test]
    fn raw_barrier_timeout_breaks() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let b = Arc::new(RawBarrier::<Private>::new(2));
            let b2 = b.clone();
            let t = thread::spawn(move || b2.wait(Deadline::Never, || true));
            let mine = b.wait(Deadline::now(), || true);
            let theirs = t.join().unwrap();
            assert_eq!(mine.is_ok(), theirs.is_ok());
            assert_eq!(mine.is_err(), b.broken());
        });
    }

    /// `abort` and `reset` racing a waiter: it returns either way.
    #[test]
    fn raw_barrier_abort_reset_wake() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let b = Arc::new(RawBarrier::<Private>::new(2));
            let b2 = b.clone();
            let t = thread::spawn(move || b2.wait(Deadline::Never, || true));
            b.abort();
            assert_eq!(t.join().unwrap(), Err(Broken));
            b.reset();
            assert_eq!(b.word.load(Relaxed), 0);
        });
    }

    /// An async party that polls once and then gives up, racing a thread
    /// party (two parties): giving up withdraws it (still filling), leaves
    /// the drain (released), or waits out the last arrival's release
    /// first. A withdrawn party then arrives again, as a thread. Nobody
    /// hangs (loom reports a lost wake-up, or a cancel that never returns,
    /// as a deadlock) and the word ends empty: no ghost party.
    #[test]
    fn raw_barrier_async_cancel() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let b = Arc::new(RawBarrier::<Private>::new(2));
            let b2 = b.clone();
            let t = thread::spawn(move || b2.wait(Deadline::Never, || true).unwrap());
            let mut w = BarrierWait::new(&b);
            let mine = match w.poll(core::task::Waker::noop(), || true) {
                Some(r) => r.unwrap(),
                None if w.cancel() => 0, // released: it was the first, index 0
                None => b.wait(Deadline::Never, || true).unwrap(),
            };
            drop(w);
            assert_eq!(mine + t.join().unwrap(), 1);
            assert_eq!(b.word.load(Relaxed), 0);
        });
    }

    /// A task waits through a whole cycle while another thread arrives:
    /// its registered waker is woken by the release (the model parks the
    /// task's thread until then).
    #[test]
    fn raw_barrier_async_woken() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let b = Arc::new(RawBarrier::<Private>::new(2));
            let b2 = b.clone();
            let t = thread::spawn(move || b2.wait(Deadline::Never, || true).unwrap());
            let mut w = BarrierWait::new(&b);
            let mine = crate::sys::wakers::block_on_model(|waker| w.poll(waker, || true)).unwrap();
            drop(w);
            assert_eq!(mine + t.join().unwrap(), 1);
            assert_eq!(b.word.load(Relaxed), 0);
        });
    }
}
