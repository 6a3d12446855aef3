//! `Future<T>` on its own: the scenarios of CPython's `FutureTests`
//! (`Lib/test/test_concurrent_futures`), one test each.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::Duration;

use gilfree::futures::{Error, Future};

fn counter() -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let c = Arc::new(AtomicUsize::new(0));
    (c.clone(), c)
}

#[test]
fn test_done_callback_with_result() {
    let f = Future::new();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |f: &Future<u32>| tx.send(f.result()).unwrap());
    assert!(
        rx.try_recv().is_err(),
        "callback ran before the future was done"
    );
    f.set_result(5).unwrap();
    assert_eq!(rx.recv().unwrap(), Ok(5));
}

#[test]
fn test_done_callback_with_exception() {
    let f = Future::<u32>::new();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |f| tx.send(f.exception()).unwrap());
    f.set_exception(Error::Panicked("test".into())).unwrap();
    assert_eq!(rx.recv().unwrap(), Ok(Some(Error::Panicked("test".into()))));
}

#[test]
fn test_done_callback_with_cancel() {
    let f = Future::<u32>::new();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
    assert!(f.cancel());
    assert!(rx.recv().unwrap());
}

#[test]
fn test_done_callback_raises() {
    // A panicking callback is reported, not propagated, and the callbacks
    // after it still run.
    let f = Future::new();
    let (c, seen) = counter();
    f.add_done_callback(|_| panic!("doh!"));
    f.add_done_callback(move |_| {
        c.fetch_add(1, SeqCst);
    });
    f.set_result(5).unwrap();
    assert_eq!(seen.load(SeqCst), 1);
    assert_eq!(f.result(), Ok(5));
}

#[test]
fn test_done_callback_already_successful() {
    let f = Future::new();
    f.set_result(5).unwrap();
    let (tx, rx) = mpsc::channel();
    let me = std::thread::current().id();
    f.add_done_callback(move |f| tx.send((f.result(), std::thread::current().id())).unwrap());
    // Ran at once, in this thread.
    assert_eq!(rx.try_recv().unwrap(), (Ok(5), me));
}

#[test]
fn test_done_callback_already_failed() {
    let f = Future::<u8>::new();
    f.set_exception(Error::Panicked("test".into())).unwrap();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |f| tx.send(f.exception()).unwrap());
    assert_eq!(
        rx.try_recv().unwrap(),
        Ok(Some(Error::Panicked("test".into())))
    );
}

#[test]
fn test_done_callback_already_cancelled() {
    let f = Future::<u8>::new();
    assert!(f.cancel());
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
    assert!(rx.try_recv().unwrap());
}

#[test]
fn test_done_callback_runs_exactly_once_each() {
    let f = Future::new();
    let (c, seen) = counter();
    for _ in 0..10 {
        let c = c.clone();
        f.add_done_callback(move |_| {
            c.fetch_add(1, SeqCst);
        });
    }
    f.set_result(()).unwrap();
    assert!(!f.cancel());
    assert_eq!(seen.load(SeqCst), 10);
}

#[test]
fn test_repr() {
    let f = Future::<u8>::new();
    assert!(format!("{f:?}").contains("state=pending"));
    f.set_running_or_notify_cancel().unwrap();
    assert!(format!("{f:?}").contains("state=running"));
    f.set_result(1).unwrap();
    assert!(format!("{f:?}").contains("state=finished"));
    let c = Future::<u8>::new();
    c.cancel();
    assert!(format!("{c:?}").contains("state=cancelled"));
}

#[test]
fn test_cancel() {
    let pending = Future::<u8>::new();
    assert!(pending.cancel());
    assert!(pending.cancelled());
    // Cancelled-and-notified stays cancelled.
    let f = Future::<u8>::new();
    f.cancel();
    assert_eq!(f.set_running_or_notify_cancel(), Ok(false));
    assert!(f.cancel() && f.cancelled());
    let running = Future::<u8>::new();
    running.set_running_or_notify_cancel().unwrap();
    assert!(!running.cancel());
    let finished = Future::new();
    finished.set_result(1u8).unwrap();
    assert!(!finished.cancel());
    let failed = Future::<u8>::new();
    failed.set_exception(Error::Panicked("x".into())).unwrap();
    assert!(!failed.cancel());
}

#[test]
fn test_cancelled() {
    let f = Future::<u8>::new();
    assert!(!f.cancelled());
    f.set_running_or_notify_cancel().unwrap();
    assert!(!f.cancelled());
    f.set_result(0).unwrap();
    assert!(!f.cancelled());
}

