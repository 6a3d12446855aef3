//! `ProcessPoolExecutor`: Python's `concurrent.futures.ProcessPoolExecutor`,
//! a front end of the multiprocessing pool core (`multiprocessing::pool`),
//! whose calls complete this module's [`Future`]s.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::Error;
use super::executor::{Executor, Job, MapOptions};
use super::future::Future;
use super::progress::Bar;
use crate::multiprocessing::pool::core::{Config, Core, Failure, Sink, Submit};
use crate::multiprocessing::pool::wire::{Calls, Outcomes};
use crate::multiprocessing::pool::{IMap, decode_outcome};
use crate::multiprocessing::{self as mp, StartMethod, Task};
use crate::sys::Deadline;

/// One call of a registered task: the [`Job`] a [`ProcessPoolExecutor`]
/// runs (Python's `submit(fn, *args)`, with `fn` a `#[gilfree::task]`).
///
/// ```
/// use gilfree::futures::Call;
/// #[gilfree::task]
/// fn add(a: i32, b: i32) -> i32 { a + b }
/// let _job = Call::new(add::TASK, (1, 2));
/// ```
pub struct Call<A, R> {
    task: Task<A, R>,
    args: A,
}

impl<A: fmt::Debug, R> fmt::Debug for Call<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("task", &self.task.name())
            .field("args", &self.args)
            .finish()
    }
}

impl<A, R> Call<A, R> {
    /// `task` called with `args` (its argument tuple).
    ///
    /// ```
    /// # #[gilfree::task] fn neg(x: i8) -> i8 { -x }
    /// let _c = gilfree::futures::Call::new(neg::TASK, (4,));
    /// ```
    pub fn new(task: Task<A, R>, args: A) -> Self {
        Call { task, args }
    }

    pub(crate) fn into_parts(self) -> (Task<A, R>, A) {
        (self.task, self.args)
    }
}

impl<A, R> Job for Call<A, R>
where
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    type Output = R;
}

/// A call's error, in this module's terms.
fn from_mp(e: mp::Error) -> Error {
    match e {
        mp::Error::Panicked(m) => Error::Panicked(m),
        mp::Error::WorkerDied { pid, exitcode } => Error::WorkerDied { pid, exitcode },
        mp::Error::BrokenPool(why) => Error::BrokenProcessPool(why),
        mp::Error::Timeout => Error::Timeout,
        other => Error::Process(other.to_string()),
    }
}

fn from_failure(f: Failure) -> Error {
    match f {
        Failure::Closed => Error::ShutDown,
        Failure::Broken(why) => Error::BrokenProcessPool(format!(
            "A process in the process pool failed, the process pool is not usable anymore ({why})"
        )),
        Failure::Terminated => Error::BrokenProcessPool("the pool was terminated".into()),
        f => from_mp(f.into()),
    }
}

/// `submit(task, args)` on any batch taker: one call, one future. The
/// process pool's and the cluster's `submit`.
pub(crate) fn submit_call<A, R>(
    target: &dyn Submit,
    task: Task<A, R>,
    args: A,
) -> Result<Future<R>, Error>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    let mut calls = Calls::new(task.name());
    calls
        .push(&args)
        .map_err(|e| Error::Process(format!("cannot encode task arguments: {e}")))?;
    let future = Future::new();
    let sink = FutureSink {
        task: task.name(),
        future: future.clone(),
    };
    target
        .submit(&calls, Box::new(sink))
        .map_err(from_failure)?;
    Ok(future)
}

