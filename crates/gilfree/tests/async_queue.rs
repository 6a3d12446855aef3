//! `put_async` / `get_async` on the four thread queues: each one's
//! semantics as a future, threads and tasks waiting on one queue together,
//! timeouts by the runtime, and a stress test that drops pending futures at
//! random (before and after they were woken) on tokio's multi-threaded
//! runtime and on `futures::executor`, losing and duplicating no item.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::task::Poll;
use std::time::Duration;

use gilfree::queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue, SimpleQueue};

/// Polls `fut` once with a no-op waker: `Some` if it completed.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(fut).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

macro_rules! semantics {
    ($name:ident, $ty:ident, $order:expr) => {
        mod $name {
            use super::*;

            /// Items come out of `get_async` in the queue's own order.
            #[test]
            fn put_then_get_in_order() {
                let q = $ty::new(0);
                futures::executor::block_on(async {
                    for i in [2, 1, 3] {
                        q.put_async(i).await.unwrap();
                    }
                    let mut got = Vec::new();
                    for _ in 0..3 {
                        got.push(q.get_async().await.unwrap());
                    }
                    assert_eq!(got, $order);
                });
            }

            /// A pending `get_async` is woken by a thread's `put`.
            #[test]
            fn get_async_waits_for_a_thread_put() {
                let q = Arc::new($ty::new(0));
                let mut fut = q.get_async();
                assert!(poll_once(&mut fut).is_none());
                let q2 = q.clone();
                let t = std::thread::spawn(move || q2.put(5).unwrap());
                assert_eq!(futures::executor::block_on(fut), Ok(5));
                t.join().unwrap();
            }

            /// A `put_async` on a full queue waits until a thread's `get`
            /// makes room.
            #[test]
            fn put_async_waits_for_room() {
                let q = Arc::new($ty::new(1));
                q.put(1).unwrap();
                let mut fut = q.put_async(2);
                assert!(poll_once(&mut fut).is_none());
                assert_eq!(q.qsize(), 1);
                let q2 = q.clone();
                let t = std::thread::spawn(move || q2.get().unwrap());
                futures::executor::block_on(fut).unwrap();
                assert_eq!(t.join().unwrap(), 1);
                assert_eq!(q.get(), Ok(2));
            }

            /// `shutdown` ends pending futures: the get with `ShutDown`,
            /// the put with `ShutDown` and its item.
            #[test]
            fn shutdown_wakes_pending_futures() {
                let empty = $ty::<i32>::new(1);
                let mut get = empty.get_async();
                assert!(poll_once(&mut get).is_none());
                empty.shutdown(false);
                assert_eq!(futures::executor::block_on(get), Err(GetError::ShutDown));

                let full = $ty::new(1);
                full.put(1).unwrap();
                let mut put = full.put_async(2);
                assert!(poll_once(&mut put).is_none());
                full.shutdown(false);
                assert_eq!(futures::executor::block_on(put), Err(PutError::ShutDown(2)));
                // The item put before the shutdown is still there.
                assert_eq!(futures::executor::block_on(full.get_async()), Ok(1));
            }

            /// `task_done` / `join` count async puts like blocking ones, and
            /// a pending put that is dropped leaves no task behind.
            #[test]
            fn async_puts_are_tasks() {
                let q = $ty::new(1);
                futures::executor::block_on(q.put_async(1)).unwrap();
                assert_eq!(q.unfinished_tasks(), 1);
                let mut put = q.put_async(2);
                assert!(poll_once(&mut put).is_none());
                drop(put);
                assert_eq!(q.unfinished_tasks(), 1);
                assert_eq!(futures::executor::block_on(q.get_async()), Ok(1));
                q.task_done().unwrap();
                assert!(q.join_timeout(Duration::ZERO));
            }
        }
    };
}

semantics!(fifo_ring, Queue, [2, 1, 3]);
semantics!(lifo, LifoQueue, [3, 1, 2]);
semantics!(priority, PriorityQueue, [1, 2, 3]);

