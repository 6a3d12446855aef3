//! `Timer`: Python's `threading.Timer`, a thread that runs a function after
//! an interval unless cancelled first.
//!
//! # State encoding
//!
//! One `AtomicU8` decides, once, whether the function runs:
//! `WAITING` → `FIRED` (the timer thread, after the interval) or
//! `WAITING` → `CANCELLED` (`cancel`). Both are CASes from `WAITING`, so
//! exactly one wins: the function runs at most once, and it runs if and
//! only if `cancel` lost (or never came). The wait itself is on the
//! [`Event`] `finished`, which `cancel` sets, so a cancelled timer thread
//! wakes at once instead of sleeping out its interval.
//!
//! The decision word is a std atomic, not one from `crate::sys`: a timer
//! is a real thread with a real clock, which loom cannot model; the
//! algorithm underneath (the [`Event`]) is model-checked on its own.
//!
//! The thread is a [`Thread`], as Python's `Timer` is a `Thread`: it is
//! listed by `enumerate()`, has an ident, and a panic in the function goes
//! to the excepthook.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::*};
use std::time::Duration;

use super::{Error, Event, Thread};

const WAITING: u8 = 0;
const FIRED: u8 = 1;
const CANCELLED: u8 = 2;

struct Shared {
    interval: Duration,
    decision: AtomicU8,
    finished: Event,
}

/// A function run once after an interval on its own thread, unless
/// cancelled: Python's `threading.Timer(interval, function)`.
///
/// [`start`](Timer::start) starts the thread; it waits `interval`, then runs
/// the function, unless [`cancel`](Timer::cancel) came first. `cancel`
/// takes effect at once: the waiting thread wakes and ends without running
/// the function.
///
/// Differences from Python:
/// - Python's `Timer` is a `Thread` subclass; this one owns a [`Thread`]
///   (see [`thread`](Timer::thread)) and offers the thread methods that
///   matter for a timer ([`join`](Timer::join),
///   [`join_timeout`](Timer::join_timeout), [`is_alive`](Timer::is_alive),
///   [`name`](Timer::name)). Its name is `Timer-N` (Python's is `Thread-N`).
/// - The function is a closure (Python's `args` and `kwargs` are captured
///   instead) and runs at most once.
/// - [`cancel`](Timer::cancel) returns whether it stopped the function
///   (Python returns `None`).
/// - Dropping a `Timer` does not cancel it (nor does it in Python): the
///   thread runs on and fires, unless [`cancel`](Timer::cancel) was called.
/// - A panic in the function is reported by the
///   [excepthook](super::set_excepthook), as an exception in a Python
///   thread is; `join` still returns normally, as Python's does.
///
/// ```
/// use gilfree::threading::Timer;
/// use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let rang = Arc::new(AtomicBool::new(false));
/// let r = rang.clone();
/// let t = Timer::new(Duration::from_millis(10), move || r.store(true, SeqCst));
/// t.start().unwrap();
/// t.join().unwrap();
/// assert!(rang.load(SeqCst));
/// ```
pub struct Timer {
    shared: Arc<Shared>,
    thread: Thread,
}

impl Timer {
    /// A timer that will run `function` `interval` after [`start`](Timer::start)
    /// (Python: `threading.Timer(interval, function)`). It is named
    /// `Timer-N`, N counting from 1 in this process.
    ///
    /// ```
    /// let t = gilfree::threading::Timer::new(std::time::Duration::from_secs(60), || {});
    /// assert!(!t.is_alive());
    /// assert!(t.name().starts_with("Timer-"));
    /// ```
    pub fn new(interval: Duration, function: impl FnOnce() + Send + 'static) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(1);
        let shared = Arc::new(Shared {
            interval,
            decision: AtomicU8::new(WAITING),
            finished: Event::new(),
        });
        let s = shared.clone();
        let thread = Thread::builder()
            .name(format!("Timer-{}", COUNTER.fetch_add(1, Relaxed)))
            .target(move || run(&s, function));
        Timer { shared, thread }
    }

    /// Start the timer's thread (Python: `timer.start()`).
    ///
    /// # Errors
    /// [`Error::AlreadyStarted`] on a second call; [`Error::Spawn`] if the
    /// OS refuses a thread (the timer can then be started again).
    ///
    /// ```
    /// use gilfree::threading::{Error, Timer};
    /// let t = Timer::new(std::time::Duration::ZERO, || {});
    /// t.start().unwrap();
    /// assert_eq!(t.start(), Err(Error::AlreadyStarted));
    /// t.join().unwrap();
    /// ```
    pub fn start(&self) -> Result<(), Error> {
        self.thread.start()
    }

