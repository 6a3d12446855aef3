//! `RLock::acquire_async` with a `TaskOwner`: nesting by the token, tasks
//! and threads waiting on one `RLock`, releases by non-owners refused,
//! timeouts, cancellation by drop losing nothing (deterministic and a
//! random-drop stress), one token used from two threads at once; and
//! `Condition` over an `RLock` waited on by tokens (`wait_async_by`); on
//! tokio's multi-thread runtime and on `futures::executor`.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use gilfree::threading::{Condition, Error, Event, RLock, TaskOwner};

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

/// Who is inside the lock: owners other than "the token" count in `other`,
/// holders through the token in `token`. Exclusion holds if no two
/// different owners are ever inside together.
#[derive(Default)]
struct Inside {
    other: AtomicUsize,
    token: AtomicUsize,
}

impl Inside {
    fn enter_other(&self) {
        assert_eq!(self.other.fetch_add(1, SeqCst), 0, "two owners inside");
        assert_eq!(self.token.load(SeqCst), 0, "an owner inside with the token");
    }
    fn leave_other(&self) {
        self.other.fetch_sub(1, SeqCst);
    }
    fn enter_token(&self) {
        self.token.fetch_add(1, SeqCst);
        assert_eq!(self.other.load(SeqCst), 0, "the token inside with an owner");
    }
    fn leave_token(&self) {
        self.token.fetch_sub(1, SeqCst);
    }
}

#[test]
fn futures_and_guards_are_send() {
    let lock = RLock::new(());
    let me = TaskOwner::new();
    assert_send(&lock.acquire_async(&me));
    let g = futures::executor::block_on(lock.acquire_async(&me));
    assert_send(&g);
    assert_send(&me);
}

/// The same token nests at once; the levels come off in any order; the
/// lock is free after the last one, and a non-owner never gets in.
#[test]
fn token_nests_and_unwinds() {
    let lock = RLock::new(7u32);
    let (me, other) = (TaskOwner::new(), TaskOwner::new());
    futures::executor::block_on(async {
        let a = lock.acquire_async(&me).await;
        let b = lock.acquire_async(&me).await;
        let c = lock.try_acquire_by(&me).expect("re-entry never waits");
        assert_eq!(*a + *b + *c, 21);
        assert_eq!(lock.recursion_count_by(&me), 3);
        assert!(lock.is_owned_by(&me) && !lock.is_owned_by(&other));
        assert!(lock.try_acquire_by(&other).is_none());
        assert!(lock.try_acquire().is_none(), "the thread is another owner");
        assert_eq!(lock.recursion_count(), 0);
        drop(b);
        assert_eq!(lock.recursion_count_by(&me), 2);
        drop(a);
        assert!(lock.locked());
        drop(c);
    });
    assert!(!lock.locked());
    assert_eq!(lock.recursion_count_by(&me), 0);
    assert!(lock.try_acquire_by(&other).is_some());
}

/// Python's `RuntimeError: cannot release un-acquired lock`, in every
/// direction: a thread releasing a token's level, a token releasing a
/// thread's, a token releasing another's; nothing changes on a refusal.
#[test]
fn release_by_non_owner_fails() {
    let lock = RLock::new(());
    let (me, other) = (TaskOwner::new(), TaskOwner::new());
    assert_eq!(lock.release_by(&me), Err(Error::NotOwner));

    std::mem::forget(futures::executor::block_on(lock.acquire_async(&me)));
    std::mem::forget(lock.try_acquire_by(&me).unwrap());
    assert_eq!(lock.release(), Err(Error::NotOwner));
    assert_eq!(lock.release_by(&other), Err(Error::NotOwner));
    assert_eq!(lock.recursion_count_by(&me), 2);
    // From another thread too.
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(lock.release(), Err(Error::NotOwner)));
    });
    assert_eq!(lock.release_by(&me), Ok(()));
    assert_eq!(lock.release_by(&me), Ok(()));
    assert!(!lock.locked());
    assert_eq!(lock.release_by(&me), Err(Error::NotOwner));

    assert!(lock.acquire_unguarded(true, None));
    assert_eq!(lock.release_by(&me), Err(Error::NotOwner));
    assert_eq!(lock.recursion_count(), 1);
    lock.release().unwrap();
    assert!(!lock.locked());
}