/// The unbounded FIFO (the block list) through the same futures.
#[test]
fn fifo_unbounded_get_async_waits_for_a_put() {
    let q = Arc::new(Queue::new(0));
    let mut fut = q.get_async();
    assert!(poll_once(&mut fut).is_none());
    let q2 = q.clone();
    let t = std::thread::spawn(move || q2.put_many([1, 2]).unwrap());
    assert_eq!(futures::executor::block_on(fut), Ok(1));
    t.join().unwrap();
    assert_eq!(futures::executor::block_on(q.get_async()), Ok(2));
}

#[test]
fn simple_queue_put_async_is_immediate_and_get_async_waits() {
    let q = Arc::new(SimpleQueue::new());
    let mut fut = q.get_async();
    assert!(poll_once(&mut fut).is_none());
    let q2 = q.clone();
    let t = std::thread::spawn(move || futures::executor::block_on(q2.put_async('a')));
    assert_eq!(futures::executor::block_on(fut), 'a');
    t.join().unwrap();
}

/// Two threads blocked in `get` and two tasks pending in `get_async` on
/// one queue: four puts reach all four, whoever they are.
#[test]
fn threads_and_tasks_wait_on_one_queue() {
    let q = Arc::new(Queue::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (q, started) = (q.clone(), started.clone());
            std::thread::spawn(move || {
                started.fetch_add(1, SeqCst);
                q.get().unwrap()
            })
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            rt.spawn(async move { q.get_async().await.unwrap() })
        })
        .collect();
    while started.load(SeqCst) < 2 {
        std::thread::yield_now();
    }
    for i in 1..=4 {
        q.put(i).unwrap();
    }
    let mut sum: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    rt.block_on(async {
        for t in tasks {
            sum += t.await.unwrap();
        }
    });
    assert_eq!(sum, 10);
    assert!(q.empty());
}

/// A task's `put_async` on a full queue is woken by another task's
/// `get_async` and the other way round (a 1-slot ping-pong).
#[test]
fn tasks_hand_off_through_a_one_slot_queue() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let q = Arc::new(Queue::new(1));
    let q2 = q.clone();
    let n = 10_000u64;
    rt.block_on(async move {
        let producer = tokio::spawn(async move {
            for i in 0..n {
                q2.put_async(i).await.unwrap();
            }
        });
        let mut expect = 0;
        while expect < n {
            assert_eq!(q.get_async().await, Ok(expect));
            expect += 1;
        }
        producer.await.unwrap();
    });
}

/// A runtime's timeout ends a pending get with nothing taken; an item put
/// later is still there.
#[test]
fn timeout_takes_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let q = Queue::<u8>::new(0);
    rt.block_on(async {
        let r = tokio::time::timeout(Duration::from_millis(1), q.get_async()).await;
        assert!(r.is_err());
    });
    q.put(9).unwrap();
    assert_eq!(q.get(), Ok(9));
}

/// A pending `get_async` that was woken by a put and then dropped: the
/// other waiter still gets the item.
#[test]
fn a_woken_get_dropped_passes_the_item_on() {
    let q = Queue::new(0);
    let mut a = q.get_async();
    let mut b = q.get_async();
    assert!(poll_once(&mut a).is_none());
    assert!(poll_once(&mut b).is_none());
    q.put(1).unwrap(); // wakes both
    drop(a);
    assert_eq!(poll_once(&mut b), Some(Ok(1)));
}

/// Tiny xorshift: deterministic per task, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// Marks ids as seen; panics on a duplicate.
struct Seen(Vec<AtomicBool>, AtomicUsize);
impl Seen {
    fn new(n: usize) -> Self {
        Seen(
            (0..n).map(|_| AtomicBool::new(false)).collect(),
            AtomicUsize::new(0),
        )
    }
    fn mark(&self, id: usize) {
        assert!(!self.0[id].swap(true, Relaxed), "item {id} arrived twice");
        self.1.fetch_add(1, Relaxed);
    }
}

