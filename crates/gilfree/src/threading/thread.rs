//! `Thread`: Python's `threading.Thread`, and the module functions around it
//! (`current_thread`, `main_thread`, `enumerate`, `active_count`,
//! `get_ident`, `get_native_id`, `excepthook`), plus Python's "wait for
//! non-daemon threads at exit" as [`main`] / [`exit_guard`].
//!
//! Waiting for a thread's end never polls a `std::thread::JoinHandle`: the
//! OS thread is detached, and `join_timeout` is one futex wait with a
//! deadline.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use super::Error;
use crate::raw::RawLife;
use crate::raw::life::{DONE, NEW, RUNNING, STARTING};
use crate::sys::Deadline;

/// What kind of thread a [`Thread`] stands for (Python's classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Made by gilfree (`Thread`).
    Made,
    /// The process's main thread (`_MainThread`).
    Main,
    /// A thread gilfree did not start, seen through `current_thread`
    /// (`_DummyThread`).
    Dummy,
}

type Job = Box<dyn FnOnce() + Send>;

/// The untyped state of one thread, shared by every handle to it.
struct Core {
    name: String,
    daemon: bool,
    kind: Kind,
    stack_size: Option<usize>,
    life: RawLife,
    ident: OnceLock<u64>,
    native_id: OnceLock<u64>,
    /// The target, wrapped so that it stores its own result; taken by the
    /// new thread.
    job: Mutex<Option<Job>>,
    /// Set (before `DONE`) if the target panicked: the panic message.
    panic: OnceLock<String>,
}

// ---------------------------------------------------------------------------
// Thread identity: the thread-local record of "who am I".

/// Python's `get_ident()` of the main thread.
const MAIN_IDENT: u64 = 1;

/// Idents are never reused (Python allows reuse; we don't need it).
static NEXT_IDENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(2);

/// Python's `_counter`, shared by `Thread-N` and `Dummy-N` names.
static NAME_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_name(prefix: &str) -> String {
    let n = NAME_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{n}")
}

struct Local {
    ident: Cell<u64>,
    core: RefCell<Option<Arc<Core>>>,
    /// This thread was started by gilfree: its panics are reported by the
    /// excepthook instead of the Rust panic hook.
    made: Cell<bool>,
    /// Where the last panic of this thread happened (from the panic hook).
    panic_location: RefCell<Option<String>>,
}

impl Drop for Local {
    fn drop(&mut self) {
        // The thread is ending: its own thread-locals are (almost) all gone,
        // since this one was registered first and is destroyed last. Now it
        // is no longer alive for `join`, `is_alive` or `enumerate`.
        if let Some(core) = self.core.get_mut().take()
            && core.kind != Kind::Main
        {
            unregister(&core);
            core.life.advance(DONE);
        }
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            ident: Cell::new(0),
            core: RefCell::new(None),
            made: Cell::new(false),
            panic_location: RefCell::new(None),
        }
    };
}

fn is_main_os_thread() -> bool {
    rustix::thread::gettid().as_raw_nonzero().get()
        == rustix::process::getpid().as_raw_nonzero().get()
}

fn local_ident(l: &Local) -> u64 {
    let id = l.ident.get();
    if id != 0 {
        return id;
    }
    let id = if is_main_os_thread() {
        MAIN_IDENT
    } else {
        NEXT_IDENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    };
    l.ident.set(id);
    id
}

/// The current thread's identifier: a nonzero integer that is unique among
/// all threads of this process, for its whole life (Python:
/// `threading.get_ident()`).
///
/// Python's may be reused after a thread exits; gilfree's never are. It is
/// the [`Thread::ident`] of [`current_thread`].
///
/// ```
/// use gilfree::threading::{current_thread, get_ident};
/// assert_eq!(current_thread().ident(), Some(get_ident()));
/// ```
pub fn get_ident() -> u64 {
    LOCAL
        .try_with(local_ident)
        // Only during the thread's very last teardown.
        .unwrap_or_else(|_| NEXT_IDENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// The kernel's id of the current thread (Python:
/// `threading.get_native_id()`): the Linux tid, as `ps -L` and `top -H`
/// show it. Unlike [`get_ident`], the kernel may reuse it once the thread
/// has exited.
///
/// ```
/// let tid = gilfree::threading::get_native_id();
/// assert!(tid > 0);
/// ```
pub fn get_native_id() -> u64 {
    rustix::thread::gettid().as_raw_nonzero().get() as u64
}

// ---------------------------------------------------------------------------
// The registry: Python's `_active` (and `_limbo`).

static REGISTRY: Mutex<Vec<Arc<Core>>> = Mutex::new(Vec::new());
static MAIN: OnceLock<Arc<Core>> = OnceLock::new();

fn registry() -> std::sync::MutexGuard<'static, Vec<Arc<Core>>> {
    // No user code runs under this lock, so it cannot be poisoned in
    // practice; if it is, the list itself is still consistent.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn register(core: &Arc<Core>) {
    registry().push(core.clone());
}

fn unregister(core: &Arc<Core>) {
    registry().retain(|c| !Arc::ptr_eq(c, core));
}

fn main_core() -> &'static Arc<Core> {
    MAIN.get_or_init(|| {
        let core = Arc::new(Core {
            name: "MainThread".to_owned(),
            daemon: false,
            kind: Kind::Main,
            stack_size: None,
            life: RawLife::new(RUNNING),
            ident: OnceLock::from(MAIN_IDENT),
            native_id: OnceLock::from(rustix::process::getpid().as_raw_nonzero().get() as u64),
            job: Mutex::new(None),
            panic: OnceLock::new(),
        });
        // The main thread is always first in `enumerate()`, as in Python.
        registry().insert(0, core.clone());
        core
    })
}

