//! Scale rows: what happens with many more threads than cores, with ten
//! million tasks, and at the tail of the latency distribution — the rows a
//! median time per operation cannot give.
//!
//! - `lock_contended_64t`: 32 threads per core (64 on 2 cores) increment one
//!   counter under the lock; ns per acquire+release, and in
//!   `lock_contended_64t_max_wait` the longest any thread went between two
//!   of its own acquisitions (a starved thread shows here, not in the
//!   throughput; the clock is read once per 64 acquisitions, so this is
//!   the longest 64 of them took). Peers: parking_lot (eventually fair),
//!   std. `--fixed-n N` runs N acquisitions in all instead of a fixed
//!   time, so `perf stat` and `strace -c` counts divide per acquisition.
//! - `queue_bounded_8p8c`: 4 producers and 4 consumers per core (8 and 8 on
//!   2 cores) through a bounded(1024) queue, public API only.
//! - `executor_10m_tasks`: 10 million tiny tasks through `map` with
//!   `buffersize`, summed as they come: ns per task, and in
//!   `executor_10m_tasks_peak_rss` the growth of the process's peak resident
//!   size over the run, in bytes (the "ns/op" column holds bytes there).
//!   Each run is a fresh child process (this program again, see
//!   [`rss_child_main`]), so rows share no high-water mark and no
//!   allocator free lists. `gilfree_tenth_n` runs a tenth of the tasks: the
//!   same peak says memory does not grow with N; `gilfree_16x_buffer` runs
//!   with 16 times the buffer, and the notes give the growth per added task
//!   in flight. Peers: rayon's
//!   `par_iter().map().sum()`, and CPython's `ThreadPoolExecutor.map` on at
//!   most 1 million tasks (one sample: it takes seconds), its time scaled
//!   per task.
//! - Latency percentiles (`_p50`, `_p99`, `_p999`, in ns per event) of
//!   `event_pingpong` (one round trip) and `queue_bounded_1p1c` (put to get,
//!   with a producer paced at one item per 2 µs, so the time measured is
//!   the hand-off, not the wait behind 1,024 queued items).
//!
//! Every row here is measured by [`record`]: a few runs of a fixed size per
//! impl, interleaved, each run giving one value per metric. Thread counts
//! scale with the cores; the run notes say how many there were.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::executor::{expected, tiny};
use super::primitives::{PlEvent, StdEvent};
use super::queue::{BOUND, mpmc};
use crate::harness::{Bench, Row, Sizes, case, median, run_threads};

/// The host's cores (at least 1).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs per impl: a scale row is expensive, and its spread is printed.
fn reps(b: &Bench) -> usize {
    if b.cfg.quick { 3 } else { 5 }.min(b.cfg.reps)
}

/// One impl of a multi-metric shape: a run returns one value per metric
/// (`NaN` where the impl has none).
struct Multi<'a> {
    imp: String,
    run: Box<dyn FnMut() -> Result<Vec<f64>, String> + 'a>,
    /// Fewer runs for a slow peer.
    max_reps: usize,
}

fn multi<'a>(imp: &str, mut run: impl FnMut() -> Vec<f64> + 'a) -> Multi<'a> {
    Multi {
        imp: imp.to_string(),
        run: Box::new(move || Ok(run())),
        max_reps: usize::MAX,
    }
}

