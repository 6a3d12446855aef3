//! `Barrier::wait_async`: its semantics on tokio's multi-thread runtime and
//! on `futures::executor`, threads and tasks as parties of one barrier, the
//! action, abort and reset waking tasks, and cancellation by drop
//! withdrawing a party (asyncio's semantics) without breaking the barrier
//! or leaving a ghost in its count.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use gilfree::threading::{Barrier, Error, Event};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}

/// A generous bound for a cycle that must complete (a hang guard, not a
/// timing assertion).
const HANG_GUARD: Duration = Duration::from_secs(60);

/// One full cycle of `parties` threads on `b`: they all pass, indices
/// `0..parties` once each. Proves the barrier holds no ghost party.
fn full_cycle_of_threads(b: &Arc<Barrier>) {
    let hs: Vec<_> = (0..b.parties())
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || b.wait_timeout(HANG_GUARD))
        })
        .collect();
    let mut idx: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
    idx.sort();
    assert_eq!(idx, (0..b.parties()).collect::<Vec<_>>());
}

#[test]
fn future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let b = Barrier::new(1);
    assert_send(&b.wait_async());
}

/// Two threads and two tasks (on tokio's multi-thread runtime) pass three
/// cycles together; each cycle hands out the indices 0..4 once, and the
/// action runs once per cycle.
#[test]
fn threads_and_tasks_are_parties_together() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let b = Arc::new(Barrier::new(4).with_action(move || {
        r.fetch_add(1, SeqCst);
    }));
    let per_cycle: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (b, pc) = (b.clone(), per_cycle.clone());
            std::thread::spawn(move || {
                for c in pc.iter() {
                    c.fetch_add(1 << (4 * b.wait().unwrap()), SeqCst);
                }
            })
        })
        .collect();
    rt().block_on(async {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (b, pc) = (b.clone(), per_cycle.clone());
                tokio::spawn(async move {
                    for c in pc.iter() {
                        c.fetch_add(1 << (4 * b.wait_async().await.unwrap()), SeqCst);
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
    for c in per_cycle.iter() {
        assert_eq!(c.load(SeqCst), 0x1111, "indices 0..4 once each");
    }
    assert_eq!(runs.load(SeqCst), 3);
    assert_eq!(b.n_waiting(), 0);
}

/// Many tasks on one thread (`futures::executor::LocalPool`): a barrier of
/// 8 parties, 8 tasks, 10 cycles.
#[test]
fn futures_executor_local_pool() {
    use futures::task::LocalSpawnExt;
    let b = Arc::new(Barrier::new(8));
    let sum = Arc::new(AtomicUsize::new(0));
    let mut pool = futures::executor::LocalPool::new();
    for _ in 0..8 {
        let (b, sum) = (b.clone(), sum.clone());
        pool.spawner()
            .spawn_local(async move {
                for _ in 0..10 {
                    sum.fetch_add(b.wait_async().await.unwrap(), SeqCst);
                }
            })
            .unwrap();
    }
    pool.run();
    assert_eq!(sum.load(SeqCst), 10 * (0..8).sum::<usize>());
}

/// A pending party dropped before the cycle fills is withdrawn: the
/// barrier is not broken, counts one party fewer, and the next arrivals
/// make a full cycle.
#[test]
fn drop_while_filling_withdraws_the_party() {
    let b = Arc::new(Barrier::new(2));
    let mut f = b.wait_async();
    assert!(poll_once(&mut f).is_pending());
    assert_eq!(b.n_waiting(), 1);
    drop(f);
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.broken());
    full_cycle_of_threads(&b);
}

/// A party released by the last arrival and dropped before it is polled
/// again leaves the drain as a passing party: the next cycle starts.
#[test]
fn drop_after_release_leaves_the_drain() {
    let b = Arc::new(Barrier::new(2));
    let mut f = b.wait_async();
    assert!(poll_once(&mut f).is_pending());
    assert_eq!(b.wait(), Ok(1)); // the last arrival releases the cycle
    drop(f); // released, never polled again
    assert!(!b.broken());
    full_cycle_of_threads(&b);
}

/// A party dropped while the last arrival runs the action waits for the
/// action and leaves as a passing party: the action's cycle completes
/// normally for the arrival, and the barrier is whole afterwards.
#[test]
fn drop_during_the_action_waits_for_it() {
    let in_action = Arc::new(Event::new());
    let go_on = Arc::new(Event::new());
    let (ia, g) = (in_action.clone(), go_on.clone());
    let once = AtomicBool::new(true);
    let b = Arc::new(Barrier::new(2).with_action(move || {
        if once.swap(false, SeqCst) {
            ia.set();
            g.wait();
        }
    }));
    let mut f = b.wait_async();
    assert!(poll_once(&mut f).is_pending());
    let b2 = b.clone();
    let last = std::thread::spawn(move || b2.wait());
    in_action.wait();
    // The action runs now; the drop below must wait for it. Let it end
    // from another thread once the drop has started (or not: either way
    // the drop returns only after the phase change).
    let g = go_on.clone();
    let opener = std::thread::spawn(move || g.set());
    drop(f);
    opener.join().unwrap();
    assert_eq!(last.join().unwrap(), Ok(1));
    assert!(!b.broken());
    full_cycle_of_threads(&b);
}

/// `abort` and `reset` wake a waiting task with `BrokenBarrier`; a task
/// arriving at a broken barrier is told at once.
#[test]
fn abort_and_reset_wake_tasks() {
    let b = Arc::new(Barrier::new(3));
    rt().block_on(async {
        let b2 = b.clone();
        let t = tokio::spawn(async move { b2.wait_async().await });
        while b.n_waiting() == 0 {
            tokio::task::yield_now().await;
        }
        b.abort();
        assert_eq!(t.await.unwrap(), Err(Error::BrokenBarrier));
        assert_eq!(b.wait_async().await, Err(Error::BrokenBarrier));
        b.reset();
        let b2 = b.clone();
        let t = tokio::spawn(async move { b2.wait_async().await });
        while b.n_waiting() == 0 {
            tokio::task::yield_now().await;
        }
        b.reset();
        assert_eq!(t.await.unwrap(), Err(Error::BrokenBarrier));
    });
    assert!(!b.broken());
    full_cycle_of_threads(&b);
}

/// The action panics in a task (the last arrival): that poll resumes the
/// panic, the barrier breaks, and the waiting thread is told.
#[test]
fn action_panic_in_a_task_breaks_the_barrier() {
    let b = Arc::new(Barrier::new(2).with_action(|| panic!("action failed")));
    let b2 = b.clone();
    let waiter = std::thread::spawn(move || b2.wait());
    while b.n_waiting() == 0 {
        std::thread::yield_now();
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(b.wait_async())
    }));
    assert!(r.is_err(), "the action's panic is resumed in its poll");
    assert_eq!(waiter.join().unwrap(), Err(Error::BrokenBarrier));
    assert!(b.broken());
}

/// A runtime timeout withdraws the party and leaves the barrier whole
/// (asyncio's semantics), unlike a thread's `wait_timeout`.
#[test]
fn tokio_timeout_withdraws() {
    let b = Arc::new(Barrier::new(2));
    rt().block_on(async {
        let r = tokio::time::timeout(Duration::from_millis(5), b.wait_async()).await;
        assert!(r.is_err());
    });
    assert!(!b.broken());
    assert_eq!(b.n_waiting(), 0);
    full_cycle_of_threads(&b);
}

/// Cancellation stress: three tasks that drop their waits at random points
/// (before arriving, filling, released) and one patient thread keep
/// completing cycles; at the end every arrival has left or been
/// withdrawn: after an abort and a reset, a full cycle of threads passes.
#[test]
fn random_drops_leave_no_ghost() {
    const CYCLES: usize = 300;
    let cycles = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Event::new());
    let (c, e) = (cycles.clone(), enough.clone());
    let b = Arc::new(Barrier::new(4).with_action(move || {
        if c.fetch_add(1, SeqCst) + 1 == CYCLES {
            e.set();
        }
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (b, stop) = (b.clone(), stop.clone());
        std::thread::spawn(move || while !stop.load(SeqCst) && b.wait().is_ok() {})
    };
    rt().block_on(async {
        let tasks: Vec<_> = (0..3u64)
            .map(|seed| {
                let (b, stop) = (b.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut x = seed * 0x9E37_79B9 + 7;
                    while !stop.load(SeqCst) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let mut f = Box::pin(b.wait_async());
                        let mut done = false;
                        for _ in 0..x % 5 {
                            if let Some(r) = futures::FutureExt::now_or_never(f.as_mut()) {
                                done = true;
                                if r.is_err() {
                                    return;
                                }
                                break;
                            }
                            tokio::task::yield_now().await;
                        }
                        if !done && x & 1 << 20 != 0 {
                            // Patient this time.
                            if f.await.is_err() {
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        let e = enough.clone();
        tokio::task::spawn_blocking(move || e.wait()).await.unwrap();
        stop.store(true, SeqCst);
        b.abort();
        for t in tasks {
            t.await.unwrap();
        }
    });
    thread.join().unwrap();
    assert!(cycles.load(SeqCst) >= CYCLES);
    b.reset();
    full_cycle_of_threads(&b);
}
