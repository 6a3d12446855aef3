//! The guard that a program calls `init()` before it starts a process:
//! the flag `init()` sets, and the refusal when it did not run.
//!
//! Spawn and forkserver children re-execute the program. A program whose
//! `main` forgets `init()` would re-run `main` in every child, and each
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
use super::error::{Error, INIT_FIX, Result};
use crate::sys::os;

/// Tells a re-executed binary it is a spawn child: `"fd,pid"`, its socket
/// to the parent and the parent's pid.
pub(crate) const ENV_CHILD: &str = "GILFREE_MP_CHILD";

/// Tells a re-executed binary it is the fork server: `"<link fd>"`.
pub(crate) const ENV_SERVER: &str = "GILFREE_MP_FORKSERVER";

/// Whether `init()` ran in this process or in the one it was forked from.
static INIT_RAN: AtomicBool = AtomicBool::new(false);

/// What a re-executed child that was not turned into a worker sends on
/// its socket before it exits (a frame no postcard message equals).
pub(crate) const NO_INIT: &[u8] = b"\0gilfree: init() was not called";

/// `init()` is running: starts are allowed from now on.
pub(crate) fn mark_init() {
    INIT_RAN.store(true, Ordering::Relaxed);
}

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
         main does not call gilfree::multiprocessing::init() first; {INIT_FIX}: a spawn or \
         forkserver child re-executes the program, and init() is where it becomes a worker \
         instead of running `main` again",
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
