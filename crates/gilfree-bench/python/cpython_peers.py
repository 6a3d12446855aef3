#!/usr/bin/env python3
"""CPython's stdlib as a peer in gilfree's benchmark command (stdlib only).

Every shape of `gilfree-bench` that CPython has an equivalent for is one
function here, `shape(n) -> nanoseconds for n operations`, doing the same
work as the Rust rows of the same id (see crates/gilfree-bench/src/shapes/).

Two ways to run it:

* Served (what `gilfree-bench` does), so that CPython is measured
  interleaved with the Rust implementations:

      python3 cpython_peers.py --serve

  reads lines from stdin and answers each with one line:
      list            -> shapes IMPL:ID IMPL:ID ...
      run IMPL ID N   -> ok NANOSECONDS        (or: err MESSAGE)
      quit            -> (exits)

  IMPL is `cpython` (the stdlib) or `gilfree` (the `gilfree` Python
  bindings, when this interpreter can import them: the `py_*` shapes,
  gilfree against the stdlib as a Python program sees them).

* Alone, printing the benchmark's JSON rows for CPython only:

      python3 cpython_peers.py [--quick] [--only SUBSTR,...]

  prints [{"shape", "impl", "median_ns", "min_ns", "max_ns", "unit": "op",
  "n", "reps"}, ...].
"""

import json
import os
import queue
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed

clock = time.perf_counter_ns

# Worker threads for the executor and CPU shapes: the same count the Rust
# side uses (available parallelism, at least 2).
NTHREADS = max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2))


