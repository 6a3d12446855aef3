//! `RawSemaphore`: the semaphore algorithm (a count and a waiter count),
//! generic over `Scope`; `threading::{Semaphore, BoundedSemaphore}` are its
//! private home.
//! `threading.BoundedSemaphore`, on one futex word plus a waiter count.
//!
//! # State encoding
//!
//! Two `AtomicU32`s, laid out `#[repr(C)]` so that the same algorithm can
//! live in a shared mapping (`S = Shared`, multiprocessing):
//! - `count`: the semaphore's value, the number of permits free now. This is
//!   the futex word: waiters sleep while it is `0`.
//! - `waiters`: how many threads are in the slow path (about to sleep, or
//!   sleeping). A release only makes the `futex_wake` syscall when it is
//!   non-zero, so an uncontended release is one CAS and a fence.
//! - `tasks`: how many async acquires (`AcquireWait`, private scope only)
//!   are in the slow path. A release only goes to the waker table when it
//!   is non-zero, and only makes the syscall when `waiters` is: tasks and
//!   threads each pay only for their own kind (a task-only contention makes
//!   no syscall; a thread-only one never touches the table's fence and
//!   global count). Always 0 in a shared mapping.
//!
//! A bounded semaphore is the same algorithm with a ceiling on `count`.
//! Neither kind has an owner: any thread may release.
//!
//! # Memory ordering
//!
//! Taking a permit is an `Acquire` CAS that reads the `Release` CAS of the
//! release that made the permit, so what the releaser wrote before
//! releasing happens-before what the acquirer does after acquiring.
//!
//! # Why no wake-up is lost
//!
//! This is the store-buffer (Dekker) pattern, closed with two `SeqCst`
//! fences. A waiter increments `waiters`, fences, then checks `count` (and
//! `futex_wait(count, 0)` checks it again, atomically with respect to
//! `futex_wake`). A releaser increments `count`, fences, then reads
//! `waiters`. The fences are totally ordered: if the waiter's comes first,
//! the releaser sees `waiters > 0` and wakes; if the releaser's comes first,
//! the waiter sees the new `count` and does not sleep. A waiter stays counted
//! for its whole slow path, so a wake-up that lands on it while it is awake
//! is not needed: it re-checks `count` before each sleep. `release(n)` wakes
//! up to `n` sleepers, one per permit; a woken thread that finds the permit
//! taken by a newcomer sleeps again (the permit was not lost, it was used).
//!
//! # Fairness
//!
//! None is promised, as in Python: CPython 3.13's `Semaphore` notifies the
//! oldest waiter of its `Condition`, but a thread arriving at the right
//! moment can still take the permit first ("barging"). Here sleepers are
//! woken in the kernel's futex queue order (first come, first woken among
//! threads of equal priority) and a newcomer may likewise take a released
//! permit before the woken thread runs. Barging keeps permits busy; a
//! strictly FIFO semaphore would hand each permit to a thread that is not
//! yet running.

use core::marker::PhantomData;

use crate::sys::atomic::{AtomicU32, Ordering::*, const_fn, fence};
use crate::sys::futex::{self, Wake};
use crate::sys::wakers::{self, WaitSlot};
use crate::sys::{Deadline, Private, Scope, spin_while};

/// The semaphore algorithm: a count and a waiter count, usable in private
/// memory (threads) or in a shared mapping (processes, `S = Shared`).
#[repr(C)]
pub(crate) struct RawSemaphore<S: Scope = Private> {
    /// Free permits; the futex word.
    count: AtomicU32,
    /// Threads in the slow path of `acquire`.
    waiters: AtomicU32,
    /// Tasks in the slow path of an async acquire (private scope only).
    tasks: AtomicU32,
    _scope: PhantomData<S>,
}

/// Why a raw release changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OverCeiling;

#[allow(dead_code)]
impl<S: Scope> RawSemaphore<S> {
    const_fn! {
        pub(crate) const fn new(value: u32) -> Self {
            RawSemaphore {
                count: AtomicU32::new(value),
                waiters: AtomicU32::new(0),
                tasks: AtomicU32::new(0),
                _scope: PhantomData,
            }
        }
    }

