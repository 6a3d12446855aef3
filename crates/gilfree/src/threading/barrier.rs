//! `Barrier`: Python's `threading.Barrier`, CPython's state machine on a
//! [`Condition`] over a [`Lock`] guarding the state.
//!
//! # State encoding
//!
//! Under the condition's lock, `State { phase, count }`:
//! - `Filling`: threads arrive; `count` of them wait. The last one to
//!   arrive runs the action and moves to `Draining`.
//! - `Draining`: the waiters of the finished cycle are leaving; new arrivals
//!   wait for the drain to end. The last one out (`count == 0`) moves back
//!   to `Filling`.
//! - `Resetting`: `reset()` was called with threads inside: they leave with
//!   `BrokenBarrier`, and the last one out moves to `Filling`.
//! - `Broken`: `abort()`, a timed-out wait or a panicking action; every
//!   current and future `wait` fails until `reset()`.
//!
//! Each waiter's index is the value of `count` when it arrived, so the
//! indices of one cycle are exactly `0..parties`.
//!
//! `n_waiting()` and `broken()` read a copy of the state published in two
//! relaxed atomics at every change (Python reads these properties without
//! the lock, too), so an action may call them while the lock is held.
//!
//! # Memory ordering and lost wake-ups
//!
//! All state lives under the lock, and every state change is followed by
//! `notify_all` while still holding it; [`Condition`]'s own argument then
//! rules out a lost wake-up: a waiter re-checks the state under the lock
//! before each wait.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use super::condition::Condition;
use super::error::Error;
use super::lock::{Lock, LockGuard};
use crate::sys::Deadline;
use crate::sys::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

struct State {
    phase: Phase,
    count: usize,
}

type Action = Box<dyn Fn() + Send + Sync>;

/// A barrier for a fixed number of threads: Python's `threading.Barrier`.
///
/// Each of `parties` threads calls [`wait`](Barrier::wait); all block until
/// the last one arrives, then all go on, each with a distinct index in
/// `0..parties`. The barrier is then ready for the next cycle. An optional
/// *action* runs in one of the threads (the last to arrive) before the
/// others are released.
///
/// The barrier *breaks* — every current and later `wait` returns
/// [`Error::BrokenBarrier`] until [`reset`](Barrier::reset) — when
/// [`abort`](Barrier::abort) is called, a wait times out, or the action
/// panics (that thread's `wait` then resumes the panic, as Python re-raises
/// the action's exception).
///
/// Differences from Python: `Barrier(parties, action, timeout)` is
/// [`Barrier::new`] plus [`with_action`](Barrier::with_action) and
/// [`with_timeout`](Barrier::with_timeout); `wait(timeout)` is
/// [`wait`](Barrier::wait) and [`wait_timeout`](Barrier::wait_timeout);
/// the properties `parties`, `n_waiting`, `broken` are methods.
///
/// ```
/// use gilfree::threading::Barrier;
/// use std::sync::Arc;
///
/// let b = Arc::new(Barrier::new(3));
/// let hs: Vec<_> = (0..3)
///     .map(|_| { let b = b.clone(); std::thread::spawn(move || b.wait().unwrap()) })
///     .collect();
/// let mut idx: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
/// idx.sort();
/// assert_eq!(idx, [0, 1, 2]);
/// ```
pub struct Barrier {
    cond: Condition<Lock<State>>,
    parties: usize,
    timeout: Option<Duration>,
    action: Option<Action>,
    /// Published copies of `n_waiting` and `broken`, for lock-free reads.
    seen_waiting: AtomicUsize,
    seen_broken: AtomicBool,
}

impl Barrier {
    /// A barrier for `parties` threads, with no action and no default
    /// timeout (Python: `threading.Barrier(parties)`).
    ///
    /// # Panics
    /// If `parties` is 0 (Python raises `ValueError: parties must be >= 1`).
    ///
    /// ```
    /// let b = gilfree::threading::Barrier::new(1);
    /// assert_eq!(b.wait(), Ok(0));
    /// ```
    pub fn new(parties: usize) -> Self {
        assert!(parties >= 1, "parties must be >= 1");
        Barrier {
            cond: Condition::from_lock(Lock::new(State {
                phase: Phase::Filling,
                count: 0,
            })),
            parties,
            timeout: None,
            action: None,
            seen_waiting: AtomicUsize::new(0),
            seen_broken: AtomicBool::new(false),
        }
    }

