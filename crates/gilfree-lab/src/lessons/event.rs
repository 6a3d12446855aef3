//! `event`: workers wait for a start Event; the wake-up latency from `set`
//! to each worker running; and a Timer cancelled before it fires.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use gilfree::threading::{Event, Timer};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

/// Performs the lesson.
pub fn run(ctx: &Ctx) -> LessonResult {
    let workers = ctx.threads.unwrap_or(if ctx.fast { 4 } else { 8 });

    // Workers line up and wait for the start signal.
    let start = Event::new();
    let ready = Barrier::new(workers + 1);
    let latencies = Mutex::new(Vec::new());
    let set_at = Mutex::new(None::<Instant>);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                ready.wait();
                start.wait();
                let woke = Instant::now();
                let t0 = set_at.lock().unwrap().expect("set before anyone wakes");
                latencies.lock().unwrap().push(woke - t0);
            });
        }
        ready.wait();
        // Give the workers time to fall asleep, so the lesson measures a
        // real futex wake-up rather than a spin.
        std::thread::sleep(Duration::from_millis(if ctx.fast { 5 } else { 50 }));
        *set_at.lock().unwrap() = Some(Instant::now());
        start.set();
    });
    let mut lat = latencies.into_inner().unwrap();
    lat.sort();
    measure("workers waiting on the start Event", workers);
    measure("workers released by one set()", lat.len());
    measure("wake-up latency, first worker", ms(lat[0]));
    measure("wake-up latency, median", ms(lat[lat.len() / 2]));
    measure("wake-up latency, last worker", ms(lat[lat.len() - 1]));

    // Timers: one fires, one is cancelled while it waits.
    let fired = Arc::new(AtomicBool::new(false));
    let f = fired.clone();
    let interval = Duration::from_millis(if ctx.fast { 2 } else { 20 });
    let t0 = Instant::now();
    let timer = Timer::new(interval, move || f.store(true, SeqCst));
    timer.start()?;
    timer.join()?;
    measure("timer that was left alone ran", yesno(fired.load(SeqCst)));
    measure(
        "  it ran after (interval)",
        format!("{} ({})", ms(t0.elapsed()), ms(interval)),
    );

    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let long = Timer::new(Duration::from_secs(3600), move || r.store(true, SeqCst));
    long.start()?;
    let t0 = Instant::now();
    let stopped = long.cancel();
    long.join()?;
    measure("cancel() stopped the one-hour timer", yesno(stopped));
    measure("cancelled timer ran", yesno(ran.load(SeqCst)));
    measure("  its thread ended after cancel in", ms(t0.elapsed()));
    if ran.load(SeqCst) || !fired.load(SeqCst) {
        return Err("a timer did the wrong thing".into());
    }

    explain(
        "One set() released every worker waiting on the Event: a single futex \
         wake-all. The latency is the time from set() until each worker ran again; \
         the last worker waits longest because the kernel wakes them one after \
         another and they share the cores. A Timer is a thread waiting on its own \
         Event with a timeout: cancel() sets that Event, so a cancelled timer's \
         thread ends at once instead of sleeping out its hour, and the function never \
         runs.",
    );
    Ok(())
}

fn yesno(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
