//! Python's "wait for non-daemon threads at exit": `main`, `exit_guard`,
//! `wait_for_non_daemon_threads`.

use std::sync::Arc;

use super::core::{Core, Kind};
use super::registry::{get_ident, registry};
use crate::raw::life::DONE;
use crate::sys::Deadline;

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
