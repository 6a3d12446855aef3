//! `Future<T>`: Python's `concurrent.futures.Future`, on one futex word.
//!
//! # State encoding
//!
//! One `AtomicU32`, `state`:
//! - bits 0–2, the phase (Python's `_state`):
//!   - `PENDING` (0): not started; may still be cancelled.
//!   - `RUNNING` (1): an executor took it (`set_running_or_notify_cancel`).
//!   - `FINISHED` (2): the result slot holds the outcome.
//!   - `CANCELLED` (3): cancelled while pending.
//!   - `CANCELLED_AND_NOTIFIED` (4): cancelled, and the executor has seen it
//!     (it will never run).
//! - bit 3, `PARKED`: a thread may sleep on the word in `result()`; the
//!   completer must `futex_wake`.
//! - bit 4, `LISTENERS`: the listener list (callbacks, wakers, `wait`
//!   waiters) may be non-empty; the completer must lock and drain it.
//! - bit 5, `WRITING`: a completer has claimed the result slot (set by
//!   CAS, so exactly one completer wins; `cancel` then fails, as on a
//!   running future).
//!
//! The outcome lives in an `UnsafeCell<Option<Result<T, Error>>>`. Only the
//! completer that set `WRITING` writes it, and only before publishing
//! `FINISHED`. After `FINISHED`, it is read (cloned or taken) only under
//! the listener lock.
//!
//! # Memory ordering
//!
//! Every phase change is an `AcqRel` CAS on `state`; readers load it with
//! `Acquire`. The write of the slot happens-before the `Release` half of the
//! CAS to `FINISHED`, so a reader that sees `FINISHED` sees the outcome.
//!
//! # Why no wake-up is lost
//!
//! - *Sleepers*: a thread sets `PARKED` with a CAS from the exact value it
//!   saw (not done), then `futex_wait`s for that value with the bit. The
//!   completer's CAS to a done phase comes after that CAS in the word's
//!   modification order (it saw `PARKED` and wakes all), or before it (the
//!   sleeper's CAS fails, and it re-reads a done phase); and `futex_wait`
//!   refuses to sleep if the word changed in between.
//! - *Listeners*: a registrant takes the listener lock, then `fetch_or`s
//!   `LISTENERS` and pushes only if the phase it got back is not done. The
//!   completer's CAS and that `fetch_or` are ordered on the same word: if
//!   the `fetch_or` came first, the completer sees `LISTENERS` and takes the
//!   lock, which the registrant holds until its push is in; if the CAS came
//!   first, the registrant sees the done phase and runs the callback
//!   itself. Each callback thus runs exactly once, in exactly one thread.
//!
//! The uncontended path of a task (nobody waiting yet, no callbacks) is
//! two CASes on `state` and no lock, no syscall.

use core::task::Waker;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::Error;
use super::waiter::Waiter;
use crate::sys::atomic::{AtomicU32, Ordering::*, UnsafeCell};
use crate::sys::futex::{self, Wake};
use crate::sys::{Deadline, Private, spin_while};
use crate::threading::Lock;

const PHASE: u32 = 0b111;
const PENDING: u32 = 0;
const RUNNING: u32 = 1;
const FINISHED: u32 = 2;
const CANCELLED: u32 = 3;
const CANCELLED_AND_NOTIFIED: u32 = 4;
/// A thread may be asleep on the word.
const PARKED: u32 = 1 << 3;
/// The listener list may be non-empty.
const LISTENERS: u32 = 1 << 4;
/// A completer owns the result slot and is writing it.
const WRITING: u32 = 1 << 5;

#[inline]
pub(super) fn is_done(s: u32) -> bool {
    matches!(s & PHASE, FINISHED | CANCELLED | CANCELLED_AND_NOTIFIED)
}

#[inline]
pub(super) fn is_cancelled(s: u32) -> bool {
    matches!(s & PHASE, CANCELLED | CANCELLED_AND_NOTIFIED)
}

/// A done-callback, as boxed.
type Callback<T> = Box<dyn FnOnce(&Future<T>) + Send>;

/// Someone to tell when the future is done.
pub(crate) enum Listener<T> {
    /// `add_done_callback`.
    Callback(Callback<T>),
    /// An `.await`ing task.
    Waker(Waker),
    /// A `wait` / `as_completed` call; the index is the future's position
    /// in its list.
    Waiter(Arc<Waiter>, usize),
}

/// The state every future has, whether or not a job travels with it.
pub(crate) struct Inner<T> {
    pub(super) state: AtomicU32,
    pub(super) slot: UnsafeCell<Option<Result<T, Error>>>,
    pub(super) listeners: Lock<Vec<Listener<T>>>,
}

