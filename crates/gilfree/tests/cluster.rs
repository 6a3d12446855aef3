//! `cluster::MpiPoolExecutor` on a real MPI job of 3 ranks: submit (also
//! from several threads at once, with callbacks that submit), the
//! `Executor` trait, `map` in order (chunks, buffersize, 100k tiny calls),
//! a panicking task, a 64 MiB argument and result, cancel, and shutdown
//! with pending work (and from a done-callback). `harness = false`: `main` calls
//! `multiprocessing::init()` first (ranks 1 and 2 serve there), and when
//! not started by `mpiexec` it runs itself again under `mpiexec -n 3`.
//!
//! No sleeps: a task that must be seen running connects to a `Listener`
//! the test accepts on, and runs until the test hangs up. The tests run
//! one at a time, since they share the two server ranks.

mod cluster_support;

use std::path::PathBuf;

use gilfree::cluster::MpiPoolExecutor;
use gilfree::futures::{Call, Error, Executor, MapOptions, ReturnWhen, as_completed, wait};
use gilfree::multiprocessing::{Address, Client, Connection, Listener};
use libtest_mimic::{Arguments, Failed, Trial};

#[gilfree::task]
fn square(x: u64) -> u64 {
    x * x
}

#[gilfree::task]
fn rank_pid() -> u32 {
    std::process::id()
}

#[gilfree::task]
fn boom(msg: String) -> u8 {
    std::panic::set_hook(Box::new(|_| {}));
    panic!("{msg}")
}

#[gilfree::task]
fn checked(n: u32) -> Result<u32, String> {
    if n.is_multiple_of(2) {
        Ok(n / 2)
    } else {
        Err(format!("{n} is odd"))
    }
}

/// Length and a checksum of a big argument.
#[gilfree::task]
fn weigh(v: Vec<u8>) -> (usize, u64) {
    (v.len(), v.iter().map(|&b| b as u64).sum())
}

#[gilfree::task]
fn make(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
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

fn pool() -> MpiPoolExecutor {
    MpiPoolExecutor::new().expect("under mpiexec -n 3")
}

fn check(ok: bool, what: &str) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(what.into()) }
}

/// A listener the `held` tasks connect to, in a private directory.
struct Gate {
    dir: PathBuf,
    path: PathBuf,
    listener: Listener,
}

impl Gate {
    fn new(name: &str) -> Gate {
        let dir =
            std::env::temp_dir().join(format!("gilfree-cluster-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let listener = Listener::bind(path.clone(), None).unwrap();
        Gate {
            dir,
            path,
            listener,
        }
    }

    /// Wait for one `held` task to start; dropping the connection lets
    /// it finish.
    fn accept(&self) -> Connection {
        let c = self.listener.accept().unwrap();
        assert_eq!(c.recv::<String>().unwrap(), "running");
        c
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn submit_results() -> Result<(), Failed> {
    let p = pool();
    check(p.max_workers() == 2, "max_workers is the server ranks")?;
    check(gilfree::cluster::world_size() == Some(3), "world_size")?;
    let fs: Vec<_> = (0..200u64)
        .map(|i| p.submit(square::TASK, (i,)).unwrap())
        .collect();
    for (i, f) in fs.iter().enumerate() {
        check(
            f.result() == Ok((i * i) as u64),
            "each future its own result",
        )?;
    }
    // Both servers served, and neither is rank 0.
    let pids: std::collections::HashSet<u32> = (0..40)
        .map(|_| p.submit(rank_pid::TASK, ()).unwrap())
        .map(|f| f.result().unwrap())
        .collect();
    check(
        !pids.contains(&std::process::id()),
        "calls run on other ranks",
    )?;
    check(pids.len() <= 2, "two server ranks")
}

/// Round trips from four threads at once, and done-callbacks (on the hub)
/// that submit: a submitter that finds the hub idle sends its batch itself
/// under the hub's wire lock, so posters race the hub and each other there.
fn concurrent_submitters() -> Result<(), Failed> {
    let p = std::sync::Arc::new(pool());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                (0..300u64).all(|i| {
                    let x = t * 1000 + i;
                    p.submit(square::TASK, (x,)).unwrap().result() == Ok(x * x)
                })
            })
        })
        .collect();
    // Meanwhile a chain of callbacks, each submitting the next call.
    let (tx, rx) = std::sync::mpsc::channel();
    fn chain(p: std::sync::Arc<MpiPoolExecutor>, n: u64, tx: std::sync::mpsc::Sender<u64>) {
        let f = p.submit(square::TASK, (n,)).unwrap();
        let q = p.clone();
        f.add_done_callback(move |f| {
            let v = f.result().unwrap();
            if n < 50 {
                chain(q, n + 1, tx.clone());
            }
            tx.send(v).unwrap();
        });
    }
    chain(p.clone(), 0, tx);
    let chained: u64 = rx.iter().take(51).sum();
    for t in threads {
        check(t.join().unwrap(), "every thread's results its own")?;
    }
    check(
        chained == (0..=50u64).map(|i| i * i).sum::<u64>(),
        "callbacks that submit",
    )
}

