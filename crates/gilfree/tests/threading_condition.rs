//! `Condition`: the scenarios of CPython's `lock_tests.py` `ConditionTests`,
//! one test each, plus Rust-API tests and producer/consumer stress tests.
//!
//! The bodies that both twins can run are shared with the process-shared
//! twin (`tests/twins/condition.rs`, run across processes by
//! `shared_memory_twins.rs`); here they run with threads over
//! `threading::Condition<Lock<u32>>`. The rest are thread-only (the
//! default `RLock`, the Python-shaped guard-less calls, conditions sharing
//! one lock, and exact waiter counts, which `multiprocessing::Condition`
//! does not keep).

#[path = "twins/condition.rs"]
mod condition;
#[path = "twins/world.rs"]
mod world;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier as StdBarrier, Mutex};
use std::thread;
use std::time::Duration;

use condition as case;
use gilfree::threading::{Condition, ConditionLock, Error, Lock, RLock};
use world::Threads;

/// Yield until `f()` holds; waits on state another thread changes, never a
/// timed sleep.
fn wait_until(f: impl Fn() -> bool) {
    while !f() {
        thread::yield_now();
    }
}

#[test]
fn condition_test_acquire() {
    // By default an RLock: the condition can be acquired several times.
    let cond = Condition::new();
    assert!(cond.acquire_unguarded(true, None));
    assert!(cond.acquire_unguarded(true, None));
    cond.release().unwrap();
    cond.release().unwrap();

    let lock = Arc::new(Lock::new(()));
    let cond = Condition::with_lock(lock.clone());
    assert!(cond.acquire_unguarded(true, None));
    assert!(lock.try_acquire().is_none());
    cond.release().unwrap();
    let g = lock.try_acquire().expect("released through the condition");
    assert!(!cond.acquire_unguarded(false, None));
    drop(g);
    {
        let _with = cond.acquire();
        assert!(lock.try_acquire().is_none());
    }
    assert!(!lock.locked());
}

#[test]
fn condition_test_unacquired_wait() {
    let cond = Condition::new();
    assert_eq!(cond.wait(), Err(Error::NotHeld("wait")));
    assert_eq!(
        cond.wait_timeout(Duration::from_millis(1)),
        Err(Error::NotHeld("wait"))
    );
    assert_eq!(cond.wait_for(|| false), Err(Error::NotHeld("wait")));
    assert_eq!(
        Error::NotHeld("wait").to_string(),
        "cannot wait on un-acquired lock"
    );
    // Nothing was left queued by the failed waits.
    assert_eq!(cond.n_waiting(), 0);
}

/// The shared case is over a `Lock<u32>`; here also over the default
/// `RLock`, and the error is `threading`'s own.
#[test]
fn condition_test_unacquired_notify() {
    case::condition_test_unacquired_notify(&Threads);
    let cond = Condition::new();
    assert_eq!(cond.notify(1), Err(Error::NotHeld("notify")));
    assert_eq!(cond.notify_all(), Err(Error::NotHeld("notify")));
    let cond = Condition::from_lock(Lock::new(()));
    assert_eq!(cond.notify(1), Err(Error::NotHeld("notify")));
}

#[test]
fn condition_test_unacquired_wait_other_thread_owner() {
    // An RLock owned by another thread is not "held" by us.
    let cond = Arc::new(Condition::new());
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let c2 = cond.clone();
    let t = thread::spawn(move || {
        let _g = c2.acquire();
        tx.send(()).unwrap();
        go_rx.recv().unwrap();
    });
    rx.recv().unwrap();
    assert_eq!(cond.wait(), Err(Error::NotHeld("wait")));
    assert_eq!(cond.notify(1), Err(Error::NotHeld("notify")));
    go_tx.send(()).unwrap();
    t.join().unwrap();
}

