//! The thread pool's `map`: the input cut into chunks, one pool job per
//! chunk, results yielded per item in input order.
//!
//! # Why chunks
//!
//! One job per item costs a task allocation, a queue push and pop and a
//! result hand-off (about 100 ns, more when a worker must be woken): for an
//! item that costs a nanosecond, that is the whole price of the map. A
//! chunk pays it once for many items.
//!
//! # How big a chunk
//!
//! An explicit [`MapOptions::chunksize`] is used as given. Otherwise:
//!
//! - **Without `buffersize`** the whole input is read now (as Python does),
//!   so its length `n` is known and chunks follow *guided* scheduling: each
//!   chunk is half of one worker's share of what is left,
//!   `ceil(left / (2 × workers))`. Chunks shrink towards the end, so the
//!   workers finish together, and there are about
//!   `2 × workers × ln(n / (2 × workers))` chunks whatever `n` is: the
//!   hand-off cost no longer grows with the input.
//! - **With `buffersize`** the length is unknown, so the map measures as it
//!   goes: the caller times each `submit` (the per-chunk overhead, a moving
//!   average) and each chunk times its own run (the per-item cost). The next
//!   chunk is sized so that its run takes [`RATIO`] times the overhead (the
//!   hand-off is then at most 1/16 of the time), at most doubling per
//!   measurement, and never more than `buffersize / workers` items, so
//!   every worker can have a chunk. Before the first measurement the buffer
//!   is filled with `2 × workers` one-item chunks (the probes) and the rest
//!   in as many chunks again, not in one-item chunks: a buffer of a million
//!   tiny items would otherwise start as a million jobs.
//!
//! `buffersize` counts items, not chunks: the input is never read more
//! than `buffersize` items ahead of the results yielded. Once the buffer is
//! full it is refilled a whole chunk at a time, as soon as one fits (also
//! while the caller is still draining a chunk), never an item at a time.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::future::panic_message;
use super::progress::Bar;
use super::{Error, Future, MapOptions, ThreadPoolExecutor};
use crate::sys::Deadline;
use crate::sys::atomic::{AtomicBool, Ordering::Relaxed};

/// With a measured per-item cost, a chunk is sized to run this many times
/// the per-chunk overhead (so the overhead is at most 1/16 of the work).
pub(super) const RATIO: f64 = 16.0;

/// A chunk's results, the panic that ended it early if one did, and how
/// long its items took to run. A chunk stops at its first panicking item:
/// the map ends after yielding that item's error (as Python's generator
/// does), so nobody would read the items after it.
type Chunk<T> = (Vec<T>, Option<Error>, Duration);

enum Sizing {
    /// `chunksize` given.
    Fixed(usize),
    /// Length known: half a worker's share of what is left.
    Guided { left: usize, workers: usize },
    /// Length unknown: measured as it goes.
    Measured {
        cap: usize,
        next: usize,
        /// Moving average of one submit, in ns (`None`: no sample yet).
        overhead_ns: Option<f64>,
        /// Until a chunk has been timed, the first this many chunks in
        /// flight have one item each (`2 × workers`), and the rest of the
        /// buffer goes in as many chunks again.
        probes: usize,
        /// A chunk has been timed.
        learned: bool,
    },
}

impl Sizing {
    fn size(&self) -> usize {
        match *self {
            Sizing::Fixed(k) => k,
            Sizing::Guided { left, workers } => left.div_ceil(2 * workers).max(1),
            Sizing::Measured { next, .. } => next,
        }
    }
}

