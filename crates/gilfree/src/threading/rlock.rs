//! `RLock`: Python's `threading.RLock`, a [`RawLock`] plus an owner word.
//!
//! # State encoding
//!
//! - `lock`: a [`RawLock`] (one futex word) taken by the first acquire of
//!   the owning thread and released by its last release.
//! - `owner: AtomicU32`: the owning thread's id, `0` when nobody owns it.
//!   Written only by the thread that holds `lock` (or is about to release it).
//! - `count: AtomicU32`: the recursion depth, read and written only by the
//!   owner.
//!
//! Thread ids come from [`current_owner_id`]: in a shared mapping
//! (`S = Shared`) the kernel thread id (`gettid`), unique across processes
//! while the thread lives, so the algorithm tells threads of different
//! processes apart; for private locks a per-process counter value cached in
//! a thread-local (never reused, fork-safe; no syscall on a recursive
//! acquire).
//!
//! # Memory ordering
//!
//! All the ordering between owners goes through `lock` (an `Acquire` CAS
//! matched with a `Release` swap, see lock.rs). `owner` and `count` are
//! `Relaxed`: a thread only ever finds its *own* id in `owner` if it stored
//! it itself (program order makes that store visible to it, and no other
//! thread can store while it holds `lock`); any other value, stale or not,
//! means "not mine", which is the only question asked. The owner clears
//! `owner` before releasing `lock`, so the next owner's store comes after
//! it in the word's modification order.
//!
//! # Why no wake-up is lost
//!
//! Sleeping only happens inside [`RawLock`]; its argument applies unchanged.
//! A recursive acquire or a non-final release never touches `lock`.
//!
//! An uncontended first acquire is one CAS (in `RawLock`) plus two relaxed
//! stores; a recursive acquire is a thread-local read, a relaxed load and a
//! relaxed store — no read-modify-write at all.

use core::marker::PhantomData;
use core::ops::Deref;
use std::cell::UnsafeCell;
use std::fmt;
use std::time::Duration;

use super::Error;
use super::lock::RawLock;
use crate::deadlock::{self, sealed};
use crate::sys::atomic::{AtomicU32, Ordering::*, const_fn};
use crate::sys::{Deadline, Private, Scope};

