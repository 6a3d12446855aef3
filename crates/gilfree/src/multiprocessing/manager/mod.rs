//! Python's `multiprocessing.Manager()` (`SyncManager`): dicts, lists,
//! namespaces, values, queues and locks that live in a server process and
//! are used through typed proxies from any process, locally or over TCP.
//!
//! This file holds [`Manager`] (start, connect, serve, shut down; make
//! objects). The parts: `protocol` (the request and reply types), `server`
//! (accept loop, a thread per connection), `objects` (the server's
//! objects), `client` (a proxy's connections and calls), `collections` and
//! `sync` (the proxy types), `custom` (registered types), `error`.
//!
//! | Python | gilfree |
//! |---|---|
//! | `m = Manager()` / `m.shutdown()` | [`Manager::start`] / [`Manager::shutdown`] (or drop) |
//! | `BaseManager(address, authkey).connect()` | [`Manager::connect`] |
//! | `m.get_server()`, `.serve_forever()` | [`Manager::server`], [`Server::serve_forever`] ([`Manager::serve`] does both) |
//! | `m.dict()`, `m.list()`, `m.Namespace()`, `m.Value()`, `m.Array()` | [`Manager::dict`], [`Manager::list`], [`Manager::namespace`], [`Manager::value`], [`Manager::array`] |
//! | `m.Queue()`, `m.JoinableQueue()` | [`Manager::queue`], [`Manager::joinable_queue`] |
//! | `m.Lock()`, `m.RLock()`, `m.Semaphore()`, `m.BoundedSemaphore()` | [`Manager::lock`], [`Manager::rlock`], [`Manager::semaphore`], [`Manager::bounded_semaphore`] |
//! | `m.Event()`, `m.Condition()`, `m.Barrier()` | [`Manager::event`], [`Manager::condition`], [`Manager::barrier`] |
//! | `BaseManager.register(typeid, callable)`, `m.typeid()` | [`Shared`] + [`register_shared!`](crate::register_shared), [`Manager::create`] |
//!
//! # Differences from Python
//!
//! - Proxies are typed: `dict::<K, V>()`. The server stores encoded bytes
//!   and never needs the types; dict keys (and list items for
//!   `remove`/`index`/`count`) compare by their encoding.
//! - Authentication runs off the accept loop, on the connection's own
//!   thread, with a deadline ([`DEFAULT_AUTH_TIMEOUT`](super::DEFAULT_AUTH_TIMEOUT)):
//!   a client that connects and says nothing delays nobody.
//! - A malformed, truncated or oversized message closes that connection
//!   with a line on the server's standard error; the server goes on.
//! - A connection that ends while holding a managed `Lock`, `RLock` or
//!   `Condition` lock releases it (Python keeps it held for ever).
//! - Objects live as long as their server (Python reference-counts them
//!   across processes).
//! - A proxy serialises as its server's address, its auth key and its id:
//!   pass it as a task argument, or store it in another managed object
//!   (nested proxies); the receiver connects on first use. A proxy used in
//!   a forked child opens its own connections.
//!
//! ```no_run
//! use gilfree::multiprocessing::{Manager, Process, manager};
//!
//! #[gilfree::task]
//! fn work(d: manager::Dict<String, u32>, lock: manager::Lock, n: u32) {
//!     for _ in 0..n {
//!         let _g = lock.acquire().unwrap();
//!         let v = d.get(&"count".into()).unwrap().unwrap_or(0);
//!         d.set(&"count".into(), &(v + 1)).unwrap();
//!     }
//! }
//!
//! #[gilfree::main]
//! fn main() {
//!     let m = Manager::start().unwrap();
//!     let (d, lock) = (m.dict().unwrap(), m.lock().unwrap());
//!     let ps: Vec<_> = (0..4)
//!         .map(|_| Process::new(work::TASK, (d.clone(), lock.clone(), 100)).unwrap())
//!         .collect();
//!     ps.iter().for_each(|p| p.start().unwrap());
//!     ps.iter().for_each(|p| p.join().unwrap());
//!     assert_eq!(d.get(&"count".into()).unwrap(), Some(400));
//! }
//! ```

