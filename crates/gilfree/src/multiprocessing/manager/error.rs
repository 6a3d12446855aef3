//! The errors of a manager and its proxies: Python's exceptions raised
//! by a proxy call, plus "the server is gone".

use super::protocol::Fault;
use crate::multiprocessing::error::Error as MpError;

/// What went wrong in a [`Manager`](super::Manager) or proxy call.
///
/// Python raises the server-side exception through the proxy (`KeyError`,
/// `IndexError`, `ValueError`, `queue.Empty`, `BrokenBarrierError`, …) or
/// an `EOFError`/`ConnectionRefusedError` when the server is gone; each is
/// one variant here.
///
/// ```
/// use gilfree::multiprocessing::manager::Error;
/// assert!(Error::KeyError.to_string().contains("KeyError"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Starting the server, connecting or authenticating failed (a wrong
    /// auth key is `Multiprocessing(Error::Authentication(_))`).
    #[error(transparent)]
    Multiprocessing(#[from] MpError),
    /// The server is not there (killed, shut down, unreachable): every
    /// proxy call fails with this, never hangs.
    #[error("the manager's server at {address} is gone: {reason}")]
    ServerGone {
        /// The server's address.
        address: String,
        /// What the connection said.
        reason: String,
    },
    /// `KeyError`: no such key in a managed dict.
    #[error("KeyError: no such key")]
    KeyError,
    /// `IndexError`: a list index out of range.
    #[error("IndexError: list index out of range")]
    IndexError,
    /// `ValueError`, with Python's message.
    #[error("ValueError: {0}")]
    ValueError(String),
    /// `AttributeError`: a `Namespace` has no such field.
    #[error("AttributeError: Namespace has no field {0:?}")]
    AttributeError(String),
    /// `queue.Empty`.
    #[error("queue.Empty")]
    Empty,
    /// `queue.Full`.
    #[error("queue.Full")]
    Full,
    /// A timed wait ran out of time (`JoinableQueue.join`).
    #[error("timed out")]
    Timeout,
    /// `RuntimeError`: releasing (or waiting on) a lock not held.
    #[error("RuntimeError: {0}")]
    NotHeld(String),
    /// `ValueError: Semaphore released too many times`.
    #[error("ValueError: Semaphore released too many times")]
    TooManyReleases,
    /// `threading.BrokenBarrierError`.
    #[error("BrokenBarrierError")]
    BrokenBarrier,
    /// A value did not encode or decode as the proxy's type (the proxy's
    /// `T` differs from the one that stored it), or the server's reply
    /// was not one this client understands.
    #[error("{0}")]
    Protocol(String),
}

impl From<Fault> for Error {
    fn from(f: Fault) -> Self {
        match f {
            Fault::KeyError => Error::KeyError,
            Fault::IndexError => Error::IndexError,
            Fault::ValueError(m) => Error::ValueError(m),
            Fault::AttributeError(m) => Error::AttributeError(m),
            Fault::Empty => Error::Empty,
            Fault::Full => Error::Full,
            Fault::Timeout => Error::Timeout,
            Fault::NotHeld(m) => Error::NotHeld(m),
            Fault::TooManyReleases => Error::TooManyReleases,
            Fault::BrokenBarrier => Error::BrokenBarrier,
            Fault::NoSuchObject(id) => Error::Protocol(format!("the server has no object {id}")),
            Fault::WrongType(op) => Error::Protocol(format!("the object does not support {op}")),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