fn current_core() -> Arc<Core> {
    let found = LOCAL.try_with(|l| {
        if let Some(c) = &*l.core.borrow() {
            return c.clone();
        }
        let ident = local_ident(l);
        let core = if ident == MAIN_IDENT {
            main_core().clone()
        } else {
            // A thread gilfree did not start: Python's `_DummyThread`,
            // alive and daemonic, registered on first sight. Unlike Python's,
            // it leaves `enumerate()` when its thread exits.
            let core = Arc::new(Core {
                name: next_name("Dummy"),
                daemon: true,
                kind: Kind::Dummy,
                stack_size: None,
                life: RawLife::new(RUNNING),
                ident: OnceLock::from(ident),
                native_id: OnceLock::from(get_native_id()),
                job: Mutex::new(None),
                panic: OnceLock::new(),
            });
            register(&core);
            core
        };
        *l.core.borrow_mut() = Some(core.clone());
        core
    });
    found.unwrap_or_else(|_| {
        // The thread is in its last teardown (a thread-local destructor
        // asked): give it an unregistered, already-finished record.
        Arc::new(Core {
            name: next_name("Dummy"),
            daemon: true,
            kind: Kind::Dummy,
            stack_size: None,
            life: RawLife::new(DONE),
            ident: OnceLock::from(get_ident()),
            native_id: OnceLock::from(get_native_id()),
            job: Mutex::new(None),
            panic: OnceLock::new(),
        })
    })
}

// ---------------------------------------------------------------------------
// Thread and its builder.

/// A thread of control: Python's `threading.Thread`.
///
/// Build it with [`Thread::new`], [`Thread::from_runnable`] or
/// [`Thread::builder`], then [`start`](Thread::start) it and
/// [`join`](Thread::join) it, as in Python. `T` is what the target returns;
/// a plain `Thread` (`Thread<()>`) is Python's thread exactly.
///
/// Handles from [`current_thread`], [`main_thread`], [`enumerate`] and
/// [`Thread::handle`] are `Thread<()>` views of the same thread: they
/// compare equal to it and `join` on them waits for the same end, but only
/// the `Thread<T>` that built the thread hands back the target's value.
///
/// Differences from Python:
/// - `join(timeout)` is [`join`](Thread::join) and
///   [`join_timeout`](Thread::join_timeout), which returns whether the thread
///   ended (Python returns `None` and you check `is_alive()`).
/// - `join` returns the target's value (`Ok(&T)`), or
///   [`Error::ThreadPanicked`] if the target panicked (Python's join ignores
///   exceptions; its excepthook reports them, as ours does too).
/// - The name and the daemon flag are set by the builder and then fixed.
/// - Subclassing and overriding `run` is implementing [`Runnable`].
/// - Dropping a started `Thread` neither stops nor waits for it (as
///   dropping the last reference in Python); [`main`] / [`exit_guard`]
///   still wait for it at exit unless it is a daemon.
///
/// ```
/// use gilfree::threading::Thread;
///
/// let t = Thread::builder().name("adder").target(|| 40 + 2);
/// assert_eq!(t.name(), "adder");
/// assert!(!t.is_alive());
/// t.start().unwrap();
/// assert_eq!(*t.join().unwrap(), 42);
/// assert!(!t.is_alive());
/// ```
pub struct Thread<T = ()> {
    core: Arc<Core>,
    /// The target's value; views of a thread get their own, already
    /// filled with `()`.
    slot: Arc<Slot<T>>,
    /// `Thread<T>` is `Sync` only if `&T` may be shared (join hands out
    /// `&T`), and `Send` if `T` is.
    _marker: PhantomData<OnceLock<T>>,
}

