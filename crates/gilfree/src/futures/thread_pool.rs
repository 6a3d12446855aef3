//! `ThreadPoolExecutor`: Python's `concurrent.futures.ThreadPoolExecutor`.
//!
//! A submitted closure and its future's state share one allocation (see
//! `task.rs`); the job queue and the parking of idle workers are
//! `job_queue.rs`'s job. This file is the pool: starting workers, submit,
//! map and shutdown.
//!
//! # Threads
//!
//! Workers start lazily, as in Python's `_adjust_thread_count`: a submit
//! first takes a token from `idle` (a counter that each worker bumps after
//! each job, Python's `_idle_semaphore`); only if there is none and fewer
//! than `max_workers` threads exist does it start one (under the queue
//! lock, so `shutdown` sees every thread).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::chunked_map::ChunkedMap;
use super::executor::{Executor, MapOptions};
use super::future::panic_message;
use super::job_queue::JobQueue;
use super::scope::Scope;
use super::task::{Runnable, Task};
use super::{Error, Future};
use crate::sys::atomic::{AtomicUsize, Ordering::*};
use crate::sys::trace;
use crate::threading::Lock;

type Initializer = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

struct Shared {
    queue: JobQueue<Arc<dyn Runnable>>,
    /// Python's `_idle_semaphore`: tokens for idle workers.
    idle: AtomicUsize,
    num_threads: AtomicUsize,
    max_workers: usize,
    prefix: String,
    initializer: Option<Initializer>,
    threads: Lock<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// Python's `_adjust_thread_count`; runs under the queue lock.
    fn adjust_thread_count(self: &Arc<Self>) {
        if self
            .idle
            .fetch_update(Acquire, Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            return;
        }
        let n = self.num_threads.load(Relaxed);
        if n >= self.max_workers {
            return;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}_{n}", self.prefix))
            .spawn(move || me.worker());
        // A failed spawn is not fatal while another worker can run the job;
        // with no worker at all, the job waits for the next successful
        // spawn (Python raises RuntimeError here instead).
        if let Ok(h) = spawned {
            self.num_threads.store(n + 1, Relaxed);
            self.threads.acquire().push(h);
        }
    }

    fn worker(&self) {
        if let Some(init) = &self.initializer {
            let r = catch_unwind(AssertUnwindSafe(|| init()));
            let why = match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(p) => Some(format!("panicked: {}", panic_message(&*p))),
            };
            if let Some(why) = why {
                self.initializer_failed(why);
                return;
            }
        }
        while let Some(job) = self.queue.pop() {
            job.run(&self.idle);
        }
    }

    /// Python's `_initializer_failed`: break the pool, fail what is queued.
    fn initializer_failed(&self, why: String) {
        eprintln!("gilfree: Exception in initializer: {why}");
        let e = Error::BrokenThreadPool(format!(
            "A thread initializer failed, the thread pool is not usable anymore ({why})"
        ));
        for job in self.queue.close(e.clone(), true) {
            job.fail(e.clone());
        }
    }
}

/// Python's `concurrent.futures.ThreadPoolExecutor`: a pool of worker
/// threads running submitted closures.
///
/// Workers start lazily, one per submit while none is idle, up to
/// `max_workers` (default `min(32, cpus + 4)`, as Python). A job that panics
/// completes its future with [`Error::Panicked`]; the worker survives, and
/// nothing is printed (Python is silent until `result()`; Rust's panic hook
/// would print at once, so jobs run under a chained hook that skips them. A
/// hook you install after the pool's first job sees every panic, jobs'
/// included). An initializer that fails breaks the pool: queued and later jobs fail with
/// [`Error::BrokenThreadPool`]. Dropping the pool shuts it down and waits
/// (Python's `with ThreadPoolExecutor() as pool:`).
///
/// `submit`, `map` and `shutdown` are also inherent methods, so the
/// [`Executor`] trait need not be in scope.
///
/// ```
/// use gilfree::futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::builder().max_workers(4).build().unwrap();
/// let squares: Vec<u64> = pool.map(|x: u64| x * x, 0..10).unwrap().map(Result::unwrap).collect();
/// assert_eq!(squares[9], 81);
/// ```
pub struct ThreadPoolExecutor {
    shared: Arc<Shared>,
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("prefix", &self.shared.prefix)
            .field("max_workers", &self.shared.max_workers)
            .field("threads", &self.shared.num_threads.load(Relaxed))
            .finish()
    }
}