/// Measure `cases`, one warm-up run each and then `reps` runs interleaved
/// in a rotating order (as `Bench::compare` does), and record one row per
/// (metric, impl): metric `k` is shape `shapes[k]`, `n` the operations in
/// one run.
fn record(b: &mut Bench, shapes: &[&str], n: u64, cases: Vec<Multi<'_>>) {
    let reps = reps(b);
    let mut cases: Vec<Multi<'_>> = cases.into_iter().filter(|c| b.wants_imp(&c.imp)).collect();
    if cases.is_empty() {
        return;
    }
    eprint!("{:<34}", shapes[0]);
    let began = Instant::now();
    let k = cases.len();
    let mut samples: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); shapes.len()]; k];
    let mut failed = vec![false; k];
    for rep in 0..=reps {
        for j in 0..k {
            let i = (j + rep) % k;
            let c = &mut cases[i];
            // Run 0 is the warm-up; a slow peer skips it and runs at most
            // `max_reps` times.
            if failed[i] || rep > c.max_reps || (rep == 0 && c.max_reps < reps) {
                continue;
            }
            match (c.run)() {
                Ok(v) if rep > 0 => {
                    for (m, x) in v.into_iter().enumerate() {
                        if x.is_finite() {
                            samples[i][m].push(x);
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    failed[i] = true;
                    b.note(format!("{}/{}: failed: {e}", shapes[0], c.imp));
                }
            }
        }
        eprint!(".");
    }
    eprintln!(" {:.1} s", began.elapsed().as_secs_f64());
    for (m, shape) in shapes.iter().enumerate() {
        for (i, c) in cases.iter().enumerate() {
            let mut s = std::mem::take(&mut samples[i][m]);
            if s.is_empty() {
                continue;
            }
            s.sort_by(f64::total_cmp);
            b.rows.push(Row {
                shape: shape.to_string(),
                imp: c.imp.clone(),
                median_ns: median(&s),
                min_ns: s[0],
                max_ns: s[s.len() - 1],
                n,
                reps: s.len(),
            });
        }
    }
}

/// Every scale row, in table order.
pub fn scale_rows(b: &mut Bench) {
    lock_contended_64t(b);
    queue_bounded_8p8c(b);
    executor_10m_tasks(b);
    event_pingpong_latency(b);
    queue_bounded_1p1c_latency(b);
}

/// [`contend`] reads the clock once per this many ops: a clock read costs
/// more than an uncontended acquire and release (read every op, it was
/// ~75% of the row's CPU time), and a wait is still seen, as part of the
/// gap between two reads (at most this many ops longer than the wait).
const CLOCK_EVERY: u64 = 64;

/// How long each thread of [`contend`] keeps going.
#[derive(Clone, Copy)]
enum Until {
    /// For this long (the benchmark's mode).
    Span(Duration),
    /// For this many ops of its own (`--fixed-n`: a known op count, so
    /// `perf stat` and `strace -c` totals divide into counts per op).
    Ops(u64),
}

/// `threads` threads each run `op` (acquire, increment, release) over and
/// over, all at once, until `until`. Returns [ns per op over all threads,
/// the longest any thread went between two clock reads (from its start,
/// or over [`CLOCK_EVERY`] of its ops), in ns], and the number of ops.
fn contend(threads: usize, until: Until, op: impl Fn() + Sync) -> (Vec<f64>, u64) {
    let (worst, ops) = (AtomicU64::new(0), AtomicU64::new(0));
    let d = run_threads(threads, |_| {
        let mut longest = Duration::ZERO;
        let mut count = 0u64;
        let start = Instant::now();
        let mut last = start;
        while match until {
            Until::Span(span) => last - start < span,
            Until::Ops(n) => count < n,
        } {
            for _ in 0..CLOCK_EVERY {
                op();
            }
            count += CLOCK_EVERY;
            let now = Instant::now();
            longest = longest.max(now - last);
            last = now;
        }
        worst.fetch_max(longest.as_nanos() as u64, Relaxed);
        ops.fetch_add(count, Relaxed);
    });
    let ops = ops.into_inner();
    (
        vec![d.as_nanos() as f64 / ops as f64, worst.into_inner() as f64],
        ops,
    )
}

/// 32 threads per core on one lock: throughput, and the longest wait of
/// any thread (see the module doc). Each run lasts a fixed time, so every
/// thread contends for all of it: a thread starved by the others shows as
/// a wait as long as the run. With `--fixed-n N` each run is N ops in all
/// instead (N / threads per thread), for counting per op.
pub fn lock_contended_64t(b: &mut Bench) {
    const SHAPES: [&str; 2] = ["lock_contended_64t", "lock_contended_64t_max_wait"];
    if !SHAPES.iter().any(|s| b.wants(s)) {
        return;
    }
    let threads = 32 * cores().max(2);
    let span = Duration::from_millis(if b.cfg.quick { 30 } else { 300 });
    let until = match b.cfg.fixed_n {
        Some(n) => Until::Ops((n / threads as u64).max(1).next_multiple_of(CLOCK_EVERY)),
        None => Until::Span(span),
    };
    let how = match until {
        Until::Ops(n) => format!("{n} ops each per run"),
        Until::Span(_) => format!("for {} ms per run", span.as_millis()),
    };
    b.note(format!(
        "{}: {} cores, {threads} threads contending {how}; {} is in ns",
        SHAPES[0],
        cores(),
        SHAPES[1]
    ));
    let check = |got: u64, ops: u64| assert_eq!(got, ops, "lost increments");
    record(
        b,
        &SHAPES,
        0,
        vec![
            multi("gilfree", || {
                let l = gilfree::threading::Lock::new(0u64);
                let (r, ops) = contend(threads, until, || *l.acquire() += 1);
                check(l.into_inner(), ops);
                r
            }),
            multi("parking_lot", || {
                let l = parking_lot::Mutex::new(0u64);
                let (r, ops) = contend(threads, until, || *l.lock() += 1);
                check(l.into_inner(), ops);
                r
            }),
            multi("std", || {
                let l = std::sync::Mutex::new(0u64);
                let (r, ops) = contend(threads, until, || *l.lock().unwrap() += 1);
                check(l.into_inner().unwrap(), ops);
                r
            }),
        ],
    );
}

/// Bounded(1024), 4 producers and 4 consumers per core; one op is one item.
pub fn queue_bounded_8p8c(b: &mut Bench) {
    let p = 4 * cores().max(2);
    if b.wants("queue_bounded_8p8c") {
        b.note(format!(
            "queue_bounded_8p8c: {} cores, {p} producers, {p} consumers",
            cores()
        ));
    }
    let cases = vec![
        case("gilfree", move |n| {
            let q = gilfree::queue::Queue::new(BOUND);
            mpmc(
                p,
                p,
                n,
                |x| q.put(x).unwrap(),
                |k| (0..k).map(|_| q.get().unwrap()).sum(),
            )
        }),
        case("crossbeam", move |n| {
            let (tx, rx) = crossbeam_channel::bounded(BOUND);
            mpmc(
                p,
                p,
                n,
                |x| tx.send(x).unwrap(),
                |k| (0..k).map(|_| rx.recv().unwrap()).sum(),
            )
        }),
        case("flume", move |n| {
            let (tx, rx) = flume::bounded(BOUND);
            mpmc(
                p,
                p,
                n,
                |x| tx.send(x).unwrap(),
                |k| (0..k).map(|_| rx.recv().unwrap()).sum(),
            )
        }),
    ];
    b.compare("queue_bounded_8p8c", Sizes::HANDOFF, cases);
}

/// A status line of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes.
fn proc_status_bytes(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len() + 1..]
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Items `map` may read ahead of the results in `executor_10m_tasks`.
pub const TASKS_BUFFERSIZE: usize = 1024;

/// The environment variable that makes this program an
/// `executor_10m_tasks` child: `IMPL:N:THREADS:BUFFERSIZE`.
const RSS_CHILD: &str = "GILFREE_BENCH_RSS_CHILD";

/// If this process is an `executor_10m_tasks` child, run its one job and
/// return; `main` calls it first. The child builds its pool and starts
/// every worker, notes its resident size, runs the N tasks, and prints
/// `NS_PER_TASK PEAK_GROWTH_BYTES` (peak RSS over the run minus resident
/// size before it): a fresh process per run, so no run inherits another's
/// high-water mark or its allocator's free lists.
pub fn rss_child_main() -> Option<std::process::ExitCode> {
    use rayon::prelude::*;
    let spec = std::env::var(RSS_CHILD).ok()?;
    let mut it = spec.split(':');
    let (imp, n, threads, buffersize) = (
        it.next().unwrap_or(""),
        it.next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0),
        it.next().and_then(|s| s.parse::<usize>().ok()).unwrap_or(1),
        it.next()
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(TASKS_BUFFERSIZE),
    );
    let (sum, d, base) = match imp {
        "gilfree" => {
            let pool = gilfree::futures::ThreadPoolExecutor::builder()
                .max_workers(threads)
                .build()
                .expect("gilfree pool");
            let warm: Vec<_> = (0..4 * threads as u64)
                .map(|i| pool.submit(move || tiny(i)).unwrap())
                .collect();
            warm.into_iter().for_each(|f| drop(f.into_result()));
            let base = proc_status_bytes("VmRSS");
            let t = Instant::now();
            let opts = gilfree::futures::MapOptions::new().buffersize(buffersize);
            let sum = pool
                .map_with(tiny, 0..n, opts)
                .unwrap()
                .map(Result::unwrap)
                .sum::<u64>();
            (sum, t.elapsed(), base)
        }
        "rayon" => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("rayon pool");
            pool.install(|| (0..64u64).into_par_iter().map(tiny).sum::<u64>());
            let base = proc_status_bytes("VmRSS");
            let t = Instant::now();
            let sum = pool.install(|| (0..n).into_par_iter().map(tiny).sum::<u64>());
            (sum, t.elapsed(), base)
        }
        _ => {
            eprintln!("{RSS_CHILD}: unknown impl {imp:?}");
            return Some(std::process::ExitCode::FAILURE);
        }
    };
    assert_eq!(sum, expected(n));
    let growth = match (base, proc_status_bytes("VmHWM")) {
        // At least one byte, so the log-scale chart can draw the row.
        (Some(b), Some(p)) => p.saturating_sub(b).max(1) as f64,
        _ => f64::NAN,
    };
    println!("{} {growth}", d.as_nanos() as f64 / n.max(1) as f64);
    Some(std::process::ExitCode::SUCCESS)
}

