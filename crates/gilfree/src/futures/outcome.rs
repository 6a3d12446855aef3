//! Reading a done future's outcome: Python's `result()` and
//! `exception()` (with and without a timeout), `into_result` (the value
//! moved out), and `.await`. Completing a future and its state word are
//! `future.rs`'s job; this file only waits for `done` and reads the slot.

use core::task::{Context, Poll};
use std::time::Duration;

use super::future::{is_cancelled, is_done};
use super::{Error, Future};
use crate::sys::Deadline;
use crate::sys::atomic::Ordering::Acquire;

impl<T> Future<T> {
    /// Read the outcome of a done future with `f`, under the lock.
    fn read<R>(&self, f: impl FnOnce(&mut Option<Result<T, Error>>) -> R) -> Result<R, Error> {
        let inner = self.inner();
        let s = inner.state.load(Acquire);
        debug_assert!(is_done(s));
        if is_cancelled(s) {
            return Err(Error::Cancelled);
        }
        let _g = inner.listeners.acquire();
        // SAFETY: FINISHED was seen with Acquire, so the completer's write
        // is visible and finished; every later access holds this lock.
        Ok(inner.slot.with_mut(|p| f(unsafe { &mut *p })))
    }

    /// Python's `exception()`: wait until done, then `Ok(None)` if it
    /// succeeded, `Ok(Some(error))` if the task failed (panicked), or
    /// `Err(Cancelled)` if it was cancelled.
    ///
    /// ```
    /// use gilfree::futures::{Error, ThreadPoolExecutor, Executor};
    /// let pool = ThreadPoolExecutor::new();
    /// let f = pool.submit(|| -> u8 { panic!("no") }).unwrap();
    /// assert_eq!(f.exception(), Ok(Some(Error::Panicked("no".into()))));
    /// ```
    pub fn exception(&self) -> Result<Option<Error>, Error> {
        self.exception_deadline(Deadline::Never)
    }

    /// Python's `exception(timeout)`: as [`exception`](Future::exception),
    /// but `Err(Timeout)` if not done within `timeout`.
    ///
    /// ```
    /// use gilfree::futures::{Error, Future};
    /// let f = Future::<u8>::new();
    /// assert_eq!(f.exception_timeout(std::time::Duration::ZERO), Err(Error::Timeout));
    /// ```
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<Error>, Error> {
        self.exception_deadline(Deadline::after(timeout))
    }

    pub(crate) fn exception_deadline(&self, deadline: Deadline) -> Result<Option<Error>, Error> {
        if !self.wait_done(deadline) {
            return Err(Error::Timeout);
        }
        self.read(|slot| match slot {
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(e.clone()),
            // Only a value is ever taken: the task succeeded.
            None => None,
        })
    }

    /// Python's `result()`, taking the value out instead of cloning it.
    ///
    /// Waits until done. Errors: `Cancelled`, the task's error, or
    /// `InvalidState` if another handle already took the result.
    ///
    /// ```
    /// use gilfree::futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let f = pool.submit(|| vec![1, 2, 3]).unwrap();
    /// assert_eq!(f.into_result(), Ok(vec![1, 2, 3]));
    /// ```
    pub fn into_result(self) -> Result<T, Error> {
        self.wait_done(Deadline::Never);
        self.take()
    }

    pub(crate) fn take(&self) -> Result<T, Error> {
        self.read(|slot| match slot {
            Some(Ok(_)) => match slot.take() {
                Some(Ok(v)) => Ok(v),
                _ => unreachable!(),
            },
            Some(Err(e)) => Err(e.clone()),
            None => Err(Error::InvalidState("result already taken")),
        })?
    }
}

impl<T: Clone> Future<T> {
    /// Python's `result()`: wait until done, then the value (cloned) or the
    /// error: `Cancelled` if cancelled, [`Error::Panicked`] if the task
    /// panicked.
    ///
    /// ```
    /// use gilfree::futures::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let f = pool.submit(|| "done".to_string()).unwrap();
    /// assert_eq!(f.result().as_deref(), Ok("done"));
    /// assert_eq!(f.result().as_deref(), Ok("done")); // again
    /// ```
    pub fn result(&self) -> Result<T, Error> {
        self.wait_done(Deadline::Never);
        self.clone_result()
    }

    /// Python's `result(timeout)`: as [`result`](Future::result), but
    /// `Err(Timeout)` if not done within `timeout` (the future goes on).
    ///
    /// ```
    /// use gilfree::futures::{Error, Future};
    /// let f = Future::<u8>::new();
    /// assert_eq!(f.result_timeout(std::time::Duration::from_millis(1)), Err(Error::Timeout));
    /// ```
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, Error> {
        if !self.wait_done(Deadline::after(timeout)) {
            return Err(Error::Timeout);
        }
        self.clone_result()
    }

    fn clone_result(&self) -> Result<T, Error> {
        self.read(|slot| match slot {
            Some(r) => r.clone(),
            None => Err(Error::InvalidState("result already taken")),
        })?
    }
}

/// `.await` a future in any async runtime: the output is the result, taken
/// as by [`Future::into_result`].
///
/// ```
/// use gilfree::futures::{Executor, ThreadPoolExecutor};
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Waker};
/// #     let mut f = std::pin::pin!(f);
/// #     let t = std::thread::current();
/// #     struct W(std::thread::Thread);
/// #     impl std::task::Wake for W { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
/// #     let w = Waker::from(std::sync::Arc::new(W(t)));
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&w)) { return v; }
/// #         std::thread::park();
/// #     }
/// # }
/// let pool = ThreadPoolExecutor::new();
/// let f = pool.submit(|| 1 + 1).unwrap();
/// assert_eq!(block_on(async { f.await }), Ok(2));
/// ```
impl<T> std::future::Future for Future<T> {
    type Output = Result<T, Error>;

    fn poll(self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.done() && self.listen_waker(cx.waker()) {
            return Poll::Pending;
        }
        Poll::Ready(self.take())
    }
}
