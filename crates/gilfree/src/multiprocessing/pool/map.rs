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

use super::default_chunksize;
use super::front::Pool;
use super::imap::IMap;
use super::result::{AsyncResult, Callbacks};
use super::sinks::{MapSink, MapState};
use super::wire::Calls;
use crate::multiprocessing::error::{Error, Result};
use crate::multiprocessing::task::Task;
use crate::threading::Lock;

impl Pool {
    /// Python's `map(func, iterable, chunksize)`: a one-argument task over
    /// every item, results in input order; the first failure is the
    /// error. `chunksize` `None` is Python's default,
    /// `ceil(len / (4 × processes))`.
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
        let items: Vec<A> = items.into_iter().collect();
        let result = AsyncResult::new();
        if items.is_empty() {
            result.set(Ok(Vec::new()), callbacks);
            return Ok(result);
        }
        let size = chunksize.unwrap_or_else(|| default_chunksize(items.len(), self.processes()));
        let state = Arc::new(Lock::new(MapState {
            values: (0..items.len()).map(|_| None).collect(),
            left: items.len(),
            cb: Some(callbacks),
        }));
        // Each chunk is sent as soon as it is encoded, so the workers start
        // while the rest is encoded.
        for (k, chunk) in items.chunks(size).enumerate() {
            let mut calls = Calls::new(task);
            let encoded = calls.push_each(chunk);
            let failed: Option<(Error, Error)> = match encoded {
                Err(reason) => {
                    let e = |reason: String| Error::Encode {
                        what: "task arguments",
                        reason,
                    };
                    Some((e(reason.clone()), e(reason)))
                }
                Ok(()) => {
                    let sink = MapSink {
                        task,
                        offset: k * size,
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
