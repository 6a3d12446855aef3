//! `SimpleQueue`: Python's `queue.SimpleQueue`, unbounded FIFO without
//! task tracking.

use std::time::Duration;

use super::core::Core;
use super::list::List;
use super::{GetAsync, GetError, get_err};
use crate::sys::Deadline;

/// An unbounded first-in first-out queue without `task_done`/`join`:
/// Python's `queue.SimpleQueue`.
///
/// `put` never blocks and never fails; `get` waits for an item. There is no
/// `maxsize`, no task accounting and (as in Python 3.13) no `shutdown`, so
/// it is the cheapest queue when a consumer needs nothing but the items.
///
/// Differences from Python: `get(block, timeout)` is `get` / `try_get` /
/// `get_timeout`; `put_many` / `get_many` are additions.
///
/// ```
/// use gilfree::queue::SimpleQueue;
/// use std::sync::Arc;
/// let q = Arc::new(SimpleQueue::new());
/// let q2 = q.clone();
/// std::thread::spawn(move || q2.put("hello")).join().unwrap();
/// assert_eq!(q.get(), "hello");
/// ```
pub struct SimpleQueue<T> {
    core: Core<T, List<T>>,
}

impl<T: Send> SimpleQueue<T> {
    /// A new, empty queue (Python: `queue.SimpleQueue()`).
    ///
    /// ```
    /// let q = gilfree::queue::SimpleQueue::<i32>::new();
    /// assert!(q.empty());
    /// ```
    pub fn new() -> Self {
        SimpleQueue {
            core: Core::new(List::new(), false),
        }
    }

    /// Put `item`; never blocks (Python: `q.put(item)` / `put_nowait`).
    ///
    /// ```
    /// let q = gilfree::queue::SimpleQueue::new();
    /// q.put(1);
    /// assert_eq!(q.qsize(), 1);
    /// ```
    #[inline]
    pub fn put(&self, item: T) {
        // Unbounded and never shut down: a put cannot fail.
        let _ = self.core.put(item, Deadline::Never);
    }

    /// Put every item in order, waking consumers once for the batch.
    ///
    /// ```
    /// let q = gilfree::queue::SimpleQueue::new();
    /// q.put_many(0..3);
    /// assert_eq!(q.get_many(10), vec![0, 1, 2]);
    /// ```
    pub fn put_many(&self, items: impl IntoIterator<Item = T>) {
        let _ = self.core.put_many(items);
    }

    /// Put `item` from async code (Python: `await q.put(item)` on an
    /// `asyncio.Queue`): an unbounded queue has room for it at once, so the
    /// item is put when this is called, and the returned future is already
    /// complete. It exists so that code written for the other queues'
    /// `put_async` works here unchanged.
    ///
    /// ```
    /// let q = gilfree::queue::SimpleQueue::new();
    /// futures::executor::block_on(async {
    ///     q.put_async(1).await;
    ///     assert_eq!(q.get_async().await, 1);
    /// });
    /// ```
    #[inline]
    pub fn put_async(&self, item: T) -> core::future::Ready<()> {
        self.put(item);
        core::future::ready(())
    }

