//! The `.await` form of `RLock`: the owner token ([`TaskOwner`]), the
//! [`RLockAcquire`] future and the [`AsyncRLockGuard`]. The algorithm is
//! `raw/rlock.rs`'s ("Owners that are not threads"): the nest check, then
//! the `Lock`'s own async wait on the inner lock, then the owner stores.

use core::future::Future;
use core::marker::PhantomData;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::fmt;

use super::error::Error;
use super::rlock::RLock;
use crate::raw::{NotOwner, RLockWait, RawOwner};

/// Who owns an [`RLock`] acquired by a task: Python's "current task" as an
/// explicit value. Create one per task (or per logical owner) and pass it
/// to every [`RLock::acquire_async`] that should count as the same owner.
///
/// A thread-owned `RLock` is keyed on the thread, but a task on a
/// multi-thread executor may resume on another thread after any `.await`,
/// and one thread runs many tasks: keyed on the thread, its release would
/// fail after a move, and an unrelated task on the same thread would
/// "re-enter" a lock it never took. `std::task` has no task identity, so
/// the owner is this token. The same token acquiring a lock it holds nests
/// at once (the count grows); another token, or a thread, waits.
///
/// Python's asyncio has no `RLock` (python/asyncio#439 asked; it was left
/// to libraries). Third-party ones (aiologic's `RLock`, `fair-async-rlock`)
/// key on `asyncio.current_task()`; this token is that identity, written
/// down.
///
/// Ids come from the same per-process counter as private `RLock`s' thread
/// owners, so a token's id is never a thread's, and threads and tasks wait
/// on one `RLock` together. (A dropped token's id is given to a later
/// token only if it held no level anywhere; one dropped while holding a
/// level, through a forgotten guard, leaves that lock held for good.)
/// The same token owns levels of a process-shared
/// [`multiprocessing::RLock`](crate::multiprocessing::RLock) too
/// (its `acquire_async(&me)`), where the lock's word records the token's
/// process and the token's id sits beside it.
/// A release by anyone but the owner fails with [`Error::NotOwner`]
/// (Python's `RuntimeError: cannot release un-acquired lock`). A token is
/// `Send + Sync`; its steps on a lock are serialised, so two futures using
/// one token from two threads at once stay correct.
///
/// ```
/// use gilfree::threading::{RLock, TaskOwner};
///
/// let lock = RLock::new(());
/// let me = TaskOwner::new();
/// futures::executor::block_on(async {
///     let _outer = lock.acquire_async(&me).await;
///     let _inner = lock.acquire_async(&me).await; // nests: same owner
///     assert_eq!(lock.recursion_count_by(&me), 2);
///     assert!(!lock.is_owned()); // not this thread's
/// });
/// assert!(!lock.locked());
/// ```
pub struct TaskOwner {
    /// Also `multiprocessing::RLock`'s (its tasks' owner).
    pub(crate) raw: RawOwner,
}

impl TaskOwner {
    /// A new owner, distinct from every thread and every other live token.
    ///
    /// ```
    /// let (a, b) = (gilfree::threading::TaskOwner::new(), gilfree::threading::TaskOwner::new());
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn new() -> Self {
        TaskOwner {
            raw: RawOwner::new(),
        }
    }

    /// The id an `RLock` records for this owner (the `owner=` of its
    /// `Debug`, as Python's repr shows the owning thread's ident).
    ///
    /// ```
    /// use gilfree::threading::{RLock, TaskOwner};
    /// let (l, me) = (RLock::new(()), TaskOwner::new());
    /// let _g = l.try_acquire_by(&me).unwrap();
    /// assert!(format!("{l:?}").contains(&format!("owner={}", me.id())));
    /// ```
    pub fn id(&self) -> u32 {
        self.raw.id()
    }
}

impl Default for TaskOwner {
    fn default() -> Self {
        TaskOwner::new()
    }
}

impl fmt::Debug for TaskOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskOwner").field("id", &self.id()).finish()
    }
}

