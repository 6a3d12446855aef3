//! `Process`: Python's `multiprocessing.Process`, the user's handle on a
//! child (start, join, signal, result), and `active_children` and the
//! at-exit cleanup over all of them. The work is elsewhere: describing a
//! process (`builder.rs`), starting it (`start/`), the record of a child
//! and its wait/reap logic (`children.rs`), the child's side (`child.rs`).
//!
//! # Life of a child
//!
//! 1. *Start.* The start method makes the child and a socket pair between
//!    parent and child (`children::Started`): fork forks here; spawn
//!    re-executes this binary (whose `main` calls [`init`](super::init));
//!    forkserver asks its server to fork.
//! 2. *Handshake.* The parent sends the task's name and arguments (a forked
//!    child has them already; a forkserver child gets them from the server
//!    with its fork request) and waits,
//!    up to the handshake timeout, for `Ready` — while also watching the
//!    child's pidfd, so a child that dies in its handshake is an error at
//!    once, and one that never answers is killed at the timeout. Either way
//!    `start` returns [`Error::StartFailed`]; it never hangs.
//! 3. *Run.* The child runs the task and sends `Done(result)`.
//! 4. *Join.* The parent polls the pidfd (readable when the child exits)
//!    together with the socket (read as results arrive, so a child writing
//!    a large result never blocks on a parent that waits for its exit),
//!    then reaps the exit status. A forkserver child is the server's, so
//!    the server reaps it and writes the status on the child's socket,
//!    after everything the child wrote: there the parent only reads.

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Once};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::children::{self, Record, State};
use super::connection::{Waitable, decode_with_fds};
use super::error::{Error, Result};
use super::guard;
use super::method::StartMethod;
use super::start::{self, forkserver};
use super::task::TaskFailure;
use crate::sys::{Deadline, os};

/// A type with no values: the result type of processes listed by
/// [`active_children`], whose result type is not known.
#[derive(Debug, Clone, Copy)]
pub enum Unknown {}

/// A child process: Python's `multiprocessing.Process`.
///
/// Made by [`Process::new`] (a task and its arguments), a
/// [`ProcessBuilder`](super::ProcessBuilder), or a [`Context`](super::Context); then [`start`](Process::start)ed
/// and [`join`](Process::join)ed as in Python. Cheap to clone (a shared
/// handle); every method takes `&self`.
///
/// Differences from Python: the target is a registered
/// [`Task`](super::Task) (or, fork only, a closure); the task's return value comes back:
/// [`result`](Process::result) joins and returns it, or the panic message.
///
/// ```no_run
/// use gilfree::multiprocessing::Process;
///
/// #[gilfree::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// #[gilfree::main] // init() first
/// fn main() {
///     let p = Process::new(square::TASK, (7,)).unwrap();
///     p.start().unwrap();
///     p.join().unwrap();
///     assert_eq!(p.exitcode(), Some(0));
///     assert_eq!(p.result().unwrap(), 49);
/// }
/// ```
pub struct Process<R = Unknown> {
    inner: Arc<Record>,
    _r: PhantomData<fn() -> R>,
}

impl<R> Clone for Process<R> {
    fn clone(&self) -> Self {
        Process {
            inner: self.inner.clone(),
            _r: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Process<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.inner.name)
            .field("pid", &self.pid())
            .field("daemon", &self.inner.daemon)
            .field("exitcode", &self.exitcode())
            .finish()
    }
}

static AT_EXIT: Once = Once::new();

impl<R> Process<R> {
    /// A handle to `r`.
    pub(crate) fn from_record(r: Arc<Record>) -> Self {
        Process {
            inner: r,
            _r: PhantomData,
        }
    }