/// `map(task, items, options)` on any batch taker: the process pool's and
/// the cluster's `map`.
pub(crate) fn map_on<A, R, I>(
    target: Arc<dyn Submit>,
    task: Task<(A,), R>,
    items: I,
    options: MapOptions,
) -> Result<ProcessMap<A, R, I::IntoIter>, Error>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: IntoIterator<Item = A>,
{
    if options.chunksize == Some(0) {
        return Err(Error::Value("chunksize must be >= 1."));
    }
    if options.buffersize == Some(0) {
        return Err(Error::Value("buffersize must be None or > 0."));
    }
    let deadline = options.timeout.map_or(Deadline::Never, Deadline::after);
    let items = items.into_iter();
    #[cfg(feature = "progress")]
    let len = match items.size_hint() {
        (lo, Some(hi)) if lo == hi => Some(lo as u64),
        _ => None,
    };
    // `(a,)` encodes as `a`: the items are the calls' arguments.
    let mut inner = IMap::new(
        target,
        task.name(),
        items,
        options.chunksize.unwrap_or(1),
        true,
        options.buffersize.unwrap_or(usize::MAX),
    );
    inner.start().map_err(from_mp)?;
    Ok(ProcessMap {
        inner,
        deadline,
        finished: false,
        #[cfg(feature = "progress")]
        bar: Bar::new(options.progress, len),
        #[cfg(not(feature = "progress"))]
        bar: None,
    })
}

/// Completes one future with one call's outcome.
struct FutureSink<R> {
    task: &'static str,
    future: Future<R>,
}

impl<R: DeserializeOwned + Send + 'static> Sink for FutureSink<R> {
    fn start(&mut self) -> bool {
        self.future.set_running_or_notify_cancel() == Ok(true)
    }

    fn cancel(self: Box<Self>) {
        self.future.cancel();
    }

    fn done(self: Box<Self>, r: Result<Outcomes<'_>, Failure>) {
        let out = match r {
            Ok(o) => match o.single() {
                Some(x) => decode_outcome(self.task, x).map_err(from_mp),
                None => Err(Error::Process(
                    "a reply with the wrong number of results".into(),
                )),
            },
            Err(f) => Err(from_failure(f)),
        };
        let _ = match out {
            Ok(v) => self.future.set_result(v),
            Err(e) => self.future.set_exception(e),
        };
    }
}

/// Configures a [`ProcessPoolExecutor`]: Python's constructor keywords
/// `max_workers`, `mp_context` (a start method here), `initializer` +
/// `initargs` (a task and its arguments), `max_tasks_per_child`.
///
/// ```
/// # #[gilfree::main] fn main() {
/// use gilfree::futures::ProcessPoolExecutor;
/// use gilfree::multiprocessing::StartMethod;
/// #[gilfree::task]
/// fn setup() {}
/// let pool = ProcessPoolExecutor::builder()
///     .max_workers(2)
///     .start_method(StartMethod::Spawn)
///     .initializer(setup::TASK, ())
///     .max_tasks_per_child(100)
///     .build()
///     .unwrap();
/// # }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct ProcessPoolBuilder {
    max_workers: Option<usize>,
    method: Option<StartMethod>,
    initializer: Option<(&'static str, Result<Vec<u8>, String>)>,
    max_tasks_per_child: Option<usize>,
}

impl ProcessPoolBuilder {
    /// Python's `max_workers` (default
    /// [`process_cpu_count`](crate::multiprocessing::process_cpu_count)).
    ///
    /// ```
    /// let _b = gilfree::futures::ProcessPoolExecutor::builder().max_workers(2);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Python's `mp_context`: how workers start (default: the global start
    /// method).
    ///
    /// ```
    /// use gilfree::multiprocessing::StartMethod;
    /// let _b = gilfree::futures::ProcessPoolExecutor::builder().start_method(StartMethod::Fork);
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Python's `initializer`, `initargs`: a task each worker runs first.
    /// If it fails, the pool is broken ([`Error::BrokenProcessPool`]), as
    /// in Python.
    ///
    /// ```
    /// # #[gilfree::task] fn init(level: u8) {}
    /// let _b = gilfree::futures::ProcessPoolExecutor::builder().initializer(init::TASK, (2,));
    /// ```
    pub fn initializer<A: Serialize, R>(mut self, task: Task<A, R>, args: A) -> Self {
        let bytes = postcard::to_allocvec(&args).map_err(|e| e.to_string());
        self.initializer = Some((task.name(), bytes));
        self
    }

