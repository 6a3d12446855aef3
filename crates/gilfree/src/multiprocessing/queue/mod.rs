//! Python's `multiprocessing.Queue`, `JoinableQueue` and `SimpleQueue`:
//! queues between processes, on a ring of variable-length records in an
//! anonymous shared block (the ring's protocol is in `ring.rs`).
//!
//! | Python | gilfree |
//! |---|---|
//! | `multiprocessing.Queue(maxsize)` | [`Queue::new`]`(maxsize)?` |
//! | `q.put(x)`, `q.put(x, False)`, `q.put(x, timeout=t)` | [`Queue::put`], [`Queue::try_put`], [`Queue::put_timeout`] |
//! | `q.get()`, `q.get(False)`, `q.get(timeout=t)` | [`Queue::get`], [`Queue::try_get`], [`Queue::get_timeout`] |
//! | `q.qsize()`, `q.empty()`, `q.full()` | [`Queue::qsize`], [`Queue::empty`], [`Queue::full`] |
//! | `q.close()` | [`Queue::close`] (dropping the handle) |
//! | `q.shutdown(immediate)` (3.13's `queue.Queue`) | [`Queue::shutdown`] |
//! | `JoinableQueue`: `task_done()`, `join()` | [`JoinableQueue::task_done`], [`JoinableQueue::join`] |
//! | `SimpleQueue`: `put`, `get`, `empty`, `close` | [`SimpleQueue`] |
//! | `queue.Empty`, `queue.Full`, `ShutDown` | [`GetError::Empty`], [`PutError::Full`], `ShutDown` variants |
//!
//! (The [`Manager`](super::Manager)'s queues, [`manager::Queue`](super::manager::Queue),
//! are proxies to a queue in a server process, reachable over a socket
//! from unrelated programs; these live in shared memory and reach a child
//! as a task argument.)
//!
//! # How it differs from Python's
//!
//! Python's queue is a pipe, a feeder thread and pickle: `put` returns
//! before the item is sent, and the item travels later. Here `put` encodes
//! the item (postcard) straight into the shared ring and returns once it is
//! there: no thread, no pipe, no copy in between, and no syscall while
//! nobody sleeps. Items are serde types (`T: Serialize + DeserializeOwned`);
//! a descriptor (a `Connection`, a `SharedMemory`) cannot travel through a
//! queue — pass those as task arguments.
//!
//! - `maxsize` counts items, as in Python; 0 is unbounded. The ring's byte
//!   capacity is a separate knob ([`Queue::with_capacity`], default
//!   [`DEFAULT_CAPACITY`], rounded up to a power of two): a put also waits
//!   while the ring has no room for the item's bytes. An item larger than
//!   half the ring goes in chunks, so there is no size limit but memory.
//! - Raw bytes: postcard encodes a `Vec<u8>` element by element; an item
//!   whose bytes serialize with `serialize_bytes` (`serde_bytes`, or a
//!   newtype) is one copy into the ring and one out.
//! - [`Queue::qsize`] is exact at some instant (Python's is approximate and
//!   raises `NotImplementedError` on macOS).
//! - `close()` consumes the handle; there is no `join_thread` or
//!   `cancel_join_thread` (no feeder thread to wait for).
//!
//! # A process that dies
//!
//! Python documents that a process killed while using a queue may corrupt
//! it or leave other processes deadlocked. Here, a process SIGKILLed at
//! any instruction:
//! - **loses at most the one item it was putting or getting.** An item
//!   becomes visible only once it is completely written (committed); a
//!   killed producer's unfinished item is skipped by the consumers, and a
//!   killed consumer's half-read item is dropped by the producers, once the
//!   owner is found dead (its thread's liveness is checked by whoever waits
//!   on it, within about 64 ms). Every other item is delivered exactly once
//!   and in order.
//! - **hangs nobody**: the ring's two locks are taken over from a dead
//!   holder, and a waiter never waits on a dead process's record for long.
//!   The price: a process blocked in `put` or `get` wakes at least every
//!   64 ms to look (a few loads; the liveness check reads `/proc` only
//!   when a record is stuck).
//! - An item the dead consumer had already received (its `get` returned)
//!   and not marked done is not given back: `JoinableQueue::join` waits for
//!   its `task_done` for ever, as in Python. An item lost in the dead
//!   process's `put` or `get` counts as done.
//! - Not guaranteed: anything about a process that *writes* the shared
//!   block outside this API; a corrupt record header is reported
//!   ([`GetError::Corrupt`]), never undefined behaviour or a hang, but the
//!   queue may be unusable after it.
//!
//! ```
//! use gilfree::multiprocessing::Queue;
//!
//! let q = Queue::new(0).unwrap();
//! q.put(vec![1u32, 2, 3]).unwrap();
//! q.put(vec![]).unwrap();
//! assert_eq!(q.qsize(), 2);
//! assert_eq!(q.get().unwrap(), vec![1, 2, 3]);
//! assert_eq!(q.get().unwrap(), vec![]);
//! ```
//!
//! In a child, the queue is a task argument (`try_clone` keeps one here):
//!
//! ```no_run
//! use gilfree::multiprocessing::{Process, Queue};
//!
//! #[gilfree::task]
//! fn produce(q: Queue<String>) {
//!     q.put("hello from the child".to_owned()).unwrap();
//! }
//!
//! #[gilfree::main]
//! fn main() {
//!     let q = Queue::new(0).unwrap();
//!     let p = Process::new(produce::TASK, (q.try_clone().unwrap(),)).unwrap();
//!     p.start().unwrap();
//!     assert_eq!(q.get().unwrap(), "hello from the child");
//!     p.join();
//! }
//! ```