/// The target's value: written once by the thread, read by joiners.
struct Slot<T>(OnceLock<T>);

// SAFETY: the only `&T` that crosses threads through a `Slot` is handed out
// by `Thread<T>`, whose own `Sync` needs `T: Sync` (its `_marker`). The
// worker thread only *moves* a `T` in (needs `T: Send`), and does so before
// publishing `DONE` with `Release`, which joiners read with `Acquire`.
unsafe impl<T: Send> Sync for Slot<T> {}
// SAFETY: as above; sending the slot sends at most a `T`.
unsafe impl<T: Send> Send for Slot<T> {}

impl Clone for Thread<()> {
    /// Another handle to the same thread.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(|| ());
    /// assert_eq!(t.clone(), t);
    /// ```
    fn clone(&self) -> Self {
        Thread::view(self.core.clone())
    }
}

impl Thread<()> {
    fn view(core: Arc<Core>) -> Self {
        Thread {
            core,
            slot: Arc::new(Slot(OnceLock::from(()))),
            _marker: PhantomData,
        }
    }
}

impl Thread<()> {
    /// A thread that will run `runnable.run()` (Python: a subclass of
    /// `Thread` that overrides `run()`), named `Thread-N`.
    ///
    /// ```
    /// use gilfree::threading::{Runnable, Thread};
    /// use std::sync::mpsc;
    ///
    /// struct Greeter(mpsc::Sender<String>);
    /// impl Runnable for Greeter {
    ///     fn run(self) {
    ///         let me = gilfree::threading::current_thread();
    ///         self.0.send(format!("hello from {}", me.name())).unwrap();
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let t = Thread::builder().name("greeter").runnable(Greeter(tx));
    /// t.start().unwrap();
    /// t.join().unwrap();
    /// assert_eq!(rx.recv().unwrap(), "hello from greeter");
    /// ```
    pub fn from_runnable<R: Runnable>(runnable: R) -> Thread<()> {
        Thread::builder().runnable(runnable)
    }
}

impl<T: Send + 'static> Thread<T> {
    /// A thread that will run `target` once started (Python:
    /// `threading.Thread(target=f)`), named `Thread-N (f)` and daemonic if
    /// the current thread is.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(|| "done");
    /// assert!(t.name().starts_with("Thread-"));
    /// t.start().unwrap();
    /// assert_eq!(*t.join().unwrap(), "done");
    /// ```
    pub fn new<F>(target: F) -> Thread<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        Thread::builder().target(target)
    }
}

impl Thread {
    /// A [`ThreadBuilder`]: name, daemon flag, stack size, then the target.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::builder()
    ///     .name("worker")
    ///     .daemon(true)
    ///     .stack_size(256 * 1024)
    ///     .target(|| ());
    /// assert!(t.is_daemon());
    /// ```
    pub fn builder() -> ThreadBuilder {
        ThreadBuilder::default()
    }
}

impl<T> Thread<T> {
    /// Start the thread (Python: `thread.start()`). When it returns, the
    /// thread is alive and has its [`ident`](Thread::ident) and
    /// [`native_id`](Thread::native_id).
    ///
    /// # Errors
    /// [`Error::AlreadyStarted`] if it was started before (Python's
    /// `RuntimeError: threads can only be started once`);
    /// [`Error::Spawn`] if the OS refused (the thread can be started again).
    ///
    /// ```
    /// use gilfree::threading::{Error, Thread};
    /// let t = Thread::new(|| ());
    /// t.start().unwrap();
    /// assert_eq!(t.start(), Err(Error::AlreadyStarted));
    /// t.join().unwrap();
    /// ```
    pub fn start(&self) -> Result<(), Error> {
        start(&self.core)
    }

    /// Wait until the thread ends (Python: `thread.join()`), then hand back
    /// a reference to what its target returned. Any number of joins may wait
    /// at once, from any threads; every one sees the same result.
    ///
    /// # Errors
    /// - [`Error::NotStarted`]: the thread was never started.
    /// - [`Error::JoinSelf`]: a thread joining itself (it would wait
    ///   forever).
    /// - [`Error::ThreadPanicked`]: the target panicked (the excepthook has
    ///   already reported it).
    ///
    /// ```
    /// use gilfree::threading::{Error, Thread, current_thread};
    /// let t = Thread::new(|| vec![1, 2]);
    /// assert_eq!(t.join(), Err(Error::NotStarted));
    /// t.start().unwrap();
    /// assert_eq!(t.join().unwrap(), &[1, 2]);
    /// assert_eq!(current_thread().join(), Err(Error::JoinSelf));
    /// ```
    pub fn join(&self) -> Result<&T, Error> {
        self.check_joinable()?;
        if !self.core.life.wait_for(DONE, Deadline::Never) {
            // Its start failed while we waited.
            return Err(Error::NotStarted);
        }
        self.outcome()
    }

