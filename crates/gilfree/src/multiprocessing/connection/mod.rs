//! Python's `multiprocessing.connection`: `Connection`, `Pipe`,
//! `Listener`, `Client` and `wait`, as length-prefixed frames on a Unix or
//! TCP stream socket. This file only names the parts: `frame` (the
//! decoder), `fds` (descriptors inside values), `conn` (`Connection`,
//! `Pipe`), `auth` (the HMAC challenge), `listener` (`Listener`,
//! `Client`), `wait` (readiness of many objects).
//!
//! # Framing
//!
//! A message is a frame: a 4-byte little-endian header, then that many
//! bytes. The header's low 31 bits are the length; bit 31 says the frame
//! carries descriptors, and then come 4 KiB of padding, a byte that says
//! how many (at most 16, riding on that byte) and the message (`frame`
//! says why the padding). [`Connection::send`] frames the value's postcard
//! encoding; [`Connection::send_bytes`] frames raw bytes. A sender writes a
//! frame in one `send` (a small one, put together in a buffer) or
//! `sendmsg` (header and payload as two iovecs), two writes for a frame
//! with descriptors, holding the write lock, so frames of concurrent
//! senders never interleave. The reader keeps a buffer: one read (a plain
//! `recv` when small, else a `recvmsg`) usually brings a whole small frame
//! (and often the next), so a small message costs one syscall each way, as
//! a raw socket does. A length above the connection's limit
//! ([`Connection::set_max_message_size`], default
//! [`DEFAULT_MAX_MESSAGE_SIZE`]) is refused before anything is allocated; an
//! end of stream inside a frame is [`Error::Truncated`](super::Error::Truncated); an end of stream
//! between frames is [`Error::Eof`](super::Error::Eof).
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

mod auth;
mod conn;
mod fds;
mod frame;
mod listener;
#[cfg(all(test, not(loom)))]
mod tests;
mod wait;

pub use conn::{Connection, Pipe};
pub(crate) use fds::{
    collect_fds, decode_with_fds, encode_with_fds, put_outgoing, take_incoming, with_received_fds,
};
pub use frame::DEFAULT_MAX_MESSAGE_SIZE;
pub use listener::{Address, Client, DEFAULT_AUTH_TIMEOUT, Listener};
pub use wait::{Waitable, wait};
