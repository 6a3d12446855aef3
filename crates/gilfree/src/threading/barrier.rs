//! `Barrier`: Python's `threading.Barrier`, the private home of
//! `raw::RawBarrier` (CPython's state machine in one futex word: its state
//! encoding, orderings and why no wake-up is lost are in `raw/barrier.rs`,
//! its loom models beside it). This file adds the action (and its panic)
//! and the default timeout; the `.await` form is in `aio.rs`.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use super::error::Error;
use crate::raw::{MAX_PARTIES, RawBarrier};
use crate::sys::Deadline;

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
    raw: RawBarrier,
    timeout: Option<Duration>,
    action: Option<Action>,
}

impl Barrier {
    /// A barrier for `parties` threads, with no action and no default
    /// timeout (Python: `threading.Barrier(parties)`).
    ///
    /// # Panics
    /// If `parties` is 0 (Python raises `ValueError: parties must be >= 1`),
    /// or above 65535 (a departure: the count lives in 16 bits of the
    /// barrier's futex word).
    ///
    /// ```
    /// let b = gilfree::threading::Barrier::new(1);
    /// assert_eq!(b.wait(), Ok(0));
    /// ```
    pub fn new(parties: usize) -> Self {
        assert!(parties >= 1, "parties must be >= 1");
        assert!(parties <= MAX_PARTIES as usize, "parties must be <= 65535");
        Barrier {
            raw: RawBarrier::new(parties as u32),
            timeout: None,
            action: None,
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
        let deadline = timeout.map_or(Deadline::Never, Deadline::after);
        let panicked = Cell::new(None);
        let result = self.raw.wait(deadline, || self.run_action(&panicked));
        if let Some(p) = panicked.into_inner() {
            resume_unwind(p);
        }
        result.map(|i| i as usize).map_err(|_| Error::BrokenBarrier)
    }

    /// Run the action (if any) for the last arrival: `false` if it panicked,
    /// the panic kept in `panicked` for the caller to resume once the cycle
    /// is settled. Python runs the action before releasing the others, too.
    pub(super) fn run_action(&self, panicked: &Cell<Option<Box<dyn Any + Send>>>) -> bool {
        match &self.action {
            None => true,
            Some(action) => match catch_unwind(AssertUnwindSafe(action)) {
                Ok(()) => true,
                Err(p) => {
                    panicked.set(Some(p));
                    false
                }
            },
        }
    }

    pub(super) fn raw(&self) -> &RawBarrier {
        &self.raw
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
        self.raw.reset()
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
        self.raw.abort()
    }

    /// The number of threads the barrier waits for (Python:
    /// `barrier.parties`).
    ///
    /// ```
    /// assert_eq!(gilfree::threading::Barrier::new(4).parties(), 4);
    /// ```
    pub fn parties(&self) -> usize {
        self.raw.parties() as usize
    }

    /// How many threads are waiting in the current cycle (Python:
    /// `barrier.n_waiting`); 0 while draining, resetting or broken. A
    /// snapshot (the action may call it).
    ///
    /// ```
    /// assert_eq!(gilfree::threading::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.raw.n_waiting() as usize
    }

    /// Whether the barrier is broken (Python: `barrier.broken`). A
    /// snapshot (the action may call it).
    ///
    /// ```
    /// let b = gilfree::threading::Barrier::new(2);
    /// assert!(!b.broken());
    /// b.abort();
    /// assert!(b.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.raw.broken()
    }
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
                self.parties()
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
