//! `Connection`, `Pipe`, `Listener` and `Client`: Python's
//! `multiprocessing.connection`, as length-prefixed frames on a Unix or TCP
//! stream socket.
//!
//! # Framing
//!
//! A message is a frame: a 4-byte little-endian header, then that many
//! bytes. The header's low 31 bits are the length; bit 31 says the frame
//! carries descriptors, and then its first byte is how many (at most 16)
//! and the message follows it. [`Connection::send`] frames the value's postcard encoding;
//! [`Connection::send_bytes`] frames raw bytes. A sender writes a frame in
//! one `sendmsg` (header and payload as two iovecs), holding the write lock,
//! so frames of concurrent senders never interleave. The reader keeps a
//! buffer: one `recvmsg` usually brings a whole small frame (and often the
//! next), so a small message costs one syscall each way, as a raw socket
//! does. A length above the connection's limit
//! ([`Connection::set_max_message_size`], default
//! [`DEFAULT_MAX_MESSAGE_SIZE`]) is refused before anything is allocated; an
//! end of stream inside a frame is [`Error::Truncated`]; an end of stream
//! between frames is [`Error::Eof`].
//!
//! # Descriptors
//!
//! A `Connection` inside a value sent with [`Connection::send`] (or passed as
//! a task argument) travels as a duplicate descriptor (`SCM_RIGHTS`) on the
//! same message, as Python pickles a connection through its resource
//! sharer. The receiving side gets a working `Connection`. Descriptors
//! arrive (in a FIFO) no later than the first byte of their frame; a frame
//! that announces `k` of them takes the first `k` from the FIFO, so they
//! stay with their frame however the kernel splits or merges reads.

use std::cell::RefCell;
use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::codec;
use super::error::{Error, Result};
use crate::sys::Deadline;
use crate::sys::os;

/// The default limit on one message's size: 1 GiB. Python's limit is
/// the 32-bit length header (2 GiB) unless it switches to 64-bit lengths.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 30;

const HEADER: usize = 4;
/// Header bit: the frame carries descriptors.
const FDS_BIT: u32 = 1 << 31;
/// The largest length the header can express.
const MAX_LEN: usize = (FDS_BIT - 2) as usize;
/// The most one read asks for (unless a frame needs more).
const READ_CHUNK: usize = 64 * 1024;
/// The first read's size: a fresh connection usually carries a few small
/// frames (a process start's handshake), and a bigger buffer costs page
/// faults (zeroing it, and copy-on-write after a `fork`). The read size
/// doubles each time a read fills it, up to [`READ_CHUNK`].
const FIRST_CHUNK: usize = 1024;
/// A frame whose missing part is at least this big is read straight into
/// the caller's buffer by `recv_bytes_into` (no copy through ours).
const DIRECT_MIN: usize = 16 * 1024;
/// A payload up to this size is copied next to its header and sent with
/// one plain `send` (cheaper than `sendmsg` with two iovecs).
const SMALL_SEND: usize = 2048;

/// Where a received payload goes.
enum Sink<'a> {
    /// Into a new `Vec`.
    Owned,
    /// Into this buffer, if it fits (else into a `Vec`).
    Into(&'a mut [u8]),
}

/// A received payload.
enum Payload {
    /// Its bytes (from [`Sink::Owned`], or too long for the buffer).
    Owned(Vec<u8>),
    /// Its length, in the [`Sink::Into`] buffer.
    Len(usize),
}
const BIG_BUFFER: usize = 16 << 20;

/// The frame decoder: bytes in, whole frames out. Kept apart from the
/// socket so that it can be property-tested on arbitrary bytes.
///
/// `buf[start..end]` is received and not yet returned; `buf` stays fully
/// initialised (its length is its size), so reading into the tail costs no
/// zeroing.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The next read's size (0: [`FIRST_CHUNK`]).
    chunk: usize,
}