/// Async acquisition. `T: Sync` because a token's guards are `Send`: two
/// of them (nested levels) may be used on two threads at once, each giving
/// `&T` (a thread's guards all stay on its thread, so `acquire` needs no
/// `Sync`). `RLock<()>`, Python's shape, qualifies.
impl<T: ?Sized + Sync> RLock<T> {
    /// Wait until `owner` owns the lock without blocking the thread, or
    /// nest at once if it already does (Python has no async `RLock`; this
    /// is `await rlock.acquire()` / `async with rlock:` of aiologic's, with
    /// the owner explicit). Resolves to an [`AsyncRLockGuard`] that
    /// releases one level when dropped.
    ///
    /// Threads ([`acquire`](RLock::acquire)) and tasks (other tokens) wait
    /// on the same lock together; the last release of a level by its
    /// owner wakes one of each kind. Works on any executor.
    ///
    /// Differences from the thread forms:
    /// - The owner is `owner`, not the thread ([`TaskOwner`] says why): a
    ///   thread holding the lock does not let a task polled on it in, and
    ///   [`is_owned`](RLock::is_owned) / [`release`](RLock::release) on a
    ///   thread do not see a token's levels (use
    ///   [`is_owned_by`](RLock::is_owned_by) /
    ///   [`release_by`](RLock::release_by)).
    /// - No timeout argument: wrap the future,
    ///   `tokio::time::timeout(d, lock.acquire_async(&me))`. Dropping it
    ///   before it completes loses nothing: a wake-up it had been handed
    ///   passes to the next waiting task (the [`Lock`](super::Lock) async
    ///   acquire's protocol, which this uses).
    /// - Invisible to the deadlock detector (it tracks threads).
    ///
    /// ```
    /// use gilfree::threading::{RLock, TaskOwner};
    /// use std::sync::Arc;
    ///
    /// let lock = Arc::new(RLock::new(()));
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let tasks: Vec<_> = (0..4)
    ///         .map(|_| {
    ///             let lock = lock.clone();
    ///             tokio::spawn(async move {
    ///                 let me = TaskOwner::new();
    ///                 let _a = lock.acquire_async(&me).await;
    ///                 tokio::task::yield_now().await; // may resume on another thread
    ///                 let _b = lock.acquire_async(&me).await; // still ours: nests
    ///                 assert_eq!(lock.recursion_count_by(&me), 2);
    ///             })
    ///         })
    ///         .collect();
    ///     for t in tasks {
    ///         t.await.unwrap();
    ///     }
    /// });
    /// assert!(!lock.locked());
    /// ```
    pub fn acquire_async<'a>(&'a self, owner: &'a TaskOwner) -> RLockAcquire<'a, T> {
        RLockAcquire {
            lock: self,
            owner,
            wait: Some(RLockWait::new(self.raw.raw(), &owner.raw, 1)),
        }
    }

    /// Acquire for `owner` only if that needs no waiting: the lock is free
    /// or already `owner`'s (Python: `rlock.acquire(blocking=False)`, for a
    /// task).
    ///
    /// ```
    /// use gilfree::threading::{RLock, TaskOwner};
    /// let (l, a, b) = (RLock::new(()), TaskOwner::new(), TaskOwner::new());
    /// let g = l.try_acquire_by(&a).unwrap();
    /// assert!(l.try_acquire_by(&a).is_some()); // re-entry never waits
    /// assert!(l.try_acquire_by(&b).is_none()); // another owner
    /// assert!(l.try_acquire().is_none()); // a thread is another owner too
    /// drop(g);
    /// ```
    pub fn try_acquire_by<'a>(&'a self, owner: &'a TaskOwner) -> Option<AsyncRLockGuard<'a, T>> {
        self.raw
            .raw()
            .try_lock_by(&owner.raw)
            .then_some(AsyncRLockGuard {
                lock: self,
                owner,
                _data: PhantomData,
            })
    }
}

impl<T: ?Sized> RLock<T> {
    /// Whether `owner` owns the lock (Python's private `_is_owned()`, for
    /// a task).
    ///
    /// ```
    /// use gilfree::threading::{RLock, TaskOwner};
    /// let (l, me) = (RLock::new(()), TaskOwner::new());
    /// assert!(!l.is_owned_by(&me));
    /// let _g = futures::executor::block_on(l.acquire_async(&me));
    /// assert!(l.is_owned_by(&me));
    /// ```
    pub fn is_owned_by(&self, owner: &TaskOwner) -> bool {
        self.raw.raw().is_owned_by(&owner.raw)
    }

    /// How many levels `owner` holds; 0 if it does not own the lock
    /// (Python's private `_recursion_count()`, for a task).
    ///
    /// ```
    /// use gilfree::threading::{RLock, TaskOwner};
    /// let (l, me) = (RLock::new(()), TaskOwner::new());
    /// let a = l.try_acquire_by(&me).unwrap();
    /// let b = l.try_acquire_by(&me).unwrap();
    /// assert_eq!(l.recursion_count_by(&me), 2);
    /// drop((a, b));
    /// assert_eq!(l.recursion_count_by(&me), 0);
    /// ```
    pub fn recursion_count_by(&self, owner: &TaskOwner) -> u32 {
        self.raw.raw().recursion_count_by(&owner.raw)
    }
}

