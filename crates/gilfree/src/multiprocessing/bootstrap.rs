//! `init()`, and the guard that a program calls it: a re-executed child
//! turns into a worker here, and no process starts without it.
//!
//! Spawn and forkserver children re-execute the program. A program whose
//! `main` forgets [`init`] would re-run `main` in every child, and each
//! child would start another: a process storm. So a start is refused
//! ([`check_can_start`]) unless `init()` has run in this process (or in
//! the process it was forked from):
//!
//! - in a program that never called it, `start()` returns
//!   [`Error::NoInit`] naming the fix, and no child is made;
//! - in a re-executed child that reached user code without it (its `main`
//!   calls `init()` only on some path), the child prints the fix, tells
//!   its parent on its socket ([`NO_INIT`]) and exits at once; the
//!   parent's `start()` returns the same error.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use super::child;
use super::connection::Connection;
use super::error::{Error, Result};
use super::forkserver::{self, ENV_SERVER};
use super::process::ENV_CHILD;
use crate::sys::os;

/// Whether `init()` ran in this process or in the one it was forked from.
static INIT_RAN: AtomicBool = AtomicBool::new(false);

/// What a re-executed child that was not turned into a worker sends on
/// its socket before it exits (a frame no postcard message equals).
pub(crate) const NO_INIT: &[u8] = b"\0gilfree: init() was not called";

/// Turn a re-executed child into a worker: the first line of `main`.
///
/// In a child started by the spawn method it receives its task, runs it and
/// exits with its status (0, or 1 if the task panicked); in the fork
/// server it serves until the parent exits. In every other process it
/// returns at once (one environment lookup). Python's equivalent is the
/// `if __name__ == "__main__":` guard; [`#[gilfree::main]`](crate::main)
/// writes this line for you.
///
/// Starting a process without it is refused: [`Process::start`]
/// returns [`Error::NoInit`] (Python's `RuntimeError` "An attempt has been
/// made to start a new process before the current process has finished
/// its bootstrapping phase"), under every start method, so that a program
/// behaves the same whichever one it uses.
///
/// [`Process::start`]: super::Process::start
///
/// ```
/// fn main() {
///     gilfree::multiprocessing::init();
///     // the program
/// }
/// # main();
/// ```
pub fn init() {
    INIT_RAN.store(true, Ordering::Relaxed);
    if let Some(v) = std::env::var_os(ENV_CHILD) {
        // SAFETY: the first line of main, before any thread exists, so no
        // other thread reads the environment while we change it.
        unsafe { std::env::remove_var(ENV_CHILD) };
        // "fd,parent-pid": our end of the socket, and the process that
        // spawned us (a daemon child checks it is still there).
        let parsed = v.to_str().and_then(|s| {
            let (fd, ppid) = s.split_once(',')?;
            Some((fd.parse::<i32>().ok()?, ppid.parse::<i32>().ok()?))
        });
        let Some((fd, parent)) = parsed else {
            eprintln!("gilfree: bad {ENV_CHILD}");
            std::process::exit(1);
        };
        // SAFETY: the parent passed this descriptor to us for our sole use
        // (its number is in our environment); we own it from here.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let _ = os::socket::set_cloexec(std::os::fd::AsFd::as_fd(&fd), true);
        let code = child::run(Connection::from_fd(fd), child::Job::Remote, parent);
        child::flush_stdio();
        std::process::exit(code);
    }
    if let Some(v) = std::env::var_os(ENV_SERVER) {
        // SAFETY: as above, before any thread exists.
        unsafe { std::env::remove_var(ENV_SERVER) };
        forkserver::serve(&v.to_string_lossy());
    }
}

/// The fix, as every refusal states it.
pub(crate) const FIX: &str = "add `gilfree::multiprocessing::init();` as the first line of `main` \
     (or put `#[gilfree::main]` on `main`): a spawn or forkserver child re-executes the program, \
     and init() is where it becomes a worker instead of running `main` again";

/// May this process start a child? `Err(NoInit)` if `init()` has not run;
/// in a re-executed child that skipped it, does not return (see the head
/// comment).
pub(crate) fn check_can_start() -> Result<()> {
    if INIT_RAN.load(Ordering::Relaxed) {
        return Ok(());
    }
    let fd = [ENV_CHILD, ENV_SERVER].iter().find_map(|var| {
        let v = std::env::var(var).ok()?;
        v.split(',').next()?.parse::<i32>().ok()
    });
    if let Some(fd) = fd {
        refuse_in_child(fd);
    }
    Err(Error::NoInit("this process"))
}

/// A re-executed child reached user code without `init()` and tried to
/// start a process: say so, tell the parent, and exit before anything
/// else happens.
fn refuse_in_child(fd: i32) -> ! {
    eprintln!(
        "gilfree: a child process (pid {}) ran `main` and tried to start a process, because \
         main does not call gilfree::multiprocessing::init() first; {FIX}",
        os::process::getpid()
    );
    // SAFETY: the descriptor our parent passed us for our sole use (its
    // number is in our environment); nothing else in this process has
    // taken it, since init() did not run.
    let c = Connection::from_fd(unsafe { OwnedFd::from_raw_fd(fd) });
    let _ = c.send_bytes(NO_INIT);
    child::flush_stdio();
    os::process::exit_now(1)
}
