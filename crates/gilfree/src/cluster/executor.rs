//! `MpiPoolExecutor`: the front end executors hold; it posts batches to
//! rank 0's hub and tracks its own so that `shutdown` can wait for them
//! or cancel those not sent.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::hub::{Batch, Hub, Owner, Ticket};
use crate::futures::process_pool::{Call, ProcessMap, map_on, submit_call};
use crate::futures::{Error, Executor, Future, MapOptions};
use crate::multiprocessing::Task;
use crate::multiprocessing::pool::core::{Failure, Sink, Submit};
use crate::multiprocessing::pool::wire::Calls;
use crate::threading::Lock;

/// One executor's side of the hub.
struct Front {
    hub: &'static Hub,
    owner: Arc<Owner>,
    /// `shutdown` was called.
    closed: Lock<bool>,
}

impl Submit for Front {
    fn submit(&self, calls: &Calls, sink: Box<dyn Sink>) -> Result<(), Failure> {
        if !calls.fds.is_empty() {
            return Err(Failure::Io(
                "a descriptor (Connection, SharedMemory) cannot travel to another rank".into(),
            ));
        }
        let id = self.hub.next_id();
        let frame = calls.frame(id).map_err(Failure::Io)?;
        // Under `closed`, so that `shutdown` sees every batch taken before
        // it closed and none after.
        let closed = self.closed.acquire();
        if *closed {
            return Err(Failure::Closed);
        }
        let ticket = Ticket::new(&self.owner);
        self.hub.post(Batch {
            id,
            frame,
            sink,
            ticket,
        })
    }
}

/// mpi4py's `mpi4py.futures.MPIPoolExecutor`: task calls run on the other
/// ranks of an MPI job, handing back [`Future`]s (feature `mpi`).
///
/// Start the program with `mpiexec -n N ./app` and call
/// [`multiprocessing::init()`](crate::multiprocessing::init) first in
/// `main`: ranks 1..N-1 serve, rank 0 runs `main` and builds the executor,
/// whose `max_workers` is N-1. Calls are `#[gilfree::task]`s, as for
/// [`ProcessPoolExecutor`](crate::futures::ProcessPoolExecutor): the
/// executor implements [`Executor`]`<`[`Call`]`<A, R>>`, so code written
/// against `Executor<J>` runs on it unchanged, and
/// [`wait`](crate::futures::wait()), [`as_completed`](crate::futures::as_completed)
/// and the progress bar work on its futures. Several executors may share
/// the ranks.
///
/// Differences from mpi4py: no `MPI_Comm_spawn` (it fails on Debian's
/// MPICH): the ranks come from `mpiexec -n N` only, and a program not
/// started that way gets [`Error::Mpi`] here (so does `mpiexec -n 1`: no
/// worker ranks) while running normally otherwise. A rank that dies ends
/// the MPI job (see [the module docs](super)). Dropping the executor is
/// `shutdown(wait=True)`.
///
/// ```no_run
/// use gilfree::cluster::MpiPoolExecutor;
/// use gilfree::futures::MapOptions;
///
/// #[gilfree::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     gilfree::multiprocessing::init(); // ranks 1..N-1 serve from here
///     let pool = MpiPoolExecutor::new().unwrap(); // Err outside mpiexec
///     assert_eq!(pool.submit(square::TASK, (7,)).unwrap().result(), Ok(49));
///     let v: Vec<u64> = pool
///         .map(square::TASK, 0..1000, MapOptions::new().chunksize(100))
///         .unwrap()
///         .map(Result::unwrap)
///         .collect();
///     assert_eq!(v[999], 999 * 999);
/// }
/// ```
pub struct MpiPoolExecutor {
    front: Arc<Front>,
}

impl fmt::Debug for MpiPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpiPoolExecutor")
            .field("max_workers", &self.front.hub.servers)
            .finish()
    }
}

impl MpiPoolExecutor {
    /// mpi4py's `MPIPoolExecutor()`: an executor over every server rank.
    ///
    /// [`Error::Mpi`] when the program was not started by `mpiexec`, was
    /// started with one rank only (no worker ranks), or
    /// [`multiprocessing::init()`](crate::multiprocessing::init) did not
    /// initialise MPI; the message says which and what to run.
    ///
    /// ```
    /// // Outside mpiexec (as here, a doc test): a clear error.
    /// gilfree::multiprocessing::init();
    /// let e = gilfree::cluster::MpiPoolExecutor::new().unwrap_err();
    /// assert!(e.to_string().contains("mpiexec"));
    /// ```
    pub fn new() -> Result<Self, Error> {
        let hub = super::hub().map_err(Error::Mpi)?;
        Ok(MpiPoolExecutor {
            front: Arc::new(Front {
                hub,
                owner: Owner::new(),
                closed: Lock::new(false),
            }),
        })
    }