impl RLock<()> {
    /// Python's `rlock.release()` for a task: release one of `owner`'s
    /// levels, e.g. one acquired by `acquire_async` whose guard was
    /// forgotten (Python's unguarded `await acquire()` … `release()`).
    ///
    /// # Errors
    /// [`Error::NotOwner`] if `owner` does not own the lock (Python's
    /// `RuntimeError: cannot release un-acquired lock`); nothing changes.
    ///
    /// ```
    /// use gilfree::threading::{Error, RLock, TaskOwner};
    /// let (l, me, other) = (RLock::new(()), TaskOwner::new(), TaskOwner::new());
    /// std::mem::forget(futures::executor::block_on(l.acquire_async(&me)));
    /// assert_eq!(l.release_by(&other), Err(Error::NotOwner));
    /// assert_eq!(l.release(), Err(Error::NotOwner)); // this thread is not the owner either
    /// assert_eq!(l.release_by(&me), Ok(()));
    /// assert!(!l.locked());
    /// ```
    pub fn release_by(&self, owner: &TaskOwner) -> Result<(), Error> {
        self.raw
            .raw()
            .unlock_by_owner(&owner.raw)
            .map_err(|NotOwner| Error::NotOwner)
    }
}

/// The future of [`RLock::acquire_async`]. `Send` (when `T: Send + Sync`);
/// dropping it before it completes gives up the wait and loses nothing.
///
/// ```
/// use gilfree::threading::{RLock, RLockAcquire, TaskOwner};
/// let (l, me) = (RLock::new(()), TaskOwner::new());
/// let fut: RLockAcquire<'_, ()> = l.acquire_async(&me);
/// drop(futures::executor::block_on(fut));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct RLockAcquire<'a, T: ?Sized> {
    lock: &'a RLock<T>,
    owner: &'a TaskOwner,
    wait: Option<RLockWait<'a>>,
}

impl<'a, T: ?Sized + Sync> Future for RLockAcquire<'a, T> {
    type Output = AsyncRLockGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let wait = this
            .wait
            .as_mut()
            .expect("an async wait polled after it completed");
        if wait.poll(cx.waker()) {
            // Dropping the wait removes a registration it no longer needs
            // (it nested) and passes on a wake-up it did not use.
            this.wait = None;
            Poll::Ready(AsyncRLockGuard {
                lock: this.lock,
                owner: this.owner,
                _data: PhantomData,
            })
        } else {
            Poll::Pending
        }
    }
}

impl<T: ?Sized> fmt::Debug for RLockAcquire<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockAcquire")
            .field("owner", self.owner)
            .finish_non_exhaustive()
    }
}

/// One level of an [`RLock`] held by a [`TaskOwner`]: derefs to `&T` and
/// releases that level when dropped (the end of `async with rlock:`).
///
/// `Send` (when `T: Send + Sync`), unlike [`RLockGuard`](super::RLockGuard):
/// the owner is the token, not the thread, so a task may hold it across an
/// `.await` and resume elsewhere.
///
/// ```
/// use gilfree::threading::{AsyncRLockGuard, RLock, TaskOwner};
/// let (l, me) = (RLock::new(5), TaskOwner::new());
/// let g: AsyncRLockGuard<'_, i32> = futures::executor::block_on(l.acquire_async(&me));
/// assert_eq!(*g, 5);
/// ```
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct AsyncRLockGuard<'a, T: ?Sized> {
    lock: &'a RLock<T>,
    owner: &'a TaskOwner,
    /// `&T` is what it hands out: `Send`/`Sync` only when `T: Sync`.
    _data: PhantomData<&'a T>,
}

impl<'a, T: ?Sized> AsyncRLockGuard<'a, T> {
    /// The lock this guard holds a level of.
    ///
    /// ```
    /// use gilfree::threading::{RLock, TaskOwner};
    /// let (l, me) = (RLock::new(()), TaskOwner::new());
    /// let g = l.try_acquire_by(&me).unwrap();
    /// assert!(std::ptr::eq(g.lock(), &l));
    /// ```
    pub fn lock(&self) -> &'a RLock<T> {
        self.lock
    }

    /// The owner that holds it.
    ///
    /// ```
    /// use gilfree::threading::{RLock, TaskOwner};
    /// let (l, me) = (RLock::new(()), TaskOwner::new());
    /// let g = l.try_acquire_by(&me).unwrap();
    /// assert_eq!(g.owner().id(), me.id());
    /// ```
    pub fn owner(&self) -> &'a TaskOwner {
        self.owner
    }
}

impl<T: ?Sized> Deref for AsyncRLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard's owner holds the lock, so no other owner
        // reaches the data; the owner's own guards give only `&T`, and
        // they exist for `T: Sync` only (`acquire_async`'s bound), so
        // using them on several threads at once is sound.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for AsyncRLockGuard<'_, T> {
    fn drop(&mut self) {
        // Fails only if `release_by` freed this level behind our back
        // (an `RLock<()>`, no data).
        let _ = self.lock.raw.raw().unlock_by_owner(&self.owner.raw);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for AsyncRLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
