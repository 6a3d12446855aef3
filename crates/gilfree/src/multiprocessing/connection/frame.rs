//! Framing: a message is a 4-byte little-endian header, then that many
//! bytes. The header's low 31 bits are the length; bit 31 says the frame
//! carries descriptors, and then it is [`FD_PAD`] zero bytes, a byte that
//! says how many descriptors (at most 16), and the message. The
//! descriptors ride on that count byte (the sender's second write).
//! [`Decoder`] turns received bytes into whole frames, apart from any
//! socket, so it can be property-tested on any bytes.
//!
//! # Why the padding
//!
//! A `recv` without a control buffer costs 150–250 ns less than a
//! `recvmsg` with one on this kind of VM, which is most of what a small
//! round trip costs above a raw socketpair's (`pipe_roundtrip` 1.12–1.24×
//! against 0.99–1.03× with plain reads). But a plain read that takes
//! bytes of a segment carrying descriptors makes the kernel close them.
//! So the reader uses a plain `recv` only for reads of at most
//! [`PLAIN_READ_MAX`] bytes and only while the frame at its head does not
//! announce descriptors, and the sender puts `FD_PAD` (≥ `PLAIN_READ_MAX`)
//! bytes between a descriptor frame's header and the byte that carries
//! them: a plain read that starts before the header cannot reach that
//! byte, and one that starts after it has the header, so it is a
//! `recvmsg`.

use crate::multiprocessing::error::{Error, Result};
use crate::sys::os;

/// The default limit on one message's size: 1 GiB. Python's limit is
/// the 32-bit length header (2 GiB) unless it switches to 64-bit lengths.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 30;

pub(super) const HEADER: usize = 4;
/// Header bit: the frame carries descriptors.
pub(super) const FDS_BIT: u32 = 1 << 31;
/// The largest length the header can express.
pub(super) const MAX_LEN: usize = (FDS_BIT - 2) as usize;
/// Zero bytes between a descriptor frame's header and its count byte (see
/// "Why the padding" above).
pub(super) const FD_PAD: usize = 4096;
/// The largest read that may be a plain `recv` (no control buffer).
pub(super) const PLAIN_READ_MAX: usize = FD_PAD;
// A plain read that starts before a descriptor frame's header must not
// reach its count byte.
const _: () = assert!(FD_PAD >= PLAIN_READ_MAX);
/// What a descriptor frame's length adds to its message: the padding and
/// the count byte.
pub(super) const FD_EXTRA: usize = FD_PAD + 1;
/// The most one read asks for (unless a frame needs more).
pub(super) const READ_CHUNK: usize = 64 * 1024;
/// The first read's size: a fresh connection usually carries a few small
/// frames (a process start's handshake), and a bigger buffer costs page
/// faults (zeroing it, and copy-on-write after a `fork`). The read size
/// doubles each time a read fills it, up to [`READ_CHUNK`].
pub(super) const FIRST_CHUNK: usize = 1024;
/// A frame whose missing part is at least this big is read straight into
/// the caller's buffer by `recv_bytes_into` (no copy through ours).
pub(super) const DIRECT_MIN: usize = 16 * 1024;
/// A payload up to this size is copied next to its header and sent with
/// one plain `send` (cheaper than `sendmsg` with two iovecs).
pub(super) const SMALL_SEND: usize = 2048;

/// Where a received payload goes.
pub(super) enum Sink<'a> {
    /// Into a new `Vec`.
    Owned,
    /// Into this buffer, if it fits (else into a `Vec`).
    Into(&'a mut [u8]),
}

/// A received payload.
pub(super) enum Payload {
    /// Its bytes (from [`Sink::Owned`], or too long for the buffer).
    Owned(Vec<u8>),
    /// Its length, in the [`Sink::Into`] buffer.
    Len(usize),
}
pub(super) const BIG_BUFFER: usize = 16 << 20;

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
    pub(super) fn next_len(&self, max: usize) -> Result<Option<usize>> {
        let b = &self.buf[self.start..self.end];
        if b.len() < HEADER {
            return Ok(None);
        }
        let h = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let len = (h & !FDS_BIT) as usize;
        // A frame with descriptors has the padding and their count too.
        let extra = if h & FDS_BIT != 0 { FD_EXTRA } else { 0 };
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

    /// Whether the next read may be a plain `recv` of up to
    /// [`PLAIN_READ_MAX`] bytes: not while the frame at the head announces
    /// descriptors (see "Why the padding" above).
    pub(super) fn plain_read_ok(&self) -> bool {
        self.buffered() < HEADER || !self.head_has_fds()
    }

    /// Whether the buffered frame head (at least a header) announces
    /// descriptors.
    pub(super) fn head_has_fds(&self) -> bool {
        let b = &self.buf[self.start..];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & FDS_BIT != 0
    }

    /// The payload bytes buffered past the next frame's header (which must
    /// be in), and forget everything buffered: the caller reads the rest
    /// of that frame itself.
    pub(super) fn take_partial(&mut self) -> &[u8] {
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
                    if len < FD_EXTRA || b[HEADER + FD_PAD] as usize > os::socket::MAX_FDS {
                        // Consume it: the stream stays framed.
                        self.start += HEADER + len;
                        return Err(Error::decode("frame", "bad descriptor count"));
                    }
                    (FD_EXTRA, b[HEADER + FD_PAD] as usize)
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
    pub(super) fn read_into(
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
