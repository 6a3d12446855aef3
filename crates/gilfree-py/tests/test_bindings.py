"""gilfree-specific behaviour of the bindings that CPython's suites do not
cover: the stdlib's exception classes, the GIL released while blocked,
priority comparisons that raise, queue shutdown, the barrier action."""
import queue
import threading
import unittest
from test import support

import gilfree

TIMEOUT = support.SHORT_TIMEOUT


def start(fn, *args):
    t = threading.Thread(target=fn, args=args)
    t.start()
    return t


class ExceptionIdentity(unittest.TestCase):
    def test_queue_exceptions_are_the_stdlibs(self):
        self.assertIs(gilfree.Empty, queue.Empty)
        self.assertIs(gilfree.Full, queue.Full)
        self.assertTrue(issubclass(gilfree.ShutDown, Exception))
        with self.assertRaises(queue.Empty):
            gilfree.Queue().get_nowait()
        with self.assertRaises(queue.Full):
            q = gilfree.Queue(1)
            q.put(1)
            q.put_nowait(2)

    def test_barrier_raises_threadings_error(self):
        self.assertIs(gilfree.BrokenBarrierError, threading.BrokenBarrierError)
        b = gilfree.Barrier(2)
        b.abort()
        with self.assertRaises(threading.BrokenBarrierError):
            b.wait()


class GilReleased(unittest.TestCase):
    """A thread blocked in a gilfree call must let other Python threads run:
    if it kept the GIL, the thread that unblocks it could never run, and
    the timed wait would fail instead of succeeding."""

    def _check(self, blocker, unblock):
        out = []
        t = start(lambda: out.append(blocker()))
        unblock()
        t.join(TIMEOUT)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(out), 1)
        return out[0]

    def test_queue_get(self):
        q = gilfree.Queue()
        self.assertEqual(self._check(lambda: q.get(timeout=TIMEOUT), lambda: q.put(7)), 7)

    def test_priority_get(self):
        q = gilfree.PriorityQueue()
        self.assertEqual(self._check(lambda: q.get(timeout=TIMEOUT), lambda: q.put(3)), 3)

    def test_simple_get(self):
        q = gilfree.SimpleQueue()
        self.assertEqual(self._check(lambda: q.get(timeout=TIMEOUT), lambda: q.put("x")), "x")

    def test_lock_acquire(self):
        lock = gilfree.Lock()
        lock.acquire()
        self.assertTrue(self._check(lambda: lock.acquire(timeout=TIMEOUT), lock.release))

    def test_event_wait(self):
        e = gilfree.Event()
        self.assertTrue(self._check(lambda: e.wait(TIMEOUT), e.set))

    def test_semaphore_acquire(self):
        s = gilfree.Semaphore(0)
        self.assertTrue(self._check(lambda: s.acquire(timeout=TIMEOUT), s.release))

    def test_barrier_wait(self):
        b = gilfree.Barrier(2)
        self.assertIn(self._check(lambda: b.wait(TIMEOUT), lambda: b.wait(TIMEOUT)), (0, 1))


class Interrupt(unittest.TestCase):
    """Ctrl-C (a pending SIGINT) ends a blocking call with KeyboardInterrupt,
    as it does CPython's lock acquires, instead of waiting out the timeout."""

    def _check(self, blocking_call):
        import _thread
        t = threading.Thread(target=_thread.interrupt_main)
        with self.assertRaises(KeyboardInterrupt):
            t.start()
            blocking_call()
        t.join()

    def test_lock(self):
        lock = gilfree.Lock()
        lock.acquire()
        self._check(lambda: lock.acquire(timeout=TIMEOUT))

    def test_queue_get(self):
        q = gilfree.Queue()
        self._check(lambda: q.get(timeout=TIMEOUT))

    def test_event_wait(self):
        self._check(lambda: gilfree.Event().wait(TIMEOUT))


class PriorityQueueTests(unittest.TestCase):
    def test_order_and_ties(self):
        q = gilfree.PriorityQueue()
        for item in [(3, "c"), (1, "a"), (2, "b"), (1, "a2")]:
            q.put(item)
        self.assertEqual([q.get() for _ in range(4)],
                         [(1, "a"), (1, "a2"), (2, "b"), (3, "c")])

    def test_incomparable_raises_typeerror(self):
        q = gilfree.PriorityQueue()
        q.put(1)
        with self.assertRaises(TypeError):
            q.put("not an int")
        # As heapq's heappush, the item stays queued; the queue still works.
        self.assertEqual(q.qsize(), 2)

    def test_comparison_may_use_threads(self):
        # __lt__ that takes a lock a blocked getter holds is a classic
        # deadlock if comparisons ran with the heap locked and the GIL held
        # by a waiter: many threads put objects with Python __lt__.
        class Item:
            def __init__(self, v):
                self.v = v

            def __lt__(self, other):
                return self.v < other.v

        q = gilfree.PriorityQueue()
        n, k = 4, 200

        def producer(base):
            for i in range(k):
                q.put(Item(base + i * n))

        ts = [start(producer, b) for b in range(n)]
        got = [q.get(timeout=TIMEOUT).v for _ in range(n * k)]
        for t in ts:
            t.join()
        self.assertEqual(sorted(got), list(range(n * k)))


