//! `RawCondvar`: a condition variable on one futex word (a notification
//! sequence, as std's futex condvar), generic over `Scope`, for the
//! process-shared `Condition` (and `Barrier`) to come. The private
//! `threading::Condition` keeps its own per-waiter list (see
//! `docs/design-notes.md`: it must not let a timed-out waiter absorb a
//! notification, which a sequence word cannot promise).
//!
//! # State encoding
//!
//! One `AtomicU32`, `seq`: bumped (wrapping) by every notify. A waiter
//! remembers the value it saw before releasing the lock and sleeps only
//! while the word still holds it.
//!
//! # Memory ordering
//!
//! Everything is `Relaxed`: the data the condition is about is protected by
//! the caller's lock, which orders it. The only question `seq` answers is
//! "has anyone notified since I looked?", and coherence answers it: the
//! waiter reads `seq` while it holds the lock; a notifier that changed the
//! condition did so under the lock after the waiter released it, so its
//! bump comes after the value the waiter read in `seq`'s modification
//! order.
//!
//! # Why no wake-up is lost
//!
//! A notify that comes after the waiter's look bumps `seq` before it wakes;
//! `futex_wait(seq, seen)` refuses to sleep once `seq != seen`, atomically
//! with respect to the wake. So the waiter either sees the bump and does not
//! sleep, or is asleep (queued) when the wake comes. Wake-ups may be
//! spurious (a notify meant for another waiter, a wrapped sequence after
//! 2^32 notifies between a look and a sleep): callers re-check their
//! condition, as with every condition variable.

use core::marker::PhantomData;

use super::lock::RawLock;
use crate::sys::atomic::{AtomicU32, Ordering::*, const_fn};
use crate::sys::futex::{self, Wake};
use crate::sys::{Deadline, Private, Scope};

/// The condition variable algorithm: one sequence word, usable in private
/// memory (threads) or in a shared mapping (processes, `S = Shared`).
#[repr(C)]
pub(crate) struct RawCondvar<S: Scope = Private> {
    seq: AtomicU32,
    _scope: PhantomData<S>,
}

#[allow(dead_code)] // the process-shared Condition is its first user
impl<S: Scope> RawCondvar<S> {
    const_fn! {
        pub(crate) const fn new() -> Self {
            RawCondvar { seq: AtomicU32::new(0), _scope: PhantomData }
        }
    }

    /// Release `lock` (held by the caller), sleep until notified or
    /// `deadline`, and take `lock` back. Returns `false` if the deadline
    /// passed; either way the caller re-checks its condition.
    pub(crate) fn wait(&self, lock: &RawLock<S>, deadline: Deadline) -> bool {
        let seen = self.look();
        lock.unlock();
        let woke = self.sleep(seen, deadline);
        lock.lock(Deadline::Never);
        woke
    }

    /// The first half of a wait, for locks other than [`RawLock`]: read the
    /// sequence while the lock is still held, then release the lock and
    /// call [`sleep`](Self::sleep) with the value.
    #[inline]
    pub(crate) fn look(&self) -> u32 {
        self.seq.load(Relaxed)
    }

    /// Sleep while no notify came since `seen` was read, until `deadline`.
    /// Returns `false` if the deadline passed.
    pub(crate) fn sleep(&self, seen: u32, deadline: Deadline) -> bool {
        !(futex::wait::<S>(&self.seq, seen, deadline) == Wake::TimedOut && deadline.expired())
    }

    /// The futex word (for an async waiter through `sys::futex_bridge`:
    /// wait while it holds the value [`look`](Self::look) gave).
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.seq
    }

    /// Wake one waiter, if any (a `notify()`).
    #[inline]
    pub(crate) fn notify_one(&self) {
        self.seq.fetch_add(1, Relaxed);
        futex::wake_one::<S>(&self.seq);
    }

    /// Wake every waiter (a `notify_all()`).
    #[inline]
    pub(crate) fn notify_all(&self) {
        self.seq.fetch_add(1, Relaxed);
        futex::wake_all::<S>(&self.seq);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sys::atomic::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    /// A waiter waits for a flag set under the lock by a notifier: it always
    /// returns (loom reports a lost wake-up as a deadlock).
    #[test]
    fn condvar_wait_notify_no_lost_wakeup() {
        loom::model(|| {
            let lock = Arc::new(RawLock::<Private>::new());
            let cv = Arc::new(RawCondvar::<Private>::new());
            let flag = Arc::new(UnsafeCell::new(false));
            let (l2, c2, f2) = (lock.clone(), cv.clone(), flag.clone());
            let notifier = thread::spawn(move || {
                l2.lock(Deadline::Never);
                // SAFETY: the lock is held.
                f2.with_mut(|p| unsafe { *p = true });
                l2.unlock();
                c2.notify_one();
            });
            lock.lock(Deadline::Never);
            // SAFETY: the lock is held around every access to the flag.
            while !flag.with(|p| unsafe { *p }) {
                cv.wait(&lock, Deadline::Never);
            }
            lock.unlock();
            notifier.join().unwrap();
        });
    }

    /// `notify_all` reaches two waiters.
    #[test]
    fn condvar_notify_all_wakes_both() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let lock = Arc::new(RawLock::<Private>::new());
            let cv = Arc::new(RawCondvar::<Private>::new());
            let flag = Arc::new(UnsafeCell::new(false));
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let (l, c, f) = (lock.clone(), cv.clone(), flag.clone());
                    thread::spawn(move || {
                        l.lock(Deadline::Never);
                        // SAFETY: the lock is held around every access.
                        while !f.with(|p| unsafe { *p }) {
                            c.wait(&l, Deadline::Never);
                        }
                        l.unlock();
                    })
                })
                .collect();
            lock.lock(Deadline::Never);
            // SAFETY: the lock is held.
            flag.with_mut(|p| unsafe { *p = true });
            cv.notify_all();
            lock.unlock();
            for t in ths {
                t.join().unwrap();
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The same algorithm in the shared scope: a waiter and a notifier on
    /// two threads hand a counter back and forth, nothing is lost.
    #[test]
    fn shared_scope_ping_pong() {
        use crate::sys::Shared;
        let lock = RawLock::<Shared>::new();
        let cv = RawCondvar::<Shared>::new();
        let turn = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for me in 0..2u32 {
                let (lock, cv, turn) = (&lock, &cv, &turn);
                s.spawn(move || {
                    for _ in 0..1000 {
                        lock.lock(Deadline::Never);
                        while turn.load(std::sync::atomic::Ordering::Relaxed) != me {
                            cv.wait(lock, Deadline::Never);
                        }
                        turn.store(1 - me, std::sync::atomic::Ordering::Relaxed);
                        cv.notify_one();
                        lock.unlock();
                    }
                });
            }
        });
    }

    /// A timed wait with nobody notifying reports the timeout and holds the
    /// lock again.
    #[test]
    fn timed_wait_times_out_holding_the_lock() {
        let lock = RawLock::<Private>::new();
        let cv = RawCondvar::<Private>::new();
        lock.lock(Deadline::Never);
        assert!(!cv.wait(&lock, Deadline::now()));
        assert!(lock.is_locked());
        assert!(lock.unlock());
    }
}
