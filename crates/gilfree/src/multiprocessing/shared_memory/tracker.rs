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
//!
//! # No lock in the members, so any fork is safe
//!
//! A process's membership (its socket and the tracker's pid) is one atomic
//! word, not a mutex: a mutex held by another thread at a `fork` (one
//! sending a registration, say) would stay locked forever in the child,
//! and the child's first tracked segment would hang it. Every operation is
//! a load and a `send`; only replacing the membership (the first launch,
//! or a new tracker after the old one was killed) is a compare-and-swap.
//! Two threads that launch at once both fork a tracker; the loser closes
//! its socket (its tracker sees EOF with an empty table and exits) and
//! uses the winner's. A replaced socket is left open, never closed: another
//! thread may be sending on that descriptor number right then, and a
//! number closed and reused would carry its message elsewhere. That costs
//! one descriptor per killed tracker.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// This process's membership, packed: the tracker's pid in the high 32
/// bits, the member socket's descriptor in the low 32; [`NONE`] when it
/// has none. The descriptor it names stays open for the process's life
/// (see the head comment).
static MEMBER: AtomicU64 = AtomicU64::new(NONE);

/// No membership (a pid is never 0).
const NONE: u64 = 0;

fn pack(fd: RawFd, pid: i32) -> u64 {
    (u64::from(pid as u32) << 32) | u64::from(fd as u32)
}

/// The membership in `word`: the member socket and the tracker's pid.
fn unpack(word: u64) -> Option<(BorrowedFd<'static>, i32)> {
    if word == NONE {
        return None;
    }
    // SAFETY: a descriptor stored in MEMBER is never closed (see the head
    // comment), so it is open for the rest of this process's life.
    let fd = unsafe { BorrowedFd::borrow_raw(word as u32 as RawFd) };
    Some((fd, (word >> 32) as i32))
}

/// This process's membership, if it has one.
fn member() -> Option<(BorrowedFd<'static>, i32)> {
    unpack(MEMBER.load(Ordering::Acquire))
}

/// Make `m` this process's membership in place of `seen` (what the caller
/// last loaded); if another thread replaced `seen` first, `m` is dropped
/// (its tracker exits with nothing registered) and that thread's stands.
/// Returns the membership in force.
fn install(seen: u64, m: Member) -> (BorrowedFd<'static>, i32) {
    let word = pack(m.fd.as_raw_fd(), m.pid);
    match MEMBER.compare_exchange(seen, word, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            let _kept_open = m.fd.into_raw_fd();
            unpack(word).expect("a pid is never 0")
        }
        Err(current) => {
            drop(m);
            unpack(current).expect("MEMBER is only ever replaced by a membership")
        }
    }
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
        install(MEMBER.load(Ordering::Acquire), Member { fd, pid });
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
    if member().is_none()
        && let Ok(m) = launch()
    {
        install(NONE, m);
    }
}

/// For a child about to be started: a duplicate of the member socket (to
/// keep open in the child) and the [`ENV_MEMBER`] value naming it.
pub(crate) fn for_child() -> Option<(OwnedFd, String)> {
    let (sock, pid) = member()?;
    let fd = os::socket::dup(sock).ok()?;
    let v = format!("{},{}", fd.as_raw_fd(), pid);
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
    let seen = MEMBER.load(Ordering::Acquire);
    if let Some((sock, _)) = unpack(seen)
        && shm::send_message(sock, &msg).is_ok()
    {
        return Ok(());
    }
    // No tracker yet, or it is gone (someone killed it): a new one, for
    // this process and the children it starts from now on (or the one
    // another thread installed meanwhile).
    let (sock, _) = install(seen, launch()?);
    shm::send_message(sock, &msg)
}

/// `name` was unlinked: the tracker forgets it. Best effort — a tracker
/// that outlives a forgotten name only fails to unlink it again.
pub(crate) fn unregister(name: &str) {
    if let (Some((sock, _)), Ok(msg)) = (member(), message(b'U', name)) {
        let _ = shm::send_message(sock, &msg);
    }
}

/// The pid of this process's tree's tracker, if it has one.
pub(crate) fn tracker_pid() -> Option<i32> {
    member().map(|(_, pid)| pid)
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
