//! A thread-pool task: a submitted closure and its future's state in one
//! allocation, and what a worker does with it (run, fail, cancel).
//!
//! A `Task<T, F>` is both the [`Future`]'s core (`Arc<dyn Core<T>>`) and
//! the job queue's entry (`Arc<dyn Runnable>`), so a submit costs that one
//! allocation.
//!
//! # Panics stay on the future
//!
//! A job that panics completes its future with [`Error::Panicked`], and,
//! as Python stays silent about a task's exception until `result()` is
//! called, nothing is printed. Rust's panic hook prints every panic as it
//! happens, before `catch_unwind` sees it, so the first task run installs
//! a wrapper around the hook in place then: a panic on a thread that is
//! running a task is not passed on; every other panic is. A hook the user
//! installs later replaces the wrapper and sees every panic (that is the
//! way to get task panics printed or logged).

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Once};

use super::future::{Core, Inner, panic_message};
use super::{Error, Future};
use crate::sys::atomic::{AtomicUsize, Ordering::Release};

/// A future's state and the closure that completes it.
pub(super) struct Task<T, F> {
    inner: Inner<T>,
    /// Taken by the one worker that popped the task.
    job: core::cell::UnsafeCell<Option<F>>,
}

// SAFETY: `job` is touched only by the worker that popped the task from the
// queue (once) and by drop; `inner` is Sync for `T: Send`.
unsafe impl<T: Send, F: Send> Sync for Task<T, F> {}

impl<T: Send, F: Send> Core<T> for Task<T, F> {
    #[inline]
    fn inner(&self) -> &Inner<T> {
        &self.inner
    }
}

/// What the queue holds: a task, type-erased.
pub(super) trait Runnable: Send + Sync {
    /// Run the job and complete the future (unless it was cancelled);
    /// `idle` is bumped just before the future completes, so that a caller
    /// woken by the result and submitting again finds this worker counted
    /// as idle (Python's `_idle_semaphore.release()`).
    fn run(self: Arc<Self>, idle: &AtomicUsize);
    /// Fail the future without running the job (a broken pool); the job is
    /// dropped. Only for tasks drained from the queue.
    fn fail(self: Arc<Self>, e: Error);
    /// Cancel the future (shutdown with `cancel_futures`); the job is
    /// dropped. Only for tasks drained from the queue.
    fn cancel(self: Arc<Self>);
}

impl<T, F> Task<T, F>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    /// A pending task that will run `job`.
    #[inline]
    pub(super) fn new(job: F) -> Arc<Self> {
        Arc::new(Task {
            inner: Inner::new(),
            job: core::cell::UnsafeCell::new(Some(job)),
        })
    }

    /// The closure of a task drained from the queue (it will never run):
    /// dropped now rather than when the last future handle goes, so that
    /// a scoped job's borrows end with the scope.
    fn take_unrun(&self) -> Option<F> {
        // SAFETY: only called on a task the queue has handed to this thread
        // while draining it: no worker popped it, so no one else reaches
        // `job` (see the `Sync` impl).
        unsafe { (*self.job.get()).take() }
    }

    pub(super) fn future(self: Arc<Self>) -> Future<T> {
        Future { core: self }
    }
}

impl<T, F> Runnable for Task<T, F>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    fn run(self: Arc<Self>, idle: &AtomicUsize) {
        // SAFETY: this worker popped the task; no one else ever reaches
        // `job` (see the `Sync` impl).
        let job = unsafe { (*self.job.get()).take() };
        let fut = self.future();
        if fut.set_running_or_notify_cancel() != Ok(true) {
            drop(job); // cancelled: the job is dropped unrun
            idle.fetch_add(1, Release);
            return;
        }
        let Some(job) = job else { return };
        let out = run_quietly(job).map_err(|p| Error::Panicked(panic_message(&*p)));
        idle.fetch_add(1, Release);
        let _ = fut.complete(out);
    }

    fn fail(self: Arc<Self>, e: Error) {
        drop(self.take_unrun());
        let _ = self.future().set_exception(e);
    }

    fn cancel(self: Arc<Self>) {
        drop(self.take_unrun());
        self.future().cancel();
    }
}

thread_local! {
    /// Whether this thread is running a task (its panics are not printed).
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
}

/// Run `job`, catching a panic without the panic hook printing it (see the
/// module documentation).
pub(super) fn run_quietly<T>(job: impl FnOnce() -> T) -> Result<T, Box<dyn std::any::Any + Send>> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_TASK.with(Cell::get) {
                previous(info);
            }
        }));
    });
    /// Clears the flag on the way out, unwinding or not.
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_TASK.with(|f| f.set(self.0));
        }
    }
    let _reset = Reset(IN_TASK.with(|f| f.replace(true)));
    catch_unwind(AssertUnwindSafe(job))
}
