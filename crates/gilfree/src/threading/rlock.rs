//! `RLock`: Python's `threading.RLock`, the private home of [`RawRLock`]
//! (the algorithm, its state encoding and orderings are in `raw/rlock.rs`).

use std::cell::UnsafeCell;
use std::fmt;
use std::time::Duration;

use super::error::Error;
use crate::guard::sealed::Owned;
use crate::guard::{Guard, Hooked};
use crate::raw::{NotOwner, RawRLock};
use crate::sys::Deadline;
use crate::sys::atomic::const_fn;

/// A reentrant lock: Python's `threading.RLock`, which can also guard data.
///
/// The thread that acquired it owns it and may acquire it again; it is free
/// once the owner has released it as many times as it acquired it. Only the
/// owner may release it: a release by another thread is
/// [`Error::NotOwner`], as Python raises `RuntimeError`.
///
/// In Rust it can guard data like parking_lot's `ReentrantMutex`: the guard
/// derefs to `&T` only, because a thread may hold several guards at once
/// (use a `Cell`/`RefCell` inside for mutation).
///
/// Differences from Python:
/// - `acquire(blocking, timeout)` is three methods: [`acquire`](RLock::acquire),
///   [`try_acquire`](RLock::try_acquire), [`acquire_timeout`](RLock::acquire_timeout);
///   [`acquire_unguarded`](RLock::acquire_unguarded) and [`release`](RLock::release)
///   give Python's exact shape on a data-less `RLock<()>`.
/// - Python's private `_is_owned()` and `_recursion_count()` are public here
///   as [`is_owned`](RLock::is_owned) and [`recursion_count`](RLock::recursion_count).
/// - No poisoning: a guard dropped by a panicking thread releases its level.
/// - Tasks acquire it with [`acquire_async`](RLock::acquire_async), owned
///   by a [`TaskOwner`](super::TaskOwner) rather than a thread (a task
///   moves between threads); threads and tasks wait on it together.
/// - The owner is identified by a per-thread id that is never reused in
///   the process (CPython's `get_ident()` may be): a thread that exits
///   while still owning the lock (a leaked guard) leaves it owned for good,
///   never by a later thread that happens to get the same id.
///
/// ```
/// use gilfree::threading::RLock;
/// use std::cell::Cell;
///
/// let lock = RLock::new(Cell::new(0));
/// let outer = lock.acquire();
/// let inner = lock.acquire(); // the same thread may re-enter
/// inner.set(inner.get() + 1);
/// assert_eq!(lock.recursion_count(), 2);
/// drop(inner);
/// drop(outer);
/// assert!(!lock.locked());
/// ```
pub struct RLock<T: ?Sized = ()> {
    /// The raw lock and its deadlock hooks (see `crate::guard`).
    pub(super) raw: Hooked<RawRLock>,
    pub(super) data: UnsafeCell<T>,
}

// SAFETY: one thread at a time (the owner) reaches the data, and only
// through `&T`; so sharing the lock is sound when `T` may move between
// threads (the bounds of parking_lot's `ReentrantMutex`).
unsafe impl<T: ?Sized + Send> Sync for RLock<T> {}
// SAFETY: sending the lock sends the `T` inside it.
unsafe impl<T: ?Sized + Send> Send for RLock<T> {}

impl<T> RLock<T> {
    const_fn! {
        /// A new, unowned lock guarding `value` (Python: `threading.RLock()`).
        ///
        /// ```
        /// static LOCK: gilfree::threading::RLock = gilfree::threading::RLock::new(());
        /// assert!(!LOCK.locked());
        /// ```
        pub const fn new(value: T) -> Self {
            RLock { raw: Hooked::new(RawRLock::new()), data: UnsafeCell::new(value) }
        }
    }

