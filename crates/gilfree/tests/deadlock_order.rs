//! Lock-order (potential deadlock) detection. Run with
//! `--features deadlock-detection`.
//!
//! The graph and the mode are process-global. Every test takes `serial()`,
//! which runs the tests of this file one at a time under `cargo test` (one
//! process, many threads) and starts each from an empty graph; under
//! nextest each test has its own process anyway. Locks are new in every
//! test, so their ids (never reused) cannot meet another test's edges.
#![cfg(feature = "deadlock-detection")]

use std::panic::Location;
use std::process::Command;
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread;

use gilfree::deadlock::{self, Mode};
use gilfree::threading::{Condition, Lock, RLock};
use std::time::Duration;

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    deadlock::reset();
    deadlock::set_mode(Mode::Warn);
    g
}

/// Thread `alice` takes A then B; afterwards (never at the same time)
/// thread `bob` takes B then A. Returns how bob's thread ended.
fn inversion(a: &Arc<Lock>, b: &Arc<Lock>) -> thread::Result<()> {
    let (a1, b1) = (a.clone(), b.clone());
    thread::Builder::new()
        .name("alice".into())
        .spawn(move || {
            let _a = a1.acquire();
            let _b = b1.acquire();
        })
        .unwrap()
        .join()
        .unwrap();
    let (a2, b2) = (a.clone(), b.clone());
    thread::Builder::new()
        .name("bob".into())
        .spawn(move || {
            let _b = b2.acquire();
            let _a = a2.acquire();
        })
        .unwrap()
        .join()
}

fn check_report(r: &deadlock::PotentialDeadlock) {
    assert_eq!(r.cycle.len(), 2, "{r}");
    let (closing, earlier) = (&r.cycle[0], &r.cycle[1]);
    assert_eq!(closing.thread, "bob");
    assert_eq!(earlier.thread, "alice");
    // The cycle: closing is B -> A, earlier is A -> B.
    assert_eq!(closing.to, earlier.from);
    assert_eq!(earlier.to, closing.from);
    assert_eq!(closing.to.kind, "Lock");
    for e in &r.cycle {
        assert!(e.acquired_at.file().ends_with("deadlock_order.rs"), "{e}");
        assert!(e.held_at.file().ends_with("deadlock_order.rs"), "{e}");
    }
    let text = r.to_string();
    for needle in [
        "potential deadlock",
        "'alice'",
        "'bob'",
        "deadlock_order.rs",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from {text}");
    }
}

#[test]
fn inversion_is_reported_in_warn_mode() {
    let _s = serial();
    let (a, b) = (Arc::new(Lock::new(())), Arc::new(Lock::new(())));
    let bob = inversion(&a, &b);
    assert!(bob.is_ok(), "warn mode must not panic");
    let reports = deadlock::reports();
    assert_eq!(reports.len(), 1);
    check_report(&reports[0]);
    // Reported once per cycle: the same inversion again adds nothing.
    let bob = inversion(&a, &b);
    assert!(bob.is_ok());
    assert_eq!(deadlock::reports().len(), 1);
}

#[test]
fn inversion_panics_in_the_acquiring_thread_in_panic_mode() {
    let _s = serial();
    deadlock::set_mode(Mode::Panic);
    let (a, b) = (Arc::new(Lock::new(())), Arc::new(Lock::new(())));
    let bob = inversion(&a, &b);
    deadlock::set_mode(Mode::Warn);
    let payload = bob.expect_err("panic mode must panic in bob");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(msg.contains("potential deadlock"), "{msg}");
    assert!(msg.contains("'bob'") && msg.contains("'alice'"), "{msg}");
    // Reported before blocking, and bob's guard on B released on unwind.
    assert!(!a.locked() && !b.locked());
    let reports = deadlock::reports();
    assert_eq!(reports.len(), 1);
    check_report(&reports[0]);
}

#[test]
fn closing_site_is_the_callers_line() {
    let _s = serial();
    let (a, b) = (Lock::new(()), Lock::new(()));
    let first_b;
    {
        let _a = a.acquire();
        let (_b, here) = (b.acquire(), Location::caller());
        first_b = here.line();
    }
    let closing_a;
    {
        let _b = b.acquire();
        let (_a, here) = (a.acquire(), Location::caller());
        closing_a = here.line();
    }
    let r = deadlock::reports().pop().expect("reported");
    assert_eq!(r.cycle[0].acquired_at.line(), closing_a);
    assert_eq!(r.cycle[1].acquired_at.line(), first_b);
    // Single-threaded: the program never hung, and still it is reported.
    assert_eq!(r.cycle[0].thread, r.cycle[1].thread);
}

