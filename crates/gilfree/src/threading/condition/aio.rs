//! The `.await` forms of `Condition` (Python's `asyncio.Condition`): over
//! a `Lock`, `acquire_async`, `wait_async`, `wait_for_async` and the
//! [`ConditionWait`] future; over an `RLock` (Python's default
//! `Condition()`), the same with a [`TaskOwner`] as the owner
//! (`acquire_async`, `wait_async_by`, `wait_for_async_by`, `notify_by`)
//! and the [`ConditionWaitBy`] future.
//!
//! A task waits exactly as a thread does (`core.rs`'s algorithm): its
//! per-waiter word joins the FIFO before the lock is released, a notifier
//! pops it, sets it `NOTIFIED` and wakes it — `futex_wake` for a thread,
//! `sys::wakers::wake` for a task, both called on every notify — and the
//! task registers its waker on that word with `sys::wakers`' check, so no
//! wake-up is lost ([`Queued`], one for both locks). Then it reacquires the
//! lock with the lock's own async wait (`LockWait`, or `RLockWait`
//! restoring the saved levels). `notify(n)` wakes exactly
//! `min(n, waiting)` waiters, threads and tasks alike, in FIFO order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::{fmt, ptr};

use std::task::Waker;

use super::core::{Condition, WAITING, Waiter};
use super::lock::ConditionLock;
use crate::raw::{LockWait, RLockWait};
use crate::sys::atomic::{AtomicU32, Ordering::Acquire};
use crate::sys::wakers::WaitSlot;
use crate::threading::aio::{AsyncLockGuard, LockAcquire};
use crate::threading::error::Error;
use crate::threading::lock::Lock;
use crate::threading::rlock::RLock;
use crate::threading::rlock_aio::{RLockAcquire, TaskOwner};

/// Where a waiting task stands before it has the lock back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In the FIFO, its waker registered (or about to be).
    Queued,
    /// A notifier took it off the FIFO and set its word; not yet returned.
    Notified,
    /// Returned with the lock, or never waited: nothing to give back.
    Done,
}

/// A task's place in a condition's FIFO, for both async waits: the
/// waiter's word, its waker registration and what dropping it owes.
/// Dropped while still queued, it leaves the FIFO; dropped after a
/// notification it never returned from, it passes that notification to
/// the next waiter (as asyncio does).
struct Queued<'a, L: ConditionLock> {
    cond: &'a Condition<L>,
    waiter: Arc<Waiter>,
    /// Registered on `waiter.word` while `Queued`.
    slot: WaitSlot,
    phase: Phase,
}

impl<'a, L: ConditionLock> Queued<'a, L> {
    /// Join the FIFO. Call it before releasing the lock (core.rs: "Why no
    /// wake-up is lost").
    fn enqueue(cond: &'a Condition<L>) -> Self {
        let waiter = Arc::new(Waiter {
            word: AtomicU32::new(WAITING),
        });
        cond.waiters.acquire().push_back(waiter.clone());
        Queued {
            cond,
            waiter,
            slot: WaitSlot::new(),
            phase: Phase::Queued,
        }
    }

    /// Leave the FIFO at once (the lock turned out not to be held, so
    /// nothing was released and no notifier can have run for us).
    fn withdraw(&mut self) {
        self.cond.remove(&self.waiter);
        self.phase = Phase::Done;
    }

    /// One poll: `true` once notified (then reacquire the lock).
    fn poll_notified(&mut self, waker: &Waker) -> bool {
        while self.phase == Phase::Queued {
            if self.waiter.word.load(Acquire) != WAITING {
                self.slot.finish();
                self.phase = Phase::Notified;
            } else if self.slot.register(&self.waiter.word, WAITING, waker) {
                return false;
            }
        }
        true
    }

    /// The wait returned with the lock.
    fn done(&mut self) {
        self.phase = Phase::Done;
    }
}

impl<L: ConditionLock> Drop for Queued<'_, L> {
    fn drop(&mut self) {
        match self.phase {
            Phase::Done => {}
            Phase::Queued => {
                // Nobody else waits on our private word: nothing to pass
                // on there.
                self.slot.finish();
                // A notifier may have taken us off the queue before we saw
                // it: then the notification is ours to pass on.
                if !self.cond.remove(&self.waiter) {
                    self.cond.notify_raw(1);
                }
            }
            Phase::Notified => {
                self.cond.notify_raw(1);
            }
        }
    }
}

