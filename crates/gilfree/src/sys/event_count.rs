//! The one sleep/wake protocol for "wait until something may have changed":
//! an event count. Used by the queue core (not empty / not full / all
//! done), by `wait`/`as_completed` (a future completed) and by the thread
//! pool's job queue (a job arrived). Whoever waits brings its own condition
//! as an `attempt` closure; the event count only makes sure that nobody
//! sleeps through a change, and that the side making changes pays no
//! syscall while nobody sleeps.
//!
//! # State encoding
//!
//! One futex word, generic over where it lives ([`Scope`]):
//! - bit 0, `SLEEPY`: someone has announced, since the last wake-up, that
//!   it may go to sleep;
//! - bits 1–31, the epoch: how many wake-ups there have been (wrapping).
//!
//! # Memory ordering and why no wake-up is lost
//!
//! A waiter *announces* (`fetch_or(SLEEPY)`, noting the word it made),
//! issues a `SeqCst` fence, and only then re-checks its condition; it
//! sleeps on the futex only while the word is still the one it noted. A
//! notifier makes its change first, then a `SeqCst` fence, then reads the
//! word: if `SLEEPY` is set, it clears the bit and bumps the epoch in one
//! CAS (`w + 1` does both, since bit 0 is set) and wakes every sleeper.
//!
//! The two fences are totally ordered. If the notifier's comes first, the
//! waiter's re-check sees the change and it does not sleep. If the
//! waiter's comes first, the notifier's read sees `SLEEPY` (or a later
//! word whose own notifier wakes everyone who announced before it), and
//! its CAS either precedes the waiter's futex call, which then finds the
//! word changed and returns at once, or it follows and the wake finds the
//! waiter asleep. All sleepers of a generation are woken, so a wake-up can
//! never go to one thread while another that needed it sleeps on.
//!
//! # Notifying without a fence: `notify_sc`
//!
//! The notifier's fence is a locked instruction (`lock or` on x86), paid
//! on every put and get while nobody sleeps. Where the change is itself
//! made by a `SeqCst` read-modify-write (a queue claiming a slot with a
//! `SeqCst` CAS on its tail or head) and the waiter's `attempt` reads that
//! variable after a `SeqCst` fence before it says "nothing there" (and
//! waits, without sleeping, for a claim it sees but whose value is not
//! written yet), [`EventCount::notify_sc`] replaces fence-and-load by one
//! `SeqCst` load of the word. The argument is the same with the change's
//! RMW in the place of the fence: the RMW and the load are both in the
//! single total order of `SeqCst` operations, after each other. If the
//! waiter's fence comes before the load, the load sees `SLEEPY` (the
//! announce is sequenced before that fence); if after, the RMW precedes the
//! fence too, and the waiter's read after its fence sees the change. On
//! x86 the load is a plain `mov`. (loom models `SeqCst` accesses as
//! `AcqRel`, so under `--cfg loom` `notify_sc` keeps the fence: the models
//! check the fenced protocol, of which this is the `SeqCst`-RMW form.)
//!
//! # Tasks
//!
//! An async waiter ([`EventCount::poll_until`], private words only) follows
//! the same protocol with "sleep" replaced by registering its `Waker` in
//! `sys::wakers`' table on the noted word: the registration is refused if
//! the word moved (as `futex_wait` returns at once), and a wake-up, after
//! its CAS, wakes every registered task beside the sleeping threads. So
//! threads and tasks wait on one event count together, and a task dropped
//! after a wake-up loses nothing: everyone waiting was woken.
//!
//! # Waking one: `notify_one`
//!
//! For a change any one waiter can act on (a job for any idle worker),
//! [`EventCount::notify_one`] wakes one sleeper instead of all. A second
//! word, `sleepers`, counts the waiters that are in (or entering) the
//! futex wait: a waiter adds itself after its failed re-check, then a
//! `SeqCst` fence, then `futex_wait`, and removes itself when that returns.
//! `notify_one`, after the usual fence and load, finding `SLEEPY`:
//! - with `sleepers > 0`, bumps the epoch *keeping* `SLEEPY` (`w + 2`: the
//!   others still asleep must stay findable) and wakes one;
//! - with `sleepers == 0`, clears `SLEEPY` (`w + 1`), then a `SeqCst`
//!   fence, then reads `sleepers` again and wakes all if someone has come
//!   in since.
//!
//! No wake-up is lost: a waiter that announced but is not yet counted
//! either counts itself before that second read (and is woken, or finds
//! the word changed when its `futex_wait` compares it) or after it (and
//! its `futex_wait` compares after the clear, finds the word changed, and
//! re-checks). A waiter already counted is woken, or is a sleeper that
//! keeps `SLEEPY` set for the next `notify_one`.
//!
//! # Cost
//!
//! A notify with nobody asleep is a fence and one load (`notify_sc`: one
//! load): no RMW, no syscall.
//! A run of notifies while a waiter sleeps costs one wake-up, since the
//! first clears `SLEEPY`. The price is that every sleeper of a generation
//! wakes; those that find nothing announce again. `notify_one` makes one
//! syscall per sleeper woken, and none while nobody sleeps (with `SLEEPY`
//! set by a waiter that found work, a CAS and a load).

