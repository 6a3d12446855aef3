//! The fork server: this binary re-executed once into a single-threaded
//! process that forks workers on request; its protocol and its loop (the
//! parent's side is `start/forkserver.rs`).
//!
//! # Protocol
//!
//! The parent makes a socket pair, the *link*, and spawns the server with
//! one end ([`ENV_SERVER`]); the server's first frame on it is [`HELLO`]
//! (or, from a program whose `main` skipped `init()`, the bootstrap's
//! refusal). The link carries every request and reply, and its end of
//! stream tells the server that the parent is gone: it then exits. No
//! address, no file: nothing of the server is in the file system, so
//! nothing can outlive the program however it ends, and no other process
//! can reach the server (Python 3.14 binds a Unix socket in a temporary
//! directory and authenticates its clients with a key instead).
//!
//! Each start is one request and one reply on the link: the parent sends
//! [`Request::Fork`] with the encoded start message (the task, its
//! arguments, the child's identity) and the descriptors of any connections
//! among the arguments (`SCM_RIGHTS`). The server keeps one *spare*
//! worker forked ahead of time, blocked reading its socket: it writes the
//! start message (and descriptors) into the other end of that socket, and
//! answers [`Reply::Forked`] with the worker's pid and, attached, that
//! end and the worker's pidfd; then it forks the next spare, while the
//! worker runs. So a start's latency holds no fork (a fresh worker, made
//! only by this single-threaded server, inherits nothing from the
//! request). The parent then waits for the worker's `Ready` on its end,
//! as for any start method.
//!
//! The worker is the server's child, so only the server can read its exit
//! status. The server keeps its copy of the worker's end; when the
//! worker's pidfd turns readable it reaps the worker, writes
//! `Report::Exited(code)` on that end (so it reaches the parent after
//! everything the worker said) and closes it, which is the parent's EOF.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use serde::{Deserialize, Serialize};

use super::child::{self, Job, Report};
use super::connection::Connection;
use super::error::{Error, Result};
use super::guard::ENV_SERVER;
use crate::sys::{Deadline, os};

/// The server's first frame on the link: it is up and serving.
pub(crate) const HELLO: &[u8] = b"gilfree fork server";

/// What the parent asks, on the link.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Request {
    /// Fork a worker that runs this encoded [`child::Start`]; the
    /// descriptors it refers to are attached.
    Fork(Vec<u8>),
}

/// What the server answers, on the link: one reply per request.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Reply {
    /// The worker's pid; attached: the parent's end of the worker's
    /// socket, then the worker's pidfd.
    Forked(i32),
    /// The server could not fork (why).
    Failed(String),
}

/// The server's main loop (in the re-executed binary); never returns.
pub(crate) fn serve(spec: &str) -> ! {
    let code = match serve_inner(spec) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("gilfree fork server: {e}");
            1
        }
    };
    os::process::exit_now(code)
}

