//! The resource tracker: one helper process per program tree that unlinks
//! the named segments the tree created and left behind, once every process
//! of the tree is gone — however they ended, SIGKILL included.
//!
//! # How the tree is known
//!
//! The tracker holds one end of a `SOCK_SEQPACKET` socket pair; every
//! process of the tree holds the other end (the *member* socket). The
//! first process to start a child, or to create a tracked segment,
//! launches the tracker; each child then joins: a forked child inherits
//! the member socket, a spawned child and the fork server get it with
//! [`ENV_MEMBER`] (and the server's workers inherit it from the server).
//! The kernel closes a process's descriptors however it dies, so when the
//! tracker's receive returns 0 (no member socket left open anywhere), the
//! tree is gone.
//!
//! # How it starts
//!
//! The tracker is *forked*, not re-executed: a block must be trackable in
//! any program, including one whose `main` never calls
//! `multiprocessing::init()` (a doc test, a libtest test), where a
//! re-executed binary would run the program again instead of the tracker.
//! Forking a multi-threaded parent is sound only for a child that keeps
//! to async-signal-safe calls, so the tracker's loop is written that way:
//! system calls only, its table in pages of its own (`mmap`), no allocator,
//! no lock, `_exit` at the end. It first closes every descriptor but its
//! socket (holding none of the parent's pipes open) and ignores SIGINT and
//! SIGTERM (a Ctrl-C of the terminal's process group must not end it
//! before the tree it watches).
//!
//! # What it is told
//!
//! One message per `send` (`SOCK_SEQPACKET` keeps them whole, even from
//! many processes at once): `R<name>` when a process creates a tracked
//! segment, `U<name>` when one unlinks it. At EOF the tracker unlinks
//! every name still registered, then exits. Attaching sends nothing, so an
//! attach never makes a process responsible for unlinking (CPython before
//! 3.13 registered attaches too, gh-82300). The table holds
//! [`MAX_NAMES`] live names; registrations beyond are not tracked.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Mutex;

use crate::sys::os;
use crate::sys::os::shm;

/// Hands a child its tree's member socket: `"<socket fd>,<tracker pid>"`.
pub(crate) const ENV_MEMBER: &str = "GILFREE_MP_TRACKER";

/// A message is a tag byte and a name (at most 255 bytes).
const MAX_MESSAGE: usize = 1 + 255;

/// A table slot: the name's length, then the name.
const SLOT: usize = 256;

/// Live names the tracker holds (16 MiB of table, touched as used).
const MAX_NAMES: usize = 1 << 16;

/// This process's member socket, and the tracker's pid.
struct Member {
    fd: OwnedFd,
    pid: i32,
}

static MEMBER: Mutex<Option<Member>> = Mutex::new(None);

fn member() -> std::sync::MutexGuard<'static, Option<Member>> {
    MEMBER.lock().unwrap_or_else(|e| e.into_inner())
}

/// From `init()`: join the tree whose member socket a parent handed us.
pub(crate) fn init() {
    if let Some(v) = std::env::var_os(ENV_MEMBER) {
        // SAFETY: `init()` is the first line of main, before any thread
        // exists, so no other thread reads the environment meanwhile.
        unsafe { std::env::remove_var(ENV_MEMBER) };
        adopt(&v);
    }
}

fn adopt(v: &OsStr) {
    let parsed = v.to_str().and_then(|s| {
        let (fd, pid) = s.split_once(',')?;
        Some((fd.parse::<i32>().ok()?, pid.parse::<i32>().ok()?))
    });
    // A number that is not an open socket is ignored: this process then
    // launches its own tracker when it needs one.
    if let Some((raw, pid)) = parsed
        && let Some(fd) = shm::adopt_socket(raw)
    {
        *member() = Some(Member { fd, pid });
    }
}

/// Launch the tracker: a forked child holding the other end.
fn launch() -> io::Result<Member> {
    let (ours, theirs) = shm::seqpacket_pair()?;
    // Its table, mapped before the fork: the child cannot allocate.
    let table = shm::scratch_pages(MAX_NAMES * SLOT)?;
    // SAFETY: the child runs only `serve`, which keeps to
    // async-signal-safe system calls (no allocator, no lock), so it is
    // sound whatever other threads of this process held at the fork.
    let forked = unsafe { os::process::fork() };
    // SAFETY: `table` is our fresh private mapping of that length; the
    // parent's copy is unmapped here, the child's is the child's own.
    let unmap = || unsafe { shm::unmap(table, MAX_NAMES * SLOT) };
    match forked {
        Ok(os::process::Forked::Child) => serve(theirs.as_raw_fd(), table),
        Ok(os::process::Forked::Parent(pid)) => {
            unmap();
            Ok(Member { fd: ours, pid })
        }
        Err(e) => {
            unmap();
            Err(e)
        }
    }
}