#[test]
fn three_lock_cycle_names_every_edge() {
    let _s = serial();
    let locks = [Lock::new(()), Lock::new(()), Lock::new(())];
    for (x, y) in [(0, 1), (1, 2)] {
        let _x = locks[x].acquire();
        let _y = locks[y].acquire();
    }
    assert!(deadlock::reports().is_empty());
    {
        let _c = locks[2].acquire();
        let _a = locks[0].acquire();
    }
    let r = deadlock::reports().pop().expect("reported");
    assert_eq!(r.cycle.len(), 3, "{r}");
    for i in 0..3 {
        assert_eq!(r.cycle[i].to, r.cycle[(i + 1) % 3].from);
    }
    let dot = deadlock::to_dot();
    assert_eq!(
        dot.matches("color=red, fontcolor=red, penwidth=2.5")
            .count(),
        3,
        "{dot}"
    );
}

#[test]
fn consistent_order_across_many_threads_reports_nothing() {
    let _s = serial();
    const THREADS: usize = 8;
    const LOCKS: usize = 6;
    let locks: Arc<Vec<Lock<u64>>> = Arc::new((0..LOCKS).map(|_| Lock::new(0)).collect());
    let start = Arc::new(Barrier::new(THREADS));
    let ths: Vec<_> = (0..THREADS)
        .map(|t| {
            let (locks, start) = (locks.clone(), start.clone());
            thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn(move || {
                    start.wait();
                    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                    for _ in 0..500 {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        // A random subset, always taken in index order.
                        let guards: Vec<_> = (0..LOCKS)
                            .filter(|i| rng >> i & 1 == 1)
                            .map(|i| locks[i].acquire())
                            .collect();
                        for mut g in guards.into_iter().rev() {
                            *g += 1;
                        }
                    }
                })
                .unwrap()
        })
        .collect();
    for t in ths {
        t.join().unwrap();
    }
    assert!(deadlock::reports().is_empty(), "{:?}", deadlock::reports());
    // Edges were recorded (the detector was on), all pointing "up".
    let dot = deadlock::to_dot();
    assert!(dot.contains("->"), "{dot}");
    assert!(!dot.contains("color=red"), "{dot}");
}

#[test]
fn try_acquire_adds_no_edge_but_counts_as_held() {
    let _s = serial();
    let (a, b) = (Lock::new(()), Lock::new(()));
    {
        let _a = a.acquire();
        let _b = b.try_acquire().unwrap(); // no A -> B edge: a try cannot wait
    }
    {
        let _b = b.try_acquire().unwrap();
        let _a = a.acquire(); // B -> A recorded, closes nothing
    }
    assert!(deadlock::reports().is_empty());
    {
        let _a = a.acquire();
        let _b = b.acquire(); // A -> B closes the cycle with B -> A
    }
    assert_eq!(deadlock::reports().len(), 1);
}

#[test]
fn acquire_all_never_inverts_and_a_dropped_lock_is_forgotten() {
    let _s = serial();
    let (a, b) = (Lock::new(()), Lock::new(()));
    for _ in 0..3 {
        drop(deadlock::acquire_all(&[&a, &b]));
        drop(deadlock::acquire_all(&[&b, &a]));
    }
    assert!(deadlock::reports().is_empty());
    assert!(deadlock::to_dot().contains("->"));
    drop((a, b));
    assert!(!deadlock::to_dot().contains("->"), "{}", deadlock::to_dot());
}

#[test]
fn release_by_another_thread_leaves_no_stale_edge() {
    let _s = serial();
    let (a, b) = (Arc::new(Lock::new(())), Lock::new(()));
    assert!(a.acquire_unguarded(true, None));
    let a2 = a.clone();
    thread::spawn(move || a2.release().unwrap()).join().unwrap();
    // A is no longer held here: taking B adds no A -> B edge, so B then A
    // is not an inversion.
    drop(b.acquire());
    {
        let _b = b.acquire();
        let _a = a.acquire();
    }
    assert!(deadlock::reports().is_empty(), "{:?}", deadlock::reports());
}

#[test]
fn reentering_an_rlock_reports_nothing() {
    let _s = serial();
    let (r, l) = (RLock::new(()), Lock::new(()));
    {
        let _r1 = r.acquire();
        let _l = l.acquire(); // R -> L
        // Re-entering R while holding L is not an edge L -> R (it would
        // close a cycle with R -> L): it never waits.
        let _r2 = r.acquire();
        let _r3 = r.try_acquire().unwrap();
        let _r4 = r.acquire_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!(r.recursion_count(), 4);
    }
    assert!(deadlock::reports().is_empty(), "{:?}", deadlock::reports());
    assert!(!r.locked());
    // A real first acquisition of R while holding L still is one.
    {
        let _l = l.acquire();
        let _r = r.acquire();
    }
    let r = deadlock::reports().pop().expect("reported");
    let mut kinds: Vec<_> = r.cycle.iter().map(|e| e.from.kind).collect();
    kinds.sort();
    assert_eq!(kinds, ["Lock", "RLock"]);
}

