//! The lock-free block list behind an unbounded `Queue` and `SimpleQueue`:
//! exactly-once delivery with N producers and M consumers (a seen-bitmap),
//! FIFO order per producer across many block boundaries, `qsize` counted
//! across blocks, items left in the queue dropped exactly once, and a soft
//! bound set on a live unbounded queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::thread;

use gilfree::queue::{GetError, PutError, Queue, SimpleQueue};

/// Marks ids as seen; panics on a duplicate.
struct Seen(Vec<AtomicBool>);

impl Seen {
    fn new(n: usize) -> Self {
        Seen((0..n).map(|_| AtomicBool::new(false)).collect())
    }
    fn mark(&self, id: usize) {
        assert!(!self.0[id].swap(true, Relaxed), "item {id} arrived twice");
    }
    fn all(&self) -> bool {
        self.0.iter().all(|b| b.load(Relaxed))
    }
}

/// Marks a consumer's end.
const STOP: usize = usize::MAX;

/// `p` producers put `per` ids each (`producer * per + k`); `c` consumers
/// take until [`STOP`] (one per consumer, put once the producers are done).
/// Every id arrives exactly once, and the ids of one producer reach each
/// consumer in increasing order (FIFO per producer).
fn exactly_once_fifo<Q: Send + Sync + 'static>(
    q: Q,
    p: usize,
    c: usize,
    per: usize,
    put: fn(&Q, usize),
    get: fn(&Q) -> usize,
) {
    let n = p * per;
    let q = Arc::new(q);
    let seen = Arc::new(Seen::new(n));
    let producers: Vec<_> = (0..p)
        .map(|i| {
            let q = q.clone();
            thread::spawn(move || {
                for k in 0..per {
                    put(&q, i * per + k);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..c)
        .map(|_| {
            let (q, seen) = (q.clone(), seen.clone());
            thread::spawn(move || {
                let mut last = vec![None::<usize>; p];
                loop {
                    let id = get(&q);
                    if id == STOP {
                        return;
                    }
                    seen.mark(id);
                    let from = id / per;
                    assert!(
                        last[from] < Some(id),
                        "producer {from}'s items out of order"
                    );
                    last[from] = Some(id);
                }
            })
        })
        .collect();
    for t in producers {
        t.join().unwrap();
    }
    for _ in 0..c {
        put(&q, STOP);
    }
    for t in consumers {
        t.join().unwrap();
    }
    assert!(seen.all(), "an item was lost");
}

#[test]
fn queue_many_producers_many_consumers_exactly_once_in_order() {
    exactly_once_fifo(
        Queue::new(0),
        3,
        3,
        30_000,
        |q, id| q.put(id).unwrap(),
        |q| {
            let v = q.get().unwrap();
            q.task_done().unwrap();
            v
        },
    );
}

#[test]
fn simple_queue_many_producers_many_consumers_exactly_once_in_order() {
    exactly_once_fifo(
        SimpleQueue::new(),
        3,
        3,
        30_000,
        |q, id| q.put(id),
        |q| q.get(),
    );
}

/// Batches through the same list: `put_many` and `get_many` cross block
/// boundaries together.
#[test]
fn simple_queue_batches_exactly_once_in_order() {
    exactly_once_fifo(
        SimpleQueue::new(),
        2,
        2,
        20_000,
        |q, id| q.put_many([id]),
        |q| {
            // One at a time keeps the STOP protocol simple; a batch of one
            // still goes through `get_many`'s path.
            q.get_many(1)[0]
        },
    );
}

#[test]
#[ignore = "long stress run"]
fn queue_exactly_once_long() {
    exactly_once_fifo(
        Queue::new(0),
        4,
        4,
        1_000_000,
        |q, id| q.put(id).unwrap(),
        |q| q.get().unwrap(),
    );
}

/// `qsize` counts items, not positions, across many blocks and as they
/// drain; FIFO order holds from one thread.
#[test]
fn qsize_across_blocks() {
    let q = Queue::new(0);
    for i in 0..200 {
        assert_eq!(q.qsize(), i);
        q.put(i).unwrap();
    }
    for i in 0..200 {
        assert_eq!(q.qsize(), 200 - i);
        assert_eq!(q.get(), Ok(i));
    }
    assert!(q.empty());
    // Again, so the list reuses retired blocks.
    q.put_many(0..100).unwrap();
    assert_eq!(q.qsize(), 100);
    assert_eq!(q.get_many(1000).unwrap(), (0..100).collect::<Vec<_>>());
}

/// Counts drops.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Relaxed);
    }
}

/// Items still queued when the queue is dropped are dropped exactly once,
/// including when some blocks were already drained.
#[test]
fn leftover_items_dropped_once() {
    for (put, take) in [
        (0, 0),
        (1, 0),
        (100, 0),
        (100, 31),
        (100, 62),
        (100, 99),
        (100, 100),
    ] {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = SimpleQueue::new();
        for _ in 0..put {
            q.put(Counted(drops.clone()));
        }
        for _ in 0..take {
            drop(q.get());
        }
        assert_eq!(drops.load(Relaxed), take);
        drop(q);
        assert_eq!(drops.load(Relaxed), put, "put {put}, took {take}");
    }
}

/// `shutdown(true)` drops what is queued across blocks, counts each as done,
/// and later gets fail at once.
#[test]
fn immediate_shutdown_drains_every_block() {
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Queue::new(0);
    for _ in 0..100 {
        q.put(Counted(drops.clone())).unwrap();
    }
    q.shutdown(true);
    assert_eq!(drops.load(Relaxed), 100);
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(matches!(q.get(), Err(GetError::ShutDown)));
    assert!(matches!(
        q.put(Counted(drops.clone())),
        Err(PutError::ShutDown(_))
    ));
}

/// A bound set on a live unbounded queue (Python's `q.maxsize = n`) is
/// kept from one thread: full at the bound, room again below it, and 0
/// lifts it.
#[test]
fn bound_on_a_live_unbounded_queue() {
    let q = Queue::new(0);
    q.put_many(0..5).unwrap();
    q.set_maxsize(3).unwrap();
    assert!(q.full());
    assert_eq!(q.try_put(9), Err(PutError::Full(9)));
    q.get_many(3).unwrap();
    assert!(q.try_put(5).is_ok());
    q.set_maxsize(0).unwrap();
    q.put_many(6..100).unwrap();
    assert_eq!(q.get_many(1000).unwrap(), (3..100).collect::<Vec<_>>());
}
