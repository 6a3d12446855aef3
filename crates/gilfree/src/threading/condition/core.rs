//! `Condition`: Python's `threading.Condition`, one futex word per waiter:
//! the waiter FIFO, the wait and notify algorithm, and the Python-shaped
//! API on a data-less lock (the guard-based API is in `guarded.rs`).
//!
//! # State encoding
//!
//! - The condition's *lock*: a [`Lock`] or an [`RLock`] (any `L:
//!   ConditionLock`), shared through an `Arc` so that several conditions
//!   (and plain users) may share one lock, as in Python.
//! - `waiters`: a FIFO of per-waiter [`Waiter`] words, each `WAITING` (0)
//!   until a notifier sets it to `NOTIFIED` (1). As in CPython (a deque of
//!   per-waiter locks) every waiter is woken individually, so `notify(n)`
//!   wakes exactly `min(n, waiting)` threads and never more.
//!
//! The FIFO has its own small internal [`Lock`], not just the condition's
//! lock: with a plain `Lock` "held" only means "held by some thread"
//! (Python's `_is_owned` for a `Lock`), which cannot prove that the list is
//! ours alone. It is only ever held for a push, a pop or a removal.
//!
//! # Memory ordering
//!
//! Everything the notifier wrote under the condition's lock reaches the
//! waiter through the lock itself (the waiter reacquires it before
//! returning). The waiter word's `Release` store / `Acquire` load only
//! orders the hand-off of the word; the FIFO's lock orders the rest.
//!
//! # Why no wake-up is lost
//!
//! A waiter enqueues its word *before* it releases the condition's lock, so
//! a notifier, who must hold that lock, either runs before the waiter
//! started waiting (and its state change is seen by the waiter's caller
//! before it waits) or finds the word in the FIFO. The notifier pops the
//! word and sets it to `NOTIFIED` while holding the FIFO lock, then wakes
//! it; `futex_wait(WAITING)` refuses to sleep once the word has changed.
//! A waiter whose timeout expires takes the FIFO lock and looks at its word:
//! still `WAITING` means it is still queued, and it removes itself (nobody
//! can notify it any more); `NOTIFIED` means a notifier took it first, and
//! the wait reports `true` — the notification is never dropped on the floor
//! (CPython may return `False` in that race; we count it as delivered).
//! A timed-out waiter removes itself *before* it reacquires the lock, so it
//! cannot absorb a notification meant for another while it waits for the
//! lock.
//!
//! The waiter list holds `Arc`s, so a word stays valid for a notifier's
//! `futex_wake` even after its waiter has returned. This Condition lives in
//! private memory only; the process-shared one (multiprocessing) keeps its
//! waiters differently.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::lock::{ConditionLock, DataLess};
use crate::sys::atomic::{AtomicU32, Ordering::*};
use crate::sys::futex::{self, Wake};
use crate::sys::wakers;
use crate::sys::{Deadline, Private};
use crate::threading::error::Error;
use crate::threading::lock::Lock;
use crate::threading::rlock::RLock;

pub(super) const WAITING: u32 = 0;
const NOTIFIED: u32 = 1;

/// One waiting thread's (or task's) word.
pub(super) struct Waiter {
    pub(super) word: AtomicU32,
}

