//! `Thread`: a handle to one thread (start is in `bootstrap.rs`, the
//! constructors in `builder.rs`), and the module functions that hand out
//! handles: `current_thread`, `main_thread`, `enumerate`, `active_count`.
//!
//! Waiting for a thread's end never polls a `std::thread::JoinHandle`: the
//! OS thread is detached, and `join_timeout` is one futex wait on its life
//! word with a deadline.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::core::{Core, Kind};
use super::registry::{current_core, get_ident, main_core, registry};
use crate::raw::life::{DONE, NEW, RUNNING, STARTING};
use crate::sys::Deadline;
use crate::threading::error::Error;

/// A thread of control: Python's `threading.Thread`.
///
/// Build it with [`Thread::new`], [`Thread::from_runnable`] or
/// [`Thread::builder`], then [`start`](Thread::start) it and
/// [`join`](Thread::join) it, as in Python. `T` is what the target returns;
/// a plain `Thread` (`Thread<()>`) is Python's thread exactly.
///
/// Handles from [`current_thread`], [`main_thread`], [`enumerate`] and
/// [`Thread::handle`] are `Thread<()>` views of the same thread: they
/// compare equal to it and `join` on them waits for the same end, but only
/// the `Thread<T>` that built the thread hands back the target's value.
///
/// Differences from Python:
/// - `join(timeout)` is [`join`](Thread::join) and
///   [`join_timeout`](Thread::join_timeout), which returns whether the thread
///   ended (Python returns `None` and you check `is_alive()`).
/// - `join` returns the target's value (`Ok(&T)`), or
///   [`Error::ThreadPanicked`] if the target panicked (Python's join ignores
///   exceptions; its excepthook reports them, as ours does too).
/// - The name and the daemon flag are set by the builder and then fixed.
/// - Subclassing and overriding `run` is implementing [`Runnable`](crate::threading::Runnable).
/// - Dropping a started `Thread` neither stops nor waits for it (as
///   dropping the last reference in Python); [`main`](crate::threading::main) / [`exit_guard`](crate::threading::exit_guard)
///   still wait for it at exit unless it is a daemon.
///
/// ```
/// use gilfree::threading::Thread;
///
/// let t = Thread::builder().name("adder").target(|| 40 + 2);
/// assert_eq!(t.name(), "adder");
/// assert!(!t.is_alive());
/// t.start().unwrap();
/// assert_eq!(*t.join().unwrap(), 42);
/// assert!(!t.is_alive());
/// ```
pub struct Thread<T = ()> {
    pub(super) core: Arc<Core>,
    /// The target's value; views of a thread get their own, already
    /// filled with `()`.
    pub(super) slot: Arc<Slot<T>>,
    /// `Thread<T>` is `Sync` only if `&T` may be shared (join hands out
    /// `&T`), and `Send` if `T` is.
    pub(super) _marker: PhantomData<OnceLock<T>>,
}

/// The target's value: written once by the thread, read by joiners.
pub(super) struct Slot<T>(pub(super) OnceLock<T>);

// SAFETY: the only `&T` that crosses threads through a `Slot` is handed out
// by `Thread<T>`, whose own `Sync` needs `T: Sync` (its `_marker`). The
// worker thread only *moves* a `T` in (needs `T: Send`), and does so before
// publishing `DONE` with `Release`, which joiners read with `Acquire`.
unsafe impl<T: Send> Sync for Slot<T> {}
// SAFETY: as above; sending the slot sends at most a `T`.
unsafe impl<T: Send> Send for Slot<T> {}

impl Clone for Thread<()> {
    /// Another handle to the same thread.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(|| ());
    /// assert_eq!(t.clone(), t);
    /// ```
    fn clone(&self) -> Self {
        Thread::view(self.core.clone())
    }
}

impl Thread<()> {
    pub(super) fn view(core: Arc<Core>) -> Self {
        Thread {
            core,
            slot: Arc::new(Slot(OnceLock::from(()))),
            _marker: PhantomData,
        }
    }
}

