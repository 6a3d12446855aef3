//! `Lock`: Python's `threading.Lock`, the private home of [`RawLock`]
//! (the algorithm, its state encoding and why no wake-up is lost are in
//! `raw/lock.rs`).

use std::cell::UnsafeCell;
use std::fmt;
use std::time::Duration;

use super::error::Error;
use crate::guard::sealed::{Exclusive, Owned};
use crate::guard::{Guard, Hooked};
use crate::raw::RawLock;
use crate::sys::Deadline;
use crate::sys::atomic::const_fn;

/// A primitive lock: Python's `threading.Lock`, which can also guard data.
///
/// Like Python's lock it has no owner: any thread may release it (see
/// [`Lock::release`]), and it is not reentrant — a thread that acquires it
/// twice blocks itself. In Rust it usually guards data, like
/// `std::sync::Mutex`: [`acquire`](Lock::acquire) returns a guard that
/// derefs to the `T` inside and releases on drop (Python's `with lock:`).
///
/// Differences from Python:
/// - `acquire(blocking, timeout)` is three methods: [`acquire`](Lock::acquire),
///   [`try_acquire`](Lock::try_acquire), [`acquire_timeout`](Lock::acquire_timeout).
///   [`acquire_unguarded`](Lock::acquire_unguarded) and [`release`](Lock::release)
///   give Python's exact shape on a data-less `Lock<()>`.
/// - No poisoning: a guard dropped by a panicking thread releases the lock,
///   as Python's `with` does on an exception.
///
/// ```
/// use gilfree::threading::Lock;
/// use std::sync::Arc;
///
/// let counter = Arc::new(Lock::new(0u64));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let c = counter.clone();
///         std::thread::spawn(move || for _ in 0..1000 { *c.acquire() += 1 })
///     })
///     .collect();
/// for h in handles { h.join().unwrap(); }
/// assert_eq!(*counter.acquire(), 4000);
/// ```
pub struct Lock<T: ?Sized = ()> {
    /// The raw lock and its deadlock hooks (see `crate::guard`).
    pub(super) raw: Hooked<RawLock>,
    pub(super) data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one thread at a time, so sharing a
// `Lock<T>` is sound whenever `T` may be sent to another thread (the same
// bounds as `std::sync::Mutex`).
unsafe impl<T: ?Sized + Send> Sync for Lock<T> {}
// SAFETY: sending the lock sends the `T` inside it.
unsafe impl<T: ?Sized + Send> Send for Lock<T> {}

impl<T> Lock<T> {
    const_fn! {
        /// A new, unlocked lock guarding `value` (Python: `threading.Lock()`).
        ///
        /// ```
        /// static LOCK: gilfree::threading::Lock = gilfree::threading::Lock::new(());
        /// assert!(!LOCK.locked());
        /// ```
        pub const fn new(value: T) -> Self {
            Lock { raw: Hooked::new(RawLock::new()), data: UnsafeCell::new(value) }
        }
    }

    /// Consume the lock and return the data.
    ///
    /// ```
    /// let l = gilfree::threading::Lock::new(5);
    /// assert_eq!(l.into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Lock<T> {
    /// Block until the lock is acquired (Python: `lock.acquire()` or
    /// `with lock:`). The guard releases it when dropped.
    ///
    /// ```
    /// let l = gilfree::threading::Lock::new(vec![1]);
    /// l.acquire().push(2);
    /// assert_eq!(*l.acquire(), [1, 2]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire(&self) -> LockGuard<'_, T> {
        self.raw.lock(Deadline::Never);
        // SAFETY: just acquired by this thread.
        unsafe { Guard::from_held(self) }
    }

