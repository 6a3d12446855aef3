#!/usr/bin/env python3
"""gilfree vs the stdlib, from Python: the Python-side benchmark rows.

Usage:
    python crates/gilfree-py/bench/bench_bindings.py [--quick] [--reps N]

Needs `gilfree` importable (e.g. `target/venv/bin/python` after
`scripts/test.sh`, or `pip install ./crates/gilfree-py`). Prints to stdout a
JSON array of rows in the benchmark schema:

    {"shape": "py_lock_uncontended" | "py_queue_1p1c" | "py_executor_submit_result",
     "impl": "gilfree" | "cpython", "median_ns", "min_ns", "max_ns",
     "unit": "op", "n", "reps"}

where each rep times `n` operations and the statistics are over the reps'
nanoseconds per operation:
- py_lock_uncontended: one `acquire()` + `release()` on one thread
  (`gilfree.Lock` vs `threading.Lock`);
- py_queue_1p1c: one item through an unbounded queue, one producer thread
  and one consumer thread (`gilfree.Queue` vs `queue.Queue`); items/s is
  1e9 / median_ns;
- py_executor_submit_result: `ex.submit(f).result()` on a 1-worker pool
  (`gilfree.ThreadPoolExecutor` vs `concurrent.futures.ThreadPoolExecutor`).
Notes (what was left out and why) go to stderr. `--quick` runs small `n`
and 5 reps, for a smoke test in well under a few seconds.
"""
import argparse
import concurrent.futures
import json
import queue
import statistics
import sys
import threading
import time

import gilfree


def bench_lock(lock_type, n):
    lock = lock_type()
    acquire, release = lock.acquire, lock.release
    t0 = time.perf_counter_ns()
    for _ in range(n):
        acquire()
        release()
    return time.perf_counter_ns() - t0


def bench_queue(queue_type, n):
    q = queue_type()

    def producer():
        put = q.put
        for i in range(n):
            put(i)

    get = q.get
    t = threading.Thread(target=producer)
    t0 = time.perf_counter_ns()
    t.start()
    for _ in range(n):
        get()
    dt = time.perf_counter_ns() - t0
    t.join()
    return dt


def _noop():
    return None


def bench_executor(executor_type, n):
    with executor_type(max_workers=1) as ex:
        ex.submit(_noop).result()  # start the worker outside the timing
        submit = ex.submit
        t0 = time.perf_counter_ns()
        for _ in range(n):
            submit(_noop).result()
        return time.perf_counter_ns() - t0


def row(shape, impl, fn, arg, n, reps):
    fn(arg, max(1, n // 10))  # warm-up
    per_op = [fn(arg, n) / n for _ in range(reps)]
    return {
        "shape": shape,
        "impl": impl,
        "median_ns": statistics.median(per_op),
        "min_ns": min(per_op),
        "max_ns": max(per_op),
        "unit": "op",
        "n": n,
        "reps": reps,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small n, 5 reps")
    ap.add_argument("--reps", type=int, default=None, help="reps (>= 5)")
    args = ap.parse_args(argv)
    reps = max(5, args.reps or (5 if args.quick else 9))
    n_lock = 20_000 if args.quick else 1_000_000
    n_queue = 5_000 if args.quick else 200_000
    n_exec = 500 if args.quick else 20_000

    cases = [
        ("py_lock_uncontended", bench_lock, n_lock,
         [("gilfree", gilfree.Lock), ("cpython", threading.Lock)]),
        ("py_queue_1p1c", bench_queue, n_queue,
         [("gilfree", getattr(gilfree, "Queue", None)), ("cpython", queue.Queue)]),
        ("py_executor_submit_result", bench_executor, n_exec,
         [("gilfree", gilfree.ThreadPoolExecutor),
          ("cpython", concurrent.futures.ThreadPoolExecutor)]),
    ]
    rows = []
    for shape, fn, n, impls in cases:
        for impl, arg in impls:
            if arg is None:
                print(f"note: {shape}/{impl} left out: not in this gilfree build",
                      file=sys.stderr)
                continue
            rows.append(row(shape, impl, fn, arg, n, reps))
    json.dump(rows, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