    /// Python's `max_tasks_per_child`: a worker that has run this many
    /// calls (a `map` chunk is one) exits and is replaced.
    ///
    /// ```
    /// let _b = gilfree::futures::ProcessPoolExecutor::builder().max_tasks_per_child(10);
    /// ```
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Start the pool: its workers are started when this returns.
    /// [`Error::Value`] for 0 workers or tasks per child;
    /// [`Error::BrokenProcessPool`] if a worker cannot start.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::futures::ProcessPoolExecutor::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// # }
    /// ```
    pub fn build(self) -> Result<ProcessPoolExecutor, Error> {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        if self.max_workers == Some(0) {
            return Err(Error::Value("max_workers must be greater than 0"));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(Error::Value("max_tasks_per_child must be >= 1"));
        }
        let initializer = match self.initializer {
            None => None,
            Some((name, Ok(bytes))) => Some((name, bytes)),
            Some((_, Err(e))) => {
                return Err(Error::Process(format!("cannot encode initargs: {e}")));
            }
        };
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let core = Core::start(Config {
            processes: self
                .max_workers
                .unwrap_or_else(crate::multiprocessing::process_cpu_count),
            method: self.method.unwrap_or_else(mp::get_start_method),
            initializer,
            max_tasks: self.max_tasks_per_child,
            name: format!("ProcessPoolExecutor-{n}"),
        })
        .map_err(|e| Error::BrokenProcessPool(e.to_string()))?;
        Ok(ProcessPoolExecutor { core })
    }
}

/// Python's `concurrent.futures.ProcessPoolExecutor`: worker processes
/// running task calls, handing back [`Future`]s.
///
/// Calls are tasks (`#[gilfree::task]`) with serde arguments: the pool
/// implements [`Executor`]`<`[`Call`]`<A, R>>`, so code written against
/// `Executor<J>` runs on a thread pool or this one. [`wait`](super::wait())
/// and [`as_completed`](super::as_completed) work on its futures.
///
/// Differences from Python: a worker that dies (SIGKILL, a crash, `exit()`)
/// fails only the call it ran, with [`Error::WorkerDied`] naming its signal
/// or exit code, and is replaced (Python breaks the whole pool with
/// `BrokenProcessPool`); the workers all start with the pool. Dropping the
/// pool is `shutdown(wait=True)`, as Python's `with` block.
///
/// ```
/// use gilfree::futures::{as_completed, ProcessPoolExecutor};
///
/// #[gilfree::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// #[gilfree::main]
/// fn main() {
///     let pool = ProcessPoolExecutor::builder().max_workers(2).build().unwrap();
///     let fs: Vec<_> = (0..4).map(|i| pool.submit(square::TASK, (i,)).unwrap()).collect();
///     let total: u64 = as_completed(&fs, None).map(|f| f.unwrap().result().unwrap()).sum();
///     assert_eq!(total, 0 + 1 + 4 + 9);
/// }
/// ```
pub struct ProcessPoolExecutor {
    core: Arc<Core>,
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.core.processes())
            .finish()
    }
}

impl ProcessPoolExecutor {
    /// A pool with Python's defaults: `ProcessPoolExecutor()`.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::futures::ProcessPoolExecutor::new().unwrap();
    /// assert!(pool.max_workers() >= 1);
    /// # }
    /// ```
    pub fn new() -> Result<Self, Error> {
        ProcessPoolBuilder::default().build()
    }

    /// Configure a pool: see [`ProcessPoolBuilder`].
    ///
    /// ```
    /// let _b = gilfree::futures::ProcessPoolExecutor::builder().max_workers(3);
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

    /// Python's `_max_workers`.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::futures::ProcessPoolExecutor::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// # }
    /// ```
    pub fn max_workers(&self) -> usize {
        self.core.processes()
    }

