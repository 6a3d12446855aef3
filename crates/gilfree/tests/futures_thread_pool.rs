//! `ThreadPoolExecutor`: the scenarios of CPython's executor, shutdown,
//! initializer and map tests that apply to threads, one test each.
//!
//! Tasks are held with channels ("gates"), never with sleeps.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use gilfree::futures::{Error, Executor, MapOptions, ThreadPoolExecutor};

fn pool(n: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(n)
        .build()
        .unwrap()
}

/// A gate: a task blocks on the receiver until the sender sends (or drops).
fn gate() -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
    mpsc::channel()
}

/// Submit a job that blocks on a gate, and return once it is running.
fn submit_blocker(p: &ThreadPoolExecutor) -> (gilfree::futures::Future<()>, mpsc::Sender<()>) {
    let (open, wait) = gate();
    let (started_tx, started) = mpsc::channel();
    let f = p
        .submit(move || {
            started_tx.send(()).unwrap();
            let _ = wait.recv();
        })
        .unwrap();
    started.recv().unwrap();
    (f, open)
}

#[test]
fn test_submit() {
    let p = pool(2);
    let f = p.submit(|| 2u64.pow(8)).unwrap();
    assert_eq!(f.result(), Ok(256));
}

#[test]
fn test_submit_through_trait() {
    fn go<E: Executor<fn() -> u8>>(e: &E) -> u8 {
        e.submit(|| 7).unwrap().into_result().unwrap()
    }
    assert_eq!(go(&pool(1)), 7);
}

#[test]
fn test_cancel_before_task_runs() {
    let p = pool(1);
    let (open, wait) = gate();
    let blocker = p.submit(move || wait.recv().unwrap()).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let f = p
        .submit(move || {
            r.fetch_add(1, SeqCst);
        })
        .unwrap();
    assert!(f.cancel());
    assert!(f.cancelled());
    open.send(()).unwrap();
    assert_eq!(blocker.result(), Ok(()));
    p.shutdown(true, false);
    assert_eq!(ran.load(SeqCst), 0, "a cancelled job ran");
    assert_eq!(f.result(), Err(Error::Cancelled));
}

#[test]
fn test_cancel_running_task_fails() {
    let p = pool(1);
    let (started_tx, started) = mpsc::channel();
    let (open, wait) = gate();
    let f = p
        .submit(move || {
            started_tx.send(()).unwrap();
            wait.recv().unwrap();
            1
        })
        .unwrap();
    started.recv().unwrap();
    assert!(f.running());
    assert!(!f.cancel());
    open.send(()).unwrap();
    assert_eq!(f.result(), Ok(1));
}

#[test]
fn test_result_timeout() {
    let p = pool(1);
    let (open, wait) = gate();
    let f = p.submit(move || wait.recv().unwrap()).unwrap();
    assert_eq!(
        f.result_timeout(Duration::from_millis(10)),
        Err(Error::Timeout)
    );
    assert!(!f.done());
    open.send(()).unwrap();
    assert_eq!(f.result(), Ok(()));
}

#[test]
fn test_exception_propagation() {
    let p = pool(1);
    let f = p.submit(|| -> u32 { panic!("division by zero") }).unwrap();
    assert_eq!(f.result(), Err(Error::Panicked("division by zero".into())));
    assert_eq!(
        f.exception(),
        Ok(Some(Error::Panicked("division by zero".into())))
    );
    // Formatted panic messages come through too.
    let g = p.submit(|| -> u32 { panic!("bad value {}", 42) }).unwrap();
    assert_eq!(
        g.exception(),
        Ok(Some(Error::Panicked("bad value 42".into())))
    );
}

#[test]
fn test_worker_survives_panic() {
    let p = pool(1);
    for i in 0..5 {
        let f = p
            .submit(move || -> u32 {
                if i % 2 == 0 { panic!("odd one") } else { i }
            })
            .unwrap();
        if i % 2 == 0 {
            assert!(matches!(f.result(), Err(Error::Panicked(_))));
        } else {
            assert_eq!(f.result(), Ok(i));
        }
    }
    assert_eq!(p.num_threads(), 1);
}

