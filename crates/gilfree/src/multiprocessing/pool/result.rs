//! `AsyncResult` and `Callbacks`: the result of a `Pool` call made with
//! an `*_async` method, and the callbacks run when it arrives.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

#[cfg(doc)]
use crate::multiprocessing::Pool;
use crate::multiprocessing::error::{Error, Result};
use crate::sys::spin::{SOCKET_READ, Spin};
use crate::threading::{Event, Lock};

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
/// ```
/// # #[gilfree::main] fn main() {
/// use gilfree::multiprocessing::Pool;
/// #[gilfree::task]
/// fn add(a: i32, b: i32) -> i32 { a + b }
/// let pool = Pool::new(2).unwrap();
/// let r = pool.apply_async(add::TASK, (2, 3)).unwrap();
/// r.wait();
/// assert!(r.ready() && r.successful().unwrap());
/// assert_eq!(r.get().unwrap(), 5);
/// # }
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
    pub(super) fn new() -> Self {
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
    pub(super) fn set(&self, r: Result<T>, cb: Callbacks<T>) {
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
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// r.wait();
    /// assert!(r.ready());
    /// # }
    /// ```
    pub fn ready(&self) -> bool {
        self.shared.ready.is_set()
    }

    /// Python's `successful()`: whether the call completed without an
    /// error; [`Error::Value`] if it is not ready yet.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// r.wait();
    /// assert!(r.successful().unwrap());
    /// # }
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
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// r.wait();
    /// # }
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
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// while !r.wait_timeout(std::time::Duration::from_millis(10)) {}
    /// # }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.shared.ready.wait_timeout(timeout)
    }

    /// Python's `get()`: wait, then the value, or the call's error (a
    /// panic, [`Error::WorkerDied`], a result that did not decode, ...).
    /// Takes the value.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// assert_eq!(r.get().unwrap(), 1);
    /// assert!(r.get().is_err()); // taken
    /// # }
    /// ```
    pub fn get(&self) -> Result<T> {
        self.wait();
        self.take()
    }

    /// Python's `get(timeout)`: as [`get`](Self::get), or
    /// [`Error::Timeout`] if the call has not completed within `timeout`
    /// (it goes on; ask again later).
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// # let pool = Pool::new(1).unwrap();
    /// let r = pool.apply_async(one::TASK, ()).unwrap();
    /// assert_eq!(r.get_timeout(std::time::Duration::from_secs(60)).unwrap(), 1);
    /// # }
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
/// ```
/// # #[gilfree::main] fn main() {
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
/// # }
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
