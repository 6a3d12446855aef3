//! Loom models of the queue core over both kinds of buffer (the ring and a
//! locked container): blocking put/get hand-offs, `task_done`/`join`, and
//! shutdown racing blocked callers. A lost wake-up shows as a deadlock.

use super::core::{Core, GetFail, PutFail};
use super::locked::Locked;
use super::ring::Ring;
use crate::sys::Deadline;
use crate::sys::atomic::Ordering::*;
use loom::sync::Arc;
use loom::thread;

fn ring(cap: usize) -> Arc<Core<usize, Ring<usize>>> {
    Arc::new(Core::new(Ring::new(cap), true))
}

fn builder(bound: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(bound);
    b
}

/// Blocking put and get through a ring of capacity 1: the producer
/// waits on full, the consumer on empty; no wake-up is lost (loom would
/// report a deadlock) and the order is kept.
#[test]
fn core_loom_tests_ring_spsc_blocking() {
    builder(3).check(|| {
        let q = ring(1);
        let q2 = q.clone();
        let p = thread::spawn(move || {
            for i in 0..2 {
                assert!(q2.put(i, Deadline::Never).is_ok());
            }
        });
        let a = q.get(Deadline::Never).ok();
        let b = q.get(Deadline::Never).ok();
        p.join().unwrap();
        assert_eq!((a, b), (Some(0), Some(1)));
    });
}

/// Two blocking producers, one consumer, capacity 1.
#[test]
fn core_loom_tests_ring_two_producers() {
    builder(2).check(|| {
        let q = ring(1);
        let ps: Vec<_> = (1..=2)
            .map(|i| {
                let q = q.clone();
                thread::spawn(move || assert!(q.put(i, Deadline::Never).is_ok()))
            })
            .collect();
        let a = q.get(Deadline::Never).ok().unwrap();
        let b = q.get(Deadline::Never).ok().unwrap();
        for p in ps {
            p.join().unwrap();
        }
        assert_eq!(a + b, 3);
    });
}

/// One producer, two blocking consumers, capacity 1: both consumers
/// must be woken (the put of the second item must reach the second
/// sleeper).
#[test]
fn core_loom_tests_ring_two_consumers() {
    builder(2).check(|| {
        let q = ring(1);
        let cs: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.get(Deadline::Never).ok().unwrap())
            })
            .collect();
        q.put(1, Deadline::Never).ok().unwrap();
        q.put(2, Deadline::Never).ok().unwrap();
        let sum: usize = cs.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(sum, 3);
    });
}

/// put, get + task_done and join: join returns once the task is done,
/// never before (the consumer marks it before task_done).
#[test]
fn core_loom_tests_task_done_join() {
    builder(3).check(|| {
        let q = ring(1);
        let done = Arc::new(crate::sys::atomic::AtomicBool::new(false));
        assert!(q.put(5, Deadline::Never).is_ok());
        let (q2, done2) = (q.clone(), done.clone());
        let c = thread::spawn(move || {
            assert_eq!(q2.get(Deadline::Never).ok(), Some(5));
            done2.store(true, Relaxed);
            assert!(q2.task_done());
        });
        assert!(q.join(Deadline::Never));
        assert!(done.load(Relaxed));
        c.join().unwrap();
        assert!(!q.task_done());
    });
}

/// shutdown racing a blocked get on an empty queue: the get is woken
/// and fails with ShutDown.
#[test]
fn core_loom_tests_shutdown_wakes_blocked_get() {
    builder(3).check(|| {
        let q = ring(1);
        let q2 = q.clone();
        let c = thread::spawn(move || q2.get(Deadline::Never).err());
        q.shutdown(false);
        assert_eq!(c.join().unwrap(), Some(GetFail::ShutDown));
    });
}

