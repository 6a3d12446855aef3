//! `Connection` and `Pipe`: one end of a stream socket carrying frames
//! (`frame`), with descriptors riding on them (`fds`). A sender writes a
//! frame in one `sendmsg` (header and payload as two iovecs), holding the
//! write lock, so frames of concurrent senders never interleave. The
//! reader keeps a buffer: one `recvmsg` usually brings a whole small frame
//! (and often the next), so a small message costs one syscall each way.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fds::{self, decode_with_fds, encode_with_fds};
use super::frame::*;
use super::wait::Waitable;
use crate::multiprocessing::codec;
use crate::multiprocessing::error::{Error, Result};
use crate::sys::spin::{self, Spin};
use crate::sys::{Deadline, os};

/// A reader that would block first polls its socket without sleeping
/// ([`spin::SOCKET_READ`]: nonblocking reads, yielding the core between
/// them, for up to 20 µs). A reply that comes back within it costs no sleep
/// and no wake-up, which on a virtual machine is several microseconds each
/// way: the lock's spin-then-park, for a socket. A read that waits longer
/// pays this once. `Some(bytes read)` (0 at EOF), or `None` if nothing came
/// (never past `deadline`).
fn spin_read(
    rd: &mut ReadSide,
    fd: BorrowedFd<'_>,
    want: usize,
    deadline: Deadline,
) -> Result<Option<usize>> {
    let mut spin = Spin::new(&spin::SOCKET_READ);
    loop {
        match rd.read(fd, want, true) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
        if spin.spent() || deadline.expired() {
            return Ok(None);
        }
        spin.wait();
    }
}

struct ReadSide {
    dec: Decoder,
    fds: std::collections::VecDeque<OwnedFd>,
}

impl ReadSide {
    /// What the next read asks for: what the buffered frame still needs,
    /// or a header.
    fn want(&self, max: usize) -> Result<usize> {
        Ok(match self.dec.next_len(max)? {
            Some(len) => (HEADER + len).saturating_sub(self.dec.buffered()),
            None => HEADER - self.dec.buffered(),
        })
    }

    /// One read into the decoder (at least `want` bytes of room), keeping
    /// any descriptors: a plain `recv` when the room is at most
    /// [`PLAIN_READ_MAX`] and the head frame announces none, else a
    /// `recvmsg` (see `frame`'s "Why the padding"). `Ok(0)` is EOF — also
    /// for a reset, which is how a peer that died mid-stream can surface.
    fn read(
        &mut self,
        fd: BorrowedFd<'_>,
        want: usize,
        nonblocking: bool,
    ) -> std::io::Result<usize> {
        let ReadSide { dec, fds } = self;
        let plain_ok = dec.plain_read_ok();
        let r = dec.read_into(want, |tail| {
            if plain_ok && tail.len() <= PLAIN_READ_MAX {
                return os::socket::recv_plain(fd, tail, nonblocking);
            }
            let mut got = Vec::new();
            let r = os::socket::recv_some(fd, tail, &mut got, nonblocking);
            if !got.is_empty() {
                fds.extend(got);
            }
            r
        });
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(0),
            r => r,
        }
    }
}

