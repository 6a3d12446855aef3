//! `Timer`: CPython's `test_threading.py` `TimerTests`, Python's documented
//! `Timer` semantics, and a stress test of `cancel` racing the expiry.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use gilfree::threading::{Error, Event, Timer, current_thread, enumerate};

/// An interval no test waits out: only `cancel` ends such a timer.
const HOUR: Duration = Duration::from_secs(3600);

fn counter() -> (Arc<AtomicUsize>, impl FnOnce() + Send + 'static) {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    (n, move || {
        n2.fetch_add(1, SeqCst);
    })
}

/// Issue 17435 (`test_init_immutable_default_args`): two timers do not
/// share their arguments. Here each function owns what it captured; both
/// run once, each with its own.
#[test]
fn test_init_immutable_default_args() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(Event::new());
    let spy = |tag: &'static str| {
        let (calls, done) = (calls.clone(), done.clone());
        let mut args = Vec::<&str>::new();
        move || {
            calls.lock().unwrap().push(args.clone());
            args.push(tag); // mutating this timer's arguments...
            done.set();
        }
    };
    let t1 = Timer::new(Duration::from_millis(1), spy("blah"));
    t1.start().unwrap();
    done.wait();
    done.clear();
    let t2 = Timer::new(Duration::from_millis(1), spy("foo"));
    t2.start().unwrap();
    done.wait();
    // ...does not leak into the other's.
    assert_eq!(*calls.lock().unwrap(), vec![Vec::<&str>::new(), vec![]]);
    t1.join().unwrap();
    t2.join().unwrap();
}

#[test]
fn timer_runs_function_once_after_start() {
    let (n, f) = counter();
    let t = Timer::new(Duration::from_millis(1), f);
    assert!(!t.is_alive());
    assert!(!t.finished().is_set());
    t.start().unwrap();
    t.join().unwrap();
    assert_eq!(n.load(SeqCst), 1);
    assert!(t.finished().is_set());
    assert!(!t.is_alive());
    // Cancelling after the run changes nothing.
    assert!(!t.cancel());
    assert_eq!(n.load(SeqCst), 1);
}

#[test]
fn timer_cancel_while_waiting_is_immediate() {
    let (n, f) = counter();
    let t = Timer::new(HOUR, f);
    t.start().unwrap();
    assert!(t.is_alive());
    assert!(t.cancel());
    assert!(t.finished().is_set());
    // Returns without the hour going by: the wait is on `finished`.
    t.join().unwrap();
    assert!(!t.is_alive());
    assert_eq!(n.load(SeqCst), 0);
    assert!(!t.cancel(), "a second cancel stops nothing");
}

#[test]
fn timer_cancel_before_start() {
    let (n, f) = counter();
    let t = Timer::new(Duration::ZERO, f);
    assert!(t.cancel());
    t.start().unwrap();
    t.join().unwrap();
    assert_eq!(n.load(SeqCst), 0);
}

#[test]
fn timer_start_twice_is_an_error() {
    let t = Timer::new(HOUR, || {});
    t.start().unwrap();
    assert_eq!(t.start(), Err(Error::AlreadyStarted));
    t.cancel();
    t.join().unwrap();
}

#[test]
fn timer_join_before_start_is_an_error() {
    let t = Timer::new(Duration::ZERO, || {});
    assert_eq!(t.join(), Err(Error::NotStarted));
    assert_eq!(t.join_timeout(Duration::ZERO), Err(Error::NotStarted));
}

#[test]
fn timer_join_timeout_reports_alive() {
    let t = Timer::new(HOUR, || {});
    t.start().unwrap();
    assert_eq!(t.join_timeout(Duration::from_millis(1)), Ok(false));
    assert!(t.is_alive());
    t.cancel();
    assert_eq!(t.join_timeout(Duration::from_secs(60)), Ok(true));
    assert!(!t.is_alive());
    // Joining an ended timer again is fine.
    t.join().unwrap();
}