#[test]
fn test_done() {
    let f = Future::<u8>::new();
    assert!(!f.done());
    f.set_running_or_notify_cancel().unwrap();
    assert!(!f.done());
    f.set_result(0).unwrap();
    assert!(f.done());
    let c = Future::<u8>::new();
    c.cancel();
    assert!(c.done());
}

#[test]
fn test_running() {
    let f = Future::<u8>::new();
    assert!(!f.running());
    f.set_running_or_notify_cancel().unwrap();
    assert!(f.running());
    f.set_result(0).unwrap();
    assert!(!f.running());
}

#[test]
fn test_result_with_timeout() {
    let f = Future::<u8>::new();
    assert_eq!(f.result_timeout(Duration::ZERO), Err(Error::Timeout));
    assert_eq!(
        f.result_timeout(Duration::from_millis(5)),
        Err(Error::Timeout)
    );
    f.set_running_or_notify_cancel().unwrap();
    assert_eq!(
        f.result_timeout(Duration::from_millis(1)),
        Err(Error::Timeout)
    );
    f.set_result(3).unwrap();
    assert_eq!(f.result_timeout(Duration::ZERO), Ok(3));
}

#[test]
fn test_result_with_success() {
    let f = Future::new();
    let f2 = f.clone();
    let t = std::thread::spawn(move || f2.set_result(42).unwrap());
    assert_eq!(f.result(), Ok(42));
    assert_eq!(f.result_timeout(Duration::from_secs(60)), Ok(42));
    t.join().unwrap();
}

#[test]
fn test_result_with_cancel() {
    let f = Future::<u8>::new();
    let f2 = f.clone();
    let t = std::thread::spawn(move || f2.result());
    assert!(f.cancel());
    assert_eq!(t.join().unwrap(), Err(Error::Cancelled));
    assert_eq!(f.result_timeout(Duration::ZERO), Err(Error::Cancelled));
}

#[test]
fn test_exception_with_timeout() {
    let f = Future::<u8>::new();
    assert_eq!(
        f.exception_timeout(Duration::from_millis(1)),
        Err(Error::Timeout)
    );
}

#[test]
fn test_exception_with_success() {
    let f = Future::<u8>::new();
    let f2 = f.clone();
    let t = std::thread::spawn(move || f2.set_exception(Error::Panicked("boom".into())).unwrap());
    assert_eq!(f.exception(), Ok(Some(Error::Panicked("boom".into()))));
    assert_eq!(f.result(), Err(Error::Panicked("boom".into())));
    t.join().unwrap();
    let ok = Future::new();
    ok.set_result(1u8).unwrap();
    assert_eq!(ok.exception(), Ok(None));
}

#[test]
fn test_exception_with_cancel() {
    let f = Future::<u8>::new();
    f.cancel();
    assert_eq!(f.exception(), Err(Error::Cancelled));
}

#[test]
fn test_multiple_set_result() {
    let f = Future::new();
    f.set_result(1).unwrap();
    assert!(matches!(f.set_result(2), Err(Error::InvalidState(_))));
    assert!(matches!(
        f.set_exception(Error::Timeout),
        Err(Error::InvalidState(_))
    ));
    assert!(f.done());
    assert_eq!(f.result(), Ok(1));
}

#[test]
fn test_multiple_set_exception() {
    let f = Future::<u8>::new();
    f.set_exception(Error::Panicked("a".into())).unwrap();
    assert!(matches!(
        f.set_exception(Error::Panicked("b".into())),
        Err(Error::InvalidState(_))
    ));
    assert_eq!(f.exception(), Ok(Some(Error::Panicked("a".into()))));
}

#[test]
fn test_set_result_on_cancelled_future_fails() {
    let f = Future::<u8>::new();
    f.cancel();
    assert!(matches!(f.set_result(1), Err(Error::InvalidState(_))));
    assert_eq!(f.result(), Err(Error::Cancelled));
}

#[test]
fn test_set_running_twice_is_invalid() {
    let f = Future::<u8>::new();
    assert_eq!(f.set_running_or_notify_cancel(), Ok(true));
    assert!(matches!(
        f.set_running_or_notify_cancel(),
        Err(Error::InvalidState(_))
    ));
}

#[test]
fn test_into_result_takes_once() {
    let f = Future::new();
    f.set_result(String::from("x")).unwrap();
    let g = f.clone();
    assert_eq!(f.into_result(), Ok("x".to_string()));
    assert!(matches!(g.result(), Err(Error::InvalidState(_))));
    assert!(matches!(g.into_result(), Err(Error::InvalidState(_))));
}

#[test]
fn test_many_waiters_all_woken() {
    let f = Future::new();
    let ts: Vec<_> = (0..4)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || f.result())
        })
        .collect();
    f.set_result(9u64).unwrap();
    for t in ts {
        assert_eq!(t.join().unwrap(), Ok(9));
    }
}