    /// Python's `Process.name`.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::builder().name("x").target(t::TASK, ()).unwrap();
    /// assert_eq!(p.name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Python's `Process.daemon`.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::builder().daemon(true).target(t::TASK, ()).unwrap();
    /// assert!(p.daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        self.inner.daemon
    }

    /// The start method this process uses.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// use gilfree::multiprocessing::{Process, StartMethod};
    /// let p = Process::builder().start_method(StartMethod::Spawn).target(t::TASK, ()).unwrap();
    /// assert_eq!(p.start_method(), StartMethod::Spawn);
    /// ```
    pub fn start_method(&self) -> StartMethod {
        self.inner.method
    }

    /// Python's `Process.pid`: `None` before `start`.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// assert_eq!(p.pid(), None);
    /// ```
    pub fn pid(&self) -> Option<i32> {
        self.inner.started.get().map(|s| s.pid)
    }

    /// Python's `Process.start()`: make the child and complete its start
    /// handshake. A child that dies or does not answer within the
    /// handshake timeout is [`Error::StartFailed`] (and is killed).
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// assert!(p.start().is_err()); // cannot start a process twice
    /// # p.join().unwrap();
    /// ```
    pub fn start(&self) -> Result<()> {
        let target = self
            .inner
            .target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or(Error::AlreadyStarted)?;
        guard::check_can_start()?;
        AT_EXIT.call_once(|| os::process::at_exit(cleanup_at_exit));
        // Forget finished children first (Python's `_cleanup()`), so that a
        // forked child has fewer of our handles to drop.
        children::reap_finished();
        let started = start::start(&self.inner, target)?;
        if crate::sys::trace::on() {
            let (pid, method) = (started.pid, self.inner.method.name());
            crate::sys::trace::process_started(pid, &self.inner.name, method);
        }
        if self.inner.started.set(started).is_err() {
            unreachable!("target taken once");
        }
        children::register(self.inner.clone());
        Ok(())
    }

    /// Python's `Process.sentinel`: a descriptor (the child's pidfd) that
    /// turns readable when the child ends, for
    /// [`connection::wait`](super::connection::wait) or an event loop. An
    /// error before `start`. A `Process` is itself
    /// [`Waitable`](super::connection::Waitable) through it.
    ///
    /// ```no_run
    /// use gilfree::multiprocessing::{Process, connection::wait};
    /// # #[gilfree::task] fn t() {}
    /// let p = Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// let _fd = p.sentinel().unwrap();
    /// assert_eq!(wait(&[&p], None).unwrap(), vec![0]); // it ended
    /// p.join().unwrap();
    /// ```
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>> {
        Ok(self.inner.started()?.pidfd.as_fd())
    }

    /// Python's `Process.join()`: wait until the child exits.
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// assert!(!p.is_alive());
    /// ```
    pub fn join(&self) -> Result<()> {
        self.wait(Deadline::Never).map(|_| ())
    }

    /// [`join`](Process::join) without blocking the thread (feature
    /// `tokio`; Python: `await asyncio.to_thread(p.join)`): the child's
    /// pidfd (and its socket, drained as results arrive) is watched by
    /// tokio's reactor. Needs a tokio runtime with I/O enabled. Several
    /// tasks and threads may join one process at once; dropping the future
    /// loses nothing. For a timeout, wrap it:
    /// `tokio::time::timeout(d, p.join_async())`.
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// # #[tokio::main] async fn main() {
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// p.join_async().await.unwrap();
    /// assert_eq!(p.exitcode(), Some(0));
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn join_async(&self) -> Result<()> {
        super::aio::join(&self.inner).await
    }

    /// Python's `Process.join(timeout)`: wait up to `d`; returns whether
    /// the child has exited (Python returns `None` and you check
    /// `exitcode`).
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// use std::time::Duration;
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// while !p.join_timeout(Duration::from_millis(100)).unwrap() {}
    /// ```
    pub fn join_timeout(&self, d: Duration) -> Result<bool> {
        self.wait(Deadline::after(d))
    }

    /// Python's `Process.is_alive()`.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// assert!(!p.is_alive()); // not started
    /// ```
    pub fn is_alive(&self) -> bool {
        self.inner.started.get().is_some() && matches!(self.wait(Deadline::now()), Ok(false))
    }

    /// Python's `Process.exitcode`: `None` while running (or before
    /// start), the exit status once exited, minus the signal number if a
    /// signal killed it. A task that panicked exits with 1.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// assert_eq!(p.exitcode(), None);
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        if self.inner.started.get().is_some() {
            let _ = self.wait(Deadline::now());
        }
        self.lock().exitcode
    }

    /// Python's `Process.sentinel`-like: no; Python's `terminate()`: send
    /// SIGTERM. A child that already exited is left alone.
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// p.terminate().unwrap();
    /// p.join().unwrap();
    /// ```
    pub fn terminate(&self) -> Result<()> {
        self.signal(os::process::SIGTERM)
    }

    /// Python's `Process.kill()`: send SIGKILL.
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// p.kill().unwrap();
    /// p.join().unwrap();
    /// ```
    pub fn kill(&self) -> Result<()> {
        self.signal(os::process::SIGKILL)
    }

    /// Python's `Process.close()`: release the process's resources; an
    /// error while it runs. Later calls to most methods give
    /// [`Error::Closed`]. (The descriptors themselves close when the last
    /// clone of this handle is dropped.)
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// p.close().unwrap();
    /// ```
    pub fn close(&self) -> Result<()> {
        if self.inner.started.get().is_some() && self.exitcode().is_none() {
            return Err(Error::StillRunning);
        }
        self.lock().closed = true;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock()
    }

    fn wait(&self, deadline: Deadline) -> Result<bool> {
        self.inner.wait(deadline)
    }

    fn signal(&self, sig: i32) -> Result<()> {
        self.inner.signal(sig)
    }
}

