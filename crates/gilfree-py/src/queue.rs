//! `Queue`, `LifoQueue`, `PriorityQueue`, `SimpleQueue` of Python objects,
//! on `gilfree::queue`, with the stdlib's `queue.Empty`/`queue.Full` (the
//! same classes, so `except queue.Empty` works) and `gilfree.ShutDown`
//! (`queue.ShutDown` where the stdlib has it, 3.13+; otherwise a subclass
//! of `Exception`).
//!
//! `maxsize` is writable on a live queue, as in CPython (a smaller bound
//! makes puts wait until the queue drains below it; a larger one lets
//! waiting putters in). So `Queue` is built with `Queue::resizable` (a
//! deque under a lock, as CPython's), not the fixed ring that
//! `gilfree::queue::Queue::new` picks for a bound.
//!
//! # The GIL and the queues' locks
//!
//! `Queue` and `LifoQueue` hold `Py<PyAny>` items that are only moved,
//! never compared or called, inside the queue: whoever holds a queue's
//! internal lock never needs the GIL. So the non-blocking first attempt of
//! `put`/`get` runs with the GIL held (no GIL round trip when it succeeds),
//! and only a wait releases it.
//!
//! `PriorityQueue` must compare items, i.e. call Python (`<`) while its
//! heap's lock is held. A comparison needs the GIL; if a thread holding
//! the GIL could wait for that lock, the two would deadlock. So here the
//! rule is reversed: the heap is **only ever touched by a thread without
//! the GIL** (every `PriorityQueue` call detaches first), and each
//! comparison takes the GIL for itself (`Python::attach`). The GIL-holder
//! is then never waiting for the heap lock, so the heap-lock holder always
//! gets the GIL eventually. A comparison that raises is carried to the
//! calling thread's call (as `heapq`'s `TypeError` is): like CPython's
//! `heappush`, the item stays queued.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use gilfree::queue as q;

use crate::wait::{Truthy, block};

// ---------------------------------------------------------------------------
// Exceptions

fn queue_exc(py: Python<'_>, name: &str) -> PyErr {
    match py.import("queue").and_then(|m| m.getattr(name)) {
        Ok(ty) => match ty.cast_into::<pyo3::types::PyType>() {
            Ok(ty) => PyErr::from_type(ty, ()),
            Err(e) => e.into(),
        },
        Err(e) => e,
    }
}

fn empty(py: Python<'_>) -> PyErr {
    queue_exc(py, "Empty")
}

fn full(py: Python<'_>) -> PyErr {
    queue_exc(py, "Full")
}

pyo3::create_exception!(
    gilfree,
    ShutDown,
    pyo3::exceptions::PyException,
    "Raised by put/get on a queue that was shut down (3.13's queue.ShutDown)."
);

fn shut_down(py: Python<'_>) -> PyErr {
    match py.import("queue").and_then(|m| m.getattr("ShutDown")) {
        Ok(ty) => match ty.cast_into::<pyo3::types::PyType>() {
            Ok(ty) => PyErr::from_type(ty, ()),
            Err(e) => e.into(),
        },
        Err(_) => ShutDown::new_err(()),
    }
}

/// `block`, `timeout` of `put`/`get` → `None` (forever) or a wait
/// (`ZERO` = do not wait), with `queue.Queue`'s ValueError.
fn queue_timeout(block: bool, timeout: Option<f64>) -> PyResult<Option<Duration>> {
    if !block {
        return Ok(Some(Duration::ZERO));
    }
    match timeout {
        None => Ok(None),
        Some(t) if t < 0.0 || t.is_nan() => Err(PyValueError::new_err(
            "'timeout' must be a non-negative number",
        )),
        Some(t) if t > crate::wait::TIMEOUT_MAX => Ok(None),
        Some(t) => Ok(Some(Duration::from_secs_f64(t))),
    }
}

fn task_done_err() -> PyErr {
    PyValueError::new_err("task_done() called too many times")
}

// ---------------------------------------------------------------------------
// Priority keys

