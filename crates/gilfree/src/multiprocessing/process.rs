//! `Process`: Python's `multiprocessing.Process`, started by fork, spawn or
//! forkserver, and watched through a pidfd.
//!
//! # Life of a child
//!
//! 1. *Start.* The start method makes the child and a socket pair between
//!    parent and child ([`Started`]): fork forks here; spawn forks and
//!    re-executes this binary (whose `main` calls [`init`](super::init));
//!    forkserver asks its server to fork.
//! 2. *Handshake.* The parent sends the task's name and arguments (a forked
//!    child has them already; a forkserver child gets them from the server
//!    with its fork request) and waits,
//!    up to the handshake timeout, for `Ready` — while also watching the
//!    child's pidfd, so a child that dies in its handshake is an error at
//!    once, and one that never answers is killed at the timeout. Either way
//!    `start` returns [`Error::StartFailed`]; it never hangs.
//! 3. *Run.* The child runs the task and sends `Done(result)`.
//! 4. *Join.* The parent polls the pidfd (readable when the child exits)
//!    together with the socket (read as results arrive, so a child writing
//!    a large result never blocks on a parent that waits for its exit),
//!    then reaps the exit status. A forkserver child is the server's, so
//!    the server reaps it and writes the status on the child's socket,
//!    after everything the child wrote: there the parent only reads.

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::child::{self, Fault, Identity, Job, Report, Start};
use super::connection::{Connection, decode_with_fds, encode_with_fds};
use super::error::{Error, Result};
use super::task::{Task, TaskFailure};
use super::{forkserver, os};
use crate::sys::Deadline;

/// The environment variable that tells a re-executed binary it is a spawn
/// child: `"fd,pid"`, its socket to the parent and the parent's pid.
pub(crate) const ENV_CHILD: &str = "GILFREE_MP_CHILD";

/// The default time a child has to answer its start handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

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
/// [`get_context`] or [`ProcessBuilder::start_method`].
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

/// Python's `multiprocessing.get_context(method)`: an object whose
/// processes use that start method, whatever the global one is.
///
/// ```no_run
/// use gilfree::multiprocessing::{StartMethod, get_context};
/// #[gilfree::task]
/// fn double(x: u64) -> u64 { x * 2 }
/// let ctx = get_context(StartMethod::Spawn);
/// let p = ctx.process(double::TASK, (21,)).unwrap();
/// p.start().unwrap();
/// assert_eq!(p.result().unwrap(), 42);
/// ```
pub fn get_context(method: StartMethod) -> Context {
    Context { method }
}

/// A start-method context: Python's `multiprocessing.context.BaseContext`.
///
/// ```
/// let ctx = gilfree::multiprocessing::get_context(gilfree::multiprocessing::StartMethod::Fork);
/// assert_eq!(ctx.start_method(), gilfree::multiprocessing::StartMethod::Fork);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// Python's `ctx.get_start_method()`.
    ///
    /// ```
    /// use gilfree::multiprocessing::{get_context, StartMethod};
    /// assert_eq!(get_context(StartMethod::Spawn).start_method(), StartMethod::Spawn);
    /// ```
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// Python's `ctx.Process(target=task, args=args)`.
    ///
    /// ```no_run
    /// use gilfree::multiprocessing::{get_context, StartMethod};
    /// #[gilfree::task]
    /// fn hello() {}
    /// let p = get_context(StartMethod::Fork).process(hello::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// ```
    pub fn process<A: Serialize, R>(&self, task: Task<A, R>, args: A) -> Result<Process<R>> {
        self.builder().target(task, args)
    }

    /// A [`ProcessBuilder`] with this context's start method.
    ///
    /// ```
    /// use gilfree::multiprocessing::{get_context, StartMethod};
    /// let _b = get_context(StartMethod::Spawn).builder().name("worker");
    /// ```
    pub fn builder(&self) -> ProcessBuilder {
        ProcessBuilder::new().start_method(self.method)
    }
}

// ---------------------------------------------------------------------------

/// Python's `Process(name=..., daemon=...)` keyword arguments, before the
/// target is given.
///
/// ```no_run
/// use gilfree::multiprocessing::Process;
/// #[gilfree::task]
/// fn work(n: u32) -> u32 { n + 1 }
/// let p = Process::builder().name("worker-1").daemon(true).target(work::TASK, (1,)).unwrap();
/// p.start().unwrap();
/// assert_eq!(p.result().unwrap(), 2);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ProcessBuilder {
    name: Option<String>,
    daemon: Option<bool>,
    method: Option<StartMethod>,
    handshake_timeout: Duration,
    fault: Fault,
}

