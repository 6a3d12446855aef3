//! `multiprocessing::Pool` under every start method: the API points and the
//! fault tests (a worker SIGKILLed or `exit(3)`ing mid-task, or with a
//! map's chunk queued behind its running one, a hanging
//! worker stopped by `terminate`, a result that fails to decode, recycling,
//! a failing initializer). `harness = false`: `main` calls
//! `multiprocessing::init()` first, as workers re-execute this binary.
//!
//! No sleeps: a test that needs a task to be running has the task connect
//! to a `Listener` the test accepts on.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use gilfree::multiprocessing::{
    Address, Callbacks, Client, Connection, Error, Listener, Pipe, Pool, SharedMemory, StartMethod,
};
use libtest_mimic::{Arguments, Failed, Trial};
use serde::{Deserialize, Deserializer, Serialize};

mod alone;

#[gilfree::task]
fn square(x: u64) -> u64 {
    x * x
}

#[gilfree::task]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[gilfree::task]
fn pid() -> i32 {
    std::process::id() as i32
}

/// Kills its own worker with SIGKILL when `i == victim`.
#[gilfree::task]
fn maybe_kill(i: u32, victim: u32) -> u32 {
    if i == victim {
        // SAFETY: raising a signal at ourselves.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    i * 10
}

#[gilfree::task]
fn maybe_exit(i: u32, victim: u32) -> u32 {
    if i == victim {
        std::process::exit(3);
    }
    i + 1
}

#[gilfree::task]
fn maybe_panic(i: u32) -> u32 {
    if i == 3 {
        std::panic::set_hook(Box::new(|_| {}));
        panic!("three is bad");
    }
    i
}

/// Tells the test it runs (by connecting to its listener), then blocks
/// until killed.
#[gilfree::task]
fn hang(path: PathBuf) -> u32 {
    let c = Client(&Address::Unix(path), None).unwrap();
    c.send("running").unwrap();
    loop {
        std::thread::park();
    }
}

/// A result type whose decoding refuses 13.
#[derive(Serialize, Debug, PartialEq)]
struct Picky(u32);

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        if v == 13 {
            return Err(serde::de::Error::custom("13 does not decode"));
        }
        Ok(Picky(v))
    }
}

#[gilfree::task]
fn picky(x: u32) -> Picky {
    Picky(x)
}

static INIT_VALUE: AtomicUsize = AtomicUsize::new(0);

#[gilfree::task]
fn set_init(v: usize) {
    INIT_VALUE.store(v, Relaxed);
}

#[gilfree::task]
fn get_init() -> usize {
    INIT_VALUE.load(Relaxed)
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

fn pool(m: StartMethod, n: usize) -> Result<Pool, Failed> {
    Ok(Pool::builder().processes(n).start_method(m).build()?)
}

/// A Unix socket path unique to this test run.
fn socket_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "gilfree-pool-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Relaxed)
    ))
}

type Case = fn(StartMethod) -> Result<(), Failed>;

fn apply_and_async_result(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    check(p.apply(add::TASK, (2, 40))? == 42, "apply")?;
    let r = p.apply_async(square::TASK, (9,))?;
    r.wait();
    check(r.ready(), "ready after wait")?;
    check(r.successful()?, "successful")?;
    check(r.get()? == 81, "get")?;
    check(r.get().is_err(), "a second get: taken")?;
    let r = p.apply_async(square::TASK, (3,))?;
    check(r.get_timeout(Duration::from_secs(120))? == 9, "get_timeout")?;
    let r = p.apply_async(maybe_panic::TASK, (3,))?;
    match r.get() {
        Err(Error::Panicked(msg)) => check(msg == "three is bad", msg)?,
        other => return Err(format!("expected a panic, got {other:?}").into()),
    }
    check(!r.successful()?, "not successful")?;
    // Callbacks run before get() returns.
    let seen = Arc::new(AtomicUsize::new(0));
    let (s1, s2) = (seen.clone(), seen.clone());
    let r = p.apply_async_with(
        square::TASK,
        (5,),
        Callbacks::new().callback(move |v: &u64| s1.store(*v as usize, Relaxed)),
    )?;
    check(r.get()? == 25 && seen.load(Relaxed) == 25, "callback")?;
    let r = p.apply_async_with(
        maybe_panic::TASK,
        (3,),
        Callbacks::new().error_callback(move |e| {
            if matches!(e, Error::Panicked(_)) {
                s2.store(1000, Relaxed)
            }
        }),
    )?;
    check(
        r.get().is_err() && seen.load(Relaxed) == 1000,
        "error callback",
    )?;
    // A callback that panics: the result is stored, the pool goes on.
    let r = p.apply_async_with(
        square::TASK,
        (6,),
        Callbacks::new().callback(|_: &u64| panic!("a bug in a callback")),
    )?;
    check(r.get()? == 36, "the result despite the callback's panic")?;
    check(p.apply(add::TASK, (1, 1))? == 2, "the pool goes on")?;
    Ok(())
}

