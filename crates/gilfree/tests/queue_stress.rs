//! Stress tests with invariants, for every queue kind: many producers and
//! consumers, and every item arrives exactly once (a seen-bitmap catches a
//! duplicate, a count catches a loss); task_done/join and shutdown racing
//! live traffic lose nothing. Sized for a few seconds on a busy machine;
//! the `_long` versions (`--ignored`) run a hundred times more items.

use std::cmp::Ordering as CmpOrdering;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::thread;

use gilfree::queue::{GetError, SimpleQueue};

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;

/// Marks ids as seen; panics on a duplicate.
struct Seen {
    bits: Vec<AtomicBool>,
    count: AtomicUsize,
}

impl Seen {
    fn new(n: usize) -> Self {
        Seen {
            bits: (0..n).map(|_| AtomicBool::new(false)).collect(),
            count: AtomicUsize::new(0),
        }
    }
    fn mark(&self, id: usize) {
        assert!(
            !self.bits[id].swap(true, Relaxed),
            "item {id} arrived twice"
        );
        self.count.fetch_add(1, Relaxed);
    }
    fn has(&self, id: usize) -> bool {
        self.bits[id].load(Relaxed)
    }
}

/// An item that counts itself as drained if dropped without being taken.
struct Tracked {
    id: usize,
    taken: bool,
    drained: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.taken {
            self.drained.fetch_add(1, Relaxed);
        }
    }
}
impl PartialEq for Tracked {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
    }
}
impl Eq for Tracked {}
impl PartialOrd for Tracked {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Tracked {
    fn cmp(&self, o: &Self) -> CmpOrdering {
        self.id.cmp(&o.id)
    }
}

macro_rules! stress_tests {
    ($kind:ident, $new:expr) => {
        mod $kind {
            use super::*;

            /// Producers (half with `put`, half with `put_many`) and
            /// consumers (alternating `get` and `get_many`) move `n` distinct
            /// ids; `join` returns only once every one was processed, and
            /// then every id has been seen exactly once.
            fn exactly_once(n: usize) {
                let q = Arc::new($new);
                let seen = Arc::new(Seen::new(n));
                let per = n / PRODUCERS;
                let producers: Vec<_> = (0..PRODUCERS)
                    .map(|p| {
                        let q = q.clone();
                        thread::spawn(move || {
                            let ids = p * per..(p + 1) * per;
                            if p % 2 == 0 {
                                for id in ids {
                                    q.put(id).unwrap();
                                }
                            } else {
                                let ids: Vec<_> = ids.collect();
                                for chunk in ids.chunks(16) {
                                    q.put_many(chunk.iter().copied()).unwrap();
                                }
                            }
                        })
                    })
                    .collect();
                let consumers: Vec<_> = (0..CONSUMERS)
                    .map(|c| {
                        let (q, seen) = (q.clone(), seen.clone());
                        thread::spawn(move || {
                            let mut round = c;
                            loop {
                                round += 1;
                                let batch = if round % 2 == 0 {
                                    q.get().map(|v| vec![v])
                                } else {
                                    q.get_many(8)
                                };
                                match batch {
                                    Ok(batch) => {
                                        for id in batch {
                                            seen.mark(id);
                                            q.task_done().unwrap();
                                        }
                                    }
                                    Err(GetError::ShutDown) => return,
                                    Err(e) => panic!("{e}"),
                                }
                            }
                        })
                    })
                    .collect();
                for p in producers {
                    p.join().unwrap();
                }
                q.join();
                // join returned: every item put was taken and marked done.
                assert_eq!(seen.count.load(Relaxed), per * PRODUCERS);
                assert_eq!(q.unfinished_tasks(), 0);
                assert_eq!(q.task_done(), Err(gilfree::queue::TaskDoneError));
                q.shutdown(false);
                for c in consumers {
                    c.join().unwrap();
                }
                assert!(q.empty());
            }

            #[test]
            fn many_producers_many_consumers_exactly_once() {
                exactly_once(40_000);
            }

            #[test]
            #[ignore = "long stress run"]
            fn many_producers_many_consumers_exactly_once_long() {
                exactly_once(4_000_000);
            }

            /// Producers put until `ShutDown`, consumers get until
            /// `ShutDown`; a shutdown lands mid-stream once the consumers
            /// have seen `n / 4` items. Every put that succeeded is received
            /// exactly once; every put that failed handed its item back and
            /// is never received.
            fn shutdown_loses_nothing(n: usize) {
                let q = Arc::new($new);
                let seen = Arc::new(Seen::new(n));
                let per = n / PRODUCERS;
                let producers: Vec<_> = (0..PRODUCERS)
                    .map(|p| {
                        let q = q.clone();
                        thread::spawn(move || {
                            let mut ok = Vec::new();
                            for id in p * per..(p + 1) * per {
                                match q.put(id) {
                                    Ok(()) => ok.push(id),
                                    Err(e) => {
                                        assert!(e.is_shutdown());
                                        assert_eq!(e.into_inner(), id);
                                        // Every later put fails too.
                                        assert!(q.put(id).is_err());
                                        break;
                                    }
                                }
                            }
                            ok
                        })
                    })
                    .collect();
                let consumers: Vec<_> = (0..CONSUMERS)
                    .map(|_| {
                        let (q, seen) = (q.clone(), seen.clone());
                        thread::spawn(move || {
                            while let Ok(id) = q.get() {
                                seen.mark(id);
                                q.task_done().unwrap();
                            }
                            // Once ShutDown, always ShutDown.
                            assert_eq!(q.try_get(), Err(GetError::ShutDown));
                        })
                    })
                    .collect();
                // Synchronise on progress (not on time): shut down once a
                // quarter of the items have been received.
                while seen.count.load(Relaxed) < n / 4 {
                    thread::yield_now();
                }
                q.shutdown(false);
                let mut ok = Vec::new();
                for p in producers {
                    ok.extend(p.join().unwrap());
                }
                for c in consumers {
                    c.join().unwrap();
                }
                assert_eq!(seen.count.load(Relaxed), ok.len(), "received != put");
                for id in ok {
                    assert!(seen.has(id), "item {id} was put but never received");
                }
                q.join();
            }

            #[test]
            fn shutdown_under_load_loses_nothing() {
                shutdown_loses_nothing(40_000);
            }

            #[test]
            #[ignore = "long stress run"]
            fn shutdown_under_load_loses_nothing_long() {
                shutdown_loses_nothing(4_000_000);
            }
        }
    };
}

stress_tests!(fifo_bounded, gilfree::queue::Queue::new(4));
stress_tests!(fifo_bounded_one, gilfree::queue::Queue::new(1));
stress_tests!(fifo_unbounded, gilfree::queue::Queue::new(0));
stress_tests!(lifo, gilfree::queue::LifoQueue::new(4));
stress_tests!(priority, gilfree::queue::PriorityQueue::new(4));

/// `shutdown(true)` racing live traffic: every item that was put is either
/// received once or dropped by the drain (never both, never neither), and a
/// thread blocked in `join` is released once the received ones are done.
fn immediate_shutdown<Q: ImmediateQueue>(q: Q, n: usize) {
    let q = Arc::new(q);
    let drained = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Seen::new(n));
    let per = n / PRODUCERS;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (q, drained) = (q.clone(), drained.clone());
            thread::spawn(move || {
                let mut ok = 0;
                for id in p * per..(p + 1) * per {
                    let item = Tracked {
                        id,
                        taken: false,
                        drained: drained.clone(),
                    };
                    match q.put(item) {
                        Ok(()) => ok += 1,
                        Err(mut back) => {
                            back.taken = true; // handed back: not drained
                            break;
                        }
                    }
                }
                ok
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (q, seen) = (q.clone(), seen.clone());
            thread::spawn(move || {
                while let Some(mut item) = q.get() {
                    item.taken = true;
                    seen.mark(item.id);
                    q.task_done();
                }
            })
        })
        .collect();
    while seen.count.load(Relaxed) < n / 4 {
        thread::yield_now();
    }
    let joiner = {
        let q = q.clone();
        thread::spawn(move || q.join())
    };
    q.shutdown_now();
    let ok: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
    for c in consumers {
        c.join().unwrap();
    }
    joiner.join().unwrap();
    assert_eq!(
        seen.count.load(Relaxed) + drained.load(Relaxed),
        ok,
        "received + drained != put"
    );
}

