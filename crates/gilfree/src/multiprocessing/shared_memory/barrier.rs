//! Python's `multiprocessing.Barrier`: the process-shared home of
//! `raw::RawBarrier<Shared>` (its state encoding, orderings and why no
//! wake-up is lost are in `raw/barrier.rs`) in an anonymous shared block
//! with its default timeout, with `threading::Barrier`'s API.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::sync::{Header, Home};
use crate::multiprocessing::error::{Error, Result};
use crate::raw::{MAX_PARTIES, RawBarrier};
use crate::sys::atomic::{AtomicU64, Ordering::Relaxed};
use crate::sys::{Deadline, Shared};
use crate::threading;

/// No default timeout, in `BarrierHeader::timeout_ns`.
const NO_TIMEOUT: u64 = u64::MAX;

/// The barrier's words and its default timeout (every process that gets
/// the barrier uses the same one, as Python's pickled barrier does).
#[repr(C)]
pub(super) struct BarrierHeader {
    pub(super) raw: RawBarrier<Shared>,
    timeout_ns: AtomicU64,
}
impl Header for BarrierHeader {}

type Action = Arc<dyn Fn() + Send + Sync>;

/// Python's `multiprocessing.Barrier`: a barrier for a fixed number of
/// parties in any processes, with
/// [`threading::Barrier`](crate::threading::Barrier)'s API and semantics
/// (indices `0..parties`, the action run by the last arrival, breaking on
/// `abort`, a timed-out wait or a panicking action, `reset`).
///
/// A party that dies (SIGKILL) does not hang the others if they wait with
/// a timeout: the first to time out breaks the barrier and every party
/// gets [`BrokenBarrier`](threading::Error::BrokenBarrier). A dead party
/// never leaves, so such a barrier stays unusable: a [`reset`](Self::reset)
/// waits for a departure that never comes; make a new barrier.
///
/// Differences from Python: the action is this handle's (a closure cannot
/// travel to another process); a handle received as a task argument has
/// none until [`with_action`](Self::with_action) gives it one — only the
/// process whose party arrives last runs its own. `wait` returns
/// `threading::Error::BrokenBarrier` (Python raises
/// `threading.BrokenBarrierError` from `multiprocessing.Barrier` too); `new`
/// returns a `Result`; at most 65535 parties.
///
/// ```
/// use gilfree::multiprocessing::Barrier;
/// let b = Barrier::new(2).unwrap();
/// let b2 = b.try_clone().unwrap(); // or passed to a child as a task argument
/// let t = std::thread::spawn(move || b2.wait().unwrap());
/// let mut idx = [b.wait().unwrap(), t.join().unwrap()];
/// idx.sort();
/// assert_eq!(idx, [0, 1]);
/// ```
pub struct Barrier {
    home: Home<BarrierHeader>,
    pub(super) action: Option<Action>,
}

impl Barrier {
    /// Python's `multiprocessing.Barrier(parties)`: no action, no default
    /// timeout.
    ///
    /// # Errors
    /// [`Error::Value`] if `parties` is 0 or above 65535; an OS error if
    /// the block cannot be made.
    ///
    /// ```
    /// let b = gilfree::multiprocessing::Barrier::new(1).unwrap();
    /// assert_eq!(b.wait(), Ok(0));
    /// assert!(gilfree::multiprocessing::Barrier::new(0).is_err());
    /// ```
    pub fn new(parties: usize) -> Result<Self> {
        if parties == 0 || parties > MAX_PARTIES as usize {
            return Err(Error::Value("parties must be in 1..=65535".into()));
        }
        Ok(Barrier {
            home: Home::new(BarrierHeader {
                raw: RawBarrier::new(parties as u32),
                timeout_ns: AtomicU64::new(NO_TIMEOUT),
            })?,
            action: None,
        })
    }

    /// Run `action` in this process when its party is the last to arrive,
    /// before the others are released (Python's `action=`). If it panics
    /// the barrier breaks and this party's `wait` resumes the panic.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// static RUNS: AtomicUsize = AtomicUsize::new(0);
    /// let b = gilfree::multiprocessing::Barrier::new(1)
    ///     .unwrap()
    ///     .with_action(|| { RUNS.fetch_add(1, Ordering::Relaxed); });
    /// b.wait().unwrap();
    /// assert_eq!(RUNS.load(Ordering::Relaxed), 1);
    /// ```
    pub fn with_action(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(Arc::new(action));
        self
    }

