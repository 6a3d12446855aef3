//! A probe for the queue wait/wake mechanism (issue #18, "Queue wait/wake,
//! round 3" in docs/design-notes.md): one producer sends `0..n` through a
//! queue, one consumer takes them, and the run prints ns per item. Run it
//! under `perf stat -e instructions,context-switches` or
//! `strace -f -c -e trace=futex,sched_yield` to get per-item counts.
//!
//! ```text
//! queue_probe <gilfree|crossbeam|std> <bounded|unbounded> <n> [count]
//! queue_probe costs
//! ```
//!
//! With `count`, each side first tries without blocking and counts how often
//! it found the queue empty (consumer) or full (producer) before the blocking
//! call; this adds one failed try to each such wait, nothing else.
//! `costs` measures, on this host and in this run, what a waiter's options
//! cost: a spin pause, a `sched_yield`, a `futex_wake` nobody waits on, and
//! a futex ping-pong round trip between two threads.

use std::sync::atomic::{AtomicU32, Ordering::*};
use std::time::Instant;

/// Counts kept by each side when `count` is on.
#[derive(Default)]
struct Finds {
    empty: u64,
    full: u64,
}

fn run(imp: &str, bounded: bool, n: u64, count: bool) -> (f64, Finds) {
    const BOUND: usize = 1024;
    let t0 = Instant::now();
    let mut finds = Finds::default();
    macro_rules! drive {
        ($send:expr, $try_send:expr, $recv:expr, $try_recv:expr) => {{
            std::thread::scope(|s| {
                let p = s.spawn(|| {
                    let mut full = 0u64;
                    for x in 0..n {
                        if count {
                            if let Err(v) = $try_send(x) {
                                full += 1;
                                $send(v);
                            }
                        } else {
                            $send(x);
                        }
                    }
                    full
                });
                let mut sum = 0u64;
                let mut empty = 0u64;
                for _ in 0..n {
                    sum += if count {
                        match $try_recv() {
                            Some(v) => v,
                            None => {
                                empty += 1;
                                $recv()
                            }
                        }
                    } else {
                        $recv()
                    };
                }
                assert_eq!(sum, n * (n - 1) / 2);
                finds.empty = empty;
                finds.full = p.join().unwrap();
            })
        }};
    }
    match imp {
        "gilfree" => {
            let q = gilfree::queue::Queue::new(if bounded { BOUND } else { 0 });
            drive!(
                |x| q.put(x).unwrap(),
                |x| q.try_put(x).map_err(|e| match e {
                    gilfree::queue::PutError::Full(v) => v,
                    _ => panic!("shut down"),
                }),
                || q.get().unwrap(),
                || q.try_get().ok()
            )
        }
        "crossbeam" => {
            let (tx, rx) = if bounded {
                crossbeam_channel::bounded(BOUND)
            } else {
                crossbeam_channel::unbounded()
            };
            drive!(
                |x| tx.send(x).unwrap(),
                |x| tx.try_send(x).map_err(|e| e.into_inner()),
                || rx.recv().unwrap(),
                || rx.try_recv().ok()
            )
        }
        "std" => {
            if bounded {
                let (tx, rx) = std::sync::mpsc::sync_channel(BOUND);
                let rx = std::sync::Mutex::new(rx);
                let rx = rx.lock().unwrap();
                drive!(
                    |x| tx.send(x).unwrap(),
                    |x| tx.try_send(x).map_err(|e| match e {
                        std::sync::mpsc::TrySendError::Full(v) => v,
                        _ => panic!("disconnected"),
                    }),
                    || rx.recv().unwrap(),
                    || rx.try_recv().ok()
                )
            } else {
                let (tx, rx) = std::sync::mpsc::channel();
                let rx = std::sync::Mutex::new(rx);
                let rx = rx.lock().unwrap();
                drive!(
                    |x| tx.send(x).unwrap(),
                    |x: u64| -> Result<(), u64> {
                        tx.send(x).unwrap();
                        Ok(())
                    },
                    || rx.recv().unwrap(),
                    || rx.try_recv().ok()
                )
            }
        }
        _ => panic!("impl: gilfree, crossbeam or std"),
    }
    (t0.elapsed().as_nanos() as f64 / n as f64, finds)
}

fn futex(word: &AtomicU32, op: i32, val: u32) -> i64 {
    // SAFETY: a futex call on a live, aligned u32 with no timeout.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const AtomicU32,
            op | libc::FUTEX_PRIVATE_FLAG,
            val,
            std::ptr::null::<libc::timespec>(),
        )
    }
}

/// ns per call of `f`, best of 5 batches of `k`.
fn per_call(k: u32, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..k {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(k)
        })
        .fold(f64::INFINITY, f64::min)
}

fn costs() {
    let pause = per_call(1_000_000, core::hint::spin_loop);
    let yield_ = per_call(100_000, std::thread::yield_now);
    let w = AtomicU32::new(0);
    let wake = per_call(100_000, || {
        futex(&w, libc::FUTEX_WAKE, u32::MAX);
    });
    // Ping-pong: each side waits for the word to become its turn.
    let turn = AtomicU32::new(0);
    let rounds = 20_000u32;
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..rounds {
                while turn.load(Acquire) != 2 * i + 1 {
                    futex(&turn, libc::FUTEX_WAIT, 2 * i);
                }
                turn.store(2 * i + 2, Release);
                futex(&turn, libc::FUTEX_WAKE, 1);
            }
        });
        for i in 0..rounds {
            turn.store(2 * i + 1, Release);
            futex(&turn, libc::FUTEX_WAKE, 1);
            while turn.load(Acquire) != 2 * i + 2 {
                futex(&turn, libc::FUTEX_WAIT, 2 * i + 1);
            }
        }
    });
    let rt = t.elapsed().as_nanos() as f64 / f64::from(rounds);
    println!(
        "pause {pause:.1} ns, sched_yield {yield_:.0} ns, futex_wake(nobody) {wake:.0} ns, \
         futex ping-pong round trip {rt:.0} ns (one wake-up ≈ {:.0} ns)",
        rt / 2.0
    );
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.first().map(String::as_str) == Some("costs") {
        return costs();
    }
    let imp = a.first().expect("impl");
    let bounded = a.get(1).map(String::as_str) == Some("bounded");
    let n: u64 = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let count = a.get(3).map(String::as_str) == Some("count");
    let (ns, f) = run(imp, bounded, n, count);
    print!("{imp} {} n={n}: {ns:.1} ns/item", a[1]);
    if count {
        print!(
            ", consumer found empty {:.4}/item, producer found full {:.4}/item",
            f.empty as f64 / n as f64,
            f.full as f64 / n as f64
        );
    }
    println!();
}