mod client;
mod collections;
mod custom;
mod error;
mod objects;
mod protocol;
mod server;
mod sync;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use collections::{Array, Dict, JoinableQueue, List, Namespace, Queue, Value};
pub use custom::{Proxy, Shared};
pub use error::{Error, Result};
pub use sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, LockGuard, RLock, Semaphore};

use client::{Addr, Client, Handle, enc};

#[doc(hidden)]
pub mod __private {
    //! What `register_shared!` expands to; not a public API.
    pub use super::custom::{Entry, Erased, SHARED, make};
    pub use linkme;
}
use protocol::{Kind, Op, Out};

use crate::multiprocessing::builder::get_context;
use crate::multiprocessing::connection::Pipe;
use crate::multiprocessing::connection::{Address, Connection, Listener};
use crate::multiprocessing::method::{StartMethod, get_start_method};
use crate::multiprocessing::process::Process;

/// A manager's server runs this task: bind, report the address on `ctl`,
/// serve until `ctl` says stop or ends (the [`Manager`] was shut down or
/// its process died; under the fork start method, a copy of the parent's
/// end may live on in other children, so shutdown also sends a message),
/// then remove the socket and exit.
#[gilfree::task]
fn run_server(address: Option<Addr>, authkey: Vec<u8>, ctl: Connection) {
    let bound = bind(address.map(Into::into), &authkey);
    let listener = match bound {
        Ok(l) => l,
        Err(e) => {
            let _ = ctl.send(&Err::<Addr, String>(e.to_string()));
            return;
        }
    };
    let addr = Addr::from(listener.address());
    if ctl.send(&Ok::<Addr, String>(addr.clone())).is_err() {
        return;
    }
    std::thread::Builder::new()
        .name("gilfree-manager-ctl".into())
        .spawn(move || {
            // Anything, or the end of stream, means stop.
            let _ = ctl.recv_bytes();
            if let Addr::Unix(p) = addr {
                remove_socket(&p);
            }
            std::process::exit(0);
        })
        .expect("a thread for the manager's control connection");
    if let Err(e) = server::serve(listener) {
        eprintln!("gilfree manager[{}]: stopped: {e}", std::process::id());
        std::process::exit(1);
    }
}

/// A fresh private Unix socket path: a directory of mode 0700 made for it.
fn private_socket() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let rand = crate::sys::os::system::random_bytes(8)
        .map_err(crate::multiprocessing::error::Error::Io)?;
    let hex: String = rand.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("gilfree-manager-{}-{hex}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(crate::multiprocessing::error::Error::Io)?;
    Ok(dir.join("socket"))
}

/// Remove a socket made by [`private_socket`], and its directory.
fn remove_socket(p: &std::path::Path) {
    let _ = std::fs::remove_file(p);
    if let Some(d) = p.parent()
        && d.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("gilfree-manager-"))
    {
        let _ = std::fs::remove_dir(d);
    }
}

/// Bind a listener (a private Unix socket when no address is given); a
/// Unix socket gets mode 0600.
fn bind(address: Option<Address>, authkey: &[u8]) -> Result<Listener> {
    use std::os::unix::fs::PermissionsExt;
    let address = match address {
        Some(a) => a,
        None => Address::Unix(private_socket()?),
    };
    let l = Listener::bind(address, Some(authkey))?;
    if let Address::Unix(p) = l.address() {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
            .map_err(crate::multiprocessing::error::Error::Io)?;
    }
    Ok(l)
}

/// A random auth key (Python's `os.urandom(32)` process auth key).
fn random_key() -> Result<Vec<u8>> {
    Ok(crate::sys::os::system::random_bytes(32)
        .map_err(crate::multiprocessing::error::Error::Io)?)
}

/// How long [`Manager::shutdown`] waits for its server to exit before
/// killing it.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(10);

/// Python's `multiprocessing.managers.Server`: a bound manager server not
/// yet serving (from [`Manager::server`]).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("gf-mgr-doc-{}", std::process::id()));
/// let s = gilfree::multiprocessing::Manager::server(dir.clone(), b"k").unwrap();
/// assert_eq!(s.address(), &gilfree::multiprocessing::Address::Unix(dir));
/// ```
#[derive(Debug)]
pub struct Server {
    listener: Listener,
}

