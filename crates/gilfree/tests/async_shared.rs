//! The process-shared primitives and the cross-process queue awaited
//! (`acquire_async`, `wait_async`, `get_async`, `put_async`, through the
//! futex bridge), each against a real second process: a `Lock` held by a
//! child and released; an `Event` set by a child; a `Semaphore` with
//! thread and task waiters fed by a child; a `Queue` fed by (and feeding)
//! a child; a holder SIGKILLed while a task awaits its lock (the task gets
//! it, told `owner_died`); and random-drop stresses (no lost permit, item
//! or wake-up). The shared `RLock` held by tasks (a `TaskOwner`): held by
//! a child's task and released, its process SIGKILLed while a task or a
//! thread waits (`owner_died`), nesting across awaits with thread, task
//! and other-process contenders, and random drops. On tokio's multi-thread runtime and on
//! `futures::executor`; the per-executor cases under the forkserver and
//! spawn start methods (fork refuses a multi-threaded parent). `harness = false`: `main` calls
//! `multiprocessing::init()` first.
//!
//! No sleeps: a future is polled once (and seen pending, so registered)
//! before the other process is told to go.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use gilfree::multiprocessing::{
    Barrier, Condition, Connection, Event, JoinableQueue, Lock, Pipe, Process, Queue, RLock,
    RawValue, Semaphore, StartMethod, get_context,
};
use gilfree::threading::TaskOwner;
use libtest_mimic::{Arguments, Failed, Trial};

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn is_pending<F: Future>(f: Pin<&mut F>) -> bool {
    f.poll(&mut Context::from_waker(Waker::noop())).is_pending()
}

/// Which executor drives the awaiting side.
#[derive(Clone, Copy, Debug)]
enum Exec {
    Tokio,
    Futures,
}

impl Exec {
    fn run<F: Future>(self, f: F) -> F::Output {
        match self {
            Exec::Tokio => multi_thread().block_on(f),
            Exec::Futures => futures::executor::block_on(f),
        }
    }
}

thread_local! {
    /// The start method of this trial's children (forkserver unless the
    /// trial says otherwise).
    static METHOD: std::cell::Cell<StartMethod> = const { std::cell::Cell::new(StartMethod::ForkServer) };
}

fn start<A: serde::Serialize, R>(
    task: gilfree::multiprocessing::Task<A, R>,
    args: A,
) -> Result<Process<R>, Failed> {
    let p = get_context(METHOD.with(|m| m.get()))
        .builder()
        .target(task, args)?;
    p.start()?;
    Ok(p)
}

// ----- the children -----

/// Takes the lock, says "holding", waits for "release", writes 7, releases.
#[gilfree::task]
fn hold_until_told(l: Lock<u64>, c: Connection) {
    let mut g = l.acquire();
    c.send("holding").unwrap();
    let _: String = c.recv().unwrap();
    *g = 7;
}

/// Takes the lock, writes 99, says "holding", and waits to be killed.
#[gilfree::task]
fn hold_and_die(l: Lock<u64>, c: Connection) {
    let mut g = l.acquire();
    *g = 99;
    c.send("holding").unwrap();
    loop {
        std::thread::park();
    }
}

/// Sets the event when told.
#[gilfree::task]
fn set_when_told(ev: Event, c: Connection) {
    let _: String = c.recv().unwrap();
    ev.set();
}

/// Releases `n` permits one by one when told.
#[gilfree::task]
fn release_when_told(sem: Semaphore, n: u32, c: Connection) {
    let _: String = c.recv().unwrap();
    for _ in 0..n {
        sem.release().unwrap();
    }
}

/// Puts `0..n`.
#[gilfree::task]
fn produce(q: Queue<u64>, n: u64) {
    for i in 0..n {
        q.put(i).unwrap();
    }
}

/// Gets `n` items; returns their sum and whether they came in order.
#[gilfree::task]
fn consume(q: Queue<u64>, n: u64) -> (u64, bool) {
    let (mut sum, mut ordered) = (0, true);
    for i in 0..n {
        let v = q.get().unwrap();
        ordered &= v == i;
        sum += v;
    }
    (sum, ordered)
}

/// Holds for `i % 7 * 400` yields: long enough, now and then, that the
/// tasks' short timeouts fire while they wait (a hold, not a
/// synchronisation).
fn hold(i: u32) {
    for _ in 0..i % 7 * 400 {
        std::thread::yield_now();
    }
}

