//! The cluster executor (issue 16, feature `mpi`): one tiny call's round
//! trip (`submit(...).result()`, one at a time) and a map of tiny calls in
//! chunks of 1000, on the N-1 server ranks of `mpiexec -n N gilfree-bench`
//! (N = 3 in the README; a note names N, since the rows depend on it: with
//! N = 3 on 2 cores a round trip shares them with an idle third rank).
//!
//! Impls: gilfree's `cluster::MpiPoolExecutor` (`gilfree`), gilfree's
//! `ProcessPoolExecutor` with N-1 workers on the same machine
//! (`gilfree-ppe`), and mpi4py's `mpi4py.futures.MPIPoolExecutor` on N-1
//! server ranks (`mpi4py`: `python/cpython_peers.py --mpi4py`, its own
//! `mpiexec -n N` job, served like every peer). Executors start and warm
//! once, outside the timed region. One op is one call. Outside `mpiexec`
//! these rows are skipped with the command to run.

use std::hint::black_box;
use std::time::Instant;

use gilfree::cluster::MpiPoolExecutor;
use gilfree::futures::{MapOptions, ProcessPoolExecutor};

use crate::harness::{Bench, Sizes, case};

/// The tiny call: as `tiny` in `python/cpython_peers.py`.
#[gilfree::task]
fn tiny(x: u64) -> u64 {
    x * 2 + 1
}

/// Calls per chunk in `cluster_map_tiny` (mpi4py's too).
pub const CHUNK: usize = 1000;

/// The cluster rows: `cluster_submit_result`, `cluster_map_tiny`.
pub fn cluster_rows(b: &mut Bench) {
    let wanted = ["cluster_submit_result", "cluster_map_tiny"];
    if !wanted.iter().any(|s| b.wants(s)) {
        return;
    }
    let mpi = match MpiPoolExecutor::new() {
        Ok(p) => p,
        Err(e) => {
            b.note(format!(
                "cluster rows skipped: {e} (run `mpiexec -n 3 target/release/gilfree-bench --only 'cluster_*'`)"
            ));
            return;
        }
    };
    let servers = mpi.max_workers();
    b.note(format!(
        "cluster rows: mpiexec -n {}: rank 0 drives {servers} server {}, \
         gilfree-ppe has as many workers (submit_result's calls all go to rank 1)",
        servers + 1,
        if servers == 1 { "rank" } else { "ranks" }
    ));
    let ppe = match ProcessPoolExecutor::builder().max_workers(servers).build() {
        Ok(p) => Some(p),
        Err(e) => {
            b.note(format!("cluster rows: ProcessPoolExecutor left out: {e}"));
            None
        }
    };
    // Warm: every rank and worker has run a few calls.
    let warm = MapOptions::new().chunksize(8);
    let _ = mpi
        .map(tiny::TASK, 0..64u64, warm.clone())
        .map(|m| m.count());
    if let Some(p) = &ppe {
        let _ = p.map(tiny::TASK, 0..64u64, warm).map(|m| m.count());
    }
    let round_trip = |n: u64, submit: &dyn Fn(u64) -> u64| {
        let t = Instant::now();
        let mut acc = 0;
        for i in 0..n {
            acc += submit(i);
        }
        black_box(acc);
        t.elapsed()
    };
    let mut cases = vec![case("gilfree", |n| {
        round_trip(n, &|i| {
            mpi.submit(tiny::TASK, (i,)).unwrap().result().unwrap()
        })
    })];
    if let Some(p) = &ppe {
        cases.push(case("gilfree-ppe", move |n| {
            round_trip(n, &|i| {
                p.submit(tiny::TASK, (i,)).unwrap().result().unwrap()
            })
        }));
    }
    b.compare("cluster_submit_result", Sizes::HANDOFF, cases);

    let map = |n: u64, run: &dyn Fn(u64) -> u64| {
        let t = Instant::now();
        let sum = run(n);
        let d = t.elapsed();
        assert_eq!(sum, n * n, "every call once");
        d
    };
    let opts = MapOptions::new().chunksize(CHUNK);
    let mut cases = vec![case("gilfree", |n| {
        map(n, &|n| {
            mpi.map(tiny::TASK, 0..n, opts.clone())
                .unwrap()
                .map(Result::unwrap)
                .sum()
        })
    })];
    if let Some(p) = &ppe {
        let opts = opts.clone();
        cases.push(case("gilfree-ppe", move |n| {
            map(n, &|n| {
                p.map(tiny::TASK, 0..n, opts.clone())
                    .unwrap()
                    .map(Result::unwrap)
                    .sum()
            })
        }));
    }
    b.compare("cluster_map_tiny", Sizes::HELD, cases);
}
