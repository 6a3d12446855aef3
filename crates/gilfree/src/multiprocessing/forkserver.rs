//! The fork server: this binary re-executed once into a single-threaded
//! process that forks workers on request.
//!
//! # Protocol
//!
//! The parent makes a 0700 directory with a 0600 Unix socket in it, binds
//! and listens, and spawns the server with the listening socket and one end
//! of an "alive" socket pair ([`ENV_SERVER`]). It sends a random 32-byte auth
//! key over the alive pair; the server exits when that pair reaches EOF (the
//! parent died). The parent then connects once and both sides pass the
//! HMAC challenge with the key: that connection (the *link*) carries every
//! later request, so a start costs no connect and no challenge.
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
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::child::{self, Job, Report};
use super::connection::{Address, Client, Connection, answer_challenge, deliver_challenge};
use super::error::{Error, Result};
use super::os;
use super::process::Started;
use super::shared_memory::tracker;
use crate::sys::Deadline;

/// Tells a re-executed binary it is the fork server:
/// `"<listen fd>,<alive fd>,<socket path>"`.
pub(crate) const ENV_SERVER: &str = "GILFREE_MP_FORKSERVER";

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

struct Server {
    /// The process that launched it: only it removes the socket.
    owner: i32,
    path: PathBuf,
    dir: PathBuf,
    pid: i32,
    pidfd: OwnedFd,
    /// The authenticated connection every request and reply goes over.
    link: Connection,
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
    // The server, and so every worker it forks, joins the program tree's
    // resource tracker.
    let member = tracker::for_child();
    let mfd = member.as_ref().map(|(fd, v)| {
        cmd.env(tracker::ENV_MEMBER, v);
        fd.as_raw_fd()
    });
    // SAFETY: runs in the forked child before exec; fcntl only.
    unsafe {
        cmd.pre_exec(move || {
            os::set_cloexec(std::os::fd::BorrowedFd::borrow_raw(lfd), false)?;
            os::set_cloexec(std::os::fd::BorrowedFd::borrow_raw(afd), false)?;
            if let Some(m) = mfd {
                os::set_cloexec(std::os::fd::BorrowedFd::borrow_raw(m), false)?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(member);
    let pid = child.id() as i32;
    drop(child); // the server is reaped through its pidfd below (it is ours)
    drop(listener);
    drop(alive_server);
    let pidfd = os::pidfd_open(pid)?;
    let c = Connection::from_fd(os::dup(alive.as_fd())?);
    c.send_bytes(&key)?;
    // Connect once; the challenge waits for the server to come up.
    let link = Client(&Address::Unix(path.clone()), Some(&key))?;
    Ok(Server {
        owner: os::getpid(),
        path,
        dir,
        pid,
        pidfd,
        link,
        _alive: alive,
    })
}

/// Ask the server (launched on first use, relaunched if it died) to fork a
/// worker that runs `start` (an encoded [`child::Start`]) with `fds`.
/// Requests are one at a time (the link's replies come in order).
pub(crate) fn start(start: Vec<u8>, fds: &[OwnedFd], deadline: Deadline) -> Result<Started> {
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
            // The link is out of step or broken: this server is done (its
            // alive pair closes with it, so it exits); the next start
            // launches another.
            if let Some(old) = g.take() {
                let _ = os::pidfd_signal(old.pidfd.as_fd(), libc::SIGKILL);
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
    // Authenticated clients (the parent's link; any process with the key).
    let mut clients: Vec<Connection> = Vec::new();
    // (worker pidfd, our copy of the worker's end: its exit status goes
    // there).
    let mut workers: Vec<(OwnedFd, Connection)> = Vec::new();
    // The next worker, forked ahead of time.
    let mut spare: Option<Spare> = None;
    loop {
        if spare.is_none() {
            spare = fork_spare(me, &inherited(&listener, &alive, &clients, &workers)?).ok();
        }
        let mut fds = vec![listener.as_fd(), alive.as_fd_checked()?];
        for c in &clients {
            fds.push(c.as_fd_checked()?);
        }
        fds.extend(workers.iter().map(|w| w.0.as_fd()));
        let ready = os::poll_readable(&fds, Deadline::Never)?;
        if ready[1] {
            return Ok(()); // the parent is gone (EOF) — daemons die with us
        }
        let nc = clients.len();
        // Backwards, so that `swap_remove` only moves an entry already seen.
        for i in (0..workers.len()).rev() {
            if ready[2 + nc + i]
                && let Some(code) = os::reap(workers[i].0.as_fd())?
            {
                let (_, end) = workers.swap_remove(i);
                if let Ok(b) = postcard::to_allocvec(&Report::Exited(code)) {
                    let _ = end.send_bytes(&b);
                }
            }
        }
        // Which clients to read: the readable ones, and a new one (its
        // first request may already sit in its buffer, read along with the
        // end of the challenge, where no poll would see it).
        let mut serve: Vec<bool> = (0..nc).map(|i| ready[2 + i]).collect();
        if ready[0]
            && let Ok((stream, _)) = listener.accept()
        {
            match authenticate(stream, &key) {
                Ok(c) => {
                    clients.push(c);
                    serve.push(true);
                }
                Err(e) => eprintln!("gilfree fork server: refused a client: {e}"),
            }
        }
        for i in (0..clients.len()).rev() {
            if !serve[i] {
                continue;
            }
            loop {
                match clients[i].recv_frame_nonblocking() {
                    Ok(Some((bytes, fds))) => {
                        let reply = match postcard::from_bytes::<Request>(&bytes) {
                            Ok(Request::Fork(start)) => {
                                let inherited = || inherited(&listener, &alive, &clients, &workers);
                                take_spare(&mut spare, me, inherited)
                                    .and_then(|sp| {
                                        match sp.hand(&start, &fds) {
                                            Ok(()) => Ok(sp),
                                            Err(e) => {
                                                // It will not run: stop it, and
                                                // reap it with the others.
                                                let _ = os::pidfd_signal(
                                                    sp.pidfd.as_fd(),
                                                    libc::SIGKILL,
                                                );
                                                workers.push((sp.pidfd, sp.end));
                                                Err(e)
                                            }
                                        }
                                    })
                                    .map_err(|e| e.to_string())
                            }
                            Err(e) => Err(format!("bad request: {e}")),
                        };
                        drop(fds);
                        let sent = match reply {
                            Ok(sp) => {
                                let b = postcard::to_allocvec(&Reply::Forked(sp.pid))
                                    .map_err(|e| Error::encode("reply", e))?;
                                let r = clients[i].send_with_fds(
                                    &b,
                                    &[sp.theirs.as_fd_checked()?, sp.pidfd.as_fd()],
                                );
                                workers.push((sp.pidfd, sp.end));
                                r
                            }
                            Err(why) => {
                                let b = postcard::to_allocvec(&Reply::Failed(why))
                                    .map_err(|e| Error::encode("reply", e))?;
                                clients[i].send_bytes(&b)
                            }
                        };
                        if sent.is_err() {
                            clients.swap_remove(i);
                            break;
                        }
                        if spare.is_none() {
                            // While the worker starts: the next one.
                            spare =
                                fork_spare(me, &inherited(&listener, &alive, &clients, &workers)?)
                                    .ok();
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        // EOF (the client is gone) or a broken frame.
                        clients.swap_remove(i);
                        break;
                    }
                }
            }
        }
    }
}

/// Descriptors a new worker must not keep: the parent has to see EOF on
/// its link and on other workers' sockets without waiting for it.
fn inherited(
    listener: &UnixListener,
    alive: &Connection,
    clients: &[Connection],
    workers: &[(OwnedFd, Connection)],
) -> Result<Vec<i32>> {
    let mut v = vec![listener.as_raw_fd(), alive.as_fd_checked()?.as_raw_fd()];
    for c in clients {
        v.push(c.as_fd_checked()?.as_raw_fd());
    }
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
        Some(sp) if !os::readable_now(sp.pidfd.as_fd())? => Ok(sp),
        dead => {
            if let Some(d) = dead {
                let _ = os::reap(d.pidfd.as_fd());
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
    /// Give the worker its start message and descriptors.
    fn hand(&self, start: &[u8], fds: &[OwnedFd]) -> Result<()> {
        let b: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
        self.theirs.send_with_fds(start, &b)
    }
}

/// Fork a spare worker on one end of a fresh socket pair; in the worker,
/// close `inherited` (the server's own descriptors) first.
fn fork_spare(me: i32, inherited: &[i32]) -> Result<Spare> {
    let (theirs, end) = os::socketpair()?;
    // SAFETY: this process has one thread (the server never starts any),
    // so the child may do anything.
    match unsafe { os::fork() }? {
        os::Forked::Child => {
            for &fd in inherited {
                // SAFETY: `inherited` are descriptors the server owns and
                // this worker never uses; their `OwnedFd`s are never
                // dropped here, because `run_forked` ends the process with
                // `_exit` (no unwinding back into the server's frames).
                unsafe { libc::close(fd) };
            }
            drop(theirs);
            // Waits for its start message (EOF if the server exits first).
            child::run_forked(end, Job::Remote, me)
        }
        os::Forked::Parent(pid) => {
            let pidfd = os::pidfd_open(pid)?;
            Ok(Spare {
                pid,
                pidfd,
                theirs: Connection::from_fd(theirs),
                end: Connection::from_fd(end),
            })
        }
    }
}

/// Authenticate a new client (the HMAC challenge both ways).
fn authenticate(stream: UnixStream, key: &[u8]) -> Result<Connection> {
    stream.set_read_timeout(Some(AUTH_TIMEOUT))?;
    stream.set_write_timeout(Some(AUTH_TIMEOUT))?;
    let c = Connection::from_fd(stream.into());
    deliver_challenge(&c, key)?;
    answer_challenge(&c, key)?;
    // Requests are read when the link polls readable; replies must not
    // block forever on a client that stopped reading.
    Ok(c)
}
