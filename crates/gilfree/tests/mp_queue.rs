//! `multiprocessing::Queue`, `JoinableQueue` and `SimpleQueue` across real
//! processes, under every start method: 4 producer × 4 consumer processes
//! checked with a seen-bitmap at capacities that wrap and block both sides;
//! items larger than the ring; timeouts; `task_done`/`join`; shutdown
//! waking blocked processes; and the fault tests (a producer SIGKILLed
//! between writing and committing, a consumer SIGKILLed between taking and
//! reading: the others finish, nothing else is lost or duplicated).
//! `harness = false`: `main` calls `multiprocessing::init()` first.

use std::time::Duration;

use gilfree::multiprocessing::queue::{GetError, PutError};
use gilfree::multiprocessing::{
    Connection, JoinableQueue, Pipe, Queue, SimpleQueue, StartMethod, get_context,
};
use libtest_mimic::{Arguments, Failed, Trial};

/// Generous: the machine is shared and busy; never legitimately reached.
const PATIENCE: Duration = Duration::from_secs(120);

/// An item: who put it, its number, and padding of varying length (so
/// records of many sizes wrap at many offsets).
type Item = (u8, u32, Vec<u8>);

fn item(producer: u8, seq: u32) -> Item {
    let pad = (seq as usize * 7 + producer as usize * 13) % 61;
    (producer, seq, vec![producer ^ seq as u8; pad])
}

#[gilfree::task]
fn produce(q: Queue<Item>, producer: u8, n: u32) {
    for seq in 0..n {
        q.put(item(producer, seq)).unwrap();
    }
}

/// Gets until shutdown; returns what it got, in order.
#[gilfree::task]
fn consume(q: Queue<Item>) -> Vec<(u8, u32)> {
    let mut got = Vec::new();
    loop {
        match q.get() {
            Ok((p, s, pad)) => {
                assert_eq!((p, s, pad), item(p, s), "an item's bytes changed");
                got.push((p, s));
            }
            Err(GetError::ShutDown) => return got,
            Err(e) => panic!("get: {e}"),
        }
    }
}

/// Puts one item but is stopped (and killed) between writing and
/// committing it.
#[gilfree::task]
fn produce_and_stall(q: Queue<Item>, c: Connection) {
    let _ = q.__put_stalled(item(99, 0), || {
        c.send("stalled").unwrap();
        loop {
            std::thread::park();
        }
    });
}

/// Takes one item but is stopped (and killed) before reading it.
#[gilfree::task]
fn consume_and_stall(q: Queue<Item>, c: Connection) {
    let _ = q.__get_stalled(|| {
        c.send("stalled").unwrap();
        loop {
            std::thread::park();
        }
    });
}

/// Puts an item three times the ring's size but is stopped (and killed)
/// after its first chunk, holding the producers' lock.
#[gilfree::task]
fn put_big_and_stall(q: Queue<Vec<u8>>, c: Connection) {
    let _ = q.__put_stalled(big(99, 3 * 4096), || {
        c.send("stalled").unwrap();
        loop {
            std::thread::park();
        }
    });
}

/// Gets until shutdown; returns the items' lengths and whether each was
/// intact.
#[gilfree::task]
fn get_big_until_shutdown(q: Queue<Vec<u8>>) -> Vec<(usize, bool)> {
    let mut got = Vec::new();
    let mut i = 0;
    while let Ok(v) = q.get() {
        got.push((v.len(), v == big(i, v.len())));
        i += 1;
    }
    got
}

#[gilfree::task]
fn put_big(q: Queue<Vec<u8>>, sizes: Vec<usize>) {
    for (i, n) in sizes.into_iter().enumerate() {
        q.put(big(i, n)).unwrap();
    }
}

#[gilfree::task]
fn get_big(q: Queue<Vec<u8>>, sizes: Vec<usize>) -> bool {
    sizes
        .into_iter()
        .enumerate()
        .all(|(i, n)| q.get().unwrap() == big(i, n))
}

fn big(i: usize, n: usize) -> Vec<u8> {
    (0..n).map(|k| (k * 31 + i) as u8).collect()
}

/// A get that must time out, and a put that must: what each returned.
#[gilfree::task]
fn time_out(empty: Queue<u8>, full: Queue<u8>) -> (bool, bool) {
    let g = empty.get_timeout(Duration::from_millis(20)) == Err(GetError::Empty);
    let p = matches!(
        full.put_timeout(9, Duration::from_millis(20)),
        Err(PutError::Full(9))
    );
    (g, p)
}

