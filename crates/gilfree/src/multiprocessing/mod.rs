//! Python's `multiprocessing` module: processes, pipes and connections.
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
//!
//! # Tasks, not closures
//!
//! A Rust closure cannot travel to another process, so the work a child
//! does is a *task*: a plain function marked `#[gilfree::task]`, registered
//! under its module path and name, whose arguments and result are serde
//! types (postcard-encoded on the way). The child is this same executable.
//! Bytes that do not decode as the task's arguments are an error in the
//! child ([`Error::Decode`] from [`Process::result`]), never undefined
//! behaviour. With the fork start method only, any closure may run instead
//! ([`ProcessBuilder::fork_closure`]), in a single-threaded parent.
//!
//! # `init()` is the first line of `main`
//!
//! Spawn and forkserver children re-execute the program; [`init`] is where
//! such a child turns into a worker and never returns (Python's
//! `if __name__ == "__main__":` guard, inverted). In the parent it returns
//! at once.
//!
//! ```no_run
//! use gilfree::multiprocessing::{Process, init};
//!
//! #[gilfree::task]
//! fn add(a: i32, b: i32) -> i32 {
//!     a + b
//! }
//!
//! fn main() {
//!     init(); // first line: a child runs its task here and exits
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
//! call [`init`] before anything else. libtest's generated `main` does not,
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
//! fn main() {
//!     gilfree::multiprocessing::init();
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

mod child;
mod connection;
mod error;
mod forkserver;
mod os;
pub mod pool;
mod process;
mod task;

pub use child::Fault;
pub use connection::{Address, Client, Connection, DEFAULT_MAX_MESSAGE_SIZE, Listener, Pipe};
pub use error::{Error, Result};
pub use pool::{AsyncResult, Callbacks, IMap, Pool, PoolBuilder};
pub use process::{
    Context, DEFAULT_HANDSHAKE_TIMEOUT, Process, ProcessBuilder, ProcessInfo, StartMethod, Unknown,
    active_children, cpu_count, current_process, get_context, get_start_method, parent_process,
    process_cpu_count, set_start_method, set_start_method_force,
};
pub use task::Task;

#[doc(hidden)]
pub mod __private {
    //! What `#[gilfree::task]` expands to; not a public API.
    pub use super::task::{TASKS, TaskEntry, TaskFailure, decode_args, encode_result};
    pub use linkme;
}

/// The fork server's pid, if this process has started one (for tests
/// that kill it). Not a public API.
#[doc(hidden)]
pub fn __forkserver_pid() -> Option<i32> {
    forkserver::server_pid()
}

/// Turn a re-executed child into a worker: the first line of `main`.
///
/// In a child started by the spawn method it receives its task, runs it and
/// exits with its status (0, or 1 if the task panicked); in the fork
/// server it serves until the parent exits. In every other process it
/// returns at once (one environment lookup). Python's equivalent is the
/// `if __name__ == "__main__":` guard.
///
/// ```
/// fn main() {
///     gilfree::multiprocessing::init();
///     // the program
/// }
/// # main();
/// ```
pub fn init() {
    use std::os::fd::FromRawFd;
    if let Some(v) = std::env::var_os(process::ENV_CHILD) {
        // SAFETY: the first line of main, before any thread exists, so no
        // other thread reads the environment while we change it.
        unsafe { std::env::remove_var(process::ENV_CHILD) };
        // "fd,parent-pid": our end of the socket, and the process that
        // spawned us (a daemon child checks it is still there).
        let parsed = v.to_str().and_then(|s| {
            let (fd, ppid) = s.split_once(',')?;
            Some((fd.parse::<i32>().ok()?, ppid.parse::<i32>().ok()?))
        });
        let (fd, parent) = match parsed {
            Some(p) => p,
            None => {
                eprintln!("gilfree: bad {}", process::ENV_CHILD);
                std::process::exit(1);
            }
        };
        // SAFETY: the parent passed this descriptor to us for our sole use
        // (its number is in our environment); we own it from here.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let _ = os::set_cloexec(std::os::fd::AsFd::as_fd(&fd), true);
        let code = child::run(
            connection::Connection::from_fd(fd),
            child::Job::Remote,
            parent,
        );
        child::flush_stdio();
        std::process::exit(code);
    }
    if let Some(v) = std::env::var_os(forkserver::ENV_SERVER) {
        // SAFETY: as above, before any thread exists.
        unsafe { std::env::remove_var(forkserver::ENV_SERVER) };
        forkserver::serve(&v.to_string_lossy());
    }
}
