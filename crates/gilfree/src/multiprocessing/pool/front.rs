//! `Pool` and `AsyncResult`: Python's `multiprocessing.Pool` API on the
//! pool core.
//!
//! A one-argument task's call is encoded as the argument itself: postcard
//! encodes a tuple as its fields in order, so `(a,)` and `a` are the same
//! bytes (checked by a unit test below). That is how `map` feeds
//! `Task<(A,), R>` from items of `A` without building tuples.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::core::{Config, Core, Failure, Sink};
use super::imap::IMap;
use super::wire::{Calls, Outcomes};
use super::{decode_outcome, default_chunksize};
use crate::multiprocessing::error::{Error, Result};
use crate::multiprocessing::info::process_cpu_count;
use crate::multiprocessing::method::{StartMethod, get_start_method};
use crate::multiprocessing::task::Task;
use crate::sys::spin::{SOCKET_READ, Spin};
use crate::threading::{Event, Lock};

// ---------------------------------------------------------------------------
// AsyncResult.

struct Slot<T> {
    value: Option<Result<T>>,
    ok: Option<bool>,
}

struct Shared<T> {
    slot: Lock<Slot<T>>,
    ready: Event,
}

/// Python's `multiprocessing.pool.AsyncResult` (and `MapResult`): the
/// result of [`Pool::apply_async`], [`Pool::map_async`] or
/// [`Pool::starmap_async`].
///
/// Difference from Python: [`get`](AsyncResult::get) *takes* the value (a
/// second call is [`Error::Value`]); [`successful`](AsyncResult::successful)
/// keeps answering.
///
/// ```no_run
/// use gilfree::multiprocessing::Pool;
/// #[gilfree::task]
/// fn add(a: i32, b: i32) -> i32 { a + b }
/// gilfree::multiprocessing::init();
/// let pool = Pool::new(2).unwrap();
/// let r = pool.apply_async(add::TASK, (2, 3)).unwrap();
/// r.wait();
/// assert!(r.ready() && r.successful().unwrap());
/// assert_eq!(r.get().unwrap(), 5);
/// ```
pub struct AsyncResult<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        AsyncResult {
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

impl<T> AsyncResult<T> {
    fn new() -> Self {
        AsyncResult {
            shared: Arc::new(Shared {
                slot: Lock::new(Slot {
                    value: None,
                    ok: None,
                }),
                ready: Event::new(),
            }),
        }
    }

    /// Store the outcome, run the callback, then wake the waiters (as
    /// Python's `_set`: a `get()` returns after the callback ran). A
    /// callback that panics is reported on stderr; the result is stored
    /// all the same.
    fn set(&self, r: Result<T>, cb: Callbacks<T>) {
        let run = || match &r {
            Ok(v) => {
                if let Some(f) = cb.callback {
                    f(v)
                }
            }
            Err(e) => {
                if let Some(f) = cb.error_callback {
                    f(e)
                }
            }
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_err() {
            eprintln!("gilfree pool: a callback panicked");
        }
        {
            let mut s = self.shared.slot.acquire();
            s.ok = Some(r.is_ok());
            s.value = Some(r);
        }
        self.shared.ready.set();
    }

    /// Python's `ready()`: whether the call has completed.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// r.wait();
    /// assert!(r.ready());
    /// ```
    pub fn ready(&self) -> bool {
        self.shared.ready.is_set()
    }

    /// Python's `successful()`: whether the call completed without an
    /// error; [`Error::Value`] if it is not ready yet.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// r.wait();
    /// assert!(r.successful().unwrap());
    /// ```
    pub fn successful(&self) -> Result<bool> {
        self.shared
            .slot
            .acquire()
            .ok
            .ok_or_else(|| Error::Value(format!("{self:?} not ready")))
    }

    /// Python's `wait()`: block until the call has completed.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// r.wait();
    /// ```
    pub fn wait(&self) {
        // A reply due soon is looked for before the thread sleeps (see
        // the supervisor's wait).
        let mut spin = Spin::new(&SOCKET_READ);
        while !self.shared.ready.is_set() {
            if !spin.next() {
                return self.shared.ready.wait();
            }
        }
    }

    /// Python's `wait(timeout)`: block up to `timeout`; returns whether the
    /// call has completed (Python returns `None`; call `ready()`).
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// while !r.wait_timeout(std::time::Duration::from_millis(10)) {}
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.shared.ready.wait_timeout(timeout)
    }

