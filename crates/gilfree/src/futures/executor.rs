//! The `Executor` trait: Python's `concurrent.futures.Executor`.
//!
//! # One trait, several kinds of job
//!
//! Two executors implement it: [`ThreadPoolExecutor`](super::ThreadPoolExecutor),
//! which runs closures, and [`ProcessPoolExecutor`](super::ProcessPoolExecutor),
//! which cannot (a closure cannot be sent to another process) and runs
//! [`Call`](super::Call)s of registered functions whose arguments are serde
//! values, as `multiprocessing`'s tasks are. So the trait is generic over
//! the [`Job`] it accepts, `Executor<J: Job>`: every `FnOnce() -> T + Send`
//! closure is a `Job` (the thread pool implements `Executor<F>` for all of
//! them), so is every `Call<A, R>` (the process pool implements
//! `Executor<Call<A, R>>`), and code written against `Executor<J>` runs on
//! any executor whose job type it can make.
//!
//! `map_jobs` is provided on top of `submit` (lazily, with at most
//! `buffersize` jobs in flight), one job per item: ready-made jobs cannot be
//! merged. `chunksize` is carried in [`MapOptions`] for the pools' own
//! `map`s, which batch items: the process pool's
//! [`map`](super::ProcessPoolExecutor::map) sends items in chunks, and the
//! thread pool's [`map`](super::ThreadPoolExecutor::map) runs chunks of
//! items as one job each, sized automatically unless `chunksize` is given
//! (Python's thread pool ignores `chunksize`).

use std::collections::VecDeque;
use std::time::Duration;

use super::progress::Bar;
use super::{Error, Future};
use crate::sys::Deadline;

/// A unit of work an [`Executor`] can run, producing `Output`.
///
/// Every `FnOnce() -> T + Send + 'static` closure is a job (the thread
/// pool's). An executor that crosses a process boundary cannot run
/// closures and will define its own serialisable job type; none exists yet.
///
/// ```
/// use gilfree::futures::Job;
/// fn output_of<J: Job>(_: &J) -> &'static str { std::any::type_name::<J::Output>() }
/// assert_eq!(output_of(&|| 5u8), "u8");
/// ```
pub trait Job: Send + 'static {
    /// What the job produces.
    type Output: Send + 'static;
}

impl<F, T> Job for F
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;
}

/// Python's `concurrent.futures.Executor`: something that runs jobs and
/// hands back [`Future`]s.
///
/// Dropping an executor shuts it down and waits for its jobs, as Python's
/// `with executor:` does on exit.
///
/// ```
/// use gilfree::futures::{Executor, MapOptions, ThreadPoolExecutor};
/// fn total<E: Executor<fn() -> u64>>(e: &E) -> u64 {
///     let jobs: Vec<fn() -> u64> = vec![|| 1, || 2, || 3];
///     e.map_jobs(jobs, MapOptions::new()).unwrap().map(|r| r.unwrap()).sum()
/// }
/// assert_eq!(total(&ThreadPoolExecutor::new()), 6);
/// ```
pub trait Executor<J: Job> {
    /// Python's `submit(fn, *args)`: schedule `job`, return its future.
    ///
    /// Fails with [`Error::ShutDown`] after `shutdown`, or the executor's
    /// broken-pool error (e.g. [`Error::BrokenThreadPool`]).
    fn submit(&self, job: J) -> Result<Future<J::Output>, Error>;

    /// Python's `shutdown(wait=True, *, cancel_futures=False)`: refuse new
    /// jobs; with `cancel_futures`, cancel the jobs not started yet; with
    /// `wait`, return only when every running job is done and the workers
    /// have exited. Calling it again is harmless.
    fn shutdown(&self, wait: bool, cancel_futures: bool);

    /// Python's `map(fn, *iterables, timeout, chunksize, buffersize)` over
    /// ready-made jobs: submit them and yield their results in input order.
    ///
    /// With [`MapOptions::buffersize`], at most that many jobs are in
    /// flight and the input is read lazily (CPython 3.14), so an endless
    /// iterator works in bounded memory; without it, the whole input is
    /// submitted now. The timeout counts from this call; when it expires
    /// the iterator yields `Err(Timeout)`. After any error (timeout, a
    /// failed job, a failed submit) the iterator ends and cancels the jobs
    /// left, as Python's generator does when it raises.
    fn map_jobs<I>(
        &self,
        jobs: I,
        options: MapOptions,
    ) -> Result<Map<'_, Self, J, I::IntoIter>, Error>
    where
        Self: Sized,
        I: IntoIterator<Item = J>,
    {
        Map::new(self, jobs.into_iter(), options)
    }
}

/// Options of [`Executor::map_jobs`] (and the thread pool's `map`):
/// Python's `timeout`, `chunksize` and `buffersize` keywords, plus a
/// progress bar.
///
/// ```
/// use gilfree::futures::MapOptions;
/// use std::time::Duration;
/// let o = MapOptions::new().timeout(Duration::from_secs(5)).buffersize(64);
/// assert_eq!(o.buffersize, Some(64));
/// ```
#[derive(Clone, Debug, Default)]
pub struct MapOptions {
    /// Give up this long after `map` was called (`None`: never).
    pub timeout: Option<Duration>,
    /// Items per chunk, for the maps that batch (at least 1). The process
    /// pool's [`map`](super::ProcessPoolExecutor::map) sends items in
    /// chunks of this size (`None`: 1, as Python). The thread pool's
    /// [`map`](super::ThreadPoolExecutor::map_with) runs each chunk as one
    /// job; `None` sizes chunks automatically (see its docs). Python's
    /// thread pool ignores `chunksize`; gilfree's honours it.
    /// [`Executor::map_jobs`] ignores it (one job per item).
    pub chunksize: Option<usize>,
    /// Read the input lazily, at most this many items ahead of the results
    /// yielded (jobs, for [`Executor::map_jobs`]); `None` reads and
    /// submits everything at once (Python before 3.14).
    pub buffersize: Option<usize>,
    /// Draw a progress bar on stderr (only if it is a terminal). Only with
    /// the `progress` feature (on by default).
    #[cfg(feature = "progress")]
    pub progress: bool,
}

