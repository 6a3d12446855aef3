//! # gilfree
//!
//! Python's concurrency toolkit — `threading`, `queue`,
//! `concurrent.futures`, `multiprocessing` — in Rust, with the semantics a
//! Python programmer knows and the speed a Rust programmer expects.
//!
//! ## From Python to gilfree
//!
//! | Python | gilfree |
//! |---|---|
//! | `threading.Lock` | [`threading::Lock`] |
//! | `threading.RLock` | [`threading::RLock`] |
//! | `threading.Condition` | [`threading::Condition`] |
//! | `threading.Barrier` | [`threading::Barrier`] |
//! | `threading.Semaphore` | [`threading::Semaphore`] |
//! | `threading.BoundedSemaphore` | [`threading::BoundedSemaphore`] |
//! | `threading.Event` | [`threading::Event`] |
//! | `threading.Timer` | [`threading::Timer`] |
//! | `threading.local` | [`threading::Local`] |
//! | `threading.Thread`, `current_thread()`, `enumerate()`, `excepthook` | [`threading::Thread`], [`threading::current_thread`], [`threading::enumerate`], [`threading::set_excepthook`] |
//! | waiting for non-daemon threads at exit | [`threading::main`] / [`threading::exit_guard`] |
//! | `concurrent.futures.Future` | [`futures::Future`] |
//! | `concurrent.futures.Executor` | [`futures::Executor`] |
//! | `concurrent.futures.ThreadPoolExecutor` | [`futures::ThreadPoolExecutor`] |
//! | `concurrent.futures.wait`, `as_completed` | [`futures::wait()`], [`futures::as_completed`] |
//! | `queue.Queue` | [`queue::Queue`] |
//! | `queue.LifoQueue` | [`queue::LifoQueue`] |
//! | `queue.PriorityQueue` | [`queue::PriorityQueue`] |
//! | `queue.SimpleQueue` | [`queue::SimpleQueue`] |
//! | `queue.Empty` / `Full` / `ShutDown` | [`queue::GetError`], [`queue::PutError`] |
//! | `multiprocessing.Process` | [`multiprocessing::Process`] + [`task`] |
//! | `multiprocessing.set_start_method`, `get_context` | [`multiprocessing::set_start_method`], [`multiprocessing::get_context`] |
//! | `multiprocessing.Pipe`, `Connection` | [`multiprocessing::Pipe`], [`multiprocessing::Connection`] |
//! | `multiprocessing.connection.Listener`, `Client` | [`multiprocessing::Listener`], [`multiprocessing::Client`] |
//! | `multiprocessing.current_process`, `active_children`, `cpu_count` | [`multiprocessing::current_process`], [`multiprocessing::active_children`], [`multiprocessing::cpu_count`] |
//! | `multiprocessing.connection.wait` | [`multiprocessing::connection::wait`] |
//! | `multiprocessing.Pool` | [`multiprocessing::Pool`], [`multiprocessing::AsyncResult`] |
//! | `concurrent.futures.ProcessPoolExecutor` | [`futures::ProcessPoolExecutor`] |
//! | `mpi4py.futures.MPIPoolExecutor` | `cluster::MpiPoolExecutor` (feature `mpi`) |
//! | `multiprocessing.shared_memory.SharedMemory` | [`multiprocessing::SharedMemory`] |
//! | `multiprocessing.Value`, `Array`, `RawValue`, `RawArray` | [`multiprocessing::Value`], [`multiprocessing::Array`], [`multiprocessing::RawValue`], [`multiprocessing::RawArray`] |
//! | `multiprocessing.Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`, `Barrier` | [`multiprocessing::Lock`], [`multiprocessing::RLock`], [`multiprocessing::Semaphore`], [`multiprocessing::BoundedSemaphore`], [`multiprocessing::Event`], [`multiprocessing::Condition`], [`multiprocessing::Barrier`] (a dead holder's lock is handed on, `owner_died()`) |
//! | `multiprocessing.Manager()`, `managers.BaseManager` | [`multiprocessing::Manager`] |
//! | `asyncio.Lock`, `Semaphore`, `Event`, `Condition`; an async `RLock` | `acquire_async` / `wait_async` on the threading types (an `RLock`'s with a [`threading::TaskOwner`]); on `multiprocessing`'s `Lock`, `RLock` (with a `TaskOwner` too), `Semaphore`, `BoundedSemaphore`, `Event`, `Barrier`, `Condition` too, and `get_async`/`put_async` on its queues |
//! | *(none; C++ `std::scoped_lock`)* | [`deadlock::acquire_all`] |
//! | *(none; Linux lockdep)* | [`deadlock`] detection (feature `deadlock-detection`) |
//!
//! ## Features
//!
//! - `progress` (on by default): progress bars for `map` and `as_completed`
//!   (`MapOptions::progress`, `AsCompleted::progress`), drawn with
//!   indicatif. `default-features = false` builds the library without it.
//! - `deadlock-detection` (off): see [`deadlock`].
//! - `mpi` (off): `cluster::MpiPoolExecutor`, the same executor over the
//!   ranks of an MPI job (`mpiexec -n N ./app`); needs an MPI library
//!   (MPICH) and libclang to build.
//!
//! ## Conventions
//!
//! - Python names, Rust idioms: `acquire(blocking, timeout)` is
//!   `acquire()` / `try_acquire()` / `acquire_timeout(d)`; `with x:` is an
//!   RAII guard; exceptions are error enum variants with the same meaning.
//! - No poisoning: a lock held by a panicking thread is released on unwind,
//!   as Python's `with` releases on an exception.
//!
//! ```
//! use gilfree::threading::Lock;
//! let balance = Lock::new(100);
//! *balance.acquire() -= 30;
//! assert_eq!(*balance.acquire(), 70);
//! ```

#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

#[cfg(feature = "mpi")]
pub mod cluster;
pub mod deadlock;
pub mod futures;
pub(crate) mod guard;
pub(crate) mod lockdep;
pub mod multiprocessing;
pub mod queue;
pub(crate) mod raw;
pub(crate) mod sys;
pub mod threading;
pub mod trace;

// `#[gilfree::task]` expands to `::gilfree::…` paths, also inside this crate.
extern crate self as gilfree;

/// Registers a function as a task another process can run; see
/// [`multiprocessing`].
///
/// ```
/// #[gilfree::task]
/// fn add(a: i32, b: i32) -> i32 {
///     a + b
/// }
/// assert_eq!(add(2, 3), 5);
/// assert!(add::TASK.name().ends_with("add"));
/// ```
///
/// Arguments are owned values (decoded in the child): a borrowed one is
/// refused, with the fix named ("take `String` instead of `& str`"):
///
/// ```compile_fail
/// #[gilfree::task]
/// fn greet(n: u32, who: &str) -> String {
///     format!("{n} {who}")
/// }
/// ```
pub use gilfree_macros::task;

/// Puts `multiprocessing::init()` first in `main`; see
/// [`multiprocessing::init`].
///
/// ```
/// #[gilfree::main]
/// fn main() {
///     // init() ran: a spawn or forkserver child never gets here
///     assert_eq!(gilfree::multiprocessing::current_process().name, "MainProcess");
/// }
/// # main();
/// ```
pub use gilfree_macros::main;