#[test]
fn test_map() {
    let p = pool(4);
    let got: Vec<i64> = p
        .map(|x: i64| x * x, 0..100)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want: Vec<i64> = (0..100).map(|x| x * x).collect();
    assert_eq!(got, want);
}

#[test]
fn test_map_exception() {
    let p = pool(2);
    let mut it = p
        .map(
            |x: i32| -> i32 { if x == 1 { panic!("no 1") } else { 10 / (x + 1) } },
            [0, 1, 2],
        )
        .unwrap();
    assert_eq!(it.next(), Some(Ok(10)));
    assert_eq!(it.next(), Some(Err(Error::Panicked("no 1".into()))));
    // Python's generator ends after raising.
    assert_eq!(it.next(), None);
}

#[test]
fn test_map_timeout() {
    let p = pool(2);
    let (open, wait) = gate();
    let wait = Arc::new(std::sync::Mutex::new(wait));
    let mut it = p
        .map_with(
            move |x: u32| {
                if x == 2 {
                    let _ = wait.lock().unwrap().recv();
                }
                x
            },
            [0, 1, 2, 3],
            MapOptions::new().timeout(Duration::from_millis(50)),
        )
        .unwrap();
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(it.next(), Some(Ok(1)));
    assert_eq!(it.next(), Some(Err(Error::Timeout)));
    assert_eq!(it.next(), None);
    drop(it);
    open.send(()).unwrap();
}

#[test]
fn test_map_timeout_cancels_the_rest() {
    // Python's `_result_or_cancel`: after the timeout, the jobs not yet
    // started never run.
    let p = pool(1);
    let (open, wait) = gate();
    let wait = Arc::new(std::sync::Mutex::new(wait));
    let (started_tx, started) = mpsc::channel();
    let started_tx = std::sync::Mutex::new(started_tx);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let mut it = p
        .map_with(
            move |x: u32| {
                r.fetch_add(1, SeqCst);
                if x == 0 {
                    started_tx.lock().unwrap().send(()).unwrap();
                    let _ = wait.lock().unwrap().recv();
                }
                x
            },
            [0, 1, 2],
            MapOptions::new().timeout(Duration::from_millis(20)),
        )
        .unwrap();
    started.recv().unwrap(); // job 0 runs, so it cannot be cancelled
    assert_eq!(it.next(), Some(Err(Error::Timeout)));
    assert_eq!(it.next(), None);
    open.send(()).unwrap();
    p.shutdown(true, false);
    assert_eq!(ran.load(SeqCst), 1);
}

#[test]
fn test_map_over_borrowed_input() {
    let p = pool(2);
    let v = [1u32, 2, 3];
    let got: Vec<u32> = p
        .map(|x: u32| x * 2, v.iter().copied())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, [2, 4, 6]);
}

#[test]
#[cfg(feature = "progress")]
fn test_map_with_progress_bar_option() {
    // Off whenever stderr is not a terminal (as under the test harness);
    // either way the results are the same.
    let p = pool(2);
    let got: Result<Vec<u32>, _> = p
        .map_with(|x: u32| x, 0..50, MapOptions::new().progress(true))
        .unwrap()
        .collect();
    assert_eq!(got.unwrap().len(), 50);
}