/// The three queue kinds, seen by `immediate_shutdown`.
trait ImmediateQueue: Send + Sync + 'static {
    fn put(&self, v: Tracked) -> Result<(), Tracked>;
    fn get(&self) -> Option<Tracked>;
    fn task_done(&self);
    fn join(&self);
    fn shutdown_now(&self);
}

macro_rules! immediate_queue {
    ($ty:ty) => {
        impl ImmediateQueue for $ty {
            fn put(&self, v: Tracked) -> Result<(), Tracked> {
                <$ty>::put(self, v).map_err(|e| e.into_inner())
            }
            fn get(&self) -> Option<Tracked> {
                <$ty>::get(self).ok()
            }
            fn task_done(&self) {
                <$ty>::task_done(self).unwrap()
            }
            fn join(&self) {
                <$ty>::join(self)
            }
            fn shutdown_now(&self) {
                <$ty>::shutdown(self, true)
            }
        }
    };
}
immediate_queue!(gilfree::queue::Queue<Tracked>);
immediate_queue!(gilfree::queue::LifoQueue<Tracked>);
immediate_queue!(gilfree::queue::PriorityQueue<Tracked>);

#[test]
fn fifo_bounded_immediate_shutdown_under_load() {
    immediate_shutdown(gilfree::queue::Queue::new(8), 40_000);
}

