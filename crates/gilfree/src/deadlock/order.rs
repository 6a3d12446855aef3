//! Deadlock avoidance: several locks taken in one global order.
//!
//! # Why it cannot deadlock
//!
//! A deadlock needs a cycle of threads, each holding a lock the next one
//! waits for. [`acquire_all`] sorts its locks by one key that every thread
//! agrees on (the lock's id under `deadlock-detection`, else the address of
//! its state word, which cannot change while two threads borrow the lock)
//! and blocks on them in that order. A thread waiting for lock `k` then
//! holds (from this call) only locks below `k`, so around any cycle of
//! waiting threads the keys would have to decrease forever: there is none.
//! This holds among locks taken through `acquire_all`; a lock the caller
//! already held before the call is outside the argument, as with C++'s
//! `std::scoped_lock`.
//!
//! [`acquire_all_timeout`] never waits while holding: it blocks (with the
//! deadline) on one lock, *tries* the others, and on the first busy one
//! releases everything and blocks on that one next. A thread that holds
//! nothing can be in no cycle. (This is libstdc++'s `std::lock` algorithm;
//! its cost is the chance of retrying under contention, not deadlock.)

use core::marker::PhantomData;
use std::fmt;
use std::time::Duration;

use crate::guard::sealed::{Owned, Sealed};
use crate::guard::{Guard, Lockable};
use crate::sys::Deadline;

/// Acquire every lock in `locks`, in one global order, deadlock-free
/// (C++'s `std::scoped_lock`; Python has none — the usual advice is "always
/// take them in the same order", which this does for you).
///
/// The order of `locks` does not matter, and a lock listed twice is taken
/// once. The returned [`AllGuard`] releases them all when dropped; use
/// [`AllGuard::take`] to get a [`LockGuard`](crate::threading::LockGuard) (and so the data) of one of
/// them.
///
/// Deadlock-free among locks taken through `acquire_all`: a lock the thread
/// already holds before the call is not part of the order (lock-order
/// detection will report such inversions).
///
/// ```
/// use gilfree::deadlock::acquire_all;
/// use gilfree::threading::Lock;
/// use std::sync::Arc;
///
/// let accounts = Arc::new([Lock::new(100i64), Lock::new(100i64)]);
/// let threads: Vec<_> = [(0, 1), (1, 0)]
///     .into_iter()
///     .map(|(from, to)| {
///         let acc = accounts.clone();
///         std::thread::spawn(move || {
///             for _ in 0..1000 {
///                 // Opposite orders in the two threads: still no deadlock.
///                 let mut all = acquire_all(&[&acc[from], &acc[to]]);
///                 *all.take(&acc[from]).unwrap() -= 1;
///                 *all.take(&acc[to]).unwrap() += 1;
///             }
///         })
///     })
///     .collect();
/// for t in threads { t.join().unwrap(); }
/// assert_eq!(*accounts[0].acquire() + *accounts[1].acquire(), 200);
/// ```
#[track_caller]
pub fn acquire_all<'a>(locks: &[&'a dyn Lockable]) -> AllGuard<'a> {
    let set = in_order(locks);
    // The guard grows as locks are taken, so a panic on the way (the
    // detector's panic mode) releases what was already taken.
    let mut all = AllGuard::with_capacity(set.len());
    for l in set {
        l.lock_until(None);
        all.held.push(Some(l));
    }
    all
}

/// [`acquire_all`] giving up after `timeout`: `None` if it could not hold
/// them all in time. It never waits while holding any of them (it backs off
/// and retries instead), so it cannot take part in a deadlock even with
/// locks taken in other ways. A duration too large for the clock waits
/// forever.
///
/// Python has no equivalent; compare `lock.acquire(timeout=t)`.
///
/// ```
/// use gilfree::deadlock::acquire_all_timeout;
/// use gilfree::threading::Lock;
/// use std::time::Duration;
///
/// let (a, b) = (Lock::new(()), Lock::new(()));
/// let held = b.acquire();
/// assert!(acquire_all_timeout(&[&a, &b], Duration::from_millis(1)).is_none());
/// assert!(!a.locked()); // backed off: holds nothing after giving up
/// drop(held);
/// assert_eq!(acquire_all_timeout(&[&a, &b], Duration::from_secs(1)).unwrap().len(), 2);
/// ```
#[track_caller]
pub fn acquire_all_timeout<'a>(
    locks: &[&'a dyn Lockable],
    timeout: Duration,
) -> Option<AllGuard<'a>> {
    let set = in_order(locks);
    let n = set.len();
    if n == 0 {
        return Some(AllGuard::with_capacity(0));
    }
    let deadline = Deadline::after(timeout);
    // The lock to block on: the first in order, then whichever was busy.
    let mut first = 0;
    loop {
        if !set[first].lock_until(deadline.instant()) {
            return None;
        }
        let mut all = AllGuard::with_capacity(n);
        all.held.push(Some(set[first]));
        let busy = (1..n).map(|k| (first + k) % n).find(|&i| {
            let got = set[i].lock_try();
            if got {
                all.held.push(Some(set[i]));
            }
            !got
        });
        match busy {
            None => return Some(all),
            Some(i) => {
                drop(all); // back off: hold nothing while waiting
                first = i;
                #[cfg(not(loom))]
                std::thread::yield_now();
            }
        }
    }
}