fn executor_trait() -> Result<(), Failed> {
    fn total<E: Executor<Call<(u64,), u64>>>(e: &E) -> u64 {
        let jobs = (1..=10u64).map(|i| Call::new(square::TASK, (i,)));
        e.map_jobs(jobs, MapOptions::new().buffersize(3))
            .unwrap()
            .map(Result::unwrap)
            .sum()
    }
    check(total(&pool()) == 385, "generic code runs unchanged")
}

fn wait_and_as_completed() -> Result<(), Failed> {
    let p = pool();
    let fs: Vec<_> = (0..20u64)
        .map(|i| p.submit(square::TASK, (i,)).unwrap())
        .collect();
    let sum: u64 = as_completed(&fs, None)
        .map(|f| f.unwrap().result().unwrap())
        .sum();
    check(
        sum == (0..20u64).map(|i| i * i).sum(),
        "as_completed sees every future",
    )?;
    let d = wait(&fs, None, ReturnWhen::AllCompleted);
    check(
        d.done.len() == 20 && d.not_done.is_empty(),
        "wait(ALL_COMPLETED)",
    )
}

fn map_in_order() -> Result<(), Failed> {
    let p = pool();
    for o in [
        MapOptions::new(),
        MapOptions::new().chunksize(7),
        MapOptions::new().chunksize(3).buffersize(2),
    ] {
        let v: Vec<u64> = p
            .map(square::TASK, 0..500u64, o)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        check(
            v == (0..500u64).map(|i| i * i).collect::<Vec<_>>(),
            "results in input order",
        )?;
    }
    // An endless input, read lazily.
    let v: Vec<u64> = p
        .map(
            square::TASK,
            0u64..,
            MapOptions::new().chunksize(16).buffersize(4),
        )
        .unwrap()
        .take(100)
        .map(Result::unwrap)
        .collect();
    check(v[99] == 99 * 99, "lazy map over an endless input")
}

fn map_100k_tiny_calls() -> Result<(), Failed> {
    let p = pool();
    let n = 100_000u64;
    let mut count = 0u64;
    let mut sum = 0u64;
    for (i, r) in p
        .map(square::TASK, 0..n, MapOptions::new().chunksize(1000))
        .unwrap()
        .enumerate()
    {
        let r = r.unwrap();
        if r != (i as u64) * (i as u64) {
            return Err(format!("item {i}: {r}").into());
        }
        count += 1;
        sum = sum.wrapping_add(r);
    }
    check(count == n, "every item once")?;
    check(
        sum == (0..n).map(|i| i * i).fold(0u64, u64::wrapping_add),
        "nothing lost or doubled",
    )
}

fn panics_and_errors() -> Result<(), Failed> {
    let p = pool();
    let f = p.submit(boom::TASK, ("no luck".to_string(),)).unwrap();
    check(
        f.result() == Err(Error::Panicked("no luck".into())),
        "a panic fails its own future",
    )?;
    // The rank goes on.
    check(
        p.submit(square::TASK, (9,)).unwrap().result() == Ok(81),
        "the rank survives",
    )?;
    // A task's own error is its value.
    check(
        p.submit(checked::TASK, (3,)).unwrap().result() == Ok(Err("3 is odd".into())),
        "Err values",
    )?;
    // In a map, the failure is the last item.
    let v: Vec<_> = p
        .map(checked::TASK, [2, 4], MapOptions::new())
        .unwrap()
        .collect();
    check(v == vec![Ok(Ok(1)), Ok(Ok(2))], "map of Results")?;
    let m: Vec<_> = p
        .map(
            boom::TASK,
            ["a".to_string(), "b".to_string()],
            MapOptions::new(),
        )
        .unwrap()
        .collect();
    check(
        m == vec![Err(Error::Panicked("a".into()))],
        "map ends at its first failure",
    )
}

fn big_argument_and_result() -> Result<(), Failed> {
    let p = pool();
    let big: Vec<u8> = (0..64usize << 20).map(|i| (i % 251) as u8).collect();
    let want = (big.len(), big.iter().map(|&b| b as u64).sum::<u64>());
    check(
        p.submit(weigh::TASK, (big,)).unwrap().result() == Ok(want),
        "64 MiB argument",
    )?;
    let v = p
        .submit(make::TASK, (32usize << 20,))
        .unwrap()
        .result()
        .unwrap();
    check(
        v.len() == 32 << 20 && v[1000] == (1000 % 256) as u8,
        "32 MiB result",
    )
}

