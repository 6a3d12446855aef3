//! A proxy's side of the protocol: [`Client`] keeps idle authenticated
//! connections to one server (a pool, so threads do not wait for each
//! other's blocking calls) and makes one call as one request frame and one
//! reply frame. A pool made in another process (before a fork) is dropped
//! unused, so a proxy used after fork reconnects. [`Handle`] is what a
//! proxy is: a client and an object id; it serializes as address, auth key
//! and id, and a deserialized one connects lazily.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{Error, Result};
use super::protocol::{Op, Out, Reply, Request, Wait};
use crate::multiprocessing::codec;
use crate::multiprocessing::connection::{Address, Client as connect, Connection};
use crate::sys::Deadline;
use crate::sys::os::process::getpid;
use crate::threading::Lock;

/// How much longer than a timed call's own timeout a client waits for the
/// reply before it calls the server unresponsive.
const GRACE: Duration = Duration::from_secs(30);

/// An [`Address`] that serde can carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Addr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl From<&Address> for Addr {
    fn from(a: &Address) -> Self {
        match a {
            Address::Unix(p) => Addr::Unix(p.clone()),
            Address::Tcp(s) => Addr::Tcp(*s),
        }
    }
}

impl From<Addr> for Address {
    fn from(a: Addr) -> Self {
        match a {
            Addr::Unix(p) => Address::Unix(p),
            Addr::Tcp(s) => Address::Tcp(s),
        }
    }
}

/// Idle connections, and the process they belong to.
struct Pool {
    pid: i32,
    idle: Vec<Connection>,
}

/// The connections of one process to one server.
pub(crate) struct Client {
    address: Address,
    authkey: Vec<u8>,
    pool: Lock<Pool>,
}

/// This thread's identity for `RLock` and `Condition` ownership: unique
/// across threads, processes (the pid is part of it, so a forked child
/// differs from its parent) and machines (a random per-program nonce).
fn caller() -> u64 {
    static NONCE: OnceLock<u64> = OnceLock::new();
    static THREADS: AtomicU64 = AtomicU64::new(0);
    thread_local!(static THREAD: u64 = THREADS.fetch_add(1, Relaxed) + 1);
    let nonce = *NONCE.get_or_init(|| {
        let b = crate::sys::os::system::random_bytes(8).unwrap_or_else(|_| vec![0; 8]);
        u64::from_le_bytes(b.try_into().expect("8 bytes"))
    });
    nonce ^ ((getpid() as u64) << 32) ^ THREAD.with(|t| *t)
}

impl Client {
    /// A client of the server at `address`, shared with every other proxy
    /// of this process that reaches the same server with the same key.
    pub(crate) fn shared(address: Address, authkey: Vec<u8>) -> Arc<Client> {
        // std's Mutex: a `static` (threading::Lock is not const under loom).
        static CLIENTS: Mutex<Vec<Weak<Client>>> = Mutex::new(Vec::new());
        let mut all = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|w| w.strong_count() > 0);
        for w in all.iter() {
            if let Some(c) = w.upgrade()
                && c.address == address
                && c.authkey == authkey
            {
                return c;
            }
        }
        let c = Arc::new(Client {
            address,
            authkey,
            pool: Lock::new(Pool {
                pid: getpid(),
                idle: Vec::new(),
            }),
        });
        all.push(Arc::downgrade(&c));
        c
    }

    pub(crate) fn address(&self) -> &Address {
        &self.address
    }

    pub(crate) fn authkey(&self) -> &[u8] {
        &self.authkey
    }

    fn gone(&self, reason: impl std::fmt::Display) -> Error {
        let address = match &self.address {
            Address::Unix(p) => p.display().to_string(),
            Address::Tcp(a) => a.to_string(),
        };
        Error::ServerGone {
            address,
            reason: reason.to_string(),
        }
    }

    /// An idle connection of this process, or a new one.
    fn take(&self) -> Result<Connection> {
        {
            let mut pool = self.pool.acquire();
            let me = getpid();
            if pool.pid != me {
                // Made before a fork: the parent's. Close our copies unused.
                pool.idle.clear();
                pool.pid = me;
            }
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
        }
        match connect(&self.address, Some(&self.authkey)) {
            Ok(c) => Ok(c),
            Err(e @ crate::multiprocessing::error::Error::Authentication(_)) => Err(e.into()),
            Err(e) => Err(self.gone(format!("cannot connect: {e}"))),
        }
    }

    /// One call: `op` on object `obj`, waiting for the reply as long as
    /// `wait` allows (plus a grace); the connection goes back to the pool
    /// only after a complete exchange.
    pub(crate) fn call(&self, obj: u64, op: Op) -> Result<Out> {
        let deadline = match op_wait(&op) {
            Some(Wait::Forever) => Deadline::Never,
            Some(Wait::For(d)) => Deadline::after(d.saturating_add(GRACE)),
            Some(Wait::Now) | None => Deadline::Never,
        };
        let req = Request {
            obj,
            caller: caller(),
            op,
        };
        let bytes = postcard::to_allocvec(&req).map_err(|e| Error::Protocol(e.to_string()))?;
        let c = self.take()?;
        c.send_bytes(&bytes).map_err(|e| self.gone(e))?;
        let (reply, _) = c.recv_frame(deadline).map_err(|e| match e {
            crate::multiprocessing::error::Error::Timeout => self.gone("no reply in time"),
            e => self.gone(e),
        })?;
        let reply: Reply =
            codec::from_bytes(&reply).map_err(|e| Error::Protocol(format!("bad reply: {e}")))?;
        let mut pool = self.pool.acquire();
        if pool.pid == getpid() {
            pool.idle.push(c);
        }
        drop(pool);
        reply.map_err(Error::from)
    }
}