    /// Python's `get()`: wait, then the value, or the call's error (a
    /// panic, [`Error::WorkerDied`], a result that did not decode, ...).
    /// Takes the value.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// assert_eq!(r.get().unwrap(), 1);
    /// assert!(r.get().is_err()); // taken
    /// ```
    pub fn get(&self) -> Result<T> {
        self.wait();
        self.take()
    }

    /// Python's `get(timeout)`: as [`get`](Self::get), or
    /// [`Error::Timeout`] if the call has not completed within `timeout`
    /// (it goes on; ask again later).
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// assert_eq!(r.get_timeout(std::time::Duration::from_secs(60)).unwrap(), 1);
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        if !self.wait_timeout(timeout) {
            return Err(Error::Timeout);
        }
        self.take()
    }

    fn take(&self) -> Result<T> {
        self.shared
            .slot
            .acquire()
            .value
            .take()
            .unwrap_or_else(|| Err(Error::Value("the result was already taken".into())))
    }
}

/// Python's `callback=` and `error_callback=` of the `*_async` methods.
///
/// They run on the pool's supervisor thread when the result arrives,
/// before [`AsyncResult::get`] returns it, as Python runs them on its
/// result-handler thread; they should return quickly (and not wait for
/// the pool).
///
/// ```no_run
/// use std::sync::mpsc;
/// use gilfree::multiprocessing::{Callbacks, Pool};
/// #[gilfree::task]
/// fn double(x: u32) -> u32 { x * 2 }
/// let pool = Pool::new(1).unwrap();
/// let (tx, rx) = mpsc::channel();
/// let r = pool
///     .apply_async_with(double::TASK, (21,), Callbacks::new().callback(move |v: &u32| tx.send(*v).unwrap()))
///     .unwrap();
/// assert_eq!(rx.recv().unwrap(), 42);
/// ```
pub struct Callbacks<T> {
    callback: Option<OnValue<T>>,
    error_callback: Option<OnError>,
}

type OnValue<T> = Box<dyn FnOnce(&T) + Send>;
type OnError = Box<dyn FnOnce(&Error) + Send>;

impl<T> Default for Callbacks<T> {
    fn default() -> Self {
        Callbacks {
            callback: None,
            error_callback: None,
        }
    }
}

impl<T> fmt::Debug for Callbacks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("callback", &self.callback.is_some())
            .field("error_callback", &self.error_callback.is_some())
            .finish()
    }
}

impl<T> Callbacks<T> {
    /// No callbacks.
    ///
    /// ```
    /// let _c = gilfree::multiprocessing::Callbacks::<u8>::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Python's `callback=`: called with the value on success.
    ///
    /// ```
    /// let _c = gilfree::multiprocessing::Callbacks::new().callback(|v: &u8| println!("{v}"));
    /// ```
    pub fn callback(mut self, f: impl FnOnce(&T) + Send + 'static) -> Self {
        self.callback = Some(Box::new(f));
        self
    }

    /// Python's `error_callback=`: called with the error on failure.
    ///
    /// ```
    /// let _c = gilfree::multiprocessing::Callbacks::<u8>::new().error_callback(|e| eprintln!("{e}"));
    /// ```
    pub fn error_callback(mut self, f: impl FnOnce(&Error) + Send + 'static) -> Self {
        self.error_callback = Some(Box::new(f));
        self
    }
}

// ---------------------------------------------------------------------------
// Sinks: where a batch's outcomes go.

/// One call: `apply_async`.
struct ApplySink<R> {
    task: &'static str,
    result: AsyncResult<R>,
    cb: Callbacks<R>,
}

impl<R: DeserializeOwned + Send> Sink for ApplySink<R> {
    fn done(self: Box<Self>, r: std::result::Result<Outcomes<'_>, Failure>) {
        let v = match r {
            Ok(mut o) if o.items.len() == 1 => decode_outcome(self.task, o.items.remove(0)),
            Ok(_) => Err(Error::Value(
                "a reply with the wrong number of results".into(),
            )),
            Err(f) => Err(f.into()),
        };
        self.result.set(v, self.cb);
    }
}