/// Acquires and releases the semaphore `n` times (blocking), holding each
/// permit for a varying while.
#[gilfree::task]
fn churn_semaphore(sem: Semaphore, n: u32, done: Event) {
    for i in 0..n {
        let g = sem.acquire();
        hold(i);
        drop(g);
    }
    done.set();
}

/// Locks, bumps the counter, unlocks, `n` times, holding for a varying
/// while.
#[gilfree::task]
fn churn_lock(l: Lock<u64>, n: u32, done: Event) {
    for i in 0..n {
        let mut g = l.acquire();
        *g += 1;
        hold(i);
    }
    done.set();
}

/// Takes the RLock by a task, two levels, says "holding", waits for
/// "release", releases both.
#[gilfree::task]
fn rlock_task_hold_until_told(l: RLock, c: Connection) {
    let me = TaskOwner::new();
    futures::executor::block_on(async {
        let a = l.acquire_async(&me).await;
        let b = l.acquire_async(&me).await;
        c.send("holding").unwrap();
        let _: String = c.recv().unwrap();
        drop(b);
        drop(a);
    });
}

/// Takes the RLock by a task, two levels, says "holding", and waits to be
/// killed.
#[gilfree::task]
fn rlock_task_hold_and_die(l: RLock, c: Connection) {
    let me = TaskOwner::new();
    let a = futures::executor::block_on(l.acquire_async(&me));
    let b = futures::executor::block_on(l.acquire_async(&me));
    c.send("holding").unwrap();
    std::mem::forget((a, b));
    loop {
        std::thread::park();
    }
}

/// `counter += 1` in three steps, with a yield between read and write: a
/// second holder would lose an increment.
fn bump(counter: &RawValue<u64>) {
    let v = counter.get();
    std::thread::yield_now();
    counter.set(v + 1);
}

/// `n` times, alternately by this thread and by a task (two levels each
/// time), bumps the counter under the RLock, holding for a varying while.
#[gilfree::task]
fn churn_rlock(l: RLock, counter: RawValue<u64>, n: u32, done: Event) {
    let me = TaskOwner::new();
    for i in 0..n {
        if i % 2 == 0 {
            let _a = l.acquire();
            let _b = l.acquire();
            bump(&counter);
            hold(i);
        } else {
            futures::executor::block_on(async {
                let _a = l.acquire_async(&me).await;
                let _b = l.acquire_async(&me).await;
                bump(&counter);
                hold(i);
            });
        }
    }
    done.set();
}

/// Waits for "go", then is a party of the barrier; returns its index.
#[gilfree::task]
fn barrier_party(b: Barrier, c: Connection) -> usize {
    let _: String = c.recv().unwrap();
    b.wait().unwrap()
}

/// Takes `n` items and marks each done.
#[gilfree::task]
fn work_through(q: JoinableQueue<u64>, n: u64) {
    for _ in 0..n {
        q.get().unwrap();
        q.task_done().unwrap();
    }
}

/// When told, sets the state to 1 under the lock and notifies.
#[gilfree::task]
fn notify_when_told(c: Condition<u32>, conn: Connection) {
    let _: String = conn.recv().unwrap();
    let mut g = c.acquire();
    *g = 1;
    c.notify_all().unwrap();
}

// ----- the cases -----

/// `Condition::wait_async` (the lock released while waiting) woken by a
/// child that takes the lock, changes the state and notifies.
fn condition_notified_by_other_process(exec: Exec) -> Result<(), Failed> {
    let c = Condition::new(0u32)?;
    let (mine, theirs) = Pipe(true)?;
    let p = start(notify_when_told::TASK, (c.try_clone()?, theirs))?;
    let seen = exec.run(async {
        let mut waiting = pin!(async {
            let mut g = c.acquire_async().await;
            while *g == 0 {
                g = c.wait_async(g).await;
            }
            *g
        });
        assert!(is_pending(waiting.as_mut()), "waiting, lock released");
        assert!(c.try_acquire().is_some(), "released while waiting");
        mine.send("go").unwrap();
        waiting.await
    });
    p.join()?;
    check(
        seen == 1 && c.try_acquire().is_some(),
        format!("seen {seen}"),
    )
}

