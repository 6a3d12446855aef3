//! Scoped jobs on a thread pool (`ThreadPoolExecutor::scope`), as
//! `std::thread::scope`: jobs may borrow from the caller's stack frame,
//! because the scope does not return (nor unwind past its frame) before
//! every job submitted in it has run or been dropped.
//!
//! # How the borrow is kept sound
//!
//! Each scoped job is wrapped in a [`ScopedCall`] that counts itself in the
//! scope's [`Latch`] when made and counts itself out in its `Drop`, after
//! the user's closure (and everything it captured) is gone: whether it ran,
//! panicked, was cancelled and dropped unrun, or was refused by a pool that
//! had shut down. The scope waits for the count to reach zero in a guard's
//! `Drop`, so it waits on unwind too. Only then does the `'scope` borrow
//! end; that is what makes erasing the closure's lifetime to `'static` (the
//! pool's queue needs it) sound.

use core::marker::PhantomData;
use std::sync::Arc;

use super::executor::{Map, MapOptions};
use super::{Error, Future, ThreadPoolExecutor};
use crate::sys::atomic::{AtomicUsize, Ordering::*};
use crate::sys::{Deadline, EventCount};

/// Counts the scope's jobs that still exist; the scope waits for zero.
/// Also `map_collect`'s count of chunks not yet finished (`collect.rs`).
pub(super) struct Latch {
    alive: AtomicUsize,
    zero: EventCount,
}

impl Latch {
    /// A latch counting `n`.
    pub(super) fn new(n: usize) -> Self {
        Latch {
            alive: AtomicUsize::new(n),
            zero: EventCount::new(),
        }
    }

    /// Count one out (`Release`: what it did before is seen by `wait`'s
    /// caller).
    pub(super) fn done(&self) {
        if self.alive.fetch_sub(1, Release) == 1 {
            self.zero.notify();
        }
    }

    /// Return once the count is zero (`Acquire`).
    pub(super) fn wait(&self) {
        let zero = || (self.alive.load(Acquire) == 0).then_some(());
        if zero().is_none() {
            self.zero.block_until(Deadline::Never, zero);
        }
    }
}

/// A scoped job with its lifetime erased; counted in the latch while it
/// exists.
struct ScopedCall<T> {
    f: Option<Box<dyn FnOnce() -> T + Send>>,
    latch: Arc<Latch>,
}

impl<T> ScopedCall<T> {
    fn call(mut self) -> T {
        let f = self.f.take().expect("a scoped job runs once");
        f()
        // `self` drops here (or while unwinding out of `f`): counted out
        // after the closure is gone.
    }
}

impl<T> Drop for ScopedCall<T> {
    fn drop(&mut self) {
        // The closure first: its captures may borrow from the scope.
        drop(self.f.take());
        self.latch.done();
    }
}

/// Waits for the scope's jobs when dropped: at the end of the scope, or
/// while a panic unwinds out of it.
struct WaitOnDrop(Arc<Latch>);

impl Drop for WaitOnDrop {
    fn drop(&mut self) {
        self.0.wait();
    }
}

