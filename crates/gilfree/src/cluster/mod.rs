//! The same executor on a cluster: [`MpiPoolExecutor`] runs task calls on
//! the ranks of an MPI job, as mpi4py's `mpi4py.futures.MPIPoolExecutor`
//! does (feature `mpi`).
//!
//! | Python | gilfree |
//! |---|---|
//! | `mpi4py.futures.MPIPoolExecutor` | [`MpiPoolExecutor`] |
//! | `python -m mpi4py.futures app.py` under `mpiexec -n N` | `mpiexec -n N ./app`, with [`multiprocessing::init()`](crate::multiprocessing::init) first in `main` |
//!
//! # How it runs
//!
//! Start the program with `mpiexec -n N ./app` (on several hosts:
//! `mpiexec -f hostfile -n N ./app`; see the README). In every rank,
//! [`multiprocessing::init()`](crate::multiprocessing::init) initialises
//! MPI; ranks 1..N-1 become servers there and never return into `main`
//! (they exit when rank 0 exits); rank 0 returns and runs the program.
//! Outside `mpiexec` the binary runs normally and MPI is never touched;
//! only building an [`MpiPoolExecutor`] fails, with [`Error::Mpi`].
//!
//! In each rank one thread at a time makes MPI calls: on a server, its
//! main thread (`server`); on rank 0, the *hub* thread (`hub`), or a
//! thread submitting while the hub sleeps idle, which sends its batch
//! itself under the hub's wire lock. Calls travel in the
//! process pool's wire format (a batch: one task name, its calls'
//! encoded arguments), as the same `#[gilfree::task]`s.
//!
//! # When a rank fails
//!
//! A task that panics fails its own future with [`Error::Panicked`]; the
//! rank goes on. A rank that *dies* (a signal, `abort`, `exit` in a task)
//! ends the whole job: MPI (MPICH's `mpiexec`, Hydra) sees the process
//! gone, kills every other rank, rank 0 included, prints `BAD TERMINATION
//! OF ONE OF YOUR APPLICATION PROCESSES` with the dead rank's exit code or
//! signal, and exits non-zero. Rank 0 cannot go on without it, as a
//! process pool does: MPI jobs have a fixed set of ranks. Nothing hangs.
//!
//! [`Error::Mpi`]: crate::futures::Error::Mpi
//! [`Error::Panicked`]: crate::futures::Error::Panicked

mod backoff;
mod executor;
mod hub;
mod server;

pub use executor::MpiPoolExecutor;

use std::sync::OnceLock;
use std::thread::JoinHandle;

use mpi::Threading;
use mpi::environment::Universe;
use mpi::topology::Communicator;

use crate::sys::os;
use crate::threading::Lock;
use hub::Hub;

/// Rank 0 → server: run this batch (a `wire::Run`).
const RUN: i32 = 1;
/// Server → rank 0: a batch's `wire::Reply::Done`.
const DONE: i32 = 2;
/// Rank 0 → server: no more batches; finalise and exit.
const STOP: i32 = 3;

/// What `init()` found, on rank 0.
enum Launch {
    /// Not started by `mpiexec`.
    Plain,
    /// Started by `mpiexec`, but MPI was initialised before `init()`
    /// (by the program itself): the executor cannot own it.
    Foreign,
    /// Rank 0 of a job; the hub runs.
    Root(Hub),
}

static LAUNCH: OnceLock<Launch> = OnceLock::new();
static HUB_THREAD: Lock<Option<JoinHandle<()>>> = Lock::new(None);
static UNIVERSE: Lock<Option<Universe>> = Lock::new(None);
static HUB_ID: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// Whether the caller is the hub thread (a done-callback runs there).
fn on_hub() -> bool {
    HUB_ID.get() == Some(&std::thread::current().id())
}