/// CPython's `_check_notify`: five waiters, `notify(3)` wakes exactly three,
/// `notify(5)` the remaining two and the three re-waiting, `notify_all` the
/// last two; every wait returns true and sees the phase it was woken in.
fn check_notify<L: ConditionLock + 'static>(
    cond: Arc<Condition<L>>,
    acquire: fn(&Condition<L>),
    release: fn(&Condition<L>),
    wait: fn(&Condition<L>) -> bool,
) {
    const N: usize = 5;
    let phase = Arc::new(AtomicUsize::new(0));
    let results1 = Arc::new(Mutex::new(Vec::new()));
    let results2 = Arc::new(Mutex::new(Vec::new()));
    let hs: Vec<_> = (0..N)
        .map(|_| {
            let (cond, phase, r1, r2) = (
                cond.clone(),
                phase.clone(),
                results1.clone(),
                results2.clone(),
            );
            thread::spawn(move || {
                acquire(&cond);
                let result = wait(&cond);
                // Read with the lock held: the phase the notifier set.
                let p = phase.load(Ordering::SeqCst);
                release(&cond);
                r1.lock().unwrap().push((result, p));
                acquire(&cond);
                let result = wait(&cond);
                let p = phase.load(Ordering::SeqCst);
                release(&cond);
                r2.lock().unwrap().push((result, p));
            })
        })
        .collect();
    let len = |r: &Arc<Mutex<Vec<(bool, usize)>>>| r.lock().unwrap().len();

    wait_until(|| cond.n_waiting() == N);
    assert!(results1.lock().unwrap().is_empty());

    // Notify 3: exactly three leave the queue.
    acquire(&cond);
    assert_eq!(cond.notify(3), Ok(3));
    assert_eq!(cond.n_waiting(), N - 3);
    phase.store(1, Ordering::SeqCst);
    release(&cond);
    wait_until(|| len(&results1) >= 3);
    // The three are back in their second wait, the two others still in
    // their first: nobody else woke.
    wait_until(|| cond.n_waiting() == N);
    assert_eq!(*results1.lock().unwrap(), vec![(true, 1); 3]);
    assert!(results2.lock().unwrap().is_empty());

    // Notify 5: the two first-wait threads and the three second-wait ones.
    acquire(&cond);
    assert_eq!(cond.notify(5), Ok(5));
    assert_eq!(cond.n_waiting(), 0);
    phase.store(2, Ordering::SeqCst);
    release(&cond);
    wait_until(|| len(&results1) + len(&results2) >= N + 3);
    wait_until(|| cond.n_waiting() == 2);
    assert_eq!(
        *results1.lock().unwrap(),
        [vec![(true, 1); 3], vec![(true, 2); 2]].concat()
    );
    assert_eq!(*results2.lock().unwrap(), vec![(true, 2); 3]);

    // Notify all: the last two, in their second wait.
    acquire(&cond);
    assert_eq!(cond.notify_all(), Ok(2));
    phase.store(3, Ordering::SeqCst);
    release(&cond);
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(
        *results2.lock().unwrap(),
        [vec![(true, 2); 3], vec![(true, 3); 2]].concat()
    );
    assert_eq!(cond.n_waiting(), 0);
}

fn acq<L: ConditionLock>(c: &Condition<L>)
where
    Condition<L>: PyShaped,
{
    c.py_acquire();
}

/// The Python-shaped calls of both kinds of data-less condition.
trait PyShaped {
    fn py_acquire(&self);
    fn py_release(&self);
    fn py_wait(&self) -> bool;
}
impl PyShaped for Condition<RLock> {
    fn py_acquire(&self) {
        assert!(self.acquire_unguarded(true, None));
    }
    fn py_release(&self) {
        self.release().unwrap();
    }
    fn py_wait(&self) -> bool {
        self.wait().is_ok()
    }
}
impl PyShaped for Condition<Lock> {
    fn py_acquire(&self) {
        assert!(self.acquire_unguarded(true, None));
    }
    fn py_release(&self) {
        self.release().unwrap();
    }
    fn py_wait(&self) -> bool {
        self.wait().is_ok()
    }
}

#[test]
fn condition_test_notify() {
    let cond = Arc::new(Condition::new());
    let rel = |c: &Condition<RLock>| c.py_release();
    let wait = |c: &Condition<RLock>| c.py_wait();
    check_notify(cond.clone(), acq, rel, wait);
    // A second time, to check internal state is still ok.
    check_notify(cond, acq, rel, wait);
}

#[test]
fn condition_test_notify_over_lock() {
    let cond = Arc::new(Condition::from_lock(Lock::new(())));
    let rel = |c: &Condition<Lock>| c.py_release();
    let wait = |c: &Condition<Lock>| c.py_wait();
    check_notify(cond.clone(), acq, rel, wait);
    check_notify(cond, acq, rel, wait);
}

#[test]
fn condition_test_notify_wait_timeout() {
    // The same exact counts when the waiters use timed waits that do not
    // expire (a long timeout): `wait_timeout` returns true when notified.
    let cond = Arc::new(Condition::new());
    let rel = |c: &Condition<RLock>| c.py_release();
    let wait = |c: &Condition<RLock>| c.wait_timeout(Duration::from_secs(3600)).unwrap();
    check_notify(cond, acq, rel, wait);
}

