//! How a `Process` is described before it starts: Python's `Process(...)`
//! keyword arguments ([`ProcessBuilder`]) and contexts ([`Context`]).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::child::{self, Fault};
use super::children::{FORK_CLOSURE, Record, State, Target};
use super::connection::encode_with_fds;
use super::error::Result;
use super::method::{StartMethod, get_start_method};
use super::process::{Process, Unknown};
use super::task::{Task, TaskFailure};

/// The default time a child has to answer its start handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// [`Connection`](super::Connection) among them is duplicated and travels with them.
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
    /// [`Process::start`] refuses with [`Error::ForkRefused`](super::Error::ForkRefused) when the start
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
            postcard::to_allocvec(&r).map_err(|e| TaskFailure::BadResult {
                task: FORK_CLOSURE.to_string(),
                reason: e.to_string(),
            })
        };
        self.build(Target::Closure(Box::new(run)))
    }

    fn build<R>(self, target: Target) -> Process<R> {
        let task = match &target {
            Target::Task { name, .. } => name,
            Target::Closure(_) => FORK_CLOSURE,
        };
        let me = child::current_identity();
        let n = COUNTER.fetch_add(1, Relaxed);
        let name = self.name.unwrap_or_else(|| match &me {
            Some(id) => format!("{}:{n}", id.name),
            None => format!("Process-{n}"),
        });
        let daemon = self
            .daemon
            .unwrap_or(me.map(|id| id.daemon).unwrap_or(false));
        Process::from_record(Arc::new(Record {
            name,
            task,
            daemon,
            method: self.method.unwrap_or_else(get_start_method),
            handshake_timeout: self.handshake_timeout,
            fault: self.fault,
            target: Mutex::new(Some(target)),
            started: std::sync::OnceLock::new(),
            state: Mutex::new(State::default()),
            reading: Mutex::new(()),
        }))
    }
}

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
}