/// Whether a process manager (`mpiexec`, `srun`) started this process as
/// one rank of a job: the variables MPICH's Hydra, PMIx and Open MPI set.
fn started_by_mpiexec() -> bool {
    ["PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// Called by `multiprocessing::init()`: outside `mpiexec`, nothing; on a
/// server rank, serve and exit; on rank 0, start the hub and return.
pub(crate) fn init() {
    if LAUNCH.get().is_some() {
        return;
    }
    if !started_by_mpiexec() {
        let _ = LAUNCH.set(Launch::Plain);
        return;
    }
    // The main thread initialises (and, at exit, finalises); the hub (or
    // a poster, under the hub's wire lock) makes every other call: one at
    // a time, so `Serialized` suffices.
    let Some((universe, level)) = mpi::initialize_with_threading(Threading::Serialized) else {
        let _ = LAUNCH.set(Launch::Foreign);
        return;
    };
    let world = universe.world();
    if level < Threading::Serialized {
        eprintln!("gilfree cluster: this MPI grants {level:?}; MpiPoolExecutor needs Serialized");
        world.abort(70);
    }
    let (rank, size) = (world.rank(), world.size());
    if rank != 0 {
        backoff::poller_thread();
        server::serve(&world);
        drop(universe); // MPI_Finalize
        std::process::exit(0);
    }
    let _ = LAUNCH.set(Launch::Root(Hub::new(size as usize - 1)));
    *UNIVERSE.acquire() = Some(universe);
    let spawned = std::thread::Builder::new()
        .name("gilfree-mpi-hub".into())
        .spawn(|| {
            backoff::poller_thread();
            if let Some(Launch::Root(hub)) = LAUNCH.get() {
                hub.run();
            }
        });
    match spawned {
        Ok(h) => {
            let _ = HUB_ID.set(h.thread().id());
            *HUB_THREAD.acquire() = Some(h);
        }
        Err(e) => {
            eprintln!("gilfree cluster: cannot start the MPI thread: {e}");
            world.abort(71);
        }
    }
    os::process::at_exit(finish);
}

/// At rank 0's exit: stop the servers, let the hub finish, finalise MPI.
extern "C" fn finish() {
    let Some(Launch::Root(hub)) = LAUNCH.get() else {
        return;
    };
    let h = HUB_THREAD.acquire().take();
    if let Some(h) = h {
        if h.thread().id() == std::thread::current().id() {
            return; // exit() called from the hub itself: nothing to wait for
        }
        hub.request_stop();
        let _ = h.join();
    }
    drop(UNIVERSE.acquire().take()); // MPI_Finalize
}

/// The hub, or why there is none.
fn hub() -> Result<&'static Hub, String> {
    match LAUNCH.get() {
        Some(Launch::Root(hub)) if hub.servers == 0 => Err(
            "MpiPoolExecutor: no worker ranks (started with `mpiexec -n 1`); \
             start it with `mpiexec -n N` for N >= 2: rank 0 runs main, the others serve"
                .into(),
        ),
        Some(Launch::Root(hub)) => Ok(hub),
        Some(Launch::Foreign) => Err(
            "MpiPoolExecutor: MPI was initialised before gilfree::multiprocessing::init(); \
             call init() first in main and let it initialise MPI"
                .into(),
        ),
        Some(Launch::Plain) => Err(
            "MpiPoolExecutor: not started by mpiexec; run the program as \
             `mpiexec -n N <program>` (N >= 2: rank 0 runs main, the others serve)"
                .into(),
        ),
        None if started_by_mpiexec() => Err(
            "MpiPoolExecutor: gilfree::multiprocessing::init() was not called; \
             it must be the first line of main, so that ranks 1..N-1 become servers"
                .into(),
        ),
        None => Err(
            "MpiPoolExecutor: not started by mpiexec (and gilfree::multiprocessing::init() \
             was not called); run the program as `mpiexec -n N <program>`"
                .into(),
        ),
    }
}

/// The number of ranks in this MPI job (`MPI_COMM_WORLD`'s size), or
/// `None` when the program was not started by `mpiexec` (or
/// [`multiprocessing::init()`](crate::multiprocessing::init) was not
/// called). Only rank 0 runs user code, so this is rank 0's view. No
/// Python equivalent (mpi4py: `MPI.COMM_WORLD.Get_size()`).
///
/// ```
/// gilfree::multiprocessing::init();
/// if gilfree::cluster::world_size().is_none() {
///     println!("run me with: mpiexec -n 3 {}", std::env::args().next().unwrap());
/// }
/// ```
pub fn world_size() -> Option<usize> {
    match LAUNCH.get() {
        Some(Launch::Root(hub)) => Some(hub.servers + 1),
        _ => None,
    }
}
