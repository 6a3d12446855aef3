"""gilfree's Future and ThreadPoolExecutor from asyncio: ``asyncio.wrap_future``
accepts a gilfree Future (it is a ``concurrent.futures.Future``), and
``await loop.run_in_executor(gilfree_pool, f, *args)`` runs ``f`` on the
gilfree pool without blocking the event loop. No sleeps: a job that must be
seen running waits on a ``threading.Event`` the test sets."""
import asyncio
import concurrent.futures as cf
import threading
import unittest
from test import support

import gilfree

TIMEOUT = support.SHORT_TIMEOUT


def mul(x, y):
    return x * y


def fail():
    raise ValueError("no")


class WrapFutureTests(unittest.TestCase):
    def setUp(self):
        self.ex = gilfree.ThreadPoolExecutor(max_workers=2)

    def tearDown(self):
        self.ex.shutdown(wait=True)

    def test_wrap_future_result(self):
        async def main():
            f = self.ex.submit(mul, 6, 7)
            self.assertIsInstance(f, cf.Future)
            return await asyncio.wait_for(asyncio.wrap_future(f), TIMEOUT)

        self.assertEqual(asyncio.run(main()), 42)

    def test_wrap_future_exception(self):
        async def main():
            with self.assertRaises(ValueError):
                await asyncio.wait_for(asyncio.wrap_future(self.ex.submit(fail)), TIMEOUT)

        asyncio.run(main())

    def test_cancelling_the_asyncio_future_cancels_a_pending_job(self):
        started, release = threading.Event(), threading.Event()

        def hold():
            started.set()
            release.wait(TIMEOUT)
            return "held"

        ex = gilfree.ThreadPoolExecutor(max_workers=1)
        try:
            async def main():
                busy = ex.submit(hold)
                self.assertTrue(await asyncio.to_thread(started.wait, TIMEOUT))
                queued = ex.submit(mul, 2, 3)  # waits behind `hold`
                wrapped = asyncio.wrap_future(queued)
                wrapped.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await wrapped  # done already: raises without yielding
                # asyncio passes the cancel on in the wrapper's done
                # callback, which runs at the loop's next turn (as for a
                # stdlib Future).
                await asyncio.sleep(0)
                self.assertTrue(queued.cancelled())
                release.set()
                self.assertEqual(await asyncio.wrap_future(busy), "held")
                return queued

            queued = asyncio.run(main())
            self.assertTrue(queued.cancelled())
        finally:
            release.set()
            ex.shutdown(wait=True)

    def test_many_wrapped_futures_gathered(self):
        async def main():
            fs = [asyncio.wrap_future(self.ex.submit(mul, i, i)) for i in range(100)]
            return await asyncio.wait_for(asyncio.gather(*fs), TIMEOUT)

        self.assertEqual(asyncio.run(main()), [i * i for i in range(100)])


class RunInExecutorTests(unittest.TestCase):
    def test_run_in_executor(self):
        async def main():
            loop = asyncio.get_running_loop()
            with gilfree.ThreadPoolExecutor(max_workers=4) as pool:
                one = await loop.run_in_executor(pool, mul, 6, 7)
                many = await asyncio.gather(
                    *(loop.run_in_executor(pool, mul, i, 2) for i in range(50))
                )
            return one, many

        one, many = asyncio.run(main())
        self.assertEqual(one, 42)
        self.assertEqual(many, [2 * i for i in range(50)])

    def test_the_loop_runs_while_a_job_blocks(self):
        # A job blocks its gilfree worker until a coroutine on the loop
        # releases it: if run_in_executor blocked the loop, this would hang.
        release = threading.Event()

        async def main():
            loop = asyncio.get_running_loop()
            with gilfree.ThreadPoolExecutor(max_workers=1) as pool:
                job = loop.run_in_executor(pool, release.wait, TIMEOUT)

                async def releaser():
                    await asyncio.sleep(0)
                    release.set()

                await asyncio.gather(releaser(), asyncio.wait_for(job, TIMEOUT))
                return job.result()

        self.assertTrue(asyncio.run(main()))


if __name__ == "__main__":
    unittest.main()
