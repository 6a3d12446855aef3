//! `producer-consumer`: Queue, LifoQueue and PriorityQueue, each fed by
//! several producers and drained by several consumers that call
//! `task_done`; `join` waits for the work, `shutdown` sends the consumers
//! home. The counts show that nothing was lost or duplicated, the first
//! items out show each kind's order, and the clock shows the throughput.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::Instant;

use gilfree::queue::{LifoQueue, PriorityQueue, Queue};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

/// What the three kinds have in common, for the lesson's one driver.
trait Kind: Send + Sync + 'static {
    const NAME: &'static str;
    fn make(maxsize: usize) -> Self;
    fn put(&self, v: u64);
    fn get(&self) -> Option<u64>;
    fn task_done(&self);
    fn join(&self);
    fn shutdown(&self);
}

macro_rules! kind {
    ($ty:ident, $name:literal) => {
        impl Kind for $ty<u64> {
            const NAME: &'static str = $name;
            fn make(maxsize: usize) -> Self {
                $ty::new(maxsize)
            }
            fn put(&self, v: u64) {
                $ty::put(self, v).expect("queue open while producing");
            }
            fn get(&self) -> Option<u64> {
                $ty::get(self).ok()
            }
            fn task_done(&self) {
                $ty::task_done(self).expect("one task_done per item");
            }
            fn join(&self) {
                $ty::join(self)
            }
            fn shutdown(&self) {
                $ty::shutdown(self, false)
            }
        }
    };
}
kind!(Queue, "Queue (FIFO)");
kind!(LifoQueue, "LifoQueue (LIFO)");
kind!(PriorityQueue, "PriorityQueue (smallest first)");

/// The order a kind gives: put 1..=8 one after another (one thread, so the
/// order of puts is defined), then get them all.
fn order<K: Kind>() -> Vec<u64> {
    let q = K::make(0);
    for v in [5, 1, 7, 3, 8, 2, 6, 4] {
        q.put(v);
    }
    (0..8).map(|_| q.get().expect("item")).collect()
}

struct Outcome {
    put: u64,
    got: u64,
    sum_put: u64,
    sum_got: u64,
    secs: f64,
}

/// `producers` threads put `per` distinct numbers each; `consumers` threads
/// get and `task_done` until shut down. The main thread `join`s, then shuts
/// the queue down.
fn run_kind<K: Kind>(producers: usize, consumers: usize, per: u64, maxsize: usize) -> Outcome {
    let q = Arc::new(K::make(maxsize));
    let got = Arc::new(AtomicU64::new(0));
    let sum_got = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let cs: Vec<_> = (0..consumers)
        .map(|_| {
            let (q, got, sum_got) = (q.clone(), got.clone(), sum_got.clone());
            thread::spawn(move || {
                let (mut n, mut s) = (0, 0);
                while let Some(v) = q.get() {
                    n += 1;
                    s += v;
                    q.task_done();
                }
                got.fetch_add(n, Relaxed);
                sum_got.fetch_add(s, Relaxed);
            })
        })
        .collect();
    let ps: Vec<_> = (0..producers as u64)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..per {
                    q.put(p * per + i);
                }
            })
        })
        .collect();
    for p in ps {
        p.join().expect("producer");
    }
    q.join(); // every item put has been task_done
    let secs = start.elapsed().as_secs_f64();
    q.shutdown();
    for c in cs {
        c.join().expect("consumer");
    }
    let put = producers as u64 * per;
    Outcome {
        put,
        got: got.load(Relaxed),
        sum_put: put * (put - 1) / 2,
        sum_got: sum_got.load(Relaxed),
        secs,
    }
}

fn lesson_for<K: Kind>(
    producers: usize,
    consumers: usize,
    per: u64,
    maxsize: usize,
) -> LessonResult {
    let o = run_kind::<K>(producers, consumers, per, maxsize);
    println!();
    println!(
        "   {}: {producers} producers, {consumers} consumers, maxsize {maxsize}",
        K::NAME
    );
    measure(
        "order of 5 1 7 3 8 2 6 4 put, then got",
        format!("{:?}", order::<K>()),
    );
    measure("items put / got", format!("{} / {}", o.put, o.got));
    measure(
        "checksum put / got",
        format!("{} / {}", o.sum_put, o.sum_got),
    );
    measure(
        "time to join()",
        ms(std::time::Duration::from_secs_f64(o.secs)),
    );
    measure(
        "throughput",
        format!("{:.2} M items/s", o.put as f64 / o.secs / 1e6),
    );
    if o.got != o.put || o.sum_got != o.sum_put {
        return Err(format!("{}: lost or duplicated items", K::NAME).into());
    }
    measure("nothing lost, nothing duplicated", "yes");
    Ok(())
}

/// Runs the lesson.
pub fn run(ctx: &Ctx) -> LessonResult {
    let threads = ctx.threads.unwrap_or(4).max(2);
    let (producers, consumers) = (threads / 2, threads - threads / 2);
    let total: u64 = if ctx.fast { 20_000 } else { 2_000_000 };
    let per = total / producers as u64;
    lesson_for::<Queue<u64>>(producers, consumers, per, 64)?;
    lesson_for::<LifoQueue<u64>>(producers, consumers, per, 64)?;
    lesson_for::<PriorityQueue<u64>>(producers, consumers, per, 64)?;
    println!();
    explain(
        "Each item put was got once and marked done once: the counts and \
         checksums match, and join() returned only after the last task_done. \
         The order line shows what distinguishes the kinds: a Queue hands \
         items out in the order they were put, a LifoQueue newest first, a \
         PriorityQueue smallest first (Python's heapq). A bounded Queue is a \
         lock-free ring, so producers and consumers never wait on one \
         another's lock; LifoQueue and PriorityQueue keep a Vec or a heap \
         behind a futex lock, as CPython keeps a list or heap behind its \
         queue's mutex, which is why they usually move fewer items per second \
         when many threads contend.",
    );
    Ok(())
}