/// A condition variable: Python's `threading.Condition`.
///
/// Built on a lock `L` — an [`RLock`] by default, as in Python, or a
/// [`Lock`]. Threads hold the lock, check some state, and [`wait`] until
/// another thread, holding the lock, changes the state and [`notify`]s.
/// Waiting releases the lock (every recursion level of an `RLock`) and
/// reacquires it before returning.
///
/// Two ways to use it:
/// - **Python-shaped**, on a data-less lock (`RLock<()>` or `Lock<()>`):
///   [`acquire`](Condition::acquire) gives a guard (Python's `with cond:`),
///   and [`wait`], [`wait_for`](Condition::wait_for), [`notify`] check at run
///   time that the lock is held, returning [`Error::NotHeld`] otherwise
///   (Python's `RuntimeError`). Shared state lives in atomics or in another
///   structure protected by this lock.
/// - **Data-guarding**, on a `Lock<T>`: the lock holds the state, and
///   [`wait_guard`](Condition::wait_guard) /
///   [`wait_for_guard`](Condition::wait_for_guard) take the `&mut` guard,
///   like `std::sync::Condvar` — so no reference into the data can live
///   across the wait.
///
/// Sharing: [`Condition::new`] owns a fresh `RLock`;
/// [`from_lock`](Condition::from_lock) owns a given lock;
/// [`with_lock`](Condition::with_lock) shares an `Arc`'d lock with other
/// conditions or users (Python's `Condition(lock)`).
///
/// Differences from Python: `wait(timeout)` is [`wait`] and
/// [`wait_timeout`](Condition::wait_timeout); `wait_for(pred, timeout)` is
/// [`wait_for`](Condition::wait_for) and
/// [`wait_for_timeout`](Condition::wait_for_timeout), whose predicate returns
/// `bool`. A timed-out wait that was notified at the last moment returns
/// `true` (CPython may return `False` and lose that notification).
///
/// [`wait`]: Condition::wait
/// [`notify`]: Condition::notify
///
/// ```
/// use gilfree::threading::Condition;
/// use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
///
/// let cond = Arc::new(Condition::new());
/// let ready = Arc::new(AtomicBool::new(false));
/// let (c2, r2) = (cond.clone(), ready.clone());
/// let t = std::thread::spawn(move || {
///     let _g = c2.acquire();
///     c2.wait_for(|| r2.load(Ordering::Relaxed)).unwrap()
/// });
/// {
///     let _g = cond.acquire();
///     ready.store(true, Ordering::Relaxed);
///     cond.notify_all().unwrap();
/// }
/// assert!(t.join().unwrap());
/// ```
pub struct Condition<L: ConditionLock = RLock> {
    pub(super) lock: Arc<L>,
    pub(super) waiters: Lock<VecDeque<Arc<Waiter>>>,
}

impl Condition<RLock> {
    /// A condition over a new `RLock` (Python: `threading.Condition()`).
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// let _a = cond.acquire();
    /// let _b = cond.acquire(); // an RLock: re-entrant
    /// ```
    pub fn new() -> Self {
        Condition::from_lock(RLock::new(()))
    }
}

impl Default for Condition<RLock> {
    fn default() -> Self {
        Condition::new()
    }
}

impl<L: ConditionLock> Condition<L> {
    /// A condition over `lock`, which it owns.
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// let cond = Condition::from_lock(Lock::new(Vec::<u32>::new()));
    /// cond.acquire().push(1);
    /// ```
    pub fn from_lock(lock: L) -> Self {
        Condition::with_lock(Arc::new(lock))
    }

    /// A condition over a lock shared with others (Python:
    /// `threading.Condition(lock)`).
    ///
    /// ```
    /// use gilfree::threading::{Condition, Lock};
    /// use std::sync::Arc;
    /// let lock = Arc::new(Lock::new(()));
    /// let cond = Condition::with_lock(lock.clone());
    /// let g = cond.acquire();
    /// assert!(lock.locked());
    /// drop(g);
    /// ```
    pub fn with_lock(lock: Arc<L>) -> Self {
        Condition {
            lock,
            waiters: Lock::new(VecDeque::new()),
        }
    }

    /// The underlying lock.
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// assert!(!cond.lock().locked());
    /// ```
    pub fn lock(&self) -> &Arc<L> {
        &self.lock
    }

    /// Whether the lock counts as held by the caller: owned by this thread
    /// for an `RLock`; locked by anyone for a `Lock`, which has no owner
    /// (Python's private `cond._is_owned()`).
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// assert!(!cond.is_owned());
    /// let _g = cond.acquire();
    /// assert!(cond.is_owned());
    /// ```
    pub fn is_owned(&self) -> bool {
        self.lock.cond_is_owned()
    }

    /// Wake up to `n` threads waiting on this condition, longest waiter
    /// first (Python: `cond.notify(n)`). Wakes exactly `min(n, waiting)`
    /// and returns that number (Python returns `None`).
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("notify")` if the lock is not held (Python's
    /// `RuntimeError: cannot notify on un-acquired lock`).
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// assert!(cond.notify(1).is_err());
    /// let _g = cond.acquire();
    /// assert_eq!(cond.notify(1), Ok(0)); // nobody waits: a no-op
    /// ```
    pub fn notify(&self, n: usize) -> Result<usize, Error> {
        if !self.is_owned() {
            return Err(Error::NotHeld("notify"));
        }
        Ok(self.notify_raw(n))
    }

