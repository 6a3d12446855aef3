//! The `.await` forms of the queue waits (Python's `asyncio.Queue.put` /
//! `get`): the futures [`PutAsync`] and [`GetAsync`], shared by all four
//! queue types. Each poll runs the core's attempt and, if it must wait,
//! registers the task's `Waker` on the same event count the blocking
//! callers sleep on (`sys::event_count`, `sys::wakers`), so it runs on any
//! executor and threads and tasks wait on one queue together.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::fmt;

use super::core::AsyncCore;
use super::{GetError, PutError, get_err, put_err};
use crate::sys::wakers::WaitSlot;

const POLLED_AFTER_DONE: &str = "a queue future polled after it completed";

/// The future of `put_async` on [`Queue`](super::Queue),
/// [`LifoQueue`](super::LifoQueue) and [`PriorityQueue`](super::PriorityQueue)
/// (Python: the coroutine `asyncio.Queue.put(item)`). Resolves once the
/// item is in the queue, or to [`PutError::ShutDown`] with the item.
///
/// `Send` when `T: Send`. Dropping it before it completes drops the item,
/// which was never put (as dropping any send future does).
///
/// ```
/// let q = gilfree::queue::Queue::new(1);
/// let fut: gilfree::queue::PutAsync<'_, i32> = q.put_async(1);
/// futures::executor::block_on(fut).unwrap();
/// assert_eq!(q.get(), Ok(1));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct PutAsync<'a, T> {
    core: &'a dyn AsyncCore<T>,
    item: Option<T>,
    slot: WaitSlot,
}

impl<'a, T> PutAsync<'a, T> {
    pub(super) fn new(core: &'a dyn AsyncCore<T>, item: T) -> Self {
        PutAsync {
            core,
            item: Some(item),
            slot: WaitSlot::new(),
        }
    }
}

// The future never pins its fields: moving it between polls is fine (the
// waker table holds an id, not an address into the future).
impl<T> Unpin for PutAsync<'_, T> {}

impl<T> Future for PutAsync<'_, T> {
    type Output = Result<(), PutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(this.item.is_some(), "{POLLED_AFTER_DONE}");
        match this
            .core
            .poll_put(&mut this.item, &mut this.slot, cx.waker())
        {
            Some(r) => Poll::Ready(r.map_err(put_err)),
            None => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for PutAsync<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutAsync").finish_non_exhaustive()
    }
}

/// The future of `get_async` on all four queue types (Python: the
/// coroutine `asyncio.Queue.get()`). Resolves to the next item, or to
/// [`GetError::ShutDown`] once the queue is shut down and empty.
///
/// `Send` when `T: Send`. An item is taken only in the poll that returns
/// it, so dropping the future before then loses no item; if a put had
/// woken it, every other waiter was woken too and one of them takes the
/// item.
///
/// ```
/// let q = gilfree::queue::Queue::new(0);
/// q.put("x").unwrap();
/// let fut: gilfree::queue::GetAsync<'_, &str> = q.get_async();
/// assert_eq!(futures::executor::block_on(fut), Ok("x"));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct GetAsync<'a, T> {
    core: &'a dyn AsyncCore<T>,
    slot: WaitSlot,
    done: bool,
}

impl<'a, T> GetAsync<'a, T> {
    pub(super) fn new(core: &'a dyn AsyncCore<T>) -> Self {
        GetAsync {
            core,
            slot: WaitSlot::new(),
            done: false,
        }
    }
}

impl<T> Unpin for GetAsync<'_, T> {}

impl<T> Future for GetAsync<'_, T> {
    type Output = Result<T, GetError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "{POLLED_AFTER_DONE}");
        match this.core.poll_get(&mut this.slot, cx.waker()) {
            Some(r) => {
                this.done = true;
                Poll::Ready(r.map_err(get_err))
            }
            None => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for GetAsync<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetAsync").finish_non_exhaustive()
    }
}