/// The iterator [`ThreadPoolExecutor::map_with`] returns.
pub(super) struct ChunkedMap<'a, T, F, I> {
    pool: &'a ThreadPoolExecutor,
    f: Arc<F>,
    input: I,
    /// Whether `input` is still read (lazy mode, not exhausted).
    reading: bool,
    in_flight: VecDeque<(Future<Chunk<T>>, usize)>,
    /// Items read and not yet yielded (in flight or in `current`).
    items_in_flight: usize,
    limit: usize,
    current: std::vec::IntoIter<T>,
    /// The error that ends `current`, yielded after its items.
    current_err: Option<Error>,
    sizing: Sizing,
    /// Set when the map stops: chunks still running skip their other items.
    stopped: Arc<AtomicBool>,
    deadline: Deadline,
    finished: bool,
    bar: Option<Bar>,
}

impl<'a, A, T, F, I> ChunkedMap<'a, T, F, I>
where
    F: Fn(A) -> T + Send + Sync + 'static,
    A: Send + 'static,
    T: Send + 'static,
    I: Iterator<Item = A>,
{
    pub(super) fn new(
        pool: &'a ThreadPoolExecutor,
        f: F,
        mut input: I,
        o: MapOptions,
    ) -> Result<Self, Error> {
        if o.chunksize == Some(0) {
            return Err(Error::Value("chunksize must be >= 1."));
        }
        if o.buffersize == Some(0) {
            return Err(Error::Value("buffersize must be None or > 0."));
        }
        let workers = pool.max_workers();
        // The length, when the input says it exactly; without `buffersize`
        // an input that does not is read into a Vec first, to learn it.
        let exact = match input.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo),
            _ => None,
        };
        let (collected, len) = match (o.buffersize, exact) {
            (None, None) => {
                let v: Vec<A> = input.by_ref().collect();
                let n = v.len();
                (Some(v), Some(n))
            }
            (_, exact) => (None, exact),
        };
        let sizing = match (o.chunksize, o.buffersize) {
            (Some(k), _) => Sizing::Fixed(k),
            (None, None) => Sizing::Guided {
                left: len.unwrap_or(0),
                workers,
            },
            (None, Some(b)) => Sizing::Measured {
                cap: (b / workers).max(1),
                next: 1,
                overhead_ns: None,
                probes: 2 * workers,
                learned: false,
            },
        };
        #[cfg(not(feature = "progress"))]
        let _ = len;
        let mut map = ChunkedMap {
            pool,
            f: Arc::new(f),
            input,
            reading: o.buffersize.is_some(),
            in_flight: VecDeque::new(),
            items_in_flight: 0,
            limit: o.buffersize.unwrap_or(usize::MAX),
            current: Vec::new().into_iter(),
            current_err: None,
            sizing,
            stopped: Arc::new(AtomicBool::new(false)),
            deadline: o.timeout.map_or(Deadline::Never, Deadline::after),
            finished: false,
            #[cfg(feature = "progress")]
            bar: Bar::new(o.progress, len.map(|n| n as u64)),
            #[cfg(not(feature = "progress"))]
            bar: None,
        };
        let filled = match o.buffersize {
            None => map.submit_all(collected),
            Some(_) => map.top_up(0, true),
        };
        if let Err(e) = filled {
            map.stop();
            return Err(e);
        }
        Ok(map)
    }

    /// Eager mode: cut the whole input (`collected`, or `input` itself
    /// when its length was exact) into chunks and submit them.
    fn submit_all(&mut self, collected: Option<Vec<A>>) -> Result<(), Error> {
        let mut collected = collected.map(Vec::into_iter);
        loop {
            let k = self.sizing.size();
            let chunk: Vec<A> = match &mut collected {
                Some(v) => v.by_ref().take(k).collect(),
                None => self.input.by_ref().take(k).collect(),
            };
            let last = chunk.len() < k; // the input may not be fused
            if !chunk.is_empty() {
                self.submit(chunk)?;
            }
            if last {
                return Ok(());
            }
        }
    }

    /// Items that may still be read: `limit + slack` minus those read and
    /// not yet yielded.
    #[inline]
    fn room(&self, slack: usize) -> usize {
        self.limit
            .saturating_add(slack)
            .saturating_sub(self.items_in_flight)
    }

    /// The size of the next chunk.
    #[inline]
    fn chunk_size(&self) -> usize {
        match self.sizing {
            Sizing::Measured {
                learned: false,
                probes,
                cap,
                ..
            } => {
                if self.in_flight.len() < probes {
                    1
                } else {
                    self.limit
                        .saturating_sub(probes)
                        .div_ceil(probes)
                        .clamp(1, cap)
                }
            }
            _ => self.sizing.size(),
        }
    }

    /// Whether a whole chunk fits in the buffer now (lazy mode).
    #[inline]
    fn chunk_fits(&self) -> bool {
        self.reading && self.room(0) >= self.chunk_size().min(self.limit)
    }

    /// Lazy mode: read and submit chunks while there is room for
    /// `limit + slack` items read and not yet yielded. With `partial`, the
    /// last chunk may be smaller than the chunk size (to fill the buffer
    /// exactly); without, only whole chunks go, so that a buffer that frees
    /// one item at a time is not refilled one item at a time.
    fn top_up(&mut self, slack: usize, partial: bool) -> Result<(), Error> {
        while self.reading && self.room(slack) > 0 {
            let size = self.chunk_size();
            let k = size.min(self.room(slack));
            if k < size.min(self.limit) && !partial {
                break;
            }
            let chunk: Vec<A> = self.input.by_ref().take(k).collect();
            if chunk.len() < k {
                self.reading = false; // the input may not be fused
            }
            if chunk.is_empty() {
                break;
            }
            self.submit(chunk)?;
        }
        Ok(())
    }

    fn submit(&mut self, items: Vec<A>) -> Result<(), Error> {
        let len = items.len();
        let f = self.f.clone();
        let stopped = self.stopped.clone();
        let job = move || {
            let start = Instant::now();
            let mut out = Vec::with_capacity(items.len());
            // One item's panic is that item's result only: the items before
            // it keep theirs.
            let r = catch_unwind(AssertUnwindSafe(|| {
                for a in items {
                    if stopped.load(Relaxed) {
                        break; // nobody will read the rest
                    }
                    out.push(f(a));
                }
            }));
            let err = r.err().map(|p| Error::Panicked(panic_message(&*p)));
            (out, err, start.elapsed())
        };
        let measuring = matches!(self.sizing, Sizing::Measured { .. });
        let t0 = measuring.then(Instant::now);
        let fut = self.pool.submit(job)?;
        if let (Some(t0), Sizing::Measured { overhead_ns, .. }) = (t0, &mut self.sizing) {
            let spent = t0.elapsed().as_nanos() as f64;
            *overhead_ns = Some(overhead_ns.map_or(spent, |o| o * 0.875 + spent * 0.125));
        }
        if let Sizing::Guided { left, .. } = &mut self.sizing {
            *left = left.saturating_sub(len); // a size hint may be wrong
        }
        self.in_flight.push_back((fut, len));
        self.items_in_flight += len;
        Ok(())
    }

    /// A chunk of `len` items ran in `run`: size the next one.
    fn learn(&mut self, len: usize, run: Duration) {
        if let Sizing::Measured {
            cap,
            next,
            overhead_ns: Some(o),
            learned,
            ..
        } = &mut self.sizing
        {
            *learned = true;
            let per_item = (run.as_nanos() as f64 / len.max(1) as f64).max(1.0);
            let want = (RATIO * *o / per_item).ceil().min(usize::MAX as f64) as usize;
            let most = (*next).max(len).saturating_mul(2).min(*cap);
            *next = want.clamp(1, most.max(1));
        }
    }
}

