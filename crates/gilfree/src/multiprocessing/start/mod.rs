//! Starting a child: the one start path every method shares (the
//! identity and start message, the dispatch to `fork`, `spawn` or
//! `forkserver`, and the parent's side of the handshake).

mod fork;
pub(crate) mod forkserver;
mod spawn;

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use super::child::{Identity, Job, Report, Start};
use super::children::{Record, Started, Target};
use super::connection::Connection;
use super::error::{Error, Result};
use super::guard::NO_INIT;
use super::info::current_process;
use super::method::StartMethod;
use super::shared_memory::tracker;
use crate::sys::{Deadline, os};

/// Start the child `r` describes (its target is taken): make it by its
/// start method and complete the handshake.
pub(crate) fn start(r: &Record, target: Target) -> Result<Started> {
    // Every process of the tree holds the resource tracker's socket, so
    // the tracker runs before the first child (a forked one inherits it;
    // spawn and the fork server pass it on).
    tracker::ensure_running();
    let ident = Identity {
        name: r.name.clone(),
        daemon: r.daemon,
        parent_pid: os::process::getpid(),
        parent_name: current_process().name,
    };
    let deadline = Deadline::after(r.handshake_timeout);
    let started = match target {
        Target::Closure(f) => {
            if r.method != StartMethod::Fork {
                return Err(Error::ForkRefused(format!(
                    "a closure can only be run by the fork start method, not {}",
                    r.method
                )));
            }
            let n = os::process::thread_count()?;
            if n > 1 {
                return Err(Error::ForkRefused(format!(
                    "the parent has {n} threads; a forked child could deadlock on a lock \
                     another thread held (use a #[gilfree::task] instead)"
                )));
            }
            let st = fork::start(Job::Closure(f, ident))?;
            handshake(&st, None, deadline)?;
            st
        }
        Target::Task { name, args, fds } => {
            let start = Start {
                task: name.to_string(),
                args,
                ident,
                fault: r.fault,
            };
            if r.method == StartMethod::Fork {
                // The child has its own copy of the request.
                let st = fork::start(Job::Local(start, fds))?;
                handshake(&st, None, deadline)?;
                st
            } else {
                let msg =
                    postcard::to_allocvec(&start).map_err(|e| Error::encode("start message", e))?;
                if r.method == StartMethod::Spawn {
                    let st = spawn::start()?;
                    handshake(&st, Some((&msg, &fds)), deadline)?;
                    st
                } else {
                    // The server hands the start message to the child.
                    let st = forkserver::start(msg, &fds, deadline)?;
                    handshake(&st, None, deadline)?;
                    st
                }
            }
        }
    };
    Ok(started)
}

/// The parent's side of the start handshake, for every start method.
fn handshake(st: &Started, start: Option<(&[u8], &[OwnedFd])>, deadline: Deadline) -> Result<()> {
    let fail = |why: String| failed(st, Error::StartFailed(why));
    if let Some((msg, fds)) = start {
        let b: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
        if let Err(e) = st.conn.send_with_fds(msg, &b) {
            // A child that skipped init() may be gone already: its reason
            // waits on the socket.
            if let Ok(Some((b, _))) = st.conn.recv_frame_nonblocking()
                && b == NO_INIT
            {
                return Err(failed(st, Error::NoInit("the child")));
            }
            return Err(fail(format!("cannot send the start message: {e}")));
        }
    }
    loop {
        let ready =
            os::poll::poll_readable(&[st.conn.as_fd_checked()?, st.pidfd.as_fd()], deadline)?;
        if ready[0] {
            match st.conn.recv_frame_nonblocking() {
                Ok(Some((b, _))) if b == NO_INIT => {
                    return Err(failed(st, Error::NoInit("the child")));
                }
                Ok(Some((b, _))) => match postcard::from_bytes::<Report>(&b) {
                    Ok(Report::Ready { .. }) => return Ok(()),
                    Ok(Report::Exited(code)) if st.via_server => {
                        return Err(fail(format!(
                            "the child died during the start handshake (exit code {code})"
                        )));
                    }
                    _ => return Err(fail("unexpected handshake message".into())),
                },
                Ok(None) => continue,
                Err(_) => {
                    let code = exit_code_of(st);
                    return Err(fail(format!(
                        "the child died during the start handshake (exit code {code})"
                    )));
                }
            }
        } else if ready[1] {
            let code = exit_code_of(st);
            return Err(fail(format!(
                "the child died during the start handshake (exit code {code})"
            )));
        } else if deadline.expired() {
            return Err(fail(format!(
                "the child did not answer the start handshake in time (pid {})",
                st.pid
            )));
        }
    }
}

/// A start that failed: make sure the child is gone, and reaped if it is
/// ours; then `e`.
fn failed(st: &Started, e: Error) -> Error {
    let _ = os::process::pidfd_signal(st.pidfd.as_fd(), os::process::SIGKILL);
    if !st.via_server {
        let _ = os::poll::poll_readable(
            &[st.pidfd.as_fd()],
            Deadline::after(Duration::from_secs(10)),
        );
        let _ = os::process::reap(st.pidfd.as_fd());
    }
    e
}

/// A dead (or dying) child's exit code, for error messages.
fn exit_code_of(st: &Started) -> String {
    let _ = os::poll::poll_readable(
        &[st.pidfd.as_fd()],
        Deadline::after(Duration::from_secs(10)),
    );
    let code = if st.via_server {
        server_status(&st.conn, Deadline::after(Duration::from_secs(10)))
    } else {
        os::process::reap(st.pidfd.as_fd()).ok().flatten()
    };
    code.map_or_else(|| "unknown".into(), |c| c.to_string())
}

/// A forkserver child's exit status: read its socket (skipping what the
/// child said) until the server's [`Report::Exited`]; `None` at EOF (the
/// server died) or after `deadline`.
fn server_status(c: &Connection, deadline: Deadline) -> Option<i32> {
    loop {
        let (b, _) = c.recv_frame(deadline).ok()?;
        if let Ok(Report::Exited(code)) = postcard::from_bytes::<Report>(&b) {
            return Some(code);
        }
    }
}
