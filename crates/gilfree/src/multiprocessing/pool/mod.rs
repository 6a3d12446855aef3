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
    decode_result(task, o.map_err(failure_error)?)
}

/// One call's encoded result for task `task`, decoded as `R`.
#[inline]
pub(crate) fn decode_result<R: DeserializeOwned>(task: &str, bytes: &[u8]) -> Result<R, Error> {
    super::codec::from_bytes(bytes).map_err(|reason| Error::TaskData {
        task: task.to_string(),
        what: "decode the result",
        reason,
    })
}

/// The size of chunk `k` of a map of `n` items when the caller gave none,
/// `remaining` items not yet sent.
///
/// - The first chunk of each worker is the smallest size: the parent
///   encodes the chunks one after the other while the workers run them,
///   and a worker waits for its first chunk to be encoded (Python's first
///   chunks of a 100k-item map kept the second worker idle for two chunk
///   encodings, ~4% of the map).
/// - Then half of what remains per worker (`remaining / (2 × workers)`),
///   never more than Python's fixed size (`n / (4 × workers)`) and never
///   less than a sixteenth of it, so chunks shrink towards the end
///   (guided scheduling) and the workers finish together. With Python's
///   equal chunks a worker only a little slower than the other (it shares
///   its core with the parent, say) leaves the other idle for up to a
///   whole chunk, an eighth of its share, at the end: a 2-worker map of
///   equal items keeps 0.97 of the ideal speedup when one worker is 5%
///   slower, 0.91 when 20%; with these chunks 0.99 either way
///   (design-notes, "Pools: descriptors, speed").
///
/// About twice as many chunks as Python's rule; each costs one
/// reply-to-dispatch hop.
pub(crate) fn map_chunk(n: usize, k: usize, remaining: usize, workers: usize) -> usize {
    let w = workers.max(1);
    let most = n.div_ceil(4 * w).max(1);
    let least = n.div_ceil(64 * w).max(1);
    if k < w {
        return least;
    }
    remaining.div_ceil(2 * w).clamp(least, most)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::map_chunk;

    /// The chunks of a map of `n` items on `w` workers.
    fn chunks(n: usize, w: usize) -> Vec<usize> {
        let mut left = n;
        let mut v = Vec::new();
        while left > 0 {
            let c = map_chunk(n, v.len(), left, w).min(left);
            v.push(c);
            left -= c;
        }
        v
    }

    #[test]
    fn map_chunks_start_small_shrink_and_cover() {
        for (n, w) in [(1, 1), (7, 2), (4000, 2), (100_000, 2), (100_000, 8)] {
            let c = chunks(n, w);
            assert_eq!(c.iter().sum::<usize>(), n);
            let least = n.div_ceil(64 * w);
            assert!(c.iter().take(w).all(|&k| k <= least), "{c:?}");
            // After the first round, never growing again.
            let rest = c.get(w + 1..).unwrap_or_default();
            assert!(rest.windows(2).all(|p| p[0] >= p[1]), "{c:?}");
            assert!(c.iter().all(|&k| k <= n.div_ceil(4 * w)), "{c:?}");
            assert!(c.len() <= 12 * w + 4, "{n} on {w}: {} chunks", c.len());
        }
    }
}
