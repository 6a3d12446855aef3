//! The `.await` forms of the threading waits (Python's `asyncio.Lock`,
//! `asyncio.Semaphore`, `asyncio.BoundedSemaphore`, `asyncio.Event`,
//! `asyncio.Barrier`): the named futures and the async lock guard. Each
//! future drives its raw primitive's async wait (`raw::{LockWait,
//! AcquireWait, EventWait, BarrierWait}`, all
//! on the one waker protocol of `sys::wakers`), so it runs on any executor
//! and shares the object with blocking threads: a `release()` or `set()`
//! wakes whichever waits, thread or task.
//!
//! Timeouts come from the runtime: wrap the future, e.g.
//! `tokio::time::timeout(d, lock.acquire_async())`; a future dropped on
//! timeout (or for any other reason) loses nothing.

use core::future::Future;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::pin::Pin;
use core::task::{Context, Poll};
use std::fmt;

use std::cell::Cell;
use std::panic::resume_unwind;

use super::barrier::Barrier;
use super::error::Error;
use super::event::Event;
use super::lock::Lock;
use super::semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
use crate::raw::{
    AcquireWait, BarrierWait as RawBarrierWait, EventWait as RawEventWait, LockWait, RawSemaphore,
};

const POLLED_AFTER_DONE: &str = "an async wait polled after it completed";

impl<T: ?Sized> Lock<T> {
    /// Wait for the lock without blocking the thread (Python:
    /// `await lock.acquire()` / `async with lock:` on an `asyncio.Lock`).
    /// The future resolves to an [`AsyncLockGuard`], which releases the
    /// lock when dropped.
    ///
    /// Threads ([`acquire`](Lock::acquire)) and tasks may wait on the same
    /// lock at once; a release wakes one of each kind that waits. Works on
    /// any executor (only `std::task::Waker` is used).
    ///
    /// Differences from Python:
    /// - No timeout argument: wrap the future in your runtime's timeout
    ///   (`tokio::time::timeout(d, lock.acquire_async())`). Dropping the
    ///   future before it completes (a timeout, a `select!` that took
    ///   another branch) loses nothing: if a release had woken it, the
    ///   wake-up passes to the next waiting task.
    /// - Async acquisitions are invisible to the deadlock detector (the
    ///   `deadlock-detection` feature tracks threads, and a task may move
    ///   between threads while it holds the lock).
    /// - Private memory only; process-shared locks need a descriptor for
    ///   the runtime to watch (to come).
    ///
    /// ```
    /// use gilfree::threading::Lock;
    ///
    /// let l = Lock::new(0);
    /// futures::executor::block_on(async {
    ///     *l.acquire_async().await += 1;
    /// });
    /// assert_eq!(*l.acquire(), 1);
    /// ```
    ///
    /// With a timeout (any runtime's; tokio's here):
    ///
    /// ```
    /// use gilfree::threading::Lock;
    /// use std::time::Duration;
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// let l = Lock::new(());
    /// let held = l.acquire();
    /// rt.block_on(async {
    ///     let r = tokio::time::timeout(Duration::from_millis(1), l.acquire_async()).await;
    ///     assert!(r.is_err()); // timed out; nothing was lost
    /// });
    /// drop(held);
    /// assert!(!l.locked());
    /// ```
    pub fn acquire_async(&self) -> LockAcquire<'_, T> {
        LockAcquire {
            lock: self,
            wait: Some(LockWait::new(self.raw.raw())),
        }
    }
}

/// The future of [`Lock::acquire_async`] (Python: the coroutine
/// `asyncio.Lock.acquire()`). `Send`; dropping it before it completes
/// gives up the wait and loses nothing.
///
/// ```
/// let l = gilfree::threading::Lock::new(());
/// let fut: gilfree::threading::LockAcquire<'_, ()> = l.acquire_async();
/// drop(futures::executor::block_on(fut));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    wait: Option<LockWait<'a>>,
}

impl<'a, T: ?Sized> Future for LockAcquire<'a, T> {
    type Output = AsyncLockGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let wait = this.wait.as_mut().expect(POLLED_AFTER_DONE);
        if wait.poll(cx.waker()) {
            this.wait = None;
            Poll::Ready(AsyncLockGuard {
                lock: this.lock,
                _data: PhantomData,
            })
        } else {
            Poll::Pending
        }
    }
}

impl<T: ?Sized> fmt::Debug for LockAcquire<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire").finish_non_exhaustive()
    }
}

