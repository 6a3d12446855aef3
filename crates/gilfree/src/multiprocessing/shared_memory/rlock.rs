//! `RLock`: Python's `multiprocessing.RLock`, a reentrant lock shared
//! between processes: [`RawRobustRLock`] (a robust lock whose word names
//! the holder — a thread, or a process holding it through a task — plus a
//! recursion count and the holding task's identity) in its own shared
//! block. Threads acquire and release through the guard layer's `Hooked`
//! (the deadlock hooks), with a tag of this handle's in this process's
//! memory; tasks, by a [`TaskOwner`], through [`AsyncRLockGuard`] (their
//! `.await` is in `aio.rs`).

use std::fmt;
use std::ptr::NonNull;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::sync::{Header, Home};
use crate::guard::{Hooked, RawMutex};
use crate::multiprocessing::error::{Error, Result};
use crate::raw::{NotOwner, RawRobustRLock};
use crate::sys::Deadline;
use crate::threading::TaskOwner;

/// The words: the lock, its recursion depth and its task holder's
/// identity (`raw/robust_rlock.rs`).
type RLockHeader = RawRobustRLock;
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
/// Tasks hold it too, by a [`TaskOwner`] (the same token as
/// [`threading::RLock::acquire_async`](crate::threading::RLock::acquire_async)'s):
/// [`acquire_async`](Self::acquire_async), [`try_acquire_by`](Self::try_acquire_by),
/// [`release_by`](Self::release_by). A task holds it across `.await`s and
/// runtime threads, re-entrantly; threads and tasks of every process
/// contend on the one lock.
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
}

impl RawMutex for RLockRef {
    type Unlocked = Result<()>;
    const KIND: &'static str = "RLock";
    const REENTRANT: bool = true;
    fn owned(&self) -> bool {
        self.get().held_by_me()
    }
    fn try_lock(&self) -> bool {
        self.get().try_lock()
    }
    fn lock_contended(&self, deadline: Deadline) -> bool {
        self.get().lock_contended(deadline)
    }
    fn lock(&self, deadline: Deadline) -> bool {
        self.try_lock() || self.lock_contended(deadline)
    }
    fn last_level(&self) -> bool {
        self.get().last_level()
    }
    fn unlock(&self) -> Result<()> {
        self.get().unlock().map_err(not_owner)
    }
}