impl Server {
    /// Where it listens (Python's `server.address`).
    ///
    /// ```
    /// let tcp: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    /// let s = gilfree::multiprocessing::Manager::server(tcp, b"k").unwrap();
    /// assert!(matches!(s.address(), gilfree::multiprocessing::Address::Tcp(a) if a.port() != 0));
    /// ```
    pub fn address(&self) -> &Address {
        self.listener.address()
    }

    /// Python's `server.serve_forever()`: serve on this thread, each
    /// connection on a thread of its own. Returns only if accepting
    /// fails for good.
    ///
    /// ```no_run
    /// let tcp: std::net::SocketAddr = "0.0.0.0:50000".parse().unwrap();
    /// gilfree::multiprocessing::Manager::server(tcp, b"secret").unwrap().serve_forever().unwrap();
    /// ```
    pub fn serve_forever(self) -> Result<()> {
        Ok(server::serve(self.listener)?)
    }
}

/// What a manager that started its server owns.
enum Owned {
    /// The server process and its control connection.
    Process {
        process: Process<()>,
        ctl: Connection,
        /// The process that started it: a forked copy of the handle does
        /// not stop the server.
        pid: i32,
    },
    /// A server thread in this process.
    Thread,
    /// Nothing: connected to someone else's server.
    Nothing,
}

/// Python's `multiprocessing.Manager()` / `SyncManager`: a handle on a
/// manager's server, which makes shared objects and returns their proxies.
///
/// [`start`](Manager::start) runs the server in a new process (the
/// default start method, or [`ManagerBuilder::start_method`]) on a private
/// Unix socket with a random key; dropping the handle (or
/// [`shutdown`](Manager::shutdown)) stops it. [`connect`](Manager::connect)
/// reaches a server someone else started.
///
/// ```
/// use gilfree::multiprocessing::Manager;
/// let m = Manager::start_in_thread().unwrap(); // in-process, for this example
/// let d = m.dict::<String, i32>().unwrap();
/// d.set(&"x".into(), &1).unwrap();
/// assert_eq!(d.get(&"x".into()).unwrap(), Some(1));
/// ```
pub struct Manager {
    client: Arc<Client>,
    owned: Owned,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("address", self.client.address())
            .finish_non_exhaustive()
    }
}

/// Options of [`Manager::builder`]: address, auth key, start method
/// (Python's `Manager(address=, authkey=)` and `ctx.Manager()`).
///
/// ```no_run
/// use gilfree::multiprocessing::{Manager, StartMethod};
/// let m = Manager::builder()
///     .address("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
///     .authkey(b"secret")
///     .start_method(StartMethod::Spawn)
///     .start()
///     .unwrap();
/// ```
#[derive(Debug, Default, Clone)]
pub struct ManagerBuilder {
    address: Option<Address>,
    authkey: Option<Vec<u8>>,
    method: Option<StartMethod>,
}

impl ManagerBuilder {
    /// Listen here (a Unix socket path or TCP address; TCP port 0 picks
    /// one). Default: a private Unix socket.
    ///
    /// ```
    /// let b = gilfree::multiprocessing::Manager::builder().address(std::path::PathBuf::from("/tmp/x.sock"));
    /// ```
    pub fn address(mut self, a: impl Into<Address>) -> Self {
        self.address = Some(a.into());
        self
    }

    /// The auth key clients must know. Default: 32 random bytes.
    ///
    /// ```
    /// let b = gilfree::multiprocessing::Manager::builder().authkey(b"secret");
    /// ```
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// The start method of the server process. Default: the program's.
    ///
    /// ```
    /// use gilfree::multiprocessing::{Manager, StartMethod};
    /// let b = Manager::builder().start_method(StartMethod::Fork);
    /// ```
    pub fn start_method(mut self, m: StartMethod) -> Self {
        self.method = Some(m);
        self
    }

