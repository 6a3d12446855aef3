//! `RLock`: Python's `multiprocessing.RLock`, a reentrant lock shared
//! between processes: [`RawRobustLock`] (whose word holds the holder's
//! thread id, so "do I hold it?" is one load) plus a recursion count that
//! only the holder touches, in its own shared block; acquired and released
//! through the guard layer's `Hooked` (the deadlock hooks), with a tag of
//! this handle's in this process's memory.

use std::fmt;
use std::ptr::NonNull;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::sync::{Header, Home};
use crate::guard::{Hooked, RawMutex};
use crate::multiprocessing::error::{Error, Result};
use crate::raw::RawRobustLock;
use crate::sys::Deadline;
use crate::sys::atomic::{AtomicU32, Ordering::Relaxed};

/// The words: the lock and its recursion depth (read and written by the
/// holder only; a take-over from a dead holder starts it again at 1).
#[repr(C)]
struct RLockHeader {
    lock: RawRobustLock,
    count: AtomicU32,
}
impl Header for RLockHeader {}

/// Python's `multiprocessing.RLock`: a lock that the thread holding it may
/// take again, with [`threading::RLock`](crate::threading::RLock)'s shape.
/// Shared between processes (a task argument), and it survives a holder's
/// death: the next acquirer's guard reports
/// [`owner_died`](RLockGuard::owner_died).
///
/// Only the holding thread may release it (Python's `RuntimeError`
/// otherwise: here an error).
///
/// ```
/// use gilfree::multiprocessing::RLock;
/// let l = RLock::new().unwrap();
/// let a = l.acquire();
/// let b = l.acquire(); // the same thread again: no deadlock
/// assert_eq!(l.recursion_count(), 2);
/// drop(b);
/// drop(a);
/// assert!(!l.is_owned());
/// ```
pub struct RLock {
    /// Declared before `home`: it points into the block.
    lock: Hooked<RLockRef>,
    home: Home<RLockHeader>,
}

/// The header as the guard layer drives it: a pointer into a block that
/// outlives it (both are fields of one [`RLock`]). Taking a level here
/// also keeps the count.
struct RLockRef(NonNull<RLockHeader>);

// SAFETY: the pointee is atomic words shared only through atomic
// operations; the pointer is only dereferenced while its `RLock`, which
// owns the block, lives.
unsafe impl Send for RLockRef {}
// SAFETY: as for `Send`.
unsafe impl Sync for RLockRef {}

impl RLockRef {
    fn get(&self) -> &RLockHeader {
        // SAFETY: see the type.
        unsafe { self.0.as_ref() }
    }

    /// The lock was just taken, not re-entered: depth 1.
    fn first_level(&self, taken: bool) -> bool {
        if taken {
            self.get().count.store(1, Relaxed);
        }
        taken
    }
}

impl RawMutex for RLockRef {
    type Unlocked = Result<()>;
    const KIND: &'static str = "RLock";
    const REENTRANT: bool = true;
    fn owned(&self) -> bool {
        self.get().lock.held_by_me()
    }
    fn try_lock(&self) -> bool {
        let h = self.get();
        if h.lock.held_by_me() {
            h.count.store(h.count.load(Relaxed) + 1, Relaxed);
            return true;
        }
        self.first_level(h.lock.try_lock())
    }
    fn lock_contended(&self, deadline: Deadline) -> bool {
        self.first_level(self.get().lock.lock(deadline))
    }
    fn lock(&self, deadline: Deadline) -> bool {
        self.try_lock() || self.lock_contended(deadline)
    }
    fn last_level(&self) -> bool {
        let h = self.get();
        h.lock.held_by_me() && h.count.load(Relaxed) == 1
    }
    fn unlock(&self) -> Result<()> {
        release(self.get())
    }
}

/// One level of an [`RLock`], released when dropped.
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a Hooked<RLockRef>,
    owner_died: bool,
    /// Not `Send`: the level belongs to the thread that took it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl RLockGuard<'_> {
    /// Whether this acquire took the lock over from a holder that died
    /// holding it.
    ///
    /// ```
    /// let l = gilfree::multiprocessing::RLock::new().unwrap();
    /// assert!(!l.acquire().owner_died());
    /// ```
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.unlock();
    }
}

fn release(h: &RLockHeader) -> Result<()> {
    if !h.lock.held_by_me() {
        return Err(Error::Value("cannot release un-acquired lock".into()));
    }
    let c = h.count.load(Relaxed).saturating_sub(1);
    h.count.store(c, Relaxed);
    if c == 0 {
        h.lock.unlock();
    }
    Ok(())
}

impl RLock {
    /// Python's `multiprocessing.RLock()`.
    ///
    /// ```
    /// assert!(!gilfree::multiprocessing::RLock::new().unwrap().is_owned());
    /// ```
    pub fn new() -> Result<Self> {
        Ok(RLock::over(Home::new(RLockHeader {
            lock: RawRobustLock::new(),
            count: AtomicU32::new(0),
        })?))
    }