/// How long `op` may block on the server, if it blocks.
fn op_wait(op: &Op) -> Option<Wait> {
    match op {
        Op::Put(_, w)
        | Op::Get(w)
        | Op::Join(w)
        | Op::Acquire(w)
        | Op::EventWait(w)
        | Op::CondWait(w)
        | Op::BarrierWait(w) => Some(*w),
        _ => None,
    }
}

/// A proxy's reference to one object: its server's client and its id.
#[derive(Clone)]
pub(crate) struct Handle {
    pub(crate) client: Arc<Client>,
    pub(crate) id: u64,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "object {} at {:?}", self.id, self.client.address)
    }
}

/// What a [`Handle`] travels as.
#[derive(Serialize, Deserialize)]
struct Token {
    address: Addr,
    authkey: Vec<u8>,
    id: u64,
}

impl Serialize for Handle {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        Token {
            address: (&self.client.address).into(),
            authkey: self.client.authkey.clone(),
            id: self.id,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let t = Token::deserialize(d)?;
        Ok(Handle {
            client: Client::shared(t.address.into(), t.authkey),
            id: t.id,
        })
    }
}

impl Handle {
    /// Call `op` on this object.
    pub(crate) fn call(&self, op: Op) -> Result<Out> {
        self.client.call(self.id, op)
    }
}

/// Encode a user value.
pub(crate) fn enc<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(v).map_err(|e| Error::Protocol(format!("cannot encode a value: {e}")))
}

/// Decode a user value.
pub(crate) fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    codec::from_bytes(b).map_err(|e| Error::Protocol(format!("cannot decode a value: {e}")))
}

/// A reply of the wrong shape.
pub(crate) fn unexpected(out: Out) -> Error {
    Error::Protocol(format!("unexpected reply {out:?}"))
}

// The expected shapes of replies.

pub(crate) fn out_unit(o: Out) -> Result<()> {
    match o {
        Out::Unit => Ok(()),
        o => Err(unexpected(o)),
    }
}
pub(crate) fn out_bool(o: Out) -> Result<bool> {
    match o {
        Out::Bool(b) => Ok(b),
        o => Err(unexpected(o)),
    }
}
pub(crate) fn out_int(o: Out) -> Result<usize> {
    match o {
        Out::Int(n) => Ok(n as usize),
        o => Err(unexpected(o)),
    }
}
pub(crate) fn out_value<T: DeserializeOwned>(o: Out) -> Result<T> {
    match o {
        Out::Bytes(b) => dec(&b),
        o => Err(unexpected(o)),
    }
}
pub(crate) fn out_maybe<T: DeserializeOwned>(o: Out) -> Result<Option<T>> {
    match o {
        Out::Maybe(b) => b.map(|b| dec(&b)).transpose(),
        o => Err(unexpected(o)),
    }
}
