//! Lesson `barrier`: workers in lock-step phases, an action per phase, and
//! what a broken barrier looks like.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use gilfree::threading::{Barrier, Error};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

/// Some CPU work whose size depends on the worker and the phase, so the
/// workers of one phase finish at different times.
fn work(worker: usize, phase: usize, scale: u64) -> u64 {
    let n = scale * (1 + ((worker * 7 + phase * 3) % 5) as u64);
    let mut x = worker as u64 + 1;
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
    }
    std::hint::black_box(x)
}

/// Runs the lesson.
pub fn run(ctx: &Ctx) -> LessonResult {
    let workers = ctx.threads.unwrap_or(4).max(2);
    let phases = if ctx.fast { 3 } else { 5 };
    let scale: u64 = if ctx.fast { 20_000 } else { 4_000_000 };

    // 1. Phases in lock-step; the action runs once per phase, in the last
    //    worker to arrive, before anyone goes on.
    println!("   {workers} workers, {phases} phases, a Barrier({workers}) with an action");
    let phase_done = Arc::new(AtomicUsize::new(0));
    let marks = Arc::new(Mutex::new(vec![Instant::now()]));
    let (pd, mk) = (phase_done.clone(), marks.clone());
    let barrier = Arc::new(Barrier::new(workers).with_action(move || {
        let p = pd.fetch_add(1, Ordering::SeqCst);
        let mut m = mk.lock().expect("marks");
        let now = Instant::now();
        let took = now - *m.last().expect("start mark");
        m.push(now);
        println!(
            "   [action] phase {p} complete: all {workers} arrived after {}",
            ms(took)
        );
    }));
    let hs: Vec<_> = (0..workers)
        .map(|w| {
            let b = barrier.clone();
            let pd = phase_done.clone();
            thread::spawn(move || -> Result<Vec<usize>, Error> {
                let mut indices = Vec::new();
                for p in 0..phases {
                    work(w, p, scale);
                    indices.push(b.wait()?);
                    // Everyone sees the action of this phase before going on.
                    assert_eq!(pd.load(Ordering::SeqCst), p + 1);
                }
                Ok(indices)
            })
        })
        .collect();
    let mut per_phase = vec![Vec::new(); phases];
    for h in hs {
        let idx = h.join().map_err(|_| "worker panicked")??;
        for (p, i) in idx.into_iter().enumerate() {
            per_phase[p].push(i);
        }
    }
    for (p, idx) in per_phase.iter_mut().enumerate() {
        idx.sort_unstable();
        if *idx != (0..workers).collect::<Vec<_>>() {
            return Err(format!("phase {p}: indices {idx:?}").into());
        }
    }
    let m = marks.lock().expect("marks");
    let times: Vec<Duration> = m.windows(2).map(|w| w[1] - w[0]).collect();
    measure("phases completed", phase_done.load(Ordering::SeqCst));
    measure(
        "indices per phase",
        format!("each of 0..{workers} exactly once"),
    );
    measure(
        "slowest / fastest phase",
        format!(
            "{} / {}",
            ms(*times.iter().max().expect("phases")),
            ms(*times.iter().min().expect("phases"))
        ),
    );
    measure("total", ms(m[m.len() - 1] - m[0]));
    drop(m);

    // 2. A worker that never comes: the others' timed wait breaks the barrier.
    let timeout = Duration::from_millis(if ctx.fast { 20 } else { 200 });
    let b = Arc::new(Barrier::new(workers));
    let hs: Vec<_> = (0..workers - 1)
        .map(|_| {
            let b = b.clone();
            thread::spawn(move || b.wait_timeout(timeout))
        })
        .collect();
    let broken = hs
        .into_iter()
        .map(|h| h.join().expect("waiter panicked"))
        .filter(|r| *r == Err(Error::BrokenBarrier))
        .count();
    measure(
        &format!("timeout demo: {} of {workers} arrive", workers - 1),
        format!("{broken} got BrokenBarrier, broken={}", b.broken()),
    );

    // 3. abort(): a worker gives up and releases everyone with an error.
    let b = Arc::new(Barrier::new(workers));
    let hs: Vec<_> = (0..workers - 1)
        .map(|_| {
            let b = b.clone();
            thread::spawn(move || b.wait())
        })
        .collect();
    while b.n_waiting() < workers - 1 {
        thread::yield_now();
    }
    b.abort();
    let broken_abort = hs
        .into_iter()
        .map(|h| h.join().expect("waiter panicked"))
        .filter(|r| *r == Err(Error::BrokenBarrier))
        .count();
    measure("abort demo: waiters told BrokenBarrier", broken_abort);
    b.reset();
    measure("after reset(): broken", b.broken());
    if broken != workers - 1 || broken_abort != workers - 1 {
        return Err("a broken barrier did not release every waiter".into());
    }

    explain(
        "A Barrier holds every worker until all have arrived, so each phase \
         takes as long as its slowest worker: the phase times above are set by \
         the largest piece of work, not the average. The action runs once per \
         phase, before anyone is released. If a party never arrives, a timed \
         wait breaks the barrier for everyone (BrokenBarrierError in Python) \
         instead of leaving them stuck; abort() does the same on purpose, and \
         reset() makes the barrier usable again.",
    );
    Ok(())
}