impl<T, F, I> ChunkedMap<'_, T, F, I> {
    fn stop(&mut self) {
        self.finished = true;
        self.stopped.store(true, Relaxed);
        self.current = Vec::new().into_iter();
        self.current_err = None;
        for (f, _) in self.in_flight.drain(..) {
            f.cancel();
        }
    }
}

impl<T, F, I> Drop for ChunkedMap<'_, T, F, I> {
    fn drop(&mut self) {
        self.stop();
    }
}

impl<A, T, F, I> Iterator for ChunkedMap<'_, T, F, I>
where
    F: Fn(A) -> T + Send + Sync + 'static,
    A: Send + 'static,
    T: Send + 'static,
    I: Iterator<Item = A>,
{
    type Item = Result<T, Error>;

    /// The per-item path, inlined into the caller's loop: the next result
    /// of the chunk being drained. Everything else (refilling the buffer,
    /// the progress bar, waiting for the next chunk) is out of line.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        // `stop` empties `current`, so a finished map falls through.
        if let Some(r) = self.take_current() {
            return Some(r);
        }
        self.next_chunk()
    }

    /// Exactly the items of the chunk being drained are certain (a later
    /// chunk may fail or time out); at most every item read and not yet
    /// yielded follows, once the input is read to its end.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let sure = self.current.len();
        let most = if self.finished {
            Some(0)
        } else if self.reading {
            None
        } else {
            Some(self.items_in_flight.max(sure))
        };
        (sure, most)
    }
}