/// Proof that a [`Lock`] is held by a task: derefs to the data and releases
/// the lock when dropped (the end of Python's `async with lock:` block).
///
/// Unlike [`LockGuard`](super::LockGuard) it is `Send` (when `T: Send`), so
/// it may be held across an `.await` in a task that moves between threads;
/// the lock has no owner, as in Python, so releasing from another thread is
/// sound.
///
/// ```
/// let l = gilfree::threading::Lock::new(vec![1]);
/// futures::executor::block_on(async {
///     let mut g: gilfree::threading::AsyncLockGuard<'_, Vec<i32>> = l.acquire_async().await;
///     g.push(2);
/// });
/// assert_eq!(*l.acquire(), [1, 2]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct AsyncLockGuard<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    /// Send iff `T: Send`, Sync iff `T: Send + Sync` (those of `&mut T`,
    /// with `&Lock<T>` adding `T: Send`).
    _data: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> AsyncLockGuard<'a, T> {
    /// A guard for an acquisition of `lock` just made by an async wait.
    ///
    /// # Safety
    /// `lock` is held, and nothing else will release that acquisition.
    pub(super) unsafe fn from_held(lock: &'a Lock<T>) -> Self {
        AsyncLockGuard {
            lock,
            _data: PhantomData,
        }
    }

    /// The lock this guard holds.
    ///
    /// ```
    /// let l = gilfree::threading::Lock::new(());
    /// let g = futures::executor::block_on(l.acquire_async());
    /// assert!(std::ptr::eq(g.lock(), &l));
    /// ```
    pub fn lock(&self) -> &'a Lock<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for AsyncLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard's task holds the lock, so nobody else reaches
        // the data, and `&self` gives only shared access through it.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for AsyncLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `Lock` cannot be re-entered, so this guard
        // is the only holder and `&mut self` the only access through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for AsyncLockGuard<'_, T> {
    fn drop(&mut self) {
        // Taken without the deadlock hooks, so released without them.
        // Fails only if `Lock::<()>::release` freed it behind our back.
        let _ = self.lock.raw.raw().unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for AsyncLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Semaphore {
    /// Wait for a permit without blocking the thread (Python:
    /// `await sem.acquire()` / `async with sem:` on an
    /// `asyncio.Semaphore`). Resolves to a [`SemaphoreGuard`] that gives
    /// the permit back when dropped.
    ///
    /// Threads and tasks may wait on the same semaphore at once;
    /// `release_n(n)` wakes up to `n` of each kind. Dropping the future
    /// before it completes (a runtime timeout such as
    /// `tokio::time::timeout(d, sem.acquire_async())`, a `select!`) loses
    /// no permit and no wake-up. No fairness is promised (as for threads).
    /// Private memory only.
    ///
    /// ```
    /// use gilfree::threading::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// futures::executor::block_on(async {
    ///     let _permit = sem.acquire_async().await;
    ///     assert_eq!(sem.value(), 0);
    /// });
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn acquire_async(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire::new(&self.raw, u32::MAX)
    }
}

impl BoundedSemaphore {
    /// Wait for a permit without blocking the thread (Python:
    /// `await sem.acquire()` on an `asyncio.BoundedSemaphore`); as
    /// [`Semaphore::acquire_async`]. The guard gives the permit back within
    /// the bound.
    ///
    /// ```
    /// use gilfree::threading::BoundedSemaphore;
    ///
    /// let sem = BoundedSemaphore::new(2);
    /// futures::executor::block_on(async {
    ///     let a = sem.acquire_async().await;
    ///     let b = sem.acquire_async().await;
    ///     assert_eq!(sem.value(), 0);
    ///     drop((a, b));
    /// });
    /// assert_eq!(sem.value(), 2);
    /// ```
    pub fn acquire_async(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire::new(&self.raw, self.initial)
    }
}

/// The future of [`Semaphore::acquire_async`] and
/// [`BoundedSemaphore::acquire_async`] (Python: the coroutine
/// `asyncio.Semaphore.acquire()`). `Send`; dropping it before it completes
/// gives up the wait and loses nothing.
///
/// ```
/// let sem = gilfree::threading::Semaphore::new(1);
/// let fut: gilfree::threading::SemaphoreAcquire<'_> = sem.acquire_async();
/// drop(futures::executor::block_on(fut));
/// assert_eq!(sem.value(), 1);
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct SemaphoreAcquire<'a> {
    raw: &'a RawSemaphore,
    ceiling: u32,
    wait: Option<AcquireWait<'a>>,
}

impl<'a> SemaphoreAcquire<'a> {
    fn new(raw: &'a RawSemaphore, ceiling: u32) -> Self {
        SemaphoreAcquire {
            raw,
            ceiling,
            wait: Some(AcquireWait::new(raw)),
        }
    }
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = SemaphoreGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let wait = this.wait.as_mut().expect(POLLED_AFTER_DONE);
        if wait.poll(cx.waker()) {
            this.wait = None;
            Poll::Ready(SemaphoreGuard::new(this.raw, this.ceiling))
        } else {
            Poll::Pending
        }
    }
}

impl fmt::Debug for SemaphoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire").finish_non_exhaustive()
    }
}

