//! The `.await` forms of the process-shared primitives' waits:
//! [`Lock::acquire_async`], [`Semaphore::acquire_async`],
//! [`BoundedSemaphore::acquire_async`], [`Event::wait_async`]. Each is the
//! blocking wait's own step (the raw algorithm's attempt, then its
//! announce) with the futex sleep replaced by a registration with the
//! process's futex bridge (`sys::futex_bridge`: one thread that waits in
//! `futex_waitv` on every word tasks wait on), so another process's
//! release wakes the task without holding any thread of the runtime. No
//! runtime feature: only `std::task::Waker`.

use std::future::poll_fn;
use std::task::Poll;

use bytemuck::Pod;

use super::lock::{Lock, LockGuard};
use super::sync::{BoundedSemaphore, Event, SemHeader, Semaphore, SemaphoreGuard};
use crate::raw::robust_lock::{FIRST_CHECK_INTERVAL, next_check};
use crate::sys::Deadline;
use crate::sys::futex_bridge::{BridgeWait, Step};

impl<T: Pod> Lock<T> {
    /// Wait for the lock without blocking the thread (Python: there is no
    /// `await` on a `multiprocessing.Lock`; `asyncio.Lock` is the
    /// in-process one, and `await asyncio.to_thread(lock.acquire)` the
    /// usual workaround). Resolves to the same guard as
    /// [`acquire`](Self::acquire), including its
    /// [`owner_died`](super::Guard::owner_died) report: a holder that dies
    /// (a process SIGKILLed holding it) is taken over by an awaiting task
    /// as by a blocked thread, within about 64 ms.
    ///
    /// Threads and tasks, in this process and others, may wait on one lock
    /// together. Dropping the future before it completes (a runtime
    /// timeout such as `tokio::time::timeout(d, lock.acquire_async())`)
    /// loses nothing: a wake-up it had received passes on. Any runtime
    /// drives it (no feature); the waiting is done by one "futex bridge"
    /// thread per process, however many tasks wait. The guard is not
    /// `Send` (the lock records the thread that took it, to detect a dead
    /// holder), so hold it across an `.await` only on a single-thread
    /// runtime or inside `block_on`.
    ///
    /// ```
    /// use gilfree::multiprocessing::Lock;
    /// let lock = Lock::new(1u32).unwrap();
    /// futures::executor::block_on(async {
    ///     let mut n = lock.acquire_async().await;
    ///     *n += 1;
    /// });
    /// assert_eq!(*lock.acquire(), 2);
    /// ```
    pub async fn acquire_async(&self) -> LockGuard<'_, T> {
        let hooked = self.0.lock();
        let raw = hooked.raw().get();
        if !raw.try_lock_free() {
            let mut wait = BridgeWait::new();
            let mut interval = FIRST_CHECK_INTERVAL;
            let mut due = Deadline::Never;
            poll_fn(|cx| {
                let got = wait.poll(cx.waker(), true, || {
                    let check = due.expired();
                    match raw.lock_step(check) {
                        Ok(()) => Step::Ready(()),
                        Err(s) => {
                            if check || due == Deadline::Never {
                                due = next_check(&mut interval);
                            }
                            Step::Wait {
                                word: raw.word(),
                                expected: s,
                                recheck: due,
                            }
                        }
                    }
                });
                if got.is_some() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
        // Taken (in this poll: no await since). Tell the deadlock
        // detector, if on, as a thread's acquire does.
        self.0
            .guard_with(|l| {
                l.relock(|_| ());
                true
            })
            .expect("the lock is taken")
    }
}

/// Undoes a semaphore task's `announce` when its acquire ends or is
/// dropped.
struct Counted<'a>(&'a SemHeader);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.raw.withdraw();
    }
}

/// The async acquire of both semaphores.
async fn acquire(h: &SemHeader) -> SemaphoreGuard<'_> {
    if !h.raw.try_acquire() {
        // Counted as a waiter while it waits (a release then makes its
        // futex_wake, which reaches the bridge), as a sleeping thread is.
        h.raw.announce();
        let _counted = Counted(h);
        let mut wait = BridgeWait::new();
        poll_fn(|cx| {
            let got = wait.poll(cx.waker(), true, || {
                if h.raw.try_acquire() {
                    Step::Ready(())
                } else {
                    Step::Wait {
                        word: h.raw.word(),
                        expected: 0,
                        recheck: Deadline::Never,
                    }
                }
            });
            if got.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
    SemaphoreGuard { header: h }
}

impl Semaphore {
    /// Wait for a permit without blocking the thread (Python:
    /// `await asyncio.to_thread(sem.acquire)`; gilfree needs no thread per
    /// wait). Resolves to a guard that gives the permit back when dropped.
    ///
    /// Threads and tasks, in this process and others, may wait on one
    /// semaphore together. Dropping the future before it completes (a
    /// runtime timeout, a `select!`) loses no permit and no wake-up. Any
    /// runtime drives it (no feature): one "futex bridge" thread per
    /// process does the waiting for every task.
    ///
    /// ```
    /// use gilfree::multiprocessing::Semaphore;
    /// let sem = Semaphore::new(1).unwrap();
    /// futures::executor::block_on(async {
    ///     let _permit = sem.acquire_async().await;
    ///     assert_eq!(sem.value(), 0);
    /// });
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub async fn acquire_async(&self) -> SemaphoreGuard<'_> {
        acquire(self.0.get()).await
    }
}

impl BoundedSemaphore {
    /// Wait for a permit without blocking the thread; as
    /// [`Semaphore::acquire_async`].
    ///
    /// ```
    /// use gilfree::multiprocessing::BoundedSemaphore;
    /// let sem = BoundedSemaphore::new(1).unwrap();
    /// futures::executor::block_on(async {
    ///     sem.acquire_async().await.forget();
    /// });
    /// sem.release().unwrap();
    /// ```
    pub async fn acquire_async(&self) -> SemaphoreGuard<'_> {
        acquire(self.0.get()).await
    }
}

impl Event {
    /// Wait until the flag is set, without blocking the thread (Python:
    /// `await asyncio.to_thread(event.wait)`). As [`wait`](Self::wait), a
    /// `set()` followed at once by `clear()` still ends the wait.
    ///
    /// Threads and tasks, in this process and others, may wait on one
    /// event together; a `set()` in any process wakes them all. Dropping
    /// the future loses nothing. Any runtime drives it (no feature). For a
    /// timeout: `tokio::time::timeout(d, ev.wait_async())`.
    ///
    /// ```
    /// use gilfree::multiprocessing::Event;
    /// let ev = Event::new().unwrap();
    /// let setter = ev.try_clone().unwrap();
    /// let t = std::thread::spawn(move || setter.set());
    /// futures::executor::block_on(ev.wait_async());
    /// t.join().unwrap();
    /// ```
    pub async fn wait_async(&self) {
        let ev = self.0.get();
        if ev.is_set() {
            return;
        }
        let mut generation = None;
        let mut wait = BridgeWait::new();
        poll_fn(|cx| {
            let seen = wait.poll(cx.waker(), true, || match ev.wait_step(&mut generation) {
                Ok(()) => Step::Ready(()),
                Err(s) => Step::Wait {
                    word: ev.word(),
                    expected: s,
                    recheck: Deadline::Never,
                },
            });
            if seen.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