impl<T> Thread<T> {
    /// Wait until the thread ends (Python: `thread.join()`), then hand back
    /// a reference to what its target returned. Any number of joins may wait
    /// at once, from any threads; every one sees the same result.
    ///
    /// # Errors
    /// - [`Error::NotStarted`]: the thread was never started.
    /// - [`Error::JoinSelf`]: a thread joining itself (it would wait
    ///   forever).
    /// - [`Error::ThreadPanicked`]: the target panicked (the excepthook has
    ///   already reported it).
    ///
    /// ```
    /// use gilfree::threading::{Error, Thread, current_thread};
    /// let t = Thread::new(|| vec![1, 2]);
    /// assert_eq!(t.join(), Err(Error::NotStarted));
    /// t.start().unwrap();
    /// assert_eq!(t.join().unwrap(), &[1, 2]);
    /// assert_eq!(current_thread().join(), Err(Error::JoinSelf));
    /// ```
    pub fn join(&self) -> Result<&T, Error> {
        self.check_joinable()?;
        if !self.core.life.wait_for(DONE, Deadline::Never) {
            // Its start failed while we waited.
            return Err(Error::NotStarted);
        }
        self.outcome()
    }

    /// Wait at most `timeout` for the thread to end (Python:
    /// `thread.join(timeout)` followed by `thread.is_alive()`).
    ///
    /// Returns `Ok(Some(&value))` if it ended, `Ok(None)` if it is still
    /// running when the timeout passes. A duration too large for the clock
    /// waits forever.
    ///
    /// # Errors
    /// As [`join`](Thread::join).
    ///
    /// ```
    /// use gilfree::threading::{Lock, Thread};
    /// use std::time::Duration;
    /// use std::sync::Arc;
    ///
    /// let gate = Arc::new(Lock::new(()));
    /// let held = gate.acquire();
    /// let g = gate.clone();
    /// let t = Thread::new(move || drop(g.acquire()));
    /// t.start().unwrap();
    /// assert_eq!(t.join_timeout(Duration::from_millis(10)), Ok(None));
    /// drop(held);
    /// assert_eq!(t.join_timeout(Duration::from_secs(60)), Ok(Some(&())));
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<Option<&T>, Error> {
        self.check_joinable()?;
        if self.core.life.wait_for(DONE, Deadline::after(timeout)) {
            self.outcome().map(Some)
        } else if self.core.life.phase() == NEW {
            Err(Error::NotStarted) // its start failed while we waited
        } else {
            Ok(None)
        }
    }

    /// Join, then move the target's value out (consumes the handle).
    ///
    /// # Errors
    /// As [`join`](Thread::join).
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(|| String::from("mine"));
    /// t.start().unwrap();
    /// let s: String = t.into_result().unwrap();
    /// assert_eq!(s, "mine");
    /// ```
    pub fn into_result(self) -> Result<T, Error> {
        self.join()?;
        // The thread dropped its reference to the slot before `DONE`, and
        // views have slots of their own, so this is the last reference.
        match Arc::try_unwrap(self.slot) {
            Ok(cell) => Ok(cell.0.into_inner().expect("joined without panic")),
            Err(_) => unreachable!("a finished thread's slot is not shared"),
        }
    }

    fn check_joinable(&self) -> Result<(), Error> {
        if self.core.life.phase() == NEW {
            return Err(Error::NotStarted);
        }
        if self.core.ident.get() == Some(&get_ident()) {
            return Err(Error::JoinSelf);
        }
        Ok(())
    }

    fn outcome(&self) -> Result<&T, Error> {
        if let Some(message) = self.core.panic.get() {
            return Err(Error::ThreadPanicked {
                name: self.core.name.clone(),
                message: message.clone(),
            });
        }
        Ok(self.slot.0.get().expect("a finished thread has its value"))
    }

