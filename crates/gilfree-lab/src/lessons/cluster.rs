//! The same executor on a cluster: one CPU-bound map on
//! `ThreadPoolExecutor`, `ProcessPoolExecutor` and MPI's
//! `MpiPoolExecutor`, measured; an idle server rank's CPU use. Needs the
//! `mpi` feature and `mpiexec`; otherwise it prints the command to run.

#[cfg(feature = "mpi")]
use std::time::Instant;

#[cfg(feature = "mpi")]
use gilfree::cluster::MpiPoolExecutor;
#[cfg(feature = "mpi")]
use gilfree::futures::{MapOptions, ProcessPoolExecutor, ThreadPoolExecutor};

use super::{Ctx, LessonResult};
#[cfg(feature = "mpi")]
use crate::report::ms;
use crate::report::{explain, measure};

/// How many primes in the block `[k * BLOCK, (k + 1) * BLOCK)`: pure CPU,
/// as in the process-pool lesson.
#[cfg(feature = "mpi")]
#[gilfree::task]
fn primes_in_block(k: u64) -> u64 {
    (k * BLOCK..(k + 1) * BLOCK)
        .filter(|&n| {
            n >= 2
                && (2..)
                    .take_while(|d| d * d <= n)
                    .all(|d| !n.is_multiple_of(d))
        })
        .count() as u64
}

#[cfg(feature = "mpi")]
const BLOCK: u64 = 10_000;

/// A tiny call, for the round trip.
#[cfg(feature = "mpi")]
#[gilfree::task]
fn echo(x: u64) -> u64 {
    x
}

/// The server rank's pid and its CPU time so far (user + system, in clock
/// ticks, from /proc/self/stat).
#[cfg(feature = "mpi")]
#[gilfree::task]
fn rank_cpu() -> (u32, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    (std::process::id(), ticks)
}

const HOW: &str = "cargo build --release -p gilfree-lab --features mpi && \
                   mpiexec -n 3 target/release/gilfree-lab cluster";

pub fn run(ctx: &Ctx) -> LessonResult {
    #[cfg(feature = "mpi")]
    {
        if gilfree::cluster::world_size().is_some() {
            return on_mpi(ctx);
        }
    }
    let _ = ctx;
    measure(
        "needs",
        "the mpi feature and mpiexec (MPICH: apt-get install mpich libmpich-dev libclang-dev)",
    );
    measure("run", HOW);
    explain(
        "This lesson runs the same CPU-bound map on a thread pool, a process \
         pool and an MPI job's ranks. It needs to be built with the `mpi` \
         feature and started by mpiexec: rank 0 runs the lab, the other \
         ranks serve. Outside mpiexec, MpiPoolExecutor::new() fails with an \
         error that names that command, and the program runs on.",
    );
    Ok(())
}

#[cfg(feature = "mpi")]
fn on_mpi(ctx: &Ctx) -> LessonResult {
    let mpi = MpiPoolExecutor::new()?;
    let n = mpi.max_workers();
    let blocks: u64 = if ctx.fast { 8 } else { 200 };
    measure("ranks", format!("{} (rank 0 drives, {n} serve)", n + 1));
    measure(
        "work",
        format!(
            "count the primes below {} in {blocks} blocks",
            blocks * BLOCK
        ),
    );

    let t = Instant::now();
    let seq: u64 = (0..blocks).map(primes_in_block).sum();
    let t_seq = t.elapsed();

    // Every executor has `n` workers, started and warmed before the clock.
    let tpe = ThreadPoolExecutor::builder().max_workers(n).build()?;
    let ppe = ProcessPoolExecutor::builder().max_workers(n).build()?;
    let opts = MapOptions::new().chunksize(2);
    ppe.map(primes_in_block::TASK, 0..n as u64, MapOptions::new())?
        .sum::<Result<u64, _>>()?;
    mpi.map(primes_in_block::TASK, 0..n as u64, MapOptions::new())?
        .sum::<Result<u64, _>>()?;

    let t = Instant::now();
    let by_threads: u64 = tpe
        .map(primes_in_block, 0..blocks)?
        .sum::<Result<u64, _>>()?;
    let t_threads = t.elapsed();
    let t = Instant::now();
    let by_ppe: u64 = ppe
        .map(primes_in_block::TASK, 0..blocks, opts.clone())?
        .sum::<Result<u64, _>>()?;
    let t_ppe = t.elapsed();
    let t = Instant::now();
    let by_mpi: u64 = mpi
        .map(primes_in_block::TASK, 0..blocks, opts)?
        .sum::<Result<u64, _>>()?;
    let t_mpi = t.elapsed();
    if [by_threads, by_ppe, by_mpi].iter().any(|&x| x != seq) {
        return Err(format!("disagreement: {seq} / {by_threads} / {by_ppe} / {by_mpi}").into());
    }
    measure("primes found (all four agree)", seq);
    measure("sequential", ms(t_seq));
    let speedup = |d: std::time::Duration| t_seq.as_secs_f64() / d.as_secs_f64();
    for (what, d) in [
        ("ThreadPoolExecutor.map", t_threads),
        ("ProcessPoolExecutor.map", t_ppe),
        ("MpiPoolExecutor.map", t_mpi),
    ] {
        measure(what, format!("{} (speedup {:.2}×)", ms(d), speedup(d)));
    }

    // One tiny call's round trip, to a rank and to a process.
    let rounds = if ctx.fast { 200 } else { 5_000 };
    let t = Instant::now();
    for i in 0..rounds {
        mpi.submit(echo::TASK, (i,))?.result()?;
    }
    let mpi_rt = t.elapsed() / rounds as u32;
    let t = Instant::now();
    for i in 0..rounds {
        ppe.submit(echo::TASK, (i,))?.result()?;
    }
    let ppe_rt = t.elapsed() / rounds as u32;
    measure(
        "submit(..).result() round trip, MPI rank",
        format!("{:.1} µs", mpi_rt.as_secs_f64() * 1e6),
    );
    measure(
        "submit(..).result() round trip, process",
        format!("{:.1} µs", ppe_rt.as_secs_f64() * 1e6),
    );

    // An idle rank: its CPU time over a quiet second (both samples from
    // the same rank: an idle hub sends to the first rank with room).
    if !ctx.fast {
        let (pid, before) = mpi.submit(rank_cpu::TASK, ())?.result()?;
        let quiet = std::time::Duration::from_secs(1);
        std::thread::sleep(quiet); // the measured idle spell itself
        let (pid2, after) = mpi.submit(rank_cpu::TASK, ())?.result()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        if pid == pid2 {
            let share = after.saturating_sub(before) as f64 / hz / quiet.as_secs_f64();
            measure(
                "an idle server rank's CPU use",
                format!(
                    "{:.1}% of a core (pid {pid}, over {} ms)",
                    share * 100.0,
                    quiet.as_millis()
                ),
            );
        }
    }
    explain(
        "The three executors take the same map: the thread pool needs no \
         copying; the process pool and the MPI ranks receive encoded calls \
         (the same #[gilfree::task]s and wire format), so the code moved \
         from one machine to a cluster by changing only the executor. On \
         one machine the MPI ranks are processes like the pool's, so the \
         speedups are alike; across hosts (mpiexec -f hostfile) only the \
         MPI executor scales. A round trip to a rank costs a few \
         microseconds more than to a local process: one thread per rank \
         makes every MPI call, and an idle rank polls with a backoff up to \
         1 ms instead of spinning, so it stays far below 5% of a core.",
    );
    Ok(())
}