/// Takes jobs and marks each done; stops at shutdown.
#[gilfree::task]
fn worker(q: JoinableQueue<u32>, done: Queue<u32>) {
    while let Ok(job) = q.get() {
        done.put(job * 2).unwrap();
        q.task_done().unwrap();
    }
}

/// Blocks in `get` on an empty queue until shutdown wakes it.
#[gilfree::task]
fn blocked_get(q: Queue<u8>, c: Connection) -> bool {
    c.send("about to block").unwrap();
    q.get() == Err(GetError::ShutDown)
}

/// Blocks in `put` on a full queue until shutdown wakes it.
#[gilfree::task]
fn blocked_put(q: Queue<u8>, c: Connection) -> bool {
    c.send("about to block").unwrap();
    matches!(q.put(2), Err(PutError::ShutDown(2)))
}

#[gilfree::task]
fn simple_echo(q: SimpleQueue<String>, back: SimpleQueue<String>) {
    let s = q.get().unwrap();
    back.put(s.to_uppercase()).unwrap();
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn fail(e: impl std::fmt::Display) -> Failed {
    e.to_string().into()
}

/// What the consumers got: each item at most once, each producer's items
/// in order within every consumer; returns the set as a bitmap.
fn seen(lists: &[Vec<(u8, u32)>], producers: u8, n: u32) -> Result<Vec<bool>, Failed> {
    let mut bitmap = vec![false; producers as usize * n as usize];
    for list in lists {
        let mut last = vec![None::<u32>; producers as usize + 1];
        for &(p, s) in list {
            if p == 99 {
                return Err("the stalled producer's item was delivered".into());
            }
            check(p < producers && s < n, format!("unknown item {p}/{s}"))?;
            let bit = &mut bitmap[p as usize * n as usize + s as usize];
            check(!*bit, format!("item {p}/{s} delivered twice"))?;
            *bit = true;
            check(
                last[p as usize].is_none_or(|l| l < s),
                format!("producer {p}'s items out of order in one consumer"),
            )?;
            last[p as usize] = Some(s);
        }
    }
    Ok(bitmap)
}

/// 4 producers × 4 consumers through a 512-byte ring holding at most 8
/// items: every record wraps many times, both sides block.
fn four_by_four(m: StartMethod) -> Result<(), Failed> {
    const N: u32 = 400;
    let q = Queue::<Item>::with_capacity(8, 512)?;
    let ctx = get_context(m);
    let consumers = (0..4)
        .map(|_| {
            let c = ctx.process(consume::TASK, (q.try_clone()?,))?;
            c.start()?;
            Ok(c)
        })
        .collect::<Result<Vec<_>, gilfree::multiprocessing::Error>>()?;
    let producers = (0..4u8)
        .map(|p| {
            let pr = ctx.process(produce::TASK, (q.try_clone()?, p, N))?;
            pr.start()?;
            Ok(pr)
        })
        .collect::<Result<Vec<_>, gilfree::multiprocessing::Error>>()?;
    for p in producers {
        p.result()?;
    }
    q.shutdown(false);
    let lists = consumers
        .into_iter()
        .map(|c| c.result())
        .collect::<Result<Vec<_>, _>>()?;
    let bitmap = seen(&lists, 4, N)?;
    check(bitmap.iter().all(|&b| b), "an item was lost")?;
    check(q.empty(), "queue empty at the end")
}

/// Items up to 3× the ring both ways: chunked, in order, intact.
fn larger_than_the_ring(m: StartMethod) -> Result<(), Failed> {
    let q = Queue::<Vec<u8>>::with_capacity(0, 4096)?;
    let sizes: Vec<usize> = vec![0, 1, 2000, 2100, 4096, 9000, 12_288, 5, 3000];
    let ctx = get_context(m);
    let p = ctx.process(put_big::TASK, (q.try_clone()?, sizes.clone()))?;
    p.start()?;
    for (i, &n) in sizes.iter().enumerate() {
        check(q.get()? == big(i, n), format!("item {i} of {n} bytes"))?;
    }
    p.result()?;
    let c = ctx.process(get_big::TASK, (q.try_clone()?, sizes.clone()))?;
    c.start()?;
    for (i, &n) in sizes.iter().enumerate() {
        q.put(big(i, n)).map_err(fail)?;
    }
    check(c.result()?, "the child got every big item intact")
}

fn timeouts(m: StartMethod) -> Result<(), Failed> {
    let empty = Queue::<u8>::new(0)?;
    let full = Queue::<u8>::new(1)?;
    full.put(1).map_err(fail)?;
    let p = get_context(m).process(time_out::TASK, (empty.try_clone()?, full.try_clone()?))?;
    p.start()?;
    check(
        p.result()? == (true, true),
        "Empty and Full at the deadline",
    )?;
    check(full.get()? == 1, "the full queue kept its item")
}

fn task_done_and_join(m: StartMethod) -> Result<(), Failed> {
    let q = JoinableQueue::<u32>::with_capacity(4, 1024)?;
    let done = Queue::<u32>::new(0)?;
    let ctx = get_context(m);
    let ws = (0..2)
        .map(|_| {
            let w = ctx.process(worker::TASK, (q.try_clone()?, done.try_clone()?))?;
            w.start()?;
            Ok(w)
        })
        .collect::<Result<Vec<_>, gilfree::multiprocessing::Error>>()?;
    for j in 0..100 {
        q.put(j).map_err(fail)?;
    }
    check(q.join_timeout(PATIENCE), "join returned")?;
    check(q.unfinished_tasks() == 0, "no task left")?;
    // join returned: every job's result is in `done`.
    let mut got: Vec<u32> = (0..100).map(|_| done.get()).collect::<Result<_, _>>()?;
    got.sort_unstable();
    check(
        got == (0..100).map(|j| j * 2).collect::<Vec<_>>(),
        "results",
    )?;
    q.shutdown(false);
    for w in ws {
        w.join()?;
    }
    Ok(())
}

fn shutdown_wakes_blocked(m: StartMethod) -> Result<(), Failed> {
    let empty = Queue::<u8>::new(0)?;
    let full = Queue::<u8>::new(1)?;
    full.put(1).map_err(fail)?;
    let ctx = get_context(m);
    let (a, b) = Pipe(true)?;
    let g = ctx.process(blocked_get::TASK, (empty.try_clone()?, b))?;
    g.start()?;
    let (c, d) = Pipe(true)?;
    let p = ctx.process(blocked_put::TASK, (full.try_clone()?, d))?;
    p.start()?;
    let _: String = a.recv()?;
    let _: String = c.recv()?;
    // Blocked already, or about to: either way shutdown ends the wait.
    empty.shutdown(false);
    full.shutdown(false);
    check(g.result()?, "the blocked get failed with ShutDown")?;
    check(p.result()?, "the blocked put failed with ShutDown")
}

fn simple_queue_round_trip(m: StartMethod) -> Result<(), Failed> {
    let q = SimpleQueue::new()?;
    let back = SimpleQueue::new()?;
    let p = get_context(m).process(simple_echo::TASK, (q.try_clone()?, back.try_clone()?))?;
    p.start()?;
    q.put("shout".to_owned()).map_err(fail)?;
    check(back.get()? == "SHOUT", "echo")?;
    p.result()?;
    Ok(())
}

/// A producer SIGKILLed between writing its item and committing it, while
/// two producers and two consumers run: the others finish; every other item
/// arrives once; the dead one's never does.
fn fault_producer_killed_mid_put(m: StartMethod) -> Result<(), Failed> {
    const N: u32 = 300;
    let q = Queue::<Item>::with_capacity(6, 512)?;
    let ctx = get_context(m);
    let (a, b) = Pipe(true)?;
    let victim = ctx.process(produce_and_stall::TASK, (q.try_clone()?, b))?;
    victim.start()?;
    let _: String = a.recv()?;
    let consumers = (0..2)
        .map(|_| {
            let c = ctx.process(consume::TASK, (q.try_clone()?,))?;
            c.start()?;
            Ok(c)
        })
        .collect::<Result<Vec<_>, gilfree::multiprocessing::Error>>()?;
    let producers = (0..2u8)
        .map(|p| {
            let pr = ctx.process(produce::TASK, (q.try_clone()?, p, N))?;
            pr.start()?;
            Ok(pr)
        })
        .collect::<Result<Vec<_>, gilfree::multiprocessing::Error>>()?;
    victim.kill()?;
    victim.join()?;
    for p in producers {
        p.result()?;
    }
    q.shutdown(false);
    let lists = consumers
        .into_iter()
        .map(|c| c.result())
        .collect::<Result<Vec<_>, _>>()?;
    let bitmap = seen(&lists, 2, N)?;
    check(
        bitmap.iter().all(|&b| b),
        "an item other than the dead one's was lost",
    )
}

/// A consumer SIGKILLed between taking an item and reading it, while two
/// producers fill a small ring (whose room needs the dead one's record
/// back) and two consumers run: everything but that one item arrives once.
fn fault_consumer_killed_mid_get(m: StartMethod) -> Result<(), Failed> {
    const N: u32 = 300;
    let q = Queue::<Item>::with_capacity(6, 512)?;
    let ctx = get_context(m);
    // The victim takes item 0 of producer 0 (put before anything else).
    q.put(item(0, 0)).map_err(fail)?;
    let (a, b) = Pipe(true)?;
    let victim = ctx.process(consume_and_stall::TASK, (q.try_clone()?, b))?;
    victim.start()?;
    let _: String = a.recv()?;
    let consumers = (0..2)
        .map(|_| {
            let c = ctx.process(consume::TASK, (q.try_clone()?,))?;
            c.start()?;
            Ok(c)
        })
        .collect::<Result<Vec<_>, gilfree::multiprocessing::Error>>()?;
    // Producer 0 starts at 1 (its item 0 is the victim's); producer 1 at 0.
    let mut producers = Vec::new();
    for p in 0..2u8 {
        let pr = ctx.process(produce::TASK, (q.try_clone()?, p + 2, N))?;
        pr.start()?;
        producers.push(pr);
    }
    victim.kill()?;
    victim.join()?;
    for p in producers {
        p.result()?;
    }
    q.shutdown(false);
    let lists = consumers
        .into_iter()
        .map(|c| c.result())
        .collect::<Result<Vec<_>, _>>()?;
    // Producers 2 and 3; producer 0's lone item was the victim's.
    let mut bitmap = vec![false; 2 * N as usize];
    for list in &lists {
        for &(p, s) in list {
            check(p != 0, "the dead consumer's item was delivered again")?;
            check((2..4).contains(&p) && s < N, format!("unknown {p}/{s}"))?;
            let bit = &mut bitmap[(p - 2) as usize * N as usize + s as usize];
            check(!*bit, format!("item {p}/{s} delivered twice"))?;
            *bit = true;
        }
    }
    check(
        bitmap.iter().all(|&b| b),
        "an item other than the dead one's was lost",
    )
}

/// A producer SIGKILLed in the middle of an item larger than the ring
/// (first chunk committed, the producers' lock held): a consumer already
/// waiting drops the partial item, the next producer takes the lock over,
/// and every later item arrives once and intact.
fn fault_producer_killed_mid_chunked_put(m: StartMethod) -> Result<(), Failed> {
    let q = Queue::<Vec<u8>>::with_capacity(0, 4096)?;
    let ctx = get_context(m);
    let consumer = ctx.process(get_big_until_shutdown::TASK, (q.try_clone()?,))?;
    consumer.start()?;
    let (a, b) = Pipe(true)?;
    let victim = ctx.process(put_big_and_stall::TASK, (q.try_clone()?, b))?;
    victim.start()?;
    let _: String = a.recv()?;
    victim.kill()?;
    victim.join()?;
    let sizes: Vec<usize> = vec![10, 5000, 3000, 9000, 1];
    let p = ctx.process(put_big::TASK, (q.try_clone()?, sizes.clone()))?;
    p.start()?;
    p.result()?;
    q.shutdown(false);
    let got = consumer.result()?;
    check(
        got.iter().map(|g| g.0).collect::<Vec<_>>() == sizes,
        format!("items got: {got:?}"),
    )?;
    check(got.iter().all(|g| g.1), "an item's bytes changed")
}

type Case = fn(StartMethod) -> Result<(), Failed>;

fn main() {
    gilfree::multiprocessing::init();
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let per_method: &[(&str, Case)] = &[
        ("four_by_four", four_by_four),
        ("larger_than_the_ring", larger_than_the_ring),
        ("timeouts", timeouts),
        ("task_done_and_join", task_done_and_join),
        ("shutdown_wakes_blocked", shutdown_wakes_blocked),
        ("simple_queue_round_trip", simple_queue_round_trip),
        (
            "fault_producer_killed_mid_put",
            fault_producer_killed_mid_put,
        ),
        (
            "fault_consumer_killed_mid_get",
            fault_consumer_killed_mid_get,
        ),
        (
            "fault_producer_killed_mid_chunked_put",
            fault_producer_killed_mid_chunked_put,
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
