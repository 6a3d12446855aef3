//! The waits on other processes as `.await` (feature `tokio`):
//! `Process::join_async` under every start method (with several joiners,
//! and a child whose big result must be drained while it is joined),
//! `Connection::recv_async`/`send_async` across a process and on a
//! single-threaded runtime (a wait that blocked the thread would deadlock
//! there), and `ProcessPoolExecutor` futures awaited on tokio.
//! `harness = false`: `main` calls `multiprocessing::init()` first.
//!
//! No sleeps: a child that must be seen running waits on its connection
//! until the test tells it to finish.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use gilfree::futures::ProcessPoolExecutor;
use gilfree::multiprocessing::{Connection, Pipe, StartMethod, get_context};
use libtest_mimic::{Arguments, Failed, Trial};

/// Says "running", waits for "go", returns `n` bytes.
#[gilfree::task]
fn wait_for_go(c: Connection, n: usize) -> Vec<u8> {
    c.send("running").unwrap();
    let _: String = c.recv().unwrap();
    vec![5u8; n]
}

/// Sends `n` numbered messages.
#[gilfree::task]
fn count_to(c: Connection, n: u32) {
    for i in 0..n {
        c.send(&i).unwrap();
    }
}

#[gilfree::task]
fn square(x: u64) -> u64 {
    x * x
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn is_pending<F: Future>(f: std::pin::Pin<&mut F>) -> bool {
    f.poll(&mut Context::from_waker(Waker::noop())).is_pending()
}

/// Two tasks and a thread join one child; none returns before the child
/// is told to finish; a 4 MiB result (more than a socket buffer) is
/// drained while the tasks wait, so the child can exit at all.
fn join_async_many_joiners(m: StartMethod) -> Result<(), Failed> {
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m)
        .builder()
        .target(wait_for_go::TASK, (theirs, 4 << 20))?;
    p.start()?;
    check(mine.recv::<String>()? == "running", "child runs")?;
    multi_thread().block_on(async {
        let joiners: Vec<_> = (0..2)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.join_async().await })
            })
            .collect();
        let p2 = p.clone();
        let thread = std::thread::spawn(move || p2.join());
        // Still running: a fresh join is pending (the child waits for us).
        {
            let j = pin!(p.join_async());
            check(is_pending(j), "join_async pending while the child runs")?;
        }
        // A runtime timeout around join_async (the child cannot end yet).
        let r = tokio::time::timeout(std::time::Duration::from_millis(5), p.join_async()).await;
        check(r.is_err(), "timed out while the child runs")?;
        check(p.is_alive(), "alive")?;
        mine.send_async("go").await?;
        for j in joiners {
            j.await.map_err(|e| e.to_string())??;
        }
        thread.join().map_err(|_| "thread panicked")??;
        Ok::<_, Failed>(())
    })?;
    check(
        p.exitcode() == Some(0),
        format!("exit code {:?}", p.exitcode()),
    )?;
    check(p.result()?.len() == 4 << 20, "the big result arrived")
}

/// A child's messages received with `recv_async` on tokio, then EOF.
fn recv_async_from_child(m: StartMethod) -> Result<(), Failed> {
    let (mine, theirs) = Pipe(true)?;
    let p = get_context(m)
        .builder()
        .target(count_to::TASK, (theirs, 500))?;
    p.start()?;
    multi_thread().block_on(async {
        for i in 0..500u32 {
            check(mine.recv_async::<u32>().await? == i, "in order")?;
        }
        p.join_async().await?;
        check(
            matches!(
                mine.recv_bytes_async().await,
                Err(gilfree::multiprocessing::Error::Eof)
            ),
            "EOF after the child exits",
        )
    })
}