use core::marker::PhantomData;

use super::atomic::{AtomicU32, Ordering::*, fence};
use super::deadline::Deadline;
use super::futex::{self, Wake};
use super::futex::{Private, Scope};
use super::wakers::{self, WaitSlot};

/// Someone may be asleep on the word.
const SLEEPY: u32 = 1;

/// Threads sleeping until a condition may have changed; see the module
/// documentation for the protocol.
#[repr(C)]
pub(crate) struct EventCount<S: Scope = Private> {
    word: AtomicU32,
    /// Waiters in, or about to enter, `futex_wait` (for `notify_one`).
    sleepers: AtomicU32,
    _scope: PhantomData<fn() -> S>,
}

impl<S: Scope> EventCount<S> {
    super::atomic::const_fn! {
        /// Nobody waiting, epoch 0.
        pub(crate) const fn new() -> Self {
            EventCount {
                word: AtomicU32::new(0),
                sleepers: AtomicU32::new(0),
                _scope: PhantomData,
            }
        }
    }

    /// Run `attempt` until it gives `Some`, sleeping in between; `None`
    /// once `deadline` has passed (after one last attempt).
    ///
    /// The caller has already made (and failed) its first attempt, and
    /// spun if it wanted to: this is the slow path. If `deadline` has
    /// already passed on entry, that first attempt was the last.
    #[cold]
    pub(crate) fn block_until<R>(
        &self,
        deadline: Deadline,
        attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        if !super::trace::on() {
            return self.block(deadline, attempt);
        }
        let since = std::time::Instant::now();
        let r = self.block(deadline, attempt);
        super::trace::waited("wait", since);
        r
    }

    fn block<R>(&self, deadline: Deadline, mut attempt: impl FnMut() -> Option<R>) -> Option<R> {
        if deadline.expired() {
            return None;
        }
        loop {
            // Announce, then look: see the module doc for why this order.
            let seen = self.word.fetch_or(SLEEPY, Relaxed) | SLEEPY;
            fence(SeqCst);
            if let Some(r) = attempt() {
                return Some(r);
            }
            self.sleepers.fetch_add(1, SeqCst);
            // Pairs with `wake_one`'s fence after its clear: see the
            // module doc.
            fence(SeqCst);
            let woke = futex::wait::<S>(&self.word, seen, deadline);
            self.sleepers.fetch_sub(1, SeqCst);
            if woke == Wake::TimedOut && deadline.expired() {
                return attempt();
            }
            // Look before announcing again: if the change we were woken
            // for is there, no notifier needs to pay for a wake-up.
            if let Some(r) = attempt() {
                return Some(r);
            }
        }
    }

    /// The condition may have changed: wake the sleepers, if any. Call
    /// after the change is made (visible to the waiters' `attempt`).
    #[inline]
    pub(crate) fn notify(&self) {
        fence(SeqCst);
        let w = self.word.load(Relaxed);
        if w & SLEEPY != 0 {
            self.wake(w);
        }
    }

    /// [`notify`](Self::notify) for a change made by a `SeqCst`
    /// read-modify-write that the waiters' `attempt` reads after a `SeqCst`
    /// fence before it reports failure (see the module documentation): no
    /// fence, one `SeqCst` load while nobody sleeps.
    #[inline]
    pub(crate) fn notify_sc(&self) {
        // loom models SeqCst accesses as AcqRel: it checks the fenced form.
        #[cfg(loom)]
        fence(SeqCst);
        let w = self.word.load(SeqCst);
        if w & SLEEPY != 0 {
            self.wake(w);
        }
    }

