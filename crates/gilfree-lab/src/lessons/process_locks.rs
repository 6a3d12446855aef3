//! Lesson `process-locks`: processes take turns on a shared resource under
//! a process-shared `Lock`; a child SIGKILLed while it holds the lock, and
//! the next acquirer told `owner_died` instead of hanging for ever (as it
//! would with CPython's `multiprocessing.Lock`).

use std::time::{Duration, Instant};

use gilfree::multiprocessing::{Array, Connection, Lock, Pipe, Process};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure, ms};

/// Takes `turns` turns: under the lock, appends its number to the log
/// twice in a row (another process slipping in between would show).
#[gilfree::task]
fn take_turns(lock: Lock, log: Array<u32>, me: u32, turns: u32) {
    for _ in 0..turns {
        let _g = lock.acquire();
        for _ in 0..2 {
            let n = log.get(0) as usize;
            log.set(1 + n, me);
            log.set(0, n as u32 + 1);
        }
    }
}

/// Takes the lock, says so, and never lets go (it will be killed).
#[gilfree::task]
fn hold_forever(lock: Lock, c: Connection) {
    let _g = lock.acquire();
    c.send("holding").unwrap();
    loop {
        std::thread::park();
    }
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let procs = ctx.threads.unwrap_or(3).max(2) as u32;
    let turns: u32 = if ctx.fast { 20 } else { 200 };
    let lock = Lock::new(())?;
    let log = Array::<u32>::zeroed(1 + (procs * turns * 2) as usize)?;
    let ps = (0..procs)
        .map(|i| {
            Process::new(
                take_turns::TASK,
                (lock.try_clone()?, log.try_clone()?, i + 1, turns),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        p.result()?;
    }
    let entries = log.to_vec();
    let n = entries[0] as usize;
    let pairs_intact = entries[1..=n].chunks(2).all(|c| c[0] == c[1]);
    measure(
        "log entries",
        format!("{n} (expected {})", procs * turns * 2),
    );
    measure("every turn's two entries adjacent", pairs_intact);
    let shown: Vec<u32> = entries[1..=n.min(24)].to_vec();
    measure("the log begins", format!("{shown:?}"));

    let (mine, theirs) = Pipe(true)?;
    let p = Process::new(hold_forever::TASK, (lock.try_clone()?, theirs))?;
    p.start()?;
    let _: String = mine.recv()?;
    measure("child holding the lock", format!("pid {:?}", p.pid()));
    p.kill()?;
    p.join()?;
    measure("child killed, exitcode", format!("{:?}", p.exitcode()));
    let t = Instant::now();
    let g = lock
        .acquire_timeout(Duration::from_secs(60))
        .ok_or("the lock was not handed back")?;
    measure("next acquire: owner_died", g.owner_died());
    measure("  after", ms(t.elapsed()));
    drop(g);
    measure("and the one after: owner_died", lock.acquire().owner_died());

    explain(
        "The lock lives in shared memory, so one process at a time holds it, whichever \
         process it is: every turn's two log entries stay together. A process killed \
         while holding a lock cannot release it; CPython's multiprocessing.Lock (a POSIX \
         semaphore) then blocks everyone for ever. gilfree's lock keeps the holder's \
         thread id in the lock word: a waiter checks now and then that the holder \
         still lives, takes the lock over when it does not, and is told so \
         (owner_died), so it can repair what the dead process left half-done.",
    );
    Ok(())
}