    /// Wait at most `timeout` for the thread to end (Python:
    /// `thread.join(timeout)` followed by `thread.is_alive()`).
    ///
    /// Returns `Ok(Some(&value))` if it ended, `Ok(None)` if it is still
    /// running when the timeout passes. A duration too large for the clock
    /// waits forever.
    ///
    /// # Errors
    /// As [`join`](Thread::join).
    ///
    /// ```
    /// use gilfree::threading::{Lock, Thread};
    /// use std::time::Duration;
    /// use std::sync::Arc;
    ///
    /// let gate = Arc::new(Lock::new(()));
    /// let held = gate.acquire();
    /// let g = gate.clone();
    /// let t = Thread::new(move || drop(g.acquire()));
    /// t.start().unwrap();
    /// assert_eq!(t.join_timeout(Duration::from_millis(10)), Ok(None));
    /// drop(held);
    /// assert_eq!(t.join_timeout(Duration::from_secs(60)), Ok(Some(&())));
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<Option<&T>, Error> {
        self.check_joinable()?;
        if self.core.life.wait_for(DONE, Deadline::after(timeout)) {
            self.outcome().map(Some)
        } else if self.core.life.phase() == NEW {
            Err(Error::NotStarted) // its start failed while we waited
        } else {
            Ok(None)
        }
    }

    /// Join, then move the target's value out (consumes the handle).
    ///
    /// # Errors
    /// As [`join`](Thread::join).
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(|| String::from("mine"));
    /// t.start().unwrap();
    /// let s: String = t.into_result().unwrap();
    /// assert_eq!(s, "mine");
    /// ```
    pub fn into_result(self) -> Result<T, Error> {
        self.join()?;
        // The thread dropped its reference to the slot before `DONE`, and
        // views have slots of their own, so this is the last reference.
        match Arc::try_unwrap(self.slot) {
            Ok(cell) => Ok(cell.0.into_inner().expect("joined without panic")),
            Err(_) => unreachable!("a finished thread's slot is not shared"),
        }
    }

    fn check_joinable(&self) -> Result<(), Error> {
        if self.core.life.phase() == NEW {
            return Err(Error::NotStarted);
        }
        if self.core.ident.get() == Some(&get_ident()) {
            return Err(Error::JoinSelf);
        }
        Ok(())
    }

    fn outcome(&self) -> Result<&T, Error> {
        if let Some(message) = self.core.panic.get() {
            return Err(Error::ThreadPanicked {
                name: self.core.name.clone(),
                message: message.clone(),
            });
        }
        Ok(self.slot.0.get().expect("a finished thread has its value"))
    }

    /// Whether the thread is running: from the return of
    /// [`start`](Thread::start) until its target has returned or panicked
    /// (Python: `thread.is_alive()`).
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(|| ());
    /// assert!(!t.is_alive());
    /// t.start().unwrap();
    /// t.join().unwrap();
    /// assert!(!t.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        matches!(self.core.life.phase(), STARTING | RUNNING)
    }

    /// The thread's name (Python: `thread.name`): the builder's, or
    /// `Thread-N` / `Thread-N (target)` as Python numbers them,
    /// `MainThread`, or `Dummy-N` for a thread gilfree did not start.
    ///
    /// ```
    /// assert_eq!(gilfree::threading::main_thread().name(), "MainThread");
    /// ```
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The thread's identifier, `None` before it is started (Python:
    /// `thread.ident`). It is what [`get_ident`] returns in that thread.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(gilfree::threading::get_ident);
    /// assert_eq!(t.ident(), None);
    /// t.start().unwrap();
    /// assert_eq!(Some(*t.join().unwrap()), t.ident());
    /// ```
    pub fn ident(&self) -> Option<u64> {
        self.core.ident.get().copied()
    }

    /// The kernel's thread id, `None` before it is started (Python:
    /// `thread.native_id`). It is what [`get_native_id`] returns in that
    /// thread.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(gilfree::threading::get_native_id);
    /// t.start().unwrap();
    /// assert_eq!(Some(*t.join().unwrap()), t.native_id());
    /// ```
    pub fn native_id(&self) -> Option<u64> {
        self.core.native_id.get().copied()
    }

    /// Whether this is a daemon thread (Python: `thread.daemon`): one that
    /// [`main`] and [`exit_guard`] do not wait for.
    ///
    /// ```
    /// use gilfree::threading::{Thread, main_thread};
    /// assert!(!main_thread().is_daemon());
    /// assert!(Thread::builder().daemon(true).target(|| ()).is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.core.daemon
    }

    /// A `Thread<()>` handle to the same thread, for lists and other
    /// threads (it joins, but does not hand out the value).
    ///
    /// ```
    /// let t = gilfree::threading::Thread::new(|| 5);
    /// let h = t.handle();
    /// t.start().unwrap();
    /// h.join().unwrap();
    /// assert!(!t.is_alive());
    /// assert_eq!(h, t.handle());
    /// ```
    pub fn handle(&self) -> Thread {
        Thread::view(self.core.clone())
    }
}

