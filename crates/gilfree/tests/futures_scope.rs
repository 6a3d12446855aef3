//! `ThreadPoolExecutor::scope`: jobs that borrow from the caller's frame,
//! and the scope's promise to wait for them (on return, early return and
//! panic).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use gilfree::futures::{Error, ThreadPoolExecutor};
use gilfree::threading::Event;

#[test]
fn map_borrows_a_local_path_and_keeps_input_order() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .build()
        .unwrap();
    let out_dir = Path::new("/srv/out"); // borrowed, not cloned
    let names: Vec<String> = pool.scope(|s| {
        s.map(
            |n: u32| out_dir.join(format!("{n}.csv")).display().to_string(),
            0..20,
        )
        .unwrap()
        .map(Result::unwrap)
        .collect()
    });
    let want: Vec<String> = (0..20).map(|n| format!("/srv/out/{n}.csv")).collect();
    assert_eq!(names, want);
}

#[test]
fn submit_borrows_a_local_str() {
    let pool = ThreadPoolExecutor::new();
    let text = String::from("one two three");
    let words: &str = &text;
    let n = pool.scope(|s| {
        let a = s.submit(|| words.split(' ').count()).unwrap();
        let b = s.submit(|| words.len()).unwrap();
        (a.result().unwrap(), b.result().unwrap())
    });
    assert_eq!(n, (3, 13));
}

#[test]
fn a_panicking_job_is_its_futures_error() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let limit = 3u32;
    let out: Vec<Result<u32, Error>> = pool.scope(|s| {
        s.map(
            |x: u32| {
                if x == limit {
                    panic!("{x} is too big")
                } else {
                    x * 2
                }
            },
            0..5,
        )
        .unwrap()
        .collect()
    });
    // map stops at the first error, as Python's generator does.
    assert_eq!(out[..3], [Ok(0), Ok(2), Ok(4)]);
    assert_eq!(out[3], Err(Error::Panicked("3 is too big".into())));
    assert_eq!(out.len(), 4);
}

#[test]
fn early_return_from_the_body_still_waits_for_its_jobs() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let ran = AtomicUsize::new(0);
    let go = Event::new();
    pool.scope(|s| {
        for _ in 0..3 {
            // The futures are dropped unread: nothing waits for them but
            // the scope.
            let _ = s.submit(|| {
                go.wait();
                ran.fetch_add(1, SeqCst);
            });
        }
        go.set(); // the jobs can finish only after the body is done
    });
    assert_eq!(ran.load(SeqCst), 3);
}

#[test]
fn a_panic_in_the_body_still_waits_for_its_jobs() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let ran = AtomicUsize::new(0);
    let go = Event::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            s.submit(|| {
                go.wait();
                ran.fetch_add(1, SeqCst);
            })
            .unwrap();
            go.set();
            panic!("the body gives up");
        })
    }));
    assert!(r.is_err());
    assert_eq!(ran.load(SeqCst), 1);
}

#[test]
fn jobs_cancelled_by_shutdown_are_dropped_and_the_scope_returns() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let started = Event::new();
    let go = Event::new();
    let label = String::from("queued");
    let (first, second) = pool.scope(|s| {
        let first = s
            .submit(|| {
                started.set();
                go.wait();
                1
            })
            .unwrap();
        started.wait();
        let second = s.submit(|| label.len()).unwrap(); // queued behind `first`
        pool.shutdown(false, true); // cancels `second`, drops its closure
        go.set();
        (first, second)
    });
    assert_eq!(first.result(), Ok(1));
    assert_eq!(second.result(), Err(Error::Cancelled));
}

#[test]
fn a_scope_on_a_shut_down_pool_refuses_and_returns() {
    let pool = ThreadPoolExecutor::new();
    pool.shutdown(true, false);
    let s = String::from("x");
    let r = pool.scope(|sc| sc.submit(|| s.len()).map(|_| ()));
    assert_eq!(r, Err(Error::ShutDown));
}
