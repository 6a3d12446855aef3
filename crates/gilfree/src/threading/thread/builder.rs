//! Making a thread: the `Thread` constructors, `ThreadBuilder` (Python's
//! keyword arguments to `threading.Thread(...)`) and `Runnable` (Python's
//! "subclass `Thread`, override `run`").

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

use super::core::{Core, Job, Kind};
use super::handle::{Slot, Thread};
use super::registry::{current_core, next_name};
use crate::raw::RawLife;
use crate::raw::life::NEW;
use crate::threading::error::Error;

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
pub(super) fn target_label(type_name: &str) -> String {
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
