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

/// `task_done` racing a put on the ring, whose put count is its `tail`:
/// it succeeds only for an item already claimed, and the count never goes
/// below zero or loses the put (`unfinished = puts - finished`).
#[test]
fn core_loom_tests_task_done_races_put() {
    builder(3).check(|| {
        let q = ring(2);
        let q2 = q.clone();
        let p = thread::spawn(move || assert!(q2.put(1, Deadline::Never).is_ok()));
        let early = q.task_done();
        p.join().unwrap();
        let unfinished = q.unfinished_tasks();
        assert_eq!(unfinished, if early { 0 } else { 1 });
        assert_eq!(q.task_done(), !early);
        assert_eq!(q.unfinished_tasks(), 0);
        assert!(q.join(Deadline::Never));
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

// --- The block list (unbounded FIFO, `SimpleQueue`). Under loom a block has
// two slots, so three items cross a block boundary (link, head move,
// retirement, the block pool, `head.seen`).

use super::buffer::{Buffer, Pop, Push};
use super::list::List;

/// Push, retrying never (the list is unbounded): panics on `Closed`.
fn list_push(l: &List<usize>, v: usize) {
    assert!(l.try_push(v).is_ok(), "unbounded push refused");
}

/// Pop, yielding to the model until an item comes.
fn list_pop(l: &List<usize>) -> usize {
    loop {
        match l.try_pop() {
            Pop::Item(v) => return v,
            Pop::Empty => thread::yield_now(),
            Pop::Closed => panic!("closed"),
        }
    }
}

/// One producer pushes three items across a block boundary while one
/// consumer pops them: every item once, in order, and `len` ends at 0
/// (loom's cell tracking checks no slot is read while written, and the
/// retired block is reused without a race).
#[test]
fn list_loom_tests_spsc_crosses_blocks() {
    builder(2).check(|| {
        let l = Arc::new(List::new());
        let l2 = l.clone();
        let p = thread::spawn(move || {
            for i in 0..3 {
                list_push(&l2, i);
            }
        });
        let got: Vec<_> = (0..3).map(|_| list_pop(&l)).collect();
        p.join().unwrap();
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(l.len(), 0);
        // The first block was retired and is reused for the next lap.
        for i in 3..6 {
            list_push(&l, i);
        }
        assert_eq!(l.len(), 3);
    });
}

/// Two producers race for a block's last slot and the first slot of the
/// next: whichever claims the last slot links the next block while the
/// other waits at the gap; then both items are there, once each, behind
/// the first.
#[test]
fn list_loom_tests_two_producers() {
    builder(2).check(|| {
        let l = Arc::new(List::new());
        list_push(&l, 10);
        let ps: Vec<_> = (1..=2)
            .map(|i| {
                let l = l.clone();
                thread::spawn(move || list_push(&l, i))
            })
            .collect();
        for p in ps {
            p.join().unwrap();
        }
        assert_eq!(l.len(), 3);
        let mut got: Vec<_> = (0..3).map(|_| list_pop(&l)).collect();
        assert_eq!(got[0], 10);
        got.sort_unstable();
        assert_eq!(got, [1, 2, 10]);
    });
}

/// Two consumers share a block's two slots: whichever finishes last retires
/// the block (the `DESTROY` hand-off), and each item is taken once.
#[test]
fn list_loom_tests_two_consumers_retire_once() {
    builder(2).check(|| {
        let l = Arc::new(List::new());
        for i in 1..=3 {
            list_push(&l, i);
        }
        let cs: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || list_pop(&l))
            })
            .collect();
        let sum: usize = cs.into_iter().map(|c| c.join().unwrap()).sum();
        let last = list_pop(&l);
        assert_eq!(sum + last, 6);
        assert!(matches!(l.try_pop(), Pop::Empty));
    });
}