/// shutdown racing a blocked put on a full queue: the put is woken and
/// hands its item back.
#[test]
fn core_loom_tests_shutdown_wakes_blocked_put() {
    builder(3).check(|| {
        let q = ring(1);
        assert!(q.put(1, Deadline::Never).is_ok());
        let q2 = q.clone();
        let p = thread::spawn(move || match q2.put(2, Deadline::Never) {
            Err(PutFail::ShutDown(v)) => v,
            _ => panic!("put after shutdown succeeded"),
        });
        q.shutdown(false);
        assert_eq!(p.join().unwrap(), 2);
        assert_eq!(q.get(Deadline::Never).ok(), Some(1));
        assert_eq!(q.get(Deadline::Never).err(), Some(GetFail::ShutDown));
    });
}

/// shutdown racing a put and a blocked get: the consumer receives the
/// item exactly when the put succeeded, then ShutDown.
#[test]
fn core_loom_tests_shutdown_races_put_and_get() {
    builder(2).check(|| {
        let q = ring(1);
        let (q1, q2) = (q.clone(), q.clone());
        let p = thread::spawn(move || q1.put(9, Deadline::Never).is_ok());
        let c = thread::spawn(move || {
            let mut got = 0;
            while q2.get(Deadline::Never).is_ok() {
                got += 1;
            }
            got
        });
        q.shutdown(false);
        let put_ok = p.join().unwrap();
        assert_eq!(c.join().unwrap(), usize::from(put_ok));
    });
}

/// shutdown(immediate) drains the queued item and releases a blocked
/// join.
#[test]
fn core_loom_tests_immediate_shutdown_releases_join() {
    builder(3).check(|| {
        let q = ring(1);
        assert!(q.put(1, Deadline::Never).is_ok());
        let q2 = q.clone();
        let j = thread::spawn(move || q2.join(Deadline::Never));
        q.shutdown(true);
        assert!(j.join().unwrap());
        assert_eq!(q.get(Deadline::Never).err(), Some(GetFail::ShutDown));
        assert_eq!(q.unfinished_tasks(), 0);
    });
}

/// The locked (LIFO) buffer through the same core, capacity 1.
#[test]
fn core_loom_tests_locked_spsc_blocking() {
    builder(2).check(|| {
        let q: Arc<Core<usize, Locked<Vec<usize>>>> =
            Arc::new(Core::new(Locked::new(Vec::new(), 1), true));
        let q2 = q.clone();
        let p = thread::spawn(move || {
            for i in 0..2 {
                assert!(q2.put(i, Deadline::Never).is_ok());
            }
        });
        let a = q.get(Deadline::Never).ok();
        let b = q.get(Deadline::Never).ok();
        p.join().unwrap();
        assert_eq!((a, b), (Some(0), Some(1)));
    });
}

/// A putter blocked on a full queue and a bound raised by another thread
/// (Python's `q.maxsize = n`): the putter is woken and gets in, for the
/// locked buffer and for a shrunk ring grown back.
#[test]
fn core_loom_tests_set_maxsize_wakes_putter() {
    builder(3).check(|| {
        let q: Arc<Core<usize, Locked<Vec<usize>>>> =
            Arc::new(Core::new(Locked::new(Vec::new(), 1), true));
        assert!(q.put(1, Deadline::Never).is_ok());
        let q2 = q.clone();
        let p = thread::spawn(move || q2.put(2, Deadline::Never).is_ok());
        assert!(q.set_maxsize(2).is_ok());
        assert!(p.join().unwrap());
        assert_eq!(q.qsize(), 2);
    });
    builder(2).check(|| {
        let q = ring(2);
        assert!(q.set_maxsize(1).is_ok());
        assert!(q.put(1, Deadline::Never).is_ok());
        let q2 = q.clone();
        let p = thread::spawn(move || q2.put(2, Deadline::Never).is_ok());
        assert!(q.set_maxsize(2).is_ok());
        assert!(p.join().unwrap());
        assert_eq!(q.get(Deadline::Never).ok(), Some(1));
    });
}
