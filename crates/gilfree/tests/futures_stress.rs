//! Stress: many tiny tasks through the pool; every result arrives exactly
//! once (a seen-bitmap plus sum and count). The normal run uses 1,000,000
//! tasks in batches; the `#[ignore]` long version adds concurrent submitters,
//! cancels and `as_completed`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use gilfree::futures::{Future, MapOptions, ReturnWhen, ThreadPoolExecutor, as_completed, wait};

/// Submit `n` tasks in batches of `batch`, collect them all; each index's
/// result must come back exactly once.
fn run_exactly_once(n: usize, batch: usize, workers: usize) {
    let p = ThreadPoolExecutor::builder()
        .max_workers(workers)
        .build()
        .unwrap();
    let mut seen = vec![false; n];
    let mut sum = 0u64;
    let mut count = 0usize;
    let mut start = 0;
    while start < n {
        let end = (start + batch).min(n);
        let fs: Vec<Future<usize>> = (start..end).map(|i| p.submit(move || i).unwrap()).collect();
        for f in fs {
            let i = f.into_result().unwrap();
            assert!(!seen[i], "result {i} arrived twice");
            seen[i] = true;
            sum += i as u64;
            count += 1;
        }
        start = end;
    }
    assert_eq!(count, n);
    assert_eq!(sum, (n as u64) * (n as u64 - 1) / 2);
    assert!(seen.iter().all(|&s| s));
}

#[test]
fn stress_one_million_tiny_tasks() {
    run_exactly_once(1_000_000, 10_000, 4);
}

#[test]
fn stress_map_with_buffersize_exactly_once() {
    let p = ThreadPoolExecutor::builder()
        .max_workers(3)
        .build()
        .unwrap();
    let n = 200_000u64;
    let mut next = 0u64;
    for r in p
        .map_with(|x: u64| x, 0..n, MapOptions::new().buffersize(64))
        .unwrap()
    {
        // In order, each exactly once.
        assert_eq!(r.unwrap(), next);
        next += 1;
    }
    assert_eq!(next, n);
}

#[test]
fn stress_concurrent_submitters_cancels_and_waits() {
    stress_mixed(4, 5_000);
}

#[test]
#[ignore = "long: run with --ignored"]
fn stress_concurrent_submitters_cancels_and_waits_long() {
    stress_mixed(8, 200_000);
}

#[test]
#[ignore = "long: run with --ignored"]
fn stress_ten_million_tiny_tasks_long() {
    run_exactly_once(10_000_000, 100_000, 8);
}

/// Several submitting threads; every other future is cancelled at once.
/// Each job that ran counted itself; every future is either cancelled (and
/// its job never ran) or finished with its own value; `wait` and
/// `as_completed` see every future exactly once.
fn stress_mixed(threads: usize, per_thread: usize) {
    let p = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(3)
            .build()
            .unwrap(),
    );
    let ran = Arc::new(AtomicUsize::new(0));
    let ts: Vec<_> = (0..threads)
        .map(|t| {
            let (p, ran) = (p.clone(), ran.clone());
            std::thread::spawn(move || {
                let fs: Vec<Future<usize>> = (0..per_thread)
                    .map(|i| {
                        let ran = ran.clone();
                        let f = p
                            .submit(move || {
                                ran.fetch_add(1, SeqCst);
                                t * per_thread + i
                            })
                            .unwrap();
                        if i % 2 == 1 {
                            f.cancel();
                        }
                        f
                    })
                    .collect();
                let (mut finished, mut cancelled) = (0usize, 0usize);
                if t % 2 == 0 {
                    let r = wait(&fs, None, ReturnWhen::AllCompleted);
                    assert_eq!(r.done.len(), per_thread);
                } else {
                    assert_eq!(as_completed(&fs, None).count(), per_thread);
                }
                for (i, f) in fs.iter().enumerate() {
                    if f.cancelled() {
                        cancelled += 1;
                    } else {
                        assert_eq!(f.result(), Ok(t * per_thread + i));
                        finished += 1;
                    }
                }
                (finished, cancelled)
            })
        })
        .collect();
    let (mut finished, mut cancelled) = (0, 0);
    for t in ts {
        let (f, c) = t.join().unwrap();
        finished += f;
        cancelled += c;
    }
    p.shutdown(true, false);
    assert_eq!(finished + cancelled, threads * per_thread);
    assert_eq!(
        ran.load(SeqCst),
        finished,
        "a cancelled job ran, or a job ran twice"
    );
}
