//! `multiprocessing::Barrier` across real processes, under every start
//! method: cycles whose parties are a parent and its children (indices and
//! one action per cycle), and a party SIGKILLed while waiting, which breaks
//! the barrier for the others at their timeout instead of hanging them.
//! `harness = false`: `main` calls `multiprocessing::init()` first
//! (children re-execute this binary).

use std::time::Duration;

use gilfree::multiprocessing::{Barrier, Error, Process, StartMethod, Value, get_context};
use gilfree::threading;
use libtest_mimic::{Arguments, Failed, Trial};

/// Generous: the machine is shared and busy; never legitimately reached.
const PATIENCE: Duration = Duration::from_secs(120);

/// Waits `cycles` times, every arrival able to run the action (count a
/// run in `runs`); returns the sum of its indices, or `None` if broken.
#[gilfree::task]
fn cycle_party(b: Barrier, runs: Value<u32>, cycles: u32) -> Option<usize> {
    let b = b.with_action(move || *runs.get_lock() += 1);
    let mut sum = 0;
    for _ in 0..cycles {
        sum += b.wait_timeout(PATIENCE).ok()?;
    }
    Some(sum)
}

/// Waits once with the given timeout; whether the barrier was broken.
#[gilfree::task]
fn wait_broken(b: Barrier, timeout_ms: u64) -> bool {
    b.wait_timeout(Duration::from_millis(timeout_ms)) == Err(threading::Error::BrokenBarrier)
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

/// Until `n` parties wait in `b` (a condition poll, bounded by PATIENCE).
fn until_waiting(b: &Barrier, n: usize) -> Result<(), Failed> {
    let deadline = std::time::Instant::now() + PATIENCE;
    while b.n_waiting() < n {
        check(
            std::time::Instant::now() < deadline,
            "parties never arrived",
        )?;
        std::thread::yield_now();
    }
    Ok(())
}

fn start<T>(p: Result<Process<T>, Error>) -> Result<Process<T>, Failed> {
    let p = p?;
    p.start()?;
    Ok(p)
}

/// A parent and two children, three cycles: each cycle hands out the
/// indices 0, 1, 2 once (the sums add up) and runs the action once, in
/// whichever process arrived last.
fn cycles_across_processes(m: StartMethod) -> Result<(), Failed> {
    const CYCLES: u32 = 3;
    let runs = Value::new(0u32)?;
    let r = runs.try_clone()?;
    let b = Barrier::new(3)?.with_action(move || *r.get_lock() += 1);
    let kids = (0..2)
        .map(|_| {
            let args = (b.try_clone()?, runs.try_clone()?, CYCLES);
            start(get_context(m).process(cycle_party::TASK, args))
        })
        .collect::<Result<Vec<_>, Failed>>()?;
    let mut total = 0;
    for _ in 0..CYCLES {
        total += b.wait_timeout(PATIENCE)?;
    }
    for k in kids {
        total += k.result()?.ok_or("a child saw the barrier broken")?;
    }
    check(total == 3 * 3, format!("index sum {total}"))?;
    let n = *runs.get_lock();
    check(n == CYCLES, format!("{n} action runs"))?;
    check(!b.broken() && b.n_waiting() == 0, "left empty")
}

/// Four parties, three of them come: one child waits with no timeout and
/// is SIGKILLed, one waits with a long timeout; the parent's short timeout
/// breaks the
/// barrier, and the live child is told broken instead of hanging. The dead
/// party is never given back: after `reset`, a wait is refused again.
fn killed_party_breaks(m: StartMethod) -> Result<(), Failed> {
    let b = Barrier::new(4)?;
    let doomed = start(get_context(m).process(wait_broken::TASK, (b.try_clone()?, u64::MAX)))?;
    until_waiting(&b, 1)?;
    let live = start(get_context(m).process(
        wait_broken::TASK,
        (b.try_clone()?, PATIENCE.as_millis() as u64),
    ))?;
    until_waiting(&b, 2)?;
    doomed.kill()?;
    let _ = doomed.join();
    check(
        b.wait_timeout(Duration::from_millis(100)) == Err(threading::Error::BrokenBarrier),
        "the parent's timed-out wait passed",
    )?;
    check(live.result()?, "the live child was not told broken")?;
    check(b.broken(), "broken")?;
    b.reset();
    check(!b.broken(), "reset clears broken")?;
    check(
        b.wait_timeout(Duration::from_millis(10)).is_err(),
        "a wait passed a barrier with a dead party",
    )
}

type Case = fn(StartMethod) -> Result<(), Failed>;

fn main() {
    gilfree::multiprocessing::init();
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let per_method: &[(&str, Case)] = &[
        ("cycles_across_processes", cycles_across_processes),
        ("killed_party_breaks", killed_party_breaks),
    ];
    let mut trials = Vec::new();
    for m in StartMethod::ALL {
        for &(name, f) in per_method {
            trials.push(Trial::test(format!("{m}::{name}"), move || f(m)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