    /// The live workers' pids. No Python equivalent (Python's private
    /// `_processes`).
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::futures::ProcessPoolExecutor::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.worker_pids().len(), 2);
    /// # }
    /// ```
    pub fn worker_pids(&self) -> Vec<i32> {
        self.core.pids()
    }

    /// Python's `submit(fn, *args)`: run `task(args)` in a worker.
    ///
    /// Fails with [`Error::ShutDown`] after `shutdown`, and
    /// [`Error::BrokenProcessPool`] once the pool is broken.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # #[gilfree::task] fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = gilfree::futures::ProcessPoolExecutor::builder().max_workers(1).build().unwrap();
    /// assert_eq!(pool.submit(add::TASK, (2, 3)).unwrap().result(), Ok(5));
    /// # }
    /// ```
    pub fn submit<A, R>(&self, task: Task<A, R>, args: A) -> Result<Future<R>, Error>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        submit_call(&*self.core, task, args)
    }

    /// Python's `map(fn, *iterables, timeout, chunksize, buffersize)` for
    /// a one-argument task: results in input order. Items travel in chunks
    /// of `options.chunksize`; with `options.buffersize`, at most that many
    /// chunks are in flight and the input is read lazily (an endless input
    /// works), else the whole input is submitted now. The timeout counts
    /// from this call. The first error (a failed call, the timeout) is the
    /// last item.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// use gilfree::futures::{MapOptions, ProcessPoolExecutor};
    /// # #[gilfree::task] fn double(x: u32) -> u32 { x * 2 }
    /// let pool = ProcessPoolExecutor::builder().max_workers(2).build().unwrap();
    /// let v: Vec<u32> = pool
    ///     .map(double::TASK, 0.., MapOptions::new().chunksize(16).buffersize(4))
    ///     .unwrap()
    ///     .take(100)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(v[99], 198);
    /// # }
    /// ```
    pub fn map<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        options: MapOptions,
    ) -> Result<ProcessMap<A, R, I::IntoIter>, Error>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        map_on(self.core.clone(), task, items, options)
    }

    /// Python's `shutdown(wait=True, *, cancel_futures=False)`: refuse new
    /// calls; with `cancel_futures`, cancel the calls not yet sent to a
    /// worker; with `wait`, return once every call sent has finished and
    /// the workers have exited. Calling it again is harmless.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// use gilfree::futures::{Error, ProcessPoolExecutor};
    /// let pool = ProcessPoolExecutor::builder().max_workers(1).build().unwrap();
    /// let f = pool.submit(one::TASK, ()).unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result(), Ok(1));
    /// assert_eq!(pool.submit(one::TASK, ()).unwrap_err(), Error::ShutDown);
    /// # }
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.core.close();
        if cancel_futures {
            self.core.cancel_pending();
        }
        if wait {
            self.core.join();
        }
    }
}

impl ProcessPoolExecutor {
    /// Python 3.14's `terminate_workers()`: stop every worker now with
    /// SIGTERM. As Python, it first shuts the pool down with
    /// `cancel_futures`: calls not yet sent are cancelled, new ones fail
    /// with [`Error::ShutDown`]; the calls the workers were running fail
    /// with [`Error::BrokenProcessPool`].
    ///
    /// Differences from Python: a worker still alive a second after
    /// SIGTERM gets SIGKILL, and this returns once every worker is gone
    /// (Python returns at once and does not escalate).
    ///
    /// ```
    /// # use gilfree::futures::{Error, ProcessPoolExecutor};
    /// #[gilfree::task]
    /// fn nap(forever: bool) -> u8 {
    ///     while forever {
    ///         std::thread::park();
    ///     }
    ///     1
    /// }
    ///
    /// #[gilfree::main]
    /// fn main() {
    ///     let pool = ProcessPoolExecutor::builder().max_workers(1).build().unwrap();
    ///     assert_eq!(pool.submit(nap::TASK, (false,)).unwrap().result(), Ok(1));
    ///     // The worker is idle: this call is sent at once, and runs forever.
    ///     let running = pool.submit(nap::TASK, (true,)).unwrap();
    ///     let queued = pool.submit(nap::TASK, (false,)).unwrap();
    ///     pool.terminate_workers();
    ///     assert!(queued.cancelled());
    ///     assert!(matches!(running.result(), Err(Error::BrokenProcessPool(_))));
    ///     assert!(pool.worker_pids().is_empty());
    /// }
    /// ```
    pub fn terminate_workers(&self) {
        self.force_shutdown(false);
    }