    fn over(home: Home<RLockHeader>) -> Self {
        RLock {
            lock: Hooked::new(RLockRef(NonNull::from(home.get()))),
            home,
        }
    }

    /// Take one level, waiting until `deadline` for another holder.
    fn take(&self, try_only: bool, deadline: Deadline) -> Option<RLockGuard<'_>> {
        let fresh = !self.is_owned();
        let taken = if try_only {
            self.lock.try_lock()
        } else {
            self.lock.lock(deadline)
        };
        taken.then(|| RLockGuard {
            lock: &self.lock,
            owner_died: fresh && self.home.get().lock.take_owner_died(),
            _not_send: std::marker::PhantomData,
        })
    }

    /// Python's `acquire()`.
    ///
    /// ```
    /// let l = gilfree::multiprocessing::RLock::new().unwrap();
    /// let _g = l.acquire();
    /// assert!(l.is_owned());
    /// ```
    pub fn acquire(&self) -> RLockGuard<'_> {
        self.take(false, Deadline::Never).expect("no deadline")
    }

    /// Python's `acquire(blocking=False)`.
    ///
    /// ```
    /// let l = gilfree::multiprocessing::RLock::new().unwrap();
    /// let g = l.acquire();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(l.try_acquire().is_none()));
    /// });
    /// drop(g);
    /// ```
    pub fn try_acquire(&self) -> Option<RLockGuard<'_>> {
        self.take(true, Deadline::now())
    }

    /// Python's `acquire(timeout=t)`.
    ///
    /// ```
    /// let l = gilfree::multiprocessing::RLock::new().unwrap();
    /// assert!(l.acquire_timeout(std::time::Duration::ZERO).is_some());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_>> {
        self.take(false, Deadline::after(timeout))
    }

    /// Python's `acquire(blocking=True, timeout=-1)` exactly, as
    /// [`threading::RLock::acquire_unguarded`](crate::threading::RLock::acquire_unguarded):
    /// take (or re-enter) one level without a guard and return whether it
    /// was taken (`timeout` `None` waits forever). Release each level with
    /// [`release`](Self::release), from the same thread. A take-over from
    /// a dead holder is not reported this way (use a guard for that).
    ///
    /// ```
    /// let l = gilfree::multiprocessing::RLock::new().unwrap();
    /// assert!(l.acquire_unguarded(true, None));
    /// assert!(l.acquire_unguarded(false, None));
    /// assert_eq!(l.recursion_count(), 2);
    /// l.release().unwrap();
    /// l.release().unwrap();
    /// assert!(l.release().is_err());
    /// ```
    pub fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        let fresh = !self.is_owned();
        let taken = if blocking {
            self.lock
                .lock(timeout.map_or(Deadline::Never, Deadline::after))
        } else {
            self.lock.try_lock()
        };
        if taken && fresh {
            self.home.get().lock.take_owner_died();
        }
        taken
    }

    /// Python's `release()` without a guard (after a guard's
    /// `std::mem::forget`): one level, by the holding thread only.
    ///
    /// ```
    /// let l = gilfree::multiprocessing::RLock::new().unwrap();
    /// std::mem::forget(l.acquire());
    /// l.release().unwrap();
    /// assert!(l.release().is_err());
    /// ```
    pub fn release(&self) -> Result<()> {
        self.lock.unlock()
    }

    /// Python 3.14's `locked()`: whether any thread of any process holds
    /// it (a snapshot), as
    /// [`threading::RLock::locked`](crate::threading::RLock::locked).
    ///
    /// ```
    /// let l = gilfree::multiprocessing::RLock::new().unwrap();
    /// let g = l.acquire();
    /// assert!(l.locked());
    /// drop(g);
    /// assert!(!l.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.home.get().lock.is_locked()
    }

    /// Whether the calling thread holds it (Python's `_is_owned()`).
    ///
    /// ```
    /// assert!(!gilfree::multiprocessing::RLock::new().unwrap().is_owned());
    /// ```
    pub fn is_owned(&self) -> bool {
        self.home.get().lock.held_by_me()
    }

    /// How many times the calling thread holds it (0 if it does not;
    /// Python 3.14's `_recursion_count()`).
    ///
    /// ```
    /// let l = gilfree::multiprocessing::RLock::new().unwrap();
    /// let _g = l.acquire();
    /// assert_eq!(l.recursion_count(), 1);
    /// ```
    pub fn recursion_count(&self) -> u32 {
        let h = self.home.get();
        if h.lock.held_by_me() {
            h.count.load(Relaxed)
        } else {
            0
        }
    }

    /// Another handle to the same lock: keep one while passing one to a
    /// child.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::RLock::new().unwrap();
    /// let b = a.try_clone().unwrap();
    /// let _g = a.acquire();
    /// assert!(b.is_owned());
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        Ok(RLock::over(self.home.try_clone()?))
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.locked() { "locked" } else { "unlocked" };
        write!(f, "<multiprocessing.RLock({state})>")
    }
}

/// Sent as its block (the descriptor travels): the receiver shares the
/// same lock.
impl Serialize for RLock {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.home.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RLock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(RLock::over(Home::deserialize(d)?))
    }
}