/// Python: `RuntimeError: cannot join current thread`.
#[test]
fn timer_join_from_own_function_is_an_error() {
    let slot: Arc<OnceLock<Arc<Timer>>> = Arc::new(OnceLock::new());
    let result = Arc::new(Mutex::new(None));
    let t = {
        let (slot, result) = (slot.clone(), result.clone());
        Arc::new(Timer::new(Duration::ZERO, move || {
            let me = slot.get().expect("set before start");
            *result.lock().unwrap() = Some(me.join());
        }))
    };
    slot.set(t.clone()).ok().unwrap();
    t.start().unwrap();
    t.join().unwrap();
    assert_eq!(*result.lock().unwrap(), Some(Err(Error::JoinSelf)));
}

/// A panic in the function is reported (by the panic hook) and the timer
/// still finishes; `join` returns normally, as in Python.
#[test]
fn timer_panicking_function_still_finishes() {
    let t = Timer::new(Duration::ZERO, || panic!("boom (expected by this test)"));
    t.start().unwrap();
    t.join().unwrap();
    assert!(t.finished().is_set());
    assert!(!t.is_alive());
}

#[test]
fn timer_name_and_interval() {
    let a = Timer::new(Duration::from_secs(2), || {});
    let b = Timer::new(Duration::ZERO, || {});
    assert!(a.name().starts_with("Timer-"));
    assert_ne!(a.name(), b.name());
    assert_eq!(a.interval(), Duration::from_secs(2));
    assert!(format!("{a:?}").contains("initial"));
}

/// The thread carries the timer's name.
#[test]
fn timer_thread_is_named() {
    let seen = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    let t = Timer::new(Duration::ZERO, move || {
        *s2.lock().unwrap() = std::thread::current().name().map(String::from);
    });
    t.start().unwrap();
    t.join().unwrap();
    assert_eq!(seen.lock().unwrap().as_deref(), Some(t.name()));
}

/// Python's `Timer` is a `Thread`: while its function runs, the timer's
/// thread is `current_thread()`, is listed by `enumerate()`, and has the
/// ident `thread()` reports (regression: it used to be a bare std thread).
#[test]
fn timer_is_a_thread() {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = Timer::new(Duration::ZERO, move || {
        let me = current_thread();
        let listed = enumerate().contains(&me);
        tx.send((me.ident(), listed)).unwrap();
    });
    t.start().unwrap();
    let (ident, listed) = rx.recv().unwrap();
    t.join().unwrap();
    assert!(ident.is_some());
    assert_eq!(ident, t.thread().ident());
    assert!(listed);
    assert!(!enumerate().contains(&t.thread()));
}

// ---- stress ----

/// `cancel` races the expiry: the function runs at most once, and it runs
/// if and only if `cancel` lost (returned `false`).
fn stress_cancel_race(timers: usize) {
    let mut ran_count = 0;
    let mut cancelled_count = 0;
    for i in 0..timers {
        let (n, f) = counter();
        // Intervals around the cost of a thread start, so both outcomes
        // happen (the race itself is decided by an atomic, not by time).
        let t = Timer::new(Duration::from_micros((i % 4) as u64 * 20), f);
        t.start().unwrap();
        if i % 3 == 0 {
            std::thread::yield_now();
        }
        let won = t.cancel();
        t.join().unwrap();
        let ran = n.load(SeqCst);
        assert!(ran <= 1, "ran {ran} times");
        assert_eq!(ran == 1, !won, "ran={ran}, cancel won={won}");
        if won {
            cancelled_count += 1;
        } else {
            ran_count += 1;
        }
    }
    assert_eq!(ran_count + cancelled_count, timers);
}

#[test]
fn stress_timer_cancel_races_expiry() {
    stress_cancel_race(300);
}

#[test]
#[ignore = "long stress run"]
fn stress_timer_cancel_races_expiry_long() {
    stress_cancel_race(20_000);
}