impl<T, U> PartialEq<Thread<U>> for Thread<T> {
    fn eq(&self, other: &Thread<U>) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }
}
impl<T> Eq for Thread<T> {}

impl<T> std::hash::Hash for Thread<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.core) as usize).hash(state)
    }
}

impl<T> fmt::Debug for Thread<T> {
    /// Python's repr: `<Thread(worker, started daemon 7)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.core.kind {
            Kind::Made => "Thread",
            Kind::Main => "_MainThread",
            Kind::Dummy => "_DummyThread",
        };
        let status = match self.core.life.phase() {
            NEW => "initial",
            DONE => "stopped",
            _ => "started",
        };
        write!(f, "<{class}({}, {status}", self.core.name)?;
        if self.core.daemon {
            write!(f, " daemon")?;
        }
        if let Some(id) = self.ident() {
            write!(f, " {id}")?;
        }
        write!(f, ")>")
    }
}

/// What a thread runs, as a type: Python's "subclass `Thread` and override
/// `run()`".
///
/// ```
/// use gilfree::threading::{Runnable, Thread};
/// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
///
/// struct Count(Arc<AtomicU32>);
/// impl Runnable for Count {
///     fn run(self) {
///         self.0.fetch_add(1, Ordering::SeqCst);
///     }
/// }
///
/// let n = Arc::new(AtomicU32::new(0));
/// let t = Thread::from_runnable(Count(n.clone()));
/// t.start().unwrap();
/// t.join().unwrap();
/// assert_eq!(n.load(Ordering::SeqCst), 1);
/// ```
pub trait Runnable: Send + 'static {
    /// The thread's activity (Python: `Thread.run`).
    fn run(self);
}

/// Configures a thread before it is made (Python: the keyword arguments of
/// `threading.Thread(...)`).
///
/// ```
/// use gilfree::threading::Thread;
/// let t = Thread::builder().name("io").daemon(false).target(|| 1);
/// assert_eq!(t.name(), "io");
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a builder does nothing until given a target"]
pub struct ThreadBuilder {
    name: Option<String>,
    daemon: Option<bool>,
    stack_size: Option<usize>,
}

impl ThreadBuilder {
    /// The thread's name (Python: `name=`); an empty name means the
    /// default, as in Python.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::builder().name("x").target(|| ());
    /// assert_eq!(t.name(), "x");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into()).filter(|n| !n.is_empty());
        self
    }

    /// Whether the thread is a daemon (Python: `daemon=`). The default is
    /// the current thread's flag, as in Python: `false` from the main
    /// thread, `true` from a thread gilfree did not start.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::builder().daemon(true).target(|| ());
    /// assert!(t.is_daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// The new thread's stack size in bytes (Python's global
    /// `threading.stack_size(n)`, per thread here). The OS rounds it up to
    /// its minimum.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::builder().stack_size(1 << 20).target(|| 7);
    /// t.start().unwrap();
    /// assert_eq!(*t.join().unwrap(), 7);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// A thread that will run `target` (Python: `target=`). Unnamed, it is
    /// called `Thread-N (name of target)`.
    ///
    /// ```
    /// fn work() -> u8 { 3 }
    /// let t = gilfree::threading::Thread::builder().target(work);
    /// assert!(t.name().ends_with(" (work)"));
    /// ```
    pub fn target<T, F>(self, target: F) -> Thread<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let label = target_label(std::any::type_name::<F>());
        let slot = Arc::new(Slot(OnceLock::new()));
        let out = slot.clone();
        let job: Job = Box::new(move || {
            let _ = out.0.set(target());
            // `out` is dropped here, before the thread reaches `DONE`.
        });
        Thread {
            core: self.core(Some(label), job),
            slot,
            _marker: PhantomData,
        }
    }

    /// A thread that will run `runnable.run()` (Python: a `Thread`
    /// subclass), named `Thread-N` unless named here.
    ///
    /// ```
    /// use gilfree::threading::{Runnable, Thread};
    /// struct Nop;
    /// impl Runnable for Nop { fn run(self) {} }
    /// let t = Thread::builder().name("nop").runnable(Nop);
    /// t.start().unwrap();
    /// t.join().unwrap();
    /// ```
    pub fn runnable<R: Runnable>(self, runnable: R) -> Thread<()> {
        let slot = Arc::new(Slot(OnceLock::new()));
        let out = slot.clone();
        let job: Job = Box::new(move || {
            runnable.run();
            let _ = out.0.set(());
        });
        Thread {
            core: self.core(None, job),
            slot,
            _marker: PhantomData,
        }
    }

    /// Build and start in one step.
    ///
    /// # Errors
    /// [`Error::Spawn`] if the OS refused to make the thread.
    ///
    /// ```
    /// let t = gilfree::threading::Thread::builder().name("quick").spawn(|| 1).unwrap();
    /// assert_eq!(t.into_result().unwrap(), 1);
    /// ```
    pub fn spawn<T, F>(self, target: F) -> Result<Thread<T>, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let t = self.target(target);
        t.start()?;
        Ok(t)
    }

    fn core(self, label: Option<String>, job: Job) -> Arc<Core> {
        let name = match (self.name, label) {
            (Some(n), _) => n,
            (None, Some(l)) => format!("{} ({l})", next_name("Thread")),
            (None, None) => next_name("Thread"),
        };
        let daemon = self.daemon.unwrap_or_else(|| current_core().daemon);
        Arc::new(Core {
            name,
            daemon,
            kind: Kind::Made,
            stack_size: self.stack_size,
            life: RawLife::new(NEW),
            ident: OnceLock::new(),
            native_id: OnceLock::new(),
            job: Mutex::new(Some(job)),
            panic: OnceLock::new(),
        })
    }
}

