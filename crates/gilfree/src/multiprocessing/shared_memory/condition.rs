//! `Condition`: Python's `multiprocessing.Condition`, a process-shared
//! lock (`RawRobustLock`) and `raw::RawCondvar<Shared>` in one shared
//! block, with `threading::Condition`'s guarded API.

use std::fmt;
use std::time::Duration;

use bytemuck::Pod;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::block::{Block, Single};
use super::lock::LockGuard;
use crate::multiprocessing::error::Result;
use crate::sys::Deadline;
use crate::threading::Error as NotHeldError;

/// Python's `multiprocessing.Condition`: wait, across processes, until
/// another process changes some shared state and notifies.
///
/// Its lock guards a plain-old-data `T` stored beside it (the state the
/// condition is about), and survives a holder's death as
/// [`Lock`](super::Lock)'s does: a waiter that gets the lock back from a
/// dead holder sees [`owner_died`](super::Guard::owner_died).
///
/// As with every condition variable, wake-ups may be spurious: wait in a
/// loop on the state, or use [`wait_for_guard`](Self::wait_for_guard).
///
/// Differences from Python: `notify` and `notify_all` return how many
/// they woke as `Ok(0)` always (the count is unknown: see
/// [`notify`](Self::notify)); `new` returns a `Result`.
///
/// ```
/// use gilfree::multiprocessing::Condition;
/// let c = Condition::new(0u32).unwrap();
/// let mut g = c.acquire();
/// *g = 1; // change the state under the lock, then notify
/// c.notify_all().unwrap();
/// assert!(c.wait_for_guard(&mut g, |v| *v == 1)); // already true
/// ```
pub struct Condition<T = ()>(pub(super) Block<Single<T>>);

impl<T: Pod> Condition<T> {
    /// Python's `multiprocessing.Condition()`, guarding `value`.
    ///
    /// ```
    /// let c = gilfree::multiprocessing::Condition::new(()).unwrap();
    /// drop(c.acquire());
    /// ```
    pub fn new(value: T) -> Result<Self> {
        Ok(Condition(Block::from_slice(&[Single(value)])?))
    }