/// One end of a pipe or socket connection: Python's
/// `multiprocessing.connection.Connection`.
///
/// [`send`](Connection::send) / [`recv`](Connection::recv) carry serde values
/// (postcard-encoded, where Python pickles);
/// [`send_bytes`](Connection::send_bytes) /
/// [`recv_bytes`](Connection::recv_bytes) carry raw bytes. All methods take
/// `&self`: several threads may send at once (frames never interleave) and
/// several may receive at once (each gets whole frames).
///
/// A receive that would block first polls the socket for up to 20 µs
/// (nonblocking reads, yielding the core between them) before it sleeps:
/// a reply that comes back within that costs no sleep and no wake-up, which
/// halves a round trip on a virtual machine. A receive that waits longer
/// pays those 20 µs of CPU once.
///
/// Differences from Python: `poll(timeout)` takes a `Duration`
/// (`Duration::MAX` for Python's `poll(None)`); `close` takes `&mut self`
/// (dropping closes too); a connection can be put inside any value sent
/// through another connection or passed to a task.
///
/// ```
/// use gilfree::multiprocessing::Pipe;
/// let (a, b) = Pipe(true).unwrap();
/// a.send(&("ping", 1u32)).unwrap();
/// let (word, n): (String, u32) = b.recv().unwrap();
/// assert_eq!((word.as_str(), n), ("ping", 1));
/// ```
pub struct Connection {
    fd: Option<OwnedFd>,
    readable: bool,
    writable: bool,
    max: AtomicUsize,
    rd: Mutex<ReadSide>,
    /// Held by a sender; the buffer a small frame is put together in
    /// (reused: a fresh stack array cost a 2 KiB `memset` per message).
    wr: Mutex<Vec<u8>>,
    /// The turn of the async receivers (`recv_async`): one task at a time
    /// reads and waits for the socket, the others wait for the turn. A
    /// receiver that read several frames in one `recvmsg` leaves the rest in
    /// `rd`'s buffer, where no socket readiness will ever announce them; the
    /// next task to get the turn looks there first.
    #[cfg(feature = "tokio")]
    pub(crate) rx_turn: crate::threading::Lock<()>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.fd)
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .finish()
    }
}

/// Python's `multiprocessing.Pipe(duplex)`: two connected [`Connection`]s.
///
/// With `duplex` both ends send and receive; without it, the first end
/// only receives and the second only sends, as in Python. Both are ends of
/// one Unix socket pair (Python uses a pipe when not duplex; a socket
/// lets either kind carry descriptors).
///
/// ```
/// use gilfree::multiprocessing::Pipe;
/// let (rx, tx) = Pipe(false).unwrap();
/// tx.send_bytes(b"hello").unwrap();
/// assert_eq!(rx.recv_bytes().unwrap(), b"hello");
/// assert!(rx.send_bytes(b"no").is_err()); // read-only end
/// ```
#[allow(non_snake_case)]
pub fn Pipe(duplex: bool) -> Result<(Connection, Connection)> {
    let (a, b) = os::socket::socketpair()?;
    let mut a = Connection::from_fd(a);
    let mut b = Connection::from_fd(b);
    if !duplex {
        a.writable = false;
        b.readable = false;
    }
    Ok((a, b))
}

impl Connection {
    /// A connection over a connected stream socket (Unix or TCP).
    pub(crate) fn from_fd(fd: OwnedFd) -> Self {
        Connection {
            fd: Some(fd),
            ..Connection::shut()
        }
    }

    /// A closed connection (every call but `close` is an error).
    fn shut() -> Self {
        Connection {
            fd: None,
            readable: true,
            writable: true,
            max: AtomicUsize::new(DEFAULT_MAX_MESSAGE_SIZE),
            rd: Mutex::new(ReadSide {
                dec: Decoder::default(),
                fds: std::collections::VecDeque::new(),
            }),
            wr: Mutex::new(Vec::new()),
            #[cfg(feature = "tokio")]
            rx_turn: crate::threading::Lock::new(()),
        }
    }

