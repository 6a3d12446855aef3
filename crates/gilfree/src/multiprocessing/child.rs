//! The child's side: the one task runner every start method ends in.
//!
//! A child gets a [`Connection`] to its parent and a [`Job`]. For a task it
//! first receives a [`Start`] message (with the descriptors of any
//! connections among the arguments), answers [`Report::Ready`] — the end of
//! the start handshake — runs the task with panics caught, sends
//! [`Report::Done`] and returns the exit code: 0, or 1 for a panic or a
//! failure, as Python's exit code for an exception.

use std::any::Any;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicPtr, Ordering};

use serde::{Deserialize, Serialize};

use super::connection::{Connection, with_received_fds};
use super::task::{TaskFailure, lookup};
use crate::sys::os;

/// The parent's request (task starts only; a fork closure needs none).
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct Start {
    pub(crate) task: String,
    pub(crate) args: Vec<u8>,
    pub(crate) ident: Identity,
    /// Test hook: make the child fail its handshake (0: no fault).
    pub(crate) fault: Fault,
}

/// Who a process is (Python's `name`, `daemon`, and its parent).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) name: String,
    pub(crate) daemon: bool,
    pub(crate) parent_pid: i32,
    pub(crate) parent_name: String,
}

/// Handshake faults, for the fault tests.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[doc(hidden)]
pub enum Fault {
    /// Behave.
    #[default]
    None,
    /// Exit with code 3 before answering the handshake.
    ExitInHandshake,
    /// Never answer the handshake.
    HangInHandshake,
}

/// The child's reports.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Report {
    /// Handshake done: the child runs, with this pid.
    Ready { pid: i32 },
    /// The task's encoded result, or why there is none.
    Done(Result<Vec<u8>, TaskFailure>),
    /// From the fork server, after the child exited: its Python-style
    /// exit code (the server is a forkserver child's real parent).
    Exited(i32),
}

/// A task ready to run: produces its encoded result.
type Runner = Box<dyn FnOnce() -> Result<Vec<u8>, TaskFailure>>;

/// What the child runs.
pub(crate) enum Job {
    /// Receive a [`Start`] and run that task.
    Remote,
    /// Run this start request, already in memory (fork: the child has a
    /// copy, so the parent need not send it).
    Local(Start, Vec<OwnedFd>),
    /// Run this closure (fork only), already encoded as a result producer.
    Closure(Runner, Identity),
}

/// This process's identity if it is a gilfree child: a leaked box, or
/// null. Not a mutex: a forked child sets it, and a mutex another thread
/// of the parent held at the fork (reading it to start a child of its
/// own) would stay locked in the child forever. Not a `OnceLock`: a
/// forked grandchild inherits its parent's value and replaces it. Each
/// value is leaked (at most one a process): a reader may still hold the
/// one replaced.
static IDENTITY: AtomicPtr<Identity> = AtomicPtr::new(std::ptr::null_mut());

/// This process's identity, if it is a gilfree child.
pub(crate) fn current_identity() -> Option<Identity> {
    let p = IDENTITY.load(Ordering::Acquire);
    // SAFETY: IDENTITY holds null or a pointer from `Box::leak`, never
    // freed, whose contents were written before it was stored (Release).
    unsafe { p.as_ref() }.cloned()
}

fn set_identity(id: Identity) {
    IDENTITY.store(Box::leak(Box::new(id)), Ordering::Release);
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// Run the job; returns the exit code. `os_parent` is the pid of the
/// process that forked us (for the daemon death signal).
pub(crate) fn run(conn: Connection, job: Job, os_parent: i32) -> i32 {
    let (run, ident): (Runner, Identity) = match job {
        Job::Closure(f, id) => (f, id),
        job @ (Job::Remote | Job::Local(..)) => {
            let (start, fds) = match job {
                Job::Local(start, fds) => (start, fds),
                _ => {
                    let (bytes, fds) = match conn.recv_frame(crate::sys::Deadline::Never) {
                        Ok(f) => f,
                        Err(_) => return 1, // parent gone before the start message
                    };
                    match postcard::from_bytes::<Start>(&bytes) {
                        Ok(s) => (s, fds),
                        Err(e) => {
                            eprintln!("gilfree child: bad start message: {e}");
                            return 1;
                        }
                    }
                }
            };
            match start.fault {
                Fault::None => {}
                Fault::ExitInHandshake => return 3,
                Fault::HangInHandshake => {
                    // Wait for a message that never comes; the parent's
                    // handshake timeout kills us.
                    let _ = conn.recv_bytes();
                    return 3;
                }
            }
            let Start {
                task, args, ident, ..
            } = start;
            let f = move || match lookup(&task) {
                None => Err(TaskFailure::Unknown(task)),
                Some(entry) => with_received_fds(fds, || entry.call(&args)),
            };
            (Box::new(f), ident)
        }
    };
    if ident.daemon {
        let _ = os::process::kill_me_with_parent(os_parent);
    }
    set_identity(ident);
    if postcard::to_allocvec(&Report::Ready {
        pid: os::process::getpid(),
    })
    .ok()
    .and_then(|b| conn.send_bytes(&b).ok())
    .is_none()
    {
        return 1;
    }
    let outcome = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(r) => r,
        Err(p) => Err(TaskFailure::Panicked(panic_message(&*p))),
    };
    let code = match &outcome {
        Ok(_) => 0,
        // Said by the panic hook already.
        Err(TaskFailure::Panicked(_)) => 1,
        Err(why) => {
            // Not silent: the parent may never ask for the result.
            eprintln!("gilfree child (pid {}): {why}", os::process::getpid());
            1
        }
    };
    if let Ok(b) = postcard::to_allocvec(&Report::Done(outcome)) {
        let _ = conn.send_bytes(&b);
    }
    code
}

/// A forked child's whole life: run, flush, `_exit`.
pub(crate) fn run_forked(conn: OwnedFd, job: Job, os_parent: i32) -> ! {
    let code = run(Connection::from_fd(conn), job, os_parent);
    flush_stdio();
    os::process::exit_now(code)
}

/// Flush Rust's stdout (stderr is unbuffered).
pub(crate) fn flush_stdio() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