    /// Take a permit if one is free now; never blocks.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let mut c = self.count.load(Relaxed);
        while c > 0 {
            match self.count.compare_exchange_weak(c, c - 1, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    /// Take a permit, giving up at `deadline`. Returns whether one was taken.
    #[inline]
    pub(crate) fn acquire(&self, deadline: Deadline) -> bool {
        self.try_acquire() || self.acquire_contended(deadline)
    }

    #[cold]
    fn acquire_contended(&self, deadline: Deadline) -> bool {
        // A permit often comes back within a few hundred nanoseconds.
        if spin_while(&self.count, |c| c == 0) != 0 && self.try_acquire() {
            return true;
        }
        self.waiters.fetch_add(1, Relaxed);
        // Pairs with the fence in `release`: see the head comment.
        fence(SeqCst);
        let got = loop {
            if self.try_acquire() {
                break true;
            }
            if futex::wait::<S>(&self.count, 0, deadline) == Wake::TimedOut && deadline.expired() {
                // One last look: a permit may have come as we gave up.
                break self.try_acquire();
            }
        };
        self.waiters.fetch_sub(1, Relaxed);
        got
    }

    /// Add `n` permits unless that would take the count above `ceiling`, in
    /// which case nothing changes. The check and the add are one atomic step,
    /// so two racing releases can never both pass a ceiling that has room for
    /// one. Wakes up to `n` sleepers.
    #[inline]
    pub(crate) fn release(&self, n: u32, ceiling: u32) -> Result<(), OverCeiling> {
        let mut c = self.count.load(Relaxed);
        loop {
            let new = match c.checked_add(n) {
                Some(v) if v <= ceiling => v,
                _ => return Err(OverCeiling),
            };
            match self.count.compare_exchange_weak(c, new, Release, Relaxed) {
                Ok(_) => break,
                Err(now) => c = now,
            }
        }
        // Pairs with the fences in `acquire_contended` and
        // `AcquireWait::poll` (one Dekker pair per kind of waiter).
        fence(SeqCst);
        let threads = self.waiters.load(Relaxed) != 0;
        let tasks = !S::SHARED && self.tasks.load(Relaxed) != 0;
        if threads || tasks {
            self.wake(n, threads, tasks);
        }
        Ok(())
    }

    #[cold]
    fn wake(&self, n: u32, threads: bool, tasks: bool) {
        if threads {
            futex::wake::<S>(&self.count, n);
        }
        if tasks {
            wakers::wake(&self.count, n);
        }
    }

    /// For an async acquire through `sys::futex_bridge` (another process
    /// may release): count the task in `waiters`, as a sleeping thread,
    /// so that a release makes its `futex_wake`; undo with
    /// [`withdraw`](Self::withdraw) when it completes or is dropped. Then
    /// wait on [`word`](Self::word) while it is 0.
    pub(crate) fn announce(&self) {
        self.waiters.fetch_add(1, Relaxed);
        // Pairs with the fence in `release`: see the head comment.
        fence(SeqCst);
    }

    /// Undo one [`announce`](Self::announce).
    pub(crate) fn withdraw(&self) {
        self.waiters.fetch_sub(1, Relaxed);
    }

    /// The futex word: the free permits.
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.count
    }

    /// The number of free permits (a snapshot).
    #[inline]
    pub(crate) fn value(&self) -> u32 {
        self.count.load(Relaxed)
    }
}

/// An async acquire in progress (the protocol is `sys::wakers`'s): a task
/// in the slow path is counted in `tasks`, as a sleeping thread is in
/// `waiters`, so a release wakes it; it stays counted until it completes or
/// is dropped. Private scope only (see `sys::wakers`).
pub(crate) struct AcquireWait<'a> {
    sem: &'a RawSemaphore<Private>,
    slot: WaitSlot,
    counted: bool,
}

impl<'a> AcquireWait<'a> {
    pub(crate) fn new(sem: &'a RawSemaphore<Private>) -> Self {
        AcquireWait {
            sem,
            slot: WaitSlot::new(),
            counted: false,
        }
    }

