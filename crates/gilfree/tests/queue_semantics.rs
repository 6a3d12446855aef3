//! Python semantics of `Queue`, `LifoQueue` and `PriorityQueue`: the
//! scenarios of CPython 3.13's `Lib/test/test_queue.py` that apply, one test
//! each, named after it, run against all three kinds.
//!
//! Not ported: `test_negative_timeout_raises_exception` (a `Duration` cannot
//! be negative), `test_shrinking_queue` (`maxsize` is fixed at `new`), the
//! `FailingQueue` tests (they subclass `_put`/`_get`, which Rust types do
//! not expose).

use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use gilfree::queue::{GetError, PutError, TaskDoneError};

const QUEUE_SIZE: usize = 5;

macro_rules! semantics_tests {
    ($kind:ident, $ty:ident, $order:expr) => {
        mod $kind {
            use super::*;
            use gilfree::queue::$ty as Q;

            /// Python's `do_blocking_test`: `block` must wait until
            /// `trigger` runs on another thread, then succeed. No sleep: the
            /// trigger runs after the blocked thread has started; whether it
            /// had parked yet does not change what must be true.
            fn blocking_put_is_released_by_get(q: &Arc<Q<i32>>) {
                let q2 = q.clone();
                let t = thread::spawn(move || q2.put(999));
                q.get().unwrap();
                assert_eq!(t.join().unwrap(), Ok(()));
            }

            fn blocking_get_is_released_by_put(q: &Arc<Q<i32>>) {
                let q2 = q.clone();
                let t = thread::spawn(move || q2.get());
                q.put(7).unwrap();
                assert_eq!(t.join().unwrap(), Ok(7));
            }

            fn basic_queue_test(q: &Arc<Q<i32>>) {
                assert_eq!(q.qsize(), 0);
                assert!(q.empty());
                assert!(!q.full());
                q.put(111).unwrap();
                q.put(333).unwrap();
                q.put(222).unwrap();
                let got = [q.get().unwrap(), q.get().unwrap(), q.get().unwrap()];
                assert_eq!(got, $order, "didn't queue in the right order");
                for i in 0..QUEUE_SIZE as i32 - 1 {
                    q.put(i).unwrap();
                    assert!(q.qsize() > 0);
                }
                assert!(!q.full());
                q.put(2 * QUEUE_SIZE as i32).unwrap();
                assert!(q.full());
                assert!(!q.empty());
                assert_eq!(q.try_put(30), Err(PutError::Full(30)));
                assert_eq!(
                    q.put_timeout(30, Duration::from_millis(10)),
                    Err(PutError::Full(30))
                );
                blocking_put_is_released_by_get(q);
                // Empty it.
                for _ in 0..QUEUE_SIZE {
                    q.get().unwrap();
                }
                assert_eq!(q.qsize(), 0);
                assert_eq!(q.try_get(), Err(GetError::Empty));
                assert_eq!(
                    q.get_timeout(Duration::from_millis(10)),
                    Err(GetError::Empty)
                );
                blocking_get_is_released_by_put(q);
                assert_eq!(q.qsize(), 0);
            }

            #[test]
            fn test_basic() {
                let q = Arc::new(Q::new(QUEUE_SIZE));
                basic_queue_test(&q);
                basic_queue_test(&q);
            }

            #[test]
            fn test_nowait() {
                let q = Q::new(QUEUE_SIZE);
                for _ in 0..QUEUE_SIZE {
                    q.try_put(1).unwrap();
                }
                assert_eq!(q.try_put(1), Err(PutError::Full(1)));
                for _ in 0..QUEUE_SIZE {
                    q.try_get().unwrap();
                }
                assert_eq!(q.try_get(), Err(GetError::Empty));
            }

            #[test]
            fn test_queue_task_done() {
                let q = Q::<i32>::new(0);
                assert_eq!(q.task_done(), Err(TaskDoneError));
            }

            fn queue_join_test(q: &Arc<Q<i32>>) {
                let cum = Arc::new(gilfree::threading::Lock::new(0i64));
                let workers: Vec<_> = (0..2)
                    .map(|_| {
                        let (q, cum) = (q.clone(), cum.clone());
                        thread::spawn(move || {
                            loop {
                                let x = q.get().unwrap();
                                if x < 0 {
                                    q.task_done().unwrap();
                                    return;
                                }
                                *cum.acquire() += x as i64;
                                q.task_done().unwrap();
                            }
                        })
                    })
                    .collect();
                for i in 0..100 {
                    q.put(i).unwrap();
                }
                q.join();
                assert_eq!(*cum.acquire(), (0..100).sum::<i64>(), "join returned early");
                for _ in 0..2 {
                    q.put(-1).unwrap();
                }
                q.join(); // joining twice works
                for w in workers {
                    w.join().unwrap();
                }
            }

            #[test]
            fn test_queue_join() {
                let q = Arc::new(Q::new(0));
                queue_join_test(&q);
                queue_join_test(&q);
                assert_eq!(q.task_done(), Err(TaskDoneError));
            }

            #[test]
            fn test_shutdown_empty() {
                let q = Q::new(0);
                q.shutdown(false);
                assert_eq!(q.put(1), Err(PutError::ShutDown(1)));
                assert_eq!(q.get(), Err(GetError::ShutDown));
            }

            #[test]
            fn test_shutdown_nonempty() {
                let q = Q::new(0);
                q.put(1).unwrap();
                q.shutdown(false);
                assert_eq!(q.get(), Ok(1));
                assert_eq!(q.get(), Err(GetError::ShutDown));
            }

            #[test]
            fn test_shutdown_immediate() {
                let q = Q::new(0);
                q.put(1).unwrap();
                q.shutdown(true);
                assert_eq!(q.get(), Err(GetError::ShutDown));
            }

            #[test]
            fn test_shutdown_allowed_transitions() {
                let q = Q::<i32>::new(0);
                assert!(!q.is_shutdown());
                q.shutdown(false);
                assert!(q.is_shutdown());
                q.shutdown(true);
                assert!(q.is_shutdown());
                q.shutdown(false);
                assert!(q.is_shutdown());
            }

            fn shutdown_all_methods_in_one_thread(immediate: bool) {
                let q = Q::new(2);
                q.put(1).unwrap();
                q.try_put(2).unwrap();
                q.shutdown(immediate);
                assert_eq!(q.put(3), Err(PutError::ShutDown(3)));
                assert_eq!(q.try_put(4), Err(PutError::ShutDown(4)));
                if immediate {
                    assert_eq!(q.get(), Err(GetError::ShutDown));
                    assert_eq!(q.try_get(), Err(GetError::ShutDown));
                    assert_eq!(q.task_done(), Err(TaskDoneError));
                    q.join();
                } else {
                    assert!([1, 2].contains(&q.get().unwrap()));
                    q.task_done().unwrap();
                    assert!([1, 2].contains(&q.get().unwrap()));
                    q.task_done().unwrap();
                    q.join();
                    assert_eq!(q.get(), Err(GetError::ShutDown));
                    assert_eq!(q.try_get(), Err(GetError::ShutDown));
                    assert_eq!(
                        q.get_timeout(Duration::from_secs(1)),
                        Err(GetError::ShutDown)
                    );
                }
            }

            #[test]
            fn test_shutdown_all_methods_in_one_thread() {
                shutdown_all_methods_in_one_thread(false);
            }

            #[test]
            fn test_shutdown_immediate_all_methods_in_one_thread() {
                shutdown_all_methods_in_one_thread(true);
            }

            /// Writers put until `ShutDown`, readers get until `ShutDown`,
            /// one writer shuts the queue down half-way; joiners (immediate
            /// only) must be released.
            fn shutdown_all_methods_in_many_threads(immediate: bool) {
                let q = Arc::new(Q::new(0));
                let (writers, readers, joiners) = (4, 6, if immediate { 2 } else { 0 });
                let per_writer = 2000i32;
                let when = per_writer / 2;
                let start = Arc::new(Barrier::new(writers + readers + joiners));
                let shut_now = Arc::new(gilfree::threading::Lock::new(false));
                let (shut_tx, shut_rx) = mpsc::channel::<mpsc::Sender<()>>();
                let mut hs = Vec::new();
                let mut put_failed = Vec::new();
                for _ in 0..writers {
                    let (q, start, shut_now, shut_tx) =
                        (q.clone(), start.clone(), shut_now.clone(), shut_tx.clone());
                    put_failed.push(thread::spawn(move || {
                        for i in 0..when / 2 {
                            q.put(i).unwrap();
                        }
                        start.wait();
                        for i in when / 2..per_writer {
                            if q.put(i).is_err() {
                                return true;
                            }
                            if i == when {
                                let mut s = shut_now.acquire();
                                if !*s {
                                    *s = true;
                                    // Wait until the queue is shut down, so
                                    // that this writer's next put must fail.
                                    let (ack_tx, ack_rx) = mpsc::channel();
                                    shut_tx.send(ack_tx).unwrap();
                                    ack_rx.recv().unwrap();
                                }
                            }
                        }
                        false
                    }));
                }
                drop(shut_tx);
                let mut got_shutdown = Vec::new();
                for _ in 0..readers {
                    let (q, start) = (q.clone(), start.clone());
                    got_shutdown.push(thread::spawn(move || {
                        q.get().unwrap();
                        q.task_done().unwrap();
                        start.wait();
                        loop {
                            match q.try_get() {
                                Ok(_) => q.task_done().unwrap(),
                                Err(GetError::ShutDown) => return true,
                                Err(GetError::Empty) => thread::yield_now(),
                            }
                        }
                    }));
                }
                for _ in 0..joiners {
                    let (q, start) = (q.clone(), start.clone());
                    hs.push(thread::spawn(move || {
                        start.wait();
                        q.join();
                    }));
                }
                let ack = shut_rx.recv().unwrap();
                q.shutdown(immediate);
                let shutdown_saw_empty = q.qsize() == 0;
                ack.send(()).unwrap();
                // Other writers may finish before the shutdown; the one that
                // asked for it puts again afterwards and must see ShutDown.
                let failed: Vec<bool> = put_failed.into_iter().map(|h| h.join().unwrap()).collect();
                let shut: Vec<bool> = got_shutdown
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
                assert!(failed.contains(&true));
                assert_eq!(shut, vec![true; readers]);
                if immediate {
                    assert!(shutdown_saw_empty);
                    assert!(q.empty());
                }
            }

            #[test]
            fn test_shutdown_all_methods_in_many_threads() {
                shutdown_all_methods_in_many_threads(false);
            }

            #[test]
            fn test_shutdown_immediate_all_methods_in_many_threads() {
                shutdown_all_methods_in_many_threads(true);
            }

            fn shutdown_get(immediate: bool) {
                let q = Arc::new(Q::new(2));
                q.put(1).unwrap();
                q.put(2).unwrap();
                let n = if immediate { 2 } else { 3 };
                let go = Arc::new(Barrier::new(n + 1));
                let ths: Vec<_> = (0..n)
                    .map(|_| {
                        let (q, go) = (q.clone(), go.clone());
                        thread::spawn(move || {
                            go.wait();
                            q.get().is_ok()
                        })
                    })
                    .collect();
                q.shutdown(immediate);
                go.wait();
                let mut res: Vec<bool> = ths.into_iter().map(|t| t.join().unwrap()).collect();
                res.sort();
                if immediate {
                    assert_eq!(res, vec![false, false]);
                } else {
                    assert_eq!(res, vec![false, true, true]);
                }
            }

            #[test]
            fn test_shutdown_get() {
                shutdown_get(false);
            }

            #[test]
            fn test_shutdown_immediate_get() {
                shutdown_get(true);
            }

            fn shutdown_put(immediate: bool) {
                let q = Arc::new(Q::new(2));
                q.put(1).unwrap();
                q.put(2).unwrap();
                // Both putters find the queue full and block (or, if the
                // shutdown comes first, fail at once): ShutDown either way.
                let ths: Vec<_> = [3, 4]
                    .into_iter()
                    .map(|v| {
                        let q = q.clone();
                        thread::spawn(move || q.put(v))
                    })
                    .collect();
                q.shutdown(immediate);
                let res: Vec<_> = ths.into_iter().map(|t| t.join().unwrap()).collect();
                assert_eq!(
                    res,
                    vec![Err(PutError::ShutDown(3)), Err(PutError::ShutDown(4))]
                );
            }

            #[test]
            fn test_shutdown_put() {
                shutdown_put(false);
            }

            #[test]
            fn test_shutdown_immediate_put() {
                shutdown_put(true);
            }

            fn shutdown_join(immediate: bool) {
                let q = Arc::new(Q::new(0));
                q.put(1).unwrap();
                let mut ths: Vec<_> = (0..2)
                    .map(|_| {
                        let q = q.clone();
                        thread::spawn(move || q.join())
                    })
                    .collect();
                if !immediate {
                    let q = q.clone();
                    ths.push(thread::spawn(move || {
                        q.get().unwrap();
                        q.task_done().unwrap();
                    }));
                }
                q.shutdown(immediate);
                for t in ths {
                    t.join().unwrap();
                }
                assert_eq!(q.unfinished_tasks(), 0);
            }

            #[test]
            fn test_shutdown_join() {
                shutdown_join(false);
            }

            #[test]
            fn test_shutdown_immediate_join() {
                shutdown_join(true);
            }

            fn shutdown_put_join(immediate: bool) {
                let q = Arc::new(Q::new(2));
                q.put(1).unwrap();
                let go = Arc::new(Barrier::new(2));
                let putter = {
                    let (q, go) = (q.clone(), go.clone());
                    thread::spawn(move || {
                        go.wait();
                        q.put(2)
                    })
                };
                let joiner = {
                    let q = q.clone();
                    thread::spawn(move || q.join())
                };
                assert_eq!(q.unfinished_tasks(), 1);
                q.shutdown(immediate);
                go.wait();
                if immediate {
                    assert_eq!(q.try_get(), Err(GetError::ShutDown));
                } else {
                    assert_eq!(q.get(), Ok(1));
                    q.task_done().unwrap();
                }
                assert_eq!(putter.join().unwrap(), Err(PutError::ShutDown(2)));
                joiner.join().unwrap();
            }

            #[test]
            fn test_shutdown_put_join() {
                shutdown_put_join(false);
            }

            #[test]
            fn test_shutdown_immediate_put_join() {
                shutdown_put_join(true);
            }

            #[test]
            fn test_shutdown_get_task_done_join() {
                let q = Arc::new(Q::new(2));
                q.put(1).unwrap();
                q.put(2).unwrap();
                assert_eq!(q.unfinished_tasks(), q.qsize());
                let go = Arc::new(Barrier::new(3));
                let getters: Vec<_> = (0..2)
                    .map(|_| {
                        let (q, go) = (q.clone(), go.clone());
                        thread::spawn(move || {
                            go.wait();
                            let r = q.get();
                            q.task_done().unwrap();
                            r.is_ok()
                        })
                    })
                    .collect();
                let joiners: Vec<_> = (0..2)
                    .map(|_| {
                        let q = q.clone();
                        thread::spawn(move || q.join())
                    })
                    .collect();
                go.wait();
                q.shutdown(false);
                for g in getters {
                    assert!(g.join().unwrap());
                }
                for j in joiners {
                    j.join().unwrap();
                }
            }

            #[test]
            fn test_shutdown_pending_get() {
                let q = Arc::new(Q::<i32>::new(0));
                let q2 = q.clone();
                let t = thread::spawn(move || q2.get());
                q.shutdown(false);
                assert_eq!(t.join().unwrap(), Err(GetError::ShutDown));
            }

            // Rust additions beyond test_queue.py.

            #[test]
            fn put_many_get_many_batches() {
                let q = Arc::new(Q::new(4));
                let q2 = q.clone();
                let producer = thread::spawn(move || q2.put_many(0..100));
                let mut got = Vec::new();
                while got.len() < 100 {
                    let batch = q.get_many(8).unwrap();
                    assert!(!batch.is_empty() && batch.len() <= 8);
                    got.extend(batch);
                }
                producer.join().unwrap().unwrap();
                got.sort();
                assert_eq!(got, (0..100).collect::<Vec<_>>());
                assert_eq!(q.get_many(0), Ok(vec![]));
                assert_eq!(q.get_many_timeout(3, Duration::ZERO), Err(GetError::Empty));
                q.shutdown(false);
                assert_eq!(q.get_many(3), Err(GetError::ShutDown));
                assert_eq!(q.put_many([5, 6]), Err(PutError::ShutDown(vec![5, 6])));
            }

            #[test]
            fn put_many_blocked_on_full_returns_rest_on_shutdown() {
                let q = Arc::new(Q::new(2));
                let q2 = q.clone();
                let (tx, rx) = mpsc::channel();
                let producer = thread::spawn(move || {
                    q2.put_many((0..5).inspect(|&i| {
                        if i == 2 {
                            tx.send(()).unwrap();
                        }
                    }))
                });
                rx.recv().unwrap(); // the third item is being put: two are in
                q.shutdown(false);
                let rest = producer.join().unwrap().unwrap_err().into_inner();
                assert_eq!(rest, vec![2, 3, 4]);
                assert_eq!(q.unfinished_tasks(), 2);
                assert_eq!(q.qsize(), 2);
            }

            #[test]
            fn join_timeout_times_out_with_pending_tasks() {
                let q = Q::new(0);
                q.put(1).unwrap();
                assert!(!q.join_timeout(Duration::from_millis(5)));
                q.get().unwrap();
                q.task_done().unwrap();
                assert!(q.join_timeout(Duration::from_millis(5)));
            }

            #[test]
            fn failed_put_is_not_a_task() {
                let q = Q::new(1);
                q.put(1).unwrap();
                assert!(q.try_put(2).is_err());
                assert_eq!(q.unfinished_tasks(), 1);
                q.get().unwrap();
                q.task_done().unwrap();
                q.join();
            }

            #[test]
            fn immediate_shutdown_drops_drained_items() {
                let item = Arc::new(());
                let q = Q::new(0);
                q.put(item.clone()).unwrap();
                q.put(item.clone()).unwrap();
                q.shutdown(true);
                assert_eq!(Arc::strong_count(&item), 1);
                assert_eq!(q.unfinished_tasks(), 0);
            }

            #[test]
            fn queues_are_send_and_sync() {
                fn assert_send_sync<X: Send + Sync>() {}
                assert_send_sync::<Q<i32>>();
            }
        }
    };
}

