//! A Manager shared by worker processes: a managed dict, list, Namespace
//! and Queue updated from four processes, then the cost of one proxy call
//! against a Pipe round trip, a `Value` in shared memory and an in-process
//! lock.

use std::time::{Duration, Instant};

use gilfree::multiprocessing::manager::{Dict, List, Lock, Namespace, Queue};
use gilfree::multiprocessing::{Connection, Manager, Pipe, Process};

use super::{Ctx, LessonResult};
use crate::report::{explain, measure};

/// The words each worker counts.
const TEXT: &str = "the quick brown fox jumps over the lazy dog the end";

/// One worker: counts its share of words into the shared dict (under the
/// managed lock: a get and a set are two calls), records itself in the
/// list and the namespace, and reports on the queue.
#[gilfree::task]
fn worker(
    id: u32,
    counts: Dict<String, u32>,
    lock: Lock,
    done: List<u32>,
    ns: Namespace,
    results: Queue<(u32, usize)>,
) -> Result<(), String> {
    let e = |e: gilfree::multiprocessing::manager::Error| e.to_string();
    let words: Vec<&str> = TEXT.split(' ').collect();
    let mine: Vec<&str> = words.iter().skip(id as usize).step_by(4).copied().collect();
    for w in &mine {
        let _g = lock.acquire().map_err(e)?;
        let n = counts.get(&w.to_string()).map_err(e)?.unwrap_or(0);
        counts.set(&w.to_string(), &(n + 1)).map_err(e)?;
    }
    done.append(&id).map_err(e)?;
    ns.set(&format!("worker{id}"), &std::process::id())
        .map_err(e)?;
    results.put(&(id, mine.len())).map_err(e)
}

/// Echo `n` messages (the Pipe floor).
#[gilfree::task]
fn echo(c: Connection, n: u64) {
    for _ in 0..n {
        let m = c.recv_bytes().expect("echo recv");
        c.send_bytes(&m).expect("echo send");
    }
}

fn per(d: Duration, n: u64) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6 / n as f64)
}

pub fn run(ctx: &Ctx) -> LessonResult {
    let m = Manager::start()?;
    let counts = m.dict::<String, u32>()?;
    let (lock, done, ns) = (m.lock()?, m.list::<u32>()?, m.namespace()?);
    let results = m.queue::<(u32, usize)>(0)?;
    let workers = (0..4)
        .map(|id| {
            let args = (
                id,
                counts.clone(),
                lock.clone(),
                done.clone(),
                ns.clone(),
                results.clone(),
            );
            Process::new(worker::TASK, args)
        })
        .collect::<Result<Vec<_>, _>>()?;
    for p in &workers {
        p.start()?;
    }
    let mut counted = 0;
    for _ in 0..4 {
        let (_, n) = results.get_timeout(Duration::from_secs(60))?;
        counted += n;
    }
    for p in &workers {
        p.result()?
            .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
    }
    let mut items = counts.items()?;
    items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: u32 = items.iter().map(|(_, n)| n).sum();
    measure("words counted (queue reports)", counted);
    measure("words in the managed dict", total);
    measure(
        "most common word",
        format!("{:?} × {}", items[0].0, items[0].1),
    );
    let mut who = done.snapshot()?;
    who.sort_unstable();
    measure("workers in the managed list", format!("{who:?}"));
    measure("namespace fields", ns.names()?.join(", "));

    // The cost of a proxy call.
    let n: u64 = if ctx.fast { 200 } else { 20_000 };
    let v = m.value(&0u64)?;
    let t = Instant::now();
    for i in 0..n {
        v.set(&i)?;
    }
    let proxy = t.elapsed();
    let (mine, theirs) = Pipe(true)?;
    let echo = Process::new(echo::TASK, (theirs, n))?;
    echo.start()?;
    let t = Instant::now();
    for _ in 0..n {
        mine.send_bytes(&[0u8; 16])?;
        mine.recv_bytes()?;
    }
    let pipe = t.elapsed();
    echo.join()?;
    let shared = gilfree::multiprocessing::Value::new(0u64)?;
    let t = Instant::now();
    for i in 0..n {
        shared.set_value(std::hint::black_box(i));
    }
    let shm = t.elapsed();
    let local = gilfree::threading::Lock::new(0u64);
    let t = Instant::now();
    for i in 0..n {
        *local.acquire() = std::hint::black_box(i);
    }
    let lock_ns = t.elapsed();
    measure("managed Value set (one proxy call)", per(proxy, n));
    measure("Pipe round trip (the floor)", per(pipe, n));
    measure("shared-memory Value set (lock + store)", per(shm, n));
    measure("in-process Lock + store", per(lock_ns, n));
    m.shutdown()?;
    explain(
        "A Manager keeps the objects in one server process; every method \
         of a proxy is a message to it and a reply, so a proxy call costs a \
         round trip between processes — about a Pipe round trip, thousands \
         of times a local lock. A read-modify-write is two calls, and \
         another process can slip in between them: hold a managed Lock \
         around it, as the workers did. What a Manager buys is reach: any \
         serde type, dicts and lists that grow, queues and locks shared by \
         processes that did not start together, even over TCP on other \
         machines (Manager::connect with the address and key). When the \
         data is a fixed-size number or array on one machine and speed \
         matters, shared memory (multiprocessing::Value or Array) skips \
         the server: a set is a lock and a store in memory both \
         processes map, nanoseconds instead of microseconds.",
    );
    Ok(())
}