/// `JoinableQueue::join_async` returns once a child has marked every item
/// done, not before.
fn join_async_across_processes(exec: Exec) -> Result<(), Failed> {
    const N: u64 = 50;
    let q = JoinableQueue::new(0)?;
    for i in 0..N {
        q.put(i)?;
    }
    let clone = q.try_clone()?;
    exec.run(async {
        let mut join = pin!(q.join_async());
        assert!(is_pending(join.as_mut()), "nothing done yet");
        let p = start(work_through::TASK, (clone, N)).unwrap();
        join.await;
        assert_eq!(q.unfinished_tasks(), 0);
        p.join().unwrap();
    });
    Ok(())
}

/// A 3-party barrier across processes: a task's wait dropped before the
/// cycle completes withdraws (the barrier stays whole); then two tasks
/// here and a thread in a child pass one cycle together (indices 0, 1, 2).
fn barrier_across_processes(exec: Exec) -> Result<(), Failed> {
    let b = Barrier::new(3)?;
    let (mine, theirs) = Pipe(true)?;
    let p = start(barrier_party::TASK, (b.try_clone()?, theirs))?;
    {
        let mut dropped = pin!(b.wait_async());
        check(is_pending(dropped.as_mut()), "alone at the barrier")?;
        check(b.n_waiting() == 1, "arrived")?;
    }
    check(b.n_waiting() == 0 && !b.broken(), "withdrawn, not broken")?;
    let (x, y) = exec.run(async {
        let mut f1 = pin!(b.wait_async());
        let mut f2 = pin!(b.wait_async());
        assert!(is_pending(f1.as_mut()) && is_pending(f2.as_mut()));
        mine.send("go").unwrap();
        futures::join!(f1, f2)
    });
    p.join()?;
    let z = p.result()?;
    let mut all = [x?, y?, z];
    all.sort();
    check(all == [0, 1, 2], format!("indices {all:?}"))
}

/// A task awaiting a lock another process holds gets it when that process
/// releases it, and sees what it wrote.
fn lock_released_by_other_process(exec: Exec) -> Result<(), Failed> {
    let l = Lock::new(0u64)?;
    let (mine, theirs) = Pipe(true)?;
    let p = start(hold_until_told::TASK, (l.try_clone()?, theirs))?;
    check(mine.recv::<String>()? == "holding", "child holds")?;
    let seen = exec.run(async {
        let mut fut = pin!(l.acquire_async());
        assert!(is_pending(fut.as_mut()), "the lock is held");
        mine.send("release").unwrap();
        let g = fut.await;
        (*g, g.owner_died())
    });
    p.join()?;
    check(seen == (7, false), format!("seen {seen:?}"))
}

/// `Event::wait_async` woken by `set()` in another process.
fn event_set_by_other_process(exec: Exec) -> Result<(), Failed> {
    let ev = Event::new()?;
    let (mine, theirs) = Pipe(true)?;
    let p = start(set_when_told::TASK, (ev.try_clone()?, theirs))?;
    exec.run(async {
        let mut fut = pin!(ev.wait_async());
        assert!(is_pending(fut.as_mut()), "not set yet");
        mine.send("go").unwrap();
        fut.await;
    });
    p.join()?;
    check(ev.is_set(), "set")
}

/// Two threads and three tasks wait on one semaphore; another process
/// releases five permits: every waiter gets one, none is left over.
fn semaphore_mixed_waiters() -> Result<(), Failed> {
    let sem = Arc::new(Semaphore::new(0)?);
    let (mine, theirs) = Pipe(true)?;
    let p = start(release_when_told::TASK, (sem.try_clone()?, 5, theirs))?;
    let rt = multi_thread();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let sem = sem.clone();
            std::thread::spawn(move || sem.acquire().forget())
        })
        .collect();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let sem = sem.clone();
            rt.spawn(async move { sem.acquire_async().await.forget() })
        })
        .collect();
    // A task seen pending is registered with the bridge before the go.
    {
        let mut probe = pin!(sem.acquire_async());
        check(is_pending(probe.as_mut()), "no permit yet")?;
    }
    mine.send("go")?;
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    p.join()?;
    check(sem.value() == 0, format!("value {}", sem.value()))
}