/// Python appends `target.__name__`; the nearest Rust has is the type name
/// of the function (`my_crate::work` gives `work`); a closure becomes
/// `<closure in f>` after the function that wrote it.
fn target_label(type_name: &str) -> String {
    // Drop generic arguments, then split the path.
    let base = type_name.split('<').next().unwrap_or(type_name);
    let parts: Vec<&str> = base.split("::").filter(|p| !p.is_empty()).collect();
    let named = parts.iter().rev().find(|p| !p.starts_with("{{"));
    match (parts.last(), named) {
        (Some(last), Some(outer)) if last.starts_with("{{") => format!("<closure in {outer}>"),
        (Some(last), _) => (*last).to_owned(),
        (None, _) => type_name.to_owned(),
    }
}

fn start(core: &Arc<Core>) -> Result<(), Error> {
    if !core.life.claim_start() {
        return Err(Error::AlreadyStarted);
    }
    install_panic_hook();
    // Python's `_limbo`: a starting thread is already in `enumerate()`.
    register(core);
    // The ident is known before the OS thread exists, so that the thread
    // can never be seen without one.
    let _ = core
        .ident
        .set(NEXT_IDENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let mut b = std::thread::Builder::new().name(core.name.clone());
    if let Some(n) = core.stack_size {
        b = b.stack_size(n);
    }
    let theirs = core.clone();
    if let Err(e) = b.spawn(move || bootstrap(theirs)) {
        unregister(core);
        core.life.advance(NEW);
        return Err(Error::Spawn(e.to_string()));
    }
    // Python's `self._started.wait()`.
    core.life.wait_for(RUNNING, Deadline::Never);
    Ok(())
}

/// The first and last thing a gilfree thread does (Python's
/// `Thread._bootstrap_inner`).
fn bootstrap(core: Arc<Core>) {
    let _ = core.native_id.set(get_native_id());
    let registered = LOCAL.try_with(|l| {
        l.ident.set(*core.ident.get().expect("set by start"));
        l.made.set(true);
        *l.core.borrow_mut() = Some(core.clone());
    });
    if registered.is_err() {
        unreachable!("a new thread has its thread-locals");
    }
    core.life.advance(RUNNING);

    let job = core
        .job
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("a thread's target runs once");
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(job)) {
        let message = panic_message(&*payload);
        let location = LOCAL
            .try_with(|l| l.panic_location.borrow_mut().take())
            .ok()
            .flatten();
        let _ = core.panic.set(message.clone());
        let args = ExceptHookArgs {
            thread: Some(Thread::view(core.clone())),
            message,
            location,
            payload: &*payload,
        };
        run_excepthook(&args);
    }
    // `DONE` comes from `Local`'s destructor, after this thread's other
    // thread-locals are gone.
}

// ---------------------------------------------------------------------------
// Module functions.

