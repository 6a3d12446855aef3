//! `Barrier`: the scenarios of CPython's `lock_tests.py` `BarrierTests`, one
//! test each, plus gilfree specifics and a many-cycle stress test.
//!
//! CPython's tests give every barrier a 2 s default timeout as a safety net;
//! here the barriers block without one (a bug shows as a hang in the test
//! runner, never as a timing-dependent failure), except where the timeout
//! is what is being tested.

use std::panic::catch_unwind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use gilfree::threading::{Barrier, Error};

const N: usize = 5;

/// Yield until `f()` holds; waits on state another thread changes, never a
/// timed sleep.
fn wait_until(f: impl Fn() -> bool) {
    while !f() {
        thread::yield_now();
    }
}

/// Run `f` on `n` threads and collect their results (CPython's `Bunch`).
fn run_threads<R: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> R + Send + Sync + 'static,
) -> Vec<R> {
    let f = Arc::new(f);
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            thread::spawn(move || f(i))
        })
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).collect()
}

fn multipass(passes: usize) {
    let barrier = Arc::new(Barrier::new(N));
    let results = Arc::new((Mutex::new(0usize), Mutex::new(0usize)));
    let (b, r) = (barrier.clone(), results.clone());
    run_threads(N, move |_| {
        let m = b.parties();
        assert_eq!(m, N);
        for i in 0..passes {
            *r.0.lock().unwrap() += 1;
            assert_eq!(*r.1.lock().unwrap(), i * m);
            b.wait().unwrap();
            *r.1.lock().unwrap() += 1;
            assert_eq!(*r.0.lock().unwrap(), (i + 1) * m);
            b.wait().unwrap();
        }
        assert_eq!(b.n_waiting(), 0);
        assert!(!b.broken());
    });
}

#[test]
fn barrier_test_constructor() {
    // Python: ValueError for parties < 1.
    assert!(catch_unwind(|| Barrier::new(0)).is_err());
    assert_eq!(Barrier::new(1).parties(), 1);
}

#[test]
fn barrier_test_barrier() {
    multipass(1);
}

#[test]
fn barrier_test_barrier_10() {
    multipass(10);
}

#[test]
fn barrier_test_wait_return() {
    let b = Arc::new(Barrier::new(N));
    let mut idx = run_threads(N, move |_| b.wait().unwrap());
    idx.sort();
    assert_eq!(idx, (0..N).collect::<Vec<_>>());
}

