//! `Semaphore` and `BoundedSemaphore`: Python's `threading.Semaphore` and
//! `threading.BoundedSemaphore`, the private home of [`RawSemaphore`] (the
//! algorithm, its orderings and why no wake-up is lost are in
//! `raw/semaphore.rs`).

use std::fmt;
use std::time::Duration;

use super::error::Error;
use crate::raw::RawSemaphore;
use crate::sys::Deadline;
use crate::sys::atomic::const_fn;

/// A counting semaphore: Python's `threading.Semaphore`.
///
/// It holds a number of permits. [`acquire`](Semaphore::acquire) takes one,
/// blocking while none is free; [`release`](Semaphore::release) gives one
/// back (or adds one: an unbounded semaphore may grow past its initial
/// value). Like Python's, it has no owner: any thread may release.
///
/// Differences from Python:
/// - `acquire(blocking, timeout)` is three methods returning an RAII
///   [`SemaphoreGuard`] (Python's `with sem:`): [`acquire`](Semaphore::acquire),
///   [`try_acquire`](Semaphore::try_acquire),
///   [`acquire_timeout`](Semaphore::acquire_timeout).
///   [`acquire_unguarded`](Semaphore::acquire_unguarded) and
///   [`release_n`](Semaphore::release_n) have Python's exact shape.
/// - The value is a `u32`, so a negative initial value cannot be written
///   (Python raises `ValueError`); releasing past `u32::MAX` is an error
///   ([`Error::Value`]), not a panic.
/// - No fairness is promised (as in Python): see the module notes on
///   barging.
///
/// ```
/// use gilfree::threading::Semaphore;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
///
/// let pool = Arc::new(Semaphore::new(2)); // two connections
/// let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
/// let hs: Vec<_> = (0..6).map(|_| {
///     let (pool, now, max) = (pool.clone(), now.clone(), max.clone());
///     std::thread::spawn(move || {
///         let _permit = pool.acquire();
///         max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
///         now.fetch_sub(1, SeqCst);
///     })
/// }).collect();
/// for h in hs { h.join().unwrap(); }
/// assert!(max.load(SeqCst) <= 2);
/// ```
pub struct Semaphore {
    pub(super) raw: RawSemaphore,
}

impl Semaphore {
    const_fn! {
        /// A semaphore with `value` free permits (Python:
        /// `threading.Semaphore(value)`; Python's default is 1, see
        /// [`Semaphore::default`]).
        ///
        /// ```
        /// static SEM: gilfree::threading::Semaphore = gilfree::threading::Semaphore::new(3);
        /// assert_eq!(SEM.value(), 3);
        /// ```
        pub const fn new(value: u32) -> Self {
            Semaphore { raw: RawSemaphore::new(value) }
        }
    }