impl Decoder {
    /// Bytes buffered and not yet returned as a frame.
    pub(crate) fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Append received bytes.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let n = self
            .read_into(bytes.len(), |tail| {
                tail[..bytes.len()].copy_from_slice(bytes);
                Ok(bytes.len())
            })
            .expect("copy cannot fail");
        debug_assert_eq!(n, bytes.len());
    }

    /// The payload length of the next frame, if its header is in.
    fn next_len(&self, max: usize) -> Result<Option<usize>> {
        let b = &self.buf[self.start..self.end];
        if b.len() < HEADER {
            return Ok(None);
        }
        let h = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let len = (h & !FDS_BIT) as usize;
        // A frame with descriptors has one more byte: their count.
        let extra = usize::from(h & FDS_BIT != 0);
        if len > max.saturating_add(extra) {
            return Err(Error::MessageTooLarge {
                len: len as u64,
                max,
            });
        }
        Ok(Some(len))
    }

    /// The next whole frame's payload and how many descriptors it
    /// announces, if one is buffered.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn next_frame(&mut self, max: usize) -> Result<Option<(Vec<u8>, usize)>> {
        self.next_frame_with(max, <[u8]>::to_vec)
    }

    /// Whether the buffered frame head (at least a header) announces
    /// descriptors.
    fn head_has_fds(&self) -> bool {
        let b = &self.buf[self.start..];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & FDS_BIT != 0
    }

    /// The payload bytes buffered past the next frame's header (which must
    /// be in), and forget everything buffered: the caller reads the rest
    /// of that frame itself.
    fn take_partial(&mut self) -> &[u8] {
        let (s, e) = (self.start + HEADER, self.end);
        self.start = 0;
        self.end = 0;
        &self.buf[s..e]
    }

    /// The next whole frame (as `next_frame` in the tests), but `f` gets the payload in
    /// place (no copy unless `f` makes one).
    pub(crate) fn next_frame_with<R>(
        &mut self,
        max: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<(R, usize)>> {
        match self.next_len(max)? {
            Some(len) if self.buffered() >= HEADER + len => {
                let b = &self.buf[self.start..];
                let has_fds = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & FDS_BIT != 0;
                let (skip, nfds) = if has_fds {
                    if len == 0 || b[HEADER] as usize > os::socket::MAX_FDS {
                        // Consume it: the stream stays framed.
                        self.start += HEADER + len;
                        return Err(Error::decode("frame", "bad descriptor count"));
                    }
                    (1, b[HEADER] as usize)
                } else {
                    (0, 0)
                };
                let s = self.start + HEADER;
                let v = f(&self.buf[s + skip..s + len]);
                self.start = s + len;
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                    if self.buf.len() > BIG_BUFFER {
                        // Do not keep a huge message's buffer forever.
                        self.buf = Vec::new();
                    }
                }
                Ok(Some((v, nfds)))
            }
            _ => Ok(None),
        }
    }

    /// End of stream: fine between frames, [`Error::Truncated`] inside one.
    pub(crate) fn eof(&self, max: usize) -> Error {
        let got = self.buffered();
        if got == 0 {
            return Error::Eof;
        }
        match self.next_len(max) {
            Ok(Some(len)) => Error::Truncated {
                got,
                want: HEADER + len,
            },
            Ok(None) => Error::Truncated { got, want: HEADER },
            Err(e) => e,
        }
    }

    /// Let `f` fill the free tail (room for at least `want` bytes, or a
    /// read chunk); keeps what it says it wrote.
    fn read_into(
        &mut self,
        want: usize,
        f: impl FnOnce(&mut [u8]) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        if self.start > 0 && self.buf.len() - self.end < want {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let chunk = self.chunk.max(FIRST_CHUNK);
        let need = self.end + want.max(chunk);
        if self.buf.len() < need && self.buf.len() - self.end < want.max(1) {
            self.buf.resize(need, 0);
        } else if self.buf.is_empty() {
            self.buf.resize(chunk, 0);
        }
        let room = self.buf.len() - self.end;
        let n = f(&mut self.buf[self.end..])?;
        self.end += n;
        if n == room && chunk < READ_CHUNK {
            // The peer sends faster than we read: read more at a time.
            self.chunk = chunk * 2;
        }
        Ok(n)
    }
}

