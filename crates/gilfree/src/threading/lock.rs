//! `Lock`: Python's `threading.Lock`, on one futex word.
//!
//! # State encoding
//!
//! One `AtomicU32`:
//! - `UNLOCKED` (0): free.
//! - `LOCKED` (1): held, and nobody sleeps on the word.
//! - `CONTENDED` (2): held, and a thread may be sleeping on the word.
//!
//! # Memory ordering
//!
//! Acquiring is an `Acquire` CAS (or swap) that reads the `Release` swap of
//! the previous release, so everything written under the lock
//! happens-before the next holder's critical section. Nothing else is
//! ordered through this word.
//!
//! # State machine
//!
//! - acquire, fast path: CAS `UNLOCKED → LOCKED`.
//! - acquire, phase 1 (spin, `RawLock::lock_contended`): while the word
//!   reads `LOCKED`, poll it and CAS `UNLOCKED → LOCKED` when it is seen
//!   free; a word reading `CONTENDED` ends phase 1 at once (someone already
//!   sleeps: the lock is probably held for long).
//! - acquire, phase 2 (sleep): swap in `CONTENDED`; if that swapped out
//!   `UNLOCKED` the lock is ours (marked contended), else
//!   `futex_wait(CONTENDED)`; after a wake, poll once more, then repeat.
//! - release: swap in `UNLOCKED`; if it swapped out `CONTENDED`, wake one.
//!
//! # Why no wake-up is lost
//!
//! A thread only sleeps after it has itself set the word to `CONTENDED`, and
//! `futex_wait(CONTENDED)` refuses to sleep if the word has changed since.
//! A release swaps in `UNLOCKED`; if it swapped out `CONTENDED` it wakes one
//! sleeper, which sets `CONTENDED` again when it takes the lock (it cannot
//! know whether others sleep), so the next release wakes the next sleeper.
//! A spinner (phase 1, or the fast path) that takes a free word with
//! `LOCKED` breaks no chain: the word was `UNLOCKED`, so the release that
//! freed it already woke a sleeper if there was one, and that sleeper sets
//! `CONTENDED` again before it sleeps or when it takes the lock.
//! A sleeper that timed out leaves `CONTENDED` behind: the cost is one
//! spurious wake, never a lost one. A spinner that times out (phase 1) gives
//! up without writing the word at all.
//!
//! The uncontended path is one CAS to acquire and one swap to release, the
//! same instructions as std's and parking_lot's mutexes.
//!
//! # Spin policy
//!
//! Phase 1 follows `sys::spin::LOCK` (a ramp of 1, 2, 4 pauses, then sparse
//! looks ~1.3 µs apart in short rounds with yields between them, ~50 µs in
//! all before parking); the measurements behind those numbers are in
//! `docs/spin-policy.md`.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use std::cell::UnsafeCell;
use std::fmt;
use std::time::Duration;

use super::Error;
use crate::deadlock::{self, sealed};
use crate::sys::atomic::{AtomicU32, Ordering::*, const_fn};
use crate::sys::futex::{self, Wake};
use crate::sys::spin::{self, Spin};
use crate::sys::{Deadline, Private, Scope};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;
/// The lock algorithm without data: one word, usable in private memory
/// (threads) or in a shared mapping (processes, `S = Shared`).
#[repr(C)]
pub(crate) struct RawLock<S: Scope = Private> {
    state: AtomicU32,
    _scope: PhantomData<S>,
}

#[allow(dead_code)]
impl<S: Scope> RawLock<S> {
    const_fn! {
        pub(crate) const fn new() -> Self {
            RawLock { state: AtomicU32::new(UNLOCKED), _scope: PhantomData }
        }
    }