    /// Block until a permit is free and take it (Python: `sem.acquire()` or
    /// `with sem:`). The guard gives it back when dropped.
    ///
    /// ```
    /// let sem = gilfree::threading::Semaphore::new(1);
    /// {
    ///     let _g = sem.acquire();
    ///     assert_eq!(sem.value(), 0);
    /// }
    /// assert_eq!(sem.value(), 1);
    /// ```
    #[inline]
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        self.raw.acquire(Deadline::Never);
        SemaphoreGuard::new(&self.raw, u32::MAX)
    }

    /// Take a permit only if one is free now (Python:
    /// `sem.acquire(blocking=False)`).
    ///
    /// ```
    /// let sem = gilfree::threading::Semaphore::new(1);
    /// let g = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// drop(g);
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        self.raw
            .try_acquire()
            .then(|| SemaphoreGuard::new(&self.raw, u32::MAX))
    }

    /// Take a permit, giving up after `timeout` (Python:
    /// `sem.acquire(timeout=t)`). A duration too large for the clock waits
    /// forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = gilfree::threading::Semaphore::new(0);
    /// assert!(sem.acquire_timeout(Duration::from_millis(1)).is_none());
    /// ```
    #[inline]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        self.raw
            .acquire(Deadline::after(timeout))
            .then(|| SemaphoreGuard::new(&self.raw, u32::MAX))
    }

    /// Python's `sem.acquire(blocking=True, timeout=None)` exactly: take a
    /// permit without a guard and return whether one was taken. Give it back
    /// later with [`release`](Semaphore::release), from any thread.
    ///
    /// With `blocking = false` the timeout is ignored (Python raises
    /// `ValueError` if both are given).
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = gilfree::threading::Semaphore::new(1);
    /// assert!(sem.acquire_unguarded(true, None));
    /// assert!(!sem.acquire_unguarded(false, None));
    /// assert!(!sem.acquire_unguarded(true, Some(Duration::from_millis(1))));
    /// sem.release().unwrap();
    /// ```
    pub fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        if !blocking {
            return self.raw.try_acquire();
        }
        self.raw.acquire(Deadline::from_python(blocking, timeout))
    }

    /// Add one permit and wake one waiter if any (Python: `sem.release()`).
    /// An unbounded semaphore may grow above its initial value.
    ///
    /// # Errors
    /// [`Error::Value`] if the value would pass `u32::MAX` (Python's ints
    /// never overflow; a plain `Semaphore` raises nothing there); the value
    /// is left unchanged. This is the same error as
    /// [`release_n`](Semaphore::release_n)'s, and unlike
    /// [`BoundedSemaphore::release`]'s [`Error::TooManyReleases`], which is
    /// about the bound.
    ///
    /// ```
    /// use gilfree::threading::{Error, Semaphore};
    /// let sem = Semaphore::new(0);
    /// sem.release().unwrap();
    /// sem.release().unwrap();
    /// assert_eq!(sem.value(), 2);
    /// let full = Semaphore::new(u32::MAX);
    /// assert!(matches!(full.release(), Err(Error::Value(_))));
    /// ```
    #[inline]
    pub fn release(&self) -> Result<(), Error> {
        self.raw.release(1, u32::MAX).map_err(|_| overflow())
    }

    /// Add `n` permits and wake up to `n` waiters (Python 3.9+:
    /// `sem.release(n)`).
    ///
    /// # Errors
    /// [`Error::Value`] if `n` is 0 (Python: `ValueError: n must be one or
    /// more`) or if the value would pass `u32::MAX`; nothing changes.
    ///
    /// ```
    /// let sem = gilfree::threading::Semaphore::new(0);
    /// sem.release_n(3).unwrap();
    /// assert_eq!(sem.value(), 3);
    /// assert!(sem.release_n(0).is_err());
    /// ```
    pub fn release_n(&self, n: u32) -> Result<(), Error> {
        if n == 0 {
            return Err(Error::Value("n must be one or more"));
        }
        self.raw.release(n, u32::MAX).map_err(|_| overflow())
    }

    /// The number of free permits, a snapshot (Python's private
    /// `sem._value`, shown by its `repr`).
    ///
    /// ```
    /// let sem = gilfree::threading::Semaphore::new(2);
    /// let _g = sem.acquire();
    /// assert_eq!(sem.value(), 1);
    /// ```
    #[inline]
    pub fn value(&self) -> u32 {
        self.raw.value()
    }
}

/// The error of a release that would take a `Semaphore` past `u32::MAX`.
#[cold]
#[inline(never)]
fn overflow() -> Error {
    Error::Value("Semaphore value would overflow u32")
}

impl Default for Semaphore {
    /// One permit, Python's default (`threading.Semaphore()`).
    ///
    /// ```
    /// assert_eq!(gilfree::threading::Semaphore::default().value(), 1);
    /// ```
    fn default() -> Self {
        Semaphore::new(1)
    }
}

impl fmt::Debug for Semaphore {
    /// Python's repr: `<threading.Semaphore at 0x…: value=3>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<gilfree.Semaphore at {:p}: value={}>",
            self,
            self.value()
        )
    }
}