impl<R> Waitable for Process<R> {
    fn wait_fd(&self) -> Result<BorrowedFd<'_>> {
        self.sentinel()
    }
}

impl<R: DeserializeOwned> Process<R> {
    /// Join, then the task's return value. A task that panicked is
    /// [`Error::Panicked`] with the panic message; a child that died
    /// without a result (killed, or `exit()`ed) is [`Error::NoResult`]
    /// with its exit code. No Python equivalent (Python's `Process` drops
    /// the target's return value). The result is taken: a second call is
    /// [`Error::NoResult`].
    ///
    /// ```no_run
    /// # #[gilfree::task] fn seven() -> u8 { 7 }
    /// let p = gilfree::multiprocessing::Process::new(seven::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// assert_eq!(p.result().unwrap(), 7);
    /// ```
    pub fn result(&self) -> Result<R> {
        self.join()?;
        let mut s = self.lock();
        let code = s.exitcode.unwrap_or(0);
        match s.outcome.take() {
            None => Err(Error::NoResult(code)),
            Some(Ok(bytes)) => {
                decode_with_fds(&bytes, Vec::new(), "task result").map_err(|e| match e {
                    Error::Decode { reason, .. } => Error::TaskData {
                        task: self.inner.task.to_string(),
                        what: "decode the result",
                        reason,
                    },
                    other => other,
                })
            }
            Some(Err(TaskFailure::Panicked(m))) => Err(Error::Panicked(m)),
            Some(Err(TaskFailure::Unknown(n))) => Err(Error::UnknownTask(n)),
            Some(Err(TaskFailure::BadArgs { task, reason })) => Err(Error::TaskData {
                task,
                what: "decode the arguments",
                reason,
            }),
            Some(Err(TaskFailure::BadResult { task, reason })) => Err(Error::TaskData {
                task,
                what: "encode the result",
                reason,
            }),
        }
    }
}

/// Python's `multiprocessing.active_children()`: the children started by
/// this process that are still running. Like Python it reaps children that
/// have exited.
///
/// ```
/// assert!(gilfree::multiprocessing::active_children().is_empty());
/// ```
pub fn active_children() -> Vec<Process> {
    children::reap_finished();
    children::all()
        .into_iter()
        .map(Process::from_record)
        .collect()
}

/// At normal exit (as Python's `_exit_function`): terminate daemonic
/// children, then join all children. A daemon that ignores SIGTERM gets
/// SIGKILL after a second.
extern "C" fn cleanup_at_exit() {
    let kids = active_children();
    for p in kids.iter().filter(|p| p.daemon()) {
        let _ = p.terminate();
    }
    for p in kids.iter().filter(|p| p.daemon()) {
        if !matches!(p.join_timeout(Duration::from_secs(1)), Ok(true)) {
            let _ = p.kill();
            let _ = p.join();
        }
    }
    for p in kids.iter().filter(|p| !p.daemon()) {
        let _ = p.join();
    }
    forkserver::shutdown();
}