impl<T: Send> Condition<Lock<T>> {
    /// Acquire the condition's lock without blocking the thread (Python:
    /// `await cond.acquire()` / `async with cond:` on an
    /// `asyncio.Condition`); see [`Lock::acquire_async`].
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// let cond = Condition::from_lock(Lock::new(0));
    /// futures::executor::block_on(async { *cond.acquire_async().await += 1 });
    /// assert_eq!(*cond.acquire(), 1);
    /// ```
    pub fn acquire_async(&self) -> LockAcquire<'_, T> {
        self.lock.acquire_async()
    }

    /// Release the lock held by `guard`, wait for a notification without
    /// blocking the thread, reacquire the lock and return the guard
    /// (Python: `await cond.wait()` on an `asyncio.Condition`).
    ///
    /// The waiter joins the condition's queue and the lock is released when
    /// this is *called*, so a notify that comes before the first poll is not
    /// missed. Threads ([`wait_guard`](Condition::wait_guard)) and tasks may
    /// wait on one condition at once; `notify(n)` wakes `n` of them in
    /// arrival order.
    ///
    /// Differences from Python: dropping the future before it completes
    /// (e.g. `tokio::time::timeout(d, cond.wait_async(g))` expiring) does
    /// *not* reacquire the lock — the guard was given up; as in asyncio, a
    /// notification it had received passes to the next waiter. Spurious
    /// wake-ups cannot happen, but as in Python, re-check the state (or use
    /// [`wait_for_async`](Condition::wait_for_async)).
    ///
    /// # Panics
    /// If `guard` holds another lock than this condition's (as `std`'s
    /// `Condvar` does).
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// use std::sync::Arc;
    ///
    /// let cond = Arc::new(Condition::from_lock(Lock::new(None)));
    /// let c2 = cond.clone();
    /// let t = std::thread::spawn(move || {
    ///     let mut g = c2.acquire();
    ///     *g = Some(42);
    ///     c2.notify_all().unwrap(); // while holding the lock
    /// });
    /// let v = futures::executor::block_on(async {
    ///     let mut g = cond.acquire_async().await;
    ///     while g.is_none() {
    ///         g = cond.wait_async(g).await;
    ///     }
    ///     g.take().unwrap()
    /// });
    /// assert_eq!(v, 42);
    /// t.join().unwrap();
    /// ```
    pub fn wait_async<'a>(&'a self, guard: AsyncLockGuard<'a, T>) -> ConditionWait<'a, T> {
        assert!(
            ptr::eq(guard.lock(), &*self.lock),
            "Condition::wait_async: the guard holds another lock"
        );
        let queued = Queued::enqueue(self);
        drop(guard);
        ConditionWait {
            queued,
            reacquire: None,
        }
    }

    /// Wait until `predicate(&mut data)` is true, holding the lock when it
    /// is checked and on return (Python: `await cond.wait_for(predicate)`
    /// on an `asyncio.Condition`, which returns the predicate's value —
    /// always `true` here, so this returns the guard).
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// use std::sync::Arc;
    ///
    /// let cond = Arc::new(Condition::from_lock(Lock::new(0)));
    /// let c2 = cond.clone();
    /// let t = std::thread::spawn(move || {
    ///     for _ in 0..3 {
    ///         let mut g = c2.acquire();
    ///         *g += 1;
    ///         c2.notify_all().unwrap();
    ///     }
    /// });
    /// futures::executor::block_on(async {
    ///     let g = cond.acquire_async().await;
    ///     let g = cond.wait_for_async(g, |n| *n == 3).await;
    ///     assert_eq!(*g, 3);
    /// });
    /// t.join().unwrap();
    /// ```
    pub async fn wait_for_async<'a>(
        &'a self,
        mut guard: AsyncLockGuard<'a, T>,
        mut predicate: impl FnMut(&mut T) -> bool,
    ) -> AsyncLockGuard<'a, T> {
        while !predicate(&mut guard) {
            guard = self.wait_async(guard).await;
        }
        guard
    }
}