/// A semaphore that refuses to grow past its initial value: Python's
/// `threading.BoundedSemaphore`.
///
/// Releasing more often than acquiring is a bug in the caller; Python
/// raises `ValueError: Semaphore released too many times`, here
/// [`release`](BoundedSemaphore::release) returns
/// [`Error::TooManyReleases`] and the value is left unchanged. The check
/// and the add are one atomic step, so two racing over-releases cannot both
/// pass.
///
/// Same API and differences as [`Semaphore`], except that releases return a
/// `Result`. A [`SemaphoreGuard`] dropped when the value is already at the
/// bound (because someone else over-released with
/// [`release`](BoundedSemaphore::release)) silently leaves it at the bound:
/// a destructor cannot raise.
///
/// ```
/// use gilfree::threading::{BoundedSemaphore, Error};
/// let sem = BoundedSemaphore::new(2);
/// let g = sem.acquire();
/// drop(g);
/// assert_eq!(sem.release(), Err(Error::TooManyReleases));
/// assert_eq!(sem.value(), 2);
/// ```
pub struct BoundedSemaphore {
    pub(super) raw: RawSemaphore,
    pub(super) initial: u32,
}

impl BoundedSemaphore {
    const_fn! {
        /// A bounded semaphore with `value` free permits, which is also its
        /// ceiling (Python: `threading.BoundedSemaphore(value)`; the default
        /// of 1 is [`BoundedSemaphore::default`]).
        ///
        /// ```
        /// let sem = gilfree::threading::BoundedSemaphore::new(3);
        /// assert_eq!((sem.value(), sem.initial_value()), (3, 3));
        /// ```
        pub const fn new(value: u32) -> Self {
            BoundedSemaphore { raw: RawSemaphore::new(value), initial: value }
        }
    }

    /// Block until a permit is free and take it (Python: `sem.acquire()` or
    /// `with sem:`). The guard gives it back when dropped.
    ///
    /// ```
    /// let sem = gilfree::threading::BoundedSemaphore::new(1);
    /// let g = sem.acquire();
    /// assert!(sem.try_acquire().is_none());
    /// drop(g);
    /// assert_eq!(sem.value(), 1);
    /// ```
    #[inline]
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        self.raw.acquire(Deadline::Never);
        SemaphoreGuard::new(&self.raw, self.initial)
    }

    /// Take a permit only if one is free now (Python:
    /// `sem.acquire(blocking=False)`).
    ///
    /// ```
    /// let sem = gilfree::threading::BoundedSemaphore::new(1);
    /// let _g = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        self.raw
            .try_acquire()
            .then(|| SemaphoreGuard::new(&self.raw, self.initial))
    }

    /// Take a permit, giving up after `timeout` (Python:
    /// `sem.acquire(timeout=t)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = gilfree::threading::BoundedSemaphore::new(1);
    /// let _g = sem.acquire();
    /// assert!(sem.acquire_timeout(Duration::from_millis(1)).is_none());
    /// ```
    #[inline]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        self.raw
            .acquire(Deadline::after(timeout))
            .then(|| SemaphoreGuard::new(&self.raw, self.initial))
    }

    /// Python's `sem.acquire(blocking=True, timeout=None)` exactly, without a
    /// guard; see [`Semaphore::acquire_unguarded`].
    ///
    /// ```
    /// let sem = gilfree::threading::BoundedSemaphore::new(1);
    /// assert!(sem.acquire_unguarded(false, None));
    /// assert!(!sem.acquire_unguarded(false, None));
    /// sem.release().unwrap();
    /// ```
    pub fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        if !blocking {
            return self.raw.try_acquire();
        }
        self.raw.acquire(Deadline::from_python(blocking, timeout))
    }

    /// Give one permit back and wake one waiter if any (Python:
    /// `sem.release()`).
    ///
    /// # Errors
    /// [`Error::TooManyReleases`] if the value is already at its initial
    /// value (Python: `ValueError: Semaphore released too many times`); the
    /// value is unchanged.
    ///
    /// ```
    /// use gilfree::threading::{BoundedSemaphore, Error};
    /// let sem = BoundedSemaphore::new(1);
    /// assert!(sem.acquire_unguarded(true, None));
    /// assert_eq!(sem.release(), Ok(()));
    /// assert_eq!(sem.release(), Err(Error::TooManyReleases));
    /// ```
    #[inline]
    pub fn release(&self) -> Result<(), Error> {
        self.raw
            .release(1, self.initial)
            .map_err(|_| Error::TooManyReleases)
    }

    /// Give `n` permits back and wake up to `n` waiters (Python 3.9+:
    /// `sem.release(n)`). All or nothing: if the `n` would take the value
    /// above the initial value, none is added.
    ///
    /// # Errors
    /// [`Error::Value`] if `n` is 0; [`Error::TooManyReleases`] if the value
    /// would pass the initial value. Either way nothing changes.
    ///
    /// ```
    /// use gilfree::threading::{BoundedSemaphore, Error};
    /// let sem = BoundedSemaphore::new(3);
    /// for _ in 0..2 { assert!(sem.acquire_unguarded(true, None)); }
    /// assert_eq!(sem.release_n(3), Err(Error::TooManyReleases));
    /// assert_eq!(sem.value(), 1);
    /// assert_eq!(sem.release_n(2), Ok(()));
    /// ```
    pub fn release_n(&self, n: u32) -> Result<(), Error> {
        if n == 0 {
            return Err(Error::Value("n must be one or more"));
        }
        self.raw
            .release(n, self.initial)
            .map_err(|_| Error::TooManyReleases)
    }

    /// The number of free permits, a snapshot (Python's private `_value`).
    ///
    /// ```
    /// let sem = gilfree::threading::BoundedSemaphore::new(2);
    /// let _g = sem.acquire();
    /// assert_eq!(sem.value(), 1);
    /// ```
    #[inline]
    pub fn value(&self) -> u32 {
        self.raw.value()
    }

    /// The initial value, which is the ceiling (Python's private
    /// `_initial_value`).
    ///
    /// ```
    /// assert_eq!(gilfree::threading::BoundedSemaphore::new(4).initial_value(), 4);
    /// ```
    #[inline]
    pub fn initial_value(&self) -> u32 {
        self.initial
    }
}