#[test]
fn fifo_unbounded_immediate_shutdown_under_load() {
    immediate_shutdown(gilfree::queue::Queue::new(0), 40_000);
}

#[test]
fn lifo_immediate_shutdown_under_load() {
    immediate_shutdown(gilfree::queue::LifoQueue::new(8), 40_000);
}

#[test]
fn priority_immediate_shutdown_under_load() {
    immediate_shutdown(gilfree::queue::PriorityQueue::new(8), 40_000);
}

#[test]
#[ignore = "long stress run"]
fn fifo_bounded_immediate_shutdown_under_load_long() {
    immediate_shutdown(gilfree::queue::Queue::new(8), 4_000_000);
}

/// SimpleQueue: producers and consumers, every item exactly once (a
/// sentinel per consumer ends it, as in CPython's tests).
fn simple_exactly_once(n: usize) {
    let q = Arc::new(SimpleQueue::new());
    let seen = Arc::new(Seen::new(n));
    let per = n / PRODUCERS;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                if p % 2 == 0 {
                    (p * per..(p + 1) * per).for_each(|id| q.put(Some(id)));
                } else {
                    q.put_many((p * per..(p + 1) * per).map(Some));
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let (q, seen) = (q.clone(), seen.clone());
            thread::spawn(move || {
                loop {
                    let batch = if c % 2 == 0 {
                        vec![q.get()]
                    } else {
                        q.get_many(8)
                    };
                    let mut sentinels = 0;
                    for item in batch {
                        match item {
                            Some(id) => seen.mark(id),
                            None => sentinels += 1,
                        }
                    }
                    if sentinels > 0 {
                        // Hand back the sentinels meant for the others.
                        q.put_many((1..sentinels).map(|_| None));
                        return;
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    // One sentinel per consumer, once everything else was received.
    while seen.count.load(Relaxed) < per * PRODUCERS {
        thread::yield_now();
    }
    for _ in 0..CONSUMERS {
        q.put(None);
    }
    for c in consumers {
        c.join().unwrap();
    }
    assert_eq!(seen.count.load(Relaxed), per * PRODUCERS);
}

#[test]
fn simple_many_producers_many_consumers_exactly_once() {
    simple_exactly_once(40_000);
}

#[test]
#[ignore = "long stress run"]
fn simple_many_producers_many_consumers_exactly_once_long() {
    simple_exactly_once(4_000_000);
}