/// The future of [`Condition::wait_async`] (Python: the coroutine
/// `asyncio.Condition.wait()`): resolves to the reacquired guard. `Send`;
/// dropping it before it completes loses no notification (see
/// `wait_async`).
///
/// ```
/// use gilfree::threading::{Condition, ConditionWait, Lock};
/// let cond = Condition::from_lock(Lock::new(()));
/// let g = futures::executor::block_on(cond.acquire_async());
/// let fut: ConditionWait<'_, ()> = cond.wait_async(g);
/// assert_eq!(cond.n_waiting(), 1);
/// drop(fut); // gives up: leaves the queue
/// assert_eq!(cond.n_waiting(), 0);
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'a, T: Send> {
    /// First, so that a drop passes a notification on before the lock
    /// wait below passes on its own wake-up.
    queued: Queued<'a, Lock<T>>,
    /// Once notified: the lock's async wait.
    reacquire: Option<LockWait<'a>>,
}

impl<'a, T: Send> Future for ConditionWait<'a, T> {
    type Output = AsyncLockGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            this.queued.phase != Phase::Done,
            "an async wait polled after it completed"
        );
        if !this.queued.poll_notified(cx.waker()) {
            return Poll::Pending;
        }
        let cond = this.queued.cond;
        let wait = this
            .reacquire
            .get_or_insert_with(|| LockWait::new(cond.lock.raw.raw()));
        if wait.poll(cx.waker()) {
            this.reacquire = None;
            this.queued.done();
            // SAFETY: the lock's async wait just took it for this task, and
            // only this guard will release it.
            Poll::Ready(unsafe { AsyncLockGuard::from_held(&cond.lock) })
        } else {
            Poll::Pending
        }
    }
}

impl<T: Send> fmt::Debug for ConditionWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionWait").finish_non_exhaustive()
    }
}

/// Over an `RLock` (Python's default `Condition()`), with a [`TaskOwner`]
/// as the owner: the lock is held by a token, not by the thread (see
/// `TaskOwner` for why), so each call names it. Python-shaped, as the
/// thread methods on a data-less lock: a call by an owner that does not
/// hold the lock is [`Error::NotHeld`].
impl Condition<RLock> {
    /// Acquire (or re-enter) the condition's lock for `owner` without
    /// blocking the thread (Python: `await cond.acquire()` /
    /// `async with cond:`); see [`RLock::acquire_async`].
    ///
    /// ```
    /// use gilfree::threading::{Condition, TaskOwner};
    /// let (cond, me) = (Condition::new(), TaskOwner::new());
    /// futures::executor::block_on(async {
    ///     let _a = cond.acquire_async(&me).await;
    ///     let _b = cond.acquire_async(&me).await; // an RLock: re-entrant
    ///     assert_eq!(cond.lock().recursion_count_by(&me), 2);
    /// });
    /// ```
    pub fn acquire_async<'a>(&'a self, owner: &'a TaskOwner) -> RLockAcquire<'a, ()> {
        self.lock.acquire_async(owner)
    }

    /// Release every level `owner` holds, wait for a notification without
    /// blocking the thread, and take the lock back at the same depth
    /// (Python: `await cond.wait()`; the thread form is
    /// [`wait`](Condition::wait)).
    ///
    /// The waiter joins the queue and the lock is released when this is
    /// *called*, so a notify that comes before the first poll is not
    /// missed. Threads and tasks may wait on one condition at once;
    /// `notify(n)` wakes `n` of them in arrival order.
    ///
    /// Dropping the future before it completes (a runtime timeout, a
    /// `select!`) does *not* take the lock back: `owner` then holds no
    /// level (its guards release nothing; the lock is another's or free).
    /// A notification it had received passes to the next waiter, as in
    /// asyncio.
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("wait")` if `owner` does not hold the lock
    /// (Python's `RuntimeError: cannot wait on un-acquired lock`); nothing
    /// changes.
    ///
    /// ```
    /// use gilfree::threading::{Condition, TaskOwner};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    ///
    /// let cond = Arc::new(Condition::new());
    /// let ready = Arc::new(AtomicBool::new(false));
    /// let (c2, r2) = (cond.clone(), ready.clone());
    /// let t = std::thread::spawn(move || {
    ///     let _g = c2.acquire();
    ///     r2.store(true, SeqCst);
    ///     c2.notify_all().unwrap(); // a thread notifies a task
    /// });
    /// let me = TaskOwner::new();
    /// futures::executor::block_on(async {
    ///     let _g = cond.acquire_async(&me).await;
    ///     while !ready.load(SeqCst) {
    ///         cond.wait_async_by(&me).await.unwrap();
    ///     }
    ///     assert!(cond.lock().is_owned_by(&me));
    /// });
    /// t.join().unwrap();
    /// ```
    pub fn wait_async_by<'a>(&'a self, owner: &'a TaskOwner) -> ConditionWaitBy<'a> {
        let mut queued = Queued::enqueue(self);
        let saved = match self.lock.raw.raw().release_save_by_owner(&owner.raw) {
            Ok(n) => n,
            Err(_) => {
                queued.withdraw();
                0
            }
        };
        ConditionWaitBy {
            queued,
            owner,
            saved,
            reacquire: None,
        }
    }