/// `AsyncResult::get_async` on tokio's multi-thread runtime: many results
/// awaited at once from tasks, one of them a call whose worker is
/// SIGKILLed (its await gives the error, the others their values), and a
/// `get_async` dropped before the result came leaves it for `get`.
fn async_result_awaited(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .map_err(|e| e.to_string())?;
    let results: Vec<_> = (0..8u32)
        .map(|i| p.apply_async(maybe_kill::TASK, (i, 5)))
        .collect::<Result<_, _>>()?;
    let outs: Vec<_> = rt.block_on(async {
        let tasks: Vec<_> = results
            .iter()
            .cloned()
            .map(|r| tokio::spawn(async move { r.get_async().await }))
            .collect();
        let mut outs = Vec::new();
        for t in tasks {
            outs.push(t.await.expect("task"));
        }
        outs
    });
    for (i, out) in outs.into_iter().enumerate() {
        match (i, out) {
            (5, Err(Error::WorkerDied { .. })) => {}
            (5, other) => return Err(format!("call 5: expected WorkerDied, got {other:?}").into()),
            (i, Ok(v)) => check(v == i as u32 * 10, format!("call {i}: {v}"))?,
            (i, Err(e)) => return Err(format!("call {i}: {e}").into()),
        }
    }
    // A get_async polled once and dropped before the result: nothing taken.
    let r = p.apply_async(square::TASK, (7,))?;
    let first = {
        let fut = std::pin::pin!(r.get_async());
        futures::executor::block_on(futures::future::poll_immediate(fut))
    };
    let v = match first {
        Some(taken) => taken?, // it was ready at the first poll
        None => r.get()?,      // dropped while pending: still there
    };
    check(v == 49, "the value after a dropped await")?;
    check(p.apply(add::TASK, (1, 1))? == 2, "the pool goes on")?;
    Ok(())
}

fn map_and_starmap(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let want: Vec<u64> = (0..1000u64).map(|x| x * x).collect();
    check(
        p.map(square::TASK, 0..1000u64, None)? == want,
        "map default chunks",
    )?;
    check(
        p.map(square::TASK, 0..1000u64, Some(1))? == want,
        "map chunksize 1",
    )?;
    check(
        p.map(square::TASK, 0..1000u64, Some(5000))? == want,
        "one chunk",
    )?;
    check(
        p.map(square::TASK, Vec::<u64>::new(), None)?.is_empty(),
        "empty map",
    )?;
    check(
        p.map_async(square::TASK, 0..10u64, Some(3))?.get()? == want[..10],
        "map_async",
    )?;
    let pairs: Vec<(i32, i32)> = (0..100).map(|i| (i, 2 * i)).collect();
    let sums: Vec<i32> = (0..100).map(|i| 3 * i).collect();
    check(
        p.starmap(add::TASK, pairs.clone(), None)? == sums,
        "starmap",
    )?;
    check(
        p.starmap_async(add::TASK, pairs, Some(7))?.get()? == sums,
        "starmap_async",
    )?;
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    let cb = Callbacks::new().callback(move |v: &Vec<u64>| g.store(v.len(), Relaxed));
    p.map_async_with(square::TASK, 0..17u64, None, cb)?.wait();
    check(got.load(Relaxed) == 17, "map callback")?;
    // A failing call fails the map.
    check(
        matches!(
            p.map(maybe_panic::TASK, 0..10u32, Some(2)),
            Err(Error::Panicked(_))
        ),
        "map of a panicking call",
    )?;
    check(
        matches!(p.map(square::TASK, [1u64], Some(0)), Err(Error::Value(_))),
        "chunksize 0",
    )?;
    // An input of unknown length (collected first), and inputs whose
    // exact length hints are wrong either way (read as sent).
    let unknown = (0..1000u64).filter(|_| true);
    check(
        p.map(square::TASK, unknown, None)? == want,
        "unknown length",
    )?;
    for claimed in [10, 5000] {
        let lying = Lying {
            next: 0,
            end: 1000,
            claimed,
        };
        check(
            p.map(square::TASK, lying, None)? == want,
            format!("a length hint of {claimed} for 1000 items"),
        )?;
    }
    Ok(())
}