    /// Run `action` once per cycle, in the last thread to arrive, before
    /// the others are released (Python's `action=`). If it panics the
    /// barrier breaks and that thread's `wait` resumes the panic.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// let runs = Arc::new(AtomicUsize::new(0));
    /// let r = runs.clone();
    /// let b = gilfree::threading::Barrier::new(1)
    ///     .with_action(move || { r.fetch_add(1, Ordering::Relaxed); });
    /// b.wait().unwrap();
    /// b.wait().unwrap();
    /// assert_eq!(runs.load(Ordering::Relaxed), 2);
    /// ```
    pub fn with_action(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(Box::new(action));
        self
    }

    /// The timeout [`wait`](Barrier::wait) uses (Python's `timeout=`).
    ///
    /// ```
    /// use gilfree::threading::{Barrier, Error};
    /// let b = Barrier::new(2).with_timeout(std::time::Duration::from_millis(1));
    /// assert_eq!(b.wait(), Err(Error::BrokenBarrier)); // nobody else came
    /// assert!(b.broken());
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Wait for all parties, with the barrier's default timeout if it has
    /// one (Python: `barrier.wait()`). Returns this thread's index in
    /// `0..parties`, each handed out once per cycle.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`] if the barrier is or becomes broken while
    /// waiting, or the timeout passes (which breaks it for everyone).
    ///
    /// # Panics
    /// Resumes the action's panic in the thread that ran it.
    ///
    /// ```
    /// let b = gilfree::threading::Barrier::new(1);
    /// assert_eq!(b.wait(), Ok(0));
    /// ```
    pub fn wait(&self) -> Result<usize, Error> {
        self.wait_until(self.timeout)
    }

    /// [`wait`](Barrier::wait) with this timeout instead of the default
    /// (Python: `barrier.wait(timeout)`). Timing out breaks the barrier.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`], as [`wait`](Barrier::wait).
    ///
    /// ```
    /// use gilfree::threading::{Barrier, Error};
    /// let b = Barrier::new(2);
    /// assert_eq!(b.wait_timeout(std::time::Duration::from_millis(1)), Err(Error::BrokenBarrier));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, Error> {
        self.wait_until(Some(timeout))
    }

    fn wait_until(&self, timeout: Option<Duration>) -> Result<usize, Error> {
        let mut g = self.cond.acquire();
        // _enter: block while the previous cycle drains or resets.
        self.cond.wait_for_guard_deadline(
            &mut g,
            |s| !matches!(s.phase, Phase::Draining | Phase::Resetting),
            Deadline::Never,
        );
        if g.phase == Phase::Broken {
            return Err(Error::BrokenBarrier);
        }
        let index = g.count;
        g.count += 1;
        self.publish(&g);
        let result = if index + 1 == self.parties {
            self.release(&mut g)
        } else {
            self.wait_released(&mut g, timeout)
        };
        // Python's `finally:`: leave, and let the last one out end the drain
        // or the reset.
        g.count -= 1;
        if g.count == 0 && matches!(g.phase, Phase::Draining | Phase::Resetting) {
            g.phase = Phase::Filling;
            self.notify_all();
        }
        self.publish(&g);
        drop(g);
        match result {
            Ok(()) => Ok(index),
            Err(Left::Broken) => Err(Error::BrokenBarrier),
            Err(Left::Panic(p)) => resume_unwind(p),
        }
    }

    /// The last arrival: run the action, then release the cycle.
    fn release(&self, g: &mut LockGuard<'_, State>) -> Result<(), Left> {
        if let Some(action) = &self.action {
            // Python runs the action with the condition's lock held, too.
            if let Err(p) = catch_unwind(AssertUnwindSafe(action)) {
                self.break_(g);
                return Err(Left::Panic(p));
            }
        }
        g.phase = Phase::Draining;
        self.publish(g);
        self.notify_all();
        Ok(())
    }

    /// Any other arrival: wait until the cycle is released or broken.
    fn wait_released(
        &self,
        g: &mut LockGuard<'_, State>,
        timeout: Option<Duration>,
    ) -> Result<(), Left> {
        let deadline = match timeout {
            None => Deadline::Never,
            Some(d) => Deadline::after(d),
        };
        if !self
            .cond
            .wait_for_guard_deadline(g, |s| s.phase != Phase::Filling, deadline)
        {
            self.break_(g);
            return Err(Left::Broken);
        }
        if matches!(g.phase, Phase::Broken | Phase::Resetting) {
            return Err(Left::Broken);
        }
        Ok(())
    }

    fn break_(&self, g: &mut LockGuard<'_, State>) {
        g.phase = Phase::Broken;
        self.publish(g);
        self.notify_all();
    }

    /// Copy what `n_waiting()` and `broken()` report; called with the lock
    /// held after every change.
    fn publish(&self, s: &State) {
        let waiting = if s.phase == Phase::Filling {
            s.count
        } else {
            0
        };
        self.seen_waiting.store(waiting, Relaxed);
        self.seen_broken.store(s.phase == Phase::Broken, Relaxed);
    }

    fn notify_all(&self) {
        // Only called with the lock held, so it cannot fail.
        let _ = self.cond.notify_all();
    }

    /// Return the barrier to its empty, unbroken state (Python:
    /// `barrier.reset()`). Threads waiting in it get [`Error::BrokenBarrier`].
    ///
    /// ```
    /// let b = gilfree::threading::Barrier::new(2);
    /// b.abort();
    /// assert!(b.broken());
    /// b.reset();
    /// assert!(!b.broken());
    /// ```
    pub fn reset(&self) {
        let mut g = self.cond.acquire();
        if g.count > 0 {
            if matches!(g.phase, Phase::Filling | Phase::Broken) {
                // The waiters leave with BrokenBarrier; the last one out
                // sets Filling. (Draining/Resetting end by themselves.)
                g.phase = Phase::Resetting;
            }
        } else {
            g.phase = Phase::Filling;
        }
        self.publish(&g);
        self.notify_all();
    }

    /// Break the barrier: every current and later `wait` fails with
    /// [`Error::BrokenBarrier`] until [`reset`](Barrier::reset) (Python:
    /// `barrier.abort()`).
    ///
    /// ```
    /// use gilfree::threading::{Barrier, Error};
    /// let b = Barrier::new(1);
    /// b.abort();
    /// assert_eq!(b.wait(), Err(Error::BrokenBarrier));
    /// ```
    pub fn abort(&self) {
        let mut g = self.cond.acquire();
        self.break_(&mut g);
    }

    /// The number of threads the barrier waits for (Python:
    /// `barrier.parties`).
    ///
    /// ```
    /// assert_eq!(gilfree::threading::Barrier::new(4).parties(), 4);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many threads are waiting in the current cycle (Python:
    /// `barrier.n_waiting`); 0 while draining, resetting or broken. A
    /// snapshot, read without the lock (so the action may call it).
    ///
    /// ```
    /// assert_eq!(gilfree::threading::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.seen_waiting.load(Relaxed)
    }

    /// Whether the barrier is broken (Python: `barrier.broken`). A
    /// snapshot, read without the lock (so the action may call it).
    ///
    /// ```
    /// let b = gilfree::threading::Barrier::new(2);
    /// assert!(!b.broken());
    /// b.abort();
    /// assert!(b.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.seen_broken.load(Relaxed)
    }
}

