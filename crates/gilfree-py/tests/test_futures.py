"""gilfree.ThreadPoolExecutor / Future against concurrent.futures' own
functions and contract, in the spirit of CPython's test_concurrent_futures
(not installed with this 3.11, so the scenarios are written here)."""
import concurrent.futures as cf
import threading
import unittest
from concurrent.futures.thread import BrokenThreadPool
from test import support

import gilfree

TIMEOUT = support.SHORT_TIMEOUT


def mul(x, y):
    return x * y


class ExecutorTests(unittest.TestCase):
    def setUp(self):
        self.ex = gilfree.ThreadPoolExecutor(max_workers=4)

    def tearDown(self):
        self.ex.shutdown(wait=True)

    def test_submit_result(self):
        f = self.ex.submit(mul, 6, y=7)
        self.assertIsInstance(f, cf.Future)
        self.assertIsInstance(f, gilfree.Future)
        self.assertEqual(f.result(TIMEOUT), 42)
        self.assertTrue(f.done())

    def test_exception(self):
        f = self.ex.submit(mul, 1)  # missing argument
        self.assertIsInstance(f.exception(TIMEOUT), TypeError)
        with self.assertRaises(TypeError):
            f.result(TIMEOUT)

    def test_map(self):
        self.assertEqual(list(self.ex.map(pow, range(10), range(10))),
                         list(map(pow, range(10), range(10))))
        self.assertEqual(list(self.ex.map(abs, [-1, -2], chunksize=2)), [1, 2])

    def test_map_exception(self):
        it = self.ex.map(divmod, [1, 1, 1], [1, 0, 1])
        self.assertEqual(next(it), (1, 0))
        with self.assertRaises(ZeroDivisionError):
            next(it)

    def test_map_timeout(self):
        gate = threading.Event()
        try:
            with self.assertRaises(cf.TimeoutError):
                list(self.ex.map(lambda _: gate.wait(TIMEOUT), [1], timeout=0.01))
        finally:
            gate.set()

    def test_wait_and_as_completed(self):
        fs = [self.ex.submit(mul, i, 2) for i in range(20)]
        done, not_done = cf.wait(fs, timeout=TIMEOUT)
        self.assertEqual(len(done), 20)
        self.assertEqual(not_done, set())
        self.assertEqual(sorted(f.result() for f in cf.as_completed(fs, TIMEOUT)),
                         [2 * i for i in range(20)])

    def test_wait_first_completed_and_first_exception(self):
        gate = threading.Event()
        slow = self.ex.submit(gate.wait, TIMEOUT)
        fast = self.ex.submit(mul, 2, 3)
        bad = self.ex.submit(divmod, 1, 0)
        try:
            done, not_done = cf.wait([slow, fast], timeout=TIMEOUT,
                                     return_when=cf.FIRST_COMPLETED)
            self.assertIn(fast, done)
            self.assertIn(slow, not_done)
            done, not_done = cf.wait([slow, bad], timeout=TIMEOUT,
                                     return_when=cf.FIRST_EXCEPTION)
            self.assertEqual(done, {bad})
        finally:
            gate.set()
        self.assertTrue(slow.result(TIMEOUT))

    def test_as_completed_timeout(self):
        gate = threading.Event()
        f = self.ex.submit(gate.wait, TIMEOUT)
        try:
            with self.assertRaises(cf.TimeoutError):
                for _ in cf.as_completed([f], timeout=0.01):
                    pass
        finally:
            gate.set()

    def test_done_callback(self):
        seen = []
        ev = threading.Event()
        f = self.ex.submit(mul, 3, 3)
        f.add_done_callback(lambda fut: (seen.append(fut.result()), ev.set()))
        self.assertTrue(ev.wait(TIMEOUT))
        self.assertEqual(seen, [9])

    def test_no_more_workers_than_max(self):
        started = []
        gate = threading.Event()
        lock = threading.Lock()

        def job():
            with lock:
                started.append(threading.get_ident())
            gate.wait(TIMEOUT)

        fs = [self.ex.submit(job) for _ in range(10)]
        gate.set()
        cf.wait(fs, TIMEOUT)
        self.assertLessEqual(len(set(started)), 4)
        self.assertLessEqual(self.ex._pool.num_threads, 4)


