//! A probe for the queue wait/wake mechanism (issue #18, "Queue wait/wake,
//! round 3" in docs/design-notes.md): one producer sends `0..n` through a
//! queue, one consumer takes them, and the run prints ns per item. Run it
//! under `perf stat -e instructions,context-switches` or
//! `strace -f -c -e trace=futex,sched_yield` to get per-item counts.
//!
//! ```text
//! queue_probe <gilfree|simple|crossbeam|std> <bounded|unbounded> <n> [count] [lead] [reps=R]
//! queue_probe costs
//! queue_probe solo [n]
//! ```
//!
//! With `count`, each side first tries without blocking and counts how often
//! it found the queue empty (consumer) or full (producer) before the blocking
//! call; this adds one failed try to each such wait, nothing else.
//! With `lead`, the consumer samples the queue's length every 256 items (not
//! for std, which has no length) and the run prints how the producer's lead
//! was spread: 0, under a block (31 items), or a block or more.
//! `simple` is gilfree's `SimpleQueue` (always unbounded). `reps=R` runs
//! it R times in one process (as the benchmark's samples do) and prints
//! each run's wall and CPU time per item.
//! `solo` puts and gets on one thread, 16 at a time (each path's own cost).
//! `costs` measures, on this host and in this run, what a waiter's options
//! cost: a spin pause, a `sched_yield`, a `futex_wake` nobody waits on, and
//! a futex ping-pong round trip between two threads.

use std::sync::atomic::{AtomicU32, Ordering::*};
use std::time::Instant;

/// Counts kept by each side when `count` is on, and the consumer's samples
/// of the queue's length (the producer's lead) when `lead` is on.
#[derive(Default)]
struct Finds {
    empty: u64,
    full: u64,
    leads: Vec<usize>,
}

/// With `lead`, the consumer reads the queue's length once per this many
/// items (a read of both ends: rare enough not to change the regime).
const LEAD_EVERY: u64 = 256;

fn run(imp: &str, bounded: bool, n: u64, count: bool, lead: bool) -> (f64, Finds) {
    const BOUND: usize = 1024;
    let t0 = Instant::now();
    let mut finds = Finds::default();
    macro_rules! drive {
        // `$rx` runs on the consumer's thread and gives what `$recv` and
        // `$try_recv` take (std's `Receiver` is `Send` but not `Sync`).
        ($send:expr, $try_send:expr, $rx:expr, $recv:expr, $try_recv:expr, $len:expr) => {{
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
                    let mut leads = Vec::with_capacity(if lead {
                        (n / LEAD_EVERY) as usize + 1
                    } else {
                        0
                    });
                    for i in 0..n {
                        if lead && i % LEAD_EVERY == 0 {
                            leads.push($len(&rx));
                        }
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
                    (empty, leads)
                });
                (finds.empty, finds.leads) = c.join().unwrap();
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
                |q: &&gilfree::queue::Queue<u64>| q.try_get().ok(),
                |q: &&gilfree::queue::Queue<u64>| q.qsize()
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
                |q: &&gilfree::queue::SimpleQueue<u64>| q.try_get().ok(),
                |q: &&gilfree::queue::SimpleQueue<u64>| q.qsize()
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
                |rx: &&crossbeam_channel::Receiver<u64>| rx.try_recv().ok(),
                |rx: &&crossbeam_channel::Receiver<u64>| rx.len()
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
                    |rx: &std::sync::mpsc::Receiver<u64>| rx.try_recv().ok(),
                    |_: &std::sync::mpsc::Receiver<u64>| 0usize
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
                    |rx: &std::sync::mpsc::Receiver<u64>| rx.try_recv().ok(),
                    |_: &std::sync::mpsc::Receiver<u64>| 0usize
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

/// One thread puts 16 items, then gets them, `n / 16` times: the path's own
/// cost per item (its locked instructions, no other core's cache lines).
fn solo(n: u64) {
    /// ns per item of `n` items through `put` and `get` on one thread.
    fn run(n: u64, sum: &mut u64, put: impl Fn(u64), get: impl Fn() -> u64) -> f64 {
        let t = Instant::now();
        for i in 0..n / 16 {
            for x in 0..16 {
                put(i + x);
            }
            for _ in 0..16 {
                *sum += get();
            }
        }
        t.elapsed().as_nanos() as f64 / n as f64
    }
    for _ in 0..3 {
        let q = gilfree::queue::Queue::new(0);
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut sum = 0u64;
        let g = run(n, &mut sum, |v| q.put(v).unwrap(), || q.get().unwrap());
        let c = run(n, &mut sum, |v| tx.send(v).unwrap(), || rx.recv().unwrap());
        println!("solo n={n}: gilfree {g:.2} ns/item, crossbeam {c:.2} ns/item (sum {sum})");
    }
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.first().map(String::as_str) == Some("costs") {
        return costs();
    }
    if a.first().map(String::as_str) == Some("solo") {
        return solo(a.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000_000));
    }
    let imp = a.first().expect("impl");
    let bounded = a.get(1).map(String::as_str) == Some("bounded");
    let n: u64 = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let count = a.iter().any(|s| s == "count");
    let lead = a.iter().any(|s| s == "lead");
    let reps: usize = a
        .iter()
        .find_map(|s| s.strip_prefix("reps=")?.parse().ok())
        .unwrap_or(1);
    for _ in 0..reps {
        let cpu0 = cpu_ns();
        let (ns, mut f) = run(imp, bounded, n, count, lead);
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
        if lead {
            // The producer's lead as the consumer saw it: 0 (caught up), less
            // than a block (31 slots: the two share the block's lines), or
            // at least a block ahead (they work on different lines).
            let k = f.leads.len().max(1) as f64;
            let zero = f.leads.iter().filter(|&&l| l == 0).count() as f64 / k;
            let short = f.leads.iter().filter(|&&l| l > 0 && l < 31).count() as f64 / k;
            f.leads.sort_unstable();
            let med = f.leads.get(f.leads.len() / 2).copied().unwrap_or(0);
            print!(
                ", lead 0: {:.0}%, 1-30: {:.0}%, ≥31: {:.0}%, median {med}",
                zero * 100.0,
                short * 100.0,
                (1.0 - zero - short) * 100.0
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
