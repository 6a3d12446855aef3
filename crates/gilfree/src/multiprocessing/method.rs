//! The start methods' names and the global choice: Python's
//! `set_start_method` / `get_start_method`.

use std::fmt;
use std::sync::Mutex;

use super::error::{Error, Result};

/// How a child process is made: Python's start methods.
///
/// - [`Fork`](StartMethod::Fork): `fork()` this process. Fastest; the child
///   shares nothing but starts with a copy of everything, including locks
///   other threads held at the fork (so a multi-threaded parent can
///   deadlock its child; gilfree's fork *closures* refuse such a parent).
/// - [`Spawn`](StartMethod::Spawn): re-execute this binary; the child's
///   `main` calls [`init`](super::init), which runs the task. Slowest (an
///   `exec` and a fresh runtime per child), safest (nothing inherited).
/// - [`ForkServer`](StartMethod::ForkServer): on first use, re-execute this
///   binary once into a single-threaded server; each start asks the server
///   to fork. Nearly fork's speed with spawn's safety.
///
/// **The default is `ForkServer`**, as in Python 3.14 on Linux: fork in a
/// program that has threads (most do, sooner or later) is a source of
/// deadlocks, and forkserver costs only one `exec` in the program's life.
/// Change it with [`set_start_method`] or pick one per process with
/// [`get_context`](super::get_context) or [`ProcessBuilder::start_method`](super::ProcessBuilder::start_method).
///
/// ```
/// use gilfree::multiprocessing::{StartMethod, get_start_method};
/// assert_eq!("spawn".parse::<StartMethod>().unwrap(), StartMethod::Spawn);
/// let _ = get_start_method();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// Python's `'fork'`.
    Fork,
    /// Python's `'spawn'`.
    Spawn,
    /// Python's `'forkserver'`.
    ForkServer,
}

impl StartMethod {
    /// Every start method, for loops in tests and lessons.
    pub const ALL: [StartMethod; 3] = [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::ForkServer,
    ];

    /// Python's name: `"fork"`, `"spawn"` or `"forkserver"`.
    ///
    /// ```
    /// assert_eq!(gilfree::multiprocessing::StartMethod::ForkServer.name(), "forkserver");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::ForkServer => "forkserver",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for StartMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::ForkServer),
            _ => Err(Error::Value(format!("cannot find context for {s:?}"))),
        }
    }
}

static START_METHOD: Mutex<Option<StartMethod>> = Mutex::new(None);

/// Python's `multiprocessing.set_start_method(method)`: the start method of
/// processes that do not name one. Like Python it may be set once:
/// a second call is an error (Python's `force=True` is
/// [`set_start_method_force`]).
///
/// ```
/// use gilfree::multiprocessing::{StartMethod, set_start_method_force, get_start_method};
/// set_start_method_force(StartMethod::Spawn);
/// assert_eq!(get_start_method(), StartMethod::Spawn);
/// ```
pub fn set_start_method(method: StartMethod) -> Result<()> {
    let mut m = START_METHOD.lock().unwrap_or_else(|e| e.into_inner());
    if m.is_some() {
        return Err(Error::Value("context has already been set".into()));
    }
    *m = Some(method);
    Ok(())
}

/// Python's `set_start_method(method, force=True)`.
///
/// ```
/// use gilfree::multiprocessing::{StartMethod, set_start_method_force};
/// set_start_method_force(StartMethod::Fork);
/// ```
pub fn set_start_method_force(method: StartMethod) {
    *START_METHOD.lock().unwrap_or_else(|e| e.into_inner()) = Some(method);
}

/// Python's `multiprocessing.get_start_method()`: the method set, or the
/// default ([`StartMethod::ForkServer`]).
///
/// ```
/// let m = gilfree::multiprocessing::get_start_method();
/// println!("processes start by {m}");
/// ```
pub fn get_start_method() -> StartMethod {
    START_METHOD
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or(StartMethod::ForkServer)
}