impl MapOptions {
    /// The defaults: no timeout, automatic chunksize, no buffersize, no
    /// progress.
    ///
    /// ```
    /// assert_eq!(gilfree::futures::MapOptions::new().chunksize, None);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `timeout`.
    ///
    /// ```
    /// let o = gilfree::futures::MapOptions::new().timeout(std::time::Duration::from_secs(1));
    /// assert!(o.timeout.is_some());
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Set `chunksize`.
    ///
    /// ```
    /// assert_eq!(gilfree::futures::MapOptions::new().chunksize(8).chunksize, Some(8));
    /// ```
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n);
        self
    }

    /// Set `buffersize`.
    ///
    /// ```
    /// assert_eq!(gilfree::futures::MapOptions::new().buffersize(4).buffersize, Some(4));
    /// ```
    pub fn buffersize(mut self, n: usize) -> Self {
        self.buffersize = Some(n);
        self
    }

    /// Turn the progress bar on or off. Only with the `progress` feature
    /// (on by default).
    ///
    /// ```
    /// assert!(gilfree::futures::MapOptions::new().progress(true).progress);
    /// ```
    #[cfg(feature = "progress")]
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }
}

/// The iterator of [`Executor::map_jobs`]: results in input order.
///
/// Dropping it cancels the jobs it submitted that have not started.
///
/// ```
/// use gilfree::futures::{Executor, MapOptions, ThreadPoolExecutor};
/// let pool = ThreadPoolExecutor::new();
/// let jobs = (0..4u32).map(|i| move || i * 3);
/// let out: Vec<u32> = pool.map_jobs(jobs, MapOptions::new()).unwrap().map(Result::unwrap).collect();
/// assert_eq!(out, [0, 3, 6, 9]);
/// ```
pub struct Map<'a, E, J: Job, I> {
    executor: &'a E,
    jobs: I,
    in_flight: VecDeque<Future<J::Output>>,
    deadline: Deadline,
    lazy: bool,
    finished: bool,
    bar: Option<Bar>,
}

impl<'a, E, J, I> Map<'a, E, J, I>
where
    E: Executor<J>,
    J: Job,
    I: Iterator<Item = J>,
{
    pub(crate) fn new(executor: &'a E, mut jobs: I, o: MapOptions) -> Result<Self, Error> {
        if o.chunksize == Some(0) {
            return Err(Error::Value("chunksize must be >= 1."));
        }
        if o.buffersize == Some(0) {
            return Err(Error::Value("buffersize must be None or > 0."));
        }
        let deadline = o.timeout.map_or(Deadline::Never, Deadline::after);
        let mut in_flight = VecDeque::new();
        let limit = o.buffersize.unwrap_or(usize::MAX);
        let cancel_all = |q: &VecDeque<Future<J::Output>>| {
            q.iter().for_each(|f| {
                f.cancel();
            })
        };
        while in_flight.len() < limit {
            let Some(j) = jobs.next() else { break };
            match executor.submit(j) {
                Ok(f) => in_flight.push_back(f),
                Err(e) => {
                    cancel_all(&in_flight);
                    return Err(e);
                }
            }
        }
        #[cfg(feature = "progress")]
        let len = match o.buffersize {
            None => Some(in_flight.len() as u64),
            Some(_) => match jobs.size_hint() {
                (lo, Some(hi)) if lo == hi => Some((in_flight.len() + lo) as u64),
                _ => None,
            },
        };
        Ok(Map {
            executor,
            jobs,
            in_flight,
            deadline,
            lazy: o.buffersize.is_some(),
            finished: false,
            #[cfg(feature = "progress")]
            bar: Bar::new(o.progress, len),
            #[cfg(not(feature = "progress"))]
            bar: None,
        })
    }
}

impl<E, J: Job, I> Map<'_, E, J, I> {
    fn stop(&mut self) {
        self.finished = true;
        for f in self.in_flight.drain(..) {
            f.cancel();
        }
    }
}

impl<E, J: Job, I> Drop for Map<'_, E, J, I> {
    fn drop(&mut self) {
        self.stop();
    }
}

impl<E, J, I> Iterator for Map<'_, E, J, I>
where
    E: Executor<J>,
    J: Job,
    I: Iterator<Item = J>,
{
    type Item = Result<J::Output, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if self.lazy {
            // CPython 3.14: top the buffer up by one before waiting.
            if let Some(j) = self.jobs.next() {
                match self.executor.submit(j) {
                    Ok(f) => self.in_flight.push_back(f),
                    Err(e) => {
                        self.stop();
                        return Some(Err(e));
                    }
                }
            }
        }
        let f = match self.in_flight.pop_front() {
            Some(f) => f,
            None => {
                self.finished = true;
                if let Some(b) = &self.bar {
                    b.finish();
                }
                return None;
            }
        };
        let r = match f.exception_deadline(self.deadline) {
            Err(e) | Ok(Some(e)) => Err(e),
            Ok(None) => f.take(),
        };
        if let Some(b) = &self.bar {
            b.inc();
        }
        if r.is_err() {
            // Python's `_result_or_cancel`: the future that failed to
            // deliver is cancelled too (a no-op unless it timed out).
            f.cancel();
            self.stop();
        }
        Some(r)
    }
}