/// The locks sorted by the global order, each once.
fn in_order<'a>(locks: &[&'a dyn Lockable]) -> Vec<&'a dyn Lockable> {
    let mut set: Vec<(u64, usize, &'a dyn Lockable)> = locks
        .iter()
        .map(|&l| (l.order_key(), l.word_addr(), l))
        .collect();
    set.sort_unstable_by_key(|&(key, addr, _)| (key, addr));
    set.dedup_by_key(|&mut (_, addr, _)| addr);
    set.into_iter().map(|(_, _, l)| l).collect()
}

/// Holds the locks taken by [`acquire_all`]; releases them (in reverse
/// order of acquisition) when dropped. Python's nearest is a
/// `contextlib.ExitStack` of `with lock:` blocks.
///
/// Not `Send`, like [`LockGuard`](crate::threading::LockGuard): the locks are released by the thread that
/// took them.
///
/// ```
/// use gilfree::deadlock::acquire_all;
/// use gilfree::threading::Lock;
///
/// let (a, b) = (Lock::new(1), Lock::new(2));
/// {
///     let all = acquire_all(&[&a, &b]);
///     assert_eq!(all.len(), 2);
///     assert!(a.locked() && b.locked());
/// }
/// assert!(!a.locked() && !b.locked());
/// ```
#[must_use = "the locks are released as soon as the guard is dropped"]
pub struct AllGuard<'a> {
    /// In acquisition order; `None` once handed out by `take`.
    held: Vec<Option<&'a dyn Lockable>>,
    _not_send: PhantomData<*const ()>,
}

impl<'a> AllGuard<'a> {
    fn with_capacity(n: usize) -> Self {
        AllGuard {
            held: Vec::with_capacity(n),
            _not_send: PhantomData,
        }
    }

    /// How many locks this guard still holds.
    ///
    /// ```
    /// let l = gilfree::threading::Lock::new(());
    /// assert_eq!(gilfree::deadlock::acquire_all(&[&l, &l]).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.held.iter().flatten().count()
    }

    /// Whether it holds no lock (it was given none, or all were taken out).
    ///
    /// ```
    /// assert!(gilfree::deadlock::acquire_all(&[]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Move `lock`'s hold out of this guard into an ordinary [`LockGuard`](crate::threading::LockGuard),
    /// which gives access to its data and releases it when dropped. `None`
    /// if `lock` is not held by this guard (not listed, or already taken).
    ///
    /// ```
    /// use gilfree::deadlock::acquire_all;
    /// use gilfree::threading::Lock;
    ///
    /// let (a, b, c) = (Lock::new(1), Lock::new(2), Lock::new(3));
    /// let mut all = acquire_all(&[&a, &b]);
    /// let mut ga = all.take(&a).unwrap();
    /// *ga += 10;
    /// assert!(all.take(&a).is_none()); // already taken
    /// assert!(all.take(&c).is_none()); // never held
    /// drop(ga);
    /// assert!(!a.locked() && b.locked());
    /// ```
    pub fn take<L: ?Sized + Owned>(&mut self, lock: &'a L) -> Option<Guard<'a, L>> {
        let addr = Sealed::word_addr(lock);
        let slot = self
            .held
            .iter_mut()
            .find(|s| s.is_some_and(|l| l.word_addr() == addr))?;
        *slot = None;
        // SAFETY: the slot held an acquisition of the lock whose state word
        // is at `addr`, which is `lock`'s (distinct locks have distinct
        // words), made by this thread (the guard is not Send); clearing the
        // slot hands that acquisition to the new guard alone.
        Some(unsafe { Guard::from_held(lock) })
    }
}

impl Drop for AllGuard<'_> {
    fn drop(&mut self) {
        for l in self.held.drain(..).rev().flatten() {
            l.unlock_held();
        }
    }
}

