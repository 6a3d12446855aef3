//! Process pools: Python's `multiprocessing.Pool`, on one pool core that
//! `futures::ProcessPoolExecutor` shares.
//!
//! - `core`: worker processes on their own channels, batches of opaque
//!   encoded calls, death seen through pidfds, replacement, recycling.
//! - `supervisor`: the core's thread that watches the workers and reads
//!   their replies.
//! - `direct`: a one-call batch whose caller reads the reply itself
//!   (`Pool::apply`).
//! - `wire`: the messages between the pool and a worker.
//! - `worker`: the worker's loop (a task like any other).
//! - `imap`: the lazy, chunked result iterator both front ends use.
//! - `front`: [`Pool`] and [`PoolBuilder`].
//! - `map`: `Pool`'s map family (`map`, `starmap`, `imap`, ...).
//! - `result`: [`AsyncResult`] and [`Callbacks`].
//! - `sinks`: where the outcomes of `Pool`'s calls go.

pub(crate) mod core;
mod direct;
mod front;
pub(crate) mod imap;
mod map;
mod result;
mod sinks;
mod supervisor;
pub(crate) mod wire;
pub(crate) mod worker;

pub use front::{Pool, PoolBuilder};
pub use imap::IMap;
pub use result::{AsyncResult, Callbacks};

use serde::de::DeserializeOwned;

use super::error::Error;
use super::task::TaskFailure;

/// A call's failure in the worker, as this module's error (as
/// `Process::result` reports it).
pub(crate) fn failure_error(f: TaskFailure) -> Error {
    match f {
        TaskFailure::Panicked(m) => Error::Panicked(m),
        TaskFailure::Unknown(n) => Error::UnknownTask(n),
        TaskFailure::BadArgs { task, reason } => Error::TaskData {
            task,
            what: "decode the arguments",
            reason,
        },
        TaskFailure::BadResult { task, reason } => Error::TaskData {
            task,
            what: "encode the result",
            reason,
        },
    }
}

/// One call's outcome for task `task`, decoded as `R` (a type's own reason
/// kept when it refuses the bytes).
pub(crate) fn decode_outcome<R: DeserializeOwned>(
    task: &str,
    o: Result<&[u8], TaskFailure>,
) -> Result<R, Error> {
    let bytes = o.map_err(failure_error)?;
    super::codec::from_bytes(bytes).map_err(|reason| Error::TaskData {
        task: task.to_string(),
        what: "decode the result",
        reason,
    })
}

/// Python's `Pool.map` default chunk size: `ceil(len / (4 × workers))`.
pub(crate) fn default_chunksize(len: usize, workers: usize) -> usize {
    len.div_ceil(4 * workers.max(1)).max(1)
}