impl Default for BoundedSemaphore {
    /// One permit, Python's default (`threading.BoundedSemaphore()`).
    ///
    /// ```
    /// assert_eq!(gilfree::threading::BoundedSemaphore::default().initial_value(), 1);
    /// ```
    fn default() -> Self {
        BoundedSemaphore::new(1)
    }
}

impl fmt::Debug for BoundedSemaphore {
    /// Python's repr: `<threading.BoundedSemaphore at 0x…: value=2/3>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<gilfree.BoundedSemaphore at {:p}: value={}/{}>",
            self,
            self.value(),
            self.initial
        )
    }
}

/// One permit of a [`Semaphore`] or [`BoundedSemaphore`], given back when
/// dropped (the end of Python's `with sem:` block, also on a panic).
///
/// A permit has no owner, so the guard may be sent to another thread and
/// dropped there.
///
/// ```
/// let sem = gilfree::threading::Semaphore::new(1);
/// let g = sem.acquire();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g));
/// });
/// assert_eq!(sem.value(), 1);
/// ```
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    raw: &'a RawSemaphore,
    ceiling: u32,
}

impl<'a> SemaphoreGuard<'a> {
    #[inline]
    pub(super) fn new(raw: &'a RawSemaphore, ceiling: u32) -> Self {
        SemaphoreGuard { raw, ceiling }
    }

    /// Keep the permit: drop the guard without giving it back (Python: an
    /// `acquire()` never followed by `release()`). Release it later with
    /// `release`, from any thread.
    ///
    /// ```
    /// let sem = gilfree::threading::Semaphore::new(1);
    /// sem.acquire().forget();
    /// assert_eq!(sem.value(), 0);
    /// sem.release().unwrap();
    /// ```
    pub fn forget(self) {
        core::mem::forget(self)
    }
}

impl Drop for SemaphoreGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Over the ceiling only if someone else over-released a bounded
        // semaphore meanwhile (or an unbounded one overflowed u32); a
        // destructor cannot raise, so the value stays where it is.
        let _ = self.raw.release(1, self.ceiling);
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}
