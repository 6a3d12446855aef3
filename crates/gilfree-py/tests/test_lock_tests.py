"""CPython's own lock conformance suite (test.lock_tests) run against gilfree.

The test classes are imported from the installed Python's `test` package and
subclassed with our types; nothing of CPython's is copied here.
"""
import unittest

from test import lock_tests

import gilfree


class LockTests(lock_tests.LockTests):
    locktype = staticmethod(gilfree.Lock)


if __name__ == "__main__":
    unittest.main()