/// The state of one `map_async`, shared by its chunks' sinks. The first
/// failure completes the map (as Python's `MapResult`); later chunks are
/// ignored.
struct MapState<R> {
    values: Vec<Option<R>>,
    left: usize,
    cb: Option<Callbacks<Vec<R>>>,
}

struct MapSink<R> {
    task: &'static str,
    offset: usize,
    state: Arc<Lock<MapState<R>>>,
    result: AsyncResult<Vec<R>>,
}

impl<R: DeserializeOwned + Send> Sink for MapSink<R> {
    fn done(self: Box<Self>, r: std::result::Result<Outcomes<'_>, Failure>) {
        let decoded: Result<Vec<R>> = match r {
            Ok(o) => o
                .items
                .into_iter()
                .map(|x| decode_outcome(self.task, x))
                .collect(),
            Err(f) => Err(f.into()),
        };
        let finish = {
            let mut st = self.state.acquire();
            if st.cb.is_none() {
                return; // the map already failed
            }
            match decoded {
                Err(e) => Some(Err(e)),
                Ok(vs) => {
                    let n = vs.len();
                    for (i, v) in vs.into_iter().enumerate() {
                        st.values[self.offset + i] = Some(v);
                    }
                    st.left -= n.min(st.left);
                    (st.left == 0).then(|| {
                        st.values
                            .drain(..)
                            .collect::<Option<Vec<R>>>()
                            .ok_or_else(|| Error::Value("a map result went missing".into()))
                    })
                }
            }
            .map(|r| (r, st.cb.take().unwrap_or_default()))
        };
        if let Some((r, cb)) = finish {
            self.result.set(r, cb);
        }
    }
}

// ---------------------------------------------------------------------------
// Pool.

/// Python's `multiprocessing.Pool(processes, initializer, initargs,
/// maxtasksperchild, context)`: made by [`Pool::builder`].
///
/// ```no_run
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
    /// ```no_run
    /// let pool = gilfree::multiprocessing::Pool::builder().processes(2).build().unwrap();
    /// assert_eq!(pool.processes(), 2);
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
/// SIGKILL, an `exit()` in a task) fails only the calls it held, with
/// [`Error::WorkerDied`] naming its signal or exit code; it is replaced and
/// the pool goes on (Python's `Pool` hangs forever, gh-66587). Calls are
/// tasks (`#[gilfree::task]`) with serde arguments; `map` takes the items
/// of a one-argument task, `starmap` the argument tuples of any task.
///
/// Dropping the pool terminates it, as Python's `with Pool() as p:`
/// does on exit: call [`close`](Pool::close) and [`join`](Pool::join) first
/// to let queued work finish.
///
/// ```no_run
/// use gilfree::multiprocessing::Pool;
///
/// #[gilfree::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     gilfree::multiprocessing::init();
///     let pool = Pool::new(4).unwrap();
///     let squares = pool.map(square::TASK, 0..100u64, None).unwrap();
///     assert_eq!(squares[9], 81);
///     pool.close();
///     pool.join().unwrap();
/// }
/// ```
pub struct Pool {
    core: Arc<Core>,
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
    /// ```no_run
    /// let pool = gilfree::multiprocessing::Pool::new(2).unwrap();
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
    /// ```no_run
    /// assert_eq!(gilfree::multiprocessing::Pool::new(3).unwrap().processes(), 3);
    /// ```
    pub fn processes(&self) -> usize {
        self.core.processes()
    }

    /// The pids of the live workers. No Python equivalent (Python's
    /// private `_pool`); shows recycling and replacement.
    ///
    /// ```no_run
    /// let pool = gilfree::multiprocessing::Pool::new(2).unwrap();
    /// assert_eq!(pool.worker_pids().len(), 2);
    /// ```
    pub fn worker_pids(&self) -> Vec<i32> {
        self.core.pids()
    }

    /// How many workers this pool has started, replacements included. No
    /// Python equivalent.
    ///
    /// ```no_run
    /// let pool = gilfree::multiprocessing::Pool::new(2).unwrap();
    /// assert_eq!(pool.workers_started(), 2);
    /// ```
    pub fn workers_started(&self) -> usize {
        self.core.workers_started()
    }