class ShutDownTests(unittest.TestCase):
    def test_shutdown_graceful(self):
        for cls in (gilfree.Queue, gilfree.LifoQueue, gilfree.PriorityQueue):
            q = cls()
            q.put(1)
            q.shutdown()
            with self.assertRaises(gilfree.ShutDown):
                q.put(2)
            self.assertEqual(q.get(), 1)
            with self.assertRaises(gilfree.ShutDown):
                q.get()

    def test_shutdown_immediate_wakes_getter(self):
        q = gilfree.Queue()
        errors = []

        def getter():
            try:
                q.get(timeout=TIMEOUT)
            except gilfree.ShutDown:
                errors.append("ShutDown")

        t = start(getter)
        q.shutdown(immediate=True)
        t.join(TIMEOUT)
        self.assertEqual(errors, ["ShutDown"])

    def test_shutdown_immediate_drains_and_releases_join(self):
        # As 3.13: the queued items are dropped and count as done.
        q = gilfree.Queue()
        q.put(1)
        q.put(2)
        j = start(q.join)
        q.shutdown(immediate=True)
        j.join(TIMEOUT)
        self.assertFalse(j.is_alive())
        self.assertEqual(q.qsize(), 0)

    def test_task_done_too_many(self):
        q = gilfree.Queue()
        with self.assertRaises(ValueError):
            q.task_done()

    def test_maxsize_and_repr(self):
        q = gilfree.Queue(3)
        self.assertEqual(q.maxsize, 3)
        self.assertIn("gilfree.Queue", repr(q))

    def test_growing_maxsize_lets_a_waiting_putter_in(self):
        # CPython's meaning of `q.maxsize = n` on a live queue (the shrinking
        # half is test_queue's test_shrinking_queue).
        for cls in (gilfree.Queue, gilfree.LifoQueue, gilfree.PriorityQueue):
            q = cls(1)
            q.put(1)
            t = threading.Thread(target=q.put, args=(2,))
            t.start()
            q.maxsize = 2
            t.join(support.SHORT_TIMEOUT)  # a guard, not the synchronisation
            self.assertFalse(t.is_alive(), cls)
            self.assertEqual((q.qsize(), q.maxsize), (2, 2))
            q.maxsize = 0  # unbounded
            q.put_nowait(3)
            self.assertFalse(q.full())


class QueueStress(unittest.TestCase):
    """Several producers and consumers: every item comes out exactly once,
    and a bounded queue never holds more than maxsize."""

    def _run(self, q, bound=None, producers=4, consumers=4, per=2000):
        out = []
        lock = threading.Lock()
        over = []

        def produce(base):
            for i in range(per):
                q.put(base * per + i)
                if bound is not None and q.qsize() > bound:
                    over.append(q.qsize())

        def consume():
            got = []
            while True:
                x = q.get(timeout=TIMEOUT)
                if x is None:
                    break
                got.append(x)
            with lock:
                out.extend(got)

        cs = [start(consume) for _ in range(consumers)]
        ps = [start(produce, b) for b in range(producers)]
        for t in ps:
            t.join()
        for _ in cs:
            q.put(None)
        for t in cs:
            t.join()
        # A LIFO hands the sentinels out before items still below them.
        while not q.empty():
            out.append(q.get_nowait())
        self.assertEqual(sorted(out), list(range(producers * per)))
        self.assertEqual(over, [])

    def test_queue_bounded(self):
        self._run(gilfree.Queue(8), bound=8)

    def test_queue_unbounded(self):
        self._run(gilfree.Queue())

    def test_lifo(self):
        self._run(gilfree.LifoQueue(16), bound=16)

    def test_simple(self):
        self._run(gilfree.SimpleQueue())


class BarrierActionTests(unittest.TestCase):
    def test_action_exception_breaks_and_propagates(self):
        def action():
            raise KeyError("boom")

        b = gilfree.Barrier(2, action=action)
        results = []

        def waiter():
            try:
                b.wait(TIMEOUT)
                results.append("ok")
            except threading.BrokenBarrierError:
                results.append("broken")
            except KeyError:
                results.append("KeyError")

        ts = [start(waiter) for _ in range(2)]
        for t in ts:
            t.join(TIMEOUT)
        self.assertEqual(sorted(results), ["KeyError", "broken"])
        self.assertTrue(b.broken)


class RLockConditionTests(unittest.TestCase):
    def test_stdlib_condition_over_gilfree_rlock(self):
        # threading.Condition uses _release_save/_acquire_restore/_is_owned.
        lock = gilfree.RLock()
        cond = threading.Condition(lock)
        ready = []
        with cond:
            with cond:  # recursion 2, fully released by wait
                t = start(lambda: (cond.acquire(), ready.append(1), cond.notify(), cond.release()))
                self.assertTrue(cond.wait_for(lambda: ready, TIMEOUT))
                self.assertEqual(lock._recursion_count(), 2)
        t.join()
        self.assertFalse(lock._is_owned())


if __name__ == "__main__":
    unittest.main()
