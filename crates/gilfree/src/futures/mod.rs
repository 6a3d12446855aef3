//! Python's `concurrent.futures`: futures, the `Executor` trait, the thread
//! and process pools, `wait` and `as_completed`.
//!
//! | Python | gilfree |
//! |---|---|
//! | `concurrent.futures.Future` | [`Future`] (also a `std::future::Future`) |
//! | `Executor` | [`Executor`] (generic over its [`Job`] type) |
//! | `ThreadPoolExecutor` | [`ThreadPoolExecutor`] |
//! | `ProcessPoolExecutor` | [`ProcessPoolExecutor`] (jobs are [`Call`]s of `#[gilfree::task]`s) |
//! | `executor.map(fn, it, timeout, chunksize, buffersize)` | [`ThreadPoolExecutor::map_with`], [`Executor::map_jobs`] with [`MapOptions`] |
//! | `list(executor.map(fn, it))` | [`ThreadPoolExecutor::map_collect`]: eager, results written in place |
//! | *(none: Python closures may borrow)* | [`ThreadPoolExecutor::scope`]: jobs that borrow from the caller, [`Scope::map`] |
//! | `wait(fs, timeout, return_when)` | [`wait()`] with [`ReturnWhen`] |
//! | `as_completed(fs, timeout)` | [`as_completed`] |
//! | `CancelledError`, `TimeoutError`, `BrokenThreadPool`, `BrokenProcessPool`, `InvalidStateError` | [`Error`] variants |
//!
//! ```
//! use gilfree::futures::{as_completed, ThreadPoolExecutor};
//! let pool = ThreadPoolExecutor::builder().max_workers(4).build().unwrap();
//! let fs: Vec<_> = (1..=3u32).map(|i| pool.submit(move || i * 10).unwrap()).collect();
//! let total: u32 = as_completed(&fs, None).map(|f| f.unwrap().result().unwrap()).sum();
//! assert_eq!(total, 60);
//! ```

mod chunked_map;
mod collect;
mod error;
mod executor;
mod future;
mod job_queue;
#[cfg(all(test, loom))]
mod loom_tests;
mod outcome;
pub(crate) mod process_pool;
mod progress;
mod scope;
mod task;
mod thread_pool;
mod wait;
mod waiter;

pub use error::Error;
pub use executor::{Executor, Job, Map, MapOptions};
pub use future::Future;
pub use process_pool::{Call, ProcessMap, ProcessPoolBuilder, ProcessPoolExecutor};
pub use scope::Scope;
pub use thread_pool::{Builder, ThreadPoolExecutor};
pub use wait::{AsCompleted, DoneAndNotDone, ReturnWhen, as_completed, wait};