    /// Wake every waiting thread (Python: `cond.notify_all()`); returns
    /// how many it woke.
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("notify")` if the lock is not held.
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// let _g = cond.acquire();
    /// assert_eq!(cond.notify_all(), Ok(0));
    /// ```
    pub fn notify_all(&self) -> Result<usize, Error> {
        self.notify(usize::MAX)
    }

    pub(super) fn notify_raw(&self, n: usize) -> usize {
        let mut waiters = self.waiters.acquire();
        let mut woken = 0;
        while woken < n {
            let Some(w) = waiters.pop_front() else { break };
            // Set under the FIFO lock: a timed-out waiter decides "was I
            // notified?" from this word under the same lock.
            w.word.store(NOTIFIED, Release);
            futex::wake_one::<Private>(&w.word);
            // A task waiting (`wait_async`) sleeps on the same word.
            wakers::wake(&w.word, 1);
            woken += 1;
        }
        woken
    }

    /// The wait algorithm. Fails with `NotHeld("wait")`, having changed
    /// nothing, if the lock cannot be released by the caller.
    pub(super) fn wait_raw(&self, deadline: Deadline) -> Result<bool, Error> {
        let w = Arc::new(Waiter {
            word: AtomicU32::new(WAITING),
        });
        // Enqueue before releasing the lock: a notifier that gets the lock
        // after us finds us (see "Why no wake-up is lost").
        self.waiters.acquire().push_back(w.clone());
        let saved = match self.lock.cond_release_save() {
            Ok(s) => s,
            Err(_) => {
                self.remove(&w);
                return Err(Error::NotHeld("wait"));
            }
        };
        let mut notified = true;
        while w.word.load(Acquire) == WAITING {
            if futex::wait::<Private>(&w.word, WAITING, deadline) == Wake::TimedOut
                && deadline.expired()
            {
                notified = !self.remove(&w);
                break;
            }
        }
        self.lock.cond_acquire_restore(saved);
        Ok(notified)
    }

    /// Dequeue `w` unless a notifier already did; whether it was removed.
    pub(super) fn remove(&self, w: &Arc<Waiter>) -> bool {
        let mut waiters = self.waiters.acquire();
        if w.word.load(Acquire) != WAITING {
            return false;
        }
        if let Some(i) = waiters.iter().position(|x| Arc::ptr_eq(x, w)) {
            waiters.remove(i);
        }
        true
    }

    pub(super) fn wait_for_raw(
        &self,
        mut pred: impl FnMut() -> bool,
        deadline: Deadline,
    ) -> Result<bool, Error> {
        loop {
            if pred() {
                return Ok(true);
            }
            if deadline.expired() {
                return Ok(false);
            }
            self.wait_raw(deadline)?;
        }
    }

    /// How many threads wait on this condition (a snapshot; for tests and
    /// diagnostics — Python has only the private `cond._waiters`).
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// assert_eq!(cond.n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.waiters.acquire().len()
    }
}

/// Python-shaped waiting, on a data-less lock (`RLock<()>` or `Lock<()>`).
impl<L: ConditionLock + DataLess> Condition<L> {
    /// Release the lock, block until notified, reacquire it (Python:
    /// `cond.wait()`). An `RLock` held at several levels is released fully
    /// and restored to the same depth.
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("wait")` if the lock is not held (Python's
    /// `RuntimeError: cannot wait on un-acquired lock`).
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// assert!(cond.wait().is_err());
    /// ```
    pub fn wait(&self) -> Result<(), Error> {
        self.wait_raw(Deadline::Never).map(drop)
    }

    /// [`wait`](Condition::wait), giving up after `timeout` (Python:
    /// `cond.wait(timeout)`). Returns `false` if it timed out.
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("wait")` if the lock is not held.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cond = gilfree::threading::Condition::new();
    /// let _g = cond.acquire();
    /// assert_eq!(cond.wait_timeout(Duration::from_millis(1)), Ok(false));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, Error> {
        self.wait_raw(Deadline::after(timeout))
    }

    /// Wait until `predicate()` is true (Python: `cond.wait_for(predicate)`).
    /// The predicate is called with the lock held, first before any wait.
    /// Returns its last value (always `true` here).
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("wait")` if the lock is not held and the
    /// predicate was false (Python checks in the same order).
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// let _g = cond.acquire();
    /// assert_eq!(cond.wait_for(|| true), Ok(true));
    /// ```
    pub fn wait_for(&self, predicate: impl FnMut() -> bool) -> Result<bool, Error> {
        self.wait_for_raw(predicate, Deadline::Never)
    }

