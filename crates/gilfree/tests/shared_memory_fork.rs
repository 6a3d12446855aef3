//! The resource tracker and `fork`: a child forked while another thread of
//! the parent is busy registering segments with the tracker can register
//! (create a tracked block), unlink and exit. Before the tracker's
//! membership was lock-free, a fork that caught the registering thread
//! inside the tracker's mutex left that mutex locked in the child, and the
//! child's first tracked block hung it.
//!
//! The forks are plain `libc::fork` from a multi-threaded parent, as a
//! user's own code (or another library) may do; the child keeps to what
//! glibc makes safe after such a fork (its allocator is re-initialised) and
//! leaves with `_exit`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use gilfree::multiprocessing::SharedMemory;

/// Forks per run: each one a chance to catch the other thread mid-send.
const FORKS: usize = 200;

/// Generous: only bounds a hang (a deadlocked child), never reached.
const PATIENCE: Duration = Duration::from_secs(60);

/// In the forked child: one tracked block, created and unlinked; `_exit`
/// with 0 if both worked. Never returns.
fn child() -> ! {
    let ok = SharedMemory::create(1).and_then(|m| m.unlink()).is_ok();
    // SAFETY: `_exit` is async-signal-safe and does not return; no atexit
    // handler or inherited stdio buffer of the parent runs in the child.
    unsafe { libc::_exit(if ok { 0 } else { 1 }) }
}

/// Wait for the child `pid` to exit, at most `PATIENCE`; its wait status,
/// or `None` (after killing and reaping it) if it did not exit in time.
fn wait_child(pid: libc::pid_t) -> Option<libc::c_int> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // (or -1); no memory is passed.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    let mut pfd = libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ready = loop {
        // SAFETY: `pfd` is one valid pollfd for the length of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, PATIENCE.as_millis() as libc::c_int) };
        if n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break n > 0;
        }
    };
    if !ready {
        // SAFETY: `pid` is our own unreaped child; SIGKILL ends it.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our own child, reaped exactly once here; `status`
    // is a valid out-pointer. `pidfd` is ours, closed once.
    unsafe {
        libc::waitpid(pid, &mut status, 0);
        libc::close(pidfd);
    }
    ready.then_some(status)
}

#[test]
fn child_forked_during_registration_registers() {
    // The tracker exists before the forks (as in any program that has made
    // a tracked block): the children inherit the membership.
    SharedMemory::create(1).unwrap().unlink().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let hammer = {
        let (stop, rounds) = (stop.clone(), rounds.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // Register and unregister: the tracker's membership is in
                // use nearly all the time.
                SharedMemory::create(1).unwrap().unlink().unwrap();
                rounds.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // The hammer is registering before the first fork.
    while rounds.load(Ordering::Relaxed) == 0 {
        std::thread::yield_now();
    }

    // Stop at the first child that hangs or fails.
    let mut outcome = Ok(());
    for i in 0..FORKS {
        // SAFETY: the child runs only `child`, which uses what glibc keeps
        // usable after forking a multi-threaded process (its allocator and
        // system calls) and this crate's tracker, the code under test.
        let pid = match unsafe { libc::fork() } {
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            0 => child(),
            pid => pid,
        };
        outcome = match wait_child(pid) {
            None => Err(format!("child {i} hung (killed after {PATIENCE:?})")),
            Some(st) if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) => {
                Err(format!("child {i} failed: wait status {st:#x}"))
            }
            Some(_) => Ok(()),
        };
        if outcome.is_err() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    hammer.join().unwrap();
    outcome.unwrap();
}
