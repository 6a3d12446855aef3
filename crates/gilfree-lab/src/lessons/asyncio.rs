//! Lesson `asyncio`: one thread running many tasks that wait cooperatively
//! (Python's `asyncio`; Rust's `async`/`.await` on tokio). 10,000
//! simulated downloads as 10,000 threads and as 10,000 tasks, timed, with
//! each run's peak memory taken in a child process of its own (so the two
//! do not share one high-water mark); a producer/consumer on gilfree's
//! `Queue` with `put_async`/`get_async`; and a blocking call inside
//! async code stalling every task on the thread, measured, then moved to
//! the blocking pool (`asyncio.to_thread`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use gilfree::multiprocessing::Process;
use gilfree::queue::Queue;

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

/// This process's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `n` downloads that each wait `wait_ms` (a server's answer), on `n`
/// threads. Returns (seconds, peak RSS in KiB, threads started): a machine
/// that refuses more threads ends the run early, and says how many ran.
#[gilfree::task]
fn downloads_on_threads(n: usize, wait_ms: u64) -> (f64, u64, usize) {
    let t0 = Instant::now();
    let mut hs = Vec::with_capacity(n);
    for _ in 0..n {
        match std::thread::Builder::new()
            .spawn(move || std::thread::sleep(Duration::from_millis(wait_ms)))
        {
            Ok(h) => hs.push(h),
            Err(_) => break,
        }
    }
    let started = hs.len();
    for h in hs {
        let _ = h.join();
    }
    (t0.elapsed().as_secs_f64(), peak_rss_kib(), started)
}

/// The same `n` downloads as tasks on one thread (a current-thread
/// runtime, asyncio's one event loop). Returns (seconds, peak RSS in KiB).
#[gilfree::task]
fn downloads_as_tasks(n: usize, wait_ms: u64) -> (f64, u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let t0 = Instant::now();
    rt.block_on(async {
        let hs: Vec<_> = (0..n)
            .map(|_| tokio::spawn(tokio::time::sleep(Duration::from_millis(wait_ms))))
            .collect();
        for h in hs {
            let _ = h.await;
        }
    });
    (t0.elapsed().as_secs_f64(), peak_rss_kib())
}

