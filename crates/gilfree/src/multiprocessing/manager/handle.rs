//! [`Manager`], the handle on a manager's server: start, connect, serve,
//! shut down, and make shared objects returning their proxies; and
//! [`Server`], a bound server not yet serving.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{self, Client, Handle, enc};
use super::custom::{Proxy, Shared};
use super::dict::Dict;
#[allow(unused_imports)] // `Error` is named by the docs' links
use super::error::{Error, Result};
use super::launch::{bind, remove_socket};
use super::list::{Array, List};
use super::namespace::{Namespace, Value};
use super::protocol::{Kind, Op, Out};
use super::queue::{JoinableQueue, Queue};
use super::server;
use super::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};
use crate::multiprocessing::connection::{Address, Connection, Listener};
use crate::multiprocessing::process::Process;

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
pub(super) enum Owned {
    /// The server process and its control connection.
    Process {
        process: Process<()>,
        ctl: Connection,
        /// The process that started it: a forked copy of the handle does
        /// not stop the server.
        pid: i32,
    },
    /// A server thread in this process (`pid`: the process that started
    /// it; a forked copy of the handle leaves the socket alone).
    Thread { pid: i32 },
    /// Nothing: connected to someone else's server.
    Nothing,
}

/// Python's `multiprocessing.Manager()` / `SyncManager`: a handle on a
/// manager's server, which makes shared objects and returns their proxies.
///
/// [`start`](Manager::start) runs the server in a new process (the
/// default start method, or [`ManagerBuilder::start_method`](super::ManagerBuilder::start_method)) on a private
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
    pub(super) client: Arc<Client>,
    pub(super) owned: Owned,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("address", self.client.address())
            .finish_non_exhaustive()
    }
}

impl Manager {
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
    /// (proxies then fail with [`Error::ServerGone`]); for an in-thread
    /// server, remove its socket (no new connections; those made go on);
    /// for a connected manager, nothing.
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
            // The thread serves on until the process ends (connections
            // already made keep working), but its socket goes with the
            // handle: a private socket's directory must not outlive it.
            Owned::Thread { pid } => {
                if pid == std::process::id() as i32
                    && let Address::Unix(p) = self.client.address()
                {
                    remove_socket(p);
                }
                Ok(())
            }
            Owned::Nothing => Ok(()),
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