/// `next..end`, claiming an exact length of `claimed`.
struct Lying {
    next: u64,
    end: u64,
    claimed: usize,
}

impl Iterator for Lying {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claimed, Some(self.claimed))
    }
}

fn imap_orders(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let v: Vec<u64> = p
        .imap(square::TASK, 0..200u64, None)
        .collect::<Result<_, _>>()?;
    check(
        v == (0..200u64).map(|x| x * x).collect::<Vec<_>>(),
        "imap order",
    )?;
    let v: Vec<u64> = p
        .imap(square::TASK, 0..200u64, Some(7))
        .collect::<Result<_, _>>()?;
    check(
        v == (0..200u64).map(|x| x * x).collect::<Vec<_>>(),
        "imap chunked order",
    )?;
    let mut v: Vec<u64> = p
        .imap_unordered(square::TASK, 0..200u64, Some(3))
        .collect::<Result<_, _>>()?;
    v.sort();
    check(
        v == (0..200u64).map(|x| x * x).collect::<Vec<_>>(),
        "imap_unordered: a permutation",
    )?;
    // A failing item fails alone; the iteration goes on.
    let r: Vec<Result<u32, Error>> = p.imap(maybe_panic::TASK, 0..6u32, None).collect();
    check(r.len() == 6 && r[3].is_err(), "imap: the failed item")?;
    check(
        r.iter().filter(|x| x.is_ok()).count() == 5,
        "imap: the others",
    )?;
    let mut it = p.imap(square::TASK, [4u64], None);
    check(
        matches!(it.next_timeout(Duration::from_secs(120)), Some(Ok(16))),
        "next_timeout",
    )?;
    check(it.next().is_none(), "then the end")?;
    Ok(())
}

/// An endless input: the pool reads only a bounded window ahead.
fn imap_endless_is_bounded(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let pulled = Arc::new(AtomicUsize::new(0));
    let pl = pulled.clone();
    let input = (0u64..).inspect(move |_| {
        pl.fetch_add(1, Relaxed);
    });
    let chunk = 5;
    let mut it = p.imap(square::TASK, input, Some(chunk));
    for i in 0..1000u64 {
        check(it.next().transpose()? == Some(i * i), "endless imap value")?;
        // At most 2 × workers chunks beyond what was consumed.
        let ahead = pulled.load(Relaxed) - (i as usize + 1);
        check(
            ahead <= 2 * 2 * chunk + chunk,
            format!("read {ahead} items ahead"),
        )?;
    }
    let mut it = p.imap_unordered(square::TASK, 0u64.., None);
    for _ in 0..100 {
        check(
            it.next().is_some_and(|r| r.is_ok()),
            "endless imap_unordered",
        )?;
    }
    Ok(())
}

/// With 2 workers, 1 of 8 tasks SIGKILLs its worker: exactly 7 results,
/// the 8th an error naming SIGKILL; the pool then runs 100 more.
fn fault_sigkill_one_of_eight(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let rs: Vec<_> = (0..8u32)
        .map(|i| p.apply_async(maybe_kill::TASK, (i, 5)))
        .collect::<Result<_, _>>()?;
    let mut ok = 0;
    for (i, r) in rs.iter().enumerate() {
        match r.get() {
            Ok(v) => {
                check(v == i as u32 * 10, "a right result")?;
                ok += 1;
            }
            Err(e @ Error::WorkerDied { exitcode: -9, .. }) => {
                check(i == 5, format!("call {i} failed: {e}"))?;
                check(
                    e.to_string().contains("SIGKILL"),
                    format!("names SIGKILL: {e}"),
                )?;
            }
            Err(e) => return Err(format!("call {i}: unexpected {e}").into()),
        }
    }
    check(ok == 7, format!("{ok} results, want 7"))?;
    let v = p.map(square::TASK, 0..100u64, Some(1))?;
    check(
        v == (0..100u64).map(|x| x * x).collect::<Vec<_>>(),
        "100 more",
    )?;
    check(p.worker_pids().len() == 2, "replaced")?;
    check(
        p.workers_started() == 3,
        format!("started {}", p.workers_started()),
    )?;
    Ok(())
}

