//! `import gilfree`: gilfree's threading, queue and futures objects for
//! Python, with the stdlib's signatures, exceptions, context managers and
//! reprs. This cdylib is `gilfree._gilfree`; the package `gilfree`
//! (`python/gilfree/`) re-exports it and adds the pure-Python layer of
//! `ThreadPoolExecutor`/`Future` (see `_futures.py` for why).
//!
//! | Python | here |
//! |---|---|
//! | `threading.Lock`, `RLock`, `Condition` | `src/locks.rs`, `src/rlock.rs`, `src/condition.rs` |
//! | `threading.Semaphore`, `BoundedSemaphore`, `Event` | `src/semaphore.rs` |
//! | `threading.Barrier` (+ `threading.BrokenBarrierError` itself) | `src/rlock.rs` |
//! | `queue.Queue`, `LifoQueue`, `PriorityQueue`, `SimpleQueue`, `Empty`, `Full`, `ShutDown` | `src/queue.rs` |
//! | `concurrent.futures.ThreadPoolExecutor` (worker pool half) | `src/futures.rs` |
//!
//! Every call that blocks releases the GIL, and waits in slices so that
//! Ctrl-C (a pending signal) interrupts it as it does CPython's own locks
//! (`wait::block`); `Barrier.wait` is the exception (an arrival cannot be
//! retried), documented on the type.

use pyo3::prelude::*;

mod condition;
mod futures;
mod locks;
mod queue;
mod rlock;
mod semaphore;
mod wait;

/// The extension module `gilfree`.
#[pymodule]
#[pyo3(name = "_gilfree")]
fn gilfree_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("TIMEOUT_MAX", wait::TIMEOUT_MAX)?;
    locks::register(m)?;
    condition::register(m)?;
    semaphore::register(m)?;
    rlock::register(m)?;
    futures::register(m)?;
    queue::register(m)?;
    Ok(())
}