    /// Start the server process and wait until it listens.
    ///
    /// ```no_run
    /// let m = gilfree::multiprocessing::Manager::builder().start().unwrap();
    /// ```
    pub fn start(self) -> Result<Manager> {
        let authkey = match self.authkey {
            Some(k) => k,
            None => random_key()?,
        };
        let ctx = get_context(self.method.unwrap_or_else(get_start_method));
        let (mine, theirs) = Pipe(true)?;
        let process = ctx.builder().name("gilfree-manager").daemon(true).target(
            run_server::TASK,
            (
                self.address.as_ref().map(Addr::from),
                authkey.clone(),
                theirs,
            ),
        )?;
        process.start()?;
        let addr = match mine.recv::<std::result::Result<Addr, String>>() {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                let _ = process.join();
                return Err(Error::Protocol(format!(
                    "the manager's server could not listen: {e}"
                )));
            }
            Err(e) => {
                let _ = process.kill();
                let _ = process.join();
                return Err(e.into());
            }
        };
        Ok(Manager {
            client: Client::shared(addr.into(), authkey),
            owned: Owned::Process {
                process,
                ctl: mine,
                pid: std::process::id() as i32,
            },
        })
    }

    /// Run the server on a thread of this process instead (handy in tests
    /// and examples; the server lives until the process exits).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::builder().start_in_thread().unwrap();
    /// ```
    pub fn start_in_thread(self) -> Result<Manager> {
        let authkey = match self.authkey {
            Some(k) => k,
            None => random_key()?,
        };
        let l = bind(self.address, &authkey)?;
        let address = l.address().clone();
        std::thread::Builder::new()
            .name("gilfree-manager".into())
            .spawn(move || server::serve(l))
            .map_err(crate::multiprocessing::error::Error::Io)?;
        Ok(Manager {
            client: Client::shared(address, authkey),
            owned: Owned::Thread,
        })
    }
}

impl Manager {
    /// Python's `Manager()`: start a server process with the default
    /// options (see [`ManagerBuilder`]).
    ///
    /// ```no_run
    /// let m = gilfree::multiprocessing::Manager::start().unwrap();
    /// let l = m.list::<i32>().unwrap();
    /// ```
    pub fn start() -> Result<Manager> {
        ManagerBuilder::default().start()
    }

    /// Options for a new server.
    ///
    /// ```
    /// let b = gilfree::multiprocessing::Manager::builder();
    /// ```
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// A server on a thread of this process (see
    /// [`ManagerBuilder::start_in_thread`]).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// ```
    pub fn start_in_thread() -> Result<Manager> {
        ManagerBuilder::default().start_in_thread()
    }

    /// Python's `BaseManager(address, authkey).connect()`: reach a running
    /// server (checked now, with one connection).
    ///
    /// ```
    /// use gilfree::multiprocessing::Manager;
    /// let m = Manager::builder().authkey(b"k").start_in_thread().unwrap();
    /// let other = Manager::connect(m.address().clone(), b"k").unwrap();
    /// assert!(Manager::connect(m.address().clone(), b"wrong").is_err());
    /// ```
    pub fn connect(address: impl Into<Address>, authkey: &[u8]) -> Result<Manager> {
        let client = Client::shared(address.into(), authkey.to_vec());
        // A connection now, so a wrong key or address fails here.
        let m = Manager {
            client,
            owned: Owned::Nothing,
        };
        m.client.call(0, Op::Ping)?;
        Ok(m)
    }

    /// Python's `manager.get_server().serve_forever()`: make this process
    /// the server, on this thread. Returns only if accepting fails for
    /// good.
    ///
    /// ```no_run
    /// use gilfree::multiprocessing::Manager;
    /// let addr: std::net::SocketAddr = "0.0.0.0:50000".parse().unwrap();
    /// Manager::serve(addr, b"secret").unwrap();
    /// ```
    pub fn serve(address: impl Into<Address>, authkey: &[u8]) -> Result<()> {
        Manager::server(address, authkey)?.serve_forever()
    }

