//! futex wait/wake on `AtomicU32` words, private or process-shared.
//!
//! `wait(word, expected, deadline)` sleeps only while `*word == expected`;
//! the kernel checks that under its own lock, atomically with respect to
//! `wake`, which is what makes a waker's "store, then wake" race-free with a
//! waiter's "check, then sleep". Every caller re-checks its condition after
//! `wait` returns: wake-ups may be spurious.
//!
//! The [`Scope`] type parameter says where the word lives:
//! [`Private`] (`FUTEX_PRIVATE_FLAG`, faster hashing, this process only) or
//! [`Shared`] (a word in a `MAP_SHARED` mapping, seen by other processes).
//!
//! Under `--cfg loom` the kernel is replaced by a model: a table of waiters
//! behind a loom mutex, checked and woken exactly as the kernel does, so
//! that loom reports a lost wake-up as a deadlock.

use super::atomic::AtomicU32;
use super::deadline::Deadline;

/// Where a futex word lives; picks the futex flags. Sealed.
pub trait Scope: sealed::Sealed + Send + Sync + 'static {
    /// Whether the word may be shared between processes.
    #[allow(dead_code)] // unread by the loom model
    const SHARED: bool;
}

/// A word in this process's private memory (threads).
#[derive(Debug)]
pub enum Private {}

/// A word in a shared mapping (processes).
#[derive(Debug)]
#[allow(dead_code)] // used by multiprocessing's process-shared primitives
pub enum Shared {}

impl Scope for Private {
    const SHARED: bool = false;
}
impl Scope for Shared {
    const SHARED: bool = true;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Private {}
    impl Sealed for super::Shared {}
}

/// Why [`wait`] returned. Either way the caller re-checks its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Woken, interrupted, or the word had already changed.
    Woken,
    /// The deadline passed.
    TimedOut,
}

#[cfg(not(loom))]
mod imp {
    use super::*;
    use rustix::io::Errno;
    use rustix::thread::futex;

    #[inline]
    fn flags<S: Scope>() -> futex::Flags {
        if S::SHARED {
            futex::Flags::empty()
        } else {
            futex::Flags::PRIVATE
        }
    }

    /// Sleep while `*word == expected`, until woken or `deadline`.
    pub(crate) fn wait<S: Scope>(word: &AtomicU32, expected: u32, deadline: Deadline) -> Wake {
        let ts;
        let timeout = match deadline.remaining() {
            None => None,
            Some(d) if d.is_zero() => return Wake::TimedOut,
            Some(d) => {
                ts = rustix::time::Timespec {
                    tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
                    tv_nsec: d.subsec_nanos() as _,
                };
                Some(&ts)
            }
        };
        match futex::wait(word, flags::<S>(), expected, timeout) {
            Ok(()) => Wake::Woken,
            Err(Errno::TIMEDOUT) => Wake::TimedOut,
            // AGAIN: the word had changed already; INTR: a signal. Both mean
            // "re-check", which every caller does.
            Err(_) => Wake::Woken,
        }
    }

    /// Wake up to `n` waiters on `word`; returns how many were woken.
    #[inline]
    pub(crate) fn wake<S: Scope>(word: &AtomicU32, n: u32) -> usize {
        futex::wake(word, flags::<S>(), n.min(i32::MAX as u32)).unwrap_or(0)
    }
}

#[cfg(loom)]
mod imp {
    //! The kernel's futex, modelled for loom: a waiter list under a mutex.
    use super::*;
    use loom::sync::{Condvar, Mutex};

    struct Table {
        next_id: usize,
        waiters: Vec<(usize, usize, bool)>, // (addr, id, woken)
    }

    loom::lazy_static! {
        static ref TABLE: (Mutex<Table>, Condvar) =
            (Mutex::new(Table { next_id: 0, waiters: Vec::new() }), Condvar::new());
    }

    pub(crate) fn wait<S: Scope>(word: &AtomicU32, expected: u32, deadline: Deadline) -> Wake {
        use super::super::atomic::Ordering::SeqCst;
        let (m, cv) = &*TABLE;
        let mut t = m.lock().unwrap();
        if word.load(SeqCst) != expected {
            return Wake::Woken;
        }
        if deadline != Deadline::Never {
            // loom has no clock: a timed wait is modelled as one that times
            // out at once, the most hostile legal outcome.
            return Wake::TimedOut;
        }
        let addr = word as *const AtomicU32 as usize;
        let id = t.next_id;
        t.next_id += 1;
        t.waiters.push((addr, id, false));
        loop {
            t = cv.wait(t).unwrap();
            if let Some(i) = t.waiters.iter().position(|w| w.1 == id && w.2) {
                t.waiters.remove(i);
                return Wake::Woken;
            }
        }
    }

    pub(crate) fn wake<S: Scope>(word: &AtomicU32, n: u32) -> usize {
        let (m, cv) = &*TABLE;
        let mut t = m.lock().unwrap();
        let addr = word as *const AtomicU32 as usize;
        let mut woken = 0;
        for w in t.waiters.iter_mut() {
            if woken as u32 >= n {
                break;
            }
            if w.0 == addr && !w.2 {
                w.2 = true;
                woken += 1;
            }
        }
        if woken > 0 {
            cv.notify_all();
        }
        woken
    }
}

pub(crate) use imp::{wait, wake};

/// Wake one waiter.
#[inline]
pub(crate) fn wake_one<S: Scope>(word: &AtomicU32) -> bool {
    wake::<S>(word, 1) > 0
}

/// Wake every waiter.
#[inline]
#[allow(dead_code)]
pub(crate) fn wake_all<S: Scope>(word: &AtomicU32) -> usize {
    wake::<S>(word, u32::MAX)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    #[test]
    fn wait_returns_when_value_differs() {
        let w = AtomicU32::new(1);
        assert_eq!(wait::<Private>(&w, 0, Deadline::Never), Wake::Woken);
    }

    #[test]
    fn wait_times_out() {
        let w = AtomicU32::new(0);
        let r = wait::<Private>(&w, 0, Deadline::after(Duration::from_millis(1)));
        // A spurious wake-up is legal; a timed-out wait must say so.
        assert!(matches!(r, Wake::TimedOut | Wake::Woken));
        assert_eq!(wait::<Private>(&w, 0, Deadline::now()), Wake::TimedOut);
    }

    #[test]
    fn wake_releases_waiter() {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            while w2.load(Ordering::Acquire) == 0 {
                wait::<Private>(&w2, 0, Deadline::Never);
            }
        });
        w.store(1, Ordering::Release);
        wake_all::<Private>(&w);
        t.join().unwrap();
    }

    #[test]
    fn shared_scope_works_on_private_memory_too() {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            while w2.load(Ordering::Acquire) == 0 {
                wait::<Shared>(&w2, 0, Deadline::Never);
            }
        });
        w.store(1, Ordering::Release);
        wake_one::<Shared>(&w);
        wake_all::<Shared>(&w);
        t.join().unwrap();
    }
}