impl Default for ProcessBuilder {
    fn default() -> Self {
        Self::new()
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(1);

impl ProcessBuilder {
    /// A builder with Python's defaults (name `Process-N`, daemon inherited
    /// from the current process, the global start method).
    ///
    /// ```
    /// let _b = gilfree::multiprocessing::ProcessBuilder::new();
    /// ```
    pub fn new() -> Self {
        ProcessBuilder {
            name: None,
            daemon: None,
            method: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            fault: Fault::None,
        }
    }

    /// Python's `name=`.
    ///
    /// ```
    /// let _b = gilfree::multiprocessing::Process::builder().name("loader");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Python's `daemon=`: a daemon child is killed when its parent exits
    /// (by `PR_SET_PDEATHSIG` in the child, and by the parent at exit).
    /// As in Linux, the "parent" of the death signal is the *thread* that
    /// started the child: start daemons from a thread that outlives them.
    ///
    /// ```
    /// let _b = gilfree::multiprocessing::Process::builder().daemon(true);
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// The start method of this process (Python: use a context).
    ///
    /// ```
    /// use gilfree::multiprocessing::{Process, StartMethod};
    /// let _b = Process::builder().start_method(StartMethod::Fork);
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// How long the child has to answer its start handshake (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]). No Python equivalent: Python has no
    /// handshake timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let _b = gilfree::multiprocessing::Process::builder().handshake_timeout(Duration::from_secs(5));
    /// ```
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    #[doc(hidden)]
    pub fn __fault(mut self, f: Fault) -> Self {
        self.fault = f;
        self
    }

    /// Python's `target=task, args=args`: a process that will run `task`
    /// with `args` (a tuple). The arguments are encoded now; a
    /// [`Connection`] among them is duplicated and travels with them.
    ///
    /// ```no_run
    /// use gilfree::multiprocessing::Process;
    /// #[gilfree::task]
    /// fn greet(who: String) -> String { format!("hello {who}") }
    /// let p = Process::builder().target(greet::TASK, ("you".to_string(),)).unwrap();
    /// p.start().unwrap();
    /// assert_eq!(p.result().unwrap(), "hello you");
    /// ```
    pub fn target<A: Serialize, R>(self, task: Task<A, R>, args: A) -> Result<Process<R>> {
        let (bytes, fds) = encode_with_fds(&args, "task arguments")?;
        Ok(self.build(Target::Task {
            name: task.name(),
            args: bytes,
            fds,
        }))
    }

    /// The fork-only opt-in: a process that runs any closure, by `fork()`.
    ///
    /// The closure is not sent anywhere: the forked child runs its copy. This
    /// is only sound when nothing in the parent holds a lock at the fork, so
    /// [`Process::start`] refuses with [`Error::ForkRefused`] when the start
    /// method is not [`StartMethod::Fork`] or when the parent has more than
    /// one thread (it counts `/proc/self/task`). No Python equivalent: Python
    /// pickles its target, we cannot.
    ///
    /// ```no_run
    /// use gilfree::multiprocessing::{Process, StartMethod};
    /// let data = vec![1, 2, 3];
    /// let p = Process::builder()
    ///     .start_method(StartMethod::Fork)
    ///     .fork_closure(move || data.iter().sum::<i32>());
    /// p.start().unwrap(); // Err(ForkRefused) in a multi-threaded program
    /// assert_eq!(p.result().unwrap(), 6);
    /// ```
    pub fn fork_closure<F, R>(self, f: F) -> Process<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Serialize,
    {
        let run = move || {
            let r = f();
            postcard::to_allocvec(&r).map_err(|e| TaskFailure::BadResult(e.to_string()))
        };
        self.build(Target::Closure(Box::new(run)))
    }

    fn build<R>(self, target: Target) -> Process<R> {
        let me = child::current_identity();
        let n = COUNTER.fetch_add(1, Relaxed);
        let name = self.name.unwrap_or_else(|| match &me {
            Some(id) => format!("{}:{n}", id.name),
            None => format!("Process-{n}"),
        });
        let daemon = self
            .daemon
            .unwrap_or(me.map(|id| id.daemon).unwrap_or(false));
        Process {
            inner: Arc::new(Inner {
                name,
                daemon,
                method: self.method.unwrap_or_else(get_start_method),
                handshake_timeout: self.handshake_timeout,
                fault: self.fault,
                target: Mutex::new(Some(target)),
                started: std::sync::OnceLock::new(),
                state: Mutex::new(State::default()),
                reading: Mutex::new(()),
            }),
            _r: PhantomData,
        }
    }
}

enum Target {
    Task {
        name: &'static str,
        args: Vec<u8>,
        fds: Vec<OwnedFd>,
    },
    Closure(Box<dyn FnOnce() -> Result<Vec<u8>, TaskFailure> + Send>),
}

/// A started child as a start method hands it over.
pub(crate) struct Started {
    pub(crate) pid: i32,
    /// Readable when the child exits.
    pub(crate) pidfd: OwnedFd,
    /// Our end of the child's socket.
    pub(crate) conn: Connection,
    /// A forkserver child: the server is its real parent, and sends its
    /// exit status on `conn` ([`Report::Exited`]) after everything the
    /// child said; `pidfd` can signal it and see it exit, not reap it.
    pub(crate) via_server: bool,
    /// A fork child's start request, the parent's copy: freed with the
    /// process handle, not at the start (see `start_fork`).
    pub(crate) _parents_copy: Option<Start>,
}

#[derive(Default)]
struct State {
    exitcode: Option<i32>,
    outcome: Option<Result<Vec<u8>, TaskFailure>>,
    conn_done: bool,
    closed: bool,
}

struct Inner {
    name: String,
    daemon: bool,
    method: StartMethod,
    handshake_timeout: Duration,
    fault: Fault,
    target: Mutex<Option<Target>>,
    started: std::sync::OnceLock<Started>,
    state: Mutex<State>,
    /// Held while one thread reads the child's socket or reaps it, so
    /// that what it read is recorded before anyone sees the exit (see
    /// `Process::drain` and `Process::reap`).
    reading: Mutex<()>,
}

/// A type with no values: the result type of processes listed by
/// [`active_children`], whose result type is not known.
#[derive(Debug, Clone, Copy)]
pub enum Unknown {}

/// A child process: Python's `multiprocessing.Process`.
///
/// Made by [`Process::new`] (a task and its arguments), a
/// [`ProcessBuilder`], or a [`Context`]; then [`start`](Process::start)ed
/// and [`join`](Process::join)ed as in Python. Cheap to clone (a shared
/// handle); every method takes `&self`.
///
/// Differences from Python: the target is a registered
/// [`Task`] (or, fork only, a closure); the task's return value comes back:
/// [`result`](Process::result) joins and returns it, or the panic message.
///
/// ```no_run
/// use gilfree::multiprocessing::Process;
///
/// #[gilfree::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     gilfree::multiprocessing::init(); // first line of main
///     let p = Process::new(square::TASK, (7,)).unwrap();
///     p.start().unwrap();
///     p.join().unwrap();
///     assert_eq!(p.exitcode(), Some(0));
///     assert_eq!(p.result().unwrap(), 49);
/// }
/// ```
pub struct Process<R = Unknown> {
    inner: Arc<Inner>,
    _r: PhantomData<fn() -> R>,
}

impl<R> Clone for Process<R> {
    fn clone(&self) -> Self {
        Process {
            inner: self.inner.clone(),
            _r: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Process<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.inner.name)
            .field("pid", &self.pid())
            .field("daemon", &self.inner.daemon)
            .field("exitcode", &self.exitcode())
            .finish()
    }
}

/// Every started child not yet seen dead, as Python's `_children`: kept
/// (strongly) even if the user drops its handle, so that it is reaped by
/// [`active_children`] or the next start, and joined (or, a daemon,
/// terminated) at exit.
static CHILDREN: Mutex<Vec<Arc<Inner>>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

impl Process<Unknown> {
    /// A [`ProcessBuilder`]: Python's `Process(name=..., daemon=...)`.
    ///
    /// ```
    /// let _b = gilfree::multiprocessing::Process::builder().name("w");
    /// ```
    pub fn builder() -> ProcessBuilder {
        ProcessBuilder::new()
    }
}

impl<R> Process<R> {
    /// Python's `Process(target=task, args=args)`, with the default start
    /// method.
    ///
    /// ```no_run
    /// use gilfree::multiprocessing::Process;
    /// #[gilfree::task]
    /// fn hello(n: u8) -> u8 { n }
    /// let p = Process::new(hello::TASK, (5,)).unwrap();
    /// p.start().unwrap();
    /// assert_eq!(p.result().unwrap(), 5);
    /// ```
    pub fn new<A: Serialize>(task: Task<A, R>, args: A) -> Result<Process<R>> {
        ProcessBuilder::new().target(task, args)
    }

    /// Python's `Process.name`.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::builder().name("x").target(t::TASK, ()).unwrap();
    /// assert_eq!(p.name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Python's `Process.daemon`.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::builder().daemon(true).target(t::TASK, ()).unwrap();
    /// assert!(p.daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        self.inner.daemon
    }

    /// The start method this process uses.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// use gilfree::multiprocessing::{Process, StartMethod};
    /// let p = Process::builder().start_method(StartMethod::Spawn).target(t::TASK, ()).unwrap();
    /// assert_eq!(p.start_method(), StartMethod::Spawn);
    /// ```
    pub fn start_method(&self) -> StartMethod {
        self.inner.method
    }

    /// Python's `Process.pid`: `None` before `start`.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// assert_eq!(p.pid(), None);
    /// ```
    pub fn pid(&self) -> Option<i32> {
        self.inner.started.get().map(|s| s.pid)
    }

    /// Python's `Process.start()`: make the child and complete its start
    /// handshake. A child that dies or does not answer within the
    /// handshake timeout is [`Error::StartFailed`] (and is killed).
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// assert!(p.start().is_err()); // cannot start a process twice
    /// # p.join().unwrap();
    /// ```
    pub fn start(&self) -> Result<()> {
        let target = self
            .inner
            .target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or(Error::AlreadyStarted)?;
        AT_EXIT.call_once(|| os::at_exit(cleanup_at_exit));
        // Forget finished children first (Python's `_cleanup()`), so that a
        // forked child has fewer of our handles to drop.
        reap_finished();
        let inner = &self.inner;
        let ident = Identity {
            name: inner.name.clone(),
            daemon: inner.daemon,
            parent_pid: os::getpid(),
            parent_name: current_process().name,
        };
        let deadline = Deadline::after(inner.handshake_timeout);
        let started = match target {
            Target::Closure(f) => {
                if inner.method != StartMethod::Fork {
                    return Err(Error::ForkRefused(format!(
                        "a closure can only be run by the fork start method, not {}",
                        inner.method
                    )));
                }
                let n = os::thread_count()?;
                if n > 1 {
                    return Err(Error::ForkRefused(format!(
                        "the parent has {n} threads; a forked child could deadlock on a lock \
                         another thread held (use a #[gilfree::task] instead)"
                    )));
                }
                let st = start_fork(Job::Closure(f, ident), inner.daemon)?;
                handshake(&st, None, deadline)?;
                st
            }
            Target::Task { name, args, fds } => {
                let start = Start {
                    task: name.to_string(),
                    args,
                    ident,
                    fault: inner.fault,
                };
                if inner.method == StartMethod::Fork {
                    // The child has its own copy of the request.
                    let st = start_fork(Job::Local(start, fds), inner.daemon)?;
                    handshake(&st, None, deadline)?;
                    st
                } else {
                    let msg = postcard::to_allocvec(&start)
                        .map_err(|e| Error::encode("start message", e))?;
                    if inner.method == StartMethod::Spawn {
                        let st = start_spawn(inner.daemon)?;
                        handshake(&st, Some((&msg, &fds)), deadline)?;
                        st
                    } else {
                        // The server hands the start message to the child.
                        let st = forkserver::start(msg, &fds, deadline)?;
                        handshake(&st, None, deadline)?;
                        st
                    }
                }
            }
        };
        if inner.started.set(started).is_err() {
            unreachable!("target taken once");
        }
        CHILDREN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.inner.clone());
        Ok(())
    }

