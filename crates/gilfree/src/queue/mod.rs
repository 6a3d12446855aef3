//! Python's `queue` module (3.13 semantics, `shutdown` included): FIFO,
//! LIFO and priority queues for handing work between threads.
//!
//! | Python | gilfree |
//! |---|---|
//! | `queue.Queue(maxsize)` | [`Queue::new`] |
//! | `queue.LifoQueue(maxsize)` | [`LifoQueue::new`] |
//! | `queue.PriorityQueue(maxsize)` | [`PriorityQueue::new`] |
//! | `queue.SimpleQueue()` | [`SimpleQueue::new`] |
//! | `q.put(x)` / `put(x, block=False)` / `put(x, timeout=t)` | `put` / `try_put` / `put_timeout` |
//! | `q.get()` / `get(block=False)` / `get(timeout=t)` | `get` / `try_get` / `get_timeout` |
//! | `queue.Empty`, `queue.Full`, `queue.ShutDown` | [`GetError::Empty`], [`PutError::Full`], [`PutError::ShutDown`] / [`GetError::ShutDown`] |
//! | `q.task_done()`, `q.join()` | `task_done` (errs with [`TaskDoneError`]), `join` / `join_timeout` |
//! | `q.shutdown(immediate=False)` | `shutdown(immediate)` |
//! | `q.maxsize = n` (on a live queue) | `set_maxsize(n)` (a ring-backed `Queue` stays within its slots: [`MaxsizeError`]) |
//! | — | `put_many` / `get_many`: batches that wake the other side once |
//! | `await aq.put(x)` / `await aq.get()` (`asyncio.Queue`) | `put_async(x).await` / `get_async().await` |
//!
//! Share a queue with `Arc` or by reference (scoped threads); every queue is
//! `Send + Sync` when `T: Send`.
//!
//! # Async
//!
//! Every queue is also an `asyncio.Queue`: `put_async` / `get_async` return
//! futures ([`PutAsync`], [`GetAsync`]) that run on any executor (only
//! `std::task::Waker` is used) and wait on the same queue as blocking
//! threads do: a `put` wakes a waiting `get_async` and a `put_async` wakes
//! a blocked `get`. Timeouts come from the runtime
//! (`tokio::time::timeout(d, q.get_async())`); a future dropped on timeout
//! takes no item and loses no wake-up.
//!
//! ```
//! use gilfree::queue::Queue;
//! use std::sync::Arc;
//!
//! let q = Arc::new(Queue::new(2));
//! let consumer = {
//!     let q = q.clone();
//!     std::thread::spawn(move || (0..4).map(|_| q.get().unwrap()).sum::<i32>())
//! };
//! futures::executor::block_on(async {
//!     for i in 1..=4 {
//!         q.put_async(i).await.unwrap(); // waits (without blocking) when full
//!     }
//! });
//! assert_eq!(consumer.join().unwrap(), 10);
//! ```
//!
//! # How they are built
//!
//! One algorithm (the private `core` module: an event count per condition, an
//! `unfinished_tasks` counter, shutdown as a mark in the buffer) over three
//! kinds of buffer: a lock-free bounded ring (Vyukov's per-slot sequence
//! numbers) for a bounded `Queue`, a lock-free list of 31-slot blocks
//! (crossbeam's `SegQueue` design, reusing its retired blocks) for an
//! unbounded `Queue` and `SimpleQueue`, and a container behind a futex lock
//! for the rest (CPython keeps all of them behind one mutex). Producers and
//! consumers of a FIFO share no lock; nobody makes a syscall unless
//! somebody is asleep.
//!
//! ```
//! use gilfree::queue::Queue;
//! use std::sync::Arc;
//!
//! let q = Arc::new(Queue::new(8));
//! let worker = {
//!     let q = q.clone();
//!     std::thread::spawn(move || {
//!         let mut sum = 0;
//!         while let Ok(x) = q.get() {
//!             sum += x;
//!             q.task_done().unwrap();
//!         }
//!         sum
//!     })
//! };
//! for i in 1..=100 {
//!     q.put(i).unwrap();
//! }
//! q.join();              // every item processed
//! q.shutdown(false);     // the worker's next get fails: ShutDown
//! assert_eq!(worker.join().unwrap(), 5050);
//! ```

