//! Python's `(blocking, timeout)` conventions and interruptible blocking.

use std::time::{Duration, Instant};

use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;

/// `threading.TIMEOUT_MAX` (CPython 3.11 on Linux): the largest timeout
/// accepted, in seconds. Larger waits are forever in all but name.
pub const TIMEOUT_MAX: f64 = 9_223_372_036.0;

/// How long one GIL-free slice of a blocking wait lasts before the GIL is
/// taken again to run pending signal handlers (Ctrl-C).
const SLICE: Duration = Duration::from_millis(50);

/// `acquire(blocking=True, timeout=-1)` → `None` (forever) or a timeout.
/// Non-blocking is `Some(ZERO)`.
pub fn lock_timeout(blocking: bool, timeout: f64) -> PyResult<Option<Duration>> {
    if !blocking && timeout != -1.0 {
        return Err(PyValueError::new_err(
            "can't specify a timeout for a non-blocking call",
        ));
    }
    if !blocking {
        return Ok(Some(Duration::ZERO));
    }
    if timeout == -1.0 {
        return Ok(None);
    }
    if timeout < 0.0 || timeout.is_nan() {
        return Err(PyValueError::new_err(
            "timeout value must be a non-negative number",
        ));
    }
    if timeout > TIMEOUT_MAX {
        return Err(PyOverflowError::new_err("timeout value is too large"));
    }
    Ok(Some(Duration::from_secs_f64(timeout)))
}

/// `wait(timeout=None)` / `put(block, timeout)` style: `None` waits forever;
/// a negative timeout is treated as zero (as `threading.Event.wait` does).
pub fn opt_timeout(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() => Err(PyValueError::new_err("timeout must not be NaN")),
        Some(t) if t <= 0.0 => Ok(Some(Duration::ZERO)),
        Some(t) if t > TIMEOUT_MAX => Ok(None),
        Some(t) => Ok(Some(Duration::from_secs_f64(t))),
    }
}

/// Block without the GIL until `attempt` succeeds or `timeout` passes.
///
/// `attempt(slice)` tries for at most `slice` and says whether it succeeded;
/// it is called without the GIL. Between slices the GIL is taken to run
/// signal handlers, so a KeyboardInterrupt ends the wait with its exception.
pub fn block<F>(py: Python<'_>, timeout: Option<Duration>, mut attempt: F) -> PyResult<bool>
where
    F: FnMut(Duration) -> bool + Send,
{
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        };
        if py.detach(|| attempt(slice)) {
            return Ok(true);
        }
        if let Some(d) = deadline
            && Instant::now() >= d
        {
            return Ok(false);
        }
        py.check_signals()?;
    }
}

/// A `blocking`/`block` argument: any object, by its truth value, as the
/// stdlib takes it (`q.get(0)`, `lock.acquire(1)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truthy(pub bool);

impl<'a, 'py> FromPyObject<'a, 'py> for Truthy {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Truthy(obj.is_truthy()?))
    }
}