#[test]
fn barrier_test_action() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let b = Arc::new(Barrier::new(N).with_action(move || {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    let runs2 = runs.clone();
    run_threads(N, move |_| {
        b.wait().unwrap();
        // The action ran before anyone was released.
        assert_eq!(runs2.load(Ordering::SeqCst), 1);
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// CPython's `try: i = wait(); if i == N//2: raise …; wait()` with the
/// `except BrokenBarrierError` / `except RuntimeError: abort()` arms. The
/// abort may come before a thread of the first cycle has woken, so either
/// wait may report the break, as in CPython.
fn abort_at_half(b: &Barrier) -> &'static str {
    let r = b.wait().and_then(|i| {
        if i == N / 2 {
            Ok(None)
        } else {
            b.wait().map(Some)
        }
    });
    match r {
        Ok(None) => {
            b.abort();
            "aborted"
        }
        Ok(Some(_)) => "passed",
        Err(Error::BrokenBarrier) => "broken",
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn barrier_test_abort() {
    let b = Arc::new(Barrier::new(N));
    let b2 = b.clone();
    let out = run_threads(N, move |_| abort_at_half(&b2));
    assert_eq!(out.iter().filter(|s| **s == "passed").count(), 0);
    assert_eq!(out.iter().filter(|s| **s == "broken").count(), N - 1);
    assert!(b.broken());
}

#[test]
fn barrier_test_reset() {
    let b = Arc::new(Barrier::new(N));
    let b2 = b.clone();
    let out = run_threads(N, move |_| {
        let i = b2.wait().unwrap();
        let second = if i == N / 2 {
            // Wait until the other threads are all in the barrier.
            wait_until(|| b2.n_waiting() >= N - 1);
            b2.reset();
            "reset"
        } else {
            match b2.wait() {
                Ok(_) => "passed",
                Err(Error::BrokenBarrier) => "broken",
                Err(e) => panic!("{e}"),
            }
        };
        // Now, pass the barrier again.
        b2.wait().unwrap();
        second
    });
    assert_eq!(out.iter().filter(|s| **s == "passed").count(), 0);
    assert_eq!(out.iter().filter(|s| **s == "broken").count(), N - 1);
    assert!(!b.broken());
}

#[test]
fn barrier_test_abort_and_reset() {
    let b = Arc::new(Barrier::new(N));
    let b2 = Arc::new(Barrier::new(N));
    let (bb, bb2) = (b.clone(), b2.clone());
    let out = run_threads(N, move |_| {
        let second = abort_at_half(&bb);
        // Synchronise and reset: first so that everyone has left the broken
        // barrier, then so that no one enters it before the reset.
        if bb2.wait().unwrap() == N / 2 {
            bb.reset();
        }
        bb2.wait().unwrap();
        bb.wait().unwrap();
        second
    });
    assert_eq!(out.iter().filter(|s| **s == "passed").count(), 0);
    assert_eq!(out.iter().filter(|s| **s == "broken").count(), N - 1);
    assert!(!b.broken());
}

#[test]
fn barrier_test_timeout() {
    // One thread is late: it only arrives once the barrier is broken, so the
    // others' short timed waits must time out (or see the break).
    let b = Arc::new(Barrier::new(N));
    let b2 = b.clone();
    let out = run_threads(N, move |_| {
        let i = b2.wait().unwrap();
        if i == N / 2 {
            wait_until(|| b2.broken());
        }
        b2.wait_timeout(Duration::from_millis(20))
    });
    assert!(
        out.iter().all(|r| *r == Err(Error::BrokenBarrier)),
        "{out:?}"
    );
    assert!(b.broken());
}

#[test]
fn barrier_test_default_timeout() {
    let b = Arc::new(Barrier::new(2).with_timeout(Duration::from_millis(100)));
    let out = run_threads(1, move |_| b.wait());
    assert_eq!(out, [Err(Error::BrokenBarrier)]);
}

#[test]
fn barrier_test_single_thread() {
    let b = Barrier::new(1);
    assert_eq!(b.wait(), Ok(0));
    assert_eq!(b.wait(), Ok(0));
}

#[test]
fn barrier_test_repr() {
    let b = Arc::new(Barrier::new(3));
    let r = format!("{b:?}");
    assert!(
        r.starts_with("<gilfree.Barrier at ") && r.ends_with(": waiters=0/3>"),
        "{r}"
    );
    let hs: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            thread::spawn(move || b.wait().unwrap())
        })
        .collect();
    wait_until(|| b.n_waiting() >= 2);
    let r = format!("{b:?}");
    assert!(r.ends_with(": waiters=2/3>"), "{r}");
    b.wait().unwrap();
    for h in hs {
        h.join().unwrap();
    }
    b.abort();
    assert!(format!("{b:?}").ends_with(": broken>"));
}

// ---- gilfree specifics ----

#[test]
fn barrier_action_panic_breaks_barrier() {
    let b = Arc::new(Barrier::new(3).with_action(|| panic!("action failed")));
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            thread::spawn(move || b.wait())
        })
        .collect();
    let results: Vec<_> = hs.into_iter().map(|h| h.join()).collect();
    // Exactly one thread ran the action and resumed its panic; the other
    // two were told the barrier broke.
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Ok(Err(Error::BrokenBarrier))))
            .count(),
        2
    );
    assert!(b.broken());
    assert_eq!(b.n_waiting(), 0);
    // The lock was released on unwind: the barrier still answers.
    b.reset();
    assert!(!b.broken());
}

