//! The fork server: this binary re-executed once into a single-threaded
//! process that forks workers on request.
//!
//! # Protocol
//!
//! The parent makes a 0700 directory with a 0600 Unix socket in it, binds
//! and listens, and spawns the server with the listening socket and one end
//! of an "alive" socket pair ([`ENV_SERVER`]). It sends a random 32-byte auth
//! key over the alive pair; the server exits when that pair reaches EOF (the
//! parent died). Each start: the parent connects, both sides pass the HMAC
//! challenge with the key, the parent sends [`Request::Fork`] with the
//! child's end of a fresh socket pair (`SCM_RIGHTS`); the server forks a
//! worker that runs the child runner on it, and answers [`Reply::Forked`]
//! with the worker's pidfd attached. The server watches every worker's
//! pidfd and, when one exits, reaps it and sends [`Reply::Exited`] with the
//! exit code on that request's connection: the worker is the server's child,
//! so only the server can read its status.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::child::{self, Job};
use super::connection::{Address, Client, Connection, answer_challenge, deliver_challenge};
use super::error::{Error, Result};
use super::os;
use super::process::Started;
use crate::sys::Deadline;

/// Tells a re-executed binary it is the fork server:
/// `"<listen fd>,<alive fd>,<socket path>"`.
pub(crate) const ENV_SERVER: &str = "GILFREE_MP_FORKSERVER";

/// What the parent asks.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Request {
    /// Fork a worker on the attached socket.
    Fork,
}

/// What the server answers.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Reply {
    /// The worker's pid (its pidfd is attached).
    Forked(i32),
    /// The worker exited with this Python-style code.
    Exited(i32),
}

struct Server {
    /// The process that launched it: only it removes the socket.
    owner: i32,
    path: PathBuf,
    dir: PathBuf,
    key: Vec<u8>,
    pidfd: OwnedFd,
    /// Our end of the alive pair: the server exits when it closes.
    _alive: OwnedFd,
}