#[test]
fn test_map_chunksize_validated() {
    let p = pool(2);
    let v: Vec<u8> = p
        .map_with(|x: u8| x, 0..10, MapOptions::new().chunksize(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(v, (0..10).collect::<Vec<_>>());
    assert!(matches!(
        p.map_with(|x: u8| x, 0..10, MapOptions::new().chunksize(0))
            .err(),
        Some(Error::Value(_))
    ));
}

#[test]
fn test_map_submits_without_iteration() {
    let p = pool(2);
    let seen = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let s = seen.clone();
    let it = p
        .map(move |x: u32| s.lock().unwrap().insert(x), 0..10)
        .unwrap();
    p.shutdown(true, false);
    drop(it);
    assert_eq!(seen.lock().unwrap().len(), 10);
}

#[test]
fn test_map_buffersize_validation() {
    let p = pool(1);
    assert!(matches!(
        p.map_with(|x: u8| x, 0..1, MapOptions::new().buffersize(0))
            .err(),
        Some(Error::Value(_))
    ));
}

#[test]
fn test_map_buffersize_on_infinite_iterable() {
    let p = pool(2);
    let it = p
        .map_with(|x: u64| x.to_string(), 0.., MapOptions::new().buffersize(2))
        .unwrap();
    let got: Vec<String> = it.take(3).map(Result::unwrap).collect();
    assert_eq!(got, ["0", "1", "2"]);
}

#[test]
fn test_map_buffersize_when_buffer_is_full() {
    // Only `buffersize` jobs are submitted before iteration starts.
    let p = pool(1);
    let read = Arc::new(AtomicUsize::new(0));
    let r = read.clone();
    let input = (0..100u32).inspect(move |_| {
        r.fetch_add(1, SeqCst);
    });
    let mut it = p
        .map_with(|x: u32| x, input, MapOptions::new().buffersize(4))
        .unwrap();
    assert_eq!(read.load(SeqCst), 4);
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(read.load(SeqCst), 5);
    assert_eq!(it.count(), 99);
}

#[test]
fn test_map_empty() {
    let p = pool(1);
    assert_eq!(p.map(|x: u8| x, Vec::new()).unwrap().count(), 0);
}

#[test]
fn test_max_workers_zero() {
    assert!(matches!(
        ThreadPoolExecutor::builder().max_workers(0).build(),
        Err(Error::Value(_))
    ));
}

#[test]
fn test_default_workers() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(ThreadPoolExecutor::new().max_workers(), 32.min(cpus + 4));
}

#[test]
fn test_run_after_shutdown() {
    let p = pool(2);
    p.shutdown(true, false);
    assert_eq!(p.submit(|| 1).unwrap_err(), Error::ShutDown);
    assert_eq!(
        Error::ShutDown.to_string(),
        "cannot schedule new futures after shutdown"
    );
}

#[test]
fn test_shutdown_waits_for_running_and_queued() {
    let p = pool(1);
    let (open, wait) = gate();
    let a = p.submit(move || wait.recv().unwrap()).unwrap();
    let b = p.submit(|| 2).unwrap();
    let opener = std::thread::spawn(move || open.send(()).unwrap());
    p.shutdown(true, false);
    // wait=True: both done by the time shutdown returns.
    assert!(a.done() && b.done());
    assert_eq!(b.result(), Ok(2));
    opener.join().unwrap();
}

#[test]
fn test_shutdown_no_wait() {
    let p = pool(1);
    let (open, wait) = gate();
    let a = p.submit(move || wait.recv().unwrap()).unwrap();
    let b = p.submit(|| 3).unwrap();
    p.shutdown(false, false);
    assert_eq!(p.submit(|| 0).unwrap_err(), Error::ShutDown);
    open.send(()).unwrap();
    // The queued job still runs after shutdown(wait=False).
    assert_eq!(a.result(), Ok(()));
    assert_eq!(b.result(), Ok(3));
}

#[test]
fn test_cancel_futures() {
    let p = pool(1);
    let (running, open) = submit_blocker(&p);
    let queued: Vec<_> = (0..10).map(|i| p.submit(move || i).unwrap()).collect();
    p.shutdown(false, true);
    open.send(()).unwrap();
    p.shutdown(true, true);
    assert!(running.done());
    assert_eq!(running.result(), Ok(()));
    // Every queued job was cancelled, none ran.
    assert!(queued.iter().all(|f| f.cancelled()));
}

#[test]
fn test_cancel_futures_wait_false() {
    let p = pool(1);
    let (running, open) = submit_blocker(&p);
    let queued = p.submit(|| 1).unwrap();
    p.shutdown(false, true);
    assert!(queued.cancelled());
    open.send(()).unwrap();
    assert_eq!(running.result(), Ok(()));
}

#[test]
fn test_context_manager_shutdown() {
    // Drop = `with`: waits for the jobs.
    let done = Arc::new(AtomicUsize::new(0));
    {
        let p = pool(2);
        for _ in 0..20 {
            let d = done.clone();
            p.submit(move || {
                d.fetch_add(1, SeqCst);
            })
            .unwrap();
        }
    }
    assert_eq!(done.load(SeqCst), 20);
}

#[test]
fn test_thread_names_assigned() {
    let p = ThreadPoolExecutor::builder()
        .max_workers(3)
        .thread_name_prefix("SpecialPool")
        .build()
        .unwrap();
    let b = Arc::new(Barrier::new(3));
    let fs: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            p.submit(move || {
                b.wait(); // all three run at once, so three threads exist
                std::thread::current().name().unwrap().to_string()
            })
            .unwrap()
        })
        .collect();
    let mut names: Vec<String> = fs.iter().map(|f| f.result().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["SpecialPool_0", "SpecialPool_1", "SpecialPool_2"]);
}

