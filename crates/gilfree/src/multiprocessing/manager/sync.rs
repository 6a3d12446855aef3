//! Proxies of synchronisation objects: `Lock`, `RLock`, `Semaphore`,
//! `BoundedSemaphore`, `Event`, `Condition`, `Barrier`. Each blocking call
//! waits on the server, on the caller's own connection. The server knows
//! which connection holds a lock, and releases it when that connection
//! ends (its process died), so a dead client never keeps a lock.

use std::marker::PhantomData;
use std::time::Duration;

use super::client::{Handle, out_bool, out_int, out_unit, unexpected};
use super::collections::proxy;
#[allow(unused_imports)] // `Error` is named by the docs' links
use super::error::{Error, Result};
use super::protocol::{Op, Out, Wait};

/// A held managed lock; dropping it releases the lock (Python's `with`).
/// A failed release (the server is gone) is ignored on drop; call
/// [`release`](LockGuard::release) to see it.
///
/// ```
/// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
/// let lock = m.lock().unwrap();
/// {
///     let _g = lock.acquire().unwrap(); // with lock:
///     assert!(lock.locked().unwrap());
/// }
/// assert!(!lock.locked().unwrap());
/// ```
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard<'a> {
    h: Option<&'a Handle>,
}

impl LockGuard<'_> {
    /// Release now, with the server's answer.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.lock().unwrap();
    /// l.acquire().unwrap().release().unwrap();
    /// assert!(!l.locked().unwrap());
    /// ```
    pub fn release(mut self) -> Result<()> {
        let h = self.h.take().expect("a guard releases once");
        out_unit(h.call(Op::Release)?)
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.h.take() {
            let _ = h.call(Op::Release);
        }
    }
}

impl std::fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockGuard")
    }
}

fn acquire(h: &Handle, w: Wait) -> Result<Option<LockGuard<'_>>> {
    Ok(out_bool(h.call(Op::Acquire(w))?)?.then_some(LockGuard { h: Some(h) }))
}

/// `acquire`, `try_acquire`, `acquire_timeout`, `release` of a lock-like
/// proxy.
macro_rules! lock_methods {
    ($name:ident, $ctor:literal) => {
        impl $name {
            /// `acquire()`: waits, then returns a guard that releases on drop.
            ///
            /// ```
            #[doc = concat!("# let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();\nlet l = m.", $ctor, ".unwrap();")]
            /// let g = l.acquire().unwrap();
            /// drop(g);
            /// ```
            pub fn acquire(&self) -> Result<LockGuard<'_>> {
                acquire(&self.h, Wait::Forever).map(|g| g.expect("an untimed acquire succeeds"))
            }

            /// `acquire(blocking=False)`: `None` if it is not free now.
            ///
            /// ```
            #[doc = concat!("# let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();\nlet l = m.", $ctor, ".unwrap();")]
            /// assert!(l.try_acquire().unwrap().is_some());
            /// ```
            pub fn try_acquire(&self) -> Result<Option<LockGuard<'_>>> {
                acquire(&self.h, Wait::Now)
            }

            /// `acquire(timeout=t)`: `None` when it runs out.
            ///
            /// ```
            #[doc = concat!("# let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();\nlet l = m.", $ctor, ".unwrap();")]
            /// assert!(l.acquire_timeout(std::time::Duration::from_secs(1)).unwrap().is_some());
            /// ```
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<LockGuard<'_>>> {
                acquire(&self.h, Wait::For(timeout))
            }

            /// `acquire()` without a guard: pair it with
            /// [`release`](Self::release) (Python's explicit style).
            ///
            /// ```
            #[doc = concat!("# let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();\nlet l = m.", $ctor, ".unwrap();")]
            /// l.acquire_unguarded().unwrap();
            /// l.release().unwrap();
            /// ```
            pub fn acquire_unguarded(&self) -> Result<()> {
                out_bool(self.h.call(Op::Acquire(Wait::Forever))?).map(drop)
            }

            /// `release()`.
            ///
            /// ```
            #[doc = concat!("# let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();\nlet l = m.", $ctor, ".unwrap();")]
            /// std::mem::forget(l.acquire().unwrap());
            /// l.release().unwrap();
            /// ```
            pub fn release(&self) -> Result<()> {
                out_unit(self.h.call(Op::Release)?)
            }
        }
    };
}