/// One thread runs a receiver task and a sender task: the receiver waits
/// first, the sender fills the socket past its buffer (send_async waits
/// for room). A wait that blocked the runtime's only thread would hang.
fn send_recv_async_one_thread() -> Result<(), Failed> {
    let (a, b) = Pipe(true)?;
    const N: usize = 400;
    const LEN: usize = 16 << 10; // 6.4 MiB in all, far past a socket buffer
    current_thread().block_on(async move {
        let rx = tokio::spawn(async move {
            let mut total = 0usize;
            for i in 0..N {
                let m = b.recv_bytes_async().await?;
                if m.len() != LEN || m[0] != i as u8 {
                    return Err(gilfree::multiprocessing::Error::Value("bad message".into()));
                }
                total += m.len();
            }
            Ok(total)
        });
        tokio::task::yield_now().await; // the receiver waits first
        for i in 0..N {
            a.send_bytes_async(&vec![i as u8; LEN]).await?;
        }
        let total = rx.await.map_err(|e| e.to_string())??;
        check(total == N * LEN, "everything arrived")
    })
}

/// Several tasks receive from one connection at once (each registers a
/// duplicate of the descriptor): every message is received exactly once.
fn recv_async_many_receivers() -> Result<(), Failed> {
    let (a, b) = Pipe(true)?;
    let b = std::sync::Arc::new(b);
    multi_thread().block_on(async move {
        let rx: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let v: u32 = b.recv_async().await?;
                        if v == u32::MAX {
                            return Ok::<_, gilfree::multiprocessing::Error>(got);
                        }
                        got.push(v);
                    }
                })
            })
            .collect();
        for i in 0..1000u32 {
            a.send_async(&i).await?;
        }
        for _ in 0..4 {
            a.send(&u32::MAX)?;
        }
        let mut all = Vec::new();
        for r in rx {
            all.extend(r.await.map_err(|e| e.to_string())??);
        }
        all.sort();
        check(all == (0..1000).collect::<Vec<_>>(), "each message once")
    })
}

/// A dropped `recv_async` (a runtime timeout, or dropped unpolled)
/// loses nothing: the next receive gets the message.
fn recv_async_dropped_loses_nothing() -> Result<(), Failed> {
    let (a, b) = Pipe(true)?;
    current_thread().block_on(async {
        {
            let f = pin!(b.recv_async::<String>());
            check(is_pending(f), "nothing sent yet")?;
        }
        let r = tokio::time::timeout(
            std::time::Duration::from_millis(5),
            b.recv_async::<String>(),
        )
        .await;
        check(r.is_err(), "timed out: nothing sent")?;
        a.send("kept")?;
        check(b.recv_async::<String>().await? == "kept", "kept")
    })
}

/// `ProcessPoolExecutor` futures are `std::future::Future`s: awaited on
/// tokio's multi-thread runtime, many at once.
fn process_pool_futures_await(m: StartMethod) -> Result<(), Failed> {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .start_method(m)
        .build()?;
    let fs: Vec<_> = (0..20u64)
        .map(|i| pool.submit(square::TASK, (i,)))
        .collect::<Result<_, _>>()?;
    let total: u64 = multi_thread().block_on(async {
        let mut t = 0;
        for f in fs {
            t += f.await.map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(t)
    })?;
    check(total == (0..20u64).map(|x| x * x).sum::<u64>(), "sum")
}

fn main() {
    gilfree::multiprocessing::init();
    let args = Arguments::from_args();
    type Case = fn(StartMethod) -> Result<(), Failed>;
    let per_method: &[(&str, Case)] = &[
        ("join_async_many_joiners", join_async_many_joiners),
        ("recv_async_from_child", recv_async_from_child),
        ("process_pool_futures_await", process_pool_futures_await),
    ];
    let mut trials = vec![
        Trial::test("send_recv_async_one_thread", send_recv_async_one_thread),
        Trial::test("recv_async_many_receivers", recv_async_many_receivers),
        Trial::test(
            "recv_async_dropped_loses_nothing",
            recv_async_dropped_loses_nothing,
        ),
    ];
    for m in StartMethod::ALL {
        for &(name, f) in per_method {
            trials.push(Trial::test(format!("{m}::{name}"), move || f(m)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