#[test]
fn test_thread_names_default() {
    let p = pool(1);
    let n = p
        .submit(|| std::thread::current().name().unwrap().to_string())
        .unwrap();
    let n = n.result().unwrap();
    assert!(
        n.starts_with("ThreadPoolExecutor-") && n.ends_with("_0"),
        "{n}"
    );
}

#[test]
fn test_idle_thread_reuse() {
    let p = pool(4);
    for i in 0..10 {
        assert_eq!(p.submit(move || i).unwrap().result(), Ok(i));
    }
    assert_eq!(p.num_threads(), 1);
}

#[test]
fn test_saturation() {
    let p = pool(4);
    let (open, wait) = gate();
    let wait = Arc::new(std::sync::Mutex::new(wait));
    let fs: Vec<_> = (0..16)
        .map(|_| {
            let w = wait.clone();
            p.submit(move || {
                let _ = w.lock().unwrap().recv();
            })
            .unwrap()
        })
        .collect();
    assert_eq!(p.num_threads(), 4);
    drop(open);
    for f in fs {
        assert_eq!(f.result(), Ok(()));
    }
}

#[test]
fn test_initializer_runs_in_each_worker() {
    let inits = Arc::new(AtomicUsize::new(0));
    let i = inits.clone();
    let p = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(move || {
            i.fetch_add(1, SeqCst);
            Ok::<(), String>(())
        })
        .build()
        .unwrap();
    let b = Arc::new(Barrier::new(2));
    let fs: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            p.submit(move || {
                b.wait();
            })
            .unwrap()
        })
        .collect();
    fs.iter().for_each(|f| f.result().unwrap());
    assert_eq!(inits.load(SeqCst), 2);
}

#[test]
fn test_initializer_failure() {
    let p = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| Err("initializer failed"))
        .build()
        .unwrap();
    let f = p.submit(|| 1).unwrap();
    assert!(matches!(f.result(), Err(Error::BrokenThreadPool(_))));
    // Once broken, every later submit fails with BrokenThreadPool.
    for _ in 0..3 {
        assert!(matches!(p.submit(|| 1), Err(Error::BrokenThreadPool(_))));
    }
}

#[test]
fn test_initializer_panic() {
    let p = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(|| -> Result<(), String> { panic!("init exploded") })
        .build()
        .unwrap();
    let fs: Vec<_> = (0..5).filter_map(|i| p.submit(move || i).ok()).collect();
    for f in &fs {
        match f.result() {
            Err(Error::BrokenThreadPool(m)) => assert!(m.contains("init exploded"), "{m}"),
            r => panic!("expected BrokenThreadPool, got {r:?}"),
        }
    }
    assert!(matches!(p.submit(|| 1), Err(Error::BrokenThreadPool(_))));
}

#[test]
fn test_shutdown_from_inside_a_task() {
    let p = Arc::new(pool(1));
    let p2 = p.clone();
    let f = p.submit(move || p2.shutdown(true, false)).unwrap();
    assert_eq!(f.result(), Ok(()));
    assert_eq!(p.submit(|| ()).unwrap_err(), Error::ShutDown);
}

#[test]
fn test_submit_from_many_threads() {
    let p = Arc::new(pool(3));
    let ts: Vec<_> = (0..4u64)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                (0..500u64)
                    .map(|i| p.submit(move || t * 1000 + i).unwrap())
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|f| f.into_result().unwrap())
                    .sum::<u64>()
            })
        })
        .collect();
    let total: u64 = ts.into_iter().map(|t| t.join().unwrap()).sum();
    let want: u64 = (0..4u64)
        .map(|t| (0..500u64).map(|i| t * 1000 + i).sum::<u64>())
        .sum();
    assert_eq!(total, want);
}