    /// Python's `manager.get_server()`: bind now, serve later with
    /// [`Server::serve_forever`]; in between, [`Server::address`] tells
    /// where (a TCP port 0 is chosen at bind).
    ///
    /// ```
    /// use gilfree::multiprocessing::{Address, Manager};
    /// let tcp: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    /// let server = Manager::server(tcp, b"k").unwrap();
    /// let address = server.address().clone();
    /// std::thread::spawn(move || server.serve_forever());
    /// let m = Manager::connect(address, b"k").unwrap();
    /// assert_eq!(m.value(&1u8).unwrap().get().unwrap(), 1);
    /// ```
    pub fn server(address: impl Into<Address>, authkey: &[u8]) -> Result<Server> {
        Ok(Server {
            listener: bind(Some(address.into()), authkey)?,
        })
    }

    /// The server's address (Python's `manager.address`).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert!(matches!(m.address(), gilfree::multiprocessing::Address::Unix(_)));
    /// ```
    pub fn address(&self) -> &Address {
        self.client.address()
    }

    /// The auth key (Python's `manager._authkey`).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::builder().authkey(b"k").start_in_thread().unwrap();
    /// assert_eq!(m.authkey(), b"k");
    /// ```
    pub fn authkey(&self) -> &[u8] {
        self.client.authkey()
    }

    /// The server process's pid, if this handle started one.
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// assert_eq!(m.pid(), None);
    /// ```
    pub fn pid(&self) -> Option<i32> {
        match &self.owned {
            Owned::Process { process, .. } => process.pid(),
            _ => None,
        }
    }

