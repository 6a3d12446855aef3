//! The `.await` forms of the threading waits (`Lock::acquire_async`,
//! `Semaphore`/`BoundedSemaphore::acquire_async`, `Event::wait_async`,
//! `Condition::wait_async`/`wait_for_async`):
//! their semantics on tokio's multi-thread runtime and on
//! `futures::executor`, threads and tasks waiting on one object at once,
//! and cancellation by drop losing no lock, permit or wake-up.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use gilfree::threading::{BoundedSemaphore, Condition, Event, Lock, Semaphore};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

/// A waker that records whether it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let f = Arc::new(Flag::default());
    (f.clone(), Waker::from(f))
}

fn poll_once<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn futures_are_send() {
    let (l, s, b, e) = (
        Lock::new(1u8),
        Semaphore::new(1),
        BoundedSemaphore::new(1),
        Event::new(),
    );
    assert_send(&l.acquire_async());
    assert_send(&s.acquire_async());
    assert_send(&b.acquire_async());
    assert_send(&e.wait_async());
    let g = futures::executor::block_on(l.acquire_async());
    assert_send(&g);
    drop(g);
    let cond = Condition::from_lock(Lock::new(0u8));
    let g = futures::executor::block_on(cond.acquire_async());
    assert_send(&cond.wait_async(g));
    let g = futures::executor::block_on(cond.acquire_async());
    assert_send(&cond.wait_for_async(g, |n| *n == 0));
}

