//! Waiting on descriptors: `poll` with a deadline, the one readiness wait
//! of sockets, pidfds and listeners.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;

use crate::sys::deadline::Deadline;

/// Wait until one of `fds` is readable (or hung up), or `deadline`.
/// Returns a readiness flag per fd; all `false` means timed out.
pub(crate) fn poll_readable(fds: &[BorrowedFd<'_>], deadline: Deadline) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
        .collect();
    loop {
        let ts;
        let timeout = match deadline.remaining() {
            None => None,
            Some(d) => {
                ts = timespec(d);
                Some(&ts)
            }
        };
        match poll(&mut pfds, timeout) {
            Ok(_) => {
                return Ok(pfds.iter().map(|p| !p.revents().is_empty()).collect());
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn timespec(d: Duration) -> rustix::time::Timespec {
    rustix::time::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// Whether `fd` is readable now.
pub(crate) fn readable_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(poll_readable(&[fd], Deadline::now())?[0])
}

/// Whether `fd` can be written now (a socket: at least its low-water mark
/// of buffer space free), or has hung up.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))] // `send_async` only
pub(crate) fn writable_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut pfd = [PollFd::from_borrowed_fd(fd, PollFlags::OUT)];
    loop {
        match poll(&mut pfd, Some(&timespec(Duration::ZERO))) {
            Ok(_) => return Ok(!pfd[0].revents().is_empty()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