/// Why a waiter leaves without passing.
enum Left {
    Broken,
    Panic(Box<dyn std::any::Any + Send>),
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Python: <threading.Barrier at 0x…: waiters=0/3>
        if self.broken() {
            write!(f, "<gilfree.Barrier at {:p}: broken>", self)
        } else {
            write!(
                f,
                "<gilfree.Barrier at {:p}: waiters={}/{}>",
                self,
                self.n_waiting(),
                self.parties
            )
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    fn one_cycle(parties: usize) {
        let b = Arc::new(Barrier::new(parties));
        let ths: Vec<_> = (1..parties)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.wait().unwrap())
            })
            .collect();
        let mut idx = vec![b.wait().unwrap()];
        idx.extend(ths.into_iter().map(|t| t.join().unwrap()));
        idx.sort();
        assert_eq!(idx, (0..parties).collect::<Vec<_>>());
        assert_eq!(b.n_waiting(), 0);
        assert!(!b.broken());
    }

    /// Two parties, one cycle: both pass, indices {0, 1}, no lost wake-up.
    #[test]
    fn barrier_one_cycle_two_parties() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| one_cycle(2));
    }

    /// Three parties, one cycle.
    #[test]
    fn barrier_one_cycle_three_parties() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| one_cycle(3));
    }

    /// Two parties, two cycles: a fast thread re-entering while the first
    /// cycle drains must wait for the drain, and indices repeat per cycle.
    #[test]
    fn barrier_two_cycles_drain() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let b = Arc::new(Barrier::new(2));
            let b2 = b.clone();
            let t = thread::spawn(move || b2.wait().unwrap() + b2.wait().unwrap());
            let mine = b.wait().unwrap() + b.wait().unwrap();
            assert_eq!(mine + t.join().unwrap(), 2);
        });
    }
}