def run_threads(k, target):
    """Start k threads running target(i), released together, and return the
    nanoseconds from the first one's start to the last one's end (the
    threads read the clock themselves: the starting thread may not run
    again until they are done)."""
    start = threading.Barrier(k)
    spans = [None] * k

    def body(i):
        start.wait()
        t0 = clock()
        target(i)
        spans[i] = (t0, clock())

    ts = [threading.Thread(target=body, args=(i,)) for i in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return max(s[1] for s in spans) - min(s[0] for s in spans)


# ---------------------------------------------------------------- Lock ----

def lock_uncontended(n, Lock=threading.Lock):
    lock = Lock()
    t0 = clock()
    for _ in range(n):
        with lock:
            pass
    return clock() - t0


def lock_contended_2t(n):
    lock = threading.Lock()
    counter = [0]
    per = n // 2

    def work(_):
        for _ in range(per):
            with lock:
                counter[0] += 1

    ns = run_threads(2, work)
    assert counter[0] == 2 * per
    return ns


# ------------------------------------------------- other primitives ----

_rlock = threading.RLock()


def rlock_reacquire(n):
    r = _rlock
    with r:
        t0 = clock()
        for _ in range(n):
            with r:
                pass
        return clock() - t0


_sem = threading.Semaphore(1)


def semaphore_acquire_release(n):
    s = _sem
    t0 = clock()
    for _ in range(n):
        with s:
            pass
    return clock() - t0


def event_pingpong(n):
    """One op is one round trip: A sets ping, B answers with pong."""
    ping, pong = threading.Event(), threading.Event()

    def work(i):
        if i == 0:
            for _ in range(n):
                ping.set()
                pong.wait()
                pong.clear()
        else:
            for _ in range(n):
                ping.wait()
                ping.clear()
                pong.set()

    return run_threads(2, work)


def condition_pingpong(n):
    """One op is one round trip: the turn passes A -> B -> A under a
    Condition, each side notifying the other."""
    cond = threading.Condition()
    turn = [0]

    def work(me):
        other = 1 - me
        for _ in range(n):
            with cond:
                while turn[0] != me:
                    cond.wait()
                turn[0] = other
                cond.notify()

    return run_threads(2, work)


# --------------------------------------------------------------- Queue ----

def _queue_run(maxsize, producers, consumers, n, task_done, Queue=queue.Queue):
    """n items in total, split between the producers; each consumer takes a
    fixed share (as the Rust side does). With task_done, every item is
    marked done and producer 0 joins the queue once it has put its share.
    One op is one item."""
    q = Queue(maxsize)
    per = n // producers
    total = per * producers
    got = [0] * consumers

    def body(i):
        if i < producers:
            put = q.put
            for x in range(i * per, (i + 1) * per):
                put(x)
            if task_done and i == 0:
                q.join()
        else:
            c = i - producers
            share = total // consumers + (1 if c < total % consumers else 0)
            get = q.get
            done = q.task_done
            s = 0
            for _ in range(share):
                s += get()
                if task_done:
                    done()
            got[c] = s

    ns = run_threads(producers + consumers, body)
    assert sum(got) == total * (total - 1) // 2, "items lost or duplicated"
    return ns


def queue_bounded_1p1c(n):
    return _queue_run(1024, 1, 1, n, False)


def queue_bounded_2p2c(n):
    return _queue_run(1024, 2, 2, n, False)


def queue_unbounded_1p1c(n):
    return _queue_run(0, 1, 1, n, False)


def queue_bounded_1p1c_taskdone(n):
    return _queue_run(1024, 1, 1, n, True)


def queue_bounded_2p2c_taskdone(n):
    return _queue_run(1024, 2, 2, n, True)


def queue_unbounded_1p1c_taskdone(n):
    return _queue_run(0, 1, 1, n, True)


# ---------------------------------------------------- ThreadPoolExecutor ----

_pools = {}


def pool(Executor=ThreadPoolExecutor):
    """One pool per executor type, started (and warmed) on first use, as the
    Rust side builds its pools outside the timed region."""
    if Executor not in _pools:
        ex = Executor(max_workers=NTHREADS)
        list(ex.map(tiny, range(4 * NTHREADS)))
        _pools[Executor] = ex
    return _pools[Executor]


def tiny(x):
    return x * 2 + 1


def executor_submit_result(n, Executor=ThreadPoolExecutor):
    ex = pool(Executor)
    submit = ex.submit
    t0 = clock()
    futs = [submit(tiny, i) for i in range(n)]
    total = 0
    for f in futs:
        total += f.result()
    ns = clock() - t0
    assert total == n * n
    return ns


def executor_map(n):
    """`list(ex.map(...))`: the results collected, as gilfree's
    `map_collect` and rayon's `collect` do."""
    ex = pool()
    t0 = clock()
    out = list(ex.map(tiny, range(n)))
    ns = clock() - t0
    assert sum(out) == n * n
    return ns


def executor_map_lazy(n):
    """`ex.map(...)` consumed one result at a time, as it comes."""
    ex = pool()
    t0 = clock()
    total = sum(ex.map(tiny, range(n)))
    ns = clock() - t0
    assert total == n * n
    return ns


def executor_10m_tasks(n, most=1_000_000):
    """`ThreadPoolExecutor.map` on min(n, most) tiny tasks (CPython takes
    seconds per million), summed as they come; the time is scaled to n."""
    ex = pool()
    m = min(n, most)
    t0 = clock()
    total = sum(ex.map(tiny, range(m)))
    ns = clock() - t0
    assert total == m * m
    return ns * n // m


def executor_as_completed(n):
    ex = pool()
    submit = ex.submit
    t0 = clock()
    futs = [submit(tiny, i) for i in range(n)]
    total = 0
    for f in as_completed(futs):
        total += f.result()
    ns = clock() - t0
    assert total == n * n
    return ns


# ---------------------------------------------------------- CPU-bound ----

BASE = 1_000_000


def work(i):
    """The CPU work item, the same as `shapes::cpu::work` in Rust (the lab's
    cpu-bound lesson: primality by trial division): 1 if BASE + i is prime."""
    n = BASE + i
    d = 2
    while d * d <= n:
        if n % d == 0:
            return 0
        d += 1
    return 1


HEAVY = 200


def heavy(_i):
    """One heavy item, the same as `shapes::cpu::heavy` in Rust: the work
    items 0..HEAVY."""
    return sum(work(j) for j in range(HEAVY))


def cpu_sequential(n):
    t0 = clock()
    acc = 0
    for i in range(n):
        acc += work(i)
    return clock() - t0


def cpu_threads(n):
    k = NTHREADS
    acc = [0] * k

    def part(t):
        # A contiguous share: a stride of k would hand one thread all the
        # even numbers, which trial division rejects at once.
        a = 0
        for i in range(t * n // k, (t + 1) * n // k):
            a += work(i)
        acc[t] = a

    return run_threads(k, part)


# ----------------------------------------------- multiprocessing ----
# Issue 4's rows: process start per start method, Pipe round trip (64 B)
# and Pipe throughput (64 B and 1 MiB messages), process to process.

import multiprocessing as mp


def _nothing():
    pass


def _process_start(method):
    ctx = mp.get_context(method)

    def run(n):
        t0 = clock()
        for _ in range(n):
            p = ctx.Process(target=_nothing)
            p.start()
            p.join()
        return clock() - t0

    return run


def _mp_lock_work(lock, counter, go, per):
    while not go.value:
        pass
    for _ in range(per):
        with lock:
            counter.value += 1


def mp_lock_contended_2p(n):
    """Two forked processes add n // 2 each to a RawValue under one
    multiprocessing.Lock; from the release to the later end."""
    ctx = mp.get_context("fork")
    lock = ctx.Lock()
    counter = ctx.RawValue("q", 0)
    go = ctx.RawValue("b", 0)
    per = n // 2
    ps = [ctx.Process(target=_mp_lock_work, args=(lock, counter, go, per)) for _ in range(2)]
    for p in ps:
        p.start()
    t0 = clock()
    go.value = 1
    for p in ps:
        p.join()
    ns = clock() - t0
    assert counter.value == 2 * per
    return ns


def value_increment(n):
    v = mp.Value("q", 0)
    t0 = clock()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    return clock() - t0


def _pipe_server(conn):
    """The other end of the pipe shapes: ("echo", n, size) echoes n
    messages; ("sink", n, size) takes n messages and answers their total
    size; None ends it."""
    while True:
        req = conn.recv()
        if req is None:
            return
        op, n, size = req
        if op == "echo":
            for _ in range(n):
                conn.send_bytes(conn.recv_bytes())
        else:
            total = 0
            for _ in range(n):
                total += len(conn.recv_bytes())
            conn.send(total)


_pipe = None


def pipe():
    """One child (fork context, started once) serving every pipe shape."""
    global _pipe
    if _pipe is None:
        mine, theirs = mp.get_context("fork").Pipe()
        p = mp.get_context("fork").Process(target=_pipe_server, args=(theirs,), daemon=True)
        p.start()
        theirs.close()
        _pipe = (mine, p)
    return _pipe[0]


def pipe_roundtrip(n):
    c = pipe()
    msg = b"\x01" * 64
    c.send(("echo", n, 64))
    t0 = clock()
    for _ in range(n):
        c.send_bytes(msg)
        c.recv_bytes()
    return clock() - t0


def _throughput(size):
    def run(n):
        c = pipe()
        msg = b"\x05" * size
        c.send(("sink", n, size))
        t0 = clock()
        for _ in range(n):
            c.send_bytes(msg)
        total = c.recv()
        ns = clock() - t0
        assert total == n * size
        return ns

    return run


_manager = None


def manager():
    """One Manager (its server process started once) for the manager shapes."""
    global _manager
    if _manager is None:
        _manager = mp.Manager()
    return _manager


def manager_dict_set_get(n):
    """One op is d[k] = i then d[k]: two proxy calls."""
    d = manager().dict()
    t0 = clock()
    for i in range(n):
        d[7] = i
        assert d[7] == i
    return clock() - t0


def manager_queue_64b(n):
    """One op is q.put(64 bytes) then q.get(): two proxy calls."""
    q = manager().Queue()
    msg = b"\x01" * 64
    t0 = clock()
    for _ in range(n):
        q.put(msg)
        q.get()
    return clock() - t0


# ------------------------------------------------------- process pools ----
# One pool of each kind, 2 workers (fork context, as the pipe child), started
# and warmed on first use, outside the timed region.

_mp_pools = {}


def _mp_pool(kind):
    if kind not in _mp_pools:
        ctx = mp.get_context("fork")
        if kind == "pool":
            p = ctx.Pool(2)
            p.map(tiny, range(64), chunksize=1)
        else:
            p = ProcessPoolExecutor(max_workers=2, mp_context=ctx)
            list(p.map(tiny, range(64)))
        _mp_pools[kind] = p
    return _mp_pools[kind]


def pool_apply_roundtrip(n):
    apply = _mp_pool("pool").apply
    t0 = clock()
    acc = 0
    for i in range(n):
        acc += apply(tiny, (i,))
    return clock() - t0


def ppe_roundtrip(n):
    submit = _mp_pool("ppe").submit
    t0 = clock()
    acc = 0
    for i in range(n):
        acc += submit(tiny, i).result()
    return clock() - t0


def pool_map_tiny(n):
    p = _mp_pool("pool")
    t0 = clock()
    v = p.map(tiny, range(n))
    ns = clock() - t0
    assert len(v) == n
    return ns


def pool_map_cpu_2w(n):
    p = _mp_pool("pool")
    t0 = clock()
    p.map(heavy, range(n))
    return clock() - t0


CPYTHON = {
    f.__name__: f
    for f in [
        lock_uncontended,
        lock_contended_2t,
        rlock_reacquire,
        semaphore_acquire_release,
        event_pingpong,
        condition_pingpong,
        queue_bounded_1p1c,
        queue_bounded_2p2c,
        queue_unbounded_1p1c,
        queue_bounded_1p1c_taskdone,
        queue_bounded_2p2c_taskdone,
        queue_unbounded_1p1c_taskdone,
        executor_submit_result,
        executor_map,
        executor_map_lazy,
        executor_as_completed,
        executor_10m_tasks,
        cpu_sequential,
        manager_dict_set_get,
        manager_queue_64b,
    ]
}
CPYTHON[f"cpu_threads_{NTHREADS}t"] = cpu_threads
for _m in ("fork", "spawn", "forkserver"):
    CPYTHON[f"process_start_{_m}"] = _process_start(_m)
CPYTHON["mp_lock_uncontended"] = lambda n: lock_uncontended(n, mp.Lock)
CPYTHON["mp_lock_contended_2p"] = mp_lock_contended_2p
CPYTHON["value_increment"] = value_increment
CPYTHON["pipe_roundtrip"] = pipe_roundtrip
CPYTHON["pipe_throughput_64b"] = _throughput(64)
CPYTHON["pipe_throughput_1mib"] = _throughput(1 << 20)
CPYTHON["pool_apply_roundtrip"] = pool_apply_roundtrip
CPYTHON["pool_map_tiny"] = pool_map_tiny
CPYTHON["pool_map_cpu_2w"] = pool_map_cpu_2w

# ------------------------------------------------ cross-process queue ----
# Issue 15's rows: 64-byte messages with one producer and one consumer
# process, and with four of each; 1 MiB messages, one of each. Every side is
# a long-lived child (fork context) with a control pipe: it is told how
# many messages to put or get and answers when done, so a sample is the
# time until every consumer has got its share. `cpython` is
# `multiprocessing.Queue`; `faster-fifo` (PyPI's shared-memory ring) joins
# when this interpreter can import it.


def _mpq_producer(ctl, q, size):
    msg = b"\x05" * size
    while True:
        n = ctl.recv()
        if n is None:
            return
        for _ in range(n):
            q.put(msg)
        ctl.send(n)


def _mpq_consumer(ctl, q, get):
    while True:
        n = ctl.recv()
        if n is None:
            return
        for _ in range(n):
            get(q)
        ctl.send(n)


class _MpqRig:
    """`producers` and `consumers` children around one queue."""

    def __init__(self, make_queue, get, producers, consumers, size):
        ctx = mp.get_context("fork")
        self.q = make_queue(ctx, size)
        self.sides = []
        for i in range(producers + consumers):
            mine, theirs = ctx.Pipe()
            if i < producers:
                target, args = _mpq_producer, (theirs, self.q, size)
            else:
                target, args = _mpq_consumer, (theirs, self.q, get)
            p = ctx.Process(target=target, args=args, daemon=True)
            p.start()
            theirs.close()
            self.sides.append((mine, p, i < producers))
        self.producers, self.consumers = producers, consumers

    def run(self, n):
        def share(k, i):
            return n // k + (1 if i < n % k else 0)

        t0 = clock()
        pi = ci = 0
        for c, _, is_producer in self.sides:
            if is_producer:
                c.send(share(self.producers, pi))
                pi += 1
            else:
                c.send(share(self.consumers, ci))
                ci += 1
        for c, _, _ in self.sides:
            c.recv()
        return clock() - t0

    def close(self):
        for c, p, _ in self.sides:
            c.send(None)
        for c, p, _ in self.sides:
            p.join()


def _stdlib_queue(ctx, size):
    return ctx.Queue()


def _stdlib_get(q):
    return q.get()


try:
    import faster_fifo as _ff
except ImportError as e:
    _ff = None
    FASTER_FIFO = f"not importable ({e})"
else:
    FASTER_FIFO = getattr(_ff, "__file__", "faster_fifo")


def _ff_queue(ctx, size):
    # Room for several messages of the largest size.
    return _ff.Queue(max_size_bytes=max(1 << 22, 8 * size))


def _ff_get(q):
    return q.get(timeout=1e9)


_mpq_rigs = {}


def _mpq(kind, producers, consumers, size):
    def run(n):
        key = (kind, producers, consumers, size)
        if key not in _mpq_rigs:
            make, get = (_stdlib_queue, _stdlib_get) if kind == "stdlib" else (_ff_queue, _ff_get)
            _mpq_rigs[key] = _MpqRig(make, get, producers, consumers, size)
        return _mpq_rigs[key].run(n)

    return run


MPQ_SHAPES = {
    "mp_queue_64b_1p1c": (1, 1, 64),
    "mp_queue_64b_4p4c": (4, 4, 64),
    "mp_queue_1mib": (1, 1, 1 << 20),
}


# impl -> shape id -> function
IMPLS = {"cpython": CPYTHON, "cpython-ppe": {"pool_apply_roundtrip": ppe_roundtrip}}
for _shape, (_p, _c, _size) in MPQ_SHAPES.items():
    CPYTHON[_shape] = _mpq("stdlib", _p, _c, _size)
if _ff is not None:
    IMPLS["faster-fifo"] = {s: _mpq("ff", p, c, size) for s, (p, c, size) in MPQ_SHAPES.items()}

# The `cluster_*` shapes (issue 16): mpi4py.futures' MPIPoolExecutor on the
# server ranks of its own job. Only in the mpi4py peer, which gilfree-bench
# starts as `mpiexec -n 3 python -m mpi4py.futures cpython_peers.py --serve
# --mpi4py` (rank 0 runs this script, ranks 1 and 2 serve).
CLUSTER_CHUNK = 1000  # as `CHUNK` in src/shapes/cluster.rs
_mpi_pool = []


def _mpi4py_pool():
    if not _mpi_pool:
        from mpi4py.futures import MPIPoolExecutor

        ex = MPIPoolExecutor()
        list(ex.map(tiny, range(64), chunksize=8))
        _mpi_pool.append(ex)
    return _mpi_pool[0]


def cluster_submit_result(n):
    submit = _mpi4py_pool().submit
    t0 = clock()
    acc = 0
    for i in range(n):
        acc += submit(tiny, i).result()
    return clock() - t0


def cluster_map_tiny(n):
    ex = _mpi4py_pool()
    t0 = clock()
    total = sum(ex.map(tiny, range(n), chunksize=CLUSTER_CHUNK))
    ns = clock() - t0
    assert total == n * n
    return ns


# The `py_*` shapes: gilfree's Python bindings against the stdlib, from
# Python. Only when the bindings import (e.g. in the venv that
# scripts/test.sh builds them into: target/venv/bin/python).
try:
    import gilfree as _gf
except ImportError as e:
    _gf = None
    GILFREE_PY = f"not importable ({e})"
else:
    GILFREE_PY = getattr(_gf, "__file__", "gilfree")
    _py = {
        "Lock": ("py_lock_uncontended", lambda T: lambda n: lock_uncontended(n, T), threading.Lock),
        "Queue": (
            "py_queue_bounded_1p1c",
            lambda T: lambda n: _queue_run(1024, 1, 1, n, False, T),
            queue.Queue,
        ),
        "ThreadPoolExecutor": (
            "py_executor_submit_result",
            lambda T: lambda n: executor_submit_result(n, T),
            ThreadPoolExecutor,
        ),
    }
    IMPLS["gilfree"] = {}
    for name, (shape, make, stdlib) in _py.items():
        if hasattr(_gf, name):
            IMPLS["gilfree"][shape] = make(getattr(_gf, name))
            CPYTHON[shape] = make(stdlib)


if "--mpi4py" in sys.argv:
    IMPLS = {
        "mpi4py": {
            "cluster_submit_result": cluster_submit_result,
            "cluster_map_tiny": cluster_map_tiny,
        }
    }


def serve():
    out = sys.stdout
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd = parts[0]
        if cmd == "quit":
            break
        if cmd == "list":
            ids = [f"{i}:{s}" for i, shapes in IMPLS.items() for s in shapes]
            out.write("shapes " + " ".join(ids) + "\n")
        elif cmd == "gilfree":
            out.write(f"gilfree {GILFREE_PY}\n")
        elif cmd == "run" and len(parts) == 4:
            try:
                ns = IMPLS[parts[1]][parts[2]](int(parts[3]))
                out.write(f"ok {ns}\n")
            except Exception as e:  # report it and stay up
                msg = f"{type(e).__name__}: {e}".replace("\n", " ")
                out.write(f"err {msg}\n")
        else:
            out.write(f"err unknown command {line.strip()!r}\n")
        out.flush()
    for ex in list(_pools.values()) + _mpi_pool:
        ex.shutdown()
    for p in _mp_pools.values():
        if hasattr(p, "terminate"):
            p.terminate()
        else:
            p.shutdown()
    if _pipe is not None:
        _pipe[0].send(None)
        _pipe[1].join()
    for rig in _mpq_rigs.values():
        rig.close()


def alone(quick, only):
    reps, sample_ns = (7, 5_000_000) if quick else (15, 50_000_000)
    rows = []
    for imp, name, f in [(i, s, f) for i, shapes in IMPLS.items() for s, f in shapes.items()]:
        if only and not any(o in name for o in only):
            continue
        n = 16
        while True:  # calibrate: grow n until one sample takes a quarter target
            ns = f(n)
            if ns >= sample_ns // 4 or n >= 1 << 24:
                break
            n *= 4
        n = max(1, min(1 << 24, n * sample_ns // max(ns, 1)))
        samples = sorted(f(n) / n for _ in range(reps))
        rows.append({
            "shape": name, "impl": imp,
            "median_ns": samples[len(samples) // 2],
            "min_ns": samples[0], "max_ns": samples[-1],
            "unit": "op", "n": n, "reps": reps,
        })
        print(f"{name:32} {imp:8} {samples[len(samples) // 2]:12.1f} ns/op", file=sys.stderr)
    json.dump(rows, sys.stdout, indent=1)
    print()


def main(argv):
    if "--serve" in argv:
        serve()
        return
    only = []
    if "--only" in argv:
        only = argv[argv.index("--only") + 1].split(",")
    alone("--quick" in argv, only)


if __name__ == "__main__":
    main(sys.argv[1:])