/// Run one `executor_10m_tasks` child; [ns per task, peak growth bytes].
fn rss_child(imp: &str, n: u64, threads: usize, buffersize: usize) -> Result<Vec<f64>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .env(RSS_CHILD, format!("{imp}:{n}:{threads}:{buffersize}"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("child exited with {}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(f64::NAN))
        .collect();
    if v.len() != 2 {
        return Err(format!("child said {text:?}"));
    }
    Ok(v)
}

/// 10M tiny tasks through `map` with `buffersize` (see the module doc).
pub fn executor_10m_tasks(b: &mut Bench) {
    const SHAPES: [&str; 2] = ["executor_10m_tasks", "executor_10m_tasks_peak_rss"];
    if !SHAPES.iter().any(|s| b.wants(s)) {
        return;
    }
    let n: u64 = if b.cfg.quick { 100_000 } else { 10_000_000 };
    let threads = b.cfg.threads;
    b.note(format!(
        "{}: {} cores, {threads} workers, {n} tasks, buffersize {TASKS_BUFFERSIZE}, each run in a \
         fresh child process; CPython on min(N, 1M), one sample; {} is bytes of peak-RSS growth",
        SHAPES[0],
        cores(),
        SHAPES[1]
    ));
    let child =
        |imp: &'static str, label: &str, m: u64, buffersize: usize, keep_time: bool| Multi {
            imp: label.to_string(),
            run: Box::new(move || {
                let mut v = rss_child(imp, m, threads, buffersize)?;
                if !keep_time {
                    v[0] = f64::NAN;
                }
                Ok(v)
            }),
            max_reps: usize::MAX,
        };
    let mut cases = vec![
        child("gilfree", "gilfree", n, TASKS_BUFFERSIZE, true),
        child(
            "gilfree",
            "gilfree_tenth_n",
            n / 10,
            TASKS_BUFFERSIZE,
            false,
        ),
        child(
            "gilfree",
            "gilfree_16x_buffer",
            n,
            16 * TASKS_BUFFERSIZE,
            false,
        ),
        child("rayon", "rayon", n, TASKS_BUFFERSIZE, true),
    ];
    for mut c in b.peer_cases(SHAPES[0]) {
        let name = c.imp().to_string();
        cases.push(Multi {
            imp: name,
            run: Box::new(move || Ok(vec![c.run(n)?.as_nanos() as f64 / n as f64, f64::NAN])),
            max_reps: 1,
        });
    }
    record(b, &SHAPES, n, cases);
    // What one more task in flight costs: the peak's growth from
    // `buffersize` 1024 to 16 × 1024, per added task.
    let peak = |imp: &str| {
        b.rows
            .iter()
            .find(|r| r.shape == SHAPES[1] && r.imp == imp)
            .map(|r| r.median_ns)
    };
    if let (Some(one), Some(many)) = (peak("gilfree"), peak("gilfree_16x_buffer")) {
        let per = (many - one) / (15 * TASKS_BUFFERSIZE) as f64;
        b.note(format!(
            "{}: {per:.0} B of peak RSS per task in flight (the growth from buffersize \
             {TASKS_BUFFERSIZE} to {}, per added task; target ≤ 64)",
            SHAPES[1],
            16 * TASKS_BUFFERSIZE
        ));
    }
}

/// The 50th, 99th and 99.9th percentiles of `v`, in ns.
fn percentiles(mut v: Vec<u64>) -> Vec<f64> {
    v.sort_unstable();
    let at = |p: f64| v[((p * v.len() as f64) as usize).min(v.len() - 1)] as f64;
    vec![at(0.50), at(0.99), at(0.999)]
}

/// Round-trip latency percentiles of `event_pingpong`.
pub fn event_pingpong_latency(b: &mut Bench) {
    const SHAPES: [&str; 3] = [
        "event_pingpong_p50",
        "event_pingpong_p99",
        "event_pingpong_p999",
    ];
    if !SHAPES.iter().any(|s| b.wants(s)) {
        return;
    }
    let rounds: u64 = if b.cfg.quick { 2_000 } else { 20_000 };
    macro_rules! pingpong {
        ($ev:expr) => {
            || {
                let (ping, pong) = ($ev, $ev);
                let times = Mutex::new(Vec::new());
                run_threads(2, |i| {
                    if i == 0 {
                        let mut v = Vec::with_capacity(rounds as usize);
                        for _ in 0..rounds {
                            let t = Instant::now();
                            ping.set();
                            pong.wait();
                            pong.clear();
                            v.push(t.elapsed().as_nanos() as u64);
                        }
                        *times.lock().unwrap() = v;
                    } else {
                        for _ in 0..rounds {
                            ping.wait();
                            ping.clear();
                            pong.set();
                        }
                    }
                });
                percentiles(times.into_inner().unwrap())
            }
        };
    }
    record(
        b,
        &SHAPES,
        rounds,
        vec![
            multi("gilfree", pingpong!(gilfree::threading::Event::new())),
            multi("std", pingpong!(StdEvent::new())),
            multi("parking_lot", pingpong!(PlEvent::new())),
        ],
    );
}

/// Put-to-get latency percentiles through a bounded(1024) queue, 1
/// producer paced at one item per 2 µs, 1 consumer.
pub fn queue_bounded_1p1c_latency(b: &mut Bench) {
    const SHAPES: [&str; 3] = [
        "queue_bounded_1p1c_p50",
        "queue_bounded_1p1c_p99",
        "queue_bounded_1p1c_p999",
    ];
    if !SHAPES.iter().any(|s| b.wants(s)) {
        return;
    }
    let items: u64 = if b.cfg.quick { 5_000 } else { 50_000 };
    const PACE: Duration = Duration::from_micros(2);
    /// Producer `send(stamp)` for each item, at most one per `PACE`;
    /// consumer `recv()` each, noting now − stamp.
    fn latency(items: u64, send: impl Fn(u64) + Sync, recv: impl Fn() -> u64 + Sync) -> Vec<f64> {
        let base = Instant::now();
        let times = Mutex::new(Vec::new());
        run_threads(2, |i| {
            if i == 0 {
                let mut next = Instant::now();
                for _ in 0..items {
                    while Instant::now() < next {
                        std::hint::spin_loop();
                    }
                    next += PACE;
                    send(base.elapsed().as_nanos() as u64);
                }
            } else {
                let mut v = Vec::with_capacity(items as usize);
                for _ in 0..items {
                    let stamp = recv();
                    v.push((base.elapsed().as_nanos() as u64).saturating_sub(stamp));
                }
                *times.lock().unwrap() = v;
            }
        });
        percentiles(times.into_inner().unwrap())
    }
    record(
        b,
        &SHAPES,
        items,
        vec![
            multi("gilfree", || {
                let q = gilfree::queue::Queue::new(BOUND);
                latency(items, |x| q.put(x).unwrap(), || q.get().unwrap())
            }),
            multi("crossbeam", || {
                let (tx, rx) = crossbeam_channel::bounded(BOUND);
                latency(items, |x| tx.send(x).unwrap(), || rx.recv().unwrap())
            }),
            multi("flume", || {
                let (tx, rx) = flume::bounded(BOUND);
                latency(items, |x| tx.send(x).unwrap(), || rx.recv().unwrap())
            }),
        ],
    );
}
