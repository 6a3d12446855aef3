//! Forkserver, the parent's side: launch the server on first use (and
//! again if it died), ask it to fork a worker per start, stop it at exit.
//! The protocol and the server itself: `multiprocessing/server.rs`.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

use crate::multiprocessing::children::Started;
use crate::multiprocessing::connection::Connection;
use crate::multiprocessing::error::{Error, Result};
use crate::multiprocessing::guard::{ENV_SERVER, NO_INIT};
use crate::multiprocessing::server::{HELLO, Reply, Request};
use crate::multiprocessing::shared_memory::tracker;
use crate::sys::{Deadline, os};

struct Server {
    pid: i32,
    pidfd: OwnedFd,
    /// Every request and reply goes over it; closing it stops the server.
    link: Connection,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// Spawn the server and wait (until `deadline`) for its [`HELLO`].
fn launch(deadline: Deadline) -> Result<Server> {
    let (link, theirs) = os::socket::socketpair()?;
    let server = theirs.as_raw_fd().to_string();
    // The server, and so every worker it forks, joins the program tree's
    // resource tracker.
    let pid = match tracker::for_child() {
        Some((fd, v)) => os::process::spawn_self(
            &[(ENV_SERVER, &server), (tracker::ENV_MEMBER, &v)],
            &[theirs.as_fd(), fd.as_fd()],
        )?,
        None => os::process::spawn_self(&[(ENV_SERVER, &server)], &[theirs.as_fd()])?,
    };
    drop(theirs);
    // The server is reaped through its pidfd (it is ours).
    let pidfd = os::process::pidfd_open(pid)?;
    let server = Server {
        pid,
        pidfd,
        link: Connection::from_fd(link),
    };
    let stop = |e: Error| {
        let _ = os::process::pidfd_signal(server.pidfd.as_fd(), os::process::SIGKILL);
        let _ = os::poll::poll_readable(&[server.pidfd.as_fd()], Deadline::Never);
        let _ = os::process::reap(server.pidfd.as_fd());
        e
    };
    match server.link.recv_frame(deadline) {
        Ok((b, _)) if b == HELLO => Ok(server),
        Ok((b, _)) if b == NO_INIT => Err(stop(Error::NoInit("the fork server"))),
        Ok(_) => Err(stop(Error::StartFailed(
            "bad hello from the fork server".into(),
        ))),
        Err(e) => Err(stop(Error::StartFailed(format!(
            "the fork server did not come up: {e}"
        )))),
    }
}

/// Ask the server (launched on first use, relaunched if it died) to fork a
/// worker that runs `start` (an encoded [`child::Start`]) with `fds`.
/// Requests are one at a time (the link's replies come in order).
pub(crate) fn start(start: Vec<u8>, fds: &[OwnedFd], deadline: Deadline) -> Result<Started> {
    let mut g = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let dead = match &*g {
        None => true,
        Some(s) => os::poll::readable_now(s.pidfd.as_fd())?,
    };
    if dead {
        if let Some(old) = g.take() {
            let _ = os::process::reap(old.pidfd.as_fd());
        }
        *g = Some(launch(deadline)?);
    }
    let s = g.as_ref().expect("just set");
    let req = postcard::to_allocvec(&Request::Fork(start))
        .map_err(|e| Error::encode("fork request", e))?;
    let b: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
    let reply = s
        .link
        .send_with_fds(&req, &b)
        .and_then(|()| s.link.recv_frame(deadline));
    let (bytes, mut got) = match reply {
        Ok(r) => r,
        Err(e) => {
            // The link is out of step or broken: this server is done
            // (closing the link makes it exit); the next start launches
            // another.
            if let Some(old) = g.take() {
                let _ = os::process::pidfd_signal(old.pidfd.as_fd(), os::process::SIGKILL);
            }
            return Err(Error::StartFailed(format!(
                "the fork server did not fork: {e}"
            )));
        }
    };
    drop(g);
    match postcard::from_bytes::<Reply>(&bytes) {
        Ok(Reply::Forked(pid)) if got.len() == 2 => {
            let pidfd = got.pop().expect("checked");
            let conn = got.pop().expect("checked");
            Ok(Started {
                pid,
                pidfd,
                conn: Connection::from_fd(conn),
                via_server: true,
                _parents_copy: None,
            })
        }
        Ok(Reply::Failed(why)) => Err(Error::StartFailed(format!(
            "the fork server could not fork: {why}"
        ))),
        _ => Err(Error::StartFailed("bad reply from the fork server".into())),
    }
}

/// The running fork server's pid, if this process has one (tests).
pub(crate) fn server_pid() -> Option<i32> {
    let g = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    g.as_ref().map(|s| s.pid)
}

/// Stop the server (at exit): closing the link makes it exit.
pub(crate) fn shutdown() {
    let s = SERVER.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(s);
}

/// The server's slot, held by a thread that forks across its `fork()`
/// (taken before, released after in both processes), for the reason
/// [`children::ForkHold`] is: the child's copy then names the server the
/// descriptor table had, and its lock is the child's to release (another
/// thread's start in progress would have left it locked there forever).
///
/// [`children::ForkHold`]: crate::multiprocessing::children::ForkHold
pub(crate) struct ForkHold(MutexGuard<'static, Option<Server>>);

/// Hold the server's slot across a `fork()` (see [`ForkHold`]). Waits
/// for a start in flight on another thread (one round trip to the server).
pub(crate) fn hold_for_fork() -> ForkHold {
    ForkHold(SERVER.lock().unwrap_or_else(|e| e.into_inner()))
}

impl ForkHold {
    /// In the freshly forked child: the parent's server is not ours.
    /// Forget it, closing our copy of its link by number so that the
    /// server still sees the parent's exit (its pidfd, too).
    pub(crate) fn forget_in_child(mut self) {
        if let Some(s) = self.0.take() {
            let link = s.link.as_fd_checked().ok().map(|f| f.as_raw_fd());
            for fd in [Some(s.pidfd.as_raw_fd()), link].into_iter().flatten() {
                // SAFETY: the slot was held across the fork, so `fd` is our
                // copy of the server's descriptor; the server is forgotten
                // below, so its `OwnedFd`s are never used or dropped here.
                unsafe { os::socket::close_raw(fd) };
            }
            std::mem::forget(s);
        }
    }
}
