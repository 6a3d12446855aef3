//! `RLock` and `Barrier`: `threading`'s, on gilfree's primitives.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use gilfree::threading as th;

use crate::wait::{Truthy, block, lock_timeout, opt_timeout};

fn not_owner() -> PyErr {
    PyRuntimeError::new_err("cannot release un-acquired lock")
}

/// `gilfree.RLock()`: `threading.RLock` on gilfree's futex RLock.
///
/// Ownership is the calling OS thread, which for Python threads is the
/// Python thread. `_is_owned`, `_recursion_count`, `_release_save` and
/// `_acquire_restore` are there for `Condition` (ours and the stdlib's).
#[pyclass(module = "gilfree", name = "RLock", frozen, weakref)]
pub struct RLock {
    inner: th::RLock<()>,
}

impl RLock {
    fn acquire_for(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<bool> {
        // Fast path (and re-entry) with the GIL held: no GIL release.
        if self.inner.acquire_unguarded(false, None) {
            return Ok(true);
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(false);
        }
        let l = &self.inner;
        block(py, timeout, |slice| l.acquire_unguarded(true, Some(slice)))
    }
}

#[pymethods]
impl RLock {
    #[new]
    fn new() -> Self {
        RLock {
            inner: th::RLock::new(()),
        }
    }

    /// acquire(blocking=True, timeout=-1) -> bool
    #[pyo3(signature = (blocking = Truthy(true), timeout = -1.0))]
    fn acquire(&self, py: Python<'_>, blocking: Truthy, timeout: f64) -> PyResult<bool> {
        let t = lock_timeout(blocking.0, timeout)?;
        self.acquire_for(py, t)
    }

    /// release(): one level; RuntimeError if the calling thread does not
    /// own the lock.
    fn release(&self) -> PyResult<()> {
        self.inner.release().map_err(|_| not_owner())
    }

    fn locked(&self) -> bool {
        self.inner.locked()
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.acquire_for(py, None)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.release()
    }

    fn _is_owned(&self) -> bool {
        self.inner.is_owned()
    }

    fn _recursion_count(&self) -> u32 {
        self.inner.recursion_count()
    }

    /// Release every level; returns the state `_acquire_restore` takes
    /// back: `(count, owner)` as CPython's (`owner` is
    /// `threading.get_ident()`).
    fn _release_save(&self) -> PyResult<(u32, u64)> {
        if !self.inner.is_owned() {
            return Err(not_owner());
        }
        let count = self.inner.recursion_count();
        for _ in 0..count {
            self.inner.release().map_err(|_| not_owner())?;
        }
        Ok((count, current_ident()))
    }