// SAFETY: the slot is written by one thread before `FINISHED` is published
// and afterwards only touched under the listener lock, so a `T` is only
// ever reached by one thread at a time: `T: Send` suffices, as for a Mutex.
unsafe impl<T: Send> Sync for Inner<T> {}
// SAFETY: sending the state sends the `T` inside it.
unsafe impl<T: Send> Send for Inner<T> {}

impl<T> Inner<T> {
    pub(crate) fn new() -> Self {
        Inner {
            state: AtomicU32::new(PENDING),
            slot: UnsafeCell::new(None),
            listeners: Lock::new(Vec::new()),
        }
    }
}

/// What a [`Future`] points at: the state, and perhaps the job with it in
/// the same allocation (see `thread_pool`). One virtual call reaches the
/// state; in exchange a task costs a single allocation.
pub(crate) trait Core<T>: Send + Sync {
    fn inner(&self) -> &Inner<T>;
}

impl<T: Send> Core<T> for Inner<T> {
    #[inline]
    fn inner(&self) -> &Inner<T> {
        self
    }
}

/// The result of an asynchronous computation: Python's
/// `concurrent.futures.Future`.
///
/// A `Future` is a cheap handle (an `Arc`): the executor keeps one clone to
/// complete, callers keep others to wait on. It is also a
/// [`std::future::Future`], so any async runtime can `.await` it.
///
/// Getting the result, three ways:
/// - [`result`](Future::result) / [`result_timeout`](Future::result_timeout)
///   clone it (`T: Clone`), so every clone and every call sees it, as in
///   Python;
/// - [`into_result`](Future::into_result) (and `.await`) moves it out
///   without `Clone`. After that, every other way of reading it returns
///   [`Error::InvalidState`]: take a result only from a future nobody else
///   reads.
///
/// Differences from Python: a task's exception is a panic, reported as
/// [`Error::Panicked`]; `result(timeout)` is `result()` /
/// `result_timeout(d)`; callbacks take `&Future<T>`.
///
/// ```
/// use gilfree::futures::{ThreadPoolExecutor, Executor};
/// let pool = ThreadPoolExecutor::new();
/// let f = pool.submit(|| 6 * 7).unwrap();
/// assert_eq!(f.result(), Ok(42));
/// assert!(f.done() && !f.cancelled());
/// ```
pub struct Future<T> {
    pub(crate) core: Arc<dyn Core<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            core: self.core.clone(),
        }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner().state.load(Relaxed);
        let phase = match s & PHASE {
            PENDING => "pending",
            RUNNING => "running",
            FINISHED => "finished",
            _ => "cancelled",
        };
        write!(f, "<Future at {:p} state={phase}>", self.inner())
    }
}

impl<T: Send + 'static> Default for Future<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static> Future<T> {
    /// A new pending future with no job: Python's `Future()`, for executor
    /// implementations (and tests), which complete it with
    /// [`set_result`](Future::set_result).
    ///
    /// ```
    /// let f = gilfree::futures::Future::new();
    /// assert!(!f.done());
    /// f.set_result(1).unwrap();
    /// assert_eq!(f.result(), Ok(1));
    /// ```
    pub fn new() -> Self {
        Future {
            core: Arc::new(Inner::new()),
        }
    }
}

impl<T> Future<T> {
    #[inline]
    pub(crate) fn inner(&self) -> &Inner<T> {
        self.core.inner()
    }

    /// Whether the two handles are the same future.
    ///
    /// ```
    /// let f = gilfree::futures::Future::<()>::new();
    /// assert!(f.ptr_eq(&f.clone()));
    /// assert!(!f.ptr_eq(&gilfree::futures::Future::new()));
    /// ```
    pub fn ptr_eq(&self, other: &Future<T>) -> bool {
        core::ptr::addr_eq(self.inner(), other.inner())
    }