    /// mpi4py's `_max_workers`: the server ranks (N-1 under `mpiexec -n
    /// N`).
    ///
    /// ```no_run
    /// gilfree::multiprocessing::init();
    /// let pool = gilfree::cluster::MpiPoolExecutor::new().unwrap();
    /// assert_eq!(pool.max_workers() + 1, gilfree::cluster::world_size().unwrap());
    /// ```
    pub fn max_workers(&self) -> usize {
        self.front.hub.servers
    }

    /// Python's `submit(fn, *args)`: run `task(args)` on a server rank.
    /// The call is sent to the rank with the fewest calls in flight (at
    /// most two each); until then it waits on rank 0 and can be cancelled.
    ///
    /// Fails with [`Error::ShutDown`] after `shutdown`.
    ///
    /// ```no_run
    /// # #[gilfree::task] fn add(a: i32, b: i32) -> i32 { a + b }
    /// gilfree::multiprocessing::init();
    /// let pool = gilfree::cluster::MpiPoolExecutor::new().unwrap();
    /// assert_eq!(pool.submit(add::TASK, (2, 3)).unwrap().result(), Ok(5));
    /// ```
    pub fn submit<A, R>(&self, task: Task<A, R>, args: A) -> Result<Future<R>, Error>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        submit_call(&*self.front, task, args)
    }

    /// Python's `map(fn, *iterables, timeout, chunksize, buffersize)` for
    /// a one-argument task: results in input order, as they arrive. Items
    /// travel in chunks of `options.chunksize` (default 1, as Python; use
    /// a few hundred for tiny calls); with `options.buffersize`, at most
    /// that many chunks are in flight and the input is read lazily. The
    /// timeout counts from this call; the first error is the last item.
    ///
    /// ```no_run
    /// use gilfree::futures::MapOptions;
    /// # #[gilfree::task] fn double(x: u32) -> u32 { x * 2 }
    /// gilfree::multiprocessing::init();
    /// let pool = gilfree::cluster::MpiPoolExecutor::new().unwrap();
    /// let v: Vec<u32> = pool
    ///     .map(double::TASK, 0.., MapOptions::new().chunksize(16).buffersize(4))
    ///     .unwrap()
    ///     .take(100)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(v[99], 198);
    /// ```
    pub fn map<A, R, I>(
        &self,
        task: Task<(A,), R>,
        items: I,
        options: MapOptions,
    ) -> Result<ProcessMap<A, R, I::IntoIter>, Error>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        map_on(self.front.clone(), task, items, options)
    }

    /// Python's `shutdown(wait=True, *, cancel_futures=False)`: refuse new
    /// calls; with `cancel_futures`, cancel the calls not yet sent to a
    /// rank; with `wait`, return once every call of this executor is done
    /// (at once when called from a done-callback, which runs on the thread
    /// that completes the calls).
    /// The ranks go on serving (other executors, and exit with rank 0).
    /// Calling it again is harmless.
    ///
    /// ```no_run
    /// # #[gilfree::task] fn one() -> u8 { 1 }
    /// use gilfree::futures::Error;
    /// gilfree::multiprocessing::init();
    /// let pool = gilfree::cluster::MpiPoolExecutor::new().unwrap();
    /// let f = pool.submit(one::TASK, ()).unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result(), Ok(1));
    /// assert_eq!(pool.submit(one::TASK, ()).unwrap_err(), Error::ShutDown);
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        *self.front.closed.acquire() = true;
        if cancel_futures {
            self.front.hub.cancel_pending(&self.front.owner);
        }
        // From a done-callback (on the hub thread) waiting would wait for
        // the hub itself: return at once, as the process pool does.
        if wait && !super::on_hub() {
            self.front.owner.wait_idle();
        }
    }
}

impl<A, R> Executor<Call<A, R>> for MpiPoolExecutor
where
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    fn submit(&self, job: Call<A, R>) -> Result<Future<R>, Error> {
        let (task, args) = job.into_parts();
        MpiPoolExecutor::submit(self, task, args)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        MpiPoolExecutor::shutdown(self, wait, cancel_futures)
    }
}

impl Drop for MpiPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}
