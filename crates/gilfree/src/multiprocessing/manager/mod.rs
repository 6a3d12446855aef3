//! Python's `multiprocessing.Manager()` (`SyncManager`): dicts, lists,
//! namespaces, values, queues and locks that live in a server process and
//! are used through typed proxies from any process, locally or over TCP.
//!
//! The parts: `handle` ([`Manager`]: start, connect, serve, shut down;
//! make objects), `builder` ([`ManagerBuilder`]), `launch` (the server
//! process's task, its socket and key), `protocol` (the request and reply
//! types), `server` (accept loop, a thread per connection), `objects` and
//! `state` (the server's objects), `client` (a proxy's connections and
//! calls), `collections` (the `proxy!` macro), `dict`, `list`,
//! `namespace`, `queue` and `sync` (the proxy types), `custom` (registered
//! types), `error`.
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

mod builder;
mod client;
mod collections;
mod custom;
mod dict;
mod error;
mod handle;
mod launch;
mod list;
mod namespace;
mod objects;
mod protocol;
mod queue;
mod server;
mod state;
mod sync;

pub use builder::ManagerBuilder;
pub use custom::{Proxy, Shared};
pub use dict::Dict;
pub use error::{Error, Result};
pub use handle::{Manager, Server};
pub use list::{Array, List};
pub use namespace::{Namespace, Value};
pub use queue::{JoinableQueue, Queue};
pub use sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, LockGuard, RLock, Semaphore};

#[doc(hidden)]
pub mod __private {
    //! What `register_shared!` expands to; not a public API.
    pub use super::custom::{Entry, Erased, SHARED, make};
    pub use linkme;
}
