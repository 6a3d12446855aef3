//! `threading.excepthook`: what reports a panic that ended a gilfree
//! thread, and the process panic hook that hands such panics to it.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, RwLock};

use super::handle::Thread;
use super::registry::{LOCAL, get_ident};

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

pub(super) static HOOK: RwLock<Option<ExceptHook>> = RwLock::new(None);

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
/// before `join` returns [`Error::ThreadPanicked`](crate::threading::Error::ThreadPanicked). If the hook panics
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

pub(super) fn run_excepthook(args: &ExceptHookArgs<'_>) {
    let hook = excepthook();
    if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| hook(args))) {
        eprintln!("Exception in threading.excepthook:\n{}", panic_message(&*p));
    }
}

pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
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
pub(super) fn install_panic_hook() {
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
