//! `IMap`: the lazy, chunked result iterator of `Pool::imap`,
//! `Pool::imap_unordered` and `ProcessPoolExecutor::map`.
//!
//! The input is read in the consumer's thread, a chunk at a time, with at
//! most `window` chunks in flight: an endless input runs in bounded memory
//! (Python's `Pool.imap` reads the whole input in a background thread).
//! Each chunk's outcomes arrive on one queue, tagged with the chunk's
//! number; the ordered form keeps early arrivals until their turn.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::core::{Failure, Sink, Submit};
use super::decode_outcome;
use super::wire::{Calls, Outcomes};
use crate::multiprocessing::error::Error;
use crate::queue::SimpleQueue;
use crate::sys::Deadline;

type Chunk<R> = (u64, Vec<Result<R, Error>>);

struct ChunkSink<R> {
    task: &'static str,
    index: u64,
    len: usize,
    out: Arc<SimpleQueue<Chunk<R>>>,
}

impl<R: DeserializeOwned + Send> Sink for ChunkSink<R> {
    fn map_id(&self) -> Option<usize> {
        Some(Arc::as_ptr(&self.out) as *const () as usize)
    }

    fn done(self: Box<Self>, r: Result<Outcomes<'_>, Failure>) {
        let v = match r {
            Ok(o) => o
                .into_results()
                .map(|x| decode_outcome(self.task, x))
                .collect(),
            Err(f) => (0..self.len).map(|_| Err(f.clone().into())).collect(),
        };
        self.out.put((self.index, v));
    }
}

/// Python's `IMapIterator`: the results of [`Pool::imap`](super::Pool::imap)
/// (in input order) or [`Pool::imap_unordered`](super::Pool::imap_unordered)
/// (as they finish), one `Result` per input item.
///
/// A failed call yields its error and the iteration goes on, as Python's
/// `next()` raises for that item only. Differences from Python: the input
/// is read lazily, with at most a few chunks in flight (twice the workers
/// for `Pool`), so an endless input runs in bounded memory; a worker's
/// death fails the items of its chunk with [`Error::WorkerDied`] instead
/// of hanging.
///
/// ```
/// # #[gilfree::main] fn main() {
/// use gilfree::multiprocessing::Pool;
/// #[gilfree::task]
/// fn square(x: u64) -> u64 { x * x }
/// let pool = Pool::new(2).unwrap();
/// let firsts: Vec<u64> = pool.imap(square::TASK, 0.., None).take(4).map(Result::unwrap).collect();
/// assert_eq!(firsts, [0, 1, 4, 9]);
/// # }
/// ```
pub struct IMap<A, R, I> {
    core: Arc<dyn Submit>,
    task: &'static str,
    input: I,
    chunksize: usize,
    ordered: bool,
    window: usize,
    out: Arc<SimpleQueue<Chunk<R>>>,
    /// Chunks submitted.
    submitted: u64,
    /// Chunks moved to `current` (yielded or being yielded).
    taken: u64,
    /// The next chunk in input order (ordered form).
    next_chunk: u64,
    /// Chunks submitted whose outcomes have not arrived.
    in_flight: usize,
    early: BTreeMap<u64, Vec<Result<R, Error>>>,
    current: VecDeque<Result<R, Error>>,
    exhausted: bool,
    _a: PhantomData<fn(A)>,
}

impl<A, R, I> fmt::Debug for IMap<A, R, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMap")
            .field("task", &self.task)
            .field("chunksize", &self.chunksize)
            .field("ordered", &self.ordered)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl<A, R, I> IMap<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    pub(crate) fn new(
        core: Arc<dyn Submit>,
        task: &'static str,
        input: I,
        chunksize: usize,
        ordered: bool,
        window: usize,
    ) -> Self {
        IMap {
            core,
            task,
            input,
            chunksize: chunksize.max(1),
            ordered,
            window: window.max(1),
            out: Arc::new(SimpleQueue::new()),
            submitted: 0,
            taken: 0,
            next_chunk: 0,
            in_flight: 0,
            early: BTreeMap::new(),
            current: VecDeque::new(),
            exhausted: false,
            _a: PhantomData,
        }
    }

    /// Read and submit chunks until `window` are submitted and not yet
    /// taken (in flight, or arrived early and kept). An error ends the
    /// input (and is the next item).
    fn top_up(&mut self) -> Result<(), Error> {
        while !self.exhausted && self.submitted - self.taken < self.window as u64 {
            let mut calls = Calls::new(self.task);
            if let Err(e) = calls.push_each(self.input.by_ref().take(self.chunksize)) {
                self.exhausted = true;
                return Err(Error::Encode {
                    what: "task arguments",
                    reason: e,
                });
            }
            if calls.len() == 0 {
                self.exhausted = true;
                break;
            }
            let sink = ChunkSink {
                task: self.task,
                index: self.submitted,
                len: calls.len(),
                out: self.out.clone(),
            };
            if let Err(f) = self.core.submit(&calls, Box::new(sink)) {
                self.exhausted = true;
                return Err(f.into());
            }
            self.submitted += 1;
            self.in_flight += 1;
        }
        Ok(())
    }

    /// Submit the first window now (an executor's `map` submits before it
    /// returns, so that a closed pool is an error of `map` itself).
    pub(crate) fn start(&mut self) -> Result<(), Error> {
        self.top_up()
    }

    /// The next result, waiting until `deadline`; `Some(Err(Timeout))` if
    /// it passes (the iterator can be resumed).
    pub(crate) fn next_deadline(&mut self, deadline: Deadline) -> Option<Result<R, Error>> {
        loop {
            if let Some(r) = self.current.pop_front() {
                return Some(r);
            }
            if let Err(e) = self.top_up() {
                return Some(Err(e));
            }
            if self.ordered
                && let Some(v) = self.early.remove(&self.next_chunk)
            {
                self.next_chunk += 1;
                self.taken += 1;
                self.current = v.into();
                continue;
            }
            if self.in_flight == 0 {
                return None;
            }
            let got = match deadline.remaining() {
                None => self.out.get(),
                Some(d) => match self.out.get_timeout(d) {
                    Ok(c) => c,
                    Err(_) => return Some(Err(Error::Timeout)),
                },
            };
            self.in_flight -= 1;
            let (index, v) = got;
            if self.ordered {
                self.early.insert(index, v);
            } else {
                self.taken += 1;
                self.current = v.into();
            }
        }
    }

    /// Python's `next(timeout)`: the next result, waiting at most
    /// `timeout`; `Some(Err(Error::Timeout))` if none came in time (the
    /// iterator can be resumed).
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// use std::time::Duration;
    /// use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn id(x: u8) -> u8 { x }
    /// let pool = Pool::new(1).unwrap();
    /// let mut it = pool.imap(id::TASK, [7u8], None);
    /// assert_eq!(it.next_timeout(Duration::from_secs(60)).unwrap().unwrap(), 7);
    /// # }
    /// ```
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, Error>> {
        self.next_deadline(Deadline::after(timeout))
    }
}

impl<A, R, I> Iterator for IMap<A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_deadline(Deadline::Never)
    }
}