/// The block pool under churn: the producer crosses into a third block
/// while the consumer retires the first two into the pool, so the later
/// laps may pop a block the consumer is pushing at that moment. Every item
/// once, in order (loom's cell tracking reports a block handed out twice,
/// or reused before its reset, as a race on its values or states).
#[test]
fn list_loom_tests_pool_reuse_under_churn() {
    builder(2).check(|| {
        let l = Arc::new(List::new());
        let l2 = l.clone();
        let p = thread::spawn(move || {
            for i in 0..5 {
                list_push(&l2, i);
            }
        });
        let got: Vec<_> = (0..5).map(|_| list_pop(&l)).collect();
        p.join().unwrap();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert!(matches!(l.try_pop(), Pop::Empty));
    });
}

/// `head.seen` with two consumers and a producer still putting: a get
/// that trusts the other's record of `tail` never claims a position no put
/// has claimed (it would wait for a value that never comes, or take one
/// twice), and each item goes once.
#[test]
fn list_loom_tests_seen_shared_by_consumers() {
    builder(2).check(|| {
        let l = Arc::new(List::new());
        list_push(&l, 1);
        let l2 = l.clone();
        let p = thread::spawn(move || list_push(&l2, 2));
        let cs: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || list_pop(&l))
            })
            .collect();
        p.join().unwrap();
        let mut got: Vec<_> = cs.into_iter().map(|c| c.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert!(matches!(l.try_pop(), Pop::Empty));
    });
}

/// `close` racing a push: the push lands before the close (and is popped,
/// then `Closed`) or fails with `Closed`.
#[test]
fn list_loom_tests_close_races_push() {
    builder(3).check(|| {
        let l = Arc::new(List::new());
        list_push(&l, 1); // the racing push takes the block's last slot
        let l2 = l.clone();
        let p = thread::spawn(move || match l2.try_push(7) {
            Ok(()) => true,
            Err(Push::Closed(7)) => false,
            Err(_) => panic!("wrong refusal"),
        });
        l.close();
        let pushed = p.join().unwrap();
        assert!(matches!(l.try_pop(), Pop::Item(1)));
        match (pushed, l.try_pop()) {
            (true, Pop::Item(7)) => assert!(matches!(l.try_pop(), Pop::Closed)),
            (false, Pop::Closed) => {}
            _ => panic!("push and close disagree"),
        }
    });
}

fn list_core() -> Arc<Core<usize, List<usize>>> {
    Arc::new(Core::new(List::new(), true))
}

/// The core over the list: a blocking get is woken by puts that cross a
/// block boundary, and join waits for the task.
#[test]
fn list_loom_tests_core_blocking_get_and_join() {
    builder(2).check(|| {
        let q = list_core();
        let q2 = q.clone();
        let c = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(q2.get(Deadline::Never).ok().unwrap());
                assert!(q2.task_done());
            }
            got
        });
        for i in 0..3 {
            assert!(q.put(i, Deadline::Never).is_ok());
        }
        assert!(q.join(Deadline::Never));
        assert_eq!(c.join().unwrap(), [0, 1, 2]);
    });
}

/// The list with a bound of 1 (`set_maxsize` on an unbounded queue): the
/// producer's second put waits on `not_full` until the consumer's get,
/// whose wake is `notify_sc` (checked here in its fenced form: see
/// `sys::event_count`), ends the wait; the consumer waits on `not_empty`.
#[test]
fn list_loom_tests_core_bounded_put_waits_for_get() {
    builder(2).check(|| {
        let q = list_core();
        assert!(q.set_maxsize(1).is_ok());
        let q2 = q.clone();
        let c = thread::spawn(move || {
            let a = q2.get(Deadline::Never).ok().unwrap();
            let b = q2.get(Deadline::Never).ok().unwrap();
            [a, b]
        });
        for i in 0..2 {
            assert!(q.put(i, Deadline::Never).is_ok());
        }
        assert_eq!(c.join().unwrap(), [0, 1]);
    });
}