    /// Python's `apply(func, args)`: run one call and wait for its result.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = Pool::new(1).unwrap();
    /// assert_eq!(pool.apply(add::TASK, (1, 2)).unwrap(), 3);
    /// ```
    pub fn apply<A, R>(&self, task: Task<A, R>, args: A) -> Result<R>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        self.apply_async(task, args)?.get()
    }

    /// Python's `apply_async(func, args)`.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(add::TASK, (1, 2)).unwrap();
    /// assert_eq!(r.get().unwrap(), 3);
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
    /// ```no_run
    /// # use gilfree::multiprocessing::{Callbacks, Pool};
    /// #[gilfree::task]
    /// fn fail() -> u8 { panic!("no") }
    /// let pool = Pool::new(1).unwrap();
    /// let r = pool
    ///     .apply_async_with(fail::TASK, (), Callbacks::new().error_callback(|e| eprintln!("{e}")))
    ///     .unwrap();
    /// assert!(r.get().is_err());
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
        self.core.submit(&calls, Box::new(sink))?;
        Ok(result)
    }

    /// Python's `map(func, iterable, chunksize)`: a one-argument task over
    /// every item, results in input order; the first failure is the
    /// error. `chunksize` `None` is Python's default,
    /// `ceil(len / (4 × processes))`.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let pool = Pool::new(2).unwrap();
    /// assert_eq!(pool.map(double::TASK, [1, 2, 3], None).unwrap(), [2, 4, 6]);
    /// ```
    pub fn map<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async(task, items, chunksize)?.get()
    }

    /// Python's `map_async(func, iterable, chunksize)`.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let pool = Pool::new(2).unwrap();
    /// let r = pool.map_async(double::TASK, 0..10, Some(3)).unwrap();
    /// assert_eq!(r.get().unwrap()[9], 18);
    /// ```
    pub fn map_async<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(task, items, chunksize, Callbacks::new())
    }

    /// Python's `map_async(func, iterable, chunksize, callback=,
    /// error_callback=)`: the callback gets the whole list.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::{Callbacks, Pool};
    /// #[gilfree::task]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let pool = Pool::new(2).unwrap();
    /// let cb = Callbacks::new().callback(|v: &Vec<u32>| assert_eq!(v.len(), 3));
    /// pool.map_async_with(double::TASK, [1, 2, 3], None, cb).unwrap().wait();
    /// ```
    pub fn map_async_with<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        // `(a,)` encodes as `a` (see the head comment).
        self.starmap_impl(task.name(), items, chunksize, callbacks)
    }

    /// Python's `starmap(func, iterable, chunksize)`: each item is a task's
    /// argument tuple.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = Pool::new(2).unwrap();
    /// assert_eq!(pool.starmap(add::TASK, [(1, 2), (3, 4)], None).unwrap(), [3, 7]);
    /// ```
    pub fn starmap<A, R, I>(
        &self,
        task: Task<A, R>,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.starmap_async(task, items, chunksize)?.get()
    }

    /// Python's `starmap_async(func, iterable, chunksize)`.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = Pool::new(2).unwrap();
    /// let r = pool.starmap_async(add::TASK, [(1, 2)], None).unwrap();
    /// assert_eq!(r.get().unwrap(), [3]);
    /// ```
    pub fn starmap_async<A, R, I>(
        &self,
        task: Task<A, R>,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.starmap_async_with(task, items, chunksize, Callbacks::new())
    }

    /// Python's `starmap_async(..., callback=, error_callback=)`.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::{Callbacks, Pool};
    /// #[gilfree::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = Pool::new(2).unwrap();
    /// let cb = Callbacks::new().callback(|v: &Vec<i32>| assert_eq!(v, &[3]));
    /// pool.starmap_async_with(add::TASK, [(1, 2)], None, cb).unwrap().wait();
    /// ```
    pub fn starmap_async_with<A, R, I>(
        &self,
        task: Task<A, R>,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.starmap_impl(task.name(), items, chunksize, callbacks)
    }

    fn starmap_impl<A, R, I>(
        &self,
        task: &'static str,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        if chunksize == Some(0) {
            return Err(Error::Value("Chunksize must be 1+, not 0".into()));
        }
        let items: Vec<A> = items.into_iter().collect();
        let result = AsyncResult::new();
        if items.is_empty() {
            result.set(Ok(Vec::new()), callbacks);
            return Ok(result);
        }
        let size = chunksize.unwrap_or_else(|| default_chunksize(items.len(), self.processes()));
        let state = Arc::new(Lock::new(MapState {
            values: (0..items.len()).map(|_| None).collect(),
            left: items.len(),
            cb: Some(callbacks),
        }));
        // Each chunk is sent as soon as it is encoded, so the workers start
        // while the rest is encoded.
        for (k, chunk) in items.chunks(size).enumerate() {
            let mut calls = Calls::new(task);
            let encoded = chunk.iter().try_for_each(|a| calls.push(a));
            let failed: Option<(Error, Error)> = match encoded {
                Err(reason) => {
                    let e = |reason: String| Error::Encode {
                        what: "task arguments",
                        reason,
                    };
                    Some((e(reason.clone()), e(reason)))
                }
                Ok(()) => {
                    let sink = MapSink {
                        task,
                        offset: k * size,
                        state: state.clone(),
                        result: result.clone(),
                    };
                    match self.core.submit(&calls, Box::new(sink)) {
                        Ok(()) => None,
                        Err(f) => Some((f.clone().into(), f.into())),
                    }
                }
            };
            if let Some((mine, theirs)) = failed {
                // The chunks already sent run; the map fails now.
                let cb = state.acquire().cb.take();
                if let Some(cb) = cb {
                    result.set(Err(theirs), cb);
                }
                return Err(mine);
            }
        }
        Ok(result)
    }

    /// Python's `imap(func, iterable, chunksize=1)`: results in input
    /// order, lazily; see [`IMap`]. `chunksize` `None` is 1.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let pool = Pool::new(2).unwrap();
    /// let v: Vec<u32> = pool.imap(double::TASK, 0..5, None).map(Result::unwrap).collect();
    /// assert_eq!(v, [0, 2, 4, 6, 8]);
    /// ```
    pub fn imap<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        chunksize: Option<usize>,
    ) -> IMap<A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.imap_impl(task.name(), items, chunksize, true)
    }

    /// Python's `imap_unordered(func, iterable, chunksize=1)`: results as
    /// they finish.
    ///
    /// ```no_run
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let pool = Pool::new(2).unwrap();
    /// let mut v: Vec<u32> = pool.imap_unordered(double::TASK, 0..5, None).map(Result::unwrap).collect();
    /// v.sort();
    /// assert_eq!(v, [0, 2, 4, 6, 8]);
    /// ```
    pub fn imap_unordered<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        chunksize: Option<usize>,
    ) -> IMap<A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.imap_impl(task.name(), items, chunksize, false)
    }

    fn imap_impl<A, R, I>(
        &self,
        task: &'static str,
        items: I,
        chunksize: Option<usize>,
        ordered: bool,
    ) -> IMap<A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        IMap::new(
            self.core.clone(),
            task,
            items.into_iter(),
            chunksize.unwrap_or(1),
            ordered,
            2 * self.processes(),
        )
    }

    /// Python's `close()`: accept no more work; the workers exit when the
    /// work queued so far is done.
    ///
    /// ```no_run
    /// let pool = gilfree::multiprocessing::Pool::new(1).unwrap();
    /// pool.close();
    /// pool.join().unwrap();
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// Python's `terminate()`: stop the workers now (SIGTERM, then SIGKILL
    /// after a second). Calls they held or that were queued fail with
    /// [`Error::BrokenPool`] (Python leaves them pending forever).
    ///
    /// ```no_run
    /// let pool = gilfree::multiprocessing::Pool::new(1).unwrap();
    /// pool.terminate();
    /// ```
    pub fn terminate(&self) {
        self.core.terminate();
    }

    /// Python's `join()`: wait for the workers to exit, after
    /// [`close`](Self::close) or [`terminate`](Self::terminate) (else
    /// [`Error::Value`], as Python's `ValueError`).
    ///
    /// ```no_run
    /// let pool = gilfree::multiprocessing::Pool::new(1).unwrap();
    /// assert!(pool.join().is_err()); // still running
    /// pool.close();
    /// pool.join().unwrap();
    /// ```
    pub fn join(&self) -> Result<()> {
        if self.core.running() {
            return Err(Error::Value("Pool is still running".into()));
        }
        self.core.join();
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.core.terminate();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    #[test]
    fn a_one_tuple_encodes_as_its_field() {
        let a = (7u32, "x".to_string(), vec![1.5f64]);
        assert_eq!(
            postcard::to_allocvec(&(a.clone(),)).unwrap(),
            postcard::to_allocvec(&a).unwrap()
        );
    }
}
