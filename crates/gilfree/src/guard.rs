//! The guard layer: what every owned lock (a lock with a holder: `Lock`,
//! `RLock`, and the process-shared locks of `multiprocessing`) adds on top of its raw
//! algorithm, written once — the deadlock hooks around acquire and release
//! ([`Hooked`]), the RAII [`Guard`] that gives access to the data, and what
//! `acquire_all` needs ([`Lockable`]).
//!
//! It sits between `raw` (below: the algorithms, which know nothing of
//! hooks or data) and the homes (above: `threading`, `multiprocessing`),
//! and assumes nothing about where a lock's words live: [`RawMutex`] is
//! implemented for `RawLock<S>` and `RawRLock<S>` for every `Scope`.
//!
//! The hooks are called here and only here; without the
//! `deadlock-detection` feature they are empty `#[inline(always)]`
//! functions and [`Hooked::lock`] compiles to the raw lock's own fast path.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use std::fmt;
use std::time::Instant;

use crate::lockdep;
use crate::raw::{NotOwner, RawLock, RawRLock};
use crate::sys::atomic::const_fn;
use crate::sys::{Deadline, Scope};

/// A raw lock algorithm as the guard layer drives it.
pub trait RawMutex: Send + Sync {
    /// What a release returns (`bool` "was locked", or `Result`).
    type Unlocked;
    /// What the deadlock detector calls this kind of lock.
    const KIND: &'static str;
    /// Whether the holder may acquire again (then a re-entry skips the
    /// hooks: it is no order edge and never waits).
    const REENTRANT: bool;
    /// Whether the calling thread holds it already (reentrant locks only).
    fn owned(&self) -> bool;
    /// Take it if that needs no waiting.
    fn try_lock(&self) -> bool;
    /// Take it after a failed [`try_lock`](Self::try_lock), until `deadline`.
    fn lock_contended(&self, deadline: Deadline) -> bool;
    /// The whole acquire (fast path and slow path).
    fn lock(&self, deadline: Deadline) -> bool;
    /// Whether the next release frees the lock (not just one level).
    fn last_level(&self) -> bool;
    /// Release (one level).
    fn unlock(&self) -> Self::Unlocked;
}

impl<S: Scope> RawMutex for RawLock<S> {
    type Unlocked = bool;
    const KIND: &'static str = "Lock";
    const REENTRANT: bool = false;
    #[inline(always)]
    fn owned(&self) -> bool {
        false
    }
    #[inline(always)]
    fn try_lock(&self) -> bool {
        RawLock::try_lock(self)
    }
    #[inline(always)]
    fn lock_contended(&self, deadline: Deadline) -> bool {
        RawLock::lock_contended(self, deadline)
    }
    #[inline(always)]
    fn lock(&self, deadline: Deadline) -> bool {
        RawLock::lock(self, deadline)
    }
    #[inline(always)]
    fn last_level(&self) -> bool {
        true
    }
    #[inline(always)]
    fn unlock(&self) -> bool {
        RawLock::unlock(self)
    }
}

impl<S: Scope> RawMutex for RawRLock<S> {
    type Unlocked = Result<(), NotOwner>;
    const KIND: &'static str = "RLock";
    const REENTRANT: bool = true;
    #[inline(always)]
    fn owned(&self) -> bool {
        self.is_owned()
    }
    #[inline(always)]
    fn try_lock(&self) -> bool {
        RawRLock::try_lock(self)
    }
    #[inline(always)]
    fn lock_contended(&self, deadline: Deadline) -> bool {
        RawRLock::lock(self, deadline)
    }
    #[inline(always)]
    fn lock(&self, deadline: Deadline) -> bool {
        RawRLock::lock(self, deadline)
    }
    #[inline(always)]
    fn last_level(&self) -> bool {
        self.recursion_count() == 1
    }
    #[inline(always)]
    fn unlock(&self) -> Result<(), NotOwner> {
        RawRLock::unlock(self)
    }
}

/// A raw lock plus the deadlock detector's tag for it (zero bytes without
/// the feature): every acquire and release of an owned lock goes through
/// here, so the hooks are called in one place.
#[repr(C)]
pub struct Hooked<R> {
    raw: R,
    /// The deadlock detector's id and owner.
    dl: lockdep::Tag,
}

impl<R: RawMutex> Hooked<R> {
    const_fn! {
        pub(crate) const fn new(raw: R) -> Self {
            Hooked { raw, dl: lockdep::Tag::new() }
        }
    }

    /// The raw lock, for snapshots (`locked()`, `is_owned()`, …).
    #[inline(always)]
    pub(crate) fn raw(&self) -> &R {
        &self.raw
    }

