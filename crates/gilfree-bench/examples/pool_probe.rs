//! A probe for `pool_map_cpu_2w` (issue #14, "Pool: two batches in flight"
//! in docs/design-notes.md): where a CPU-bound map's missing speedup goes.
//! It runs `maps` maps of `n` heavy items (the bench's `cpu::heavy`: 200
//! trial divisions, ~30 µs) on a 2-worker `Pool` and the same items
//! sequentially in this process, and prints, per map, from each thread's
//! `/proc/…/schedstat` (ns on a CPU, ns waiting on a run queue): each
//! worker's busy, run-queue and idle time (wall − busy − queued), and the
//! CPU of this process's threads (caller and supervisor); and each
//! worker's sleeps (voluntary switches), preemptions and migrations.
//!
//! ```text
//! pool_probe [n] [maps] [chunksize]
//! ```
//!
//! Idle time is what the scheduling costs; run-queue time is what the
//! rest of the machine (or this process's own threads) took from a worker.

use std::hint::black_box;
use std::time::Instant;

use gilfree::multiprocessing::Pool;

/// The bench's work item: 1 if `1_000_000 + i` is prime.
fn work(i: u64) -> u64 {
    let n = 1_000_000 + i;
    u64::from(
        (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d)),
    )
}

/// The bench's heavy item: work items `0..200`.
fn heavy(_i: u64) -> u64 {
    (0..200).map(|j| work(black_box(j))).sum()
}

#[gilfree::task]
fn heavy_item(i: u64) -> u64 {
    heavy(i)
}

/// (ns on a CPU, ns on a run queue) of every thread of `pid`.
fn schedstat(pid: i32) -> (u64, u64) {
    let mut t = (0, 0);
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return t;
    };
    for e in dir.flatten() {
        let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) else {
            continue;
        };
        let mut f = s.split_whitespace().map(|x| x.parse::<u64>().unwrap_or(0));
        t.0 += f.next().unwrap_or(0);
        t.1 += f.next().unwrap_or(0);
    }
    t
}

/// This process's CPU time, every thread's (live: a running thread's
/// `schedstat` lags by up to a tick).
fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// (voluntary switches, involuntary switches, migrations) of `pid`'s main
/// thread, from `/proc/<pid>/sched`.
fn switches(pid: i32) -> [u64; 3] {
    let s = std::fs::read_to_string(format!("/proc/{pid}/sched")).unwrap_or_default();
    let get = |key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.rsplit(':').next())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    [
        get("nr_voluntary_switches"),
        get("nr_involuntary_switches"),
        get("se.nr_migrations"),
    ]
}

#[gilfree::main]
fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    let n = args.next().flatten().unwrap_or(3300) as u64;
    let maps = args.next().flatten().unwrap_or(10);
    let chunksize = args.next().flatten();
    let pool = Pool::new(2).expect("pool");
    let _ = pool.map(heavy_item::TASK, 0..64u64, Some(1));
    let pids = pool.worker_pids();
    let ms = |ns: f64| ns / 1e6;
    let mut speedups = Vec::new();
    for _ in 0..maps {
        // The sequential run right before each map: a drift in the
        // machine's speed lands on both.
        let t = Instant::now();
        let acc: u64 = (0..n).map(|i| heavy(black_box(i))).sum();
        black_box(acc);
        let seq = t.elapsed().as_nanos() as f64;
        let before: Vec<_> = pids.iter().map(|&p| schedstat(p)).collect();
        let sw0: Vec<_> = pids.iter().map(|&p| switches(p)).collect();
        let parent0 = process_cpu_ns();
        let t = Instant::now();
        let v = pool.map(heavy_item::TASK, 0..n, chunksize).expect("map");
        let wall = t.elapsed().as_nanos() as f64;
        let parent1 = process_cpu_ns();
        black_box(v);
        let mut line = format!("map {:7.2} ms  speedup {:.3}", ms(wall), seq / wall);
        for ((p, b), s0) in pids.iter().zip(&before).zip(&sw0) {
            let a = schedstat(*p);
            let s1 = switches(*p);
            let (run, queued) = ((a.0 - b.0) as f64, (a.1 - b.1) as f64);
            line += &format!(
                "  | w{p} busy {:6.2} queued {:5.2} idle {:5.2} sleeps {} preempted {} migrated {}",
                ms(run),
                ms(queued),
                ms(wall - run - queued),
                s1[0] - s0[0],
                s1[1] - s0[1],
                s1[2] - s0[2],
            );
        }
        line += &format!("  | parent cpu {:5.2}", ms((parent1 - parent0) as f64));
        println!("{line}");
        speedups.push(seq / wall);
    }
    speedups.sort_by(f64::total_cmp);
    println!(
        "speedup median {:.3} (min {:.3}, max {:.3})",
        speedups[speedups.len() / 2],
        speedups[0],
        speedups[speedups.len() - 1]
    );
}
