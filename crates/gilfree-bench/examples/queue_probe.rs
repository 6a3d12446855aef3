//! A probe for the queue wait/wake mechanism (issue #18, "Queue wait/wake,
//! round 3" in docs/design-notes.md): one producer sends `0..n` through a
//! queue, one consumer takes them, and the run prints ns per item. Run it
//! under `perf stat -e instructions,context-switches` or
//! `strace -f -c -e trace=futex,sched_yield` to get per-item counts.
//!
//! ```text
//! queue_probe <gilfree|simple|crossbeam|std> <bounded|unbounded> <n> [count] [reps=R]
//! queue_probe costs
//! ```
//!
//! With `count`, each side first tries without blocking and counts how often
//! it found the queue empty (consumer) or full (producer) before the blocking
//! call; this adds one failed try to each such wait, nothing else.
//! `simple` is gilfree's `SimpleQueue` (always unbounded). `reps=R` runs
//! it R times in one process (as the benchmark's samples do) and prints
//! each run's wall and CPU time per item.
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
        // `$rx` runs on the consumer's thread and gives what `$recv` and
        // `$try_recv` take (std's `Receiver` is `Send` but not `Sync`).
        ($send:expr, $try_send:expr, $rx:expr, $recv:expr, $try_recv:expr) => {{
            // Both sides on their own threads, released by a barrier, as
            // the benchmark's `run_threads` does.
            let start = std::sync::Barrier::new(2);
            std::thread::scope(|s| {
                let p = s.spawn(|| {
                    start.wait();
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
                let c = s.spawn(|| {
                    let rx = $rx;
                    start.wait();
                    let mut sum = 0u64;
                    let mut empty = 0u64;
                    for _ in 0..n {
                        sum += if count {
                            match $try_recv(&rx) {
                                Some(v) => v,
                                None => {
                                    empty += 1;
                                    $recv(&rx)
                                }
                            }
                        } else {
                            $recv(&rx)
                        };
                    }
                    assert_eq!(sum, n * (n - 1) / 2);
                    empty
                });
                finds.empty = c.join().unwrap();
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
                &q,
                |q: &&gilfree::queue::Queue<u64>| q.get().unwrap(),
                |q: &&gilfree::queue::Queue<u64>| q.try_get().ok()
            )
        }
        "simple" => {
            // `SimpleQueue`: unbounded whatever the second argument says.
            let q = gilfree::queue::SimpleQueue::new();
            drive!(
                |x| q.put(x),
                |x| -> Result<(), u64> {
                    q.put(x);
                    Ok(())
                },
                &q,
                |q: &&gilfree::queue::SimpleQueue<u64>| q.get(),
                |q: &&gilfree::queue::SimpleQueue<u64>| q.try_get().ok()
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
                &rx,
                |rx: &&crossbeam_channel::Receiver<u64>| rx.recv().unwrap(),
                |rx: &&crossbeam_channel::Receiver<u64>| rx.try_recv().ok()
            )
        }
        "std" => {
            if bounded {
                let (tx, rx) = std::sync::mpsc::sync_channel(BOUND);
                let rx = std::sync::Mutex::new(Some(rx));
                drive!(
                    |x| tx.send(x).unwrap(),
                    |x| tx.try_send(x).map_err(|e| match e {
                        std::sync::mpsc::TrySendError::Full(v) => v,
                        _ => panic!("disconnected"),
                    }),
                    rx.lock().unwrap().take().expect("one consumer"),
                    |rx: &std::sync::mpsc::Receiver<u64>| rx.recv().unwrap(),
                    |rx: &std::sync::mpsc::Receiver<u64>| rx.try_recv().ok()
                )
            } else {
                let (tx, rx) = std::sync::mpsc::channel();
                let rx = std::sync::Mutex::new(Some(rx));
                drive!(
                    |x| tx.send(x).unwrap(),
                    |x: u64| -> Result<(), u64> {
                        tx.send(x).unwrap();
                        Ok(())
                    },
                    rx.lock().unwrap().take().expect("one consumer"),
                    |rx: &std::sync::mpsc::Receiver<u64>| rx.recv().unwrap(),
                    |rx: &std::sync::mpsc::Receiver<u64>| rx.try_recv().ok()
                )
            }
        }
        _ => panic!("impl: gilfree, simple, crossbeam or std"),
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
    let count = a.iter().any(|s| s == "count");
    let reps: usize = a
        .iter()
        .find_map(|s| s.strip_prefix("reps=")?.parse().ok())
        .unwrap_or(1);
    for _ in 0..reps {
        let cpu0 = cpu_ns();
        let (ns, f) = run(imp, bounded, n, count);
        let cpu = (cpu_ns() - cpu0) as f64 / n as f64;
        print!(
            "{imp} {} n={n}: {ns:.1} ns/item, {cpu:.1} ns CPU/item",
            a[1]
        );
        if count {
            print!(
                ", consumer found empty {:.4}/item, producer found full {:.4}/item",
                f.empty as f64 / n as f64,
                f.full as f64 / n as f64
            );
        }
        println!();
    }
}

/// CPU time used by this process so far (all threads), in nanoseconds.
fn cpu_ns() -> u128 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as u128 * 1_000_000_000 + t.tv_nsec as u128
}
