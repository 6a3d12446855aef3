//! The map family of `Pool`: `map`, `starmap`, `imap`, `imap_unordered`
//! and the `_async` forms, each chunk of items one batch on the core.
//!
//! A one-argument task's call is encoded as the argument itself: postcard
//! encodes a tuple as its fields in order, so `(a,)` and `a` are the same
//! bytes (checked by a unit test below). That is how `map` feeds
//! `Task<(A,), R>` from items of `A` without building tuples.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::front::Pool;
use super::imap::IMap;
use super::map_chunk;
use super::result::{AsyncResult, Callbacks};
use super::sinks::{MapSink, MapState};
use super::wire::Calls;
use crate::multiprocessing::error::{Error, Result};
use crate::multiprocessing::task::Task;
use crate::threading::Lock;

impl Pool {
    /// Python's `map(func, iterable, chunksize)`: a one-argument task over
    /// every item, results in input order; the first failure is the
    /// error. `chunksize` `None` is at most Python's default size,
    /// `ceil(len / (4 × processes))`: each worker's first chunk is short
    /// (so it starts at once) and the last ones shorten (down to a
    /// sixteenth of it) so the workers finish together.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let pool = Pool::new(2).unwrap();
    /// assert_eq!(pool.map(double::TASK, [1, 2, 3], None).unwrap(), [2, 4, 6]);
    /// # }
    /// ```
    pub fn map<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async(task, items, chunksize)?.get()
    }

    /// Python's `map_async(func, iterable, chunksize)`.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let pool = Pool::new(2).unwrap();
    /// let r = pool.map_async(double::TASK, 0..10, Some(3)).unwrap();
    /// assert_eq!(r.get().unwrap()[9], 18);
    /// # }
    /// ```
    pub fn map_async<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(task, items, chunksize, Callbacks::new())
    }

    /// Python's `map_async(func, iterable, chunksize, callback=,
    /// error_callback=)`: the callback gets the whole list.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::{Callbacks, Pool};
    /// #[gilfree::task]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let pool = Pool::new(2).unwrap();
    /// let cb = Callbacks::new().callback(|v: &Vec<u32>| assert_eq!(v.len(), 3));
    /// pool.map_async_with(double::TASK, [1, 2, 3], None, cb).unwrap().wait();
    /// # }
    /// ```
    pub fn map_async_with<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        // `(a,)` encodes as `a` (see the head comment).
        self.starmap_impl(task.name(), items, chunksize, callbacks)
    }

    /// Python's `starmap(func, iterable, chunksize)`: each item is a task's
    /// argument tuple.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = Pool::new(2).unwrap();
    /// assert_eq!(pool.starmap(add::TASK, [(1, 2), (3, 4)], None).unwrap(), [3, 7]);
    /// # }
    /// ```
    pub fn starmap<A, R, I>(
        &self,
        task: Task<A, R>,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.starmap_async(task, items, chunksize)?.get()
    }

    /// Python's `starmap_async(func, iterable, chunksize)`.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = Pool::new(2).unwrap();
    /// let r = pool.starmap_async(add::TASK, [(1, 2)], None).unwrap();
    /// assert_eq!(r.get().unwrap(), [3]);
    /// # }
    /// ```
    pub fn starmap_async<A, R, I>(
        &self,
        task: Task<A, R>,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.starmap_async_with(task, items, chunksize, Callbacks::new())
    }

    /// Python's `starmap_async(..., callback=, error_callback=)`.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::{Callbacks, Pool};
    /// #[gilfree::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = Pool::new(2).unwrap();
    /// let cb = Callbacks::new().callback(|v: &Vec<i32>| assert_eq!(v, &[3]));
    /// pool.starmap_async_with(add::TASK, [(1, 2)], None, cb).unwrap().wait();
    /// # }
    /// ```
    pub fn starmap_async_with<A, R, I>(
        &self,
        task: Task<A, R>,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.starmap_impl(task.name(), items, chunksize, callbacks)
    }

    fn starmap_impl<A, R, I>(
        &self,
        task: &'static str,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        if chunksize == Some(0) {
            return Err(Error::Value("Chunksize must be 1+, not 0".into()));
        }
        let items = items.into_iter();
        // An input that knows its length is read as the chunks are sent;
        // another is read whole first (as Python makes a list of it), for
        // its length.
        match items.size_hint() {
            (lo, Some(hi)) if lo == hi => self.send_chunks(task, items, lo, chunksize, callbacks),
            _ => {
                let v: Vec<A> = items.collect();
                let n = v.len();
                self.send_chunks(task, v.into_iter(), n, chunksize, callbacks)
            }
        }
    }

    /// Encode and submit `items` (about `n` of them) in chunks: each chunk
    /// is sent as soon as it is encoded, so the workers start while the
    /// rest is encoded. A wrong length hint costs only the chunk sizes: the
    /// map completes when the chunks actually sent are done, always on the
    /// supervisor thread (callbacks run there, as on Python's
    /// result-handler thread).
    fn send_chunks<A, R>(
        &self,
        task: &'static str,
        items: impl Iterator<Item = A>,
        n: usize,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let result = AsyncResult::new();
        let mut items = items.peekable();
        if items.peek().is_none() {
            result.set(Ok(Vec::new()), callbacks);
            return Ok(result);
        }
        let state = Arc::new(Lock::new(MapState {
            chunks: Vec::new(),
            // The submitter's count, handed to the last chunk: no chunk
            // can complete the map before the last one is sent.
            open: 1,
            cb: Some(callbacks),
        }));
        let workers = self.processes();
        let mut remaining = n;
        for k in 0.. {
            let size = chunksize.unwrap_or_else(|| map_chunk(n, k, remaining, workers));
            let mut calls = Calls::new(task);
            let encoded = calls.push_each(items.by_ref().take(size));
            let last = items.peek().is_none();
            remaining = remaining.saturating_sub(calls.len());
            let failed: Option<(Error, Error)> = match encoded {
                Err(reason) => {
                    let e = |reason: String| Error::Encode {
                        what: "task arguments",
                        reason,
                    };
                    Some((e(reason.clone()), e(reason)))
                }
                Ok(()) => {
                    let index = {
                        let mut st = state.acquire();
                        st.chunks.push(None);
                        st.open += usize::from(!last);
                        st.chunks.len() - 1
                    };
                    let sink = MapSink {
                        task,
                        index,
                        state: state.clone(),
                        result: result.clone(),
                    };
                    match self.core.submit(&calls, Box::new(sink)) {
                        Ok(()) => None,
                        Err(f) => Some((f.clone().into(), f.into())),
                    }
                }
            };
            if let Some((mine, theirs)) = failed {
                // The chunks already sent run; the map fails now.
                let cb = state.acquire().cb.take();
                if let Some(cb) = cb {
                    result.set(Err(theirs), cb);
                }
                return Err(mine);
            }
            if last {
                break;
            }
        }
        Ok(result)
    }

    /// Python's `imap(func, iterable, chunksize=1)`: results in input
    /// order, lazily; see [`IMap`]. `chunksize` `None` is 1.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let pool = Pool::new(2).unwrap();
    /// let v: Vec<u32> = pool.imap(double::TASK, 0..5, None).map(Result::unwrap).collect();
    /// assert_eq!(v, [0, 2, 4, 6, 8]);
    /// # }
    /// ```
    pub fn imap<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        chunksize: Option<usize>,
    ) -> IMap<A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.imap_impl(task.name(), items, chunksize, true)
    }

    /// Python's `imap_unordered(func, iterable, chunksize=1)`: results as
    /// they finish.
    ///
    /// ```
    /// # #[gilfree::main] fn main() {
    /// # use gilfree::multiprocessing::Pool;
    /// #[gilfree::task]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let pool = Pool::new(2).unwrap();
    /// let mut v: Vec<u32> = pool.imap_unordered(double::TASK, 0..5, None).map(Result::unwrap).collect();
    /// v.sort();
    /// assert_eq!(v, [0, 2, 4, 6, 8]);
    /// # }
    /// ```
    pub fn imap_unordered<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        chunksize: Option<usize>,
    ) -> IMap<A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.imap_impl(task.name(), items, chunksize, false)
    }

    fn imap_impl<A, R, I>(
        &self,
        task: &'static str,
        items: I,
        chunksize: Option<usize>,
        ordered: bool,
    ) -> IMap<A, R, I::IntoIter>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        IMap::new(
            self.core.clone(),
            task,
            items.into_iter(),
            chunksize.unwrap_or(1),
            ordered,
            2 * self.processes(),
        )
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    #[test]
    fn a_one_tuple_encodes_as_its_field() {
        let a = (7u32, "x".to_string(), vec![1.5f64]);
        assert_eq!(
            postcard::to_allocvec(&(a.clone(),)).unwrap(),
            postcard::to_allocvec(&a).unwrap()
        );
    }
}