    /// Wait until `predicate()` is true, calling it with the lock held by
    /// `owner` (Python: `await cond.wait_for(predicate)`). Returns its last
    /// value (always `true` here).
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("wait")` if `owner` does not hold the lock and
    /// the predicate was false.
    ///
    /// ```
    /// use gilfree::threading::{Condition, TaskOwner};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    ///
    /// let cond = Arc::new(Condition::new());
    /// let n = Arc::new(AtomicU32::new(0));
    /// let (c2, n2) = (cond.clone(), n.clone());
    /// let t = std::thread::spawn(move || {
    ///     for _ in 0..3 {
    ///         let _g = c2.acquire();
    ///         n2.fetch_add(1, SeqCst);
    ///         c2.notify_all().unwrap();
    ///     }
    /// });
    /// let me = TaskOwner::new();
    /// futures::executor::block_on(async {
    ///     let _g = cond.acquire_async(&me).await;
    ///     assert_eq!(cond.wait_for_async_by(&me, || n.load(SeqCst) == 3).await, Ok(true));
    /// });
    /// t.join().unwrap();
    /// ```
    pub async fn wait_for_async_by(
        &self,
        owner: &TaskOwner,
        mut predicate: impl FnMut() -> bool,
    ) -> Result<bool, Error> {
        while !predicate() {
            self.wait_async_by(owner).await?;
        }
        Ok(true)
    }

    /// Wake up to `n` waiters, threads and tasks, longest waiter first
    /// (Python: `cond.notify(n)`), as [`notify`](Condition::notify) but
    /// with the lock held by `owner`. Returns how many it woke.
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("notify")` if `owner` does not hold the lock.
    ///
    /// ```
    /// use gilfree::threading::{Condition, TaskOwner};
    /// let (cond, me) = (Condition::new(), TaskOwner::new());
    /// assert!(cond.notify_by(&me, 1).is_err());
    /// let _g = cond.lock().try_acquire_by(&me).unwrap();
    /// assert_eq!(cond.notify_by(&me, 1), Ok(0)); // nobody waits
    /// assert!(cond.notify(1).is_err()); // the thread does not hold it
    /// ```
    pub fn notify_by(&self, owner: &TaskOwner, n: usize) -> Result<usize, Error> {
        if !self.lock.is_owned_by(owner) {
            return Err(Error::NotHeld("notify"));
        }
        Ok(self.notify_raw(n))
    }

    /// Wake every waiter (Python: `cond.notify_all()`), with the lock held
    /// by `owner`; returns how many it woke.
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("notify")` if `owner` does not hold the lock.
    ///
    /// ```
    /// use gilfree::threading::{Condition, TaskOwner};
    /// let (cond, me) = (Condition::new(), TaskOwner::new());
    /// let _g = cond.lock().try_acquire_by(&me).unwrap();
    /// assert_eq!(cond.notify_all_by(&me), Ok(0));
    /// ```
    pub fn notify_all_by(&self, owner: &TaskOwner) -> Result<usize, Error> {
        self.notify_by(owner, usize::MAX)
    }
}

/// The future of [`Condition::wait_async_by`] (Python: the coroutine
/// `Condition.wait()` on an `RLock`-backed condition): resolves once
/// notified and holding the lock again at the saved depth. `Send`;
/// dropping it before it completes loses no notification.
///
/// ```
/// use gilfree::threading::{Condition, ConditionWaitBy, TaskOwner};
/// let (cond, me) = (Condition::new(), TaskOwner::new());
/// std::mem::forget(cond.lock().try_acquire_by(&me).unwrap());
/// let fut: ConditionWaitBy<'_> = cond.wait_async_by(&me);
/// assert_eq!(cond.n_waiting(), 1);
/// assert!(!cond.lock().locked()); // released when called
/// drop(fut); // gives up: leaves the queue
/// assert_eq!(cond.n_waiting(), 0);
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWaitBy<'a> {
    /// First: see `ConditionWait`. `Done` at once if the lock was not held.
    queued: Queued<'a, RLock>,
    owner: &'a TaskOwner,
    /// The levels released, to take back.
    saved: u32,
    /// Once notified: the lock's async wait, restoring `saved` levels.
    reacquire: Option<RLockWait<'a>>,
}

