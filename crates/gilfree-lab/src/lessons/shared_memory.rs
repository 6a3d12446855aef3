//! Lesson `shared-memory`: processes share nothing by default; a `Value`
//! is shared, and its increments from several processes lose updates
//! without its lock and none with it; an `Array` filled by children in
//! parallel.
//!
//! The unlocked version uses a `RawValue`: each `get` and `set` copies the
//! bytes (no undefined behaviour), but another process's increments
//! between one child's `get` and its `set` are overwritten — Python's
//! `v.value += 1` on a `RawValue`, or on a `Value` outside `get_lock()`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use gilfree::multiprocessing::{Array, Process, RawValue, Value};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure};

/// This process's own counter: a child increments its copy.
static COUNTER: AtomicU64 = AtomicU64::new(0);

#[gilfree::task]
fn bump_own_copy(times: u64) -> u64 {
    for _ in 0..times {
        COUNTER.fetch_add(1, Relaxed);
    }
    COUNTER.load(Relaxed)
}

/// Widen the window between read and write now and then (as a longer
/// computation would), so that the race shows even on one core.
fn window(i: u64) {
    if i.is_multiple_of(8) {
        std::thread::yield_now();
    }
}

#[gilfree::task]
fn add_unlocked(v: RawValue<u64>, times: u64) {
    for i in 0..times {
        let x = v.get(); // read ...
        window(i);
        v.set(x + 1); // ... then write: not one step
    }
}

#[gilfree::task]
fn add_locked(v: Value<u64>, times: u64) {
    for i in 0..times {
        let mut g = v.get_lock();
        let x = *g;
        window(i);
        *g = x + 1;
    }
}

#[gilfree::task]
fn fill_part(a: Array<u32>, part: u32, parts: u32) {
    let n = a.len() / parts as usize;
    for i in part as usize * n..(part as usize + 1) * n {
        a.set(i, part + 1);
    }
}

fn run_all(ps: Vec<Process<()>>) -> gilfree::multiprocessing::Result<()> {
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        p.result()?;
    }
    Ok(())
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let procs = ctx.threads.unwrap_or(4).max(2) as u64;
    let times: u64 = if ctx.fast { 2_000 } else { 50_000 };

    let p = Process::new(bump_own_copy::TASK, (5,))?;
    p.start()?;
    let theirs = p.result()?;
    measure("a child's counter after 5 increments", theirs);
    measure("the parent's counter", COUNTER.load(Relaxed));

    let raw = RawValue::new(0u64)?;
    let ps = (0..procs)
        .map(|_| Process::new(add_unlocked::TASK, (raw.try_clone()?, times)))
        .collect::<Result<Vec<_>, _>>()?;
    run_all(ps)?;
    let want = procs * times;
    let got = raw.get();
    measure(
        &format!("{procs} processes x {times}, no lock"),
        format!("{got} of {want} ({} lost)", want - got),
    );

    let v = Value::new(0u64)?;
    let ps = (0..procs)
        .map(|_| Process::new(add_locked::TASK, (v.try_clone()?, times)))
        .collect::<Result<Vec<_>, _>>()?;
    run_all(ps)?;
    let got = v.value();
    measure(
        &format!("{procs} processes x {times}, get_lock()"),
        format!("{got} of {want} ({} lost)", want - got),
    );

    let parts = procs as u32;
    let a = Array::<u32>::zeroed(parts as usize * 4)?;
    let ps = (0..parts)
        .map(|i| Process::new(fill_part::TASK, (a.try_clone()?, i, parts)))
        .collect::<Result<Vec<_>, _>>()?;
    run_all(ps)?;
    measure("Array filled by the children", format!("{:?}", a.to_vec()));

    explain(
        "A child is a separate process: it gets a copy of the parent's memory (or a \
         fresh one), so its counter moves and the parent's stays 0. A Value lives in \
         shared memory, so every process sees the same one; but `v = v + 1` is a read \
         then a write, and without the lock another process's increments in between \
         are overwritten. Under get_lock() the read and the write are one step for \
         everyone, and nothing is lost.",
    );
    Ok(())
}
