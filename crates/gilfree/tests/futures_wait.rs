//! `wait` and `as_completed`: CPython's `WaitTests` and `AsCompletedTests`
//! scenarios, one test each. Futures are completed by hand or held with
//! channels; no sleeps.

use std::sync::mpsc;
use std::time::Duration;

use gilfree::futures::{Error, Future, ReturnWhen, ThreadPoolExecutor, as_completed, wait};

fn finished(v: u32) -> Future<u32> {
    let f = Future::new();
    f.set_result(v).unwrap();
    f
}

fn failed() -> Future<u32> {
    let f = Future::new();
    f.set_exception(Error::Panicked("boom".into())).unwrap();
    f
}

fn cancelled() -> Future<u32> {
    let f = Future::new();
    f.cancel();
    f
}

fn contains(v: &[Future<u32>], f: &Future<u32>) -> bool {
    v.iter().any(|x| x.ptr_eq(f))
}

#[test]
fn test_first_completed() {
    let p = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let (open, gate) = mpsc::channel::<()>();
    let slow = p.submit(move || {
        let _ = gate.recv();
        1u32
    });
    let slow = slow.unwrap();
    let quick = p.submit(|| 2u32).unwrap();
    let r = wait([&slow, &quick], None, ReturnWhen::FirstCompleted);
    assert!(contains(&r.done, &quick));
    assert!(contains(&r.not_done, &slow));
    drop(open);
}

#[test]
fn test_first_completed_completes_later() {
    let pending = Future::<u32>::new();
    let other = Future::<u32>::new();
    let p2 = pending.clone();
    let t = std::thread::spawn(move || p2.set_result(1).unwrap());
    let r = wait([&pending, &other], None, ReturnWhen::FirstCompleted);
    t.join().unwrap();
    assert_eq!(r.done.len(), 1);
    assert!(contains(&r.done, &pending) && contains(&r.not_done, &other));
}

#[test]
fn test_first_completed_some_already_completed() {
    let (a, b, c) = (finished(1), cancelled(), Future::new());
    let r = wait([&a, &b, &c], None, ReturnWhen::FirstCompleted);
    assert_eq!(r.done.len(), 2);
    assert!(contains(&r.not_done, &c));
}

#[test]
fn test_first_exception() {
    let (ok, pending) = (Future::<u32>::new(), Future::<u32>::new());
    let boom = Future::<u32>::new();
    let (o2, b2) = (ok.clone(), boom.clone());
    let t = std::thread::spawn(move || {
        o2.set_result(1).unwrap();
        b2.set_exception(Error::Panicked("x".into())).unwrap();
    });
    let r = wait([&ok, &boom, &pending], None, ReturnWhen::FirstException);
    t.join().unwrap();
    assert!(contains(&r.done, &ok) && contains(&r.done, &boom));
    assert!(contains(&r.not_done, &pending));
}

#[test]
fn test_first_exception_some_already_complete() {
    let (a, b, c) = (finished(1), cancelled(), Future::<u32>::new());
    let c2 = c.clone();
    let t = std::thread::spawn(move || c2.set_exception(Error::Panicked("late".into())).unwrap());
    let r = wait([&a, &b, &c], None, ReturnWhen::FirstException);
    t.join().unwrap();
    // A cancelled future is no exception: wait went on until `c` failed.
    assert_eq!(r.done.len(), 3);
}

#[test]
fn test_first_exception_one_already_failed() {
    let (bad, pending) = (failed(), Future::<u32>::new());
    let r = wait([&bad, &pending], None, ReturnWhen::FirstException);
    assert!(contains(&r.done, &bad) && contains(&r.not_done, &pending));
}

#[test]
fn test_first_exception_none_fail_waits_for_all() {
    let (a, b) = (finished(1), Future::<u32>::new());
    let b2 = b.clone();
    let t = std::thread::spawn(move || b2.set_result(2).unwrap());
    let r = wait([&a, &b], None, ReturnWhen::FirstException);
    t.join().unwrap();
    assert_eq!(r.done.len(), 2);
}

#[test]
fn test_all_completed() {
    let p = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let fs: Vec<_> = (0..8u32).map(|i| p.submit(move || i).unwrap()).collect();
    let mut all = fs.clone();
    all.push(failed());
    all.push(cancelled());
    let r = wait(&all, None, ReturnWhen::AllCompleted);
    assert_eq!(r.done.len(), 10);
    assert!(r.not_done.is_empty());
}