/// Python's `RuntimeError: cannot release un-acquired lock`.
fn not_owner(_: NotOwner) -> Error {
    Error::Value("cannot release un-acquired lock".into())
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

impl RLock {
    /// Python's `multiprocessing.RLock()`.
    ///
    /// ```
    /// assert!(!gilfree::multiprocessing::RLock::new().unwrap().is_owned());
    /// ```
    pub fn new() -> Result<Self> {
        Ok(RLock::over(Home::new(RawRobustRLock::new())?))
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
            owner_died: fresh && self.home.get().lock().take_owner_died(),
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
            self.home.get().lock().take_owner_died();
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

    /// Python 3.14's `locked()`: whether any thread or task of any process
    /// holds it (a snapshot), as
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
        self.home.get().lock().is_locked()
    }

    /// Whether the calling thread holds it (Python's `_is_owned()`).
    ///
    /// ```
    /// assert!(!gilfree::multiprocessing::RLock::new().unwrap().is_owned());
    /// ```
    pub fn is_owned(&self) -> bool {
        self.home.get().held_by_me()
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
        self.home.get().recursion_count()
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

/// Tasks: a [`TaskOwner`] is the owner (see [`acquire_async`](RLock::acquire_async)).
impl RLock {
    /// Take one level for `owner` only if that needs no waiting: `owner`
    /// holds it already, it is free, or its holder died (Python:
    /// `rlock.acquire(blocking=False)`, for a task).
    ///
    /// ```
    /// use gilfree::multiprocessing::RLock;
    /// use gilfree::threading::TaskOwner;
    /// let (l, a, b) = (RLock::new().unwrap(), TaskOwner::new(), TaskOwner::new());
    /// let g = l.try_acquire_by(&a).unwrap();
    /// assert!(l.try_acquire_by(&a).is_some()); // re-entry never waits
    /// assert!(l.try_acquire_by(&b).is_none()); // another owner
    /// assert!(l.try_acquire().is_none()); // a thread is another owner too
    /// drop(g);
    /// ```
    pub fn try_acquire_by<'a>(&'a self, owner: &'a TaskOwner) -> Option<AsyncRLockGuard<'a>> {
        let died = self.home.get().try_lock_by(&owner.raw)?;
        Some(AsyncRLockGuard {
            lock: self,
            owner,
            owner_died: died,
        })
    }

    /// Python's `rlock.release()` for a task: release one of `owner`'s
    /// levels (one whose guard was forgotten).
    ///
    /// # Errors
    /// If `owner` does not hold it (Python's `RuntimeError: cannot release
    /// un-acquired lock`); nothing changes. A thread's
    /// [`release`](Self::release) of a task's level fails the same way.
    ///
    /// ```
    /// use gilfree::multiprocessing::RLock;
    /// use gilfree::threading::TaskOwner;
    /// let (l, me, other) = (RLock::new().unwrap(), TaskOwner::new(), TaskOwner::new());
    /// std::mem::forget(futures::executor::block_on(l.acquire_async(&me)));
    /// assert!(l.release_by(&other).is_err());
    /// assert!(l.release().is_err()); // this thread is not the owner either
    /// l.release_by(&me).unwrap();
    /// assert!(!l.locked());
    /// ```
    pub fn release_by(&self, owner: &TaskOwner) -> Result<()> {
        self.home.get().unlock_by(&owner.raw).map_err(not_owner)
    }

    /// Whether `owner` holds it (Python's `_is_owned()`, for a task).
    ///
    /// ```
    /// use gilfree::multiprocessing::RLock;
    /// use gilfree::threading::TaskOwner;
    /// let (l, me) = (RLock::new().unwrap(), TaskOwner::new());
    /// let _g = l.try_acquire_by(&me).unwrap();
    /// assert!(l.is_owned_by(&me));
    /// assert!(!l.is_owned()); // not this thread's
    /// ```
    pub fn is_owned_by(&self, owner: &TaskOwner) -> bool {
        self.home.get().is_owned_by(&owner.raw)
    }

    /// How many levels `owner` holds, 0 if none (Python 3.14's
    /// `_recursion_count()`, for a task).
    ///
    /// ```
    /// use gilfree::multiprocessing::RLock;
    /// use gilfree::threading::TaskOwner;
    /// let (l, me) = (RLock::new().unwrap(), TaskOwner::new());
    /// let a = l.try_acquire_by(&me).unwrap();
    /// let b = l.try_acquire_by(&me).unwrap();
    /// assert_eq!(l.recursion_count_by(&me), 2);
    /// drop((a, b));
    /// assert_eq!(l.recursion_count_by(&me), 0);
    /// ```
    pub fn recursion_count_by(&self, owner: &TaskOwner) -> u32 {
        self.home.get().recursion_count_by(&owner.raw)
    }

    /// The raw lock (for `aio.rs`).
    pub(super) fn raw(&self) -> &RawRobustRLock {
        self.home.get()
    }
}

/// One level of an [`RLock`] held by a [`TaskOwner`], released when
/// dropped (the end of `async with rlock:`). `Send`, unlike [`RLockGuard`]:
/// the owner is the token, not the thread, so a task may hold it across an
/// `.await` and resume on another thread.
///
/// ```
/// use gilfree::multiprocessing::{AsyncRLockGuard, RLock};
/// use gilfree::threading::TaskOwner;
/// let (l, me) = (RLock::new().unwrap(), TaskOwner::new());
/// let g: AsyncRLockGuard<'_> = futures::executor::block_on(l.acquire_async(&me));
/// assert!(!g.owner_died());
/// ```
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct AsyncRLockGuard<'a> {
    pub(super) lock: &'a RLock,
    pub(super) owner: &'a TaskOwner,
    pub(super) owner_died: bool,
}

impl<'a> AsyncRLockGuard<'a> {
    /// Whether this acquire took the lock over from a holder (a thread or
    /// a task of any process) that died holding it.
    ///
    /// ```
    /// use gilfree::{multiprocessing::RLock, threading::TaskOwner};
    /// let (l, me) = (RLock::new().unwrap(), TaskOwner::new());
    /// assert!(!l.try_acquire_by(&me).unwrap().owner_died());
    /// ```
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// The lock this guard holds a level of.
    ///
    /// ```
    /// use gilfree::{multiprocessing::RLock, threading::TaskOwner};
    /// let (l, me) = (RLock::new().unwrap(), TaskOwner::new());
    /// let g = l.try_acquire_by(&me).unwrap();
    /// assert!(std::ptr::eq(g.lock(), &l));
    /// ```
    pub fn lock(&self) -> &'a RLock {
        self.lock
    }

    /// The owner that holds it.
    ///
    /// ```
    /// use gilfree::{multiprocessing::RLock, threading::TaskOwner};
    /// let (l, me) = (RLock::new().unwrap(), TaskOwner::new());
    /// let g = l.try_acquire_by(&me).unwrap();
    /// assert_eq!(g.owner().id(), me.id());
    /// ```
    pub fn owner(&self) -> &'a TaskOwner {
        self.owner
    }
}

impl Drop for AsyncRLockGuard<'_> {
    fn drop(&mut self) {
        // Fails only if `release_by` freed this level behind our back.
        let _ = self.lock.release_by(self.owner);
    }
}

impl fmt::Debug for AsyncRLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncRLockGuard")
            .field("owner", self.owner)
            .field("owner_died", &self.owner_died)
            .finish()
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
