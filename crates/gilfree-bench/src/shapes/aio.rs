//! Async waits against `tokio::sync` on the same runtime: a `Semaphore`
//! acquire+release, uncontended (one task) and contended (four tasks, one
//! permit held across a yield, two worker threads); and a fan-out/fan-in of 10,000 waiters
//! released by one event, as tokio tasks and as threads.
//!
//! The runtime is built once per shape, outside the timed region; each
//! sample runs inside `block_on` and reads the clock there.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{Bench, Sizes, case};

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("a runtime")
}

/// One task acquires a permit and gives it back, `n` times (the async fast
/// path: no waiting). One op is one acquire+release.
pub fn aio_semaphore_uncontended(b: &mut Bench) {
    let rt = current_thread();
    let g = gilfree::threading::Semaphore::new(1);
    let t = tokio::sync::Semaphore::new(1);
    b.compare(
        "aio_semaphore_uncontended",
        Sizes::FAST,
        vec![
            case("gilfree", |n| {
                rt.block_on(async {
                    let t0 = Instant::now();
                    for _ in 0..n {
                        drop(black_box(&g).acquire_async().await);
                    }
                    t0.elapsed()
                })
            }),
            case("tokio::sync", |n| {
                rt.block_on(async {
                    let t0 = Instant::now();
                    for _ in 0..n {
                        drop(black_box(&t).acquire().await.expect("open"));
                    }
                    t0.elapsed()
                })
            }),
        ],
    );
}

/// Four tasks on a two-worker runtime share a semaphore of one permit,
/// each acquiring it `n / 4` times and holding it across a `yield_now`
/// (so the others really wait: they register, are woken and handed the
/// permit). One op is one acquire+yield+release.
pub fn aio_semaphore_contended_4t(b: &mut Bench) {
    const TASKS: u64 = 4;
    let rt = multi_thread(2);
    let g = Arc::new(gilfree::threading::Semaphore::new(1));
    let t = Arc::new(tokio::sync::Semaphore::new(1));
    b.compare(
        "aio_semaphore_contended_4t",
        Sizes::HANDOFF,
        vec![
            case("gilfree", |n| {
                rt.block_on(async {
                    let t0 = Instant::now();
                    let hs: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let g = g.clone();
                            tokio::spawn(async move {
                                for _ in 0..n / TASKS {
                                    let p = g.acquire_async().await;
                                    tokio::task::yield_now().await;
                                    drop(black_box(p));
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.await.expect("a task");
                    }
                    t0.elapsed()
                })
            }),
            case("tokio::sync", |n| {
                rt.block_on(async {
                    let t0 = Instant::now();
                    let hs: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let t = t.clone();
                            tokio::spawn(async move {
                                for _ in 0..n / TASKS {
                                    let p = t.acquire().await.expect("open");
                                    tokio::task::yield_now().await;
                                    drop(black_box(p));
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.await.expect("a task");
                    }
                    t0.elapsed()
                })
            }),
        ],
    );
}

/// Fan-out/fan-in: start `n` (10,000) waiters, release them all with one
/// event, collect each one's answer. As tokio tasks on a two-worker
/// runtime waiting on a gilfree `Event` (`wait_async`) or on a
/// `tokio::sync::watch`, and as `n` threads waiting on a gilfree `Event`.
/// One op is one waiter started, released and joined.
pub fn aio_fanout_10k(b: &mut Bench) {
    const N: u64 = 10_000;
    let sizes = Sizes { start: N, max: N };
    let rt = multi_thread(2);
    let tasks_gilfree = |n: u64| -> Duration {
        rt.block_on(async {
            let t0 = Instant::now();
            let ev = Arc::new(gilfree::threading::Event::new());
            let hs: Vec<_> = (0..n)
                .map(|i| {
                    let ev = ev.clone();
                    tokio::spawn(async move {
                        ev.wait_async().await;
                        i
                    })
                })
                .collect();
            ev.set();
            let mut sum = 0;
            for h in hs {
                sum += h.await.expect("a task");
            }
            assert_eq!(sum, n * (n - 1) / 2);
            t0.elapsed()
        })
    };
    let tasks_tokio = |n: u64| -> Duration {
        rt.block_on(async {
            let t0 = Instant::now();
            let (tx, rx) = tokio::sync::watch::channel(false);
            let hs: Vec<_> = (0..n)
                .map(|i| {
                    let mut rx = rx.clone();
                    tokio::spawn(async move {
                        rx.wait_for(|v| *v).await.expect("sender alive");
                        i
                    })
                })
                .collect();
            tx.send_replace(true);
            let mut sum = 0;
            for h in hs {
                sum += h.await.expect("a task");
            }
            assert_eq!(sum, n * (n - 1) / 2);
            t0.elapsed()
        })
    };
    let threads = |n: u64| -> Duration {
        let t0 = Instant::now();
        let ev = Arc::new(gilfree::threading::Event::new());
        let hs: Vec<_> = (0..n)
            .map(|i| {
                let ev = ev.clone();
                std::thread::spawn(move || {
                    ev.wait();
                    i
                })
            })
            .collect();
        ev.set();
        let sum: u64 = hs.into_iter().map(|h| h.join().expect("a thread")).sum();
        assert_eq!(sum, n * (n - 1) / 2);
        t0.elapsed()
    };
    b.compare(
        "aio_fanout_10k",
        sizes,
        vec![
            case("gilfree", tasks_gilfree).min_n(N),
            case("tokio::sync", tasks_tokio).min_n(N),
            case("threads", threads).min_n(N),
        ],
    );
}