/// Tasks on a multi-thread runtime, one token each, nest across `.await`s
/// (so a task may resume on another thread between its levels): exclusion
/// between tokens holds, every level is released, the count is exact.
#[test]
fn tasks_nest_across_awaits_on_tokio() {
    let lock = Arc::new(RLock::new(()));
    let inside = Arc::new(Inside::default());
    let count = Arc::new(AtomicU64::new(0));
    rt().block_on(async {
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (lock, inside, count) = (lock.clone(), inside.clone(), count.clone());
                tokio::spawn(async move {
                    let me = TaskOwner::new();
                    for _ in 0..300 {
                        let a = lock.acquire_async(&me).await;
                        inside.enter_other();
                        tokio::task::yield_now().await;
                        let b = lock.acquire_async(&me).await;
                        assert_eq!(lock.recursion_count_by(&me), 2);
                        count.fetch_add(1, SeqCst);
                        tokio::task::yield_now().await;
                        drop(a);
                        assert!(lock.is_owned_by(&me));
                        inside.leave_other();
                        drop(b);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(count.load(SeqCst), 12 * 300);
    assert!(!lock.locked());
}

/// Threads (blocking, nested `acquire`) and tasks (nested `acquire_async`)
/// contend for one `RLock`: exclusion between all owners, nobody is left
/// waiting, every level comes off.
#[test]
fn mixed_threads_and_tasks() {
    let lock = Arc::new(RLock::new(()));
    let inside = Arc::new(Inside::default());
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (lock, inside, count) = (lock.clone(), inside.clone(), count.clone());
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let _a = lock.acquire();
                    inside.enter_other();
                    let _b = lock.acquire();
                    count.fetch_add(1, SeqCst);
                    inside.leave_other();
                }
            })
        })
        .collect();
    rt().block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (lock, inside, count) = (lock.clone(), inside.clone(), count.clone());
                tokio::spawn(async move {
                    let me = TaskOwner::new();
                    for _ in 0..800 {
                        let _a = lock.acquire_async(&me).await;
                        inside.enter_other();
                        let _b = lock.acquire_async(&me).await;
                        count.fetch_add(1, SeqCst);
                        inside.leave_other();
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
    assert_eq!(count.load(SeqCst), 3 * 2000 + 8 * 800);
    assert!(!lock.locked());
}

/// Deterministic: a release wakes the oldest waiting task; when that
/// task's future is dropped unpolled, the wake-up passes to the next one.
#[test]
fn dropped_notified_waiter_passes_on() {
    let lock = RLock::new(());
    let (a_tok, b_tok) = (TaskOwner::new(), TaskOwner::new());
    let held = lock.acquire();
    let held2 = lock.acquire();
    let (fa, wa) = flag();
    let (fb, wb) = flag();
    let mut a = lock.acquire_async(&a_tok);
    let mut b = lock.acquire_async(&b_tok);
    assert!(poll_once(&mut a, &wa).is_pending());
    assert!(poll_once(&mut b, &wb).is_pending());
    drop(held2);
    assert!(!fa.0.load(SeqCst), "an inner level frees nothing");
    drop(held);
    assert!(fa.0.load(SeqCst), "the last release woke the first task");
    assert!(!fb.0.load(SeqCst));
    drop(a);
    assert!(fb.0.load(SeqCst), "the dropped task passed its wake-up on");
    let g = match poll_once(&mut b, &wb) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("the lock was free"),
    };
    assert!(lock.is_owned_by(&b_tok));
    drop(g);
    assert!(!lock.locked());
}

/// Two futures of one token (as in one `join!`) both wait on a lock a
/// thread holds. The release lets the first in; the second, polled
/// again, nests at once instead of waiting for its own owner's release.
#[test]
fn second_future_of_the_owner_nests_after_waiting() {
    let lock = RLock::new(());
    let me = TaskOwner::new();
    let held = lock.acquire();
    let (fa, wa) = flag();
    let (_fb, wb) = flag();
    let mut a = lock.acquire_async(&me);
    let mut b = lock.acquire_async(&me);
    assert!(poll_once(&mut a, &wa).is_pending());
    assert!(poll_once(&mut b, &wb).is_pending());
    drop(held);
    assert!(fa.0.load(SeqCst));
    let ga = match poll_once(&mut a, &wa) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("woken and free"),
    };
    let gb = match poll_once(&mut b, &wb) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("the owner's second future must nest"),
    };
    assert_eq!(lock.recursion_count_by(&me), 2);
    drop((ga, gb));
    assert!(!lock.locked());
    // And with `join!` on an executor.
    let held = lock.acquire();
    let t = std::thread::scope(|s| {
        let h = s.spawn(|| {
            futures::executor::block_on(async {
                let (x, y) = futures::join!(lock.acquire_async(&me), lock.acquire_async(&me));
                let n = lock.recursion_count_by(&me);
                drop((x, y));
                n
            })
        });
        drop(held);
        h.join().unwrap()
    });
    assert_eq!(t, 2);
    assert!(!lock.locked());
}