    /// Python's `cancel()`: cancel the future if it has not started.
    ///
    /// Returns `false` if it is running or finished (it cannot be
    /// cancelled), `true` if it is now (or already was) cancelled. A
    /// cancelled future wakes its waiters and runs its callbacks.
    ///
    /// ```
    /// let f = gilfree::futures::Future::<u8>::new();
    /// assert!(f.cancel());
    /// assert!(f.cancelled() && f.done());
    /// assert!(f.cancel()); // again: still cancelled
    /// ```
    pub fn cancel(&self) -> bool {
        let st = &self.inner().state;
        let mut s = st.load(Acquire);
        loop {
            if s & WRITING != 0 {
                return false;
            }
            match s & PHASE {
                RUNNING | FINISHED => return false,
                CANCELLED | CANCELLED_AND_NOTIFIED => return true,
                _ => {}
            }
            match st.compare_exchange_weak(s, (s & !PHASE & !PARKED) | CANCELLED, AcqRel, Acquire) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        self.notify(s);
        true
    }

    /// Python's `cancelled()`: whether the future was cancelled.
    ///
    /// ```
    /// let f = gilfree::futures::Future::<u8>::new();
    /// assert!(!f.cancelled());
    /// ```
    #[inline]
    pub fn cancelled(&self) -> bool {
        is_cancelled(self.inner().state.load(Acquire))
    }

    /// Python's `running()`: whether it is running now (and so cannot be
    /// cancelled).
    ///
    /// ```
    /// let f = gilfree::futures::Future::<u8>::new();
    /// assert!(f.set_running_or_notify_cancel().unwrap());
    /// assert!(f.running() && !f.cancel());
    /// ```
    #[inline]
    pub fn running(&self) -> bool {
        self.inner().state.load(Acquire) & PHASE == RUNNING
    }

    /// Python's `done()`: finished or cancelled.
    ///
    /// ```
    /// let f = gilfree::futures::Future::new();
    /// f.set_result(()).unwrap();
    /// assert!(f.done());
    /// ```
    #[inline]
    pub fn done(&self) -> bool {
        is_done(self.inner().state.load(Acquire))
    }

    /// Python's `set_running_or_notify_cancel()`, for executors: claim the
    /// future before running its job.
    ///
    /// `Ok(true)`: it was pending and is now running (no longer
    /// cancellable). `Ok(false)`: it was cancelled; the executor must drop
    /// the job. [`Error::InvalidState`] if it was already running or done.
    ///
    /// ```
    /// let f = gilfree::futures::Future::<u8>::new();
    /// f.cancel();
    /// assert_eq!(f.set_running_or_notify_cancel(), Ok(false));
    /// ```
    pub fn set_running_or_notify_cancel(&self) -> Result<bool, Error> {
        let st = &self.inner().state;
        let mut s = st.load(Acquire);
        loop {
            let next = match s & PHASE {
                PENDING if s & WRITING != 0 => {
                    return Err(Error::InvalidState("future in unexpected state"));
                }
                PENDING => (s & !PHASE) | RUNNING,
                CANCELLED => (s & !PHASE) | CANCELLED_AND_NOTIFIED,
                CANCELLED_AND_NOTIFIED => return Ok(false),
                _ => return Err(Error::InvalidState("future in unexpected state")),
            };
            match st.compare_exchange_weak(s, next, AcqRel, Acquire) {
                // Waiters were told at `cancel()` already.
                Ok(_) => return Ok(s & PHASE == PENDING),
                Err(now) => s = now,
            }
        }
    }

    /// Python's `set_result()`, for executors: complete the future.
    /// [`Error::InvalidState`] if it is already done.
    ///
    /// ```
    /// let f = gilfree::futures::Future::new();
    /// f.set_result(3).unwrap();
    /// assert!(f.set_result(4).is_err());
    /// assert_eq!(f.result(), Ok(3));
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), Error> {
        self.complete(Ok(value))
    }

    /// Python's `set_exception()`, for executors: complete the future with
    /// an error. [`Error::InvalidState`] if it is already done.
    ///
    /// ```
    /// use gilfree::futures::{Error, Future};
    /// let f = Future::<u8>::new();
    /// f.set_exception(Error::Panicked("boom".into())).unwrap();
    /// assert_eq!(f.exception(), Ok(Some(Error::Panicked("boom".into()))));
    /// ```
    pub fn set_exception(&self, error: Error) -> Result<(), Error> {
        self.complete(Err(error))
    }

    /// Store the outcome and publish `FINISHED`, then tell everyone.
    pub(crate) fn complete(&self, outcome: Result<T, Error>) -> Result<(), Error> {
        let inner = self.inner();
        let mut s = inner.state.load(Acquire);
        // Claim the slot with the WRITING bit: exactly one completer wins,
        // and `cancel` refuses a future being written (as if running).
        loop {
            if is_done(s) || s & WRITING != 0 {
                return Err(Error::InvalidState("future already done"));
            }
            match inner
                .state
                .compare_exchange_weak(s, s | WRITING, AcqRel, Acquire)
            {
                Ok(_) => {
                    s |= WRITING;
                    break;
                }
                Err(now) => s = now,
            }
        }
        // SAFETY: we set WRITING, which no one else can while it is set or
        // once the phase is done; nobody reads the slot before FINISHED is
        // published below.
        inner.slot.with_mut(|p| unsafe { *p = Some(outcome) });
        loop {
            match inner.state.compare_exchange_weak(
                s,
                (s & !PHASE & !PARKED & !WRITING) | FINISHED,
                AcqRel,
                Acquire,
            ) {
                Ok(_) => break,
                // Only flag bits can change under us now.
                Err(now) => s = now,
            }
        }
        self.notify(s);
        Ok(())
    }