fn serve_inner(spec: &str) -> Result<()> {
    let fd = spec
        .parse::<i32>()
        .map_err(|_| Error::Value(format!("bad {ENV_SERVER}: {spec:?}")))?;
    // SAFETY: the parent passed this descriptor to us for our sole use (its
    // number is in our environment); we own it from here.
    let link = unsafe { OwnedFd::from_raw_fd(fd) };
    os::socket::set_cloexec(link.as_fd(), true)?;
    let link = Connection::from_fd(link);
    link.send_bytes(HELLO)?;
    let me = os::process::getpid();
    // (worker pidfd, our copy of the worker's end: its exit status goes
    // there).
    let mut workers: Vec<(OwnedFd, Connection)> = Vec::new();
    // The next worker, forked ahead of time.
    let mut spare: Option<Spare> = None;
    loop {
        if spare.is_none() {
            spare = fork_spare(me, &inherited(&link, &workers)?).ok();
        }
        let mut fds = vec![link.as_fd_checked()?];
        fds.extend(workers.iter().map(|w| w.0.as_fd()));
        let ready = os::poll::poll_readable(&fds, Deadline::Never)?;
        // Backwards, so that `swap_remove` only moves an entry already seen.
        for i in (0..workers.len()).rev() {
            if ready[1 + i]
                && let Some(code) = os::process::reap(workers[i].0.as_fd())?
            {
                let (_, end) = workers.swap_remove(i);
                if let Ok(b) = postcard::to_allocvec(&Report::Exited(code)) {
                    let _ = end.send_bytes(&b);
                }
            }
        }
        if !ready[0] {
            continue;
        }
        loop {
            let (bytes, fds) = match link.recv_frame_nonblocking() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                // The parent is gone (EOF), or the link is broken: stop.
                // Daemon workers die with us (their death signal).
                Err(_) => return Ok(()),
            };
            let reply = match postcard::from_bytes::<Request>(&bytes) {
                Ok(Request::Fork(start)) => {
                    take_spare(&mut spare, me, || inherited(&link, &workers))
                        .and_then(|sp| match sp.hand(&start, &fds) {
                            Ok(()) => Ok(sp),
                            Err(e) => {
                                // It will not run: stop it, and reap it
                                // with the others.
                                let _ = os::process::pidfd_signal(
                                    sp.pidfd.as_fd(),
                                    os::process::SIGKILL,
                                );
                                workers.push((sp.pidfd, sp.end));
                                Err(e)
                            }
                        })
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(format!("bad request: {e}")),
            };
            drop(fds);
            match reply {
                Ok(sp) => {
                    let b = postcard::to_allocvec(&Reply::Forked(sp.pid))
                        .map_err(|e| Error::encode("reply", e))?;
                    let sent =
                        link.send_with_fds(&b, &[sp.theirs.as_fd_checked()?, sp.pidfd.as_fd()]);
                    workers.push((sp.pidfd, sp.end));
                    if sent.is_err() {
                        return Ok(()); // the parent is gone
                    }
                }
                Err(why) => {
                    let b = postcard::to_allocvec(&Reply::Failed(why))
                        .map_err(|e| Error::encode("reply", e))?;
                    if link.send_bytes(&b).is_err() {
                        return Ok(()); // the parent is gone
                    }
                }
            }
            if spare.is_none() {
                // While the worker starts: the next one.
                spare = fork_spare(me, &inherited(&link, &workers)?).ok();
            }
        }
    }
}

/// Descriptors a new worker must not keep: the parent has to see EOF on
/// other workers' sockets without waiting for it, and the server the
/// parent's exit on the link.
fn inherited(link: &Connection, workers: &[(OwnedFd, Connection)]) -> Result<Vec<i32>> {
    let mut v = vec![link.as_fd_checked()?.as_raw_fd()];
    for (pidfd, end) in workers {
        v.push(pidfd.as_raw_fd());
        v.push(end.as_fd_checked()?.as_raw_fd());
    }
    Ok(v)
}

/// The spare worker if it is alive, else a fresh one.
fn take_spare(
    spare: &mut Option<Spare>,
    me: i32,
    inherited: impl FnOnce() -> Result<Vec<i32>>,
) -> Result<Spare> {
    match spare.take() {
        Some(sp) if !os::poll::readable_now(sp.pidfd.as_fd())? => Ok(sp),
        dead => {
            if let Some(d) = dead {
                let _ = os::process::reap(d.pidfd.as_fd());
            }
            fork_spare(me, &inherited()?)
        }
    }
}

/// A worker forked ahead of time, blocked reading its start message.
struct Spare {
    pid: i32,
    pidfd: OwnedFd,
    /// The parent's end of the worker's socket (for now, ours to write the
    /// start message into).
    theirs: Connection,
    /// Our copy of the worker's end: its exit status goes there.
    end: Connection,
}

impl Spare {
    /// Give the worker its start message and descriptors.
    fn hand(&self, start: &[u8], fds: &[OwnedFd]) -> Result<()> {
        let b: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
        self.theirs.send_with_fds(start, &b)
    }
}

/// Fork a spare worker on one end of a fresh socket pair; in the worker,
/// close `inherited` (the server's own descriptors) first.
fn fork_spare(me: i32, inherited: &[i32]) -> Result<Spare> {
    let (theirs, end) = os::socket::socketpair()?;
    // SAFETY: this process has one thread (the server never starts any),
    // so the child may do anything.
    match unsafe { os::process::fork() }? {
        os::process::Forked::Child => {
            for &fd in inherited {
                // SAFETY: `inherited` are descriptors the server owns and
                // this worker never uses; their `OwnedFd`s are never
                // dropped here, because `run_forked` ends the process with
                // `_exit` (no unwinding back into the server's frames).
                unsafe { os::socket::close_raw(fd) };
            }
            drop(theirs);
            // Waits for its start message (EOF if the server exits first).
            child::run_forked(end, Job::Remote, me)
        }
        os::process::Forked::Parent(pid) => {
            let pidfd = os::process::pidfd_open(pid)?;
            Ok(Spare {
                pid,
                pidfd,
                theirs: Connection::from_fd(theirs),
                end: Connection::from_fd(end),
            })
        }
    }
}