/// `tokio::time::timeout` around the acquire: it gives up while another
/// owner holds the lock, and leaves the lock and its count untouched.
#[test]
fn timeouts_with_tokio() {
    let lock = RLock::new(());
    let (me, holder) = (TaskOwner::new(), TaskOwner::new());
    let held = lock.acquire();
    let rt = rt();
    rt.block_on(async {
        let d = Duration::from_millis(5);
        assert!(
            tokio::time::timeout(d, lock.acquire_async(&me))
                .await
                .is_err()
        );
    });
    assert_eq!(lock.recursion_count(), 1);
    drop(held);
    assert!(!lock.locked());
    let g = lock.try_acquire_by(&holder).unwrap();
    rt.block_on(async {
        let d = Duration::from_millis(5);
        assert!(
            tokio::time::timeout(d, lock.acquire_async(&me))
                .await
                .is_err()
        );
        // The holder's own acquire never waits, timeout or not.
        let g2 = tokio::time::timeout(d, lock.acquire_async(&holder)).await;
        assert!(g2.is_ok());
    });
    assert_eq!(lock.recursion_count_by(&holder), 1);
    drop(g);
    assert!(!lock.locked());
    assert!(lock.try_acquire_by(&me).is_some());
}

/// On `futures::executor`: a `LocalPool` of tasks (one token each) shares
/// the lock with a blocking thread.
#[test]
fn futures_executor_local_pool() {
    use futures::task::LocalSpawnExt;
    let lock = Arc::new(RLock::new(()));
    let inside = Arc::new(Inside::default());
    let count = Arc::new(AtomicU64::new(0));
    let (l2, i2, c2) = (lock.clone(), inside.clone(), count.clone());
    let thread = std::thread::spawn(move || {
        for _ in 0..2000 {
            let _g = l2.acquire();
            i2.enter_other();
            c2.fetch_add(1, SeqCst);
            i2.leave_other();
        }
    });
    let mut pool = futures::executor::LocalPool::new();
    for _ in 0..20 {
        let (lock, inside, count) = (lock.clone(), inside.clone(), count.clone());
        pool.spawner()
            .spawn_local(async move {
                let me = TaskOwner::new();
                for _ in 0..50 {
                    let _a = lock.acquire_async(&me).await;
                    inside.enter_other();
                    let _b = lock.acquire_async(&me).await;
                    count.fetch_add(1, SeqCst);
                    inside.leave_other();
                }
            })
            .unwrap();
    }
    pool.run();
    thread.join().unwrap();
    assert_eq!(count.load(SeqCst), 2000 + 20 * 50);
    assert!(!lock.locked());
}

/// One token used from two threads at once (it is `Sync`): its nests and
/// releases stay one sequence, so the count never tears, the lock ends
/// free, and other owners are still excluded while it holds the lock.
#[test]
fn one_token_from_two_threads() {
    let lock = RLock::new(());
    let me = TaskOwner::new();
    let inside = Inside::default();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                futures::executor::block_on(async {
                    for _ in 0..3000 {
                        let _a = lock.acquire_async(&me).await;
                        inside.enter_token();
                        let _b = lock.acquire_async(&me).await;
                        assert!(lock.recursion_count_by(&me) >= 2);
                        inside.leave_token();
                    }
                })
            });
        }
        s.spawn(|| {
            for _ in 0..3000 {
                let _g = lock.acquire();
                inside.enter_other();
                inside.leave_other();
            }
        });
    });
    assert!(!lock.locked());
    assert_eq!(lock.recursion_count_by(&me), 0);
}

