//! `Lock`: Python's `multiprocessing.Lock`, the process-shared home of
//! [`RawRobustLock`](crate::raw::RawRobustLock) (the algorithm, and how a
//! dead holder's lock is taken over, are in `raw/robust_lock.rs`), with
//! `threading::Lock`'s API.

use std::fmt;
use std::time::Duration;

use bytemuck::Pod;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::block::{Block, Single, ValueGuard};
use crate::multiprocessing::error::{Error, Result};
use crate::sys::Deadline;

/// The guard of a process-shared [`Lock`]: gives `&mut T`, releases on
/// drop, and tells whether the lock was taken over from a holder that died
/// holding it ([`owner_died`](super::Guard::owner_died)).
pub type LockGuard<'a, T> = ValueGuard<'a, T>;

/// A lock shared between processes: Python's `multiprocessing.Lock`, with
/// [`threading::Lock`](crate::threading::Lock)'s API (a program moves
/// between them by changing the import and the constructor's `?`).
///
/// It lives in an anonymous shared block and goes to a child as a task
/// argument. Like `threading::Lock` it can guard data, here any
/// plain-old-data `T` (`bytemuck::Pod`) stored beside it in the block.
///
/// Differences from Python: a process (or thread) that dies holding it
/// does not hang the others: the next acquirer gets it, with
/// [`owner_died`](super::Guard::owner_died) set (within about 64 ms of the
/// death). `new` returns a `Result` (it maps shared memory). Python's
/// `acquire(block, timeout)` is [`acquire`](Self::acquire),
/// [`try_acquire`](Self::try_acquire), [`acquire_timeout`](Self::acquire_timeout).
///
/// ```
/// use gilfree::multiprocessing::Lock;
/// let lock = Lock::new(0u32).unwrap();
/// {
///     let mut n = lock.acquire(); // Python: with lock:
///     *n += 1;
///     assert!(!n.owner_died());
/// }
/// assert!(!lock.locked());
/// ```
pub struct Lock<T = ()>(pub(super) Block<Single<T>>);

impl<T: Pod> Lock<T> {
    /// Python's `multiprocessing.Lock()`: a new, unlocked lock guarding
    /// `value`.
    ///
    /// ```
    /// let l = gilfree::multiprocessing::Lock::new(()).unwrap();
    /// assert!(!l.locked());
    /// ```
    pub fn new(value: T) -> Result<Self> {
        Ok(Lock(Block::from_slice(&[Single(value)])?))
    }

    /// Python's `acquire()`: block until the lock is ours.
    ///
    /// ```
    /// let l = gilfree::multiprocessing::Lock::new(1i8).unwrap();
    /// assert_eq!(*l.acquire(), 1);
    /// ```
    pub fn acquire(&self) -> LockGuard<'_, T> {
        self.0
            .guard_with(|l| l.lock(Deadline::Never))
            .expect("no deadline")
    }

    /// Python's `acquire(blocking=False)`: the guard if the lock is free
    /// (or its holder is dead).
    ///
    /// ```
    /// let l = gilfree::multiprocessing::Lock::new(()).unwrap();
    /// let g = l.try_acquire().unwrap();
    /// assert!(l.try_acquire().is_none());
    /// drop(g);
    /// ```
    pub fn try_acquire(&self) -> Option<LockGuard<'_, T>> {
        self.0.guard_with(|l| l.try_lock())
    }

    /// Python's `acquire(timeout=t)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = gilfree::multiprocessing::Lock::new(()).unwrap();
    /// let _g = l.acquire();
    /// assert!(l.acquire_timeout(Duration::from_millis(1)).is_none());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        self.0.guard_with(|l| l.lock(Deadline::after(timeout)))
    }

    /// Python's `acquire(blocking, timeout)` without a guard: whether it
    /// was taken; release with [`release`](Self::release). A take-over
    /// from a dead holder is not reported this way (use a guard for that).
    ///
    /// ```
    /// let l = gilfree::multiprocessing::Lock::new(()).unwrap();
    /// assert!(l.acquire_unguarded(true, None));
    /// l.release().unwrap();
    /// ```
    pub fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        let lock = self.0.lock();
        let taken = if blocking {
            lock.lock(timeout.map_or(Deadline::Never, Deadline::after))
        } else {
            lock.try_lock()
        };
        if taken {
            lock.raw().get().take_owner_died();
        }
        taken
    }

    /// Python's `release()`: from any thread or process, as Python allows.
    /// Releasing an unlocked lock is an error (Python's `ValueError`).
    ///
    /// ```
    /// let l = gilfree::multiprocessing::Lock::new(()).unwrap();
    /// assert!(l.release().is_err());
    /// ```
    pub fn release(&self) -> Result<()> {
        if self.0.lock().unlock() {
            Ok(())
        } else {
            Err(Error::Value(
                "semaphore or lock released too many times".into(),
            ))
        }
    }

    /// Python's `locked()` (a snapshot).
    ///
    /// ```
    /// let l = gilfree::multiprocessing::Lock::new(()).unwrap();
    /// let g = l.acquire();
    /// assert!(l.locked());
    /// drop(g);
    /// ```
    pub fn locked(&self) -> bool {
        self.0.lock().raw().get().is_locked()
    }

    /// Another handle to the same lock (its own descriptor and mapping):
    /// keep one while passing one to a child.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Lock::new(()).unwrap();
    /// let b = a.try_clone().unwrap();
    /// let _g = a.acquire();
    /// assert!(b.locked());
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        Ok(Lock(self.0.try_clone()?))
    }
}

impl<T: Pod> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.locked() { "locked" } else { "unlocked" };
        write!(f, "<multiprocessing.Lock({state})>")
    }
}

/// Sent as its block (the descriptor travels): the receiver shares the
/// same lock.
impl<T: Pod> Serialize for Lock<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for Lock<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Lock(Block::deserialize(d)?))
    }
}
