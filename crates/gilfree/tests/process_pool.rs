//! `futures::ProcessPoolExecutor` under every start method: submit, the
//! `Executor` trait, lazy `map` (chunks, buffersize, timeout),
//! `wait`/`as_completed`, `shutdown(cancel_futures)`, `terminate_workers`
//! and `kill_workers`, recycling, a failing
//! initializer, and a worker SIGKILLed mid-task. `harness = false`: `main`
//! calls `multiprocessing::init()` first.
//!
//! No sleeps: a task that must be seen running connects to a `Listener`
//! the test accepts on, and runs until the test hangs up.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use gilfree::futures::{
    Call, Error, Executor, MapOptions, ProcessPoolExecutor, ReturnWhen, as_completed, wait,
};
use gilfree::multiprocessing::{
    Address, Client, Connection, Listener, Pipe, SharedMemory, StartMethod,
};
use libtest_mimic::{Arguments, Failed, Trial};

#[gilfree::task]
fn square(x: u64) -> u64 {
    x * x
}

#[gilfree::task]
fn pid() -> i32 {
    std::process::id() as i32
}

#[gilfree::task]
fn boom(msg: String) -> u8 {
    std::panic::set_hook(Box::new(|_| {}));
    panic!("{msg}")
}

#[gilfree::task]
fn maybe_kill(i: u32, victim: u32) -> u32 {
    if i == victim {
        // SAFETY: raising a signal at ourselves.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    i * 10
}

/// Connects to the test's listener, says so, and returns when the test
/// hangs up.
#[gilfree::task]
fn held(path: PathBuf) -> u8 {
    let c = Client(&Address::Unix(path), None).unwrap();
    c.send("running").unwrap();
    let _ = c.recv_bytes();
    7
}

#[gilfree::task]
fn held_one(path: PathBuf) -> u8 {
    held(path)
}

#[gilfree::task]
fn bad_init() {
    std::panic::set_hook(Box::new(|_| {}));
    panic!("no database");
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn pool(m: StartMethod, n: usize) -> Result<ProcessPoolExecutor, Failed> {
    Ok(ProcessPoolExecutor::builder()
        .max_workers(n)
        .start_method(m)
        .build()?)
}

fn socket_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "gilfree-ppe-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Relaxed)
    ))
}

type Case = fn(StartMethod) -> Result<(), Failed>;