impl<A, T, F, I> ChunkedMap<'_, T, F, I>
where
    F: Fn(A) -> T + Send + Sync + 'static,
    A: Send + 'static,
    T: Send + 'static,
    I: Iterator<Item = A>,
{
    /// After an item is yielded from `current`: keep the workers fed while
    /// the caller drains a chunk, and count the item on the bar.
    #[inline(never)]
    fn after_item(&mut self) -> Result<(), Error> {
        if self.chunk_fits()
            && let Err(e) = self.top_up(0, false)
        {
            self.stop();
            return Err(e);
        }
        if let Some(b) = &self.bar {
            b.inc();
        }
        Ok(())
    }

    /// `current` is drained: yield its error, or wait for the next chunk.
    /// The next result of the chunk being drained, if it has one left:
    /// one decrement and one branch, then the refill / bar step only when
    /// either is on. `next`'s fast path and `next_chunk`'s first look.
    #[inline(always)]
    fn take_current(&mut self) -> Option<Result<T, Error>> {
        let v = self.current.next()?;
        self.items_in_flight -= 1;
        if (self.reading || self.bar.is_some())
            && let Err(e) = self.after_item()
        {
            return Some(Err(e));
        }
        Some(Ok(v))
    }

    #[inline(never)]
    fn next_chunk(&mut self) -> Option<Result<T, Error>> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(r) = self.take_current() {
                return Some(r);
            }
            if let Some(e) = self.current_err.take() {
                if let Some(b) = &self.bar {
                    b.inc();
                }
                // Python's generator ends after raising.
                self.stop();
                return Some(Err(e));
            }
            // Nothing in flight (whole chunks did not fit): fill the buffer.
            if self.in_flight.is_empty()
                && let Err(e) = self.top_up(0, true)
            {
                self.stop();
                return Some(Err(e));
            }
            let Some((fut, _)) = self.in_flight.pop_front() else {
                self.finished = true;
                if let Some(b) = &self.bar {
                    b.finish();
                }
                return None;
            };
            // CPython 3.14: top the buffer up before waiting, counting
            // the item about to be yielded as gone.
            if let Err(e) = self.top_up(1, false) {
                fut.cancel();
                self.stop();
                return Some(Err(e));
            }
            let r = match fut.exception_deadline(self.deadline) {
                Err(e) | Ok(Some(e)) => Err(e),
                Ok(None) => fut.take(),
            };
            match r {
                Ok((results, err, run)) => {
                    self.learn(results.len() + usize::from(err.is_some()), run);
                    self.current = results.into_iter();
                    self.current_err = err;
                }
                Err(e) => {
                    // Python's `_result_or_cancel`.
                    fut.cancel();
                    self.stop();
                    return Some(Err(e));
                }
            }
        }
    }
}