    /// Block (until `deadline`) for the lock, through the hooks. Without
    /// the `deadlock-detection` feature this is exactly
    /// `self.raw.lock(deadline)`.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn lock(&self, deadline: Deadline) -> bool {
        if R::REENTRANT && (!lockdep::ENABLED || self.raw.owned()) {
            return self.raw.lock(deadline);
        }
        lockdep::before_acquire(&self.dl, R::KIND, true);
        let taken = self.raw.try_lock() || {
            lockdep::wait_begin(&self.dl, R::KIND);
            let taken = self.raw.lock_contended(deadline);
            lockdep::wait_end();
            taken
        };
        if taken {
            lockdep::acquired(&self.dl, R::KIND);
        }
        taken
    }

    /// Take the lock if that needs no waiting, through the hooks (a try
    /// records no order edge: it cannot wait).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn try_lock(&self) -> bool {
        if R::REENTRANT && (!lockdep::ENABLED || self.raw.owned()) {
            return self.raw.try_lock();
        }
        lockdep::before_acquire(&self.dl, R::KIND, false);
        let taken = self.raw.try_lock();
        if taken {
            lockdep::acquired(&self.dl, R::KIND);
        }
        taken
    }

    /// Take the lock back inside a `Condition` wait: like
    /// [`lock`](Self::lock) with no deadline, but a lock-order report never
    /// panics here (the caller's guard needs the lock back).
    #[inline]
    #[track_caller]
    pub(crate) fn relock(&self, take: impl FnOnce(&R)) {
        lockdep::before_reacquire(&self.dl, R::KIND);
        lockdep::wait_begin(&self.dl, R::KIND);
        take(&self.raw);
        lockdep::wait_end();
        lockdep::acquired(&self.dl, R::KIND);
    }

    /// Release one level, through the hooks when it frees the lock (they
    /// run first, so the detector never shows an owner for a lock someone
    /// else already holds).
    #[inline(always)]
    pub(crate) fn unlock(&self) -> R::Unlocked {
        // `ENABLED` first: without the feature the level check (loads and a
        // thread-local read for an RLock) must not run at all.
        if lockdep::ENABLED && self.raw.last_level() {
            lockdep::released(&self.dl);
        }
        self.raw.unlock()
    }

    /// Tell the detector the lock is about to be freed, if `freeing` (for
    /// releases other than [`unlock`](Self::unlock), e.g. `release_save`).
    #[inline(always)]
    pub(crate) fn released_if(&self, freeing: bool) {
        if lockdep::ENABLED && freeing {
            lockdep::released(&self.dl);
        }
    }

    /// The global order `acquire_all` takes locks in.
    #[inline]
    fn order_key(&self) -> u64 {
        lockdep::order_key(&self.dl, self.word_addr())
    }

    /// The address of the raw lock: distinct for distinct live locks.
    #[inline]
    fn word_addr(&self) -> usize {
        &self.raw as *const R as usize
    }
}

pub(crate) mod sealed {
    use super::*;

    /// An owned lock that guards data: what [`Guard`] needs of it.
    pub trait Owned {
        /// Its raw algorithm.
        type Raw: RawMutex;
        /// The data it guards.
        type Data: ?Sized;
        /// The raw lock with its hooks.
        fn hooked(&self) -> &Hooked<Self::Raw>;
        /// The data, for a holder.
        fn data_ptr(&self) -> *mut Self::Data;
    }

    /// What [`acquire_all`](crate::deadlock::acquire_all) needs of a lock
    /// (object safe, so that locks of different types share one slice).
    pub trait Sealed {
        /// The global acquisition order (see `lockdep::order_key`).
        fn order_key(&self) -> u64;
        /// The address of the lock's state: distinct for distinct locks, so
        /// it identifies the lock among the arguments of one call.
        fn word_addr(&self) -> usize;
        /// Acquire, with the deadlock hooks, giving up at `deadline`
        /// (`None`: never).
        #[track_caller]
        fn lock_until(&self, deadline: Option<Instant>) -> bool;
        /// Acquire if free now, with the deadlock hooks.
        #[track_caller]
        fn lock_try(&self) -> bool;
        /// Release one acquisition made by `lock_until`/`lock_try` on this
        /// thread.
        fn unlock_held(&self);
    }

    impl<L: ?Sized + Owned> Sealed for L {
        #[inline]
        fn order_key(&self) -> u64 {
            self.hooked().order_key()
        }
        #[inline]
        fn word_addr(&self) -> usize {
            self.hooked().word_addr()
        }
        #[inline]
        #[track_caller]
        fn lock_until(&self, deadline: Option<Instant>) -> bool {
            self.hooked()
                .lock(deadline.map_or(Deadline::Never, Deadline::At))
        }
        #[inline]
        #[track_caller]
        fn lock_try(&self) -> bool {
            self.hooked().try_lock()
        }
        #[inline]
        fn unlock_held(&self) {
            // Taken by this thread through lock_until/lock_try: it holds it,
            // so the release cannot fail.
            let _ = self.hooked().unlock();
        }
    }

