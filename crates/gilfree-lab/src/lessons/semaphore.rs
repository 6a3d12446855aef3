//! `semaphore`: a pool of N resources shared by M > N threads, and a
//! BoundedSemaphore catching a release too many.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use gilfree::threading::{BoundedSemaphore, Error, Semaphore};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

/// Performs the lesson.
pub fn run(ctx: &Ctx) -> LessonResult {
    let permits: usize = 3;
    let threads = ctx.threads.unwrap_or(10).max(permits + 1);
    let (uses_each, work) = if ctx.fast {
        (3, Duration::from_micros(300))
    } else {
        (10, Duration::from_millis(5))
    };

    // A pool of `permits` connections; each use holds one for `work`.
    let pool = Semaphore::new(permits as u32);
    let in_use = AtomicUsize::new(0);
    let max_in_use = AtomicUsize::new(0);
    let uses = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..uses_each {
                    let _conn = pool.acquire(); // Python: `with pool:`
                    let now = in_use.fetch_add(1, SeqCst) + 1;
                    max_in_use.fetch_max(now, SeqCst);
                    std::thread::sleep(work); // the "query"
                    in_use.fetch_sub(1, SeqCst);
                    uses.fetch_add(1, SeqCst);
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let max = max_in_use.load(SeqCst);
    measure("pool size (Semaphore permits)", permits);
    measure("threads wanting a connection", threads);
    measure("uses completed", uses.load(SeqCst));
    measure("max concurrent users (measured)", max);
    measure("elapsed", ms(elapsed));
    measure(
        "ideal elapsed (uses x work / pool size)",
        ms(work * (threads * uses_each) as u32 / permits as u32),
    );
    if max > permits {
        return Err(format!("{max} concurrent users of a pool of {permits}").into());
    }
    if pool.value() != permits as u32 {
        return Err("a permit was lost".into());
    }

    // A bug: one release too many.
    let bounded = BoundedSemaphore::new(2);
    let plain = Semaphore::new(2);
    bounded.acquire().forget();
    plain.acquire().forget();
    bounded.release()?;
    plain.release()?;
    match bounded.release() {
        Err(e @ Error::TooManyReleases) => {
            measure("BoundedSemaphore extra release", format!("caught: {e}"))
        }
        other => return Err(format!("over-release not caught: {other:?}").into()),
    }
    plain.release()?;
    measure(
        "BoundedSemaphore value after it",
        format!("{}/2", bounded.value()),
    );
    measure(
        "plain Semaphore value after the same bug",
        format!("{}/2", plain.value()),
    );

    explain(&format!(
        "{threads} threads shared {permits} connections: the Semaphore let at most \
         {permits} in at a time (measured {max}), the rest slept on the futex until a \
         permit came back, so the pool was never oversubscribed and no use was lost. \
         The run takes about uses x work / pool size. A BoundedSemaphore turns a \
         release without a matching acquire into an error and keeps its value; a plain \
         Semaphore silently grows, and the pool would let one thread too many in."
    ));
    Ok(())
}