/// Configures a [`ThreadPoolExecutor`]: Python's constructor keywords
/// `max_workers`, `thread_name_prefix`, `initializer` (with `initargs`
/// captured by the closure).
///
/// ```
/// use gilfree::futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(2)
///     .thread_name_prefix("crunch")
///     .initializer(|| Ok::<(), String>(()))
///     .build()
///     .unwrap();
/// let name = pool.submit(|| std::thread::current().name().unwrap().to_string()).unwrap();
/// assert!(name.result().unwrap().starts_with("crunch_"));
/// ```
#[derive(Default)]
pub struct Builder {
    max_workers: Option<usize>,
    prefix: Option<String>,
    initializer: Option<Initializer>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_workers", &self.max_workers)
            .field("prefix", &self.prefix)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}

impl Builder {
    /// Python's `max_workers`; must be at least 1.
    ///
    /// ```
    /// let b = gilfree::futures::ThreadPoolExecutor::builder().max_workers(0);
    /// assert!(b.build().is_err());
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Python's `thread_name_prefix`: workers are named `{prefix}_{i}`
    /// (default prefix `ThreadPoolExecutor-{n}`).
    ///
    /// ```
    /// let pool = gilfree::futures::ThreadPoolExecutor::builder().thread_name_prefix("w").build().unwrap();
    /// let f = pool.submit(|| std::thread::current().name().map(String::from)).unwrap();
    /// assert_eq!(f.result().unwrap().as_deref(), Some("w_0"));
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Python's `initializer` (and `initargs`, captured): run in each worker
    /// before its first job. If it returns `Err` or panics, the pool is
    /// broken ([`Error::BrokenThreadPool`]).
    ///
    /// ```
    /// use gilfree::futures::{Error, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::builder().initializer(|| Err("no db")).build().unwrap();
    /// let f = pool.submit(|| 1).unwrap(); // accepted: the first worker starts now
    /// assert!(matches!(f.result(), Err(Error::BrokenThreadPool(_))));
    /// assert!(matches!(pool.submit(|| 2), Err(Error::BrokenThreadPool(_))));
    /// ```
    pub fn initializer<F, E>(mut self, f: F) -> Self
    where
        F: Fn() -> Result<(), E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        self.initializer = Some(Arc::new(move || f().map_err(|e| e.to_string())));
        self
    }

    /// Make the pool (no thread starts yet). [`Error::Value`] if
    /// `max_workers` is 0.
    ///
    /// ```
    /// assert!(gilfree::futures::ThreadPoolExecutor::builder().build().is_ok());
    /// ```
    pub fn build(self) -> Result<ThreadPoolExecutor, Error> {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        trace::start_from_env();
        let max_workers = match self.max_workers {
            Some(0) => return Err(Error::Value("max_workers must be greater than 0")),
            Some(n) => n,
            None => default_max_workers(),
        };
        let prefix = self.prefix.unwrap_or_else(|| {
            format!(
                "ThreadPoolExecutor-{}",
                COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            )
        });
        Ok(ThreadPoolExecutor {
            shared: Arc::new(Shared {
                queue: JobQueue::new(),
                idle: AtomicUsize::new(0),
                num_threads: AtomicUsize::new(0),
                max_workers,
                prefix,
                initializer: self.initializer,
                threads: Lock::new(Vec::new()),
            }),
        })
    }
}

/// Python's default: `min(32, os.cpu_count() + 4)`.
fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    32.min(cpus + 4)
}

impl Default for ThreadPoolExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadPoolExecutor {
    /// A pool with Python's defaults: `ThreadPoolExecutor()`.
    ///
    /// ```
    /// let pool = gilfree::futures::ThreadPoolExecutor::new();
    /// assert!(pool.max_workers() >= 5);
    /// ```
    pub fn new() -> Self {
        Builder::default()
            .build()
            .expect("default options are valid")
    }

    /// Configure a pool: see [`Builder`].
    ///
    /// ```
    /// let pool = gilfree::futures::ThreadPoolExecutor::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The most threads this pool will start (Python's `_max_workers`).
    ///
    /// ```
    /// let pool = gilfree::futures::ThreadPoolExecutor::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }

    /// How many worker threads have been started so far (Python's
    /// `len(pool._threads)`).
    ///
    /// ```
    /// let pool = gilfree::futures::ThreadPoolExecutor::new();
    /// assert_eq!(pool.num_threads(), 0); // lazily started
    /// pool.submit(|| ()).unwrap().result().unwrap();
    /// assert_eq!(pool.num_threads(), 1);
    /// ```
    pub fn num_threads(&self) -> usize {
        self.shared.num_threads.load(Relaxed)
    }

