//! `wait` and `as_completed`: Python's module functions, with a waiter
//! registered on each future (CPython's `_Waiter`), not polling.
//!
//! # The waiter
//!
//! A [`Waiter`] is a list of `(index, failed)` events behind a lock, plus
//! a futex word, `seq`: bit 0 is `SLEEPY` (the waiting thread may be in
//! `futex_wait`), the other bits count events (in steps of 2, wrapping).
//! A future that completes pushes its event, then adds 2 to `seq` (Release)
//! and calls `futex_wake` only if the old value had `SLEEPY`: while the
//! waiting thread is busy taking results, completions cost no syscall.
//!
//! # Why no wake-up is lost
//!
//! The waiting thread reads `seq` (Acquire) *before* looking at the events.
//! If it finds none, it sets `SLEEPY` with a compare-exchange from the value
//! it read, and sleeps on the result. An event pushed after its look bumped
//! `seq` first: then either the compare-exchange fails (it looks again),
//! or the bump came after it, so the bumper saw `SLEEPY` and wakes; and if
//! the bump came between the compare-exchange and `futex_wait`, the kernel
//! sees a changed word and does not sleep. Once woken, the waiting thread
//! clears `SLEEPY` before looking again; a bump that saw `SLEEPY` before
//! the clear only causes one needless wake.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::future::Listener;
use super::{Error, Future};
use crate::sys::atomic::{AtomicU32, Ordering::*};
use crate::sys::futex::{self, Wake};
use crate::sys::{Deadline, Private};
use crate::threading::Lock;

/// `Waiter::seq`: the waiting thread may be asleep on the word.
const SLEEPY: u32 = 1;
/// `Waiter::seq`: one event.
const STEP: u32 = 2;

/// Collects completions for one `wait` / `as_completed` call.
pub(crate) struct Waiter {
    seq: AtomicU32,
    events: Lock<Vec<(usize, bool)>>,
}

impl Waiter {
    fn new() -> Arc<Self> {
        Arc::new(Waiter {
            seq: AtomicU32::new(0),
            events: Lock::new(Vec::new()),
        })
    }

    /// Called by a completing future: the future at `index` is done.
    pub(crate) fn add(&self, index: usize, failed: bool) {
        self.events.acquire().push((index, failed));
        if self.seq.fetch_add(STEP, Release) & SLEEPY != 0 {
            futex::wake_all::<Private>(&self.seq);
        }
    }

    /// Take the events so far, or sleep until some arrive or `deadline`.
    /// An empty result means the deadline passed.
    fn next_events(&self, deadline: Deadline) -> Vec<(usize, bool)> {
        let mut seen = self.seq.load(Acquire);
        loop {
            let ev = core::mem::take(&mut *self.events.acquire());
            if !ev.is_empty() {
                return ev;
            }
            // Nothing yet: a completion may be a few hundred nanoseconds
            // away; watch the counter briefly before sleeping.
            let now = crate::sys::spin_while(&self.seq, |v| v & !SLEEPY == seen & !SLEEPY);
            if now & !SLEEPY != seen & !SLEEPY {
                seen = self.seq.load(Acquire);
                continue;
            }
            if seen & SLEEPY == 0 {
                if let Err(now) = self
                    .seq
                    .compare_exchange(seen, seen | SLEEPY, Acquire, Acquire)
                {
                    seen = now; // an event came: look again
                    continue;
                }
                seen |= SLEEPY;
            }
            let r = futex::wait::<Private>(&self.seq, seen, deadline);
            // Awake: completions need not wake us while we look (a bump
            // that still saw `SLEEPY` only wakes needlessly).
            seen = self.seq.fetch_and(!SLEEPY, Acquire) & !SLEEPY;
            if r == Wake::TimedOut && deadline.expired() {
                return core::mem::take(&mut *self.events.acquire());
            }
        }
    }
}

/// Registers a waiter on each future; unregisters on drop.
struct Registration<T> {
    futures: Vec<Future<T>>,
    waiter: Arc<Waiter>,
}

impl<T> Registration<T> {
    /// Returns the registration and the (index, failed) pairs of the
    /// futures that were already done.
    fn new(futures: Vec<Future<T>>) -> (Self, Vec<(usize, bool)>) {
        let waiter = Waiter::new();
        let mut done = Vec::new();
        for (i, f) in futures.iter().enumerate() {
            if let Err(Listener::Waiter(_, _)) = f.listen(Listener::Waiter(waiter.clone(), i)) {
                done.push((i, f.exception_now()));
            }
        }
        (Registration { futures, waiter }, done)
    }
}

impl<T> Drop for Registration<T> {
    fn drop(&mut self) {
        for f in &self.futures {
            f.unlisten(&self.waiter);
        }
    }
}

impl<T> Future<T> {
    /// Whether a done future failed with an error (not cancelled).
    /// (No deadline: reading the clock once per future was measurable.)
    fn exception_now(&self) -> bool {
        self.failed()
    }
}