impl Future for ConditionWaitBy<'_> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.saved == 0 {
            // Never waited: the owner did not hold the lock.
            return Poll::Ready(Err(Error::NotHeld("wait")));
        }
        assert!(
            this.queued.phase != Phase::Done,
            "an async wait polled after it completed"
        );
        if !this.queued.poll_notified(cx.waker()) {
            return Poll::Pending;
        }
        let (cond, owner, saved) = (this.queued.cond, this.owner, this.saved);
        let wait = this
            .reacquire
            .get_or_insert_with(|| RLockWait::new(cond.lock.raw.raw(), &owner.raw, saved));
        if wait.poll(cx.waker()) {
            this.reacquire = None;
            this.queued.done();
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

impl fmt::Debug for ConditionWaitBy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionWaitBy")
            .field("owner", self.owner)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sys::atomic::{AtomicBool, Ordering::Relaxed};
    use loom::thread;

    /// Drive `f` on the model thread, parking until its waker fires (loom
    /// reports a lost wake-up as a deadlock).
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        crate::sys::wakers::block_on_model(|w| match f.as_mut().poll(&mut Context::from_waker(w)) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    }

    /// The waker registration vs notify race of an RLock-backed condition
    /// waited on by a task: the task holds two levels through its token
    /// and waits while the flag is false; a thread sets it under the lock
    /// and notifies. Whichever runs first, the task returns, with both
    /// levels back.
    #[test]
    fn condition_async_by_wait_notify() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let cond = Arc::new(Condition::new());
            let flag = Arc::new(AtomicBool::new(false));
            let (c2, f2) = (cond.clone(), flag.clone());
            let task = thread::spawn(move || {
                let me = TaskOwner::new();
                let _a = block_on(c2.acquire_async(&me));
                let _b = c2.lock().try_acquire_by(&me).expect("re-entry");
                while !f2.load(Relaxed) {
                    block_on(c2.wait_async_by(&me)).unwrap();
                }
                assert_eq!(c2.lock().recursion_count_by(&me), 2);
            });
            {
                let _g = cond.acquire();
                flag.store(true, Relaxed);
                cond.notify(1).unwrap();
            }
            task.join().unwrap();
            assert!(!cond.lock().locked());
            assert_eq!(cond.n_waiting(), 0);
        });
    }

    /// A task's wait that a `notify(1)` reaches and that is then dropped
    /// passes the notification on: a second task, registering at any
    /// point against the notify and the drop, still returns.
    #[test]
    fn condition_async_by_dropped_waiter_passes_on() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let cond = Arc::new(Condition::new());
            let flag = Arc::new(AtomicBool::new(false));
            let dropped = TaskOwner::new();
            assert!(cond.lock().try_lock_for_model(&dropped));
            let mut a = cond.wait_async_by(&dropped);
            let noop = Waker::noop().clone();
            assert!(
                Pin::new(&mut a)
                    .poll(&mut Context::from_waker(&noop))
                    .is_pending()
            );
            let (c2, f2) = (cond.clone(), flag.clone());
            let patient = thread::spawn(move || {
                let me = TaskOwner::new();
                let _g = block_on(c2.acquire_async(&me));
                while !f2.load(Relaxed) {
                    block_on(c2.wait_async_by(&me)).unwrap();
                }
            });
            {
                let _g = cond.acquire();
                flag.store(true, Relaxed);
                cond.notify(1).unwrap();
            }
            drop(a);
            patient.join().unwrap();
            assert!(!cond.lock().locked());
            assert_eq!(cond.n_waiting(), 0);
        });
    }

    impl RLock {
        /// One level for `o`, kept (no guard) for a wait to release.
        fn try_lock_for_model(&self, o: &TaskOwner) -> bool {
            self.raw.raw().try_lock_by(&o.raw)
        }
    }
}