    /// Python's `with cond:`: take the condition's lock.
    ///
    /// ```
    /// let c = gilfree::multiprocessing::Condition::new(5u8).unwrap();
    /// assert_eq!(*c.acquire(), 5);
    /// ```
    pub fn acquire(&self) -> LockGuard<'_, T> {
        self.0
            .guard_with(|l| l.lock(Deadline::Never))
            .expect("no deadline")
    }

    /// Python's `acquire(blocking=False)`: the guard if the lock is free
    /// now (or its holder is dead: the guard then reports
    /// [`owner_died`](super::Guard::owner_died)), `None` otherwise; as
    /// [`threading::Condition::try_acquire`](crate::threading::Condition::try_acquire).
    ///
    /// ```
    /// let c = gilfree::multiprocessing::Condition::new(0u8).unwrap();
    /// let g = c.try_acquire().unwrap();
    /// assert!(!g.owner_died());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(c.try_acquire().is_none()));
    /// });
    /// drop(g);
    /// ```
    pub fn try_acquire(&self) -> Option<LockGuard<'_, T>> {
        self.0.guard_with(|l| l.try_lock())
    }

    /// Python's `acquire(timeout=t)`: the guard, or `None` if `timeout`
    /// passed first; as
    /// [`threading::Condition::acquire_timeout`](crate::threading::Condition::acquire_timeout).
    /// A take-over from a dead holder is reported by the guard's
    /// [`owner_died`](super::Guard::owner_died).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = gilfree::multiprocessing::Condition::new(()).unwrap();
    /// let g = c.acquire_timeout(Duration::from_millis(1)).unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(c.acquire_timeout(Duration::from_millis(1)).is_none()));
    /// });
    /// drop(g);
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        self.0.guard_with(|l| l.lock(Deadline::after(timeout)))
    }

    /// Whether the calling thread holds the condition's lock (the lock's
    /// word holds its holder's thread id).
    pub(super) fn held_by_me(&self) -> bool {
        self.0.lock().raw().get().held_by_me()
    }

    /// Python's `wait()`: release the lock, sleep until notified, take the
    /// lock back (`guard` is this condition's).
    ///
    /// # Panics
    /// If the calling thread does not hold this condition's lock (`guard`
    /// is another lock's: Python's `cannot wait on un-acquired lock`; the
    /// threading twin returns it as an error), as `std::sync::Condvar`
    /// panics when given another mutex's guard. The same holds for every
    /// `wait_*` method.
    ///
    /// ```
    /// # let c = gilfree::multiprocessing::Condition::new(1u8).unwrap();
    /// let mut g = c.acquire();
    /// while *g == 0 {
    ///     c.wait_guard(&mut g);
    /// }
    /// ```
    pub fn wait_guard(&self, guard: &mut LockGuard<'_, T>) {
        self.wait_until(guard, Deadline::Never);
    }

    /// Python's `wait(timeout)`: `false` if the timeout passed first.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = gilfree::multiprocessing::Condition::new(()).unwrap();
    /// let mut g = c.acquire();
    /// assert!(!c.wait_guard_timeout(&mut g, Duration::from_millis(1)));
    /// ```
    pub fn wait_guard_timeout(&self, guard: &mut LockGuard<'_, T>, timeout: Duration) -> bool {
        self.wait_until(guard, Deadline::after(timeout))
    }

    /// Python's `wait_for(predicate)`: wait until `pred` holds for the
    /// state; returns `true` then.
    ///
    /// ```
    /// let c = gilfree::multiprocessing::Condition::new(3i32).unwrap();
    /// let mut g = c.acquire();
    /// assert!(c.wait_for_guard(&mut g, |v| *v > 0));
    /// ```
    pub fn wait_for_guard(
        &self,
        guard: &mut LockGuard<'_, T>,
        pred: impl FnMut(&T) -> bool,
    ) -> bool {
        self.wait_for_until(guard, pred, Deadline::Never)
    }

    /// Python's `wait_for(predicate, timeout)`: `pred`'s last value.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = gilfree::multiprocessing::Condition::new(0i32).unwrap();
    /// let mut g = c.acquire();
    /// assert!(!c.wait_for_guard_timeout(&mut g, |v| *v > 0, Duration::from_millis(1)));
    /// ```
    pub fn wait_for_guard_timeout(
        &self,
        guard: &mut LockGuard<'_, T>,
        pred: impl FnMut(&T) -> bool,
        timeout: Duration,
    ) -> bool {
        self.wait_for_until(guard, pred, Deadline::after(timeout))
    }

    fn wait_until(&self, guard: &mut LockGuard<'_, T>, deadline: Deadline) -> bool {
        // A guard of another lock would be released while this one stays
        // free: the wait would not be a wait on this condition at all.
        assert!(
            self.held_by_me(),
            "cannot wait on un-acquired lock (the guard is not of this condition's lock)"
        );
        let cv = self.0.condvar();
        // Look while the lock is held: a notify after our release bumps
        // the word past `seen`, and the sleep then returns at once.
        let seen = cv.look();
        guard.unlocked(|| cv.sleep(seen, deadline))
    }

    fn wait_for_until(
        &self,
        guard: &mut LockGuard<'_, T>,
        mut pred: impl FnMut(&T) -> bool,
        deadline: Deadline,
    ) -> bool {
        loop {
            if pred(guard) {
                return true;
            }
            if !self.wait_until(guard, deadline) {
                return pred(guard);
            }
        }
    }

    /// Python's `notify(n)`: wake up to `n` waiters (in any process). The
    /// calling thread must hold the lock, as in Python and
    /// [`threading::Condition::notify`](crate::threading::Condition::notify).
    ///
    /// Differences from the threading twin: the waiters share one sequence
    /// word, which counts notifies, not sleepers, so how many were woken is
    /// unknown: this returns `Ok(0)` always (threading's returns
    /// `min(n, waiting)`; Python returns `None`). Each of the `n` wakes
    /// goes to a sleeper if there is one, in no set order (threading's
    /// wakes the longest waiter first), and a woken waiter may find the
    /// state unchanged, as with any spurious wake-up.
    ///
    /// # Errors
    /// [`threading::Error::NotHeld`](crate::threading::Error::NotHeld)`("notify")`
    /// if the calling thread does not hold the lock (Python's
    /// `RuntimeError: cannot notify on un-acquired lock`); nobody is woken.
    ///
    /// ```
    /// let c = gilfree::multiprocessing::Condition::new(()).unwrap();
    /// assert!(c.notify(1).is_err()); // not held
    /// let _g = c.acquire();
    /// assert_eq!(c.notify(1), Ok(0)); // nobody waits: nothing happens
    /// ```
    pub fn notify(&self, n: usize) -> std::result::Result<usize, NotHeldError> {
        if !self.held_by_me() {
            return Err(NotHeldError::NotHeld("notify"));
        }
        for _ in 0..n {
            self.0.condvar().notify_one();
        }
        Ok(0)
    }

    /// Python's `notify_all()`: wake every waiter (in any process); the
    /// calling thread must hold the lock. Returns `Ok(0)` always, as
    /// [`notify`](Self::notify) does (threading's returns how many it
    /// woke).
    ///
    /// # Errors
    /// [`threading::Error::NotHeld`](crate::threading::Error::NotHeld)`("notify")`
    /// if the calling thread does not hold the lock; nobody is woken.
    ///
    /// ```
    /// let c = gilfree::multiprocessing::Condition::new(()).unwrap();
    /// assert!(c.notify_all().is_err()); // not held
    /// let _g = c.acquire();
    /// assert_eq!(c.notify_all(), Ok(0));
    /// ```
    pub fn notify_all(&self) -> std::result::Result<usize, NotHeldError> {
        if !self.held_by_me() {
            return Err(NotHeldError::NotHeld("notify"));
        }
        self.0.condvar().notify_all();
        Ok(0)
    }

    /// Another handle to the same condition: keep one while passing one
    /// to a child.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Condition::new(1u8).unwrap();
    /// *a.try_clone().unwrap().acquire() = 2;
    /// assert_eq!(*a.acquire(), 2);
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        Ok(Condition(self.0.try_clone()?))
    }
}

impl<T: Pod> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<multiprocessing.Condition>")
    }
}

/// Sent as its block (the descriptor travels): the receiver shares the
/// same lock, state and waiters.
impl<T: Pod> Serialize for Condition<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for Condition<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Condition(Block::deserialize(d)?))
    }
}
