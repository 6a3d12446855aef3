//! `Semaphore`, `BoundedSemaphore` and `Event`: `threading`'s, on gilfree's
//! futex primitives.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use gilfree::threading as th;

use crate::wait::{Truthy, block, opt_timeout};

/// `acquire(blocking=True, timeout=None)` of `threading.Semaphore`:
/// `None` = forever, `Some(ZERO)` = try once.
fn sem_timeout(blocking: bool, timeout: Option<f64>) -> PyResult<Option<Duration>> {
    if !blocking {
        if timeout.is_some() {
            return Err(PyValueError::new_err(
                "can't specify timeout for non-blocking acquire",
            ));
        }
        return Ok(Some(Duration::ZERO));
    }
    opt_timeout(timeout)
}

fn initial_value(value: i64) -> PyResult<u32> {
    if value < 0 {
        return Err(PyValueError::new_err(
            "semaphore initial value must be >= 0",
        ));
    }
    u32::try_from(value).map_err(|_| PyValueError::new_err("semaphore initial value is too large"))
}

fn release_count(n: i64) -> PyResult<u32> {
    if n < 1 {
        return Err(PyValueError::new_err("n must be one or more"));
    }
    u32::try_from(n).map_err(|_| PyValueError::new_err("n is too large"))
}

/// The acquire both semaphores share: a try with the GIL held, then a
/// GIL-free wait in interruptible slices.
fn acquire_with(
    py: Python<'_>,
    timeout: Option<Duration>,
    try_once: impl Fn() -> bool,
    wait_for: impl Fn(Duration) -> bool + Send + Sync,
) -> PyResult<bool> {
    if try_once() {
        return Ok(true);
    }
    if timeout == Some(Duration::ZERO) {
        return Ok(false);
    }
    block(py, timeout, wait_for)
}

/// The class and its `#[pymethods]` for one of the two semaphores: the
/// methods they share (new, acquire, release, the context manager,
/// `_value`), then `$extra`.
macro_rules! semaphore_class {
    (
        $(#[$doc:meta])*
        $name:ident, $py:literal, $inner:ty, $release_doc:literal,
        { $($extra:tt)* }
    ) => {
        $(#[$doc])*
        #[pyclass(module = "gilfree", name = $py, frozen, weakref)]
        pub struct $name {
            inner: $inner,
        }

        #[pymethods]
        impl $name {
            #[new]
            #[pyo3(signature = (value = 1))]
            fn new(value: i64) -> PyResult<Self> {
                Ok($name {
                    inner: <$inner>::new(initial_value(value)?),
                })
            }

            /// acquire(blocking=True, timeout=None) -> bool
            #[pyo3(signature = (blocking = Truthy(true), timeout = None))]
            fn acquire(
                &self,
                py: Python<'_>,
                blocking: Truthy,
                timeout: Option<f64>,
            ) -> PyResult<bool> {
                let t = sem_timeout(blocking.0, timeout)?;
                let s = &self.inner;
                acquire_with(
                    py,
                    t,
                    || s.acquire_unguarded(false, None),
                    |slice| s.acquire_unguarded(true, Some(slice)),
                )
            }

            #[doc = $release_doc]
            #[pyo3(signature = (n = 1))]
            fn release(&self, n: i64) -> PyResult<()> {
                self.inner
                    .release_n(release_count(n)?)
                    .map_err(|e| PyValueError::new_err(e.to_string()))
            }

            fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
                self.acquire(py, Truthy(true), None)
            }

            #[pyo3(signature = (*_args))]
            fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
                self.release(1)
            }

            /// The current number of permits (CPython's private `_value`).
            #[getter]
            fn _value(&self) -> u32 {
                self.inner.value()
            }

            $($extra)*
        }
    };
}

semaphore_class! {
    /// `gilfree.Semaphore(value=1)`: `threading.Semaphore`.
    Semaphore, "Semaphore", th::Semaphore,
    "release(n=1): add n permits, waking up to n waiters.",
    {
        fn __repr__(slf: &Bound<'_, Self>) -> String {
            format!(
                "<gilfree.Semaphore at {:#x}: value={}>",
                slf.as_ptr() as usize,
                slf.get().inner.value()
            )
        }
    }
}

semaphore_class! {
    /// `gilfree.BoundedSemaphore(value=1)`: `threading.BoundedSemaphore`;
    /// releasing past the initial value raises ValueError.
    BoundedSemaphore, "BoundedSemaphore", th::BoundedSemaphore,
    "release(n=1): ValueError (\"Semaphore released too many times\") if \
     that would exceed the initial value; then nothing is released.",
    {
        #[getter]
        fn _initial_value(&self) -> u32 {
            self.inner.initial_value()
        }

        fn __repr__(slf: &Bound<'_, Self>) -> String {
            let s = &slf.get().inner;
            format!(
                "<gilfree.BoundedSemaphore at {:#x}: value={}/{}>",
                slf.as_ptr() as usize,
                s.value(),
                s.initial_value()
            )
        }
    }
}

/// `gilfree.Event()`: `threading.Event`.
#[pyclass(module = "gilfree", name = "Event", frozen, weakref)]
pub struct Event {
    inner: th::Event,
}

#[pymethods]
impl Event {
    #[new]
    fn new() -> Self {
        Event {
            inner: th::Event::new(),
        }
    }

    fn is_set(&self) -> bool {
        self.inner.is_set()
    }

    /// The pre-3.10 camelCase alias `threading.Event` still has.
    #[pyo3(name = "isSet")]
    fn is_set_alias(&self) -> bool {
        self.inner.is_set()
    }

    fn set(&self) {
        self.inner.set()
    }

    fn clear(&self) {
        self.inner.clear()
    }

    /// wait(timeout=None) -> bool: the flag on return (False on timeout).
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        if self.inner.is_set() {
            return Ok(true);
        }
        let t = opt_timeout(timeout)?;
        if t == Some(Duration::ZERO) {
            return Ok(false);
        }
        let e = &self.inner;
        block(py, t, |slice| e.wait_timeout(slice))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let state = if slf.get().inner.is_set() {
            "set"
        } else {
            "unset"
        };
        format!("<gilfree.Event at {:#x}: {state}>", slf.as_ptr() as usize)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Semaphore>()?;
    m.add_class::<BoundedSemaphore>()?;
    m.add_class::<Event>()?;
    Ok(())
}
