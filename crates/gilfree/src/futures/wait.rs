//! `wait` and `as_completed`: Python's module functions, with a waiter
//! registered on each future (CPython's `_Waiter`), not polling.
//!
//! The waiting itself is [`Waiter`]'s job (`waiter.rs`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::future::Listener;
use super::waiter::Waiter;
use super::{Error, Future};
use crate::sys::Deadline;

/// Registers a waiter on each future; unregisters on drop.
struct Registration<T> {
    futures: Vec<Future<T>>,
    waiter: Arc<Waiter>,
}

impl<T> Registration<T> {
    /// Returns the registration and the (index, failed) pairs of the
    /// futures that were already done.
    fn new(futures: Vec<Future<T>>) -> (Self, Vec<(usize, bool)>) {
        let waiter = Arc::new(Waiter::new());
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
    /// iterating; off by default. Only with the `progress` feature (on by
    /// default).
    ///
    /// ```
    /// use gilfree::futures::{as_completed, Future};
    /// let f = Future::new();
    /// f.set_result(()).unwrap();
    /// assert_eq!(as_completed(&[f], None).progress(true).count(), 1);
    /// ```
    #[cfg(feature = "progress")]
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