/// A small deterministic PRNG (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Polls `fut` up to `polls` times (yielding between), then drops it if it
/// is still pending. Returns its output if it completed.
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

/// Cancellation stress: tasks take one or two levels, dropping a random
/// share of their acquires midway (before registering, registered, or
/// after a release woke them), beside patient tasks and blocking threads.
/// Nothing is lost: the patient all finish (a lost wake-up would hang
/// them), every completed critical section is counted exactly, exclusion
/// holds throughout, and the lock ends free with no level left.
#[test]
fn random_drops_lose_nothing() {
    let lock = Arc::new(RLock::new(()));
    let inside = Arc::new(Inside::default());
    let done = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (lock, inside, done) = (lock.clone(), inside.clone(), done.clone());
            std::thread::spawn(move || {
                for _ in 0..1500 {
                    let _a = lock.acquire();
                    inside.enter_other();
                    let _b = lock.acquire();
                    done.fetch_add(1, SeqCst);
                    inside.leave_other();
                }
            })
        })
        .collect();
    let tokens: Vec<Arc<TaskOwner>> = (0..16).map(|_| Arc::new(TaskOwner::new())).collect();
    rt().block_on(async {
        let tasks: Vec<_> = (0..16u64)
            .map(|seed| {
                let (lock, inside) = (lock.clone(), inside.clone());
                let me = tokens[seed as usize].clone();
                tokio::spawn(async move {
                    let mut rng = Rng(seed * 0x9E37_79B9 + 1);
                    let mut mine = 0u64;
                    for _ in 0..1200 {
                        let r = rng.next();
                        if r.is_multiple_of(3) {
                            let _a = lock.acquire_async(&me).await;
                            inside.enter_other();
                            let _b = lock.acquire_async(&me).await;
                            mine += 1;
                            inside.leave_other();
                        } else if let Some(a) = maybe_cancel(lock.acquire_async(&me), r % 4).await {
                            inside.enter_other();
                            // The inner level never waits: it cannot be cancelled.
                            let b = maybe_cancel(lock.acquire_async(&me), 1).await;
                            assert!(b.is_some());
                            if r & 1 << 20 != 0 {
                                tokio::task::yield_now().await;
                            }
                            mine += 1;
                            inside.leave_other();
                            drop((b, a));
                        }
                        assert_eq!(lock.recursion_count_by(&me), 0);
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
        assert_eq!(done.load(SeqCst), 2 * 1500);
        assert!(total > 0);
    });
    assert!(!lock.locked());
    for me in &tokens {
        assert_eq!(lock.recursion_count_by(me), 0);
    }
    // Still hands itself out to threads and tasks after the storm.
    drop(lock.try_acquire().unwrap());
    drop(futures::executor::block_on(lock.acquire_async(&tokens[0])));
    assert!(!lock.locked());
}

/// `Condition` over an `RLock`, a token holding two levels: the wait
/// releases both (a thread gets in and notifies), and returns with both;
/// waiting or notifying without holding the lock is `NotHeld`.
#[test]
fn condition_wait_by_restores_depth() {
    let cond = Arc::new(Condition::new());
    let me = TaskOwner::new();
    assert_eq!(
        futures::executor::block_on(cond.wait_async_by(&me)),
        Err(Error::NotHeld("wait"))
    );
    assert_eq!(cond.n_waiting(), 0);
    assert_eq!(cond.notify_by(&me, 1), Err(Error::NotHeld("notify")));
    let c2 = cond.clone();
    let ready = Arc::new(Event::new());
    let r2 = ready.clone();
    let t = std::thread::spawn(move || {
        r2.wait();
        let _g = c2.acquire();
        c2.notify(1).unwrap()
    });
    futures::executor::block_on(async {
        let _a = cond.acquire_async(&me).await;
        let _b = cond.acquire_async(&me).await;
        let mut w = pin!(cond.wait_async_by(&me));
        assert!(futures::FutureExt::now_or_never(w.as_mut()).is_none());
        assert!(!cond.lock().locked(), "both levels released");
        ready.set();
        assert_eq!(w.await, Ok(()));
        assert_eq!(cond.lock().recursion_count_by(&me), 2);
        assert_eq!(cond.notify_all_by(&me), Ok(0));
    });
    assert_eq!(t.join().unwrap(), 1);
    assert!(!cond.lock().locked());
}

/// `notify(1)` wakes exactly the oldest token waiter; one dropped after
/// its notification passes it on and leaves the lock as it found it.
#[test]
fn condition_by_notify_one_and_pass_on() {
    let cond = Condition::new();
    let (ta, tb) = (TaskOwner::new(), TaskOwner::new());
    let (fa, wa) = flag();
    let (fb, wb) = flag();
    std::mem::forget(cond.lock().try_acquire_by(&ta).unwrap());
    let mut a = cond.wait_async_by(&ta);
    std::mem::forget(cond.lock().try_acquire_by(&tb).unwrap());
    let mut b = cond.wait_async_by(&tb);
    assert!(poll_once(&mut a, &wa).is_pending());
    assert!(poll_once(&mut b, &wb).is_pending());
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
    assert_eq!(poll_once(&mut b, &wb), Poll::Ready(Ok(())));
    assert!(cond.lock().is_owned_by(&tb) && !cond.lock().is_owned_by(&ta));
    cond.lock().release_by(&tb).unwrap();
    assert!(!cond.lock().locked());
}

/// Producer (a thread) and consumers (patient token tasks, token tasks
/// that drop their waits at random, a blocking thread) on one
/// RLock-backed `Condition`, one `notify(1)` per item: every item is
/// consumed. The shared state is atomics changed only under the lock.
#[test]
fn condition_by_cancellation_stress() {
    const N: u64 = 2000;
    let cond = Arc::new(Condition::new());
    let items = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(AtomicU64::new(0));
    let all = Arc::new(Event::new());
    let consume = |items: &AtomicU64, consumed: &AtomicU64, all: &Event| {
        if items.load(SeqCst) > 0 {
            items.fetch_sub(1, SeqCst);
            if consumed.fetch_add(1, SeqCst) + 1 == N {
                all.set();
            }
        }
    };
    let rt = rt();
    let mut tasks = Vec::new();
    for seed in 0..8u64 {
        let (cond, items, consumed, all) =
            (cond.clone(), items.clone(), consumed.clone(), all.clone());
        tasks.push(rt.spawn(async move {
            let me = TaskOwner::new();
            let mut rng = Rng(seed + 11);
            while !all.is_set() {
                let _g = cond.acquire_async(&me).await;
                let _nested = cond.acquire_async(&me).await;
                if seed < 3 {
                    let ok = cond
                        .wait_for_async_by(&me, || {
                            items.load(SeqCst) > 0 || consumed.load(SeqCst) == N
                        })
                        .await;
                    assert_eq!(ok, Ok(true));
                } else if items.load(SeqCst) == 0 && consumed.load(SeqCst) < N {
                    let done = maybe_cancel(cond.wait_async_by(&me), rng.next() % 4).await;
                    if done.is_none() {
                        // Dropped: no level held; the guards release nothing.
                        assert_eq!(cond.lock().recursion_count_by(&me), 0);
                        continue;
                    }
                }
                assert_eq!(cond.lock().recursion_count_by(&me), 2);
                consume(&items, &consumed, &all);
            }
        }));
    }
    let (c2, i2, n2, a2) = (cond.clone(), items.clone(), consumed.clone(), all.clone());
    let blocking = std::thread::spawn(move || {
        while !a2.is_set() {
            let _g = c2.acquire();
            c2.wait_for(|| i2.load(SeqCst) > 0 || n2.load(SeqCst) == N)
                .unwrap();
            consume(&i2, &n2, &a2);
        }
    });
    for _ in 0..N {
        let _g = cond.acquire();
        items.fetch_add(1, SeqCst);
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
    assert_eq!((items.load(SeqCst), consumed.load(SeqCst)), (0, N));
    assert!(!cond.lock().locked());
}
