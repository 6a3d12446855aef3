//! `gilfree.Condition`: `threading.Condition` over any lock object.
//!
//! CPython's algorithm, with gilfree locks as the per-waiter locks: each
//! waiter parks on a private lock that `notify` releases, so exactly `n`
//! waiters wake for `notify(n)` (CPython's lock tests count them). The
//! condition's own lock may be a gilfree `Lock`/`RLock` or any object with
//! `acquire`/`release` (a `threading.Lock`, say); an RLock's full recursion
//! is saved and restored around a wait through `_release_save` /
//! `_acquire_restore` where the lock has them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use gilfree::threading as th;

use crate::wait::{block, opt_timeout};

type Waiter = Arc<th::Lock<()>>;

/// `gilfree.Condition(lock=None)`.
#[pyclass(module = "gilfree", name = "Condition", frozen, weakref)]
pub struct Condition {
    lock: Py<PyAny>,
    waiters: th::Lock<VecDeque<Waiter>>,
}

impl Condition {
    fn is_owned(&self, py: Python<'_>) -> PyResult<bool> {
        let lock = self.lock.bind(py);
        if lock.hasattr("_is_owned")? {
            return lock.call_method0("_is_owned")?.is_truthy();
        }
        // CPython's fallback for plain locks: owned iff it can't be taken.
        if lock.call_method1("acquire", (false,))?.is_truthy()? {
            lock.call_method0("release")?;
            Ok(false)
        } else {
            Ok(true)
        }
    }

    fn release_save(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let lock = self.lock.bind(py);
        if lock.hasattr("_release_save")? {
            Ok(Some(lock.call_method0("_release_save")?.unbind()))
        } else {
            lock.call_method0("release")?;
            Ok(None)
        }
    }

    fn acquire_restore(&self, py: Python<'_>, saved: Option<Py<PyAny>>) -> PyResult<()> {
        let lock = self.lock.bind(py);
        match saved {
            Some(state) => lock.call_method1("_acquire_restore", (state,))?,
            None => lock.call_method0("acquire")?,
        };
        Ok(())
    }

    fn wait_inner(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<bool> {
        if !self.is_owned(py)? {
            return Err(PyRuntimeError::new_err("cannot wait on un-acquired lock"));
        }
        let waiter: Waiter = Arc::new(th::Lock::new(()));
        waiter.acquire_unguarded(true, None);
        self.waiters.acquire().push_back(waiter.clone());
        let saved = self.release_save(py)?;
        let got = match timeout {
            Some(t) if t.is_zero() => Ok(waiter.acquire_unguarded(false, None)),
            t => block(py, t, |slice| waiter.acquire_unguarded(true, Some(slice))),
        };
        // Reacquire even when the wait was interrupted, as CPython's
        // `finally:` does, then forget a waiter nobody notified.
        let restored = self.acquire_restore(py, saved);
        let got_it = *got.as_ref().unwrap_or(&false);
        if !got_it {
            let mut ws = self.waiters.acquire();
            if let Some(i) = ws.iter().position(|w| Arc::ptr_eq(w, &waiter)) {
                ws.remove(i);
            }
        }
        restored?;
        got
    }
}

#[pymethods]
impl Condition {
    #[new]
    #[pyo3(signature = (lock = None))]
    fn new(py: Python<'_>, lock: Option<Py<PyAny>>) -> PyResult<Self> {
        let lock = match lock {
            Some(l) => l,
            None => py.import("gilfree")?.getattr("RLock")?.call0()?.unbind(),
        };
        Ok(Condition {
            lock,
            waiters: th::Lock::new(VecDeque::new()),
        })
    }

    /// acquire(*args) -> bool: the underlying lock's acquire.
    #[pyo3(signature = (*args, **kwargs))]
    fn acquire<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, pyo3::types::PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.lock
            .bind(py)
            .call_method("acquire", args.clone(), kwargs)
    }

    /// release(): the underlying lock's release.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.lock.bind(py).call_method0("release")?;
        Ok(())
    }

    fn __enter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.lock.bind(py).call_method0("__enter__")
    }

    #[pyo3(signature = (*args))]
    fn __exit__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.lock.bind(py).call_method1("__exit__", args.clone())
    }

    fn _is_owned(&self, py: Python<'_>) -> PyResult<bool> {
        self.is_owned(py)
    }

    /// wait(timeout=None) -> bool: False if the timeout expired.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let t = opt_timeout(timeout)?;
        self.wait_inner(py, t)
    }

    /// wait_for(predicate, timeout=None): the predicate's last result.
    #[pyo3(signature = (predicate, timeout = None))]
    fn wait_for<'py>(
        &self,
        py: Python<'py>,
        predicate: Bound<'py, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let deadline = opt_timeout(timeout)?.and_then(|t| std::time::Instant::now().checked_add(t));
        let mut result = predicate.call0()?;
        while !result.is_truthy()? {
            let wait = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    Some(left)
                }
            };
            self.wait_inner(py, wait)?;
            result = predicate.call0()?;
        }
        Ok(result)
    }

    /// notify(n=1): wake up to n waiters.
    #[pyo3(signature = (n = 1))]
    fn notify(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        if !self.is_owned(py)? {
            return Err(PyRuntimeError::new_err("cannot notify on un-acquired lock"));
        }
        let mut ws = self.waiters.acquire();
        let mut left = n;
        while left > 0 {
            let Some(w) = ws.pop_front() else { break };
            // A waiter that already gave up left its lock released by no
            // one; releasing it now wakes nobody, as in CPython.
            if w.release().is_ok() {
                left -= 1;
            }
        }
        Ok(())
    }

    /// notify_all(): wake every waiter.
    fn notify_all(&self, py: Python<'_>) -> PyResult<()> {
        let n = self.waiters.acquire().len();
        self.notify(py, n)
    }

    /// The deprecated camelCase alias.
    #[pyo3(name = "notifyAll")]
    fn notify_all_alias(&self, py: Python<'_>) -> PyResult<()> {
        self.notify_all(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let n = self.waiters.acquire().len();
        Ok(format!(
            "<gilfree.Condition({}, {n})>",
            self.lock.bind(py).repr()?
        ))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Condition>()?;
    Ok(())
}