/// The mp `Queue::get_async` fed by another process (a small `maxsize`,
/// so the child blocks on a full queue that the task drains), and
/// `put_async` feeding another process.
fn queue_async_with_child(exec: Exec) -> Result<(), Failed> {
    const N: u64 = 2000;
    let q = Queue::new(4)?;
    let p = start(produce::TASK, (q.try_clone()?, N))?;
    let sum = exec.run(async {
        let mut sum = 0;
        for i in 0..N {
            let v = q.get_async().await.unwrap();
            assert_eq!(v, i, "in order");
            sum += v;
        }
        sum
    });
    p.join()?;
    check(sum == N * (N - 1) / 2, "every item once")?;
    let c = start(consume::TASK, (q.try_clone()?, N))?;
    exec.run(async {
        for i in 0..N {
            q.put_async(i).await.unwrap();
        }
    });
    c.join()?;
    let (sum, ordered) = c.result()?;
    check(
        sum == N * (N - 1) / 2 && ordered,
        "the child got every item",
    )
}

/// The holder is SIGKILLed while a task awaits the lock: the task gets it,
/// told `owner_died`, with the dead holder's write visible; the next
/// acquire is not told again.
fn robust_lock_holder_killed(exec: Exec) -> Result<(), Failed> {
    let l = Lock::new(0u64)?;
    let (mine, theirs) = Pipe(true)?;
    let p = start(hold_and_die::TASK, (l.try_clone()?, theirs))?;
    check(mine.recv::<String>()? == "holding", "child holds")?;
    let seen = exec.run(async {
        let mut fut = pin!(l.acquire_async());
        assert!(is_pending(fut.as_mut()), "the lock is held");
        p.kill().unwrap();
        let g = fut.await;
        (*g, g.owner_died())
    });
    let _ = p.join();
    check(seen == (99, true), format!("seen {seen:?}"))?;
    check(!l.acquire().owner_died(), "owner_died reported once")
}

/// A task awaiting the RLock that a child's *task* holds (two levels) gets
/// it when that task releases; meanwhile this process's threads can
/// neither take nor release it.
fn rlock_task_released_by_other_process(exec: Exec) -> Result<(), Failed> {
    let l = RLock::new()?;
    let (mine, theirs) = Pipe(true)?;
    let p = start(rlock_task_hold_until_told::TASK, (l.try_clone()?, theirs))?;
    check(mine.recv::<String>()? == "holding", "child holds")?;
    check(l.locked() && !l.is_owned(), "held by the child")?;
    check(l.try_acquire().is_none(), "a thread cannot take it")?;
    check(l.release().is_err(), "a thread cannot release it")?;
    let me = TaskOwner::new();
    check(
        l.release_by(&me).is_err(),
        "nor a token that does not hold it",
    )?;
    let seen = exec.run(async {
        let mut fut = pin!(l.acquire_async(&me));
        assert!(is_pending(fut.as_mut()), "the lock is held");
        mine.send("release").unwrap();
        let a = fut.await;
        let b = l.acquire_async(&me).await;
        let seen = (a.owner_died(), l.recursion_count_by(&me), l.is_owned());
        drop((a, b));
        seen
    });
    p.join()?;
    check(seen == (false, 2, false), format!("seen {seen:?}"))?;
    check(!l.locked(), "free at the end")
}

/// The process whose task holds the RLock is SIGKILLed while a task
/// awaits it: the task takes it over, told `owner_died` (once).
fn rlock_task_holder_killed(exec: Exec) -> Result<(), Failed> {
    let l = RLock::new()?;
    let (mine, theirs) = Pipe(true)?;
    let p = start(rlock_task_hold_and_die::TASK, (l.try_clone()?, theirs))?;
    check(mine.recv::<String>()? == "holding", "child holds")?;
    let me = TaskOwner::new();
    let seen = exec.run(async {
        let mut fut = pin!(l.acquire_async(&me));
        assert!(is_pending(fut.as_mut()), "the lock is held");
        p.kill().unwrap();
        let g = fut.await;
        (g.owner_died(), l.recursion_count_by(&me))
    });
    let _ = p.join();
    check(seen == (true, 1), format!("seen {seen:?}"))?;
    check(!l.locked(), "released")?;
    let g = l.try_acquire_by(&me);
    check(
        g.is_some_and(|g| !g.owner_died()),
        "owner_died reported once",
    )
}

