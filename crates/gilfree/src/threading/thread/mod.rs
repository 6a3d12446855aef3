//! `Thread`: Python's `threading.Thread`, and the module functions around it
//! (`current_thread`, `main_thread`, `enumerate`, `active_count`,
//! `get_ident`, `get_native_id`, `excepthook`), plus Python's "wait for
//! non-daemon threads at exit" as [`main`] / [`exit_guard`]. One file per
//! part:
//!
//! - `core.rs`: one thread's shared record (its life word is `raw::RawLife`);
//! - `registry.rs`: thread identity and the registry of live threads;
//! - `handle.rs`: the `Thread` handle and the functions that hand them out;
//! - `builder.rs`: constructors, `ThreadBuilder`, `Runnable`;
//! - `bootstrap.rs`: `start` and the new thread's first and last steps;
//! - `exit.rs`: waiting for non-daemon threads at exit;
//! - `excepthook.rs`: reporting a panic that ended a thread.

mod bootstrap;
mod builder;
mod core;
mod excepthook;
mod exit;
mod handle;
mod registry;

pub use builder::{Runnable, ThreadBuilder};
pub use excepthook::{ExceptHook, ExceptHookArgs, default_excepthook, excepthook, set_excepthook};
pub use exit::{ExitGuard, exit_guard, main, wait_for_non_daemon_threads};
pub use handle::{Thread, active_count, current_thread, enumerate, main_thread};
pub use registry::{get_ident, get_native_id};