    /// Remove and return an item without blocking the thread, waiting (as a
    /// task) until one is there (Python: `await q.get()` on an
    /// `asyncio.Queue`). Threads and tasks may wait at once; any executor;
    /// for a timeout wrap it in your runtime's. An item is taken only when
    /// the future completes: dropping it earlier loses nothing.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let q = Arc::new(gilfree::queue::SimpleQueue::new());
    /// let q2 = q.clone();
    /// let producer = std::thread::spawn(move || q2.put('z'));
    /// assert_eq!(futures::executor::block_on(q.get_async()), 'z');
    /// producer.join().unwrap();
    /// ```
    #[inline]
    pub fn get_async(&self) -> SimpleGetAsync<'_, T> {
        SimpleGetAsync(GetAsync::new(&self.core))
    }

    /// Remove and return an item, waiting until one is there (Python:
    /// `q.get()`).
    ///
    /// ```
    /// let q = gilfree::queue::SimpleQueue::new();
    /// q.put('x');
    /// assert_eq!(q.get(), 'x');
    /// ```
    #[inline]
    pub fn get(&self) -> T {
        match self.core.get(Deadline::Never) {
            Ok(v) => v,
            Err(_) => unreachable!("a SimpleQueue is never shut down"),
        }
    }

    /// Remove and return an item if there is one now (Python:
    /// `q.get(block=False)` / `get_nowait`).
    ///
    /// # Errors
    /// [`GetError::Empty`] if there is none.
    ///
    /// ```
    /// let q = gilfree::queue::SimpleQueue::<u8>::new();
    /// assert_eq!(q.try_get(), Err(gilfree::queue::GetError::Empty));
    /// ```
    #[inline]
    pub fn try_get(&self) -> Result<T, GetError> {
        self.core.get(Deadline::now()).map_err(get_err)
    }

    /// Remove and return an item, waiting at most `timeout` (Python:
    /// `q.get(timeout=t)`).
    ///
    /// # Errors
    /// [`GetError::Empty`] if none came in time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = gilfree::queue::SimpleQueue::<u8>::new();
    /// assert!(q.get_timeout(Duration::from_millis(1)).is_err());
    /// ```
    #[inline]
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.core.get(Deadline::after(timeout)).map_err(get_err)
    }

    /// Wait for at least one item, then take it and up to `max - 1` more
    /// already there, in FIFO order. `max == 0` returns an empty `Vec` at
    /// once.
    ///
    /// ```
    /// let q = gilfree::queue::SimpleQueue::new();
    /// q.put_many([1, 2, 3]);
    /// assert_eq!(q.get_many(2), vec![1, 2]);
    /// ```
    pub fn get_many(&self, max: usize) -> Vec<T> {
        self.core.get_many(max, Deadline::Never).unwrap_or_default()
    }

    /// [`get_many`](Self::get_many) waiting at most `timeout` for the first
    /// item.
    ///
    /// # Errors
    /// [`GetError::Empty`] if none came in time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = gilfree::queue::SimpleQueue::<u8>::new();
    /// assert!(q.get_many_timeout(3, Duration::ZERO).is_err());
    /// ```
    pub fn get_many_timeout(&self, max: usize, timeout: Duration) -> Result<Vec<T>, GetError> {
        self.core
            .get_many(max, Deadline::after(timeout))
            .map_err(get_err)
    }

    /// The number of items now in the queue (Python: `q.qsize()`); a
    /// snapshot.
    ///
    /// ```
    /// let q = gilfree::queue::SimpleQueue::new();
    /// q.put(());
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.core.qsize()
    }

    /// Whether the queue is empty now (Python: `q.empty()`); a snapshot.
    ///
    /// ```
    /// assert!(gilfree::queue::SimpleQueue::<u8>::new().empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.core.qsize() == 0
    }
}

impl<T: Send> Default for SimpleQueue<T> {
    fn default() -> Self {
        SimpleQueue::new()
    }
}

impl<T: Send> std::fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("qsize", &self.qsize())
            .finish()
    }
}

/// The future of [`SimpleQueue::get_async`]: resolves to the next item (a
/// `SimpleQueue` is never shut down). `Send` when `T: Send`; dropping it
/// before it completes loses nothing.
///
/// ```
/// let q = gilfree::queue::SimpleQueue::new();
/// q.put(3);
/// let fut: gilfree::queue::SimpleGetAsync<'_, i32> = q.get_async();
/// assert_eq!(futures::executor::block_on(fut), 3);
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct SimpleGetAsync<'a, T>(GetAsync<'a, T>);

impl<T> std::future::Future for SimpleGetAsync<'_, T> {
    type Output = T;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| match r {
            Ok(v) => v,
            Err(_) => unreachable!("a SimpleQueue is never shut down"),
        })
    }
}