    /// Acquire only if the lock is free now (Python:
    /// `lock.acquire(blocking=False)`).
    ///
    /// ```
    /// let l = gilfree::threading::Lock::new(());
    /// let g = l.try_acquire().unwrap();
    /// assert!(l.try_acquire().is_none());
    /// drop(g);
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_acquire(&self) -> Option<LockGuard<'_, T>> {
        // SAFETY: acquired by this thread if `then` runs the closure.
        self.raw
            .try_lock()
            .then(|| unsafe { Guard::from_held(self) })
    }

    /// Acquire, giving up after `timeout` (Python: `lock.acquire(timeout=t)`).
    /// A duration too large for the clock waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = gilfree::threading::Lock::new(());
    /// let _g = l.acquire();
    /// assert!(l.acquire_timeout(Duration::from_millis(1)).is_none());
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        // SAFETY: acquired by this thread if `then` runs the closure.
        self.raw
            .lock(Deadline::after(timeout))
            .then(|| unsafe { Guard::from_held(self) })
    }

    /// Whether the lock is held by some thread (Python: `lock.locked()`).
    /// A snapshot: it may change at once.
    ///
    /// ```
    /// let l = gilfree::threading::Lock::new(());
    /// let g = l.acquire();
    /// assert!(l.locked());
    /// drop(g);
    /// assert!(!l.locked());
    /// ```
    #[inline]
    pub fn locked(&self) -> bool {
        self.raw.raw().is_locked()
    }

    /// Mutable access without locking: `&mut self` proves nobody else holds it.
    ///
    /// ```
    /// let mut l = gilfree::threading::Lock::new(1);
    /// *l.get_mut() += 1;
    /// assert_eq!(*l.acquire(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl Lock<()> {
    /// Python's `lock.acquire(blocking=True, timeout=-1)` exactly: acquire
    /// without a guard and return whether it was acquired. Release it later
    /// with [`Lock::release`], from any thread.
    ///
    /// Only a data-less `Lock<()>` has this: with data inside, releasing
    /// without the guard would let two threads reach the data at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = gilfree::threading::Lock::new(());
    /// assert!(l.acquire_unguarded(true, None));
    /// assert!(!l.acquire_unguarded(false, None));
    /// assert!(!l.acquire_unguarded(true, Some(Duration::from_millis(1))));
    /// l.release().unwrap();
    /// ```
    #[track_caller]
    pub fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        if blocking {
            self.raw.lock(Deadline::from_python(true, timeout))
        } else {
            self.raw.try_lock()
        }
    }

    /// Python's `lock.release()`: release a lock held by any thread.
    ///
    /// # Errors
    /// [`Error::ReleaseUnlocked`] if the lock is not locked (Python's
    /// `RuntimeError: release unlocked lock`); nothing changes.
    ///
    /// ```
    /// let l = gilfree::threading::Lock::new(());
    /// std::mem::forget(l.acquire());
    /// assert!(l.release().is_ok());
    /// assert!(l.release().is_err());
    /// ```
    pub fn release(&self) -> Result<(), Error> {
        if self.raw.unlock() {
            Ok(())
        } else {
            Err(Error::ReleaseUnlocked)
        }
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Python: <unlocked _thread.lock object at 0x…>
        let state = if self.locked() { "locked" } else { "unlocked" };
        write!(f, "<{state} gilfree.Lock object at {:p}>", self)
    }
}

/// Proof that a [`Lock`] is held: the guard layer's [`Guard`], which derefs
/// to the data (`&mut` too) and releases the lock when dropped (Python's
/// `with lock:` block).
///
/// ```
/// let l = gilfree::threading::Lock::new(String::new());
/// {
///     let mut g: gilfree::threading::LockGuard<'_, String> = l.acquire();
///     g.push_str("hi");
/// } // released here
/// assert_eq!(*l.acquire(), "hi");
/// ```
pub type LockGuard<'a, T = ()> = Guard<'a, Lock<T>>;

impl<T: ?Sized> Owned for Lock<T> {
    type Raw = RawLock;
    type Data = T;
    #[inline(always)]
    fn hooked(&self) -> &Hooked<RawLock> {
        &self.raw
    }
    #[inline(always)]
    fn data_ptr(&self) -> *mut T {
        self.data.get()
    }
}

impl<T: ?Sized> Exclusive for Lock<T> {}