    /// A lock whose guard may hand out `&mut` (one holder, no re-entry).
    pub trait Exclusive: Owned {}
}

use sealed::{Exclusive, Owned};

/// A gilfree lock that [`acquire_all`](crate::deadlock::acquire_all) can
/// take: [`Lock`](crate::threading::Lock) and
/// [`RLock`](crate::threading::RLock) (any `T`; an `RLock` the thread
/// already owns is re-entered). Sealed: it cannot be implemented outside
/// gilfree.
///
/// Python has no such trait; it is the set of objects `with` accepts that
/// are locks.
///
/// ```
/// use gilfree::deadlock::{Lockable, acquire_all};
/// use gilfree::threading::Lock;
///
/// fn lock_both(a: &dyn Lockable, b: &dyn Lockable) -> usize {
///     acquire_all(&[a, b]).len()
/// }
/// assert_eq!(lock_both(&Lock::new(1), &Lock::new("x")), 2);
/// ```
pub trait Lockable: sealed::Sealed {}

impl<L: ?Sized + Owned> Lockable for L {}

/// Proof that a gilfree lock is held: gives access to the data and
/// releases (one level of) the lock when dropped — Python's `with lock:`
/// block. [`LockGuard`](crate::threading::LockGuard) and
/// [`RLockGuard`](crate::threading::RLockGuard) are this type.
///
/// It derefs to `&T`, and to `&mut T` for a lock that cannot be re-entered
/// (`Lock`; an `RLock`'s holder may hold several guards at once). Like
/// std's `MutexGuard` it is not `Send`: the release comes from the thread
/// that acquired (the deadlock detector's bookkeeping and an `RLock`'s
/// owner word rely on it). No poisoning: a guard dropped by a panicking
/// thread releases the lock, as Python's `with` does on an exception.
///
/// ```
/// let l = gilfree::threading::Lock::new(String::new());
/// {
///     let mut g = l.acquire();
///     g.push_str("hi");
/// } // released here
/// assert_eq!(*l.acquire(), "hi");
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct Guard<'a, L: ?Sized + Owned> {
    lock: &'a L,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T` (and `&L`, which is `Sync` for
// every gilfree lock whose `T: Send`), fine to share when `T: Sync`.
unsafe impl<L: ?Sized + Owned + Sync> Sync for Guard<'_, L> where L::Data: Sync {}

impl<'a, L: ?Sized + Owned> Guard<'a, L> {
    /// A guard for an acquisition this thread made just now.
    ///
    /// # Safety
    /// The calling thread holds `lock` (one level of it), and no other
    /// guard or holder will release that acquisition.
    #[inline]
    pub(crate) unsafe fn from_held(lock: &'a L) -> Self {
        Guard {
            lock,
            _not_send: PhantomData,
        }
    }

    /// The lock this guard holds.
    ///
    /// ```
    /// let l = gilfree::threading::Lock::new(());
    /// let g = l.acquire();
    /// assert!(std::ptr::eq(g.lock(), &l));
    /// ```
    pub fn lock(&self) -> &'a L {
        self.lock
    }
}

impl<L: ?Sized + Owned> Deref for Guard<'_, L> {
    type Target = L::Data;
    fn deref(&self) -> &L::Data {
        // SAFETY: the guard means this thread holds the lock, so no other
        // thread reaches the data; a reentrant lock's other guards on this
        // thread only give `&T` too, so no `&mut T` exists anywhere.
        unsafe { &*self.lock.data_ptr() }
    }
}

impl<L: ?Sized + Exclusive> DerefMut for Guard<'_, L> {
    fn deref_mut(&mut self) -> &mut L::Data {
        // SAFETY: as in `deref`; the lock cannot be re-entered, so this
        // guard is its only holder, and `&mut self` makes this the only
        // access through it.
        unsafe { &mut *self.lock.data_ptr() }
    }
}

impl<L: ?Sized + Owned> Drop for Guard<'_, L> {
    #[inline]
    fn drop(&mut self) {
        // Fails only if a data-less lock's level was already given back
        // with `release()` behind the guard's back; nothing is left to do.
        let _ = self.lock.hooked().unlock();
    }
}

impl<L: ?Sized + Owned> fmt::Debug for Guard<'_, L>
where
    L::Data: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
