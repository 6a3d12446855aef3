//! Python's `multiprocessing` module: processes, pipes and connections,
//! pools.
//!
//! | Python | gilfree |
//! |---|---|
//! | `Process(target=f, args=a)` | [`Process::new`]`(f::TASK, a)` with `#[gilfree::task] fn f` |
//! | `Process(name=, daemon=)` | [`Process::builder`] |
//! | `p.start()` / `p.join()` / `p.join(t)` | [`Process::start`] / [`Process::join`] / [`Process::join_timeout`] |
//! | `p.exitcode`, `p.pid`, `p.is_alive()` | [`Process::exitcode`], [`Process::pid`], [`Process::is_alive`] |
//! | `p.terminate()` / `p.kill()` / `p.close()` | [`Process::terminate`] / [`Process::kill`] / [`Process::close`] |
//! | `set_start_method`, `get_context` | [`set_start_method`], [`get_context`], [`StartMethod`] |
//! | `current_process()`, `parent_process()`, `active_children()` | [`current_process`], [`parent_process`], [`active_children`] |
//! | `cpu_count()`, `os.process_cpu_count()` | [`cpu_count`], [`process_cpu_count`] |
//! | `Pipe(duplex)` / `Connection` | [`Pipe`] / [`Connection`] |
//! | `connection.Listener` / `connection.Client` | [`Listener`] / [`Client`] |
//! | `connection.wait(objects, timeout)`, `p.sentinel` | [`connection::wait`], [`Process::sentinel`] |
//! | `Manager()`, `BaseManager`, proxies | [`Manager`], [`manager`] |
//! | `Pool(processes, initializer, initargs, maxtasksperchild)` | [`Pool::new`], [`Pool::builder`]; `apply`/`map`/`imap`/`starmap` (+ `_async`) take a task |
//! | `AsyncResult` (`get`, `wait`, `ready`, `successful`) | [`AsyncResult`] |
//! | `shared_memory.SharedMemory` | [`SharedMemory`] |
//! | `Lock`, `RLock` (process-shared, survive a dead holder) | [`Lock`], [`RLock`] |
//! | `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`, `Barrier` | [`Semaphore`], [`BoundedSemaphore`], [`Event`], [`Condition`], [`Barrier`] |
//! | `Value`, `Array`, `sharedctypes.RawValue`/`RawArray` | [`Value`], [`Array`], [`RawValue`], [`RawArray`] |
//! | `Queue`, `JoinableQueue`, `SimpleQueue` (shared-memory ring) | [`Queue`], [`JoinableQueue`], [`SimpleQueue`]; see [`queue`] |
//!
//! # Tasks, not closures
//!
//! A Rust closure cannot travel to another process, so the work a child
//! does is a *task*: a plain function marked `#[gilfree::task]`, registered
//! under its module path and name, whose arguments and result are serde
//! types (postcard-encoded on the way). The child is this same executable.
//! Bytes that do not decode as the task's arguments are an error in the
//! child ([`Error::TaskData`] from [`Process::result`], naming the task
//! and the type's own reason), never undefined behaviour. With the fork start method only, any closure may run instead
//! ([`ProcessBuilder::fork_closure`]), in a single-threaded parent.
//!
//! # `init()` is the first line of `main`
//!
//! Spawn and forkserver children re-execute the program; [`init`] is where
//! such a child turns into a worker and never returns (Python's
//! `if __name__ == "__main__":` guard, inverted). In the parent it returns
//! at once. `#[gilfree::main]` on `main` writes that first line. A start
//! without it is refused with [`Error::NoInit`], which names the fix (under
//! every start method); a re-executed child that reaches a start without
//! it exits at once, so a forgotten `init()` never multiplies processes.
//!
//! ```no_run
//! use gilfree::multiprocessing::Process;
//!
//! #[gilfree::task]
//! fn add(a: i32, b: i32) -> i32 {
//!     a + b
//! }
//!
//! #[gilfree::main] // init() first: a child runs its task there and exits
//! fn main() {
//!     let p = Process::new(add::TASK, (2, 3)).unwrap();
//!     p.start().unwrap();
//!     assert_eq!(p.result().unwrap(), 5);
//!     assert_eq!(p.exitcode(), Some(0));
//! }
//! ```
//!
//! # Testing code that starts processes
//!
//! A child re-executes the *test binary*, so the test binary's `main` must
//! call [`init`] before anything else (or carry `#[gilfree::main]`).
//! libtest's generated `main` does not,
//! and it runs tests on several threads (which the fork closure refuses).
//! So put such tests in an integration test with its own `main`:
//!
//! ```toml
//! [[test]]
//! name = "processes"
//! harness = false
//! ```
//!
//! ```no_run
//! // tests/processes.rs
//! #[gilfree::task]
//! fn double(x: u32) -> u32 { x * 2 }
//!
//! #[gilfree::main]
//! fn main() {
//!     let p = gilfree::multiprocessing::Process::new(double::TASK, (21,)).unwrap();
//!     p.start().unwrap();
//!     assert_eq!(p.result().unwrap(), 42);
//!     println!("1 passed, 0 failed"); // a line cargo's and CI's runners read
//! }
//! ```
//!
//! `cargo test` runs it like any test binary; a failed `assert!` exits
//! non-zero, which fails the run. gilfree's own `tests/multiprocessing.rs`
//! is a fuller example: a list of named cases, a filter argument, and one
//! result line.
//!
//! # Start methods
//!
//! See [`StartMethod`]; the default is [`StartMethod::ForkServer`]. Every
//! start has a handshake with a timeout
//! ([`ProcessBuilder::handshake_timeout`]); a child that dies or hangs
//! before answering is [`Error::StartFailed`], never a hang. Every child is
//! watched through a pidfd, so its death is seen at once by `join`,
//! `is_alive`, and the handshake.

#[cfg(feature = "tokio")]
mod aio;
mod bootstrap;
mod builder;
mod child;
mod children;
mod codec;
pub mod connection;
mod error;
mod guard;
mod info;
pub mod manager;
mod method;
pub mod pool;
mod process;
pub mod queue;
mod server;
pub mod shared_memory;
mod start;
mod task;

pub use bootstrap::init;
pub use builder::{Context, DEFAULT_HANDSHAKE_TIMEOUT, ProcessBuilder, get_context};
pub use child::Fault;
pub use connection::{
    Address, Client, Connection, DEFAULT_AUTH_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, Listener, Pipe,
};
pub(crate) use error::describe_exit;
pub use error::{Error, Result};
pub use info::{ProcessInfo, cpu_count, current_process, parent_process, process_cpu_count};
pub use manager::{Manager, ManagerBuilder};
pub use method::{StartMethod, get_start_method, set_start_method, set_start_method_force};
pub use pool::{AsyncResult, Callbacks, IMap, Pool, PoolBuilder};
pub use process::{Process, Unknown, active_children};
pub use queue::{JoinableQueue, Queue, SimpleQueue};
pub use shared_memory::{
    Array, AsyncRLockGuard, Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, RawArray,
    RawValue, Semaphore, SharedMemory, Value,
};
pub use task::Task;

#[doc(hidden)]
pub mod __private {
    //! What `#[gilfree::task]` expands to; not a public API.
    pub use super::task::{
        BatchOut, TASKS, TaskEntry, TaskFailure, decode_args, encode_result, run_batch,
    };
    pub use linkme;
}

/// The fork server's pid, if this process has started one (for tests
/// that kill it). Not a public API.
#[doc(hidden)]
pub fn __forkserver_pid() -> Option<i32> {
    start::forkserver::server_pid()
}
