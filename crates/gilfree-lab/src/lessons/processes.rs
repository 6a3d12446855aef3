//! Processes: start, join, exit codes, pids; the start methods compared by
//! how long a start takes, against the raw fork and fork+exec floors.

use std::time::{Duration, Instant};

use gilfree::multiprocessing::{Process, StartMethod, current_process, get_context};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure};

#[gilfree::task]
fn hello(n: u32) -> String {
    format!("hello #{n} from pid {}", current_process().pid)
}

#[gilfree::task]
fn exits_with(code: i32) {
    std::process::exit(code)
}

#[gilfree::task]
fn panics() {
    // Quiet: the message comes back to the parent through `result()`.
    std::panic::set_hook(Box::new(|_| {}));
    panic!("a task that fails")
}

/// The smallest task: what a start costs, and nothing else.
#[gilfree::task]
fn nothing() {}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// Start and join a trivial task process: the start latency of `m`.
fn start_latency(m: StartMethod, n: usize) -> gilfree::multiprocessing::Result<Duration> {
    let ctx = get_context(m);
    // Warm-up: forkserver launches its server on first use.
    let p = ctx.process(nothing::TASK, ())?;
    p.start()?;
    p.join()?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let p = ctx.process(nothing::TASK, ())?;
        p.start()?;
        p.join()?;
        v.push(t.elapsed());
    }
    Ok(median(v))
}

/// The floor of fork: fork a child that `_exit`s at once, and reap it.
fn raw_fork(n: usize) -> Duration {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        // SAFETY: the child calls only `_exit`, which is async-signal-safe.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: `_exit` is always safe.
            unsafe { libc::_exit(0) };
        }
        let mut st = 0;
        // SAFETY: `pid` is our child; `st` is a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        v.push(t.elapsed());
    }
    median(v)
}

/// The floor of spawn: fork+exec of `/bin/true`, and reap it.
fn raw_fork_exec(n: usize) -> Duration {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let _ = std::process::Command::new("/bin/true").status();
        v.push(t.elapsed());
    }
    median(v)
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let p = Process::new(hello::TASK, (1,))?;
    p.start()?;
    let pid = p.pid();
    let said = p.result()?;
    measure(
        "child pid",
        format!("{pid:?} (parent {})", std::process::id()),
    );
    measure("child returned", &said);
    measure("exitcode", format!("{:?}", p.exitcode()));

    let p = Process::new(exits_with::TASK, (3,))?;
    p.start()?;
    p.join()?;
    measure("exitcode of exit(3)", format!("{:?}", p.exitcode()));
    let p = Process::new(panics::TASK, ())?;
    p.start()?;
    let r = p.result();
    measure(
        "exitcode of a panic",
        format!(
            "{:?} ({})",
            p.exitcode(),
            r.err().map(|e| e.to_string()).unwrap_or_default()
        ),
    );

    let n = if ctx.fast { 3 } else { 40 };
    println!();
    println!("   start latency (start + join of an empty task, median of {n}):");
    let fork_floor = raw_fork(n);
    let exec_floor = raw_fork_exec(n);
    measure("floor: raw fork + _exit + waitpid", us(fork_floor));
    measure("floor: fork + exec /bin/true", us(exec_floor));
    for m in StartMethod::ALL {
        let d = start_latency(m, n)?;
        let floor = if m == StartMethod::Spawn {
            exec_floor
        } else {
            fork_floor
        };
        measure(
            &format!("Process, start method {m}"),
            format!(
                "{} ({:.1}× its floor)",
                us(d),
                d.as_secs_f64() / floor.as_secs_f64()
            ),
        );
    }
    explain(
        "A child's exit code is Python's: 0 for a normal return, the status \
         given to exit(), 1 for a panic (Python's uncaught exception), minus \
         the signal number when a signal killed it. Fork copies the parent \
         and is the cheapest; spawn re-executes this binary (an exec and a \
         fresh runtime per child, the cost of the fork+exec floor plus our \
         binary's start-up); forkserver pays that exec once, then forks from \
         a small single-threaded server, so it costs about a fork plus two \
         socket round trips, without fork's danger of inheriting locks held \
         by other threads. Every start waits for the child's handshake, so \
         a child that cannot start is an error, not a hang.",
    );
    Ok(())
}
