//! The proxy of a queue: [`Queue`] and its alias [`JoinableQueue`], a
//! FIFO in the server. A blocking call waits on the server, on the
//! caller's own connection; items travel as their postcard encoding.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{Handle, enc, out_int as int, out_unit as unit, out_value as value};
use super::collections::proxy;
#[allow(unused_imports)] // `Error` is named by the docs' links
use super::error::{Error, Result};
use super::protocol::{Op, Wait};

proxy! {
    /// Python's `manager.Queue(maxsize)` (and, with
    /// [`task_done`](Queue::task_done)/[`join`](Queue::join), its
    /// `JoinableQueue`): a FIFO in the server. A blocking `get`/`put`
    /// waits on the server, on this caller's own connection, so other
    /// clients are not held up.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<String>(0).unwrap();
    /// q.put(&"job".into()).unwrap();
    /// assert_eq!(q.get().unwrap(), "job");
    /// assert!(q.try_get().is_err());
    /// ```
    Queue<T>
}

/// Python's `manager.JoinableQueue()`: the same proxy as [`Queue`], whose
/// `task_done`/`join` Python reserves to this kind.
///
/// ```
/// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
/// let q: gilfree::multiprocessing::manager::JoinableQueue<u8> = m.joinable_queue(0).unwrap();
/// q.put(&1).unwrap();
/// q.get().unwrap();
/// q.task_done().unwrap();
/// q.join().unwrap();
/// ```
pub type JoinableQueue<T> = Queue<T>;

impl<T: Serialize + DeserializeOwned> Queue<T> {
    fn put_wait(&self, x: &T, w: Wait) -> Result<()> {
        unit(self.h.call(Op::Put(enc(x)?, w))?)
    }
    fn get_wait(&self, w: Wait) -> Result<T> {
        value(self.h.call(Op::Get(w))?)
    }

    /// `q.put(x)`: waits for room in a bounded queue.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(1).unwrap();
    /// q.put(&1).unwrap();
    /// assert_eq!(q.qsize().unwrap(), 1);
    /// ```
    pub fn put(&self, x: &T) -> Result<()> {
        self.put_wait(x, Wait::Forever)
    }

    /// `q.put(x, block=False)`; [`Error::Full`] if no room.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(1).unwrap();
    /// q.try_put(&1).unwrap();
    /// assert!(matches!(q.try_put(&2), Err(gilfree::multiprocessing::manager::Error::Full)));
    /// ```
    pub fn try_put(&self, x: &T) -> Result<()> {
        self.put_wait(x, Wait::Now)
    }

    /// `q.put(x, timeout=t)`; [`Error::Full`] when it runs out.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(1).unwrap();
    /// q.put(&1).unwrap();
    /// assert!(q.put_timeout(&2, std::time::Duration::from_millis(10)).is_err());
    /// ```
    pub fn put_timeout(&self, x: &T, timeout: Duration) -> Result<()> {
        self.put_wait(x, Wait::For(timeout))
    }

    /// `q.get()`: waits for an item.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(0).unwrap();
    /// q.put(&7).unwrap();
    /// assert_eq!(q.get().unwrap(), 7);
    /// ```
    pub fn get(&self) -> Result<T> {
        self.get_wait(Wait::Forever)
    }

    /// `q.get(block=False)`; [`Error::Empty`] if none.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(0).unwrap();
    /// assert!(matches!(q.try_get(), Err(gilfree::multiprocessing::manager::Error::Empty)));
    /// ```
    pub fn try_get(&self) -> Result<T> {
        self.get_wait(Wait::Now)
    }

    /// `q.get(timeout=t)`; [`Error::Empty`] when it runs out.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<u8>(0).unwrap();
    /// assert!(q.get_timeout(std::time::Duration::from_millis(10)).is_err());
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_wait(Wait::For(timeout))
    }

    /// `q.qsize()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.queue::<u8>(0).unwrap().qsize().unwrap(), 0);
    /// ```
    pub fn qsize(&self) -> Result<usize> {
        int(self.h.call(Op::Len)?)
    }

    /// `q.empty()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(m.queue::<u8>(0).unwrap().empty().unwrap());
    /// ```
    pub fn empty(&self) -> Result<bool> {
        Ok(self.qsize()? == 0)
    }

    /// `q.task_done()`; [`Error::ValueError`] if called more often than
    /// items were put.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.joinable_queue::<u8>(0).unwrap();
    /// assert!(q.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> Result<()> {
        unit(self.h.call(Op::TaskDone)?)
    }

    /// `q.join()`: waits until every item put has had its `task_done`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.joinable_queue::<u8>(0).unwrap();
    /// q.put(&1).unwrap();
    /// q.get().unwrap();
    /// q.task_done().unwrap();
    /// q.join().unwrap();
    /// ```
    pub fn join(&self) -> Result<()> {
        unit(self.h.call(Op::Join(Wait::Forever))?)
    }

    /// `q.join()` with a limit; [`Error::Timeout`] when it runs out.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.joinable_queue::<u8>(0).unwrap();
    /// q.put(&1).unwrap();
    /// assert!(q.join_timeout(std::time::Duration::from_millis(10)).is_err());
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        unit(self.h.call(Op::Join(Wait::For(timeout)))?)
    }
}