fn fault_exit_3_mid_task(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let r: Vec<Result<u32, Error>> = p.imap(maybe_exit_one::TASK, 0..10u32, None).collect();
    for (i, x) in r.iter().enumerate() {
        match x {
            Ok(v) => check(i != 4 && *v == i as u32 + 1, format!("item {i}"))?,
            Err(Error::WorkerDied { exitcode: 3, .. }) => check(i == 4, format!("item {i} died"))?,
            Err(e) => return Err(format!("item {i}: {e}").into()),
        }
    }
    check(r.iter().filter(|x| x.is_ok()).count() == 9, "nine results")?;
    check(p.apply(add::TASK, (1, 1))? == 2, "goes on")?;
    Ok(())
}

#[gilfree::task]
fn maybe_exit_one(i: u32) -> u32 {
    maybe_exit(i, 4)
}

fn fault_hang_then_terminate(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let path = socket_path("hang");
    let l = Listener::bind(path.clone(), None)?;
    let r = p.apply_async(hang::TASK, (path,))?;
    let c = l.accept()?;
    check(c.recv::<String>()? == "running", "the task runs")?;
    check(
        matches!(r.get_timeout(Duration::from_millis(1)), Err(Error::Timeout)),
        "timeout",
    )?;
    check(!r.ready(), "not ready")?;
    let ok = p.apply_async(add::TASK, (2, 2))?;
    check(ok.get()? == 4, "the other worker serves")?;
    p.terminate();
    check(
        matches!(r.get(), Err(Error::BrokenPool(_))),
        "the hung call fails",
    )?;
    check(
        p.apply_async(add::TASK, (1, 1)).is_err(),
        "no calls after terminate",
    )?;
    p.join()?;
    check(p.worker_pids().is_empty(), "workers gone")?;
    Ok(())
}

fn fault_bad_result_fails_its_call(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let rs: Vec<_> = (10..16u32)
        .map(|i| p.apply_async(picky::TASK, (i,)))
        .collect::<Result<_, _>>()?;
    for (i, r) in (10..16u32).zip(rs) {
        match r.get() {
            Ok(v) => check(i != 13 && v == Picky(i), format!("{i}"))?,
            Err(Error::TaskData { reason, .. }) => {
                check(i == 13 && reason.contains("13 does not decode"), reason)?
            }
            Err(e) => return Err(format!("{i}: {e}").into()),
        }
    }
    // In a chunk, only that item.
    let r: Vec<_> = p.imap(picky::TASK, 10..16u32, Some(6)).collect();
    check(
        r.iter().filter(|x| x.is_err()).count() == 1 && r[3].is_err(),
        "one bad item",
    )?;
    check(p.workers_started() == 2, "no worker died")?;
    Ok(())
}

fn maxtasksperchild_recycles(m: StartMethod) -> Result<(), Failed> {
    let p = Pool::builder()
        .processes(1)
        .maxtasksperchild(2)
        .start_method(m)
        .build()?;
    let pids: Vec<i32> = (0..6)
        .map(|_| p.apply(pid::TASK, ()))
        .collect::<Result<_, _>>()?;
    let distinct: HashSet<_> = pids.iter().collect();
    check(distinct.len() == 3, format!("pids {pids:?}"))?;
    check(
        pids[0] == pids[1] && pids[2] == pids[3] && pids[4] == pids[5],
        "two each",
    )?;
    Ok(())
}

fn initializer_runs(m: StartMethod) -> Result<(), Failed> {
    let p = Pool::builder()
        .processes(2)
        .initializer(set_init::TASK, (77,))
        .start_method(m)
        .build()?;
    let v = p.map(get_init_one::TASK, 0..8u8, Some(1))?;
    check(v.iter().all(|&x| x == 77), format!("{v:?}"))
}

#[gilfree::task]
fn get_init_one(_i: u8) -> usize {
    get_init()
}

