//! Lesson `condition`: consumers wait on a `Condition` for data a producer
//! makes; `notify(1)` against `notify_all`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use gilfree::threading::{Condition, Lock};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

#[derive(Default)]
struct Shared {
    queue: VecDeque<u64>,
    done: bool,
    /// Times a consumer went to sleep in `wait`.
    waits: u64,
    /// Wake-ups that found nothing to take (the predicate still false).
    empty_wakeups: u64,
}

struct Outcome {
    produced: u64,
    consumed: u64,
    sum_in: u64,
    sum_out: u64,
    waits: u64,
    empty_wakeups: u64,
    secs: std::time::Duration,
}

fn run_once(consumers: usize, items: u64, notify_all: bool) -> Outcome {
    let cond = Arc::new(Condition::from_lock(Lock::new(Shared::default())));
    let start = Instant::now();
    let hs: Vec<_> = (0..consumers)
        .map(|_| {
            let cond = cond.clone();
            thread::spawn(move || {
                let (mut n, mut sum) = (0u64, 0u64);
                loop {
                    let mut g = cond.acquire();
                    // Python: `while not queue and not done: cond.wait()` —
                    // spelled out to count the wake-ups that found nothing.
                    while g.queue.is_empty() && !g.done {
                        g.waits += 1;
                        cond.wait_guard(&mut g).expect("we hold the lock");
                        if g.queue.is_empty() && !g.done {
                            g.empty_wakeups += 1;
                        }
                    }
                    match g.queue.pop_front() {
                        Some(x) => {
                            drop(g);
                            n += 1;
                            sum += x;
                        }
                        None => return (n, sum), // done and drained
                    }
                }
            })
        })
        .collect();
    let mut sum_in = 0;
    for i in 1..=items {
        let mut g = cond.acquire();
        g.queue.push_back(i);
        sum_in += i;
        if notify_all {
            cond.notify_all().expect("we hold the lock");
        } else {
            cond.notify(1).expect("we hold the lock");
        }
        drop(g);
        if i % 8 == 0 {
            // Let consumers drain now and then, so they really sleep.
            thread::yield_now();
        }
    }
    {
        let mut g = cond.acquire();
        g.done = true;
        cond.notify_all().expect("we hold the lock");
    }
    let (mut consumed, mut sum_out) = (0, 0);
    for h in hs {
        let (n, s) = h.join().expect("consumer panicked");
        consumed += n;
        sum_out += s;
    }
    let secs = start.elapsed();
    let g = cond.acquire();
    Outcome {
        produced: items,
        consumed,
        sum_in,
        sum_out,
        waits: g.waits,
        empty_wakeups: g.empty_wakeups,
        secs,
    }
}

/// Runs the lesson.
pub fn run(ctx: &Ctx) -> LessonResult {
    let consumers = ctx.threads.unwrap_or(4).max(1);
    let items: u64 = if ctx.fast { 2_000 } else { 200_000 };
    println!("   1 producer, {consumers} consumers, {items} items through a Condition over a Lock");
    for (label, all) in [("notify(1)", false), ("notify_all()", true)] {
        let o = run_once(consumers, items, all);
        if o.produced != o.consumed || o.sum_in != o.sum_out {
            return Err(format!(
                "{label}: produced {} (sum {}) but consumed {} (sum {})",
                o.produced, o.sum_in, o.consumed, o.sum_out
            )
            .into());
        }
        println!("   -- producer calls {label} per item");
        measure("produced", o.produced);
        measure("consumed", o.consumed);
        measure("checksum in = out", format!("{} = {}", o.sum_in, o.sum_out));
        measure("waits (consumer went to sleep)", o.waits);
        measure("wake-ups that found nothing", o.empty_wakeups);
        measure("time", ms(o.secs));
    }
    explain(
        "Every item produced was consumed exactly once: consumers re-check the \
         queue under the lock after each wake-up (Python's `while not queue: \
         cond.wait()`, or `wait_for`). With notify(1) each item wakes one \
         sleeper, so few wake-ups find nothing; notify_all wakes every \
         sleeper for each item and all but one go back to sleep empty-handed \
         — correct, but wasted work. A wake-up that finds nothing is why the \
         predicate is always re-checked in a loop.",
    );
    Ok(())
}