class ShutdownTests(unittest.TestCase):
    def test_submit_after_shutdown(self):
        ex = gilfree.ThreadPoolExecutor(2)
        ex.shutdown()
        with self.assertRaises(RuntimeError):
            ex.submit(mul, 1, 2)

    def test_context_manager_waits(self):
        with gilfree.ThreadPoolExecutor(2) as ex:
            fs = [ex.submit(mul, i, i) for i in range(50)]
        self.assertTrue(all(f.done() for f in fs))
        self.assertEqual([f.result() for f in fs], [i * i for i in range(50)])

    def test_cancel_futures(self):
        ex = gilfree.ThreadPoolExecutor(1)
        gate = threading.Event()
        running = threading.Event()
        first = ex.submit(lambda: (running.set(), gate.wait(TIMEOUT)))
        self.assertTrue(running.wait(TIMEOUT))
        rest = [ex.submit(mul, i, 1) for i in range(5)]
        ex.shutdown(wait=False, cancel_futures=True)
        gate.set()
        ex.shutdown(wait=True)
        self.assertTrue(first.result(TIMEOUT)[1])
        self.assertTrue(all(f.cancelled() for f in rest))

    def test_cancel_pending_future(self):
        ex = gilfree.ThreadPoolExecutor(1)
        gate = threading.Event()
        running = threading.Event()
        ex.submit(lambda: (running.set(), gate.wait(TIMEOUT)))
        self.assertTrue(running.wait(TIMEOUT))
        f = ex.submit(mul, 1, 1)
        self.assertTrue(f.cancel())
        gate.set()
        ex.shutdown(wait=True)
        self.assertTrue(f.cancelled())

    def test_shutdown_from_a_worker(self):
        ex = gilfree.ThreadPoolExecutor(2)
        f = ex.submit(lambda: ex.shutdown(wait=True))
        self.assertIsNone(f.result(TIMEOUT))
        ex.shutdown(wait=True)

    def test_max_workers_validation(self):
        with self.assertRaises(ValueError):
            gilfree.ThreadPoolExecutor(0)
        with self.assertRaises(TypeError):
            gilfree.ThreadPoolExecutor(1, initializer=3)


class InitializerTests(unittest.TestCase):
    def test_initializer_runs_with_initargs(self):
        seen = []
        lock = threading.Lock()

        def init(tag):
            with lock:
                seen.append(tag)

        with gilfree.ThreadPoolExecutor(2, initializer=init, initargs=("hi",)) as ex:
            self.assertEqual(ex.submit(mul, 2, 2).result(TIMEOUT), 4)
        self.assertIn("hi", seen)

    def test_initializer_thread_local_seen_by_jobs(self):
        # The usual pattern: the initializer opens a per-thread resource in
        # a threading.local; the worker's jobs must see it.
        local = threading.local()

        def init():
            local.conn = "conn-%d" % threading.get_ident()

        with gilfree.ThreadPoolExecutor(2, initializer=init) as ex:
            fs = [ex.submit(lambda: (local.conn, threading.get_ident()))
                  for _ in range(20)]
            for f in fs:
                conn, ident = f.result(TIMEOUT)
                self.assertEqual(conn, "conn-%d" % ident)

    def test_failing_initializer_breaks_pool(self):
        def init():
            raise ValueError("no")

        with self.assertLogs("concurrent.futures", level="CRITICAL"):
            ex = gilfree.ThreadPoolExecutor(2, initializer=init)
            f = ex.submit(mul, 1, 2)
            with self.assertRaises(BrokenThreadPool):
                f.result(TIMEOUT)
        with self.assertRaises(BrokenThreadPool):
            ex.submit(mul, 1, 2)
        ex.shutdown(wait=True)


if __name__ == "__main__":
    unittest.main()
