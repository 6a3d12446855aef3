//! Queues: bounded(1024) with 1 producer / 1 consumer and 2 / 2, unbounded
//! with 1 / 1; each also with `task_done` after every item and a `join` by
//! the producers' side at the end (Python's `Queue.task_done`/`join`); and
//! bounded(1024) 1 / 1 between two async tasks (`put_async`/`get_async`)
//! against `tokio::sync::mpsc` and `async-channel`, on one tokio runtime.
//!
//! Peers: crossbeam-channel, flume, std mpsc (1 consumer only: std has no
//! multi-consumer channel), CPython `queue.Queue`. The channels have no
//! `task_done`, so the `_taskdone` shapes compare gilfree with CPython only.
//!
//! Every run sends the numbers `0..n` (split between the producers); the
//! consumers each take a fixed share and the sum of what they took is
//! checked, so nothing lost or duplicated goes unnoticed. One op is one item
//! through the queue.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::harness::{Bench, Sizes, case, run_threads};

/// The bound of the bounded shapes.
pub const BOUND: usize = 1024;

/// Run `producers` threads calling `send(x)` for their share of `0..n`, and
/// `consumers` threads each calling `recv_many(k)` for their share `k`,
/// which returns the sum of the `k` items it took. Returns the time from
/// the start until every item was consumed.
pub fn mpmc(
    producers: usize,
    consumers: usize,
    n: u64,
    send: impl Fn(u64) + Sync,
    recv_many: impl Fn(u64) -> u64 + Sync,
) -> Duration {
    mpmc_then(producers, consumers, n, send, recv_many, |_| {})
}

/// [`mpmc`], with `produced(i)` called by producer `i` once it has sent its
/// share (the `_taskdone` shapes `join` the queue there).
pub fn mpmc_then(
    producers: usize,
    consumers: usize,
    n: u64,
    send: impl Fn(u64) + Sync,
    recv_many: impl Fn(u64) -> u64 + Sync,
    produced: impl Fn(usize) + Sync,
) -> Duration {
    let per = n / producers as u64;
    let total = per * producers as u64;
    let sum = AtomicU64::new(0);
    let d = run_threads(producers + consumers, |i| {
        if i < producers {
            for x in i as u64 * per..(i as u64 + 1) * per {
                send(x);
            }
            produced(i);
        } else {
            let j = (i - producers) as u64;
            let c = consumers as u64;
            let share = total / c + u64::from(j < total % c);
            sum.fetch_add(recv_many(share), Relaxed);
        }
    });
    assert_eq!(
        sum.into_inner(),
        total * total.saturating_sub(1) / 2,
        "items lost or duplicated"
    );
    d
}

/// The cases every queue shape has: crossbeam, flume, and std when there is
/// one consumer.
fn channel_cases<'a>(bound: Option<usize>, p: usize, c: usize) -> Vec<crate::harness::Case<'a>> {
    let mut v = vec![
        case("gilfree", move |n| {
            let q = gilfree::queue::Queue::new(bound.unwrap_or(0));
            mpmc(
                p,
                c,
                n,
                |x| q.put(x).unwrap(),
                |k| (0..k).map(|_| q.get().unwrap()).sum(),
            )
        }),
        case("crossbeam", move |n| {
            let (tx, rx) = match bound {
                Some(b) => crossbeam_channel::bounded(b),
                None => crossbeam_channel::unbounded(),
            };
            mpmc(
                p,
                c,
                n,
                |x| tx.send(x).unwrap(),
                |k| (0..k).map(|_| rx.recv().unwrap()).sum(),
            )
        }),
        case("flume", move |n| {
            let (tx, rx) = match bound {
                Some(b) => flume::bounded(b),
                None => flume::unbounded(),
            };
            mpmc(
                p,
                c,
                n,
                |x| tx.send(x).unwrap(),
                |k| (0..k).map(|_| rx.recv().unwrap()).sum(),
            )
        }),
    ];
    if c == 1 {
        v.push(case("std", move |n| {
            // std's Receiver is not Sync: the one consumer takes it out.
            fn drain(rx: &Mutex<Option<std::sync::mpsc::Receiver<u64>>>, k: u64) -> u64 {
                let rx = rx.lock().unwrap().take().expect("one consumer");
                (0..k).map(|_| rx.recv().unwrap()).sum()
            }
            match bound {
                Some(b) => {
                    let (tx, rx) = std::sync::mpsc::sync_channel(b);
                    let rx = Mutex::new(Some(rx));
                    mpmc(p, c, n, |x| tx.send(x).unwrap(), |k| drain(&rx, k))
                }
                None => {
                    let (tx, rx) = std::sync::mpsc::channel();
                    let rx = Mutex::new(Some(rx));
                    mpmc(p, c, n, |x| tx.send(x).unwrap(), |k| drain(&rx, k))
                }
            }
        }));
    }
    v
}