fn submit_wait_as_completed(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    check(p.submit(square::TASK, (7,))?.result() == Ok(49), "submit")?;
    let f = p.submit(boom::TASK, ("bad".into(),))?;
    check(f.result() == Err(Error::Panicked("bad".into())), "a panic")?;
    let fs: Vec<_> = (0..20u64)
        .map(|i| p.submit(square::TASK, (i,)))
        .collect::<Result<_, _>>()?;
    let total: u64 = as_completed(&fs, None)
        .map(|f| {
            f.map_err(|e| e.to_string())
                .and_then(|f| f.result().map_err(|e| e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .sum();
    check(
        total == (0..20u64).map(|x| x * x).sum::<u64>(),
        "as_completed",
    )?;
    let done = wait(&fs, None, ReturnWhen::AllCompleted);
    check(done.done.len() == 20 && done.not_done.is_empty(), "wait")?;
    Ok(())
}

/// Code written against `Executor<J>` runs here.
fn total<E: Executor<Call<(u64,), u64>>>(e: &E) -> Result<u64, Error> {
    let jobs = (0..10u64).map(|i| Call::new(square::TASK, (i,)));
    e.map_jobs(jobs, MapOptions::new())?.sum()
}

fn executor_trait(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    check(total(&p)? == 285, "map_jobs through the trait")
}

fn map_chunks_buffers_timeouts(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let want: Vec<u64> = (0..500u64).map(|x| x * x).collect();
    let v: Vec<u64> = p
        .map(square::TASK, 0..500u64, MapOptions::new().chunksize(16))?
        .collect::<Result<_, _>>()?;
    check(v == want, "map with chunks")?;
    // An endless input, read lazily.
    let pulled = Arc::new(AtomicUsize::new(0));
    let pl = pulled.clone();
    let input = (0u64..).inspect(move |_| {
        pl.fetch_add(1, Relaxed);
    });
    let mut it = p.map(
        square::TASK,
        input,
        MapOptions::new().chunksize(4).buffersize(3),
    )?;
    for i in 0..300u64 {
        check(it.next() == Some(Ok(i * i)), "endless map value")?;
        let ahead = pulled.load(Relaxed) - (i as usize + 1);
        check(ahead <= 3 * 4 + 4, format!("read {ahead} ahead"))?;
    }
    drop(it);
    // A timeout: the call is held until we hang up.
    let path = socket_path("timeout");
    let l = Listener::bind(path.clone(), None)?;
    let mut it = p.map(
        held_one::TASK,
        [path],
        MapOptions::new().timeout(Duration::from_millis(1)),
    )?;
    let c = l.accept()?;
    check(c.recv::<String>()? == "running", "running")?;
    check(it.next() == Some(Err(Error::Timeout)), "map timeout")?;
    check(it.next().is_none(), "ends after the timeout")?;
    drop(c);
    Ok(())
}

fn fault_sigkill_one_of_eight(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let fs: Vec<_> = (0..8u32)
        .map(|i| p.submit(maybe_kill::TASK, (i, 2)))
        .collect::<Result<_, _>>()?;
    let mut ok = 0;
    for (i, f) in fs.iter().enumerate() {
        match f.result() {
            Ok(v) => {
                check(v == i as u32 * 10, "a right result")?;
                ok += 1;
            }
            Err(e @ Error::WorkerDied { exitcode: -9, .. }) => {
                check(i == 2, format!("call {i}: {e}"))?;
                check(e.to_string().contains("SIGKILL"), e.to_string())?;
            }
            Err(e) => return Err(format!("call {i}: unexpected {e}").into()),
        }
    }
    check(ok == 7, format!("{ok} results"))?;
    let v: Vec<u64> = p
        .map(square::TASK, 0..100u64, MapOptions::new())?
        .collect::<Result<_, _>>()?;
    check(
        v == (0..100u64).map(|x| x * x).collect::<Vec<_>>(),
        "100 more",
    )?;
    Ok(())
}

fn shutdown_cancels_pending(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 1)?;
    let path = socket_path("cancel");
    let l = Listener::bind(path.clone(), None)?;
    let first = p.submit(held::TASK, (path,))?;
    let c = l.accept()?;
    check(c.recv::<String>()? == "running", "running")?;
    let rest: Vec<_> = (0..5u64)
        .map(|i| p.submit(square::TASK, (i,)))
        .collect::<Result<_, _>>()?;
    p.shutdown(false, true);
    check(rest.iter().all(|f| f.cancelled()), "queued calls cancelled")?;
    check(
        p.submit(square::TASK, (1,)).unwrap_err() == Error::ShutDown,
        "shut down",
    )?;
    drop(c); // let the running call finish
    check(first.result() == Ok(7), "the running call finishes")?;
    p.shutdown(true, false);
    check(p.worker_pids().is_empty(), "workers gone")?;
    Ok(())
}

/// Ignores SIGTERM, then connects to the test's listener and runs until
/// killed.
#[gilfree::task]
fn stubborn(path: PathBuf) -> u8 {
    // SAFETY: ignoring SIGTERM in this worker only.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    let c = Client(&Address::Unix(path), None).unwrap();
    c.send("running").unwrap();
    loop {
        std::thread::park();
    }
}

/// Python 3.14's `terminate_workers` / `kill_workers`: the running calls
/// fail with `BrokenProcessPool`, the queued ones are cancelled, the pool
/// is shut down and its workers gone. `kill_workers` stops a worker that
/// ignores SIGTERM.
fn terminate_and_kill_workers(m: StartMethod) -> Result<(), Failed> {
    for kill in [false, true] {
        let p = pool(m, 2)?;
        let path = socket_path(if kill { "kill" } else { "terminate" });
        let l = Listener::bind(path.clone(), None)?;
        let running: Vec<_> = (0..2)
            .map(|_| {
                if kill {
                    p.submit(stubborn::TASK, (path.clone(),))
                } else {
                    p.submit(held::TASK, (path.clone(),))
                }
            })
            .collect::<Result<_, _>>()?;
        let conns = (0..2)
            .map(|_| {
                let c = l.accept()?;
                check(c.recv::<String>()? == "running", "running")?;
                Ok(c)
            })
            .collect::<Result<Vec<_>, Failed>>()?;
        let queued: Vec<_> = (0..3u64)
            .map(|i| p.submit(square::TASK, (i,)))
            .collect::<Result<_, _>>()?;
        if kill {
            p.kill_workers();
        } else {
            p.terminate_workers();
        }
        for f in &running {
            check(
                matches!(f.result(), Err(Error::BrokenProcessPool(_))),
                format!("a running call: {:?}", f.result()),
            )?;
        }
        check(
            queued.iter().all(|f| f.cancelled()),
            "queued calls cancelled",
        )?;
        check(
            p.submit(square::TASK, (1,)).unwrap_err() == Error::ShutDown,
            "shut down",
        )?;
        check(p.worker_pids().is_empty(), "workers gone")?;
        drop(conns);
    }
    Ok(())
}

fn max_tasks_per_child(m: StartMethod) -> Result<(), Failed> {
    let p = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(1)
        .start_method(m)
        .build()?;
    let pids: Vec<i32> = (0..4)
        .map(|_| p.submit(pid::TASK, ()).and_then(|f| f.result()))
        .collect::<Result<_, _>>()?;
    check(
        pids.iter().collect::<HashSet<_>>().len() == 4,
        format!("{pids:?}"),
    )
}

fn initializer_failure(m: StartMethod) -> Result<(), Failed> {
    let p = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(bad_init::TASK, ())
        .start_method(m)
        .build()?;
    let r = p.submit(square::TASK, (2,)).and_then(|f| f.result());
    match r {
        Err(Error::BrokenProcessPool(why)) => check(why.contains("no database"), why),
        other => Err(format!("expected BrokenProcessPool, got {other:?}").into()),
    }
}

/// Sends `x` on the connection it was given and hands the connection back.
#[gilfree::task]
fn send_back(c: Connection, x: u32) -> Connection {
    c.send(&x).expect("send");
    c
}

/// A shared block made in the worker, `n` written in it.
#[gilfree::task]
fn make_block(n: u8) -> SharedMemory {
    let m = SharedMemory::anonymous(4).expect("block");
    m.write_at(0, &[n; 4]);
    m
}

/// Descriptors in a future's call and result, and in a map's chunks.
fn descriptors_in_calls_and_results(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let (a, b) = Pipe(true)?;
    let a2 = p.submit(send_back::TASK, (a, 4))?.into_result()?;
    check(b.recv::<u32>()? == 4, "the worker wrote on it")?;
    a2.send(&5u32)?;
    check(b.recv::<u32>()? == 5, "the connection came back")?;
    let blocks: Vec<SharedMemory> = p
        .map(make_block::TASK, 0..9u8, MapOptions::new().chunksize(4))?
        .collect::<Result<_, _>>()?;
    for (i, blk) in blocks.iter().enumerate() {
        check(blk.to_vec() == vec![i as u8; 4], "a block from a worker")?;
    }
    Ok(())
}

fn main() {
    gilfree::multiprocessing::init();
    let args = Arguments::from_args();
    let per_method: &[(&str, Case)] = &[
        ("submit_wait_as_completed", submit_wait_as_completed),
        ("executor_trait", executor_trait),
        ("map_chunks_buffers_timeouts", map_chunks_buffers_timeouts),
        ("fault_sigkill_one_of_eight", fault_sigkill_one_of_eight),
        ("shutdown_cancels_pending", shutdown_cancels_pending),
        ("max_tasks_per_child", max_tasks_per_child),
        ("terminate_and_kill_workers", terminate_and_kill_workers),
        ("initializer_failure", initializer_failure),
        (
            "descriptors_in_calls_and_results",
            descriptors_in_calls_and_results,
        ),
    ];
    let mut trials = Vec::new();
    for m in StartMethod::ALL {
        for &(name, f) in per_method {
            trials.push(Trial::test(format!("{m}::{name}"), move || f(m)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
