//! Starting a thread: `Thread::start` and what the new OS thread does
//! first and last (Python's `Thread.start` and `_bootstrap_inner`).

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use super::core::Core;
use super::excepthook::{ExceptHookArgs, install_panic_hook, panic_message, run_excepthook};
use super::handle::Thread;
use super::registry::{LOCAL, NEXT_IDENT, get_native_id, register, unregister};
use crate::raw::life::{NEW, RUNNING};
use crate::sys::Deadline;
use crate::threading::error::Error;

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
}

pub(super) fn start(core: &Arc<Core>) -> Result<(), Error> {
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
pub(super) fn bootstrap(core: Arc<Core>) {
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