    /// The child's pidfd, readable once it exits (for a pool that polls
    /// many children at once); `None` before `start`.
    pub(crate) fn pidfd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.inner.started.get().map(|s| s.pidfd.as_fd())
    }

    fn started(&self) -> Result<&Started> {
        self.inner.started.get().ok_or(Error::NotStarted)
    }

    /// Python's `Process.join()`: wait until the child exits.
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// assert!(!p.is_alive());
    /// ```
    pub fn join(&self) -> Result<()> {
        self.wait(Deadline::Never).map(|_| ())
    }

    /// Python's `Process.join(timeout)`: wait up to `d`; returns whether
    /// the child has exited (Python returns `None` and you check
    /// `exitcode`).
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// use std::time::Duration;
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// while !p.join_timeout(Duration::from_millis(100)).unwrap() {}
    /// ```
    pub fn join_timeout(&self, d: Duration) -> Result<bool> {
        self.wait(Deadline::after(d))
    }

    /// Python's `Process.is_alive()`.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// assert!(!p.is_alive()); // not started
    /// ```
    pub fn is_alive(&self) -> bool {
        self.inner.started.get().is_some() && matches!(self.wait(Deadline::now()), Ok(false))
    }

    /// Python's `Process.exitcode`: `None` while running (or before
    /// start), the exit status once exited, minus the signal number if a
    /// signal killed it. A task that panicked exits with 1.
    ///
    /// ```
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// assert_eq!(p.exitcode(), None);
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        if self.inner.started.get().is_some() {
            let _ = self.wait(Deadline::now());
        }
        self.lock().exitcode
    }

    /// Python's `Process.sentinel`-like: no; Python's `terminate()`: send
    /// SIGTERM. A child that already exited is left alone.
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// p.terminate().unwrap();
    /// p.join().unwrap();
    /// ```
    pub fn terminate(&self) -> Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// Python's `Process.kill()`: send SIGKILL.
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// p.kill().unwrap();
    /// p.join().unwrap();
    /// ```
    pub fn kill(&self) -> Result<()> {
        self.signal(libc::SIGKILL)
    }

    fn signal(&self, sig: i32) -> Result<()> {
        let st = self.started()?;
        if self.lock().closed {
            return Err(Error::Closed);
        }
        if self.lock().exitcode.is_some() {
            return Ok(());
        }
        os::pidfd_signal(st.pidfd.as_fd(), sig)?;
        Ok(())
    }

    /// Python's `Process.close()`: release the process's resources; an
    /// error while it runs. Later calls to most methods give
    /// [`Error::Closed`]. (The descriptors themselves close when the last
    /// clone of this handle is dropped.)
    ///
    /// ```no_run
    /// # #[gilfree::task] fn t() {}
    /// let p = gilfree::multiprocessing::Process::new(t::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// p.close().unwrap();
    /// ```
    pub fn close(&self) -> Result<()> {
        if self.inner.started.get().is_some() && self.exitcode().is_none() {
            return Err(Error::StillRunning);
        }
        self.lock().closed = true;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for exit until `deadline`; `Ok(true)` once exited.
    fn wait(&self, deadline: Deadline) -> Result<bool> {
        let st = self.started()?;
        if st.via_server {
            return self.wait_for_server(st, deadline);
        }
        loop {
            {
                let s = self.lock();
                if s.closed {
                    return Err(Error::Closed);
                }
                if s.exitcode.is_some() {
                    return Ok(true);
                }
            }
            let conn_done = self.lock().conn_done;
            let ready = if conn_done {
                let mut r = os::poll_readable(&[st.pidfd.as_fd()], deadline)?;
                r.push(false);
                r
            } else {
                os::poll_readable(&[st.pidfd.as_fd(), st.conn.as_fd_checked()?], deadline)?
            };
            if ready[1] {
                self.drain(st);
            }
            if ready[0] && self.reap(st)? {
                return Ok(true);
            }
            if !ready[1] && deadline.expired() {
                return Ok(false);
            }
        }
    }

    /// A forkserver child's wait: everything arrives on the socket — the
    /// result, then the exit status from the server, then EOF.
    fn wait_for_server(&self, st: &Started, deadline: Deadline) -> Result<bool> {
        loop {
            {
                let mut s = self.lock();
                if s.closed {
                    return Err(Error::Closed);
                }
                if s.exitcode.is_some() {
                    return Ok(true);
                }
                if s.conn_done {
                    // EOF without a status: the server died, and its
                    // report with it.
                    s.exitcode = Some(255);
                    return Ok(true);
                }
            }
            if os::poll_readable(&[st.conn.as_fd_checked()?], deadline)?[0] {
                self.drain(st);
            } else if deadline.expired() {
                return Ok(false);
            }
        }
    }

    /// Read whatever the child (or for a forkserver child, the server) has
    /// said, without blocking. Under `reading`: a frame read by one thread
    /// is recorded before another can record the exit that follows it.
    fn drain(&self, st: &Started) {
        let _one = self.inner.reading.lock().unwrap_or_else(|e| e.into_inner());
        self.drain_locked(st);
    }

    /// [`drain`](Self::drain), `reading` already held.
    fn drain_locked(&self, st: &Started) {
        loop {
            match st.conn.recv_frame_nonblocking() {
                Ok(Some((bytes, _fds))) => match postcard::from_bytes::<Report>(&bytes) {
                    Ok(Report::Done(r)) => self.lock().outcome = Some(r),
                    Ok(Report::Exited(code)) if st.via_server => {
                        let mut s = self.lock();
                        s.exitcode.get_or_insert(code);
                    }
                    _ => {}
                },
                Ok(None) => return,
                Err(_) => {
                    // EOF or a broken frame: the child said all it will.
                    self.lock().conn_done = true;
                    return;
                }
            }
        }
    }

    /// The child's pidfd is readable: collect its status and last words.
    /// Returns whether the child is reaped (its exit code recorded).
    ///
    /// Any thread may get here for the same child (its own `join`, another
    /// thread's `is_alive`, or `active_children`'s cleanup), so the whole
    /// sequence — reap, read the last words, record the code — runs under
    /// `reading`: a second thread must neither reap a reaped child (ECHILD)
    /// nor see "exited" before the result is recorded.
    fn reap(&self, st: &Started) -> Result<bool> {
        let _one = self.inner.reading.lock().unwrap_or_else(|e| e.into_inner());
        if self.lock().exitcode.is_some() {
            return Ok(true);
        }
        let code = match os::reap(st.pidfd.as_fd())? {
            Some(c) => c,
            None => return Ok(false), // not yet: a spurious readiness
        };
        self.drain_locked(st);
        self.lock().exitcode = Some(code);
        Ok(true)
    }
}