thread_local! {
    /// The first exception a comparison raised in this thread's current
    /// PriorityQueue operation.
    static CMP_ERROR: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// A Python object ordered by its `<` (as `heapq`), compared with the GIL
/// taken for each comparison.
struct PyKey(Py<PyAny>);

/// `a < b` in Python; an exception is stashed and counts as "not less".
fn py_lt(a: &Py<PyAny>, b: &Py<PyAny>) -> bool {
    Python::attach(|py| match a.bind(py).lt(b.bind(py)) {
        Ok(r) => r,
        Err(e) => {
            CMP_ERROR.with(|c| {
                c.borrow_mut().get_or_insert(e);
            });
            false
        }
    })
}

impl PartialEq for PyKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for PyKey {}
impl PartialOrd for PyKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
    // One Python `<` per heap step (heapq's own cost), not two.
    fn lt(&self, other: &Self) -> bool {
        py_lt(&self.0, &other.0)
    }
    fn le(&self, other: &Self) -> bool {
        !py_lt(&other.0, &self.0)
    }
    fn gt(&self, other: &Self) -> bool {
        py_lt(&other.0, &self.0)
    }
    fn ge(&self, other: &Self) -> bool {
        !py_lt(&self.0, &other.0)
    }
}
impl Ord for PyKey {
    fn cmp(&self, other: &Self) -> Ordering {
        if py_lt(&self.0, &other.0) {
            Ordering::Less
        } else if py_lt(&other.0, &self.0) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    }
}

