//! Lesson `deadlock`: two threads take two locks in opposite order and each
//! waits for the lock the other holds. A timeout catches it; taking the
//! locks in one global order fixes it.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use gilfree::threading::{Lock, Thread};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure};

/// One side of the deadlock: take `first`, tell the other side, wait until
/// it holds its own first lock, then try `second` for `patience`. The two
/// sides signal each other over channels (no sleeps, no barrier), so the
/// deadlock happens every time.
fn side(
    first: Arc<Lock>,
    second: Arc<Lock>,
    names: (&'static str, &'static str),
    tell: mpsc::Sender<()>,
    hear: mpsc::Receiver<()>,
    patience: Duration,
) -> String {
    let held = first.acquire();
    tell.send(()).ok();
    hear.recv().ok(); // the other thread now holds its first lock
    let outcome = match second.acquire_timeout(patience) {
        Some(_both) => format!("holds {}, got {} (no deadlock)", names.0, names.1),
        None => format!(
            "holds {}, waited {patience:?} for {}: timed out (deadlock)",
            names.0, names.1
        ),
    };
    // Keep holding the first lock until the other side has given up too,
    // as a real deadlocked thread would: whoever times out first must not
    // free the other by backing off.
    tell.send(()).ok();
    hear.recv().ok();
    drop(held);
    outcome
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let patience = if ctx.fast {
        Duration::from_millis(50)
    } else {
        Duration::from_millis(500)
    };
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));

    // Opposite order: thread-1 takes A then B, thread-2 takes B then A.
    let (to2, from1) = mpsc::channel();
    let (to1, from2) = mpsc::channel();
    let t1 = {
        let (a, b) = (a.clone(), b.clone());
        Thread::builder()
            .name("thread-1")
            .spawn(move || side(a, b, ("A", "B"), to2, from2, patience))?
    };
    let t2 = {
        let (a, b) = (a.clone(), b.clone());
        Thread::builder()
            .name("thread-2")
            .spawn(move || side(b, a, ("B", "A"), to1, from1, patience))?
    };
    let r1 = t1.join()?.clone();
    let r2 = t2.join()?.clone();
    measure("opposite order, thread-1", &r1);
    measure("opposite order, thread-2", &r2);
    let deadlocked = r1.contains("timed out") && r2.contains("timed out");
    measure("deadlock caught by timeout", deadlocked);
    if !deadlocked {
        return Err("the opposite-order threads did not deadlock".into());
    }

    // The fix: every thread takes A before B.
    let mut done = 0;
    let ts = (0..2)
        .map(|i| {
            let (a, b) = (a.clone(), b.clone());
            Thread::builder()
                .name(format!("ordered-{i}"))
                .spawn(move || {
                    for _ in 0..100 {
                        let _ga = a.acquire();
                        let _gb = b.acquire();
                    }
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for t in &ts {
        if t.join_timeout(Duration::from_secs(60))?.is_some() {
            done += 1;
        }
    }
    measure(
        "same order (A then B): threads finished",
        format!("{done} of 2"),
    );
    if done != 2 {
        return Err("ordered locking did not finish".into());
    }
    explain(
        "Each thread holds one lock and waits for the other's: a cycle of waits \
         that no thread can break, so without a timeout both would wait forever. \
         The four conditions are mutual exclusion, hold-and-wait, no preemption \
         and a circular wait; taking the locks in one global order (always A \
         before B) removes the cycle, and the same work completes.",
    );
    Ok(())
}