    /// Python's `submit(fn)`: run `f` on a worker; returns its future.
    ///
    /// Fails with [`Error::ShutDown`] after [`shutdown`](Self::shutdown) and
    /// [`Error::BrokenThreadPool`] once an initializer failed.
    ///
    /// ```
    /// let pool = gilfree::futures::ThreadPoolExecutor::new();
    /// let f = pool.submit(|| 2 + 2).unwrap();
    /// assert_eq!(f.result(), Ok(4));
    /// ```
    #[inline]
    pub fn submit<F, T>(&self, f: F) -> Result<Future<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if trace::on() {
            return self.submit_traced(f);
        }
        self.enqueue(Task::new(f))
    }

    /// `submit` while a trace is recorded: the job marks its run.
    #[cold]
    fn submit_traced<F, T>(&self, f: F) -> Result<Future<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let id = trace::next_id();
        trace::task_submitted(id);
        self.enqueue(Task::new(move || trace::task_run(id, f)))
    }

    #[inline]
    fn enqueue<F, T>(&self, task: Arc<Task<T, F>>) -> Result<Future<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let job: Arc<dyn Runnable> = task.clone();
        match self
            .shared
            .queue
            .push(job, || self.shared.adjust_thread_count())
        {
            Ok(()) => Ok(task.future()),
            Err((_, e)) => Err(e),
        }
    }

    /// Python's `map(fn, iterable)`: `f` applied to every item on the
    /// pool, results in input order. See [`Executor::map_jobs`] for the
    /// semantics and [`map_with`](Self::map_with) for the options. `f` must
    /// be `'static`; to borrow from the caller (an output directory, a
    /// shared table), use [`scope`](Self::scope) and [`Scope::map`].
    ///
    /// ```
    /// let pool = gilfree::futures::ThreadPoolExecutor::new();
    /// let v: Result<Vec<i32>, _> = pool.map(|x: i32| x + 1, vec![1, 2, 3]).unwrap().collect();
    /// assert_eq!(v, Ok(vec![2, 3, 4]));
    /// ```
    pub fn map<'a, A, T, F, I>(
        &'a self,
        f: F,
        items: I,
    ) -> Result<impl Iterator<Item = Result<T, Error>> + 'a, Error>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// Python's `map(fn, iterable, timeout=, chunksize=, buffersize=)`,
    /// plus a progress bar: see [`MapOptions`].
    ///
    /// Items run in chunks, one pool job per chunk, so a map over many
    /// cheap items costs what the work costs; results are still yielded
    /// one per item, in input order, and a panicking item fails only its
    /// own result (after which, as in Python, the iterator ends and the
    /// items not yet run are skipped). Differences from Python:
    ///
    /// - `chunksize` is honoured (Python's thread pool ignores it). Left
    ///   unset, chunks are sized automatically: without `buffersize`, half a
    ///   worker's share of the items left (guided scheduling); with it, from
    ///   the measured cost of an item against the measured cost of handing
    ///   a chunk to the pool, so the hand-off stays under 1/16 of the work.
    /// - `buffersize` counts items, not jobs: the input is read at most that
    ///   many items ahead of the results yielded, whatever the chunk size.
    ///
    /// ```
    /// use gilfree::futures::{MapOptions, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// // An endless input, read lazily, at most 8 items ahead of the results.
    /// let firsts: Vec<u64> = pool
    ///     .map_with(|x: u64| x * 2, 0.., MapOptions::new().buffersize(8))
    ///     .unwrap()
    ///     .take(5)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(firsts, [0, 2, 4, 6, 8]);
    /// ```
    pub fn map_with<'a, A, T, F, I>(
        &'a self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Result<impl Iterator<Item = Result<T, Error>> + 'a, Error>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        ChunkedMap::new(self, f, items.into_iter(), options)
    }

    /// Python's `list(executor.map(fn, iterable))`, eagerly, as rayon's
    /// `par_iter().map(f).collect::<Vec<_>>()`: `f` applied to every item
    /// on the pool, the results in input order, or the first error.
    ///
    /// The results are written in place into the returned `Vec` by chunks
    /// of items (a few per worker, at most 4096 items each), so no result
    /// is handed over one at a time; the caller reads the input a few
    /// chunks ahead of the workers, so the input is never copied whole
    /// (see `collect.rs`). The calling thread runs chunks too: called
    /// from one of this pool's own jobs, it does not wait for workers that
    /// are busy. Differences from [`map`](Self::map):
    ///
    /// - eager: returns once every item is done, never an iterator (an
    ///   endless input never returns);
    /// - `f` and the items may borrow from the caller (no `'static`, as
    ///   [`scope`](Self::scope)), and `f` need only be `Sync`;
    /// - all or error: a panic in `f` returns [`Error::Panicked`]; the
    ///   results already made are dropped and chunks not yet started do
    ///   not run (Python's `list(...)` raises the first exception the same
    ///   way, but runs every submitted call). After
    ///   [`shutdown`](Self::shutdown) it fails as `map` does
    ///   ([`Error::ShutDown`]), unless the input is empty.
    ///
    /// An input whose `size_hint` is exact is read chunk by chunk while the
    /// first chunks run; any other is read into a `Vec` first.
    ///
    /// ```
    /// use gilfree::futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::builder().max_workers(2).build().unwrap();
    /// let offset = 10; // borrowed, not moved
    /// let v = pool.map_collect(|x: u64| x * x + offset, 0..1000).unwrap();
    /// assert_eq!(v[3], 19);
    /// assert_eq!(v.len(), 1000);
    /// let boom = pool.map_collect(|x: u64| if x == 7 { panic!("seven") } else { x }, 0..100);
    /// assert!(boom.is_err());
    /// ```
    pub fn map_collect<A, T, F, I>(&self, f: F, items: I) -> Result<Vec<T>, Error>
    where
        F: Fn(A) -> T + Sync,
        A: Send,
        T: Send,
        I: IntoIterator<Item = A>,
    {
        super::collect::map_collect(self, &f, items)
    }

    /// Run `f` with a [`Scope`] whose jobs may borrow from the caller's
    /// stack frame, as `std::thread::scope` does for threads: the scoped
    /// form of [`submit`](Self::submit) and [`map`](Self::map), which need
    /// `'static` closures. Returns what `f` returns, once every job
    /// submitted in the scope has run (or been cancelled and dropped) —
    /// also when `f` returns early or panics. A job's panic is its future's
    /// [`Error::Panicked`]. No Python equivalent (Python closures may
    /// always borrow).
    ///
    /// Do not call it from one of this pool's own jobs on a pool with no
    /// free worker: the scope would wait for jobs that cannot start
    /// ([`map_collect`](Self::map_collect) may be called there: its caller
    /// runs the chunks no worker took).
    ///
    /// ```
    /// use std::path::Path;
    /// use gilfree::futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new();
    /// let out_dir = Path::new("/tmp/results"); // borrowed by every job
    /// let names: Vec<String> = pool.scope(|s| {
    ///     let names = s.map(|n: u64| format!("{}/{n}.csv", out_dir.display()), 1..=3).unwrap();
    ///     names.map(Result::unwrap).collect()
    /// });
    /// assert_eq!(names, ["/tmp/results/1.csv", "/tmp/results/2.csv", "/tmp/results/3.csv"]);
    /// ```
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        super::scope::scope(self, f)
    }

    /// Python's `shutdown(wait=True, *, cancel_futures=False)`.
    ///
    /// Later submits fail with [`Error::ShutDown`]. With `cancel_futures`,
    /// jobs not yet started are cancelled. With `wait`, returns once every
    /// worker has finished its jobs and exited (a worker calling it does
    /// not wait for itself). Calling it again is harmless.
    ///
    /// ```
    /// use gilfree::futures::{Error, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let f = pool.submit(|| 1).unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result(), Ok(1));
    /// assert_eq!(pool.submit(|| 2).unwrap_err(), Error::ShutDown);
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        for job in self.shared.queue.close(Error::ShutDown, cancel_futures) {
            job.cancel();
        }
        if wait {
            let handles = core::mem::take(&mut *self.shared.threads.acquire());
            let me = std::thread::current().id();
            for h in handles {
                if h.thread().id() != me {
                    let _ = h.join();
                }
            }
        }
    }

    /// Jobs submitted and not yet taken by a worker (a snapshot; Python's
    /// `_work_queue.qsize()`).
    ///
    /// ```
    /// let pool = gilfree::futures::ThreadPoolExecutor::new();
    /// assert_eq!(pool.pending(), 0);
    /// ```
    pub fn pending(&self) -> usize {
        self.shared.queue.len()
    }
}

impl<F, T> Executor<F> for ThreadPoolExecutor
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn submit(&self, job: F) -> Result<Future<T>, Error> {
        ThreadPoolExecutor::submit(self, job)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ThreadPoolExecutor::shutdown(self, wait, cancel_futures)
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
        if trace::on() {
            // `GILFREE_TRACE`'s file is written as each pool goes.
            let _ = trace::flush();
        }
    }
}
