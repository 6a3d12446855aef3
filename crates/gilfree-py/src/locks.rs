//! `Lock` (and, as they land, the other threading primitives).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use gilfree::threading as th;

use crate::wait::{Truthy, block, lock_timeout};

/// `gilfree.Lock`: `threading.Lock` on a gilfree futex lock.
#[pyclass(module = "gilfree", name = "Lock", frozen, weakref)]
pub struct Lock {
    inner: th::Lock<()>,
}

impl Lock {
    fn acquire_for(&self, py: Python<'_>, timeout: Option<std::time::Duration>) -> PyResult<bool> {
        // Fast path with the GIL held: no GIL release when uncontended.
        if self.inner.acquire_unguarded(false, None) {
            return Ok(true);
        }
        if timeout == Some(std::time::Duration::ZERO) {
            return Ok(false);
        }
        block(py, timeout, |slice| {
            self.inner.acquire_unguarded(true, Some(slice))
        })
    }
}

#[pymethods]
impl Lock {
    #[new]
    fn new() -> Self {
        Lock {
            inner: th::Lock::new(()),
        }
    }

    /// acquire(blocking=True, timeout=-1) -> bool
    #[pyo3(signature = (blocking = Truthy(true), timeout = -1.0))]
    fn acquire(&self, py: Python<'_>, blocking: Truthy, timeout: f64) -> PyResult<bool> {
        let t = lock_timeout(blocking.0, timeout)?;
        self.acquire_for(py, t)
    }

    /// release(): RuntimeError if not locked.
    fn release(&self) -> PyResult<()> {
        self.inner
            .release()
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// locked() -> bool
    fn locked(&self) -> bool {
        self.inner.locked()
    }

    /// The `_thread.lock` alias names.
    #[pyo3(signature = (blocking = Truthy(true), timeout = -1.0))]
    fn acquire_lock(&self, py: Python<'_>, blocking: Truthy, timeout: f64) -> PyResult<bool> {
        self.acquire(py, blocking, timeout)
    }

    fn release_lock(&self) -> PyResult<()> {
        self.release()
    }

    fn locked_lock(&self) -> bool {
        self.locked()
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.acquire_for(py, None)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.release()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let state = if slf.get().inner.locked() {
            "locked"
        } else {
            "unlocked"
        };
        format!(
            "<{state} gilfree.Lock object at {:#x}>",
            slf.as_ptr() as usize
        )
    }

    /// Reset to unlocked: CPython calls this in a child after fork, where
    /// no other thread of the parent exists to hold or wait for the lock.
    fn _at_fork_reinit(&self) {
        let _ = self.inner.release();
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Lock>()?;
    Ok(())
}