semantics_tests!(fifo, Queue, [111, 333, 222]);
semantics_tests!(lifo, LifoQueue, [222, 333, 111]);
semantics_tests!(priority, PriorityQueue, [111, 222, 333]);

/// The large-bound FIFO path (a `VecDeque` under a lock, above the ring's
/// limit) keeps the exact bound too.
#[test]
fn fifo_large_bound_is_exact() {
    let n = 70_000;
    let q = gilfree::queue::Queue::new(n);
    q.put_many(0..n).unwrap();
    assert!(q.full());
    assert_eq!(q.try_put(n), Err(PutError::Full(n)));
    assert_eq!(q.get(), Ok(0));
    q.try_put(n).unwrap();
    assert_eq!(q.qsize(), n);
}

/// Items left in a ring when it is dropped are dropped once.
#[test]
fn ring_drops_leftover_items() {
    let item = Arc::new(());
    {
        let q = gilfree::queue::Queue::new(3);
        for _ in 0..3 {
            q.put(item.clone()).unwrap();
        }
        q.get().unwrap();
        q.put(item.clone()).unwrap(); // wraps around
        assert_eq!(Arc::strong_count(&item), 4);
    }
    assert_eq!(Arc::strong_count(&item), 1);
}

/// PriorityQueue is a min-heap over `Ord`, like `heapq`.
#[test]
fn priority_smallest_first() {
    let q = gilfree::queue::PriorityQueue::new(0);
    q.put_many([5, 1, 4, 2, 3]).unwrap();
    assert_eq!(q.get_many(10).unwrap(), vec![1, 2, 3, 4, 5]);
}