    /// Re-acquire as many levels as `_release_save` released (the wait
    /// for the first releases the GIL; the others are re-entries).
    fn _acquire_restore(&self, py: Python<'_>, state: (u32, u64)) -> PyResult<()> {
        let (count, _owner) = state;
        self.acquire_for(py, None)?;
        for _ in 1..count {
            self.inner.acquire_unguarded(false, None);
        }
        Ok(())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let l = &slf.get().inner;
        let addr = slf.as_ptr() as usize;
        if !l.locked() {
            format!("<unlocked gilfree.RLock object owner=0 count=0 at {addr:#x}>")
        } else if l.is_owned() {
            format!(
                "<locked gilfree.RLock object owner={} count={} at {addr:#x}>",
                current_ident(),
                l.recursion_count()
            )
        } else {
            // Another thread's: gilfree does not expose its id or count.
            format!("<locked gilfree.RLock object at {addr:#x}>")
        }
    }
}

/// `threading.get_ident()` of the calling thread (`pthread_self` on Linux,
/// as CPython).
fn current_ident() -> u64 {
    Python::attach(|py| {
        py.import("threading")
            .and_then(|t| t.getattr("get_ident")?.call0()?.extract::<u64>())
            .unwrap_or(0)
    })
}

/// `gilfree.Barrier(parties, action=None, timeout=None)`:
/// `threading.Barrier` on gilfree's Barrier.
///
/// Raises `threading.BrokenBarrierError` itself, so existing `except`
/// clauses work. The action runs in the last thread to arrive, with the
/// GIL; if it raises, the barrier breaks and that thread's `wait` raises
/// the action's exception (as CPython). Unlike the other blocking calls, a
/// barrier wait cannot be retried in slices (arriving is counted), so it
/// releases the GIL for the whole wait and Ctrl-C takes effect only when
/// it returns.
///
/// Deadlock freedom: the barrier's internal lock is only ever taken by a
/// thread without the GIL (every call that can take it detaches first),
/// so the action, which takes the GIL while that lock is held, never waits
/// for a thread that waits for it.
#[pyclass(module = "gilfree", name = "Barrier", frozen, weakref)]
pub struct Barrier {
    inner: th::Barrier,
}

fn broken(py: Python<'_>) -> PyErr {
    match py
        .import("threading")
        .and_then(|t| t.getattr("BrokenBarrierError"))
    {
        Ok(ty) => PyErr::from_type(ty.cast_into().expect("a type"), ()),
        Err(e) => e,
    }
}

#[pymethods]
impl Barrier {
    #[new]
    #[pyo3(signature = (parties, action = None, timeout = None))]
    fn new(parties: i64, action: Option<Py<PyAny>>, timeout: Option<f64>) -> PyResult<Self> {
        if parties < 1 {
            return Err(PyValueError::new_err("parties must be >= 1"));
        }
        let mut b = th::Barrier::new(parties as usize);
        if let Some(action) = action {
            b = b.with_action(move || {
                Python::attach(|py| {
                    if let Err(e) = action.call0(py) {
                        // Break the barrier (gilfree catches the unwind)
                        // and carry the exception to this thread's wait.
                        // `resume_unwind` runs no panic hook: nothing printed.
                        resume_unwind(Box::new(e));
                    }
                })
            });
        }
        if let Some(t) = opt_timeout(timeout)? {
            b = b.with_timeout(t);
        }
        Ok(Barrier { inner: b })
    }

    /// wait(timeout=None) -> int: this thread's arrival index.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<usize> {
        let t = match timeout {
            None => None,
            Some(t) => Some(opt_timeout(Some(t))?.unwrap_or(Duration::MAX)),
        };
        let b = &self.inner;
        let r: Result<Result<usize, th::Error>, Box<dyn Any + Send>> = py.detach(|| {
            catch_unwind(AssertUnwindSafe(|| match t {
                None => b.wait(),
                Some(t) => b.wait_timeout(t),
            }))
        });
        match r {
            Ok(Ok(i)) => Ok(i),
            Ok(Err(_)) => Err(broken(py)),
            Err(payload) => match payload.downcast::<PyErr>() {
                Ok(e) => Err(*e),
                Err(p) => resume_unwind(p),
            },
        }
    }

    /// reset(): back to the empty state; current waiters get
    /// BrokenBarrierError.
    fn reset(&self, py: Python<'_>) {
        let b = &self.inner;
        py.detach(|| b.reset())
    }

    /// abort(): break the barrier.
    fn abort(&self, py: Python<'_>) {
        let b = &self.inner;
        py.detach(|| b.abort())
    }

    #[getter]
    fn parties(&self) -> usize {
        self.inner.parties()
    }

    #[getter]
    fn n_waiting(&self) -> usize {
        self.inner.n_waiting()
    }

    #[getter]
    fn broken(&self) -> bool {
        self.inner.broken()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let b = &slf.get().inner;
        let addr = slf.as_ptr() as usize;
        if b.broken() {
            format!("<gilfree.Barrier at {addr:#x}: broken>")
        } else {
            format!(
                "<gilfree.Barrier at {addr:#x}: waiters={}/{}>",
                b.n_waiting(),
                b.parties()
            )
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RLock>()?;
    m.add_class::<Barrier>()?;
    m.add(
        "BrokenBarrierError",
        m.py().import("threading")?.getattr("BrokenBarrierError")?,
    )?;
    Ok(())
}
