//! The parent's record of its children: what each will run ([`Target`]),
//! how it was started ([`Started`]), what is known of it ([`State`]), the
//! one wait/reap/drain logic every `Process` method goes through, and the
//! registry of children not yet seen dead (Python's `_children`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use super::child::{Fault, Report, Start};
use super::connection::Connection;
use super::error::{Error, Result};
use super::method::StartMethod;
use super::task::TaskFailure;
use crate::sys::{Deadline, os};

/// What errors call the target of a fork closure.
pub(crate) const FORK_CLOSURE: &str = "<fork closure>";

/// What a child will run, until it starts.
pub(crate) enum Target {
    Task {
        name: &'static str,
        args: Vec<u8>,
        fds: Vec<OwnedFd>,
    },
    Closure(Box<dyn FnOnce() -> Result<Vec<u8>, TaskFailure> + Send>),
}

/// A started child as a start method hands it over.
pub(crate) struct Started {
    pub(crate) pid: i32,
    /// Readable when the child exits.
    pub(crate) pidfd: OwnedFd,
    /// Our end of the child's socket.
    pub(crate) conn: Connection,
    /// A forkserver child: the server is its real parent, and sends its
    /// exit status on `conn` ([`Report::Exited`]) after everything the
    /// child said; `pidfd` can signal it and see it exit, not reap it.
    pub(crate) via_server: bool,
    /// A fork child's start request, the parent's copy: freed with the
    /// process handle, not at the start (see `start_fork`).
    pub(crate) _parents_copy: Option<Start>,
}

/// What is known of a started child.
#[derive(Default)]
pub(crate) struct State {
    /// Python's exit code, once reaped (or reported by the fork server).
    pub(crate) exitcode: Option<i32>,
    /// The task's encoded result, or why there is none.
    pub(crate) outcome: Option<Result<Vec<u8>, TaskFailure>>,
    /// The child's socket reached its end.
    pub(crate) conn_done: bool,
    /// `Process::close` was called.
    pub(crate) closed: bool,
}

/// One child, shared by every clone of its `Process` handle and by the
/// registry.
pub(crate) struct Record {
    pub(crate) name: String,
    /// The task's registry name, for errors.
    pub(crate) task: &'static str,
    pub(crate) daemon: bool,
    pub(crate) method: StartMethod,
    pub(crate) handshake_timeout: Duration,
    pub(crate) fault: Fault,
    pub(crate) target: Mutex<Option<Target>>,
    pub(crate) started: OnceLock<Started>,
    pub(crate) state: Mutex<State>,
    /// Held while one thread reads the child's socket or reaps it, so
    /// that what it read is recorded before anyone sees the exit (see
    /// [`Record::drain`] and [`Record::reap`]).
    pub(crate) reading: Mutex<()>,
}

impl Record {
    /// How it was started; an error before `start`.
    pub(crate) fn started(&self) -> Result<&Started> {
        self.started.get().ok_or(Error::NotStarted)
    }

    /// Send `sig` unless the child is known to have exited.
    pub(crate) fn signal(&self, sig: i32) -> Result<()> {
        let st = self.started()?;
        if self.lock().closed {
            return Err(Error::Closed);
        }
        if self.lock().exitcode.is_some() {
            return Ok(());
        }
        os::process::pidfd_signal(st.pidfd.as_fd(), sig)?;
        Ok(())
    }

    /// What is known of it.
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for exit until `deadline`; `Ok(true)` once exited.
    pub(crate) fn wait(&self, deadline: Deadline) -> Result<bool> {
        let st = self.started()?;
        if st.via_server {
            return self.wait_for_server(st, deadline);
        }
        loop {
            {
                let s = self.lock();
                if s.closed {
                    return Err(Error::Closed);
                }
                if s.exitcode.is_some() {
                    return Ok(true);
                }
            }
            let conn_done = self.lock().conn_done;
            let ready = if conn_done {
                let mut r = os::poll::poll_readable(&[st.pidfd.as_fd()], deadline)?;
                r.push(false);
                r
            } else {
                os::poll::poll_readable(&[st.pidfd.as_fd(), st.conn.as_fd_checked()?], deadline)?
            };
            if ready[1] {
                self.drain(st);
            }
            if ready[0] && self.reap(st)? {
                return Ok(true);
            }
            if !ready[1] && deadline.expired() {
                return Ok(false);
            }
        }
    }

    /// A forkserver child's wait: everything arrives on the socket — the
    /// result, then the exit status from the server, then EOF.
    fn wait_for_server(&self, st: &Started, deadline: Deadline) -> Result<bool> {
        loop {
            {
                let mut s = self.lock();
                if s.closed {
                    return Err(Error::Closed);
                }
                if s.exitcode.is_some() {
                    return Ok(true);
                }
                if s.conn_done {
                    // EOF without a status: the server died, and its
                    // report with it.
                    self.exited(st, &mut s, 255);
                    return Ok(true);
                }
            }
            if os::poll::poll_readable(&[st.conn.as_fd_checked()?], deadline)?[0] {
                self.drain(st);
            } else if deadline.expired() {
                return Ok(false);
            }
        }
    }