fn initializer_failure_breaks(m: StartMethod) -> Result<(), Failed> {
    let p = Pool::builder()
        .processes(2)
        .initializer(bad_init::TASK, ())
        .start_method(m)
        .build()?;
    match p.apply(add::TASK, (1, 2)) {
        Err(Error::BrokenPool(why)) => check(why.contains("no database"), why)?,
        other => return Err(format!("expected a broken pool, got {other:?}").into()),
    }
    check(
        matches!(p.apply(add::TASK, (1, 2)), Err(Error::BrokenPool(_))),
        "still broken",
    )?;
    check(
        p.workers_started() == 2,
        format!("no respawn: {}", p.workers_started()),
    )?;
    Ok(())
}

fn close_then_join(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    check(
        matches!(p.join(), Err(Error::Value(_))),
        "join while running",
    )?;
    let r = p.map_async(square::TASK, 0..50u64, Some(1))?;
    p.close();
    check(p.apply(add::TASK, (1, 1)).is_err(), "no calls after close")?;
    p.join()?;
    check(r.ready(), "queued work done before join returns")?;
    check(r.get()?.len() == 50, "all of it")?;
    check(p.worker_pids().is_empty(), "workers exited")?;
    Ok(())
}

/// `apply` reads its own reply (no supervisor on the way back); every
/// fault still fails only that call, names its cause, and the pool goes
/// on — also `terminate` while an `apply` waits.
fn apply_faults(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    match p.apply(maybe_kill::TASK, (1, 1)) {
        Err(Error::WorkerDied { exitcode: -9, .. }) => {}
        other => return Err(format!("SIGKILL: {other:?}").into()),
    }
    match p.apply(maybe_exit::TASK, (4, 4)) {
        Err(Error::WorkerDied { exitcode: 3, .. }) => {}
        other => return Err(format!("exit(3): {other:?}").into()),
    }
    check(
        matches!(p.apply(maybe_panic::TASK, (3,)), Err(Error::Panicked(_))),
        "a panic",
    )?;
    check(
        matches!(p.apply(picky::TASK, (13,)), Err(Error::TaskData { .. })),
        "a result that does not decode",
    )?;
    check(p.apply(picky::TASK, (12,))? == Picky(12), "goes on")?;
    for i in 0..50 {
        check(p.apply(add::TASK, (i, 1))? == i + 1, format!("call {i}"))?;
    }
    check(p.workers_started() == 4, "two workers replaced")?;
    let path = socket_path("apply-hang");
    let l = Listener::bind(path.clone(), None)?;
    std::thread::scope(|s| {
        let waiter = s.spawn(|| p.apply(hang::TASK, (path,)));
        let c = l.accept()?;
        check(c.recv::<String>()? == "running", "the task runs")?;
        p.terminate();
        check(
            matches!(waiter.join().expect("waiter"), Err(Error::BrokenPool(_))),
            "terminate fails the waiting apply",
        )
    })?;
    check(
        p.apply(add::TASK, (1, 1)).is_err(),
        "no calls after terminate",
    )?;
    Ok(())
}

/// Item 0 tells the test it runs (by connecting to its listener), then
/// blocks until killed; the others append their number to the file `log`.
#[gilfree::task]
fn hang_on_zero(a: (PathBuf, PathBuf, u32)) -> u32 {
    use std::io::Write;
    let (path, log, i) = a;
    if i == 0 {
        hang(path);
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .unwrap();
    f.write_all(format!("{i}\n").as_bytes()).unwrap();
    i
}

/// A map's chunk waits in a busy worker's channel behind its running
/// chunk (one worker, chunks of one item: `map_async` has sent them all
/// when it returns). The worker is killed while running the first: the
/// map fails with `WorkerDied`, and the chunk behind, which never ran,
/// runs once on the replacement, as the rest do.
fn fault_kill_with_a_chunk_behind(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 1)?;
    let path = socket_path("behind");
    let log = socket_path("behind-log");
    let l = Listener::bind(path.clone(), None)?;
    let items: Vec<_> = (0..4u32).map(|i| (path.clone(), log.clone(), i)).collect();
    let r = p.map_async(hang_on_zero::TASK, items, Some(1))?;
    let c = l.accept()?;
    check(c.recv::<String>()? == "running", "the first chunk runs")?;
    let pid = p.worker_pids()[0];
    // SAFETY: a signal to our own worker process.
    check(unsafe { libc::kill(pid, libc::SIGKILL) } == 0, "kill")?;
    match r.get() {
        Err(Error::WorkerDied {
            pid: p2,
            exitcode: -9,
        }) => check(p2 == pid, "its pid")?,
        other => return Err(format!("the map: {other:?}").into()),
    }
    p.close();
    p.join()?;
    let mut ran: Vec<u32> = std::fs::read_to_string(&log)?
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let _ = std::fs::remove_file(&log);
    ran.sort();
    check(ran == [1, 2, 3], format!("each other chunk once: {ran:?}"))?;
    check(
        p.workers_started() == 2,
        format!("started {}", p.workers_started()),
    )?;
    Ok(())
}