/// A scope for jobs that borrow from the caller's stack frame: made by
/// [`ThreadPoolExecutor::scope`] (no Python equivalent; Python's closures
/// may always borrow, Rust's `'static` bound on `submit` forbids it).
///
/// `'scope` is the scope's own lifetime; `'env` is that of what the jobs
/// borrow, which outlives the scope.
///
/// ```
/// use gilfree::futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::new();
/// let words = vec!["a".to_string(), "bb".to_string()];
/// let total = pool.scope(|s| {
///     let f = s.submit(|| words.iter().map(String::len).sum::<usize>()).unwrap();
///     f.result().unwrap()
/// });
/// assert_eq!(total, 3);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    pool: &'scope ThreadPoolExecutor,
    latch: Arc<Latch>,
    /// Invariant in both lifetimes, as `std::thread::Scope`.
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl core::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scope")
            .field("pool", self.pool)
            .field("jobs", &self.latch.alive.load(Relaxed))
            .finish()
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Wrap `f` as a job the pool may hold: counted in until dropped.
    fn erase<F, T>(&self, f: F) -> impl FnOnce() -> T + Send + 'static
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'static,
    {
        let f: Box<dyn FnOnce() -> T + Send + 'scope> = Box::new(f);
        // SAFETY: only the lifetime changes. The box lives in a
        // `ScopedCall`, counted in the latch from here until its `Drop` has
        // dropped the box; `ThreadPoolExecutor::scope` does not let `'scope`
        // end (it waits for the latch in a `Drop` guard, so on unwind too)
        // before that count is zero. So the closure is never called or
        // dropped after what it borrows has gone.
        let f: Box<dyn FnOnce() -> T + Send + 'static> = unsafe { core::mem::transmute(f) };
        self.latch.alive.fetch_add(1, Relaxed);
        let call = ScopedCall {
            f: Some(f),
            latch: self.latch.clone(),
        };
        move || call.call()
    }

    /// [`ThreadPoolExecutor::submit`] for a job that may borrow from the
    /// scope's environment. A panic in the job is the future's
    /// [`Error::Panicked`], as for `submit`.
    ///
    /// ```
    /// use gilfree::futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new();
    /// let name = String::from("gilfree");
    /// let n = pool.scope(|s| s.submit(|| name.len()).unwrap().result());
    /// assert_eq!(n, Ok(7));
    /// ```
    pub fn submit<F, T>(&'scope self, f: F) -> Result<Future<T>, Error>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'static,
    {
        self.pool.submit(self.erase(f))
    }

    /// [`ThreadPoolExecutor::map`] for a function that may borrow from the
    /// scope's environment: results in input order, each a job's outcome
    /// (a panic is that item's [`Error::Panicked`]).
    ///
    /// ```
    /// use std::path::Path;
    /// use gilfree::futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new();
    /// let out = Path::new("/tmp/out");
    /// let files: Vec<String> = pool.scope(|s| {
    ///     s.map(|n: u32| out.join(format!("{n}.txt")).display().to_string(), 1..=3)
    ///         .unwrap()
    ///         .map(Result::unwrap)
    ///         .collect()
    /// });
    /// assert_eq!(files, ["/tmp/out/1.txt", "/tmp/out/2.txt", "/tmp/out/3.txt"]);
    /// ```
    pub fn map<A, T, F, I>(
        &'scope self,
        f: F,
        items: I,
    ) -> Result<impl Iterator<Item = Result<T, Error>> + 'scope, Error>
    where
        F: Fn(A) -> T + Send + Sync + 'scope,
        A: Send + 'scope,
        T: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'scope,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// [`ThreadPoolExecutor::map_with`] (timeout, buffersize, progress:
    /// see [`MapOptions`]) for a function that may borrow from the scope's
    /// environment.
    ///
    /// ```
    /// use gilfree::futures::{MapOptions, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let base = 100;
    /// let v: Vec<u32> = pool.scope(|s| {
    ///     let it = s.map_with(|x: u32| x + base, 0..4, MapOptions::new().buffersize(2));
    ///     it.unwrap().map(Result::unwrap).collect()
    /// });
    /// assert_eq!(v, [100, 101, 102, 103]);
    /// ```
    pub fn map_with<A, T, F, I>(
        &'scope self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Result<impl Iterator<Item = Result<T, Error>> + 'scope, Error>
    where
        F: Fn(A) -> T + Send + Sync + 'scope,
        A: Send + 'scope,
        T: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'scope,
    {
        let f = Arc::new(f);
        let jobs = items.into_iter().map(move |a| {
            let f = f.clone();
            self.erase(move || f(a))
        });
        Map::new(self.pool, jobs, options)
    }
}

/// The body of [`ThreadPoolExecutor::scope`].
pub(super) fn scope<'env, F, R>(pool: &ThreadPoolExecutor, f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let scope = Scope {
        pool,
        latch: Arc::new(Latch::new(0)),
        _scope: PhantomData,
        _env: PhantomData,
    };
    let _wait = WaitOnDrop(scope.latch.clone());
    f(&scope)
}