impl fmt::Debug for AllGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllGuard")
            .field("held", &self.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::threading::Lock;
    use std::sync::Arc;
    use std::sync::mpsc;

    #[test]
    fn duplicates_are_taken_once_and_all_released() {
        let (a, b) = (Lock::new(()), Lock::new(()));
        let all = acquire_all(&[&a, &b, &a, &b]);
        assert_eq!(all.len(), 2);
        drop(all);
        assert!(!a.locked() && !b.locked());
    }

    #[test]
    fn taken_guard_outlives_the_rest() {
        let (a, b) = (Lock::new(1), Lock::new(2));
        let mut all = acquire_all(&[&b, &a]);
        let mut gb = all.take(&b).unwrap();
        assert_eq!(all.len(), 1);
        drop(all);
        assert!(!a.locked() && b.locked());
        *gb += 1;
        drop(gb);
        assert_eq!(*b.acquire(), 3);
    }

    #[test]
    fn nested_lock_is_a_different_lock() {
        // The inner lock may sit at the same address as the outer one; the
        // state words cannot.
        let outer = Lock::new(Lock::new(5));
        let mut all = acquire_all(&[&outer]);
        assert_eq!(all.len(), 1);
        let g = all.take(&outer).unwrap();
        assert!(!g.locked());
    }

    #[test]
    fn timeout_backs_off_while_one_is_busy() {
        let (a, b, c) = (Lock::new(()), Lock::new(()), Lock::new(()));
        let held = b.acquire();
        assert!(acquire_all_timeout(&[&a, &b, &c], Duration::ZERO).is_none());
        assert!(!a.locked() && !c.locked());
        drop(held);
        let all = acquire_all_timeout(&[&c, &b, &a], Duration::from_secs(60)).unwrap();
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn timeout_form_waits_for_a_release() {
        let locks = Arc::new([Lock::new(0), Lock::new(0)]);
        let held = locks[1].acquire();
        let (tx, rx) = mpsc::channel();
        let l2 = locks.clone();
        let t = std::thread::spawn(move || {
            tx.send(()).unwrap();
            let mut all = acquire_all_timeout(&[&l2[0], &l2[1]], Duration::MAX).unwrap();
            *all.take(&l2[1]).unwrap() += 1;
        });
        rx.recv().unwrap();
        drop(held);
        t.join().unwrap();
        assert_eq!(*locks[1].acquire(), 1);
        assert!(!locks[0].locked());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::threading::Lock;
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads list the same two locks in opposite orders: loom finds no
    /// interleaving that deadlocks, and the counters are never raced.
    #[test]
    fn acquire_all_opposite_orders() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let locks = Arc::new([Lock::new(0u32), Lock::new(0u32)]);
            let ths: Vec<_> = [(0, 1), (1, 0)]
                .into_iter()
                .map(|(x, y)| {
                    let l = locks.clone();
                    thread::spawn(move || {
                        let mut all = acquire_all(&[&l[x], &l[y]]);
                        *all.take(&l[x]).unwrap() += 1;
                        *all.take(&l[y]).unwrap() += 1;
                    })
                })
                .collect();
            for t in ths {
                t.join().unwrap();
            }
            assert_eq!(*locks[0].acquire(), 2);
            assert_eq!(*locks[1].acquire(), 2);
        });
    }

    /// The back-off form against the ordered form: no deadlock, and when it
    /// succeeds it holds both. With a zero timeout every wait gives up at
    /// once (loom has no clock, so only an already-expired deadline can be
    /// modelled), exploring the give-up path; with `Duration::MAX` (wait
    /// forever) every back-off ends in success.
    fn backoff_model(timeout: Duration) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(move || {
            let locks = Arc::new([Lock::new(0u32), Lock::new(0u32)]);
            let l = locks.clone();
            let ordered = thread::spawn(move || {
                let mut all = acquire_all(&[&l[0], &l[1]]);
                *all.take(&l[0]).unwrap() += 1;
                *all.take(&l[1]).unwrap() += 1;
            });
            let mut done = 0;
            if let Some(mut all) = acquire_all_timeout(&[&locks[1], &locks[0]], timeout) {
                *all.take(&locks[0]).unwrap() += 1;
                *all.take(&locks[1]).unwrap() += 1;
                done = 1;
            } else {
                // Gave up: it must hold nothing.
                assert!(timeout != Duration::MAX);
            }
            ordered.join().unwrap();
            assert_eq!(*locks[0].acquire(), 1 + done);
            assert_eq!(*locks[1].acquire(), 1 + done);
        });
    }

    #[test]
    fn acquire_all_timeout_gives_up_cleanly() {
        backoff_model(Duration::ZERO);
    }

    #[test]
    fn acquire_all_timeout_backs_off_and_succeeds() {
        backoff_model(Duration::MAX);
    }
}