    /// After a CAS into a done phase from `old`: wake sleepers and drain the
    /// listeners.
    fn notify(&self, old: u32) {
        let inner = self.inner();
        if old & PARKED != 0 {
            futex::wake_all::<Private>(&inner.state);
        }
        if old & LISTENERS != 0 {
            let list = core::mem::take(&mut *inner.listeners.acquire());
            let failed = self.failed();
            for l in list {
                match l {
                    Listener::Callback(cb) => self.run_callback(cb),
                    Listener::Waker(w) => w.wake(),
                    Listener::Waiter(w, i) => w.add(i, failed),
                }
            }
        }
    }

    /// Whether a done future finished with an error (cancelled counts not).
    pub(super) fn failed(&self) -> bool {
        let inner = self.inner();
        if inner.state.load(Acquire) & PHASE != FINISHED {
            return false;
        }
        let _g = inner.listeners.acquire();
        // SAFETY: FINISHED was seen (Acquire), so the slot is written and
        // immutable but for takes, which hold the lock we hold.
        inner.slot.with(|p| unsafe { matches!(&*p, Some(Err(_))) })
    }

    fn run_callback(&self, cb: Callback<T>) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| cb(self))) {
            // Python: LOGGER.exception('exception calling callback for %r').
            eprintln!(
                "gilfree: exception calling callback for {self:?}: {}",
                panic_message(&*p)
            );
        }
    }

    /// Register a listener; `Err(l)` hands it back if the future is done.
    pub(crate) fn listen(&self, l: Listener<T>) -> Result<(), Listener<T>> {
        let inner = self.inner();
        let mut list = inner.listeners.acquire();
        let s = inner.state.fetch_or(LISTENERS, AcqRel);
        if is_done(s) {
            return Err(l);
        }
        list.push(l);
        Ok(())
    }

    /// Remove a `wait` waiter (no-op if it was already drained).
    pub(crate) fn unlisten(&self, w: &Arc<Waiter>) {
        self.inner()
            .listeners
            .acquire()
            .retain(|l| !matches!(l, Listener::Waiter(x, _) if Arc::ptr_eq(x, w)));
    }

    /// Python's `add_done_callback(fn)`: call `f(&future)` once the future
    /// is done (finished or cancelled).
    ///
    /// If it is done already, `f` runs at once, in this thread; otherwise it
    /// runs in the thread that completes (or cancels) the future. A
    /// callback that panics is reported on stderr and otherwise ignored, as
    /// Python logs and ignores a callback's exception.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
    /// let f = gilfree::futures::Future::new();
    /// let seen = Arc::new(AtomicU32::new(0));
    /// let s = seen.clone();
    /// f.add_done_callback(move |f| s.store(f.result().unwrap(), Ordering::SeqCst));
    /// f.set_result(7).unwrap();
    /// assert_eq!(seen.load(Ordering::SeqCst), 7);
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(&Future<T>) + Send + 'static) {
        if let Err(Listener::Callback(cb)) = self.listen(Listener::Callback(Box::new(f))) {
            self.run_callback(cb);
        }
    }

    /// Register `w` to be woken when the future is done (`.await`);
    /// `false` if it is done already. A re-poll with the same waker
    /// replaces nothing and adds nothing.
    pub(super) fn listen_waker(&self, w: &Waker) -> bool {
        let inner = self.inner();
        let mut list = inner.listeners.acquire();
        let s = inner.state.fetch_or(LISTENERS, AcqRel);
        if is_done(s) {
            return false;
        }
        if !list
            .iter()
            .any(|l| matches!(l, Listener::Waker(x) if x.will_wake(w)))
        {
            list.push(Listener::Waker(w.clone()));
        }
        true
    }

    /// Sleep until done or `deadline`; returns whether it is done.
    pub(super) fn wait_done(&self, deadline: Deadline) -> bool {
        let st = &self.inner().state;
        let s = st.load(Acquire);
        if is_done(s) {
            return true;
        }
        self.wait_done_slow(deadline)
    }

    #[cold]
    fn wait_done_slow(&self, deadline: Deadline) -> bool {
        let st = &self.inner().state;
        spin_while(st, |s| !is_done(s));
        let mut s = st.load(Acquire);
        loop {
            if is_done(s) {
                return true;
            }
            if s & PARKED == 0 {
                match st.compare_exchange(s, s | PARKED, Acquire, Acquire) {
                    Ok(_) => s |= PARKED,
                    Err(now) => {
                        s = now;
                        continue;
                    }
                }
            }
            if futex::wait::<Private>(st, s, deadline) == Wake::TimedOut && deadline.expired() {
                return self.done();
            }
            s = st.load(Acquire);
        }
    }
}

/// The text of a panic payload (`&str` or `String`), as Python prints an
/// exception's message.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}