    fn fd(&self) -> Result<BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd()).ok_or(Error::Closed)
    }

    /// Python's `Connection.readable`.
    ///
    /// ```
    /// let (a, b) = gilfree::multiprocessing::Pipe(false).unwrap();
    /// assert!(a.readable() && !b.readable());
    /// ```
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Python's `Connection.writable`.
    ///
    /// ```
    /// let (a, b) = gilfree::multiprocessing::Pipe(false).unwrap();
    /// assert!(!a.writable() && b.writable());
    /// ```
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Python's `Connection.closed`.
    ///
    /// ```
    /// let (mut a, _b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// a.close();
    /// assert!(a.closed());
    /// ```
    pub fn closed(&self) -> bool {
        self.fd.is_none()
    }

    /// The largest message this end accepts (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`]). No Python equivalent.
    ///
    /// ```
    /// let (a, _b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// assert_eq!(a.max_message_size(), gilfree::multiprocessing::DEFAULT_MAX_MESSAGE_SIZE);
    /// ```
    pub fn max_message_size(&self) -> usize {
        self.max.load(Relaxed)
    }

    /// Set the largest message this end accepts. A longer incoming frame is
    /// [`Error::MessageTooLarge`] (and the connection is unusable after it,
    /// as the stream's framing is lost); a longer outgoing one is refused
    /// before anything is written.
    ///
    /// ```
    /// use gilfree::multiprocessing::{Error, Pipe};
    /// let (a, b) = Pipe(true).unwrap();
    /// b.set_max_message_size(4);
    /// a.send_bytes(b"too long").unwrap();
    /// assert!(matches!(b.recv_bytes(), Err(Error::MessageTooLarge { .. })));
    /// ```
    pub fn set_max_message_size(&self, max: usize) {
        self.max.store(max.min(MAX_LEN), Relaxed);
    }

    /// Python's `Connection.send_bytes(buf)`: send `buf` as one message.
    ///
    /// ```
    /// let (a, b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// a.send_bytes(&[1, 2, 3]).unwrap();
    /// assert_eq!(b.recv_bytes().unwrap(), [1, 2, 3]);
    /// ```
    pub fn send_bytes(&self, buf: &[u8]) -> Result<()> {
        self.send_frame(buf, &[])
    }

    fn send_frame(&self, payload: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        let fd = self.fd()?;
        if !self.writable {
            return Err(Error::Value("connection is read-only".into()));
        }
        let mut max = self.max_message_size();
        if !fds.is_empty() {
            // The padding and the count byte share the 31-bit length.
            max = max.min(MAX_LEN - FD_EXTRA);
        }
        if payload.len() > max || (!fds.is_empty() && fds.len() > os::socket::MAX_FDS) {
            return Err(Error::MessageTooLarge {
                len: payload.len() as u64,
                max,
            });
        }
        let mut frame = self.wr.lock().unwrap_or_else(|e| e.into_inner());
        if fds.is_empty() && payload.len() <= SMALL_SEND {
            frame.clear();
            frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            frame.extend_from_slice(payload);
            os::socket::send_plain(fd, &frame)?;
        } else if fds.is_empty() {
            let header = (payload.len() as u32).to_le_bytes();
            os::socket::send_all(fd, &[&header, payload], fds)?;
        } else {
            // Header and padding first, with no descriptors; then the
            // count byte, which carries them, and the message (see
            // `frame`'s "Why the padding").
            let len = (payload.len() + FD_EXTRA) as u32 | FDS_BIT;
            frame.clear();
            frame.extend_from_slice(&len.to_le_bytes());
            frame.resize(HEADER + FD_PAD, 0);
            os::socket::send_plain(fd, &frame)?;
            os::socket::send_all(fd, &[&[fds.len() as u8], payload], fds)?;
        }
        Ok(())
    }

    /// Python's `Connection.send(obj)`: send a serde value (postcard
    /// encoding). A [`Connection`] inside the value travels with it.
    ///
    /// ```
    /// let (a, b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// a.send(&vec![1.5f64, 2.5]).unwrap();
    /// assert_eq!(b.recv::<Vec<f64>>().unwrap(), [1.5, 2.5]);
    /// ```
    pub fn send<T: Serialize + ?Sized>(&self, obj: &T) -> Result<()> {
        let (bytes, fds) = encode_with_fds(obj, "message")?;
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        self.send_frame(&bytes, &borrowed)
    }

    /// Python's `Connection.recv()`: the next message, decoded as `T`.
    /// Bytes that are not a `T` give [`Error::Decode`] (the message is
    /// consumed; the connection stays usable).
    ///
    /// ```
    /// let (a, b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// a.send("hi").unwrap();
    /// assert_eq!(b.recv::<String>().unwrap(), "hi");
    /// ```
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T> {
        let (bytes, fds) = self.recv_frame(Deadline::Never)?;
        decode_with_fds(&bytes, fds, "message")
    }

    /// Python's `Connection.recv_bytes()`: the next message's bytes.
    ///
    /// ```
    /// let (a, b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// a.send_bytes(b"x").unwrap();
    /// assert_eq!(b.recv_bytes().unwrap(), b"x");
    /// ```
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.recv_frame(Deadline::Never)?.0)
    }

    /// Python's `Connection.recv_bytes_into(buf)`: the next message into
    /// `buf`, returning its length. A message longer than `buf` is
    /// [`Error::BufferTooShort`], which carries the message.
    ///
    /// ```
    /// let (a, b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// a.send_bytes(b"abc").unwrap();
    /// let mut buf = [0u8; 8];
    /// let n = b.recv_bytes_into(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], b"abc");
    /// ```
    pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize> {
        match self.recv_frame_to(Deadline::Never, Sink::Into(buf))?.0 {
            Payload::Len(n) => Ok(n),
            Payload::Owned(msg) => Err(Error::BufferTooShort(msg)),
        }
    }

    /// Python's `Connection.poll(timeout)`: whether a message (or EOF) can
    /// be read now, waiting up to `timeout`. `Duration::ZERO` is Python's
    /// default `poll()`; `Duration::MAX` is `poll(None)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, b) = gilfree::multiprocessing::Pipe(true).unwrap();
    /// assert!(!b.poll(Duration::ZERO).unwrap());
    /// a.send_bytes(b"x").unwrap();
    /// assert!(b.poll(Duration::from_secs(10)).unwrap());
    /// ```
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        let fd = self.fd()?;
        if !self.readable {
            return Err(Error::Value("connection is write-only".into()));
        }
        {
            let rd = self.rd.lock().unwrap_or_else(|e| e.into_inner());
            if rd.dec.buffered() > 0 {
                return Ok(true);
            }
        }
        Ok(os::poll::poll_readable(&[fd], Deadline::after(timeout))?[0])
    }

    /// Python's `Connection.close()`. Later calls give [`Error::Closed`];
    /// the peer reads [`Error::Eof`]. Dropping closes as well.
    ///
    /// ```
    /// use gilfree::multiprocessing::{Error, Pipe};
    /// let (mut a, b) = Pipe(true).unwrap();
    /// a.close();
    /// assert!(matches!(a.send_bytes(b"x"), Err(Error::Closed)));
    /// assert!(matches!(b.recv_bytes(), Err(Error::Eof)));
    /// ```
    pub fn close(&mut self) {
        self.fd = None;
    }

    /// The next frame and the descriptors that came with it.
    pub(crate) fn recv_frame(&self, deadline: Deadline) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        match self.recv_frame_to(deadline, Sink::Owned)? {
            (Payload::Owned(v), fds) => Ok((v, fds)),
            (Payload::Len(_), _) => unreachable!("an owned sink gives owned payloads"),
        }
    }

    /// The next frame into `sink`, and the descriptors that came with it.
    fn recv_frame_to(
        &self,
        deadline: Deadline,
        mut sink: Sink<'_>,
    ) -> Result<(Payload, Vec<OwnedFd>)> {
        let fd = self.fd()?;
        if !self.readable {
            return Err(Error::Value("connection is write-only".into()));
        }
        let max = self.max_message_size();
        let mut guard = self.rd.lock().unwrap_or_else(|e| e.into_inner());
        let rd = &mut *guard;
        // A reader that would block first polls the socket for a little
        // while (see `spin_read`).
        let mut spin = true;
        loop {
            let got = rd.dec.next_frame_with(max, |p| match &mut sink {
                Sink::Into(b) if p.len() <= b.len() => {
                    b[..p.len()].copy_from_slice(p);
                    Payload::Len(p.len())
                }
                _ => Payload::Owned(p.to_vec()),
            })?;
            if let Some((frame, k)) = got {
                if rd.fds.len() < k {
                    return Err(Error::decode(
                        "frame",
                        "descriptors announced but not received",
                    ));
                }
                let fds = if k == 0 {
                    Vec::new()
                } else {
                    rd.fds.drain(..k).collect()
                };
                return Ok((frame, fds));
            }
            // A deadline already past reads without blocking (no poll).
            let nonblocking = deadline != Deadline::Never && deadline.expired();
            if spin && !nonblocking {
                spin = false;
                let want = rd.want(max)?;
                match spin_read(rd, fd, want, deadline) {
                    Ok(Some(0)) => return Err(rd.dec.eof(max)),
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    Err(e) => return Err(e),
                }
            }
            if deadline != Deadline::Never
                && !nonblocking
                && !os::poll::poll_readable(&[fd], deadline)?[0]
            {
                return Err(Error::Timeout);
            }
            if let (Sink::Into(b), Deadline::Never, Some(len)) =
                (&mut sink, deadline, rd.dec.next_len(max)?)
            {
                // The header is in, the frame is not (else it was returned
                // above). A big plain frame that fits goes straight into
                // the caller's buffer: no copy through ours.
                let missing = HEADER + len - rd.dec.buffered();
                if missing >= DIRECT_MIN && len <= b.len() && !rd.dec.head_has_fds() {
                    let part = rd.dec.take_partial();
                    let mut got = part.len();
                    b[..got].copy_from_slice(part);
                    while got < len {
                        let mut fds = Vec::new();
                        let n = match os::socket::recv_some(fd, &mut b[got..len], &mut fds, false) {
                            Ok(n) => n,
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                            Err(e) => return Err(e.into()),
                        };
                        // Descriptors of a later frame can ride on our bytes.
                        rd.fds.extend(fds);
                        if n == 0 {
                            return Err(Error::Truncated {
                                got: HEADER + got,
                                want: HEADER + len,
                            });
                        }
                        got += n;
                    }
                    return Ok((Payload::Len(len), Vec::new()));
                }
            }
            // Read what the frame still needs, at least a chunk.
            let want = rd.want(max)?;
            let n = match rd.read(fd, want, nonblocking) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err(Error::Timeout);
                }
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                return Err(rd.dec.eof(max));
            }
        }
    }

    /// Whatever whole frames can be read without blocking (used to drain a
    /// dead child's last words).
    pub(crate) fn recv_frame_nonblocking(&self) -> Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
        match self.recv_frame(Deadline::now()) {
            Ok(f) => Ok(Some(f)),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Send a frame with descriptors attached.
    pub(crate) fn send_with_fds(&self, payload: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        self.send_frame(payload, fds)
    }

    /// The raw descriptor (for polling alongside others).
    pub(crate) fn as_fd_checked(&self) -> Result<BorrowedFd<'_>> {
        self.fd()
    }
}

