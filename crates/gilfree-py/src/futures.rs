//! `_ThreadPool`: the Rust half of `gilfree.ThreadPoolExecutor` — a gilfree
//! thread pool whose jobs are Python callables (the Python half, in
//! `python/gilfree/_futures.py`, owns the `concurrent.futures.Future`s).
//!
//! Each job takes the GIL (`Python::attach`) to run its work item; the pool
//! itself (queueing, parking, starting workers lazily) runs without it.
//! The pool's internal lock is held only for pushes and pops that never
//! need the GIL, so `submit` may take it with the GIL held; `shutdown(wait)`
//! joins workers that need the GIL to finish, so it releases the GIL.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use gilfree::futures as f;

fn broken(py: Python<'_>, why: &str) -> PyErr {
    match py
        .import("concurrent.futures.thread")
        .and_then(|m| m.getattr("BrokenThreadPool"))
        .and_then(|t| t.call1((why,)))
    {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// `_ThreadPool(max_workers, thread_name_prefix, initializer=None)`.
///
/// `initializer()` runs in each new worker with the GIL; a false or
/// raising result breaks the pool (Python's `BrokenThreadPool`).
/// Give this (gilfree worker) thread a Python thread state for its whole
/// life. Without it every job's `Python::attach` would create and destroy
/// one (`PyGILState_Ensure` on a thread without a state). The state is
/// left to the interpreter, which frees it at finalization (workers are
/// joined at exit before that).
fn keep_thread_state() {
    // SAFETY: called once, first thing in a new worker thread that holds
    // no GIL: `PyGILState_Ensure` creates this thread's state and takes the
    // GIL, `PyEval_SaveThread` releases the GIL keeping the state (the
    // matching `PyGILState_Release` is deliberately never called). The
    // interpreter is initialised: the pool is made from Python.
    unsafe {
        let _ = pyo3::ffi::PyGILState_Ensure();
        pyo3::ffi::PyEval_SaveThread();
    }
}

#[pyclass(module = "gilfree._gilfree", name = "_ThreadPool", frozen)]
pub struct ThreadPool {
    inner: Option<f::ThreadPoolExecutor>,
}

impl ThreadPool {
    fn pool(&self) -> &f::ThreadPoolExecutor {
        self.inner.as_ref().expect("only taken in Drop")
    }
}

#[pymethods]
impl ThreadPool {
    #[new]
    #[pyo3(signature = (max_workers, thread_name_prefix, initializer = None))]
    fn new(
        max_workers: usize,
        thread_name_prefix: String,
        initializer: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let b = f::ThreadPoolExecutor::builder()
            .max_workers(max_workers)
            .thread_name_prefix(thread_name_prefix)
            .initializer(move || {
                keep_thread_state();
                match &initializer {
                    None => Ok(()),
                    Some(init) => Python::attach(|py| match init.call0(py) {
                        Ok(ok) if ok.is_truthy(py).unwrap_or(false) => Ok(()),
                        Ok(_) => Err("the initializer raised".to_string()),
                        Err(e) => Err(e.to_string()),
                    }),
                }
            });
        let pool = b
            .build()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(ThreadPool { inner: Some(pool) })
    }

    /// submit(job): run `job()` on a worker, with the GIL. The job handles
    /// its own exceptions (it completes a Python Future); one that escapes
    /// is reported as unraisable.
    fn submit(&self, py: Python<'_>, job: Py<PyAny>) -> PyResult<()> {
        let r = self.pool().submit(move || {
            Python::attach(|py| {
                if let Err(e) = job.call0(py) {
                    e.write_unraisable(py, None);
                }
            })
        });
        match r {
            Ok(_future) => Ok(()),
            Err(f::Error::BrokenThreadPool(why)) => Err(broken(py, &why)),
            Err(e) => Err(PyRuntimeError::new_err(e.to_string())),
        }
    }

    /// shutdown(wait): refuse new jobs; with `wait`, join the workers
    /// (GIL released: they need it to finish their jobs).
    fn shutdown(&self, py: Python<'_>, wait: bool) {
        let p = self.pool();
        py.detach(|| p.shutdown(wait, false))
    }

    /// Worker threads started so far.
    #[getter]
    fn num_threads(&self) -> usize {
        self.pool().num_threads()
    }

    #[getter]
    fn max_workers(&self) -> usize {
        self.pool().max_workers()
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        // Dropping a gilfree pool joins its workers, which may need the GIL
        // this thread (deallocating a Python object) holds: shut it down
        // without waiting and let another thread do the joining.
        if let Some(pool) = self.inner.take() {
            pool.shutdown(false, false);
            let _ = std::thread::Builder::new()
                .name("gilfree-pool-reaper".into())
                .spawn(move || drop(pool));
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ThreadPool>()?;
    Ok(())
}