/// A single call never waits behind a running one: with one worker busy
/// on a hanging call and the other still starting (spawn is slow), a
/// second call waits in the queue for the second worker, not in the
/// first worker's channel.
fn call_not_behind_a_running_call(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let path = socket_path("not-behind");
    let l = Listener::bind(path.clone(), None)?;
    let hung = p.apply_async(hang::TASK, (path,))?;
    let c = l.accept()?;
    check(c.recv::<String>()? == "running", "the task runs")?;
    let ok = p.apply_async(add::TASK, (2, 2))?;
    let m2 = p.map_async(square::TASK, 0..4u64, Some(1))?;
    check(ok.get()? == 4, "the other worker serves the call")?;
    check(m2.get()? == vec![0, 1, 4, 9], "and the map")?;
    check(!hung.ready(), "the hung call still runs")?;
    p.terminate();
    Ok(())
}

#[gilfree::task]
fn pid_of(_i: u32) -> i32 {
    std::process::id() as i32
}

/// Recycling with a map's chunks queued at once: a worker is never sent
/// a chunk beyond its limit (none behind its last one), so each serves
/// exactly `maxtasksperchild` chunks.
fn maxtasksperchild_with_calls_queued(m: StartMethod) -> Result<(), Failed> {
    let p = Pool::builder()
        .processes(1)
        .maxtasksperchild(2)
        .start_method(m)
        .build()?;
    let pids = p.map(pid_of::TASK, 0..6u32, Some(1))?;
    check(
        pids[0] == pids[1] && pids[2] == pids[3] && pids[4] == pids[5],
        format!("two each: {pids:?}"),
    )?;
    let distinct: HashSet<_> = pids.iter().collect();
    check(distinct.len() == 3, format!("pids {pids:?}"))?;
    Ok(())
}

/// Each call's id and outcome.
type Answers = Vec<(u32, Result<u32, Error>)>;

/// Four threads submit at once while some calls kill their workers: every
/// call completes exactly once, with its own value, or (exactly the
/// killers) with `WorkerDied`. Two threads queue calls (`apply_async`);
/// two `apply` one at a time, reading their replies themselves whenever a
/// worker is idle: both readers of each channel meet.
fn stress_submitters_and_kills(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let per_thread = 150u32;
    let outcomes: Vec<Result<Answers, Failed>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4u32)
            .map(|t| {
                let p = &p;
                s.spawn(move || {
                    let call = |i: u32| {
                        let id = t * 1000 + i;
                        // Every 40th call of each thread kills its worker.
                        let victim = if i % 40 == 39 { id } else { u32::MAX };
                        (id, (id, victim))
                    };
                    if t >= 2 {
                        return Ok((0..per_thread)
                            .map(|i| {
                                let (id, args) = call(i);
                                (id, p.apply(maybe_kill::TASK, args))
                            })
                            .collect());
                    }
                    let rs: Vec<_> = (0..per_thread)
                        .map(|i| {
                            let (id, args) = call(i);
                            p.apply_async(maybe_kill::TASK, args).map(|r| (id, r))
                        })
                        .collect::<Result<_, _>>()?;
                    Ok(rs.into_iter().map(|(id, r)| (id, r.get())).collect())
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("submitter"))
            .collect()
    });
    let mut died = 0;
    let mut seen = HashSet::new();
    for o in outcomes {
        for (id, r) in o? {
            check(seen.insert(id), format!("{id} twice"))?;
            let killer = id % 1000 % 40 == 39;
            match r {
                Ok(v) => check(!killer && v == id * 10, format!("{id}: {v}"))?,
                Err(Error::WorkerDied { exitcode: -9, .. }) => {
                    check(killer, format!("{id} died but was no killer"))?;
                    died += 1;
                }
                Err(e) => return Err(format!("{id}: {e}").into()),
            }
        }
    }
    check(seen.len() == 4 * per_thread as usize, "every call answered")?;
    check(died == 4 * 3, format!("{died} deaths, want 12"))?;
    check(
        p.workers_started() == 2 + 12,
        format!("started {}", p.workers_started()),
    )?;
    Ok(())
}