#[test]
fn rlock_inversion_across_threads_is_reported() {
    let _s = serial();
    let (a, b) = (Arc::new(RLock::new(())), Arc::new(RLock::new(())));
    let (a1, b1) = (a.clone(), b.clone());
    thread::Builder::new()
        .name("alice".into())
        .spawn(move || {
            let _a = a1.acquire();
            let _a_again = a1.acquire();
            let _b = b1.acquire();
        })
        .unwrap()
        .join()
        .unwrap();
    let (a2, b2) = (a.clone(), b.clone());
    thread::Builder::new()
        .name("bob".into())
        .spawn(move || {
            let _b = b2.acquire();
            let _a = a2.acquire();
        })
        .unwrap()
        .join()
        .unwrap();
    let r = deadlock::reports().pop().expect("reported");
    assert_eq!(r.cycle.len(), 2, "{r}");
    assert_eq!(r.cycle[0].thread, "bob");
    assert_eq!(r.cycle[1].thread, "alice");
    assert!(r.cycle.iter().all(|e| e.to.kind == "RLock"));
}

#[test]
fn condition_wait_gives_back_and_takes_back_its_lock() {
    let _s = serial();
    // Over an RLock entered twice, and over a Lock.
    let c = Condition::new();
    let x = Lock::new(());
    {
        let _g1 = c.acquire();
        let _g2 = c.acquire();
        // Releases both levels and takes them back.
        assert!(!c.wait_timeout(Duration::ZERO).unwrap());
        let _x = x.acquire(); // the lock is held again: edge cond -> x
    }
    assert!(!c.lock().locked());
    assert!(deadlock::reports().is_empty());
    {
        let _x = x.acquire();
        let _g = c.acquire(); // x -> cond closes the cycle
    }
    assert_eq!(deadlock::reports().len(), 1, "{:?}", deadlock::reports());

    let c = Condition::from_lock(Lock::new(0));
    let y = Lock::new(());
    {
        let mut g = c.acquire();
        assert!(!c.wait_guard_timeout(&mut g, Duration::ZERO).unwrap());
        *g += 1;
        let _y = y.acquire(); // edge cond -> y
    }
    {
        let _y = y.acquire();
        let _g = c.acquire(); // y -> cond
    }
    assert_eq!(deadlock::reports().len(), 2, "{:?}", deadlock::reports());
}

#[test]
fn acquire_all_takes_rlocks_and_reenters() {
    let _s = serial();
    let (r, l) = (RLock::new(()), Lock::new(()));
    let outer = r.acquire();
    {
        let all = deadlock::acquire_all(&[&l, &r]);
        assert_eq!(all.len(), 2);
        assert_eq!(r.recursion_count(), 2);
    }
    assert_eq!(r.recursion_count(), 1);
    drop(outer);
    assert!(!r.locked() && !l.locked());
}

/// Run in a child process by `env_var_selects_the_mode`.
#[test]
#[ignore = "run as a child process by env_var_selects_the_mode"]
fn child_inversion() {
    let (a, b) = (Lock::new(()), Lock::new(()));
    {
        let _a = a.acquire();
        let _b = b.acquire();
    }
    let _b = b.acquire();
    let _a = a.acquire();
    println!("child survived");
}

#[test]
fn env_var_selects_the_mode() {
    let _s = serial();
    let run = |value: Option<&str>| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--exact", "child_inversion", "--nocapture"]);
        match value {
            Some(v) => cmd.env("GILFREE_DEADLOCK", v),
            None => cmd.env_remove("GILFREE_DEADLOCK"),
        };
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for value in [None, Some("warn")] {
        let (ok, stdout, stderr) = run(value);
        assert!(ok, "{value:?}: {stdout}{stderr}");
        assert!(stdout.contains("child survived"), "{stdout}");
        assert!(stderr.contains("potential deadlock"), "{value:?}: {stderr}");
    }
    let (ok, stdout, stderr) = run(Some("panic"));
    assert!(!ok, "panic mode must fail the child: {stdout}{stderr}");
    assert!(!stdout.contains("child survived"), "{stdout}");
    assert!(
        format!("{stdout}{stderr}").contains("potential deadlock"),
        "{stdout}{stderr}"
    );
}
