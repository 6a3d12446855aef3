//! One thread's record, shared by every handle to it: its name, flags,
//! life word and target (Python keeps these on the `Thread` object).

use std::sync::{Mutex, OnceLock};

use crate::raw::RawLife;

/// What kind of thread a [`Thread`] stands for (Python's classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Made by gilfree (`Thread`).
    Made,
    /// The process's main thread (`_MainThread`).
    Main,
    /// A thread gilfree did not start, seen through `current_thread`
    /// (`_DummyThread`).
    Dummy,
}

pub(super) type Job = Box<dyn FnOnce() + Send>;

/// The untyped state of one thread, shared by every handle to it.
pub(super) struct Core {
    pub(super) name: String,
    pub(super) daemon: bool,
    pub(super) kind: Kind,
    pub(super) stack_size: Option<usize>,
    pub(super) life: RawLife,
    pub(super) ident: OnceLock<u64>,
    pub(super) native_id: OnceLock<u64>,
    /// The target, wrapped so that it stores its own result; taken by the
    /// new thread.
    pub(super) job: Mutex<Option<Job>>,
    /// Set (before `DONE`) if the target panicked: the panic message.
    pub(super) panic: OnceLock<String>,
}