/// Start the tracker if this process has none (before its first child).
/// A failure is left for [`register`] to report: a child without a
/// tracker launches its own when it creates a segment.
pub(crate) fn ensure_running() {
    let mut g = member();
    if g.is_none()
        && let Ok(m) = launch()
    {
        *g = Some(m);
    }
}

/// For a child about to be started: a duplicate of the member socket (to
/// keep open in the child) and the [`ENV_MEMBER`] value naming it.
pub(crate) fn for_child() -> Option<(OwnedFd, String)> {
    let g = member();
    let m = g.as_ref()?;
    let fd = os::socket::dup(m.fd.as_fd()).ok()?;
    let v = format!("{},{}", fd.as_raw_fd(), m.pid);
    Some((fd, v))
}

fn message(tag: u8, name: &str) -> io::Result<Vec<u8>> {
    if name.is_empty() || name.len() >= MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "segment name too long",
        ));
    }
    let mut m = Vec::with_capacity(1 + name.len());
    m.push(tag);
    m.extend_from_slice(name.as_bytes());
    Ok(m)
}

/// Make the tree responsible for unlinking `name` (an OS name, `/…`),
/// launching the tracker if needed (and again if it was killed).
pub(crate) fn register(name: &str) -> io::Result<()> {
    let msg = message(b'R', name)?;
    let mut g = member();
    if let Some(m) = g.as_ref()
        && shm::send_message(m.fd.as_fd(), &msg).is_ok()
    {
        return Ok(());
    }
    // No tracker yet, or it is gone (someone killed it): a new one, for
    // this process and the children it starts from now on.
    let m = launch()?;
    shm::send_message(m.fd.as_fd(), &msg)?;
    *g = Some(m);
    Ok(())
}

/// `name` was unlinked: the tracker forgets it. Best effort — a tracker
/// that outlives a forgotten name only fails to unlink it again.
pub(crate) fn unregister(name: &str) {
    let g = member();
    if let (Some(m), Ok(msg)) = (g.as_ref(), message(b'U', name)) {
        let _ = shm::send_message(m.fd.as_fd(), &msg);
    }
}

/// The pid of this process's tree's tracker, if it has one.
pub(crate) fn tracker_pid() -> Option<i32> {
    member().as_ref().map(|m| m.pid)
}

/// The tracker's main loop, in the forked child: async-signal-safe only
/// (see the head comment); never returns.
fn serve(sock: RawFd, table: NonNull<u8>) -> ! {
    let sock = shm::become_helper(sock);
    // SAFETY: descriptor 3 is the tracker's socket from here on (moved
    // there by `become_helper`), open for the rest of this process.
    let sock = unsafe { BorrowedFd::borrow_raw(sock) };
    // SAFETY: `table` is a private, zeroed mapping of MAX_NAMES * SLOT
    // bytes that only this process uses, for the rest of its life.
    let slots =
        unsafe { std::slice::from_raw_parts_mut(table.cast::<[u8; SLOT]>().as_ptr(), MAX_NAMES) };
    let mut live = 0usize;
    let mut buf = [0u8; MAX_MESSAGE];
    loop {
        let n = match shm::recv_message(sock, &mut buf) {
            Ok(0) | Err(_) => break, // every member socket is closed: the tree is gone
            Ok(n) => n,
        };
        let name = &buf[1..n];
        let found = slots[..live]
            .iter()
            .position(|s| &s[1..1 + s[0] as usize] == name);
        match (buf[0], found) {
            (b'R', None) if live < MAX_NAMES => {
                slots[live][0] = name.len() as u8;
                slots[live][1..1 + name.len()].copy_from_slice(name);
                live += 1;
            }
            (b'U', Some(i)) => {
                live -= 1;
                slots.swap(i, live);
            }
            _ => {}
        }
    }
    for s in &slots[..live] {
        shm::shm_unlink_raw(&s[1..1 + s[0] as usize]);
    }
    os::process::exit_now(0)
}