fn take_cmp_error() -> PyResult<()> {
    match CMP_ERROR.with(|c| c.borrow_mut().take()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// The bounded queues: one macro for the three.

fn same(x: Py<PyAny>) -> Py<PyAny> {
    x
}

fn unkey(k: PyKey) -> Py<PyAny> {
    k.0
}

/// How a queue type wraps its items and whether calls must detach first.
macro_rules! bounded_queue {
    (
        $name:ident, $pyname:literal, $inner:ty, $make:path, $doc:literal,
        wrap = $wrap:path, unwrap = $unwrap:path, detached = $detached:expr
    ) => {
        #[doc = $doc]
        #[pyclass(module = "gilfree", name = $pyname, frozen, weakref)]
        pub struct $name {
            inner: $inner,
            /// As given (Python keeps negative values; they mean unbounded).
            maxsize: AtomicI64,
        }

        impl $name {
            /// Run `f` without the GIL if this queue's rule says so.
            #[inline]
            fn touch<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&$inner) -> R + Send) -> R {
                let q = &self.inner;
                if $detached { py.detach(|| f(q)) } else { f(q) }
            }
        }

        #[pymethods]
        impl $name {
            #[new]
            #[pyo3(signature = (maxsize = 0))]
            fn new(maxsize: i64) -> Self {
                $name {
                    inner: $make(usize::try_from(maxsize).unwrap_or(0)),
                    maxsize: AtomicI64::new(maxsize),
                }
            }

            /// put(item, block=True, timeout=None): Full if no room came in
            /// time, ShutDown if the queue is shut down.
            #[pyo3(signature = (item, block = Truthy(true), timeout = None))]
            fn put(
                &self,
                py: Python<'_>,
                item: Py<PyAny>,
                block: Truthy,
                timeout: Option<f64>,
            ) -> PyResult<()> {
                let t = queue_timeout(block.0, timeout)?;
                let first = self.touch(py, |q| q.try_put($wrap(item)));
                let item = match first {
                    Ok(()) => return take_cmp_error(),
                    Err(q::PutError::ShutDown(_)) => return Err(shut_down(py)),
                    Err(q::PutError::Full(item)) => item,
                };
                if t == Some(Duration::ZERO) {
                    return Err(full(py));
                }
                let mut slot = Some(item);
                let mut was_shut = false;
                let q = &self.inner;
                let done = crate::wait::block(py, t, |slice| {
                    let it = slot.take().expect("the item is put once");
                    match q.put_timeout(it, slice) {
                        Ok(()) => true,
                        Err(q::PutError::Full(it)) => {
                            slot = Some(it);
                            false
                        }
                        Err(q::PutError::ShutDown(_)) => {
                            was_shut = true;
                            true
                        }
                    }
                });
                if let Some(it) = slot.take() {
                    // Not put (timeout or Ctrl-C): drop it with the GIL.
                    drop(it);
                }
                let done = done?;
                take_cmp_error()?;
                if was_shut {
                    Err(shut_down(py))
                } else if done {
                    Ok(())
                } else {
                    Err(full(py))
                }
            }

            /// put_nowait(item): put(item, False).
            fn put_nowait(&self, py: Python<'_>, item: Py<PyAny>) -> PyResult<()> {
                self.put(py, item, Truthy(false), None)
            }

            /// get(block=True, timeout=None): Empty if nothing came in time,
            /// ShutDown if the queue is shut down and empty.
            #[pyo3(signature = (block = Truthy(true), timeout = None))]
            fn get(
                &self,
                py: Python<'_>,
                block: Truthy,
                timeout: Option<f64>,
            ) -> PyResult<Py<PyAny>> {
                let t = queue_timeout(block.0, timeout)?;
                let first = self.touch(py, |q| q.try_get());
                match first {
                    Ok(v) => {
                        take_cmp_error()?;
                        return Ok($unwrap(v));
                    }
                    Err(q::GetError::ShutDown) => return Err(shut_down(py)),
                    Err(q::GetError::Empty) => {}
                }
                if t == Some(Duration::ZERO) {
                    return Err(empty(py));
                }
                let mut got = None;
                let mut was_shut = false;
                let q = &self.inner;
                crate::wait::block(py, t, |slice| match q.get_timeout(slice) {
                    Ok(v) => {
                        got = Some(v);
                        true
                    }
                    Err(q::GetError::Empty) => false,
                    Err(q::GetError::ShutDown) => {
                        was_shut = true;
                        true
                    }
                })?;
                take_cmp_error()?;
                match got {
                    Some(v) => Ok($unwrap(v)),
                    None if was_shut => Err(shut_down(py)),
                    None => Err(empty(py)),
                }
            }

            /// get_nowait(): get(False).
            fn get_nowait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.get(py, Truthy(false), None)
            }

            fn qsize(&self, py: Python<'_>) -> usize {
                self.touch(py, |q| q.qsize())
            }

            fn empty(&self, py: Python<'_>) -> bool {
                self.touch(py, |q| q.empty())
            }

            fn full(&self, py: Python<'_>) -> bool {
                self.touch(py, |q| q.full())
            }

            /// The bound (<= 0: unbounded).
            #[getter]
            fn maxsize(&self) -> i64 {
                self.maxsize.load(Relaxed)
            }

            /// `q.maxsize = n` on a live queue, as CPython allows: a
            /// smaller bound makes puts wait until the queue has drained
            /// below it; a larger one lets waiting putters in.
            #[setter]
            fn set_maxsize(&self, py: Python<'_>, maxsize: i64) -> PyResult<()> {
                let n = usize::try_from(maxsize).unwrap_or(0);
                self.touch(py, |q| q.set_maxsize(n))
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
                self.maxsize.store(maxsize, Relaxed);
                Ok(())
            }

            /// The count of items put and not yet marked done.
            #[getter]
            fn unfinished_tasks(&self) -> usize {
                self.inner.unfinished_tasks()
            }

            /// Whether shutdown() was called.
            #[getter]
            fn is_shutdown(&self, py: Python<'_>) -> bool {
                // Reads a flag under the buffer's lock: the heap lock for a
                // PriorityQueue, which must not be waited for with the GIL.
                self.touch(py, |q| q.is_shutdown())
            }

            /// task_done(): ValueError if called more times than items put.
            fn task_done(&self) -> PyResult<()> {
                self.inner.task_done().map_err(|_| task_done_err())
            }

            /// join(): wait (GIL released) until every item is done.
            fn join(&self, py: Python<'_>) -> PyResult<()> {
                if self.inner.unfinished_tasks() == 0 {
                    return Ok(());
                }
                let q = &self.inner;
                block(py, None, |slice| q.join_timeout(slice))?;
                Ok(())
            }

            /// shutdown(immediate=False): later puts raise ShutDown; gets
            /// raise it once the queue is empty (at once with `immediate`,
            /// which also drops the queued items and releases join()).
            #[pyo3(signature = (immediate = false))]
            fn shutdown(&self, py: Python<'_>, immediate: bool) {
                let q = &self.inner;
                // Detached: dropping items may free objects (deferred to the
                // GIL by PyO3), and the priority heap is only touched so.
                py.detach(|| q.shutdown(immediate))
            }

            fn __repr__(slf: &Bound<'_, Self>) -> String {
                format!(
                    "<gilfree.{} object at {:#x}: maxsize={}>",
                    $pyname,
                    slf.as_ptr() as usize,
                    slf.get().maxsize.load(Relaxed)
                )
            }
        }
    };
}

