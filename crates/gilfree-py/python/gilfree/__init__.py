"""gilfree: Python's threading, queue and concurrent.futures primitives,
implemented in Rust (``gilfree._gilfree``), with the stdlib's signatures,
exceptions, context managers and reprs.

- locks and events: ``Lock``, ``RLock``, ``Condition``, ``Semaphore``,
  ``BoundedSemaphore``, ``Event``, ``Barrier`` (raising
  ``threading.BrokenBarrierError`` itself);
- queues: ``Queue``, ``LifoQueue``, ``PriorityQueue``, ``SimpleQueue``, with
  ``Empty`` and ``Full`` (the stdlib's ``queue.Empty``/``queue.Full``) and
  ``ShutDown``;
- ``ThreadPoolExecutor`` and ``Future``, accepted by
  ``concurrent.futures.wait`` and ``as_completed``.

Every call that blocks releases the GIL.
"""
from ._gilfree import (
    TIMEOUT_MAX,
    Barrier,
    BoundedSemaphore,
    BrokenBarrierError,
    Condition,
    Empty,
    Event,
    Full,
    LifoQueue,
    Lock,
    PriorityQueue,
    Queue,
    RLock,
    Semaphore,
    ShutDown,
    SimpleQueue,
    __version__,
)
from ._futures import Future, ThreadPoolExecutor

__all__ = [
    "Barrier",
    "BoundedSemaphore",
    "BrokenBarrierError",
    "Condition",
    "Empty",
    "Event",
    "Full",
    "Future",
    "LifoQueue",
    "Lock",
    "PriorityQueue",
    "Queue",
    "RLock",
    "Semaphore",
    "ShutDown",
    "SimpleQueue",
    "ThreadPoolExecutor",
    "TIMEOUT_MAX",
]