/// The `Thread` of the caller (Python: `threading.current_thread()`).
///
/// For a thread gilfree did not start (one from `std::thread::spawn`, a
/// pool, a C library), it is a `Dummy-N` thread, alive and daemonic, as
/// Python's `_DummyThread`; unlike Python's, it leaves [`enumerate`] when
/// that thread exits, and joining it waits for that exit.
///
/// ```
/// use gilfree::threading::{Thread, current_thread};
/// let t = Thread::builder().name("me").target(|| current_thread().name().to_owned());
/// t.start().unwrap();
/// assert_eq!(t.join().unwrap(), "me");
/// ```
pub fn current_thread() -> Thread {
    Thread::view(current_core())
}

/// The process's main thread, named `MainThread` (Python:
/// `threading.main_thread()`).
///
/// ```
/// let m = gilfree::threading::main_thread();
/// assert_eq!(m.name(), "MainThread");
/// assert!(m.is_alive());
/// ```
pub fn main_thread() -> Thread {
    Thread::view(main_core().clone())
}

/// Every thread alive now: started gilfree threads, the main thread, and
/// the foreign threads that have called [`current_thread`] (Python:
/// `threading.enumerate()`). The main thread comes first; the others in
/// the order they were started or first seen.
///
/// ```
/// use gilfree::threading::{enumerate, main_thread};
/// assert!(enumerate().contains(&main_thread()));
/// ```
pub fn enumerate() -> Vec<Thread> {
    main_core();
    registry()
        .iter()
        .filter(|c| c.life.phase() != DONE)
        .map(|c| Thread::view(c.clone()))
        .collect()
}

/// How many threads [`enumerate`] would list (Python:
/// `threading.active_count()`).
///
/// ```
/// assert!(gilfree::threading::active_count() >= 1);
/// ```
pub fn active_count() -> usize {
    enumerate().len()
}

// ---------------------------------------------------------------------------
// Waiting for non-daemon threads at exit.

/// Wait for every non-daemon thread gilfree started, until none is left
/// (Python's `threading._shutdown`, run when the interpreter exits).
/// Threads those threads start in the meantime are waited for too; daemon
/// threads and threads gilfree did not start are not.
///
/// ```
/// gilfree::threading::Thread::new(|| ()).start().unwrap();
/// gilfree::threading::wait_for_non_daemon_threads();
/// ```
pub fn wait_for_non_daemon_threads() {
    let me = get_ident();
    loop {
        let pending: Vec<Arc<Core>> = registry()
            .iter()
            .filter(|c| {
                c.kind == Kind::Made
                    && !c.daemon
                    && c.life.phase() != DONE
                    && c.ident.get() != Some(&me)
            })
            .cloned()
            .collect();
        if pending.is_empty() {
            return;
        }
        for c in pending {
            c.life.wait_for(DONE, Deadline::Never);
        }
    }
}

/// Run `body` as the program's main, then wait for non-daemon threads, as
/// Python does when its main module ends.
///
/// **Rust does not wait by itself**: when a plain `fn main` returns, the
/// process exits and every other thread is killed mid-work, daemon or not.
/// Wrap `main`'s body in this (or hold an [`exit_guard`]) to get Python's
/// behaviour. Waiting also happens if `body` panics.
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
/// let done = Arc::new(AtomicBool::new(false));
/// let d = done.clone();
/// let out = gilfree::threading::main(move || {
///     gilfree::threading::Thread::new(move || d.store(true, Ordering::SeqCst))
///         .start()
///         .unwrap();
///     "main's own result"
/// });
/// assert!(done.load(Ordering::SeqCst)); // the thread was waited for
/// assert_eq!(out, "main's own result");
/// ```
pub fn main<R>(body: impl FnOnce() -> R) -> R {
    let _guard = exit_guard();
    body()
}

/// A guard that, when dropped, waits for non-daemon threads (see [`main`]):
/// put `let _g = gilfree::threading::exit_guard();` first in `fn main`.
///
/// ```
/// fn main() {
///     let _g = gilfree::threading::exit_guard();
///     gilfree::threading::Thread::new(|| println!("finishes before exit"))
///         .start()
///         .unwrap();
/// } // _g waits here
/// # main();
/// ```
pub fn exit_guard() -> ExitGuard {
    ExitGuard { _private: () }
}

/// Waits for non-daemon threads when dropped; made by [`exit_guard`].
///
/// ```
/// let g: gilfree::threading::ExitGuard = gilfree::threading::exit_guard();
/// drop(g); // waits (here: for nothing)
/// ```
#[must_use = "the guard waits when dropped; bind it with `let _g = ...`"]
#[derive(Debug)]
pub struct ExitGuard {
    _private: (),
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        wait_for_non_daemon_threads();
    }
}

// ---------------------------------------------------------------------------
// Excepthook.