/// The id of the calling thread, as stored in an RLock's owner word; never 0.
///
/// For `S = Shared` this is the kernel thread id, unique across processes
/// while the thread lives (read afresh, so a forked child gets its own).
/// For `S = Private` it is a process-wide counter value cached in a
/// thread-local, which keeps a recursive acquire free of syscalls. Not the
/// cached kernel id: after `fork` the child's thread would keep its
/// parent's id, which the kernel may give to a new thread of the child once
/// the parent's thread exits — two threads would then both "own" a lock and
/// reach a `!Sync` `T` at once. A counter value is never given out twice in
/// a process (until 2^32 threads have asked), and a forked child continues
/// its parent's counter. Under loom, a per-model-thread id.
#[inline]
pub(crate) fn current_owner_id<S: Scope>() -> u32 {
    #[cfg(not(loom))]
    {
        if S::SHARED {
            return rustix::thread::gettid().as_raw_nonzero().get() as u32;
        }
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        thread_local! {
            static TID: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
        }
        TID.with(|t| {
            let v = t.get();
            if v != 0 {
                v
            } else {
                let mut v = 0;
                while v == 0 {
                    v = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                t.set(v);
                v
            }
        })
    }
    #[cfg(loom)]
    {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        loom::thread_local! {
            static TID: u32 = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        TID.with(|t| *t)
    }
}

/// The reentrant lock algorithm without data, in private memory (threads) or
/// in a shared mapping (processes, `S = Shared`).
#[repr(C)]
pub(crate) struct RawRLock<S: Scope = Private> {
    lock: RawLock<S>,
    owner: AtomicU32,
    count: AtomicU32,
}

#[allow(dead_code)]
impl<S: Scope> RawRLock<S> {
    const_fn! {
        pub(crate) const fn new() -> Self {
            RawRLock { lock: RawLock::new(), owner: AtomicU32::new(0), count: AtomicU32::new(0) }
        }
    }

    /// Whether the calling thread owns the lock.
    #[inline]
    pub(crate) fn is_owned(&self) -> bool {
        self.owner.load(Relaxed) == current_owner_id::<S>()
    }

    /// Acquire (recursively if already owned), giving up at `deadline`.
    #[inline]
    pub(crate) fn lock(&self, deadline: Deadline) -> bool {
        self.lock_with(|raw| raw.lock(deadline))
    }

    /// Acquire only if that needs no waiting (free, or already ours).
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.lock_with(RawLock::try_lock)
    }

    #[inline]
    fn lock_with(&self, take: impl FnOnce(&RawLock<S>) -> bool) -> bool {
        let me = current_owner_id::<S>();
        if self.owner.load(Relaxed) == me {
            let c = self.count.load(Relaxed);
            // Python's RLock counts in an unsigned long and raises
            // OverflowError; four billion levels is a bug in the caller.
            assert!(c != u32::MAX, "RLock recursion count overflow");
            self.count.store(c + 1, Relaxed);
            return true;
        }
        if !take(&self.lock) {
            return false;
        }
        self.owner.store(me, Relaxed);
        self.count.store(1, Relaxed);
        true
    }

    /// Release one level. `Err(NotOwner)` (and no change) if the calling
    /// thread does not own the lock.
    #[inline]
    pub(crate) fn unlock(&self) -> Result<(), Error> {
        if !self.is_owned() {
            return Err(Error::NotOwner);
        }
        let c = self.count.load(Relaxed) - 1;
        self.count.store(c, Relaxed);
        if c == 0 {
            self.owner.store(0, Relaxed);
            self.lock.unlock();
        }
        Ok(())
    }

    /// Python's `_release_save`: release every level at once and return the
    /// recursion count, for [`acquire_restore`](Self::acquire_restore).
    pub(crate) fn release_save(&self) -> Result<u32, Error> {
        if !self.is_owned() {
            return Err(Error::NotOwner);
        }
        let c = self.count.load(Relaxed);
        self.count.store(0, Relaxed);
        self.owner.store(0, Relaxed);
        self.lock.unlock();
        Ok(c)
    }

    /// Python's `_acquire_restore`: block until acquired, then restore the
    /// recursion count saved by [`release_save`](Self::release_save).
    pub(crate) fn acquire_restore(&self, count: u32) {
        self.lock.lock(Deadline::Never);
        self.owner.store(current_owner_id::<S>(), Relaxed);
        self.count.store(count, Relaxed);
    }

    /// The calling thread's recursion depth (0 if it does not own the lock).
    #[inline]
    pub(crate) fn recursion_count(&self) -> u32 {
        if self.is_owned() {
            self.count.load(Relaxed)
        } else {
            0
        }
    }

    /// Whether any thread holds the lock (a snapshot).
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }
}

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
    raw: RawRLock,
    /// The deadlock detector's id and owner; zero-sized without the feature.
    dl: deadlock::Tag,
    data: UnsafeCell<T>,
}