/// Sends `x` on the connection it was given; `x + 1`.
#[gilfree::task]
fn send_on(c: Connection, x: u32) -> u32 {
    c.send(&x).expect("send");
    x + 1
}

/// Sends its own item's index on the connection (a map over connections).
#[gilfree::task]
fn hello(c: Connection) -> u8 {
    c.send("hello").expect("send");
    1
}

/// Hands the connection it was given back (a descriptor in a result).
#[gilfree::task]
fn echo_conn(c: Connection) -> Connection {
    c
}

/// A shared block made in the worker, `n` written in it (a descriptor
/// made by the worker, in a result).
#[gilfree::task]
fn make_block(n: u8) -> SharedMemory {
    let m = SharedMemory::anonymous(8).expect("block");
    m.write_at(0, &[n; 8]);
    m
}

/// Writes `n` into the block it was given.
#[gilfree::task]
fn fill_block(m: SharedMemory, n: u8) {
    m.write_at(0, &[n; 8]);
}

/// Dies by SIGKILL holding the connection it was given.
#[gilfree::task]
fn die_holding(c: Connection) -> u32 {
    let _keep = &c;
    // SAFETY: raising a signal at ourselves.
    unsafe { libc::raise(libc::SIGKILL) };
    0
}

/// Descriptors travel in calls and results: a `Connection` and a
/// `SharedMemory` as arguments of `apply` (read by its caller) and
/// `apply_async` (read by the supervisor), a map whose chunks carry
/// several connections, and results that are descriptors.
fn descriptors_in_calls_and_results(m: StartMethod) -> Result<(), Failed> {
    let p = pool(m, 2)?;
    let (a, b) = Pipe(true)?;
    check(p.apply(send_on::TASK, (a, 7))? == 8, "apply's result")?;
    check(b.recv::<u32>()? == 7, "the worker wrote on the connection")?;
    let (a, b) = Pipe(true)?;
    let r = p.apply_async(send_on::TASK, (a, 9))?;
    check(r.get()? == 10, "apply_async's result")?;
    check(b.recv::<u32>()? == 9, "apply_async's connection")?;
    // 12 connections in chunks of 5: indices run over each batch.
    let (ours, theirs): (Vec<Connection>, Vec<Connection>) = (0..12)
        .map(|_| Pipe(true))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    check(p.map(hello::TASK, theirs, Some(5))? == vec![1; 12], "map")?;
    for c in &ours {
        check(c.recv::<String>()? == "hello", "each connection of the map")?;
    }
    // imap (read lazily, in chunks of 3) and starmap carry them too.
    let (ours, theirs): (Vec<Connection>, Vec<Connection>) = (0..7)
        .map(|_| Pipe(true))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let got: Vec<u8> = p
        .imap(hello::TASK, theirs, Some(3))
        .collect::<Result<_, _>>()?;
    check(got == vec![1; 7], "imap")?;
    for c in &ours {
        check(
            c.recv::<String>()? == "hello",
            "each connection of the imap",
        )?;
    }
    let (a, b) = Pipe(true)?;
    let (c, d) = Pipe(true)?;
    check(
        p.starmap(send_on::TASK, [(a, 1), (c, 2)], None)? == [2, 3],
        "starmap",
    )?;
    check(
        b.recv::<u32>()? == 1 && d.recv::<u32>()? == 2,
        "starmap's connections",
    )?;
    let (a, b) = Pipe(true)?;
    let a2 = p.apply(echo_conn::TASK, (a,))?;
    a2.send(&5u8)?;
    check(b.recv::<u8>()? == 5, "a connection that came back (apply)")?;
    let b2 = p.apply_async(echo_conn::TASK, (b,))?.get()?;
    b2.send(&6u8)?;
    check(
        a2.recv::<u8>()? == 6,
        "a connection that came back (apply_async)",
    )?;
    let blocks = p.map(make_block::TASK, 1..=6u8, Some(2))?;
    for (i, blk) in blocks.iter().enumerate() {
        check(
            blk.to_vec() == vec![i as u8 + 1; 8],
            "a block made by a worker",
        )?;
    }
    let blk = SharedMemory::anonymous(8)?;
    p.apply(fill_block::TASK, (blk.try_clone()?, 3))?;
    check(blk.to_vec() == vec![3; 8], "a block filled by a worker")?;
    // More descriptors than one message carries: the map's error.
    let many: Vec<Connection> = (0..17)
        .map(|_| Pipe(true).map(|p| p.0))
        .collect::<Result<_, _>>()?;
    match p.map(hello::TASK, many, Some(17)) {
        Err(Error::Encode { reason, .. }) => check(reason.contains("descriptors"), reason)?,
        other => return Err(format!("17 connections in a chunk: {other:?}").into()),
    }
    check(p.apply(add::TASK, (1, 1))? == 2, "goes on")?;
    Ok(())
}

