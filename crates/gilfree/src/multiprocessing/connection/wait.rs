//! `wait`: Python's `multiprocessing.connection.wait`, the readiness of
//! many connections, listeners, descriptors and process sentinels at once,
//! in one `poll`.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use crate::multiprocessing::error::Result;
use crate::sys::{Deadline, os};

/// An object [`wait`] can wait for: it has a descriptor that turns
/// readable when the object is ready. Python's "wait object" (anything
/// with a `fileno()`, a `Connection`, a `Process.sentinel`).
///
/// Implemented by [`Connection`](super::Connection) (a message or the end
/// of stream can be read), [`Listener`](super::Listener) (a client is
/// waiting), [`Process`](crate::multiprocessing::Process) (it has
/// ended: its sentinel), and every [`AsFd`] type (sockets, pipes, pidfds,
/// `BorrowedFd`).
///
/// ```
/// use gilfree::multiprocessing::{Pipe, connection::Waitable};
/// let (a, _b) = Pipe(true).unwrap();
/// assert!(a.wait_fd().is_ok());
/// ```
pub trait Waitable {
    /// The descriptor that turns readable when this object is ready; an
    /// error if it has none (closed, or a process not started).
    fn wait_fd(&self) -> Result<BorrowedFd<'_>>;

    /// Ready without waiting: something already received and buffered
    /// (the descriptor alone would not show it).
    fn ready_now(&self) -> bool {
        false
    }
}

impl<T: AsFd> Waitable for T {
    fn wait_fd(&self) -> Result<BorrowedFd<'_>> {
        Ok(self.as_fd())
    }
}

/// Python's `multiprocessing.connection.wait(object_list, timeout)`: wait
/// until at least one of `objects` is ready, or `timeout` (`None`: no
/// limit) has passed; returns the positions of the ready ones in
/// `objects`, in the order given (empty: timed out).
///
/// A connection is ready when a message can be read *or* its peer has
/// closed (the read then gives [`Error::Eof`](crate::multiprocessing::Error::Eof)),
/// as in Python; a listener when a client waits to be accepted; a process
/// when it has ended (its [`sentinel`](crate::multiprocessing::Process::sentinel)).
///
/// Differences from Python: it returns positions rather than the objects
/// (a Rust list of mixed types is a list of `&dyn Waitable`); an object
/// without a descriptor (a closed connection, a process not started) is an
/// error rather than Python's `ValueError`/`OSError` from `fileno()`.
///
/// ```
/// use std::time::Duration;
/// use gilfree::multiprocessing::{Pipe, connection::wait};
///
/// let (a, b) = Pipe(true).unwrap();
/// let (c, d) = Pipe(true).unwrap();
/// assert!(wait(&[&a, &c], Some(Duration::ZERO)).unwrap().is_empty());
/// d.send_bytes(b"to c").unwrap();
/// drop(b); // a closed peer counts as ready
/// assert_eq!(wait(&[&a, &c], None).unwrap(), vec![0, 1]);
/// ```
pub fn wait(objects: &[&dyn Waitable], timeout: Option<Duration>) -> Result<Vec<usize>> {
    let fds = objects
        .iter()
        .map(|o| o.wait_fd())
        .collect::<Result<Vec<_>>>()?;
    let now: Vec<bool> = objects.iter().map(|o| o.ready_now()).collect();
    let deadline = if now.contains(&true) {
        Deadline::now() // something is ready: only see what else is
    } else {
        timeout.map_or(Deadline::Never, Deadline::after)
    };
    let ready = os::poll::poll_readable(&fds, deadline)?;
    Ok((0..objects.len()).filter(|&i| now[i] || ready[i]).collect())
}