#[test]
fn barrier_action_may_read_state() {
    // Python reads `n_waiting` and `broken` without the lock, so an action
    // may look at them; here too (no self-deadlock on the state lock).
    let cell: Arc<std::sync::OnceLock<std::sync::Weak<Barrier>>> = Arc::default();
    let seen = Arc::new(Mutex::new(None));
    let (c2, s2) = (cell.clone(), seen.clone());
    let b = Arc::new(Barrier::new(3).with_action(move || {
        let b = c2.get().unwrap().upgrade().unwrap();
        *s2.lock().unwrap() = Some((b.n_waiting(), b.broken()));
    }));
    cell.set(Arc::downgrade(&b)).unwrap();
    let b2 = b.clone();
    run_threads(3, move |_| b2.wait().unwrap());
    // All three had arrived when the action ran.
    assert_eq!(*seen.lock().unwrap(), Some((3, false)));
}

#[test]
fn barrier_broken_until_reset() {
    let b = Barrier::new(2);
    b.abort();
    assert_eq!(b.wait(), Err(Error::BrokenBarrier));
    assert_eq!(b.wait_timeout(Duration::ZERO), Err(Error::BrokenBarrier));
    assert_eq!(b.n_waiting(), 0);
    b.reset();
    assert!(!b.broken());
    let b = Arc::new(b);
    let b2 = b.clone();
    let t = thread::spawn(move || b2.wait().unwrap());
    let mine = b.wait().unwrap();
    assert_eq!(mine + t.join().unwrap(), 1);
}

#[test]
fn barrier_reset_with_nobody_waiting_is_a_no_op() {
    let b = Barrier::new(2);
    b.reset();
    assert!(!b.broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(Error::BrokenBarrier.to_string(), "barrier is broken");
}

#[test]
fn barrier_abort_wakes_blocked_waiters() {
    let b = Arc::new(Barrier::new(4));
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            thread::spawn(move || b.wait())
        })
        .collect();
    wait_until(|| b.n_waiting() == 3);
    b.abort();
    for h in hs {
        assert_eq!(h.join().unwrap(), Err(Error::BrokenBarrier));
    }
}

// ---- stress ----

/// Many cycles: in every cycle each index `0..parties` is handed out exactly
/// once, the action runs exactly once per cycle and before anyone leaves.
fn stress_cycles(parties: usize, cycles: usize) {
    let actions = Arc::new(AtomicUsize::new(0));
    let a = actions.clone();
    let b = Arc::new(Barrier::new(parties).with_action(move || {
        a.fetch_add(1, Ordering::SeqCst);
    }));
    // seen[cycle * parties + index] counts how often that index was given.
    let seen = Arc::new(
        (0..cycles * parties)
            .map(|_| AtomicUsize::new(0))
            .collect::<Vec<_>>(),
    );
    let (b2, seen2, actions2) = (b.clone(), seen.clone(), actions.clone());
    run_threads(parties, move |_| {
        for c in 0..cycles {
            let i = b2.wait().unwrap();
            assert!(i < parties);
            // The action of this cycle has run; the next one cannot have,
            // since it needs this thread to arrive again.
            assert_eq!(actions2.load(Ordering::SeqCst), c + 1);
            seen2[c * parties + i].fetch_add(1, Ordering::Relaxed);
        }
    });
    assert_eq!(actions.load(Ordering::SeqCst), cycles);
    for (k, s) in seen.iter().enumerate() {
        assert_eq!(
            s.load(Ordering::Relaxed),
            1,
            "cycle {} index {}",
            k / parties,
            k % parties
        );
    }
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.broken());
}

#[test]
fn barrier_stress_many_cycles() {
    stress_cycles(4, 3_000);
}

#[test]
#[ignore = "long stress run"]
fn barrier_stress_many_cycles_long() {
    stress_cycles(8, 100_000);
}