    /// The timeout [`wait`](Self::wait) uses, in every process that shares
    /// the barrier (Python's `timeout=`).
    ///
    /// ```
    /// use gilfree::{multiprocessing::Barrier, threading::Error};
    /// let b = Barrier::new(2).unwrap().with_timeout(std::time::Duration::from_millis(1));
    /// assert_eq!(b.wait(), Err(Error::BrokenBarrier)); // nobody else came
    /// assert!(b.broken());
    /// ```
    pub fn with_timeout(self, timeout: Duration) -> Self {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(NO_TIMEOUT - 1);
        self.header()
            .timeout_ns
            .store(ns.min(NO_TIMEOUT - 1), Relaxed);
        self
    }

    pub(super) fn header(&self) -> &BarrierHeader {
        self.home.get()
    }

    /// Python's `wait()`: wait for all parties, with the default timeout if
    /// there is one. Returns this party's index in `0..parties`.
    ///
    /// # Errors
    /// [`BrokenBarrier`](threading::Error::BrokenBarrier) if the barrier is
    /// or becomes broken, or the timeout passes (which breaks it).
    ///
    /// # Panics
    /// Resumes the action's panic in the party that ran it.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::Barrier::new(1).unwrap().wait(), Ok(0));
    /// ```
    pub fn wait(&self) -> std::result::Result<usize, threading::Error> {
        let ns = self.header().timeout_ns.load(Relaxed);
        self.wait_until(if ns == NO_TIMEOUT {
            Deadline::Never
        } else {
            Deadline::after(Duration::from_nanos(ns))
        })
    }

    /// Python's `wait(timeout)`. Timing out breaks the barrier.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    ///
    /// ```
    /// use gilfree::{multiprocessing::Barrier, threading::Error};
    /// let b = Barrier::new(2).unwrap();
    /// assert_eq!(b.wait_timeout(std::time::Duration::ZERO), Err(Error::BrokenBarrier));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> std::result::Result<usize, threading::Error> {
        self.wait_until(Deadline::after(timeout))
    }

    fn wait_until(&self, deadline: Deadline) -> std::result::Result<usize, threading::Error> {
        let mut panicked = None;
        let result = self.header().raw.wait(deadline, || match &self.action {
            None => true,
            Some(action) => match catch_unwind(AssertUnwindSafe(|| action())) {
                Ok(()) => true,
                Err(p) => {
                    panicked = Some(p);
                    false
                }
            },
        });
        if let Some(p) = panicked {
            resume_unwind(p);
        }
        result
            .map(|i| i as usize)
            .map_err(|_| threading::Error::BrokenBarrier)
    }

    /// Python's `reset()`: back to empty and unbroken; parties waiting get
    /// `BrokenBarrier`.
    ///
    /// ```
    /// let b = gilfree::multiprocessing::Barrier::new(2).unwrap();
    /// b.abort();
    /// b.reset();
    /// assert!(!b.broken());
    /// ```
    pub fn reset(&self) {
        self.header().raw.reset()
    }

    /// Python's `abort()`: break the barrier until [`reset`](Self::reset).
    ///
    /// ```
    /// let b = gilfree::multiprocessing::Barrier::new(1).unwrap();
    /// b.abort();
    /// assert!(b.wait().is_err());
    /// ```
    pub fn abort(&self) {
        self.header().raw.abort()
    }

    /// Python's `parties`.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::Barrier::new(3).unwrap().parties(), 3);
    /// ```
    pub fn parties(&self) -> usize {
        self.header().raw.parties() as usize
    }

    /// Python's `n_waiting`: parties waiting in the current cycle, in all
    /// processes (a snapshot).
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::Barrier::new(2).unwrap().n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.header().raw.n_waiting() as usize
    }

    /// Python's `broken` (a snapshot).
    ///
    /// ```
    /// let b = gilfree::multiprocessing::Barrier::new(2).unwrap();
    /// b.abort();
    /// assert!(b.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.header().raw.broken()
    }

    /// Another handle to the same barrier (with this handle's action): keep
    /// one while passing one to a child.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Barrier::new(2).unwrap();
    /// a.try_clone().unwrap().abort();
    /// assert!(a.broken());
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        Ok(Barrier {
            home: self.home.try_clone()?,
            action: self.action.clone(),
        })
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.broken() {
            write!(f, "<multiprocessing.Barrier: broken>")
        } else {
            write!(
                f,
                "<multiprocessing.Barrier: waiters={}/{}>",
                self.n_waiting(),
                self.parties()
            )
        }
    }
}

/// Sent as its block (the descriptor travels): the receiver is a party of
/// the same barrier, without an action.
impl Serialize for Barrier {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.home.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Barrier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let home = Home::<BarrierHeader>::deserialize(d)?;
        let parties = home.get().raw.parties();
        if parties == 0 || parties > MAX_PARTIES {
            return Err(D::Error::custom("not a barrier's block"));
        }
        Ok(Barrier { home, action: None })
    }
}
