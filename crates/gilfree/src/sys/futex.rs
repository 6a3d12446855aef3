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

use super::atomic::{AtomicU32, Ordering};
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

    /// Wake up to `n` waiters on the word at `word`, which may have been
    /// unmapped meanwhile (then nothing happens: `EFAULT`; or, if the
    /// address was mapped again, a spurious wake-up, which every futex
    /// waiter tolerates). No reference is made to it.
    pub(crate) fn wake_ptr(word: *const AtomicU32, shared: bool, n: u32) {
        let op = if shared {
            libc::FUTEX_WAKE
        } else {
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG
        };
        // SAFETY: FUTEX_WAKE only looks the address up in the kernel's
        // futex table (it never writes user memory); a bad address is
        // reported as EFAULT, which is ignored.
        unsafe {
            libc::syscall(libc::SYS_futex, word, op, n.min(i32::MAX as u32) as i32);
        }
    }

    /// `futex_waitv` (Linux ≥ 5.16): sleep while every `words[i]` holds its
    /// expected value, until one is woken or changes, or `deadline`.
    pub(crate) fn waitv(words: &[WaitOn], deadline: Deadline) -> Waitv {
        debug_assert!(!words.is_empty() && words.len() <= WAITV_MAX);
        let mut v = [futex::Wait::new(); WAITV_MAX];
        for (w, on) in v.iter_mut().zip(words) {
            w.val = u64::from(on.expected);
            w.uaddr = futex::WaitPtr::new(on.word as *mut _);
            w.flags = futex::WaitFlags::SIZE_U32
                | if on.shared {
                    futex::WaitFlags::empty()
                } else {
                    futex::WaitFlags::PRIVATE
                };
        }
        // futex_waitv's timeout is absolute, on the clock named.
        let abs;
        let timeout = match deadline.remaining() {
            None => None,
            Some(d) if d.is_zero() => return Waitv::TimedOut,
            Some(d) => {
                let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
                let nanos = now.tv_nsec as u64 + u64::from(d.subsec_nanos());
                abs = rustix::time::Timespec {
                    tv_sec: now
                        .tv_sec
                        .saturating_add(d.as_secs().min(i64::MAX as u64 / 2) as i64)
                        .saturating_add((nanos / 1_000_000_000) as i64),
                    tv_nsec: (nanos % 1_000_000_000) as _,
                };
                Some(&abs)
            }
        };
        match futex::waitv(
            &v[..words.len()],
            futex::WaitvFlags::empty(),
            timeout,
            rustix::time::ClockId::Monotonic,
        ) {
            Ok(i) => Waitv::Woken(i),
            Err(Errno::TIMEDOUT) => Waitv::TimedOut,
            // AGAIN: some word had changed already; INTR: a signal; FAULT:
            // a word's mapping went away. All mean "look again".
            Err(_) => Waitv::Changed,
        }
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
        // A `waitv` waiter has one entry per word, and is woken once.
        let done: Vec<usize> = t.waiters.iter().filter(|w| w.2).map(|w| w.1).collect();
        let mut woken = 0;
        for w in t.waiters.iter_mut() {
            if woken as u32 >= n {
                break;
            }
            if w.0 == addr && !w.2 && !done.contains(&w.1) {
                w.2 = true;
                woken += 1;
            }
        }
        if woken > 0 {
            cv.notify_all();
        }
        woken
    }

    pub(crate) fn wake_ptr(word: *const AtomicU32, _shared: bool, n: u32) {
        // SAFETY: the model's words are atomics its test keeps alive.
        wake::<Private>(unsafe { &*word }, n);
    }

    pub(crate) fn waitv(words: &[WaitOn], deadline: Deadline) -> Waitv {
        use super::super::atomic::Ordering::SeqCst;
        let (m, cv) = &*TABLE;
        let mut t = m.lock().unwrap();
        if words.iter().any(|on| {
            // SAFETY: the model's words are atomics its test keeps alive.
            unsafe { &*on.word }.load(SeqCst) != on.expected
        }) {
            return Waitv::Changed;
        }
        if deadline != Deadline::Never {
            return Waitv::TimedOut;
        }
        let id = t.next_id;
        t.next_id += 1;
        for on in words {
            t.waiters.push((on.word as usize, id, false));
        }
        loop {
            t = cv.wait(t).unwrap();
            if let Some(w) = t.waiters.iter().find(|w| w.1 == id && w.2) {
                let addr = w.0;
                let i = words
                    .iter()
                    .position(|on| on.word as usize == addr)
                    .unwrap_or(0);
                t.waiters.retain(|w| w.1 != id);
                return Waitv::Woken(i);
            }
        }
    }
}

pub(crate) use imp::{wait, waitv, wake, wake_ptr};

/// The most words one [`waitv`] waits on (the kernel's limit).
pub(crate) const WAITV_MAX: usize = 128;

/// One word of a [`waitv`]: sleep while `*word == expected`.
#[derive(Clone, Copy)]
pub(crate) struct WaitOn {
    /// A pointer, not a reference: the kernel reads it, and a word whose
    /// mapping went away meanwhile makes `waitv` return, not fault.
    pub(crate) word: *const AtomicU32,
    pub(crate) expected: u32,
    /// In a shared mapping (no `FUTEX2_PRIVATE`).
    #[allow(dead_code)] // unread by the loom model
    pub(crate) shared: bool,
}

/// Why [`waitv`] returned. Either way the caller re-checks every word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waitv {
    /// `words[i]` was woken.
    Woken(usize),
    /// A word had changed already, or a signal came: nothing says which.
    Changed,
    /// The deadline passed.
    TimedOut,
}

/// A sleeper's announce step, for any encoding that keeps a "somebody may
/// sleep here" bit (`flag`) in its word: before sleeping on `word`, just
/// read as `seen`, put `flag` into it by a CAS from that exact value, so
/// that whoever replaces the value next finds the flag and wakes.
/// `Ok(value to sleep on)` (the flag was there, or is now); `Err(now)` if
/// the word moved first (look at it again). `order` is the CAS's, success
/// and failure alike. Weak: a spurious failure is a changed word to the
/// caller, which looks again.
#[inline]
pub(crate) fn announce(
    word: &AtomicU32,
    seen: u32,
    flag: u32,
    order: Ordering,
) -> Result<u32, u32> {
    if seen & flag != 0 {
        return Ok(seen);
    }
    match word.compare_exchange_weak(seen, seen | flag, order, order) {
        Ok(_) => Ok(seen | flag),
        Err(now) => Err(now),
    }
}

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