/// When [`wait`] returns: Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`.
///
/// ```
/// use gilfree::futures::{wait, Future, ReturnWhen};
/// let f = Future::new();
/// f.set_result(1).unwrap();
/// let r = wait(&[f], None, ReturnWhen::FirstCompleted);
/// assert_eq!(r.done.len(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReturnWhen {
    /// Return when any future finishes or is cancelled.
    FirstCompleted,
    /// Return when any future finishes with an error (a panic); if none
    /// does, when all are done (Python's `FIRST_EXCEPTION`).
    FirstException,
    /// Return when all futures are done (the default, as in Python).
    #[default]
    AllCompleted,
}

/// What [`wait`] returns: Python's `DoneAndNotDoneFutures(done, not_done)`.
///
/// Both lists keep the order the futures were given in (Python returns
/// sets).
///
/// ```
/// use gilfree::futures::{wait, Future, ReturnWhen};
/// let (a, b) = (Future::<u8>::new(), Future::<u8>::new());
/// a.cancel();
/// let r = wait(&[a, b], Some(std::time::Duration::ZERO), ReturnWhen::AllCompleted);
/// assert_eq!((r.done.len(), r.not_done.len()), (1, 1));
/// ```
#[derive(Debug)]
pub struct DoneAndNotDone<T> {
    /// The futures that finished or were cancelled.
    pub done: Vec<Future<T>>,
    /// The others.
    pub not_done: Vec<Future<T>>,
}

/// Python's `concurrent.futures.wait(fs, timeout, return_when)`: wait for
/// the futures, then split them into done and not done.
///
/// `timeout: None` waits as long as `return_when` needs. A timeout is not
/// an error: the futures still running are in `not_done`. Differences from
/// Python: a cancelled future counts as done as soon as it is cancelled
/// (Python waits for the executor to notice it); duplicates are not merged.
///
/// ```
/// use gilfree::futures::{wait, Executor, ReturnWhen, ThreadPoolExecutor};
/// let pool = ThreadPoolExecutor::new();
/// let fs: Vec<_> = (0..4).map(|i| pool.submit(move || i).unwrap()).collect();
/// let r = wait(&fs, None, ReturnWhen::AllCompleted);
/// assert_eq!(r.done.len(), 4);
/// assert!(r.not_done.is_empty());
/// ```
pub fn wait<'a, T: 'a>(
    fs: impl IntoIterator<Item = &'a Future<T>>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> DoneAndNotDone<T> {
    let deadline = timeout.map_or(Deadline::Never, Deadline::after);
    let futures: Vec<Future<T>> = fs.into_iter().cloned().collect();
    let n = futures.len();
    let (reg, initial) = Registration::new(futures);
    let mut is_done = vec![false; n];
    let mut count = 0;
    let mut failed = false;
    let mut record = |ev: Vec<(usize, bool)>, count: &mut usize, failed: &mut bool| {
        for (i, f) in ev {
            if !is_done[i] {
                is_done[i] = true;
                *count += 1;
                *failed |= f;
            }
        }
    };
    record(initial, &mut count, &mut failed);
    loop {
        let satisfied = count == n
            || match return_when {
                ReturnWhen::FirstCompleted => count > 0,
                ReturnWhen::FirstException => failed,
                ReturnWhen::AllCompleted => false,
            };
        if satisfied {
            break;
        }
        let ev = reg.waiter.next_events(deadline);
        if ev.is_empty() {
            break;
        }
        record(ev, &mut count, &mut failed);
    }
    let mut done = Vec::with_capacity(count);
    let mut not_done = Vec::with_capacity(n - count);
    for f in &reg.futures {
        // A future may have completed after our last look: count it, as
        // Python's final `done.update(waiter.finished_futures)` does.
        if f.done() {
            done.push(f.clone());
        } else {
            not_done.push(f.clone());
        }
    }
    DoneAndNotDone { done, not_done }
}

/// Python's `concurrent.futures.as_completed(fs, timeout)`: an iterator
/// that yields each future as it completes (finishes or is cancelled).
///
/// Futures already done come first. With a timeout, once it expires the
/// iterator yields one `Err(Timeout)` and ends; the futures left are
/// available from [`AsCompleted::pending`]. Call
/// [`progress`](AsCompleted::progress) for a progress bar on stderr.
///
/// ```
/// use gilfree::futures::{as_completed, Executor, ThreadPoolExecutor};
/// let pool = ThreadPoolExecutor::new();
/// let fs: Vec<_> = (0..5u64).map(|i| pool.submit(move || i * i).unwrap()).collect();
/// let mut sum = 0;
/// for f in as_completed(&fs, None) {
///     sum += f.unwrap().result().unwrap();
/// }
/// assert_eq!(sum, 0 + 1 + 4 + 9 + 16);
/// ```
pub fn as_completed<'a, T: 'a>(
    fs: impl IntoIterator<Item = &'a Future<T>>,
    timeout: Option<Duration>,
) -> AsCompleted<T> {
    let deadline = timeout.map_or(Deadline::Never, Deadline::after);
    let futures: Vec<Future<T>> = fs.into_iter().cloned().collect();
    let n = futures.len();
    let (reg, initial) = Registration::new(futures);
    let mut it = AsCompleted {
        reg,
        ready: VecDeque::new(),
        yielded: vec![false; n],
        left: n,
        deadline,
        finished: false,
        bar: None,
    };
    it.push(initial);
    it
}