    /// Whether the thread is running: from the return of
    /// [`start`](Thread::start) until its target has returned or panicked
    /// (Python: `thread.is_alive()`).
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(|| ());
    /// assert!(!t.is_alive());
    /// t.start().unwrap();
    /// t.join().unwrap();
    /// assert!(!t.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        matches!(self.core.life.phase(), STARTING | RUNNING)
    }

    /// The thread's name (Python: `thread.name`): the builder's, or
    /// `Thread-N` / `Thread-N (target)` as Python numbers them,
    /// `MainThread`, or `Dummy-N` for a thread gilfree did not start.
    ///
    /// ```
    /// assert_eq!(gilfree::threading::main_thread().name(), "MainThread");
    /// ```
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The thread's identifier, `None` before it is started (Python:
    /// `thread.ident`). It is what [`get_ident`] returns in that thread.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(gilfree::threading::get_ident);
    /// assert_eq!(t.ident(), None);
    /// t.start().unwrap();
    /// assert_eq!(Some(*t.join().unwrap()), t.ident());
    /// ```
    pub fn ident(&self) -> Option<u64> {
        self.core.ident.get().copied()
    }

    /// The kernel's thread id, `None` before it is started (Python:
    /// `thread.native_id`). It is what [`get_native_id`](crate::threading::get_native_id) returns in that
    /// thread.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(gilfree::threading::get_native_id);
    /// t.start().unwrap();
    /// assert_eq!(Some(*t.join().unwrap()), t.native_id());
    /// ```
    pub fn native_id(&self) -> Option<u64> {
        self.core.native_id.get().copied()
    }

    /// Whether this is a daemon thread (Python: `thread.daemon`): one that
    /// [`main`](crate::threading::main) and [`exit_guard`](crate::threading::exit_guard) do not wait for.
    ///
    /// ```
    /// use gilfree::threading::{Thread, main_thread};
    /// assert!(!main_thread().is_daemon());
    /// assert!(Thread::builder().daemon(true).target(|| ()).is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.core.daemon
    }

    /// A `Thread<()>` handle to the same thread, for lists and other
    /// threads (it joins, but does not hand out the value).
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(|| 5);
    /// let h = t.handle();
    /// t.start().unwrap();
    /// h.join().unwrap();
    /// assert!(!t.is_alive());
    /// assert_eq!(h, t.handle());
    /// ```
    pub fn handle(&self) -> Thread {
        Thread::view(self.core.clone())
    }
}

impl<T, U> PartialEq<Thread<U>> for Thread<T> {
    fn eq(&self, other: &Thread<U>) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }
}
impl<T> Eq for Thread<T> {}

impl<T> std::hash::Hash for Thread<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.core) as usize).hash(state)
    }
}

impl<T> fmt::Debug for Thread<T> {
    /// Python's repr: `<Thread(worker, started daemon 7)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.core.kind {
            Kind::Made => "Thread",
            Kind::Main => "_MainThread",
            Kind::Dummy => "_DummyThread",
        };
        let status = match self.core.life.phase() {
            NEW => "initial",
            DONE => "stopped",
            _ => "started",
        };
        write!(f, "<{class}({}, {status}", self.core.name)?;
        if self.core.daemon {
            write!(f, " daemon")?;
        }
        if let Some(id) = self.ident() {
            write!(f, " {id}")?;
        }
        write!(f, ")>")
    }
}

/// The `Thread` of the caller (Python: `threading.current_thread()`).
///
/// For a thread gilfree did not start (one from `std::thread::spawn`, a
/// pool, a C library), it is a `Dummy-N` thread, alive and daemonic, as
/// Python's `_DummyThread`; unlike Python's, it leaves [`enumerate`] when
/// that thread exits, and joining it waits for that exit.
///
/// ```
/// use gilfree::threading::{Thread, current_thread};
/// let t = Thread::builder().name("me").target(|| current_thread().name().to_owned());
/// t.start().unwrap();
/// assert_eq!(t.join().unwrap(), "me");
/// ```
pub fn current_thread() -> Thread {
    Thread::view(current_core())
}

/// The process's main thread, named `MainThread` (Python:
/// `threading.main_thread()`).
///
/// ```
/// let m = gilfree::threading::main_thread();
/// assert_eq!(m.name(), "MainThread");
/// assert!(m.is_alive());
/// ```
pub fn main_thread() -> Thread {
    Thread::view(main_core().clone())
}

/// Every thread alive now: started gilfree threads, the main thread, and
/// the foreign threads that have called [`current_thread`] (Python:
/// `threading.enumerate()`). The main thread comes first; the others in
/// the order they were started or first seen.
///
/// ```
/// use gilfree::threading::{enumerate, main_thread};
/// assert!(enumerate().contains(&main_thread()));
/// ```
pub fn enumerate() -> Vec<Thread> {
    main_core();
    registry()
        .iter()
        .filter(|c| c.life.phase() != DONE)
        .map(|c| Thread::view(c.clone()))
        .collect()
}

/// How many threads [`enumerate`] would list (Python:
/// `threading.active_count()`).
///
/// ```
/// assert!(gilfree::threading::active_count() >= 1);
/// ```
pub fn active_count() -> usize {
    enumerate().len()
}
