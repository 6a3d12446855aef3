//! Who is who: each thread's identity (a thread-local record: ident, its
//! `Core`, panic bookkeeping) and the registry of live threads (Python's
//! `_active` and `_limbo`), with the main thread first.

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex, OnceLock};

use super::core::{Core, Kind};
use crate::raw::RawLife;
use crate::raw::life::{DONE, RUNNING};
use crate::sys::os::thread::{getpid, gettid, is_main_os_thread};

/// Python's `get_ident()` of the main thread.
pub(super) const MAIN_IDENT: u64 = 1;

/// Idents are never reused (Python allows reuse; we don't need it).
pub(super) static NEXT_IDENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(2);

/// Python's `_counter`, shared by `Thread-N` and `Dummy-N` names.
pub(super) static NAME_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(super) fn next_name(prefix: &str) -> String {
    let n = NAME_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{n}")
}

pub(super) struct Local {
    pub(super) ident: Cell<u64>,
    pub(super) core: RefCell<Option<Arc<Core>>>,
    /// This thread was started by gilfree: its panics are reported by the
    /// excepthook instead of the Rust panic hook.
    pub(super) made: Cell<bool>,
    /// Where the last panic of this thread happened (from the panic hook).
    pub(super) panic_location: RefCell<Option<String>>,
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
    pub(super) static LOCAL: Local = const {
        Local {
            ident: Cell::new(0),
            core: RefCell::new(None),
            made: Cell::new(false),
            panic_location: RefCell::new(None),
        }
    };
}

pub(super) fn local_ident(l: &Local) -> u64 {
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
/// the [`Thread::ident`](crate::threading::Thread::ident) of [`current_thread`](crate::threading::current_thread).
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
    u64::from(gettid())
}

pub(super) static REGISTRY: Mutex<Vec<Arc<Core>>> = Mutex::new(Vec::new());
pub(super) static MAIN: OnceLock<Arc<Core>> = OnceLock::new();

pub(super) fn registry() -> std::sync::MutexGuard<'static, Vec<Arc<Core>>> {
    // No user code runs under this lock, so it cannot be poisoned in
    // practice; if it is, the list itself is still consistent.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn register(core: &Arc<Core>) {
    registry().push(core.clone());
}

pub(super) fn unregister(core: &Arc<Core>) {
    registry().retain(|c| !Arc::ptr_eq(c, core));
}

pub(super) fn main_core() -> &'static Arc<Core> {
    MAIN.get_or_init(|| {
        let core = Arc::new(Core {
            name: "MainThread".to_owned(),
            daemon: false,
            kind: Kind::Main,
            stack_size: None,
            life: RawLife::new(RUNNING),
            ident: OnceLock::from(MAIN_IDENT),
            native_id: OnceLock::from(u64::from(getpid())),
            job: Mutex::new(None),
            panic: OnceLock::new(),
        });
        // The main thread is always first in `enumerate()`, as in Python.
        registry().insert(0, core.clone());
        core
    })
}

pub(super) fn current_core() -> Arc<Core> {
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
