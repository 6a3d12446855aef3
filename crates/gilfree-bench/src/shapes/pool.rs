//! Process pools (issue 14): one tiny call's round trip, many tiny calls
//! with default chunking, and CPU-bound work over 2 workers.
//!
//! Impls: gilfree's `multiprocessing::Pool` (2 workers, the default start
//! method, started outside the timed region), CPython's `Pool` (`cpython`)
//! and `ProcessPoolExecutor` (`cpython-ppe`, round trip only), each with 2
//! workers started and warmed once. One op is one call. `pool_map_cpu_2w`'s
//! op is one [`cpu::heavy`] item (200 `cpu_sequential` work items, ~30 µs:
//! heavy enough that the ratio measures parallelism, not the per-call
//! overhead `pool_map_tiny` measures); its `sequential` case runs the same
//! items in this process, in the same run, so the speedup is `sequential`
//! over `gilfree` (printed under "CPU-bound speedup").

use std::hint::black_box;
use std::time::Instant;

use gilfree::multiprocessing::Pool;

use crate::harness::{Bench, Sizes, case, timed};
use crate::shapes::cpu;

/// The tiny call: as `tiny` in `python/cpython_peers.py`.
#[gilfree::task]
fn tiny(x: u64) -> u64 {
    x * 2 + 1
}

/// One heavy CPU item.
#[gilfree::task]
fn heavy_item(i: u64) -> u64 {
    cpu::heavy(i)
}

/// The pool rows: `pool_apply_roundtrip`, `pool_map_tiny`,
/// `pool_map_cpu_2w`.
pub fn pool_rows(b: &mut Bench) {
    let wanted = ["pool_apply_roundtrip", "pool_map_tiny", "pool_map_cpu_2w"];
    if !wanted.iter().any(|s| b.wants(s)) {
        return;
    }
    let pool = match Pool::new(2) {
        Ok(p) => p,
        Err(e) => {
            b.note(format!("pool rows skipped: {e}"));
            return;
        }
    };
    // Warm: every worker has run a few calls.
    let _ = pool.map(tiny::TASK, 0..64u64, Some(1));
    b.compare(
        "pool_apply_roundtrip",
        Sizes::HANDOFF,
        vec![case("gilfree", |n| {
            let t = Instant::now();
            let mut acc = 0;
            for i in 0..n {
                acc += pool.apply(tiny::TASK, (i,)).expect("apply");
            }
            black_box(acc);
            t.elapsed()
        })],
    );
    b.compare(
        "pool_map_tiny",
        Sizes::HELD,
        vec![case("gilfree", |n| {
            let t = Instant::now();
            let v = pool.map(tiny::TASK, 0..n, None).expect("map");
            let d = t.elapsed();
            assert_eq!(v.len() as u64, n);
            d
        })],
    );
    b.compare(
        "pool_map_cpu_2w",
        Sizes::HANDOFF,
        vec![
            case("sequential", |n| {
                timed(|| {
                    let acc: u64 = (0..n).map(|i| cpu::heavy(black_box(i))).sum();
                    black_box(acc);
                })
            }),
            case("gilfree", |n| {
                let t = Instant::now();
                let v = pool.map(heavy_item::TASK, 0..n, None).expect("map");
                let d = t.elapsed();
                black_box(v);
                d
            }),
        ],
    );
}