/// As `rlock_task_holder_killed`, with a blocked *thread* waiting: it
/// takes the lock over from the dead process's task, told `owner_died`.
fn rlock_task_holder_killed_thread_waits() -> Result<(), Failed> {
    let l = RLock::new()?;
    let (mine, theirs) = Pipe(true)?;
    let p = start(rlock_task_hold_and_die::TASK, (l.try_clone()?, theirs))?;
    check(mine.recv::<String>()? == "holding", "child holds")?;
    let seen = std::thread::scope(|s| {
        let t = s.spawn(|| {
            let g = l.acquire();
            (g.owner_died(), l.recursion_count())
        });
        p.kill().unwrap();
        t.join().unwrap()
    });
    let _ = p.join();
    check(seen == (true, 1), format!("seen {seen:?}"))?;
    check(!l.locked(), "released")
}

/// A task's levels belong to its token, not to a thread: taken on one
/// thread, nested and released on another (as a task resumed elsewhere
/// does), while a thread of this process waits and then gets it.
fn rlock_task_moves_threads() -> Result<(), Failed> {
    let l = RLock::new()?;
    let me = TaskOwner::new();
    let outer = futures::executor::block_on(l.acquire_async(&me));
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let g = l.acquire();
            (g.owner_died(), l.recursion_count())
        });
        s.spawn(|| {
            let inner = futures::executor::block_on(l.acquire_async(&me));
            assert_eq!(l.recursion_count_by(&me), 2);
            assert!(l.release().is_err(), "not this thread's");
            drop(inner);
            drop(outer);
        })
        .join()
        .unwrap();
        check(waiter.join().unwrap() == (false, 1), "the waiter got it")
    })?;
    check(!l.locked(), "free at the end")
}

/// A task that registered, may have been handed the release's wake-up,
/// and is then dropped unpolled passes it on: the thread blocked behind
/// it gets the lock (a lost wake-up would hang here).
fn rlock_dropped_waiter_passes_on() -> Result<(), Failed> {
    let l = RLock::new()?;
    let me = TaskOwner::new();
    let held = l.acquire();
    let mut fut = Box::pin(l.acquire_async(&me));
    check(is_pending(fut.as_mut()), "held by this thread")?;
    std::thread::scope(|s| {
        let waiter = s.spawn(|| l.acquire().owner_died());
        drop(held);
        drop(fut);
        check(!waiter.join().unwrap(), "the thread got it")
    })?;
    check(
        !l.locked() && l.recursion_count_by(&me) == 0,
        "nothing held",
    )
}

/// Nesting across awaits, with every kind of contender at once: a child
/// process (alternately a thread and a task), two threads here (one
/// blocking, one a `futures::executor` task), and three tokio tasks that
/// hold two levels across `yield_now`s (free to resume on another worker
/// thread). Each bumps a counter non-atomically under the lock: the total
/// is exact, so no two ever held it together, and nobody was left waiting.
fn rlock_mixed_waiters() -> Result<(), Failed> {
    const CHILD: u32 = 200;
    const EACH: u64 = 100;
    let l = Arc::new(RLock::new()?);
    let counter = Arc::new(RawValue::new(0u64)?);
    let done = Event::new()?;
    let p = start(
        churn_rlock::TASK,
        (
            l.try_clone()?,
            counter.try_clone()?,
            CHILD,
            done.try_clone()?,
        ),
    )?;
    let rt = multi_thread();
    let moved = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (l, counter, moved) = (l.clone(), counter.clone(), moved.clone());
            rt.spawn(async move {
                let me = TaskOwner::new();
                for _ in 0..EACH {
                    let outer = l.acquire_async(&me).await;
                    let before = std::thread::current().id();
                    // Woken from the blocking pool: resumed by whichever
                    // worker takes it.
                    tokio::task::spawn_blocking(|| ()).await.unwrap();
                    let inner = l.acquire_async(&me).await;
                    assert_eq!(l.recursion_count_by(&me), 2);
                    let v = counter.get();
                    tokio::task::yield_now().await;
                    counter.set(v + 1);
                    if std::thread::current().id() != before {
                        moved.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    drop(inner);
                    assert!(l.is_owned_by(&me));
                    drop(outer);
                    assert!(!l.is_owned_by(&me));
                }
            })
        })
        .collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..EACH {
                let _a = l.acquire();
                let _b = l.acquire();
                bump(&counter);
            }
        });
        s.spawn(|| {
            let me = TaskOwner::new();
            futures::executor::block_on(async {
                for _ in 0..EACH {
                    let _a = l.acquire_async(&me).await;
                    let _b = l.acquire_async(&me).await;
                    bump(&counter);
                }
            })
        });
        rt.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
    });
    p.join()?;
    let total = counter.get();
    let want = u64::from(CHILD) + 5 * EACH;
    eprintln!(
        "rlock_mixed_waiters: {} of {} task holds resumed on another thread",
        moved.load(std::sync::atomic::Ordering::Relaxed),
        3 * EACH
    );
    check(total == want, format!("counter {total} != {want}"))?;
    check(!l.locked(), "free at the end")
}

