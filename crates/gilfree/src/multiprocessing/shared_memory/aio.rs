//! The `.await` forms of the process-shared primitives' waits:
//! [`Lock::acquire_async`], [`Semaphore::acquire_async`],
//! [`BoundedSemaphore::acquire_async`], [`Event::wait_async`],
//! [`Barrier::wait_async`], [`Condition::acquire_async`],
//! [`Condition::wait_async`] and [`RLock::acquire_async`]. Each is the
//! blocking wait's own step (the raw algorithm's attempt, then its
//! announce) with the futex sleep replaced by a registration with the
//! process's futex bridge (`sys::futex_bridge`: one thread that waits in
//! `futex_waitv` on every word tasks wait on), so another process's
//! release wakes the task without holding any thread of the runtime. No
//! runtime feature: only `std::task::Waker`.

use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::task::Poll;

use bytemuck::Pod;

use super::barrier::Barrier;
use super::block::{Block, Single};
use super::condition::Condition;
use super::lock::{Lock, LockGuard};
use super::rlock::{AsyncRLockGuard, RLock};
use super::sync::{BoundedSemaphore, Event, SemHeader, Semaphore, SemaphoreGuard};
use crate::raw::BarrierWait;
use crate::raw::robust_lock::{FIRST_CHECK_INTERVAL, next_check};
use crate::sys::Deadline;
use crate::sys::atomic::Ordering::Relaxed;
use crate::sys::futex_bridge::{BridgeWait, Step};
use crate::threading::TaskOwner;

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
        acquire_block(&self.0).await
    }
}

/// The async acquire of a block's robust lock (`Lock`, `Condition`): the
/// raw lock's step, with liveness re-checks at a sleeper's times.
async fn acquire_block<T: Pod>(block: &Block<Single<T>>) -> LockGuard<'_, T> {
    let hooked = block.lock();
    let raw = hooked.raw().get();
    if !raw.try_lock_free() {
        robust_wait(raw.word(), |check| raw.lock_step(check)).await;
    }
    // Taken (in this poll: no await since). Tell the deadlock detector, if
    // on, as a thread's acquire does.
    block
        .guard_with(|l| {
            l.relock(|_| ());
            true
        })
        .expect("the lock is taken")
}

/// Wait, without blocking the thread, until `step` takes a robust lock
/// whose futex word is `word`: `step(check)` is the raw lock's attempt
/// plus announce (`Ok` once taken; `Err(s)`: sleep while the word is
/// `s`), with `check` true at a sleeper's liveness re-check times (1 ms
/// after the wait on a holder starts, doubling to 64 ms), when a dead
/// holder's lock may be taken over. The one async wait of the shared
/// `Lock`, `Condition` and `RLock`.
async fn robust_wait<R>(
    word: &crate::sys::atomic::AtomicU32,
    mut step: impl FnMut(bool) -> Result<R, u32>,
) -> R {
    let mut wait = BridgeWait::new();
    let mut interval = FIRST_CHECK_INTERVAL;
    let mut due = Deadline::Never;
    poll_fn(|cx| {
        let taken = wait.poll(cx.waker(), true, || {
            let check = due.expired();
            match step(check) {
                Ok(r) => Step::Ready(r),
                Err(s) => {
                    if check || due == Deadline::Never {
                        due = next_check(&mut interval);
                    }
                    Step::Wait {
                        word,
                        expected: s,
                        recheck: due,
                    }
                }
            }
        });
        taken.map_or(Poll::Pending, Poll::Ready)
    })
    .await
}

impl RLock {
    /// Wait until `owner` holds the lock without blocking the thread, or
    /// nest at once if it holds it already (Python has no async `RLock`;
    /// this is aiologic's `await rlock.acquire()` with the owner
    /// explicit, the same [`TaskOwner`] as
    /// [`threading::RLock::acquire_async`](crate::threading::RLock::acquire_async)).
    /// Resolves to an [`AsyncRLockGuard`] that releases one level when
    /// dropped; it is `Send`, so the task may hold the lock across
    /// `.await`s and resume on any runtime thread.
    ///
    /// Threads and tasks, in this process and others, contend on the one
    /// lock; a release (by a thread or a task, in any process) wakes
    /// whichever waits. Dropping the future before it completes (a
    /// runtime timeout, `tokio::time::timeout(d, l.acquire_async(&me))`)
    /// loses nothing: no level is taken, and a wake-up it had been handed
    /// passes on. Any runtime drives it (no feature): the waiting is done
    /// by the process's one futex bridge thread.
    ///
    /// A holder's death: the lock's word names a task holder's *process*
    /// (its pid and a tag of its start time), not a thread, so it is on
    /// no robust list; a waiter (thread or task, in any process) finds the
    /// death by its own check, 1 ms after it starts waiting on that holder
    /// and then at doubling intervals up to 64 ms, and takes the lock over:
    /// its guard's `owner_died()` is `true`. A pid reused by a new process
    /// in the meantime is told apart by its start time, except for one
    /// chance in 255 (then the waiters wait for the new process). A task
    /// holder whose *process* lives is alive, even if the task (or its
    /// token) is gone: a guard forgotten by a task keeps the lock held, as
    /// a forgotten thread guard does.
    ///
    /// ```
    /// use gilfree::multiprocessing::RLock;
    /// use gilfree::threading::TaskOwner;
    /// let lock = RLock::new().unwrap();
    /// let me = TaskOwner::new();
    /// futures::executor::block_on(async {
    ///     let _outer = lock.acquire_async(&me).await;
    ///     let _inner = lock.acquire_async(&me).await; // nests: same owner
    ///     assert_eq!(lock.recursion_count_by(&me), 2);
    ///     assert!(!lock.is_owned()); // not this thread's
    /// });
    /// assert!(!lock.locked());
    /// ```
    pub async fn acquire_async<'a>(&'a self, owner: &'a TaskOwner) -> AsyncRLockGuard<'a> {
        let raw = self.raw();
        let died = robust_wait(raw.lock().word(), |check| {
            raw.lock_step_by(&owner.raw, check)
        })
        .await;
        // Taken in the poll that completed (no await since): the guard
        // cannot be lost to a drop.
        AsyncRLockGuard {
            lock: self,
            owner,
            owner_died: died,
        }
    }
}

