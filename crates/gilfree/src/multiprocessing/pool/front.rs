//! `Pool` and `PoolBuilder`: Python's `multiprocessing.Pool` API on the
//! pool core: building a pool, `apply`, `close`, `terminate`, `join`. The
//! map family is in `map`; `AsyncResult` and `Callbacks` are in `result`.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::core::{Config, Core};
use super::result::{AsyncResult, Callbacks};
use super::sinks::ApplySink;
use super::wire::Calls;
use crate::multiprocessing::error::{Error, Result};
use crate::multiprocessing::info::process_cpu_count;
use crate::multiprocessing::method::{StartMethod, get_start_method};
use crate::multiprocessing::task::Task;

/// Python's `multiprocessing.Pool(processes, initializer, initargs,
/// maxtasksperchild, context)`: made by [`Pool::builder`].
///
/// ```
/// # #[gilfree::main] fn main() {
/// use gilfree::multiprocessing::{Pool, StartMethod};
/// #[gilfree::task]
/// fn setup(level: u8) { let _ = level; }
/// let pool = Pool::builder()
///     .processes(2)
///     .initializer(setup::TASK, (3,))
///     .maxtasksperchild(100)
///     .start_method(StartMethod::Spawn)
///     .build()
///     .unwrap();
/// # }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct PoolBuilder {
    processes: Option<usize>,
    method: Option<StartMethod>,
    initializer: Option<(&'static str, Result<Vec<u8>>)>,
    maxtasksperchild: Option<usize>,
}

impl PoolBuilder {
    /// Python's `processes`: the number of workers (default
    /// `process_cpu_count()`).
    ///
    /// ```
    /// let _b = gilfree::multiprocessing::Pool::builder().processes(4);
    /// ```
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Python's `context=`: how the workers start (default: the global
    /// start method).
    ///
    /// ```
    /// use gilfree::multiprocessing::{Pool, StartMethod};
    /// let _b = Pool::builder().start_method(StartMethod::Fork);
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Python's `initializer=`, `initargs=`: a task each worker runs before
    /// its first call. If it fails (panics) in any worker, the pool is
    /// broken: queued and later calls fail with [`Error::BrokenPool`]
    /// naming the failure (Python's `Pool` restarts such workers forever).
    ///
    /// ```
    /// # #[gilfree::task] fn init(n: u32) {}
    /// let _b = gilfree::multiprocessing::Pool::builder().initializer(init::TASK, (1,));
    /// ```
    pub fn initializer<A: Serialize, R>(mut self, task: Task<A, R>, args: A) -> Self {
        let bytes = postcard::to_allocvec(&args).map_err(|e| Error::Encode {
            what: "initializer arguments",
            reason: e.to_string(),
        });
        self.initializer = Some((task.name(), bytes));
        self
    }

    /// Python's `maxtasksperchild=`: a worker that has completed this many
    /// tasks (a `map` chunk is one task) exits and is replaced.
    ///
    /// ```
    /// let _b = gilfree::multiprocessing::Pool::builder().maxtasksperchild(10);
    /// ```
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.maxtasksperchild = Some(n);
        self
    }

    /// Start the pool: every worker is started (not yet initialised) when
    /// this returns. [`Error::Value`] for 0 processes or
    /// `maxtasksperchild`; [`Error::StartFailed`] if a worker cannot start.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::multiprocessing::Pool::builder().processes(2).build().unwrap();
    /// assert_eq!(pool.processes(), 2);
    /// # }
    /// ```
    pub fn build(self) -> Result<Pool> {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        if self.maxtasksperchild == Some(0) {
            return Err(Error::Value(
                "maxtasksperchild must be a positive int or None".into(),
            ));
        }
        let initializer = match self.initializer {
            None => None,
            Some((name, bytes)) => Some((name, bytes?)),
        };
        let method = self.method.unwrap_or_else(get_start_method);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let core = Core::start(Config {
            processes: self.processes.unwrap_or_else(process_cpu_count),
            method,
            initializer,
            max_tasks: self.maxtasksperchild,
            name: format!("Pool{n}-{method}PoolWorker"),
        })?;
        Ok(Pool { core })
    }
}

/// Python's `multiprocessing.Pool`: worker processes running task calls.
///
/// Each worker has its own channel, so a worker that dies (a crash, a
/// SIGKILL, an `exit()` in a task) fails only the calls it was running
/// (one call, or one chunk of a map), with [`Error::WorkerDied`] naming
/// its signal or exit code; a chunk already queued behind them in its
/// channel never started and runs on another worker. It is replaced and
/// the pool goes on (Python's `Pool` hangs forever, gh-66587). Calls are
/// tasks (`#[gilfree::task]`) with serde arguments; `map` takes the items
/// of a one-argument task, `starmap` the argument tuples of any task.
/// A [`Connection`](crate::multiprocessing::Connection) or
/// [`SharedMemory`](crate::multiprocessing::SharedMemory) in a call's
/// arguments or result travels as a descriptor (as Python pickles a
/// `Connection` with its handle), at most 16 per chunk each way.
///
/// Dropping the pool terminates it, as Python's `with Pool() as p:`
/// does on exit: call [`close`](Pool::close) and [`join`](Pool::join) first
/// to let queued work finish.
///
/// ```
/// use gilfree::multiprocessing::Pool;
///
/// #[gilfree::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// #[gilfree::main]
/// fn main() {
///     let pool = Pool::new(4).unwrap();
///     let squares = pool.map(square::TASK, 0..100u64, None).unwrap();
///     assert_eq!(squares[9], 81);
///     pool.close();
///     pool.join().unwrap();
/// }
/// ```
pub struct Pool {
    pub(super) core: Arc<Core>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.core.processes())
            .field("running", &self.core.running())
            .finish()
    }
}