// Sending a connection: its descriptor rides with the message (`fds`).

impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let fd = self
            .fd
            .as_ref()
            .ok_or_else(|| S::Error::custom("cannot send a closed connection"))?;
        let dup = os::socket::dup(fd.as_fd()).map_err(S::Error::custom)?;
        let idx = fds::put_outgoing(dup).ok_or_else(|| {
            S::Error::custom(
                "a Connection can only be sent through a Connection or as a task argument",
            )
        })?;
        (idx, self.readable, self.writable).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let (idx, readable, writable) = <(u32, bool, bool)>::deserialize(d)?;
        let mut c = match fds::take_incoming(idx) {
            Some(fd) => Connection::from_fd(fd),
            None if codec::finding_reason() => {
                // Decoding again to find why a decode failed: the
                // descriptor went to the first attempt's value.
                Connection::shut()
            }
            None => {
                return Err(D::Error::custom(
                    "no descriptor came with this Connection (sent outside a Connection?)",
                ));
            }
        };
        c.readable = readable;
        c.writable = writable;
        Ok(c)
    }
}

impl Waitable for Connection {
    fn wait_fd(&self) -> Result<BorrowedFd<'_>> {
        self.fd()
    }

    fn ready_now(&self) -> bool {
        let rd = self.rd.lock().unwrap_or_else(|e| e.into_inner());
        rd.dec.buffered() > 0
    }
}