/// Tasks acquire the RLock and drop the future at random points (after
/// 1–4 polls, a wake-up perhaps received) while a child churns it by a
/// thread and by a task; a completed acquire nests once and holds across
/// a yield. Every completed acquire is counted: the counter is exact (no
/// hold was lost or doubled), the lock ends free, and a last acquire with
/// no timeout completes (no wake-up was lost).
fn rlock_random_drops() -> Result<(), Failed> {
    const CHILD: u32 = 300;
    let l = Arc::new(RLock::new()?);
    let counter = Arc::new(RawValue::new(0u64)?);
    let done = Arc::new(Event::new()?);
    let p = start(
        churn_rlock::TASK,
        (
            l.try_clone()?,
            counter.try_clone()?,
            CHILD,
            done.try_clone()?,
        ),
    )?;
    let rt = multi_thread();
    let tasks: Vec<_> = (0..4u64)
        .map(|t| {
            let (l, counter, done) = (l.clone(), counter.clone(), done.clone());
            rt.spawn(async move {
                let me = TaskOwner::new();
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let (mut got, mut dropped) = (0u64, 0u64);
                while !done.is_set() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let mut f = pin!(l.acquire_async(&me));
                    let g = if x % 5 == 0 {
                        Some(f.await)
                    } else {
                        let mut g = None;
                        for _ in 0..=x % 4 {
                            if let Poll::Ready(r) = futures::poll!(f.as_mut()) {
                                g = Some(r);
                                break;
                            }
                            tokio::task::yield_now().await;
                        }
                        g
                    };
                    let Some(g) = g else {
                        dropped += 1;
                        continue;
                    };
                    let inner = l.try_acquire_by(&me).expect("re-entry never waits");
                    let v = counter.get();
                    tokio::task::yield_now().await;
                    counter.set(v + 1);
                    got += 1;
                    drop((inner, g));
                    assert_eq!(l.recursion_count_by(&me), 0);
                }
                (got, dropped)
            })
        })
        .collect();
    let (got, dropped) = rt.block_on(async {
        let (mut g, mut d) = (0, 0);
        for t in tasks {
            let (a, b) = t.await.unwrap();
            g += a;
            d += b;
        }
        (g, d)
    });
    p.join()?;
    eprintln!("rlock_random_drops: {got} acquires, {dropped} dropped");
    let total = counter.get();
    check(
        total == got + u64::from(CHILD),
        format!("{total} != {got} + {CHILD}"),
    )?;
    check(!l.locked(), "free")?;
    let me = TaskOwner::new();
    rt.block_on(async {
        drop(l.acquire_async(&me).await);
    });
    check(!l.locked(), "free after a last acquire")
}