impl<T: Pod> Condition<T> {
    /// Take the condition's lock without blocking the thread; as
    /// [`Lock::acquire_async`] (the same guard as
    /// [`acquire`](Self::acquire)).
    ///
    /// ```
    /// let c = gilfree::multiprocessing::Condition::new(0u8).unwrap();
    /// let g = futures::executor::block_on(c.acquire_async());
    /// assert_eq!(*g, 0);
    /// ```
    pub async fn acquire_async(&self) -> LockGuard<'_, T> {
        acquire_block(&self.0).await
    }

    /// Python's `await cond.wait()` (asyncio's `Condition`): release the
    /// lock, wait until notified (by any process), take the lock back —
    /// without blocking the thread. The guard goes in and comes back out:
    /// dropping the future part-way leaves the lock *not* held (there is no
    /// guard to drop twice); a notification it had received passes on.
    /// Wake-ups may be spurious, as with every wait of this condition:
    /// loop on the state.
    ///
    /// # Panics
    /// If the calling thread does not hold this condition's lock (`guard`
    /// is another lock's), as [`wait_guard`](Self::wait_guard).
    ///
    /// ```
    /// use gilfree::multiprocessing::Condition;
    /// let c = Condition::new(0u32).unwrap();
    /// let other = c.try_clone().unwrap();
    /// futures::executor::block_on(async {
    ///     let mut g = c.acquire_async().await;
    ///     let t = std::thread::spawn(move || {
    ///         let mut g = other.acquire();
    ///         *g = 1;
    ///         other.notify_all().unwrap();
    ///     });
    ///     while *g == 0 {
    ///         g = c.wait_async(g).await;
    ///     }
    ///     drop(g);
    ///     t.join().unwrap();
    /// });
    /// ```
    pub async fn wait_async<'a>(&'a self, guard: LockGuard<'a, T>) -> LockGuard<'a, T> {
        assert!(
            self.held_by_me(),
            "cannot wait on un-acquired lock (the guard is not this condition's)"
        );
        let cv = self.0.condvar();
        // Read under the lock: a notify after the release bumps it.
        let seen = cv.look();
        drop(guard);
        let mut wait = BridgeWait::new();
        poll_fn(|cx| {
            let woke = wait.poll(cx.waker(), true, || {
                if cv.word().load(Relaxed) != seen {
                    Step::Ready(())
                } else {
                    Step::Wait {
                        word: cv.word(),
                        expected: seen,
                        recheck: Deadline::Never,
                    }
                }
            });
            if woke.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        drop(wait);
        acquire_block(&self.0).await
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

impl Barrier {
    /// Wait for the other parties without blocking the thread (Python:
    /// `await asyncio.to_thread(barrier.wait)`; `asyncio.Barrier.wait()` is
    /// the in-process one): this party's index, `0..parties`, once all
    /// have arrived, in any processes; the last arrival runs the action
    /// within its poll.
    ///
    /// Threads and tasks, in this process and others, may be parties of one
    /// cycle together. As with `asyncio.Barrier` (and
    /// [`threading::Barrier::wait_async`](crate::threading::Barrier::wait_async)),
    /// dropping the future before the cycle completes (a runtime timeout)
    /// *withdraws* the party instead of breaking the barrier; the barrier's
    /// default timeout does not apply (a thread's
    /// [`wait_timeout`](Self::wait_timeout) still breaks it).
    ///
    /// # Errors
    /// `BrokenBarrier` if the barrier is or gets broken or reset.
    ///
    /// # Panics
    /// Resumes the action's panic in the party that ran it.
    ///
    /// ```
    /// use gilfree::multiprocessing::Barrier;
    /// let b = Barrier::new(2).unwrap();
    /// let other = b.try_clone().unwrap();
    /// let t = std::thread::spawn(move || other.wait());
    /// let mine = futures::executor::block_on(b.wait_async()).unwrap();
    /// let theirs = t.join().unwrap().unwrap();
    /// assert_eq!(mine + theirs, 1); // indices 0 and 1
    /// ```
    pub async fn wait_async(&self) -> std::result::Result<usize, crate::threading::Error> {
        let mut wait = BarrierWait::shared(&self.header().raw);
        // The action runs inside the poll that arrives last; a panic is
        // carried out of that poll (no `Cell` held across the await, so
        // the future stays `Send`).
        let (r, panicked) = poll_fn(|cx| {
            let mut panicked = None;
            let action = || match &self.action {
                None => true,
                Some(a) => match catch_unwind(AssertUnwindSafe(|| a())) {
                    Ok(()) => true,
                    Err(p) => {
                        panicked = Some(p);
                        false
                    }
                },
            };
            match wait.poll(cx.waker(), action) {
                Some(r) => Poll::Ready((r, panicked)),
                None => Poll::Pending,
            }
        })
        .await;
        if let Some(p) = panicked {
            resume_unwind(p);
        }
        r.map(|i| i as usize)
            .map_err(|_| crate::threading::Error::BrokenBarrier)
    }
}
