//! `Future<T>` as a `std::future::Future`, driven by a tiny hand-written
//! `block_on` (no runtime dependency).

use std::future::Future as _;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use gilfree::futures::{Error, Future, ThreadPoolExecutor};

struct Unpark(Thread);
impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

#[test]
fn test_await_pool_result() {
    let p = ThreadPoolExecutor::new();
    let f = p.submit(|| 40 + 2).unwrap();
    assert_eq!(block_on(f), Ok(42));
}

#[test]
fn test_await_several_in_one_task() {
    let p = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let fs: Vec<_> = (0..10u64).map(|i| p.submit(move || i).unwrap()).collect();
    let sum = block_on(async move {
        let mut s = 0;
        for f in fs {
            s += f.await.unwrap();
        }
        s
    });
    assert_eq!(sum, 45);
}

#[test]
fn test_await_completed_from_another_thread() {
    let f = Future::new();
    let f2 = f.clone();
    let t = thread::spawn(move || f2.set_result("hi").unwrap());
    assert_eq!(block_on(f), Ok("hi"));
    t.join().unwrap();
}

#[test]
fn test_await_cancelled() {
    let f = Future::<u8>::new();
    let f2 = f.clone();
    let t = thread::spawn(move || f2.cancel());
    assert_eq!(block_on(f), Err(Error::Cancelled));
    assert!(t.join().unwrap());
}

#[test]
fn test_poll_pending_then_ready() {
    let mut f = Future::<u8>::new();
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut f).poll(&mut cx).is_pending());
    // A re-poll with the same waker does not pile up wakers.
    assert!(std::pin::Pin::new(&mut f).poll(&mut cx).is_pending());
    f.set_result(1).unwrap();
    assert_eq!(std::pin::Pin::new(&mut f).poll(&mut cx), Poll::Ready(Ok(1)));
}