proxy! {
    /// Python's `manager.Lock()`: a lock in the server. Any client may
    /// release it (as Python's `Lock`); if the connection that acquired it
    /// ends (its process died), the server releases it.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let lock = m.lock().unwrap();
    /// let g = lock.acquire().unwrap();
    /// assert!(lock.try_acquire().unwrap().is_none());
    /// drop(g);
    /// assert!(!lock.locked().unwrap());
    /// ```
    Lock
}
lock_methods!(Lock, "lock()");

impl Lock {
    /// `locked()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(!m.lock().unwrap().locked().unwrap());
    /// ```
    pub fn locked(&self) -> Result<bool> {
        out_bool(self.h.call(Op::Locked)?)
    }
}

proxy! {
    /// Python's `manager.RLock()`: re-entrant, owned by the calling
    /// thread (of whichever process); released by the server if the
    /// owning connection ends.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let r = m.rlock().unwrap();
    /// let a = r.acquire().unwrap();
    /// let b = r.acquire().unwrap(); // the same thread again
    /// drop((b, a));
    /// ```
    RLock
}
lock_methods!(RLock, "rlock()");

proxy! {
    /// Python's `manager.Semaphore(n)`.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let s = m.semaphore(1).unwrap();
    /// let g = s.acquire().unwrap();
    /// assert!(s.try_acquire().unwrap().is_none());
    /// drop(g);
    /// ```
    Semaphore
}
lock_methods!(Semaphore, "semaphore(1)");

/// Python's `manager.BoundedSemaphore(n)`: a [`Semaphore`] whose
/// `release` above `n` is [`Error::TooManyReleases`].
///
/// ```
/// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
/// let s: gilfree::multiprocessing::manager::BoundedSemaphore = m.bounded_semaphore(1).unwrap();
/// assert!(s.release().is_err());
/// ```
pub type BoundedSemaphore = Semaphore;

proxy! {
    /// Python's `manager.Event()`.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let e = m.event().unwrap();
    /// assert!(!e.wait_timeout(std::time::Duration::from_millis(1)).unwrap());
    /// e.set().unwrap();
    /// assert!(e.wait().unwrap());
    /// ```
    Event
}

impl Event {
    /// `set()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let e = m.event().unwrap();
    /// e.set().unwrap();
    /// assert!(e.is_set().unwrap());
    /// ```
    pub fn set(&self) -> Result<()> {
        out_unit(self.h.call(Op::EventSet)?)
    }

    /// `clear()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let e = m.event().unwrap();
    /// e.set().unwrap();
    /// e.clear().unwrap();
    /// assert!(!e.is_set().unwrap());
    /// ```
    pub fn clear(&self) -> Result<()> {
        out_unit(self.h.call(Op::EventClear)?)
    }

    /// `is_set()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(!m.event().unwrap().is_set().unwrap());
    /// ```
    pub fn is_set(&self) -> Result<bool> {
        out_bool(self.h.call(Op::EventIsSet)?)
    }

    /// `wait()`: until set; `true`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let e = m.event().unwrap();
    /// e.set().unwrap();
    /// assert!(e.wait().unwrap());
    /// ```
    pub fn wait(&self) -> Result<bool> {
        out_bool(self.h.call(Op::EventWait(Wait::Forever))?)
    }

    /// `wait(timeout)`: whether it is set.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(!m.event().unwrap().wait_timeout(std::time::Duration::ZERO).unwrap());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        out_bool(self.h.call(Op::EventWait(Wait::For(timeout)))?)
    }
}

proxy! {
    /// Python's `manager.Condition()`: a condition variable over its own
    /// re-entrant lock, in the server. `wait` releases the lock, waits to
    /// be notified, and re-acquires it.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let c = m.condition().unwrap();
    /// let _g = c.acquire().unwrap();
    /// assert_eq!(c.notify(1).unwrap(), 0); // nobody waits
    /// assert!(!c.wait_timeout(std::time::Duration::from_millis(1)).unwrap());
    /// ```
    Condition
}
lock_methods!(Condition, "condition()");

