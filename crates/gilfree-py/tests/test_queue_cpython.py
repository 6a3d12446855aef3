"""CPython's own queue tests (test.test_queue) run against gilfree's queues.

test_queue parameterises its mixins by module (`queue = py_queue`); here the
module is `gilfree`, whose Queue/LifoQueue/PriorityQueue/SimpleQueue/Empty/
Full take the place of the stdlib's. Nothing of CPython's is copied.
"""
import unittest

from test import test_queue

import gilfree


class QueueTest(test_queue.QueueTest, unittest.TestCase):
    queue = gilfree


class LifoQueueTest(test_queue.LifoQueueTest, unittest.TestCase):
    queue = gilfree


class PriorityQueueTest(test_queue.PriorityQueueTest, unittest.TestCase):
    queue = gilfree


class SimpleQueueTest(test_queue.BaseSimpleQueueTest, unittest.TestCase):
    queue = gilfree

    def setUp(self):
        self.type2test = gilfree.SimpleQueue
        super().setUp()

    def test_reentrancy(self):
        # CSimpleQueueTest's: a put from a __del__ that runs during put.
        test_queue.CSimpleQueueTest.test_reentrancy(self)


if __name__ == "__main__":
    unittest.main()