/// Tasks on a multi-thread runtime increment a plain counter under the
/// lock, holding the guard across an `.await`: the count is exact.
#[test]
fn lock_async_excludes_on_tokio() {
    let lock = Arc::new(Lock::new(0u64));
    rt().block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let lock = lock.clone();
                tokio::spawn(async move {
                    for _ in 0..500 {
                        let mut g = lock.acquire_async().await;
                        let v = *g;
                        tokio::task::yield_now().await;
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(*lock.acquire(), 16 * 500);
    assert!(!lock.locked());
}

/// Threads (blocking `acquire`) and tasks (`acquire_async`) contend for
/// one lock at once: every increment lands, nobody is left waiting.
#[test]
fn lock_mixed_threads_and_tasks() {
    let lock = Arc::new(Lock::new(0u64));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let lock = lock.clone();
            std::thread::spawn(move || {
                for _ in 0..3000 {
                    *lock.acquire() += 1;
                }
            })
        })
        .collect();
    rt().block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let lock = lock.clone();
                tokio::spawn(async move {
                    for _ in 0..1000 {
                        *lock.acquire_async().await += 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*lock.acquire(), 3 * 3000 + 8 * 1000);
}

/// Deterministic: a release wakes the oldest registered task; when that
/// task's future is dropped unpolled, its wake-up passes to the next one.
#[test]
fn lock_dropped_notified_waiter_passes_on() {
    let lock = Lock::new(());
    let held = lock.acquire();
    let (fa, wa) = flag();
    let (fb, wb) = flag();
    let mut a = lock.acquire_async();
    let mut b = lock.acquire_async();
    assert!(poll_once(&mut a, &wa).is_pending());
    assert!(poll_once(&mut b, &wb).is_pending());
    drop(held);
    assert!(fa.0.load(SeqCst), "the release woke the first task");
    assert!(!fb.0.load(SeqCst));
    drop(a);
    assert!(fb.0.load(SeqCst), "the dropped task passed its wake-up on");
    let g = match poll_once(&mut b, &wb) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("the lock was free"),
    };
    drop(g);
    assert!(!lock.locked());
}

/// The same for a semaphore permit.
#[test]
fn semaphore_dropped_notified_waiter_passes_on() {
    let sem = Semaphore::new(0);
    let (fa, wa) = flag();
    let (fb, wb) = flag();
    let mut a = sem.acquire_async();
    let mut b = sem.acquire_async();
    assert!(poll_once(&mut a, &wa).is_pending());
    assert!(poll_once(&mut b, &wb).is_pending());
    sem.release().unwrap();
    assert!(fa.0.load(SeqCst));
    drop(a);
    assert!(fb.0.load(SeqCst));
    let g = match poll_once(&mut b, &wb) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("a permit was free"),
    };
    assert_eq!(sem.value(), 0);
    drop(g);
    assert_eq!(sem.value(), 1);
}

/// Semaphore semantics with tasks and threads together: never more than
/// `permits` holders at once, and every permit comes back.
#[test]
fn semaphore_bounds_mixed_holders() {
    let sem = Arc::new(Semaphore::new(3));
    let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (sem, now, max) = (sem.clone(), now.clone(), max.clone());
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let _p = sem.acquire();
                    max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                    now.fetch_sub(1, SeqCst);
                }
            })
        })
        .collect();
    rt().block_on(async {
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (sem, now, max) = (sem.clone(), now.clone(), max.clone());
                tokio::spawn(async move {
                    for _ in 0..500 {
                        let _p = sem.acquire_async().await;
                        max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                        tokio::task::yield_now().await;
                        now.fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert!(max.load(SeqCst) <= 3);
    assert_eq!(sem.value(), 3);
}

/// A bounded semaphore's async permits come back within the bound.
#[test]
fn bounded_semaphore_async() {
    let sem = Arc::new(BoundedSemaphore::new(2));
    rt().block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let sem = sem.clone();
                tokio::spawn(async move {
                    for _ in 0..200 {
                        let _p = sem.acquire_async().await;
                        assert!(sem.value() <= 1);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(sem.value(), 2);
    assert!(sem.release().is_err(), "still bounded");
}

/// One `set` wakes task and thread waiters alike; an already-set event
/// resolves at once; a set followed by a clear is still seen by a task
/// that was waiting.
#[test]
fn event_wakes_tasks_and_threads() {
    let ev = Arc::new(Event::new());
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let ev = ev.clone();
            std::thread::spawn(move || ev.wait())
        })
        .collect();
    let rt = rt();
    let woke = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (ev, woke) = (ev.clone(), woke.clone());
            rt.spawn(async move {
                ev.wait_async().await;
                woke.fetch_add(1, SeqCst);
            })
        })
        .collect();
    ev.set();
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
        ev.wait_async().await; // already set: at once
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(woke.load(SeqCst), 20);

    let ev2 = Event::new();
    let (f, w) = flag();
    let mut fut = ev2.wait_async();
    assert!(poll_once(&mut fut, &w).is_pending());
    ev2.set();
    ev2.clear();
    assert!(f.0.load(SeqCst));
    assert!(poll_once(&mut fut, &w).is_ready(), "the set was seen");
}

/// `tokio::time::timeout` around each wait: the wait gives up while the
/// object stays unavailable, and the object is untouched afterwards.
#[test]
fn timeouts_with_tokio() {
    let (lock, sem, ev) = (Lock::new(()), Semaphore::new(0), Event::new());
    let held = lock.acquire();
    rt().block_on(async {
        let d = Duration::from_millis(5);
        assert!(tokio::time::timeout(d, lock.acquire_async()).await.is_err());
        assert!(tokio::time::timeout(d, sem.acquire_async()).await.is_err());
        assert!(tokio::time::timeout(d, ev.wait_async()).await.is_err());
    });
    drop(held);
    assert!(!lock.locked());
    assert!(lock.try_acquire().is_some());
    sem.release().unwrap();
    assert_eq!(sem.value(), 1);
    assert!(sem.try_acquire().is_some());
}

/// On `futures::executor`: a `LocalPool` of tasks shares a lock and a
/// semaphore with a blocking thread.
#[test]
fn futures_executor_local_pool() {
    use futures::task::LocalSpawnExt;
    let lock = Arc::new(Lock::new(0u64));
    let sem = Arc::new(Semaphore::new(0));
    let (l2, s2) = (lock.clone(), sem.clone());
    let thread = std::thread::spawn(move || {
        for _ in 0..1000 {
            *l2.acquire() += 1;
        }
        s2.release_n(50).unwrap();
    });
    let mut pool = futures::executor::LocalPool::new();
    let got = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let (lock, sem, got) = (lock.clone(), sem.clone(), got.clone());
        pool.spawner()
            .spawn_local(async move {
                sem.acquire_async().await.forget();
                for _ in 0..20 {
                    *lock.acquire_async().await += 1;
                }
                got.fetch_add(1, SeqCst);
            })
            .unwrap();
    }
    pool.run();
    thread.join().unwrap();
    assert_eq!(got.load(SeqCst), 50);
    assert_eq!(*lock.acquire(), 1000 + 50 * 20);
    assert_eq!(sem.value(), 0);
}

/// A small deterministic PRNG (xorshift), so the stress is reproducible
/// per seed without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Polls `fut` a random number of times (0..3, yielding between), then
/// drops it if it is still pending. Returns its output if it completed.
async fn maybe_cancel<F: Future>(fut: F, polls: u64) -> Option<F::Output> {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        if let Some(v) = futures::FutureExt::now_or_never(fut.as_mut()) {
            return Some(v);
        }
        tokio::task::yield_now().await;
    }
    None
}

/// Cancellation stress: tasks acquire the lock and semaphore permits and
/// wait for events, dropping a random share of the waits midway (before
/// registering, registered, or after a release woke them), while other
/// tasks and threads wait to completion. Nothing is lost: every completed
/// acquisition is counted exactly, the patient waiters all finish (a lost
/// wake-up would hang them), and the objects end free and whole.
#[test]
fn cancellation_by_drop_loses_nothing() {
    let lock = Arc::new(Lock::new(0u64));
    let sem = Arc::new(Semaphore::new(2));
    let done_ok = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (lock, sem, done_ok) = (lock.clone(), sem.clone(), done_ok.clone());
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    *lock.acquire() += 1;
                    let _p = sem.acquire();
                    done_ok.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    rt().block_on(async {
        let tasks: Vec<_> = (0..16u64)
            .map(|seed| {
                let (lock, sem, done_ok) = (lock.clone(), sem.clone(), done_ok.clone());
                tokio::spawn(async move {
                    let mut rng = Rng(seed * 0x9E37_79B9 + 1);
                    let mut mine = 0u64;
                    for _ in 0..1500 {
                        let r = rng.next();
                        if r.is_multiple_of(3) {
                            // Patient.
                            *lock.acquire_async().await += 1;
                            mine += 1;
                            let _p = sem.acquire_async().await;
                            done_ok.fetch_add(1, SeqCst);
                        } else {
                            if let Some(mut g) = maybe_cancel(lock.acquire_async(), r % 4).await {
                                *g += 1;
                                mine += 1;
                            }
                            if let Some(p) = maybe_cancel(sem.acquire_async(), (r >> 8) % 4).await {
                                if r & 1 << 20 != 0 {
                                    tokio::task::yield_now().await;
                                }
                                drop(p);
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.acquire_async().await, total + 2 * 2000);
    });
    assert!(!lock.locked());
    assert_eq!(sem.value(), 2, "no permit lost or duplicated");
    // Both objects still hand out everything they have, to threads and
    // tasks, after the storm.
    let a = sem.try_acquire().unwrap();
    let b = futures::executor::block_on(sem.acquire_async());
    assert!(sem.try_acquire().is_none());
    drop((a, b));
    assert!(done_ok.load(SeqCst) >= 4000);
}

/// Event notifications survive cancellations: rounds of `set`, each
/// with patient task waiters and randomly dropped ones; every patient
/// waiter of every round returns.
#[test]
fn event_cancellation_loses_no_notification() {
    let rt = rt();
    for round in 0..200u64 {
        let ev = Arc::new(Event::new());
        let mut rng = Rng(round + 7);
        let patient: Vec<_> = (0..4)
            .map(|_| {
                let ev = ev.clone();
                rt.spawn(async move { ev.wait_async().await })
            })
            .collect();
        let dropped: Vec<_> = (0..4)
            .map(|_| {
                let ev = ev.clone();
                let polls = rng.next() % 4;
                rt.spawn(async move { maybe_cancel(ev.wait_async(), polls).await })
            })
            .collect();
        ev.set();
        rt.block_on(async {
            for t in patient {
                t.await.unwrap();
            }
            for t in dropped {
                t.await.unwrap();
            }
        });
    }
}

/// `Condition::wait_async`: `notify(1)` wakes exactly the oldest waiter;
/// a waiter dropped after its notification passes it on; one dropped
/// before leaves the queue.
#[test]
fn condition_notify_one_and_pass_on() {
    let cond = Condition::from_lock(Lock::new(()));
    let (fa, wa) = flag();
    let (fb, wb) = flag();
    let mut a = cond.wait_async(futures::executor::block_on(cond.acquire_async()));
    let mut b = cond.wait_async(futures::executor::block_on(cond.acquire_async()));
    assert!(poll_once(&mut a, &wa).is_pending());
    assert!(poll_once(&mut b, &wb).is_pending());
    assert_eq!(cond.n_waiting(), 2);
    {
        let _g = cond.acquire();
        assert_eq!(cond.notify(1), Ok(1));
    }
    assert!(
        fa.0.load(SeqCst) && !fb.0.load(SeqCst),
        "exactly the oldest"
    );
    drop(a);
    assert!(fb.0.load(SeqCst), "the dropped waiter passed it on");
    assert_eq!(cond.n_waiting(), 0);
    let g = match poll_once(&mut b, &wb) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("notified and the lock is free"),
    };
    assert!(cond.lock().locked());
    drop(g);
    let c = cond.wait_async(futures::executor::block_on(cond.acquire_async()));
    drop(c);
    assert_eq!(cond.n_waiting(), 0);
    assert!(!cond.lock().locked());
}

struct Shop {
    items: u64,
    consumed: u64,
}

/// Producer (a thread) and consumers (patient tasks, tasks that drop
/// their waits at random, and a blocking thread) on one `Condition`, one
/// `notify(1)` per item: every item is consumed (a lost notification
/// would leave an item behind with every patient consumer asleep, and the
/// producer waiting forever for the last one).
#[test]
fn condition_cancellation_stress_loses_no_notification() {
    const N: u64 = 3000;
    let cond = Arc::new(Condition::from_lock(Lock::new(Shop {
        items: 0,
        consumed: 0,
    })));
    let all = Arc::new(Event::new());
    let rt = rt();
    let consume = |s: &mut Shop, all: &Event| {
        s.items -= 1;
        s.consumed += 1;
        if s.consumed == N {
            all.set();
        }
    };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (cond, all) = (cond.clone(), all.clone());
        tasks.push(rt.spawn(async move {
            while !all.is_set() {
                let g = cond.acquire_async().await;
                let mut g = cond
                    .wait_for_async(g, |s| s.items > 0 || s.consumed == N)
                    .await;
                if g.items > 0 {
                    consume(&mut g, &all);
                }
            }
        }));
    }
    for seed in 0..6u64 {
        let (cond, all) = (cond.clone(), all.clone());
        tasks.push(rt.spawn(async move {
            let mut rng = Rng(seed + 11);
            while !all.is_set() {
                let mut g = cond.acquire_async().await;
                if g.items == 0 && g.consumed < N {
                    match maybe_cancel(cond.wait_async(g), rng.next() % 4).await {
                        Some(g2) => g = g2,
                        None => continue,
                    }
                }
                if g.items > 0 {
                    consume(&mut g, &all);
                }
            }
        }));
    }
    let (c2, a2) = (cond.clone(), all.clone());
    let blocking = std::thread::spawn(move || {
        while !a2.is_set() {
            let mut g = c2.acquire();
            c2.wait_for_guard(&mut g, |s| s.items > 0 || s.consumed == N)
                .unwrap();
            if g.items > 0 {
                consume(&mut g, &a2);
            }
        }
    });
    for _ in 0..N {
        let mut g = cond.acquire();
        g.items += 1;
        cond.notify(1).unwrap();
    }
    all.wait();
    {
        let _g = cond.acquire();
        cond.notify_all().unwrap();
    }
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    blocking.join().unwrap();
    let g = cond.acquire();
    assert_eq!((g.items, g.consumed), (0, N));
}

/// `tokio::time::timeout` around the waits the first timeout test leaves
/// out: a bounded semaphore's acquire, and a condition's `wait_async` and
/// `wait_for_async`. Each gives up while nothing arrives, leaves the
/// object whole (no permit taken, no waiter left queued, the lock free),
/// and the object still works afterwards.
#[test]
fn timeouts_bounded_semaphore_and_condition() {
    let sem = BoundedSemaphore::new(1);
    let cond = Condition::from_lock(Lock::new(0u32));
    let rt = rt();
    let held = sem.acquire();
    rt.block_on(async {
        let d = Duration::from_millis(5);
        assert!(tokio::time::timeout(d, sem.acquire_async()).await.is_err());
        let g = cond.acquire_async().await;
        assert!(tokio::time::timeout(d, cond.wait_async(g)).await.is_err());
        assert_eq!(cond.n_waiting(), 0);
        assert!(
            !cond.lock().locked(),
            "a dropped wait does not retake the lock"
        );
        let g = cond.acquire_async().await;
        let r = tokio::time::timeout(d, cond.wait_for_async(g, |n| *n > 0)).await;
        assert!(r.is_err());
        assert_eq!(cond.n_waiting(), 0);
        assert!(!cond.lock().locked());
    });
    assert_eq!(sem.value(), 0);
    drop(held);
    assert_eq!(sem.value(), 1);
    assert!(sem.release().is_err(), "the timed-out acquire took nothing");
    // Both still serve a task after the timeouts.
    let c = &cond;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut g = c.acquire();
            *g = 1;
            c.notify_all().unwrap();
        });
        rt.block_on(async {
            let g = c.acquire_async().await;
            assert_eq!(*c.wait_for_async(g, |n| *n > 0).await, 1);
            drop(sem.acquire_async().await);
        });
    });
    assert_eq!(sem.value(), 1);
}

/// A bounded semaphore shared by blocking threads and tasks: never more
/// than `bound` holders, every permit back within the bound, and a
/// release past the bound refused whoever made the acquisitions.
#[test]
fn bounded_semaphore_mixed_threads_and_tasks() {
    let sem = Arc::new(BoundedSemaphore::new(2));
    let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (sem, now, max) = (sem.clone(), now.clone(), max.clone());
            std::thread::spawn(move || {
                for _ in 0..1500 {
                    let _p = sem.acquire();
                    max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                    now.fetch_sub(1, SeqCst);
                }
            })
        })
        .collect();
    rt().block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (sem, now, max) = (sem.clone(), now.clone(), max.clone());
                tokio::spawn(async move {
                    for _ in 0..400 {
                        let _p = sem.acquire_async().await;
                        max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                        tokio::task::yield_now().await;
                        now.fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert!(max.load(SeqCst) <= 2);
    assert_eq!(sem.value(), 2);
    assert!(sem.release().is_err(), "still bounded");
}