/// Gives the executor one turn (returns `Pending` once, waking itself):
/// in between, a put or get elsewhere may wake a registered future.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Put `id`, dropping pending futures at random (before or after a wake
/// may have come) and trying again with a new one.
async fn put_with_drops(q: &Queue<usize>, id: usize, rng: &mut Rng) {
    loop {
        let mut fut = q.put_async(id);
        if let Poll::Ready(r) = futures::poll!(&mut fut) {
            return r.unwrap();
        }
        if rng.one_in(2) {
            yield_once().await;
        }
        if rng.one_in(3) {
            drop(fut); // not put: try again
            continue;
        }
        return fut.await.unwrap();
    }
}

/// Get one item, dropping pending futures at random; `None` on shutdown.
async fn get_with_drops(q: &Queue<usize>, rng: &mut Rng) -> Option<usize> {
    loop {
        let mut fut = q.get_async();
        if let Poll::Ready(r) = futures::poll!(&mut fut) {
            return r.ok();
        }
        if rng.one_in(2) {
            yield_once().await;
        }
        if rng.one_in(3) {
            drop(fut); // took nothing: try again
            continue;
        }
        return fut.await.ok();
    }
}

type Task = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// `tasks` producer tasks and `tasks` consumer tasks (plus one blocking
/// thread on each side) move `n` ids through a 4-slot queue, dropping
/// futures at random; once the producers are done, `join` returns when
/// every id was taken and marked done, and every id was taken exactly
/// once.
fn stress_with_drops(spawn: impl Fn(Task), n: usize, tasks: usize) {
    let q = Arc::new(Queue::new(4));
    let seen = Arc::new(Seen::new(n));
    let per = n / (tasks + 1);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    for p in 0..tasks {
        let (q, done) = (q.clone(), done_tx.clone());
        spawn(Box::pin(async move {
            let mut rng = Rng(0x9E37_79B9 + p as u64);
            for id in p * per..(p + 1) * per {
                put_with_drops(&q, id, &mut rng).await;
            }
            done.send(()).unwrap();
        }));
    }
    for c in 0..tasks {
        let (q, seen, done) = (q.clone(), seen.clone(), done_tx.clone());
        spawn(Box::pin(async move {
            let mut rng = Rng(0x7F4A_7C15 + c as u64);
            while let Some(id) = get_with_drops(&q, &mut rng).await {
                seen.mark(id);
                q.task_done().unwrap();
            }
            done.send(()).unwrap();
        }));
    }
    let thread_producer = {
        let q = q.clone();
        std::thread::spawn(move || {
            for id in tasks * per..n {
                q.put(id).unwrap();
            }
        })
    };
    let thread_consumer = {
        let (q, seen) = (q.clone(), seen.clone());
        std::thread::spawn(move || {
            while let Ok(id) = q.get() {
                seen.mark(id);
                q.task_done().unwrap();
            }
        })
    };
    thread_producer.join().unwrap();
    for _ in 0..tasks {
        done_rx.recv().unwrap(); // the producer tasks
    }
    q.join();
    assert_eq!(
        seen.1.load(SeqCst),
        n,
        "join returned before every item was done"
    );
    q.shutdown(false);
    thread_consumer.join().unwrap();
    for _ in 0..tasks {
        done_rx.recv().unwrap(); // the consumer tasks
    }
    assert!(seen.0.iter().all(|b| b.load(Relaxed)), "an item was lost");
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn stress_with_random_drops_on_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    stress_with_drops(
        |f| {
            rt.spawn(f);
        },
        20_000,
        4,
    );
}

/// The same on `futures::executor`: each task driven by its own
/// `block_on` (a thread-parking waker).
#[test]
fn stress_with_random_drops_on_futures_executor() {
    let threads = std::sync::Mutex::new(Vec::new());
    stress_with_drops(
        |f| {
            threads
                .lock()
                .unwrap()
                .push(std::thread::spawn(move || futures::executor::block_on(f)));
        },
        20_000,
        3,
    );
    for t in threads.into_inner().unwrap() {
        t.join().unwrap();
    }
}