impl Event {
    /// Wait until the flag is set without blocking the thread (Python:
    /// `await event.wait()` on an `asyncio.Event`). Resolves at once if
    /// it is set.
    ///
    /// Threads ([`wait`](Event::wait)) and tasks may wait on the same event
    /// at once; [`set`](Event::set) wakes them all. As for threads, a set
    /// that happened after the first poll is seen even if a `clear`
    /// followed. Python's `wait()` returns `True`; this returns `()`, the
    /// only outcome. For a timeout, wrap it:
    /// `tokio::time::timeout(d, event.wait_async())`. Private memory only.
    ///
    /// ```
    /// use gilfree::threading::Event;
    /// use std::sync::Arc;
    ///
    /// let ev = Arc::new(Event::new());
    /// let e = ev.clone();
    /// let setter = std::thread::spawn(move || e.set());
    /// futures::executor::block_on(ev.wait_async());
    /// assert!(ev.is_set());
    /// setter.join().unwrap();
    /// ```
    pub fn wait_async(&self) -> EventWait<'_> {
        EventWait {
            wait: Some(RawEventWait::new(&self.raw)),
        }
    }
}

/// The future of [`Event::wait_async`] (Python: the coroutine
/// `asyncio.Event.wait()`). `Send`; dropping it is always harmless.
///
/// ```
/// let ev = gilfree::threading::Event::new();
/// ev.set();
/// let fut: gilfree::threading::EventWait<'_> = ev.wait_async();
/// futures::executor::block_on(fut);
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    wait: Option<RawEventWait<'a>>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let wait = this.wait.as_mut().expect(POLLED_AFTER_DONE);
        if wait.poll(cx.waker()) {
            this.wait = None;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait").finish_non_exhaustive()
    }
}

impl Barrier {
    /// Wait for all parties without blocking the thread (Python:
    /// `await barrier.wait()` on an `asyncio.Barrier`). Resolves to this
    /// party's index in `0..parties`, as [`wait`](Barrier::wait).
    ///
    /// Threads and tasks may be parties of the same barrier, in any mix.
    /// The last to arrive runs the action (if any) inside its poll; if the
    /// action panics, the barrier breaks and that poll resumes the panic.
    ///
    /// Differences from [`wait`](Barrier::wait) (and sameness with
    /// asyncio):
    /// - The barrier's default timeout ([`with_timeout`](Barrier::with_timeout))
    ///   is not applied. Wrap the future in the runtime's timeout
    ///   (`tokio::time::timeout(d, barrier.wait_async())`).
    /// - **Dropping the future** (that timeout, a `select!`, a cancelled
    ///   task) *withdraws* this party, as cancelling `asyncio.Barrier.wait()`
    ///   does: the barrier is not broken and waits for another party to take
    ///   its place (a thread's `wait_timeout` breaks it instead, as in
    ///   Python's `threading`). As in asyncio, the indices of a cycle that
    ///   lost a party may then repeat; the last arrival always gets
    ///   `parties - 1`. A future dropped after its cycle was released leaves
    ///   it as a passing party; one dropped while the last arrival runs the
    ///   action waits (blocking the thread) for the action to finish, then
    ///   leaves as a passing party.
    /// - Private memory only.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`] if the barrier is or becomes broken (or is
    /// reset) while this party waits.
    ///
    /// ```
    /// use gilfree::threading::Barrier;
    /// use std::sync::Arc;
    ///
    /// let b = Arc::new(Barrier::new(2));
    /// let b2 = b.clone();
    /// let t = std::thread::spawn(move || b2.wait().unwrap()); // a thread party
    /// let i = futures::executor::block_on(b.wait_async()).unwrap(); // a task party
    /// let mut idx = [i, t.join().unwrap()];
    /// idx.sort();
    /// assert_eq!(idx, [0, 1]);
    /// ```
    ///
    /// A timeout withdraws the party and leaves the barrier whole:
    ///
    /// ```
    /// use gilfree::threading::Barrier;
    /// use std::time::Duration;
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// let b = Barrier::new(2);
    /// rt.block_on(async {
    ///     assert!(tokio::time::timeout(Duration::from_millis(1), b.wait_async()).await.is_err());
    /// });
    /// assert!(!b.broken());
    /// assert_eq!(b.n_waiting(), 0);
    /// ```
    pub fn wait_async(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            wait: Some(RawBarrierWait::new(self.raw())),
        }
    }
}

/// The future of [`Barrier::wait_async`] (Python: the coroutine
/// `asyncio.Barrier.wait()`). `Send`; dropping it before it completes
/// withdraws the party (see [`Barrier::wait_async`]).
///
/// ```
/// let b = gilfree::threading::Barrier::new(1);
/// let fut: gilfree::threading::BarrierWait<'_> = b.wait_async();
/// assert_eq!(futures::executor::block_on(fut), Ok(0));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    wait: Option<RawBarrierWait<'a>>,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let wait = this.wait.as_mut().expect(POLLED_AFTER_DONE);
        let panicked = Cell::new(None);
        let barrier = this.barrier;
        match wait.poll(cx.waker(), || barrier.run_action(&panicked)) {
            None => Poll::Pending,
            Some(r) => {
                this.wait = None;
                if let Some(p) = panicked.into_inner() {
                    resume_unwind(p);
                }
                Poll::Ready(r.map(|i| i as usize).map_err(|_| Error::BrokenBarrier))
            }
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait").finish_non_exhaustive()
    }
}