impl Condition {
    /// `wait()`: the lock must be held by this thread.
    ///
    /// ```no_run
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let c = m.condition().unwrap();
    /// let _g = c.acquire().unwrap();
    /// c.wait().unwrap(); // until another thread or process notifies
    /// ```
    pub fn wait(&self) -> Result<bool> {
        out_bool(self.h.call(Op::CondWait(Wait::Forever))?)
    }

    /// `wait(timeout)`: whether it was notified.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let c = m.condition().unwrap();
    /// assert!(c.wait_timeout(std::time::Duration::ZERO).is_err()); // not held
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        out_bool(self.h.call(Op::CondWait(Wait::For(timeout)))?)
    }

    /// `notify(n)`: wakes up to `n` waiters; how many it woke.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let c = m.condition().unwrap();
    /// assert!(c.notify(1).is_err()); // not held
    /// ```
    pub fn notify(&self, n: usize) -> Result<usize> {
        out_int(self.h.call(Op::Notify(n as u64))?)
    }

    /// `notify_all()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let c = m.condition().unwrap();
    /// let _g = c.acquire().unwrap();
    /// assert_eq!(c.notify_all().unwrap(), 0);
    /// ```
    pub fn notify_all(&self) -> Result<usize> {
        self.notify(usize::MAX)
    }
}

proxy! {
    /// Python's `manager.Barrier(parties)`. A timed-out wait breaks it, as
    /// in Python.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let b = m.barrier(1).unwrap();
    /// assert_eq!(b.wait().unwrap(), 0);
    /// assert_eq!(b.parties().unwrap(), 1);
    /// ```
    Barrier
}

impl Barrier {
    /// `wait()`: this caller's arrival index, once all parties arrived;
    /// [`Error::BrokenBarrier`] if it is or becomes broken.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.barrier(1).unwrap().wait().unwrap(), 0);
    /// ```
    pub fn wait(&self) -> Result<usize> {
        out_int(self.h.call(Op::BarrierWait(Wait::Forever))?)
    }

    /// `wait(timeout)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let b = m.barrier(2).unwrap();
    /// assert!(b.wait_timeout(std::time::Duration::from_millis(1)).is_err());
    /// assert!(b.broken().unwrap());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        out_int(self.h.call(Op::BarrierWait(Wait::For(timeout)))?)
    }

    /// `abort()`: break it.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let b = m.barrier(2).unwrap();
    /// b.abort().unwrap();
    /// assert!(b.wait().is_err());
    /// ```
    pub fn abort(&self) -> Result<()> {
        out_unit(self.h.call(Op::BarrierAbort)?)
    }

    /// `reset()`: back to empty and unbroken (waiters now get
    /// [`Error::BrokenBarrier`]).
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let b = m.barrier(1).unwrap();
    /// b.abort().unwrap();
    /// b.reset().unwrap();
    /// assert_eq!(b.wait().unwrap(), 0);
    /// ```
    pub fn reset(&self) -> Result<()> {
        out_unit(self.h.call(Op::BarrierReset)?)
    }

    fn state(&self) -> Result<(usize, usize, bool)> {
        match self.h.call(Op::BarrierState)? {
            Out::Barrier(p, n, b) => Ok((p as usize, n as usize, b)),
            o => Err(unexpected(o)),
        }
    }

    /// `parties`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.barrier(3).unwrap().parties().unwrap(), 3);
    /// ```
    pub fn parties(&self) -> Result<usize> {
        Ok(self.state()?.0)
    }

    /// `n_waiting`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.barrier(3).unwrap().n_waiting().unwrap(), 0);
    /// ```
    pub fn n_waiting(&self) -> Result<usize> {
        Ok(self.state()?.1)
    }

    /// `broken`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(!m.barrier(3).unwrap().broken().unwrap());
    /// ```
    pub fn broken(&self) -> Result<bool> {
        Ok(self.state()?.2)
    }
}
