//! `Listener` and `Client`: Python's `multiprocessing.connection.Listener`
//! and `Client`, over a Unix socket path or TCP, with the optional HMAC
//! challenge of `auth`.

use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use super::auth::{answer_challenge, deliver_challenge};
use super::conn::Connection;
use super::wait::Waitable;
use crate::multiprocessing::error::Result;
use crate::sys::Deadline;

/// How long [`Listener::accept`] and [`Client`] wait for the peer's side of
/// the HMAC challenge by default: a peer that connects and says nothing is
/// dropped after this, instead of blocking every later client.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(5);

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
/// [`Error::Authentication`](super::super::Error::Authentication) and so does `accept`. A peer that
/// does not finish the challenge within the auth timeout
/// ([`Listener::set_auth_timeout`], default [`DEFAULT_AUTH_TIMEOUT`]) is
/// [`Error::Timeout`](super::super::Error::Timeout) (Python waits for ever). The Unix socket file is
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
    auth_timeout: Duration,
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
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
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
        let c = self.accept_unauthenticated()?;
        self.authenticate(&c)?;
        Ok(c)
    }

    /// How long the HMAC challenge of one accepted connection may take
    /// (default [`DEFAULT_AUTH_TIMEOUT`]); Python has no such limit.
    ///
    /// ```
    /// use gilfree::multiprocessing::Listener;
    /// let mut l = Listener::bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(), Some(b"k")).unwrap();
    /// l.set_auth_timeout(std::time::Duration::from_millis(200));
    /// ```
    pub fn set_auth_timeout(&mut self, timeout: Duration) {
        self.auth_timeout = timeout;
    }

    /// The next connection, not yet authenticated: a server runs
    /// [`authenticate`](Listener::authenticate) on the connection's own
    /// thread, off its accept loop.
    pub(crate) fn accept_unauthenticated(&self) -> Result<Connection> {
        let fd: OwnedFd = match &self.sock {
            Sock::Unix(l) => l.accept()?.0.into(),
            Sock::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                s.into()
            }
        };
        Ok(Connection::from_fd(fd))
    }

    /// The HMAC challenge of an accepted connection, if the listener has a
    /// key, within the auth timeout.
    pub(crate) fn authenticate(&self, c: &Connection) -> Result<()> {
        if let Some(key) = &self.authkey {
            let deadline = Deadline::after(self.auth_timeout);
            deliver_challenge(c, key, deadline)?;
            answer_challenge(c, key, deadline)?;
        }
        Ok(())
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
/// when a key is given (within [`DEFAULT_AUTH_TIMEOUT`]).
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
        let deadline = Deadline::after(DEFAULT_AUTH_TIMEOUT);
        answer_challenge(&c, key, deadline)?;
        deliver_challenge(&c, key, deadline)?;
    }
    Ok(c)
}

impl Waitable for Listener {
    fn wait_fd(&self) -> Result<BorrowedFd<'_>> {
        Ok(match &self.sock {
            Sock::Unix(l) => l.as_fd(),
            Sock::Tcp(l) => l.as_fd(),
        })
    }
}
