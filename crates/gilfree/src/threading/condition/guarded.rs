//! `Condition` over a lock that guards data: acquire returns the lock's
//! guard, and the waits take that guard (`wait_guard`, `wait_for_guard`, …),
//! so the data is only reached while the lock is held.

use std::time::Duration;

use super::core::Condition;
use crate::sys::Deadline;
use crate::threading::error::Error;
use crate::threading::lock::{Lock, LockGuard};
use crate::threading::rlock::{RLock, RLockGuard};

impl<T: Send> Condition<RLock<T>> {
    /// Acquire the condition's `RLock` (Python: `cond.acquire()` / `with
    /// cond:`); the guard releases one level when dropped.
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// let g = cond.acquire();
    /// assert!(cond.is_owned());
    /// drop(g);
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> RLockGuard<'_, T> {
        self.lock.acquire()
    }

    /// Acquire if that needs no waiting (Python: `cond.acquire(False)`).
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// assert!(cond.try_acquire().is_some());
    /// ```
    #[track_caller]
    pub fn try_acquire(&self) -> Option<RLockGuard<'_, T>> {
        self.lock.try_acquire()
    }

    /// Acquire, giving up after `timeout` (Python:
    /// `cond.acquire(timeout=t)`).
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// assert!(cond.acquire_timeout(std::time::Duration::from_millis(1)).is_some());
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_, T>> {
        self.lock.acquire_timeout(timeout)
    }
}

impl<T: Send> Condition<Lock<T>> {
    /// Acquire the condition's `Lock` (Python: `cond.acquire()` / `with
    /// cond:`); the guard derefs to the data and releases when dropped.
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// let cond = Condition::from_lock(Lock::new(0));
    /// *cond.acquire() += 1;
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> LockGuard<'_, T> {
        self.lock.acquire()
    }

    /// Acquire only if the lock is free now (Python: `cond.acquire(False)`).
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// let cond = Condition::from_lock(Lock::new(()));
    /// let _g = cond.acquire();
    /// assert!(cond.try_acquire().is_none());
    /// ```
    #[track_caller]
    pub fn try_acquire(&self) -> Option<LockGuard<'_, T>> {
        self.lock.try_acquire()
    }

    /// Acquire, giving up after `timeout` (Python:
    /// `cond.acquire(timeout=t)`).
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// let cond = Condition::from_lock(Lock::new(()));
    /// assert!(cond.acquire_timeout(std::time::Duration::from_millis(1)).is_some());
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        self.lock.acquire_timeout(timeout)
    }

    /// Release the lock held by `guard`, block until notified, reacquire it
    /// (Python's `cond.wait()`, `std::sync::Condvar::wait`'s shape). Taking
    /// the guard `&mut` guarantees no reference into the data lives across
    /// the wait.
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("wait")` if `guard` belongs to another lock.
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// use std::sync::Arc;
    /// let cond = Arc::new(Condition::from_lock(Lock::new(None)));
    /// let c2 = cond.clone();
    /// let t = std::thread::spawn(move || {
    ///     let mut g = c2.acquire();
    ///     while g.is_none() { c2.wait_guard(&mut g).unwrap(); }
    ///     g.take().unwrap()
    /// });
    /// {
    ///     let mut g = cond.acquire();
    ///     *g = Some(42);
    ///     cond.notify_all().unwrap();
    /// }
    /// assert_eq!(t.join().unwrap(), 42);
    /// ```
    pub fn wait_guard(&self, guard: &mut LockGuard<'_, T>) -> Result<(), Error> {
        self.check_guard(guard)?;
        self.wait_raw(Deadline::Never).map(drop)
    }

    /// [`wait_guard`](Condition::wait_guard), giving up after `timeout`;
    /// `false` if it timed out (Python: `cond.wait(timeout)`).
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("wait")` if `guard` belongs to another lock.
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// let cond = Condition::from_lock(Lock::new(0));
    /// let mut g = cond.acquire();
    /// assert_eq!(cond.wait_guard_timeout(&mut g, std::time::Duration::from_millis(1)), Ok(false));
    /// ```
    pub fn wait_guard_timeout(
        &self,
        guard: &mut LockGuard<'_, T>,
        timeout: Duration,
    ) -> Result<bool, Error> {
        self.check_guard(guard)?;
        self.wait_raw(Deadline::after(timeout))
    }

    /// Wait until `predicate(&mut data)` is true (Python:
    /// `cond.wait_for(predicate)`); returns its last value (`true`).
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("wait")` if `guard` belongs to another lock.
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// let cond = Condition::from_lock(Lock::new(3));
    /// let mut g = cond.acquire();
    /// assert_eq!(cond.wait_for_guard(&mut g, |n| *n == 3), Ok(true));
    /// ```
    pub fn wait_for_guard(
        &self,
        guard: &mut LockGuard<'_, T>,
        mut predicate: impl FnMut(&mut T) -> bool,
    ) -> Result<bool, Error> {
        self.check_guard(guard)?;
        self.wait_for_raw(|| predicate(&mut **guard), Deadline::Never)
    }

    /// [`wait_for_guard`](Condition::wait_for_guard), giving up after
    /// `timeout` in all; returns the predicate's last value (Python:
    /// `cond.wait_for(predicate, timeout)`).
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("wait")` if `guard` belongs to another lock.
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// let cond = Condition::from_lock(Lock::new(0));
    /// let mut g = cond.acquire();
    /// let r = cond.wait_for_guard_timeout(&mut g, |n| *n > 0, std::time::Duration::from_millis(1));
    /// assert_eq!(r, Ok(false));
    /// ```
    pub fn wait_for_guard_timeout(
        &self,
        guard: &mut LockGuard<'_, T>,
        mut predicate: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> Result<bool, Error> {
        self.check_guard(guard)?;
        self.wait_for_raw(|| predicate(&mut **guard), Deadline::after(timeout))
    }

    /// `wait_for_guard` with a precomputed deadline (its user, `Barrier`,
    /// moved to `raw::RawBarrier`: unused until another caller needs it).
    #[allow(dead_code)]
    pub(crate) fn wait_for_guard_deadline(
        &self,
        guard: &mut LockGuard<'_, T>,
        mut predicate: impl FnMut(&mut T) -> bool,
        deadline: Deadline,
    ) -> bool {
        debug_assert!(core::ptr::eq(guard.lock(), &*self.lock));
        // The guard proves the lock is held, so the release cannot fail.
        self.wait_for_raw(|| predicate(&mut **guard), deadline)
            .unwrap_or(false)
    }

    pub(super) fn check_guard(&self, guard: &LockGuard<'_, T>) -> Result<(), Error> {
        if core::ptr::eq(guard.lock(), &*self.lock) {
            Ok(())
        } else {
            Err(Error::NotHeld("wait"))
        }
    }
}