mod aio;
#[cfg(all(test, loom))]
mod loom_tests;
pub(crate) mod ring;
#[cfg(all(test, not(loom)))]
mod tests;

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use self::ring::{Corrupt, GetFail, Header, MIN_CAP, PutFail, Ring};
use super::SharedMemory;
use super::codec;
use super::error::{Error, Result};
use crate::queue::TaskDoneError;
use crate::sys::Deadline;
use crate::sys::atomic::AtomicU32;

/// The ring's byte capacity when none is given: 4 MiB, so that an item up
/// to 2 MiB is written in place as one record. The memory is touched only
/// as the ring fills.
pub const DEFAULT_CAPACITY: usize = 4 << 20;

/// The largest byte capacity (2 GiB).
pub const MAX_CAPACITY: usize = 1 << 31;

/// Where the records start in the block.
const DATA: usize = std::mem::size_of::<Header>().next_multiple_of(128);

/// A failed put (Python: `queue.Full`, `ShutDown`, or pickle's error);
/// the item comes back inside, so nothing is lost.
///
/// ```
/// use gilfree::multiprocessing::{Queue, queue::PutError};
/// let q = Queue::new(1).unwrap();
/// q.put(1u8).unwrap();
/// assert!(matches!(q.try_put(2), Err(PutError::Full(2))));
/// ```
pub enum PutError<T> {
    /// `queue.Full`: no room now (`maxsize` items, or no room for the
    /// item's bytes); only from `try_put` and `put_timeout`.
    Full(T),
    /// The queue was shut down.
    ShutDown(T),
    /// The item could not be encoded (postcard's reason).
    Encode(T, String),
    /// The shared ring holds a record that makes no sense (only if some
    /// process wrote the block outside this API).
    Corrupt(T, String),
}

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// let e = gilfree::multiprocessing::queue::PutError::Full(7);
    /// assert_eq!(e.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(v)
            | PutError::ShutDown(v)
            | PutError::Encode(v, _)
            | PutError::Corrupt(v, _) => v,
        }
    }

    /// Whether this is `Full`.
    ///
    /// ```
    /// assert!(gilfree::multiprocessing::queue::PutError::Full(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }

    /// Whether this is `ShutDown`.
    ///
    /// ```
    /// assert!(gilfree::multiprocessing::queue::PutError::ShutDown(()).is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self, PutError::ShutDown(_))
    }

    fn from_fail(f: PutFail, item: T) -> Self {
        match f {
            PutFail::Full => PutError::Full(item),
            PutFail::ShutDown => PutError::ShutDown(item),
            PutFail::Corrupt(Corrupt(c)) => PutError::Corrupt(item, c),
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
            PutError::Encode(_, e) => write!(f, "Encode(.., {e:?})"),
            PutError::Corrupt(_, e) => write!(f, "Corrupt(.., {e:?})"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("queue is full"),
            PutError::ShutDown(_) => f.write_str("queue is shut down"),
            PutError::Encode(_, e) => write!(f, "cannot encode the item: {e}"),
            PutError::Corrupt(_, e) => write!(f, "queue is corrupt: {e}"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

/// A failed get (Python: `queue.Empty`, `ShutDown`, or unpickling's
/// error).
///
/// ```
/// use gilfree::multiprocessing::{Queue, queue::GetError};
/// let q = Queue::<u8>::new(0).unwrap();
/// assert_eq!(q.try_get(), Err(GetError::Empty));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// `queue.Empty`: nothing to get (only from `try_get` and
    /// `get_timeout`).
    #[error("queue is empty")]
    Empty,
    /// The queue was shut down and is empty.
    #[error("queue is shut down")]
    ShutDown,
    /// The item taken did not decode as `T` (it was put as another type);
    /// it is consumed.
    #[error("cannot decode the item: {0}")]
    Decode(String),
    /// The shared ring holds a record that makes no sense (only if some
    /// process wrote the block outside this API).
    #[error("queue is corrupt: {0}")]
    Corrupt(String),
}

impl From<GetFail> for GetError {
    fn from(f: GetFail) -> Self {
        match f {
            GetFail::Empty => GetError::Empty,
            GetFail::ShutDown => GetError::ShutDown,
            GetFail::Corrupt(Corrupt(c)) => GetError::Corrupt(c),
        }
    }
}

/// The shared block and the ring's size, checked once.
struct Shm {
    shm: SharedMemory,
    cap: u64,
}

impl Shm {
    fn create(maxsize: usize, capacity: usize, joinable: bool) -> Result<Shm> {
        if capacity > MAX_CAPACITY {
            return Err(Error::Value(format!(
                "queue capacity {capacity} is above {MAX_CAPACITY} bytes"
            )));
        }
        let cap = (capacity as u64).max(MIN_CAP).next_power_of_two();
        let shm = SharedMemory::anonymous(DATA + cap as usize)?;
        let s = Shm { shm, cap };
        s.header().init(cap, maxsize as u64, joinable);
        Ok(s)
    }

    /// A block received from another process: check it is a queue of the
    /// right kind.
    fn open(shm: SharedMemory, joinable: bool) -> std::result::Result<Shm, String> {
        if shm.size() < DATA + MIN_CAP as usize {
            return Err(format!("a block of {} bytes is not a queue", shm.size()));
        }
        let s = Shm {
            cap: (shm.size() - DATA) as u64,
            shm,
        };
        let r = Ring::new(s.header(), s.words()).map_err(|Corrupt(c)| c)?;
        if r.joinable() != joinable {
            return Err("a JoinableQueue is received only as a JoinableQueue".into());
        }
        Ok(s)
    }

    fn header(&self) -> &Header {
        // SAFETY: the block starts with a `Header` (page-aligned, DATA ≥
        // its size); a Header is atomics only, every bit pattern valid
        // (all-zero is a fresh one), shared only through atomic operations,
        // for `self`'s life.
        unsafe { &*self.shm.as_ptr().cast::<Header>() }
    }

    fn words(&self) -> &[AtomicU32] {
        // SAFETY: `cap` bytes follow the header inside the mapping (checked
        // at creation or `open`), 128-aligned; AtomicU32 permits shared
        // mutation, so other processes writing them is no data race.
        unsafe {
            std::slice::from_raw_parts(
                self.shm.as_ptr().add(DATA).cast::<AtomicU32>(),
                (self.cap / 4) as usize,
            )
        }
    }

    fn ring(&self) -> Ring<'_> {
        Ring::checked(self.header(), self.words())
    }
}

/// Python's `multiprocessing.Queue`: a FIFO queue between processes, for
/// any serde type; see the [module documentation](self) for how it
/// differs from Python's and what a killed process can lose.
///
/// It reaches a child as a task argument (under every start method);
/// [`try_clone`](Self::try_clone) gives another handle to pass while
/// keeping one.
///
/// ```
/// use gilfree::multiprocessing::Queue;
/// let q = Queue::new(2).unwrap();
/// q.put("a".to_owned()).unwrap();
/// q.put("b".to_owned()).unwrap();
/// assert!(q.full());
/// assert_eq!(q.get().unwrap(), "a");
/// ```
pub struct Queue<T> {
    inner: Shm,
    _items: PhantomData<fn(T) -> T>,
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// Python's `multiprocessing.Queue(maxsize)`: at most `maxsize` items
    /// (0: no bound but the ring's bytes), in a ring of
    /// [`DEFAULT_CAPACITY`] bytes.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::<u64>::new(0).unwrap();
    /// assert_eq!(q.maxsize(), 0);
    /// ```
    pub fn new(maxsize: usize) -> Result<Self> {
        Self::with_capacity(maxsize, DEFAULT_CAPACITY)
    }

    /// A queue of at most `maxsize` items whose ring holds `capacity`
    /// bytes (rounded up to a power of two, at least 256). An item takes
    /// its encoded size plus 16 bytes, rounded up to 16. No Python
    /// equivalent.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::<u8>::with_capacity(0, 1000).unwrap();
    /// assert_eq!(q.capacity(), 1024);
    /// ```
    pub fn with_capacity(maxsize: usize, capacity: usize) -> Result<Self> {
        Ok(Self::wrap(Shm::create(maxsize, capacity, false)?))
    }

    fn wrap(inner: Shm) -> Self {
        Queue {
            inner,
            _items: PhantomData,
        }
    }

    /// Another handle to the same queue (as `File::try_clone`), e.g. to
    /// pass one to a child and keep one.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::Queue::new(0).unwrap();
    /// let b = a.try_clone().unwrap();
    /// a.put(1).unwrap();
    /// assert_eq!(b.get().unwrap(), 1);
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        Ok(Self::wrap(Shm {
            shm: self.inner.shm.try_clone()?,
            cap: self.inner.cap,
        }))
    }

    fn put_at(
        &self,
        item: T,
        deadline: Deadline,
        before_commit: impl FnOnce(),
    ) -> std::result::Result<(), PutError<T>> {
        let ring = self.inner.ring();
        let size = postcard::ser_flavors::Size::default();
        let len = match postcard::serialize_with_flavor::<T, _, usize>(&item, size) {
            Ok(n) => n as u64,
            Err(e) => return Err(PutError::Encode(item, e.to_string())),
        };
        let r = if len <= ring.max_record() {
            ring.put(
                len as u32,
                deadline,
                |slot| {
                    let wrote = postcard::to_slice(&item, slot).map(|s| s.len());
                    debug_assert_eq!(wrote.ok(), Some(len as usize));
                },
                before_commit,
            )
        } else {
            match postcard::to_allocvec(&item) {
                Ok(bytes) => ring.put_chunked(&bytes, deadline, before_commit),
                Err(e) => return Err(PutError::Encode(item, e.to_string())),
            }
        };
        r.map_err(|f| PutError::from_fail(f, item))
    }

    fn get_at(
        &self,
        deadline: Deadline,
        after_take: impl FnOnce(),
    ) -> std::result::Result<T, GetError> {
        self.inner
            .ring()
            .get(deadline, codec::from_bytes::<T>, after_take)?
            .map_err(GetError::Decode)
    }

    /// Python's `q.put(item)`: put `item`, waiting for room.
    ///
    /// # Errors
    /// `ShutDown(item)` if the queue is (or gets, while waiting) shut down;
    /// `Encode(item, why)` if postcard cannot encode it.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::new(0).unwrap();
    /// q.put((1, "one".to_owned())).unwrap();
    /// ```
    pub fn put(&self, item: T) -> std::result::Result<(), PutError<T>> {
        self.put_at(item, Deadline::Never, || {})
    }

    /// Python's `q.put(item, block=False)` / `put_nowait`: put only if
    /// there is room now (a lock another process holds for a few
    /// instructions is waited for, up to 2 ms).
    ///
    /// # Errors
    /// `Full(item)` if there is no room; as [`put`](Self::put) otherwise.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::new(1).unwrap();
    /// q.try_put(1).unwrap();
    /// assert!(q.try_put(2).unwrap_err().is_full());
    /// ```
    pub fn try_put(&self, item: T) -> std::result::Result<(), PutError<T>> {
        self.put_at(item, Deadline::now(), || {})
    }

    /// Python's `q.put(item, timeout=t)`: wait at most `timeout` for room.
    ///
    /// # Errors
    /// `Full(item)` at the deadline; as [`put`](Self::put) otherwise.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = gilfree::multiprocessing::Queue::new(1).unwrap();
    /// q.put(1).unwrap();
    /// assert!(q.put_timeout(2, Duration::from_millis(5)).unwrap_err().is_full());
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> std::result::Result<(), PutError<T>> {
        self.put_at(item, Deadline::after(timeout), || {})
    }

    /// Put every item in order, waiting for room as needed. No Python
    /// equivalent (a loop of `put`).
    ///
    /// # Errors
    /// At the first failure: that error, with the items not put (that one
    /// first) in a `Vec`.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::new(0).unwrap();
    /// q.put_many([1, 2, 3]).unwrap();
    /// assert_eq!(q.get_many(10).unwrap(), [1, 2, 3]);
    /// ```
    pub fn put_many(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> std::result::Result<(), PutError<Vec<T>>> {
        let mut it = items.into_iter();
        while let Some(item) = it.next() {
            if let Err(e) = self.put(item) {
                let rest = |first: T| std::iter::once(first).chain(it).collect::<Vec<T>>();
                return Err(match e {
                    PutError::Full(v) => PutError::Full(rest(v)),
                    PutError::ShutDown(v) => PutError::ShutDown(rest(v)),
                    PutError::Encode(v, w) => PutError::Encode(rest(v), w),
                    PutError::Corrupt(v, w) => PutError::Corrupt(rest(v), w),
                });
            }
        }
        Ok(())
    }

    /// Python's `q.get()`: take the next item, waiting until there is one.
    ///
    /// # Errors
    /// `ShutDown` once the queue is shut down and empty; `Decode` if the
    /// item is not a `T` (it is consumed).
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::new(0).unwrap();
    /// q.put(4.5f64).unwrap();
    /// assert_eq!(q.get().unwrap(), 4.5);
    /// ```
    pub fn get(&self) -> std::result::Result<T, GetError> {
        self.get_at(Deadline::Never, || {})
    }

    /// Python's `q.get(block=False)` / `get_nowait`: take an item if one is
    /// there now.
    ///
    /// # Errors
    /// `Empty`; as [`get`](Self::get) otherwise.
    ///
    /// ```
    /// use gilfree::multiprocessing::queue::GetError;
    /// let q = gilfree::multiprocessing::Queue::<u8>::new(0).unwrap();
    /// assert_eq!(q.try_get(), Err(GetError::Empty));
    /// ```
    pub fn try_get(&self) -> std::result::Result<T, GetError> {
        self.get_at(Deadline::now(), || {})
    }

    /// Python's `q.get(timeout=t)`: wait at most `timeout` for an item.
    ///
    /// An item larger than half the ring, once begun, is read to its end
    /// even past the deadline (its producer is alive and writing it).
    ///
    /// # Errors
    /// `Empty` at the deadline; as [`get`](Self::get) otherwise.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gilfree::multiprocessing::queue::GetError;
    /// let q = gilfree::multiprocessing::Queue::<u8>::new(0).unwrap();
    /// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(GetError::Empty));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> std::result::Result<T, GetError> {
        self.get_at(Deadline::after(timeout), || {})
    }

    /// Wait for one item, then take up to `max - 1` more that are there
    /// already. No Python equivalent.
    ///
    /// # Errors
    /// As [`get`](Self::get), if not even one item could be taken; an
    /// error after the first item ends the batch (the items taken are
    /// returned; a `Decode` error's item is lost, as in `get`).
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::new(0).unwrap();
    /// q.put_many([1, 2, 3]).unwrap();
    /// assert_eq!(q.get_many(2).unwrap(), [1, 2]);
    /// ```
    pub fn get_many(&self, max: usize) -> std::result::Result<Vec<T>, GetError> {
        self.get_many_timeout_at(max, Deadline::Never)
    }

    /// [`get_many`](Self::get_many) waiting at most `timeout` for the first
    /// item.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = gilfree::multiprocessing::Queue::<u8>::new(0).unwrap();
    /// assert!(q.get_many_timeout(4, Duration::ZERO).is_err());
    /// ```
    pub fn get_many_timeout(
        &self,
        max: usize,
        timeout: Duration,
    ) -> std::result::Result<Vec<T>, GetError> {
        self.get_many_timeout_at(max, Deadline::after(timeout))
    }

    fn get_many_timeout_at(
        &self,
        max: usize,
        deadline: Deadline,
    ) -> std::result::Result<Vec<T>, GetError> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        out.push(self.get_at(deadline, || {})?);
        while out.len() < max {
            match self.try_get() {
                Ok(v) => out.push(v),
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// Python's `q.qsize()`: the number of items in the queue (items being
    /// put count once claimed). A snapshot.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::new(0).unwrap();
    /// q.put(()).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.inner.ring().len() as usize
    }

    /// Python's `q.empty()`; a snapshot.
    ///
    /// ```
    /// assert!(gilfree::multiprocessing::Queue::<u8>::new(0).unwrap().empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Python's `q.full()`: `maxsize` items are in; never for an unbounded
    /// queue (even when the ring has no room for more bytes). A snapshot.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::new(1).unwrap();
    /// q.put(0u8).unwrap();
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        self.inner.ring().is_full()
    }

    /// Python's `q._maxsize`: the bound given to `new`; 0 is unbounded.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::Queue::<u8>::new(3).unwrap().maxsize(), 3);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.inner.ring().maxsize() as usize
    }

    /// The ring's byte capacity. No Python equivalent.
    ///
    /// ```
    /// use gilfree::multiprocessing::{Queue, queue::DEFAULT_CAPACITY};
    /// assert_eq!(Queue::<u8>::new(0).unwrap().capacity(), DEFAULT_CAPACITY);
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner.ring().cap() as usize
    }

    /// Shut the queue down, in every process (Python 3.13's
    /// `queue.Queue.shutdown`, which `multiprocessing.Queue` lacks): later
    /// puts fail with `ShutDown`; gets go on until the queue is empty, then
    /// fail with `ShutDown`. With `immediate`, the items still queued are
    /// dropped at once (each counts as done for `join`). Processes blocked
    /// in `put` or `get` wake and fail with `ShutDown`.
    ///
    /// ```
    /// use gilfree::multiprocessing::queue::GetError;
    /// let q = gilfree::multiprocessing::Queue::new(0).unwrap();
    /// q.put(1).unwrap();
    /// q.shutdown(false);
    /// assert!(q.put(2).unwrap_err().is_shutdown());
    /// assert_eq!(q.get(), Ok(1));
    /// assert_eq!(q.get(), Err(GetError::ShutDown));
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        self.inner.ring().shutdown(immediate)
    }

    /// Whether `shutdown` has been called, by any process.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::<u8>::new(0).unwrap();
    /// q.shutdown(true);
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.inner.ring().is_shutdown()
    }

    /// Python's `q.close()`: this process is done with this handle (the
    /// queue lives on in the others). The same as dropping it.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::Queue::<u8>::new(0).unwrap();
    /// q.close();
    /// ```
    pub fn close(self) {}

    /// A put that stops between writing the item and committing it (for
    /// an item larger than half the ring: after committing its first
    /// chunk), to run `stall` (the fault tests kill the process there).
    /// Not a public API.
    #[doc(hidden)]
    pub fn __put_stalled(
        &self,
        item: T,
        stall: impl FnOnce(),
    ) -> std::result::Result<(), PutError<T>> {
        self.put_at(item, Deadline::Never, stall)
    }

    /// A get that stops between taking an item and reading it, to run
    /// `stall` (the fault tests kill the process there). Not a public API.
    #[doc(hidden)]
    pub fn __get_stalled(&self, stall: impl FnOnce()) -> std::result::Result<T, GetError> {
        self.get_at(Deadline::Never, stall)
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.inner.ring();
        f.debug_struct("Queue")
            .field("maxsize", &r.maxsize())
            .field("qsize", &r.len())
            .field("capacity", &r.cap())
            .field("is_shutdown", &r.is_shutdown())
            .finish()
    }
}