impl Drop for Server {
    fn drop(&mut self) {
        if os::getpid() != self.owner {
            return; // a forked child's copy: the parent's server, not ours
        }
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// Time allowed to an unauthenticated peer of the server.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

fn launch() -> Result<Server> {
    use std::os::unix::fs::DirBuilderExt;
    use std::os::unix::process::CommandExt;
    let tag: String = os::random_bytes(8)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = std::env::temp_dir().join(format!("gilfree-fs-{}-{tag}", os::getpid()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let path = dir.join("sock");
    let listener = UnixListener::bind(&path)?;
    os::chmod(&path, 0o600)?;
    let key = os::random_bytes(32)?;
    let (alive, alive_server) = os::socketpair()?;
    let (lfd, afd) = (listener.as_raw_fd(), alive_server.as_raw_fd());
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.env(ENV_SERVER, format!("{lfd},{afd},{}", path.display()));
    cmd.env_remove(super::process::ENV_CHILD);
    // SAFETY: runs in the forked child before exec; fcntl only.
    unsafe {
        cmd.pre_exec(move || {
            os::set_cloexec(std::os::fd::BorrowedFd::borrow_raw(lfd), false)?;
            os::set_cloexec(std::os::fd::BorrowedFd::borrow_raw(afd), false)?;
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    drop(child); // the server is reaped through its pidfd below (it is ours)
    drop(listener);
    drop(alive_server);
    let pidfd = os::pidfd_open(pid)?;
    let c = Connection::from_fd(os::dup(alive.as_fd())?);
    c.send_bytes(&key)?;
    Ok(Server {
        owner: os::getpid(),
        path,
        dir,
        key,
        pidfd,
        _alive: alive,
    })
}

/// Ask the server (launched on first use, relaunched if it died) to fork a
/// worker.
pub(crate) fn start(_daemon: bool, deadline: Deadline) -> Result<Started> {
    let (path, key) = {
        let mut g = SERVER.lock().unwrap_or_else(|e| e.into_inner());
        let dead = match &*g {
            None => true,
            Some(s) => os::readable_now(s.pidfd.as_fd())?,
        };
        if dead {
            if let Some(old) = g.take() {
                let _ = os::reap(old.pidfd.as_fd());
            }
            *g = Some(launch()?);
        }
        let s = g.as_ref().expect("just set");
        (s.path.clone(), s.key.clone())
    };
    let c = Client(&Address::Unix(path), Some(&key))?;
    let (ours, theirs) = os::socketpair()?;
    let req = postcard::to_allocvec(&Request::Fork).map_err(|e| Error::encode("request", e))?;
    c.send_with_fds(&req, &[theirs.as_fd()])?;
    drop(theirs);
    let (bytes, mut fds) = c
        .recv_frame(deadline)
        .map_err(|e| Error::StartFailed(format!("the fork server did not fork: {e}")))?;
    let pid = match postcard::from_bytes::<Reply>(&bytes) {
        Ok(Reply::Forked(pid)) if fds.len() == 1 => pid,
        _ => return Err(Error::StartFailed("bad reply from the fork server".into())),
    };
    Ok(Started {
        pid,
        pidfd: fds.pop().expect("checked"),
        conn: Connection::from_fd(ours),
        status: Some(c),
    })
}

/// Stop the server (at exit): closing the alive socket makes it exit; the
/// socket file and its directory are removed.
pub(crate) fn shutdown() {
    let s = SERVER.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(s);
}

/// In a forked child: forget the parent's server (closing our copies of
/// its descriptors, so that the server still sees the parent's exit).
pub(crate) fn after_fork_in_child() {
    if let Ok(mut g) = SERVER.try_lock() {
        drop(g.take());
    }
}

/// The server's main loop (in the re-executed binary); never returns.
pub(crate) fn serve(spec: &str) -> ! {
    let r = serve_inner(spec);
    // Whoever goes first (we, or the parent at its exit) removes the
    // socket and its directory: a killed parent leaves nothing behind.
    if let Some(path) = spec.splitn(3, ',').nth(2).map(PathBuf::from) {
        let _ = std::fs::remove_file(&path);
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    let code = match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("gilfree fork server: {e}");
            1
        }
    };
    os::exit_now(code)
}

fn serve_inner(spec: &str) -> Result<()> {
    let mut parts = spec.splitn(3, ',');
    let (l, a) = parts
        .next()
        .zip(parts.next())
        .and_then(|(l, a)| Some((l.parse::<i32>().ok()?, a.parse::<i32>().ok()?)))
        .ok_or_else(|| Error::Value(format!("bad {ENV_SERVER}: {spec:?}")))?;
    // SAFETY: the parent passed these two descriptors to us for our sole
    // use (their numbers are in our environment); we own them from here.
    let (listener, alive) = unsafe { (OwnedFd::from_raw_fd(l), OwnedFd::from_raw_fd(a)) };
    os::set_cloexec(listener.as_fd(), true)?;
    os::set_cloexec(alive.as_fd(), true)?;
    let listener = UnixListener::from(listener);
    let alive = Connection::from_fd(alive);
    let key = alive.recv_bytes()?;
    let me = os::getpid();
    // (worker pidfd, the request connection that gets its status)
    let mut workers: Vec<(OwnedFd, Connection)> = Vec::new();
    loop {
        let mut fds = vec![listener.as_fd(), alive.as_fd_checked()?];
        fds.extend(workers.iter().map(|w| w.0.as_fd()));
        let ready = os::poll_readable(&fds, Deadline::Never)?;
        if ready[1] {
            return Ok(()); // the parent is gone (EOF) — daemons die with us
        }
        let mut i = 0;
        while i < workers.len() {
            if ready[2 + i]
                && let Some(code) = os::reap(workers[i].0.as_fd())?
            {
                let (_, c) = workers.swap_remove(i);
                if let Ok(b) = postcard::to_allocvec(&Reply::Exited(code)) {
                    let _ = c.send_bytes(&b);
                }
                // `ready` no longer lines up past a swap: look again on
                // the next round.
                break;
            }
            i += 1;
        }
        if ready[0] {
            let Ok((stream, _)) = listener.accept() else {
                continue;
            };
            match accept_request(stream, &key) {
                Ok((c, child_fd)) => {
                    // SAFETY: this process has one thread (the server never
                    // starts any), so the child may do anything.
                    match unsafe { os::fork() } {
                        Ok(os::Forked::Child) => {
                            drop(listener);
                            drop(alive);
                            drop(workers);
                            drop(c);
                            child::run_forked(child_fd, Job::Remote, me)
                        }
                        Ok(os::Forked::Parent(pid)) => {
                            drop(child_fd);
                            let Ok(pidfd) = os::pidfd_open(pid) else {
                                continue;
                            };
                            let Ok(b) = postcard::to_allocvec(&Reply::Forked(pid)) else {
                                continue;
                            };
                            if c.send_with_fds(&b, &[pidfd.as_fd()]).is_ok() {
                                workers.push((pidfd, c));
                            }
                        }
                        Err(_) => continue,
                    }
                }
                Err(e) => {
                    eprintln!("gilfree fork server: refused a request: {e}");
                    continue;
                }
            }
        }
    }
}

/// Authenticate a connection and read its fork request.
fn accept_request(stream: UnixStream, key: &[u8]) -> Result<(Connection, OwnedFd)> {
    stream.set_read_timeout(Some(AUTH_TIMEOUT))?;
    stream.set_write_timeout(Some(AUTH_TIMEOUT))?;
    let c = Connection::from_fd(stream.into());
    deliver_challenge(&c, key)?;
    answer_challenge(&c, key)?;
    let (bytes, mut fds) = c.recv_frame(Deadline::after(AUTH_TIMEOUT))?;
    match postcard::from_bytes::<Request>(&bytes) {
        Ok(Request::Fork) if fds.len() == 1 => Ok((c, fds.pop().expect("checked"))),
        _ => Err(Error::Value("bad fork request".into())),
    }
}