/// What the deadlock detector calls this kind of lock.
const KIND: &str = "RLock";

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
            RLock { raw: RawRLock::new(), dl: deadlock::Tag::new(), data: UnsafeCell::new(value) }
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
        self.lock_hooked(Deadline::Never);
        RLockGuard::new(self)
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
        self.try_lock_hooked().then(|| RLockGuard::new(self))
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
        self.lock_hooked(Deadline::after(timeout))
            .then(|| RLockGuard::new(self))
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
        self.raw.is_locked()
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
        self.raw.is_owned()
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
        self.raw.recursion_count()
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

    #[allow(dead_code)] // for Condition and the deadlock detector
    pub(crate) fn raw(&self) -> &RawRLock {
        &self.raw
    }

    /// Acquire (or re-enter) until `deadline`, through the deadlock hooks.
    /// Re-entering is not an order edge and never waits, so it skips them.
    /// Without the `deadlock-detection` feature this is exactly
    /// `self.raw.lock(deadline)`.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn lock_hooked(&self, deadline: Deadline) -> bool {
        if !deadlock::ENABLED || self.raw.is_owned() {
            return self.raw.lock(deadline);
        }
        deadlock::before_acquire(&self.dl, KIND, true);
        let taken = self.raw.try_lock() || {
            deadlock::wait_begin(&self.dl, KIND);
            let taken = self.raw.lock(deadline);
            deadlock::wait_end();
            taken
        };
        if taken {
            deadlock::acquired(&self.dl, KIND);
        }
        taken
    }

    /// Acquire (or re-enter) if that needs no waiting, through the hooks.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn try_lock_hooked(&self) -> bool {
        if !deadlock::ENABLED || self.raw.is_owned() {
            return self.raw.try_lock();
        }
        let taken = self.raw.try_lock();
        if taken {
            deadlock::acquired(&self.dl, KIND);
        }
        taken
    }

    /// Release one level, through the hooks when it is the last one (which
    /// run first, so the detector never shows an owner for a lock someone
    /// else already holds).
    #[inline(always)]
    pub(crate) fn unlock_hooked(&self) -> Result<(), Error> {
        if deadlock::ENABLED && self.raw.recursion_count() == 1 {
            deadlock::released(&self.dl);
        }
        self.raw.unlock()
    }

    /// Python's `_release_save`, through the hooks (for `Condition`).
    #[allow(dead_code)] // for Condition
    pub(crate) fn release_save_hooked(&self) -> Result<u32, Error> {
        if deadlock::ENABLED && self.raw.is_owned() {
            deadlock::released(&self.dl);
        }
        self.raw.release_save()
    }

    /// Python's `_acquire_restore`, through the hooks (for `Condition`): a
    /// lock-order report here never panics (the waiter needs its lock back).
    #[allow(dead_code)] // for Condition
    #[track_caller]
    pub(crate) fn acquire_restore_hooked(&self, saved: u32) {
        deadlock::before_reacquire(&self.dl, KIND);
        deadlock::wait_begin(&self.dl, KIND);
        self.raw.acquire_restore(saved);
        deadlock::wait_end();
        deadlock::acquired(&self.dl, KIND);
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
            self.lock_hooked(Deadline::from_python(true, timeout))
        } else {
            self.try_lock_hooked()
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
        self.unlock_hooked()
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
        let owner = self.raw.owner.load(Relaxed);
        let state = if self.locked() { "locked" } else { "unlocked" };
        write!(
            f,
            "<{state} gilfree.RLock object owner={owner} count={} at {:p}>",
            self.recursion_count(),
            self
        )
    }
}

/// Proof that the current thread owns an [`RLock`] at one level; derefs to
/// `&T` and releases that level when dropped (Python's `with rlock:`).
///
/// ```
/// let l = gilfree::threading::RLock::new(String::from("hi"));
/// {
///     let g = l.acquire();
///     assert_eq!(g.len(), 2);
/// } // released here
/// assert!(!l.locked());
/// ```
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct RLockGuard<'a, T: ?Sized = ()> {
    lock: &'a RLock<T>,
    // Not Send: the release must come from the owning thread.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, which is fine to share when `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RLockGuard<'_, T> {}

impl<'a, T: ?Sized> RLockGuard<'a, T> {
    fn new(lock: &'a RLock<T>) -> Self {
        RLockGuard {
            lock,
            _not_send: PhantomData,
        }
    }

