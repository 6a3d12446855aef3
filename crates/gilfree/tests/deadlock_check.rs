//! Wait-for (actual deadlock) detection: `check()` and the watchdog. Run
//! with `--features deadlock-detection`.
//!
//! Each test builds a real deadlock: thread `left` holds A and blocks on B,
//! thread `right` holds B and blocks on A. A is a data-less Lock taken with
//! `acquire_unguarded`, so the test thread can break the deadlock by
//! releasing A itself (Python's Lock may be released by any thread):
//! `right` then gets A and finishes, which frees B for `left`.
#![cfg(feature = "deadlock-detection")]

use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use gilfree::deadlock::{self, Mode, WaitCycle};
use gilfree::threading::Lock;

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    deadlock::reset();
    deadlock::set_mode(Mode::Warn); // the lock-order report is expected too
    g
}

struct Deadlock {
    a: Arc<Lock>,
    threads: Vec<JoinHandle<()>>,
}

fn make_deadlock() -> Deadlock {
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    let both_hold = Arc::new(Barrier::new(2));
    let left = {
        let (a, b, both_hold) = (a.clone(), b.clone(), both_hold.clone());
        thread::Builder::new()
            .name("left".into())
            .spawn(move || {
                assert!(a.acquire_unguarded(true, None));
                both_hold.wait();
                drop(b.acquire()); // blocks until `right` is done
                // A was released for us by the test thread.
            })
            .unwrap()
    };
    let right = {
        let (a, b) = (a.clone(), b.clone());
        thread::Builder::new()
            .name("right".into())
            .spawn(move || {
                let _b = b.acquire();
                both_hold.wait();
                drop(a.acquire()); // blocks until the test releases A
            })
            .unwrap()
    };
    Deadlock {
        a,
        threads: vec![left, right],
    }
}

impl Deadlock {
    fn resolve(self) {
        self.a.release().unwrap();
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

fn assert_is_the_cycle(cycles: &[WaitCycle]) {
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    let c = &cycles[0];
    assert_eq!(c.threads.len(), 2, "{c}");
    let mut names: Vec<_> = c.threads.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["left", "right"]);
    for (i, t) in c.threads.iter().enumerate() {
        let next = &c.threads[(i + 1) % 2];
        assert_eq!(t.held_by, next.name, "{c}");
        assert_eq!(t.waits_on.kind, "Lock");
        assert!(t.at.file().ends_with("deadlock_check.rs"), "{t}");
    }
    assert_ne!(c.threads[0].waits_on, c.threads[1].waits_on);
    let text = c.to_string();
    assert!(
        text.contains("'left'") && text.contains("'right'"),
        "{text}"
    );
}

/// Give up (fail) if the deadlock is not seen within a generous bound; the
/// bound is a failure guard, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn check_finds_a_real_wait_for_cycle() {
    let _s = serial();
    assert!(deadlock::check().is_empty());
    let d = make_deadlock();
    let started = Instant::now();
    let cycles = loop {
        let cycles = deadlock::check();
        if !cycles.is_empty() {
            break cycles;
        }
        assert!(started.elapsed() < PATIENCE, "no cycle found");
        // Polls until both threads are asleep in the futex: there is no
        // event to wait for "blocked".
        thread::yield_now();
    };
    assert_is_the_cycle(&cycles);
    // The same inversion was reported as a potential deadlock, before it
    // blocked.
    assert_eq!(deadlock::reports().len(), 1);
    d.resolve();
    assert!(deadlock::check().is_empty());
}

#[test]
fn watchdog_reports_the_cycle() {
    let _s = serial();
    let (tx, rx) = mpsc::channel();
    let dog = deadlock::spawn_watchdog(Duration::from_millis(5), move |cycles| {
        let _ = tx.send(cycles.to_vec());
    });
    let d = make_deadlock();
    let cycles = rx.recv_timeout(PATIENCE).expect("watchdog saw no cycle");
    assert_is_the_cycle(&cycles);
    dog.stop();
    d.resolve();
}

#[test]
fn blocked_but_not_deadlocked_is_not_a_cycle() {
    let _s = serial();
    let a = Arc::new(Lock::new(()));
    assert!(a.acquire_unguarded(true, None));
    let a2 = a.clone();
    let waiter = thread::Builder::new()
        .name("waiter".into())
        .spawn(move || drop(a2.acquire()))
        .unwrap();
    // Whether or not the waiter is asleep yet, a chain that ends at a
    // running thread is no deadlock.
    for _ in 0..100 {
        assert!(deadlock::check().is_empty());
        thread::yield_now();
    }
    a.release().unwrap();
    waiter.join().unwrap();
}