/// As a task argument a queue travels as its shared block's descriptor.
impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.inner.shm.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let shm = SharedMemory::deserialize(d)?;
        let inner = Shm::open(shm, false).map_err(serde::de::Error::custom)?;
        Ok(Queue {
            inner,
            _items: PhantomData,
        })
    }
}

/// Python's `multiprocessing.JoinableQueue`: a [`Queue`] (all of whose
/// methods it has, through `Deref`) that also counts unfinished tasks:
/// [`task_done`](Self::task_done) and [`join`](Self::join), across
/// processes.
///
/// ```
/// use gilfree::multiprocessing::JoinableQueue;
/// let q = JoinableQueue::new(0).unwrap();
/// q.put("job".to_owned()).unwrap();
/// assert_eq!(q.get().unwrap(), "job");
/// q.task_done().unwrap();
/// q.join(); // every task done
/// ```
pub struct JoinableQueue<T>(Queue<T>);

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// Python's `JoinableQueue(maxsize)`.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::JoinableQueue::<u8>::new(4).unwrap();
    /// assert_eq!(q.maxsize(), 4);
    /// ```
    pub fn new(maxsize: usize) -> Result<Self> {
        Self::with_capacity(maxsize, DEFAULT_CAPACITY)
    }

    /// As [`Queue::with_capacity`].
    ///
    /// ```
    /// let q = gilfree::multiprocessing::JoinableQueue::<u8>::with_capacity(0, 4096).unwrap();
    /// assert_eq!(q.capacity(), 4096);
    /// ```
    pub fn with_capacity(maxsize: usize, capacity: usize) -> Result<Self> {
        Ok(JoinableQueue(Queue::wrap(Shm::create(
            maxsize, capacity, true,
        )?)))
    }

    /// Another handle to the same queue.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::JoinableQueue::new(0).unwrap();
    /// let b = a.try_clone().unwrap();
    /// a.put(1).unwrap();
    /// assert_eq!(b.unfinished_tasks(), 1);
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        Ok(JoinableQueue(self.0.try_clone()?))
    }

    /// Python's `q.task_done()`: one item taken by `get` is processed.
    ///
    /// # Errors
    /// [`TaskDoneError`] (Python's `ValueError`) if called more times than
    /// items were put; nothing changes.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::JoinableQueue::<u8>::new(0).unwrap();
    /// assert!(q.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> std::result::Result<(), TaskDoneError> {
        if self.0.inner.ring().task_done() {
            Ok(())
        } else {
            Err(TaskDoneError)
        }
    }

    /// Python's `q.join()`: wait until every item put has been marked
    /// done (in any process).
    ///
    /// ```
    /// gilfree::multiprocessing::JoinableQueue::<u8>::new(0).unwrap().join();
    /// ```
    pub fn join(&self) {
        self.0.inner.ring().join(Deadline::Never);
    }

    /// [`join`](Self::join) waiting at most `timeout`; whether every task
    /// was done. Python's `join` has no timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = gilfree::multiprocessing::JoinableQueue::new(0).unwrap();
    /// q.put(1).unwrap();
    /// assert!(!q.join_timeout(Duration::from_millis(1)));
    /// ```
    #[must_use = "false means some tasks are still pending"]
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.0.inner.ring().join(Deadline::after(timeout))
    }

    /// Items put and not yet marked done (Python's `_unfinished_tasks`
    /// semaphore's value). A snapshot.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::JoinableQueue::new(0).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.0.inner.ring().unfinished() as usize
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.0
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0.inner.ring();
        f.debug_struct("JoinableQueue")
            .field("maxsize", &r.maxsize())
            .field("qsize", &r.len())
            .field("unfinished_tasks", &r.unfinished())
            .finish()
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.inner.shm.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let shm = SharedMemory::deserialize(d)?;
        let inner = Shm::open(shm, true).map_err(serde::de::Error::custom)?;
        Ok(JoinableQueue(Queue {
            inner,
            _items: PhantomData,
        }))
    }
}