/// Bounded(1024), 1 producer, 1 consumer. A target shape: gilfree's Queue
/// must be at least as fast as crossbeam-channel here.
pub fn queue_bounded_1p1c(b: &mut Bench) {
    let cases = channel_cases(Some(BOUND), 1, 1);
    b.compare("queue_bounded_1p1c", Sizes::HANDOFF, cases);
}

/// Bounded(1024), 2 producers, 2 consumers.
pub fn queue_bounded_2p2c(b: &mut Bench) {
    let cases = channel_cases(Some(BOUND), 2, 2);
    b.compare("queue_bounded_2p2c", Sizes::HANDOFF, cases);
}

/// Unbounded, 1 producer, 1 consumer.
pub fn queue_unbounded_1p1c(b: &mut Bench) {
    let cases = channel_cases(None, 1, 1);
    b.compare("queue_unbounded_1p1c", Sizes::HANDOFF, cases);
}

/// The three shapes again, with `task_done` after every item and `join`
/// by producer 0 once it has put its share (gilfree and CPython only).
pub fn queue_taskdone(b: &mut Bench) {
    for (shape, bound, p, c) in [
        ("queue_bounded_1p1c_taskdone", BOUND, 1, 1),
        ("queue_bounded_2p2c_taskdone", BOUND, 2, 2),
        ("queue_unbounded_1p1c_taskdone", 0, 1, 1),
    ] {
        let cases = vec![case("gilfree", move |n| {
            let q = gilfree::queue::Queue::new(bound);
            mpmc_then(
                p,
                c,
                n,
                |x| q.put(x).unwrap(),
                |k| {
                    (0..k)
                        .map(|_| {
                            let x = q.get().unwrap();
                            q.task_done().unwrap();
                            x
                        })
                        .sum()
                },
                |i| {
                    if i == 0 {
                        q.join();
                    }
                },
            )
        })];
        b.compare(shape, Sizes::HANDOFF, cases);
    }
}

/// Time `n` items from one producer task to one consumer task on `rt` (its
/// worker threads), from the spawns until the consumer has them all; the
/// sum of what the consumer took is checked.
fn async_1p1c<P, C>(rt: &tokio::runtime::Runtime, n: u64, produce: P, consume: C) -> Duration
where
    P: std::future::Future<Output = ()> + Send + 'static,
    C: std::future::Future<Output = u64> + Send + 'static,
{
    rt.block_on(async move {
        let t0 = std::time::Instant::now();
        let p = tokio::spawn(produce);
        let c = tokio::spawn(consume);
        p.await.unwrap();
        let sum = c.await.unwrap();
        let d = t0.elapsed();
        assert_eq!(sum, n * n.saturating_sub(1) / 2, "items lost or duplicated");
        d
    })
}

/// Bounded(1024), one producer task and one consumer task on a 2-worker
/// tokio runtime: `put_async`/`get_async` against `tokio::sync::mpsc` and
/// `async-channel` (issue 17's target: ≤ 1.0× both).
pub fn queue_async_bounded_1p1c(b: &mut Bench) {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("a tokio runtime")
    };
    let cases = vec![
        case("gilfree", {
            let rt = runtime();
            move |n| {
                let q = std::sync::Arc::new(gilfree::queue::Queue::new(BOUND));
                let q2 = q.clone();
                async_1p1c(
                    &rt,
                    n,
                    async move {
                        for x in 0..n {
                            q2.put_async(x).await.unwrap();
                        }
                    },
                    async move {
                        let mut sum = 0;
                        for _ in 0..n {
                            sum += q.get_async().await.unwrap();
                        }
                        sum
                    },
                )
            }
        }),
        case("tokio", {
            let rt = runtime();
            move |n| {
                let (tx, mut rx) = tokio::sync::mpsc::channel(BOUND);
                async_1p1c(
                    &rt,
                    n,
                    async move {
                        for x in 0..n {
                            tx.send(x).await.unwrap();
                        }
                    },
                    async move {
                        let mut sum = 0;
                        for _ in 0..n {
                            sum += rx.recv().await.unwrap();
                        }
                        sum
                    },
                )
            }
        }),
        case("async-channel", {
            let rt = runtime();
            move |n| {
                let (tx, rx) = async_channel::bounded(BOUND);
                async_1p1c(
                    &rt,
                    n,
                    async move {
                        for x in 0..n {
                            tx.send(x).await.unwrap();
                        }
                    },
                    async move {
                        let mut sum = 0;
                        for _ in 0..n {
                            sum += rx.recv().await.unwrap();
                        }
                        sum
                    },
                )
            }
        }),
    ];
    b.compare("queue_async_bounded_1p1c", Sizes::HANDOFF, cases);
}