fn cancel_pending() -> Result<(), Failed> {
    let p = pool();
    let gate = Gate::new("cancel");
    // Two ranks, two batches each: four `held` fill every slot.
    let held: Vec<_> = (0..4)
        .map(|_| p.submit(held::TASK, (gate.path.clone(),)).unwrap())
        .collect();
    let first = [gate.accept(), gate.accept()];
    let queued: Vec<_> = (0..3u64)
        .map(|i| p.submit(square::TASK, (i,)).unwrap())
        .collect();
    check(!held[0].cancel(), "a running call cannot be cancelled")?;
    for f in &queued {
        check(f.cancel(), "a call not sent yet can be cancelled")?;
    }
    drop(first);
    let second = [gate.accept(), gate.accept()];
    drop(second);
    for f in &held {
        check(f.result() == Ok(7), "running calls finish")?;
    }
    for f in &queued {
        check(
            f.result() == Err(Error::Cancelled),
            "cancelled calls never run",
        )?;
    }
    Ok(())
}

fn shutdown_with_pending_work() -> Result<(), Failed> {
    // wait=True, no cancel: everything submitted completes.
    let p = pool();
    let fs: Vec<_> = (0..100u64)
        .map(|i| p.submit(square::TASK, (i,)).unwrap())
        .collect();
    p.shutdown(true, false);
    check(
        fs.iter().all(|f| f.done()),
        "shutdown(wait) returns when all are done",
    )?;
    check(
        fs.iter()
            .enumerate()
            .all(|(i, f)| f.result() == Ok((i * i) as u64)),
        "all ran",
    )?;
    check(
        p.submit(square::TASK, (1,)).unwrap_err() == Error::ShutDown,
        "no new calls",
    )?;
    check(
        p.map(square::TASK, [1u64], MapOptions::new()).is_err(),
        "no new maps",
    )?;

    // cancel_futures: the calls not sent are cancelled, the running finish.
    let p = pool();
    let gate = Gate::new("shutdown");
    let held: Vec<_> = (0..4)
        .map(|_| p.submit(held::TASK, (gate.path.clone(),)).unwrap())
        .collect();
    let first = [gate.accept(), gate.accept()];
    let queued: Vec<_> = (0..5u64)
        .map(|i| p.submit(square::TASK, (i,)).unwrap())
        .collect();
    p.shutdown(false, true);
    // Two `held` run; the other two are queued on the ranks, or still in
    // rank 0's inbox if the hub has not sent them yet (under load it can
    // lag this thread by milliseconds): then they are pending too, and
    // cancelled with the squares. The hub sends in order, so the ones not
    // sent are the last.
    let sent = held.iter().take_while(|f| !f.cancelled()).count();
    check(
        sent >= 2 && held[sent..].iter().all(|f| f.cancelled()),
        "only calls not sent yet are cancelled, the last ones",
    )?;
    check(
        queued.iter().all(|f| f.cancelled()),
        "pending calls cancelled",
    )?;
    drop(first);
    let second: Vec<_> = (2..sent).map(|_| gate.accept()).collect();
    drop(second);
    p.shutdown(true, false);
    check(
        held[..sent].iter().all(|f| f.result() == Ok(7)),
        "sent calls finish",
    )?;
    check(
        held[sent..]
            .iter()
            .all(|f| f.result() == Err(Error::Cancelled)),
        "cancelled calls never run",
    )?;
    // Another executor still works: the ranks serve on.
    check(
        pool().submit(square::TASK, (3,)).unwrap().result() == Ok(9),
        "ranks serve on",
    )
}

fn shutdown_from_a_callback() -> Result<(), Failed> {
    // The callback runs on rank 0's hub thread, which must not wait for
    // itself.
    let p = std::sync::Arc::new(pool());
    let gate = Gate::new("callback");
    let f = p.submit(held::TASK, (gate.path.clone(),)).unwrap();
    let c = gate.accept();
    let (tx, rx) = std::sync::mpsc::channel();
    let q = p.clone();
    f.add_done_callback(move |f| {
        q.shutdown(true, false);
        tx.send(f.result()).unwrap();
    });
    drop(c);
    check(
        rx.recv() == Ok(Ok(7)),
        "the callback ran, its shutdown returned",
    )?;
    check(
        p.submit(square::TASK, (1,)).unwrap_err() == Error::ShutDown,
        "shut down",
    )
}

fn main() {
    gilfree::multiprocessing::init();
    let mut args = Arguments::from_args();
    if !args.list && gilfree::cluster::world_size().is_none() {
        cluster_support::relaunch(3);
    }
    // The tests share the two server ranks: one at a time.
    args.test_threads = Some(1);
    let tests = vec![
        Trial::test("submit_results", submit_results),
        Trial::test("concurrent_submitters", concurrent_submitters),
        Trial::test("executor_trait", executor_trait),
        Trial::test("wait_and_as_completed", wait_and_as_completed),
        Trial::test("map_in_order", map_in_order),
        Trial::test("map_100k_tiny_calls", map_100k_tiny_calls),
        Trial::test("panics_and_errors", panics_and_errors),
        Trial::test("big_argument_and_result", big_argument_and_result),
        Trial::test("cancel_pending", cancel_pending),
        Trial::test("shutdown_with_pending_work", shutdown_with_pending_work),
        Trial::test("shutdown_from_a_callback", shutdown_from_a_callback),
    ];
    libtest_mimic::run(&args, tests).exit();
}