/// `shutdown(true)` racing a put on the list: the item is either refused
/// or drained (counted done), never left behind; a blocked get ends.
#[test]
fn list_loom_tests_immediate_shutdown_races_put() {
    builder(2).check(|| {
        let q = list_core();
        assert!(q.put(1, Deadline::Never).is_ok());
        let q2 = q.clone();
        let p = thread::spawn(move || q2.put(2, Deadline::Never).is_ok());
        q.shutdown(true);
        p.join().unwrap();
        assert_eq!(q.get(Deadline::Never).err(), Some(GetFail::ShutDown));
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.unfinished_tasks(), 0);
    });
}

// --- Async waits (`put_async` / `get_async`) against blocking callers: a
// lost wake-up shows as a deadlock (`block_on_model` parks the model thread
// until its waker runs).

use super::core::AsyncCore;
use crate::sys::wakers::{WaitSlot, block_on_model};

/// A task's get registers while a thread puts: the task always wakes and
/// gets the item.
#[test]
fn async_loom_tests_get_registers_vs_put() {
    builder(3).check(|| {
        let q = list_core();
        let q2 = q.clone();
        let t = thread::spawn(move || {
            let mut slot = WaitSlot::new();
            block_on_model(|w| q2.poll_get(&mut slot, w))
        });
        assert!(q.put(4, Deadline::Never).is_ok());
        assert_eq!(t.join().unwrap().ok(), Some(4));
    });
}

/// A task's put on a full ring registers while a thread gets: the task
/// always wakes and its item lands.
#[test]
fn async_loom_tests_put_registers_vs_get() {
    builder(3).check(|| {
        let q = ring(1);
        assert!(q.put(1, Deadline::Never).is_ok());
        let q2 = q.clone();
        let t = thread::spawn(move || {
            let mut slot = WaitSlot::new();
            let mut item = Some(2);
            block_on_model(|w| q2.poll_put(&mut item, &mut slot, w)).is_ok()
        });
        assert_eq!(q.get(Deadline::Never).ok(), Some(1));
        assert!(t.join().unwrap());
        assert_eq!(q.get(Deadline::Never).ok(), Some(2));
    });
}

/// Two task getters; one polls once and is dropped (perhaps after the put
/// woke it): the other still gets an item, and no item is lost.
#[test]
fn async_loom_tests_dropped_get_strands_nobody() {
    builder(2).check(|| {
        let q = list_core();
        let (qa, qb) = (q.clone(), q.clone());
        let a = thread::spawn(move || {
            let mut slot = WaitSlot::new();
            let waker = std::task::Waker::noop();
            qa.poll_get(&mut slot, waker).and_then(Result::ok)
            // `slot` dropped here, registered or notified or neither.
        });
        let b = thread::spawn(move || {
            let mut slot = WaitSlot::new();
            block_on_model(|w| qb.poll_get(&mut slot, w)).ok()
        });
        assert!(q.put(1, Deadline::Never).is_ok());
        let a_got = a.join().unwrap();
        if a_got.is_some() {
            assert!(q.put(2, Deadline::Never).is_ok());
        }
        let b_got = b.join().unwrap();
        assert!(b_got.is_some());
        assert_eq!(q.qsize(), 0);
    });
}

/// A thread blocked in `get` and a task in `get_async` on one queue (one
/// event count, both marks): two puts reach both.
#[test]
fn async_loom_tests_thread_and_task_getters() {
    builder(2).check(|| {
        let q = list_core();
        let (qt, qa) = (q.clone(), q.clone());
        let t = thread::spawn(move || qt.get(Deadline::Never).ok());
        let a = thread::spawn(move || {
            let mut slot = WaitSlot::new();
            block_on_model(|w| qa.poll_get(&mut slot, w)).ok()
        });
        assert!(q.put(1, Deadline::Never).is_ok());
        assert!(q.put(2, Deadline::Never).is_ok());
        let got = t.join().unwrap().unwrap() + a.join().unwrap().unwrap();
        assert_eq!(got, 3);
    });
}