/// What [`excepthook`] is told about a panic that ended a thread (Python:
/// `threading.ExceptHookArgs`).
///
/// Python's `exc_type`/`exc_value`/`exc_traceback` become the panic's
/// `message`, its `payload` and its `location` (file:line:column).
///
/// ```
/// use gilfree::threading::ExceptHookArgs;
/// let args = ExceptHookArgs { thread: None, message: "bad".into(), location: None, payload: &"bad" };
/// assert!(args.to_string().ends_with("bad"));
/// ```
#[derive(Debug)]
pub struct ExceptHookArgs<'a> {
    /// The thread that panicked (Python: `args.thread`, which may be
    /// `None`).
    pub thread: Option<Thread>,
    /// The panic message (Python: `str(args.exc_value)`).
    pub message: String,
    /// Where it panicked, if known (Python: the traceback).
    pub location: Option<String>,
    /// The panic payload itself (Python: `args.exc_value`).
    pub payload: &'a (dyn Any + Send),
}

impl fmt::Display for ExceptHookArgs<'_> {
    /// What the default hook prints: `Exception in thread NAME:`, then
    /// where and what.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.thread {
            Some(t) => writeln!(f, "Exception in thread {}:", t.name())?,
            None => writeln!(f, "Exception in thread {}:", get_ident())?,
        }
        match &self.location {
            Some(loc) => write!(f, "panicked at {loc}:\n{}", self.message),
            None => write!(f, "panicked: {}", self.message),
        }
    }
}

/// A replaceable excepthook: see [`set_excepthook`].
pub type ExceptHook = Arc<dyn Fn(&ExceptHookArgs<'_>) + Send + Sync>;

static HOOK: RwLock<Option<ExceptHook>> = RwLock::new(None);

/// The built-in excepthook (Python: `threading.__excepthook__`): prints
/// `Exception in thread NAME:` and the panic to stderr.
///
/// ```
/// // Put the default back after replacing it:
/// gilfree::threading::set_excepthook(gilfree::threading::default_excepthook);
/// ```
pub fn default_excepthook(args: &ExceptHookArgs<'_>) {
    eprintln!("{args}");
}

/// Replace the hook that reports a panic ending a gilfree thread (Python:
/// `threading.excepthook = hook`). It runs in the thread that panicked,
/// before `join` returns [`Error::ThreadPanicked`]. If the hook panics
/// itself, `Exception in threading.excepthook:` and that panic are printed.
///
/// gilfree threads report panics only through this hook: on the first
/// `start`, gilfree chains a Rust panic hook (`std::panic::set_hook`) that
/// stays silent for gilfree threads and calls the previous hook for all
/// others. A panic caught inside the target is therefore silent, as a
/// caught exception is in Python. A panic hook set later replaces gilfree's,
/// and then both it and the excepthook report.
///
/// ```
/// use gilfree::threading::{Thread, set_excepthook, default_excepthook};
/// set_excepthook(|args| eprintln!("oops in {}", args.thread.as_ref().unwrap().name()));
/// let t = Thread::new(|| panic!("boom"));
/// t.start().unwrap();
/// assert!(t.join().is_err());
/// set_excepthook(default_excepthook);
/// ```
pub fn set_excepthook(hook: impl Fn(&ExceptHookArgs<'_>) + Send + Sync + 'static) {
    *HOOK.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(hook));
}

/// The hook now in place (Python: reading `threading.excepthook`), so that
/// a replacement can call the previous one.
///
/// ```
/// use gilfree::threading::{excepthook, set_excepthook};
/// let previous = excepthook();
/// set_excepthook(move |args| previous(args));
/// ```
pub fn excepthook() -> ExceptHook {
    HOOK.read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| Arc::new(default_excepthook))
}

fn run_excepthook(args: &ExceptHookArgs<'_>) {
    let hook = excepthook();
    if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| hook(args))) {
        eprintln!("Exception in threading.excepthook:\n{}", panic_message(&*p));
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// Once per process: chain a panic hook that, in gilfree threads, records
/// where the panic happened instead of printing (the excepthook prints).
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::thread::panicking() {
        return; // `set_hook` refuses while panicking; try at the next start
    }
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let ours = LOCAL.try_with(|l| {
                if l.made.get() {
                    *l.panic_location.borrow_mut() = info.location().map(|loc| loc.to_string());
                    true
                } else {
                    false
                }
            });
            if !matches!(ours, Ok(true)) {
                previous(info);
            }
        }));
    });
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn target_labels() {
        assert_eq!(target_label("my_crate::work"), "work");
        assert_eq!(
            target_label("my_crate::main::{{closure}}"),
            "<closure in main>"
        );
        assert_eq!(target_label("alloc::vec::Vec<u8>"), "Vec");
        assert_eq!(
            target_label("a::f::{{closure}}::{{closure}}"),
            "<closure in f>"
        );
    }
}