#[test]
fn condition_test_timeout() {
    case::condition_test_timeout(&Threads);
}

#[test]
fn condition_test_waitfor() {
    case::condition_test_waitfor(&Threads);
}

#[test]
fn condition_test_waitfor_timeout() {
    case::condition_test_waitfor_timeout(&Threads);
}

// ---- Rust-side API and gilfree specifics ----

#[test]
fn condition_wait_releases_every_rlock_level_and_restores_them() {
    let cond = Arc::new(Condition::new());
    let c2 = cond.clone();
    let t = thread::spawn(move || {
        let _a = c2.acquire();
        let _b = c2.acquire();
        let _c = c2.acquire();
        assert_eq!(c2.lock().recursion_count(), 3);
        c2.wait().unwrap();
        c2.lock().recursion_count()
    });
    wait_until(|| cond.n_waiting() == 1);
    // The waiter held three levels; we can take the lock now.
    {
        let _g = cond.acquire();
        assert_eq!(cond.lock().recursion_count(), 1);
        cond.notify(1).unwrap();
    }
    assert_eq!(t.join().unwrap(), 3);
    assert!(!cond.lock().locked());
}

#[test]
fn condition_guard_api_over_lock_data() {
    case::condition_guard_api_over_lock_data(&Threads);
}

#[test]
fn condition_wait_guard_of_another_lock_is_not_held() {
    case::condition_wait_guard_of_another_lock_is_not_held(&Threads);
}

#[test]
fn condition_wait_guard_timeout_returns_false() {
    case::condition_wait_guard_timeout_returns_false(&Threads);
}

#[test]
fn condition_two_conditions_share_one_lock() {
    // Python's Condition(lock) twice over the same lock.
    let lock = Arc::new(Lock::new(0u32));
    let a = Arc::new(Condition::with_lock(lock.clone()));
    let b = Condition::with_lock(lock.clone());
    let a2 = a.clone();
    let t = thread::spawn(move || {
        let mut g = a2.acquire();
        a2.wait_for_guard(&mut g, |n| *n == 1).unwrap();
    });
    {
        // A guard taken through `b` is a guard of the same lock.
        let mut g = b.acquire();
        *g = 1;
        a.notify(1).unwrap();
        assert_eq!(b.n_waiting(), 0);
    }
    t.join().unwrap();
}

#[test]
fn condition_notify_more_than_waiting_is_harmless() {
    case::condition_notify_more_than_waiting_is_harmless(&Threads);
}

// ---- the twins' own cases (first written for the process twin) ----

#[test]
fn twin_condition_notify() {
    case::twin_condition_notify(&Threads);
}

#[test]
fn twin_condition_notify_all() {
    case::twin_condition_notify_all(&Threads);
}

#[test]
fn twin_condition_wait_timeout() {
    case::twin_condition_wait_timeout(&Threads);
}

// ---- stress ----

struct Buf {
    items: VecDeque<usize>,
    cap: usize,
    done: bool,
}

/// Producers and consumers over a bounded buffer: two conditions share one
/// `Lock<Buf>`, and only `notify(1)` is used while items flow, so a lost
/// wake-up would leave someone asleep forever. Every item is consumed
/// exactly once.
fn stress_bounded_buffer(producers: usize, consumers: usize, per_producer: usize, cap: usize) {
    let lock = Arc::new(Lock::new(Buf {
        items: VecDeque::new(),
        cap,
        done: false,
    }));
    let not_empty = Arc::new(Condition::with_lock(lock.clone()));
    let not_full = Arc::new(Condition::with_lock(lock.clone()));
    let total = producers * per_producer;
    let seen = Arc::new((0..total).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
    let start = Arc::new(StdBarrier::new(producers + consumers));

    let cons: Vec<_> = (0..consumers)
        .map(|_| {
            let (ne, nf, seen, start) = (
                not_empty.clone(),
                not_full.clone(),
                seen.clone(),
                start.clone(),
            );
            thread::spawn(move || {
                start.wait();
                let mut got = 0usize;
                loop {
                    let mut g = ne.acquire();
                    ne.wait_for_guard(&mut g, |b| !b.items.is_empty() || b.done)
                        .unwrap();
                    let Some(x) = g.items.pop_front() else {
                        break; // done and drained
                    };
                    nf.notify(1).unwrap();
                    drop(g);
                    seen[x].fetch_add(1, Ordering::Relaxed);
                    got += 1;
                }
                got
            })
        })
        .collect();
    let prods: Vec<_> = (0..producers)
        .map(|p| {
            let (ne, nf, start) = (not_empty.clone(), not_full.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..per_producer {
                    let mut g = nf.acquire();
                    nf.wait_for_guard(&mut g, |b| b.items.len() < b.cap)
                        .unwrap();
                    g.items.push_back(p * per_producer + i);
                    ne.notify(1).unwrap();
                }
            })
        })
        .collect();
    for p in prods {
        p.join().unwrap();
    }
    {
        let mut g = not_empty.acquire();
        g.done = true;
        not_empty.notify_all().unwrap();
    }
    let consumed: usize = cons.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(consumed, total, "produced = consumed");
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s.load(Ordering::Relaxed), 1, "item {i} consumed once");
    }
    assert_eq!(not_empty.n_waiting() + not_full.n_waiting(), 0);
}