    /// The condition may have changed in a way any one waiter can act on:
    /// wake one sleeper, if any (see the module documentation). Call after
    /// the change is made.
    #[inline]
    pub(crate) fn notify_one(&self) {
        fence(SeqCst);
        let w = self.word.load(Relaxed);
        if w & SLEEPY != 0 {
            self.wake_one(w);
        }
    }

    #[cold]
    fn wake_one(&self, mut w: u32) {
        while w & SLEEPY != 0 {
            let asleep = self.sleepers.load(SeqCst) > 0;
            // Asleep: bump the epoch keeping SLEEPY (others may sleep on).
            // Nobody: clear SLEEPY and bump the epoch.
            let next = w.wrapping_add(if asleep { 2 } else { 1 });
            match self.word.compare_exchange_weak(w, next, Release, Relaxed) {
                Ok(_) if asleep => {
                    futex::wake_one::<S>(&self.word);
                    self.wake_tasks();
                    return;
                }
                Ok(_) => {
                    // Someone who counted itself since the first look may
                    // sleep on the word we just changed; wake them all (see
                    // the module doc).
                    fence(SeqCst);
                    if self.sleepers.load(SeqCst) > 0 {
                        futex::wake_all::<S>(&self.word);
                    }
                    self.wake_tasks();
                    return;
                }
                Err(now) => w = now,
            }
        }
    }

    #[cold]
    fn wake(&self, mut w: u32) {
        // `w + 1` clears SLEEPY and bumps the epoch in one step, so any
        // waiter that noted the old word finds it changed.
        while w & SLEEPY != 0 {
            match self
                .word
                .compare_exchange_weak(w, w.wrapping_add(1), Release, Relaxed)
            {
                Ok(_) => {
                    futex::wake_all::<S>(&self.word);
                    self.wake_tasks();
                    return;
                }
                Err(now) => w = now,
            }
        }
    }

    /// Wakes every task registered on the word (`poll_until`), after the
    /// CAS that moved it, as `sys::wakers` requires. `notify_one` wakes them
    /// all too: a task is not counted in `sleepers`, so waking one thread
    /// could otherwise leave a task waiting on a word that has moved on.
    #[inline]
    fn wake_tasks(&self) {
        if !S::SHARED {
            wakers::wake(&self.word, u32::MAX);
        }
    }
}

impl EventCount<Private> {
    /// One poll of an async wait: `Some` once `attempt` succeeds, `None`
    /// after registering `waker` on the word (then return `Pending`; a
    /// notify wakes it). The caller keeps `slot` across polls and drops it
    /// with the future (see `sys::wakers` for what a drop does).
    pub(crate) fn poll_until<R>(
        &self,
        slot: &mut WaitSlot,
        waker: &core::task::Waker,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        loop {
            if let Some(r) = attempt() {
                slot.finish();
                return Some(r);
            }
            // Announce, then look (as `block_until`), then register only
            // if the word is still the one announced.
            let seen = self.word.fetch_or(SLEEPY, Relaxed) | SLEEPY;
            fence(SeqCst);
            if let Some(r) = attempt() {
                slot.finish();
                return Some(r);
            }
            if slot.register(&self.word, seen, waker) {
                return None;
            }
        }
    }
}