    /// Take the lock if it is free; never blocks.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
            .is_ok()
    }

    /// Take the lock, giving up at `deadline`. Returns whether it was taken.
    #[inline]
    pub(crate) fn lock(&self, deadline: Deadline) -> bool {
        self.try_lock() || self.lock_contended(deadline)
    }

    #[cold]
    pub(crate) fn lock_contended(&self, deadline: Deadline) -> bool {
        // Phase 1, while nobody sleeps on the word (it reads LOCKED): look
        // at it under the lock's spin policy, and take it with a CAS to
        // LOCKED as soon as it is seen free. While the word stays off
        // CONTENDED, releases pay no wake syscall (see the head comment).
        let mut spin = Spin::new(&spin::LOCK);
        let mut state;
        loop {
            state = self.state.load(Relaxed);
            if state == UNLOCKED {
                match self
                    .state
                    .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
                {
                    Ok(_) => return true,
                    Err(s) => state = s,
                }
            }
            if state != LOCKED || spin.spent() {
                break;
            }
            if deadline.expired() {
                // Seen held after the deadline: give up without marking the
                // lock contended (which would cost its holder a wake).
                return false;
            }
            spin.wait();
        }
        // Phase 2: sleep. Mark the lock contended first; if it was free, we
        // own it now, in the contended state, since others may sleep too.
        loop {
            if state != CONTENDED && self.state.swap(CONTENDED, Acquire) == UNLOCKED {
                return true;
            }
            if futex::wait::<S>(&self.state, CONTENDED, deadline) == Wake::TimedOut
                && deadline.expired()
            {
                // One last look: the lock may have been freed as we gave up.
                return self.try_lock();
            }
            state = spin::spin_word(&self.state, &spin::LOCK_AFTER_WAKE, |s| s == LOCKED);
        }
    }

    /// Release the lock. Returns `false` (and changes nothing) if it was not
    /// locked.
    #[inline]
    pub(crate) fn unlock(&self) -> bool {
        match self.state.swap(UNLOCKED, Release) {
            UNLOCKED => false,
            CONTENDED => {
                self.wake();
                true
            }
            _ => true,
        }
    }

    #[cold]
    fn wake(&self) {
        futex::wake_one::<S>(&self.state);
    }

    /// Whether the lock is held by anyone (a snapshot).
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Relaxed) != UNLOCKED
    }
}

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
    raw: RawLock,
    /// The deadlock detector's id and owner; zero-sized without the feature.
    dl: deadlock::Tag,
    data: UnsafeCell<T>,
}