    /// [`wait_for`](Condition::wait_for), giving up after `timeout` in all
    /// (Python: `cond.wait_for(predicate, timeout)`). Returns the
    /// predicate's last value: `false` means it timed out.
    ///
    /// # Errors
    /// [`Error::NotHeld`]`("wait")` if the lock is not held and the
    /// predicate was false.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cond = gilfree::threading::Condition::new();
    /// let _g = cond.acquire();
    /// assert_eq!(cond.wait_for_timeout(|| false, Duration::from_millis(1)), Ok(false));
    /// ```
    pub fn wait_for_timeout(
        &self,
        predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool, Error> {
        self.wait_for_raw(predicate, Deadline::after(timeout))
    }

    /// Python's `cond.acquire(blocking=True, timeout=-1)`: acquire the lock
    /// without a guard; release it with [`release`](Condition::release).
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// assert!(cond.acquire_unguarded(true, None));
    /// cond.release().unwrap();
    /// ```
    #[track_caller]
    pub fn acquire_unguarded(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        self.lock.cond_acquire(blocking, timeout)
    }

    /// Python's `cond.release()`: release one level of the lock.
    ///
    /// # Errors
    /// As the lock's own `release`: [`Error::NotOwner`] (RLock) or
    /// [`Error::ReleaseUnlocked`] (Lock).
    ///
    /// ```
    /// let cond = gilfree::threading::Condition::new();
    /// assert!(cond.release().is_err());
    /// ```
    pub fn release(&self) -> Result<(), Error> {
        self.lock.cond_release()
    }
}

impl<L: ConditionLock> fmt::Debug for Condition<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Python: <Condition(<unlocked _thread.RLock ...>, 0)>
        write!(f, "<Condition({:p}, {})>", &*self.lock, self.n_waiting())
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sys::atomic::AtomicBool;
    use crate::threading::lock::LockGuard;
    use loom::thread;

    /// A waiter and a notifier: the waiter sees the flag (no lost notify),
    /// whichever runs first. Over an RLock held at two levels, so the save /
    /// restore of the recursion count is modelled too.
    #[test]
    fn condition_wait_notify_no_lost_wakeup() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let cond = Arc::new(Condition::new());
            let flag = Arc::new(AtomicBool::new(false));
            let (c2, f2) = (cond.clone(), flag.clone());
            let t = thread::spawn(move || {
                let _a = c2.acquire();
                let _b = c2.acquire();
                while !f2.load(Relaxed) {
                    c2.wait().unwrap();
                }
                assert_eq!(c2.lock().recursion_count(), 2);
            });
            {
                let _g = cond.acquire();
                flag.store(true, Relaxed);
                cond.notify(1).unwrap();
            }
            t.join().unwrap();
        });
    }

    /// Two waiters, `notify(1)` twice: each notification wakes one waiter,
    /// and both return (exact counts, none lost).
    #[test]
    fn condition_notify_one_each() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let cond = Arc::new(Condition::from_lock(Lock::new(0u32)));
            let ths: Vec<_> = (0..2)
                .map(|_| {
                    let c = cond.clone();
                    thread::spawn(move || {
                        let mut g = c.acquire();
                        c.wait_for_guard(&mut g, |n| *n > 0).unwrap();
                        *g -= 1;
                    })
                })
                .collect();
            for _ in 0..2 {
                let mut g = cond.acquire();
                *g += 1;
                cond.notify(1).unwrap();
            }
            for t in ths {
                t.join().unwrap();
            }
            assert_eq!(*cond.acquire(), 0);
        });
    }

    /// A waiter that times out at once races a notifier: the notify is
    /// either delivered (wait returns true) or the waiter left the queue
    /// first; never both, never a stale entry left behind.
    #[test]
    fn condition_timeout_races_notify() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let cond = Arc::new(Condition::from_lock(Lock::new(())));
            let c2 = cond.clone();
            let t = thread::spawn(move || {
                let mut g = c2.acquire();
                c2.wait_raw_for_test(&mut g)
            });
            {
                let _g = cond.acquire();
                cond.notify(1).unwrap();
            }
            let _ = t.join().unwrap();
            assert_eq!(cond.n_waiting(), 0);
        });
    }

    impl Condition<Lock<()>> {
        fn wait_raw_for_test(&self, g: &mut LockGuard<'_, ()>) -> bool {
            self.check_guard(g).unwrap();
            self.wait_raw(Deadline::now()).unwrap()
        }
    }
}