/// How long a reader that would block first polls its socket without
/// sleeping (nonblocking reads, yielding the core between them). A reply
/// that comes back within it costs no sleep and no wake-up, which on a
/// virtual machine is several microseconds each way: the lock's spin-then-
/// park, for a socket. A read that waits longer pays this once.
const SPIN_READ: Duration = Duration::from_micros(20);

/// The bounded poll of [`SPIN_READ`] (never past `deadline`): `Some(bytes
/// read)` (0 at EOF), or `None` if nothing came.
fn spin_read(
    rd: &mut ReadSide,
    fd: BorrowedFd<'_>,
    want: usize,
    deadline: Deadline,
) -> Result<Option<usize>> {
    let start = std::time::Instant::now();
    loop {
        match rd.read(fd, want, true) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
        if start.elapsed() >= SPIN_READ || deadline.expired() {
            return Ok(None);
        }
        std::thread::yield_now();
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

    /// One `recvmsg` into the decoder (at least `want` bytes of room),
    /// keeping any descriptors. `Ok(0)` is EOF — also for a reset, which
    /// is how a peer that died mid-stream can surface.
    fn read(
        &mut self,
        fd: BorrowedFd<'_>,
        want: usize,
        nonblocking: bool,
    ) -> std::io::Result<usize> {
        let ReadSide { dec, fds } = self;
        let r = dec.read_into(want, |tail| {
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
    wr: Mutex<()>,
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
            wr: Mutex::new(()),
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
        let max = self.max_message_size();
        if payload.len() > max || (!fds.is_empty() && fds.len() > os::socket::MAX_FDS) {
            return Err(Error::MessageTooLarge {
                len: payload.len() as u64,
                max,
            });
        }
        let _w = self.wr.lock().unwrap_or_else(|e| e.into_inner());
        if fds.is_empty() && payload.len() <= SMALL_SEND {
            let mut frame = [0u8; HEADER + SMALL_SEND];
            frame[..HEADER].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            frame[HEADER..HEADER + payload.len()].copy_from_slice(payload);
            os::socket::send_plain(fd, &frame[..HEADER + payload.len()])?;
        } else if fds.is_empty() {
            let header = (payload.len() as u32).to_le_bytes();
            os::socket::send_all(fd, &[&header, payload], fds)?;
        } else {
            let header = ((payload.len() + 1) as u32 | FDS_BIT).to_le_bytes();
            os::socket::send_all(fd, &[&header, &[fds.len() as u8], payload], fds)?;
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
        // while (see `SPIN_READ`).
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

// ---------------------------------------------------------------------------
// Descriptors inside values: a thread-local side table filled while a value
// is encoded and consumed while it is decoded.

thread_local! {
    static FDS_OUT: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    static FDS_IN: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

/// Encode `v` with postcard, collecting the descriptors of any
/// [`Connection`] inside it.
pub(crate) fn encode_with_fds<T: Serialize + ?Sized>(
    v: &T,
    what: &'static str,
) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
    let prev = FDS_OUT.with(|c| c.replace(Some(Vec::new())));
    let r = postcard::to_allocvec(v);
    let fds = FDS_OUT.with(|c| c.replace(prev)).unwrap_or_default();
    let bytes = r.map_err(|e| Error::encode(what, e))?;
    if fds.len() > os::socket::MAX_FDS {
        return Err(Error::encode(what, "more than 16 connections in one value"));
    }
    Ok((bytes, fds))
}

/// Run `f` with `fds` available to the [`Connection`]s it decodes.
pub(crate) fn with_received_fds<R>(fds: Vec<OwnedFd>, f: impl FnOnce() -> R) -> R {
    if fds.is_empty() {
        // Nothing to hand over (the usual start): leave the thread-local
        // alone — its first use registers a destructor, which a freshly
        // forked child pays in copy-on-write faults. A connection among
        // the arguments then finds no descriptor, as it would in an empty
        // list.
        return f();
    }
    let prev = FDS_IN.with(|c| c.replace(Some(fds.into_iter().map(Some).collect())));
    let r = f();
    FDS_IN.with(|c| c.replace(prev));
    r
}

/// Decode `bytes` as `T`, handing `fds` to the [`Connection`]s inside it.
pub(crate) fn decode_with_fds<T: DeserializeOwned>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
    what: &'static str,
) -> Result<T> {
    let prev = FDS_IN.with(|c| c.replace(Some(fds.into_iter().map(Some).collect())));
    let r = codec::from_bytes::<T>(bytes);
    FDS_IN.with(|c| c.replace(prev));
    r.map_err(|e| Error::decode(what, e))
}

impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let fd = self
            .fd
            .as_ref()
            .ok_or_else(|| S::Error::custom("cannot send a closed connection"))?;
        let dup = os::socket::dup(fd.as_fd()).map_err(S::Error::custom)?;
        let idx = FDS_OUT.with(|c| match &mut *c.borrow_mut() {
            Some(v) => {
                v.push(dup);
                Ok((v.len() - 1) as u32)
            }
            None => Err(S::Error::custom(
                "a Connection can only be sent through a Connection or as a task argument",
            )),
        })?;
        (idx, self.readable, self.writable).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let (idx, readable, writable) = <(u32, bool, bool)>::deserialize(d)?;
        let fd = FDS_IN.with(|c| {
            c.borrow_mut()
                .as_mut()
                .and_then(|v| v.get_mut(idx as usize).and_then(Option::take))
        });
        let mut c = match fd {
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

// ---------------------------------------------------------------------------
// Listener and Client.

/// Where a [`Listener`] listens: Python's `address` (a path for
/// `'AF_UNIX'`, a `(host, port)` for `'AF_INET'`).
///
/// ```
/// use gilfree::multiprocessing::Address;
/// let a: Address = "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into();
/// assert!(matches!(a, Address::Tcp(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A Unix socket path (`'AF_UNIX'`).
    Unix(PathBuf),
    /// A TCP address (`'AF_INET'`).
    Tcp(SocketAddr),
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Self {
        Address::Tcp(a)
    }
}
impl From<PathBuf> for Address {
    fn from(p: PathBuf) -> Self {
        Address::Unix(p)
    }
}

enum Sock {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// Python's `multiprocessing.connection.Listener`: accepts [`Connection`]s
/// on a Unix socket or TCP address, checking an auth key if given.
///
/// With an auth key, every accepted connection goes through Python's
/// mutual HMAC challenge (HMAC-SHA256 over 32 random bytes, each side
/// challenging the other); a peer with the wrong key gets
/// [`Error::Authentication`] and so does `accept`. The Unix socket file is
/// removed when the listener is dropped.
///
/// ```
/// use gilfree::multiprocessing::{Client, Listener};
/// let l = Listener::bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(), Some(b"key")).unwrap();
/// let addr = l.address().clone();
/// let t = std::thread::spawn(move || {
///     let c = Client(&addr, Some(b"key")).unwrap();
///     c.send("hello").unwrap();
/// });
/// let conn = l.accept().unwrap();
/// assert_eq!(conn.recv::<String>().unwrap(), "hello");
/// t.join().unwrap();
/// ```
pub struct Listener {
    sock: Sock,
    address: Address,
    authkey: Option<Vec<u8>>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Python's `Listener(address, authkey=...)`. A TCP port 0 picks a free
    /// port; [`address`](Listener::address) tells which.
    ///
    /// ```
    /// use gilfree::multiprocessing::{Address, Listener};
    /// let dir = std::env::temp_dir().join(format!("gf-doc-{}", std::process::id()));
    /// let l = Listener::bind(dir.clone(), None).unwrap();
    /// assert_eq!(l.address(), &Address::Unix(dir));
    /// ```
    pub fn bind(address: impl Into<Address>, authkey: Option<&[u8]>) -> Result<Self> {
        let address = address.into();
        let (sock, address) = match address {
            Address::Unix(p) => (Sock::Unix(UnixListener::bind(&p)?), Address::Unix(p)),
            Address::Tcp(a) => {
                let l = TcpListener::bind(a)?;
                let a = l.local_addr()?;
                (Sock::Tcp(l), Address::Tcp(a))
            }
        };
        Ok(Listener {
            sock,
            address,
            authkey: authkey.map(<[u8]>::to_vec),
        })
    }

    /// Python's `Listener.address`.
    ///
    /// ```
    /// use gilfree::multiprocessing::Listener;
    /// let l = Listener::bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(), None).unwrap();
    /// assert!(matches!(l.address(), gilfree::multiprocessing::Address::Tcp(a) if a.port() != 0));
    /// ```
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Python's `Listener.accept()`: the next connection, authenticated
    /// if the listener has a key.
    ///
    /// ```
    /// use gilfree::multiprocessing::{Client, Listener};
    /// let l = Listener::bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(), None).unwrap();
    /// let c = Client(l.address(), None).unwrap();
    /// let s = l.accept().unwrap();
    /// c.send_bytes(b"x").unwrap();
    /// assert_eq!(s.recv_bytes().unwrap(), b"x");
    /// ```
    pub fn accept(&self) -> Result<Connection> {
        let fd: OwnedFd = match &self.sock {
            Sock::Unix(l) => l.accept()?.0.into(),
            Sock::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                s.into()
            }
        };
        let c = Connection::from_fd(fd);
        if let Some(key) = &self.authkey {
            deliver_challenge(&c, key)?;
            answer_challenge(&c, key)?;
        }
        Ok(c)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Address::Unix(p) = &self.address {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Python's `multiprocessing.connection.Client(address, authkey=...)`:
/// connect to a [`Listener`], answering (and posing) its HMAC challenge
/// when a key is given.
///
/// ```
/// use gilfree::multiprocessing::{Client, Error, Listener};
/// let l = Listener::bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(), Some(b"right")).unwrap();
/// let addr = l.address().clone();
/// let t = std::thread::spawn(move || Client(&addr, Some(b"wrong")).map(|_| ()));
/// assert!(matches!(l.accept(), Err(Error::Authentication(_))));
/// assert!(t.join().unwrap().is_err());
/// ```
#[allow(non_snake_case)]
pub fn Client(address: &Address, authkey: Option<&[u8]>) -> Result<Connection> {
    let fd: OwnedFd = match address {
        Address::Unix(p) => UnixStream::connect(p)?.into(),
        Address::Tcp(a) => {
            let s = TcpStream::connect(a)?;
            s.set_nodelay(true)?;
            s.into()
        }
    };
    let c = Connection::from_fd(fd);
    if let Some(key) = authkey {
        answer_challenge(&c, key)?;
        deliver_challenge(&c, key)?;
    }
    Ok(c)
}

// ---------------------------------------------------------------------------
// The HMAC challenge (Python's deliver_challenge / answer_challenge, with
// HMAC-SHA256 from the `hmac` and `sha2` crates).

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
/// Auth messages are small; a peer that claims more is not one of ours.
const AUTH_MAX: usize = 256;

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn hmac_ok(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.verify_slice(tag).is_ok()
}

fn auth_recv(c: &Connection) -> Result<Vec<u8>> {
    let old = c.max_message_size();
    c.set_max_message_size(AUTH_MAX);
    let r = c.recv_frame(Deadline::Never);
    c.set_max_message_size(old);
    match r {
        Ok((b, _)) => Ok(b),
        Err(Error::MessageTooLarge { .. }) => Err(Error::Authentication("message too long")),
        Err(e) => Err(e),
    }
}

/// Pose the challenge; the peer must answer with the HMAC of it.
pub(crate) fn deliver_challenge(c: &Connection, key: &[u8]) -> Result<()> {
    let mut msg = CHALLENGE.to_vec();
    msg.extend(os::system::random_bytes(32)?);
    c.send_bytes(&msg)?;
    let answer = auth_recv(c)?;
    if hmac_ok(key, &msg, &answer) {
        c.send_bytes(WELCOME)?;
        Ok(())
    } else {
        let _ = c.send_bytes(FAILURE);
        Err(Error::Authentication("digest received was wrong"))
    }
}

/// Answer the peer's challenge with our key.
pub(crate) fn answer_challenge(c: &Connection, key: &[u8]) -> Result<()> {
    let msg = auth_recv(c)?;
    if !msg.starts_with(CHALLENGE) {
        return Err(Error::Authentication(
            "protocol error: expected a challenge",
        ));
    }
    c.send_bytes(&hmac(key, &msg))?;
    match auth_recv(c) {
        Ok(r) if r == WELCOME => Ok(()),
        Ok(_) | Err(Error::Eof) => Err(Error::Authentication("digest sent was rejected")),
        Err(e) => Err(e),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    proptest! {
        /// Arbitrary bytes, fed in arbitrary pieces: the decoder never
        /// panics, never returns a frame longer than the limit, and at the
        /// end reports EOF, a truncated frame, or a clear error.
        #[test]
        fn decoder_survives_random_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            cuts in proptest::collection::vec(0usize..64, 0..16),
            max in 0usize..300,
        ) {
            let mut d = Decoder::default();
            let mut rest = &bytes[..];
            let mut cut = cuts.iter().cycle();
            let mut failed = false;
            while !rest.is_empty() && !failed {
                let n = (*cut.next().unwrap_or(&rest.len())).clamp(1, rest.len());
                d.push(&rest[..n]);
                rest = &rest[n..];
                loop {
                    match d.next_frame(max) {
                        Ok(Some((f, k))) => {
                            prop_assert!(f.len() <= max);
                            prop_assert!(k <= os::socket::MAX_FDS);
                        }
                        Ok(None) => break,
                        Err(Error::MessageTooLarge { len, .. }) => {
                            prop_assert!(len as usize > max);
                            failed = true;
                            break;
                        }
                        Err(Error::Decode { .. }) => continue, // bad fd count: skipped
                        Err(e) => prop_assert!(false, "unexpected error {e}"),
                    }
                }
            }
            if !failed {
                match d.eof(max) {
                    Error::Eof => prop_assert_eq!(d.buffered(), 0),
                    Error::Truncated { got, want } => prop_assert!(got < want),
                    Error::MessageTooLarge { .. } => {}
                    e => prop_assert!(false, "unexpected eof error {e}"),
                }
            }
        }

        /// Frames survive any split of the byte stream.
        #[test]
        fn decoder_round_trips_any_split(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..8),
            step in 1usize..50,
        ) {
            let stream: Vec<u8> = msgs.iter().flat_map(|m| frame(m)).collect();
            let mut d = Decoder::default();
            let mut out = Vec::new();
            for chunk in stream.chunks(step) {
                d.push(chunk);
                while let Some((f, k)) = d.next_frame(1000).unwrap() {
                    prop_assert_eq!(k, 0);
                    out.push(f);
                }
            }
            prop_assert_eq!(out, msgs);
            prop_assert!(matches!(d.eof(1000), Error::Eof));
        }
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let mut d = Decoder::default();
        d.push(&frame(b"hello")[..6]);
        assert!(d.next_frame(100).unwrap().is_none());
        assert!(matches!(d.eof(100), Error::Truncated { got: 6, want: 9 }));
    }

    #[test]
    fn eof_between_messages_and_closed_peer() {
        let (a, b) = Pipe(true).unwrap();
        a.send_bytes(b"last").unwrap();
        drop(a);
        assert_eq!(b.recv_bytes().unwrap(), b"last");
        assert!(matches!(b.recv_bytes(), Err(Error::Eof)));
        assert!(matches!(b.send_bytes(b"x"), Err(Error::Io(_))));
    }

    #[test]
    fn size_limit_both_ways() {
        let (a, b) = Pipe(true).unwrap();
        a.set_max_message_size(3);
        assert!(matches!(
            a.send_bytes(b"four"),
            Err(Error::MessageTooLarge { len: 4, max: 3 })
        ));
        a.send_bytes(b"abc").unwrap();
        b.set_max_message_size(3);
        assert_eq!(b.recv_bytes().unwrap(), b"abc");
    }

    #[test]
    fn recv_bytes_into_keeps_a_too_long_message() {
        let (a, b) = Pipe(true).unwrap();
        a.send_bytes(b"0123456789").unwrap();
        let mut small = [0u8; 4];
        match b.recv_bytes_into(&mut small) {
            Err(Error::BufferTooShort(m)) => assert_eq!(m, b"0123456789"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn big_messages_read_straight_into_the_buffer_keep_the_stream_framed() {
        // Frames far bigger than the socket buffer take the direct path of
        // `recv_bytes_into`; the frames around them (small, with
        // descriptors, too long) must still arrive whole and in order.
        let (a, b) = Pipe(true).unwrap();
        let big: Vec<u8> = (0..(3 << 20) / 2).map(|i| (i % 251) as u8).collect();
        let sender = {
            let big = big.clone();
            std::thread::spawn(move || {
                for round in 0..3u8 {
                    a.send_bytes(&big).unwrap();
                    a.send_bytes(&[round]).unwrap();
                    let (x, _y) = Pipe(true).unwrap();
                    a.send(&(round, x)).unwrap();
                }
                a.send_bytes(&big).unwrap(); // longer than the last buffer
                a
            })
        };
        let mut buf = vec![0u8; 2 << 20];
        for round in 0..3u8 {
            let n = b.recv_bytes_into(&mut buf).unwrap();
            assert_eq!(&buf[..n], &big[..]);
            assert_eq!(b.recv_bytes_into(&mut buf).unwrap(), 1);
            assert_eq!(buf[0], round);
            let (r, c): (u8, Connection) = b.recv().unwrap();
            assert_eq!(r, round);
            assert!(c.writable());
        }
        let mut short = vec![0u8; 1 << 20];
        match b.recv_bytes_into(&mut short) {
            Err(Error::BufferTooShort(m)) => assert_eq!(m, big),
            other => panic!("{other:?}"),
        }
        drop(sender.join().unwrap());
        assert!(matches!(b.recv_bytes_into(&mut buf), Err(Error::Eof)));
    }

    #[test]
    fn a_big_frame_cut_short_is_truncated() {
        let (a, b) = Pipe(true).unwrap();
        let fd = a.as_fd_checked().unwrap();
        let header = (1u32 << 20).to_le_bytes();
        os::socket::send_all(fd, &[&header, &vec![7u8; 100_000]], &[]).unwrap();
        let sender = std::thread::spawn(move || drop(a));
        let mut buf = vec![0u8; 2 << 20];
        let r = b.recv_bytes_into(&mut buf);
        sender.join().unwrap();
        match r {
            Err(Error::Truncated { got, want }) => {
                assert_eq!((got, want), (HEADER + 100_000, HEADER + (1 << 20)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_type_is_a_decode_error_and_the_stream_goes_on() {
        let (a, b) = Pipe(true).unwrap();
        a.send_bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
        a.send(&5u32).unwrap();
        assert!(matches!(b.recv::<String>(), Err(Error::Decode { .. })));
        assert_eq!(b.recv::<u32>().unwrap(), 5);
    }

    #[test]
    fn connections_travel_inside_messages() {
        let (a, b) = Pipe(true).unwrap();
        let (x, y) = Pipe(true).unwrap();
        a.send(&("here", y)).unwrap();
        a.send_bytes(b"after").unwrap();
        let (word, y2): (String, Connection) = b.recv().unwrap();
        assert_eq!(word, "here");
        assert_eq!(b.recv_bytes().unwrap(), b"after");
        x.send("through").unwrap();
        assert_eq!(y2.recv::<String>().unwrap(), "through");
    }

    #[test]
    fn many_connections_in_a_burst_stay_with_their_frames() {
        // Frames with and without descriptors, sent back to back, so that
        // reads merge them: each descriptor must stay with its frame.
        let (a, b) = Pipe(true).unwrap();
        let mut keep = Vec::new();
        for i in 0..20u32 {
            if i % 3 == 0 {
                let (x, y) = Pipe(true).unwrap();
                a.send(&(i, Some(y))).unwrap();
                keep.push((i, x));
            } else {
                a.send(&(i, None::<Connection>)).unwrap();
            }
        }
        let mut got = Vec::new();
        for i in 0..20u32 {
            let (j, c): (u32, Option<Connection>) = b.recv().unwrap();
            assert_eq!(i, j);
            if let Some(c) = c {
                got.push((j, c));
            }
        }
        for ((i, x), (j, y)) in keep.iter().zip(&got) {
            assert_eq!(i, j);
            x.send(i).unwrap();
            assert_eq!(y.recv::<u32>().unwrap(), *i);
        }
    }

    #[test]
    fn a_connection_cannot_be_encoded_outside_a_message() {
        let (a, _b) = Pipe(true).unwrap();
        assert!(postcard::to_allocvec(&a).is_err());
        assert!(postcard::from_bytes::<Connection>(&[0, 1, 1]).is_err());
    }

    #[test]
    fn one_way_pipe() {
        let (r, w) = Pipe(false).unwrap();
        assert!(r.send_bytes(b"x").is_err());
        assert!(w.recv_bytes().is_err());
        w.send_bytes(b"ok").unwrap();
        assert_eq!(r.recv_bytes().unwrap(), b"ok");
    }

    #[test]
    fn concurrent_senders_never_interleave() {
        // Stress: 4 threads × 500 messages of distinct sizes; every message
        // arrives whole, once, in its sender's order. Every message is at
        // least one byte (its sender's id), so each names its sender: an
        // empty message could not say whose it is.
        let (a, b) = Pipe(true).unwrap();
        let a = std::sync::Arc::new(a);
        let len = |i: u32| 1 + (i as usize * 37) % 3000;
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let a = a.clone();
                std::thread::spawn(move || {
                    for i in 0..500u32 {
                        a.send_bytes(&vec![t; len(i)]).unwrap();
                    }
                })
            })
            .collect();
        let mut seen = [0u32; 4];
        for _ in 0..2000 {
            let m = b.recv_bytes().unwrap();
            let t = m[0];
            assert!(m.iter().all(|&x| x == t));
            assert_eq!(m.len(), len(seen[t as usize]));
            seen[t as usize] += 1;
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(seen, [500; 4]);
    }

    fn listener_round_trip(addr: Address) {
        let l = Listener::bind(addr, Some(b"secret")).unwrap();
        let addr = l.address().clone();
        let a2 = addr.clone();
        let t = std::thread::spawn(move || {
            let c = Client(&a2, Some(b"secret")).unwrap();
            c.send(&41u32).unwrap();
            c.recv::<u32>().unwrap()
        });
        let s = l.accept().unwrap();
        let v: u32 = s.recv().unwrap();
        s.send(&(v + 1)).unwrap();
        assert_eq!(t.join().unwrap(), 42);
        // A wrong key is rejected on both sides.
        let t = std::thread::spawn(move || Client(&addr, Some(b"wrong")).map(|_| ()));
        assert!(matches!(l.accept(), Err(Error::Authentication(_))));
        assert!(matches!(t.join().unwrap(), Err(Error::Authentication(_))));
    }

    #[test]
    fn listener_client_tcp_with_auth() {
        listener_round_trip(Address::Tcp("127.0.0.1:0".parse().unwrap()));
    }

    #[test]
    fn listener_client_unix_with_auth() {
        let path = std::env::temp_dir().join(format!(
            "gilfree-test-{}-{:?}.sock",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&path);
        listener_round_trip(Address::Unix(path.clone()));
        assert!(!path.exists(), "socket file removed on drop");
    }

    #[test]
    fn client_without_key_is_rejected_by_a_keyed_listener() {
        let l = Listener::bind(Address::Tcp("127.0.0.1:0".parse().unwrap()), Some(b"k")).unwrap();
        let addr = l.address().clone();
        let t = std::thread::spawn(move || {
            let c = Client(&addr, None).unwrap();
            // The listener's challenge arrives; we answer garbage.
            let _ = c.recv_bytes();
            c.send_bytes(b"not an hmac").unwrap();
            c.recv_bytes()
        });
        assert!(matches!(l.accept(), Err(Error::Authentication(_))));
        assert_eq!(t.join().unwrap().unwrap(), FAILURE);
    }

    #[test]
    fn hmac_sha256_matches_rfc4231() {
        // RFC 4231 test case 2.
        let tag = hmac(b"Jefe", b"what do ya want for nothing?");
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