    /// Stop the timer if it is still waiting: the function will not run
    /// (Python: `timer.cancel()`). Works before `start` too. Returns `true`
    /// if this call stopped the function, `false` if it had already run or
    /// started running, or was already cancelled.
    ///
    /// ```
    /// let t = gilfree::threading::Timer::new(std::time::Duration::from_secs(3600), || {
    ///     unreachable!()
    /// });
    /// t.start().unwrap();
    /// assert!(t.cancel());
    /// assert!(!t.cancel());
    /// t.join().unwrap(); // at once: the thread wakes on cancel
    /// ```
    pub fn cancel(&self) -> bool {
        let won = self
            .shared
            .decision
            .compare_exchange(WAITING, CANCELLED, AcqRel, Acquire)
            .is_ok();
        self.shared.finished.set();
        won
    }

    /// Set once the timer is done: cancelled, or its function has returned
    /// (Python: `timer.finished`).
    ///
    /// ```
    /// let t = gilfree::threading::Timer::new(std::time::Duration::ZERO, || {});
    /// t.start().unwrap();
    /// t.finished().wait();
    /// ```
    pub fn finished(&self) -> &Event {
        &self.shared.finished
    }

    /// Whether the timer's thread has started and not yet ended (Python:
    /// `timer.is_alive()`).
    ///
    /// ```
    /// let t = gilfree::threading::Timer::new(std::time::Duration::from_secs(3600), || {});
    /// t.start().unwrap();
    /// assert!(t.is_alive());
    /// t.cancel();
    /// t.join().unwrap();
    /// assert!(!t.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }

    /// Wait until the timer's thread has ended (Python: `timer.join()`).
    ///
    /// # Errors
    /// [`Error::NotStarted`] if [`start`](Timer::start) has not been called;
    /// [`Error::JoinSelf`] if called from the timer's own function.
    ///
    /// ```
    /// use gilfree::threading::{Error, Timer};
    /// let t = Timer::new(std::time::Duration::ZERO, || {});
    /// assert_eq!(t.join(), Err(Error::NotStarted));
    /// ```
    pub fn join(&self) -> Result<(), Error> {
        ended(self.thread.join()).map(drop)
    }

    /// Wait at most `timeout` for the timer's thread to end (Python:
    /// `timer.join(timeout)` followed by `not timer.is_alive()`). Returns
    /// whether it has ended.
    ///
    /// # Errors
    /// As [`join`](Timer::join).
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = gilfree::threading::Timer::new(Duration::from_secs(3600), || {});
    /// t.start().unwrap();
    /// assert_eq!(t.join_timeout(Duration::from_millis(1)), Ok(false));
    /// t.cancel();
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, Error> {
        match self.thread.join_timeout(timeout) {
            Ok(None) => Ok(false),
            Ok(Some(())) => Ok(true),
            Err(e) => ended(Err(e)),
        }
    }

    /// The timer thread's name, `Timer-N` (Python: `timer.name`).
    ///
    /// ```
    /// let t = gilfree::threading::Timer::new(std::time::Duration::ZERO, || {});
    /// assert!(t.name().starts_with("Timer-"));
    /// ```
    pub fn name(&self) -> &str {
        self.thread.name()
    }

    /// The timer's thread (Python: the `Timer` itself, a `Thread`): its
    /// [`ident`](Thread::ident), [`native_id`](Thread::native_id), and the
    /// handle [`enumerate`](super::enumerate) lists while it runs.
    ///
    /// ```
    /// let t = gilfree::threading::Timer::new(std::time::Duration::ZERO, || {});
    /// assert_eq!(t.thread().ident(), None);
    /// t.start().unwrap();
    /// assert!(t.thread().ident().is_some());
    /// t.join().unwrap();
    /// ```
    pub fn thread(&self) -> Thread {
        self.thread.handle()
    }

    /// The interval given to [`Timer::new`] (Python: `timer.interval`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = gilfree::threading::Timer::new(Duration::from_secs(2), || {});
    /// assert_eq!(t.interval(), Duration::from_secs(2));
    /// ```
    pub fn interval(&self) -> Duration {
        self.shared.interval
    }
}

/// A timer's join ends normally even if its function panicked: the
/// excepthook has reported the panic, and Python's `join` does not re-raise.
fn ended(r: Result<&(), Error>) -> Result<bool, Error> {
    match r {
        Ok(()) | Err(Error::ThreadPanicked { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// The timer thread's body (Python's `Timer.run`).
fn run(shared: &Shared, job: impl FnOnce()) {
    /// Marks the timer finished, also on a panic.
    struct Ending<'a>(&'a Shared);
    impl Drop for Ending<'_> {
        fn drop(&mut self) {
            self.0.finished.set();
        }
    }
    let _ending = Ending(shared);
    // Woken at once by `cancel`, which sets `finished`.
    shared.finished.wait_timeout(shared.interval);
    if shared
        .decision
        .compare_exchange(WAITING, FIRED, AcqRel, Acquire)
        .is_ok()
    {
        job();
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.thread.ident().is_none() {
            "initial"
        } else if self.is_alive() {
            "started"
        } else {
            "stopped"
        };
        write!(f, "<gilfree.Timer({}, {state})>", self.name())
    }
}
