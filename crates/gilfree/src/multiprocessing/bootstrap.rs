//! `init()`: where a re-executed child turns into a worker (a spawn child
//! runs its task, the fork server serves) before user code runs.

use std::os::fd::{FromRawFd, OwnedFd};

use super::child;
use super::connection::Connection;
use super::guard::{self, ENV_CHILD, ENV_SERVER};
use super::server;
use crate::sys::os;

/// Turn a re-executed child into a worker: the first line of `main`.
///
/// In a child started by the spawn method it receives its task, runs it and
/// exits with its status (0, or 1 if the task panicked); in the fork
/// server it serves until the parent exits. With the `mpi` feature, under
/// `mpiexec -n N` it initialises MPI, and ranks 1..N-1 serve
/// `cluster::MpiPoolExecutor` calls and exit when rank 0 does (see the
/// `cluster` module). In every other
/// process it returns at once (one environment lookup). Python's equivalent is the
/// `if __name__ == "__main__":` guard; [`#[gilfree::main]`](crate::main)
/// writes this line for you.
///
/// Starting a process without it is refused: [`Process::start`]
/// returns [`Error::NoInit`](super::Error::NoInit) (Python's `RuntimeError` "An attempt has been
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
    guard::mark_init();
    // Before anything else: a child joins its program tree's resource
    // tracker.
    super::shared_memory::tracker::init();
    if let Some(v) = std::env::var_os(ENV_CHILD) {
        // SAFETY: the first line of main, before any thread exists, so no
        // other thread reads the environment while we change it.
        unsafe { std::env::remove_var(ENV_CHILD) };
        // The parent's trace is the parent's: a child does not start its
        // own on the same file.
        // SAFETY: as above.
        unsafe { std::env::remove_var(crate::sys::trace::ENV) };
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
        // SAFETY: as above (the server's children are not traced either).
        unsafe { std::env::remove_var(crate::sys::trace::ENV) };
        server::serve(&v.to_string_lossy());
    }
    // Under `mpiexec`: ranks 1..N-1 serve the cluster executor from here
    // and exit; rank 0 returns to run `main`.
    #[cfg(feature = "mpi")]
    crate::cluster::init();
}
