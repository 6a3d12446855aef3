//! Python semantics of `SimpleQueue`: the `BaseSimpleQueueTest` scenarios of
//! CPython's `Lib/test/test_queue.py`, one test each, named after it.
//!
//! Not ported: `test_negative_timeout_raises_exception` (a `Duration` cannot
//! be negative), `test_reentrancy` (a `__del__` re-entering `put` from the
//! garbage collector has no Rust counterpart), `test_is_default`.
//! Python's feeders sleep at random to shuffle the interleaving; ours do not
//! sleep (the scheduler of a busy machine shuffles enough).

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use gilfree::queue::{GetError, SimpleQueue};

const SENTINEL: i64 = -1;

/// Python's `run_threads`: `n` feeders share `inputs` (each puts a sentinel
/// when they run out), `n` consumers stop at a sentinel.
fn run_threads(n: usize, inputs: Vec<i64>, consume: fn(&SimpleQueue<i64>) -> Vec<i64>) -> Vec<i64> {
    let q = Arc::new(SimpleQueue::new());
    let seq = Arc::new(Mutex::new(inputs.into_iter().rev().collect::<Vec<_>>()));
    let feeders: Vec<_> = (0..n)
        .map(|_| {
            let (q, seq) = (q.clone(), seq.clone());
            thread::spawn(move || {
                loop {
                    let v = seq.lock().unwrap().pop();
                    match v {
                        Some(v) => q.put(v),
                        None => {
                            q.put(SENTINEL);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..n)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || consume(&q))
        })
        .collect();
    for f in feeders {
        f.join().unwrap();
    }
    let mut results = Vec::new();
    for c in consumers {
        results.extend(c.join().unwrap());
    }
    assert!(q.empty());
    assert_eq!(q.qsize(), 0);
    results
}

fn consume(q: &SimpleQueue<i64>) -> Vec<i64> {
    let mut out = Vec::new();
    loop {
        let v = q.get();
        if v == SENTINEL {
            return out;
        }
        out.push(v);
    }
}

fn consume_nonblock(q: &SimpleQueue<i64>) -> Vec<i64> {
    let mut out = Vec::new();
    loop {
        let v = loop {
            match q.try_get() {
                Ok(v) => break v,
                Err(GetError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        if v == SENTINEL {
            return out;
        }
        out.push(v);
    }
}

fn consume_timeout(q: &SimpleQueue<i64>) -> Vec<i64> {
    let mut out = Vec::new();
    loop {
        let v = loop {
            if let Ok(v) = q.get_timeout(Duration::from_micros(10)) {
                break v;
            }
        };
        if v == SENTINEL {
            return out;
        }
        out.push(v);
    }
}

#[test]
fn test_basic() {
    let q = SimpleQueue::new();
    assert!(q.empty());
    assert_eq!(q.qsize(), 0);
    q.put(1);
    assert!(!q.empty());
    assert_eq!(q.qsize(), 1);
    q.put(2);
    q.put(3);
    q.put(4);
    assert_eq!(q.qsize(), 4);
    assert_eq!(q.get(), 1);
    assert_eq!(q.qsize(), 3);
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.qsize(), 2);
    assert_eq!(q.try_get(), Ok(3));
    assert!(!q.empty());
    assert_eq!(q.get_timeout(Duration::from_millis(100)), Ok(4));
    assert!(q.empty());
    assert_eq!(q.try_get(), Err(GetError::Empty));
    assert_eq!(
        q.get_timeout(Duration::from_millis(1)),
        Err(GetError::Empty)
    );
    assert!(q.empty());
}

#[test]
fn test_order() {
    let inputs: Vec<i64> = (0..100).collect();
    let results = run_threads(1, inputs.clone(), consume);
    assert_eq!(results, inputs);
}

#[test]
fn test_many_threads() {
    let inputs: Vec<i64> = (0..10_000).collect();
    let mut results = run_threads(20, inputs.clone(), consume);
    results.sort();
    assert_eq!(results, inputs);
}

#[test]
fn test_many_threads_nonblock() {
    let inputs: Vec<i64> = (0..10_000).collect();
    let mut results = run_threads(20, inputs.clone(), consume_nonblock);
    results.sort();
    assert_eq!(results, inputs);
}

#[test]
fn test_many_threads_timeout() {
    let inputs: Vec<i64> = (0..1_000).collect();
    let mut results = run_threads(20, inputs.clone(), consume_timeout);
    results.sort();
    assert_eq!(results, inputs);
}

/// The queue lets go of each item as soon as it leaves the queue.
#[test]
fn test_references() {
    let q = SimpleQueue::new();
    let item = Arc::new(());
    for _ in 0..20 {
        q.put(item.clone());
    }
    for left in (0..20).rev() {
        drop(q.get());
        assert_eq!(Arc::strong_count(&item), left + 1);
    }
}

#[test]
fn put_many_get_many() {
    let q = SimpleQueue::new();
    q.put_many(0..10);
    assert_eq!(q.get_many(4), vec![0, 1, 2, 3]);
    assert_eq!(q.get_many(100), (4..10).collect::<Vec<_>>());
    assert_eq!(q.get_many(0), Vec::<i32>::new());
    assert_eq!(q.get_many_timeout(1, Duration::ZERO), Err(GetError::Empty));
}