#[test]
fn condition_stress_producer_consumer_notify_one() {
    stress_bounded_buffer(3, 3, 5_000, 2);
}

#[test]
#[ignore = "long stress run"]
fn condition_stress_producer_consumer_notify_one_long() {
    stress_bounded_buffer(6, 6, 200_000, 3);
}

/// The Python-shaped API over the default RLock (held at two levels while
/// waiting), with `notify(1)` per token and `notify_all` at the end: every
/// token is taken exactly once and nobody is left sleeping.
fn stress_python_shaped(consumers: usize, tokens: usize) {
    let cond = Arc::new(Condition::new());
    let available = Arc::new(AtomicUsize::new(0));
    let taken = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hs: Vec<_> = (0..consumers)
        .map(|_| {
            let (cond, available, taken, done) =
                (cond.clone(), available.clone(), taken.clone(), done.clone());
            thread::spawn(move || {
                let mut mine = 0;
                loop {
                    let _a = cond.acquire();
                    let _b = cond.acquire();
                    cond.wait_for(|| {
                        available.load(Ordering::Relaxed) > 0 || done.load(Ordering::Relaxed)
                    })
                    .unwrap();
                    assert_eq!(cond.lock().recursion_count(), 2);
                    if available.load(Ordering::Relaxed) == 0 {
                        break;
                    }
                    available.fetch_sub(1, Ordering::Relaxed);
                    taken.fetch_add(1, Ordering::Relaxed);
                    mine += 1;
                }
                mine
            })
        })
        .collect();
    for _ in 0..tokens {
        let _g = cond.acquire();
        available.fetch_add(1, Ordering::Relaxed);
        cond.notify(1).unwrap();
    }
    {
        let _g = cond.acquire();
        done.store(true, Ordering::Relaxed);
        cond.notify_all().unwrap();
    }
    let sum: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, tokens);
    assert_eq!(taken.load(Ordering::Relaxed), tokens);
    assert_eq!(available.load(Ordering::Relaxed), 0);
}

#[test]
fn condition_stress_python_shaped_rlock() {
    stress_python_shaped(4, 20_000);
}

#[test]
#[ignore = "long stress run"]
fn condition_stress_python_shaped_rlock_long() {
    stress_python_shaped(8, 1_000_000);
}

/// Timed waiters racing notifiers: a notification is never lost to a
/// waiter that timed out. Each `notify(1)` targets a waiter that is
/// queued; either it reports `true`, or it had already left and the count
/// of `true`s matches the notifications that found someone.
#[test]
fn condition_stress_timeouts_do_not_swallow_notifies() {
    const ROUNDS: usize = 300;
    let cond = Arc::new(Condition::from_lock(Lock::new((0usize, 0usize))));
    let c2 = cond.clone();
    let waiter = thread::spawn(move || {
        let mut notified = 0;
        for _ in 0..ROUNDS {
            let mut g = c2.acquire();
            g.0 += 1; // "I am about to wait"
            if c2
                .wait_guard_timeout(&mut g, Duration::from_micros(50))
                .unwrap()
            {
                notified += 1;
            }
        }
        notified
    });
    let mut delivered = 0;
    loop {
        let g = cond.acquire();
        if g.0 == ROUNDS && cond.n_waiting() == 0 {
            break;
        }
        delivered += cond.notify(1).unwrap();
        drop(g);
        thread::yield_now();
    }
    assert_eq!(waiter.join().unwrap(), delivered);
}