/// A forkserver child's exit status: read its socket (skipping what the
/// child said) until the server's [`Report::Exited`]; `None` at EOF (the
/// server died) or after `deadline`.
fn server_status(c: &Connection, deadline: Deadline) -> Option<i32> {
    loop {
        let (b, _) = c.recv_frame(deadline).ok()?;
        if let Ok(Report::Exited(code)) = postcard::from_bytes::<Report>(&b) {
            return Some(code);
        }
    }
}

impl<R: DeserializeOwned> Process<R> {
    /// Join, then the task's return value. A task that panicked is
    /// [`Error::Panicked`] with the panic message; a child that died
    /// without a result (killed, or `exit()`ed) is [`Error::NoResult`]
    /// with its exit code. No Python equivalent (Python's `Process` drops
    /// the target's return value). The result is taken: a second call is
    /// [`Error::NoResult`].
    ///
    /// ```no_run
    /// # #[gilfree::task] fn seven() -> u8 { 7 }
    /// let p = gilfree::multiprocessing::Process::new(seven::TASK, ()).unwrap();
    /// p.start().unwrap();
    /// assert_eq!(p.result().unwrap(), 7);
    /// ```
    pub fn result(&self) -> Result<R> {
        self.join()?;
        let mut s = self.lock();
        let code = s.exitcode.unwrap_or(0);
        match s.outcome.take() {
            None => Err(Error::NoResult(code)),
            Some(Ok(bytes)) => decode_with_fds(&bytes, Vec::new(), "task result"),
            Some(Err(TaskFailure::Panicked(m))) => Err(Error::Panicked(m)),
            Some(Err(TaskFailure::Unknown(n))) => Err(Error::UnknownTask(n)),
            Some(Err(TaskFailure::BadArgs(m))) => Err(Error::Decode {
                what: "task arguments",
                reason: m,
            }),
            Some(Err(TaskFailure::BadResult(m))) => Err(Error::Encode {
                what: "task result",
                reason: m,
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// Start methods (forkserver lives in its own file).

/// The parent's side of the start handshake, for every start method.
fn handshake(st: &Started, start: Option<(&[u8], &[OwnedFd])>, deadline: Deadline) -> Result<()> {
    let fail = |why: String| -> Error {
        // Make sure it is gone, and reaped if it is ours.
        let _ = os::pidfd_signal(st.pidfd.as_fd(), libc::SIGKILL);
        if !st.via_server {
            let _ = os::poll_readable(
                &[st.pidfd.as_fd()],
                Deadline::after(Duration::from_secs(10)),
            );
            let _ = os::reap(st.pidfd.as_fd());
        }
        Error::StartFailed(why)
    };
    if let Some((msg, fds)) = start {
        let b: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
        if let Err(e) = st.conn.send_with_fds(msg, &b) {
            return Err(fail(format!("cannot send the start message: {e}")));
        }
    }
    loop {
        let ready = os::poll_readable(&[st.conn.as_fd_checked()?, st.pidfd.as_fd()], deadline)?;
        if ready[0] {
            match st.conn.recv_frame_nonblocking() {
                Ok(Some((b, _))) => match postcard::from_bytes::<Report>(&b) {
                    Ok(Report::Ready { .. }) => return Ok(()),
                    Ok(Report::Exited(code)) if st.via_server => {
                        return Err(fail(format!(
                            "the child died during the start handshake (exit code {code})"
                        )));
                    }
                    _ => return Err(fail("unexpected handshake message".into())),
                },
                Ok(None) => continue,
                Err(_) => {
                    let code = exit_code_of(st);
                    return Err(fail(format!(
                        "the child died during the start handshake (exit code {code})"
                    )));
                }
            }
        } else if ready[1] {
            let code = exit_code_of(st);
            return Err(fail(format!(
                "the child died during the start handshake (exit code {code})"
            )));
        } else if deadline.expired() {
            return Err(fail(format!(
                "the child did not answer the start handshake in time (pid {})",
                st.pid
            )));
        }
    }
}

/// A dead (or dying) child's exit code, for error messages.
fn exit_code_of(st: &Started) -> String {
    let _ = os::poll_readable(
        &[st.pidfd.as_fd()],
        Deadline::after(Duration::from_secs(10)),
    );
    let code = if st.via_server {
        server_status(&st.conn, Deadline::after(Duration::from_secs(10)))
    } else {
        os::reap(st.pidfd.as_fd()).ok().flatten()
    };
    code.map_or_else(|| "unknown".into(), |c| c.to_string())
}

/// Fork: the child runs `job` on its end of a fresh socket pair.
fn start_fork(job: Job, daemon: bool) -> Result<Started> {
    let _ = daemon; // the child sets its death signal from its identity
    let (ours, theirs) = os::socketpair()?;
    child::flush_stdio();
    let parent = os::getpid();
    // SAFETY: the child only runs the job and `_exit`s. A closure job is
    // refused unless this process has one thread; a task job in a
    // multi-threaded parent carries the risk documented on `Fork`.
    match unsafe { os::fork() }? {
        os::Forked::Child => {
            drop(ours);
            child::run_forked(theirs, job, parent)
        }
        os::Forked::Parent(pid) => {
            drop(theirs);
            // The child has its own copy of the job. Close our copies of
            // its descriptors now (their peers must see EOF when the child
            // is done with them), but free the request's memory with the
            // process handle: freeing it now writes heap pages the running
            // child still shares, a copy-on-write fault each.
            let parents_copy = match job {
                Job::Local(start, fds) => {
                    drop(fds);
                    Some(start)
                }
                other => {
                    drop(other);
                    None
                }
            };
            let pidfd = os::pidfd_open(pid)?;
            Ok(Started {
                pid,
                pidfd,
                conn: Connection::from_fd(ours),
                via_server: false,
                _parents_copy: parents_copy,
            })
        }
    }
}

/// Spawn: re-execute this binary (`posix_spawn`, i.e. vfork + exec) with
/// the child's socket and our pid in [`ENV_CHILD`]; its `init()` runs the
/// task.
fn start_spawn(daemon: bool) -> Result<Started> {
    // A daemon child sets its parent-death signal itself once it has its
    // start message (`child::run`), then checks that its parent is still
    // this process (our pid rides in `ENV_CHILD`): a parent that died
    // before that point is seen, as a death signal set before the exec
    // would have seen it.
    let _ = daemon;
    let (ours, theirs) = os::socketpair()?;
    let pid = os::spawn_self(
        ENV_CHILD,
        &format!("{},{}", theirs.as_raw_fd(), os::getpid()),
        &[theirs.as_fd()],
    )?;
    drop(theirs);
    // The child is reaped through its pidfd (posix_spawn left no other
    // handle to it).
    let pidfd = os::pidfd_open(pid)?;
    Ok(Started {
        pid,
        pidfd,
        conn: Connection::from_fd(ours),
        via_server: false,
        _parents_copy: None,
    })
}

// ---------------------------------------------------------------------------
// Free functions.

/// What [`current_process`] and [`parent_process`] describe: Python's
/// `multiprocessing.current_process()` object's `name`, `pid`, `daemon`.
///
/// ```
/// let me = gilfree::multiprocessing::current_process();
/// assert_eq!(me.pid, std::process::id() as i32);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Python's `name` (`"MainProcess"` in the main process).
    pub name: String,
    /// Python's `pid`.
    pub pid: i32,
    /// Python's `daemon`.
    pub daemon: bool,
}

/// Python's `multiprocessing.current_process()`.
///
/// ```
/// assert_eq!(gilfree::multiprocessing::current_process().name, "MainProcess");
/// ```
pub fn current_process() -> ProcessInfo {
    match child::current_identity() {
        Some(id) => ProcessInfo {
            name: id.name,
            pid: os::getpid(),
            daemon: id.daemon,
        },
        None => ProcessInfo {
            name: "MainProcess".into(),
            pid: os::getpid(),
            daemon: false,
        },
    }
}

/// Python's `multiprocessing.parent_process()`: `None` in the main process;
/// in a child, the process that started it (for a forkserver child, the
/// program, not the server).
///
/// ```
/// assert!(gilfree::multiprocessing::parent_process().is_none());
/// ```
pub fn parent_process() -> Option<ProcessInfo> {
    child::current_identity().map(|id| ProcessInfo {
        name: id.parent_name,
        pid: id.parent_pid,
        daemon: false,
    })
}

/// Python's `multiprocessing.active_children()`: the children started by
/// this process that are still running. Like Python it reaps children that
/// have exited.
///
/// ```
/// assert!(gilfree::multiprocessing::active_children().is_empty());
/// ```
pub fn active_children() -> Vec<Process> {
    reap_finished();
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|inner| Process {
            inner: inner.clone(),
            _r: PhantomData,
        })
        .collect()
}

/// Forget the children that have exited (reaping any that died unjoined),
/// as Python's `_cleanup()` at every start.
fn reap_finished() {
    let all: Vec<Arc<Inner>> = CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let dead: Vec<*const Inner> = all
        .into_iter()
        .filter(|inner| {
            let p: Process = Process {
                inner: inner.clone(),
                _r: PhantomData,
            };
            !p.is_alive()
        })
        .map(|i| Arc::as_ptr(&i))
        .collect();
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|i| !dead.contains(&Arc::as_ptr(i)));
}

/// In a freshly forked child: the parent's children and fork server are not
/// ours. Forget them (closing our copies of their descriptors) so that our
/// exit handler neither waits for our siblings nor removes the parent's
/// fork server socket.
pub(crate) fn after_fork_in_child() {
    if let Ok(mut v) = CHILDREN.try_lock() {
        v.clear();
    }
    forkserver::after_fork_in_child();
}

/// At normal exit (as Python's `_exit_function`): terminate daemonic
/// children, then join all children. A daemon that ignores SIGTERM gets
/// SIGKILL after a second.
extern "C" fn cleanup_at_exit() {
    let kids = active_children();
    for p in kids.iter().filter(|p| p.daemon()) {
        let _ = p.terminate();
    }
    for p in kids.iter().filter(|p| p.daemon()) {
        if !matches!(p.join_timeout(Duration::from_secs(1)), Ok(true)) {
            let _ = p.kill();
            let _ = p.join();
        }
    }
    for p in kids.iter().filter(|p| !p.daemon()) {
        let _ = p.join();
    }
    forkserver::shutdown();
}

/// Python's `os.cpu_count()` / `multiprocessing.cpu_count()`: the
/// machine's online CPUs.
///
/// ```
/// assert!(gilfree::multiprocessing::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    os::cpu_count()
}

/// Python 3.13's `os.process_cpu_count()`: the CPUs this process may run
/// on (its affinity mask), at most [`cpu_count`].
///
/// ```
/// use gilfree::multiprocessing::{cpu_count, process_cpu_count};
/// assert!(process_cpu_count() >= 1 && process_cpu_count() <= cpu_count().max(process_cpu_count()));
/// ```
pub fn process_cpu_count() -> usize {
    os::affinity_cpu_count()
}
