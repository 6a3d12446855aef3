//! `multiprocessing::Barrier` across real processes, under every start
//! method: cycles whose parties are a parent and its children (indices and
//! one action per cycle), and a party SIGKILLed while waiting, which breaks
//! the barrier for the others at their timeout instead of hanging them.
//! And the twins' shared test bodies: each `twin_*` case is written once
//! over [`Twin`] and run twice, its parties as threads over a
//! `threading::Barrier` and as child processes over a
//! `multiprocessing::Barrier` (one [`party`] body for both).
//! `harness = false`: `main` calls `multiprocessing::init()` first
//! (children re-execute this binary).

use std::sync::Arc;
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

/// The process-shared or the threading barrier, as the shared bodies use
/// it.
trait Party {
    fn wait_timeout(&self, t: Duration) -> Result<usize, threading::Error>;
    fn n_waiting(&self) -> usize;
    fn broken(&self) -> bool;
    fn abort(&self);
    fn reset(&self);
}

macro_rules! party {
    ($t:ty) => {
        impl Party for $t {
            fn wait_timeout(&self, t: Duration) -> Result<usize, threading::Error> {
                (**self).wait_timeout(t)
            }
            fn n_waiting(&self) -> usize {
                (**self).n_waiting()
            }
            fn broken(&self) -> bool {
                (**self).broken()
            }
            fn abort(&self) {
                (**self).abort()
            }
            fn reset(&self) {
                (**self).reset()
            }
        }
    };
}
party!(Arc<threading::Barrier>);
party!(Box<Barrier>);

/// One party's body, the same for a thread and a child process: `waits`
/// waits; the sum of its indices, or `None` once told broken.
fn party(b: &impl Party, waits: u32) -> Option<usize> {
    let mut sum = 0;
    for _ in 0..waits {
        sum += b.wait_timeout(PATIENCE).ok()?;
    }
    Some(sum)
}

#[gilfree::task]
fn party_task(b: Barrier, waits: u32) -> Option<usize> {
    party(&Box::new(b), waits)
}

/// Joins a started party: its [`party`] result.
type Join = Box<dyn FnOnce() -> Result<Option<usize>, Failed>>;

/// How a shared body makes a barrier and starts a party on it.
trait Twin {
    type B: Party;
    fn barrier(&self, parties: usize) -> Result<Self::B, Failed>;
    /// Start a party doing `waits` waits; the closure joins it.
    fn start(&self, b: &Self::B, waits: u32) -> Result<Join, Failed>;
}

struct Threads;
impl Twin for Threads {
    type B = Arc<threading::Barrier>;
    fn barrier(&self, parties: usize) -> Result<Self::B, Failed> {
        Ok(Arc::new(threading::Barrier::new(parties)))
    }
    fn start(&self, b: &Self::B, waits: u32) -> Result<Join, Failed> {
        let b = b.clone();
        let t = std::thread::spawn(move || party(&b, waits));
        Ok(Box::new(move || {
            t.join().map_err(|_| "party panicked".into())
        }))
    }
}

struct Processes(StartMethod);
impl Twin for Processes {
    type B = Box<Barrier>;
    fn barrier(&self, parties: usize) -> Result<Self::B, Failed> {
        Ok(Box::new(Barrier::new(parties)?))
    }
    fn start(&self, b: &Self::B, waits: u32) -> Result<Join, Failed> {
        let p = start(get_context(self.0).process(party_task::TASK, (b.try_clone()?, waits)))?;
        Ok(Box::new(move || Ok(p.result()?)))
    }
}

/// Until `n` parties wait in `b` (a condition poll, bounded by PATIENCE).
fn until_waiting_in(b: &impl Party, n: usize) -> Result<(), Failed> {
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

/// Python's `test_barrier` (three parties here, two cycles): every cycle
/// hands out the indices 0..3 once.
fn twin_cycles(t: &impl Twin) -> Result<(), Failed> {
    let b = t.barrier(3)?;
    let joins = (0..2)
        .map(|_| t.start(&b, 2))
        .collect::<Result<Vec<_>, Failed>>()?;
    let mut total = party(&b, 2).ok_or("main saw it broken")?;
    for j in joins {
        total += j()?.ok_or("a party saw it broken")?;
    }
    check(total == 2 * 3, format!("index sum {total}"))?;
    check(!b.broken() && b.n_waiting() == 0, "left empty")
}

/// Python's `test_abort`: parties waiting when the barrier is aborted are
/// told broken, as is a later wait; `reset` makes it usable again.
fn twin_abort(t: &impl Twin) -> Result<(), Failed> {
    let b = t.barrier(3)?;
    let joins = (0..2)
        .map(|_| t.start(&b, 1))
        .collect::<Result<Vec<_>, Failed>>()?;
    until_waiting_in(&b, 2)?;
    b.abort();
    for j in joins {
        check(j()?.is_none(), "a waiting party passed an aborted barrier")?;
    }
    check(b.broken(), "broken")?;
    check(party(&b, 1).is_none(), "a later wait passed")?;
    b.reset();
    check(!b.broken(), "reset")?;
    twin_cycles_on(t, &b)
}

/// Python's `test_reset`: parties waiting at a reset are told broken; the
/// barrier then works for a full cycle.
fn twin_reset(t: &impl Twin) -> Result<(), Failed> {
    let b = t.barrier(3)?;
    let joins = (0..2)
        .map(|_| t.start(&b, 1))
        .collect::<Result<Vec<_>, Failed>>()?;
    until_waiting_in(&b, 2)?;
    b.reset();
    for j in joins {
        check(j()?.is_none(), "a waiting party passed a reset")?;
    }
    check(!b.broken(), "a reset barrier is not broken")?;
    twin_cycles_on(t, &b)
}

/// One full cycle of three on `b`.
fn twin_cycles_on<T: Twin>(t: &T, b: &T::B) -> Result<(), Failed> {
    let joins = (0..2)
        .map(|_| t.start(b, 1))
        .collect::<Result<Vec<_>, Failed>>()?;
    let mut total = party(b, 1).ok_or("main saw it broken")?;
    for j in joins {
        total += j()?.ok_or("a party saw it broken")?;
    }
    check(total == 3, format!("index sum {total}"))
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
        trials.push(Trial::test(format!("{m}::twin_cycles"), move || {
            twin_cycles(&Processes(m))
        }));
        trials.push(Trial::test(format!("{m}::twin_abort"), move || {
            twin_abort(&Processes(m))
        }));
        trials.push(Trial::test(format!("{m}::twin_reset"), move || {
            twin_reset(&Processes(m))
        }));
    }
    trials.push(Trial::test("threads::twin_cycles", || {
        twin_cycles(&Threads)
    }));
    trials.push(Trial::test("threads::twin_abort", || twin_abort(&Threads)));
    trials.push(Trial::test("threads::twin_reset", || twin_reset(&Threads)));
    libtest_mimic::run(&args, trials).exit();
}