    /// Consume the lock and return the data.
    ///
    /// ```
    /// let l = gilfree::threading::RLock::new(5);
    /// assert_eq!(l.into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RLock<T> {
    /// Block until this thread owns the lock, or re-enter it if it already
    /// does (Python: `rlock.acquire()` / `with rlock:`). The guard releases
    /// one level when dropped.
    ///
    /// ```
    /// let l = gilfree::threading::RLock::new(1);
    /// let a = l.acquire();
    /// let b = l.acquire();
    /// assert_eq!(*a + *b, 2);
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire(&self) -> RLockGuard<'_, T> {
        self.raw.lock(Deadline::Never);
        // SAFETY: just acquired (one level) by this thread.
        unsafe { Guard::from_held(self) }
    }

    /// Acquire only if that needs no waiting: the lock is free or already
    /// owned by this thread (Python: `rlock.acquire(blocking=False)`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let l = Arc::new(gilfree::threading::RLock::new(()));
    /// let _g = l.acquire();
    /// assert!(l.try_acquire().is_some()); // re-entry never waits
    /// let l2 = l.clone();
    /// assert!(std::thread::spawn(move || l2.try_acquire().is_none()).join().unwrap());
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_acquire(&self) -> Option<RLockGuard<'_, T>> {
        // SAFETY: acquired by this thread if `then` runs the closure.
        self.raw
            .try_lock()
            .then(|| unsafe { Guard::from_held(self) })
    }

    /// Acquire, giving up after `timeout` (Python: `rlock.acquire(timeout=t)`).
    /// A duration too large for the clock waits forever.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let l = Arc::new(gilfree::threading::RLock::new(()));
    /// let _g = l.acquire();
    /// let l2 = l.clone();
    /// let got = std::thread::spawn(move || l2.acquire_timeout(Duration::from_millis(1)).is_some());
    /// assert!(!got.join().unwrap());
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_, T>> {
        // SAFETY: acquired by this thread if `then` runs the closure.
        self.raw
            .lock(Deadline::after(timeout))
            .then(|| unsafe { Guard::from_held(self) })
    }

    /// Whether some thread holds the lock (Python 3.14's `rlock.locked()`).
    /// A snapshot: it may change at once.
    ///
    /// ```
    /// let l = gilfree::threading::RLock::new(());
    /// let g = l.acquire();
    /// assert!(l.locked());
    /// drop(g);
    /// assert!(!l.locked());
    /// ```
    #[inline]
    pub fn locked(&self) -> bool {
        self.raw.raw().is_locked()
    }

    /// Whether the calling thread owns the lock (Python's private
    /// `rlock._is_owned()`).
    ///
    /// ```
    /// let l = gilfree::threading::RLock::new(());
    /// assert!(!l.is_owned());
    /// let _g = l.acquire();
    /// assert!(l.is_owned());
    /// ```
    #[inline]
    pub fn is_owned(&self) -> bool {
        self.raw.raw().is_owned()
    }

    /// How many times the calling thread has acquired the lock without
    /// releasing it; 0 if it does not own it (Python's private
    /// `rlock._recursion_count()`).
    ///
    /// ```
    /// let l = gilfree::threading::RLock::new(());
    /// let a = l.acquire();
    /// let b = l.acquire();
    /// assert_eq!(l.recursion_count(), 2);
    /// drop((a, b));
    /// assert_eq!(l.recursion_count(), 0);
    /// ```
    #[inline]
    pub fn recursion_count(&self) -> u32 {
        self.raw.raw().recursion_count()
    }

    /// Mutable access without locking: `&mut self` proves nobody holds it.
    ///
    /// ```
    /// let mut l = gilfree::threading::RLock::new(1);
    /// *l.get_mut() += 1;
    /// assert_eq!(*l.acquire(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl RLock<()> {
    /// Python's `rlock.acquire(blocking=True, timeout=-1)` exactly: acquire
    /// (or re-enter) without a guard and return whether it was acquired.
    /// Release each level with [`RLock::release`], from the same thread.
    ///
    /// ```
    /// let l = gilfree::threading::RLock::new(());
    /// assert!(l.acquire_unguarded(true, None));
    /// assert!(l.acquire_unguarded(false, None));
    /// l.release().unwrap();
    /// l.release().unwrap();
    /// assert!(l.release().is_err());
    /// ```
    pub fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        if blocking {
            self.raw.lock(Deadline::from_python(true, timeout))
        } else {
            self.raw.try_lock()
        }
    }

    /// Python's `rlock.release()`: release one level.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the calling thread does not own the lock
    /// (Python's `RuntimeError: cannot release un-acquired lock`); nothing
    /// changes.
    ///
    /// ```
    /// use gilfree::threading::{Error, RLock};
    /// let l = RLock::new(());
    /// assert_eq!(l.release(), Err(Error::NotOwner));
    /// ```
    pub fn release(&self) -> Result<(), Error> {
        self.raw.unlock().map_err(|NotOwner| Error::NotOwner)
    }
}

impl<T: Default> Default for RLock<T> {
    fn default() -> Self {
        RLock::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for RLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Python: <unlocked _thread.RLock object owner=0 count=0 at 0x…>
        let owner = self.raw.raw().owner();
        let state = if self.locked() { "locked" } else { "unlocked" };
        write!(
            f,
            "<{state} gilfree.RLock object owner={owner} count={} at {:p}>",
            self.recursion_count(),
            self
        )
    }
}

/// Proof that the current thread owns an [`RLock`] at one level: the guard
/// layer's [`Guard`], which derefs to `&T` only (the owner may hold several
/// guards at once) and releases that level when dropped (Python's
/// `with rlock:`).
///
/// ```
/// let l = gilfree::threading::RLock::new(String::from("hi"));
/// {
///     let g: gilfree::threading::RLockGuard<'_, String> = l.acquire();
///     assert_eq!(g.len(), 2);
/// } // released here
/// assert!(!l.locked());
/// ```
pub type RLockGuard<'a, T = ()> = Guard<'a, RLock<T>>;

impl<T: ?Sized> Owned for RLock<T> {
    type Raw = RawRLock;
    type Data = T;
    #[inline(always)]
    fn hooked(&self) -> &Hooked<RawRLock> {
        &self.raw
    }
    #[inline(always)]
    fn data_ptr(&self) -> *mut T {
        self.data.get()
    }
}