    /// The lock this guard holds.
    ///
    /// ```
    /// let l = gilfree::threading::RLock::new(());
    /// let g = l.acquire();
    /// assert!(std::ptr::eq(g.lock(), &l));
    /// ```
    pub fn lock(&self) -> &'a RLock<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for RLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard means this thread owns the lock, so no other
        // thread reaches the data; this thread's other guards only give `&T`
        // too, so no `&mut T` exists anywhere.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> sealed::Sealed for RLock<T> {
    #[inline]
    fn order_key(&self) -> u64 {
        deadlock::order_key(&self.dl, self.word_addr())
    }
    #[inline]
    fn word_addr(&self) -> usize {
        &self.raw as *const RawRLock as usize
    }
    #[inline]
    #[track_caller]
    fn lock_until(&self, deadline: Option<std::time::Instant>) -> bool {
        self.lock_hooked(deadline.map_or(Deadline::Never, Deadline::At))
    }
    #[inline]
    #[track_caller]
    fn lock_try(&self) -> bool {
        self.try_lock_hooked()
    }
    #[inline]
    fn unlock_held(&self) {
        // Taken by this thread through lock_until/lock_try: it owns it.
        let _ = self.unlock_hooked();
    }
}

impl<T: ?Sized> deadlock::Lockable for RLock<T> {}

impl<T: ?Sized> Drop for RLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Only fails if a data-less lock's level was already given back with
        // `release()` behind the guard's back; there is nothing left to do.
        let _ = self.lock.unlock_hooked();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads each take the lock twice (recursively) and bump a
    /// counter: mutual exclusion across recursion, no lost hand-off.
    #[test]
    fn rlock_reacquire_release_handoff() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let lock = Arc::new(RawRLock::<Private>::new());
            let data = Arc::new(crate::sys::atomic::UnsafeCell::new(0u32));
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, data) = (lock.clone(), data.clone());
                    thread::spawn(move || {
                        assert!(lock.lock(Deadline::Never));
                        assert!(lock.lock(Deadline::Never));
                        assert_eq!(lock.recursion_count(), 2);
                        // SAFETY: the lock is held.
                        data.with_mut(|p| unsafe { *p += 1 });
                        lock.unlock().unwrap();
                        assert!(lock.is_owned());
                        lock.unlock().unwrap();
                        assert!(!lock.is_owned());
                        assert_eq!(lock.unlock(), Err(Error::NotOwner));
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            // SAFETY: every thread has joined.
            assert_eq!(data.with(|p| unsafe { *p }), 2);
            assert!(!lock.is_locked());
        });
    }

    /// A non-owner's release fails and changes nothing while the owner
    /// holds it; a try-acquire by a non-owner never succeeds while owned.
    #[test]
    fn rlock_non_owner_cannot_release() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let lock = Arc::new(RawRLock::<Private>::new());
            assert!(lock.lock(Deadline::Never));
            let l2 = lock.clone();
            let t = thread::spawn(move || {
                assert_eq!(l2.unlock(), Err(Error::NotOwner));
                if l2.try_lock() {
                    l2.unlock().unwrap();
                    true
                } else {
                    false
                }
            });
            let c = lock.release_save().unwrap();
            lock.acquire_restore(c);
            lock.unlock().unwrap();
            t.join().unwrap();
            assert!(!lock.is_locked());
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Regression: private owner ids were cached kernel tids, which the
    /// kernel reuses (and which a forked child inherits stale), so two
    /// threads could both "own" an RLock. Threads that live one after
    /// another — when the kernel is free to reuse a tid — get distinct ids.
    #[test]
    fn private_owner_ids_are_never_reused() {
        let mut ids: Vec<u32> = (0..64)
            .map(|_| {
                std::thread::spawn(current_owner_id::<Private>)
                    .join()
                    .unwrap()
            })
            .collect();
        ids.push(current_owner_id::<Private>());
        assert!(!ids.contains(&0));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 65);
    }
}