    /// Python 3.14's `kill_workers()`: as
    /// [`terminate_workers`](Self::terminate_workers), with SIGKILL (a
    /// worker cannot ignore it).
    ///
    /// ```
    /// # use gilfree::futures::{Error, ProcessPoolExecutor};
    /// #[gilfree::task]
    /// fn stubborn(forever: bool) -> u8 {
    ///     // SAFETY: ignoring SIGTERM in this worker only.
    ///     unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    ///     while forever {
    ///         std::thread::park();
    ///     }
    ///     1
    /// }
    ///
    /// #[gilfree::main]
    /// fn main() {
    ///     let pool = ProcessPoolExecutor::builder().max_workers(1).build().unwrap();
    ///     assert_eq!(pool.submit(stubborn::TASK, (false,)).unwrap().result(), Ok(1));
    ///     let running = pool.submit(stubborn::TASK, (true,)).unwrap();
    ///     pool.kill_workers();
    ///     assert!(matches!(running.result(), Err(Error::BrokenProcessPool(_))));
    ///     assert_eq!(pool.submit(stubborn::TASK, (false,)).unwrap_err(), Error::ShutDown);
    /// }
    /// ```
    pub fn kill_workers(&self) {
        self.force_shutdown(true);
    }

    /// `shutdown(wait=False, cancel_futures=True)`, then stop the workers.
    fn force_shutdown(&self, kill: bool) {
        self.shutdown(false, true);
        if kill {
            self.core.kill();
        } else {
            self.core.terminate();
        }
    }
}

impl<A, R> Executor<Call<A, R>> for ProcessPoolExecutor
where
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    fn submit(&self, job: Call<A, R>) -> Result<Future<R>, Error> {
        let (task, args) = job.into_parts();
        ProcessPoolExecutor::submit(self, task, args)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ProcessPoolExecutor::shutdown(self, wait, cancel_futures)
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

/// The iterator of [`ProcessPoolExecutor::map`] (and of the cluster
/// executor's `map`, feature `mpi`): results in input order; the first
/// error ends it.
///
/// ```
/// # #[gilfree::main] fn main() {
/// use gilfree::futures::{MapOptions, ProcessPoolExecutor};
/// # #[gilfree::task] fn inc(x: u8) -> u8 { x + 1 }
/// let pool = ProcessPoolExecutor::builder().max_workers(1).build().unwrap();
/// let v: Result<Vec<u8>, _> = pool.map(inc::TASK, [1, 2], MapOptions::new()).unwrap().collect();
/// assert_eq!(v, Ok(vec![2, 3]));
/// # }
/// ```
pub struct ProcessMap<A, R, I> {
    inner: IMap<A, R, I>,
    deadline: Deadline,
    finished: bool,
    bar: Option<Bar>,
}

impl<A, R, I> fmt::Debug for ProcessMap<A, R, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessMap")
            .field("inner", &self.inner)
            .field("finished", &self.finished)
            .finish()
    }
}

impl<A, R, I> Iterator for ProcessMap<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let r = match self.inner.next_deadline(self.deadline) {
            None => {
                self.finished = true;
                if let Some(b) = &self.bar {
                    b.finish();
                }
                return None;
            }
            Some(r) => r.map_err(from_mp),
        };
        if let Some(b) = &self.bar {
            b.inc();
        }
        if r.is_err() {
            self.finished = true;
        }
        Some(r)
    }
}
