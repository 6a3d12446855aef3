//! Process pools: Python's `multiprocessing.Pool`, on one pool core that
//! `futures::ProcessPoolExecutor` shares.
//!
//! - `core`: worker processes on their own channels, batches of opaque
//!   encoded calls, death seen through pidfds, replacement, recycling.
//! - `wire`: the messages between the pool and a worker.
//! - `worker`: the worker's loop (a task like any other).
//! - `imap`: the lazy, chunked result iterator both front ends use.
//! - `front`: [`Pool`] and [`AsyncResult`].

pub(crate) mod core;
mod front;
pub(crate) mod imap;
pub(crate) mod wire;
mod worker;

pub use front::{AsyncResult, Callbacks, Pool, PoolBuilder};
pub use imap::IMap;

use serde::de::DeserializeOwned;

use super::__private::TaskFailure;
use super::Error;

/// A Python-style exit code in words: `"exited with code 3"`, or `"was
/// killed by SIGKILL"` for `-9`.
pub(crate) fn describe_exit(exitcode: i32) -> String {
    if exitcode >= 0 {
        return format!("exited with code {exitcode}");
    }
    let sig = -exitcode;
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("was killed by signal {sig}"),
    };
    format!("was killed by {name}")
}

/// A call's failure in the worker, as this module's error.
pub(crate) fn failure_error(f: TaskFailure) -> Error {
    match f {
        TaskFailure::Panicked(m) => Error::Panicked(m),
        TaskFailure::Unknown(n) => Error::UnknownTask(n),
        TaskFailure::BadArgs(m) => Error::Decode {
            what: "task arguments",
            reason: m,
        },
        TaskFailure::BadResult(m) => Error::Encode {
            what: "task result",
            reason: m,
        },
    }
}

/// One call's outcome, decoded as `R`.
pub(crate) fn decode_outcome<R: DeserializeOwned>(
    o: Result<&[u8], TaskFailure>,
) -> Result<R, Error> {
    let bytes = o.map_err(failure_error)?;
    postcard::from_bytes(bytes).map_err(|e| Error::Decode {
        what: "task result",
        reason: e.to_string(),
    })
}

/// Python's `Pool.map` default chunk size: `ceil(len / (4 × workers))`.
pub(crate) fn default_chunksize(len: usize, workers: usize) -> usize {
    len.div_ceil(4 * workers.max(1)).max(1)
}