/// Tasks acquire and drop the future at random points (after a few polls,
/// a wake-up perhaps received) while another process churns the semaphore: at the end every
/// permit is back, and a last acquire with no timeout completes (no wake-up
/// was lost).
fn semaphore_random_drops() -> Result<(), Failed> {
    const PERMITS: u32 = 1;
    let sem = Arc::new(Semaphore::new(PERMITS)?);
    let done = Arc::new(Event::new()?);
    let p = start(
        churn_semaphore::TASK,
        (sem.try_clone()?, 300, done.try_clone()?),
    )?;
    let rt = multi_thread();
    let tasks: Vec<_> = (0..6u64)
        .map(|t| {
            let (sem, done) = (sem.clone(), done.clone());
            rt.spawn(async move {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let mut got = 0;
                while !done.is_set() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Poll a few times with yields between (a wake-up may
                    // come meanwhile), then drop it unless it completed;
                    // now and then wait it out.
                    let mut f = pin!(sem.acquire_async());
                    if x % 5 == 0 {
                        drop(f.await);
                        got += 1;
                        continue;
                    }
                    for _ in 0..=x % 4 {
                        if let Poll::Ready(g) = futures::poll!(f.as_mut()) {
                            got += 1;
                            tokio::task::yield_now().await;
                            drop(g);
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                }
                got
            })
        })
        .collect();
    let got: u32 = rt.block_on(async {
        let mut n = 0;
        for t in tasks {
            n += t.await.unwrap();
        }
        n
    });
    p.join()?;
    check(
        sem.value() == PERMITS,
        format!("value {} after {got} acquires", sem.value()),
    )?;
    rt.block_on(async {
        drop(sem.acquire_async().await);
    });
    check(sem.value() == PERMITS, "permits back")
}

/// Tasks lock and drop the future at random points while another process
/// churns the lock:
/// no increment is lost, the lock ends free, and a last acquire completes.
fn lock_random_drops() -> Result<(), Failed> {
    const CHILD: u32 = 300;
    let l = Arc::new(Lock::new(0u64)?);
    let done = Arc::new(Event::new()?);
    let p = start(churn_lock::TASK, (l.try_clone()?, CHILD, done.try_clone()?))?;
    let rt = multi_thread();
    let tasks: Vec<_> = (0..4u64)
        .map(|t| {
            let (l, done) = (l.clone(), done.clone());
            rt.spawn(async move {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let mut got = 0u64;
                while !done.is_set() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // As in `semaphore_random_drops`; the guard is not
                    // Send, so it is used and dropped within the poll.
                    let mut f = pin!(l.acquire_async());
                    if x % 5 == 0 {
                        *f.await += 1;
                        got += 1;
                        continue;
                    }
                    for _ in 0..=x % 4 {
                        if let Poll::Ready(mut g) = futures::poll!(f.as_mut()) {
                            *g += 1;
                            got += 1;
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                }
                got
            })
        })
        .collect();
    let got: u64 = rt.block_on(async {
        let mut n = 0;
        for t in tasks {
            n += t.await.unwrap();
        }
        n
    });
    p.join()?;
    let total = rt.block_on(async { *l.acquire_async().await });
    check(
        total == got + u64::from(CHILD),
        format!("{total} != {got} + {CHILD}"),
    )?;
    check(!l.locked(), "free")
}

/// Tasks get with random timeouts from a queue a child fills: every item
/// arrives exactly once (the dropped gets took nothing).
fn queue_random_drops() -> Result<(), Failed> {
    const N: u64 = 3000;
    let q = Arc::new(Queue::new(8)?);
    let p = start(produce::TASK, (q.try_clone()?, N))?;
    let rt = multi_thread();
    let seen = Arc::new(std::sync::Mutex::new(vec![0u8; N as usize]));
    let left = Arc::new(std::sync::atomic::AtomicU64::new(N));
    let tasks: Vec<_> = (0..4u64)
        .map(|t| {
            let (q, seen, left) = (q.clone(), seen.clone(), left.clone());
            rt.spawn(async move {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                use std::sync::atomic::Ordering::SeqCst;
                while left.load(SeqCst) > 0 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let d = Duration::from_micros(x % 300);
                    if let Ok(v) = tokio::time::timeout(d, q.get_async()).await {
                        seen.lock().unwrap()[v.unwrap() as usize] += 1;
                        left.fetch_sub(1, SeqCst);
                    }
                }
            })
        })
        .collect();
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    p.join()?;
    let seen = seen.lock().unwrap();
    check(seen.iter().all(|&n| n == 1), "every item exactly once")?;
    check(q.empty(), "nothing left")
}

/// Not a test: prints the wake-up latency of a task awaiting an event set
/// by another process, and the bridge thread's CPU time while tasks wait
/// idle (run with `--ignored --nocapture`).
fn measure_bridge() -> Result<(), Failed> {
    const ROUNDS: usize = 400;
    let ping = Event::new()?;
    let pong = Event::new()?;
    let (mine, theirs) = Pipe(true)?;
    let p = start(
        echo_events::TASK,
        (
            ping.try_clone()?,
            pong.try_clone()?,
            2 * ROUNDS as u32,
            theirs,
        ),
    )?;
    let rt = multi_thread();
    let report = |what: &str, mut lat: Vec<Duration>| {
        lat.sort();
        println!(
            "{what}: median {:?}, p90 {:?}",
            lat[lat.len() / 2],
            lat[lat.len() * 9 / 10]
        );
    };
    // The same round trip, awaited by a task and waited by a thread,
    // alternating, so both see the same load.
    let (mut task_lat, mut thread_lat) = (Vec::new(), Vec::new());
    for i in 0..2 * ROUNDS {
        pong.clear();
        if i % 2 == 0 {
            // Registered with the bridge before the child is told to go,
            // so the wake-up always comes through it.
            let mut f = pin!(pong.wait_async());
            assert!(is_pending(f.as_mut()));
            let t0 = std::time::Instant::now();
            ping.set();
            rt.block_on(f);
            task_lat.push(t0.elapsed());
        } else {
            let t0 = std::time::Instant::now();
            ping.set();
            pong.wait();
            thread_lat.push(t0.elapsed());
        }
    }
    let _: String = mine.recv()?;
    p.join()?;
    report("round trip, task awaits the child's set", task_lat);
    report("round trip, thread waits for the child's set", thread_lat);
    // Idle: 100 tasks wait on an event nobody sets for 1 s.
    let ev = Arc::new(Event::new()?);
    let cpu = |tid: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
            .ok()
            .and_then(|s| {
                let f: Vec<&str> = s.rsplit(')').next()?.split_whitespace().collect();
                Some(f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?)
            })
            .unwrap_or(0)
    };
    let bridge_tid = || -> Option<String> {
        std::fs::read_dir("/proc/self/task").ok()?.find_map(|e| {
            let e = e.ok()?;
            let name = std::fs::read_to_string(e.path().join("comm")).ok()?;
            name.starts_with("gilfree-futex-b")
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
    };
    let waiters: Vec<_> = (0..100)
        .map(|_| {
            let ev = ev.clone();
            rt.spawn(async move { ev.wait_async().await })
        })
        .collect();
    let tid = bridge_tid().ok_or("no bridge thread")?;
    let before = cpu(&tid);
    std::thread::sleep(Duration::from_secs(1)); // a measurement, not a synchronisation
    let after = cpu(&tid);
    ev.set();
    rt.block_on(async {
        for w in waiters {
            w.await.unwrap();
        }
    });
    println!(
        "bridge thread CPU over 1 s idle with 100 waiting tasks: {} ticks",
        after - before
    );
    Ok(())
}

/// Answers each `ping` with a `pong`, `n` times.
#[gilfree::task]
fn echo_events(ping: Event, pong: Event, n: u32, c: Connection) {
    for _ in 0..n {
        ping.wait();
        ping.clear();
        pong.set();
    }
    c.send("done").unwrap();
}

fn main() {
    gilfree::multiprocessing::init();
    let args = Arguments::from_args();
    type Case = fn(Exec) -> Result<(), Failed>;
    let per_exec: &[(&str, Case)] = &[
        (
            "lock_released_by_other_process",
            lock_released_by_other_process,
        ),
        ("event_set_by_other_process", event_set_by_other_process),
        ("queue_async_with_child", queue_async_with_child),
        ("robust_lock_holder_killed", robust_lock_holder_killed),
        ("barrier_across_processes", barrier_across_processes),
        ("join_async_across_processes", join_async_across_processes),
        (
            "condition_notified_by_other_process",
            condition_notified_by_other_process,
        ),
        (
            "rlock_task_released_by_other_process",
            rlock_task_released_by_other_process,
        ),
        ("rlock_task_holder_killed", rlock_task_holder_killed),
    ];
    let mut trials = vec![
        Trial::test("semaphore_mixed_waiters", semaphore_mixed_waiters),
        Trial::test("semaphore_random_drops", semaphore_random_drops),
        Trial::test("lock_random_drops", lock_random_drops),
        Trial::test("queue_random_drops", queue_random_drops),
        Trial::test(
            "rlock_task_holder_killed_thread_waits",
            rlock_task_holder_killed_thread_waits,
        ),
        Trial::test("rlock_task_moves_threads", rlock_task_moves_threads),
        Trial::test(
            "rlock_dropped_waiter_passes_on",
            rlock_dropped_waiter_passes_on,
        ),
        Trial::test("rlock_mixed_waiters", rlock_mixed_waiters),
        Trial::test("rlock_random_drops", rlock_random_drops),
        Trial::test("measure_bridge", measure_bridge).with_ignored_flag(true),
    ];
    for m in [StartMethod::ForkServer, StartMethod::Spawn] {
        for exec in [Exec::Tokio, Exec::Futures] {
            for &(name, f) in per_exec {
                trials.push(Trial::test(format!("{m}::{exec:?}::{name}"), move || {
                    METHOD.with(|c| c.set(m));
                    f(exec)
                }));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