#[test]
fn test_timeout() {
    let (a, b, pending) = (finished(1), failed(), Future::<u32>::new());
    let r = wait(
        [&a, &b, &pending],
        Some(Duration::from_millis(20)),
        ReturnWhen::AllCompleted,
    );
    assert_eq!(r.done.len(), 2);
    assert!(contains(&r.not_done, &pending));
}

#[test]
fn test_wait_empty() {
    let r = wait(
        std::iter::empty::<&Future<u32>>(),
        None,
        ReturnWhen::FirstCompleted,
    );
    assert!(r.done.is_empty() && r.not_done.is_empty());
}

#[test]
fn test_wait_unregisters_waiter() {
    // After wait returns, completing the future does not touch the waiter.
    let f = Future::<u32>::new();
    let r = wait([&f], Some(Duration::ZERO), ReturnWhen::AllCompleted);
    assert_eq!(r.not_done.len(), 1);
    f.set_result(1).unwrap();
    assert_eq!(f.result(), Ok(1));
}

#[test]
fn test_pending_calls_race() {
    // wait() while a pool keeps completing futures: nothing is missed.
    let p = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    for _ in 0..50 {
        let fs: Vec<_> = (0..20u32).map(|i| p.submit(move || i).unwrap()).collect();
        let r = wait(&fs, None, ReturnWhen::AllCompleted);
        assert_eq!(r.done.len(), 20);
    }
}

#[test]
fn test_no_timeout() {
    let (a, b) = (finished(1), cancelled());
    let c = Future::<u32>::new();
    let c2 = c.clone();
    let t = std::thread::spawn(move || c2.set_result(3).unwrap());
    let got: Vec<Future<u32>> = as_completed([&a, &b, &c], None)
        .map(Result::unwrap)
        .collect();
    t.join().unwrap();
    assert_eq!(got.len(), 3);
    for f in [&a, &b, &c] {
        assert!(contains(&got, f));
    }
}

#[test]
fn test_zero_timeout() {
    let (a, b, pending) = (finished(1), failed(), Future::<u32>::new());
    let mut it = as_completed([&a, &b, &pending], Some(Duration::ZERO));
    let mut done = Vec::new();
    let mut timed_out = 0;
    for r in it.by_ref() {
        match r {
            Ok(f) => done.push(f),
            Err(Error::Timeout) => timed_out += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(done.len(), 2);
    assert_eq!(timed_out, 1);
    let left = it.pending();
    assert_eq!(left.len(), 1);
    assert!(left[0].ptr_eq(&pending));
}

#[test]
fn test_as_completed_order_is_completion_order() {
    let fs: Vec<Future<u32>> = (0..3).map(|_| Future::new()).collect();
    let mut it = as_completed(&fs, None);
    fs[2].set_result(2).unwrap();
    assert!(it.next().unwrap().unwrap().ptr_eq(&fs[2]));
    fs[0].set_result(0).unwrap();
    assert!(it.next().unwrap().unwrap().ptr_eq(&fs[0]));
    fs[1].cancel();
    assert!(it.next().unwrap().unwrap().ptr_eq(&fs[1]));
    assert!(it.next().is_none());
}

#[test]
fn test_as_completed_timeout_after_some() {
    let (a, pending) = (Future::<u32>::new(), Future::<u32>::new());
    let mut it = as_completed([&a, &pending], Some(Duration::from_millis(30)));
    a.set_result(1).unwrap();
    assert!(it.next().unwrap().unwrap().ptr_eq(&a));
    assert_eq!(it.next().unwrap().unwrap_err(), Error::Timeout);
    assert!(it.next().is_none());
}

#[test]
fn test_duplicate_futures() {
    // Python dedups (sets); here each occurrence is yielded once.
    let f = finished(1);
    assert_eq!(as_completed([&f, &f], None).count(), 2);
}

#[test]
#[cfg(feature = "progress")]
fn test_as_completed_with_progress_off_terminal() {
    let fs: Vec<_> = (0..5).map(finished).collect();
    assert_eq!(as_completed(&fs, None).progress(true).count(), 5);
}
