//! Lesson `deadlock`: two threads take two locks in opposite order and each
//! waits for the lock the other holds.
//!
//! 1. With gilfree's `deadlock-detection` (this crate's feature of the same
//!    name), the *potential* deadlock is reported before anything hangs:
//!    thread-1 takes A then B and finishes, then thread-2 takes B then A;
//!    no thread ever waits, yet the second order is reported at once. The
//!    lock-order graph is written as Graphviz DOT (and rendered if `dot` is
//!    installed).
//! 2. The real deadlock: both at once. A timeout catches it (and with
//!    detection, `deadlock::check()` names the cycle while they wait).
//! 3. The fixes: one global order by hand, or `deadlock::acquire_all`,
//!    which takes any list of locks in one global order.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use gilfree::deadlock::acquire_all;
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

    potential(ctx, &a, &b)?;
    actual(&a, &b, patience)?;
    fixes(ctx, &a, &b)?;

    explain(
        "Each thread holds one lock and waits for the other's: a cycle of waits \
         that no thread can break, so without a timeout both would wait forever. \
         The four conditions are mutual exclusion, hold-and-wait, no preemption \
         and a circular wait; taking the locks in one global order (always A \
         before B) removes the cycle, and the same work completes. \
         acquire_all does the ordering for you, whatever order the locks are \
         listed in. A lock-order detector (gilfree's deadlock-detection, in \
         the spirit of Linux's lockdep) records every 'acquired B while \
         holding A' and reports the first acquisition that closes a cycle, \
         before it blocks: the bug is found on a run that happened not to \
         hang.",
    );
    Ok(())
}

/// Part 1: the inversion, one thread after the other, reported before any
/// thread waits.
#[cfg(feature = "deadlock-detection")]
fn potential(ctx: &Ctx, a: &Arc<Lock>, b: &Arc<Lock>) -> LessonResult {
    use gilfree::deadlock::{self, Mode};

    // The lesson shows the report; GILFREE_DEADLOCK=panic would end it.
    deadlock::set_mode(Mode::Warn);
    deadlock::reset();
    let (a1, b1) = (a.clone(), b.clone());
    Thread::builder()
        .name("thread-1")
        .spawn(move || {
            let _a = a1.acquire();
            let _b = b1.acquire(); // records A -> B
        })?
        .join()?;
    let (a2, b2) = (a.clone(), b.clone());
    Thread::builder()
        .name("thread-2")
        .spawn(move || {
            let _b = b2.acquire();
            let _a = a2.acquire(); // B -> A closes the cycle: reported here
        })?
        .join()?;
    let reports = deadlock::reports();
    let Some(r) = reports.first() else {
        return Err("the inversion was not reported".into());
    };
    measure(
        "potential deadlock reported",
        "yes, before any thread waited (full report on stderr)",
    );
    measure("closing acquisition", &r.cycle[0]);
    let cycle: Vec<String> = r.cycle.iter().map(|e| e.from.to_string()).collect();
    measure(
        "cycle",
        format!("{} -> {}", cycle.join(" -> "), r.cycle[0].from),
    );

    // The graph as a picture.
    let (dot_path, svg_path) = match &ctx.chart {
        Some(svg) => (svg.with_extension("dot"), svg.clone()),
        None => {
            let dir = std::env::temp_dir();
            let stem = format!("gilfree-lab-deadlock-{}", std::process::id());
            (
                dir.join(format!("{stem}.dot")),
                dir.join(format!("{stem}.svg")),
            )
        }
    };
    std::fs::write(&dot_path, deadlock::to_dot())?;
    measure("lock-order graph (DOT)", dot_path.display());
    let rendered = std::process::Command::new("dot")
        .arg("-Tsvg")
        .arg(&dot_path)
        .arg("-o")
        .arg(&svg_path)
        .status();
    match rendered {
        Ok(s) if s.success() => measure("rendered with Graphviz", svg_path.display()),
        Ok(s) => measure("rendered with Graphviz", format!("failed: dot {s}")),
        Err(_) => measure(
            "rendered with Graphviz",
            "skipped: `dot` not installed (apt-get install graphviz)",
        ),
    }
    Ok(())
}

