//! The `.await` forms of the waits on other processes (feature `tokio`):
//! [`Process::join_async`](super::Process::join_async),
//! [`Connection::recv_async`](super::Connection::recv_async) and
//! [`send_async`](super::Connection::send_async). Each is the blocking
//! wait's non-blocking step (`Deadline::now()`, the same code) looped over
//! the readiness of a descriptor the process already has — the child's
//! pidfd, the socket — registered with tokio's reactor (`AsyncFd`), so no
//! thread of the runtime sleeps.
//!
//! Why tokio and not `async-io`: a descriptor is only watched by some
//! reactor, and the reactor users run is tokio's; `async-io` would start a
//! reactor thread of its own beside it and add a dozen crates. The waits
//! that need no reactor (`threading`, `queue`, `futures::Future`) stay
//! runtime-agnostic and need no feature.
//!
//! Not here: the process-shared `Lock`, `RLock`, `Semaphore`,
//! `BoundedSemaphore`, `Event`, `Barrier`, `Condition` and the
//! cross-process queues, whose `.await` forms need no feature and no
//! descriptor (a futex has none): they wait through the process's futex
//! bridge (`sys::futex_bridge`), one thread in `futex_waitv` for every
//! waiting task (see `docs/design-notes.md`, "Async on process-shared
//! words"). The shared `RLock`'s task owner is a
//! [`TaskOwner`](crate::threading::TaskOwner), as the threading one's:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gilfree::multiprocessing::RLock;
//! use gilfree::threading::TaskOwner;
//! let l = RLock::new().unwrap();
//! let me = TaskOwner::new();
//! let _g = l.acquire_async(&me).await;
//! assert!(l.is_owned_by(&me));
//! # }
//! ```

use std::future::poll_fn;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::task::{Context, Poll};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::children::Record;
use super::connection::{Connection, decode_with_fds};
use super::error::Result;
use crate::sys::{Deadline, os};

/// A duplicate of a descriptor, registered with tokio's reactor. A
/// duplicate, so that several waits on one object can be registered at
/// once (epoll refuses a second registration of the same descriptor
/// number, not of a duplicate), and so that closing the original never
/// leaves the reactor watching a reused number.
pub(super) struct Watch(AsyncFd<OwnedFd>);