/// The iterator [`as_completed`] returns: `Ok(future)` for each future as
/// it completes, then, if the timeout expires first, one `Err(Timeout)`.
///
/// ```
/// use gilfree::futures::{as_completed, Future};
/// let (a, b) = (Future::new(), Future::new());
/// b.set_result(2).unwrap();
/// let mut it = as_completed([&a, &b], None);
/// assert!(it.next().unwrap().unwrap().ptr_eq(&b));
/// a.set_result(1).unwrap();
/// assert!(it.next().unwrap().unwrap().ptr_eq(&a));
/// assert!(it.next().is_none());
/// ```
pub struct AsCompleted<T> {
    reg: Registration<T>,
    ready: VecDeque<usize>,
    yielded: Vec<bool>,
    left: usize,
    deadline: Deadline,
    finished: bool,
    bar: Option<super::progress::Bar>,
}

impl<T> AsCompleted<T> {
    fn push(&mut self, ev: Vec<(usize, bool)>) {
        for (i, _) in ev {
            if !self.yielded[i] {
                self.yielded[i] = true;
                self.ready.push_back(i);
            }
        }
    }

    /// Show a progress bar on stderr (if stderr is a terminal) while
    /// iterating; off by default.
    ///
    /// ```
    /// use gilfree::futures::{as_completed, Future};
    /// let f = Future::new();
    /// f.set_result(()).unwrap();
    /// assert_eq!(as_completed(&[f], None).progress(true).count(), 1);
    /// ```
    pub fn progress(mut self, on: bool) -> Self {
        self.bar = super::progress::Bar::new(on, Some(self.yielded.len() as u64));
        self
    }

    /// The futures not yielded yet (for what is left after a timeout).
    ///
    /// ```
    /// use gilfree::futures::{as_completed, Future};
    /// let f = Future::<u8>::new();
    /// let mut it = as_completed(std::slice::from_ref(&f), Some(std::time::Duration::ZERO));
    /// assert!(it.next().unwrap().is_err());
    /// assert_eq!(it.pending().len(), 1);
    /// ```
    pub fn pending(&self) -> Vec<Future<T>> {
        let queued: Vec<usize> = self.ready.iter().copied().collect();
        self.reg
            .futures
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.yielded[*i] || queued.contains(i))
            .map(|(_, f)| f.clone())
            .collect()
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Result<Future<T>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            if let Some(i) = self.ready.pop_front() {
                self.left -= 1;
                if let Some(b) = &self.bar {
                    b.inc();
                }
                return Some(Ok(self.reg.futures[i].clone()));
            }
            if self.left == 0 {
                self.finished = true;
                if let Some(b) = &self.bar {
                    b.finish();
                }
                return None;
            }
            let ev = self.reg.waiter.next_events(self.deadline);
            if ev.is_empty() {
                // Python: TimeoutError('%d (of %d) futures unfinished').
                self.finished = true;
                return Some(Err(Error::Timeout));
            }
            self.push(ev);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// Completions race the registration of `wait`'s waiter: every
    /// completion is seen and the waiting thread is woken (a lost wake-up
    /// is a loom deadlock).
    #[test]
    fn wait_all_completed_sees_racing_completions() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let (x, y) = (Future::<u32>::new(), Future::<u32>::new());
            let (x1, y1) = (x.clone(), y.clone());
            let t = thread::spawn(move || {
                x1.set_result(1).unwrap();
                y1.cancel();
            });
            let r = wait([&x, &y], None, ReturnWhen::AllCompleted);
            assert_eq!(r.done.len(), 2);
            t.join().unwrap();
        });
    }

    /// `as_completed` against two completers: each future is yielded once.
    #[test]
    fn as_completed_yields_each_once() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let (x, y) = (Future::<u32>::new(), Future::<u32>::new());
            let (x1, y1) = (x.clone(), y.clone());
            let t1 = thread::spawn(move || x1.set_result(1).unwrap());
            let t2 = thread::spawn(move || y1.set_exception(Error::Panicked("p".into())).unwrap());
            let got: Vec<_> = as_completed([&x, &y], None).map(Result::unwrap).collect();
            assert_eq!(got.len(), 2);
            assert!(!got[0].ptr_eq(&got[1]));
            t1.join().unwrap();
            t2.join().unwrap();
        });
    }
}