    /// One poll: `true` once a permit is taken (then the caller owns it).
    pub(crate) fn poll(&mut self, waker: &core::task::Waker) -> bool {
        if !self.counted {
            if self.sem.try_acquire() {
                return true;
            }
            self.sem.tasks.fetch_add(1, Relaxed);
            // Pairs with the fence in `release`: see the head comment.
            fence(SeqCst);
            self.counted = true;
        }
        loop {
            if self.sem.try_acquire() {
                self.done();
                return true;
            }
            if self.slot.register(&self.sem.count, 0, waker) {
                return false;
            }
        }
    }

    fn done(&mut self) {
        self.slot.finish();
        if core::mem::take(&mut self.counted) {
            self.sem.tasks.fetch_sub(1, Relaxed);
        }
    }
}

impl Drop for AcquireWait<'_> {
    fn drop(&mut self) {
        // Uncount; the slot's own drop passes on a notification it got.
        if core::mem::take(&mut self.counted) {
            self.sem.tasks.fetch_sub(1, Relaxed);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sys::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;

    fn bounded() -> loom::model::Builder {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b
    }

    /// One permit, a holder and a blocked waiter: the hand-off wakes the
    /// waiter (loom reports a lost wake-up as a deadlock) and no more than
    /// one thread ever holds a permit.
    #[test]
    fn semaphore_handoff_no_lost_wakeup() {
        bounded().check(|| {
            let sem = Arc::new(RawSemaphore::<Private>::new(1));
            let holders = Arc::new(AtomicUsize::new(0));
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let (sem, holders) = (sem.clone(), holders.clone());
                    thread::spawn(move || {
                        assert!(sem.acquire(Deadline::Never));
                        assert_eq!(holders.fetch_add(1, SeqCst), 0, "count exceeded");
                        holders.fetch_sub(1, SeqCst);
                        sem.release(1, u32::MAX).unwrap();
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            assert_eq!(sem.value(), 1);
        });
    }

    /// Two permits, three threads (one always has to wait), with mixed
    /// `release(1)`: the count is never exceeded and nobody is left asleep.
    #[test]
    fn semaphore_three_threads_two_permits() {
        bounded().check(|| {
            let sem = Arc::new(RawSemaphore::<Private>::new(2));
            let holders = Arc::new(AtomicUsize::new(0));
            let ths: Vec<_> = (0..3)
                .map(|_| {
                    let (sem, holders) = (sem.clone(), holders.clone());
                    thread::spawn(move || {
                        assert!(sem.acquire(Deadline::Never));
                        assert!(holders.fetch_add(1, SeqCst) < 2, "count exceeded");
                        holders.fetch_sub(1, SeqCst);
                        sem.release(1, u32::MAX).unwrap();
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            assert_eq!(sem.value(), 2);
        });
    }

    /// `release(2)` from zero must let two blocked waiters through.
    #[test]
    fn semaphore_release_n_wakes_n() {
        bounded().check(|| {
            let sem = Arc::new(RawSemaphore::<Private>::new(0));
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let sem = sem.clone();
                    thread::spawn(move || assert!(sem.acquire(Deadline::Never)))
                })
                .collect();
            sem.release(2, u32::MAX).unwrap();
            for t in ths {
                t.join().unwrap();
            }
            assert_eq!(sem.value(), 0);
        });
    }

    /// Async waiters: a task (loom's `block_on` parks it until woken) and a
    /// thread wait for the one permit a releaser makes, then pass it back;
    /// a third, registered task is dropped midway (its notification, if it
    /// had one, passes on). Nothing is lost: loom reports a lost wake-up as
    /// a deadlock, and the permit count comes back to one.
    #[test]
    fn semaphore_async_register_vs_release() {
        bounded().check(|| {
            let sem = Arc::new(RawSemaphore::<Private>::new(0));
            let waker = core::task::Waker::noop().clone();
            let mut dropped = AcquireWait::new(&sem);
            assert!(!dropped.poll(&waker));
            let s2 = sem.clone();
            let task = thread::spawn(move || {
                let mut w = AcquireWait::new(&s2);
                crate::sys::wakers::block_on_model(|waker| w.poll(waker).then_some(()));
                drop(w);
                s2.release(1, u32::MAX).unwrap();
            });
            let s3 = sem.clone();
            let th = thread::spawn(move || {
                assert!(s3.acquire(Deadline::Never));
                s3.release(1, u32::MAX).unwrap();
            });
            sem.release(1, u32::MAX).unwrap();
            drop(dropped);
            task.join().unwrap();
            th.join().unwrap();
            assert_eq!(sem.value(), 1);
            assert_eq!(sem.waiters.load(Relaxed), 0);
            assert_eq!(sem.tasks.load(Relaxed), 0);
        });
    }

    /// Tasks alone: with no thread counted in `waiters`, a release makes no
    /// futex wake and must still reach the registered task through the
    /// `tasks` count (loom reports a missed one as a deadlock).
    #[test]
    fn semaphore_async_tasks_only() {
        bounded().check(|| {
            let sem = Arc::new(RawSemaphore::<Private>::new(0));
            let s2 = sem.clone();
            let task = thread::spawn(move || {
                let mut w = AcquireWait::new(&s2);
                crate::sys::wakers::block_on_model(|waker| w.poll(waker).then_some(()));
            });
            sem.release(1, u32::MAX).unwrap();
            task.join().unwrap();
            assert_eq!(sem.value(), 0);
            assert_eq!(sem.tasks.load(Relaxed), 0);
        });
    }

    /// A timed-out waiter must not swallow a permit's wake-up meant for a
    /// blocking one.
    #[test]
    fn semaphore_timeout_does_not_lose_wakeup() {
        bounded().check(|| {
            let sem = Arc::new(RawSemaphore::<Private>::new(0));
            let s2 = sem.clone();
            let timed = thread::spawn(move || {
                if s2.acquire(Deadline::now()) {
                    s2.release(1, u32::MAX).unwrap();
                }
            });
            let s3 = sem.clone();
            let blocking = thread::spawn(move || assert!(s3.acquire(Deadline::Never)));
            sem.release(1, u32::MAX).unwrap();
            timed.join().unwrap();
            blocking.join().unwrap();
            assert_eq!(sem.value(), 0);
        });
    }

    /// Two racing over-releases of a bounded semaphore with room for one:
    /// exactly one succeeds and the count never passes the ceiling.
    #[test]
    fn bounded_release_race() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::<Private>::new(0));
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let sem = sem.clone();
                    thread::spawn(move || {
                        let r = sem.release(1, 1).is_ok();
                        assert!(sem.value() <= 1);
                        r
                    })
                })
                .collect();
            let ok: usize = ths.into_iter().map(|t| t.join().unwrap() as usize).sum();
            assert_eq!(ok, 1);
            assert_eq!(sem.value(), 1);
        });
    }

    /// The semaphore's protocol across the futex bridge: a task (counted in
    /// `waiters` as a sleeping thread) and a blocked thread wait for the
    /// two permits two `release(1)`s make, each waking one kernel waiter
    /// (the thread, or the bridge on the task's behalf). Both get one.
    #[test]
    fn bridge_semaphore_task_and_thread() {
        use crate::sys::Shared;
        use crate::sys::futex_bridge::loom_tests::{block_on, with_bridge};
        use crate::sys::futex_bridge::{BridgeWait, Step};
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(1);
        b.check(|| {
            with_bridge(|bridge| {
                let sem = Arc::new(RawSemaphore::<Shared>::new(0));
                let s2 = sem.clone();
                let th = thread::spawn(move || assert!(s2.acquire(Deadline::Never)));
                let s3 = sem.clone();
                let releaser = thread::spawn(move || {
                    for _ in 0..2 {
                        s3.release(1, u32::MAX).unwrap();
                    }
                });
                sem.announce();
                let mut w = BridgeWait::on(bridge);
                block_on(|waker| {
                    w.poll(waker, true, || {
                        if sem.try_acquire() {
                            Step::Ready(())
                        } else {
                            Step::Wait {
                                word: sem.word(),
                                expected: 0,
                                recheck: Deadline::Never,
                            }
                        }
                    })
                });
                drop(w);
                sem.withdraw();
                th.join().unwrap();
                releaser.join().unwrap();
                assert_eq!(sem.value(), 0);
            });
        });
    }
}