mod aio;
mod buffer;
pub(crate) mod core;
mod error;
mod fifo;
mod lifo;
mod list;
mod locked;
#[cfg(all(test, loom))]
mod loom_tests;
mod priority;
mod ring;
mod simple;

pub use aio::{GetAsync, PutAsync};
pub use error::{GetError, MaxsizeError, PutError, TaskDoneError};
pub use fifo::Queue;
pub use lifo::LifoQueue;
pub use priority::PriorityQueue;
pub use simple::{SimpleGetAsync, SimpleQueue};

use self::core::{GetFail, PutFail};

#[inline]
fn put_err<T>(e: PutFail<T>) -> PutError<T> {
    match e {
        PutFail::Full(v) => PutError::Full(v),
        PutFail::ShutDown(v) => PutError::ShutDown(v),
    }
}

#[inline]
fn get_err(e: GetFail) -> GetError {
    match e {
        GetFail::Empty => GetError::Empty,
        GetFail::ShutDown => GetError::ShutDown,
    }
}

/// The methods `Queue`, `LifoQueue` and `PriorityQueue` share (Python's
/// `queue.Queue` interface), written once.
macro_rules! queue_methods {
    ($ty:ident, $($bound:tt)+) => {
        impl<T: $($bound)+> $ty<T> {
            /// Put `item`, waiting for room if the queue is full (Python:
            /// `q.put(item)`).
            ///
            /// # Errors
            /// [`PutError::ShutDown`](crate::queue::PutError::ShutDown) with
            /// the item if the queue is (or gets, while waiting) shut down.
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(1);")]
            /// q.put(5).unwrap();
            /// assert_eq!(q.qsize(), 1);
            /// ```
            #[inline]
            pub fn put(&self, item: T) -> Result<(), crate::queue::PutError<T>> {
                self.core
                    .put(item, crate::sys::Deadline::Never)
                    .map_err(crate::queue::put_err)
            }

            /// Put `item` only if there is room now (Python:
            /// `q.put(item, block=False)` / `put_nowait`).
            ///
            /// # Errors
            /// `Full(item)` if there is no room, `ShutDown(item)` after
            /// `shutdown` (checked first, as in Python).
            ///
            /// ```
            /// use gilfree::queue::PutError;
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(1);")]
            /// q.try_put(1).unwrap();
            /// assert_eq!(q.try_put(2), Err(PutError::Full(2)));
            /// ```
            #[inline]
            pub fn try_put(&self, item: T) -> Result<(), crate::queue::PutError<T>> {
                self.core
                    .put(item, crate::sys::Deadline::now())
                    .map_err(crate::queue::put_err)
            }

            /// Put `item`, waiting at most `timeout` for room (Python:
            /// `q.put(item, timeout=t)`). A duration too large for the clock
            /// waits forever.
            ///
            /// # Errors
            /// `Full(item)` if still no room at the deadline,
            /// `ShutDown(item)` on shutdown.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(1);")]
            /// q.put(1).unwrap();
            /// assert!(q.put_timeout(2, Duration::from_millis(1)).unwrap_err().is_full());
            /// ```
            #[inline]
            pub fn put_timeout(
                &self,
                item: T,
                timeout: std::time::Duration,
            ) -> Result<(), crate::queue::PutError<T>> {
                self.core
                    .put(item, crate::sys::Deadline::after(timeout))
                    .map_err(crate::queue::put_err)
            }

            /// Put every item in order, waiting for room as needed; consumers
            /// are woken once per batch that fits rather than once per item.
            /// No Python equivalent (a loop of `put`).
            ///
            /// # Errors
            /// On shutdown, `ShutDown(rest)`: the items not put, in order
            /// (the first one failed; the ones before it were put).
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(0);")]
            /// q.put_many([1, 2, 3]).unwrap();
            /// assert_eq!(q.qsize(), 3);
            /// q.shutdown(false);
            /// assert_eq!(q.put_many([4, 5]).unwrap_err().into_inner(), vec![4, 5]);
            /// ```
            pub fn put_many(
                &self,
                items: impl IntoIterator<Item = T>,
            ) -> Result<(), crate::queue::PutError<Vec<T>>> {
                self.core
                    .put_many(items)
                    .map_err(crate::queue::PutError::ShutDown)
            }

            /// Put `item` without blocking the thread, waiting (as a task)
            /// for room if the queue is full (Python: `await q.put(item)` on
            /// an `asyncio.Queue`).
            ///
            /// Threads and tasks may wait on the same queue at once; a get
            /// by either wakes a waiting putter of either kind. Any executor
            /// (only `std::task::Waker` is used). Python's `asyncio.Queue`
            /// has no timeout either: wrap the future in your runtime's
            /// (`tokio::time::timeout`). Dropping the future before it
            /// completes drops the item, which was not put.
            ///
            /// # Errors
            /// The future resolves to
            /// [`PutError::ShutDown`](crate::queue::PutError::ShutDown) with
            /// the item if the queue is (or gets, while waiting) shut down.
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(1);")]
            /// futures::executor::block_on(async {
            ///     q.put_async(5).await.unwrap();
            ///     assert_eq!(q.get_async().await, Ok(5));
            /// });
            /// ```
            #[inline]
            pub fn put_async(&self, item: T) -> crate::queue::PutAsync<'_, T> {
                crate::queue::PutAsync::new(&self.core, item)
            }

            /// Remove and return an item without blocking the thread,
            /// waiting (as a task) until one is there (Python:
            /// `await q.get()` on an `asyncio.Queue`).
            ///
            /// Threads and tasks may wait on the same queue at once; a put by
            /// either wakes waiting getters of either kind. Any executor.
            /// For a timeout, wrap the future in your runtime's
            /// (`tokio::time::timeout`). An item is taken only when the
            /// future completes: dropping it earlier loses nothing.
            ///
            /// # Errors
            /// The future resolves to
            /// [`GetError::ShutDown`](crate::queue::GetError::ShutDown) once
            /// the queue is shut down and empty.
            ///
            /// ```
            /// use std::sync::Arc;
            #[doc = concat!("let q = Arc::new(gilfree::queue::", stringify!($ty), "::new(0));")]
            /// let q2 = q.clone();
            /// let producer = std::thread::spawn(move || q2.put(7).unwrap());
            /// assert_eq!(futures::executor::block_on(q.get_async()), Ok(7));
            /// producer.join().unwrap();
            /// ```
            #[inline]
            pub fn get_async(&self) -> crate::queue::GetAsync<'_, T> {
                crate::queue::GetAsync::new(&self.core)
            }

            /// Remove and return an item, waiting until one is there (Python:
            /// `q.get()`).
            ///
            /// # Errors
            /// [`GetError::ShutDown`](crate::queue::GetError::ShutDown) once
            /// the queue is shut down and empty (at once after
            /// `shutdown(true)`, which empties it).
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(0);")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.get(), Ok(1));
            /// ```
            #[inline]
            pub fn get(&self) -> Result<T, crate::queue::GetError> {
                self.core
                    .get(crate::sys::Deadline::Never)
                    .map_err(crate::queue::get_err)
            }

            /// Remove and return an item if one is there now (Python:
            /// `q.get(block=False)` / `get_nowait`).
            ///
            /// # Errors
            /// `Empty`, or `ShutDown` if shut down and empty.
            ///
            /// ```
            /// use gilfree::queue::GetError;
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::<u8>::new(0);")]
            /// assert_eq!(q.try_get(), Err(GetError::Empty));
            /// ```
            #[inline]
            pub fn try_get(&self) -> Result<T, crate::queue::GetError> {
                self.core
                    .get(crate::sys::Deadline::now())
                    .map_err(crate::queue::get_err)
            }

            /// Remove and return an item, waiting at most `timeout` (Python:
            /// `q.get(timeout=t)`).
            ///
            /// # Errors
            /// `Empty` at the deadline, or `ShutDown`.
            ///
            /// ```
            /// use std::time::Duration;
            /// use gilfree::queue::GetError;
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::<u8>::new(0);")]
            /// assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(GetError::Empty));
            /// ```
            #[inline]
            pub fn get_timeout(
                &self,
                timeout: std::time::Duration,
            ) -> Result<T, crate::queue::GetError> {
                self.core
                    .get(crate::sys::Deadline::after(timeout))
                    .map_err(crate::queue::get_err)
            }

            /// Wait until at least one item is there, then take it and up to
            /// `max - 1` more that are there already, without waiting again;
            /// producers are woken once for the batch. Items come in the
            /// order `get` would give them. `max == 0` returns an empty `Vec`
            /// at once. No Python equivalent.
            ///
            /// # Errors
            /// `ShutDown` if nothing could be taken because the queue is shut
            /// down and empty.
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(0);")]
            /// q.put_many([7, 7, 7]).unwrap();
            /// assert_eq!(q.get_many(2).unwrap(), vec![7, 7]);
            /// assert_eq!(q.get_many(10).unwrap(), vec![7]);
            /// ```
            pub fn get_many(&self, max: usize) -> Result<Vec<T>, crate::queue::GetError> {
                self.core
                    .get_many(max, crate::sys::Deadline::Never)
                    .map_err(crate::queue::get_err)
            }

            /// [`get_many`](Self::get_many) waiting at most `timeout` for the
            /// first item (`Duration::ZERO`: don't wait).
            ///
            /// # Errors
            /// `Empty` if no item came in time, or `ShutDown`.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::<u8>::new(0);")]
            /// assert!(q.get_many_timeout(4, Duration::ZERO).is_err());
            /// ```
            pub fn get_many_timeout(
                &self,
                max: usize,
                timeout: std::time::Duration,
            ) -> Result<Vec<T>, crate::queue::GetError> {
                self.core
                    .get_many(max, crate::sys::Deadline::after(timeout))
                    .map_err(crate::queue::get_err)
            }

            /// The number of items now in the queue (Python: `q.qsize()`).
            /// A snapshot: other threads may change it at once.
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(0);")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.qsize(), 1);
            /// ```
            #[inline]
            pub fn qsize(&self) -> usize {
                self.core.qsize()
            }

            /// Whether the queue is empty now (Python: `q.empty()`); a
            /// snapshot.
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::<u8>::new(0);")]
            /// assert!(q.empty());
            /// ```
            #[inline]
            pub fn empty(&self) -> bool {
                self.core.qsize() == 0
            }

            /// Whether the queue is full now (Python: `q.full()`); never for
            /// an unbounded queue. A snapshot.
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(1);")]
            /// q.put(1).unwrap();
            /// assert!(q.full());
            /// ```
            #[inline]
            pub fn full(&self) -> bool {
                self.core.full()
            }

            /// The bound: the one given to `new` or the last
            /// `set_maxsize`; 0 means unbounded (Python: `q.maxsize`).
            ///
            /// ```
            #[doc = concat!("assert_eq!(gilfree::queue::", stringify!($ty), "::<u8>::new(3).maxsize(), 3);")]
            /// ```
            #[inline]
            pub fn maxsize(&self) -> usize {
                self.core.maxsize()
            }

            /// Change the bound on a live queue (Python: assigning
            /// `q.maxsize`); 0 means unbounded. Items already in stay: a
            /// smaller bound makes puts wait until the queue has drained
            /// below it; a larger one wakes waiting putters.
            ///
            /// A lock-free `Queue` (a ring, or unbounded) checks a bound
            /// below its slots against `qsize` before each put, so puts that
            /// race may overshoot it by one each; the locked queues
            /// (`LifoQueue`, `PriorityQueue`,
            /// [`Queue::resizable`](crate::queue::Queue::resizable)) keep it
            /// exactly, as CPython does.
            ///
            /// # Errors
            /// Only for a [`Queue`](crate::queue::Queue) built by `new` with
            /// a bound (a ring, whose slots are allocated up front): a bound
            /// above that first one, or 0, is a
            /// [`MaxsizeError`](crate::queue::MaxsizeError) and changes
            /// nothing. The other queues take any bound.
            ///
            /// ```
            /// use gilfree::queue::PutError;
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(3);")]
            /// q.put_many([1, 2, 3]).unwrap();
            /// q.set_maxsize(2).unwrap(); // shrink: full until it drains below 2
            /// assert_eq!(q.try_put(4), Err(PutError::Full(4)));
            /// q.get().unwrap();
            /// assert_eq!(q.try_put(4), Err(PutError::Full(4)));
            /// q.get().unwrap();
            /// assert!(q.try_put(4).is_ok());
            /// assert_eq!(q.maxsize(), 2);
            /// ```
            pub fn set_maxsize(&self, maxsize: usize) -> Result<(), crate::queue::MaxsizeError> {
                self.core
                    .set_maxsize(maxsize)
                    .map_err(|slots| crate::queue::MaxsizeError {
                        requested: maxsize,
                        slots,
                    })
            }

            /// Say that one item taken by `get` has been processed (Python:
            /// `q.task_done()`); when every item put has been, `join`
            /// returns.
            ///
            /// # Errors
            /// [`TaskDoneError`](crate::queue::TaskDoneError) if called more
            /// times than items were put (Python's `ValueError`); nothing
            /// changes.
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(0);")]
            /// q.put(1).unwrap();
            /// q.get().unwrap();
            /// assert!(q.task_done().is_ok());
            /// assert!(q.task_done().is_err());
            /// ```
            #[inline]
            pub fn task_done(&self) -> Result<(), crate::queue::TaskDoneError> {
                if self.core.task_done() {
                    Ok(())
                } else {
                    Err(crate::queue::TaskDoneError)
                }
            }

            /// Wait until every item put has been marked done with
            /// `task_done` (Python: `q.join()`). Returns at once if none is
            /// pending. `shutdown(true)` counts the items it discards as done.
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::<u8>::new(0);")]
            /// q.join(); // nothing pending
            /// ```
            pub fn join(&self) {
                self.core.join(crate::sys::Deadline::Never);
            }

            /// [`join`](Self::join), waiting at most `timeout`; returns
            /// whether every task was done. Python's `join` has no timeout.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(0);")]
            /// q.put(1).unwrap();
            /// assert!(!q.join_timeout(Duration::from_millis(1)));
            /// ```
            #[must_use = "false means some tasks are still pending"]
            pub fn join_timeout(&self, timeout: std::time::Duration) -> bool {
                self.core.join(crate::sys::Deadline::after(timeout))
            }

            /// Items put and not yet marked done (Python's
            /// `q.unfinished_tasks` attribute). A snapshot.
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(0);")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.unfinished_tasks(), 1);
            /// ```
            pub fn unfinished_tasks(&self) -> usize {
                self.core.unfinished_tasks()
            }

            /// Shut the queue down (Python 3.13: `q.shutdown(immediate)`).
            ///
            /// Every later put fails with `ShutDown` (the item comes back);
            /// gets go on until the queue is empty, then fail with
            /// `ShutDown`. With `immediate`, the items still queued are
            /// dropped at once and each counts as done for `join` (as
            /// CPython's `task_done` per drained item), so gets fail at once.
            /// Threads blocked in put or get are woken and fail with
            /// `ShutDown`; `join` still waits for tasks taken but not done.
            /// Calling it again is harmless.
            ///
            /// ```
            /// use gilfree::queue::GetError;
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::new(0);")]
            /// q.put(1).unwrap();
            /// q.shutdown(false);
            /// assert_eq!(q.get(), Ok(1));
            /// assert_eq!(q.get(), Err(GetError::ShutDown));
            /// ```
            pub fn shutdown(&self, immediate: bool) {
                self.core.shutdown(immediate)
            }

            /// Whether `shutdown` has been called (Python 3.13:
            /// `q.is_shutdown`).
            ///
            /// ```
            #[doc = concat!("let q = gilfree::queue::", stringify!($ty), "::<u8>::new(0);")]
            /// q.shutdown(true);
            /// assert!(q.is_shutdown());
            /// ```
            pub fn is_shutdown(&self) -> bool {
                self.core.is_shutdown()
            }
        }

        impl<T: $($bound)+> std::fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("maxsize", &self.maxsize())
                    .field("qsize", &self.qsize())
                    .field("unfinished_tasks", &self.unfinished_tasks())
                    .field("is_shutdown", &self.is_shutdown())
                    .finish()
            }
        }
    };
}
pub(crate) use queue_methods;
