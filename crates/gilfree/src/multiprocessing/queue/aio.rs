//! The `.await` forms of the cross-process queues' waits:
//! [`Queue::get_async`] and [`Queue::put_async`] (so also
//! `JoinableQueue`'s, through `Deref`), [`SimpleQueue::get_async`] and
//! [`SimpleQueue::put_async`], and [`JoinableQueue::join_async`]. Each step is the blocking call's own attempt
//! (`Ring::try_take`, `Ring::claim_step`); between attempts the task
//! announces on the ring's event count (`not_empty`, `not_full`) as a
//! sleeping thread does and waits through the process's futex bridge
//! (`sys::futex_bridge`), which another process's `notify` wakes. Like a
//! blocked thread, a waiting task re-checks at least every 64 ms, then
//! looking for records stuck by a dead process.

use std::future::poll_fn;
use std::task::Poll;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ring::{GetFail, PutFail, Took};
use super::{GetError, JoinableQueue, PutError, Queue, SimpleQueue, codec};
use crate::raw::robust_lock::{FIRST_CHECK_INTERVAL, my_tid, next_check};
use crate::sys::futex_bridge::{BridgeWait, Step};
use crate::sys::{Deadline, EventCount, Shared};

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// Python's `q.get()` without blocking the thread (Python has no
    /// `await` on a `multiprocessing.Queue`; `await
    /// asyncio.to_thread(q.get)` is the usual workaround): the next item,
    /// once there is one.
    ///
    /// Threads and tasks, in this process and others, may wait on one
    /// queue together; a `put` in any process wakes them. Dropping the
    /// future before it completes takes nothing from the queue. Any
    /// runtime drives it (no feature). An item larger than half the ring
    /// (sent in chunks), once begun, is read to its end by the polling
    /// thread, as `get` does.
    ///
    /// # Errors
    /// As [`get`](Self::get): `ShutDown`, `Decode`, `Corrupt`.
    ///
    /// ```
    /// use gilfree::multiprocessing::Queue;
    /// let q = Queue::new(0).unwrap();
    /// let producer = q.try_clone().unwrap();
    /// let t = std::thread::spawn(move || producer.put("hi".to_owned()).unwrap());
    /// let got = futures::executor::block_on(q.get_async()).unwrap();
    /// assert_eq!(got, "hi");
    /// t.join().unwrap();
    /// ```
    pub async fn get_async(&self) -> std::result::Result<T, GetError> {
        let ring = self.inner.ring();
        let took = ring_wait(ring.not_empty(), |check| {
            match ring.try_take(my_tid(), check, Deadline::now()) {
                // `Empty` is the consumers' lock held past its grace:
                // look again at the next re-check.
                Some(Err(GetFail::Empty)) | None => None,
                Some(r) => Some(r),
            }
        })
        .await;
        let took: Took = took?;
        ring.read_took(took, codec::from_bytes::<T>, || {})
            .map_err(GetError::Decode)
    }

    /// Python's `q.put(item)` without blocking the thread: put `item`
    /// once the queue has room (`maxsize` items, and the ring's bytes).
    ///
    /// As [`get_async`](Self::get_async) for who may wait and what a
    /// dropped future does (it puts nothing; the item is dropped with it).
    /// An item larger than half the ring goes in chunks through the
    /// blocking [`put`](Self::put), which holds the thread while the
    /// consumers make room for the rest (send such items from
    /// `spawn_blocking`).
    ///
    /// # Errors
    /// As [`put`](Self::put): `ShutDown(item)`, `Encode(item, why)`.
    ///
    /// ```
    /// use gilfree::multiprocessing::Queue;
    /// let q = Queue::new(1).unwrap();
    /// futures::executor::block_on(async {
    ///     q.put_async(1u8).await.unwrap();
    ///     assert!(q.full());
    ///     assert_eq!(q.get_async().await.unwrap(), 1);
    /// });
    /// ```
    pub async fn put_async(&self, item: T) -> std::result::Result<(), PutError<T>> {
        let ring = self.inner.ring();
        let size = postcard::ser_flavors::Size::default();
        let len = match postcard::serialize_with_flavor::<T, _, usize>(&item, size) {
            Ok(n) => n as u64,
            Err(e) => return Err(PutError::Encode(item, e.to_string())),
        };
        if len > ring.max_record() {
            return self.put(item);
        }
        let len = len as u32;
        let claimed = ring_wait(ring.not_full(), |check| {
            match ring.claim_step(len, my_tid(), check, Deadline::now()) {
                // `Full` from a claim step is the producers' lock held
                // past its grace: look again at the next re-check.
                Some(Err(PutFail::Full)) | None => None,
                Some(r) => Some(r),
            }
        })
        .await;
        let pos = match claimed {
            Ok(pos) => pos,
            Err(f) => return Err(PutError::from_fail(f, item)),
        };
        ring.fill_and_commit(
            pos,
            len,
            |slot| {
                let wrote = postcard::to_slice(&item, slot).map(|s| s.len());
                debug_assert_eq!(wrote.ok(), Some(len as usize));
            },
            || {},
        );
        Ok(())
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// Python's `get()` without blocking the thread; as
    /// [`Queue::get_async`].
    ///
    /// # Errors
    /// `Decode` if the item is not a `T`.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::SimpleQueue::new().unwrap();
    /// q.put(3).unwrap();
    /// assert_eq!(futures::executor::block_on(q.get_async()).unwrap(), 3);
    /// ```
    pub async fn get_async(&self) -> std::result::Result<T, GetError> {
        self.0.get_async().await
    }

    /// Python's `put(item)` without blocking the thread while the ring has
    /// no room for its bytes; as [`Queue::put_async`].
    ///
    /// # Errors
    /// `Encode` if the item cannot be encoded.
    ///
    /// ```
    /// let q = gilfree::multiprocessing::SimpleQueue::new().unwrap();
    /// futures::executor::block_on(q.put_async('x')).unwrap();
    /// assert_eq!(q.get().unwrap(), 'x');
    /// ```
    pub async fn put_async(&self, item: T) -> std::result::Result<(), PutError<T>> {
        self.0.put_async(item).await
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// Python's `q.join()` without blocking the thread: until every item
    /// put has been marked done (in any process). As
    /// [`Queue::get_async`] for who may wait and what a drop does
    /// (nothing: it takes nothing).
    ///
    /// ```
    /// use gilfree::multiprocessing::JoinableQueue;
    /// let q = JoinableQueue::new(0).unwrap();
    /// q.put(1u8).unwrap();
    /// let worker = q.try_clone().unwrap();
    /// let t = std::thread::spawn(move || {
    ///     worker.get().unwrap();
    ///     worker.task_done().unwrap();
    /// });
    /// futures::executor::block_on(q.join_async());
    /// t.join().unwrap();
    /// ```
    pub async fn join_async(&self) {
        let ring = self.0.inner.ring();
        if ring.unfinished() == 0 {
            return;
        }
        let mut wait = BridgeWait::new();
        poll_fn(|cx| {
            let done = wait.poll(cx.waker(), true, || {
                let (word, seen) = ring.all_done().announce();
                if ring.unfinished() == 0 {
                    return Step::Ready(());
                }
                Step::Wait {
                    word,
                    expected: seen,
                    recheck: Deadline::Never,
                }
            });
            if done.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Await `attempt` on the ring, as a blocked thread waits on it: try, then
/// announce on `count` (the ring's `not_empty` or `not_full`), try again,
/// then wait through the process's futex bridge until `count` moves. The
/// attempt runs with `check` set at least every 64 ms (from
/// `FIRST_CHECK_INTERVAL`, doubling: the blocked thread's schedule), when
/// it also looks for records a dead process left stuck.
async fn ring_wait<R>(count: &EventCount<Shared>, mut attempt: impl FnMut(bool) -> Option<R>) -> R {
    let mut wait = BridgeWait::new();
    let mut interval = FIRST_CHECK_INTERVAL;
    let mut due = Deadline::Never;
    poll_fn(|cx| {
        let r = wait.poll(cx.waker(), true, || {
            let check = due.expired();
            if let Some(r) = attempt(check) {
                return Step::Ready(r);
            }
            let (word, seen) = count.announce();
            if let Some(r) = attempt(check) {
                return Step::Ready(r);
            }
            if check || due == Deadline::Never {
                due = next_check(&mut interval);
            }
            Step::Wait {
                word,
                expected: seen,
                recheck: due,
            }
        });
        match r {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    })
    .await
}