impl Pool {
    /// Python's `Pool(processes)` with the other options at their defaults.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::multiprocessing::Pool::new(2).unwrap();
    /// # }
    /// ```
    pub fn new(processes: usize) -> Result<Pool> {
        PoolBuilder::default().processes(processes).build()
    }

    /// Configure a pool: see [`PoolBuilder`].
    ///
    /// ```
    /// let _b = gilfree::multiprocessing::Pool::builder().processes(2);
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// The number of workers (Python's `pool._processes`).
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// assert_eq!(gilfree::multiprocessing::Pool::new(3).unwrap().processes(), 3);
    /// # }
    /// ```
    pub fn processes(&self) -> usize {
        self.core.processes()
    }

    /// The pids of the live workers. No Python equivalent (Python's
    /// private `_pool`); shows recycling and replacement.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::multiprocessing::Pool::new(2).unwrap();
    /// assert_eq!(pool.worker_pids().len(), 2);
    /// # }
    /// ```
    pub fn worker_pids(&self) -> Vec<i32> {
        self.core.pids()
    }

    /// How many workers this pool has started, replacements included. No
    /// Python equivalent.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::multiprocessing::Pool::new(2).unwrap();
    /// assert_eq!(pool.workers_started(), 2);
    /// # }
    /// ```
    pub fn workers_started(&self) -> usize {
        self.core.workers_started()
    }

    /// Python's `apply(func, args)`: run one call and wait for its result.
    ///
    /// When a worker is idle, this thread sends the call to it and reads
    /// the reply itself (no hop through the pool's supervisor thread): the
    /// round trip is about a pipe's. Otherwise the call is queued, as
    /// [`apply_async`](Self::apply_async) does.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = Pool::new(1).unwrap();
    /// assert_eq!(pool.apply(add::TASK, (1, 2)).unwrap(), 3);
    /// # }
    /// ```
    pub fn apply<A, R>(&self, task: Task<A, R>, args: A) -> Result<R>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        // The caller waits anyway: it reads the reply itself when a worker
        // is idle (no hop through the supervisor thread).
        let (calls, result, sink) = call(task, args, Callbacks::new())?;
        self.core.call_direct(&calls, Box::new(sink))?;
        // The arguments' descriptors are sent: close ours before waiting
        // (a worker forked meanwhile would inherit them).
        drop(calls);
        result.get()
    }

    /// Python's `apply_async(func, args)`.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(add::TASK, (1, 2)).unwrap();
    /// assert_eq!(r.get().unwrap(), 3);
    /// # }
    /// ```
    pub fn apply_async<A, R>(&self, task: Task<A, R>, args: A) -> Result<AsyncResult<R>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        self.apply_async_with(task, args, Callbacks::new())
    }

    /// Python's `apply_async(func, args, callback=, error_callback=)`.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::{Callbacks, Pool};
    /// #[gilfree::task]
    /// fn fail() -> u8 { panic!("no") }
    /// let pool = Pool::new(1).unwrap();
    /// let r = pool
    ///     .apply_async_with(fail::TASK, (), Callbacks::new().error_callback(|e| eprintln!("{e}")))
    ///     .unwrap();
    /// assert!(r.get().is_err());
    /// # }
    /// ```
    pub fn apply_async_with<A, R>(
        &self,
        task: Task<A, R>,
        args: A,
        callbacks: Callbacks<R>,
    ) -> Result<AsyncResult<R>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let (calls, result, sink) = call(task, args, callbacks)?;
        self.core.submit(&calls, Box::new(sink))?;
        Ok(result)
    }

    /// Python's `close()`: accept no more work; the workers exit when the
    /// work queued so far is done.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::multiprocessing::Pool::new(1).unwrap();
    /// pool.close();
    /// pool.join().unwrap();
    /// # }
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// Python's `terminate()`: stop the workers now (SIGTERM, then SIGKILL
    /// after a second). Calls they held or that were queued fail with
    /// [`Error::BrokenPool`] (Python leaves them pending forever).
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::multiprocessing::Pool::new(1).unwrap();
    /// pool.terminate();
    /// # }
    /// ```
    pub fn terminate(&self) {
        self.core.terminate();
    }

    /// Python's `join()`: wait for the workers to exit, after
    /// [`close`](Self::close) or [`terminate`](Self::terminate) (else
    /// [`Error::Value`], as Python's `ValueError`).
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// let pool = gilfree::multiprocessing::Pool::new(1).unwrap();
    /// assert!(pool.join().is_err()); // still running
    /// pool.close();
    /// pool.join().unwrap();
    /// # }
    /// ```
    pub fn join(&self) -> Result<()> {
        if self.core.running() {
            return Err(Error::Value("Pool is still running".into()));
        }
        self.core.join();
        Ok(())
    }
}

/// One call of `task`, encoded, with the result it will complete.
fn call<A, R>(
    task: Task<A, R>,
    args: A,
    callbacks: Callbacks<R>,
) -> Result<(Calls, AsyncResult<R>, ApplySink<R>)>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    let mut calls = Calls::new(task.name());
    calls.push(&args).map_err(|e| Error::Encode {
        what: "task arguments",
        reason: e,
    })?;
    let result = AsyncResult::new();
    let sink = ApplySink {
        task: task.name(),
        result: result.clone(),
        cb: callbacks,
    };
    Ok((calls, result, sink))
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.core.terminate();
    }
}