bounded_queue!(
    Queue,
    "Queue",
    q::Queue<Py<PyAny>>,
    q::Queue::resizable,
    "`gilfree.Queue(maxsize=0)`: `queue.Queue` (FIFO), with 3.13's `shutdown`.",
    wrap = same,
    unwrap = same,
    detached = false
);

bounded_queue!(
    LifoQueue,
    "LifoQueue",
    q::LifoQueue<Py<PyAny>>,
    q::LifoQueue::new,
    "`gilfree.LifoQueue(maxsize=0)`: `queue.LifoQueue` (last in, first out).",
    wrap = same,
    unwrap = same,
    detached = false
);

bounded_queue!(
    PriorityQueue,
    "PriorityQueue",
    q::PriorityQueue<PyKey>,
    q::PriorityQueue::new,
    "`gilfree.PriorityQueue(maxsize=0)`: `queue.PriorityQueue` (smallest by `<` first). Every call releases the GIL first: see the module doc.",
    wrap = PyKey,
    unwrap = unkey,
    detached = true
);

// ---------------------------------------------------------------------------

/// `gilfree.SimpleQueue()`: `queue.SimpleQueue` (unbounded FIFO, no task
/// accounting, no shutdown).
#[pyclass(module = "gilfree", name = "SimpleQueue", frozen, weakref)]
pub struct SimpleQueue {
    inner: q::SimpleQueue<Py<PyAny>>,
}

#[pymethods]
impl SimpleQueue {
    #[new]
    fn new() -> Self {
        SimpleQueue {
            inner: q::SimpleQueue::new(),
        }
    }

    /// put(item, block=True, timeout=None): never blocks; the arguments
    /// are for compatibility with Queue.put.
    #[pyo3(signature = (item, block = Truthy(true), timeout = None))]
    fn put(&self, item: Py<PyAny>, block: Truthy, timeout: Option<f64>) {
        let _ = (block, timeout);
        self.inner.put(item)
    }

    fn put_nowait(&self, item: Py<PyAny>) {
        self.inner.put(item)
    }

    /// get(block=True, timeout=None): Empty if nothing came in time.
    #[pyo3(signature = (block = Truthy(true), timeout = None))]
    fn get(&self, py: Python<'_>, block: Truthy, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let t = queue_timeout(block.0, timeout)?;
        if let Ok(v) = self.inner.try_get() {
            return Ok(v);
        }
        if t == Some(Duration::ZERO) {
            return Err(empty(py));
        }
        let mut got = None;
        let q = &self.inner;
        crate::wait::block(py, t, |slice| match q.get_timeout(slice) {
            Ok(v) => {
                got = Some(v);
                true
            }
            Err(_) => false,
        })?;
        got.ok_or_else(|| empty(py))
    }

    fn get_nowait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get(py, Truthy(false), None)
    }

    fn qsize(&self) -> usize {
        self.inner.qsize()
    }

    fn empty(&self) -> bool {
        self.inner.empty()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Queue>()?;
    m.add_class::<LifoQueue>()?;
    m.add_class::<PriorityQueue>()?;
    m.add_class::<SimpleQueue>()?;
    let stdq = py.import("queue")?;
    m.add("Empty", stdq.getattr("Empty")?)?;
    m.add("Full", stdq.getattr("Full")?)?;
    match stdq.getattr("ShutDown") {
        Ok(t) => m.add("ShutDown", t)?,
        Err(_) => m.add("ShutDown", py.get_type::<ShutDown>())?,
    }
    Ok(())
}