#[cfg(not(feature = "deadlock-detection"))]
fn potential(_ctx: &Ctx, _a: &Arc<Lock>, _b: &Arc<Lock>) -> LessonResult {
    measure(
        "potential deadlock reported",
        "off: rebuild with --features deadlock-detection",
    );
    explain(
        "This build has no deadlock detector. \
         `cargo run -p gilfree-lab --features deadlock-detection -- deadlock` \
         shows the inversion reported before anything hangs, and the lock-order \
         graph drawn with Graphviz.",
    );
    Ok(())
}

/// Part 2: both threads at once; each holds one lock and waits for the other.
fn actual(a: &Arc<Lock>, b: &Arc<Lock>, patience: Duration) -> LessonResult {
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
    #[cfg(feature = "deadlock-detection")]
    {
        // While they wait, the wait-for check names the cycle. The waits
        // end with the timeout, so on a busy machine it may miss them.
        let mut seen = None;
        while seen.is_none() && (t1.is_alive() || t2.is_alive()) {
            seen = gilfree::deadlock::check().into_iter().next();
            std::thread::yield_now();
        }
        match seen {
            Some(c) => {
                for t in &c.threads {
                    measure(
                        &format!("check(): {}", t.name),
                        format!("waits for {} held by {}", t.waits_on, t.held_by),
                    );
                }
            }
            None => measure("check()", "missed: the waits ended first"),
        }
    }
    let r1 = t1.join()?.clone();
    let r2 = t2.join()?.clone();
    measure("opposite order, thread-1", &r1);
    measure("opposite order, thread-2", &r2);
    let deadlocked = r1.contains("timed out") && r2.contains("timed out");
    measure("deadlock caught by timeout", deadlocked);
    if !deadlocked {
        return Err("the opposite-order threads did not deadlock".into());
    }
    Ok(())
}

/// Part 3: one global order, by hand and with `acquire_all`.
fn fixes(ctx: &Ctx, a: &Arc<Lock>, b: &Arc<Lock>) -> LessonResult {
    let rounds = if ctx.fast { 100 } else { 10_000 };
    // By hand: every thread takes A before B.
    let ts = (0..2)
        .map(|i| {
            let (a, b) = (a.clone(), b.clone());
            Thread::builder()
                .name(format!("ordered-{i}"))
                .spawn(move || {
                    for _ in 0..rounds {
                        let _ga = a.acquire();
                        let _gb = b.acquire();
                    }
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let done = joined(&ts)?;
    measure(
        "same order (A then B): threads finished",
        format!("{done} of 2"),
    );
    if done != 2 {
        return Err("ordered locking did not finish".into());
    }

    // acquire_all: the lists are in opposite orders, the locking is not.
    #[cfg(feature = "deadlock-detection")]
    let reports_before = gilfree::deadlock::reports().len();
    let ts = [(a.clone(), b.clone()), (b.clone(), a.clone())]
        .into_iter()
        .enumerate()
        .map(|(i, (x, y))| {
            Thread::builder()
                .name(format!("acquire-all-{i}"))
                .spawn(move || {
                    for _ in 0..rounds {
                        let _both = acquire_all(&[&*x, &*y]);
                    }
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let done = joined(&ts)?;
    measure(
        "acquire_all, opposite lists: finished",
        format!("{done} of 2"),
    );
    if done != 2 {
        return Err("acquire_all did not finish".into());
    }
    #[cfg(feature = "deadlock-detection")]
    {
        let new = gilfree::deadlock::reports().len() - reports_before;
        measure("acquire_all: new lock-order reports", new);
        if new != 0 {
            return Err("acquire_all produced a lock-order inversion".into());
        }
    }
    Ok(())
}

/// How many of `ts` finished (within a generous bound: a hang is a failure).
fn joined(ts: &[Thread<()>]) -> Result<usize, gilfree::threading::Error> {
    let mut done = 0;
    for t in ts {
        if t.join_timeout(Duration::from_secs(60))?.is_some() {
            done += 1;
        }
    }
    Ok(done)
}