impl Watch {
    pub(super) fn new(fd: BorrowedFd<'_>, interest: Interest) -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(std::io::Error::other(
                "an async wait on a descriptor needs a tokio runtime",
            )
            .into());
        }
        let dup = os::socket::dup(fd)?;
        // SAFETY: the `AsyncFd` owns `dup`, an open descriptor that nothing
        // else can close or replace while it lives.
        let fd = unsafe { AsyncFd::register_with_interest(dup, interest) };
        Ok(Watch(fd.map_err(std::io::Error::from)?))
    }

    /// `Ready` once the reactor has seen the descriptor turn readable (or
    /// writable, as registered), clearing that readiness: the caller then
    /// re-checks with a non-blocking call, and an event after that check is
    /// a new edge the reactor reports again.
    fn poll_take(&self, cx: &mut Context<'_>, write: bool) -> Poll<Result<()>> {
        let r = if write {
            self.0.poll_write_ready(cx)
        } else {
            self.0.poll_read_ready(cx)
        };
        match r {
            Poll::Ready(Ok(mut g)) => {
                g.clear_ready();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Until the descriptor is readable (as last seen by the reactor).
    pub(super) async fn readable(&self) -> Result<()> {
        poll_fn(|cx| self.poll_take(cx, false)).await
    }

    /// Until the descriptor is writable.
    pub(super) async fn writable(&self) -> Result<()> {
        poll_fn(|cx| self.poll_take(cx, true)).await
    }
}

/// Until any of `watches` is readable.
pub(super) async fn any_readable(watches: &[&Watch]) -> Result<()> {
    poll_fn(|cx| {
        let mut out = Poll::Pending;
        // Poll them all, so each registers this task's waker.
        for w in watches {
            if let Poll::Ready(r) = w.poll_take(cx, false) {
                if r.is_err() {
                    return Poll::Ready(r);
                }
                out = Poll::Ready(Ok(()));
            }
        }
        out
    })
    .await
}

/// `Process::join_async`: `Record::wait`'s non-blocking step, looped
/// over the readiness of what it polls — the pidfd and, until it reaches
/// its end, the child's socket (read as results arrive, so a child writing
/// a big result is never stuck behind a parent waiting for its exit); for
/// a forkserver child the socket alone (the server reports the exit there).
pub(super) async fn join(r: &Record) -> Result<()> {
    let st = r.started()?;
    let pidfd = if st.via_server {
        None
    } else {
        Some(Watch::new(st.pidfd.as_fd(), Interest::READABLE)?)
    };
    let mut conn = None;
    loop {
        if r.wait(Deadline::now())? {
            return Ok(());
        }
        if r.lock().conn_done {
            conn = None;
        } else if conn.is_none() {
            conn = Some(Watch::new(st.conn.as_fd_checked()?, Interest::READABLE)?);
        }
        let watches: Vec<&Watch> = pidfd.iter().chain(conn.iter()).collect();
        any_readable(&watches).await?;
    }
}

impl Connection {
    /// [`recv`](Connection::recv) without blocking the thread (feature
    /// `tokio`; Python: `await loop.sock_recv(...)`-style, or
    /// `asyncio.to_thread(conn.recv)`): the next message, decoded as `T`.
    /// Needs a tokio runtime with I/O enabled.
    ///
    /// The frame is read in non-blocking steps as the socket turns readable
    /// (the socket is watched through a duplicate of its descriptor).
    /// Several tasks may receive from one connection at once: they take
    /// turns, each gets whole frames, in the order the frames came. Dropping the future
    /// between steps loses nothing: bytes already read stay buffered in
    /// the connection for the next receive. Do not mix with a blocking
    /// [`recv`](Connection::recv) on the same connection at the same time
    /// (the task would wait for that thread's read lock). For a timeout
    /// (Python's `poll(timeout)` first), wrap it:
    /// `tokio::time::timeout(d, conn.recv_async::<T>())`.
    ///
    /// # Errors
    /// As [`recv`](Connection::recv): [`Error::Eof`](super::Error::Eof)
    /// when the peer has closed, [`Error::Decode`](super::Error::Decode).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use gilfree::multiprocessing::Pipe;
    /// let (a, b) = Pipe(true).unwrap();
    /// let t = std::thread::spawn(move || a.send(&(1u8, "late")).unwrap());
    /// let (n, s): (u8, String) = b.recv_async().await.unwrap();
    /// assert_eq!((n, s.as_str()), (1, "late"));
    /// t.join().unwrap();
    /// # }
    /// ```
    pub async fn recv_async<T: DeserializeOwned>(&self) -> Result<T> {
        let (bytes, fds) = self.recv_frame_async().await?;
        decode_with_fds(&bytes, fds, "message")
    }

    /// [`recv_bytes`](Connection::recv_bytes) without blocking the thread
    /// (feature `tokio`); as [`recv_async`](Connection::recv_async).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// a.send_bytes(b"x").unwrap();
    /// assert_eq!(b.recv_bytes_async().await.unwrap(), b"x");
    /// # }
    /// ```
    pub async fn recv_bytes_async(&self) -> Result<Vec<u8>> {
        Ok(self.recv_frame_async().await?.0)
    }

    async fn recv_frame_async(&self) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        // One receiving task at a time (see `Connection::rx_turn`): with
        // several, one could read the last frames into the connection's
        // buffer and leave, while the others wait for the socket to turn
        // readable, which it never does again. Dropping this future while it
        // waits for the turn, or holds it, gives the turn back.
        let _turn = self.rx_turn.acquire_async().await;
        let mut watch = None;
        loop {
            if let Some(frame) = self.recv_frame_nonblocking()? {
                return Ok(frame);
            }
            if watch.is_none() {
                watch = Some(Watch::new(self.as_fd_checked()?, Interest::READABLE)?);
            }
            if let Some(w) = &watch {
                w.readable().await?;
            }
        }
    }

    /// [`send`](Connection::send) once the socket has room, without
    /// blocking the thread while it has none (feature `tokio`).
    ///
    /// "Room" is the socket's low-water mark of free buffer space: the
    /// frame is then written by the ordinary send, one `sendmsg`. A frame
    /// bigger than the room left (the kernel's socket buffer, some hundreds
    /// of KiB) still blocks the thread until the reader has taken the rest;
    /// for big messages to a slow reader, send from
    /// `tokio::task::spawn_blocking`. Dropping the future before the send
    /// starts sends nothing; once started, the frame goes out whole.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// a.send_async(&vec![1u32, 2, 3]).await.unwrap();
    /// assert_eq!(b.recv_async::<Vec<u32>>().await.unwrap(), [1, 2, 3]);
    /// # }
    /// ```
    pub async fn send_async<T: Serialize + ?Sized>(&self, obj: &T) -> Result<()> {
        self.writable_async().await?;
        self.send(obj)
    }

    /// [`send_bytes`](Connection::send_bytes) once the socket has room
    /// (feature `tokio`); as [`send_async`](Connection::send_async).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// a.send_bytes_async(b"hi").await.unwrap();
    /// assert_eq!(b.recv_bytes().unwrap(), b"hi");
    /// # }
    /// ```
    pub async fn send_bytes_async(&self, buf: &[u8]) -> Result<()> {
        self.writable_async().await?;
        self.send_bytes(buf)
    }

    async fn writable_async(&self) -> Result<()> {
        let mut watch = None;
        loop {
            let fd = self.as_fd_checked()?;
            if os::poll::writable_now(fd)? {
                return Ok(());
            }
            if watch.is_none() {
                watch = Some(Watch::new(fd, Interest::WRITABLE)?);
            }
            if let Some(w) = &watch {
                w.writable().await?;
            }
        }
    }
}