impl<S: Scope> Default for EventCount<S> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[test]
    fn block_until_returns_what_the_attempt_found() {
        let ec = EventCount::<Private>::new();
        let mut tries = 0;
        let r = ec.block_until(Deadline::Never, || {
            tries += 1;
            (tries == 1).then_some(7)
        });
        assert_eq!(r, Some(7));
    }

    #[test]
    fn block_until_gives_up_at_the_deadline() {
        let ec = EventCount::<Private>::new();
        assert_eq!(ec.block_until(Deadline::now(), || Some(1)), None);
        let d = Deadline::after(Duration::from_millis(2));
        assert_eq!(ec.block_until(d, || None::<()>), None);
        assert!(d.expired());
    }

    #[test]
    fn notify_wakes_a_sleeper() {
        let ec = Arc::new(EventCount::<Private>::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (ec2, flag2) = (ec.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            ec2.block_until(Deadline::Never, || flag2.load(Acquire).then_some(()))
        });
        flag.store(true, Release);
        ec.notify();
        assert_eq!(t.join().unwrap(), Some(()));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The protocol against loom's futex model: a lost wake-up shows as a
    //! deadlock. (Checked once by hand: with `notify`'s fence removed,
    //! `event_count_two_waiters_two_notifies` fails with "deadlock".)
    use super::*;
    use crate::sys::atomic::AtomicU32;
    use loom::sync::Arc;
    use loom::thread;

    fn builder(bound: usize) -> loom::model::Builder {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(bound);
        b
    }

    /// One waiter for a flag, one notifier: the waiter always wakes.
    #[test]
    fn event_count_one_waiter() {
        builder(3).check(|| {
            let ec = Arc::new(EventCount::<Private>::new());
            let flag = Arc::new(AtomicU32::new(0));
            let (ec2, flag2) = (ec.clone(), flag.clone());
            let t = thread::spawn(move || {
                flag2.store(1, Relaxed);
                ec2.notify();
            });
            let r = ec.block_until(Deadline::Never, || (flag.load(Relaxed) == 1).then_some(()));
            assert_eq!(r, Some(()));
            t.join().unwrap();
        });
    }

    /// Two waiters each take one token from a counter that two `notify`
    /// calls fill; both wake, no token is lost. Then one more `notify`
    /// with nobody asleep is harmless.
    fn two_waiters_two_tokens(notify: fn(&EventCount<Private>)) {
        builder(2).check(move || {
            let ec = Arc::new(EventCount::<Private>::new());
            let tokens = Arc::new(AtomicU32::new(0));
            let take = |t: &AtomicU32| {
                t.fetch_update(AcqRel, Acquire, |n| n.checked_sub(1))
                    .ok()
                    .map(|_| ())
            };
            let ws: Vec<_> = (0..2)
                .map(|_| {
                    let (ec, tokens) = (ec.clone(), tokens.clone());
                    thread::spawn(move || ec.block_until(Deadline::Never, || take(&tokens)))
                })
                .collect();
            for _ in 0..2 {
                tokens.fetch_add(1, Release);
                notify(&ec);
            }
            for w in ws {
                assert_eq!(w.join().unwrap(), Some(()));
            }
            notify(&ec);
            assert_eq!(tokens.load(Relaxed), 0);
        });
    }

    #[test]
    fn event_count_two_waiters_two_notifies() {
        two_waiters_two_tokens(EventCount::notify);
    }

    /// The same with `notify_one`. (Checked once by hand: without the
    /// fence between a waiter counting itself and its `futex_wait`, this
    /// fails with "deadlock".)
    #[test]
    fn event_count_notify_one_two_waiters() {
        two_waiters_two_tokens(EventCount::notify_one);
    }

    /// A waiter that wakes for a token, then waits for a second one that
    /// comes with a `notify_one` from another thread: the clearing path
    /// (nobody counted asleep) must not strand it.
    #[test]
    fn event_count_notify_one_waiter_twice() {
        builder(3).check(|| {
            let ec = Arc::new(EventCount::<Private>::new());
            let tokens = Arc::new(AtomicU32::new(0));
            let take = |t: &AtomicU32| {
                t.fetch_update(AcqRel, Acquire, |n| n.checked_sub(1))
                    .ok()
                    .map(|_| ())
            };
            let (ec2, tokens2) = (ec.clone(), tokens.clone());
            let t = thread::spawn(move || {
                for _ in 0..2 {
                    tokens2.fetch_add(1, Release);
                    ec2.notify_one();
                }
            });
            for _ in 0..2 {
                assert_eq!(ec.block_until(Deadline::Never, || take(&tokens)), Some(()));
            }
            t.join().unwrap();
        });
    }
}

impl EventCount<crate::sys::Shared> {
    /// For a task waiting on another process's [`notify`](Self::notify)
    /// through `sys::futex_bridge`: announce as [`block_until`](Self::block_until)
    /// does, then (after the caller's re-try fails) wait on the returned
    /// word while it holds the returned value. Only `notify` (which wakes
    /// every sleeper) reaches a bridged task: `notify_one` wakes only those
    /// counted in `sleepers`.
    pub(crate) fn announce(&self) -> (&AtomicU32, u32) {
        let seen = self.word.fetch_or(SLEEPY, Relaxed) | SLEEPY;
        fence(SeqCst);
        (&self.word, seen)
    }
}