/// A child that does nothing: the baseline peak RSS of a lab process.
#[gilfree::task]
fn baseline_rss() -> u64 {
    peak_rss_kib()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A gilfree `Queue` of `cap` slots between `producers` tasks that put
/// `per` numbers each (`put_async`) and `consumers` tasks that get until the
/// queue is shut down (`get_async`), on a two-thread runtime. Returns
/// (items, sum, seconds).
fn producer_consumer(producers: u64, consumers: u64, per: u64, cap: usize) -> (u64, u64, f64) {
    let q = Arc::new(Queue::new(cap));
    let (got, sum) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    let t0 = Instant::now();
    rt.block_on(async {
        let ps: Vec<_> = (0..producers)
            .map(|p| {
                let q = q.clone();
                tokio::spawn(async move {
                    for i in 0..per {
                        // Waits as a task while the queue is full.
                        q.put_async(p * per + i).await.expect("queue open");
                    }
                })
            })
            .collect();
        let cs: Vec<_> = (0..consumers)
            .map(|_| {
                let (q, got, sum) = (q.clone(), got.clone(), sum.clone());
                tokio::spawn(async move {
                    // Waits as a task while the queue is empty; ends once
                    // it is shut down and drained.
                    while let Ok(v) = q.get_async().await {
                        got.fetch_add(1, Relaxed);
                        sum.fetch_add(v, Relaxed);
                    }
                })
            })
            .collect();
        for p in ps {
            p.await.expect("a producer");
        }
        q.shutdown(false); // the consumers drain what is left, then stop
        for c in cs {
            c.await.expect("a consumer");
        }
    });
    (
        got.load(Relaxed),
        sum.load(Relaxed),
        t0.elapsed().as_secs_f64(),
    )
}

/// `tasks` tasks on one thread each wait `tick` ten times; one more task
/// makes a call of `stall` — `blocking` (`std::thread::sleep`, as a
/// blocking read or `Lock::acquire` would), or moved to the blocking pool
/// (`spawn_blocking`), or none. Returns the worst lateness of a tick.
fn worst_lateness(tasks: usize, tick: Duration, stall: Option<(Duration, bool)>) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let mut hs = Vec::new();
        for _ in 0..tasks {
            hs.push(tokio::spawn(async move {
                let mut worst = Duration::ZERO;
                for _ in 0..10 {
                    let t = Instant::now();
                    tokio::time::sleep(tick).await;
                    worst = worst.max(t.elapsed().saturating_sub(tick));
                }
                worst
            }));
        }
        if let Some((d, blocking)) = stall {
            tokio::spawn(async move {
                tokio::time::sleep(tick * 3).await;
                if blocking {
                    std::thread::sleep(d); // the whole thread stops here
                } else {
                    tokio::task::spawn_blocking(move || std::thread::sleep(d))
                        .await
                        .expect("the blocking call");
                }
            });
        }
        let mut worst = Duration::ZERO;
        for h in hs {
            worst = worst.max(h.await.expect("a task"));
        }
        worst
    })
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let (n, wait_ms) = if ctx.fast { (1_000, 50) } else { (10_000, 200) };

    measure(
        "downloads",
        format!("{n}, each waiting {wait_ms} ms for its server"),
    );
    let base = {
        let p = Process::new(baseline_rss::TASK, ())?;
        p.start()?;
        p.result()?
    };
    let p = Process::new(downloads_on_threads::TASK, (n, wait_ms))?;
    p.start()?;
    let (t_threads, rss_threads, started) = p.result()?;
    let p = Process::new(downloads_as_tasks::TASK, (n, wait_ms))?;
    p.start()?;
    let (t_tasks, rss_tasks) = p.result()?;
    let extra = |kib: u64| kib.saturating_sub(base);
    measure("a lab process's peak RSS (baseline)", mib(base));
    measure(
        &format!("{started} threads"),
        format!(
            "{:>10}   peak RSS +{} ({:.1} KiB each)",
            ms(Duration::from_secs_f64(t_threads)),
            mib(extra(rss_threads)),
            extra(rss_threads) as f64 / started.max(1) as f64
        ),
    );
    measure(
        &format!("{n} tasks on one thread"),
        format!(
            "{:>10}   peak RSS +{} ({:.2} KiB each)",
            ms(Duration::from_secs_f64(t_tasks)),
            mib(extra(rss_tasks)),
            extra(rss_tasks) as f64 / n as f64
        ),
    );
    if started < n {
        measure("threads refused after", started);
    }
    explain(
        "Every download waits at the same time either way, so both take \
         about one wait plus the cost of starting them: a thread is a kernel \
         object with its own stack (the pages it touched stay resident) and \
         a clone() to start, a task is a small state machine in one \
         thread's memory, started by pushing it on a queue. That is \
         asyncio's case: many waits that need no CPU. Each run is measured \
         in a fresh child process, so one peak cannot hide the other.",
    );

    let (producers, consumers, per) = if ctx.fast {
        (4, 4, 2_000)
    } else {
        (8, 8, 20_000)
    };
    let (got, sum, secs) = producer_consumer(producers, consumers, per, 64);
    let total = producers * per;
    measure(
        "producer/consumer (async waits)",
        format!(
            "{producers} producers, {consumers} consumers, Queue(64): {got}/{total} items, \
             sum {}, {:.2} M items/s",
            if sum == total * (total - 1) / 2 {
                "exact"
            } else {
                "WRONG"
            },
            got as f64 / secs / 1e6
        ),
    );
    explain(
        "The queue is gilfree's Queue, the one the threading lesson uses; \
         put_async and get_async are its waits as .awaits (asyncio.Queue's \
         await q.put / await q.get), so a full queue parks the producer \
         task, not its thread, and threads may put and get on the same \
         queue at the same time. shutdown() ends the consumers once they \
         have drained it.",
    );

    let (tasks, tick) = (100, Duration::from_millis(5));
    let stall = Duration::from_millis(if ctx.fast { 100 } else { 300 });
    let calm = worst_lateness(tasks, tick, None);
    let blocked = worst_lateness(tasks, tick, Some((stall, true)));
    let moved = worst_lateness(tasks, tick, Some((stall, false)));
    measure(
        &format!("{tasks} tasks ticking every {}", ms(tick)),
        format!("worst lateness {}", ms(calm)),
    );
    measure(
        &format!("… one task blocks {}", ms(stall)),
        format!("worst lateness {}", ms(blocked)),
    );
    measure(
        "… the call moved to spawn_blocking",
        format!("worst lateness {}", ms(moved)),
    );
    explain(
        "Tasks take turns on one thread, and a task gives the thread back \
         only at an .await. A blocking call (a sleep, a blocking read, \
         Lock::acquire instead of acquire_async) holds the thread, and every \
         other task waits out the whole call: the ticks come late by about \
         the call's length. Move such a call to the blocking pool \
         (tokio::task::spawn_blocking, Python's asyncio.to_thread) and the \
         loop runs on.",
    );
    Ok(())
}