/// Python's `multiprocessing.SimpleQueue`: an unbounded queue with only
/// `put`, `get`, `empty` and `close` (plus `try_get` and `get_timeout`).
/// The same ring as [`Queue`]; a `put` waits only for room for the item's
/// bytes.
///
/// ```
/// use gilfree::multiprocessing::SimpleQueue;
/// let q = SimpleQueue::new().unwrap();
/// q.put([1u8, 2]).unwrap();
/// assert_eq!(q.get().unwrap(), [1, 2]);
/// assert!(q.empty());
/// ```
pub struct SimpleQueue<T>(Queue<T>);

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// Python's `SimpleQueue()`, with a ring of [`DEFAULT_CAPACITY`]
    /// bytes.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::SimpleQueue::<u8>::new().unwrap();
    /// ```
    pub fn new() -> Result<Self> {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A queue whose ring holds `capacity` bytes (see
    /// [`Queue::with_capacity`]).
    ///
    /// ```
    /// let q = gilfree::multiprocessing::SimpleQueue::<u8>::with_capacity(512).unwrap();
    /// ```
    pub fn with_capacity(capacity: usize) -> Result<Self> {
        Ok(SimpleQueue(Queue::with_capacity(0, capacity)?))
    }

    /// Another handle to the same queue.
    ///
    /// ```
    /// let a = gilfree::multiprocessing::SimpleQueue::new().unwrap();
    /// a.try_clone().unwrap().put(1).unwrap();
    /// assert_eq!(a.get().unwrap(), 1);
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        Ok(SimpleQueue(self.0.try_clone()?))
    }

    /// Python's `put(item)`.
    ///
    /// # Errors
    /// `Encode` if the item cannot be encoded.
    ///
    /// ```
    /// gilfree::multiprocessing::SimpleQueue::new().unwrap().put('x').unwrap();
    /// ```
    pub fn put(&self, item: T) -> std::result::Result<(), PutError<T>> {
        self.0.put(item)
    }

    /// Python's `get()`.
    ///
    /// # Errors
    /// `Decode` if the item is not a `T`.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::SimpleQueue::new().unwrap();
    /// q.put(3).unwrap();
    /// assert_eq!(q.get().unwrap(), 3);
    /// ```
    pub fn get(&self) -> std::result::Result<T, GetError> {
        self.0.get()
    }

    /// An item if one is there now (not in Python's `SimpleQueue`).
    ///
    /// ```
    /// let q = gilfree::multiprocessing::SimpleQueue::<u8>::new().unwrap();
    /// assert!(q.try_get().is_err());
    /// ```
    pub fn try_get(&self) -> std::result::Result<T, GetError> {
        self.0.try_get()
    }

    /// An item, waiting at most `timeout` (not in Python's `SimpleQueue`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = gilfree::multiprocessing::SimpleQueue::<u8>::new().unwrap();
    /// assert!(q.get_timeout(Duration::from_millis(1)).is_err());
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> std::result::Result<T, GetError> {
        self.0.get_timeout(timeout)
    }

    /// Python's `empty()`.
    ///
    /// ```
    /// assert!(gilfree::multiprocessing::SimpleQueue::<u8>::new().unwrap().empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.0.empty()
    }

    /// Python's `close()`: the same as dropping the handle.
    ///
    /// ```
    /// gilfree::multiprocessing::SimpleQueue::<u8>::new().unwrap().close();
    /// ```
    pub fn close(self) {}
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("qsize", &self.0.inner.ring().len())
            .finish()
    }
}

impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(SimpleQueue(Queue::deserialize(d)?))
    }
}
