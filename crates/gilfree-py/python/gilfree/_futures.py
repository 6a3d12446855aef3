"""``gilfree.ThreadPoolExecutor`` and ``gilfree.Future``.

Why this shape: ``concurrent.futures.wait`` and ``as_completed`` reach into
a future's internals (``_condition``, ``_state``, ``_waiters``), so a future
they accept must *be* a ``concurrent.futures.Future``. ``Future`` here
subclasses it, and its blocking calls (``result``, ``exception``) wait on
the stdlib's Condition, which releases the GIL. The executor is where Rust
pays: the worker threads, the job queue and the lazy thread start are
gilfree's ``ThreadPoolExecutor`` (``gilfree._gilfree._ThreadPool``); each
job takes the GIL to run one work item, which runs the callable and
completes its Future exactly as CPython's ``_WorkItem.run`` does.

The Python side owns every Future's state: the set of futures submitted
and not yet started (``_pending``) is what ``shutdown(cancel_futures=True)``
cancels and what a failed initializer fails with ``BrokenThreadPool``; a
work item first takes its future out of that set (under the GIL), so each
future is either run or cancelled/failed, never both.

Each worker gets one Python thread state for its life (so
``threading.local`` data persists across its jobs, as in a stdlib worker,
and a job does not pay for creating one).

From asyncio (tested in ``tests/test_asyncio.py``): a gilfree ``Future``
is a ``concurrent.futures.Future``, so ``asyncio.wrap_future`` takes it,
and an executor is passed to ``run_in_executor`` as any other::

    pool = gilfree.ThreadPoolExecutor(max_workers=8)
    result = await loop.run_in_executor(pool, f, *args)
    result = await asyncio.wrap_future(pool.submit(f, *args))

Cancelling the asyncio future cancels a job that has not started. The
loop's *default* executor (``loop.set_default_executor``, used by
``asyncio.to_thread``) must be a stdlib ``ThreadPoolExecutor``, so pass the
gilfree pool explicitly.

Differences from the stdlib: worker threads are gilfree's (named
``<thread_name_prefix>_<n>`` at the OS level; ``threading.current_thread()``
in a job is a dummy thread object), and an executor left without
``shutdown`` is shut down without waiting when it is collected (still
joined at interpreter exit, as the stdlib's).
"""
import itertools
import os
import threading
import weakref
from concurrent.futures import _base
from concurrent.futures.thread import BrokenThreadPool

from ._gilfree import _ThreadPool

__all__ = ["Future", "ThreadPoolExecutor"]


class Future(_base.Future):
    """``concurrent.futures.Future`` (a subclass: ``wait``, ``as_completed``
    and ``isinstance`` checks accept it)."""

    __slots__ = ()


_live_executors = weakref.WeakSet()
_interpreter_shutdown = False


def _python_exit():
    # As concurrent.futures.thread: finish the work of every live executor
    # before the interpreter tears down (workers need the interpreter).
    global _interpreter_shutdown
    _interpreter_shutdown = True
    for ex in list(_live_executors):
        ex.shutdown(wait=True)


threading._register_atexit(_python_exit)


class _WorkItem:
    __slots__ = ("future", "fn", "args", "kwargs", "pending")

    def __init__(self, future, fn, args, kwargs, pending):
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.pending = pending

    def __call__(self):
        try:
            self.pending.remove(self.future)
        except KeyError:
            return  # cancelled by shutdown or failed by a broken pool
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:
            self.future.set_exception(exc)
            # Break the reference cycle with the exception.
            self = None
        else:
            self.future.set_result(result)


class ThreadPoolExecutor(_base.Executor):
    """``concurrent.futures.ThreadPoolExecutor`` on gilfree worker threads.

    ``ThreadPoolExecutor(max_workers=None, thread_name_prefix='',
    initializer=None, initargs=())``; ``submit``, ``map(fn, *iterables,
    timeout=None, chunksize=1)``, ``shutdown(wait=True, *,
    cancel_futures=False)``, context manager. A failing initializer breaks
    the pool: pending and later submissions fail with
    ``concurrent.futures.thread.BrokenThreadPool``.
    """

    _counter = itertools.count().__next__

    def __init__(self, max_workers=None, thread_name_prefix="",
                 initializer=None, initargs=()):
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._max_workers = max_workers
        self._thread_name_prefix = (
            thread_name_prefix or f"ThreadPoolExecutor-{self._counter()}")
        self._initializer = initializer
        self._initargs = initargs
        self._pending = set()
        self._broken = False
        self._shutdown = False
        self._shutdown_lock = threading.Lock()
        init = None
        if initializer is not None:
            # A bound method would keep the executor alive from the pool;
            # a weak reference lets an abandoned executor be collected.
            ref = weakref.ref(self)

            def init():
                ex = ref()
                return ex is not None and ex._run_initializer()
        self._pool = _ThreadPool(max_workers, self._thread_name_prefix, init)
        _live_executors.add(self)

    def _run_initializer(self):
        try:
            self._initializer(*self._initargs)
            return True
        except BaseException:
            _base.LOGGER.critical("Exception in initializer:", exc_info=True)
            self._initializer_failed()
            return False

    def _initializer_failed(self):
        with self._shutdown_lock:
            self._broken = ("A thread initializer failed, the thread pool "
                            "is not usable anymore")
            for f in list(self._pending):
                try:
                    self._pending.remove(f)
                except KeyError:
                    continue
                f.set_exception(BrokenThreadPool(self._broken))

    def submit(self, fn, /, *args, **kwargs):
        with self._shutdown_lock:
            if self._broken:
                raise BrokenThreadPool(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if _interpreter_shutdown:
                raise RuntimeError("cannot schedule new futures after "
                                   "interpreter shutdown")
            f = Future()
            self._pending.add(f)
            try:
                self._pool.submit(_WorkItem(f, fn, args, kwargs, self._pending))
            except BaseException:
                self._pending.discard(f)
                raise
            return f

    submit.__doc__ = _base.Executor.submit.__doc__

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._shutdown_lock:
            self._shutdown = True
            if cancel_futures:
                for f in list(self._pending):
                    try:
                        self._pending.remove(f)
                    except KeyError:
                        continue
                    f.cancel()
        self._pool.shutdown(wait)

    shutdown.__doc__ = _base.Executor.shutdown.__doc__