/// What the deadlock detector calls this kind of lock.
const KIND: &str = "Lock";

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
            Lock { raw: RawLock::new(), dl: deadlock::Tag::new(), data: UnsafeCell::new(value) }
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
        self.lock_hooked(Deadline::Never);
        LockGuard {
            lock: self,
            _not_send: PhantomData,
        }
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
        self.try_lock_hooked().then(|| LockGuard {
            lock: self,
            _not_send: PhantomData,
        })
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
        self.lock_hooked(Deadline::after(timeout))
            .then(|| LockGuard {
                lock: self,
                _not_send: PhantomData,
            })
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
        self.raw.is_locked()
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

    #[allow(dead_code)] // for Condition and the deadlock detector
    pub(crate) fn raw(&self) -> &RawLock {
        &self.raw
    }

    /// Block (until `deadline`) for the lock, through the deadlock hooks.
    /// Without the `deadlock-detection` feature the hooks are empty inlines
    /// and this is exactly `self.raw.lock(deadline)`.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn lock_hooked(&self, deadline: Deadline) -> bool {
        deadlock::before_acquire(&self.dl, KIND, true);
        let taken = self.raw.try_lock() || {
            deadlock::wait_begin(&self.dl, KIND);
            let taken = self.raw.lock_contended(deadline);
            deadlock::wait_end();
            taken
        };
        if taken {
            deadlock::acquired(&self.dl, KIND);
        }
        taken
    }

    /// Take the lock if free, through the deadlock hooks (a try records no
    /// order edge: it cannot wait).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn try_lock_hooked(&self) -> bool {
        deadlock::before_acquire(&self.dl, KIND, false);
        let taken = self.raw.try_lock();
        if taken {
            deadlock::acquired(&self.dl, KIND);
        }
        taken
    }

    /// Take the lock back inside a `Condition` wait: like
    /// [`lock_hooked`](Self::lock_hooked) with no deadline, but a lock-order
    /// report never panics here (the caller's guard needs the lock back).
    #[inline]
    #[track_caller]
    #[allow(dead_code)] // for Condition
    pub(crate) fn relock_hooked(&self) {
        deadlock::before_reacquire(&self.dl, KIND);
        if !self.raw.try_lock() {
            deadlock::wait_begin(&self.dl, KIND);
            self.raw.lock_contended(Deadline::Never);
            deadlock::wait_end();
        }
        deadlock::acquired(&self.dl, KIND);
    }

    /// Release, through the deadlock hooks (which run first, so the detector
    /// never shows an owner for a lock someone else already holds).
    #[inline(always)]
    pub(crate) fn unlock_hooked(&self) -> bool {
        deadlock::released(&self.dl);
        self.raw.unlock()
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
            self.lock_hooked(Deadline::from_python(true, timeout))
        } else {
            self.try_lock_hooked()
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
        if self.unlock_hooked() {
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

/// Proof that a [`Lock`] is held; gives access to the data and releases the
/// lock when dropped (Python's `with lock:` block).
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
pub struct LockGuard<'a, T: ?Sized = ()> {
    lock: &'a Lock<T>,
    // Like std's MutexGuard, not Send: keeps guards on the thread that made
    // them, which the deadlock detector's bookkeeping relies on.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, which is fine to share when `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for LockGuard<'_, T> {}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    /// A guard for an acquisition this thread already made (without a
    /// guard, e.g. through `acquire_all`).
    ///
    /// # Safety
    /// The calling thread holds `lock`, and no other guard or holder will
    /// release that acquisition.
    pub(crate) unsafe fn from_held(lock: &'a Lock<T>) -> Self {
        LockGuard {
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
    pub fn lock(&self) -> &'a Lock<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard's existence means this thread holds the lock, so
        // no other thread has a reference into the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only access.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.unlock_hooked();
    }
}

impl<T: ?Sized> sealed::Sealed for Lock<T> {
    #[inline]
    fn order_key(&self) -> u64 {
        deadlock::order_key(&self.dl, self.word_addr())
    }
    #[inline]
    fn word_addr(&self) -> usize {
        &self.raw as *const RawLock as usize
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
        self.unlock_hooked();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads increment a counter under the raw lock: mutual exclusion
    /// (loom's cell tracking) and no lost wake-up (loom reports a deadlock).
    #[test]
    fn raw_lock_mutual_exclusion() {
        loom::model(|| {
            let lock = Arc::new(RawLock::<Private>::new());
            let data = Arc::new(crate::sys::atomic::UnsafeCell::new(0u32));
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, data) = (lock.clone(), data.clone());
                    thread::spawn(move || {
                        lock.lock(Deadline::Never);
                        data.with_mut(|p| unsafe { *p += 1 });
                        assert!(lock.unlock());
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            assert_eq!(data.with(|p| unsafe { *p }), 2);
            assert!(!lock.is_locked());
        });
    }

    /// Three contenders exercise the CONTENDED hand-off chain.
    #[test]
    fn raw_lock_three_contenders() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let lock = Arc::new(RawLock::<Private>::new());
            let ths: Vec<_> = (0..3)
                .map(|_| {
                    let lock = lock.clone();
                    thread::spawn(move || {
                        lock.lock(Deadline::Never);
                        lock.unlock();
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            assert!(!lock.is_locked());
        });
    }

    /// A timed-out waiter must not swallow the wake-up meant for another.
    #[test]
    fn raw_lock_timeout_does_not_lose_wakeup() {
        loom::model(|| {
            let lock = Arc::new(RawLock::<Private>::new());
            assert!(lock.lock(Deadline::Never));
            let l2 = lock.clone();
            let timed = thread::spawn(move || {
                if l2.lock(Deadline::now()) {
                    l2.unlock();
                }
            });
            let l3 = lock.clone();
            let blocking = thread::spawn(move || {
                l3.lock(Deadline::Never);
                l3.unlock();
            });
            lock.unlock();
            timed.join().unwrap();
            blocking.join().unwrap();
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Regression: a failed non-blocking `acquire_unguarded` must not mark
    /// the lock CONTENDED (that cost the holder a spurious futex wake).
    #[test]
    fn nonblocking_acquire_leaves_state_uncontended() {
        let l = Lock::new(());
        let _g = l.acquire();
        assert!(!l.acquire_unguarded(false, None));
        assert_eq!(l.raw.state.load(Relaxed), LOCKED);
    }

    /// The process-shared scope runs the same algorithm (non-private futex
    /// calls): two threads contend through every phase, nothing is lost.
    #[test]
    fn shared_scope_counts_exactly() {
        use crate::sys::Shared;
        let lock = RawLock::<Shared>::new();
        let count = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        assert!(lock.lock(Deadline::Never));
                        // A non-atomic read-modify-write: only exclusion
                        // keeps it exact.
                        let v = count.load(std::sync::atomic::Ordering::Relaxed);
                        count.store(v + 1, std::sync::atomic::Ordering::Relaxed);
                        assert!(lock.unlock());
                    }
                });
            }
        });
        assert_eq!(count.into_inner(), 40_000);
        assert!(!lock.is_locked());
    }

    /// An expired deadline ends the spin: a zero-timeout acquire of a held
    /// lock fails without parking or marking the lock CONTENDED.
    #[test]
    fn zero_timeout_acquire_gives_up_uncontended() {
        let l = Lock::new(());
        let _g = l.acquire();
        assert!(l.acquire_timeout(Duration::ZERO).is_none());
        assert!(!l.acquire_unguarded(true, Some(Duration::ZERO)));
        assert_eq!(l.raw.state.load(Relaxed), LOCKED);
    }
}
