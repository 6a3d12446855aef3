//! The `.await` forms of `Condition` over a `Lock` (Python's
//! `asyncio.Condition`): `acquire_async`, `wait_async`, `wait_for_async`,
//! and the [`ConditionWait`] future.
//!
//! A task waits exactly as a thread does (`core.rs`'s algorithm): its
//! per-waiter word joins the FIFO before the lock is released, a notifier
//! pops it, sets it `NOTIFIED` and wakes it — `futex_wake` for a thread,
//! `sys::wakers::wake` for a task, both called on every notify — and the
//! task registers its waker on that word with `sys::wakers`' check, so no
//! wake-up is lost. Then it reacquires the lock with the lock's own async
//! wait. `notify(n)` wakes exactly `min(n, waiting)` waiters, threads and
//! tasks alike, in FIFO order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::{fmt, ptr};

use super::core::{Condition, WAITING, Waiter};
use crate::raw::LockWait;
use crate::sys::atomic::{AtomicU32, Ordering::Acquire};
use crate::sys::wakers::WaitSlot;
use crate::threading::aio::{AsyncLockGuard, LockAcquire};
use crate::threading::lock::Lock;

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
        let waiter = Arc::new(Waiter {
            word: AtomicU32::new(WAITING),
        });
        // Enqueue before releasing the lock (core.rs: "Why no wake-up is
        // lost").
        self.waiters.acquire().push_back(waiter.clone());
        drop(guard);
        ConditionWait {
            cond: self,
            waiter,
            slot: WaitSlot::new(),
            reacquire: None,
            done: false,
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
    cond: &'a Condition<Lock<T>>,
    waiter: Arc<Waiter>,
    /// Registered on `waiter.word` while not yet notified.
    slot: WaitSlot,
    /// Once notified: the lock's async wait.
    reacquire: Option<LockWait<'a>>,
    done: bool,
}

impl<'a, T: Send> Future for ConditionWait<'a, T> {
    type Output = AsyncLockGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "an async wait polled after it completed");
        if this.reacquire.is_none() {
            loop {
                if this.waiter.word.load(Acquire) != WAITING {
                    this.slot.finish();
                    this.reacquire = Some(LockWait::new(this.cond.lock.raw.raw()));
                    break;
                }
                if this.slot.register(&this.waiter.word, WAITING, cx.waker()) {
                    return Poll::Pending;
                }
            }
        }
        let wait = this.reacquire.as_mut().expect("set above");
        if wait.poll(cx.waker()) {
            this.reacquire = None;
            this.done = true;
            // SAFETY: the lock's async wait just took it for this task, and
            // only this guard will release it.
            Poll::Ready(unsafe { AsyncLockGuard::from_held(&this.cond.lock) })
        } else {
            Poll::Pending
        }
    }
}

impl<T: Send> Drop for ConditionWait<'_, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Nobody else waits on our private word: nothing to pass on there.
        self.slot.finish();
        // Notified (reacquiring, or a notifier took us off the queue before
        // we saw it) but never returned: as asyncio does, give the
        // notification to the next waiter.
        if self.reacquire.is_some() || !self.cond.remove(&self.waiter) {
            self.cond.notify_raw(1);
        }
    }
}

impl<T: Send> fmt::Debug for ConditionWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionWait").finish_non_exhaustive()
    }
}