/// The descriptors this process has open.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// A worker killed while it holds a call with a descriptor (by `apply`,
/// read by its caller, and by `apply_async`, read by the supervisor):
/// the call fails with `WorkerDied`, and no descriptor is left open in
/// this process (the argument's, the dead worker's channel and pidfd).
/// Run alone: the count is the whole process's, which other cases change
/// when they share it (`cargo test`).
fn fault_descriptor_call_killed(m: StartMethod) -> Result<(), Failed> {
    alone::run(&format!("{m}::fault_descriptor_call_killed"), || {
        let p = pool(m, 2)?;
        // Both workers started and serving.
        p.map(square::TASK, 0..4u64, Some(1))?;
        let before = open_fds();
        for _ in 0..3 {
            let (a, _b) = Pipe(true)?;
            match p.apply(die_holding::TASK, (a,)) {
                Err(Error::WorkerDied { exitcode: -9, .. }) => {}
                other => return Err(format!("apply: {other:?}").into()),
            }
            let (a, _b) = Pipe(true)?;
            match p.apply_async(die_holding::TASK, (a,))?.get() {
                Err(Error::WorkerDied { exitcode: -9, .. }) => {}
                other => return Err(format!("apply_async: {other:?}").into()),
            }
        }
        check(p.workers_started() == 2 + 6, "each death replaced")?;
        check(
            p.map(square::TASK, 0..10u64, Some(1))?.len() == 10,
            "goes on",
        )?;
        let after = open_fds();
        check(
            after == before,
            format!("{before} descriptors open before, {after} after"),
        )?;
        Ok(())
    })
}

fn main() {
    gilfree::multiprocessing::init();
    let mut args = Arguments::from_args();
    // One case at a time, on main, as under nextest: a fork worker of one
    // case inherits whatever lock another case's thread held at the fork
    // (the panic hook's, when a case panics on purpose) and hangs on it.
    args.test_threads = Some(1);
    let per_method: &[(&str, Case)] = &[
        ("apply_and_async_result", apply_and_async_result),
        ("async_result_awaited", async_result_awaited),
        ("map_and_starmap", map_and_starmap),
        ("imap_orders", imap_orders),
        ("imap_endless_is_bounded", imap_endless_is_bounded),
        ("fault_sigkill_one_of_eight", fault_sigkill_one_of_eight),
        ("fault_exit_3_mid_task", fault_exit_3_mid_task),
        ("fault_hang_then_terminate", fault_hang_then_terminate),
        (
            "fault_bad_result_fails_its_call",
            fault_bad_result_fails_its_call,
        ),
        ("maxtasksperchild_recycles", maxtasksperchild_recycles),
        ("initializer_runs", initializer_runs),
        ("initializer_failure_breaks", initializer_failure_breaks),
        ("close_then_join", close_then_join),
        ("stress_submitters_and_kills", stress_submitters_and_kills),
        ("apply_faults", apply_faults),
        (
            "descriptors_in_calls_and_results",
            descriptors_in_calls_and_results,
        ),
        ("fault_descriptor_call_killed", fault_descriptor_call_killed),
        (
            "fault_kill_with_a_chunk_behind",
            fault_kill_with_a_chunk_behind,
        ),
        (
            "call_not_behind_a_running_call",
            call_not_behind_a_running_call,
        ),
        (
            "maxtasksperchild_with_calls_queued",
            maxtasksperchild_with_calls_queued,
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
