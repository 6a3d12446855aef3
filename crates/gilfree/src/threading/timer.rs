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
//! # Memory ordering
//!
//! Both CASes are `AcqRel`, so whichever side loses sees the winner's
//! writes. `finished` is an [`Event`], whose `set` is a release and whose
//! `wait` an acquire: a thread that saw `finished` set after the function
//! ran sees the function's writes.
//!
//! # Why no wake-up is lost
//!
//! The timer thread sleeps only in `finished.wait_timeout`, and `cancel`
//! always sets `finished` (after its CAS); the [`Event`] loses no wake-up.
//! The timer thread sets `finished` on every way out of its body (a drop
//! guard, so also when the function panics), so a waiter on `finished` is
//! always woken, whether the timer fired or was cancelled.
//!
//! The decision and the signalling are [`RawTimer`], built on `crate::sys`
//! atomics and the [`Event`] (itself on `crate::sys`), and model-checked in
//! `loom_tests`; under loom the timed wait times out at once, which models
//! "the interval elapsed". The [`Thread`] around it is not modelled.
//!
//! The thread is a [`Thread`], as Python's `Timer` is a `Thread`: it is
//! listed by `enumerate()`, has an ident, and a panic in the function goes
//! to the excepthook.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::error::Error;
use super::event::Event;
use super::thread::Thread;
use crate::sys::Deadline;
use crate::sys::atomic::{AtomicU32, Ordering::*, const_fn};

const WAITING: u32 = 0;
const FIRED: u32 = 1;
const CANCELLED: u32 = 2;

/// The timer algorithm: a one-shot decision word and the `finished` event.
pub(crate) struct RawTimer {
    decision: AtomicU32,
    finished: Event,
}

impl RawTimer {
    const_fn! {
        pub(crate) const fn new() -> Self {
            RawTimer { decision: AtomicU32::new(WAITING), finished: Event::new() }
        }
    }

    /// Stop the function if it has not started; `true` if this call did.
    /// Sets `finished` either way (Python's `cancel` does), which wakes the
    /// timer thread at once.
    pub(crate) fn cancel(&self) -> bool {
        let won = self
            .decision
            .compare_exchange(WAITING, CANCELLED, AcqRel, Acquire)
            .is_ok();
        self.finished.set();
        won
    }

    /// The timer thread's body (Python's `Timer.run`): wait until
    /// `deadline` or a `cancel`, then run `job` unless cancelled; set
    /// `finished` on the way out, also on a panic.
    pub(crate) fn run(&self, deadline: Deadline, job: impl FnOnce()) {
        /// Marks the timer finished, also on a panic.
        struct Ending<'a>(&'a Event);
        impl Drop for Ending<'_> {
            fn drop(&mut self) {
                self.0.set();
            }
        }
        let _ending = Ending(&self.finished);
        // Woken at once by `cancel`, which sets `finished`.
        self.finished.wait_deadline(deadline);
        if self
            .decision
            .compare_exchange(WAITING, FIRED, AcqRel, Acquire)
            .is_ok()
        {
            job();
        }
    }

    pub(crate) fn finished(&self) -> &Event {
        &self.finished
    }
}

struct Shared {
    interval: Duration,
    raw: RawTimer,
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
        // A name counter, not part of the algorithm: always std's atomic.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let shared = Arc::new(Shared {
            interval,
            raw: RawTimer::new(),
        });
        let s = shared.clone();
        let thread = Thread::builder()
            .name(format!(
                "Timer-{}",
                COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ))
            .target(move || s.raw.run(Deadline::after(s.interval), function));
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
        self.shared.raw.cancel()
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
        self.shared.raw.finished()
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

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sys::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;

    fn bounded(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(f);
    }

    /// `cancel` races the end of the interval (under loom the timed wait
    /// times out at once, or sees the cancel's `set`): the function runs at
    /// most once, and runs if and only if `cancel` lost; `finished` is set
    /// in both cases, and a thread waiting on it is woken (loom reports a
    /// lost wake-up as a deadlock).
    #[test]
    fn timer_cancel_races_expiry() {
        bounded(|| {
            let t = Arc::new(RawTimer::new());
            let ran = Arc::new(AtomicUsize::new(0));
            let (t1, r1) = (t.clone(), ran.clone());
            let timer = thread::spawn(move || {
                t1.run(Deadline::now(), || {
                    r1.fetch_add(1, Relaxed);
                })
            });
            let t2 = t.clone();
            let waiter = thread::spawn(move || t2.finished().wait());
            let won = t.cancel();
            timer.join().unwrap();
            waiter.join().unwrap();
            let runs = ran.load(Relaxed);
            assert!(runs <= 1);
            assert_eq!(runs == 1, !won, "runs iff cancel lost");
            assert!(t.finished().is_set());
            assert!(!t.cancel(), "a second cancel never wins");
        });
    }

    /// Two cancels race each other and the expiry: exactly one of the
    /// three wins (the function runs, or one cancel returns `true`).
    #[test]
    fn timer_two_cancels_one_winner() {
        bounded(|| {
            let t = Arc::new(RawTimer::new());
            let ran = Arc::new(AtomicUsize::new(0));
            let (t1, r1) = (t.clone(), ran.clone());
            let timer = thread::spawn(move || {
                t1.run(Deadline::now(), || {
                    r1.fetch_add(1, Relaxed);
                })
            });
            let t2 = t.clone();
            let other = thread::spawn(move || t2.cancel());
            let won_here = t.cancel();
            let won_there = other.join().unwrap();
            timer.join().unwrap();
            let runs = ran.load(Relaxed);
            assert!(!(won_here && won_there), "two cancels both won");
            assert_eq!(runs + won_here as usize + won_there as usize, 1);
            assert!(t.finished().is_set());
        });
    }

    /// Without a cancel, the function runs exactly once and `finished` is
    /// set after it returned: a waiter sees its write (loom's cell tracking
    /// reports a race if `finished` did not publish it).
    #[test]
    fn timer_fires_and_publishes() {
        bounded(|| {
            let t = Arc::new(RawTimer::new());
            let data = Arc::new(crate::sys::atomic::UnsafeCell::new(0u32));
            let (t1, d1) = (t.clone(), data.clone());
            let timer = thread::spawn(move || {
                // SAFETY: (test) written only by the function, read after
                // `finished`, which the timer thread sets after it.
                t1.run(Deadline::now(), || d1.with_mut(|p| unsafe { *p = 7 }))
            });
            t.finished().wait();
            // SAFETY: (test) see above.
            assert_eq!(data.with(|p| unsafe { *p }), 7);
            timer.join().unwrap();
        });
    }

    /// A timer whose interval never ends (`Deadline::Never`) is woken by
    /// `cancel`: loom reports a deadlock if the cancel's wake-up were lost.
    #[test]
    fn timer_cancel_wakes_sleeping_timer() {
        bounded(|| {
            let t = Arc::new(RawTimer::new());
            let t1 = t.clone();
            let timer = thread::spawn(move || t1.run(Deadline::Never, || panic!("ran")));
            assert!(t.cancel());
            timer.join().unwrap();
            assert!(t.finished().is_set());
        });
    }

    /// A cancel before the timer thread starts: the function never runs.
    #[test]
    fn timer_cancel_before_start() {
        bounded(|| {
            let t = Arc::new(RawTimer::new());
            assert!(t.cancel());
            let t1 = t.clone();
            let timer = thread::spawn(move || t1.run(Deadline::now(), || panic!("ran")));
            t.finished().wait();
            timer.join().unwrap();
        });
    }
}