    /// Python's `manager.shutdown()`: stop the server this handle started
    /// (proxies then fail with [`Error::ServerGone`]); for a connected or
    /// in-thread manager, nothing.
    ///
    /// ```no_run
    /// let m = gilfree::multiprocessing::Manager::start().unwrap();
    /// m.shutdown().unwrap();
    /// ```
    pub fn shutdown(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.owned, Owned::Nothing) {
            Owned::Process { process, ctl, pid } => {
                if pid != std::process::id() as i32 {
                    // A forked child's copy: the server is its parent's.
                    std::mem::forget(process);
                    return Ok(());
                }
                // A message, not only the end of stream: a child forked
                // after the server was started holds a copy of `ctl`.
                let _ = ctl.send_bytes(b"stop");
                drop(ctl);
                if !process.join_timeout(SHUTDOWN_PATIENCE)? {
                    process.kill()?;
                    process.join()?;
                }
                // A server that was killed left its socket behind.
                if let Address::Unix(p) = self.client.address() {
                    remove_socket(p);
                }
                Ok(())
            }
            Owned::Thread | Owned::Nothing => Ok(()),
        }
    }

    fn make(&self, kind: Kind) -> Result<Handle> {
        match self.client.call(0, Op::Create(kind))? {
            Out::Int(id) => Ok(Handle {
                client: self.client.clone(),
                id,
            }),
            o => Err(client::unexpected(o)),
        }
    }

    /// `manager.dict()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let d = m.dict::<u32, String>().unwrap();
    /// ```
    pub fn dict<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(
        &self,
    ) -> Result<Dict<K, V>> {
        Ok(Dict::from_handle(self.make(Kind::Dict)?))
    }

    /// `manager.list()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list::<u32>().unwrap();
    /// ```
    pub fn list<T: Serialize + DeserializeOwned>(&self) -> Result<List<T>> {
        self.list_from(std::iter::empty())
    }

    /// `manager.list(items)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.list_from([1, 2]).unwrap();
    /// assert_eq!(l.len().unwrap(), 2);
    /// ```
    pub fn list_from<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<List<T>> {
        let v = items
            .into_iter()
            .map(|x| enc(&x))
            .collect::<Result<Vec<_>>>()?;
        Ok(List::from_handle(self.make(Kind::List(v))?))
    }

    /// `manager.Array(typecode, sequence)`: a fixed-length sequence.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let a = m.array(vec![0i32; 8]).unwrap();
    /// ```
    pub fn array<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Array<T>> {
        let v = items
            .into_iter()
            .map(|x| enc(&x))
            .collect::<Result<Vec<_>>>()?;
        Ok(Array::from_handle(self.make(Kind::List(v))?))
    }

    /// `manager.Namespace()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let ns = m.namespace().unwrap();
    /// ```
    pub fn namespace(&self) -> Result<Namespace> {
        Ok(Namespace::from_handle(self.make(Kind::Namespace)?))
    }

    /// `manager.Value(typecode, v)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let v = m.value(&0i64).unwrap();
    /// ```
    pub fn value<T: Serialize + DeserializeOwned>(&self, v: &T) -> Result<Value<T>> {
        Ok(Value::from_handle(self.make(Kind::Value(enc(v)?))?))
    }

    /// `manager.Queue(maxsize)` (0: unbounded).
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.queue::<Vec<u8>>(0).unwrap();
    /// ```
    pub fn queue<T: Serialize + DeserializeOwned>(&self, maxsize: usize) -> Result<Queue<T>> {
        Ok(Queue::from_handle(self.make(Kind::Queue { maxsize })?))
    }

    /// `manager.JoinableQueue(maxsize)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let q = m.joinable_queue::<u8>(0).unwrap();
    /// ```
    pub fn joinable_queue<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<JoinableQueue<T>> {
        self.queue(maxsize)
    }

    /// `manager.Lock()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let l = m.lock().unwrap();
    /// ```
    pub fn lock(&self) -> Result<Lock> {
        Ok(Lock::from_handle(self.make(Kind::Lock)?))
    }

    /// `manager.RLock()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let r = m.rlock().unwrap();
    /// ```
    pub fn rlock(&self) -> Result<RLock> {
        Ok(RLock::from_handle(self.make(Kind::RLock)?))
    }

    /// `manager.Semaphore(value)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let s = m.semaphore(2).unwrap();
    /// ```
    pub fn semaphore(&self, value: usize) -> Result<Semaphore> {
        let kind = Kind::Semaphore {
            value: value as u64,
            bounded: false,
        };
        Ok(Semaphore::from_handle(self.make(kind)?))
    }

    /// `manager.BoundedSemaphore(value)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let s = m.bounded_semaphore(2).unwrap();
    /// ```
    pub fn bounded_semaphore(&self, value: usize) -> Result<BoundedSemaphore> {
        let kind = Kind::Semaphore {
            value: value as u64,
            bounded: true,
        };
        Ok(Semaphore::from_handle(self.make(kind)?))
    }

    /// `manager.Event()`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let e = m.event().unwrap();
    /// ```
    pub fn event(&self) -> Result<Event> {
        Ok(Event::from_handle(self.make(Kind::Event)?))
    }

    /// `manager.Condition()` (over its own re-entrant lock).
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let c = m.condition().unwrap();
    /// ```
    pub fn condition(&self) -> Result<Condition> {
        Ok(Condition::from_handle(self.make(Kind::Condition)?))
    }

    /// Python's `manager.<typeid>(args)` for a type registered with
    /// [`register_shared!`](crate::register_shared): build an `S` in the
    /// server from `args`.
    ///
    /// ```
    /// # use gilfree::multiprocessing::manager::Shared;
    /// # struct Seen(Vec<String>);
    /// # impl Shared for Seen {
    /// #     const NAME: &'static str = "doc::Seen";
    /// #     type Args = (); type Call = String; type Reply = usize;
    /// #     fn new(_: ()) -> Self { Seen(vec![]) }
    /// #     fn call(&mut self, s: String) -> usize { self.0.push(s); self.0.len() }
    /// # }
    /// # gilfree::register_shared!(Seen);
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let s = m.create::<Seen>(&()).unwrap();
    /// assert_eq!(s.call(&"a".into()).unwrap(), 1);
    /// ```
    pub fn create<S: Shared>(&self, args: &S::Args) -> Result<Proxy<S>> {
        let kind = Kind::Custom {
            name: S::NAME.into(),
            args: enc(args)?,
        };
        Ok(Proxy::from_handle(self.make(kind)?))
    }

    /// `manager.Barrier(parties)`.
    ///
    /// ```
    /// # let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// let b = m.barrier(2).unwrap();
    /// ```
    pub fn barrier(&self, parties: usize) -> Result<Barrier> {
        Ok(Barrier::from_handle(self.make(Kind::Barrier {
            parties: parties as u64,
        })?))
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