    /// Read whatever the child (or for a forkserver child, the server) has
    /// said, without blocking. Under `reading`: a frame read by one thread
    /// is recorded before another can record the exit that follows it.
    fn drain(&self, st: &Started) {
        let _one = self.reading.lock().unwrap_or_else(|e| e.into_inner());
        self.drain_locked(st);
    }

    /// [`drain`](Self::drain), `reading` already held.
    fn drain_locked(&self, st: &Started) {
        loop {
            match st.conn.recv_frame_nonblocking() {
                Ok(Some((bytes, _fds))) => match postcard::from_bytes::<Report>(&bytes) {
                    Ok(Report::Done(r)) => self.lock().outcome = Some(r),
                    Ok(Report::Exited(code)) if st.via_server => {
                        self.exited(st, &mut self.lock(), code);
                    }
                    _ => {}
                },
                Ok(None) => return,
                Err(_) => {
                    // EOF or a broken frame: the child said all it will.
                    self.lock().conn_done = true;
                    return;
                }
            }
        }
    }

    /// The child's pidfd is readable: collect its status and last words.
    /// Returns whether the child is reaped (its exit code recorded).
    ///
    /// Any thread may get here for the same child (its own `join`, another
    /// thread's `is_alive`, or `active_children`'s cleanup), so the whole
    /// sequence — reap, read the last words, record the code — runs under
    /// `reading`: a second thread must neither reap a reaped child (ECHILD)
    /// nor see "exited" before the result is recorded.
    fn reap(&self, st: &Started) -> Result<bool> {
        let _one = self.reading.lock().unwrap_or_else(|e| e.into_inner());
        if self.lock().exitcode.is_some() {
            return Ok(true);
        }
        let code = match os::process::reap(st.pidfd.as_fd())? {
            Some(c) => c,
            None => return Ok(false), // not yet: a spurious readiness
        };
        self.drain_locked(st);
        self.exited(st, &mut self.lock(), code);
        Ok(true)
    }

    /// Record the exit code, unless one is recorded (and trace the exit).
    fn exited(&self, st: &Started, s: &mut State, code: i32) {
        if s.exitcode.is_none() {
            s.exitcode = Some(code);
            if crate::sys::trace::on() {
                crate::sys::trace::process_exited(st.pid, code);
            }
        }
    }
}

/// Every started child not yet seen dead, as Python's `_children`: kept
/// (strongly) even if the user drops its handle, so that it is reaped by
/// [`active_children`] or the next start, and joined (or, a daemon,
/// terminated) at exit.
static CHILDREN: Mutex<Vec<Arc<Record>>> = Mutex::new(Vec::new());

/// Add a started child to the registry.
pub(crate) fn register(r: Arc<Record>) {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(r);
}

/// Every registered child.
pub(crate) fn all() -> Vec<Arc<Record>> {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Forget the children that have exited (reaping any that died unjoined),
/// as Python's `_cleanup()` at every start.
pub(crate) fn reap_finished() {
    // Kept (not just their addresses) until they are removed: a record
    // another thread removed and freed meanwhile could otherwise lend its
    // address to a new child's, and a live child would be forgotten.
    let dead: Vec<Arc<Record>> = all()
        .into_iter()
        .filter(|r| !matches!(r.wait(Deadline::now()), Ok(false)))
        .collect();
    if dead.is_empty() {
        return;
    }
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|r| !dead.iter().any(|d| Arc::ptr_eq(d, r)));
}

/// The registry, held by a thread that forks across its `fork()` (taken
/// before, released after in both processes): while it is held no child
/// is registered or unregistered, so the child's copy of the registry
/// names only children whose descriptors were open before the fork began,
/// and still are. Without it the child could not vouch for them: `fork()`
/// copies the descriptor table before the memory, so a child registered
/// by another thread in between is in the child's memory with descriptors
/// the child never had (dropping them aborted the child: Rust's check of
/// an `OwnedFd` closed twice), or with numbers reused for something else.
pub(crate) struct ForkHold(MutexGuard<'static, Vec<Arc<Record>>>);

/// Hold the registry across a `fork()` (see [`ForkHold`]).
pub(crate) fn hold_for_fork() -> ForkHold {
    ForkHold(CHILDREN.lock().unwrap_or_else(|e| e.into_inner()))
}

impl ForkHold {
    /// In the freshly forked child: the parent's children are not ours.
    /// Empty the registry, so that our exit handler does not wait for our
    /// siblings, without dropping anything inherited: each record is
    /// forgotten, and the descriptors of those nothing else refers to (no
    /// handle the job may still use) are closed by number, so that our
    /// copies do not keep our siblings' sockets open.
    pub(crate) fn forget_in_child(mut self) {
        let records = std::mem::take(&mut *self.0);
        for r in &records {
            if Arc::strong_count(r) == 1
                && let Some(st) = r.started.get()
            {
                let conn = st.conn.as_fd_checked().ok().map(|f| f.as_raw_fd());
                for fd in [Some(st.pidfd.as_raw_fd()), conn].into_iter().flatten() {
                    // SAFETY: the record was registered before this
                    // process forked and its descriptors were open (the
                    // registry was held), so `fd` is our copy of them; the
                    // record is forgotten below, so no `OwnedFd` that owns
                    // it is ever used or dropped here.
                    unsafe { os::socket::close_raw(fd) };
                }
            }
        }
        std::mem::forget(records);
    }
}
